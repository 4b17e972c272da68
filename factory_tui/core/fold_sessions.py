"""The fold's sessions: every one by ``seq`` (:class:`SessionTable`), and lists of them by
``seq`` (:class:`SessionRefs`: those that ended, in that order; an instance's).

A fold restored from the warm-start cache holds its sessions as the saved uint32 columns and
makes a :class:`SessionRec` of one only when it is first asked for (then keeps it: the same
object every time, as the fold's other tables hold it). A warm start of a long history then
builds the few thousand records the fleet shows (open sessions, each task's latest, the recent
ones), not the hundreds of thousands of ended ones nothing shows until the cost view reads them
all. Only open sessions are ever changed by the fold, and they are all made when restored.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, overload

from factory_tui.core.fold_records import SessionRec

__all__ = ["SESSION_NUMBERS", "SESSION_TEXT", "SessionRefs", "SessionTable"]

# A session's fields as :meth:`LogFold.to_state` stores them: the text ones as indexes into one
# table of strings (None included), then the numbers; ``seq`` is the session's position.
SESSION_TEXT = (
    "task",
    "instance",
    "branch",
    "started_at",
    "source",
    "recovered_from",
    "ended_at",
    "end_status",
    "recovered_by",
    "pr",
    "last_step",
    "last_step_state",
    "last_step_at",
    "last_event_at",
    "checkpoint_file",
    "last_error",
)
SESSION_NUMBERS = ("start_line", "end_line", "extra_starts")
WIDTH = len(SESSION_TEXT) + len(SESSION_NUMBERS)
_RESTORE_BATCH = 8192


def _restore_session(
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
    """Every session of a fold, by ``seq``: the saved ones (``count`` of them, as ``columns``
    of indexes into ``strings`` then numbers, already checked) made on first access, then those
    appended."""

    __slots__ = ("_columns", "_count", "_made", "_recs", "_strings")

    def __init__(
        self,
        strings: Sequence[str | None] = (None,),
        columns: array[int] | None = None,
        count: int = 0,
    ) -> None:
        self._strings = strings
        self._columns = array("I") if columns is None else columns
        self._count = count
        self._recs: list[SessionRec | None] = [None] * count
        self._made: list[int] = []
        """The saved sessions made so far, by seq (once all are: none is saved any more)."""

    def __len__(self) -> int:
        return len(self._recs)

    @overload
    def __getitem__(self, index: int) -> SessionRec: ...

    @overload
    def __getitem__(self, index: slice) -> list[SessionRec]: ...

    def __getitem__(self, index: int | slice) -> SessionRec | list[SessionRec]:
        if isinstance(index, slice):
            wanted = range(*index.indices(len(self._recs)))
            if self._count and len(wanted) > _RESTORE_BATCH:
                self._restore_all()  # many: made in batches, faster than one by one
            return [self[n] for n in wanted]
        rec = self._recs[index]
        if rec is None:
            return self._restore(index % len(self._recs))
        return rec

    def __iter__(self) -> Iterator[SessionRec]:
        if self._count:
            self._restore_all()
        for rec in self._recs:
            assert rec is not None
            yield rec

    def append(self, rec: SessionRec) -> None:
        self._recs.append(rec)

    @property
    def saved(self) -> int:
        """How many sessions are still only saved columns (not made yet)."""
        return self._count and self._count - len(self._made)

    def column(self, name: str) -> list[Any]:
        """The values of one field of every session, in ``seq`` order (for saving: the saved
        sessions are not made for it)."""
        count, recs = self._count, self._recs
        if not count:
            return list(map(attrgetter(name), recs))
        get = attrgetter(name)
        values: list[Any]
        if name in SESSION_TEXT:
            n = SESSION_TEXT.index(name)
            saved = self._columns[n * count : (n + 1) * count]
            values = list(map(self._strings.__getitem__, saved))
        else:
            n = len(SESSION_TEXT) + SESSION_NUMBERS.index(name)
            values = list(self._columns[n * count : (n + 1) * count])
            if name == "end_line":
                values = [v - 1 if v else None for v in values]
        for seq in self._made:
            values[seq] = get(recs[seq])
        values.extend(map(get, recs[count:]))
        return values

    def _restore(self, seq: int) -> SessionRec:
        count, flat = self._count, self._columns
        if seq >= count:
            raise IndexError(seq)
        get = self._strings.__getitem__
        values: list[Any] = [get(flat[n * count + seq]) for n in range(len(SESSION_TEXT))]
        values.extend(flat[n * count + seq] for n in range(len(SESSION_TEXT), WIDTH))
        rec = self._recs[seq] = _restore_session(seq, *values)
        self._made.append(seq)
        return rec

    def _restore_all(self) -> None:
        """Make every saved session not made yet (in batches: small temporaries), then forget
        the saved columns."""
        count, flat, recs = self._count, self._columns, self._recs
        get = self._strings.__getitem__
        for first in range(0, count, _RESTORE_BATCH):
            last = min(first + _RESTORE_BATCH, count)
            columns: list[Iterable[Any]] = [
                map(get, flat[n * count + first : n * count + last])
                for n in range(len(SESSION_TEXT))
            ]
            columns.extend(
                flat[n * count + first : n * count + last] for n in range(len(SESSION_TEXT), WIDTH)
            )
            made = map(_restore_session, range(first, last), *columns)
            recs[first:last] = [
                old if old is not None else new
                for old, new in zip(recs[first:last], made, strict=True)
            ]
        self._count, self._columns, self._strings, self._made = 0, array("I"), (None,), []


class SessionRefs(Sequence[SessionRec]):
    """Some sessions of ``table``, in the order they were added, kept as their ``seq``.
    ``matching``: instead of ``seqs``, those whose value in this column (of a saved table) is
    this one, found on first use (an instance's sessions: only the demo reads them)."""

    __slots__ = ("_matching", "_seqs_found", "_table")

    def __init__(
        self,
        table: SessionTable,
        seqs: array[int] | None = None,
        *,
        matching: tuple[array[int], int] | None = None,
    ) -> None:
        self._table = table
        self._seqs_found = array("I") if seqs is None and matching is None else seqs
        self._matching = matching

    @property
    def seqs(self) -> array[int]:
        found = self._seqs_found
        if found is None:
            assert self._matching is not None
            column, value = self._matching
            found = self._seqs_found = array("I")
            at = -1
            try:
                while True:
                    at = column.index(value, at + 1)
                    found.append(at)
            except ValueError:
                pass
            self._matching = None
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

    def append(self, rec: SessionRec) -> None:
        self.seqs.append(rec.seq)
