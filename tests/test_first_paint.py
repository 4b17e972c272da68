"""Start to first paint (issue 3): the first frame needs only the header, the tabs, the initial
view and the footer. What the other views, the actions, the PR queue and the cost need is
imported and mounted after it, and a key typed ahead of that waits for it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from conftest import DEMO_NOW, config_for, demo_reader
from textual import events
from textual.widgets import TabPane

from factory_tui.demo import DemoFactory
from factory_tui.ui.app import VIEWS, FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.agents import AgentGrid
from factory_tui.ui.widgets.claims import ClaimTree

#: Modules the cockpit's first frame must not import: the actions and their screens, the PR
#: queue, the cost, git, gh, the Anthropic client, the process table, the fleet's derivation.
NOT_FOR_THE_FIRST_FRAME = (
    "factory_tui.actions",
    *(
        f"factory_tui.ui.screens.{name}"
        for name in ("confirm", "council", "detail", "diff", "help", "log_query", "prs", "review")
    ),
    "factory_tui.ui.feeds.prs",
    "factory_tui.ui.widgets.cost",
    "factory_tui.ui.widgets.cost_table",
    "factory_tui.ui.widgets.spend",
    "factory_tui.ui.widgets.prs",
    "factory_tui.adapters.factory",
    "factory_tui.adapters.git",
    "factory_tui.adapters.git_formats",
    "factory_tui.adapters.gh",
    "factory_tui.adapters.transcripts",
    "factory_tui.adapters.anthropic_client",
    "factory_tui.core.fleet",
    "factory_tui.core.fleet_claims",
    "factory_tui.core.fleet_sessions",
    "factory_tui.core.fleet_instances",
    "factory_tui.core.fleet_derive",
    "factory_tui.core.prs",
    "factory_tui.core.prs_patch",
    "factory_tui.core.prs_link",
    "factory_tui.core.prs_queue",
    "factory_tui.core.cost",
    "factory_tui.core.cost_records",
    "factory_tui.core.cost_attribution",
    "factory_tui.core.cost_report",
    "factory_tui.core.council",
    "factory_tui.core.council_settings",
    "factory_tui.core.council_history",
    "git",
    "anthropic",
    "psutil",
    "pygments",
)


def test_the_cockpit_module_imports_only_what_the_first_frame_needs() -> None:
    code = (
        "import sys, factory_tui.cli, factory_tui.ui.app\n"
        f"banned = {NOT_FOR_THE_FIRST_FRAME!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules "
        "if any(m == b or m.startswith(b + '.') for b in banned))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def cockpit(app_class: type[FactoryApp], demo: DemoFactory) -> Any:
    app = app_class(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    app.animation_level = "none"
    return app


class HeldApp(FactoryApp):
    """The cockpit with what follows its first frame held until ``go`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.go = asyncio.Event()
        self.key_arrived = asyncio.Event()

    async def after_first_frame(self) -> None:
        await self.go.wait()
        await super().after_first_frame()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.key_arrived.set()
        await super().on_event(event)


async def test_the_first_frame_has_the_initial_view_only_and_a_key_waits_for_the_rest(
    demo: DemoFactory,
) -> None:
    app = cockpit(HeldApp, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "factory-tui" in text and "reading the factory" in text
        assert "Agents" in text and "Cost" in text  # every tab is there
        assert app.query_one(AgentGrid).is_mounted
        assert [v for v in VIEWS if app.query_one(f"#{v}", TabPane).children] == ["agents"]
        assert not app.query("#budget-banner") and not app.query("#filter-bar")
        assert [w.group for w in app.workers] == ["start"]  # nothing is read yet
        # "2" before the rest is mounted: held (the claims view is not there to show yet).
        app.simulate_key("2")
        await asyncio.wait_for(app.key_arrived.wait(), 5)
        assert app.cockpit.current_view == "agents"
        app.go.set()
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.cockpit.current_view == "claims"
        assert app.focused is app.query_one(ClaimTree)
        assert all(app.query_one(f"#{v}", TabPane).children for v in VIEWS)
        assert app.query("#budget-banner") and app.query("#filter-bar")


class TypedAheadApp(FactoryApp):
    def on_mount(self) -> None:  # before the app's own on_mount, ahead of the first frame
        self.simulate_key("2")
        self.simulate_key("3")


async def test_keys_typed_ahead_of_the_first_frame_are_handled_in_order(
    demo: DemoFactory,
) -> None:
    app = cockpit(TypedAheadApp, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()  # a key waiting in the app's queue must not stop the start
        await asyncio.wait_for(app.input_released.wait(), 10)
        await pilot.pause()
        assert app.cockpit.current_view == "sessions"
        assert app.focused is app.query_one("#sessions-table")
