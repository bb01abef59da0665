"""``hartnode ui [--open] [--json]``: a fresh one-time login link to the web UI (issue #13).

Like ``jupyter server list``: it asks the running daemon, with the bearer
token from ``api.token`` (so only a user who can read the node's data
directory gets in), for a new single-use login URL, prints it, and with
``--open`` hands it to the desktop's browser (``webbrowser``).
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
import webbrowser

from hartnode import config as config_mod
from hartnode.datadir import DataDir

LOGIN_TOKEN_PATH = "/api/v1/ui/login-token"  # apps/web/ui.LOGIN_TOKEN_PATH
EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 4
# No proxies: a loopback call must not go through the environment's http_proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class UiError(Exception):
    """The link could not be made; ``message``, ``hint`` and the exit ``code``."""

    def __init__(self, message: str, hint: str, code: int) -> None:
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


def add_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
               parents: list[argparse.ArgumentParser]) -> None:
    """Register ``hartnode ui`` on the CLI's subcommands."""
    ui = sub.add_parser("ui", parents=parents,
                        help="print a one-time login link to the web UI (--open: open it)")
    ui.add_argument("--open", action="store_true", help="open the link in the default browser")
    ui.add_argument("--json", action="store_true", help='one JSON object: {"url", ...}')


def login_link(dd: DataDir) -> dict[str, object]:
    """Ask the daemon of ``dd`` for a login URL. Raises UiError."""
    cfg = dd.load_config()
    host, port = config_mod.parse_hostport(cfg.api.listen, "api.listen")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{LOGIN_TOKEN_PATH}"
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Authorization": f"Bearer {dd.load_token()}", "Content-Type": "application/json"})
    try:
        with _OPENER.open(req, timeout=10) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            raise UiError(f"the daemon refused a login link (HTTP {e.code})",
                          "is this the node's data directory? see the daemon's log",
                          EXIT_FAILED) from e
    except (urllib.error.URLError, OSError) as e:
        raise UiError(f"no hartnode daemon answers at http://{shown}:{port} ({e})",
                      "start it with `hartnode run` or `systemctl start hartnode`",
                      EXIT_UNREACHABLE) from e
    if not isinstance(answer, dict) or not isinstance(answer.get("url"), str):
        raise UiError("the daemon's answer holds no login URL", "see the daemon's log",
                      EXIT_FAILED)
    return answer


def cmd_ui(args: argparse.Namespace, dd: DataDir) -> int:
    """Print (and with --open, open) a fresh login link."""
    answer = login_link(dd)
    url = str(answer["url"])
    expires = answer.get("expires_in_s")
    minutes = expires // 60 if isinstance(expires, int) else "a few"
    opened = webbrowser.open(url) if args.open else False
    if args.json:
        print(json.dumps({**answer, "opened": opened}, sort_keys=True))
    else:
        print(f"open this link to log in to the node's web UI (single use, valid "
              f"{minutes} minutes):\n  {url}")
        if args.open and not opened:
            print("(no browser could be started here; open the link yourself)")
    return EXIT_OK
