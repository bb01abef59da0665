"""The ``hartnode`` command line (entry point ``hartnode.cli:main``).

    hartnode init | run | status [--json] | id [--json] | version [--json] | -V
             | kb verify|backup DEST|restore SRC [--force]|vacuum|migrate|rebuild
             | ledger append --kind K --reach R --payload JSON | ledger tail [--json] [-n N]
             | keys master-init PATH | cert issue|install|show|revoke|publish
             | trust [challenge ID|manifest build DIR] | compute ... | wallet
             | social ... | recipes ... | goals ...

Modules (one per command group; docs/ARCHITECTURE.md "A CLI command"):
    base     exit codes, CliError, the parser with the typo hint, the shared
             --data-dir/--json parents, the data dir and the daemon's API
    main     GROUPS (the registration seam), build_parser, main
    about    version, id (offline)
    daemon   init, run, status, peers
    kb       kb verify|backup|restore|vacuum|migrate|rebuild
    ledger   ledger append|tail
    certs    keys master-init, cert issue|install|show|publish|revoke
    trust    trust, trust challenge, trust manifest build
    compute  compute status|policy|jobs|escrow, wallet
    social   social user|community|post|comment|vote|follow|feed|thread|mute|block|report|...
    recipes  recipes share|fork|delete|search|list|show|reindex
    goals    goals create|list|show|activate|pause|done|fail|dispatch
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
