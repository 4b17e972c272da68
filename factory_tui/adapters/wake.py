"""An event a thread blocked in ``select.poll`` wakes on at once.

The inotify watcher blocks on its descriptor; a plain :class:`threading.Event` set meanwhile is
only seen when the poll times out. A :class:`WakeEvent` also writes a byte to the pipe of every
:meth:`WakeEvent.waking` block open on it, so the poller returns the moment it is set (the app's
exit waits for the watcher's thread; an agent that started is watched at once).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

__all__ = ["WakeEvent", "drain"]


class WakeEvent(threading.Event):
    """A :class:`threading.Event` whose :meth:`set` also makes the ``waking`` pipes readable."""

    def __init__(self) -> None:
        super().__init__()
        self._pipes_lock = threading.Lock()
        self._pipes: set[int] = set()  # the write ends

    def set(self) -> None:
        super().set()
        with self._pipes_lock:
            for fd in self._pipes:
                with contextlib.suppress(OSError):  # full: it is readable already
                    os.write(fd, b"\0")

    @contextlib.contextmanager
    def waking(self) -> Iterator[int]:
        """A descriptor (a pipe's read end) readable once the event is set, or already if it
        is; closed on exit. Read it empty with :func:`drain` before waiting again."""
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        with self._pipes_lock:
            self._pipes.add(write)
        try:
            if self.is_set():
                os.write(write, b"\0")
            yield read
        finally:
            with self._pipes_lock:
                self._pipes.discard(write)
            os.close(write)
            os.close(read)


def drain(fd: int) -> None:
    """Read a non-blocking pipe empty."""
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
