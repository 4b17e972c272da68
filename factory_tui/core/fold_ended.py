"""The order a restored fold's sessions ended in, the old part read when first needed.

A fold restored from the warm-start cache walks back through the sessions that ended lately
(the fleet's history window, a save's live sessions) and appends those that end from then on;
the first ones — a long history's hundreds of thousands, 6 MB of a 300-day log's — stay in the
cache file until something asks for them (a walk back past the last ones, a save, a whole
read), then are read once and checked.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from typing import overload

from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_sessions import (
    SavedSessionsError,
    SessionRefs,
    SessionTable,
    read_saved,
)

__all__ = ["LATE_ENDS", "EndedRefs"]

LATE_ENDS = 256
"""A walk back through the sessions that ended (newest first, in the order the log has them) for
those that ended after a time stops after this many in a row ended before it, not at the first:
a SESSION-END logged late with an older time (another machine's clock, a time with a zone read
against local ones) would otherwise hide every session logged before it that ended after it."""


class EndedRefs(SessionRefs):
    """:class:`SessionRefs` whose first ``before`` seqs are ``load()``'s (an array of exactly
    that many, each a session of ``table``; anything else is :class:`SavedSessionsError`),
    read on first need; the last ones, ``last``, and those appended are held."""

    __slots__ = ("_before", "_load")

    def __init__(
        self,
        table: SessionTable,
        last: array[int],
        before: int,
        load: Callable[[], array[int]],
    ) -> None:
        super().__init__(table, last)
        self._before = before
        self._load: Callable[[], array[int]] | None = load

    @property
    def first_read(self) -> bool:
        """Whether the first sessions were read (or there were none to read)."""
        return self._load is None

    @property
    def seqs(self) -> array[int]:
        last = self._seqs_found
        assert last is not None
        if self._load is None:
            return last
        first = read_saved(self._load, "ended sessions")
        count = len(self._table)
        if len(first) != self._before or (first and max(first) >= count):
            raise SavedSessionsError(
                "the warm-start cache's ended sessions are not those it saved; the cache is "
                "not used again (or run with --no-cache)"
            )
        first.extend(last)
        self._seqs_found, self._load, self._before = first, None, 0
        return first

    def __len__(self) -> int:
        last = self._seqs_found
        assert last is not None
        return self._before + len(last)

    @overload
    def __getitem__(self, index: int) -> SessionRec: ...

    @overload
    def __getitem__(self, index: slice) -> list[SessionRec]: ...

    def __getitem__(self, index: int | slice) -> SessionRec | list[SessionRec]:
        last, before = self._seqs_found, self._before
        if self._load is not None and last is not None:
            table = self._table
            if isinstance(index, slice):
                start, stop, step = index.indices(before + len(last))
                if step == 1 and start >= before:  # (a stop before the start: empty)
                    return [table[seq] for seq in last[start - before : max(start, stop) - before]]
            else:
                at = index + before + len(last) if index < 0 else index
                if at >= before:
                    return table[last[at - before]]
        return super().__getitem__(index)

    def __reversed__(self) -> Iterator[SessionRec]:
        if self._load is None:
            return super().__reversed__()
        return self._walk_back()

    def _walk_back(self) -> Iterator[SessionRec]:
        """The last sessions from the newest, then (read only if the walk goes on) the first."""
        table, last, before = self._table, self._seqs_found, self._before
        assert last is not None
        for seq in reversed(last):
            yield table[seq]
        seqs = self.seqs
        for at in range(before - 1, -1, -1):
            yield table[seqs[at]]
