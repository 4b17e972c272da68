"""Issue 12: the Cost view's tables fit the terminal. A long group key (a model's name) is cut
with an ellipsis, never by the screen's edge, and read whole in the detail line above the table,
which follows the cursor; where the table is narrow the token columns give way (the detail line
has every number of the highlighted row)."""

from __future__ import annotations

import json
from typing import Any

from test_ui_cost import cockpit, ready, spent, static_text
from textual.pilot import Pilot

from factory_tui.demo import DemoFactory
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.cost import CostPanel
from factory_tui.ui.widgets.table import KeyedTable

__all__ = ["spent"]  # the fixture, used by name

LONG_MODEL = "claude-experimental-model-with-a-very-long-name-20260216"


def add_long_model(demo: DemoFactory) -> None:
    """A response today from a model whose name is longer than any key column."""
    folder = next((demo.root / ".factory" / "claude" / "projects").iterdir())
    line = {
        "type": "assistant",
        "cwd": str(demo.root),
        "gitBranch": "main",
        "timestamp": "2026-02-16T15:00:00.000Z",
        "requestId": "req_long",
        "message": {
            "id": "msg_long",
            "model": LONG_MODEL,
            "usage": {"input_tokens": 1000, "output_tokens": 10},
        },
    }
    (folder / "long.jsonl").write_text(json.dumps(line) + "\n")


def table_lines(pilot: Pilot[Any], table: KeyedTable) -> list[str]:
    return screen_text(pilot.app).splitlines()[table.region.y : table.region.bottom]


async def fits(pilot: Pilot[Any], table: KeyedTable) -> None:
    """The table is no wider than the screen and does not scroll sideways."""
    assert sum(table.column_widths) <= pilot.app.size.width, table.column_widths
    assert table.virtual_size.width <= table.size.width


async def by(pilot: Pilot[Any], grouping: str) -> KeyedTable:
    app = pilot.app
    panel = app.query_one(CostPanel)
    while panel.grouping != grouping:
        await pilot.press("g")
    await app.wait_for_cost(lambda s: s is not None and s.grouping == grouping)  # type: ignore[attr-defined]
    await pilot.pause()
    return panel.table


async def test_the_cost_tables_fit_80_columns_and_a_long_model_is_read_whole_above(
    spent: DemoFactory,
) -> None:
    add_long_model(spent)
    app = cockpit(spent)
    # 80 columns; 40 rows, so that the notes (the long model is unpriced: what to add to the
    # price table) leave the table room.
    async with app.run_test(size=(80, 40)) as pilot:
        await ready(app)
        await pilot.press("8")
        for grouping in ("agent", "ticket", "model", "day"):
            table = await by(pilot, grouping)
            await fits(pilot, table)
            labels = [column.label.plain for column in table.columns.values()]
            assert labels[:3] == [grouping.upper(), "USD", "SHARE"], labels
        table = await by(pilot, "model")
        assert table.select_key(LONG_MODEL)  # (its row scrolled into view)
        await pilot.pause()
        rows = [line for line in table_lines(pilot, table) if "claude-experimental" in line]
        assert len(rows) == 1 and LONG_MODEL not in rows[0] and "…" in rows[0], rows
        detail = static_text(app, "#cost-notes").replace("\n", " ")
        assert f"MODEL {LONG_MODEL}" in detail
        assert "cache read" in detail and "1 responses" in detail  # columns left out, read here


async def test_at_160_columns_every_cost_column_is_shown(spent: DemoFactory) -> None:
    add_long_model(spent)
    app = cockpit(spent)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("8")
        table = await by(pilot, "agent")
        await fits(pilot, table)
        labels = [column.label.plain for column in table.columns.values()]
        assert labels == [
            "AGENT",
            "USD",
            "SHARE",
            "INPUT",
            "OUTPUT",
            "CACHE WRITE",
            "CACHE READ",
            "RESPONSES",
            "BUDGET",
        ]
        # Numbers' headers are right-aligned over them.
        header, first = table_lines(pilot, table)[:2]
        usd = first.split()[1]
        assert header.index("USD") + 3 == first.index(usd) + len(usd), (header, first)
        assert header.index("SHARE") + 5 == first.index(" %") + 2
        table = await by(pilot, "model")
        await fits(pilot, table)
        assert LONG_MODEL in table.row_keys
        rows = [line for line in table_lines(pilot, table) if "claude-experimental" in line]
        assert len(rows) == 1 and "…" in rows[0]  # longer than the key column's most
        first = table.row_keys[0]
        detail = static_text(app, "#cost-notes")
        assert f"MODEL {first}" in detail  # the detail follows the cursor, first row first
        table.focus()
        await pilot.press("j")
        assert f"MODEL {table.row_keys[1]}" in static_text(app, "#cost-notes")


async def test_at_80x24_the_notes_leave_the_table_room(spent: DemoFactory) -> None:
    """Issue 12 (the walk): with an unpriced model the Cost view's notes pushed its table down
    to one row at 80x24; the table keeps at least four rows (header and three)."""
    from test_ui_cost import add_unpriced_response

    add_unpriced_response(spent)
    app = cockpit(spent)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await pilot.press("8")
        await pilot.pause()
        table = app.query_one(CostPanel).query_one("KeyedTable.-active", KeyedTable)
        assert table.region.height >= 4, table.region
        assert table.region.bottom <= 23, table.region  # above the footer, not under it
