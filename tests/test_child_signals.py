"""The suite's children get Ctrl-C like a foreground command, however pytest was started.

A CI script that runs ``pytest &`` without job control starts it with SIGINT
ignored; ``conftest.pytest_configure`` undoes that so the children it starts
(``ledger tail -f`` stopped by SIGINT) are not deaf to it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import pytest_configure

PROBE = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """This process as a shell's background job without job control starts it."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def child_takes_ctrl_c() -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.strip() == "True"


def test_an_ignored_sigint_is_inherited_by_children(sigint_ignored: None) -> None:
    assert not child_takes_ctrl_c()  # what the configure hook is there to undo


def test_configure_gives_children_the_default_sigint(sigint_ignored: None,
                                                     pytestconfig: pytest.Config) -> None:
    pytest_configure(pytestconfig)
    assert child_takes_ctrl_c()
