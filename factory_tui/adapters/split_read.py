"""A long log's cold read on two cores: a child process folds the tail of one of its files
(:mod:`factory_tui.adapters.fold_child`) while this one folds what comes before; the tail's fold
is then merged in (:func:`factory_tui.core.fold_split.merge_tail`).

Which file: the rotated ``operations.log.1`` when it is the bigger one (the hooks rotate the log
at 500 lines: a real factory's history is there), the tail of it only (this process then folds
the log after the merge, and saves the rotated log's fold on its own as a cold read does);
else the log, this process folding the whole rotated log and the log's head. Where: so that
both end together (:func:`_split_point`).

The child reads descriptors opened here, before anything is read: whatever happens to the files'
names meanwhile, both processes read the same bytes. Whatever goes wrong on the child's side (it
cannot start, fails, answers what cannot be read, or its seed is refused) costs the parent the
tail's fold, never a wrong one: the caller then folds the tail itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from factory_tui.adapters.foldcache import FileIdentity, file_identity
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_split import SeedSessions

__all__ = ["MIN_SPLIT_BYTES", "SplitAnswer", "SplitRead", "split_allowed"]

MIN_SPLIT_BYTES = 32 << 20
"""A log this big at least is read on two cores (a smaller one is read in well under a second;
the child's start costs ~0.1 s)."""
SEED_COST = 0.19
"""The child's scan of the head for its session lines, in bytes folded per byte scanned."""
START_BYTES = 4 << 20
"""The child's start (an interpreter) and its answer, in bytes folded in the same time."""
CHILD_MODULE = "factory_tui.adapters.fold_child"
_WINDOW = 1 << 16


def split_allowed(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Off when ``FACTORY_TUI_SPLIT_FOLD`` says so (0, off, no, false), or when this process
    may run on one CPU only (the two parts would share it, and the seed and the merge cost
    more than one read)."""
    value = environ.get("FACTORY_TUI_SPLIT_FOLD", "").strip().lower()
    return value not in ("0", "off", "no", "false") and _cpus() >= 2


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@dataclass
class SplitAnswer:
    """The child's answer: the seed it folded from, the tail's fold, the line after it."""

    seed: SeedSessions
    fold: LogFold
    next_line: int


class SplitRead:
    """A child folding ``[split, end)`` of one file (the rotated log: ``in_history``; else the
    log) while the caller folds what comes before it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        fds: list[int],
        fd: int,
        in_history: bool,
        split: int,
        end: int,
        identity: FileIdentity,
    ) -> None:
        self.proc = proc
        self._fds = fds
        self.fd = fd
        self.in_history = in_history
        self.split = split
        self.end = end
        self.identity = identity

    @classmethod
    def start(
        cls, history: Path, log: Path, *, min_bytes: int | None = None, work_bytes: int = 0
    ) -> SplitRead | None:
        """A child started on a file's tail, or None when the files are too small to be worth
        it (:data:`MIN_SPLIT_BYTES`) or cannot be read so (the caller reads them on one core).
        ``work_bytes``: the caller's other work while the child folds, in bytes folded in the
        same time."""
        if min_bytes is None:
            min_bytes = MIN_SPLIT_BYTES
        fds: list[int] = []
        try:
            log_fd = _open(log, fds)
            log_end = _last_line_end(log_fd)
            history_fd = _open(history, fds) if history.exists() else None
            history_end = _last_line_end(history_fd) if history_fd is not None else 0
            if history_end + log_end < min_bytes:
                raise _NotWorthIt
            if history_fd is not None and history_end >= log_end:
                in_history, fd, end, name = True, history_fd, history_end, history.name
                at = _split_point(0, history_end, log_end + work_bytes)
                seed_parts: list[list[object]] = []
            else:
                in_history, fd, end, name = False, log_fd, log_end, log.name
                at = _split_point(history_end, log_end, work_bytes)
                seed_parts = [] if history_fd is None else [[history_fd, history_end, history.name]]
            split = _line_start_after(fd, at, end)
            if split <= 0 or end - split < min_bytes // 4:
                raise _NotWorthIt
            seed_parts.append([fd, split, name])
            job = {"seed": seed_parts, "tail": [fd, split, end, name], "parent": os.getpid()}
            identity = file_identity(fd, end)
            proc = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, json.dumps(job)],
                pass_fds=tuple(fds),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except (OSError, ValueError, _NotWorthIt):
            for fd in fds:
                os.close(fd)
            return None
        return cls(proc, fds, fd, in_history, split, end, identity)

    def answer(self, cancel: threading.Event | None) -> SplitAnswer | None:
        """Wait for the child's answer (None: it failed or said something else); a set
        ``cancel`` stops the wait (None)."""
        out = self._communicate(cancel)
        if out is None or self.proc.returncode != 0:
            return None
        try:
            seed, fold, next_line = pickle.loads(out)  # our own child's, through our pipe
        except Exception:  # anything unreadable is no answer
            return None
        if not (isinstance(fold, LogFold) and isinstance(seed, dict) and type(next_line) is int):
            return None
        return SplitAnswer(seed, fold, next_line)

    def _communicate(self, cancel: threading.Event | None) -> bytes | None:
        while True:
            try:
                out, _err = self.proc.communicate(timeout=0.25)
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    return None
                continue
            return out

    def same_file(self, fd: int) -> bool:
        """Whether ``fd`` (the file at its path now) is the one the child read, its first
        ``end`` bytes unchanged."""
        try:
            return file_identity(fd, self.end) == self.identity
        except OSError:
            return False

    def close(self) -> None:
        """Stop the child if it still runs; close the descriptors (once)."""
        if self.proc.returncode is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.communicate(timeout=5)
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


class _NotWorthIt(Exception):
    pass


def _open(path: Path, fds: list[int]) -> int:
    """A regular file opened to read (a FIFO is opened without waiting for a writer, then
    refused)."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    fds.append(fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise _NotWorthIt
    return fd


def _split_point(before: int, size: int, after: int) -> int:
    """Where in a file of ``size`` bytes the caller's head ends, the caller also folding
    ``before`` bytes before it and ``after`` (or the same time's work) after the child's
    answer, the child scanning all before the point (at :data:`SEED_COST`) and folding the
    rest: both then end together."""
    # before + x + after == SEED_COST * (before + x) + (size - x) + START_BYTES
    return int((size + START_BYTES - (1 - SEED_COST) * before - after) / (2 - SEED_COST))


def _last_line_end(fd: int) -> int:
    """Where the file's last complete line ends (0: none)."""
    size = os.fstat(fd).st_size
    pos = size
    while pos > 0:
        start = max(0, pos - _WINDOW)
        cut = os.pread(fd, pos - start, start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0


def _line_start_after(fd: int, at: int, end: int) -> int:
    """The first line start at or after ``at`` (before ``end``), or 0."""
    if at <= 0:
        return 0
    pos = at - 1
    while pos < end:
        data = os.pread(fd, min(_WINDOW, end - pos), pos)
        cut = data.find(b"\n")
        if cut >= 0:
            return pos + cut + 1 if pos + cut + 1 < end else 0
        pos += len(data)
    return 0
