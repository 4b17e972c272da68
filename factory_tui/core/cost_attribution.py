"""Attribute a response to an instance, a ticket and a phase.

Attribution uses what the fleet knows: sessions (instance, task, branch, start and end) and claims
(owner, claim and phase, branch, claimed_at to completed_at), and the worktrees (path → branch).
A response goes to the span whose time contains it and whose branch (``gitBranch``) or worktree
(``cwd``) matches it, preferring both, then the latest start. See :class:`Attributor`.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from itertools import chain, compress, count, islice
from operator import is_
from typing import Any

from factory_tui.core.claims import ClaimUnit
from factory_tui.core.cost_records import (
    Attribution,
)
from factory_tui.core.cost_spans import (
    CLAIM,
    GRACE_AFTER,
    GRACE_BEFORE,
    NO_TIME,
    Span,
    SpanTable,
    from_us,
    to_us,
)
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_saved import CodedColumn
from factory_tui.core.fold_sessions import SessionTable
from factory_tui.core.statefiles import find_tickets
from factory_tui.core.timeparse import parse_ts

__all__ = ["GRACE_AFTER", "GRACE_BEFORE", "Attributor", "Span", "SpanBuilder", "build_spans"]

#: :func:`parse_ts` without its cache, for the sessions' times: each is parsed once per build,
#: and the 150,000 sessions of a scale factory would hold ~6 MB of cache entries.
_parse_once: Callable[[str], datetime | None] = parse_ts.__wrapped__

_GRACE_BEFORE_US = GRACE_BEFORE // timedelta(microseconds=1)
_GRACE_AFTER_US = GRACE_AFTER // timedelta(microseconds=1)


def norm_path(path: str) -> str:
    """A path for prefix comparison: no trailing separator (``/`` stays ``/``)."""
    return path.rstrip("/") or "/"


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def _worktree_of(path: str | None, worktrees: Sequence[str]) -> str | None:
    """The (longest) worktree containing ``path``."""
    if not path:
        return None
    best: str | None = None
    for folder in worktrees:
        if _within(norm_path(path), folder) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def build_spans(
    sessions: Iterable[SessionRec],
    units: Iterable[ClaimUnit],
    *,
    worktrees: Mapping[str, str | None] | None = None,
    instance_cwds: Mapping[str, str] | None = None,
) -> tuple[Span, ...]:
    """Spans from the log's sessions and the claim files' owned units.

    ``worktrees`` maps each worktree's path to its checked-out branch (None: detached);
    ``instance_cwds`` a live agent's process working directory by instance id. A span's worktree
    is its instance's process cwd (as the worktree containing it) when known, else the one
    worktree that has its branch checked out. :class:`SpanBuilder` keeps them up to date.
    """
    worktree = _worktree_finder(worktrees or {}, instance_cwds or {})
    spans = [_session_span(rec, worktree) for rec in sessions]
    return (*spans, *_claim_spans(units, worktree))


class SpanBuilder:
    """:func:`build_spans` over a growing log, re-making only what may have changed.

    A session's span reads its instance, task, branch, start and end; once it has ended, the
    fold never changes it again. So a build re-makes the spans of the sessions open at the last
    one (when their fields changed) and makes those of new sessions; everything is made afresh
    when the worktrees or the agents' working directories change, or the sessions are another
    fold's. Claim spans (a few thousand at most) are made every time.

    A build gives a :class:`~factory_tui.core.cost_spans.SpanTable` (columns, not a Span object
    each: a scale factory has 150,000 sessions); the next one copies its session rows, so a
    table handed on never changes.
    """

    def __init__(self) -> None:
        self._of: Sequence[SessionRec] | None = None
        self._where: tuple[object, ...] | None = None
        self._cut: int | None = None
        """The window's start the rows were chosen by (:meth:`build`'s ``since``, less the
        grace after a session; None: every session)."""
        self._since: datetime | None = None
        """The ``since`` that window came from (None: every session)."""
        self._last = SpanTable()
        self._rows = 0
        """How many of ``_last``'s rows are sessions' (the claims' follow)."""
        self._seqs = array("I")
        """Each session row's session (its ``seq``), in order."""
        self._next = 0
        """The first session not looked at yet."""
        self._open: dict[int, tuple[object, ...]] = {}
        """Row → the fields its span was made from, for the sessions open then."""

    def build(
        self,
        sessions: Sequence[SessionRec],
        units: Iterable[ClaimUnit],
        *,
        worktrees: Mapping[str, str | None] | None = None,
        instance_cwds: Mapping[str, str] | None = None,
        since: datetime | None = None,
    ) -> SpanTable:
        """The spans; with ``since``, only the sessions that may hold a response from then on
        (open, or ended after ``since`` less the grace after a session): the spend read starts
        there (a month of transcripts, a 300-day history's two million sessions). A response
        before it needs the build again with its time (all made afresh)."""
        trees, cwds = dict(worktrees or {}), dict(instance_cwds or {})
        where = (tuple(sorted(trees.items())), tuple(sorted(cwds.items())))
        cut = None if since is None else to_us(since) - _GRACE_AFTER_US
        if cut is not None and cut <= _GRACE_AFTER_US:
            cut = None  # a time at the calendar's start: every session
        if (
            sessions is not self._of
            or where != self._where
            or len(sessions) < self._next
            or not (self._cut is None or (cut is not None and cut >= self._cut))
        ):
            self._of, self._where, self._open, self._cut = sessions, where, {}, cut
            self._since = since if cut is not None else None
            self._last, self._rows, self._seqs, self._next = SpanTable(), 0, array("I"), 0
        cut = self._cut  # (a later window keeps the rows of the earlier one's)
        del self._seqs[self._rows :]  # (a build that failed may have added some)
        worktree = _worktree_finder(trees, cwds)
        table, was_open = self._last.head(self._rows), self._open
        still_open: dict[int, tuple[object, ...]] = {}
        for row, fields in was_open.items():
            rec = sessions[self._seqs[row]]
            now = _span_fields(rec)
            if now != fields:
                table.set_row(row, _session_span(rec, worktree))
            if rec.ended_at is None:
                still_open[row] = now
        first = self._next
        if (
            isinstance(sessions, SessionTable)
            and sessions.saved
            and len(sessions) - first > COLUMNS_FROM
        ):
            # A restored fold: its archived sessions' spans are made from their saved columns,
            # without making a record of each (a long history, mostly never shown).
            with sessions.archive_held():  # read once for the columns, then let go
                if cut is None:
                    located = bool(trees or cwds)
                    still_open.update(
                        self._extend_columns(table, sessions, first, worktree, located)
                    )
                else:
                    for seq, fields in _ending_after(sessions, first, cut):
                        self._append(table, still_open, seq, fields, worktree)
        else:
            for seq, rec in enumerate(sessions[first:], start=first):
                fields = _span_fields(rec)
                if cut is None or _ends_after(fields, cut):
                    self._append(table, still_open, seq, fields, worktree)
        self._open = still_open
        self._rows, self._next = len(table), len(sessions)
        for span in _claim_spans(units, worktree):
            table.append(span)
        table.since = self._since
        self._last = table
        return table

    def _append(
        self,
        table: SpanTable,
        still_open: dict[int, tuple[object, ...]],
        seq: int,
        fields: tuple[object, ...],
        worktree: Callable[[str | None, str | None], str | None],
    ) -> None:
        if fields[4] is None:
            still_open[len(table)] = fields
        _append_session(table, fields, worktree)
        self._seqs.append(seq)

    def _extend_columns(
        self,
        table: SpanTable,
        sessions: SessionTable,
        first: int,
        worktree: Callable[[str | None, str | None], str | None],
        located: bool,
    ) -> dict[int, tuple[object, ...]]:
        """Every session from ``first`` on, from its columns; returns the open ones' fields by
        row."""
        columns = [sessions.column(name)[first:] for name in _SPAN_FIELDS]
        instance, task, branch, started, ended = columns
        in_trees = list(map(worktree, instance, branch)) if located else [None] * len(task)
        row = len(table)
        table.extend_sessions(
            instance, task, branch, in_trees, _times_us(started), _times_us(ended)
        )
        self._seqs.extend(range(first, first + len(task)))
        return {
            row + n: tuple(column[n] for column in columns)
            for n in compress(count(), map(partial(is_, None), ended))
        }


_SPAN_FIELDS = ("instance", "task", "branch", "started_at", "ended_at")
COLUMNS_FROM = 1000
"""More new sessions than this in a restored fold: their spans are made from its columns."""
_MINUTE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
"""A time as the hooks write it: its text sorts as its time does."""


def _ends_after(fields: tuple[object, ...], cut: int) -> bool:
    """Whether a session whose :data:`_SPAN_FIELDS` are ``fields`` may hold a time from
    ``cut`` on (:func:`_late_end` of its end)."""
    return _late_end(fields[4], cut)


def _late_end(ended: object, cut: int) -> bool:
    """Whether a session that ended at ``ended`` may hold a time from ``cut`` on: open, an end
    that is no time (its span then holds every time after its start), or ended then or
    later."""
    if not isinstance(ended, str) or not ended:
        return True
    us = to_us(_parse_once(ended))
    return us == NO_TIME or us >= cut


def _ending_after(
    sessions: SessionTable, first: int, cut: int
) -> Iterator[tuple[int, tuple[object, ...]]]:
    """The sessions from ``first`` on that :func:`_ends_after` ``cut``, in order, with their
    fields. A restored fold's are found by the codes of its ``ended_at`` column, each end read
    once (its texts are not cut out: a 300-day history's two million took 120 MB); only the
    sessions found are read further. The sessions after them, from their columns."""
    columns = sessions.coded_columns(_SPAN_FIELDS)
    restored = 0
    if columns is not None:
        ended = columns[4]
        restored = len(ended.codes)
        late = _codes_ending_after(ended, cut)
        for seq in compress(
            range(first, restored), map(late.__contains__, islice(ended.codes, first, None))
        ):
            yield seq, tuple(column.text(column.codes[seq]) for column in columns)
    rest = [
        list(chain.from_iterable(sessions.column_parts(name, restored=not restored)))
        for name in _SPAN_FIELDS
    ]
    start = max(first, restored)
    for seq, fields in enumerate(zip(*rest, strict=True), start=restored):
        if seq >= start and _ends_after(fields, cut):
            yield seq, fields


def _codes_ending_after(ended: CodedColumn, cut: int) -> set[int]:
    """The codes of ``ended`` (an ``ended_at`` column) of a session that :func:`_ends_after`
    ``cut``: each distinct one read once; a time as the hooks write it compared as text."""
    # At or before cut, as the hooks write a time (isoformat: its year always four digits,
    # where strftime's %Y is not padded on glibc: year 500 sorted after every 2025 text).
    from_text = (from_us(cut) or datetime.min).isoformat(timespec="minutes")
    late: set[int] = set()
    for code in dict.fromkeys(ended.codes):
        text = ended.text(code)
        if text >= from_text if text and _MINUTE.fullmatch(text) else _late_end(text, cut):
            late.add(code)
    return late


def _span_fields(rec: SessionRec) -> tuple[object, ...]:
    """What a session's span is made from, in :data:`_SPAN_FIELDS` order."""
    return rec.instance, rec.task, rec.branch, rec.started_at, rec.ended_at


def _worktree_finder(
    worktrees: Mapping[str, str | None], cwds: Mapping[str, str]
) -> Callable[[str | None, str | None], str | None]:
    trees = {norm_path(path): branch for path, branch in worktrees.items()}
    folders = sorted(trees)
    by_branch: dict[str, list[str]] = {}
    for folder, branch in trees.items():
        if branch:
            by_branch.setdefault(branch, []).append(folder)

    def worktree(instance: str | None, branch: str | None) -> str | None:
        if instance and instance in cwds:
            found = _worktree_of(cwds[instance], folders)
            return found or norm_path(cwds[instance])
        candidates = by_branch.get(branch or "", [])
        return candidates[0] if len(candidates) == 1 else None

    return worktree


def _times_us(texts: Iterable[str | None]) -> Iterator[int]:
    """Each session's time as :func:`to_us` (none, or not a time: ``NO_TIME``), as
    :func:`_append_session` makes it; a text seen lately is read once (a column's times come
    about in order, many to a minute; a table of every distinct one held 865,000 at 10x)."""
    seen: dict[str | None, int] = {}
    get = seen.get
    for text in texts:
        us = get(text)
        if us is None:
            if len(seen) >= _TIMES_SEEN:
                seen.clear()
            us = seen[text] = to_us(_parse_once(text)) if text else NO_TIME
        yield us


_TIMES_SEEN = 4096


def _append_session(
    table: SpanTable,
    fields: tuple[Any, ...],
    worktree: Callable[[str | None, str | None], str | None],
) -> None:
    """Add the span of a session whose :data:`_SPAN_FIELDS` are ``fields`` to ``table``, as
    :func:`_span_of` makes it."""
    instance, task, branch, started_at, ended_at = fields
    table.append_session(
        instance,
        task,
        branch,
        worktree(instance, branch),
        _parse_once(started_at),
        _parse_once(ended_at) if ended_at else None,
    )


def _session_span(
    rec: SessionRec, worktree: Callable[[str | None, str | None], str | None]
) -> Span:
    return _span_of(_span_fields(rec), worktree)


def _span_of(
    fields: tuple[Any, ...], worktree: Callable[[str | None, str | None], str | None]
) -> Span:
    """The span of a session whose :data:`_SPAN_FIELDS` are ``fields``."""
    instance, task, branch, started_at, ended_at = fields
    return Span(
        kind="session",
        instance=instance,
        task=task,
        claim=None,
        phase=None,
        branch=branch,
        worktree=worktree(instance, branch),
        start=parse_ts(started_at),
        end=parse_ts(ended_at) if ended_at else None,
    )


def _claim_spans(
    units: Iterable[ClaimUnit], worktree: Callable[[str | None, str | None], str | None]
) -> list[Span]:
    return [
        Span(
            kind="claim",
            instance=unit.owner,
            task=unit.claim_id,
            claim=unit.key,
            phase=unit.phase,
            branch=unit.branch,
            worktree=worktree(unit.owner, unit.branch),
            start=parse_ts(unit.claimed_at) if unit.claimed_at else None,
            end=parse_ts(unit.completed_at) if unit.completed_at else None,
        )
        for unit in units
        if unit.owner
    ]


class Attributor:
    """Decides whose spend a response is, from the spans. Cached per (cwd, branch).

    Works on the spans' :class:`~factory_tui.core.cost_spans.SpanTable` by row (any sequence of
    spans is made one): no Span object is made to attribute."""

    def __init__(self, spans: Sequence[Span]) -> None:
        table = self.spans = SpanTable.of(spans)
        texts = table.strings.texts
        self._texts = texts
        self._by_branch: dict[str, array[int]] = {}
        self._by_tree: dict[str, array[int]] = {}
        self._claims_of: dict[str, list[int]] = {}
        columns = zip(table.kind, table.instance, table.branch, table.worktree, strict=True)
        for row, (kind, instance, branch, tree) in enumerate(columns):
            if kind == CLAIM and texts[instance]:
                self._claims_of.setdefault(texts[instance] or "", []).append(row)
            if texts[branch]:
                self._by_branch.setdefault(texts[branch] or "", array("I")).append(row)
            if texts[tree]:
                self._by_tree.setdefault(texts[tree] or "", array("I")).append(row)
        self._trees = sorted(self._by_tree)
        self._candidates: dict[tuple[str | None, str | None], tuple[array[int], array[int]]] = {}

    def _holds(self, row: int, at: int) -> bool:
        """:meth:`Span.holds` of row ``row`` at ``at`` (:func:`to_us`)."""
        start, end = self.spans.start[row], self.spans.end[row]
        if start != NO_TIME and at < start - _GRACE_BEFORE_US:
            return False
        return end == NO_TIME or at <= end + _GRACE_AFTER_US

    def _scored(self, cwd: str | None, branch: str | None) -> tuple[array[int], array[int]]:
        """The rows matching the branch (2) and/or the worktree (1) and their scores, best
        first: highest score, then latest start."""
        key = (cwd, branch)
        found = self._candidates.get(key)
        if found is not None:
            return found
        tree = _worktree_of(cwd, self._trees)
        scores: dict[int, int] = {}
        for row in self._by_branch.get(branch or "", ()):
            scores[row] = 2
        for row in self._by_tree.get(tree or "", ()):
            scores[row] = scores.get(row, 0) + 1
        start = self.spans.start
        ordered = sorted(scores.items(), key=lambda item: (item[1], start[item[0]]), reverse=True)
        found = (array("b", [s for _r, s in ordered]), array("I", [r for r, _s in ordered]))
        self._candidates[key] = found
        return found

    def _own_claim(self, agent: int, at: int) -> int | None:
        """The agent's own claim holding ``at`` that can be the matched session's work: not one
        on another branch, and not one the agent took after ``at`` (the grace before a claim is
        for a claim written late, not for the end of the previous ticket's work)."""
        texts, table = self._texts, self.spans
        agent_branch = table.branch[agent]
        fits = [
            row
            for row in self._claims_of.get(texts[table.instance[agent]] or "", ())
            if self._holds(row, at)
            and not (
                texts[table.branch[row]]
                and texts[agent_branch]
                and table.branch[row] != agent_branch
            )
        ]
        started = [row for row in fits if table.start[row] <= at]  # no start: started
        if started:
            return max(started, key=table.start.__getitem__)
        if table.kind[agent] != CLAIM and texts[table.task[agent]]:
            return None  # the session names its task: a later claim is the next ticket
        return fits[0] if fits else None

    def attribute(self, cwd: str | None, branch: str | None, at: datetime) -> Attribution:
        """The best span holding ``at`` among those matching the branch (2) and/or worktree (1):
        highest score, then latest start. The ticket comes from a matching claim span when one
        holds, else from the agent's own claim then, else from the session's task, else from a
        ticket id in the branch name."""
        texts, table, when = self._texts, self.spans, to_us(at)
        agent: int | None = None
        claim: int | None = None
        for row in self._scored(cwd, branch)[1]:
            if not self._holds(row, when):
                continue
            if agent is None and texts[table.instance[row]]:
                agent = row
            if claim is None and table.kind[row] == CLAIM:
                claim = row
            if agent is not None and claim is not None:
                break
        if claim is None and agent is not None:
            claim = self._own_claim(agent, when)
        matched = (
            "branch"
            if branch and agent is not None and texts[table.branch[agent]] == branch
            else "worktree"
        )
        if claim is not None:
            who = texts[table.instance[agent if agent is not None else claim]]
            key, phase = table.claims.get(claim, (None, None))
            return Attribution(who, key, phase, f"{matched} and time of claim")
        if agent is not None:
            return Attribution(
                texts[table.instance[agent]],
                texts[table.task[agent]],
                None,
                f"{matched} and time of session",
            )
        named = find_tickets(branch or "")
        if named:
            return Attribution(None, named[0], None, "ticket id in the branch name")
        return Attribution(None, None, None, "no session or claim matches")
