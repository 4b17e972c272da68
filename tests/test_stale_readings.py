"""What the cockpit reads again only when a stat changes must not keep an old reading: of the
local store (its WAL rewritten in place), of git's HEAD (renamed over, its inode given back),
of a file whose read failed once, and of plan.md edited without changing a lint finding.

From a hostile review of the stat caches; each test failed before its fix. A rewrite within
one timestamp tick is made by setting the earlier times back (``os.utime``) or by the module's
stat giving the earlier stat."""

from __future__ import annotations

import errno
import json
import os
import queue
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import store_fixture as sf
from conftest import config_for, record_calls
from test_hegemon_store import _root as store_root

from factory_tui.adapters import factory_claims, factory_state, hegemon_store
from factory_tui.adapters import worktrees as worktrees_module
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.factory_claims import ClaimFolder
from factory_tui.adapters.factory_state import StateFiles
from factory_tui.adapters.hegemon_store import StoreReader, wal_path
from factory_tui.adapters.jsonfiles import RACY_NS
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.worktrees import Worktrees
from factory_tui.core.problems import Problem
from factory_tui.ui.feeds.fleet import FleetFeed
from factory_tui.ui.messages import FleetUpdated
from factory_tui.ui.watch import RefreshPlan, WatchTargets, watch_files


class _Recorder:
    def __init__(self) -> None:
        self.posted: list[object] = []

    def post_message(self, message: object) -> bool:
        self.posted.append(message)
        return True


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "factory"
    root.mkdir()
    return root


def test_a_plan_edit_that_changes_no_lint_finding_reaches_the_state_view(tmp_path: Path) -> None:
    config = config_for(_root(tmp_path))
    config.plan_file.parent.mkdir(parents=True, exist_ok=True)
    config.plan_file.write_text("# Plan\n- [ ] CAB-1 One\n- [ ] CAB-2 Two\n")
    app = _Recorder()
    with LogIndex(config.log_history_file, config.log_file) as index:
        reader = FactoryReader(config, hostname="h")
        reader.refresh_all()
        feed = FleetFeed(
            cast(Any, app), config, reader, index, clock=datetime.now, after_read=lambda _r: None
        )
        lint = list(reader.state_files.lint)
        config.plan_file.write_text("# Plan\n- [~] CAB-1 One\n- [ ] CAB-2 Two\n")
        feed._refresh(RefreshPlan(state=True), tick=False)
        assert reader.state_files.lint == lint  # nothing the lint says changed
    states = [m.state for m in app.posted if isinstance(m, FleetUpdated) and m.state is not None]
    assert states, "no new state summary was posted: the State view kept 2 pending"
    assert states[-1].plan_counts == (("in_progress", 1), ("pending", 1))


def test_state_files_whose_read_failed_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(factory_claims, "RACY_NS", 0)  # files written long ago
    config = config_for(_root(tmp_path))
    config.plan_file.parent.mkdir(parents=True, exist_ok=True)
    config.plan_file.write_text("# Plan\n- [ ] CAB-1 One\n")
    files = StateFiles(config)
    real = factory_state.read_factory_file_stat

    def emfile(path: Path, limit: int) -> tuple[bytes | Problem | None, object]:
        if path == config.plan_file:
            return Problem(str(path), "cannot read: Too many open files"), None
        return real(path, limit)

    monkeypatch.setattr(factory_state, "read_factory_file_stat", emfile)
    assert files.refresh() and files.problems
    monkeypatch.setattr(factory_state, "read_factory_file_stat", real)
    assert files.refresh() and files.problems == []


