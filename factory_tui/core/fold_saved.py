"""The warm-start cache's archive of sessions as a fold reads it: its table of texts kept as one
string (:class:`SavedStrings`), the check of its columns (:func:`check_saved`, :func:`all_in`),
and the error a part of a restored fold read when first needed raises when it is not what was
saved (:func:`read_saved`). See :mod:`factory_tui.core.fold_sessions`."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Container, Iterator, Mapping, Sequence, Set
from itertools import compress, islice
from operator import le
from typing import TypeVar, overload

from factory_tui.core.fold_records import SESSION_NUMBERS, SESSION_TEXT

__all__ = [
    "LANES_BYTES",
    "SCAN_TEXTS",
    "WIDTH",
    "CodedColumn",
    "SavedSessionsError",
    "SavedStrings",
    "all_in",
    "check_columns",
    "check_saved",
    "codes_of_each",
    "read_saved",
]

T = TypeVar("T")
WIDTH = len(SESSION_TEXT) + len(SESSION_NUMBERS)
"""The archive's columns: a session's texts, then its numbers."""
_REQUIRED = frozenset({"task", "started_at", "source", "last_event_at"})


class SavedSessionsError(ValueError):
    """The archive of a restored fold, read when first needed, is not what was saved (the
    cache file was changed or made by someone else): the fold cannot answer."""


def read_saved(part: Callable[[], T], what: str) -> T:
    """``part()``, a part of a restored fold read when first needed; its ``OSError`` or
    ``ValueError`` (the cache file unreadable or not what was saved) as
    :class:`SavedSessionsError` that says ``what`` could not be read and what to do."""
    try:
        return part()
    except (OSError, ValueError) as error:
        raise SavedSessionsError(
            f"the warm-start cache's {what} cannot be read: {error}; the cache is not used "
            "again (or run with --no-cache)"
        ) from None


class SavedStrings(Sequence[str | None]):
    """A string table (None, then texts) kept as its texts joined in one string and where each
    ends (a uint32 array, checked here): a few bytes a text instead of a Python string each. A
    text is cut out when read (shared with its equals while they live, by ``sys.intern``)."""

    __slots__ = ("_ends", "_text")

    def __init__(self, text: str, ends: array[int]) -> None:
        # Each bound at most the next, compared in C (a generator's pairs took 0.15 s of each
        # read of a 300-day history's two million).
        if ends and (ends[-1] != len(text) or not all(map(le, ends, islice(ends, 1, None)))):
            raise ValueError("the string table's bounds are not in order")
        if not ends and text:
            raise ValueError("the string table's bounds are not in order")
        self._text, self._ends = text, ends

    def __len__(self) -> int:
        return len(self._ends) + 1

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...

    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        if isinstance(index, slice):
            return [self[n] for n in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index <= len(self._ends):
            raise IndexError("string index out of range")
        if index == 0:
            return None
        ends = self._ends
        return sys.intern(self._text[ends[index - 2] if index > 1 else 0 : ends[index - 1]])

    def text(self, index: int) -> str | None:
        """Entry ``index`` (in range), not interned: for a comparison, not to keep."""
        if index == 0:
            return None
        ends = self._ends
        return self._text[ends[index - 2] if index > 1 else 0 : ends[index - 1]]

    def indexes_of(self, wanted: Container[str | None]) -> Iterator[int]:
        """The index of each entry that is one of ``wanted``, in order (a text may be in the
        table more than once). Its texts are cut out :data:`SCAN_TEXTS` at a time and let go:
        what finds a few texts in a 300-day history's two million without holding them."""
        text, ends = self._text, self._ends
        if None in wanted:
            yield 0
        for first in range(0, len(ends), SCAN_TEXTS):
            last = min(first + SCAN_TEXTS, len(ends))
            starts = [ends[first - 1] if first else 0, *ends[first : last - 1]]
            texts = map(text.__getitem__, map(slice, starts, ends[first:last]))
            yield from compress(range(first + 1, last + 1), map(wanted.__contains__, texts))

    def parts(self) -> tuple[str, array[int]]:
        """Its texts joined, and where each ends (what it was made from)."""
        return self._text, self._ends

    def as_list(self) -> list[str | None]:
        """Every entry, cut out in one pass: what a whole column's read indexes (a method call
        per value cost a second for the columns of the scale factory's 150,000 sessions).
        Not interned (each text is in the table once already): interning them grew Python's
        table of interned strings by 59 MB at 10x, for the process's life (a dict never
        shrinks)."""
        text, ends = self._text, self._ends
        texts: list[str | None] = [None]
        texts.extend(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))
        return texts


class CodedColumn:
    """A text column of a restored fold's sessions as codes: ``codes[seq]`` is an index into
    ``table``, or past its end into ``extra`` (the text of a session made since, changed to
    one the table may not hold). What a search of a long history's column reads instead of its
    texts: cut out, a 300-day history's two million took 120 MB (``factory-tui prs`` peaked at
    428 MB)."""

    __slots__ = ("codes", "extra", "table")

    def __init__(self, codes: array[int], table: SavedStrings, extra: list[str | None]) -> None:
        self.codes, self.table, self.extra = codes, table, extra

    def text(self, code: int) -> str | None:
        """The text of ``code`` (one of :attr:`codes`), not interned."""
        base = len(self.table)
        return self.table.text(code) if code < base else self.extra[code - base]

    def codes_of(self, wanted: Set[str | None]) -> set[int]:
        """Every code whose text is one of ``wanted``."""
        return codes_of_each([self], [wanted])[0]


