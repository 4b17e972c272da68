"""The last lines of ``operations.log.1`` + ``operations.log``, read backwards from the end.

The log view shows these before the log is indexed (issue 17: what the engineer looks at first
is on screen first): indexing a 58 MB log takes seconds, reading its last few hundred KB a
millisecond. The read is bounded (``max_bytes``, ``max_lines``) whatever the log's size, and
keeps the index's rules so that the lines are the ones the index gives later: complete lines only
(a last line without its newline waits), decoded as UTF-8 with replacement, ``\\r`` stripped
from the end. The history file is read only when the current file holds fewer lines than asked
for.

Nothing here knows the lines' logical numbers unless the tail reaches the first line of the
log (:attr:`LogTail.whole`); the view says so rather than guessing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogTail", "read_tail"]

_BLOCK = 64 << 10
_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)


@dataclass(frozen=True)
class LogTail:
    """The last complete lines of the log, oldest first. ``whole``: they are all its lines
    (the read reached the start of the first file), so line ``k`` is logical line ``k``.
    ``error``: why a file could not be read (its lines are missing), or None."""

    lines: tuple[str, ...] = ()
    whole: bool = True
    error: str | None = None


def read_tail(
    history: Path, current: Path, *, max_lines: int = 1000, max_bytes: int = 1 << 20
) -> LogTail:
    """At most ``max_lines`` last lines of ``history`` then ``current`` as one sequence,
    reading at most about ``max_bytes`` of each file (a longer line ends the tail there)."""
    lines: list[str] = []
    for path in (current, history):
        try:
            found, reached_start = _file_tail(path, max_lines - len(lines), max_bytes)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            return LogTail(tuple(lines), False, f"cannot read {path}: {reason}")
        lines[:0] = found
        if not reached_start:
            return LogTail(tuple(lines), False)
    return LogTail(tuple(lines), True)


def _file_tail(path: Path, wanted: int, max_bytes: int) -> tuple[list[str], bool]:
    """The last ``wanted`` complete lines of ``path`` (0: none, but whether it has any is
    still found out) and whether they start at its start (a missing file: no lines, at its
    start)."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return [], True
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return [], True  # not a log (a FIFO, a folder): the index says what it is
        return _read_backwards(fd, info.st_size, wanted, max_bytes)
    finally:
        os.close(fd)


def _read_backwards(fd: int, size: int, wanted: int, max_bytes: int) -> tuple[list[str], bool]:
    """Blocks read from the end until they hold more than ``wanted`` lines, reach the start or
    pass ``max_bytes``; then only the complete lines among them (a line longer than the bound:
    none of it, never a fragment)."""
    start = max(size - _BLOCK, 0)
    data = os.pread(fd, size - start, start)
    while start > 0 and data.count(b"\n") <= wanted and len(data) < max_bytes:
        step = min(_BLOCK, start)
        start -= step
        data = os.pread(fd, step, start) + data
    data = data[: data.rfind(b"\n") + 1]  # a last line still being written waits, as the index
    if start > 0:  # the first line read may be the end of a longer one: dropped
        data = data[data.find(b"\n") + 1 :]
    text = data.decode("utf-8", "replace")
    parts = text.split("\n")
    parts.pop()  # after the last newline (or the empty text): nothing
    at_start = start == 0 and len(parts) <= wanted
    parts = parts[len(parts) - wanted :] if wanted < len(parts) else parts
    if "\r" in text:
        parts = [p.rstrip("\r") for p in parts]
    return parts, at_start
