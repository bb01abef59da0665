"""Reusable test helpers and the deterministic simulator (DESIGN §2).

Module map:
- ``simnet``         seeded discrete-event network driving the real overlay cores
- ``sim_scenarios``  join / kill / broadcast scenarios and their figures (RMR, hops)
- ``flood``          flooding baseline (fanout-5 eager gossip) to compare Plumtree with
- ``sim``            the command line (``python -m hartnode.testing.sim``)
- ``mem_ledger``     in-memory ledger with ``Ledger.ingest``'s verdicts, for many nodes
- ``repsim``         the replication core (``Replicator``) on every SimNet node
- ``repsim_scenarios``  partition-heal, churn, forged, lossy, forking; their figures
- ``repsim_cli``     ``python -m hartnode.testing.sim replication``
- ``trustsim``       integrity challenges, reputation and quarantine on every node
- ``trustsim_cli``   ``python -m hartnode.testing.sim trust``
- ``crash_writer``   the appender the crash-safety test kills with SIGKILL
- ``gossip_bench_node``  one benchmark node per process (bench_gossip_processes)
- ``memory_transport``   gossip services in one trio run without sockets (memberlist's
                     mock transport); its ``tap`` plays a faulty or lying peer
"""
