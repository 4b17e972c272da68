"""The protocol's claim lock, atomic writes and append-only log lines (FORMATS.md).

1. ``mkdir <claims>/<ID>-phase-<N>.lock`` (standalone: ``<ID>.lock``): one caller wins.
2. The winner rewrites the claim file, then removes the lock directory (always, even on error).
3. The winner re-reads the claim file and checks its own change is there.
4. A caller whose mkdir fails retries 3 times, 200 ms apart. A lock directory older than 30 s is
   stale (its holder died mid-write): it may be removed and the claim retried.

factory-tui's own rules on top (README "Safety"):

- A lock name is one plain name inside the given folder (no ``/``, no ``..``, no NUL).
- A lock factory-tui creates holds a marker file, ``owner`` (pid, host, a random token). It is
  removed only when that marker is still ours: unlink the marker, then ``rmdir``. Nothing is ever
  removed recursively, and a lock we did not create is never removed, only broken when stale.
- Breaking a stale lock is exclusive, see :func:`_break_stale`.
- Something at the lock's path that is not a directory (a file, a symlink) is refused
  (:class:`LockUnsafe`), never waited on forever.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from factory_tui.config.regular_files import OPEN_FLAGS, NotRegularFile, open_regular, read_at_most

__all__ = [
    "MARKER",
    "LockBusy",
    "LockUnsafe",
    "append_line",
    "atomic_write",
    "break_stale_lock",
    "claim_lock",
    "claim_locks",
    "keep_history",
    "lock_path",
    "temp_name_matches",
]

MARKER = "owner"
"""The file factory-tui writes inside a lock directory it created."""

_BREAK_PREFIX = "break-"
_APPEND_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
"""Open a log to append, never waiting for a FIFO's reader nor taking a terminal."""


class LockBusy(Exception):
    """Someone else holds the claim's lock and it is not stale."""

    def __init__(self, lock: Path, age_s: float) -> None:
        super().__init__(
            f"{lock.name} is held (for {age_s:.0f}s): "
            "an agent is writing this claim right now — try again"
        )
        self.lock = lock
        self.age_s = age_s


class LockUnsafe(Exception):
    """The lock cannot be taken safely: a bad name, or something other than a directory at its
    path. Waiting would not help; a human has to look."""


def lock_path(folder: Path, name: str) -> Path:
    """``folder/name``, checked to be directly inside ``folder``: a lock name built from a file's
    contents must never reach outside the claims folder."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise LockUnsafe(f"refusing the lock name {name!r}: it must be one plain name in {folder}")
    path = folder / name
    if path.parent != folder:
        raise LockUnsafe(f"refusing the lock name {name!r}: it is not directly inside {folder}")
    return path


def _marker_text(token: str) -> bytes:
    return f"pid={os.getpid()} host={socket.gethostname()} token={token}\n".encode()


def _create(lock: Path, token: str) -> bool:
    """``mkdir`` the lock and write our marker in it. False when it exists already, or when
    what we made is not the lock by the time our marker is in it.

    Between our ``mkdir`` and our marker, or while we write it, this process may stall past
    the stale age (a loaded machine): a breaker moves our lock away and another writer takes
    the path. So the marker is created in the directory we opened (never by its path again),
    exclusively (a marker there already: theirs, not ours to touch), and the lock is ours only
    if that directory is still the one at the path once the marker is written; else only our
    own marker is taken back, in the directory it is in."""
    try:
        os.mkdir(lock)
    except FileExistsError:
        return False
    try:
        folder = os.open(lock, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False  # already broken and gone: look again
    try:
        try:
            fd = os.open(
                MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder
            )
        except FileExistsError:
            return False  # the directory we opened is another writer's lock
        try:
            try:
                os.write(fd, _marker_text(token))
            finally:
                os.close(fd)
            if _same_inode(os.fstat(folder), lock):
                return True
        except BaseException:
            _take_back(lock, folder)
            raise
        _take_back(lock, folder)
        return False
    finally:
        os.close(folder)


def _same_inode(st: os.stat_result, path: Path) -> bool:
    try:
        at = os.lstat(path)
    except OSError:
        return False
    return (at.st_dev, at.st_ino) == (st.st_dev, st.st_ino)


def _take_back(lock: Path, folder: int) -> None:
    """Our marker removed from the directory ``folder`` (whose marker is ours: created
    exclusively), and the directory too while it is still the one at the lock's path: no
    marker, no way to tell it is ours later."""
    with contextlib.suppress(OSError):
        os.unlink(MARKER, dir_fd=folder)
    if _same_inode(os.fstat(folder), lock):
        with contextlib.suppress(OSError):
            os.rmdir(lock)


def _is_ours(lock: Path, token: str) -> bool:
    try:
        fd = os.open(lock / MARKER, OPEN_FLAGS | os.O_NOFOLLOW)  # a FIFO is not waited on
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return f"token={token}\n".encode() in os.read(fd, 4096)
    finally:
        os.close(fd)


def _remove_ours(lock: Path, token: str) -> None:
    """Remove the lock only if the marker inside is ours: unlink the marker, ``rmdir``. A lock
    that was broken meanwhile (held past the stale age) is someone else's now: left alone."""
    if not _is_ours(lock, token):
        return
    with contextlib.suppress(OSError):
        os.unlink(lock / MARKER)
    with contextlib.suppress(OSError):
        os.rmdir(lock)


