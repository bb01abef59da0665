"""The ``hartnode`` command line (entry point ``hartnode.cli:main``).

    hartnode init | run | status | id | version | -V | peers | join URL | connect URL
             | config get|set|unset | kb verify|backup|restore|vacuum|migrate|rebuild
             | ledger append|tail [-f] | keys master-init | cert issue|install|show|publish|revoke
             | trust [challenge|manifest build] | compute ... | wallet | completion bash|zsh
             | social ... | recipes ... | goals ...
    global options, before or after the command: --data-dir, -v, -q, --log-level;
    --json on every command that prints a report

Modules (one per command group; docs/ARCHITECTURE.md "A CLI command"):
    base     exit codes, CliError, the parser with the typo hint, the shared
             --data-dir/--json parents, the data dir and the daemon's API
    main     GROUPS (the registration seam), build_parser, main
    about    version, id (offline)
    daemon   init, run, status
    peers    peers, join/connect (through the daemon's API)
    configure  config get|set|unset (hartnode.toml, checked against the schema)
    kb       kb verify|backup|restore|vacuum|migrate|rebuild
    ledger   ledger append|tail
    certs    keys master-init, cert issue|install|show|publish|revoke
    trust    trust, trust challenge, trust manifest build
    compute  compute status|policy|jobs|escrow, wallet
    social   social user|community|post|comment|vote|follow|feed|thread|mute|block|report|...
    recipes  recipes share|fork|delete|search|list|show|reindex
    goals    goals create|list|show|activate|pause|done|fail|dispatch
    completion  completion bash|zsh, generated from the parser tree
    progress the \\r progress bar on stderr (a terminal only); format: sizes, ages
    ui       ui: a one-time login link to the web UI
"""

from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STARTUP,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)
from hartnode.cli.main import build_parser, main

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_STARTUP", "EXIT_UNREACHABLE", "EXIT_USAGE",
           "CliError", "build_parser", "main"]
