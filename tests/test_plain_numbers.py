"""Numbers written by agents (and gh, ps, the engineer) that look like numbers and are not:
``"²".isdigit()`` is true and ``int("²")`` raises, ``int()`` of a 5,000-digit string raises.
Each is read as no number (a message, a text), never a traceback."""

from __future__ import annotations

from datetime import datetime

import pytest

from factory_tui.actions.release import parse_target
from factory_tui.adapters.remote_procs import parse_ps
from factory_tui.core.prs_queue import parse_ref
from factory_tui.core.safe import plain_int
from factory_tui.ui.widgets.agents import id_order

ODD_NUMBERS = [pytest.param("\u00b2", id="superscript"), pytest.param("9" * 5000, id="5000 digits")]
ODD = ["\u00b2", "1\u00b2", "\u0661\u0662", "9" * 5000, "", "-3", "+3", " 3", "3.0"]


@pytest.mark.parametrize("text", ODD, ids=lambda text: ascii(text[:12]))
def test_plain_int_reads_ascii_digits_only(text: str) -> None:
    assert plain_int(text) is None


def test_plain_int_reads_a_plain_number_up_to_its_digits() -> None:
    assert plain_int("0042") == 42 and plain_int("9" * 18) == 10**18 - 1
    assert plain_int("9" * 19) is None and plain_int("9" * 19, digits=19) == 10**19 - 1


@pytest.mark.parametrize("odd", ODD_NUMBERS)
def test_instance_ids_with_odd_numbers_sort_by_id(odd: str) -> None:
    """The Agents view's order by id (an instance id is agent-written)."""
    ids = [f"agent-{odd}", "agent-10", "agent-2", odd]
    ordered = sorted(ids, key=id_order)
    assert ordered.index("agent-2") < ordered.index("agent-10") and len(ordered) == 4


@pytest.mark.parametrize("odd", ODD_NUMBERS)
def test_a_release_target_with_an_odd_phase_is_a_claim_id(odd: str) -> None:
    assert parse_target(f"CAB-1:{odd}") == (f"CAB-1:{odd}", None)
    assert parse_target("CAB-1:2") == ("CAB-1", 2)


@pytest.mark.parametrize("odd", [*ODD_NUMBERS, pytest.param("#\u00b2", id="#superscript")])
def test_a_pr_ref_that_is_no_plain_number_is_a_branch(odd: str) -> None:
    assert parse_ref(odd) == (None, odd)
    assert parse_ref("#373") == (373, "#373")


def test_a_remote_ps_line_with_an_odd_pid_is_skipped() -> None:
    out = "\u00b2 00:05 evil\n" + "9" * 5000 + " 00:05 evil\n42 01:00 claude --resume\n"
    found = parse_ps(out, datetime(2026, 2, 16, 15, 42), [42, 2])
    assert list(found) == [42]


def test_a_tmux_pane_with_an_odd_pid_has_none() -> None:
    from factory_tui.adapters.tmux import parse_panes

    panes = parse_panes("%1\t\u00b2\tw:0.0\t/x\n%2\t42\tw:0.1\t/y\n")
    assert [(pane.id, pane.pid) for pane in panes] == [("%1", None), ("%2", 42)]
