"""One file's part of the log index: where each complete line starts, how appended bytes are
scanned into lines (and the ``SESSION-START`` task → instance pairs they hold), the CRC that
tells a rotation from a rewrite."""

from __future__ import annotations

import bisect
import contextlib
import errno
import os
import re
import zlib
from array import array
from collections.abc import Iterator
from itertools import accumulate, islice, repeat
from operator import add
from pathlib import Path
from typing import NamedTuple

from factory_tui.core.oplog import parse_fields

__all__ = [
    "ENDS_BYTES",
    "STRIDE",
    "Chunk",
    "Ends",
    "FileIndex",
    "LineStarts",
    "apply_chunk",
    "close_fd",
    "crc_of",
    "scan_lines",
    "session_pairs",
]

# A SESSION-START line: timestamp (no "|"), the event between bars, then its key=value text.
_SESSION_START = re.compile(rb"\|[ \t]*SESSION-START[ \t]*\|([^\n]*)")
_TASK_INSTANCE = re.compile(rb"(?:^|\s)(task|instance)=(\S*)")
# A SESSION-START line as the hooks write it, in full: "| SESSION-START |", then plain tokens
# (no quote, no white space but the spaces and tabs between them) naming task and instance
# once each, either first. Its groups: task, instance (task first), instance, task (instance
# first). Found in one C-level pass, with no Python per line (see _sessions).
_TOKEN = rb"[^\s\"']+"
_OTHER = rb"(?!task=|instance=)" + _TOKEN
_PLAIN_SESSION = re.compile(
    rb"\| SESSION-START \|[ \t]*(?:" + _OTHER + rb"[ \t]+)*"
    rb"(?:task=(" + _TOKEN + rb")[ \t]+(?:" + _OTHER + rb"[ \t]+)*instance=(" + _TOKEN + rb")"
    rb"|instance=(" + _TOKEN + rb")[ \t]+(?:" + _OTHER + rb"[ \t]+)*task=(" + _TOKEN + rb"))"
    rb"(?:[ \t]+" + _OTHER + rb")*[ \t\r]*\n"
)
_ANCHOR_BYTES = 64
#: Offsets below this fit 4 bytes: a file's index holds ``array('I')`` until it grows past 4 GiB,
#: then ``array('Q')`` (a million-line log: 4.8 MB instead of 9.6 MB).
_NARROW_LIMIT = 1 << 32


def _offsets_for(limit: int) -> str:
    """The array type code for offsets below ``limit``."""
    return "I" if limit <= _NARROW_LIMIT else "Q"


STRIDE = 32
"""One line in this many has its start kept (the first of each run of them); the others are
found in the file's bytes when asked, at most ``STRIDE - 1`` lines read. At 4 bytes a line, the
index of a 300-day history's 12 million lines was 48 MB of the cockpit's memory; now 1.5 MB."""
_SCAN_BYTES = 1 << 16


class LineStarts:
    """Where a file's lines start, as :data:`STRIDE` lines' first (:attr:`marks`: 4 bytes each
    while the file is under 4 GiB, then 8) and how many lines there are."""

    __slots__ = ("count", "marks")

    def __init__(self, marks: array[int] | None = None, count: int = 0) -> None:
        self.marks = array("I") if marks is None else marks
        self.count = count

    def __len__(self) -> int:
        return self.count

    @property
    def itemsize(self) -> int:
        return self.marks.itemsize

    def extend(self, starts: array[int]) -> None:
        """Add the lines that start at ``starts`` (each of them, in order: a chunk's)."""
        picked = starts[(-self.count) % STRIDE :: STRIDE]
        if picked.typecode != self.marks.typecode:
            if picked.itemsize > self.marks.itemsize:  # the file grew past 4 GiB
                self.marks = array(picked.typecode, self.marks)
            picked = array(self.marks.typecode, picked)
        self.marks.extend(picked)
        self.count += len(starts)

    def copy(self) -> LineStarts:
        return LineStarts(array(self.marks.typecode, self.marks), self.count)


