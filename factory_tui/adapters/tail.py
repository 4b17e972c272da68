"""Incremental reading of an append-only log that may be truncated, rewritten or rotated under us.

:class:`LogTail` remembers a byte offset and reads only what was appended since, as toolong does,
and unlike toolong it copes with the ways operations.log changes under a reader (FORMATS.md: past
500 lines the oldest lines move to ``operations.log.1`` and the current file is rewritten with
only the newest lines, some of which were already read):

- **Replaced** (``os.stat(path)`` names another inode than the open descriptor: rename rotation,
  ``os.replace`` of a rewritten copy): the old descriptor is read to its end first, so nothing
  appended before the switch is lost, then the new file is read from its start.
- **Truncated** (same inode, smaller than what was read, or rewritten in place — the last bytes
  read are no longer where they were: copy-truncate, ``open(path, "w")``): read again from 0.
- **Created**: the file had been read, then vanished, and a file is there again.

A file seen for the first time (at the first poll, or when it first appears) is simply read from
its start with ``reset=None``: there is nothing to reset.

After any reset the new file's first lines may be lines already delivered (a rotation keeps the
newest lines). The last ``overlap_lines`` delivered lines are kept; the longest prefix of the new
file that equals a suffix of them is skipped, and only the lines after it are delivered: no
duplicates, no losses. While the new file read so far is a run of lines found *inside* that
history (a rewrite caught half-written), its lines are held until the next line settles it or a
poll finds no new bytes at all, then the longest suffix match wins.

Blind spots, inherent to matching by content: a genuinely new file (or the lines appended after a
copy-truncate) whose first lines are byte-identical to the last lines delivered is taken for an
overlap and those lines are skipped; a file rewritten in place that keeps the same bytes just
before our offset is not seen as rewritten. Log lines carry timestamps, which makes both rare.

A line still being written (no ``\\n`` yet) is held until its newline arrives. If the file is
replaced while a partial line is held, the partial is dropped: the rotation carries it into the
new file, where its completed form is delivered once. Only ``\\n`` is stripped; a ``\\r`` before
it is left for the parser.

A :class:`TailChunk` holds the lines of one file only, with line numbers and byte offsets in that
file. After a rotation one poll may return the old file's last lines and the next the new file's,
so call :meth:`LogTail.poll` until it returns None. A chunk can have no lines when it only
announces a reset: a viewer holding byte offsets must drop them then.

IO errors never raise: ``poll`` returns None and ``last_error`` says what and where.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from factory_tui.config.regular_files import open_regular

__all__ = ["LogTail", "TailChunk"]

_ANCHOR_BYTES = 256
_PLUS_ONE = (1).__add__


@dataclass(frozen=True, slots=True)
class TailChunk:
    """Complete lines read by one :meth:`LogTail.poll`, all from the same file."""

    data: bytes
    """The lines joined by ``\\n``, without the last newline (a trailing ``\\r`` is kept for the
    parser): a big read is handed on in one piece, split only by whoever needs lines."""
    first_line: int
    """1-based line number of the first line in the file it was read from."""
    reset: str | None
    """None, or why the reader restarted before these lines: created, truncated or replaced."""
    start: int = 0
    """Byte offset of the first line in the file it was read from."""
    count: int = 0
    """How many lines."""

    @classmethod
    def of(cls, lines: list[bytes], first_line: int, reset: str | None, start: int) -> TailChunk:
        return cls(b"\n".join(lines), first_line, reset, start, len(lines))

    @property
    def lines(self) -> list[bytes]:
        """Complete lines without their ``\\n``."""
        return self.data.split(b"\n") if self.count else []

    @property
    def offsets(self) -> list[int]:
        """Byte offset of each line in the file it was read from (same length as ``lines``)."""
        if not self.count:
            return []
        offsets = list(accumulate(map(_PLUS_ONE, map(len, self.lines)), initial=self.start))
        offsets.pop()
        return offsets


class _Resync:
    """A new file's first lines, held until we know how many of them were already delivered."""

    __slots__ = ("checked", "held", "history", "offsets", "starts")

    def __init__(self, history: list[bytes]) -> None:
        self.history = history
        self.held: list[bytes] = []
        self.offsets: list[int] = []
        self.starts: list[int] | None = None  # where in history an overlap may begin, ascending
        self.checked = 0  # held lines already compared against every start

    def overlap(self, *, force: bool) -> int | None:
        """How many leading held lines were already delivered; None while it cannot be told.

        A start ``s`` claims an overlap of ``len(history) - s`` lines. It is *complete* once that
        many lines are held and equal ``history[s:]``, *open* while fewer are held and all of them
        equal ``history[s:...]``. Open starts promise longer overlaps, so they are waited for
        unless ``force``; then the longest complete one wins.
        """
        held, hist = self.held, self.history
        m, h = len(held), len(hist)
        if m == 0:
            return None
        if self.starts is None:
            first = held[0]
            self.starts = [s for s, line in enumerate(hist) if line == first]
            self.checked = 1
        lo = self.checked
        alive: list[int] = []
        for s in self.starts:
            k = h - s
            if k > lo:
                hi = min(k, m)
                if hist[s + lo : s + hi] != held[lo:hi]:
                    continue
            alive.append(s)
        self.starts = alive
        self.checked = m
        if alive and h - alive[0] > m and not force:
            return None
        return next((h - s for s in alive if h - s <= m), 0)


