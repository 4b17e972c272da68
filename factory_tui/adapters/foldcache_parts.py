"""The parts of a warm-start cache file read after its body, when the fold first needs them
(see :mod:`factory_tui.adapters.foldcache`): the first sessions that ended, and the archive of
every session. Each is read from the file as opened at load and checked against its SHA-256;
damaged, it says so and the cache file is removed (the next start reads cold)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import weakref
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from factory_tui.core.fold_saved import WIDTH, SavedStrings, check_columns, check_saved
from factory_tui.core.fold_state import SAVED_TEXT

__all__ = ["Archive", "EndedFirst", "SavedPart"]


class SavedPart:
    """A part of a cache file read from the file as opened at load (a save replaces the file,
    never rewrites it) when the fold first needs it, and checked then against its SHA-256.
    Whoever holds the fold holds the file open until then."""

    __slots__ = ("__weakref__", "_digest", "_fd", "_offset", "_path")

    def __init__(self, fd: int, path: Path, offset: int, digest: str) -> None:
        self._fd, self._path, self._offset, self._digest = fd, path, offset, digest
        weakref.finalize(self, _close, fd)

    def _read(self, size: int) -> bytes:
        """Its ``size`` bytes, checked; else ``ValueError`` (and the cache file removed, so that
        the next start reads cold)."""
        try:
            data = os.pread(self._fd, size, self._offset)
            if len(data) != size or hashlib.sha256(data).hexdigest() != self._digest:
                raise ValueError("they do not match their checksum")
        except (OSError, ValueError) as error:
            self._forget()
            raise ValueError(f"{self._path}: {error}") from None
        return data

    def _forget(self) -> None:
        """Remove the cache file when it is still the one read (best effort)."""
        with contextlib.suppress(OSError):
            st, now = os.fstat(self._fd), os.stat(self._path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                self._path.unlink()


class Archive(SavedPart):
    """The archive of a cache file's fold: its string table and session columns."""

    __slots__ = ("_sessions", "_size", "_strings", "_texts")

    def __init__(
        self,
        fd: int,
        path: Path,
        offset: int,
        sizes: tuple[int, int, int],
        digest: str,
    ) -> None:
        super().__init__(fd, path, offset, digest)
        self._texts, self._strings, self._sessions = sizes
        self._size = self._texts + 4 * self._strings + 4 * self._sessions * WIDTH

    @classmethod
    def after(
        cls, f: BinaryIO, header: dict[str, Any], path: Path, sessions: object
    ) -> tuple[Archive | None, str]:
        """The archive that follows the body just read from ``f``, when the header describes
        one of that many ``sessions`` that ends the file exactly (its contents are checked
        when read)."""
        described = header.get("archive")
        if not isinstance(described, dict) or set(described) != {
            "strings_bytes",
            "strings",
            "columns",
            "sha256",
        }:
            return None, "no archive sizes"
        texts, strings, columns = (described[k] for k in ("strings_bytes", "strings", "columns"))
        digest = described["sha256"]
        if not all(type(n) is int and n >= 0 for n in (texts, strings, columns)):
            return None, "bad archive sizes"
        if type(digest) is not str:
            return None, "bad archive checksum"
        if type(sessions) is not int or columns != sessions * WIDTH:
            raise ValueError("the archive's size does not match the session count")
        offset = f.tell()
        if os.fstat(f.fileno()).st_size != offset + texts + 4 * strings + 4 * columns:
            return None, "the file's size is not what its header says"
        return cls(os.dup(f.fileno()), path, offset, (texts, strings, sessions), digest), ""

    def columns(self, wanted: Sequence[int]) -> tuple[SavedStrings, dict[int, array[int]]]:
        """The string table and only the columns ``wanted`` (by their place: see
        ``fold_sessions.WIDTH_OF``), checked as :meth:`__call__` checks them: the whole archive
        is read and hashed, the other columns a :data:`READ_CHUNK` at a time, not kept (what
        the spend's spans read of a 300-day history: 5 of its 19 columns, 6 MB each)."""
        count = self._sessions
        kept = {n: array("I", [0]) * count for n in sorted(set(wanted)) if 0 <= n < WIDTH}
        parts = [kept.get(n, 4 * count) for n in range(WIDTH)]
        strings = self._read_parts(parts, lambda table: check_columns(table, kept))
        return strings, kept

    def rows(self, seqs: Sequence[int]) -> tuple[SavedStrings, list[array[int]]]:
        """The string table and the values of the sessions ``seqs`` (in order, each in range),
        a column after another (by place), checked as :meth:`columns` checks its own: the
        whole archive is read and hashed a :data:`READ_CHUNK` at a time, only these rows kept
        (what the PR queue makes of a 300-day history: the few sessions its PRs name, where
        every column held was 150 MB)."""
        count = self._sessions
        found = sorted(set(seqs))
        if found and not 0 <= found[0] <= found[-1] < count:
            raise ValueError(
                f"sessions {found[0]}..{found[-1]} are not all in the archive's {count}"
            )
        wanted = array("I", found)
        picked = [_Picked(count, wanted) for _n in range(WIDTH)]
        strings = self._read_parts(
            picked, lambda table: check_columns(table, {n: p.values for n, p in enumerate(picked)})
        )
        place = {seq: n for n, seq in enumerate(wanted)}
        return strings, [array("I", (p.values[place[seq]] for seq in seqs)) for p in picked]

    def __call__(self) -> tuple[SavedStrings, array[int]]:
        """The string table and the columns, checked. Raises ``ValueError`` (and removes the
        cache file, so that the next start reads cold) when they are not what was saved.

        Read straight into the arrays they become, a :data:`READ_CHUNK` at a time, and
        hashed there: the file's bytes are never held beside them (at 10x, 190 MB read into
        bytes then copied: the read peaked at 320 MB RSS, now 227)."""
        columns = array("I", [0]) * (self._sessions * WIDTH)
        strings = self._read_parts(
            [columns], lambda table: check_saved(table, columns, self._sessions)
        )
        return strings, columns

    def _read_parts(
        self,
        parts: Sequence[array[int] | int | _Picked],
        check: Callable[[SavedStrings], None],
    ) -> SavedStrings:
        """The string table, then ``parts`` in the file's order (an array filled; a size in
        bytes read and hashed, not kept; or a column of which some values are picked), the
        whole checked against its hash, then by ``check``; the table. Else ``ValueError``, and
        the cache file removed."""
        try:
            raw = bytearray(self._texts)
            ends = array("I", [0]) * self._strings
            digest = hashlib.sha256()
            at = self._offset
            streamed = any(not isinstance(p, array) for p in parts)
            # Whole values a part: a picked column's chunk is read as uint32s.
            scratch = bytearray(max(4, READ_CHUNK // 4 * 4) if streamed else 0)
            for part in (raw, ends, *parts):
                if isinstance(part, int):
                    _hash_range(self._fd, scratch, at, part, digest)
                    at += part
                    continue
                if isinstance(part, _Picked):
                    _hash_range(self._fd, scratch, at, 4 * part.count, digest, part.pick)
                    at += 4 * part.count
                    continue
                with memoryview(part) as view, view.cast("B") as into:
                    _read_into(self._fd, into, at)
                    digest.update(into)
                    at += len(into)
            del scratch
            if digest.hexdigest() != self._digest:
                raise ValueError("they do not match their checksum")
            text = raw.decode(*SAVED_TEXT)
            del raw
            if sys.byteorder != "little":
                for filled in (ends, *parts):
                    if isinstance(filled, _Picked):
                        filled.values.byteswap()
                    elif not isinstance(filled, int):
                        filled.byteswap()
            strings = SavedStrings(text, ends)
            check(strings)
        except (OSError, ValueError) as error:
            self._forget()
            raise ValueError(f"{self._path}: {error}") from None
        return strings


READ_CHUNK = 16 << 20
"""What :meth:`Archive.__call__` reads at a time (and holds beside the arrays)."""


class _Picked:
    """A column of ``count`` values of which those at ``wanted`` (ascending) are kept, in
    :attr:`values`, as its chunks are read (:meth:`pick`)."""

    __slots__ = ("_next", "count", "values", "wanted")

    def __init__(self, count: int, wanted: array[int]) -> None:
        self.count, self.wanted = count, wanted
        self.values = array("I", [0]) * len(wanted)
        self._next = 0

    def pick(self, done: int, chunk: memoryview) -> None:
        """Keep the wanted values of the chunk read ``done`` bytes into the column."""
        first, wanted, at = done // 4, self.wanted, self._next
        with chunk.cast("I") as values:
            end = first + len(values)
            while at < len(wanted) and wanted[at] < end:
                self.values[at] = values[wanted[at] - first]
                at += 1
        self._next = at


def _hash_range(
    fd: int,
    scratch: bytearray,
    offset: int,
    size: int,
    digest: Any,
    seen: Callable[[int, memoryview], None] | None = None,
) -> None:
    """Hash the file's ``size`` bytes from ``offset``, read into ``scratch`` a part at a time
    (``ValueError`` if it ends first); ``seen(done, part)`` is shown each part (``done``: the
    bytes before it)."""
    with memoryview(scratch) as view:
        done = 0
        while done < size:
            part = view[: min(len(scratch), size - done)]
            _read_into(fd, part, offset + done)
            digest.update(part)
            if seen is not None:
                seen(done, part)
            done += len(part)


def _read_into(fd: int, into: memoryview, offset: int) -> None:
    """Fill ``into`` with the file's bytes from ``offset``; ``ValueError`` if it ends first."""
    done = 0
    while done < len(into):
        chunk = os.pread(fd, min(READ_CHUNK, len(into) - done), offset + done)
        if not chunk:
            raise ValueError("the file ends before its archive does")
        into[done : done + len(chunk)] = chunk
        done += len(chunk)


class EndedFirst(SavedPart):
    """The first sessions that ended (see :data:`ENDED_KEPT`), after the body's arrays: read
    from the file as opened at load when first needed, and checked against their SHA-256."""

    __slots__ = ("count",)

    def __init__(self, fd: int, path: Path, offset: int, count: int, digest: str) -> None:
        super().__init__(fd, path, offset, digest)
        self.count = count

    @classmethod
    def after(
        cls, f: BinaryIO, header: dict[str, Any], path: Path
    ) -> tuple[EndedFirst | None, str]:
        described = header.get("ended_first")
        if not isinstance(described, dict) or set(described) != {"count", "sha256"}:
            return None, "no ended sessions' size"
        count, digest = described["count"], described["sha256"]
        if type(count) is not int or count < 0 or type(digest) is not str:
            return None, "bad ended sessions' size"
        offset = f.tell()
        f.seek(4 * count, os.SEEK_CUR)
        return cls(os.dup(f.fileno()), path, offset, count, digest), ""

    def __call__(self) -> array[int]:
        """The seqs, checked against their checksum (else ``ValueError``, the file removed)."""
        values = array("I")
        values.frombytes(self._read(4 * self.count))
        if sys.byteorder != "little":
            values.byteswap()
        return values


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
