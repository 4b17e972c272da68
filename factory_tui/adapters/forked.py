"""Work done by a forked copy of this process: the fold's cache saved as the fold is at this
moment, while this process goes on (the cockpit's saves: 0.1 s of the scale factory's cold
start in its rotated log's fold, 0.4 s where the hooks rotate the log, and 0.6 s to seconds
of the GIL right after the first load, taken from the engineer's first keys).

The child is a copy of the whole process as it is when forked (the fold included, shared page
by page until either side writes one): it runs the work on the thread that forked, with the
collector off, and ends through ``os._exit`` whatever happens (no cleanup of the parent's: its
terminal, its threads, its files are the parent's). An alarm ends a child that has not finished
in :data:`CHILD_SECONDS` (the threads of the parent are gone in the child: a lock one of them
held is never released); a SIGINT, SIGTERM or SIGHUP ends its work as an exception would (its
cleanup runs). Only on Linux (elsewhere, or when the fork fails, the caller does the work
itself); a thread of the parent reaps the child.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["CHILD_SECONDS", "Forked", "fork_allowed", "forked_value", "pipe_parts"]

T = TypeVar("T")

CHILD_SECONDS = 600
"""A forked child that has not finished by then is ended (its work is then not done)."""


def fork_allowed() -> bool:
    """Whether work may be done by a forked child here (Linux only: elsewhere a fork of a
    process with threads is not safe even for the little the child does)."""
    return sys.platform == "linux" and hasattr(os, "fork")


class Forked:
    """A forked child doing ``work`` (its result: the child's exit status, 0 for True); None
    from :meth:`start` when it could not be forked (the caller does the work itself)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        """The child's exit status once reaped (0: the work returned True)."""
        self._reaper = threading.Thread(target=self._reap, name=f"reap {pid}", daemon=True)
        self._reaper.start()

    @classmethod
    def start(cls, work: Callable[[], bool], *, seconds: int = CHILD_SECONDS) -> Forked | None:
        if not fork_allowed():
            return None
        with warnings.catch_warnings():
            # Python 3.12 warns of a fork with threads running: said on stderr, it would be
            # drawn over the cockpit's screen. The child never touches what they hold.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                pid = os.fork()
            except OSError:
                return None
        if pid == 0:  # pragma: no cover - the child (its work is tested through its results)
            _run_child(work, seconds)
        try:
            return cls(pid)
        except RuntimeError:  # no thread to reap it (a process at its thread limit)
            _end(pid)
            return None

    def kill(self) -> None:
        """Kill the child if it still runs, and wait (a few seconds at most) for its reaping."""
        if self.running:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` seconds) for the child to end; True if it did its work."""
        self._reaper.join(timeout)
        return self.status == 0

    @property
    def running(self) -> bool:
        return self._reaper.is_alive()

    def _reap(self) -> None:
        try:
            _pid, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            self.status = -1  # reaped by someone else: its result is unknown
            return
        self.status = os.waitstatus_to_exitcode(status)


def forked_value(work: Callable[[], T], *, seconds: int = CHILD_SECONDS) -> T | None:
    """``work()`` done by a forked child, its value pickled back through a pipe; None when it
    could not be (not Linux, no fork, the child failed or was ended after ``seconds``): the
    caller then does the work itself. For work whose imports and leftovers should not stay in
    this process: genai-prices' price data (its module, pydantic and an HTTP client: ~20 MB of
    the cockpit's RSS for good, and 0.3 s of the GIL in its first seconds) for a table of a few
    dozen prices. Blocks until the child ends: call it from a worker thread in the cockpit."""
    if not fork_allowed():
        return None
    try:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    except OSError:  # out of descriptors: the caller does the work, and says so if it fails
        return None

    def child() -> bool:  # pragma: no cover - in the child
        os.close(read_fd)
        _silenced()
        data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with open(write_fd, "wb") as out:
            out.write(data)
        return True

    try:
        child_process = Forked.start(child, seconds=seconds)
    finally:
        os.close(write_fd)  # this process's copy: the child's end is its alone
    try:
        if child_process is None:
            return None
        data = _read_answer(read_fd, child_process)
    finally:
        os.close(read_fd)
    if not data or not child_process.wait():  # no answer, or a child that failed after it
        return None
    try:
        value: T = pickle.loads(data)  # our own child's, through our pipe
    except Exception:  # anything unreadable is no answer
        return None
    return value


def _silenced() -> None:  # pragma: no cover - in the child
    """Nothing the child's work writes reaches the parent's terminal (the cockpit's screen) or
    its print capture (Textual's, whose app does not run in the child): standard output and
    error go to /dev/null, at the descriptors too, and warnings are not shown."""
    warnings.simplefilter("ignore")
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - open to the child's end


def _read_answer(fd: int, child: Forked) -> bytes | None:
    """What ``child`` wrote to the pipe ``fd`` (see :func:`pipe_parts`); None if the pipe could
    not be read (the child is then ended)."""
    try:
        return b"".join(pipe_parts(fd, child, poll_ms=50, read_bytes=1 << 16))
    except OSError:
        child.kill()
        return None


def pipe_parts(fd: int, child: Forked, *, poll_ms: int, read_bytes: int) -> Iterator[bytes]:
    """What ``child`` writes to the pipe ``fd``, as it comes, to the pipe's end (the child
    closed it), or until the child has ended and the pipe is empty (a child forked meanwhile by
    another thread can hold a copy of its write end: no end of file then). ``poll_ms``: how
    often the child is looked at while the pipe is quiet; raises ``OSError`` if the pipe cannot
    be read."""
    poller = select.poll()  # not select(): a descriptor past 1,024 is refused there
    poller.register(fd, select.POLLIN)
    while True:
        if poller.poll(poll_ms):
            data = os.read(fd, read_bytes)
            if not data:
                return
            yield data
        elif not child.running:  # reaped: all it wrote is in the pipe
            os.set_blocking(fd, False)
            with contextlib.suppress(BlockingIOError):
                while data := os.read(fd, read_bytes):
                    yield data
            return


def _run_child(work: Callable[[], bool], seconds: int) -> None:  # pragma: no cover - the child
    code = 1
    try:
        # The parent's handlers are not the child's (the cockpit's SIGWINCH, SIGTSTP and
        # SIGCONT would redraw or suspend its screen from here; its wakeup fd is the parent's
        # loop's): back to the defaults. A Ctrl-C, a hang-up or a kill ends the work (its
        # cleanup runs: a cache's temp file is removed), the alarm ends the process (a child
        # stuck on a lock runs no Python).
        signal.set_wakeup_fd(-1)
        for number in signal.valid_signals():
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, _end_work)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(seconds)
        gc.disable()
        code = 0 if work() else 1
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _end(pid: int) -> None:
    """Kill a child nothing will wait for, and reap it."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _end_work(number: int, _frame: object) -> None:  # pragma: no cover - in the child
    raise SystemExit(128 + number)
