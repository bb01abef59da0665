"""``hartnode ui [--open] [--json]``: a fresh one-time login link to the web UI (issue #13).

Like ``jupyter server list``: it asks the running daemon, with the bearer
token from ``api.token`` (so only a user who can read the node's data
directory gets in), for a new single-use login URL, prints it, and with
``--open`` hands it to the desktop's browser (``webbrowser``).
"""

from __future__ import annotations

import argparse
import webbrowser

from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Parents,
    Subparsers,
    api_request,
    data_dir,
    print_json,
    require_init,
)

LOGIN_TOKEN_PATH = "/api/v1/ui/login-token"  # apps/web/ui.LOGIN_TOKEN_PATH


def add_parser(sub: Subparsers, parents: Parents) -> None:
    ui = sub.add_parser("ui", parents=[parents.data, parents.json],
                        help="print a one-time login link to the web UI (--open: open it)")
    ui.add_argument("--open", action="store_true", help="open the link in the default browser")
    ui.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    """Print (and with --open, open) a fresh login link from the running daemon."""
    dd = data_dir(args)
    require_init(dd)
    answer = api_request(dd, LOGIN_TOKEN_PATH, {})  # EXIT_UNREACHABLE when no daemon answers
    if not isinstance(answer, dict) or not isinstance(answer.get("url"), str):
        raise CliError("the daemon's answer holds no login URL", "see the daemon's log",
                       EXIT_FAILED)
    url = answer["url"]
    opened = webbrowser.open(url) if args.open else False
    if args.json:
        print_json({**answer, "opened": opened})
        return EXIT_OK
    expires = answer.get("expires_in_s")
    minutes = expires // 60 if isinstance(expires, int) else "a few"
    print(f"open this link to log in to the node's web UI (single use, valid {minutes} "
          f"minutes):\n  {url}")
    if args.open and not opened:
        print("(no browser could be started here; open the link yourself)")
    return EXIT_OK
