"""SVG snapshots of the cockpit on the deterministic demo factory (frozen clock, fixed process
table, pinned pids): the main views at 80x24 and 160x48, and the agents view in each theme.

Update after an intended change with ``pytest tests/test_snapshots.py --snapshot-update`` and look
at the SVGs in ``tests/__snapshots__/`` before committing them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_HOST, DEMO_NOW, config_for, demo_reader
from textual.pilot import Pilot

from factory_tui.demo import DemoFactory
from factory_tui.demo.transcripts import write_demo_transcripts
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions

SnapCompare = Any


@pytest.fixture
def demo(demo: DemoFactory) -> DemoFactory:
    """The demo with its Claude transcripts (spend in the header and the panes), as
    ``factory-tui demo`` shows it."""
    write_demo_transcripts(demo.root, hostname=DEMO_HOST)
    return demo


def cockpit(demo: DemoFactory, *, view: str = "agents", theme: str | None = None) -> FactoryApp:
    app = FactoryApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        theme=theme,
        watch=False,
        initial_view=view,
        refresh_interval=3600,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(source="local", record_looks=False, min_gap=0),
    )
    app.animation_level = "none"
    return app


async def loaded(pilot: Pilot[Any]) -> None:
    """Wait for the app's own signal: the first complete load and the log index."""
    app = pilot.app
    assert isinstance(app, FactoryApp)
    await app.wait_for_fleet(lambda _fleet: app.loaded and app.log_ready)
    await app.wait_for_prs()
    await app.wait_for_cost()
    await pilot.pause()


VIEWS = ("agents", "claims", "sessions", "log", "problems")
SIZES = ((80, 24), (160, 48))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", VIEWS)
def test_view(
    view: str, size: tuple[int, int], demo: DemoFactory, snap_compare: SnapCompare
) -> None:
    assert snap_compare(cockpit(demo, view=view), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("theme", ["factory-dark", "factory-light", "factory-mono"])
def test_agents_in_each_theme(theme: str, demo: DemoFactory, snap_compare: SnapCompare) -> None:
    assert snap_compare(cockpit(demo, theme=theme), terminal_size=(120, 40), run_before=loaded)


def test_agent_detail_screen(demo: DemoFactory, snap_compare: SnapCompare) -> None:
    async def open_detail(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(cockpit(demo), terminal_size=(100, 40), run_before=open_detail)


def test_demo_root_is_named_for_stable_snapshots(demo: DemoFactory) -> None:
    assert demo.root.name == "tinygate" and Path(demo.root).is_dir()
