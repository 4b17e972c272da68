"""SVG snapshots of the approval queue and the diff viewer on the deterministic demo factory
(frozen clock, fixed process table; its local PRs are its agent branches, gh is kept off PATH so
the view shows what to run to set it up).

Update after an intended change with ``pytest tests/test_snapshots_prs.py --snapshot-update`` and
look at the SVGs in ``tests/__snapshots__/test_snapshots_prs/`` before committing them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_NOW, config_for, demo_reader
from test_ui_prs import relink_worktrees
from textual.pilot import Pilot

from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.screens.diff import DiffScreen
from factory_tui.ui.widgets.prs import PrsView

SnapCompare = Any


@pytest.fixture
def local_prs(
    demo: DemoFactory,
    demo_template: DemoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> DemoFactory:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("FACTORY_TUI_STATE_DIR", str(tmp_path / "state"))
    path = [
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not (Path(p) / "gh").exists()
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    relink_worktrees(demo_template.root, demo.root)
    return demo


def cockpit(demo: DemoFactory, tmp_path: Path) -> FactoryApp:
    app = FactoryApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        initial_view="prs",
        refresh_interval=3600,
        theme_dir=tmp_path / "no-user-themes",
        environ={},
        prs=PrsOptions(reviews_dir=tmp_path / "state", record_looks=False, min_gap=0),
    )
    app.animation_level = "none"
    return app


async def queue_loaded(pilot: Pilot[Any]) -> None:
    """The app's own signals: the first load, the log index, the PR queue."""
    app = pilot.app
    assert isinstance(app, FactoryApp)
    await app.wait_for_fleet(lambda _fleet: app.loaded and app.log_ready)
    await app.wait_for_prs()
    view = app.query_one(PrsView)
    view.select_pr("chore/CAB-1340-helm-limits")
    view.table.focus()
    await pilot.pause()


def test_queue(local_prs: DemoFactory, tmp_path: Path, snap_compare: SnapCompare) -> None:
    app = cockpit(local_prs, tmp_path)
    assert snap_compare(app, terminal_size=(140, 44), run_before=queue_loaded)


async def second_file_of_370(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, FactoryApp)
    await queue_loaded(pilot)
    app.query_one(PrsView).select_pr("#370")
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, DiffScreen) and app.screen.files
    await pilot.press("right_square_bracket")
    await pilot.pause()


def test_diff_viewer(local_prs: DemoFactory, tmp_path: Path, snap_compare: SnapCompare) -> None:
    app = cockpit(local_prs, tmp_path)
    assert snap_compare(app, terminal_size=(120, 32), run_before=second_file_of_370)
