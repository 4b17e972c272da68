"""The claim lock: exclusive even when a stale lock is broken, confined to its folder, and never
removing what it did not create; atomic writes keep the file's mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_cache_hostile import _returns
from test_fifo_files import _raised

from factory_tui.adapters.lock import (
    MARKER,
    LockBusy,
    LockUnsafe,
    _break_stale,
    atomic_write,
    claim_lock,
    keep_history,
    lock_path,
)
from factory_tui.config.regular_files import NotRegularFile


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


@pytest.mark.parametrize(
    "name", ["../trav.lock", "/tmp/x/victim.lock", "a/b.lock", "x\0.lock", "", ".."]
)
def test_a_lock_name_stays_in_its_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(LockUnsafe), claim_lock(tmp_path, name):
        pass
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "trav.lock").exists()


def test_lock_path_accepts_a_plain_name(tmp_path: Path) -> None:
    assert lock_path(tmp_path, "CAB-1290-phase-2.lock") == tmp_path / "CAB-1290-phase-2.lock"
    assert lock_path(tmp_path, ".recover-a..b.lock") == tmp_path / ".recover-a..b.lock"


def test_a_regular_file_named_like_the_lock_is_refused_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "X.lock").write_text("junk")
    _age(tmp_path / "X.lock", 3600)
    started = time.monotonic()
    with pytest.raises(LockUnsafe, match="not a directory"), claim_lock(tmp_path, "X.lock"):
        pass
    assert time.monotonic() - started < 1
    assert (tmp_path / "X.lock").read_text() == "junk"


def test_a_symlink_named_like_the_lock_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "X.lock").symlink_to(target)
    with pytest.raises(LockUnsafe, match="symlink"), claim_lock(tmp_path, "X.lock"):
        pass
    assert target.is_dir()


def test_our_lock_holds_a_marker_and_goes_away(tmp_path: Path) -> None:
    with claim_lock(tmp_path, "X.lock") as lock:
        assert f"pid={os.getpid()} " in (lock / MARKER).read_text()
    assert list(tmp_path.iterdir()) == []


def test_a_fresh_lock_of_an_agent_is_busy_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "X.lock").mkdir()
    with pytest.raises(LockBusy), claim_lock(tmp_path, "X.lock", sleep=lambda s: None):
        pass
    assert (tmp_path / "X.lock").is_dir()


def test_a_lock_that_is_no_longer_ours_is_not_removed(tmp_path: Path) -> None:
    """Held past the stale age, our lock was broken and someone else made a new one: leaving
    the block must not remove theirs."""
    with claim_lock(tmp_path, "X.lock") as lock:
        (lock / MARKER).unlink()
        lock.rmdir()
        lock.mkdir()  # an agent's lock now
    assert (tmp_path / "X.lock").is_dir()


def test_a_stale_lock_is_broken_without_deleting_unknown_contents(tmp_path: Path) -> None:
    lock = tmp_path / "X.lock"
    lock.mkdir()
    (lock / "notes.txt").write_text("not ours")
    _age(lock, 3600)
    with claim_lock(tmp_path, "X.lock") as held:
        assert (held / MARKER).exists()
    (kept,) = [p for p in tmp_path.iterdir()]
    assert kept.name.startswith(".X.lock.broken.")
    assert (kept / "notes.txt").read_text() == "not ours"


def test_a_stale_agent_lock_is_broken_and_cleaned(tmp_path: Path) -> None:
    (tmp_path / "X.lock").mkdir()
    _age(tmp_path / "X.lock", 3600)
    with claim_lock(tmp_path, "X.lock"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_second_breaker_cannot_break_the_fresh_lock(tmp_path: Path) -> None:
    """A and B both judged the same stale lock; A broke it and holds a fresh one: B's break of
    what it saw must fail and leave A's lock in place."""
    lock = tmp_path / "X.lock"
    lock.mkdir()
    _age(lock, 3600)
    seen_by_b = os.lstat(lock)
    with claim_lock(tmp_path, "X.lock") as held:  # A breaks and holds
        assert not _break_stale(lock, seen_by_b, 30.0, time.time())
        assert (held / MARKER).exists()


def test_a_breaker_killed_mid_break_does_not_block_forever(tmp_path: Path) -> None:
    lock = tmp_path / "X.lock"
    lock.mkdir()
    (lock / "break-123").mkdir()  # what a breaker killed after winning leaves behind
    _age(lock, 3600)
    with claim_lock(tmp_path, "X.lock") as held:
        assert (held / MARKER).exists()


_CONTENDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from factory_tui.adapters.lock import claim_lock

    folder, holders, rounds, die = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sys.stdin.read(1)  # the parent's "go"
    most = 0
    for n in range(rounds):
        with claim_lock(folder, "X.lock", retries=100_000, delay_s=0.002, stale_after_s=0.3):
            me = holders / f"{os.getpid()}-{n}"
            os.close(os.open(me, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            most = max(most, len(os.listdir(holders)))
            time.sleep(0.001)  # simulated work
            os.unlink(me)
            if die == "die":
                print(most, flush=True)
                os._exit(0)  # dies holding the lock: it stays behind until broken
    print(most, flush=True)
    """
)


def _taken_away(lock: Path, *, after: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once, right ``after`` our ``mkdir`` of ``lock`` (or our marker's write), we stall past
    the stale age: a breaker moves our lock away and another writer takes the lock (what a
    loaded machine did to the stress test below, in a CI run)."""
    import factory_tui.adapters.lock as lock_module

    done: list[bool] = []
    real = getattr(os, after)

    def then_lose_it(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        if not done and lock.is_dir():
            done.append(True)
            os.rename(lock, lock.with_name(f".{lock.name}.broken.t"))
            os.mkdir(lock)
            (lock / MARKER).write_text("pid=1 host=elsewhere token=theirs\n")
        return result

    monkeypatch.setattr(lock_module.os, after, then_lose_it)


@pytest.mark.parametrize("after", ["mkdir", "write"])
def test_a_lock_taken_away_while_we_made_it_is_not_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    """Our lock broken as stale and taken by another between our ``mkdir`` and our marker, or
    as we wrote it: the lock is theirs. We wait, and neither hold it nor touch it (its
    marker was written over ours and raised, or we removed their marker and directory: two
    holders)."""
    lock = tmp_path / "X.lock"
    _taken_away(lock, after=after, monkeypatch=monkeypatch)
    with pytest.raises(LockBusy), claim_lock(tmp_path, "X.lock", retries=0, sleep=lambda _: None):
        pass
    assert (lock / MARKER).read_text() == "pid=1 host=elsewhere token=theirs\n"
    assert sorted(os.listdir(lock)) == [MARKER]


@pytest.mark.stress
def test_the_lock_is_exclusive_while_stale_locks_are_broken(tmp_path: Path) -> None:
    """Six contenders take the lock again and again while four others die holding it (their
    locks turn stale after 0.3 s and are broken by whoever sees it first, often several at
    once). Inside the lock each holder counts the holders: never more than one. (A few seconds:
    a stress test.)"""
    folder = tmp_path / "claims"
    holders = tmp_path / "holders"
    folder.mkdir()
    holders.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, str(folder), str(holders), rounds, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rounds, mode in [("40", "live")] * 6 + [("1", "die")] * 4
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("g")
        proc.stdin.close()
    maxima = []
    for proc in procs:
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert proc.wait(timeout=120) == 0
        maxima.append(int(out))
    assert maxima == [1] * len(procs)
    assert os.listdir(holders) == []


def test_atomic_write_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "CAB-1.json"
    path.write_text("{}")
    path.chmod(0o664)
    atomic_write(path, b'{"a": 1}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    kept = keep_history(path, tmp_path / ".history", limit=100)
    assert kept is not None and stat.S_IMODE(kept.stat().st_mode) == 0o664
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write(link, b"[1]")
    assert link.is_symlink() and real.read_text() == "[1]"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_keep_history_copies_only_a_regular_file_within_its_limit(tmp_path: Path) -> None:
    """A claim file is copied before it is replaced: a FIFO there was waited on for a writer, a
    link to /dev/zero read for ever."""
    history = tmp_path / ".history"
    fifo = tmp_path / "CAB-1.json"
    os.mkfifo(fifo)
    error = _returns(lambda: _raised(lambda: keep_history(fifo, history, limit=100)), fifo)
    assert isinstance(error, NotRegularFile)
    (tmp_path / "CAB-2.json").symlink_to("/dev/zero")
    with pytest.raises(NotRegularFile):
        keep_history(tmp_path / "CAB-2.json", history, limit=100)
    big = tmp_path / "CAB-3.json"
    big.write_bytes(b"x" * 101)
    with pytest.raises(OSError, match="bigger than 100 bytes"):
        keep_history(big, history, limit=100)
    assert not history.exists()
    assert keep_history(tmp_path / "CAB-4.json", history, limit=100) is None
