"""What every command group shares: exit codes, the operator error, the parser
class with the typo hint, the common parent parsers, the data directory and
the daemon's API.

Exit codes (a stable interface, documented in the README):
    0 success · 1 a check or operation failed (e.g. ``kb verify`` found problems)
    2 usage or configuration error · 3 the daemon could not start
    4 the daemon is not reachable (``status``, ``peers``, ``join``, ...)
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

from hartnode import config as config_mod
from hartnode.datadir import DataDir, resolve
from hartnode.errors import HintedError

if TYPE_CHECKING:
    from hartnode.catalog import Catalog

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP, EXIT_UNREACHABLE = 0, 1, 2, 3, 4

#: What ``add_subparsers()`` returns; a group module's ``add_parser`` receives it.
#: (argparse names no public type for it.)
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


class CliError(HintedError):
    """An error for the operator: message, what to do, exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_FAILED) -> None:
        super().__init__(message, hint)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: ``hartnode: error:`` and a
    ``hartnode: hint:`` line, naming the closest command on a typo."""

    def error(self, message: str) -> NoReturn:
        hint = f"see `{self.prog} --help`"
        typo = re.search(r"invalid choice: '([^']*)'", message)
        choices = [name for action in self._actions
                   if isinstance(action, argparse._SubParsersAction)
                   for name in action.choices]
        if typo and choices:
            close = difflib.get_close_matches(typo.group(1), choices, n=1)
            message = f"unknown command {typo.group(1)!r} for `{self.prog}`"
            if close:
                hint = f"did you mean `{self.prog} {close[0]}`? (see `{self.prog} --help`)"
        fail(message, hint, EXIT_USAGE)


DATA_DIR_HELP = ("data directory (default: $HARTNODE_DATA_DIR, else $XDG_DATA_HOME/hartnode, "
                 "else ~/.local/share/hartnode)")


@dataclass(frozen=True)
class Parents:
    """Parent parsers a command adds with ``parents=[...]`` so every command
    spells a shared option the same way."""

    #: ``--data-dir`` (SUPPRESS: one given before the command is not reset by
    #: the subcommand's default, and one after it wins).
    data: Parser
    #: ``--json``: print one JSON document (or one per line) instead of text.
    json: Parser


def make_parents() -> Parents:
    data = Parser(add_help=False)
    data.add_argument("--data-dir", default=argparse.SUPPRESS, help=DATA_DIR_HELP)
    as_json = Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    return Parents(data=data, json=as_json)


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """``-v``, ``-q`` and ``--log-level`` on ``parser`` and on every command under
    it, so they are accepted before or after the command (SUPPRESS: a command's
    default never resets one given before it)."""
    seen: set[int] = set()

    def add(p: argparse.ArgumentParser) -> None:
        if id(p) in seen:  # an alias shares its parser
            return
        seen.add(id(p))
        group = p.add_argument_group("logging")
        group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                           help="more log output, repeatable (-v: info, -vv: debug; "
                           "`run`: -v is debug)")
        group.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                           help="less log output, repeatable (errors only at most)")
        group.add_argument("--log-level", choices=config_mod.LOG_LEVELS,
                           default=argparse.SUPPRESS,
                           help="the log level, over -v/-q and the config's log.level")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    add(child)

    add(parser)


def log_level(args: argparse.Namespace, base: str) -> str:
    """The level ``-v``/``-q``/``--log-level`` make of ``base`` (the config's
    ``log.level`` for ``run``, ``warning`` for the other commands)."""
    explicit = getattr(args, "log_level", None)
    if explicit:
        return str(explicit)
    levels = config_mod.LOG_LEVELS  # most verbose first
    i = levels.index(base) - getattr(args, "verbose", 0) + getattr(args, "quiet", 0)
    return levels[min(max(i, 0), len(levels) - 1)]


class _PlainFormatter(logging.Formatter):
    """``hartnode: warning: hartnode.x: message``, the CLI's own error format."""

    def format(self, record: logging.LogRecord) -> str:
        from hartnode.logs import message

        text = f"hartnode: {record.levelname.lower()}: {record.name}: {message(record)}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record comes (as logging's
    last-resort handler does), so a replaced stderr is followed."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_PlainFormatter())

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass  # always sys.stderr


def setup_logging(level: str) -> None:
    """A command's own log records (not ``run``'s): plain lines on stderr, so
    stdout stays the command's output (``--json`` included)."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    root.addHandler(_StderrHandler())
    root.setLevel(level.upper())


def field_doc(section: str, key: str) -> str:
    """The config field's doc: help text comes from the one config schema."""
    for f in dataclasses.fields(config_mod.sections()[section]):
        if f.name == key:
            return str(f.metadata["doc"])
    raise KeyError(key)


def data_dir(args: argparse.Namespace) -> DataDir:
    """The data directory, with its config and ``HARTNODE_*`` variables checked:
    a typo in either is reported by every command, not only by ``run``."""
    dd = DataDir(resolve(getattr(args, "data_dir", None)))
    dd.load_config()
    return dd


def catalog_for(dd: DataDir) -> Catalog:
    """The catalog with this node's pinned master key: whose Spark grants count
    in the compute views must be the same for the daemon and every command."""
    from hartnode.catalog import build_catalog

    key = dd.load_config().trust.master_key
    return build_catalog(bytes.fromhex(key) if key else None)


def require_init(dd: DataDir, *, databases_only: bool = False) -> None:
    """Refuse a directory that holds no node. ``databases_only``: the ``kb``
    commands need only the databases, so they also work on a backup copy."""
    if dd.exists() or (databases_only and (dd.path / "ledger.sqlite").exists()):
        return
    raise CliError(f"no hartnode node in {dd.path}",
                   "run `hartnode init` first, or pass --data-dir", EXIT_USAGE)


def api_request(dd: DataDir, path: str, body: Any = None, *, raw: bytes | None = None,
                timeout: float = 10.0) -> Any:
    """Call the running daemon's API (POST when ``body`` or ``raw`` is given);
    ``timeout`` in seconds (a goal's dispatch waits for its job).

    Raises:
        CliError: EXIT_UNREACHABLE when no daemon answers; the API's error otherwise.
    """
    cfg = dd.load_config()
    host, port = config_mod.parse_hostport(cfg.api.listen, "api.listen")
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    url = f"http://{host}:{port}{path}"
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    req.add_header("Authorization", f"Bearer {dd.load_token()}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read())
            raise CliError(str(detail.get("error")), str(detail.get("hint", "")),
                           EXIT_USAGE if e.code == 400 else EXIT_FAILED) from e
        except ValueError:
            raise CliError(f"the daemon answered HTTP {e.code}", "see its log") from e
    except (urllib.error.URLError, OSError) as e:
        raise CliError(f"no hartnode daemon answers at {url} ({e})",
                       "start it with `hartnode run` or `systemctl start hartnode`",
                       EXIT_UNREACHABLE) from e


def print_json(value: object) -> None:
    """One JSON document on one line, keys sorted (stable for scripts and diffs)."""
    print(json.dumps(value, sort_keys=True))


def fail(message: str, hint: str, code: int) -> NoReturn:
    print(f"hartnode: error: {message}", file=sys.stderr)
    if hint:
        print(f"hartnode: hint: {hint}", file=sys.stderr)
    raise SystemExit(code)
