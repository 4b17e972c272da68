"""What the cockpit remembers of the budgets across restarts (issue 6): per user and per factory
root, an unreadable file kept aside, old entries pruned, two writers that lose nothing and run
``[cost] on_budget`` once between them."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import config_for

from factory_tui.actions.budget_state import (
    BUDGET_FILE,
    BudgetMemory,
    claim_fired,
    load_budget_memory,
    remember_acknowledged,
)
from factory_tui.actions.prs import REVIEWS_FILE, record_look
from factory_tui.adapters.user_state import read_state, state_dir, state_lock
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 15, 42, 30)
DAILY = "daily:all agents:2026-02-16:alert"
AGENT = "agent:t48217-a3f2:2026-02-16:alert"


def test_nothing_remembered_at_first(tmp_path: Path) -> None:
    assert load_budget_memory(tmp_path / "repo", folder=tmp_path) == BudgetMemory()
    assert not (tmp_path / BUDGET_FILE).exists()


def test_the_state_dir_is_the_environment_override(private_state_dir: Path) -> None:
    assert state_dir() == private_state_dir
    assert state_dir({"FACTORY_TUI_STATE_DIR": "/x/y"}) == Path("/x/y")


def test_acknowledged_and_fired_per_factory_root(tmp_path: Path) -> None:
    here, there = tmp_path / "a" / "repo", tmp_path / "b" / "repo"
    here.mkdir(parents=True)
    there.mkdir(parents=True)
    remember_acknowledged(here, [DAILY], NOW, folder=tmp_path)
    assert claim_fired(here, [DAILY, AGENT], NOW, folder=tmp_path) == (DAILY, AGENT)
    assert claim_fired(there, [AGENT], NOW, folder=tmp_path) == (AGENT,)
    assert load_budget_memory(here, folder=tmp_path) == BudgetMemory(
        frozenset({DAILY}), frozenset({DAILY, AGENT})
    )
    assert load_budget_memory(there, folder=tmp_path) == BudgetMemory(
        frozenset(), frozenset({AGENT})
    )
    data = json.loads((tmp_path / BUDGET_FILE).read_bytes())
    assert data["version"] == 1
    assert data["repos"][str(here)]["acknowledged"] == {DAILY: "2026-02-16T15:42:30"}


def test_the_budget_command_is_claimed_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    assert claim_fired(root, [DAILY], NOW, folder=tmp_path) == (DAILY,)
    assert claim_fired(root, [DAILY, AGENT], NOW, folder=tmp_path) == (AGENT,)
    assert claim_fired(root, [DAILY, AGENT], NOW, folder=tmp_path) == ()


def test_two_writers_lose_nothing_and_claim_each_alert_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    writers = 4
    start = threading.Barrier(writers)
    claimed: list[tuple[str, ...]] = []

    def cockpit(n: int) -> None:
        start.wait()
        remember_acknowledged(root, [f"agent:t{n}:2026-02-16:alert"], NOW, folder=tmp_path)
        claimed.append(claim_fired(root, [DAILY], NOW, folder=tmp_path))

    threads = [threading.Thread(target=cockpit, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [()] * (writers - 1) + [(DAILY,)]
    memory = load_budget_memory(root, folder=tmp_path)
    assert memory.acknowledged == {f"agent:t{n}:2026-02-16:alert" for n in range(writers)}
    assert not (tmp_path / f"{BUDGET_FILE}.lock").exists()


def test_old_entries_are_pruned_on_write(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    feb12, feb14 = "daily:all agents:2026-02-12:alert", "daily:all agents:2026-02-14:alert"
    remember_acknowledged(here, [feb12], NOW - timedelta(days=4), folder=tmp_path)
    claim_fired(there, [feb12], NOW - timedelta(days=4), folder=tmp_path)
    remember_acknowledged(here, [feb14], NOW - timedelta(days=2), folder=tmp_path)
    assert load_budget_memory(here, folder=tmp_path).acknowledged == {feb12, feb14}
    remember_acknowledged(here, [DAILY], NOW, folder=tmp_path)
    data = json.loads((tmp_path / BUDGET_FILE).read_bytes())
    assert data["repos"] == {
        str(here): {"acknowledged": {feb14: "2026-02-14T15:42:30", DAILY: "2026-02-16T15:42:30"}}
    }


def test_an_unreadable_file_is_kept_aside_and_started_afresh(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    for garbage in (b"\x00\xff not json", b'["a list, not the state"]', b'{"repos": 3}'):
        state = tmp_path / BUDGET_FILE
        state.write_bytes(garbage)
        assert load_budget_memory(root, folder=tmp_path) == BudgetMemory()
        assert (tmp_path / f"{BUDGET_FILE}.unreadable").read_bytes() == garbage
        assert not state.exists()
    (tmp_path / BUDGET_FILE).write_bytes(b"{broken")
    assert claim_fired(root, [DAILY], NOW, folder=tmp_path) == (DAILY,)
    assert (tmp_path / f"{BUDGET_FILE}.unreadable").read_bytes() == b"{broken"
    assert load_budget_memory(root, folder=tmp_path).fired == {DAILY}


def test_the_pr_review_state_shares_the_keep_aside(tmp_path: Path, demo: DemoFactory) -> None:
    demo_config = config_for(demo.root)
    (tmp_path / REVIEWS_FILE).write_bytes(b'["not the state"]')
    record_look(demo_config, NOW, folder=tmp_path)
    assert (tmp_path / f"{REVIEWS_FILE}.unreadable").read_bytes() == b'["not the state"]'
    assert read_state(tmp_path / REVIEWS_FILE)["repos"][str(demo_config.root)]["last_look"] == (
        "2026-02-16T15:42:30"
    )


def test_the_lock_is_best_effort(tmp_path: Path) -> None:
    path = tmp_path / BUDGET_FILE
    lock = tmp_path / f"{BUDGET_FILE}.lock"
    with state_lock(path) as held:
        assert held and lock.is_dir()
        with state_lock(path, retries=0) as second:
            assert second is False  # held by another: go ahead unlocked
        assert lock.is_dir()
    assert not lock.exists()
    lock.mkdir()
    os.utime(lock, (0, 0))  # left by a cockpit that died mid-write: stale
    with state_lock(path, retries=0) as held:
        assert held
    assert not lock.exists()


def test_factories_whose_root_is_gone_are_pruned_on_write(tmp_path: Path) -> None:
    here, gone = tmp_path / "here", tmp_path / "gone"
    here.mkdir()
    gone.mkdir()
    remember_acknowledged(gone, [DAILY], NOW, folder=tmp_path)
    record_look(config_for(gone), NOW, folder=tmp_path)
    gone.rmdir()  # a demo's temp folder, deleted since
    remember_acknowledged(here, [DAILY], NOW, folder=tmp_path)
    record_look(config_for(here), NOW, folder=tmp_path)
    for name in (BUDGET_FILE, REVIEWS_FILE):
        assert list(read_state(tmp_path / name)["repos"]) == [str(here)]


def test_an_aware_now_is_recorded_in_the_local_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zone is the one the rest of the cockpit uses (adapters.clock.local_zone), not a
    hidden ``astimezone()``."""
    five_east = timezone(timedelta(hours=5))
    monkeypatch.setattr("factory_tui.actions.budget_state.local_zone", lambda: five_east)
    root = tmp_path / "repo"
    root.mkdir()
    remember_acknowledged(root, [DAILY], NOW.replace(tzinfo=UTC), folder=tmp_path)
    data = json.loads((tmp_path / BUDGET_FILE).read_bytes())
    assert data["repos"][str(root)]["acknowledged"] == {DAILY: "2026-02-16T20:42:30"}
