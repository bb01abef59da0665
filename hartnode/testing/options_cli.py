"""Command lines derived from a scenario's options dataclass (the simulators' CLIs).

One flag per field (``--kebab-case``), typed and defaulted from the
dataclass, with ``--json``; ``run_cli`` builds the options (a ``ValueError``
from their validation is a usage error, exit 2), runs the scenario and
prints its figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any, Protocol


class Result(Protocol):
    def summary(self) -> str: ...

    def as_dict(self) -> dict[str, object]: ...


def build_parser(options_type: type, helps: Mapping[str, str], *, prog: str, description: str,
                 choices: Mapping[str, Sequence[str]] | None = None,
                 formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter,
                 ) -> argparse.ArgumentParser:
    """Flags derived from ``options_type``'s fields (one declaration per option)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=formatter_class)
    defaults = options_type()
    for f in fields(options_type):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=helps[f.name])
        else:
            parser.add_argument(flag, type=type(default), default=default,
                                choices=(choices or {}).get(f.name),
                                help=f"{helps[f.name]} ({default})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def run_cli(parser: argparse.ArgumentParser, options_type: Callable[..., Any],
            run: Callable[[Any], Result], argv: Sequence[str] | None,
            exit_status: Callable[[Any], int] = lambda _result: 0) -> int:
    """Parse ``argv``, run the scenario, print its figures; return the exit status."""
    args = vars(parser.parse_args(argv))
    as_json = args.pop("json")
    try:
        options = options_type(**args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run(options)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        print(result.summary())
    return exit_status(result)
