"""The local HTTP API and UI (DESIGN §5).

Module map:
- ``bridge``  the one place asyncio (aiohttp) and trio meet
- ``server``  the aiohttp application: /healthz, /api/v1/*, /metrics
"""
