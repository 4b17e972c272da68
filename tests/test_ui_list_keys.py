"""Issue 12: j/k, g/G, Home/End move in every list and table, and the cursor stays on its item
when a refresh adds a row above it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import press_to_quit
from test_app import SIZE, demo_app
from test_ui_cost import cockpit, ready, spent  # noqa: F401  (spent: a fixture)
from test_ui_prs import SIZE as PRS_SIZE
from test_ui_prs import factory, merge_show_pr, prs_view, select  # noqa: F401  (a fixture)
from test_ui_prs import make_app as prs_app
from textual.pilot import Pilot

from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.messages import FilesChanged
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.cost import CostPanel
from factory_tui.ui.widgets.table import KeyedTable


async def walk(
    pilot: Pilot[Any], at: Callable[[], int], last: int, keys: str = "j k G g end home"
) -> None:
    """Each key in ``keys`` from the first item: j one down, k one up, G/End the last, g/Home
    the first; ``at`` reads the cursor."""
    assert at() == 0
    where = {"j": 1, "k": 0, "G": last, "g": 0, "end": last, "home": 0}
    for key in keys.split():
        await pilot.press(key)
        assert at() == where[key], key


async def walk_table(pilot: Pilot[Any], table: KeyedTable) -> None:
    assert table.has_focus and table.row_count >= 3, table.row_count
    await walk(pilot, lambda: table.cursor_row, table.row_count - 1)


async def test_sessions_and_problems_tables_move_with_j_k_g_g(demo: DemoFactory) -> None:
    for name in ("BAD-1", "BAD-2"):  # two more problems (the demo has one)
        (demo.claims_dir / f"{name}.json").write_text("{not json")
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        for key, selector in (("3", "#sessions-table"), ("5", "#problems-table")):
            await pilot.press(key)
            await pilot.pause()
            await walk_table(pilot, app.query_one(selector, KeyedTable))
        await press_to_quit(app)


async def test_claims_tree_moves_with_j_k_g_g(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        assert tree.has_focus and tree.last_line >= 2
        await walk(pilot, lambda: tree.cursor_line, tree.last_line)
        await press_to_quit(app)


async def test_in_the_cost_view_g_still_groups_and_g_goes_last(
    spent: DemoFactory,  # noqa: F811
) -> None:
    app = cockpit(spent)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(app)
        await pilot.press("8")
        await pilot.pause()
        panel = app.query_one(CostPanel)
        table = panel.table
        table.focus()
        await pilot.pause()
        assert table.row_count >= 2
        await walk(pilot, lambda: table.cursor_row, table.row_count - 1, "j k G home")
        grouping = panel.grouping
        await pilot.press("g")
        await pilot.pause()
        assert panel.grouping != grouping  # g keeps its meaning: group by
        await press_to_quit(app)


async def refreshed(app: FactoryApp, pilot: Pilot[Any], *paths: Any) -> None:
    before = app.fleet_updates.count
    app.post_message(FilesChanged(frozenset(paths)))
    await app.wait_for_fleet(lambda _f: app.fleet_updates.count > before)
    await pilot.pause()


async def test_the_session_cursor_stays_on_its_row_when_one_is_added_above(
    demo: DemoFactory,
) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one("#sessions-table", KeyedTable)
        await pilot.press("G")
        chosen = table.cursor_key()
        keys = table.row_keys
        assert chosen is not None
        log = demo.memory_dir / "operations.log"
        with log.open("a") as out:
            out.write(
                "2026-02-16T15:40 | SESSION-START | task=CAB-7777-ghost "
                "branch=feat/CAB-7777-ghost instance=t99999-dead\n"
            )
        await refreshed(app, pilot, log)
        added = [k for k in table.row_keys if k not in keys]
        assert added, table.row_keys
        assert table.row_keys.index(added[0]) < table.row_keys.index(chosen)
        assert table.cursor_key() == chosen
        await press_to_quit(app)


async def test_the_claim_cursor_stays_on_its_claim_when_one_is_added_above(
    demo: DemoFactory,
) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        await pilot.press("G")
        node = tree.cursor_node
        assert node is not None and node.data is not None
        chosen = node.data.key
        line = tree.cursor_line
        claim = {"ticket": "AAA-0001", "title": "First", "owner": None, "claimed_at": None}
        path = demo.claims_dir / "AAA-0001.json"
        path.write_text(json.dumps(claim))
        await refreshed(app, pilot, path)
        assert "AAA-0001" in tree.nodes_by_key
        assert tree.cursor_line > line  # a row came above it
        node = tree.cursor_node
        assert node is not None and node.data is not None and node.data.key == chosen
        await press_to_quit(app)


async def test_the_pr_table_moves_and_keeps_its_pr_after_an_action(
    factory: DemoFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    """j/G/g in the PR queue; marking a Show PR reviewed re-derives the queue (the PR changes
    state) and the cursor stays on it."""
    merge_show_pr(factory.root)
    app = prs_app(factory, tmp_path)
    async with app.run_test(size=PRS_SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await pilot.pause()
        table = prs_view(app).table
        table.focus()
        await pilot.pause()
        await walk_table(pilot, table)
        await select(app, "#399")
        await pilot.pause()
        row = table.cursor_row
        assert row > 0
        await pilot.press("v")
        await app.wait_for_prs(lambda q: not q.show)
        await pilot.pause()
        view = prs_view(app).cursor_view()
        assert view is not None and view.key == "#399"
        assert table.cursor_row == row
        await press_to_quit(app)
