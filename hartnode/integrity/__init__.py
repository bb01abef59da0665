"""Integrity challenges on the overlay: the trio shell of the trust cores (DESIGN §4; issue 10).

Module map:
- ``service``  ``TrustService``: challenges on gossip links, attestations, alerts,
  quarantine refusing links, regional decisions; wire messages 80 and 81
(the sans-I/O cores and event kinds live in ``attestation``: ``manifest``,
``challenge``, ``reputation``, ``trust_events``; a separate package because
gossip itself stands on ``attestation``'s certificates)
"""
