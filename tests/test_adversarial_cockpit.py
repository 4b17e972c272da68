"""Issue 16: the cockpit (Pilot) and the snapshot command on hostile factories, in process.

Each drawn factory is opened in the cockpit at 120x40; every view (keys 1..8) is visited and its
screen checked for raw control characters, the screen is exported as SVG and checked too, ``q``
must close the app, all within a time limit, and no file of the factory may change. The same
factory then goes through ``factory-tui snapshot`` (a subprocess) to a .txt or a .svg. The visit
runs in a child process killed at its time limit: a cockpit that never loads or never exits
fails the case instead of blocking the suite.

FIFOs and ``/dev/zero`` links are left out here: a reader thread blocked on a FIFO could not be
stopped inside the test process. ``test_adversarial.py`` runs them in subprocesses.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import press_to_quit
from fakes import hide_real_gh
from hostile import (
    NOW,
    Spec,
    build,
    changes,
    cli_env,
    every_payload,
    fingerprint,
    raw_controls,
    report,
    run_cli,
    run_problems,
    specs,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from factory_tui.config import load_config
from factory_tui.ui.app import VIEWS, FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.snapshot import screen_text

pytestmark = pytest.mark.adversarial

SIZE = (120, 40)
COCKPIT_TIMEOUT = 60.0  # the whole visit: load, eight views, export, quit
SNAPSHOT_TIMEOUT = 30.0


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, no real ``~/.claude``, no gh: the factory's own files only."""
    for name in list(os.environ):
        if name.startswith(("CLAUDE_", "ANTHROPIC_")) or name in ("FACTORY_TUI_CONFIG",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", "")
    monkeypatch.setenv("FACTORY_COUNCIL_DISABLE", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    hide_real_gh(monkeypatch)


async def visit(root: Path) -> list[str]:
    """Open the cockpit on ``root``, visit every view, export, quit; what went wrong."""
    config = load_config(root, flags={}, env={}, user_config=root.parent / "no-user-config.toml")
    frozen = datetime.fromisoformat(NOW)
    app = FactoryApp(
        config,
        clock=lambda: frozen,
        watch=False,
        theme_dir=root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(record_looks=False),
    )
    app.animation_level = "none"
    problems: list[str] = []

    async def session() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await app.wait_for_fleet(timeout=COCKPIT_TIMEOUT)
            for key, view in zip("12345678", VIEWS, strict=True):
                await pilot.press(key)
                await pilot.pause()
                for hit in raw_controls(screen_text(app)):
                    problems.append(f"cockpit view {key} ({view}): raw control character {hit}")
            for hit in raw_controls(app.export_screenshot()):
                problems.append(f"cockpit SVG export: raw control character {hit}")
            await press_to_quit(app)
        if app.return_code not in (0, None):
            problems.append(f"cockpit exit code {app.return_code}")

    try:
        await asyncio.wait_for(session(), COCKPIT_TIMEOUT)
    except TimeoutError:
        problems.append(f"cockpit hung: not done (visit and quit) in {COCKPIT_TIMEOUT:.0f} s")
    except Exception as error:  # the finding itself: any exception out of the app
        problems.append(f"cockpit raised {type(error).__name__}: {error}")
    return problems


def snapshot_problems(root: Path, out_dir: Path, view: str, suffix: str) -> list[str]:
    """``factory-tui snapshot`` (a subprocess with a time limit) to ``suffix``; what went
    wrong."""
    shot = out_dir / f"shot-{view}{suffix}"
    args = ["snapshot", str(root), "--output", str(shot), "--view", view, "--now", NOW]
    run = run_cli(args, cli_env(out_dir), timeout=SNAPSHOT_TIMEOUT)
    problems = run_problems(run)
    if shot.is_file():
        for hit in raw_controls(shot.read_text(encoding="utf-8")):
            problems.append(f"snapshot {shot.name}: raw control character {hit}")
    elif run.code == 0:
        problems.append(f"`snapshot {suffix}` exit 0 but wrote no {shot.name}")
    return problems


def _visit_child(root: str, results: Any) -> None:
    """In a child process: the Pilot visit, its findings put on ``results``."""
    results.put(asyncio.run(visit(Path(root))))


def visit_with_hard_limit(root: Path) -> list[str]:
    """:func:`visit` in a child process killed at the time limit: a cockpit that hangs on its
    way out (a worker stuck, a shutdown that never ends) fails the case and stops there."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_visit_child, args=(str(root), results))
    child.start()
    try:
        problems: list[str] = results.get(timeout=COCKPIT_TIMEOUT + 30)
    except queue.Empty:
        problems = [f"cockpit hung: no answer in {COCKPIT_TIMEOUT + 30:.0f} s (killed)"]
    child.join(10)
    if child.is_alive():
        child.kill()
        child.join()
        problems.append("cockpit did not exit after its visit (killed)")
    return problems


def cockpit_problems(tmp: Path, spec: Spec, view: str, suffix: str) -> list[str]:
    factory = build(tmp / "factory", spec)
    before = fingerprint(factory.root)
    problems = visit_with_hard_limit(factory.root)
    problems += snapshot_problems(factory.root, tmp, view, suffix)
    changed = changes(before, fingerprint(factory.root))
    if changed:
        problems.append(f"files changed by the cockpit or snapshot:\n    {changed}")
    return problems


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs(blocking=False), view_index=st.integers(0, 7))
def test_cockpit_on_hostile_factories(
    spec: Spec, view_index: int, tmp_path: Path, isolated: None
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        suffix = (".txt", ".svg")[view_index % 2]
        problems = cockpit_problems(Path(tmp), spec, VIEWS[view_index], suffix)
    assert not problems, report(spec, problems)


def test_cockpit_on_every_payload(tmp_path: Path, isolated: None) -> None:
    """Every untrusted text in every field, no structural damage: the screens show none raw."""
    spec = Spec((), every_payload())
    problems = cockpit_problems(tmp_path, spec, "claims", ".svg")
    assert not problems, report(spec, problems)
