"""Issue 12: the PR table's column widths do not change between refreshes (only the terminal's
width changes them), and a cell too long for its column is cut with an ellipsis."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from factory_tui.core.prs import PullRequest
from factory_tui.core.prs_queue import Queue, build_queue
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.prs import COLUMNS, FITS, PrsView, PrTable
from factory_tui.ui.widgets.table import FLOOR, Fit, KeyedTable, fit_widths

NOW = datetime(2026, 2, 16, 15, 42, 30)


def queue(title: str, branch: str) -> Queue:
    """Two open local PRs whose title and branch are as long as asked."""
    prs = [
        PullRequest(
            source="local",
            number=None,
            branch=f"feat/{branch}-{n}",
            title=f"{title} {n}",
            state="open",
            created_at=NOW - timedelta(hours=n + 1),
            additions=10 * n,
        )
        for n in (1, 2)
    ]
    return build_queue(prs, now=NOW)


class PrsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PrsView(root="/factory", id="prs-view")


async def test_pr_columns_keep_their_widths_whatever_the_titles_and_branches() -> None:
    app = PrsApp()
    async with app.run_test(size=(160, 30)) as pilot:
        view = app.query_one(PrsView)
        view.show_queue(queue("fix: a", "x"))
        await pilot.pause()
        table = app.query_one(PrTable)
        widths = table.column_widths
        assert sum(widths) <= 160
        long_title = "feat: retry the webhook delivery with a bounded exponential backoff " * 2
        for title, branch in ((long_title, "CAB-1302-" + "w" * 60), ("a", "b"), ("", "c" * 9)):
            view.show_queue(queue(title, branch))
            await pilot.pause()
            assert table.column_widths == widths, (title, branch)
        view.show_queue(queue(long_title, "y"))
        await pilot.pause()
        rows = [
            line for line in screen_text(app).splitlines() if "— none" in line and "ASK" in line
        ]
        assert len(rows) == 2, rows  # the table's rows (the detail below has the full title)
        for row in rows:
            assert "feat: retry the webhook" in row and "backoff" not in row
            assert "… " in row  # cut with an ellipsis


async def test_pr_columns_follow_the_terminal_width() -> None:
    """(From 130 columns, where the table has every column.)"""
    app = PrsApp()
    async with app.run_test(size=(140, 30)) as pilot:
        app.query_one(PrsView).show_queue(queue("fix: a", "x"))
        await pilot.pause()
        table = app.query_one(PrTable)
        narrow = table.column_widths
        await pilot.resize_terminal(180, 30)
        await pilot.pause()
        wide = table.column_widths
        assert sum(wide) > sum(narrow)
        assert all(w >= n for w, n in zip(wide, narrow, strict=True))


def test_fit_widths_share_the_room_and_keep_the_least() -> None:
    fits = [Fit(5), Fit(4, 2, 10), Fit(4, 1)]
    assert fit_widths(fits, 13) == [5, 4, 4]
    assert fit_widths(fits, 16) == [5, 6, 5]  # 3 cells more: two to grow 2, one to grow 1
    assert fit_widths(fits, 40) == [5, 10, 25]  # the middle stops at its most
    assert fit_widths([Fit(3)], 50) == [3]
    # Too narrow: the growing columns give way, the widest first, down to FLOOR cells.
    wide = [Fit(9), Fit(10, 1), Fit(8, 1)]
    assert fit_widths(wide, 24) == [9, 8, 7]
    assert fit_widths(wide, 5) == [9, FLOOR, FLOOR]  # then the table scrolls sideways
    assert fit_widths([Fit(9), Fit(10, 1, floor=10), Fit(8, 1)], 5) == [9, 10, FLOOR]
    assert len(FITS) == len(COLUMNS)  # one fit per column


def header_labels(table: PrTable) -> list[str]:
    return [str(column.label) for column in table.ordered_columns]


async def test_at_80_columns_the_pr_table_fits_and_keeps_the_most_useful_columns() -> None:
    app = PrsApp()
    long_title = "feat: retry the webhook delivery with a bounded exponential backoff"
    async with app.run_test(size=(160, 30)) as pilot:
        view = app.query_one(PrsView)
        view.show_queue(queue(long_title, "CAB-1302-webhook-retry-flake"))
        await pilot.pause()
        table = app.query_one(PrTable)
        assert header_labels(table) == [label for label, _key in COLUMNS]
        assert table.column_widths == [w + 2 for w in fit_widths(FITS, 160 - 2 - 2 * len(FITS))]
        table.focus()
        await pilot.press("j")
        second = table.cursor_key()
        for width, gone in ((80, {"mode: why", "DoD", "task · instance"}), (100, {"mode: why"})):
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            labels = header_labels(table)
            assert not gone & set(labels), (width, labels)
            assert {"queue", "PR", "title", "CI", "size", "age"} <= set(labels)
            assert sum(table.column_widths) <= width
            assert table.virtual_size.width <= table.size.width  # no sideways scrolling
            assert table.cursor_key() == second  # the same PR under the cursor
            lines = screen_text(app).splitlines()[table.region.y : table.region.bottom]
            rows = [line for line in lines if "? ASK" in line]
            assert len(rows) == 2
            for row in rows:
                assert "feat: retry" in row and "…" in row, row
        await pilot.resize_terminal(160, 30)
        await pilot.pause()
        assert header_labels(table) == [label for label, _key in COLUMNS]
        assert table.cursor_key() == second


class ManyRowsApp(App[None]):
    """A fitted table with more rows than it has lines: its vertical scrollbar shows."""

    def compose(self) -> ComposeResult:
        yield KeyedTable([("id", "id"), ("text", "text")], id="many", fits=[Fit(8), Fit(10, 1)])


async def test_a_table_with_a_vertical_scrollbar_does_not_scroll_sideways() -> None:
    app = ManyRowsApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(f"r{n}", [Text(f"row {n}"), Text("long text " * 10)]) for n in range(40)])
        await pilot.pause()
        # Widths fitted again while the vertical scrollbar shows (a view shown after its data
        # came, a terminal resized).
        await pilot.resize_terminal(70, 10)
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert not table.show_horizontal_scrollbar
        assert sum(table.column_widths) == table.scrollable_content_region.width


class TwoTables(App[None]):
    """A fitted table (widths from :class:`Fit`) and an unfitted one (Textual's auto widths)."""

    def compose(self) -> ComposeResult:
        spec = [("ID", "id"), ("AGE", "age")]
        yield KeyedTable(spec, id="fitted", fits=[Fit(8), Fit(6, grow=1)])
        yield KeyedTable(spec, id="auto")


def ages(rows: int, unit: str) -> list[tuple[str, list[Text]]]:
    return [(f"r{n}", [Text(f"r{n}"), Text(f"{n}{unit}")]) for n in range(rows)]


async def test_a_changed_cell_of_a_fitted_column_is_not_measured_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DataTable measures the whole column again each time one of its cells gets narrower: a
    Sessions table of thousands of rows whose ages tick took seconds a refresh. A fitted
    column's width is the table's own, so its cells are updated without measuring; an
    unfitted column still follows its longest cell."""
    measured: dict[str, list[bool]] = {"fitted": [], "auto": []}
    real_update = KeyedTable.update_cell

    def update_cell(self: KeyedTable, *args: Any, update_width: bool = False) -> None:
        measured[str(self.id)].append(update_width)
        real_update(self, *args, update_width=update_width)

    monkeypatch.setattr(KeyedTable, "update_cell", update_cell)
    app = TwoTables()
    async with app.run_test(size=(80, 40)) as pilot:
        for table in app.query(KeyedTable):
            table.sync(ages(30, " minutes ago"))
        await pilot.pause()
        fitted = app.query_one("#fitted", KeyedTable)
        widths = fitted.column_widths
        for table in app.query(KeyedTable):
            table.sync(ages(30, "m"))
        await pilot.pause()
        assert measured["fitted"] == [False] * 30  # each age changed, none measured
        assert measured["auto"] == [True] * 30
        assert fitted.column_widths == widths
        assert fitted.get_cell("r7", "age").plain == "7m"
        auto = app.query_one("#auto", KeyedTable)
        assert auto.column_widths[1] < len("29 minutes ago") + 2  # the auto column shrank
