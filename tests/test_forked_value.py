"""Work done by a forked child whose value comes back (``forked.forked_value``): the price table
is made so, and this process never imports genai-prices (its data module, pydantic and an HTTP
client stayed in the cockpit for good: ~20 MB of its RSS). A child that fails, hangs or answers
what cannot be unpickled is no value: the caller does the work itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings
from datetime import UTC, datetime

import pytest

from factory_tui.adapters import forked, prices
from factory_tui.adapters.forked import Forked, forked_value

pytestmark = pytest.mark.skipif(not forked.fork_allowed(), reason="forked work: Linux only")


def test_the_childs_value_comes_back() -> None:
    assert forked_value(lambda: {"models": ["a", "b"], "n": 2**70}) == {
        "models": ["a", "b"],
        "n": 2**70,
    }


def test_nothing_the_child_writes_reaches_this_processs_output(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """In the cockpit the child's standard output and error are the terminal under the screen
    (and its print capture, Textual's, whose app does not run in the child): what the work
    prints, writes at the descriptors or warns goes nowhere."""

    def noisy() -> int:
        print("printed")
        print("to stderr", file=sys.stderr)
        os.write(1, b"at fd 1\n")
        os.write(2, b"at fd 2\n")
        warnings.warn("a package's warning", UserWarning, stacklevel=1)
        return 7

    assert forked_value(noisy) == 7
    assert capfd.readouterr() == ("", "")


def test_a_child_that_fails_is_no_value() -> None:
    def fails() -> int:
        raise ValueError("no table")

    assert forked_value(fails) is None


def test_a_value_that_cannot_be_pickled_is_no_value() -> None:
    assert forked_value(threading.Lock) is None


def test_a_child_that_hangs_is_ended_and_is_no_value() -> None:
    assert forked_value(lambda: threading.Event().wait(), seconds=1) is None


def test_where_no_child_can_be_forked_the_caller_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "fork_allowed", lambda: False)
    assert forked_value(lambda: 1) is None
    assert prices.price_table_forked(datetime.now(UTC)) is None
    made_here = prices.default_price_table.__wrapped__()  # type: ignore[attr-defined]
    assert made_here.lookup("claude-sonnet-4-5") is not None


def test_out_of_descriptors_the_caller_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pipe to be had (a process at its descriptor limit): no value, not an ``OSError`` the
    cost feed would show instead of the spend."""

    def no_pipe(_flags: int) -> tuple[int, int]:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(forked.os, "pipe2", no_pipe)
    assert forked_value(lambda: 1) is None


def test_the_answer_is_whole_when_another_fork_holds_the_pipe_open() -> None:
    """A child another thread forked meanwhile holds a copy of the pipe's write end: no end of
    file then; the answer is taken once the child that wrote it has ended."""
    read_fd, write_fd = os.pipe()
    held = os.dup(write_fd)
    try:
        child = Forked.start(lambda: os.write(write_fd, b"the answer") > 0)
        assert child is not None
        os.close(write_fd)
        assert forked._read_answer(read_fd, child) == b"the answer"
        assert child.wait()
    finally:
        os.close(held)
        os.close(read_fd)


_TABLE = """
import json, sys
from datetime import UTC, datetime
from factory_tui.adapters import prices
at = datetime.now(UTC)
table = prices.price_table_forked(at)
default = prices.default_price_table()
imported = "genai_prices" in sys.modules
here = prices.price_table_at(at)
print(json.dumps({
    "imported": imported,
    "same": table == here and table.models == here.models,
    "default": dict(default.models) == dict(here.models) and default.source == here.source,
    "models": len(here.models),
}))
"""


def test_the_price_table_is_made_without_genai_prices_in_this_process() -> None:
    """The table a child made is the one made here, field by field; the process that asked
    never imported the package (checked in a fresh one: this one may have)."""
    done = subprocess.run(
        [sys.executable, "-c", _TABLE], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout)
    assert found == {"imported": False, "same": True, "default": True, "models": found["models"]}
    assert found["models"] > 10
