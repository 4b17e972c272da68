"""The fold's sessions: every one by ``seq`` (:class:`SessionTable`), and lists of them by
``seq`` (:class:`SessionRefs`: those that ended, in that order; an instance's).

A fold restored from the warm-start cache gets the sessions the fleet shows as records (the
open ones, each task's latest, those that ended lately: the *live* ones) and every session as
saved uint32 columns that are read only when something asks for another session (the cost
view, a save): the *archive*. A warm start of a long history then costs what the fleet shows,
not the hundreds of thousands of old sessions nothing shows; the archive is not even read from
the cache file until then. A session made from the archive is kept (the same object every
time, as the fold's other tables hold it). Only open sessions are ever changed by the fold, and
they are all live.

A fold that goes on (a cold read of a long log, or a warm start that reads more) packs its old
ended sessions the same way, a chunk at a time (:mod:`factory_tui.core.fold_packed`): its
memory is then its live sessions, not its history.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from typing import Any, overload

from factory_tui.core.fold_packed import CHUNK, FIELDS, ChunkStore, PackedChunks
from factory_tui.core.fold_records import SESSION_NUMBERS, SESSION_TEXT, SessionRec
from factory_tui.core.fold_saved import (
    WIDTH,
    CodedColumn,
    SavedSessionsError,
    SavedStrings,
    all_in,
    check_saved,
    read_saved,
)

__all__ = [
    "SESSION_NUMBERS",
    "SESSION_TEXT",
    "SavedArchive",
    "SavedColumns",
    "SavedEnded",
    "SavedSessionsError",
    "SavedStrings",
    "SessionRefs",
    "SessionTable",
    "all_in",
    "check_saved",
    "read_saved",
    "restore_session",
]

WIDTH_OF = {name: n for n, name in enumerate((*SESSION_TEXT, *SESSION_NUMBERS))}
"""Each field's column in the archive's ``flat``."""
_RESTORE_BATCH = 8192

SavedColumns = tuple[Sequence[str | None], "array[int]"]
"""The archive: a table of strings (``None`` first), then every session's fields as
:data:`SESSION_TEXT` indexes into it and :data:`SESSION_NUMBERS`, one column after another."""

SavedArchive = Callable[[], SavedColumns] | None
SavedEnded = Callable[[], "array[int]"] | None
"""Parts of a saved fold kept in the cache file, each read when first needed (None: none)."""


def restore_session(
    seq: int,
    task: Any,
    instance: Any,
    branch: Any,
    started_at: Any,
    source: Any,
    recovered_from: Any,
    ended_at: Any,
    end_status: Any,
    recovered_by: Any,
    pr: Any,
    last_step: Any,
    last_step_state: Any,
    last_step_at: Any,
    last_event_at: Any,
    checkpoint_file: Any,
    last_error: Any,
    start_line: int,
    end_line: int,
    extra_starts: int,
) -> SessionRec:
    """A :class:`SessionRec` from the values of :data:`SESSION_TEXT` then
    :data:`SESSION_NUMBERS`, in order (already checked): one call per session of a big log."""
    session = _new_session(SessionRec)
    session.seq = seq
    session.task = task
    session.instance = instance
    session.branch = branch
    session.started_at = started_at
    session.source = source
    session.recovered_from = recovered_from
    session.ended_at = ended_at
    session.end_status = end_status
    session.recovered_by = recovered_by
    session.pr = pr
    session.last_step = last_step
    session.last_step_state = last_step_state
    session.last_step_at = last_step_at
    session.last_event_at = last_event_at
    session.checkpoint_file = checkpoint_file
    session.last_error = last_error
    session.start_line = start_line
    session.end_line = end_line - 1 if end_line else None  # stored + 1: 0 is None
    session.extra_starts = extra_starts
    return session


_new_session = object.__new__


class SessionTable(Sequence[SessionRec]):
    """Every session of a fold, by ``seq``: ``count`` restored ones (those in ``live`` made
    already, the others made from the archive ``saved`` returns on first need, as checked by
    :func:`check_saved`: it raises ``ValueError`` when it cannot), then those appended: the
    first of them packed (:meth:`pack`, :mod:`factory_tui.core.fold_packed`) but those still
    open then (``_held``: the fold changes them), then the rest as records (``_added``).

    A packed session read by index is made once and kept (``_kept``: the same object every
    time) until a later :meth:`pack` forgets those its ``keep`` refuses (ended, no longer a
    task's latest: nothing holds them but readers done with them); slices and
    :meth:`__iter__` make the packed ones they need for the walk only (a walk over every
    session of a long history would otherwise keep them all)."""

    __slots__ = (
        "_added",
        "_archive",
        "_count",
        "_cut",
        "_held",
        "_kept",
        "_len",
        "_live",
        "_packed",
        "_prune_at",
        "_saved",
        "_walks",
    )

    def __init__(
        self,
        count: int = 0,
        live: dict[int, SessionRec] | None = None,
        saved: Callable[[], SavedColumns] | None = None,
    ) -> None:
        self._count = count
        self._live: dict[int, SessionRec] = {} if live is None else live
        """The restored sessions made so far, by seq."""
        self._saved = saved
        self._archive: SavedColumns | None = None
        self._walks = 0
        """How many :meth:`archive_held` walks are under way (nested)."""
        self._cut: Sequence[str | None] | None = None
        """The archive's strings cut out in one pass, for the walk under way (a method call
        per value cost a second for the columns of the scale factory's 150,000 sessions)."""
        self._packed = PackedChunks(count, CHUNK)  # read here: a test makes it small
        self._held: dict[int, SessionRec] = {}
        """The sessions open when packed (not in the packed chunks), by seq."""
        self._kept: dict[int, SessionRec] = {}
        self._prune_at = 0
        """How many kept records make the next :meth:`pack` ask ``keep`` about them again."""
        """Packed sessions made and kept (see the class's docstring), by seq."""
        self._added: list[SessionRec] = []
        self._len = count
        """How many sessions there are (restored, packed and appended): kept, not summed, as
        the fold asks at every SESSION-START."""

    def __len__(self) -> int:
        return self._len

    @property
    def store(self) -> ChunkStore | None:
        """Where the sessions packed from now on are kept (see
        :class:`~factory_tui.core.fold_packed.ChunkStore`; None: in memory)."""
        return self._packed.store

    @store.setter
    def store(self, store: ChunkStore | None) -> None:
        self._packed.store = store

    @overload
    def __getitem__(self, index: int) -> SessionRec: ...

    @overload
    def __getitem__(self, index: slice) -> list[SessionRec]: ...

    def __getitem__(self, index: int | slice) -> SessionRec | list[SessionRec]:
        if isinstance(index, slice):
            wanted = range(*index.indices(len(self)))
            if self._count - len(self._live) and len(wanted) > _RESTORE_BATCH:
                self._restore_all()  # many: made in batches, faster than one by one
            return [self._peek(n) for n in wanted]
        count = self._count
        if index < 0:
            index += len(self)
        if index >= count:
            return self._packed_or_added(index)
        if index < 0:
            raise IndexError("session index out of range")
        rec = self._live.get(index)
        return self._restore(index) if rec is None else rec

    def __iter__(self) -> Iterator[SessionRec]:
        if self._count - len(self._live):
            self._restore_all()
        live = self._live
        yield from (live[seq] for seq in range(self._count))
        packed, held, kept = self._packed, self._held, self._kept
        for n in range(packed.chunk_count):
            for seq, rec in enumerate(packed.sessions(n), start=packed.start(n)):
                yield held[seq] if rec is None else kept.get(seq, rec)
        yield from self._added

    def append(self, rec: SessionRec) -> None:
        """Add the next session, numbering it (its ``seq``: its place)."""
        rec.seq = self._len
        self._len += 1
        self._added.append(rec)

    @property
    def chunk(self) -> int:
        """How many sessions :meth:`pack` packs at a time."""
        return self._packed.size

    @property
    def unpacked(self) -> int:
        """How many appended sessions are records, not packed yet."""
        return len(self._added)

    def pack(self, keep: Callable[[SessionRec], bool]) -> None:
        """Pack the oldest chunk of the appended sessions: the ended ones (the fold never
        changes them again); the open ones stay records (``_held``). ``keep``: the packed
        sessions that stay records all the same (a task's latest: the fold's tables hold them),
        asked again of those kept so far once they have doubled (the others are forgotten)."""
        size = self._packed.size
        if len(self._added) >= size:
            self._pack(size, keep)

    def forget(self, seq: int) -> None:
        """Session ``seq`` need not stay a record (ended, and no longer its task's latest): a
        packed one kept is let go (made again from its chunk if read)."""
        self._kept.pop(seq, None)

    def pack_rest(self, keep: Callable[[SessionRec], bool]) -> None:
        """Pack the appended sessions that are left, however few, as one chunk (see
        :meth:`pack`): a fold sent to another process is then mostly bytes."""
        if self._added:
            self._pack(len(self._added), keep)

    def _pack(self, size: int, keep: Callable[[SessionRec], bool]) -> None:
        """Pack the first ``size`` appended sessions (see :meth:`pack`)."""
        recs = self._added[:size]
        still_open = [rec.ended_at is None for rec in recs]
        self._packed.pack(recs, still_open)
        self._held.update((rec.seq, rec) for rec in recs if rec.ended_at is None)
        kept = self._kept
        if len(kept) >= self._prune_at:
            # Asked again once they have doubled, not at every pack: a history of many tasks
            # (each one's latest kept) would cost sessions x tasks / a chunk's size.
            for seq in [seq for seq, rec in kept.items() if not keep(rec)]:
                del kept[seq]
            self._prune_at = 2 * len(kept) + self._packed.size
        kept.update((rec.seq, rec) for rec in recs if rec.ended_at is not None and keep(rec))
        del self._added[:size]

    @property
    def restored_records(self) -> int | None:
        """How many restored sessions there are when they are all records (None: some are
        only in the archive)."""
        return self._count if self._count == len(self._live) else None

    def adopt(self, other: SessionTable, keep: Callable[[SessionRec], bool]) -> list[SessionRec]:
        """Take ``other``'s packed sessions after this table's, as they are (a split read's
        tail: :func:`~factory_tui.core.fold_split.merge_tail`), numbered on from here; its
        records (held, kept) renumbered with them. ``other``'s restored sessions (the tail's
        placeholders) are not taken, nor its appended records: they are returned, in order,
        for the caller to append. The appended ones here are packed first (``keep`` as in
        :meth:`pack`), however many: the adopted chunks follow them."""
        if other.restored_records is None:
            raise ValueError("only a table whose restored sessions are all records is adopted")
        if self._added:
            self._pack(len(self._added), keep)
        shift = len(self) - other._count
        self._packed.adopt(other._packed, other._packed.first + shift)
        for mine, theirs in ((self._held, other._held), (self._kept, other._kept)):
            for seq, rec in theirs.items():
                rec.seq = seq + shift
                mine[rec.seq] = rec
        self._len += len(other._packed)
        return list(other._added)

    def _peek(self, seq: int) -> SessionRec:
        """Session ``seq`` (``0 <= seq < len(self)``); a packed one not held is made but not
        kept (see the class's docstring)."""
        packed = self._packed
        if self._count <= seq < packed.first + len(packed):
            rec = self._held.get(seq) or self._kept.get(seq) or packed.session(seq)
            assert rec is not None  # a place without its session is a held record's
            return rec
        return self[seq]

    def _packed_or_added(self, seq: int) -> SessionRec:
        """Session ``seq`` (an appended one: past the restored ones)."""
        packed = self._packed
        at = seq - packed.first - len(packed)
        if at >= 0:
            return self._added[at]
        rec = self._held.get(seq) or self._kept.get(seq)
        if rec is None:
            rec = packed.session(seq)
            assert rec is not None  # a place without its session is a held record's
            self._kept[seq] = rec
        return rec

    @property
    def saved(self) -> int:
        """How many sessions are still only in the archive or packed (not made yet)."""
        made = len(self._held) + len(self._kept)
        return self._count - len(self._live) + len(self._packed) - made

    @property
    def archive_read(self) -> bool:
        """Whether the archive is held, read (or there was none to read)."""
        return self._saved is None or self._archive is not None

    @contextmanager
    def archive_held(self) -> Iterator[None]:
        """Within: the archive, once read, is held, and its strings cut out once for every
        column read (a walk of several columns reads it once); after: both let go unless held
        before, the archive read again from the cache file when next needed. A walk of every
        session (the spend's spans, a save) then does not keep a long history's archive for
        the process's life (190 MB at 10x: the cockpit's RSS on that history was 401 MB warm,
        more than cold). A session made from it outside such a walk keeps it (see
        :meth:`_restore`); inside, it goes with the walk's. One thread reads a table at a time
        (a reader's worker): another thread's read in the walk would be let go too (read again
        when next needed, never a wrong answer)."""
        held = self._archive is not None
        self._walks += 1
        try:
            yield
        finally:
            self._walks -= 1
            if not self._walks:
                self._cut = None
            if not held and self._saved is not None:
                self._archive = None

    def columns(self, names: Sequence[str]) -> list[list[Any]]:
        """:meth:`column` of each of ``names``, the archive read once for all."""
        with self.archive_held():
            return [self.column(name) for name in names]

    def column(self, name: str) -> list[Any]:
        """The values of one field of every session, in ``seq`` order (for saving: the
        archived sessions are not made for it; several columns are read in an
        :meth:`archive_held` walk)."""
        values: list[Any] = []
        for part in self.column_parts(name):
            if values:
                values.extend(part)
            else:
                values = part  # each part is a new list: the first one is not copied
        return values

    def saved_table(self) -> SavedStrings | None:
        """The archive's table of texts when the restored sessions are still read from one
        (see :meth:`restored_codes`), else None."""
        if not self._count or len(self._live) == self._count or self._saved is None:
            return None
        strings = self._read_archive()[0]
        return strings if isinstance(strings, SavedStrings) else None

    def restored_codes(self, name: str) -> tuple[array[int], list[int]]:
        """The restored sessions' ``name`` column as the archive holds it (indexes into
        :meth:`saved_table` for a text, ``end_line`` + 1), and the ``seq`` of the restored
        sessions made since, whose values may have changed (the caller puts them in): a save
        of a warm fold copies them, instead of cutting out every text of a long history
        (525 MB and 5 s of a 300-day history's resave)."""
        count = self._count
        n = WIDTH_OF[name]
        codes = self._read_archive()[1][n * count : (n + 1) * count]
        return codes, sorted(self._live)

    def coded_column(self, name: str) -> CodedColumn | None:
        """The restored sessions' text column ``name`` as codes into the archive's table (see
        :class:`CodedColumn`), the values of those made since put in; None when they are not
        read from a table of texts (read :meth:`column_parts` whole). The sessions after them
        are :meth:`column_parts` with ``restored=False``. Read in an :meth:`archive_held` walk:
        the archive is read for it."""
        table = self.saved_table()
        if table is None:
            return None
        return self._coded(name, self.restored_codes(name)[0], table)

    def coded_columns(self, names: Sequence[str]) -> list[CodedColumn] | None:
        """:meth:`coded_column` of each of ``names`` (text columns); None as it says. When the
        archive is not held, only these columns of it are kept from its read (a cache file's
        archive that can: its ``columns`` method; it is still read and checked whole)."""
        partial = getattr(self._saved, "columns", None)
        if self._archive is not None or partial is None or len(self._live) == self._count:
            found = [self.coded_column(name) for name in names]
            coded = [column for column in found if column is not None]
            return coded if len(coded) == len(found) else None
        if not self._count:
            return None
        places = [WIDTH_OF[name] for name in names]
        strings, kept = read_saved(lambda: partial(places), "saved sessions")
        return [
            self._coded(name, kept[place], strings)
            for name, place in zip(names, places, strict=True)
        ]

    def made(self, seqs: Sequence[int]) -> list[SessionRec]:
        """The sessions ``seqs``, in that order. Restored ones not made yet are made from only
        their rows of the archive when it is not held (a cache file's archive that can: its
        ``rows`` method; it is still read and checked whole): a few sessions of a long
        history without every column of every session in memory."""
        count, live = self._count, self._live
        wanted = sorted({seq for seq in seqs if 0 <= seq < count and seq not in live})
        rows = getattr(self._saved, "rows", None)
        if wanted and self._archive is None and rows is not None:
            strings, values = read_saved(lambda: rows(wanted), "saved sessions")
            for n, seq in enumerate(wanted):
                live[seq] = _row_session(seq, strings, [column[n] for column in values])
        return [self[seq] for seq in seqs]

    def _coded(self, name: str, codes: array[int], table: SavedStrings) -> CodedColumn:
        """The restored sessions' column ``name`` as saved (``codes``, a copy: changed here),
        the values of those made since put in past the end of ``table``."""
        get, text, live = attrgetter(name), table.text, self._live
        extra: list[str | None] = []
        base = len(table)
        for seq in sorted(live):
            value = get(live[seq])
            if text(codes[seq]) != value:
                codes[seq] = base + len(extra)
                extra.append(value)
        return CodedColumn(codes, table, extra)

    def column_parts(self, name: str, *, restored: bool = True) -> Iterator[list[Any]]:
        """:meth:`column` a part at a time, in ``seq`` order: the restored sessions (unless not
        ``restored``), each packed chunk, the appended records (a save of a long history holds
        one chunk's values at a time, not every session's: ~90 MB less at 10x)."""
        get = attrgetter(name)
        count, live = self._count, self._live
        if count and restored:
            values: list[Any]
            if len(live) == count:
                values = [get(live[seq]) for seq in range(count)]
            else:
                strings, flat = self._read_archive()
                if name in SESSION_TEXT:
                    n = SESSION_TEXT.index(name)
                    values = list(
                        map(self._strings(strings).__getitem__, flat[n * count : (n + 1) * count])
                    )
                else:
                    n = len(SESSION_TEXT) + SESSION_NUMBERS.index(name)
                    values = list(flat[n * count : (n + 1) * count])
                    if name == "end_line":
                        values = [v - 1 if v else None for v in values]
                for seq, rec in live.items():
                    values[seq] = get(rec)
            yield values
        packed = self._packed
        if len(packed):
            field = FIELDS.index(name)
            held = sorted(self._held.items())
            at = 0
            for n in range(packed.chunk_count):
                part = packed.column(n, field)
                first = packed.start(n)
                end = first + len(part)
                while at < len(held) and held[at][0] < end:
                    seq, rec = held[at]
                    part[seq - first] = get(rec)
                    at += 1
                yield part
        yield list(map(get, self._added))

    def saved_seqs_of(self, instance: str) -> array[int]:
        """The restored sessions of ``instance``, in ``seq`` order (read from the archive: an
        instance's sessions never change)."""
        found = array("I")
        count = self._count
        if not count:
            return found
        if len(self._live) == count:
            found.extend(seq for seq in range(count) if self._live[seq].instance == instance)
            return found
        strings, flat = self._read_archive()
        column = flat[count : 2 * count]  # SESSION_TEXT[1]: the instance
        for value in {n for n, text in enumerate(strings) if text == instance}:
            at = -1
            try:
                while True:
                    at = column.index(value, at + 1)
                    found.append(at)
            except ValueError:
                pass
        return array("I", sorted(found))

    def _strings(self, strings: Sequence[str | None]) -> Sequence[str | None]:
        """The archive's ``strings`` to read a whole column with: cut out once a walk (see
        :meth:`archive_held`), else as they are."""
        if not self._walks:
            return strings
        if self._cut is None:
            self._cut = strings.as_list() if isinstance(strings, SavedStrings) else strings
        return self._cut

    def _read_archive(self) -> SavedColumns:
        archive = self._archive
        if archive is None:
            if self._saved is None:
                raise SavedSessionsError("a restored session without its archive")
            archive = self._archive = read_saved(self._saved, "saved sessions")
        return archive

    def _restore(self, seq: int) -> SessionRec:
        count = self._count
        strings, flat = self._read_archive()
        rec = self._live[seq] = _row_session(seq, strings, flat[seq::count])
        return rec

    def _restore_all(self) -> None:
        """Make every archived session not made yet (in batches: small temporaries), then
        forget the archive."""
        count, live = self._count, self._live
        strings, flat = self._read_archive()
        get = strings.__getitem__
        for first in range(0, count, _RESTORE_BATCH):
            last = min(first + _RESTORE_BATCH, count)
            columns: list[Iterable[Any]] = [
                map(get, flat[n * count + first : n * count + last])
                for n in range(len(SESSION_TEXT))
            ]
            columns.extend(
                flat[n * count + first : n * count + last] for n in range(len(SESSION_TEXT), WIDTH)
            )
            for rec in map(restore_session, range(first, last), *columns):
                live.setdefault(rec.seq, rec)
        self._archive, self._saved = None, None


def _row_session(seq: int, strings: Sequence[str | None], row: Sequence[int]) -> SessionRec:
    """Session ``seq`` from its row of the archive (a value a column: the text columns' indexes
    into ``strings``, then the numbers)."""
    texts = len(SESSION_TEXT)
    values: list[Any] = [strings[code] for code in row[:texts]]
    values.extend(row[texts:])
    return restore_session(seq, *values)


class SessionRefs(Sequence[SessionRec]):
    """Some sessions of ``table``, in the order they were added, kept as their ``seq``.
    ``instance``: instead of ``seqs``, the restored sessions of this instance, found in the
    archive on first use (only the demo reads them), then those appended."""

    __slots__ = ("_added", "_instance", "_seqs_found", "_table")

    def __init__(
        self,
        table: SessionTable,
        seqs: array[int] | None = None,
        *,
        instance: str | None = None,
    ) -> None:
        self._table = table
        self._seqs_found = array("I") if seqs is None and instance is None else seqs
        self._instance = instance
        self._added = array("I")

    @property
    def seqs(self) -> array[int]:
        found = self._seqs_found
        if found is None:
            assert self._instance is not None
            found = self._seqs_found = self._table.saved_seqs_of(self._instance)
            found.extend(self._added)
            self._instance, self._added = None, array("I")
        return found

    def __len__(self) -> int:
        return len(self.seqs)

    @overload
    def __getitem__(self, index: int) -> SessionRec: ...

    @overload
    def __getitem__(self, index: slice) -> list[SessionRec]: ...

    def __getitem__(self, index: int | slice) -> SessionRec | list[SessionRec]:
        table = self._table
        if isinstance(index, slice):
            return [table[seq] for seq in self.seqs[index]]
        return table[self.seqs[index]]

    def __iter__(self) -> Iterator[SessionRec]:
        table = self._table
        return (table[seq] for seq in self.seqs)

    def __reversed__(self) -> Iterator[SessionRec]:
        table = self._table
        return (table[seq] for seq in reversed(self.seqs))

    def extend_seqs(self, seqs: Iterable[int]) -> None:
        """Add sessions of the table by ``seq``, in order."""
        if self._seqs_found is None:
            self._added.extend(seqs)
        else:
            self._seqs_found.extend(seqs)

    def append(self, rec: SessionRec) -> None:
        if self._seqs_found is None:
            self._added.append(rec.seq)  # the restored ones are found when first read
        else:
            self._seqs_found.append(rec.seq)
