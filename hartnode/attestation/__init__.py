"""Trust: certificates, revocation, integrity challenges, fraud (DESIGN §3, §4).

Module map:
- ``certificate``  JCS certificates and chain verification from the master key
- ``revocation``   master-signed revocation lists with a monotonic sequence
- ``master_key``   the offline master key file and issuer key files (0600 seeds)
- ``fraud``        ``trust.fraud_alert.raised`` events and the ``fraud_alerts`` view
- ``manifest``     release manifests (files as a Merkle root), the installed code hash
- ``challenge``    the sans-I/O integrity-challenge core (signed challenges and answers)
- ``reputation``   Storj-style Beta scores, quarantine, probation
- ``trust_events`` trust event kinds and views; alerts re-verified; ``trust_reputation``
(the operator's ``keys``/``cert`` verbs are ``hartnode.cert_commands``; revocation
lists travel the overlay through ``gossip.trust``; challenges through ``integrity.service``)
"""
