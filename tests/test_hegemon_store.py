"""The real factory's local store (HEGEMON's state.db): read strictly read-only, live under a
concurrent writer, merged into the fleet by evidence (issue #15)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import store_fixture as sf
from conftest import FixedProbe, config_for

from factory_tui.actions.base import Outcome
from factory_tui.actions.release import ReleasePlan, plan_release, release_claim
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.hegemon_store import StoreReader, _connection, read_store
from factory_tui.config import ConfigError, load_config
from factory_tui.core.fleet_store import STORE

NOW = datetime(2026, 2, 16, 17, 45)
HOST = "macbook-pro"
HOSTILE = "[red]x[/red] \x1b[2J\u202e"


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    memory = root / ".factory" / "memory"
    memory.mkdir(parents=True)
    (memory / "operations.log").write_text("")
    (root / "factory.toml").write_text(
        'memory = ".factory/memory"\nclaims = ".claude/claims"\n[hegemon]\ndb = "store/state.db"\n'
    )
    return root


def _file_claim(root: Path, ticket: str, owner: str | None) -> None:
    # The claim tool's dual-write: UTC with Z, an empty title, its own short-lived pid.
    data = {
        "ticket": ticket,
        "title": "",
        "owner": owner,
        "pid": 4242 if owner else None,
        "hostname": HOST,
        "claimed_at": "2026-02-16T17:00:42Z" if owner else None,
        "branch": f"feat/{ticket}",
        "completed_at": None,
    }
    (root / ".claude" / "claims" / f"{ticket}.json").write_text(json.dumps(data))


def _reader(root: Path) -> FactoryReader:
    reader = FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())
    reader.refresh_all()
    return reader


@pytest.fixture
def factory(tmp_path: Path) -> tuple[Path, Path]:
    root = _root(tmp_path)
    return root, sf.create_store(root / "store" / "state.db")


# -- reading -------------------------------------------------------------------------------------


def test_every_table_becomes_values_and_agent_text_stays_literal(
    factory: tuple[Path, Path],
) -> None:
    _, db = factory
    sf.session(db, "t1-aaaa", "CAB-1321", step="pr-created", pr=578)
    sf.milestone(db, "CAB-1321", "claimed", "t1-aaaa", "2026-02-16T17:00:00Z")
    sf.milestone(db, "CAB-1321", "pr-created", "t1-aaaa", "2026-02-16T17:30:00Z", pr=578)
    sf.claim(db, "CAB-1290-phase-2", "t1-aaaa", ticket="CAB-1352", phase=2, mega_id="CAB-1290")
    sf.insert(db, "tickets", id="CAB-1321", title=HOSTILE, status="InProgress", updated_at="x")
    sf.insert(db, "council_cache", ticket_id="CAB-1321", score=8.5, verdict="Go", evaluated_at="y")
    for ticket, status in (("CAB-1", "pending"), ("CAB-2", "done"), ("CAB-3", "dispatched")):
        sf.insert(db, "queue_jobs", ticket_id=ticket, status=status, created_at="z")
    snap = read_store(db)
    (session,) = snap.sessions
    assert (session.instance_id, session.step, session.pr) == ("t1-aaaa", "pr-created", 578)
    (step,) = snap.milestones  # the latest of each (ticket, instance)
    assert step.step == "pr-created"
    (claim,) = snap.claims
    assert (claim.key, claim.owner) == ("CAB-1290:2", "t1-aaaa")
    assert snap.ticket_title("CAB-1321") == HOSTILE
    assert [j.ticket_id for j in snap.queue] == ["CAB-1", "CAB-3"]  # done is not waiting
    assert snap.council[0].score == 8.5
    assert snap.counts["milestones"] == 2 and snap.counts["queue_jobs"] == 3
    assert snap.schema == "user_version 0"


def test_the_reader_never_writes_a_byte(factory: tuple[Path, Path]) -> None:
    _, db = factory
    sf.session(db, "t1-aaaa", "CAB-1321")
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    reader = StoreReader(db)
    assert reader.refresh(force=True)
    for _ in range(4):
        assert not reader.refresh(force=True)  # read again: the same rows are no change
    assert reader.snapshot is not None and reader.error is None
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def test_the_connection_refuses_any_write(factory: tuple[Path, Path]) -> None:
    _, db = factory
    with _connection(db, 0.1) as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO tickets (id, updated_at) VALUES ('X', 'now')")
    assert read_store(db).counts["tickets"] == 0


@pytest.mark.stress
def test_a_concurrent_writer_never_reaches_the_user_as_an_error(
    factory: tuple[Path, Path],
) -> None:
    """A writer process commits hundreds of times (WAL) while the reader reads: every read
    succeeds, sees a consistent store, and the writer is never blocked into failing."""
    _, db = factory
    writer = subprocess.Popen(
        [sys.executable, str(Path(sf.__file__)), "WRITER", str(db), "400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    reader = StoreReader(db)
    reads = 0
    seen: list[int] = []
    while writer.poll() is None or reads == 0:
        reader.refresh(force=True)
        reads += 1
        assert reader.error is None
        snap = reader.snapshot
        assert snap is not None and snap.note is None
        seen.append(snap.counts["milestones"])
        (session,) = snap.sessions
        (latest,) = snap.milestones
        assert latest.created_at == session.updated_at  # one transaction: both or neither
    out, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    assert "done" in out
    assert seen == sorted(seen) and reads >= 2
    reader.refresh(force=True)
    assert reader.snapshot is not None and reader.snapshot.counts["milestones"] == 400


def test_a_store_locked_by_a_writer_keeps_the_last_read_and_never_says_locked(
    tmp_path: Path,
) -> None:
    """A store in rollback-journal mode held by an exclusive writer: the reader keeps what it
    read, says since when, and SQLite's "database is locked" reaches nobody."""
    db = sf.create_store(tmp_path / "state.db", wal=False)
    sqlite3.connect(str(db)).execute("PRAGMA journal_mode=DELETE").close()
    reader = StoreReader(db, busy_timeout_s=0.01, pause=lambda _s: None)
    assert reader.refresh()
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert reader.refresh(force=True)
        assert reader.snapshot is not None
        assert reader.snapshot.note is not None and "busy" in reader.snapshot.note
        fresh = StoreReader(db, busy_timeout_s=0.01, pause=lambda _s: None)
        fresh.refresh()
        assert fresh.snapshot is None and fresh.error is not None
        for text in (reader.snapshot.note, fresh.error):
            assert "database is locked" not in text.lower()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reader.refresh(force=True) and reader.snapshot is not None
    assert reader.snapshot.note is None


