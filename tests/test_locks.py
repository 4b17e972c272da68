"""Lock directories are visible (status --json, problems) and a stale one can be broken under the
protocol with `factory-tui unlock NAME`, never a fresh one (issue #11)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from factory_tui.cli import main
from factory_tui.core.locks import parse_lock_name
from factory_tui.demo import DemoFactory, generate_demo

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"


@pytest.fixture
def demo(tmp_path: Path) -> DemoFactory:
    return generate_demo(
        tmp_path / "factory", seed=7, now=NOW, hostname="demo-host", start_processes=False
    )


def make_lock(demo: DemoFactory, name: str, age_s: float, *, inside: str | None = None) -> Path:
    """A lock directory whose mtime is ``age_s`` before NOW (local time, as the CLI's --now)."""
    lock = demo.claims_dir / name
    lock.mkdir()
    if inside:
        (lock / inside).write_text("x")
    stamp = time.mktime((NOW - timedelta(seconds=age_s)).timetuple())
    os.utime(lock, (stamp, stamp))
    return lock


def status_json(demo: DemoFactory, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["status", str(demo.root), "--json", "--now", NOW_S]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_parse_lock_name() -> None:
    assert parse_lock_name("CAB-1290-phase-2.lock") == ("CAB-1290", 2)
    assert parse_lock_name("CAB-1321.lock") == ("CAB-1321", None)
    assert parse_lock_name(".CAB-1.lock.broken.ab12") is None
    assert parse_lock_name("CAB-1.json") is None


def test_status_lists_fresh_and_stale_locks_and_a_stale_one_is_a_problem(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    make_lock(demo, "CAB-1290-phase-5.lock", 5)
    make_lock(demo, "CAB-1302.lock", 600)
    data = status_json(demo, capsys)
    locks = {lock["name"]: lock for lock in data["locks"]}  # type: ignore[attr-defined]
    fresh, stale = locks["CAB-1290-phase-5.lock"], locks["CAB-1302.lock"]
    assert (fresh["claim"], fresh["phase"], fresh["stale"]) == ("CAB-1290", 5, False)
    assert 0 <= fresh["age_s"] <= 60
    assert (stale["claim"], stale["phase"], stale["stale"]) == ("CAB-1302", None, True)
    assert stale["age_s"] >= 600
    problems = [p for p in data["problems"] if "lock" in p["message"]]  # type: ignore[attr-defined]
    assert len(problems) == 1, problems
    assert problems[0]["file"].endswith("CAB-1302.lock")
    assert "factory-tui unlock CAB-1302.lock" in problems[0]["message"]
    summary = data["summary"]
    assert summary["problems"] == len(data["problems"]) + summary["lint"]  # type: ignore[index]


def test_unlock_is_refused_while_the_lock_is_fresh(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = make_lock(demo, "CAB-1290-phase-5.lock", 5)
    # --now is the log line's time; the lock's age comes from the clock, so make it truly fresh.
    os.utime(lock)
    log = (demo.memory_dir / "operations.log").read_text()
    assert main(["unlock", "CAB-1290-phase-5.lock", str(demo.root), "--now", NOW_S]) == 1
    err = capsys.readouterr().err
    assert "fresh" in err and "a writer is at work" in err
    assert lock.is_dir()
    assert (demo.memory_dir / "operations.log").read_text() == log


def test_unlock_breaks_a_stale_lock_and_logs_it(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = make_lock(demo, "CAB-1302.lock", 600)
    assert main(["unlock", "CAB-1302.lock", str(demo.root), "--now", NOW_S]) == 0
    out = capsys.readouterr().out
    assert "broke the stale lock CAB-1302.lock" in out
    assert not lock.exists()
    last = (demo.memory_dir / "operations.log").read_text().splitlines()[-1]
    assert last.startswith(f"{NOW_S} | UNLOCK | lock=CAB-1302.lock task=CAB-1302 age_s=")
    assert " by=" in last
    data = status_json(demo, capsys)
    assert data["locks"] == []


def test_unlock_keeps_what_it_did_not_make(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is removed recursively: a stale lock holding an unknown file is moved aside
    (hidden, so nobody trips on it), its content kept."""
    make_lock(demo, "CAB-1302.lock", 600, inside="notes.txt")
    assert main(["unlock", "CAB-1302.lock", str(demo.root), "--now", NOW_S]) == 0
    capsys.readouterr()
    assert not (demo.claims_dir / "CAB-1302.lock").exists()
    kept = list(demo.claims_dir.glob(".CAB-1302.lock.broken.*/notes.txt"))
    assert len(kept) == 1 and kept[0].read_text() == "x"


@pytest.mark.parametrize("name", ["../escape.lock", "/tmp/x.lock", "CAB-1.json", "a\0b.lock"])
def test_unlock_refuses_what_is_not_a_lock_in_the_claims_folder(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["unlock", name, str(demo.root), "--now", NOW_S]) in (1, 2)
    capsys.readouterr()


def test_unlock_refuses_a_file_named_like_a_lock(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = demo.claims_dir / "CAB-1302.lock"
    junk.write_text("not a directory")
    assert main(["unlock", "CAB-1302.lock", str(demo.root), "--now", NOW_S]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert junk.read_text() == "not a directory"


def test_the_claims_view_shows_a_lock_on_its_claim(demo: DemoFactory) -> None:
    """The label says a writer is at work or that a dead writer's lock blocks the claim; the
    detail says how to break it."""
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.config import load_config
    from factory_tui.ui.widgets.claims import claim_detail, claim_label

    make_lock(demo, "CAB-1302.lock", 600)
    make_lock(demo, "CAB-1290-phase-5.lock", 5)
    config = load_config(demo.root, flags={}, env={}, user_config=demo.root / "none.toml")
    reader = FactoryReader(config, hostname="demo-host")
    reader.refresh_all()
    fleet = reader.fleet(NOW)
    views = {view.key: view for view in fleet.claims}
    stale, fresh = fleet.locks_of("CAB-1302"), fleet.locks_of("CAB-1290:5")
    assert [lock.stale for lock in stale] == [True] and [lock.stale for lock in fresh] == [False]
    assert (
        "stale lock (its writer died): u to unlock"
        in claim_label(views["CAB-1302"], "", stale).plain
    )
    assert "being written" in claim_label(views["CAB-1290:5"], "", fresh).plain
    assert "lock" not in claim_label(views["CAB-1290:1"], "").plain
    detail = " ".join(str(value) for _, value in claim_detail(views["CAB-1302"], "", "", stale))
    assert "factory-tui unlock CAB-1302.lock" in detail


async def test_the_cockpit_sees_a_lock_come_and_go(demo: DemoFactory) -> None:
    """A lock directory made or removed while the cockpit runs is picked up by the watcher
    (agents take one for every claim they write): the claim shows it, then not."""
    from conftest import DEMO_HOST, config_for
    from test_app import SIZE, make_app

    from factory_tui.adapters.factory import FactoryReader

    app = make_app(
        demo.root,
        reader=FactoryReader(config_for(demo.root), hostname=DEMO_HOST),
        watch=True,
        clock=datetime.now,
    )
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        lock = demo.claims_dir / "CAB-1302.lock"
        lock.mkdir()
        await app.wait_for_fleet(lambda fleet: bool(fleet.locks_of("CAB-1302")))
        lock.rmdir()
        await app.wait_for_fleet(lambda fleet: not fleet.locks_of("CAB-1302"))
