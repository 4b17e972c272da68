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

The child is a fork of this process where it can be (:mod:`factory_tui.adapters.forked`: Linux;
it starts folding at once, with nothing to import), else a new interpreter running
:mod:`factory_tui.adapters.fold_child` (~0.05 s to start). Either way a child that has not
answered long after this process folded its own part is stopped, and the tail folded here
(:data:`PATIENCE`): a fork of a process with threads could, however unlikely, be stuck on a
lock one of them held.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from factory_tui.adapters.fold_child import fold_tail
from factory_tui.adapters.foldcache import FileIdentity, file_identity
from factory_tui.adapters.forked import CHILD_SECONDS, Forked, fork_allowed, pipe_parts
from factory_tui.adapters.spill import SpillFile
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_split import SeedSessions

__all__ = ["MIN_SPLIT_BYTES", "SplitAnswer", "SplitRead", "split_allowed"]

MIN_SPLIT_BYTES = 32 << 20
"""A log this big at least is read on two cores (a smaller one is read in well under a second;
the child's start costs ~0.1 s)."""
SEED_COST = 0.18
"""The child's scan of the head for its session lines, in bytes folded per byte scanned."""
ANSWER_COST = 0.01
"""The child's answer, in bytes folded per byte of the tail: its pickling (0.24 s of the 10x
factory's 425 MB tail; written to its file as this process still folds, it is not this
process's wait) less this process's unpickling of it, after (0.1 s)."""
START_BYTES = 4 << 20
"""A new interpreter's start (and its imports), in bytes folded in the same time."""
FORK_START_BYTES = 3 << 20
"""A forked child's start (and what it shares with this process: page faults, a cold
cache), in bytes folded in the same time."""
CHILD_MODULE = "factory_tui.adapters.fold_child"
PATIENCE = (2.0, 10.0)
"""A child that has not answered ``a * t + b`` seconds after this process folded its own part
in ``t`` (the rotated log before the split file's head too: the two parts take about as long,
:func:`_split_point`) is stopped."""
_POLL_MS = 250
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
        child: Child,
        fds: list[int],
        fd: int,
        in_history: bool,
        split: int,
        end: int,
        identity: FileIdentity,
    ) -> None:
        self.child = child
        self._fds = fds
        self.fd = fd
        self.in_history = in_history
        self.split = split
        self.end = end
        self.identity = identity

    @classmethod
    def start(
        cls,
        history: Path,
        log: Path,
        *,
        min_bytes: int | None = None,
        work_bytes: int = 0,
        spool: Path | None = None,
    ) -> SplitRead | None:
        """A child started on a file's tail, or None when the files are too small to be worth
        it (:data:`MIN_SPLIT_BYTES`) or cannot be read so (the caller reads them on one core).
        ``work_bytes``: the caller's other work while the child folds, in bytes folded in the
        same time; ``spool``: where a forked child's spill file is made (see
        :class:`ForkedChild`)."""
        if min_bytes is None:
            min_bytes = MIN_SPLIT_BYTES
        forks = _forks()
        start_bytes = FORK_START_BYTES if forks else START_BYTES
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
                at = _split_point(0, history_end, log_end + work_bytes, start_bytes)
                seed_parts: list[list[object]] = []
            else:
                in_history, fd, end, name = False, log_fd, log_end, log.name
                at = _split_point(history_end, log_end, work_bytes, start_bytes)
                seed_parts = [] if history_fd is None else [[history_fd, history_end, history.name]]
            split = _line_start_after(fd, at, end)
            if split <= 0 or end - split < min_bytes // 4:
                raise _NotWorthIt
            seed_parts.append([fd, split, name])
            job = {"seed": seed_parts, "tail": [fd, split, end, name], "parent": os.getpid()}
            identity = file_identity(fd, end)
            reads = end if in_history else history_end + end  # its seed's and its tail's
            child: Child | None = ForkedChild.start(job, reads, spool) if forks else None
            if child is None:
                child = SpawnedChild.start(job, fds)
        except (OSError, ValueError, _NotWorthIt):
            for fd in fds:
                os.close(fd)
            return None
        return cls(child, fds, fd, in_history, split, end, identity)

    def answer(
        self, cancel: threading.Event | None, patience: float | None = None
    ) -> SplitAnswer | None:
        """Wait for the child's answer (None: it failed or said something else); a set
        ``cancel`` stops the wait (None), and so does ``patience`` seconds without an answer
        (the child is then stopped: None)."""
        deadline = None if patience is None else time.monotonic() + patience
        out = self.child.communicate(cancel, deadline)
        if out is None or self.child.returncode != 0:
            return None
        try:
            seed, fold, next_line = pickle.load(out)  # our own child's, from our file
        except Exception:  # anything unreadable is no answer
            return None
        if not (isinstance(fold, LogFold) and isinstance(seed, dict) and type(next_line) is int):
            return None
        return SplitAnswer(seed, fold, next_line)

    def same_file(self, fd: int) -> bool:
        """Whether ``fd`` (the file at its path now) is the one the child read, its first
        ``end`` bytes unchanged."""
        try:
            return file_identity(fd, self.end) == self.identity
        except OSError:
            return False

    def close(self) -> None:
        """Stop the child if it still runs; close the descriptors (once)."""
        self.child.stop()
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def patience(folded_in: float) -> float:
    """How long to wait for the child's answer once this process folded its part in
    ``folded_in`` seconds (:data:`PATIENCE`)."""
    factor, more = PATIENCE
    return factor * folded_in + more


