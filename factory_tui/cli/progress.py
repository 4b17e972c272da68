"""A long read's progress on the terminal: one line on standard error, written over as the read
goes and erased when it is done (``factory-tui: reading operations.log 42%, about 8 s left…``).

A command that reads a big factory for the first time (a cold start of a 12-million-line log
takes ~15 s) said nothing meanwhile. Like git's, the line is drawn only when standard error is a
terminal (never in CI or a pipe), only once the command has run :data:`SHOW_AFTER_S` (a warm
start says nothing), at most every :data:`EVERY_S`; and it is erased when each read is over,
however it ended (before the answer, a question or an error is written), and at the end.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.cells import cell_len, set_cell_size

from factory_tui.adapters.factory_logs import read_progress
from factory_tui.core.progress import progress_words, time_left
from factory_tui.core.safe import printable

__all__ = ["EVERY_S", "SHOW_AFTER_S", "TerminalProgress", "progress_on_terminal"]

SHOW_AFTER_S = 1.0
"""A command that has run less than this shows nothing."""
EVERY_S = 0.2
"""The line is written at most this often."""
_ERASE = "\r\x1b[K"


class TerminalProgress:
    """``(source, done, total)`` as one line written over on ``stream`` (see the module's
    docstring); nothing at all when ``stream`` is not a terminal."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        show_after: float | None = None,
        every: float | None = None,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.show_after = SHOW_AFTER_S if show_after is None else show_after
        self.every = EVERY_S if every is None else every
        self.on = _is_terminal(stream)
        self._began = clock()
        self._written_at: float | None = None
        self._shown = False
        self._from: dict[str, tuple[float, int]] = {}
        """Each source's first report: where its rate is measured from."""

    def __call__(self, source: str, done: int, total: int) -> None:
        if not self.on:
            return
        now = self.clock()
        since, done_then = self._from.setdefault(source, (now, done))
        if done >= total:
            self._from.pop(source, None)  # a next read of it measures its own rate
            self.erase()  # this read is done: whatever comes next starts on a clean line
            return
        if now - self._began < self.show_after:
            return
        if self._written_at is not None and now - self._written_at < self.every:
            return
        words = progress_words(
            source, done, total, time_left(done - done_then, now - since, total - done)
        )
        if words is None:
            self.erase()
            return
        self._show(words)
        self._written_at = now

    def phase(self, words: str | None) -> None:
        """What the command does now, once a read is done (``saving the warm-start cache``):
        shown as the progress is, when the command has taken :attr:`show_after` already;
        None: that, or a read, is over (the line erased, the rates forgotten)."""
        if words is None:
            self._from.clear()
            self.erase()
        elif self.on and self.clock() - self._began >= self.show_after:
            self._show(f"{printable(words, multiline=False)}…")
            self._written_at = None

    def erase(self) -> None:
        """Erase the line, if one is shown."""
        if self._shown:
            self._write(_ERASE)
            self._shown = False
            self._written_at = None

    def _show(self, words: str) -> None:
        """The line, cut to the terminal's width (a line that wraps is not erased whole)."""
        try:  # the terminal standard error is on (standard output may be a file)
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            width = 80
        line = f"factory-tui: {words}"
        if cell_len(line) >= width:  # in cells: a wide character takes two
            line = set_cell_size(line, max(0, width - 2)).rstrip() + "…"
        self._write(_ERASE + line)
        self._shown = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went: the read goes on without it
            self.on = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def progress_on_terminal(stream: TextIO) -> Iterator[TerminalProgress]:
    """Every factory read made meanwhile tells its progress on ``stream`` (a terminal), the
    line erased at the end."""
    progress = TerminalProgress(stream)
    token = read_progress.set(progress if progress.on else None)
    try:
        yield progress
    finally:
        read_progress.reset(token)
        progress.erase()