class FileIndex:
    """The index of one file: where its complete lines start, and what was read so far."""

    __slots__ = (
        "anchor",
        "crc",
        "end",
        "ends",
        "epoch",
        "fd",
        "mapped",
        "name",
        "offsets",
        "path",
    )

    def __init__(self, path: Path, epoch: int) -> None:
        self.path = path
        self.name = path.name
        self.epoch = epoch
        self.fd: int | None = None
        self.offsets = LineStarts()
        """Where its lines start (one in :data:`STRIDE` kept) and how many there are."""
        self.end = 0
        """Byte offset just past the last indexed line's newline."""
        self.crc = 0
        """CRC-32 of bytes [0, end)."""
        self.anchor = b""
        """The last bytes before ``end``: still there unless the file was rewritten."""
        self.ends: Ends = (b"", b"")
        """The first and the last :data:`ENDS_BYTES` of bytes [0, end) as they were indexed:
        the key of the index kept for the next start (the file's now may be rewritten)."""
        self.mapped = 0
        """Byte offset up to which the ``SESSION-START`` lines are in the index's task map."""

    def copy(self) -> FileIndex:
        """The same file (same descriptor and epoch), to extend privately."""
        twin = FileIndex(self.path, self.epoch)
        twin.fd = self.fd
        twin.offsets = self.offsets.copy()
        twin.end, twin.crc, twin.anchor, twin.mapped = self.end, self.crc, self.anchor, self.mapped
        twin.ends = self.ends
        return twin

    def span(self, first: int, stop: int) -> tuple[int, int]:
        """Byte range of lines [first, stop), newline of the last one included."""
        return self.start(first), self.start(stop)

    def start(self, line: int) -> int:
        """Where line ``line`` starts (``end`` for the line after the last), the lines of its
        run before it read from the file when it is not the run's first. Raises ``OSError``
        when the file is closed or shorter than indexed."""
        starts = self.offsets
        if line >= starts.count:
            return self.end
        run, skip = divmod(line, STRIDE)
        at = starts.marks[run]
        return self.start_after(at, skip) if skip else at

    def starts(self) -> list[int]:
        """Where every line starts, read from the file (a check, not a path of the viewer): as
        far as the file still holds them, if it changed since it was indexed."""
        if self.fd is None:
            return []
        out: list[int] = []
        marks, count = self.offsets.marks, self.offsets.count
        for run, at in enumerate(marks):
            stop = marks[run + 1] if run + 1 < len(marks) else self.end
            try:
                data = os.pread(self.fd, stop - at, at)
            except OSError:
                return out
            pos = 0
            for _ in range(min(STRIDE, count - run * STRIDE)):
                out.append(at + pos)
                pos = data.find(b"\n", pos) + 1
                if not pos:
                    return out
        return out

    def line_at(self, offset: int) -> int | None:
        """The line that starts at byte ``offset`` (the count of lines for ``end``), or None
        when none does."""
        starts = self.offsets
        if offset == self.end:
            return starts.count
        run = bisect.bisect_right(starts.marks, offset) - 1
        if run < 0 or offset > self.end:
            return None
        at, line = starts.marks[run], run * STRIDE
        if offset == at:
            return line
        if self.fd is None:
            raise OSError(errno.EBADF, "file closed", str(self.path))
        # Within the run (before the next one's start): a line starts at ``offset`` when the
        # byte before it ends one, and it is the run's line after the newlines in between.
        before = b""
        while at < offset:
            data = os.pread(self.fd, min(_SCAN_BYTES, offset - at), at)
            if not data:
                raise OSError(errno.EIO, "shorter than indexed", str(self.path))
            line += data.count(b"\n")
            at += len(data)
            before = data[-1:]
        return line if before == b"\n" else None

    def start_after(self, at: int, lines: int) -> int:
        """Where the line ``lines`` lines after the one at ``at`` starts (complete lines
        before ``end``); ``OSError`` when the file holds fewer."""
        if self.fd is None:
            raise OSError(errno.EBADF, "file closed", str(self.path))
        while True:
            data = os.pread(self.fd, min(_SCAN_BYTES, self.end - at), at)
            cut = -1
            for _ in range(lines):
                cut = data.find(b"\n", cut + 1)
                if cut < 0:
                    break
                lines -= 1
            if cut >= 0 and not lines:
                return at + cut + 1
            if len(data) < _SCAN_BYTES or at + len(data) >= self.end:
                raise OSError(errno.EIO, "shorter than indexed", str(self.path))
            at += data.rfind(b"\n") + 1 if b"\n" in data else len(data)


Ends = tuple[bytes, bytes]
"""A file's first and last :data:`ENDS_BYTES` (fewer in a shorter file) before an offset."""

ENDS_BYTES = 64 << 10
"""The fold cache's ``BLOCK_BYTES``: its key of a file hashes its first and last blocks."""


class Chunk(NamedTuple):
    offsets: array[int]
    end: int
    crc: int
    anchor: bytes
    ends: Ends
    sessions: list[tuple[str, str]] | None
    """The (task, instance) pairs of its ``SESSION-START`` lines; None: not looked for."""


def scan_lines(
    fd: int,
    pos: int,
    limit: int,
    max_bytes: int,
    crc: int,
    anchor: bytes,
    ends: Ends = (b"", b""),
    *,
    sessions: bool = True,
) -> Iterator[Chunk]:
    """Complete lines in bytes [pos, limit), about ``max_bytes`` per chunk (more for a longer
    line), with their session pairs if ``sessions``. A last line without its newline is left
    for later. ``crc``, ``anchor`` and ``ends``: of the bytes before ``pos``, carried on."""
    head, tail = ends
    while pos < limit:
        data = os.pread(fd, min(max_bytes, limit - pos), pos)
        if not data:
            return
        last = data.rfind(b"\n")
        while last < 0:
            more_at = pos + len(data)
            if more_at >= limit:
                return
            more = os.pread(fd, min(max_bytes, limit - more_at), more_at)
            if not more:
                return
            data += more
            last = data.rfind(b"\n")
        body = data if last + 1 == len(data) else data[: last + 1]
        offsets = _line_starts(body, pos, _offsets_for(pos + last + 1))
        crc = zlib.crc32(body, crc)
        anchor = (anchor + body[-_ANCHOR_BYTES:])[-_ANCHOR_BYTES:]
        if len(head) == pos < ENDS_BYTES:
            head += body[: ENDS_BYTES - pos]
        if len(body) >= ENDS_BYTES:
            tail = body[-ENDS_BYTES:]
        else:
            tail = (tail + body)[-ENDS_BYTES:]
        pairs = _sessions(body) if sessions else None
        pos += last + 1
        yield Chunk(offsets, pos, crc, anchor, (head, tail), pairs)


