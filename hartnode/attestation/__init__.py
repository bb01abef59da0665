"""Trust: certificates, revocation, integrity challenges, fraud (DESIGN §3, §4).

Module map:
- ``certificate``  JCS certificates and chain verification from the master key
- ``revocation``   master-signed revocation lists with a monotonic sequence
- ``master_key``   the offline master key file and issuer key files (0600 seeds)
- ``fraud``        ``trust.fraud_alert.raised`` events and the ``fraud_alerts`` view
- ``commands``     one function per ``keys``/``cert`` CLI verb: init, issue, install, show, revoke
(revocation lists travel the overlay through ``gossip.trust``)
"""
