"""Local apps (DESIGN §5). Apps are thin: event kinds, projections, queries.

Module map:
- ``notes``  the generic ``note.created`` kind for operators and tests
- ``events`` the ``/api/v1/events`` routes (append, newest N), registered like any app's
- ``recipes/`` recipes: share, fork, delete, semantic search (hnswlib over stored embeddings)
- ``goals/``   goals with a Spark budget, dispatched as compute jobs through escrow
- ``api_args`` what the apps' routes share: the field-naming QueryError, page bounds
- ``web/``   the local HTTP API on 127.0.0.1 (aiohttp in its own thread)
"""
