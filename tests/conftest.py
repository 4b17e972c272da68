"""Shared fixtures: the deterministic demo factory (and one on this machine's hostname), a fixed
process table, a config loader that reads no user files, the gh on PATH (none, or a fake), the
fakes of ``tests/fake_bin``, a git without user config. The helpers behind them are in
``fakes.py``."""

from __future__ import annotations

import gc
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import bytecode_cache  # noqa: F401  (first: caches what is compiled from here on)
import pytest
from fakes import FakeGh, copy_factory, hide_real_gh, install_fake_gh, isolate_git, use_fake_bin

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.procs import TableProbe
from factory_tui.adapters.tail import LogTail
from factory_tui.config import Config, load_config
from factory_tui.core import fold_ended
from factory_tui.core.claims import dump_claim
from factory_tui.core.fleet import ProcInfo
from factory_tui.demo import DemoFactory, generate_demo

if TYPE_CHECKING:
    from textual.pilot import Pilot
    from textual.screen import Screen

DEMO_NOW = datetime(2026, 2, 16, 15, 42, 30)
DEMO_HOST = "demo-host"
GIT_DEMO_NOW = datetime(2026, 2, 16, 15, 42)


class FixedProbe(TableProbe):
    """A process table that says what it was told: the given pids are alive, nothing else."""

    def __init__(self, table: dict[int, ProcInfo] | None = None) -> None:
        super().__init__(dict(table or {}))


def config_for(root: Path) -> Config:
    """The factory's config as the CLI would load it, but with no environment or user file, and
    Claude Code's folder (transcripts, memory) an empty one, never the real ``~/.claude``."""
    return load_config(
        root,
        flags={},
        env={
            "CLAUDE_CONFIG_DIR": str(root.parent / "no-claude-config"),
            # Never the real ~/.hegemon/state.db: a test that wants a store writes one there.
            "HEGEMON_STATE_DB": str(root.parent / "no-hegemon" / "state.db"),
        },
        user_config=root.parent / "no-user-config.toml",
    )


def demo_probe(demo: DemoFactory) -> FixedProbe:
    """The demo's working and idle agents alive (started before their claims), cpu and memory
    fixed."""
    started = demo.now - timedelta(hours=8)
    return FixedProbe(
        {
            pid: ProcInfo(
                pid=pid, started_at=started, cpu_percent=3.5 + n, rss_bytes=(120 + n) << 20
            )
            for n, pid in enumerate(sorted(demo.pids.values()))
        }
    )


def demo_reader(demo: DemoFactory, root: Path | None = None) -> FactoryReader:
    return FactoryReader(config_for(root or demo.root), hostname=DEMO_HOST, probe=demo_probe(demo))


def pin_pids(demo: DemoFactory) -> DemoFactory:
    """Give every claim's pid a fixed number (by instance id order).

    The generator picks pids that are not running on this machine, so they can differ from one
    machine to another; with a fixed probe nothing depends on the real process table, and
    pinned pids make screens (and snapshots) the same everywhere."""
    owners: set[str] = set()
    files = sorted(demo.claims_dir.glob("*.json"))
    raws = {path: json.loads(path.read_bytes()) for path in files}
    for raw in raws.values():
        for unit in raw.get("phases", [raw]):
            if unit.get("owner"):
                owners.add(unit["owner"])
    pinned = {owner: 41000 + 100 * n for n, owner in enumerate(sorted(owners))}
    for path, raw in raws.items():
        for unit in raw.get("phases", [raw]):
            if unit.get("owner") and unit.get("pid") is not None:
                unit["pid"] = pinned[unit["owner"]]
        path.write_bytes(dump_claim(raw))
    return replace(demo, pids={i: pinned[i] for i in demo.pids if i in pinned})


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoFactory:
    """The demo factory (pids pinned), generated once per test session (do not modify: copy
    it)."""
    return pin_pids(
        generate_demo(
            tmp_path_factory.mktemp("demo-template") / "tinygate",
            now=DEMO_NOW,
            hostname=DEMO_HOST,
            start_processes=False,
        )
    )


@pytest.fixture
def demo(tmp_path: Path, demo_template: DemoFactory) -> DemoFactory:
    """A private copy of the demo factory (same files, its own folder named ``tinygate``, its
    worktrees pointing at it)."""
    return copy_factory(demo_template, tmp_path / "tinygate")


@pytest.fixture(scope="session")
def git_demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoFactory:
    """The demo factory at 15:42 on this machine's hostname (so its agents' pids, which are not
    running, are crashed sessions here), generated once per test session (do not modify: copy
    it with :func:`fakes.copy_factory`, or ask for ``git_demo``)."""
    return generate_demo(
        tmp_path_factory.mktemp("git-demo-template") / "factory",
        now=GIT_DEMO_NOW,
        hostname=socket.gethostname(),
        start_processes=False,
    )


@pytest.fixture
def git_demo(tmp_path: Path, git_demo_template: DemoFactory) -> DemoFactory:
    """A private copy of ``git_demo_template`` in ``tmp_path / "factory"``."""
    return copy_factory(git_demo_template, tmp_path / "factory")


