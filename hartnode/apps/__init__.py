"""Local apps (DESIGN §5). Apps are thin: event kinds, projections, queries.

Module map:
- ``notes``  the generic ``note.created`` kind for operators and tests
- ``events`` the ``/api/v1/events`` routes (append, newest N), registered like any app's
- ``web/``   the local HTTP API on 127.0.0.1 (aiohttp in its own thread)
"""
