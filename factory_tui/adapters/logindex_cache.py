"""The log index kept between starts: where each line of operations.log.1 and operations.log
starts, so that the cockpit's next start indexes only what was appended since (issue 17: the
index of the 10x factory's 900 MB of log took 3 s of a 4.6 s warm start, after the fleet).

One file per log in the fold cache's folder (``index-<hash>.bin``): a header line (JSON: the
magic, the format and tool versions, the byte order, and for each file its identity as the
fold cache keys it, its end, CRC and anchor, its count of lines, the type and count of the
offsets it keeps (one line in ``STRIDE``) and their SHA-256 with the count of lines), then those
offsets as they are in memory. A file's part is used only when the file at
its path is the one indexed (device, inode, the hashes of its first and last blocks up to the
indexed end: :func:`~factory_tui.adapters.foldcache.file_identity`) and its offsets are the
ones written (their hash, their first and last); anything else is indexed again from its
start, never read wrong. Never raises: a cache that cannot be read or written is a cold index.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from array import array
from dataclasses import asdict
from itertools import islice
from operator import lt
from pathlib import Path
from typing import Any, BinaryIO

from factory_tui import __version__
from factory_tui.adapters.foldcache import FileIdentity, file_identity, read_identity
from factory_tui.adapters.jsonfiles import write_atomically
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logindex_files import (
    ENDS_BYTES,
    STRIDE,
    Ends,
    FileIndex,
    LineStarts,
    close_fd,
)
from factory_tui.config.regular_files import open_regular

__all__ = ["FORMAT", "restore_index", "save_index"]

FORMAT = 2
"""2: one line's offset in ``STRIDE`` kept, and the count of lines (1: every line's)."""
MAGIC = "factory-tui log index"
_HEADER_LIMIT = 1 << 16


def save_index(index: LogIndex, path: Path, *, version: str = __version__) -> bool:
    """Write ``index`` (its files as indexed now) to ``path``, atomically. False if it could
    not be (a full or read-only disk: the next start indexes from the start)."""
    files = [f for f in index.files() if f.fd is not None and f.end > 0]
    if len({f.name for f in files}) != len(files):
        return False  # two files of one name: their parts could not be told apart
    try:
        parts = [(f, _part(f)) for f in files]
    except (OSError, ValueError):
        return False
    header = {
        "magic": MAGIC,
        "format": FORMAT,
        "tool": version,
        "byteorder": sys.byteorder,
        "files": {f.name: part for f, part in parts},
    }
    line = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    if len(line) > _HEADER_LIMIT:
        return False

    def write(out: BinaryIO) -> None:
        out.write(line)
        for f, _part_data in parts:
            f.offsets.marks.tofile(out)  # as they are in memory: no copy

    try:
        write_atomically(path, write)
    except OSError:
        return False
    return True


def _part(f: FileIndex) -> dict[str, Any]:
    """A file's part of the header, keyed by the bytes indexed as they were read (taken from
    the file at the save, a log rewritten in place while it was indexed was kept under its
    new bytes, and every later start read the old offsets into the new lines)."""
    assert f.fd is not None
    n = min(f.end, ENDS_BYTES)
    head, last = f.ends
    if len(head) < n or len(last) < n:
        raise ValueError(f"{f.path}: the ends of the bytes indexed were not kept")
    return {
        "identity": asdict(read_identity(f.fd, (f.end, head[:n], last[len(last) - n :]))),
        "end": f.end,
        "crc": f.crc,
        "anchor": f.anchor.hex(),
        "lines": f.offsets.count,
        "stride": STRIDE,
        "typecode": f.offsets.marks.typecode,
        "count": len(f.offsets.marks),
        "sha256": _digest(f.offsets),
    }


def _digest(starts: LineStarts) -> str:
    """The SHA-256 of the offsets kept and the count of lines (neither taken without the
    other)."""
    digest = hashlib.sha256(memoryview(starts.marks).cast("B"))
    digest.update(b" %d lines" % starts.count)
    return digest.hexdigest()


def restore_index(index: LogIndex, path: Path, *, version: str = __version__) -> bool:
    """Start ``index`` (not updated yet) from what ``path`` kept of the files that are still
    the ones it indexed. True if any file's part was used."""
    try:
        with os.fdopen(open_regular(path), "rb") as saved:  # (a FIFO is not waited on)
            parts = _read(saved, index, version)
    except (OSError, ValueError, KeyError, TypeError, EOFError, RecursionError):
        return False  # (a header nested past Python's depth: RecursionError)
    if not any(parts):
        return False
    if index.start_from(parts):
        return True
    for part in parts:
        if part is not None:
            close_fd(part[0])
    return False


