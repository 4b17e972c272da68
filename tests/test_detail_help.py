"""Issue 13: the detail screen's live terminal (T) is listed plainly in the help."""

from __future__ import annotations

from conftest import asked, press_to_quit
from test_app import demo_app

from factory_tui.demo import DemoFactory
from factory_tui.ui.screens.detail import AgentDetailScreen
from factory_tui.ui.screens.help import HelpScreen
from factory_tui.ui.snapshot import screen_text


async def test_the_help_on_the_detail_screen_lists_t_as_the_live_terminal(
    demo: DemoFactory,
) -> None:
    app = demo_app(demo)
    async with app.run_test(size=(100, 60)) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        await pilot.press("enter")  # the focused agent pane: its details
        await asked(pilot, AgentDetailScreen)
        await pilot.press("question_mark")
        await asked(pilot, HelpScreen)
        await pilot.pause()
        rows = [" ".join(line.split()) for line in screen_text(app).splitlines()]
        assert any("T Live terminal" in row for row in rows), rows
        await pilot.press("escape")
        await pilot.pause()
        await press_to_quit(app)