def _forks() -> bool:
    """Whether the child is a fork of this process (else a new interpreter)."""
    return fork_allowed()


class Child(Protocol):
    """The child folding the tail, as :class:`SplitRead` waits for it and stops it."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None:
        """Its exit status once it ended (0: it answered), else None."""

    def communicate(
        self, cancel: threading.Event | None, deadline: float | None
    ) -> BinaryIO | None:
        """Its whole answer once it ended, as a file read from its start; None when
        ``cancel`` was set or the ``deadline`` (:func:`time.monotonic`) passed first (it is
        then stopped)."""

    def stop(self) -> None:
        """Kill it if it still runs, and wait for it (once)."""


class SpawnedChild:
    """A new interpreter running :mod:`factory_tui.adapters.fold_child` on the job."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    @classmethod
    def start(cls, job: dict[str, object], fds: list[int]) -> SpawnedChild:
        return cls(
            subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, json.dumps(job)],
                pass_fds=tuple(fds),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def communicate(
        self, cancel: threading.Event | None, deadline: float | None
    ) -> BinaryIO | None:
        while True:
            try:
                out, _err = self.proc.communicate(timeout=_POLL_MS / 1000)
            except subprocess.TimeoutExpired:
                if _given_up(cancel, deadline):
                    self.stop()
                    return None
                continue
            return io.BytesIO(out)

    def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.proc.communicate(timeout=5)


