"""Issue 16: the cockpit (Pilot) and the snapshot command on hostile factories, in process.

Each drawn factory is opened in the cockpit at 120x40; every view (keys 1..8) is visited and its
screen checked for raw control characters, the screen is exported as SVG and checked too, ``q``
must close the app, all within a time limit, and no file of the factory may change. The same
factory then goes through ``factory-tui snapshot`` (``main``, in process) to a .txt and a .svg.

FIFOs and ``/dev/zero`` links are left out here: a reader thread blocked on a FIFO could not be
stopped inside the test process. ``test_adversarial.py`` runs them in subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hostile import (
    NOW,
    Spec,
    build,
    changes,
    every_payload,
    fingerprint,
    raw_controls,
    report,
    specs,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from factory_tui.cli import main
from factory_tui.config import load_config
from factory_tui.ui.app import VIEWS, FactoryApp
from factory_tui.ui.prs_loader import PrsOptions
from factory_tui.ui.snapshot import screen_text

pytestmark = pytest.mark.adversarial

SIZE = (120, 40)
COCKPIT_TIMEOUT = 60.0  # the whole visit: load, eight views, export, quit
SNAPSHOT_TIMEOUT = 60


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, no real ``~/.claude``, no gh: the factory's own files only."""
    for name in list(os.environ):
        if name.startswith(("CLAUDE_", "ANTHROPIC_")) or name in ("FACTORY_TUI_CONFIG",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", "")
    monkeypatch.setenv("FACTORY_COUNCIL_DISABLE", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "gh").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))


@contextlib.contextmanager
def hard_limit(seconds: int, what: str) -> Iterator[None]:
    """Raise ``TimeoutError`` in this (main) thread after ``seconds``, even inside a blocking
    call: a hang becomes a failure naming ``what``."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"{what}: still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


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
            await pilot.press("q")
            await pilot.pause()
        if app.return_code not in (0, None):
            problems.append(f"cockpit exit code {app.return_code}")

    try:
        await asyncio.wait_for(session(), COCKPIT_TIMEOUT)
    except TimeoutError:
        problems.append(f"cockpit hung: not done (visit and quit) in {COCKPIT_TIMEOUT:.0f} s")
    except Exception as error:  # the finding itself: any exception out of the app
        problems.append(f"cockpit raised {type(error).__name__}: {error}")
    return problems


def snapshot_problems(root: Path, out_dir: Path, view: str) -> list[str]:
    """``factory-tui snapshot`` (in process) to .txt and .svg; what went wrong."""
    problems: list[str] = []
    for suffix in (".txt", ".svg"):
        shot = out_dir / f"shot-{view}{suffix}"
        stdout, stderr = io.StringIO(), io.StringIO()
        args = ["snapshot", str(root), "--output", str(shot), "--view", view, "--now", NOW]
        try:
            with (
                hard_limit(SNAPSHOT_TIMEOUT, f"snapshot {suffix}"),
                contextlib.redirect_stdout(stdout),
                contextlib.redirect_stderr(stderr),
            ):
                code = main(args)
        except Exception as error:  # the finding itself
            problems.append(f"`snapshot {suffix}` raised {type(error).__name__}: {error}")
            continue
        if code != 0:
            problems.append(f"`snapshot {suffix}` exit {code}: {stderr.getvalue().strip()[:300]}")
        for name, text in (("stdout", stdout.getvalue()), ("stderr", stderr.getvalue())):
            for hit in raw_controls(text):
                problems.append(f"`snapshot {suffix}` {name}: raw control character {hit}")
        if shot.is_file():
            for hit in raw_controls(shot.read_text(encoding="utf-8")):
                problems.append(f"snapshot {shot.name}: raw control character {hit}")
        elif code == 0:
            problems.append(f"`snapshot {suffix}` exit 0 but wrote no {shot.name}")
    return problems


def cockpit_problems(tmp: Path, spec: Spec, view: str) -> list[str]:
    factory = build(tmp / "factory", spec)
    before = fingerprint(factory.root)
    problems = asyncio.run(visit(factory.root))
    problems += snapshot_problems(factory.root, tmp, view)
    changed = changes(before, fingerprint(factory.root))
    if changed:
        problems.append(f"files changed by the cockpit or snapshot:\n    {changed}")
    return problems


@settings(
    max_examples=8,
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
        problems = cockpit_problems(Path(tmp), spec, VIEWS[view_index])
    assert not problems, report(spec, problems)


def test_cockpit_on_every_payload(tmp_path: Path, isolated: None) -> None:
    """Every untrusted text in every field, no structural damage: the screens show none raw."""
    spec = Spec((), every_payload())
    problems = cockpit_problems(tmp_path, spec, "claims")
    assert not problems, report(spec, problems)
