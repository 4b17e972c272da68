"""One file's part of the log index: where each complete line starts, how appended bytes are
scanned into lines (and the ``SESSION-START`` task → instance pairs they hold), the CRC that
tells a rotation from a rewrite."""

from __future__ import annotations

import contextlib
import os
import re
import zlib
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from factory_tui.core.oplog import parse_fields

__all__ = ["Chunk", "FileIndex", "apply_chunk", "close_fd", "crc_of", "scan_lines"]

_NEWLINE = re.compile(b"\n")
# A SESSION-START line: timestamp (no "|"), the event between bars, then its key=value text.
_SESSION_START = re.compile(rb"\|[ \t]*SESSION-START[ \t]*\|([^\n]*)")
_TASK_INSTANCE = re.compile(rb"(?:^|\s)(task|instance)=(\S*)")
_ANCHOR_BYTES = 64
#: Offsets below this fit 4 bytes: a file's index holds ``array('I')`` until it grows past 4 GiB,
#: then ``array('Q')`` (a million-line log: 4.8 MB instead of 9.6 MB).
_NARROW_LIMIT = 1 << 32


def _offsets_for(limit: int) -> str:
    """The array type code for offsets below ``limit``."""
    return "I" if limit <= _NARROW_LIMIT else "Q"


class FileIndex:
    """The index of one file: where each complete line starts, and what was read so far."""

    __slots__ = ("anchor", "crc", "end", "epoch", "fd", "name", "offsets", "path")

    def __init__(self, path: Path, epoch: int) -> None:
        self.path = path
        self.name = path.name
        self.epoch = epoch
        self.fd: int | None = None
        self.offsets = array("I")
        """Where each line starts: 4 bytes each while the file is under 4 GiB, then 8."""
        self.end = 0
        """Byte offset just past the last indexed line's newline."""
        self.crc = 0
        """CRC-32 of bytes [0, end)."""
        self.anchor = b""
        """The last bytes before ``end``: still there unless the file was rewritten."""

    def copy(self) -> FileIndex:
        """The same file (same descriptor and epoch), to extend privately."""
        twin = FileIndex(self.path, self.epoch)
        twin.fd = self.fd
        twin.offsets = array(self.offsets.typecode, self.offsets)
        twin.end, twin.crc, twin.anchor = self.end, self.crc, self.anchor
        return twin

    def span(self, first: int, stop: int) -> tuple[int, int]:
        """Byte range of lines [first, stop), newline of the last one included."""
        start = self.offsets[first]
        end = self.offsets[stop] if stop < len(self.offsets) else self.end
        return start, end


class Chunk(NamedTuple):
    offsets: array[int]
    end: int
    crc: int
    anchor: bytes
    sessions: list[tuple[str, str]]


def scan_lines(
    fd: int, pos: int, limit: int, max_bytes: int, crc: int, anchor: bytes
) -> Iterator[Chunk]:
    """Complete lines in bytes [pos, limit), about ``max_bytes`` per chunk (more for a longer
    line). A last line without its newline is left for later."""
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
        offsets = array(_offsets_for(pos + last + 1), [pos])
        offsets.extend(pos + m.end() for m in _NEWLINE.finditer(body, 0, last))
        crc = zlib.crc32(body, crc)
        anchor = (anchor + body[-_ANCHOR_BYTES:])[-_ANCHOR_BYTES:]
        sessions = _sessions(body)
        pos += last + 1
        yield Chunk(offsets, pos, crc, anchor, sessions)


def _sessions(body: bytes) -> list[tuple[str, str]]:
    """(task, instance) of the SESSION-START lines that name both, without repeats."""
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
    if chunk.offsets.typecode != f.offsets.typecode:  # the file grew past 4 GiB: 8 bytes each
        f.offsets = array("Q", f.offsets)
        f.offsets.extend(array("Q", chunk.offsets))
    else:
        f.offsets.extend(chunk.offsets)
    f.end, f.crc, f.anchor = chunk.end, chunk.crc, chunk.anchor


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
