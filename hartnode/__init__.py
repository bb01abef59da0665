"""hartnode: the daemon every volunteer machine of the hive runs.

Module map (one concept per file; see DESIGN.md §2):

- ``cli``          the ``hartnode`` command line (init, run, status, kb, ledger)
- ``node``         the daemon: one trio nursery owning every service
- ``node_api``     the node's own API routes (status, peers, revocations)
- ``config``       the one frozen config dataclass, TOML + ``HARTNODE_*`` loading
- ``datadir``      data directory layout, node key and API token files
- ``identity``     the node's Ed25519 identity (node id = hex public key)
- ``canonical``    RFC 8785 canonical JSON, the project's single entry point
- ``logs``         structured one-line-per-record logging
- ``catalog``      every event kind, view and app route this build registers
- ``protocol``     what cores share: reasoned errors (remote/local), ``Send``, the timer shape
- ``wire_numbers`` the one append-only table of wire message numbers (data only)
- ``routes``       API routes as data: ``RouteTable``, ``AppRoutes``, ``ApiRequest``
- ``errors``       HintedError, the base of every error an operator reads
- ``sdnotify``     systemd notify protocol (READY, WATCHDOG, STOPPING)
- ``metrics``      counters rendered as Prometheus text
- ``ledger/``      signed event envelope, store, append/ingest, views, maintenance
- ``gossip/``      transport, handshake, wire codec, HyParView, Plumtree
- ``attestation/`` certificates, revocation, challenges, fraud alerts
- ``compute/``     GPU probe, policy, escrow, jobs, metering
- ``apps/``        social, recipes, goals; ``apps/web`` is the local HTTP API
- ``testing/``     reusable test helpers and the deterministic simulator
"""

__version__ = "0.1.0"
