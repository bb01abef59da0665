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
- ``items``        plain values about feeds: heads, markers, ingest results
- ``held``         held-back events (gaps) bounded per peer, in bytes and time
- ``verdict``      the one ingest verdict (store, fill, hold, duplicate, fork, refuse), shared
                   by ``Ledger`` and the simulator's ``MemLedger``
- ``queries``      reads for other services (by reach and id range, by id, held hashes)

The ledger imports no networking: replication, which moves its events
between nodes, is ``hartnode.replication``, one layer up.
"""
