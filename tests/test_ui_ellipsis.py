"""Issue 12: long text is cut with an ellipsis, never mid-word at the screen's edge, and the
highlighted row's full text is right below the table (the Sessions "why", the State findings).
Agent-written text stays literal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from factory_tui.core.fleet import Fleet, SessionView
from factory_tui.core.statefiles import LintFinding
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.fields import FieldList
from factory_tui.ui.widgets.sessions import SessionsView
from factory_tui.ui.widgets.state import StateView
from factory_tui.ui.widgets.table import KeyedTable

NOW = datetime(2026, 2, 16, 15, 42, 30)
WHY = (
    "no log line for 47m and the claim's pid is gone: [bold]crashed[/bold] while pushing "
    "feat/CAB-1302-webhook-retry, checkpoint step 6 of 10, the worktree has 3 uncommitted files"
)
FINDING = (
    "plan.md marks CAB-1290 phase 2 done but memory.md still lists it under In progress: "
    "move it to [red]Done[/red] in memory.md or reopen it in plan.md, then run the state lint"
)


def session(task: str, why: str, line: int) -> SessionView:
    return SessionView(
        task=task,
        instance="t1234-worker",
        branch=f"feat/{task}",
        status="crashed",
        end_status=None,
        started_at="2026-02-16T14:00",
        ended_at=None,
        last_step="push",
        last_step_state="started",
        last_step_at="2026-02-16T14:50",
        last_event_at="2026-02-16T14:55",
        pr=None,
        checkpoint=None,
        recovered_from=None,
        recovered_by=None,
        last_error=None,
        source="operations.log",
        start_line=line,
        why=why,
        duration=None,
    )


def fleet(sessions: tuple[SessionView, ...] = (), lint: tuple[LintFinding, ...] = ()) -> Fleet:
    return Fleet(
        root="/factory",
        generated_at=NOW,
        hostname="here",
        instances=(),
        sessions=sessions,
        claims=(),
        problems=(),
        lint=lint,
    )


class SessionsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SessionsView(id="sessions-view")


class StateApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StateView(id="state-view")


def table_lines(app: App[Any], table: KeyedTable, marker: str) -> list[str]:
    """The lines of ``table`` on the screen that hold ``marker``."""
    lines = screen_text(app).splitlines()[table.region.y : table.region.bottom]
    return [line for line in lines if marker in line]


async def fits_and_cuts(pilot: Pilot[Any], table: KeyedTable, marker: str, start: str) -> None:
    """The table fits the terminal (nothing clipped by its edge), and every row that holds
    ``marker`` shows the start of its long text, then an ellipsis."""
    width = pilot.app.size.width
    assert sum(table.column_widths) <= width, table.column_widths
    rows = table_lines(pilot.app, table, marker)
    assert rows
    for row in rows:
        assert start in row and row.rstrip().endswith("…"), row


async def test_a_long_session_why_is_cut_with_an_ellipsis_and_read_whole_below() -> None:
    app = SessionsApp()
    other = "the agent stopped answering after its quality gate " * 4
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(SessionsView)
        view.show_fleet(fleet((session("CAB-1302", WHY, 10), session("CAB-1400", other, 20))))
        await pilot.pause()
        table = view.table
        await fits_and_cuts(pilot, table, "CAB-1302", "no log")
        detail = app.query_one("#session-detail", FieldList)
        first, second = table.row_keys
        assert table.cursor_key() == first
        assert WHY in detail.text.replace("\n", " ")  # whole, markup literal
        table.focus()
        await pilot.press("j")
        assert table.cursor_key() == second
        assert other.strip() in detail.text
        # Refreshed with a longer why, the widths stay.
        widths = table.column_widths
        view.show_fleet(fleet((session("CAB-1302", WHY * 3, 10), session("CAB-1400", "x", 20))))
        await pilot.pause()
        assert table.column_widths == widths


async def test_at_80_columns_the_sessions_table_still_fits_with_ellipses() -> None:
    app = SessionsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(SessionsView).show_fleet(fleet((session("CAB-1302", WHY, 10),)))
        await pilot.pause()
        await fits_and_cuts(pilot, app.query_one(SessionsView).table, "CAB-1302", "no l")


async def test_a_long_state_finding_is_cut_with_an_ellipsis_and_read_whole_below() -> None:
    findings = (
        LintFinding("/factory/plan.md", 12, "plan-memory-sync", FINDING),
        LintFinding("/factory/memory.md", 40, "stale-in-progress", "CAB-1321 " + FINDING),
    )
    app = StateApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(StateView)
        view.show_fleet(fleet(lint=findings), None)
        await pilot.pause()
        table = view.table
        await fits_and_cuts(pilot, table, "plan.md:12", "plan.md")
        detail = app.query_one("#state-detail", FieldList)
        text = detail.text.replace("\n", " ")
        assert FINDING in text and "plan.md:12" in text  # whole, markup literal
        assert "[red]Done[/red]" in screen_text(app)
        table.focus()
        await pilot.press("j")
        text = detail.text.replace("\n", " ")
        assert "CAB-1321 " + FINDING in text and "memory.md:40" in text


async def test_at_80_columns_the_sessions_why_keeps_room_and_the_rest_is_below() -> None:
    """Below 100 columns the last step and the checkpoint give way (the detail has both), so
    the why is read, not a few letters of it."""
    app = SessionsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(SessionsView)
        view.show_fleet(fleet((session("CAB-1302", WHY, 10),)))
        await pilot.pause()
        table = view.table
        labels = [column.label.plain for column in table.ordered_columns]
        assert labels == ["status", "task", "instance", "started", "duration", "why"]
        row = table_lines(app, table, "CAB-1302")[0]
        assert "no log line for" in row and row.rstrip().endswith("…")
        detail = app.query_one("#session-detail", FieldList).text
        assert "push" in detail  # the last step, left out of the table, is below
        await pilot.resize_terminal(120, 24)
        await pilot.pause()
        assert "last step" in [column.label.plain for column in table.ordered_columns]