def test_no_store_file_no_store(tmp_path: Path) -> None:
    reader = StoreReader(tmp_path / "absent.db")
    assert not reader.refresh()
    assert reader.snapshot is None and reader.error is None


# -- merged into the fleet -----------------------------------------------------------------------


def test_a_claim_and_an_agent_known_to_both_are_one(factory: tuple[Path, Path]) -> None:
    root, db = factory
    _file_claim(root, "CAB-1321", "t1-aaaa")
    sf.claim(db, "CAB-1321", "t1-aaaa")
    sf.session(db, "t1-aaaa", "CAB-1321", updated_at="2026-02-16T17:40:00Z")
    fleet = _reader(root).fleet(NOW)
    (claim,) = fleet.claims
    assert claim.origins == ("file", STORE) and claim.conflicts == ()
    (agent,) = fleet.instances
    assert agent.id == "t1-aaaa" and agent.origins == ("file", STORE)
    data = fleet.to_json()
    assert data["claims"][0]["source"] == "file"  # type: ignore[index]
    assert data["claims"][0]["sources"] == ["file", STORE]  # type: ignore[index]


def test_a_release_in_the_store_only_is_a_conflict_and_release_acts_on_it(
    factory: tuple[Path, Path],
) -> None:
    root, db = factory
    _file_claim(root, "CAB-1321", "t1-aaaa")
    sf.claim(db, "CAB-1321", None, completed_at="2026-02-16T17:40:00Z")
    reader = _reader(root)
    fleet = reader.fleet(NOW)
    (claim,) = fleet.claims
    assert claim.state == "claimed"  # 45 minutes old: not stale by the files alone
    (conflict,) = claim.conflicts
    assert "the local store" in conflict and "released CAB-1321 at 2026-02-16T17:40:00Z" in conflict
    assert "CAB-1321.json still names t1-aaaa" in conflict
    (agent,) = fleet.instances
    assert conflict in agent.conflicts
    plan = plan_release(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert isinstance(plan, ReleasePlan) and plan.releasable and not plan.stale
    assert plan.logged_in == "the local store" and "reason=done" in plan.log_line
    result = release_claim(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert result.outcome is Outcome.DONE, result.message
    path = root / ".claude" / "claims" / "CAB-1321.json"
    assert json.loads(path.read_text())["owner"] is None


def test_another_owner_in_the_store_is_a_conflict_release_needs_force(
    factory: tuple[Path, Path],
) -> None:
    root, db = factory
    _file_claim(root, "CAB-1321", "t1-aaaa")
    sf.claim(db, "CAB-1321", "t2-bbbb")
    reader = _reader(root)
    (claim,) = reader.fleet(NOW).claims
    assert set(claim.conflicts_about) == {"t1-aaaa", "t2-bbbb"}
    assert "names t2-bbbb" in claim.conflicts[0] and "names t1-aaaa" in claim.conflicts[0]
    result = release_claim(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert result.outcome is Outcome.REFUSED


def test_an_agent_only_the_store_knows_is_shown_with_its_step(
    factory: tuple[Path, Path],
) -> None:
    root, db = factory
    sf.session(db, "t9-beef", "CAB-9", host="worker-1", updated_at="2026-02-16T17:41:00Z")
    sf.milestone(db, "CAB-9", "pr-created", "t9-beef", "2026-02-16T17:41:00Z", pr=12)
    sf.claim(db, "CAB-9", "t9-beef", host="worker-1")
    sf.insert(db, "tickets", id="CAB-9", title=HOSTILE, updated_at="x")
    fleet = _reader(root).fleet(NOW)
    (agent,) = fleet.instances
    assert (agent.id, agent.status, agent.step, agent.host) == (
        "t9-beef",
        "working",
        "pr-created",
        "worker-1",
    )
    assert agent.origins == (STORE,) and not agent.local
    (session,) = fleet.sessions
    assert session.status == "running" and session.origins == (STORE,)
    (claim,) = fleet.claims
    assert claim.origins == (STORE,) and claim.title == HOSTILE and claim.state == "claimed"
    pid = next(c for c in claim.conditions if c.name == "pid")
    assert pid.detail == "on host worker-1: pid not checked"
    assert fleet.counts["agents_working"] == 1 and fleet.counts["claims_claimed"] == 1


def test_status_json_carries_the_source_of_everything(
    factory: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.cli import main

    root, db = factory
    _file_claim(root, "CAB-1321", "t1-aaaa")
    sf.session(db, "t9-beef", "CAB-9", host="worker-1", updated_at="2026-02-16T17:41:00Z")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(root.parent / "claude"))
    assert main(["status", str(root), "--json", "--now", "2026-02-16T17:45"]) == 0
    data = json.loads(capsys.readouterr().out)
    for kind in ("instances", "sessions", "claims"):
        assert data[kind] and all(item["source"] in ("file", STORE) for item in data[kind])
    assert {i["id"]: i["source"] for i in data["instances"]} == {
        "t1-aaaa": "file",
        "t9-beef": STORE,
    }
    assert data["store"]["counts"]["sessions"] == 1


# -- live, doctor, config ------------------------------------------------------------------------


def test_the_watcher_watches_the_database_and_its_wal(factory: tuple[Path, Path]) -> None:
    from factory_tui.ui.watch import WatchTargets

    root, db = factory
    targets = WatchTargets.from_config(config_for(root))
    assert db.parent in targets.folders
    assert targets.classify([Path(str(db) + "-wal")]).store
    assert targets.classify([db]).store
    assert not targets.classify([Path(str(db) + "-shm")])


def test_doctor_shows_the_store_its_schema_counts_and_the_remote(
    factory: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.doctor import doctor_report, render_doctor

    root, db = factory
    sf.session(db, "t1-aaaa", "CAB-1321")
    (root / "factory.toml").write_text(
        '[hegemon]\ndb = "store/state.db"\nremote_url = "https://u:s3cret@state.example:8090"\n'
        '[hosts."worker-1"]\nssh = ["ssh", "-o", "BatchMode=yes", "worker-1"]\n'
    )
    lines = {line.name: line for line in doctor_report(config_for(root))}
    assert lines["store"].value == str(db) and lines["store"].exists
    assert lines["store schema"].value == "user_version 0"
    assert "sessions 1" in lines["store rows"].value
    assert lines["remote"].value == "https://state.example:8090"
    assert lines["remote credentials"].value == "missing"
    assert lines["host worker-1"].value == "ssh -o BatchMode=yes worker-1"
    assert "s3cret" not in render_doctor(doctor_report(config_for(root)))


def test_config_store_path_from_env_and_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    env = {"HEGEMON_STATE_DB": str(tmp_path / "x.db"), "HOME": str(tmp_path)}
    config = load_config(root, flags={}, env=env, user_config=tmp_path / "none.toml")
    assert config.hegemon is not None and config.hegemon.db == tmp_path / "x.db"
    assert config.sources["hegemon"] == "env HEGEMON_STATE_DB"
    config = load_config(root, flags={}, env={"HOME": str(tmp_path)}, user_config=tmp_path / "n")
    assert config.hegemon is not None
    assert config.hegemon.db == tmp_path / ".hegemon" / "state.db"
    (root / "factory.toml").write_text('[hosts."w1"]\nssh = "ssh w1"\n')
    with pytest.raises(ConfigError, match=r"factory.toml.*hosts.*w1.*list of strings"):
        load_config(root, flags={}, env=env, user_config=tmp_path / "none.toml")
    (root / "factory.toml").write_text("[hegemon]\ndb = 3\n")
    with pytest.raises(ConfigError, match=r"factory.toml.*\[hegemon\] db"):
        load_config(root, flags={}, env=env, user_config=tmp_path / "none.toml")


async def test_a_commit_to_the_store_reaches_the_screen(factory: tuple[Path, Path]) -> None:
    """The real watcher sees the WAL change; the fleet feed re-reads the store; the agent only
    the store knows shows up on the Agents view, its agent-written text literal."""
    from test_app import SIZE, make_app

    from factory_tui.ui.feeds.prs import PrsOptions
    from factory_tui.ui.snapshot import screen_text

    root, db = factory
    app = make_app(root, watch=True, clock=lambda: NOW, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda _f: app.loaded)
        assert not app.fleet.instances
        sf.session(db, "t9-beef", "CAB-9", host="worker-1", updated_at="2026-02-16T17:41:00Z")
        sf.milestone(db, "CAB-9", "pr-created", "t9-beef", "2026-02-16T17:41:00Z")
        await app.wait_for_fleet(lambda f: any(i.id == "t9-beef" for i in f.instances))
        await pilot.pause()
        assert "t9-beef" in screen_text(app)
