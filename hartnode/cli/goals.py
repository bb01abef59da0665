"""``hartnode goals create|list|show|activate|pause|done|fail|dispatch [--json]``.

With the daemon running, writes go through its API (it owns the feed);
without it, they are signed on the data dir directly. ``dispatch`` needs the
daemon: the job runs on a peer over its links.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from hartnode.apps.goals import queries, writes
from hartnode.apps.goals.gate import GateRefused
from hartnode.apps.goals.lifecycle import VERBS, LifecycleError
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
    g = sub.add_parser("goals", help="agent goals with a Spark budget, run as compute jobs")
    g.set_defaults(handler=cmd_goals)
    gs = g.add_subparsers(dest="goals_command", required=True, metavar="GOALS_COMMAND")
    create = gs.add_parser("create", parents=[data, as_json], help="a new goal (in draft)")
    create.add_argument("--title", required=True)
    create.add_argument("--type", default="compute", dest="goal_type")
    create.add_argument("--job-kind", required=True, help="the compute job kind each dispatch "
                        "runs, e.g. cpu.hash_chain or inference.chat")
    create.add_argument("--params", default="{}", help="the job's params as a JSON object")
    create.add_argument("--budget-msp", type=int, required=True,
                        help="the most milli-Spark its jobs may spend")
    create.add_argument("--actor", default="node")
    lst = gs.add_parser("list", parents=[data, as_json], help="goals, newest first")
    lst.add_argument("--limit", type=int, default=queries.PAGE_DEFAULT)
    lst.add_argument("--before")
    lst.add_argument("--status")
    show = gs.add_parser("show", parents=[data, as_json], help="one goal and its reservations")
    show.add_argument("id")
    for verb, status in VERBS.items():
        step = gs.add_parser(verb, parents=[data, as_json], help=f"make a goal {status}")
        step.add_argument("id")
        step.add_argument("--reason", default="")
    dispatch = gs.add_parser("dispatch", parents=[data, as_json],
                             help="run one job of an active goal (needs the daemon)")
    dispatch.add_argument("id")
    dispatch.add_argument("--peer", default="",
                          help="the provider's node id (default: the best peer record "
                               "offering the goal's job kind)")
    dispatch.add_argument("--central", required=True, help="the central's node id (1%% share)")
    dispatch.add_argument("--regional", default="")
    dispatch.add_argument("--amount-msp", type=int, required=True)
    dispatch.add_argument("--timeout", type=float, default=300.0)


def _ledger(dd: DataDir) -> NodeLedger:
    return NodeLedger(dd.path, dd.load_identity(), catalog_for(dd))


def _emit(args: argparse.Namespace, out: Any, text: Callable[[Any], str]) -> None:
    """``--json``: the JSON document; otherwise the human form."""
    if args.json:
        print_json(out)
    else:
        print(text(out))


def _goal_line(g: dict[str, Any]) -> str:
    return (f"{g['goal'][:12]}  {g['status']:<7} {g['title']}  budget {g['budget_msp']} msp, "
            f"reserved {g['reserved_msp']}, spent {g['spent_msp']}")


def cmd_goals(args: argparse.Namespace) -> int:
    """``hartnode goals ...``: errors that name a field are usage errors (exit 2)."""
    dd = data_dir(args)
    require_init(dd)
    try:
        return _run(args, dd)
    except (QueryError, LifecycleError) as e:
        raise CliError(str(e), "see `hartnode goals --help`", EXIT_USAGE) from e
    except GateRefused as e:
        raise CliError(e.message, e.hint, EXIT_FAILED) from e


def _run(args: argparse.Namespace, dd: DataDir) -> int:
    cmd = args.goals_command
    if cmd == "create":
        try:
            params = json.loads(args.params)
        except ValueError as e:
            raise CliError(f"--params is not JSON: {e}", code=EXIT_USAGE) from e
        body = {"title": args.title, "goal_type": args.goal_type, "job_kind": args.job_kind,
                "params": params, "budget_msp": args.budget_msp, "actor": args.actor}
        if dd.is_locked():
            event = api_request(dd, "/api/v1/goals", body)
        else:
            with _ledger(dd) as nl:
                event = writes.create(nl, body).as_json()
        _emit(args, event, lambda e: f"goal {e['hash']} created (draft)")
        return EXIT_OK
    if cmd in VERBS:
        to = VERBS[cmd]
        if dd.is_locked():
            event = api_request(dd, "/api/v1/goals/status",
                            {"id": args.id, "status": to, "reason": args.reason})
        else:
            with _ledger(dd) as nl:
                nl.views.catch_up()
                goal = queries.resolve(nl.views.state, args.id)
                event = writes.set_status(nl, goal, to, args.reason).as_json()
        _emit(args, event, lambda e: f"goal {e['payload']['goal'][:12]} is {to}")
        return EXIT_OK
    if cmd == "dispatch":
        if not dd.is_locked():
            raise CliError("dispatch needs the running daemon (the job runs on a peer)",
                                  "start it with `hartnode run`")
        out = api_request(dd, "/api/v1/goals/dispatch", {
            "id": args.id, "peer": args.peer, "central": args.central,
            "regional": args.regional, "amount_msp": args.amount_msp,
            "timeout_s": args.timeout}, timeout=args.timeout + 30)
        _emit(args, out, lambda o: f"{o['result']}: reservation {o['reservation'][:12]} "
                                  f"({o.get('reason', '')})")
        return EXIT_OK
    with _ledger(dd) as nl:
        if not dd.is_locked():
            nl.views.catch_up()
        if cmd == "list":
            out = queries.page(nl.views.state, limit=args.limit, before=args.before,
                               status=args.status)
            _emit(args, out, lambda o: "\n".join(
                [_goal_line(g) for g in o["items"]]
                + ([f"more: --before {o['next']}"] if o["next"] else [])) or "no goals")
        else:
            out = queries.show(nl.views.state, args.id)
            _emit(args, out, lambda g: "\n".join(
                [_goal_line(g), f"goal    {g['goal']}", f"job     {json.dumps(g['config'])}"]
                + [f"  {r['state']:<8} {r['amount_msp']} msp  {r['reason']}"
                   for r in g["reservations"]]))
    return EXIT_OK
