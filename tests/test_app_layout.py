"""The cockpit on a small terminal (issue 12, a new user's first ten minutes): the header, the
tabs, the Cost view and the footer at 80x24 and 100 columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import asked, press_to_quit
from test_app import demo_app, role
from test_ui_cost import budgets, cockpit, ready, spent  # noqa: F401  (spent: a fixture)
from test_ui_prs import factory  # noqa: F401  (a fixture)
from test_ui_prs import make_app as prs_app
from textual.pilot import Pilot

from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.screens.cockpit import VIEW_TITLES, VIEWS, CockpitScreen
from factory_tui.ui.screens.confirm import ConfirmScreen
from factory_tui.ui.screens.log_query import LogQueryScreen
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.agents import AgentGrid
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.filterbar import FilterBar
from factory_tui.ui.widgets.summary import SummaryBar
from factory_tui.ui.widgets.table import KeyedTable
from factory_tui.ui.widgets.view_tabs import ViewTabs

SMALL = (80, 24)
SIZE_WIDE = (160, 40)

FOOTER_KEY = "FooterKey"
"""The footer's keys, by their CSS type name (the class is not public in Textual)."""


async def footer_settles(pilot: Pilot[Any], check: Callable[[list[str]], bool]) -> bool:
    """Whether the footer comes to satisfy ``check``: it is recomposed after the focus moved,
    on the app's next refreshes (a loaded machine may take a few)."""
    for _ in range(50):
        if check(footer_keys(pilot.app)):
            return True
        await pilot.pause()
    return check(footer_keys(pilot.app))


def footer_keys(app: FactoryApp) -> list[str]:
    return [key.key_display for key in app.screen.query(FOOTER_KEY) if key.display]


async def settled(app: FactoryApp, pilot: Pilot[Any]) -> None:
    await ready(app)
    await pilot.pause()
    await pilot.pause()


async def test_at_80x24_the_header_takes_two_rows_and_every_tab_is_named(
    spent: DemoFactory,  # noqa: F811
) -> None:
    app = cockpit(spent)
    async with app.run_test(size=SMALL) as pilot:
        await settled(app, pilot)
        header = app.query_one(SummaryBar)
        assert header.region.height <= 2
        text = screen_text(app)
        assert "AGENTS" in text and "CLAIMS" in text and "SPEND $18.12 / $30.00" in text
        tabs = app.query_one(ViewTabs)
        for view, (_start, end) in tabs.spans().items():
            assert str(tabs.label(view)).startswith(VIEW_TITLES[view])
            assert end <= SMALL[0], f"tab {view} runs off at {end}"
        await press_to_quit(app)


async def test_at_80x24_the_cost_view_shows_its_table_below_the_summary(
    spent: DemoFactory,  # noqa: F811
) -> None:
    app = cockpit(spent)
    async with app.run_test(size=SMALL) as pilot:
        await settled(app, pilot)
        await pilot.press("8")
        await pilot.pause()
        table = app.query_one("#cost-view KeyedTable", KeyedTable)
        assert table.row_count > 0
        # The column heads and the first rows on screen, above the footer.
        # The head, three rows and the horizontal scroll bar (the columns are wider than 80).
        assert table.region.height >= 2 + min(table.row_count, 3), table.region
        assert table.region.bottom <= SMALL[1] - 1
        await press_to_quit(app)


async def test_the_footer_keeps_help_and_quit_at_any_width(spent: DemoFactory) -> None:  # noqa: F811
    for size in ((100, 30), SMALL, (60, 24)):
        app = cockpit(spent)
        async with app.run_test(size=size) as pilot:
            await settled(app, pilot)
            for view in ("agents", "cost"):
                await pilot.press(str(VIEWS.index(view) + 1))
                await pilot.pause()
                keys = footer_keys(app)
                assert "?" in keys and "q" in keys, (size, view, keys)
                last = screen_text(app).splitlines()[-1]
                assert "? Keys" in last and "q Quit" in last, (size, view, last)
            await press_to_quit(app)


# -- the footer shows exactly the keys that apply ---------------------------------------------------