class _Clock:
    """The reader's clock, moved on by the test (ns)."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


def _store_with_a_session(
    tmp_path: Path, clock: _Clock | None = None
) -> tuple[Path, Any, StoreReader]:
    db = sf.create_store(tmp_path / "state.db")
    writer = sf.connect(db)  # the agent's connection stays open: the WAL is kept
    writer.execute(
        "INSERT INTO sessions (instance_id, project, step, started_at, updated_at) "
        "VALUES ('t1', 'stoa', 'coding', '2026-02-16T17:00:00Z', '2026-02-16T17:00:00Z')"
    )
    writer.commit()
    writer.execute("PRAGMA wal_checkpoint(RESTART)")  # the next commit rewrites the WAL from 0
    reader = StoreReader(db, now_ns=clock or time.time_ns)
    assert reader.refresh() and reader.snapshot is not None
    assert [s.step for s in reader.snapshot.sessions] == ["coding"]
    return db, writer, reader


def _same_tick_commit(db: Path, writer: Any, sql: str) -> None:
    """Commit ``sql`` as the agent's next write in the same timestamp tick as the last one:
    the WAL keeps its inode and size, the database file is not written."""
    wal, before = wal_path(db), os.stat(wal_path(db))
    db_before = os.stat(db)
    writer.execute(sql)
    writer.commit()
    after = os.stat(wal)
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert os.stat(db).st_mtime_ns == db_before.st_mtime_ns
    os.utime(wal, ns=(after.st_atime_ns, before.st_mtime_ns))


def test_a_store_commit_that_keeps_the_wal_size_and_tick_is_read(tmp_path: Path) -> None:
    """Read once its tick is surely past (RACY_NS after the commit), at the next refresh."""
    clock = _Clock()
    db, writer, reader = _store_with_a_session(tmp_path, clock)
    try:
        _same_tick_commit(db, writer, "UPDATE sessions SET step = 'testing'")
        clock.now += 2 * RACY_NS  # past the last commit by more than RACY_NS
        assert reader.refresh(), "the commit was not read: the store's stamp did not change"
        assert reader.snapshot is not None
        assert [s.step for s in reader.snapshot.sessions] == ["testing"]
    finally:
        writer.close()


def test_a_session_row_deleted_in_the_same_tick_is_seen_gone(tmp_path: Path) -> None:
    clock = _Clock()
    db, writer, reader = _store_with_a_session(tmp_path, clock)
    try:
        _same_tick_commit(db, writer, "DELETE FROM sessions WHERE instance_id = 't1'")
        clock.now += 2 * RACY_NS  # past the last commit by more than RACY_NS
        assert reader.refresh()
        assert reader.snapshot is not None
        assert reader.snapshot.sessions == (), "the ended session was still shown at work"
    finally:
        writer.close()


def test_a_store_read_again_unchanged_is_no_change(
    tmp_path: Path, store_reads: list[tuple[Any, ...]]
) -> None:
    """Read again once past the racy window: the same rows are no change (the fleet is not
    derived again for them), and the store is not read again after that."""
    clock = _Clock()
    _db, writer, reader = _store_with_a_session(tmp_path, clock)
    read_once = len(store_reads)  # the read that made the session
    try:
        assert not reader.refresh() and len(store_reads) == read_once  # within the window
        clock.now += 2 * RACY_NS  # past the last commit by more than RACY_NS
        assert not reader.refresh() and len(store_reads) == read_once + 1
        clock.now += 2 * RACY_NS
        assert not reader.refresh() and len(store_reads) == read_once + 1
    finally:
        writer.close()


@pytest.fixture
def store_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Each read of a store's database (``read_store``): its arguments."""
    return record_calls(monkeypatch, hegemon_store, "read_store")


def _store_factory(tmp_path: Path) -> tuple[Path, Path]:
    root = store_root(tmp_path)
    db = sf.create_store(root / "store" / "state.db")
    sf.session(db, "t1-aaaa", "CAB-1321")
    return root, db


ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="SQLite fchown()s the WAL it opens only as root"
)


@ROOT_ONLY
def test_an_idle_store_and_the_watcher_do_not_feed_each_other(
    tmp_path: Path, store_reads: list[tuple[Any, ...]]
) -> None:
    """As root each read moved the WAL's ctime (SQLite's fchown), which the watcher posts as
    a change, whose refresh read again: 616 reads in 3 s of an idle store. The window below
    is what is measured, not a wait for something."""
    root, db = _store_factory(tmp_path)
    targets = WatchTargets.from_config(config_for(root))
    reader = StoreReader(db)
    reads = store_reads
    posts: queue.Queue[frozenset[Path]] = queue.Queue()

    def post(paths: frozenset[Path]) -> None:  # the app's handler, inline on the thread
        posts.put(paths)
        if targets.classify(paths).store:
            reader.refresh()

    stop = threading.Event()
    thread = threading.Thread(
        target=watch_files,
        args=(targets, post, stop),
        kwargs={"backend": "inotify", "rearm_ms": 60_000},
        daemon=True,
    )
    thread.start()
    try:
        posts.get(timeout=10)  # armed: everything posted, the store read
        count, deadline = 0, time.monotonic() + 3
        while (left := deadline - time.monotonic()) > 0:
            try:
                posts.get(timeout=left)
            except queue.Empty:
                break
            count += 1
    finally:
        stop.set()
        thread.join(10)
    assert count <= 2 and len(reads) <= 3, f"idle store: {count} posts, {len(reads)} reads in 3 s"


