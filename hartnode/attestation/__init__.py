"""Trust: certificates, revocation, integrity challenges, fraud (DESIGN §3, §4).

Module map:
- ``certificate``  JCS certificates and chain verification from the master key
- ``revocation``   master-signed revocation lists with a monotonic sequence
"""
