"""Reusable test helpers and the deterministic simulator (DESIGN §2).

Module map:
- ``sim``  the seeded network simulator (``python -m hartnode.testing.sim``)
"""
