"""The parser built from the command groups, and ``main``: dispatch to the
handler the parsed command set, and turn a typed error into its exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hartnode import __version__
from hartnode import config as config_mod
from hartnode.cert_commands import CommandError
from hartnode.cli import (
    about,
    certs,
    completion,
    compute,
    configure,
    daemon,
    goals,
    kb,
    ledger,
    peers,
    recipes,
    social,
    trust,
    ui,
)
from hartnode.cli.base import (
    DATA_DIR_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STARTUP,
    EXIT_USAGE,
    CliError,
    Parents,
    Parser,
    Subparsers,
    add_global_options,
    fail,
    log_level,
    make_parents,
    setup_logging,
)
from hartnode.datadir import DataDirError
from hartnode.ledger.envelope import EnvelopeError
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.store import StoreError

#: The command groups, in ``--help`` order. A group is a module whose
#: ``add_parser(sub, parents)`` adds its commands and sets ``handler`` on each
#: (``parser.set_defaults(handler=cmd_x)``); add a group with one line here.
GROUPS: tuple[Callable[[Subparsers, Parents], None], ...] = (
    about.add_parser,
    daemon.add_parser,
    peers.add_parser,
    configure.add_parser,
    kb.add_parser,
    certs.add_parser,
    ledger.add_parser,
    trust.add_parser,
    compute.add_parser,
    social.add_parser,
    recipes.add_parser,
    goals.add_parser,
    completion.add_parser,
    ui.add_parser,
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="hartnode",
               description="The hartnode daemon and its maintenance commands.")
    p.add_argument("-V", "--version", action="version", version=f"hartnode {__version__}")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help=DATA_DIR_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = make_parents()
    for add_group in GROUPS:
        add_group(sub, parents)
    add_global_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    if args.command != "run":  # the daemon sets up its own logs, from its config
        setup_logging(log_level(args, "warning"))
    try:
        return handler(args)
    except CliError as e:
        fail(e.message, e.hint, e.code)
    except CommandError as e:
        fail(e.message, e.hint, EXIT_USAGE if e.usage else EXIT_FAILED)
    except config_mod.ConfigError as e:
        code = EXIT_STARTUP if args.command == "run" else EXIT_USAGE
        fail(str(e), "fix the config file or the HARTNODE_* variable it names", code)
    except (DataDirError, StoreError) as e:
        code = EXIT_STARTUP if args.command == "run" else EXIT_FAILED
        fail(e.message, e.hint, code)
    except (UnknownKindError, PayloadError, EnvelopeError) as e:
        fail(str(e), "see `hartnode ledger append --help`; the payload must match the "
             "kind's schema", EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hartnode peers --json | head`: the reader left; not an error
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
