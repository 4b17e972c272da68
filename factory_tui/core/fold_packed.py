"""Old ended sessions of a fold, packed: a long history's sessions in a few bytes each.

A cold fold of a long log starts hundreds of thousands of sessions, and nearly all of them end
long before the fleet's history window: nothing shows them, yet the cost view and the warm-start
cache's save still read them. :class:`PackedChunks` keeps such sessions in ``seq`` order, a
chunk of :data:`CHUNK` at a time, each field of a chunk as one zlib-compressed ``marshal`` blob
(the times of neighbouring sessions, their tasks and instances compress well): about 20 bytes a
session instead of the ~400 of a :class:`~factory_tui.core.fold_records.SessionRec` and its
strings. A chunk's sessions that must stay records (open ones, each task's latest: the fold
changes or compares them) are left out of it, marked by a ``None`` task, and kept by the table
(:class:`~factory_tui.core.fold_sessions.SessionTable`).

The blobs are made and read only here, from values the fold made: ``marshal`` never reads
anything from outside the process (a store's file is the process's own, with no name another
could open it by). Given a :class:`ChunkStore` (a file of this process's own,
see :mod:`factory_tui.adapters.spill`), a chunk's blobs are written there as it is packed and
read back when asked: a long cold read's archive (~30 MB at 10x, in two processes) is then not
held in memory. A chunk the store cannot take stays in memory; one it cannot give back raises
:class:`~factory_tui.core.fold_saved.SavedSessionsError` (the fold cannot answer: it is read
again).
"""

from __future__ import annotations

import marshal
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any, Protocol

from factory_tui.core.fold_records import SESSION_NUMBERS, SESSION_TEXT, SessionRec
from factory_tui.core.fold_saved import read_saved

__all__ = ["CHUNK", "FIELDS", "UNPACKED", "ChunkStore", "PackedChunks", "make_session"]

CHUNK = 4096
"""Sessions per packed chunk: big enough to compress well, small enough to unpack in well under
a millisecond a field."""
FIELDS = (*SESSION_TEXT, *SESSION_NUMBERS)
"""Every field of a :class:`SessionRec` but ``seq`` (its place), in blob order."""
_NUMBERS = frozenset({"start_line", "end_line", "extra_starts"})
_UINT32, _TEXTS = b"I", b"M"
"""The first byte of a blob: uint32 numbers (a C array: much cheaper than ``marshal`` for
numbers), or any values."""
UNPACKED = 8
"""How many chunks are kept unpacked (the last read)."""
_TASK = FIELDS.index("task")
_new = object.__new__


def make_session(seq: int, values: Sequence[Any]) -> SessionRec:
    """A record from its :data:`FIELDS` values (assigned in one statement: a loop of
    ``setattr`` was most of the cost of a chunk's walk)."""
    rec: SessionRec = _new(SessionRec)
    rec.seq = seq
    (
        rec.task,
        rec.instance,
        rec.branch,
        rec.started_at,
        rec.source,
        rec.recovered_from,
        rec.ended_at,
        rec.end_status,
        rec.recovered_by,
        rec.pr,
        rec.last_step,
        rec.last_step_state,
        rec.last_step_at,
        rec.last_event_at,
        rec.checkpoint_file,
        rec.last_error,
        rec.start_line,
        rec.end_line,
        rec.extra_starts,
    ) = values
    return rec


def _numbers(values: list[int]) -> bytes:
    """The blob of a number column: uint32 when they all are (an ended session's line numbers
    are, but in a log of more than 4 billion lines), else any values."""
    try:
        return _UINT32 + zlib.compress(array("I", values).tobytes(), 1)
    except (OverflowError, TypeError):
        return _TEXTS + zlib.compress(marshal.dumps(values), 1)


class ChunkStore(Protocol):
    """Where packed chunks are kept out of memory (a file)."""

    def put(self, data: bytes) -> int | None:
        """Keep ``data``; where it is, or None when it cannot be kept (then held in memory)."""

    def get(self, at: int, size: int) -> bytes:
        """The ``size`` bytes kept at ``at``: fewer if the store was cut short (``OSError``
        when it cannot be read)."""


class _Stored:
    """A chunk whose blobs a store keeps, one after another from ``at``."""

    __slots__ = ("at", "sizes", "store")

    def __init__(self, store: ChunkStore, at: int, sizes: tuple[int, ...]) -> None:
        self.store, self.at, self.sizes = store, at, sizes

    def blob(self, field: int) -> bytes:
        """Field ``field``'s blob, read from the store."""
        at, size = self.at + sum(self.sizes[:field]), self.sizes[field]
        return read_saved(lambda: _whole(self.store.get(at, size), size), "packed sessions on disk")


