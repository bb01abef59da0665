"""Reusable test helpers and the deterministic simulator (DESIGN §2).

Module map:
- ``simnet``         seeded discrete-event network driving the real overlay cores
- ``sim_scenarios``  join / kill / broadcast scenarios and their figures (RMR, hops)
- ``flood``          flooding baseline (fanout-5 eager gossip) to compare Plumtree with
- ``sim``            the command line (``python -m hartnode.testing.sim``)
- ``crash_writer``   the appender the crash-safety test kills with SIGKILL
- ``gossip_bench_node``  one benchmark node per process (bench_gossip_processes)
"""
