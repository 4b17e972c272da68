"""The review screen shows diffs literally: markup and escape sequences stay characters."""

from __future__ import annotations

from textual.app import App

from factory_tui.actions.recovery_info import ReviewDiffs
from factory_tui.ui.screens.review import ReviewScreen
from factory_tui.ui.snapshot import screen_text

DIFF = """diff --git a/x.py b/x.py
--- a/x.py
+++ b/x.py
@@ -1 +1 @@
-print("[bold]old[/bold]")
+print("\x1b[31mnew")
"""


async def test_review_screen_renders_diffs_literally() -> None:
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(
            ReviewScreen("CAB-1 on feat/x; rm -rf ~", ReviewDiffs(DIFF, "", "note [red]x[/red]"))
        )
        await pilot.pause()
        text = screen_text(app)
        assert "[bold]old[/bold]" in text
        assert "\\x1b[31mnew" in text
        assert "note [red]x[/red]" in text
        assert "nothing uncommitted" in text
        assert "feat/x; rm -rf ~" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReviewScreen)
