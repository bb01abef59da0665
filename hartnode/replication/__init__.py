"""Moving verified events between ledgers (DESIGN §1, §3 "Anti-entropy", "Sync").

Layers (each imports only those before it): base (``canonical``,
``identity``, errors) < ``ledger`` < ``attestation`` < ``gossip`` <
``replication`` < ``hierarchy`` < apps/catalog < ``node``. The ledger
stores and verifies; this package speaks to other nodes about it.

Module map:
- ``messages``       the protocol's wire messages (64-74, 88, 89)
- ``core``           the sans-I/O protocol (``Replicator``): it keeps the heads; digests
                     (with hashes), pulls, probes, want shares sized by the bandwidth
                     profile, forks (alert and spread), evidence on link-up, push
                     verdicts, feed confirmation; effects out for a shell to carry out
- ``fork_evidence``  the ``ForkEvidence`` message (two signed events at one seq), its
                     limits and ``EvidenceGate`` (who may make this node sign an alert)
- ``direction``      which reaches a link carries and which way (parent/child links)
- ``service``        the trio shell on the gossip links: carries out the core's effects
                     (the ledger in a worker thread, sends, broadcasts, counters);
                     ``testing.repsim.ReplicationApp`` is the simulator's
"""
