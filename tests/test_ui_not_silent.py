"""Issue 12: no key is silent. K and C where they do not apply say why; escape clears a kept
filter; enter in Problems and State says where the whole finding is; g/G/Home/End move in the
agent grid; r where there is nothing to recover says it re-reads."""

from __future__ import annotations

from conftest import asked  # noqa: F401
from test_app import demo_app

from factory_tui.demo import DemoFactory
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.view_tabs import ViewTabs

SIZE = (120, 40)


async def test_k_and_c_say_why_where_they_do_not_apply(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("3")  # Sessions: K and C do not apply there
        await pilot.pause()
        before = len(app.notes)
        await pilot.press("K")
        await pilot.press("C")
        await pilot.pause()
        said = [message for _title, message in app.notes[before:]]
        assert any(message.startswith("K stops") for message in said), said
        assert any(message.startswith("C puts") for message in said), said


async def test_escape_clears_a_kept_filter(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2", "slash", *"CAB-1302", "enter")
        await pilot.pause()
        assert app.cockpit.filters["claims"] == "CAB-1302"
        await pilot.press("escape")
        await pilot.pause()
        assert app.cockpit.filters["claims"] == ""
        assert "⧩" not in str(app.cockpit.query_one(ViewTabs).label("claims"))


async def test_enter_in_problems_says_where_the_whole_finding_is(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("5")
        await pilot.pause()
        before = len(app.notes)
        await pilot.press("enter")
        await pilot.pause()
        assert any("below the table" in m for _t, m in app.notes[before:])


async def test_g_and_capital_g_move_to_the_first_and_last_agent(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        panes = app.query_one(AgentGrid).ordered_panes()
        await pilot.press("G")
        await pilot.pause()
        assert isinstance(app.focused, AgentPane) and app.focused is panes[-1]
        await pilot.press("g")
        await pilot.pause()
        assert app.focused is panes[0]
        await pilot.press("end")
        await pilot.pause()
        assert app.focused is panes[-1]


async def test_r_where_nothing_is_crashed_says_it_re_reads(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.press("6")  # State: nothing to recover there
        await pilot.pause()
        before = len(app.notes)
        await pilot.press("r")
        await pilot.pause()
        assert any("Re-reading" in m for _t, m in app.notes[before:])
