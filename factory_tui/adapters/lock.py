"""The protocol's claim lock, atomic writes and append-only log lines (FORMATS.md).

1. ``mkdir <claims>/<ID>-phase-<N>.lock`` (standalone: ``<ID>.lock``): one caller wins.
2. The winner rewrites the claim file, then removes the lock directory (always, even on error).
3. The winner re-reads the claim file and checks its own change is there.
4. A caller whose mkdir fails retries 3 times, 200 ms apart. A lock directory older than 30 s is
   stale (its holder died mid-write): it may be removed and the claim retried.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

__all__ = ["LockBusy", "append_line", "atomic_write", "claim_lock", "keep_history"]


class LockBusy(Exception):
    """Someone else holds the claim's lock and it is not stale."""

    def __init__(self, lock: Path, age_s: float) -> None:
        super().__init__(
            f"{lock.name} is held (for {age_s:.0f}s): "
            "an agent is writing this claim right now — try again"
        )
        self.lock = lock
        self.age_s = age_s


@contextlib.contextmanager
def claim_lock(
    claims_dir: Path,
    lock_name: str,
    *,
    retries: int = 3,
    delay_s: float = 0.2,
    stale_after_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Iterator[Path]:
    """Hold ``claims_dir/lock_name`` for the block; always removed afterwards."""
    lock = claims_dir / lock_name
    attempt = 0
    while True:
        try:
            os.mkdir(lock)
            break
        except FileExistsError:
            try:
                age = clock() - lock.stat().st_mtime
            except FileNotFoundError:
                continue  # released between our mkdir and stat: try again at once
            if age > stale_after_s:
                shutil.rmtree(lock, ignore_errors=True)
                continue
            if attempt >= retries:
                raise LockBusy(lock, age) from None
            attempt += 1
            sleep(delay_s)
    try:
        yield lock
    finally:
        shutil.rmtree(lock, ignore_errors=True)


@contextlib.contextmanager
def claim_locks(
    claims_dir: Path,
    lock_names: Iterable[str],
    *,
    stale_after_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[Path]]:
    """Hold several claim locks (in sorted order, so two holders cannot wait on each other).

    factory-tui rewrites a MEGA file whole, so it takes the lock of every phase in it: an agent
    that holds one phase's lock is then never rewriting the same file at the same moment (its
    write would be lost, or ours). Agents take one lock each, as the protocol says."""
    with contextlib.ExitStack() as stack:
        held = [
            stack.enter_context(
                claim_lock(claims_dir, name, stale_after_s=stale_after_s, sleep=sleep)
            )
            for name in sorted(set(lock_names))
        ]
        yield held


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file in the same folder, fsync, then ``os.replace``: never a
    partial file, whoever reads at whatever moment."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def keep_history(path: Path, history_dir: Path, *, now: datetime | None = None) -> Path | None:
    """Copy ``path``'s current content into ``history_dir`` before it is replaced (never deleted
    by us). Returns the copy, or ``None`` when there was no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    history_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y-%m-%dT%H-%M-%S.%f")
    target = history_dir / f"{path.stem}.{stamp}{path.suffix}"
    counter = 1
    while target.exists():
        target = history_dir / f"{path.stem}.{stamp}-{counter}{path.suffix}"
        counter += 1
    atomic_write(target, data)
    return target


def append_line(path: Path, line: str) -> None:
    """Append one line to an append-only log in a single ``write`` (O_APPEND), so concurrent
    writers never interleave within a line."""
    data = (line.rstrip("\r\n") + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