def _whole(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise OSError(f"{len(data)} bytes read of {size}")
    return data


class PackedChunks:
    """Sessions ``first`` onwards, a chunk at a time (:data:`CHUNK`, ``size``, as the fold packs
    them; another fold's chunks, adopted, may follow a shorter one), each chunk a tuple of
    compressed fields (see the module's docstring). The last :data:`UNPACKED` chunks read are
    kept unpacked: a walk back through the sessions that ended lately (in another order than
    they started: the chunks they are in alternate) unpacks each chunk once."""

    __slots__ = ("_chunks", "_end", "_starts", "_unpacked", "first", "size", "store")

    def __init__(self, first: int, size: int = CHUNK) -> None:
        self.first = first
        self.size = size
        self.store: ChunkStore | None = None
        """Where the chunks packed from now on are kept (None: in memory)."""
        self._chunks: list[tuple[bytes, ...] | _Stored] = []
        self._starts: list[int] = []
        """The first ``seq`` of each chunk."""
        self._end = first
        self._unpacked: dict[int, list[list[Any]]] = {}

    def __len__(self) -> int:
        """How many sessions the chunks cover (the kept records' places included)."""
        return self._end - self.first

    @property
    def packed_bytes(self) -> int:
        """The chunks' size, in memory or kept by a store."""
        return sum(
            sum(chunk.sizes) if isinstance(chunk, _Stored) else sum(map(len, chunk))
            for chunk in self._chunks
        )

    @property
    def held_bytes(self) -> int:
        """The chunks' size in memory (not kept by a store)."""
        return sum(sum(map(len, c)) for c in self._chunks if not isinstance(c, _Stored))

    def pack(self, recs: Sequence[SessionRec], kept: Sequence[bool]) -> None:
        """Add the next chunk: ``recs`` (the next sessions, in ``seq`` order; ``size`` of them
        as the fold packs), without those ``kept`` (their places hold a ``None`` task)."""
        if not recs or recs[0].seq != self._end:
            raise ValueError("a packed chunk is a run of the next sessions")
        left_out = [at for at, keep in enumerate(kept) if keep]
        blobs = []
        for name in FIELDS:
            values = list(map(attrgetter(name), recs))
            if name == "task":  # the mark of a kept record (its other fields are not read)
                for at in left_out:
                    values[at] = None
            elif name in _NUMBERS:
                for at in left_out:
                    values[at] = 0  # an open session's end_line is None
                blobs.append(_numbers(values))
                continue
            blobs.append(_TEXTS + zlib.compress(marshal.dumps(values), 1))
        self._chunks.append(self._kept(tuple(blobs)))
        self._starts.append(self._end)
        self._end += len(recs)

    def _kept(self, blobs: tuple[bytes, ...]) -> tuple[bytes, ...] | _Stored:
        """``blobs`` as kept: by the store when it takes them, else as they are."""
        store = self.store
        if store is None:
            return blobs
        at = store.put(b"".join(blobs))
        return blobs if at is None else _Stored(store, at, tuple(map(len, blobs)))

    def adopt(self, other: PackedChunks, first: int) -> None:
        """Add ``other``'s chunks as they are (their blobs hold no ``seq``), its sessions
        numbered from ``first`` on: the next place here."""
        if first != self._end:
            raise ValueError("adopted chunks start at the next place")
        shift = first - other.first
        self._chunks.extend(other._chunks)
        self._starts.extend(start + shift for start in other._starts)
        self._end += len(other)

    def start(self, n: int) -> int:
        """The first ``seq`` of chunk ``n``."""
        return self._starts[n]

    def column(self, n: int, field: int) -> list[Any]:
        """Field number ``field`` of chunk ``n``'s sessions (a kept record's place: ``None`` as
        its task, anything as its other fields)."""
        chunk = self._chunks[n]
        blob = chunk.blob(field) if isinstance(chunk, _Stored) else chunk[field]
        data = zlib.decompress(blob[1:])
        if blob[:1] == _UINT32:
            return array("I", data).tolist()
        return marshal.loads(data)  # type: ignore[no-any-return]

    def columns(self, n: int) -> list[list[Any]]:
        """Every field of chunk ``n``, in :data:`FIELDS` order (kept unpacked a while)."""
        unpacked = self._unpacked
        columns = unpacked.pop(n, None)
        if columns is None:
            columns = [self.column(n, field) for field in range(len(FIELDS))]
            if len(unpacked) >= UNPACKED:
                del unpacked[next(iter(unpacked))]  # the least recently read
        unpacked[n] = columns
        return columns

    def session(self, seq: int) -> SessionRec | None:
        """A new record of packed session ``seq``; ``None`` when its record was kept."""
        n = bisect_right(self._starts, seq) - 1
        columns = self.columns(n)
        at = seq - self._starts[n]
        if columns[_TASK][at] is None:
            return None
        return make_session(seq, [column[at] for column in columns])

    def sessions(self, n: int) -> Iterator[SessionRec | None]:
        """New records of chunk ``n``'s sessions, in order (``None``: a kept record)."""
        first = self._starts[n]
        columns = self.columns(n)
        for at, values in enumerate(zip(*columns, strict=True)):
            yield None if values[_TASK] is None else make_session(first + at, values)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)
