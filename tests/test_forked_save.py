"""The cockpit's fold cache is saved by a forked child (adapters/forked.py): the cockpit goes on
meanwhile, the cache holds the fold as it was when forked (and starts warm as a cold read
answers), a child that fails or hangs saves nothing and costs the cockpit nothing, and two
saves of one file never cross."""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_foldcache import assert_same, make_factory, starts_warm_as_cold
from test_foldcache import reader as read_factory

from factory_tui.adapters import forked
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.forked import Forked
from factory_tui.config import Config

pytestmark = pytest.mark.skipif(not forked.fork_allowed(), reason="forked saves: Linux only")


def _factory(root: Path, *, history: bool = True) -> Config:
    config = make_factory(root)
    if history:
        config.log_history_file.write_bytes(
            b"2026-02-12T09:00 | SESSION-START | task=h branch=b-h instance=i0\n"
        )
    _append(config, 0, 400)
    return config


def _append(config: Config, first: int, count: int) -> None:
    with config.log_file.open("ab") as f:
        for n in range(first, first + count):
            task = f"T-{n % 7}"
            if n % 5 == 0:
                line = f"SESSION-START | task={task} branch=b-{task} instance=i{n % 3}"
            elif n % 5 == 4:
                line = f"SESSION-END | task={task} status=success"
            else:
                line = f"STEP-DONE | step=s{n} task={task}"
            f.write(f"2026-02-12T{10 + n // 60 % 5:02d}:{n % 60:02d} | {line}\n".encode())


def _cockpit_reader(config: Config, cache: FoldCache) -> FactoryReader:
    found = FactoryReader(config, hostname="h", fold_cache=cache)
    found.logs.save_in_child = True
    return found


def _saves_noted(monkeypatch: pytest.MonkeyPatch, notes: Path) -> None:
    """Each :meth:`FoldCache.save` notes the pid of the process that makes it in ``notes``."""
    save = FoldCache.save

    def noting(self: FoldCache, *args: Any, **kw: Any) -> bool:
        with notes.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return save(self, *args, **kw)

    monkeypatch.setattr(FoldCache, "save", noting)


def _noted_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, FoldCache]:
    """A factory, a cache that saves it, and each save's pid noted in ``tmp_path/savers``."""
    _saves_noted(monkeypatch, tmp_path / "savers")
    return _factory(tmp_path / "factory"), FoldCache(tmp_path / "cache", min_log_bytes=0)


def test_the_cockpits_saves_are_made_by_a_forked_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = _noted_factory(tmp_path, monkeypatch)
    notes = tmp_path / "savers"
    cockpit = _cockpit_reader(config, cache)
    assert cockpit.refresh_log()
    assert cockpit.logs.wait_saves()
    savers = notes.read_text().split()
    assert savers and str(os.getpid()) not in savers
    starts_warm_as_cold(config, cache)


