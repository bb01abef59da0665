"""The signed, hash-chained event ledger and its views (DESIGN §1).

Module map:
- ``envelope``     the signed event envelope: build, hash, sign, verify, codec
- ``kinds``        payload schemas per event kind, checked on append and ingest
- ``schema``       SQL of ``ledger.sqlite`` and ``state.sqlite`` and their migrations
- ``store``        the only module that opens APSW connections
- ``log``          append own events (group commit) and ingest foreign ones
- ``views``        the projection registry and the view updater
- ``maintenance``  ``kb verify``, ``backup``, ``vacuum``, ``migrate``, ``rebuild``
- ``node_ledger``  both databases opened together (what the daemon and CLI hold)
- ``registries``   what the ledger receives from the apps: ``(kinds, views)``
- ``committer``    group commit for the daemon, and the one store-access limiter
- ``replication``  sans-I/O anti-entropy core: heads digests (with hashes), pulls, probes
- ``fork_evidence``  the ``ForkEvidence`` message (two signed events at one seq) and its limits
- ``replication_service``  its trio shell on the gossip links
"""