def codes_of_each(
    columns: Sequence[CodedColumn], wanted: Sequence[Set[str | None]]
) -> list[set[int]]:
    """:meth:`CodedColumn.codes_of` of each column and its ``wanted`` texts: a table the
    columns share searched once for them all (a 300-day history's two million texts, searched
    for the PRs' numbers then their branches, took two passes of 0.2 s)."""
    tables = {id(column.table): column.table for column in columns}
    found: dict[int, list[tuple[int, str | None]]] = {}
    for key, table in tables.items():
        every = set().union(*(w for c, w in zip(columns, wanted, strict=True) if c.table is table))
        found[key] = [(code, table.text(code)) for code in table.indexes_of(every)]
    out = []
    for column, texts in zip(columns, wanted, strict=True):
        codes = {code for code, text in found[id(column.table)] if text in texts}
        base = len(column.table)
        codes.update(base + n for n, text in enumerate(column.extra) if text in texts)
        out.append(codes)
    return out


SCAN_TEXTS = 1 << 16
""":meth:`SavedStrings.indexes_of` cuts out this many texts at a time."""


def check_saved(strings: Sequence[object], flat: array[int], count: int) -> None:
    """Raise ``ValueError`` unless ``strings`` and ``flat`` are the archive of ``count``
    sessions: a string table of None then texts, and columns of that many sessions whose text
    indexes are in the table and whose required texts are there."""
    if isinstance(strings, SavedStrings):
        pass  # None then texts by construction
    elif list(strings[:1]) != [None] or not set(map(type, strings[1:])) <= {str}:
        raise ValueError("the string table is not None then texts")
    if count < 0 or len(flat) != count * WIDTH:
        raise ValueError("the session columns do not match the session count")
    texts = len(SESSION_TEXT) * count
    with memoryview(flat) as view:  # no copy of the columns (96 MB of them at 10x)
        if not all_in(view[:texts], 0, len(strings)):
            raise ValueError("a session's text past the string table")
        for n, name in enumerate(SESSION_TEXT):
            if name in _REQUIRED and not all_in(view[n * count : (n + 1) * count], 1, 1 << 32):
                raise ValueError(f"a session without {name}")


def check_columns(strings: Sequence[object], columns: Mapping[int, array[int]]) -> None:
    """:func:`check_saved` of some of an archive's columns (by their place, each one whole):
    raise ``ValueError`` unless each text column's indexes are in the table and its required
    texts are there."""
    for n, column in columns.items():
        if n >= len(SESSION_TEXT):
            continue  # a number column: any value is one
        with memoryview(column) as view:
            if not all_in(view, 0, len(strings)):
                raise ValueError("a session's text past the string table")
            if SESSION_TEXT[n] in _REQUIRED and not all_in(view, 1, 1 << 32):
                raise ValueError(f"a session without {SESSION_TEXT[n]}")


LANES_BYTES = 16384
""":func:`all_in` reads its values this many bytes at a time."""
_TOP = 1 << 31


def all_in(view: memoryview, low: int, high: int) -> bool:
    """Whether every value of ``view`` (unsigned ints) is in ``[low, high)``. 32-bit values
    are checked a chunk at a time as one big integer of 32-bit lanes (each lane first found
    below 2**31, so that adding to every lane carries into none): C speed, where ``max`` and
    ``in`` over the 22 million codes of a 300-day archive took 0.6 s of each read of it."""
    if view.itemsize != 4 or not 0 <= low < high or min(high, _TOP) < low:
        return all(low <= value < high for value in view)
    order, data = sys.byteorder, view.cast("B")
    lanes = LANES_BYTES // 4
    whole = _lane_masks(lanes, low, high)
    for at in range(0, len(data), LANES_BYTES):
        part = data[at : at + LANES_BYTES]
        top, over_high, up_to_low = (
            whole if len(part) == LANES_BYTES else _lane_masks(len(part) // 4, low, high)
        )
        lanes_of = int.from_bytes(part, order)
        if lanes_of & top:  # a lane of 2**31 or more
            if high <= _TOP or not all(low <= value < high for value in part.cast("I")):
                return False
            continue
        if over_high and (lanes_of + over_high) & top:  # a lane of ``high`` or more
            return False
        if low and (lanes_of + up_to_low) & top != top:  # a lane below ``low``
            return False
    return True


def _lane_masks(lanes: int, low: int, high: int) -> tuple[int, int, int]:
    """For :func:`all_in`: every lane's top bit; what makes a lane of ``high`` or more reach
    it (0: no lane below 2**31 can be); what makes a lane of ``low`` or more reach it."""

    def each(value: int) -> int:
        return int.from_bytes(value.to_bytes(4, sys.byteorder) * lanes, sys.byteorder)

    over_high = each(_TOP - high) if high <= _TOP else 0
    return each(_TOP), over_high, each(_TOP - low)