def test_the_cache_holds_the_fold_as_it_was_when_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child saves while this process folds on (its open sessions end, new ones start):
    the cache is the fold of the log as far as it was read then, and a start from it reads
    the rest and answers as a cold read."""
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0, resave_bytes=1 << 30)
    go, hold = os.pipe()
    save = FoldCache.save

    def held_save(self: FoldCache, *args: Any, **kw: Any) -> bool:
        os.close(hold)
        os.read(go, 1)  # in the child: until the parent has folded on (or closed the pipe)
        return save(self, *args, **kw)

    monkeypatch.setattr(FoldCache, "save", held_save)
    cockpit = _cockpit_reader(config, cache)
    cockpit.refresh_log()
    saved_at = config.log_file.stat().st_size
    _append(config, 400, 300)
    assert cockpit.refresh_log()  # folded on; no save due (resave_bytes)
    os.close(go)
    os.write(hold, b"x")
    os.close(hold)
    assert cockpit.logs.wait_saves(30)
    warm = starts_warm_as_cold(config, cache)
    assert warm.logs._saved_offset == saved_at
    assert_same(cockpit, read_factory(config, None))


def test_a_child_that_fails_saves_nothing_and_the_cockpit_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)

    def failing(self: FoldCache, *args: Any, **kw: Any) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FoldCache, "save", failing)
    cockpit = _cockpit_reader(config, cache)
    cockpit.refresh_log()
    children = list(cockpit.logs._saving.values())
    assert children and not cockpit.logs.wait_saves(30)
    assert not cache.path_for(config.log_file).exists()
    for child in children:  # reaped: no zombie left
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)
    assert_same(cockpit, read_factory(config, None))


def test_a_child_that_hangs_is_ended() -> None:
    child = Forked.start(lambda: time.sleep(60) or True, seconds=1)
    assert child is not None
    assert not child.wait(30)
    assert child.status == -signal.SIGALRM


def test_a_child_ends_on_sigterm_whatever_the_parent_does_with_it(tmp_path: Path) -> None:
    """The parent's handlers are not the child's (the cockpit's would run in a copy of it)."""
    ready, say_ready = os.pipe()
    temp = tmp_path / ".fold-x.json.1234.tmp"

    def work() -> bool:
        temp.write_bytes(b"half a cache")
        try:
            os.write(say_ready, b"r")  # its handlers are set by now
            # Work runs Python code, where a handler runs at the next check. One long sleep
            # would lose a signal landing between the last check and the sleep's syscall (the
            # child then slept its 60 s: seen once in CI).
            for _ in range(1200):
                time.sleep(0.05)
        finally:
            temp.unlink()  # its work's cleanup runs (a cache's temp file is removed)
        return True

    previous = signal.signal(signal.SIGTERM, lambda *_a: None)
    try:
        child = Forked.start(work)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert child is not None
    os.close(say_ready)
    assert os.read(ready, 1) == b"r"
    os.close(ready)
    os.kill(child.pid, signal.SIGTERM)
    assert not child.wait(30)
    assert child.status == 1 and not temp.exists()


def test_no_save_starts_while_the_last_child_saving_the_same_file_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older fold, saved by a slower child, must never replace a newer one; nor may the
    reading thread wait on a child (a stuck one would stop the cockpit's reads for its ten
    minutes): the save due meanwhile is not started, the next one due is."""
    config = _factory(tmp_path / "factory", history=False)  # the log's saves only
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0, resave_bytes=1)
    start = Forked.start.__func__  # type: ignore[attr-defined]
    started: list[Forked] = []
    running_then: list[bool] = []

    def noting_start(cls: type[Forked], work: Any, **kw: Any) -> Forked | None:
        running_then.append(any(child.running for child in started))
        found = start(cls, work, **kw)
        assert found is not None
        started.append(found)
        return found

    monkeypatch.setattr(Forked, "start", classmethod(noting_start))
    go, hold = os.pipe()
    save = FoldCache.save

    def first_held(self: FoldCache, *args: Any, **kw: Any) -> bool:
        if len(started) == 0:  # in the first child (forked before it was noted)
            os.close(hold)
            # Until the parent has read on (a bound: a parent that waited on this child would
            # otherwise wait for ever, not fail). poll, not select: a long test process's
            # descriptors go past select's 1,024.
            waiting = select.poll()
            waiting.register(go, select.POLLIN)
            waiting.poll(10_000)
        return save(self, *args, **kw)

    monkeypatch.setattr(FoldCache, "save", first_held)
    cockpit = _cockpit_reader(config, cache)
    cockpit.refresh_log()
    _append(config, 400, 50)
    assert cockpit.refresh_log()  # read on at once, its save due but not started
    assert len(started) == 1 and started[0].running
    os.close(go)
    os.write(hold, b"x")
    os.close(hold)
    assert started[0].wait(30), started[0].status
    _append(config, 450, 10)
    cockpit.refresh_log()  # the next save due: started
    assert cockpit.logs.wait_saves(30)
    assert len(started) == 2 and running_then == [False, False]
    warm = read_factory(config, cache)
    assert warm.logs._saved_offset == config.log_file.stat().st_size  # the newer one


def test_where_a_fork_is_not_allowed_the_save_is_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = _noted_factory(tmp_path, monkeypatch)
    notes = tmp_path / "savers"
    monkeypatch.setattr(forked, "fork_allowed", lambda: False)
    cockpit = _cockpit_reader(config, cache)
    cockpit.refresh_log()
    assert set(notes.read_text().split()) == {str(os.getpid())}  # the rotated log's, the log's
    assert cache.path_for(config.log_file).exists()


def test_a_save_removes_the_temp_files_of_saves_killed_long_ago(tmp_path: Path) -> None:
    """A save killed mid-write (a forked one, say, ended by the alarm or a hang-up; a cockpit
    killed while it kept its JSON or its log index) left its temp file beside the cache (150 MB
    at 10x): the next save removes it once an hour old, not a fresh one (another process's save
    in progress), nor anything else."""
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    cache.folder.mkdir(parents=True)
    old = cache.folder / ".fold-0123456789abcdef01234567.json.89abcdef.tmp"
    fresh = cache.folder / ".fold-0123456789abcdef01234567.json.01234567.tmp"
    other = cache.folder / ".notes.tmp"
    old_index = cache.folder / ".index-0123456789abcdef01234567.bin.89abcdef.tmp"
    old_files = cache.folder / ".files-0123456789abcdef01234567.marshal.89abcdef.tmp"
    for path in (old, fresh, other, old_index, old_files):
        path.write_bytes(b"half a cache")
    hours_ago = time.time() - 2 * 3600
    for path in (old, other, old_index, old_files):
        os.utime(path, (hours_ago, hours_ago))
    read_factory(config, cache)  # a cold read that saves
    assert cache.path_for(config.log_file).exists()
    assert not old.exists() and fresh.exists() and other.exists()
    assert not old_index.exists() and not old_files.exists()  # the other caches' too


def test_a_child_forked_from_a_worker_thread_does_its_work(tmp_path: Path) -> None:
    """The cockpit's saves fork from its reading thread, not the main one (the child's signal
    handlers can be set all the same: the forking thread is the child's main thread)."""
    done = tmp_path / "done"
    found: list[Forked | None] = []

    def fork_here() -> None:
        found.append(Forked.start(lambda: done.write_text("yes") == 3))

    thread = threading.Thread(target=fork_here)
    thread.start()
    thread.join(30)
    child = found[0]
    assert child is not None and child.wait(30)
    assert done.read_text() == "yes"
