"""Local apps (DESIGN §5). Apps are thin: event kinds, projections, queries.

Module map:
- ``notes``  the generic ``note.created`` kind for operators and tests
- ``events`` the ``/api/v1/events`` routes (append, newest N), registered like any app's
- ``recipes/`` recipes: share, fork, delete, semantic search (hnswlib over stored embeddings)
- ``goals/``   goals with a Spark budget, dispatched as compute jobs through escrow
- ``api_args`` what the apps' routes share: the field-naming QueryError, page bounds
- ``listing``  newest-first pages by a (ts_ms, id) cursor and ids by hex prefix (recipes, goals)
- ``actors``   whom an app's write may speak for: the node or one of its own users
- ``social/``  users, communities, posts, threads, votes, follows, labels, mutes and blocks
- ``web/``   the local HTTP API on 127.0.0.1 (aiohttp in its own thread)
"""