def _break_stale(lock: Path, seen: os.stat_result, stale_after_s: float, now: float) -> bool:
    """Break the stale lock directory ``seen`` (the lstat the caller judged). True when this
    caller broke it (and may retry ``mkdir``); False when someone else is doing or did it.

    Why not ``rmdir`` / rename after a stat: two breakers A and B both see the stale lock L. A
    removes it and creates a fresh L'; B, acting on what it saw, removes L' — two holders. So the
    right to break is decided *inside the stale directory itself*:

    1. open L (``O_DIRECTORY | O_NOFOLLOW``): the fd is one inode for sure; check it is the inode
       judged stale and that it is still stale (``fstat``);
    2. ``mkdir break-<mtime_ns>`` inside it through the fd: atomic, only one breaker of this
       inode at this mtime wins. From then on L cannot be removed by anyone following the
       protocol (``rmdir`` fails on a non-empty directory, our release checks its marker) nor
       broken again (the other breakers lose step 2), so the path L still names this inode;
    3. rename L to a unique hidden name ``.<name>.broken.<token>`` (the claims scanner ignores
       dotfiles) and check the renamed inode is the one we won; then clean it: only our
       ``break-`` entry and a factory-tui marker are removed, then ``rmdir``; if anything else is
       in it, it stays (harmless).

    A breaker killed between 2 and 3 leaves ``break-<M>`` inside L; step 2 changed L's mtime, so L
    turns stale again later with a new mtime, and the next breaker wins ``break-<M'>``.
    """
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False  # gone (released or broken) or replaced by a non-directory: look again
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino, st.st_mtime_ns) != (seen.st_dev, seen.st_ino, seen.st_mtime_ns):
            return False  # not the directory we judged any more
        if now - st.st_mtime <= stale_after_s:
            return False
        claim = f"{_BREAK_PREFIX}{st.st_mtime_ns}"
        try:
            os.mkdir(claim, dir_fd=fd)
        except OSError:
            return False  # another breaker won this one (or we may not write in it)
        token = secrets.token_hex(6)
        broken = lock.with_name(f".{lock.name}.broken.{token}")
        try:
            os.rename(lock, broken)
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(claim, dir_fd=fd)
            return False
        if not _same_inode(st, broken):
            # Cannot happen while everyone follows the protocol (see 2.); put it back and let
            # the caller look again rather than hold a lock someone else holds.
            with contextlib.suppress(OSError):
                os.rename(broken, lock)
            return False
        with contextlib.suppress(OSError):
            os.rmdir(claim, dir_fd=fd)
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(broken / MARKER).st_mode):
                os.unlink(broken / MARKER)
        with contextlib.suppress(OSError):
            os.rmdir(broken)
        return True
    finally:
        os.close(fd)


