"""The cost attribution's spans, and a compact table of them (issue 17).

A scale factory's log holds some 150,000 sessions: one :class:`Span` object each (with its two
datetimes) took ~25 MB of the cockpit's memory, kept twice (the builder's list and the ledger's
tuple). A :class:`SpanTable` keeps them as columns instead: the texts as indices into one
:class:`SpanStrings` table (each distinct text once), the times as microsecond integers, the
claim and phase (set on claim spans only, a few thousand) in a side dict: ~33 bytes a span. It
is a ``Sequence[Span]`` (a span is made when read) and equal to any sequence of the same spans.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from typing import Literal, overload

__all__ = [
    "GRACE_AFTER",
    "GRACE_BEFORE",
    "NO_TIME",
    "Span",
    "SpanStrings",
    "SpanTable",
    "from_us",
    "to_us",
]

#: A Claude Code session starts a little before the agent logs SESSION-START, and its last
#: responses may land just after SESSION-END; a response this close to a span still belongs to it.
GRACE_BEFORE = timedelta(minutes=30)
GRACE_AFTER = timedelta(minutes=10)

#: A time column's value for no time (an open span's end, a claim without claimed_at).
NO_TIME = -(2**63)
_EPOCH = datetime(1, 1, 1)
_ONE_US = timedelta(microseconds=1)


def to_us(at: datetime | None) -> int:
    """A naive datetime as microseconds since 0001-01-01 (exact); None as :data:`NO_TIME`."""
    return NO_TIME if at is None else (at - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime | None:
    """The inverse of :func:`to_us`."""
    return None if us == NO_TIME else _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of time an instance worked on something, from a session or a claim."""

    kind: Literal["session", "claim"]
    instance: str | None
    task: str | None
    """The session's task; for a claim, its claim id."""
    claim: str | None
    """The claim key (``CAB-1290:1``) for a claim span."""
    phase: int | None
    branch: str | None
    worktree: str | None
    start: datetime | None
    end: datetime | None
    """None: still open."""

    def holds(self, at: datetime) -> bool:
        if self.start is not None and at < self.start - GRACE_BEFORE:
            return False
        return self.end is None or at <= self.end + GRACE_AFTER


class SpanStrings:
    """Each distinct text once, by index (0 is None). Only ever appended to: the tables made
    from it share it, and an index means the same text in all of them."""

    __slots__ = ("_index", "texts")

    def __init__(self) -> None:
        self.texts: list[str | None] = [None]
        self._index: dict[str | None, int] = {None: 0}

    def of(self, text: str | None) -> int:
        n = self._index.get(text)
        if n is None:
            n = self._index[text] = len(self.texts)
            self.texts.append(text)
        return n

    def indexes(self, texts: Sequence[str | None]) -> Iterator[int]:
        """:meth:`of` of each of ``texts``, made a distinct text at a time."""
        index, of = self._index, self.of
        for text in dict.fromkeys(texts):
            if text not in index:
                of(text)
        return map(index.__getitem__, texts)


_KINDS: tuple[Literal["session", "claim"], ...] = ("session", "claim")
SESSION, CLAIM = 0, 1


