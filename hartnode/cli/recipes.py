"""``hartnode recipes share|fork|delete|search|list|show|reindex [--json]``.

With the daemon running, writes and searches go through its API (it owns
the feed and the index); without it, they run on the data dir directly.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from hartnode.apps.actors import require_local_actor
from hartnode.apps.goals.gate import GateRefused
from hartnode.apps.goals.lifecycle import LifecycleError
from hartnode.apps.recipes import actions, queries
from hartnode.apps.recipes.embedder import EmbedderError, make_embedder
from hartnode.apps.recipes.indexer import Indexer, describe
from hartnode.apps.recipes.queries import QueryError
from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    api_request,
    catalog_for,
    data_dir,
    print_json,
    require_init,
)
from hartnode.datadir import DataDir
from hartnode.ledger.node_ledger import NodeLedger


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data, as_json = parents.data, parents.json
    r = sub.add_parser("recipes", help="share, fork and search recipes")
    r.set_defaults(handler=cmd_recipes)
    rs = r.add_subparsers(dest="recipes_command", required=True, metavar="RECIPES_COMMAND")
    share = rs.add_parser("share", parents=[data, as_json], help="share a recipe")
    share.add_argument("--title", required=True)
    share.add_argument("--prompt", default="", help="the prompt the recipe came from")
    share.add_argument("--step", action="append", default=[], dest="steps",
                       help="one step (repeat, in order)")
    share.add_argument("--steps-json", help="the steps as a JSON list of strings")
    share.add_argument("--tag", action="append", default=[], dest="tags")
    share.add_argument("--actor", default="node", help="user:<id> or node")
    fork = rs.add_parser("fork", parents=[data, as_json],
                         help="fork a recipe (what is not given is copied)")
    fork.add_argument("parent", help="the recipe's hash (or a unique prefix)")
    fork.add_argument("--title")
    fork.add_argument("--prompt")
    fork.add_argument("--step", action="append", dest="steps")
    fork.add_argument("--steps-json")
    fork.add_argument("--tag", action="append", dest="tags")
    fork.add_argument("--actor", default="node")
    delete = rs.add_parser("delete", parents=[data, as_json], help="delete your recipe")
    delete.add_argument("id")
    delete.add_argument("--actor", default="node")
    search = rs.add_parser("search", parents=[data, as_json], help="semantic search")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10, help="results (1-100)")
    lst = rs.add_parser("list", parents=[data, as_json], help="recipes, newest first")
    lst.add_argument("--limit", type=int, default=queries.PAGE_DEFAULT)
    lst.add_argument("--before", help="the `next` cursor of the previous page")
    lst.add_argument("--tag")
    show = rs.add_parser("show", parents=[data, as_json], help="one recipe and its forks")
    show.add_argument("id")
    rs.add_parser("reindex", parents=[data, as_json],
                  help="rebuild the search index from the stored embeddings")


def _ledger(dd: DataDir) -> NodeLedger:
    return NodeLedger(dd.path, dd.load_identity(), catalog_for(dd))


def _emit(args: argparse.Namespace, out: Any, text: Callable[[Any], str]) -> None:
    """``--json``: the JSON document; otherwise the human form."""
    if args.json:
        print_json(out)
    else:
        print(text(out))


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"actor": args.actor}
    for name in ("title", "prompt"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.steps_json is not None:
        try:
            body["steps"] = json.loads(args.steps_json)
        except ValueError as e:
            raise CliError(f"--steps-json is not JSON: {e}", code=EXIT_USAGE) from e
    elif args.steps:
        body["steps"] = args.steps
    if args.tags:
        body["tags"] = args.tags
    return body


def _recipe_line(r: dict[str, Any]) -> str:
    fork = f" fork of {r['parent'][:12]}" if r.get("parent") else ""
    gone = " (deleted)" if r.get("deleted") else ""
    return (f"{r['recipe'][:12]}  {r['title']}  [{' '.join(r.get('tags', []))}]  "
            f"forks {r.get('fork_count', 0)}{fork}{gone}")


def _write(args: argparse.Namespace, dd: DataDir) -> dict[str, Any]:
    cmd = args.recipes_command
    if dd.is_locked():
        if cmd == "share":
            return dict(api_request(dd, "/api/v1/recipes", _body(args)))
        if cmd == "fork":
            return dict(api_request(dd, "/api/v1/recipes/fork",
                                    {**_body(args), "parent": args.parent}))
        return dict(api_request(dd, "/api/v1/recipes/delete", {"id": args.id, "actor": args.actor}))
    with _ledger(dd) as nl:
        nl.views.catch_up()
        state = nl.views.state
        if cmd == "share":
            draft = actions.share(_body(args))
        elif cmd == "fork":
            draft = actions.fork(_body(args), queries.show(state, args.parent))
        else:
            recipe = queries.resolve(state, args.id)
            draft = actions.delete(recipe, queries.author(state, recipe),
                                   nl.ledger.identity.node_id if nl.ledger.identity else "",
                                   {"actor": args.actor})
        require_local_actor(state, nl.ledger.identity.node_id if nl.ledger.identity else "",
                            draft.actor)
        return nl.append([draft])[0].as_json()


def _search_offline(args: argparse.Namespace, dd: DataDir, *, rebuild: bool) -> Any:
    cfg = dd.load_config()
    try:
        embedder = make_embedder(cfg.recipes.embedder)
    except EmbedderError as e:
        raise CliError(str(e), "set recipes.embedder = \"hash\" or install the extra"
                              ) from e
    with _ledger(dd) as nl:
        nl.views.catch_up()
        indexer = Indexer(dd.path, embedder)
        if rebuild:
            tag = indexer.rebuild_now(nl.views.state)
            return {"reason": "on_demand", "model": tag.model, "items": tag.count,
                    "watermark": tag.watermark}
        indexer.open(nl.views.state)
        indexer.sync(nl.views.state)
        indexer.save()
        hits = indexer.nearest(embedder.embed([args.query])[0], args.k)
        return {"query": args.query, "items": describe(nl.views.state, hits)}


def cmd_recipes(args: argparse.Namespace) -> int:
    """``hartnode recipes ...``: errors that name a field are usage errors (exit 2)."""
    dd = data_dir(args)
    require_init(dd)
    try:
        return _run(args, dd)
    except (QueryError, LifecycleError) as e:
        raise CliError(str(e), "see `hartnode recipes --help`", EXIT_USAGE) from e
    except GateRefused as e:
        raise CliError(e.message, e.hint, EXIT_FAILED) from e


def _run(args: argparse.Namespace, dd: DataDir) -> int:
    cmd = args.recipes_command
    if cmd in ("share", "fork", "delete"):
        event = _write(args, dd)
        _emit(args, event, lambda e: f"{cmd} {e['kind']} {e['hash']}")
        return EXIT_OK
    if cmd == "search":
        if not 1 <= args.k <= 100:
            raise CliError("-k: expected 1 to 100", code=EXIT_USAGE)
        if dd.is_locked():
            q = urllib.parse.urlencode({"q": args.query, "k": args.k})
            out = api_request(dd, f"/api/v1/recipes/search?{q}", None)
        else:
            out = _search_offline(args, dd, rebuild=False)
        _emit(args, out, lambda o: "\n".join(
            f"{h['score']:.3f}  {_recipe_line(h)}" for h in o["items"]) or "no recipes")
        return EXIT_OK
    if cmd == "reindex":
        out = (api_request(dd, "/api/v1/recipes/reindex", {}) if dd.is_locked()
               else _search_offline(args, dd, rebuild=True))
        _emit(args, out, lambda o: f"rebuilt the index: {o['items']} recipes, model "
                                  f"{o['model']}, watermark {o['watermark']}")
        return EXIT_OK
    with _ledger(dd) as nl:
        if not dd.is_locked():
            nl.views.catch_up()
        if cmd == "list":
            out = queries.page(nl.views.state, limit=args.limit, before=args.before,
                               tag=args.tag)
            _emit(args, out, lambda o: "\n".join(
                [_recipe_line(r) for r in o["items"]]
                + ([f"more: --before {o['next']}"] if o["next"] else [])) or "no recipes")
        else:
            out = queries.show(nl.views.state, args.id)
            _emit(args, out, lambda r: "\n".join(
                [_recipe_line(r), f"recipe  {r['recipe']}", f"by      {r['actor']}@"
                 f"{r['origin'][:8]}", f"prompt  {r['prompt']}"]
                + [f"  {i}. {s}" for i, s in enumerate(r["steps"], 1)]
                + [f"fork    {f}" for f in r["forks"]]))
    return EXIT_OK
