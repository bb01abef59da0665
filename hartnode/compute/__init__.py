"""Compute lending (DESIGN §4): GPU probe, policy, jobs, metering, escrow.

Module map:
- ``gpu_probe``      NVIDIA GPU facts from nvidia-ml-py; no driver means CPU-only
- ``policy``         env > node_compute_config > config > defaults, with sources; admission
- ``events``         the compute event kinds and their translation into escrow facts
- ``escrow``         escrow and wallets as a pure, order-independent function of facts
- ``views``          the views in state.sqlite (compute_escrow, resonance_wallets, ...)
- ``wallet``         a node's own escrow steps, each checked in the ledger write that signs it
- ``metering``       metered backends: reserve before the call, settle after
- ``openai_client``  a bounded aiohttp client of OpenAI-compatible backends
- ``jobs``           the registry of safe job kinds, results and params hashes
- ``capabilities``   compute tags of peer records: this node's, a peer's, providers
- ``replication``    BOINC-style adaptive replication of results (sans-I/O), whom to ask
- ``messages``       the job protocol's wire messages (types 90-92)
- ``service``        its trio shell: offers, admission, results, receipts
- ``daemon``         how node.py runs it: the service, record tags, API views
- ``commands``       what ``hartnode compute ...`` and ``hartnode wallet`` print
"""