class SpanTable(Sequence[Span]):
    """Spans as columns (see the module's docstring). Filled by its maker (:meth:`append`,
    :meth:`set_row`), then never changed: a table handed on is read only."""

    __slots__ = (
        "branch",
        "claims",
        "end",
        "instance",
        "kind",
        "since",
        "start",
        "strings",
        "task",
        "worktree",
    )

    def __init__(self, strings: SpanStrings | None = None) -> None:
        self.strings = SpanStrings() if strings is None else strings
        self.kind = array("b")
        self.instance, self.task = array("I"), array("I")
        self.branch, self.worktree = array("I"), array("I")
        self.start, self.end = array("q"), array("q")
        self.claims: dict[int, tuple[str | None, int | None]] = {}
        """Row → (claim, phase), for the rows where either is set."""
        self.since: datetime | None = None
        """The sessions' rows hold every session that may hold a time from then on, not the
        older ones (see :meth:`SpanBuilder.build`); None: every session."""

    @classmethod
    def of(cls, spans: Iterable[Span]) -> SpanTable:
        """``spans`` as a table (a table is returned as it is)."""
        if isinstance(spans, SpanTable):
            return spans
        table = cls()
        for span in spans:
            table.append(span)
        return table

    def head(self, rows: int) -> SpanTable:
        """A new table (same strings) with a copy of the first ``rows`` rows, to be filled on."""
        out = SpanTable(self.strings)
        out.kind, out.instance, out.task = self.kind[:rows], self.instance[:rows], self.task[:rows]
        out.branch, out.worktree = self.branch[:rows], self.worktree[:rows]
        out.start, out.end = self.start[:rows], self.end[:rows]
        out.claims = {row: value for row, value in self.claims.items() if row < rows}
        return out

    # -- filling

    def append(self, span: Span) -> None:
        self.kind.append(CLAIM if span.kind == "claim" else SESSION)
        for column in (self.instance, self.task, self.branch, self.worktree):
            column.append(0)
        self.start.append(NO_TIME)
        self.end.append(NO_TIME)
        self.set_row(len(self.kind) - 1, span)

    def append_session(
        self,
        instance: str | None,
        task: str | None,
        branch: str | None,
        worktree: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> None:
        """A session's span (no claim, no phase), without making its :class:`Span`."""
        of = self.strings.of
        self.kind.append(SESSION)
        self.instance.append(of(instance))
        self.task.append(of(task))
        self.branch.append(of(branch))
        self.worktree.append(of(worktree))
        self.start.append(to_us(start))
        self.end.append(to_us(end))

    def extend_sessions(
        self,
        instance: Sequence[str | None],
        task: Sequence[str | None],
        branch: Sequence[str | None],
        worktree: Sequence[str | None],
        start: Iterable[int],
        end: Iterable[int],
    ) -> None:
        """:meth:`append_session` of many sessions a column at a time (their times as
        :func:`to_us` already): a long history's, without a call per session."""
        indexes = self.strings.indexes
        self.kind.extend(repeat(SESSION, len(instance)))
        self.instance.extend(indexes(instance))
        self.task.extend(indexes(task))
        self.branch.extend(indexes(branch))
        self.worktree.extend(indexes(worktree))
        self.start.extend(start)
        self.end.extend(end)

    def set_row(self, row: int, span: Span) -> None:
        of = self.strings.of
        self.kind[row] = CLAIM if span.kind == "claim" else SESSION
        self.instance[row], self.task[row] = of(span.instance), of(span.task)
        self.branch[row], self.worktree[row] = of(span.branch), of(span.worktree)
        self.start[row], self.end[row] = to_us(span.start), to_us(span.end)
        if span.claim is not None or span.phase is not None:
            self.claims[row] = (span.claim, span.phase)
        else:
            self.claims.pop(row, None)

    # -- reading

    def __len__(self) -> int:
        return len(self.kind)

    @overload
    def __getitem__(self, index: int) -> Span: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Span, ...]: ...

    def __getitem__(self, index: int | slice) -> Span | tuple[Span, ...]:
        if isinstance(index, slice):
            return tuple(self[n] for n in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("span index out of range")
        texts = self.strings.texts
        claim, phase = self.claims.get(index, (None, None))
        return Span(
            kind=_KINDS[self.kind[index]],
            instance=texts[self.instance[index]],
            task=texts[self.task[index]],
            claim=claim,
            phase=phase,
            branch=texts[self.branch[index]],
            worktree=texts[self.worktree[index]],
            start=from_us(self.start[index]),
            end=from_us(self.end[index]),
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpanTable) and other.strings is self.strings:
            # One string table: equal indices are equal texts, equal columns equal spans.
            return (
                self.kind == other.kind
                and self.instance == other.instance
                and self.task == other.task
                and self.branch == other.branch
                and self.worktree == other.worktree
                and self.start == other.start
                and self.end == other.end
                and self.claims == other.claims
            )
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Short: a message carrying 150,000 spans may be logged.
        return f"<SpanTable of {len(self)} spans>"