def test_a_claim_file_dated_in_the_future_is_not_read_on_every_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied from a host whose clock is ahead (``cp -p``, ``rsync -t``): its ctime is now,
    its mtime a day ahead; it was read again at every refresh until the clock passed it."""
    folder = tmp_path / "claims"
    folder.mkdir()
    path = folder / "CAB-1.json"
    path.write_text(json.dumps({"ticket": "CAB-1", "title": "t", "owner": None}))
    day = 86_400 * 10**9
    os.utime(path, ns=(time.time_ns() + day, time.time_ns() + day))
    monkeypatch.setattr(factory_claims, "RACY_NS", 0)  # its ctime is settled at once
    reads = record_calls(monkeypatch, factory_claims, "read_factory_file_stat")
    claims = ClaimFolder(folder, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=30))
    assert claims.refresh()
    for _ in range(3):
        assert not claims.refresh()
        assert not claims.refresh_claim(path)
    assert len(reads) == 1, f"an unchanged claim file was read {len(reads)} times"


def test_a_head_rewritten_in_its_timestamp_tick_at_the_same_size_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git writes HEAD.lock and renames it over HEAD; two such writes gave the first inode
    back in 20 of 20 tries on ext4: a branch name of the same length in the same tick kept
    the key."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    head = root / ".git" / "HEAD"
    head.write_text("ref: refs/heads/feat/CAB-1\n")
    trees = Worktrees(root)
    assert trees.branches()[root] == "feat/CAB-1"
    generation = trees.generation
    frozen = os.stat(head)
    real = os.stat

    def stat_of(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == os.fspath(head):
            return frozen
        return real(path, *args, **kwargs)

    class _Os:  # worktrees' own os: every call but that stat as os makes it
        def __getattr__(self, name: str) -> Any:
            return stat_of if name == "stat" else getattr(os, name)

    monkeypatch.setattr(worktrees_module, "os", _Os())
    assert trees.branches()[root] == "feat/CAB-1"
    assert trees.generation == generation  # read again (racy), the same: no new generation
    fd = os.open(head, os.O_WRONLY | os.O_TRUNC)  # same inode, same size, same tick
    try:
        os.write(fd, b"ref: refs/heads/feat/CAB-2\n")
    finally:
        os.close(fd)
    assert trees.branches()[root] == "feat/CAB-2"
    assert trees.generation == generation + 1


def test_a_transcript_whose_read_failed_is_read_on_the_next_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.adapters import tail as tail_module
    from factory_tui.adapters.prices import default_price_table
    from factory_tui.adapters.transcripts import TranscriptReader
    from factory_tui.core.cost import CostLedger

    work = tmp_path / "repo"
    work.mkdir()
    project = tmp_path / "claude" / "projects" / "-repo"
    project.mkdir(parents=True)
    line = {
        "type": "assistant",
        "cwd": str(work),
        "timestamp": "2026-02-16T14:20:00Z",
        "requestId": "req_1",
        "message": {"id": "m1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1000}},
    }
    (project / "sess.jsonl").write_text(json.dumps(line) + "\n")
    reader = TranscriptReader(tmp_path / "claude", lambda: [str(work)])
    ledger = CostLedger(default_price_table())
    real = tail_module.open_regular

    def refused(path: Any) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(tail_module, "open_regular", refused)
    reader.refresh(ledger)
    assert len(ledger) == 0 and reader.stats.problems
    monkeypatch.setattr(tail_module, "open_regular", real)
    reader.refresh(ledger)
    assert len(ledger) == 1, "the transcript was never read again: its stat key was kept"


def test_a_claim_whose_read_failed_once_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(factory_claims, "RACY_NS", 0)  # a claim written long ago
    folder = tmp_path / "claims"
    folder.mkdir()
    path = folder / "CAB-1.json"
    path.write_text(json.dumps({"ticket": "CAB-1", "title": "one", "owner": None}))
    claims = ClaimFolder(folder, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=30))
    real = factory_claims.read_factory_file_stat

    def emfile(name: Path, limit: int) -> tuple[Problem, None]:
        return Problem(str(name), "cannot read: Too many open files"), None

    monkeypatch.setattr(factory_claims, "read_factory_file_stat", emfile)
    assert claims.refresh()
    assert claims.files() == [] and claims.problems()
    assert not claims.refresh()  # tried again, failed the same way: no change
    monkeypatch.setattr(factory_claims, "read_factory_file_stat", real)
    assert claims.refresh()
    assert [c.title for c in claims.files()] == ["one"], "the failed read was kept by its key"


def test_a_store_that_cannot_be_read_is_tried_again_later_not_at_every_refresh(
    tmp_path: Path, store_reads: list[tuple[Any, ...]]
) -> None:
    """As root each try moves the WAL's times (the watcher reports them): a store that fails
    is tried again at its next change, or a second later, never at once."""
    db = tmp_path / "state.db"
    db.write_bytes(b"not a database, " * 64)
    clock = _Clock()
    reader = StoreReader(db, now_ns=clock)
    reads = store_reads
    assert reader.refresh() and reader.error is not None
    assert not reader.refresh() and len(reads) == 1  # at once: not tried again
    clock.now += hegemon_store.RETRY_NS
    reader.refresh()
    assert len(reads) == 2
    db.write_bytes(b"still not a database")  # a change: tried at once
    reader.refresh()
    assert len(reads) == 3 and reader.error is not None


def test_a_same_tick_wal_commit_is_read_though_the_database_file_is_dated_ahead(
    tmp_path: Path,
) -> None:
    """state.db dated an hour ahead (the clock stepped back after a checkpoint): the WAL's
    same-tick commit was not read again until the clock reached that hour."""
    clock = _Clock()
    db, writer, reader = _store_with_a_session(tmp_path, clock)
    try:
        st = os.stat(db)
        os.utime(db, ns=(st.st_atime_ns, clock.now + 3600 * 10**9))
        reader.refresh()  # its stamp moved: read (the same rows)
        _same_tick_commit(db, writer, "UPDATE sessions SET step = 'testing'")
        clock.now += 2 * RACY_NS  # past the WAL's last commit by more than RACY_NS
        reader.refresh()
        assert reader.snapshot is not None
        assert [s.step for s in reader.snapshot.sessions] == ["testing"]
    finally:
        writer.close()