_Part = tuple[int, LineStarts, int, int, bytes, Ends]


def _read(saved: Any, index: LogIndex, version: str) -> list[_Part | None]:
    header = json.loads(saved.readline(_HEADER_LIMIT))
    if (
        not isinstance(header, dict)
        or header.get("magic") != MAGIC
        or header.get("format") != FORMAT
        or header.get("tool") != version
        or header.get("byteorder") != sys.byteorder
        or not isinstance(header.get("files"), dict)
    ):
        raise ValueError("another format, version or machine")
    entries = header["files"]
    found: list[_Part | None] = []
    at = saved.tell()
    try:
        for path in index.paths:
            entry = entries.get(path.name)
            part = None
            if entry is not None:
                saved.seek(at)
                part = _restore_file(saved, path, entry)
            found.append(part)
            if entry is not None:
                at += entry["count"] * array(entry["typecode"]).itemsize
    except BaseException:
        for part in found:  # a file's part opened, the next one refused
            if part is not None:
                close_fd(part[0])
        raise
    return found


def _restore_file(saved: Any, path: Path, entry: dict[str, Any]) -> _Part | None:
    """One file's part, if the file at ``path`` is still the one indexed (its descriptor
    opened here), else None."""
    end, count, typecode = entry["end"], entry["count"], entry["typecode"]
    lines = entry["lines"]
    if typecode not in ("I", "Q") or not all(type(n) is int for n in (end, count, lines)):
        raise ValueError("not an index of lines")
    identity = FileIdentity.from_json(entry["identity"])
    if identity.size != end or end <= 0 or count <= 0 or entry["stride"] != STRIDE:
        raise ValueError("not an index of lines")
    if count != -(-lines // STRIDE):
        raise ValueError("the offsets kept are not the lines'")
    marks: array[int] = array(typecode)
    if count * marks.itemsize > os.fstat(saved.fileno()).st_size - saved.tell():
        raise ValueError("the offsets are not all there")  # (nor allocated for)
    marks.fromfile(saved, count)
    offsets = LineStarts(marks, lines)
    if _digest(offsets) != entry["sha256"]:
        raise ValueError("the offsets are not the ones written")
    if marks[0] != 0 or marks[-1] >= end or not all(map(lt, marks, islice(marks, 1, None))):
        raise ValueError("the offsets are not within the file")
    anchor = bytes.fromhex(entry["anchor"])
    crc = entry["crc"]
    if type(crc) is not int:
        raise ValueError("not an index of lines")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        n = min(end, ENDS_BYTES)
        ends = os.pread(fd, n, 0), os.pread(fd, n, end - n)  # what the check below checks
        if file_identity(fd, end) != identity or not anchor.endswith(b"\n"):
            close_fd(fd)
            return None
        # The last run's lines end where the index does (a count of lines that is not the
        # file's is refused, however its header was made).
        last = FileIndex(path, 0)
        last.fd, last.end = fd, end
        if last.start_after(marks[-1], lines - (count - 1) * STRIDE) != end:
            raise ValueError("the lines kept are not the file's")
    except OSError:
        close_fd(fd)
        return None
    except BaseException:
        close_fd(fd)
        raise
    return fd, offsets, end, crc, anchor, ends
