"""The local HTTP API and UI (DESIGN §5).

Module map:
- ``bridge``  the one place asyncio (aiohttp) and trio meet
- ``server``  the aiohttp application: /healthz, /api/v1/*, /metrics; auth, CSRF, Host
- ``ui``       the browser's paths: /, /login, /static, logout, login links, the event stream
- ``sessions`` one-time login tokens and the sessions they open (bounded, in memory)
- ``live``     the event stream's hub: bounded clients and queues, fed from any thread
- ``static/``  the UI itself: plain HTML, ES modules and CSS (package data, no build step)
"""
