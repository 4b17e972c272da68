"""The cockpit's live path (issue 17): a fleet update touches only what changed on screen, and
the slow re-probe still sees a death in time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO_NOW, config_for, demo_reader
from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widget import Widget

from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.messages import FleetUpdated
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.fields import FieldList
from factory_tui.ui.widgets.quiet import same_content
from factory_tui.ui.widgets.summary import SummaryBar
from factory_tui.ui.widgets.view_tabs import ViewTabs

SIZE = (120, 40)


def test_same_content_sees_a_change_of_style_alone() -> None:
    plain = Content("3 crashed")
    assert same_content(plain, Content("3 crashed"))
    # Textual's own == compares the text only: a colour change would be missed.
    assert plain == Content.styled("3 crashed", "bold $error")
    assert not same_content(plain, Content.styled("3 crashed", "bold $error"))
    assert not same_content(plain, Content("4 crashed"))
    assert same_content(Text("a", style="red"), Text("a", style="red"))
    assert not same_content(Text("a", style="red"), Text("a", style="blue"))
    assert same_content("a", "a")
    assert not same_content("a", Content("a"))


def cockpit(demo: DemoFactory, tmp_path: Path) -> FactoryApp:
    app = FactoryApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=tmp_path / "no-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    app.animation_level = "none"
    return app


async def test_showing_the_same_fleet_again_lays_nothing_out(
    demo: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet that shows nothing new asks no widget for a layout: one layout request reflows
    the whole screen (hidden views too), the largest cost between a file write and the
    screen."""
    app = cockpit(demo, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready)
        for view in ("2", "3", "5", "6", "1"):  # every view drawn once, a row highlighted
            await pilot.press(view)
            await pilot.pause()
        laid_out: list[str] = []
        refresh = Widget.refresh

        def spy(self: Widget, *regions: object, layout: bool = False, **kw: bool) -> Widget:
            if layout:
                laid_out.append(type(self).__name__)
            return refresh(self, *regions, layout=layout, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", spy)
        again = app.reader.fleet(DEMO_NOW)  # derived afresh: equal, not the same objects
        assert again is not app.fleet
        app.fleet = again
        app.cockpit.show_fleet(FleetUpdated(again, changed=False))
        assert laid_out == []


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SummaryBar()


async def test_the_header_lays_out_only_when_its_height_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A count that changes repaints the header; only a change of its height (a segment that
    wraps to a second line) lays the screen out again."""
    app = HeaderApp()
    async with app.run_test(size=(60, 10)) as pilot:
        bar = app.query_one(SummaryBar)
        bar.set_segment("agents", Content("AGENTS 3 working"))
        await pilot.pause()
        assert bar.size.height == 1
        asked: list[bool] = []
        refresh = Widget.refresh

        def spy(self: Widget, *regions: object, layout: bool = False, **kw: bool) -> Widget:
            if self is bar:
                asked.append(layout)
            return refresh(self, *regions, layout=layout, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", spy)
        bar.set_segment("agents", Content("AGENTS 4 working"))
        bar.set_segment("agents", Content("AGENTS 4 working"))  # the same: nothing to do
        bar.set_segment("agents", Content.styled("AGENTS 4 working", "bold"))  # style alone
        assert asked == [False, False]
        await pilot.pause()
        assert "AGENTS 4 working" in str(bar.render())
        bar.set_segment("claims", Content("CLAIMS " + "x" * 50))  # wraps: two lines now
        assert asked[-1] is True
        await pilot.pause()
        assert bar.size.height == 2


async def test_a_hidden_view_is_drawn_with_the_newest_fleet_when_shown(
    demo: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that comes while the Agents view is on screen costs the hidden claim tree no
    layout; the Claims view shows it as soon as it is shown, by key or by its tab, and a visit
    can select it at once."""
    app = cockpit(demo, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready)
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        laid_out: list[str] = []
        refresh = Widget.refresh

        def spy(self: Widget, *regions: object, layout: bool = False, **kw: bool) -> Widget:
            if layout and self is tree:
                laid_out.append(type(self).__name__)
            return refresh(self, *regions, layout=layout, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", spy)
        for key in ("LIVE-1", "LIVE-2"):
            path = demo.claims_dir / f"{key}.json"
            path.write_text(json.dumps({"ticket": key, "title": f"live {key}", "owner": None}))
            app.fleet_feed.request(plan=app.targets.classify([path]))
            await app.wait_for_fleet(lambda f, key=key: any(c.key == key for c in f.claims))
        await pilot.pause()
        assert laid_out == []
        app.cockpit.action_show_view("claims")
        assert tree.select_key("LIVE-2")  # drawn before a visit selects in it
        await pilot.pause()
        assert "live LIVE-2" in app.cockpit.query_one("#claims-view").query_one(FieldList).text
        app.cockpit.action_show_view("agents")
        await pilot.pause()
        path = demo.claims_dir / "LIVE-3.json"
        path.write_text(json.dumps({"ticket": "LIVE-3", "title": "live 3", "owner": None}))
        app.fleet_feed.request(plan=app.targets.classify([path]))
        await app.wait_for_fleet(lambda f: any(c.key == "LIVE-3" for c in f.claims))
        app.query_one(ViewTabs).post_message(ViewTabs.Clicked("claims"))  # as a click does
        await pilot.pause()
        assert "LIVE-3" in tree.nodes_by_key