def session_pairs(fd: int, start: int, end: int, max_bytes: int = 1 << 20) -> list[tuple[str, str]]:
    """The (task, instance) pairs of the ``SESSION-START`` lines in ``[start, end)``, whole
    lines (indexed ones), read ``max_bytes`` or so at a time."""
    found: list[tuple[str, str]] = []
    while start < end:
        want = min(max_bytes, end - start)
        data = os.pread(fd, want, start)
        if len(data) < want:  # shorter than indexed (cut under us): the next update sees it
            found.extend(_sessions(data[: data.rfind(b"\n") + 1]))
            break
        cut = data.rfind(b"\n") + 1 if start + want < end else want
        if cut <= 0:  # a line longer than max_bytes: read on to its end
            max_bytes *= 2
            continue
        found.extend(_sessions(data[:cut]))
        start += cut
    return found


def _line_starts(body: bytes, pos: int, typecode: str) -> array[int]:
    """Where each line of ``body`` (complete lines, read at ``pos``) starts: each line's length
    and newline summed in C (a Python step per line was a fifth of the index's build)."""
    lines = body.split(b"\n")  # the last is the empty one after the last newline
    lengths = map(len, islice(lines, len(lines) - 2))  # the last line starts no other one
    return array(typecode, accumulate(map(add, lengths, repeat(1)), initial=pos))


def _sessions(body: bytes) -> list[tuple[str, str]]:
    """(task, instance) of the SESSION-START lines that name both, without repeats.

    When every SESSION-START in ``body`` is on a line :data:`_PLAIN_SESSION` matches whole (the
    hooks' lines) the pairs come from that one pass: those lines are exactly the ones
    :data:`_SESSION_START` finds, and the pair each names is the one their tokens give. Else
    (a line of another shape, quotes, a repeated key) each line is read as before."""
    plain_lines = _PLAIN_SESSION.findall(body)
    if len(plain_lines) != body.count(b"SESSION-START"):
        return _sessions_by_line(body)
    pairs = {(t1 or t2, i1 or i2) for t1, i1, i2, t2 in plain_lines}
    if not pairs:
        return []
    tasks, instances = zip(*pairs, strict=True)
    return list(zip(_decoded(tasks), _decoded(instances), strict=True))


def _decoded(values: tuple[bytes, ...]) -> list[str]:
    """``values`` decoded as UTF-8 (bad bytes replaced): in one go when they are ASCII."""
    joined = b"\n".join(values)  # no value holds a newline
    if joined.isascii():
        return joined.decode("ascii").split("\n")
    return [value.decode("utf-8", "replace") for value in values]


def _sessions_by_line(body: bytes) -> list[tuple[str, str]]:
    """:func:`_sessions`, a SESSION-START line at a time."""
    plain: set[tuple[bytes, bytes]] = set()
    found: list[tuple[str, str]] = []
    for kv in _SESSION_START.findall(body):
        if b'"' in kv or b"'" in kv:
            fields = parse_fields(kv.decode("utf-8", "replace"))
            task, instance = fields.get("task"), fields.get("instance")
            if task and instance:
                found.append((task, instance))
            continue
        pairs = dict(_TASK_INSTANCE.findall(kv))  # the last one wins, as in parse_fields
        raw_task, raw_instance = pairs.get(b"task"), pairs.get(b"instance")
        if raw_task and raw_instance:
            plain.add((raw_task, raw_instance))
    found.extend((t.decode("utf-8", "replace"), i.decode("utf-8", "replace")) for t, i in plain)
    return found


def apply_chunk(f: FileIndex, chunk: Chunk) -> None:
    f.offsets.extend(chunk.offsets)
    if chunk.sessions is not None and f.mapped == f.end:
        f.mapped = chunk.end
    f.end, f.crc, f.anchor, f.ends = chunk.end, chunk.crc, chunk.anchor, chunk.ends


def crc_of(fd: int, start: int, end: int, crc: int) -> int:
    pos = start
    while pos < end:
        data = os.pread(fd, min(8 << 20, end - pos), pos)
        if not data:
            return -1  # shorter than indexed: cannot match
        crc = zlib.crc32(data, crc)
        pos += len(data)
    return crc


def close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