class LogTail:
    """Follows one log file across appends, truncation and rotation; see the module docstring.

    Not thread-safe: poll it from one thread (the file watcher's worker)."""

    def __init__(
        self,
        path: Path,
        *,
        chunk_bytes: int = 8 << 20,
        overlap_lines: int = 4096,
        ends_bytes: int = 0,
    ) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be at least 1, got {chunk_bytes}")
        if overlap_lines < 0:
            raise ValueError(f"overlap_lines must not be negative, got {overlap_lines}")
        if ends_bytes < 0:
            raise ValueError(f"ends_bytes must not be negative, got {ends_bytes}")
        self._path = Path(path)
        self._chunk_bytes = chunk_bytes
        self._overlap_lines = overlap_lines
        self._ends_bytes = ends_bytes
        self._head = b""
        """The current file's first ``ends_bytes`` as read (fewer while fewer were read)."""
        self._last = b""
        """The last ``ends_bytes`` before :attr:`offset`, as read."""
        self._history: deque[bytes] = deque(maxlen=overlap_lines)
        self._fd: int | None = None
        self._fd_closer: weakref.finalize[[int], LogTail] | None = None
        """Closes :attr:`_fd` if this tail is let go unclosed (a reader made for one action is
        dropped, never closed: its descriptors stayed open for the cockpit's life)."""
        self._seen = False  # a file has been opened at this path before
        self._closed = False
        self._switch_reason = "created"  # the reset to report when the next file is opened
        self._reset: str | None = None  # a reset not yet reported in a chunk
        self._resync: _Resync | None = None
        self._offset = 0  # end of the last consumed complete line
        self._line_count = 0
        self._pos = 0  # bytes read from the current file (consumed lines + held + partial)
        self._partial = b""  # bytes after the last newline read
        self._anchor = b""  # the last bytes read; still there unless the file was rewritten
        self.last_error: str | None = None
        """Why the last poll failed (naming the path), or None when it succeeded."""

    @property
    def path(self) -> Path:
        return self._path

    @property
    def offset(self) -> int:
        """Bytes of the current file consumed: complete lines only (0 while a reset is held)."""
        return self._offset

    @property
    def line_count(self) -> int:
        """Complete lines of the current file consumed, overlap lines skipped after a reset
        included."""
        return self._line_count

    def poll(self) -> TailChunk | None:
        """Read what was appended since the last call, at most about ``chunk_bytes``.

        Call again until it returns None to drain a big file. None when there is nothing new (no
        complete new line and no reset to announce), when the file is missing, after
        :meth:`close`, and on an IO error (then ``last_error`` says why).
        """
        if self._closed:
            return None
        try:
            chunk = self._poll()
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            self.last_error = f"cannot read {self._path}: {reason}; will retry on the next poll"
            return None
        self.last_error = None
        return chunk

    def read_ends(self) -> tuple[int, bytes, bytes] | None:
        """The offset, and the first and the last ``min(offset, ends_bytes)`` bytes before it
        as this tail read them (a key of the bytes consumed: taken from the file after the
        read, it would be of bytes rewritten in place meanwhile). None when they are not kept
        (``ends_bytes`` 0)."""
        offset, want = self._offset, min(self._offset, self._ends_bytes)
        if not self._ends_bytes or len(self._head) < want or len(self._last) < want:
            return None
        return offset, self._head[:want], self._last[len(self._last) - want :]

    def resume(
        self, offset: int, line_count: int, *, check: Callable[[int], bool] | None = None
    ) -> None:
        """Start after the first ``offset`` bytes (``line_count`` complete lines) of the file at
        the path, as if they had been read: a warm start whose caller already holds what they
        say. The last lines before ``offset`` are read back, to recognise them after a rotation
        as a full read would. Raises ``OSError`` when the file is not a regular file of at least
        ``offset`` bytes ending a line there, when ``check`` (called with the open descriptor:
        is this the file the caller's state is of?) says no, or when this tail has already been
        polled."""
        if self._seen or self._closed:
            raise OSError(errno.EINVAL, "resume() only before the first poll")
        fd = open_regular(self._path)  # a FIFO is never waited on
        try:
            st = os.fstat(fd)
            if st.st_size < offset or offset < 0:
                raise OSError(errno.EINVAL, f"{self._path} is not {offset} bytes long")
            lines = self._lines_before(fd, offset)
            ends = min(offset, self._ends_bytes)
            head, last = os.pread(fd, ends, 0), os.pread(fd, ends, offset - ends)
            # Read before the check: what it checks is what these were, or newer.
            if check is not None and not check(fd):
                raise OSError(errno.ESTALE, f"{self._path} is not the file expected")
        except BaseException:
            os.close(fd)
            raise
        self._set_fd(fd)
        self._seen = True
        self._offset = self._pos = offset
        self._line_count = line_count
        self._head, self._last = head, last
        self._anchor = os.pread(fd, min(offset, _ANCHOR_BYTES), offset - min(offset, _ANCHOR_BYTES))
        self._history.extend(lines)

    def _lines_before(self, fd: int, offset: int) -> list[bytes]:
        """The last ``overlap_lines`` complete lines that end at ``offset`` (a line's end)."""
        want = self._overlap_lines
        if offset == 0 or want == 0:
            return []
        if os.pread(fd, 1, offset - 1) != b"\n":
            raise OSError(errno.EINVAL, f"{self._path} has no line end at byte {offset}")
        back = 64 * want
        while True:
            start = max(0, offset - back)
            lines = os.pread(fd, offset - 1 - start, start).split(b"\n")
            if start == 0 or len(lines) > want:
                return lines[-want:] if start == 0 else lines[1:][-want:]
            back *= 4

    @property
    def fileno(self) -> int | None:
        """The descriptor of the file being read (None before the first read or after a close):
        for checking what was read, never for reading (use :meth:`poll`)."""
        return self._fd

    def close(self) -> None:
        """Release the file descriptor; later polls return None."""
        self._closed = True
        self._drop_fd("created")

    def _poll(self) -> TailChunk | None:
        try:
            st: os.stat_result | None = os.stat(self._path)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        fd = self._fd
        if fd is not None:
            fst = os.fstat(fd)
            if self._rewritten(fd, fst.st_size):
                self._begin_resync("truncated")
            if st is not None and (st.st_ino, st.st_dev) == (fst.st_ino, fst.st_dev):
                return self._advance(fd, final=False)
            # The path names another file now, or nothing: finish the old one first.
            chunk = self._advance(fd, final=True)
            if chunk is not None:
                return chunk
            self._drop_fd("replaced" if st is not None else "created")
        if st is None:
            return None
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block open(), a directory fail read()
            raise OSError(errno.EINVAL, "not a regular file (a directory, pipe or device?)")
        fd = open_regular(self._path)  # (a FIFO put there since the stat: not waited on either)
        self._set_fd(fd)
        if self._seen:
            self._begin_resync(self._switch_reason)
        self._seen = True
        return self._advance(fd, final=False)

    def _rewritten(self, fd: int, size: int) -> bool:
        if size < self._pos:
            return True
        anchor = self._anchor
        return bool(anchor) and os.pread(fd, len(anchor), self._pos - len(anchor)) != anchor

    def _begin_resync(self, reason: str) -> None:
        self._reset_position()
        self._resync = _Resync(list(self._history))
        self._reset = reason

    def _reset_position(self) -> None:
        self._offset = self._line_count = self._pos = 0
        self._partial = self._anchor = self._head = self._last = b""

    def _set_fd(self, fd: int) -> None:
        self._fd = fd
        self._fd_closer = weakref.finalize(self, _close_quietly, fd)

    def _drop_fd(self, reason: str) -> None:
        fd, self._fd = self._fd, None
        if self._fd_closer is not None:
            self._fd_closer.detach()
            self._fd_closer = None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._switch_reason = reason
        self._resync = None
        self._reset_position()

    def _read_block(self, fd: int) -> tuple[bytes, int, int, bool, bool]:
        """Complete lines appended since the last read (joined by ``\\n``, without the last one),
        the offset of the first, how many, whether any byte was read, and whether the end of the
        file was reached. Reads one chunk, or more when a line is longer than a chunk."""
        parts: list[bytes] = []
        pos = self._pos
        at_end = False
        while True:
            data = os.pread(fd, self._chunk_bytes, pos)
            if data:
                parts.append(data)
                pos += len(data)
            if len(data) < self._chunk_bytes:
                at_end = True
                break
            if b"\n" in data:
                break
        if not parts:
            return b"", 0, 0, False, True
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if len(self._head) == self._pos < self._ends_bytes:
            self._head += data[: self._ends_bytes - self._pos]
        start = self._pos - len(self._partial)  # where the first unfinished line begins
        self._pos = pos
        self._anchor = (self._anchor + data[-_ANCHOR_BYTES:])[-_ANCHOR_BYTES:]
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial += data
            return b"", 0, 0, True, at_end
        block = self._partial + data[:cut] if self._partial else data[:cut]
        self._partial = data[cut + 1 :]
        return block, start, block.count(b"\n") + 1, True, at_end

    def _advance(self, fd: int, *, final: bool) -> TailChunk | None:
        grew = False
        while True:
            block, start, count, got, at_end = self._read_block(fd)
            grew = grew or got
            resync = self._resync
            if resync is None:
                if count:
                    return self._deliver_block(block, start, count)
                return self._announce_reset()
            if count:
                chunk = TailChunk(block, 0, None, start, count)
                resync.held.extend(chunk.lines)
                resync.offsets.extend(chunk.offsets)
            # At the end of an old file, or when nothing arrived since the last poll, decide now.
            overlap = resync.overlap(force=at_end and (final or not grew))
            if overlap is not None:
                self._resync = None
                return self._deliver(resync.held, resync.offsets, skipped=overlap)
            if at_end:
                return self._announce_reset()

    def _deliver_block(self, block: bytes, start: int, count: int) -> TailChunk:
        """Consume the next ``count`` complete lines of the file (the common case: no reset
        being resolved), keeping the last of them for matching after a reset."""
        first_line = self._line_count + 1
        self._line_count += count
        self._offset = start + len(block) + 1
        if keep_ends := self._ends_bytes:  # the lines follow the last ones consumed
            if len(block) >= keep_ends:
                self._last = block[len(block) + 1 - keep_ends :] + b"\n"
            else:
                self._last = (self._last + block + b"\n")[-keep_ends:]
        keep = self._overlap_lines
        if keep:
            last = block.rsplit(b"\n", keep)
            self._history.extend(last[1:] if len(last) > keep else last)
        reset, self._reset = self._reset, None
        return TailChunk(block, first_line, reset, start, count)

    def _deliver(self, lines: list[bytes], offsets: list[int], *, skipped: int) -> TailChunk | None:
        """Consume ``lines`` (the next complete lines of the file), delivering all but the first
        ``skipped``, which were delivered before a reset."""
        first_line = self._line_count + skipped + 1
        self._line_count += len(lines)
        self._offset = offsets[-1] + len(lines[-1]) + 1
        if keep_ends := self._ends_bytes:  # the lines held since the reset: the file's start
            self._last = (self._last + b"\n".join(lines) + b"\n")[-keep_ends:]
        if skipped:
            lines, offsets = lines[skipped:], offsets[skipped:]
        if not lines:
            return self._announce_reset()
        if self._overlap_lines:
            self._history.extend(lines[-self._overlap_lines :])
        reset, self._reset = self._reset, None
        return TailChunk.of(lines, first_line, reset, offsets[0])

    def _announce_reset(self) -> TailChunk | None:
        reset, self._reset = self._reset, None
        if reset is None:
            return None
        return TailChunk(b"", self._line_count + 1, reset)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