@pytest.fixture
def no_real_gh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No gh on PATH: a real one would reach GitHub."""
    hide_real_gh(monkeypatch)


@pytest.fixture
def fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_real_gh: None) -> FakeGh:
    """``tests/fake_gh/gh`` first on PATH (and no other gh on it)."""
    return install_fake_gh(tmp_path, monkeypatch)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tests/fake_bin`` (gh, tmux, agent) first on PATH, each recording into ``tmp_path``
    (returned)."""
    return use_fake_bin(tmp_path, monkeypatch)


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """git reads no system or user config, and commits as Dana."""
    isolate_git(monkeypatch)


@pytest.fixture
def no_themes_dir(tmp_path: Path) -> Path:
    """An empty user theme folder, so tests never read the real user's themes."""
    folder = tmp_path / "user-themes"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def private_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """What the cockpit remembers per user (the last look at the PR queue, reviewed Show PRs,
    acknowledged alerts) goes to a temp folder, never to the real user state folder."""
    state = tmp_path_factory.mktemp("user-state")
    monkeypatch.setenv("FACTORY_TUI_STATE_DIR", str(state))
    # Nor the real factory's store (~/.hegemon/state.db) or server: a test that wants one
    # says so.
    monkeypatch.setenv("HEGEMON_STATE_DB", str(state / "no-hegemon" / "state.db"))
    for name in ("HEGEMON_REMOTE_URL", "HEGEMON_REMOTE_EMAIL", "HEGEMON_REMOTE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return state


#: Markers of the tests that take seconds each (many processes, hypothesis over subprocesses).
SLOW_FIRST = ("stress", "adversarial")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a parallel run (pytest-xdist), the long tests go first: each worker then ends on short
    ones, and none is left running a 20 s test while the others are idle. The order is the same
    in every worker (xdist checks that); a run in one process keeps the files' order."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SLOW_FIRST))


DESELECTED = pytest.StashKey[list[pytest.Item]]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Remember what ``-k`` / ``-m`` left out, so a check over the collected tests can tell "not
    selected" from "does not exist"."""
    if items:
        items[0].config.stash.setdefault(DESELECTED, []).extend(items)


@pytest.fixture
def resumed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offsets logs were resumed at (a warm start resumes the log after the cache's)."""
    offsets: list[int] = []
    resume = LogTail.resume

    def spy(tail: LogTail, offset: int, line_count: int, **kw: Any) -> None:
        offsets.append(offset)
        resume(tail, offset, line_count, **kw)

    monkeypatch.setattr(LogTail, "resume", spy)
    return offsets


def record_calls(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str
) -> list[tuple[Any, ...]]:
    """``owner.name`` replaced by a wrapper that notes each call's positional arguments (a
    method's include its ``self``), then calls the real one; the list of them."""
    calls: list[tuple[Any, ...]] = []
    real = getattr(owner, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return calls


@pytest.fixture
def spans_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each time the spend's spans are made from a reader (``spans_from_reader``), a 1."""
    from factory_tui.adapters import transcripts

    made: list[int] = []
    real = transcripts.spans_from_reader

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(transcripts, "spans_from_reader", counted)
    return made


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The warm-start cache of the folded log goes to a temp folder, never to the real user
    cache folder."""
    cache = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(cache))
    monkeypatch.delenv("FACTORY_TUI_FOLD_CACHE", raising=False)
    return cache


@pytest.fixture(autouse=True)
def nothing_left_frozen() -> Iterator[None]:
    """What a test froze out of the cyclic collector (``demo`` and the cockpit run here freeze
    what they made, as in their own process) is given back after it: a later test's count of
    frozen objects is its own, and no frozen cycle outlives the test."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


ScreenT = TypeVar("ScreenT", bound="Screen[Any]")


async def asked(pilot: Pilot[Any], screen_type: type[ScreenT], *, timeout: float = 10.0) -> ScreenT:
    """Wait (bounded) until the app asks the engineer with a ``screen_type`` screen: an
    action's flow plans on a thread first, then waits on the screen (so its worker is not
    complete until the engineer answers)."""
    deadline = time.monotonic() + timeout
    while not isinstance(pilot.app.screen, screen_type):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {screen_type.__name__}: the screen is {pilot.app.screen!r}")
        await pilot.pause()
    return pilot.app.screen


async def press_to_quit(app: object, key: str = "q", timeout: float = 10.0) -> None:
    """Press ``key`` (a quit key) and wait, bounded, until the app stopped running.

    Not ``pilot.press``: it then waits for every widget to handle the messages queued before the
    key, and widgets the exit removes never do, so it can sit out its 30 s timeout."""
    import asyncio
    import time

    from textual import events
    from textual.app import App

    assert isinstance(app, App)
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    deadline = time.monotonic() + timeout
    while app.is_running and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # polls the app's own state; bounded
    assert not app.is_running, f"{key!r} did not quit within {timeout} s"


@pytest.fixture
def ends_in_time_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk back through the sessions that ended stops at the first that ended before the
    window, as when no end is ever logged late (LATE_ENDS: 1): for the tests that pin which of
    a short history's sessions are live by their times alone (the walk's tolerance of late ends
    is tested in test_superseded_crashes.py and test_foldcache.py)."""
    monkeypatch.setattr(fold_ended, "LATE_ENDS", 1)