class ForkedChild:
    """A fork of this process folding the tail (:func:`fold_tail`) into a spill file this
    process made (:class:`~factory_tui.adapters.spill.SpillFile`): the sessions it packs are
    written there as it goes, then its answer's pickle after them; through a pipe it says where
    the answer is once it is whole. It writes while this process still folds, at the file's
    pace (a pipe nobody read until this process had folded its part held the child's end: 0.4 s
    at 10x), and this process never holds the answer as bytes (read from a pipe, the 10x
    factory's 26 MB answer was held here beside the child's memory, then twice, joined). The
    answer's packed sessions stay in the file, which this process keeps while its fold refers
    to them."""

    def __init__(self, forked: Forked, read_fd: int, answer: SpillFile) -> None:
        self.forked = forked
        self.pid = forked.pid
        self._read_fd = read_fd
        self._answer: SpillFile | None = answer
        self._parts: list[bytes] = []
        self._failed = False
        self._reader = threading.Thread(target=self._read, name=f"answer {self.pid}", daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls, job: dict[str, object], read_bytes: int, spool: Path | None = None
    ) -> ForkedChild | None:
        """The child forked, or None when it cannot be (a new interpreter then).
        ``read_bytes``: what it reads (its alarm is a second a megabyte, at least
        :data:`~factory_tui.adapters.forked.CHILD_SECONDS`: a fold 30 times slower than this
        machine's still ends). ``spool``: the folder of its spill file (see
        :func:`~factory_tui.adapters.spill.unlinked_file`)."""
        answer = SpillFile.made(spool)
        if answer is None:
            return None
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        kept: list[object] = []

        def work() -> bool:  # pragma: no cover - in the child
            os.close(read_fd)
            # Held until the process ends: freed object by object when pickled, it held the
            # child's exit (0.15 s at 10x) while this process waited for it.
            kept.append(fold_tail(job, answer))
            file, start = answer.file, answer.end
            assert file is not None  # made by SpillFile.made
            file.seek(start)
            pickle.dump(kept[0], file, protocol=pickle.HIGHEST_PROTOCOL)  # never held twice
            file.flush()
            with open(write_fd, "wb") as out:
                out.write(_WHERE.pack(start, file.tell() - start))
            return True

        try:
            forked = Forked.start(work, seconds=max(CHILD_SECONDS, read_bytes >> 20))
        finally:
            os.close(write_fd)  # this process's copy: the child's end is its alone
        if forked is None:
            os.close(read_fd)
            return None
        try:
            return cls(forked, read_fd, answer)
        except RuntimeError:  # no thread to wait for its answer: a new interpreter instead
            forked.kill()
            os.close(read_fd)
            return None

    @property
    def returncode(self) -> int | None:
        return None if self.forked.running else self.forked.status

    def _read(self) -> None:
        """On the reader thread: the child's word that its answer is whole (where it is), as
        :func:`pipe_parts` reads it."""
        try:
            said = pipe_parts(self._read_fd, self.forked, poll_ms=_POLL_MS, read_bytes=64)
            self._parts.extend(said)
        except OSError:
            self._failed = True  # unreadable: no word of a whole answer
            self._parts.clear()

    def communicate(
        self, cancel: threading.Event | None, deadline: float | None
    ) -> BinaryIO | None:
        while self._reader.is_alive():
            self._reader.join(_POLL_MS / 1000)
            if self._reader.is_alive() and _given_up(cancel, deadline):
                self.stop()
                return None
        if self._failed:  # no whole answer to wait for: the child may fold on for no one
            self.stop()
            return None
        self.forked.wait()  # the pipe ended: its answer is whole, it is ending
        said, self._parts = b"".join(self._parts), []
        file = None if self._answer is None else self._answer.file
        if file is None or len(said) != _WHERE.size:
            return None  # it ended before its answer was whole
        start, size = _WHERE.unpack(said)
        try:
            if file.seek(0, os.SEEK_END) != start + size:
                return None  # not what it said it wrote
            file.seek(start)
        except (OSError, ValueError):
            return None
        return file

    def stop(self) -> None:
        self.forked.kill()
        self._reader.join(5)  # the pipe's end: the child is gone
        fd, self._read_fd = self._read_fd, -1
        if fd >= 0 and not self._reader.is_alive():
            with contextlib.suppress(OSError):
                os.close(fd)
        if not self.forked.running:
            # Closed once nothing else holds it: the fold that took the answer may (its packed
            # sessions are in it); else it goes now.
            self._answer = None


_WHERE = struct.Struct("<QQ")
"""The child's word: where its answer starts in its file, and its size."""


def _given_up(cancel: threading.Event | None, deadline: float | None) -> bool:
    return (cancel is not None and cancel.is_set()) or (
        deadline is not None and time.monotonic() > deadline
    )


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


def _split_point(before: int, size: int, after: int, start: int) -> int:
    """Where in a file of ``size`` bytes the caller's head ends, the caller also folding
    ``before`` bytes before it and ``after`` (or the same time's work) after the child's
    answer, the child starting (``start``: its start in bytes folded in the same time),
    scanning all before the point (at :data:`SEED_COST`), folding the rest and answering (at
    :data:`ANSWER_COST`): both then end together."""
    # before + x + after == SEED_COST * (before + x) + (1 + ANSWER_COST) * (size - x) + start
    tail = 1 + ANSWER_COST
    return int((tail * size + start - (1 - SEED_COST) * before - after) / (1 + tail - SEED_COST))


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