def break_stale_lock(
    claims_dir: Path,
    lock_name: str,
    *,
    stale_after_s: float,
    clock: Callable[[], float] = time.time,
) -> float:
    """Break the stale lock ``claims_dir/lock_name`` as :func:`claim_lock` would (one breaker
    only, nothing removed recursively) and return its age in seconds. Raises :class:`LockBusy`
    while it is fresh (a writer is at work), :class:`LockUnsafe` for a bad name or something
    that is not a directory, ``FileNotFoundError`` when there is no such lock."""
    lock = lock_path(claims_dir, lock_name)
    seen = os.lstat(lock)
    if not stat.S_ISDIR(seen.st_mode):
        raise LockUnsafe(f"{lock} is not a directory: not a claim lock; look at it by hand")
    now = clock()
    age = now - seen.st_mtime
    if age <= stale_after_s or not _break_stale(lock, seen, stale_after_s, now):
        raise LockBusy(lock, age)
    return age


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
    """Hold ``claims_dir/lock_name`` for the block; removed afterwards if it is still ours.

    Raises :class:`LockBusy` after the retries, :class:`LockUnsafe` for a bad name or a
    non-directory at the lock's path."""
    lock = lock_path(claims_dir, lock_name)
    token = secrets.token_hex(8)
    attempt = 0
    while not _create(lock, token):
        try:
            seen = os.lstat(lock)
        except FileNotFoundError:
            continue  # released between our mkdir and lstat: try again at once
        if not stat.S_ISDIR(seen.st_mode):
            kind = "a symlink" if stat.S_ISLNK(seen.st_mode) else "a file, not a directory"
            raise LockUnsafe(
                f"{lock} is {kind}: a claim lock is a directory; "
                "look at it and remove it by hand if it is junk"
            )
        now = clock()
        age = now - seen.st_mtime
        if age > stale_after_s and _break_stale(lock, seen, stale_after_s, now):
            continue
        if attempt >= retries:
            raise LockBusy(lock, age)
        attempt += 1
        sleep(delay_s)
    try:
        yield lock
    finally:
        _remove_ours(lock, token)


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


def temp_name_matches(file_name: str, candidate: str) -> bool:
    """``candidate`` is one of :func:`atomic_write`'s temp files for ``file_name``."""
    prefix = f".{file_name}."
    return (
        candidate.startswith(prefix)
        and candidate.endswith(".tmp")
        and len(candidate) > len(prefix) + len(".tmp")
    )


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to a temp file ``.<name>.<random>.tmp`` in the same folder, fsync, then
    ``os.replace``: never a partial file, whoever reads at whatever moment.

    An existing file keeps its mode, and its owner and group where we may set them. A symlink
    is written through: its target is replaced, the link stays (callers that must not follow a
    link check it first). A new file gets ``mode`` (default 0o666 less the umask)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        try:
            if old is not None:
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, old.st_uid, old.st_gid)
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
            elif mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def keep_history(
    path: Path, history_dir: Path, *, limit: int, now: datetime | None = None
) -> Path | None:
    """Copy ``path``'s current content into ``history_dir`` before it is replaced (never deleted
    by us), with the file's mode. Returns the copy, or ``None`` when there was no file. Anything
    but a regular file there (a FIFO is never waited on), or one longer than ``limit`` bytes,
    raises ``OSError``: nothing is copied."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)  # the file read's, not the path's by then
        data = read_at_most(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"bigger than {limit:,} bytes", str(path))
    history_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y-%m-%dT%H-%M-%S.%f")
    target = history_dir / f"{path.stem}.{stamp}{path.suffix}"
    counter = 1
    while target.exists():
        target = history_dir / f"{path.stem}.{stamp}-{counter}{path.suffix}"
        counter += 1
    atomic_write(target, data, mode=mode)
    return target


def append_line(path: Path, line: str) -> None:
    """Append one line to an append-only log in a single ``write`` (O_APPEND), so concurrent
    writers never interleave within a line. A short write (a full disk) raises ``OSError``, and
    anything but a regular file at the path :class:`NotRegularFile` (a FIFO is never waited on
    for a reader; a link to ``/dev/null`` would lose the line)."""
    data = (line.rstrip("\r\n") + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, _APPEND_FLAGS, 0o644)
    except OSError as error:
        if error.errno != errno.ENXIO:  # what a FIFO without a reader answers
            raise
        raise NotRegularFile(errno.EINVAL, "not a regular file", str(path)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        written = os.write(fd, data)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes were appended", str(path))
