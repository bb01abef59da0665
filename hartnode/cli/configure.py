"""``hartnode config get|set|unset``: read and change ``hartnode.toml`` in the data
directory, checked against the config schema before anything is written."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
from typing import Any

from hartnode import config as config_mod
from hartnode.cli.base import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    data_dir,
    print_json,
)
from hartnode.datadir import DataDir
from hartnode.files import replace_private

HEADER = "# hartnode settings; see config/hartnode.toml for every key and its doc\n"


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data, as_json = parents.data, parents.json
    config = sub.add_parser("config", help="read and change the config file (hartnode.toml "
                            "in the data dir)")
    config.set_defaults(handler=cmd_config)
    c_sub = config.add_subparsers(dest="config_command", required=True,
                                  metavar="CONFIG_COMMAND")
    get = c_sub.add_parser("get", parents=[data, as_json], help="the effective value of KEY "
                           "(or of every key) and where it comes from")
    get.add_argument("key", nargs="?", help="SECTION.KEY, e.g. network.seeds")
    set_ = c_sub.add_parser("set", parents=[data, as_json], help="write KEY = VALUE to the "
                            "config file (checked against the schema first)")
    set_.add_argument("key", help="SECTION.KEY, e.g. api.listen")
    set_.add_argument("value", help="booleans true/false; lists comma-separated or a JSON "
                      "array, e.g. ws://a:6778/hart,ws://b:6778/hart")
    unset = c_sub.add_parser("unset", parents=[data, as_json], help="remove KEY from the "
                             "config file (back to its default)")
    unset.add_argument("key", help="SECTION.KEY")


def all_keys() -> list[str]:
    return [f"{name}.{f.name}" for name, sec in config_mod.sections().items()
            for f in dataclasses.fields(sec)]


def split_key(name: str) -> tuple[str, str]:
    """``section.key`` → (section, key). Raises CliError naming the closest key."""
    keys = all_keys()
    if name not in keys:
        close = difflib.get_close_matches(name, keys, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise CliError(f"unknown config key {name!r}",
                       f"{hint}`hartnode config get` lists every key", EXIT_USAGE)
    section, key = name.split(".", 1)
    return section, key


def env_name(section: str, key: str) -> str:
    return f"{config_mod.ENV_PREFIX}{section.upper()}_{key.upper()}"


def plain(value: Any) -> Any:
    """A config value as JSON gives it (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def text(value: Any) -> str:
    """A value as the operator writes it: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(plain(value))


def _describe(dd: DataDir, file_layer: dict[str, Any], name: str) -> dict[str, Any]:
    section, key = split_key(name)
    cfg = dd.load_config()
    env = env_name(section, key)
    source = (f"environment ({env})" if env in os.environ
              else "file" if key in file_layer.get(section, {}) else "default")
    field = next(f for f in dataclasses.fields(config_mod.sections()[section]) if f.name == key)
    return {"key": name, "value": plain(getattr(getattr(cfg, section), key)),
            "source": source, "doc": field.metadata["doc"]}


def cmd_config(args: argparse.Namespace) -> int:
    dd = data_dir(args)  # loads and checks the config as it stands
    file_layer = config_mod.read_file_layer(dd.config_path)
    if args.config_command == "get":
        names = [args.key] if args.key else all_keys()
        rows = [_describe(dd, file_layer, name) for name in names]
        if args.json:
            print_json(rows[0] if args.key else rows)
        elif args.key:
            print(text(rows[0]["value"]))
        else:
            for r in rows:
                print(f"{r['key']} = {text(r['value'])}  ({r['source']})")
        return EXIT_OK
    section, key = split_key(args.key)
    before = _describe(dd, file_layer, args.key)["value"]
    layer = {s: dict(v) if isinstance(v, dict) else v for s, v in file_layer.items()}
    try:
        if args.config_command == "set":
            value = config_mod.coerce_text(section, key, args.value)
            layer.setdefault(section, {})[key] = plain(value)
        else:
            layer.get(section, {}).pop(key, None)
        # Checked whole, as the daemon will read it: without the environment
        # (a variable may hide a bad value until it is unset) and with it.
        file_only = config_mod.from_layers(layer, str(dd.config_path), {})
        new = config_mod.from_layers(layer, str(dd.config_path))
    except config_mod.ConfigError as e:
        raise CliError(str(e), f"nothing was written; `hartnode config get {args.key} --json` "
                       "shows the key's doc", EXIT_USAGE) from e
    dd.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_private(dd.config_path,
                    (HEADER + config_mod.render_toml(file_only, only_changed=True)).encode())
    after = plain(getattr(getattr(new, section), key))
    env = env_name(section, key)
    running = dd.is_locked()
    out = {"key": args.key, "value": after, "previous": before, "file": str(dd.config_path),
           "changed": after != before, "restart_needed": running and after != before,
           "overridden_by": env if env in os.environ else None}
    if args.json:
        print_json(out)
        return EXIT_OK
    print(f"{args.key} = {text(after)}  (was {text(before)}; written to {dd.config_path})")
    if out["overridden_by"]:
        print(f"note: {env} is set and wins over the file")
    if out["restart_needed"]:
        print("the running daemon reads its config at start: restart it for this to apply "
              "(e.g. `systemctl restart hartnode`)")
    elif after != before:
        print("applies when the daemon next starts")
    return EXIT_OK
