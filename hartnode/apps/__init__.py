"""Local apps (DESIGN §5). Apps are thin: event kinds, projections, queries.

Module map:
- ``notes``  the generic ``note.created`` kind for operators and tests
- ``web/``   the local HTTP API on 127.0.0.1 (aiohttp in its own thread)
"""