async def test_the_footer_offers_x_on_a_stale_agent_only(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        panes = {pane.view.id: pane for pane in app.query_one(AgentGrid).ordered_panes()}
        panes[role(demo, "stale")].focus()
        assert await footer_settles(pilot, lambda keys: "x" in keys)
        working = next(i for i, pane in panes.items() if pane.view.status == "working")
        panes[working].focus()
        assert await footer_settles(pilot, lambda keys: "x" not in keys)
        await press_to_quit(app)


async def test_a_confirmation_shows_y_and_n_in_its_footer(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        await pilot.press("X")
        screen = await asked(pilot, ConfirmScreen)
        await pilot.pause()
        keys = [key.key_display for key in screen.query(FOOTER_KEY) if key.display]
        assert "y" in keys and "n" in keys, keys
        await pilot.press("n")
        await pilot.pause()
        await press_to_quit(app)


async def test_the_filter_line_says_clear_only_when_there_is_a_filter(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2", "slash")
        await pilot.pause()
        assert isinstance(app.focused, FilterBar)
        described = {key.description for key in app.screen.query(FOOTER_KEY) if key.display}
        assert "Clear filter" not in described and "Close" in described
        await pilot.press("C", "A", "B")
        await pilot.pause()
        described = {key.description for key in app.screen.query(FOOTER_KEY) if key.display}
        assert "Clear filter" in described and "Close" not in described
        await pilot.press("escape")
        await pilot.pause()
        await press_to_quit(app)


# -- what you type is visible -------------------------------------------------------------------


async def test_the_log_filter_and_search_show_what_is_typed(demo: DemoFactory) -> None:
    from textual.widgets import Input

    from factory_tui.ui.screens.log_query import LogQueryScreen
    from factory_tui.ui.widgets.log_view import LogView

    app = demo_app(demo)
    async with app.run_test(size=SMALL) as pilot:
        await app.wait_for_fleet(lambda _fleet: app.loaded)
        await pilot.press("4")
        await pilot.pause()
        for key in ("slash", "s"):
            app.query_one(LogView).focus()  # s is the log view's key
            await pilot.pause()
            await pilot.press(key)
            screen = await asked(pilot, LogQueryScreen)
            await pilot.press("C", "A", "B", "-", "7")
            await pilot.pause()
            field = screen.query_one(Input)
            assert field.region.height >= 1 and field.content_region.height >= 1
            assert field.value == "CAB-7"
            assert "CAB-7" in screen_text(app), screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
        await press_to_quit(app)


# -- the help screen ------------------------------------------------------------------------------


async def test_help_lists_each_key_once_as_people_write_it_and_scrolls(demo: DemoFactory) -> None:
    from textual.containers import VerticalScroll

    from factory_tui.ui.screens.help import HelpScreen, key_rows

    rows = key_rows([*CockpitScreen.BINDINGS, *FactoryApp.BINDINGS])
    keys = [key for keys, _ in rows for key in keys.split()]
    assert len(keys) == len(set(keys)), keys  # r: Recover and Refresh in one row
    recover = next(description for keys, description in rows if keys == "r")
    assert "Recover" in recover and "Refresh" in recover
    assert {"/", "?"} <= set(keys) and "slash" not in keys and "question_mark" not in keys
    app = demo_app(demo)
    async with app.run_test(size=(80, 130)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("question_mark")
        await asked(pilot, HelpScreen)
        await pilot.pause()
        text = screen_text(app)
        assert "right_square_bracket" not in text and "Next file" in text
        # Every description starts in one column, however long the keys before it.
        starts = {
            line.index(words)
            for line in text.splitlines()[:-1]  # the cockpit's footer, under the help: not it
            for words in ("Move between rows", "Next view", "Follow/pause", "Next file")
            if words in line
        }
        assert len(starts) == 1, (starts, text)
        await pilot.press("escape")
        await pilot.pause()
        await press_to_quit(app)
    app = demo_app(demo)
    async with app.run_test(size=SMALL) as pilot:
        await app.wait_for_fleet()
        await pilot.press("question_mark")
        screen = await asked(pilot, HelpScreen)
        await pilot.pause()
        scroll = screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("home")
        await pilot.pause()
        assert scroll.scroll_y == 0
        await pilot.press("escape")
        await pilot.pause()
        await press_to_quit(app)


# -- y copies ---------------------------------------------------------------------------------------


async def test_y_copies_the_selected_agent_and_claim(demo: DemoFactory) -> None:
    from textual.widgets import Tree

    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet(lambda _fleet: app.loaded)
        await pilot.pause()
        stale = role(demo, "stale")
        next(p for p in app.query_one(AgentGrid).ordered_panes() if p.view.id == stale).focus()
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == stale
        assert ("", f"Copied {stale}") in app.notes
        await pilot.press("2")
        await pilot.pause()
        tree = app.query_one("#claims-view Tree", Tree)
        tree.focus()
        node = tree.cursor_node
        while node is None or node.data is None or node.data.claim is None:
            tree.action_cursor_down()
            await pilot.pause()
            node = tree.cursor_node
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == node.data.claim.key
        await pilot.press("4", "y")  # the log: nothing to copy, and it says so
        await pilot.pause()
        assert ("", "Nothing selected to copy here.") in app.notes
        await press_to_quit(app)


async def test_a_fleet_update_works_the_keys_out_only_when_what_they_read_changed(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a busy log the keys are not asked again (every binding's check_action, forty-odd
    calls) while the focus, the selection and what applies to it stay; when the fleet changes
    what applies to the selected agent (its stale claim is gone), x leaves the footer."""
    asked_keys: list[str] = []
    check = CockpitScreen.check_action

    def counted(screen: CockpitScreen, action: str, parameters: tuple[object, ...]) -> Any:
        asked_keys.append(action)
        return check(screen, action, parameters)

    monkeypatch.setattr(CockpitScreen, "check_action", counted)
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        # Everything in: the log's index and the spend refresh the footer when they come.
        await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready)
        await app.wait_for_cost()
        panes = {pane.view.id: pane for pane in app.query_one(AgentGrid).ordered_panes()}
        stale_agent = role(demo, "stale")
        panes[stale_agent].focus()
        assert await footer_settles(pilot, lambda keys: "x" in keys)
        await pilot.pause()
        working = next(i for i in app.fleet.instances if i.id == role(demo, "working"))
        asked_keys.clear()
        with (demo.memory_dir / "operations.log").open("a") as log:
            log.write(f"2026-02-16T15:42 | STEP-DONE | step=quality-gate task={working.task}\n")
        app.read_everything()
        await app.wait_for_fleet(
            lambda f: next(i for i in f.instances if i.id == working.id).step == "quality-gate"
        )
        await pilot.pause()
        assert asked_keys == []
        stale = next(c for c in app.fleet.claims if c.unit.owner == stale_agent)
        Path(stale.file).unlink()
        app.read_everything()
        await app.wait_for_fleet(lambda f: all(c.unit.owner != stale_agent for c in f.claims))
        assert await footer_settles(pilot, lambda keys: "x" not in keys)
        assert app.focused is panes[stale_agent]
        await press_to_quit(app)


async def test_a_fleet_update_hides_l_when_the_highlighted_claim_is_taken(
    demo: DemoFactory,
) -> None:
    """The Claims view's L (launch an agent) reads the highlighted claim: an available claim
    that an agent takes loses it, the highlight staying put."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        tree = app.query_one("#claim-tree", ClaimTree)
        tree.select_key("CAB-1297")  # a ticket nobody holds
        tree.focus()
        await pilot.pause()
        assert tree.cursor_node is not None and tree.cursor_node.data is not None
        claim = tree.cursor_node.data.claim
        assert await footer_settles(pilot, lambda keys: "L" in keys)
        data = json.loads(Path(claim.file).read_text())
        data.update(owner="t99999-new", pid=1, claimed_at="2026-02-16T15:40",
                    hostname="test-host")  # fmt: skip
        Path(claim.file).write_text(json.dumps(data))
        app.read_everything()
        await app.wait_for_fleet(
            lambda f: next(c for c in f.claims if c.key == claim.key).state != "available"
        )
        assert await footer_settles(pilot, lambda keys: "L" not in keys)
        await press_to_quit(app)


async def test_the_log_views_match_keys_show_once_a_search_is_entered(demo: DemoFactory) -> None:
    """] and [ apply while the log view has a search, escape while it has a search or a filter:
    the footer shows them as soon as one is entered, with nothing else happening."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready)
        await pilot.press("4")
        assert await footer_settles(pilot, lambda keys: "]" not in keys)
        await pilot.press("s")
        await asked(pilot, LogQueryScreen)
        await pilot.press(*"STEP", "enter")
        assert await footer_settles(pilot, lambda keys: "]" in keys and "esc" in keys)
        await pilot.press("escape")  # the search is cleared: ] and [ apply no more
        assert await footer_settles(pilot, lambda keys: "]" not in keys)
        await press_to_quit(app)


# -- a key that does not apply says why ------------------------------------------------------------


async def test_x_on_a_live_agent_and_a_without_alert_say_why(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet(lambda _fleet: app.loaded)
        await pilot.pause()
        panes = app.query_one(AgentGrid).ordered_panes()
        working = next(p for p in panes if p.view.status == "working")
        working.focus()
        await pilot.pause()
        assert "x" not in footer_keys(app)  # not offered ...
        await pilot.press("x")  # ... and pressed anyway: it says why
        await pilot.pause()
        assert any(m.startswith(f"not stale: {working.view.id}") for _t, m in app.notes), app.notes
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("A")
        await pilot.pause()
        assert ("Nothing to do", "No budget alert to acknowledge.") in app.notes
        await press_to_quit(app)


async def test_o_without_a_pager_says_how_to_set_one(
    factory: DemoFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    from factory_tui.core.prs_patch import FileDiff
    from factory_tui.ui.screens.diff import DiffScreen

    files = [FileDiff("a.py", None, "M", 1, 0, False, "diff --git a/a.py b/a.py\n+x\n")]
    app = prs_app(factory, tmp_path, enabled=False)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await app.push_screen(DiffScreen("t", lambda: files))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "o" not in [k.key_display for k in app.screen.query(FOOTER_KEY) if k.display]
        await pilot.press("o")
        await pilot.pause()
        assert any("[prs] pager" in message for _title, message in app.notes), app.notes
        await pilot.press("escape")
        await pilot.pause()
        await press_to_quit(app)


async def test_v_on_a_pr_that_is_not_a_merged_show_pr_says_why(
    factory: DemoFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    from test_ui_prs import row_keys, select

    app = prs_app(factory, tmp_path)
    async with app.run_test(size=SIZE_WIDE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await pilot.press("7")
        await pilot.pause()
        first = row_keys(app)[0]  # the oldest Ask PR waiting
        await select(app, first)
        await pilot.pause()
        assert "v" not in [k.key_display for k in app.screen.query(FOOTER_KEY) if k.display]
        await pilot.press("v")
        await pilot.pause()
        notes = [m for title, m in app.notes if title == "Nothing to do"]
        assert notes and "not a merged Show PR" in notes[0], app.notes
        await press_to_quit(app)


async def test_every_screen_with_a_footer_keeps_help_and_quit_at_100_columns(
    demo: DemoFactory,
) -> None:
    """Issue 12: `? Keys` and `q Quit` whatever the width, on the agent detail screen too
    (it has more keys than fit: T, i, a, the Back key...)."""
    from factory_tui.ui.screens.detail import AgentDetailScreen

    app = demo_app(demo)
    async with app.run_test(size=(100, 40)) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        await pilot.press("enter")
        await asked(pilot, AgentDetailScreen)
        assert await footer_settles(pilot, lambda _keys: {"?", "q"} <= visible_keys(app))


def visible_keys(app: FactoryApp) -> set[str]:
    """The footer keys wholly on screen: a plain footer lets its last keys run off the edge or
    under the palette's key, docked on the right."""
    keys = [key for key in app.screen.query(FOOTER_KEY) if key.display and key.region.width]
    palette = [key.region for key in keys if key.has_class("-command-palette")]
    return {
        key.key_display
        for key in keys
        if key.region.right <= app.size.width
        and not any(key.region.overlaps(region) for region in palette)
        and not key.has_class("-command-palette")
    }


async def test_at_80_columns_every_tab_stays_named_with_filters_kept(demo: DemoFactory) -> None:
    """Issue 12 (the walk): with filter marks on several tabs the tab row scrolled sideways at
    80 columns ("ents !2"); the alarms' numbers give way, every title stays whole."""
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for_fleet()
        for view in ("agents", "claims", "sessions", "problems", "state"):
            app.cockpit.apply_filter(view, "t")
        await pilot.pause()
        await pilot.pause()
        row = next(line for line in screen_text(app).splitlines() if "Sessions" in line)
        for view in VIEWS:
            assert VIEW_TITLES[view] in row, (VIEW_TITLES[view], row)
        assert len(row.rstrip()) <= 80


async def test_a_click_on_a_title_shows_its_view_and_moves_the_underline(
    spent: DemoFactory,  # noqa: F811
) -> None:
    """The tab bar is one widget (issue 17): a click on a title, on its padding too, shows
    that view; elsewhere on the bar nothing changes."""
    app = cockpit(spent)
    async with app.run_test(size=SMALL) as pilot:
        await settled(app, pilot)
        tabs = app.query_one(ViewTabs)
        spans = tabs.spans()
        await pilot.click(ViewTabs, offset=(spans["sessions"][0], 0))
        await pilot.pause()
        assert app.cockpit.current_view == tabs.active == "sessions"
        assert app.focused is app.query_one("#sessions-table")
        await pilot.click(ViewTabs, offset=(spans["claims"][1] - 1, 1))  # the underline
        await pilot.pause()
        assert app.cockpit.current_view == "claims"
        await pilot.click(ViewTabs, offset=(SMALL[0] - 1, 0))  # past the last title
        await pilot.pause()
        assert app.cockpit.current_view == "claims"
        await press_to_quit(app)
