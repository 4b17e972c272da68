"""Attribute a response to an instance, a ticket and a phase.

Attribution uses what the fleet knows: sessions (instance, task, branch, start and end) and claims
(owner, claim and phase, branch, claimed_at to completed_at), and the worktrees (path → branch).
A response goes to the span whose time contains it and whose branch (``gitBranch``) or worktree
(``cwd``) matches it, preferring both, then the latest start. See :class:`Attributor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from factory_tui.core.claims import ClaimUnit
from factory_tui.core.cost_records import (
    Attribution,
)
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_sessions import SessionTable
from factory_tui.core.statefiles import find_tickets
from factory_tui.core.timeparse import parse_ts

__all__ = ["Attributor", "Span", "SpanBuilder", "build_spans"]

#: A Claude Code session starts a little before the agent logs SESSION-START, and its last
#: responses may land just after SESSION-END; a response this close to a span still belongs to it.
GRACE_BEFORE = timedelta(minutes=30)
GRACE_AFTER = timedelta(minutes=10)


def norm_path(path: str) -> str:
    """A path for prefix comparison: no trailing separator (``/`` stays ``/``)."""
    return path.rstrip("/") or "/"


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


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
    """

    def __init__(self) -> None:
        self._of: Sequence[SessionRec] | None = None
        self._where: tuple[object, ...] | None = None
        self._spans: list[Span] = []
        self._open: dict[int, tuple[object, ...]] = {}
        """Index → the fields its span was made from, for the sessions open then."""

    def build(
        self,
        sessions: Sequence[SessionRec],
        units: Iterable[ClaimUnit],
        *,
        worktrees: Mapping[str, str | None] | None = None,
        instance_cwds: Mapping[str, str] | None = None,
    ) -> tuple[Span, ...]:
        trees, cwds = dict(worktrees or {}), dict(instance_cwds or {})
        where = (tuple(sorted(trees.items())), tuple(sorted(cwds.items())))
        if sessions is not self._of or where != self._where or len(sessions) < len(self._spans):
            self._of, self._where, self._spans, self._open = sessions, where, [], {}
        worktree = _worktree_finder(trees, cwds)
        spans, was_open = self._spans, self._open
        still_open: dict[int, tuple[object, ...]] = {}
        for n, fields in was_open.items():
            rec = sessions[n]
            now = _span_fields(rec)
            if now != fields:
                spans[n] = _session_span(rec, worktree)
            if rec.ended_at is None:
                still_open[n] = now
        first = len(spans)
        if isinstance(sessions, SessionTable) and sessions.saved and len(sessions) - first > 1000:
            # A restored fold: its archived sessions' spans are made from their saved columns,
            # without making a record of each (a long history, mostly never shown).
            columns = [sessions.column(name)[first:] for name in _SPAN_FIELDS]
            for n, fields in enumerate(zip(*columns, strict=True), start=first):
                spans.append(_span_of(fields, worktree))
                if fields[-1] is None:
                    still_open[n] = fields
        else:
            for n, rec in enumerate(sessions[first:], start=first):
                spans.append(_session_span(rec, worktree))
                if rec.ended_at is None:
                    still_open[n] = _span_fields(rec)
        self._open = still_open
        return (*spans, *_claim_spans(units, worktree))


_SPAN_FIELDS = ("instance", "task", "branch", "started_at", "ended_at")


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
    """Decides whose spend a response is, from the spans. Cached per (cwd, branch)."""

    def __init__(self, spans: Sequence[Span]) -> None:
        self.spans = tuple(spans)
        self._by_branch: dict[str, list[Span]] = {}
        self._by_tree: dict[str, list[Span]] = {}
        self._claims_of: dict[str, list[Span]] = {}
        for span in self.spans:
            if span.kind == "claim" and span.instance:
                self._claims_of.setdefault(span.instance, []).append(span)
            if span.branch:
                self._by_branch.setdefault(span.branch, []).append(span)
            if span.worktree:
                self._by_tree.setdefault(span.worktree, []).append(span)
        self._trees = sorted(self._by_tree)
        self._candidates: dict[tuple[str | None, str | None], list[tuple[int, Span]]] = {}

    def _scored(self, cwd: str | None, branch: str | None) -> list[tuple[int, Span]]:
        key = (cwd, branch)
        found = self._candidates.get(key)
        if found is not None:
            return found
        tree = _worktree_of(cwd, self._trees)
        scores: dict[int, tuple[int, Span]] = {}
        for span in self._by_branch.get(branch or "", ()):
            scores[id(span)] = (2, span)
        for span in self._by_tree.get(tree or "", ()):
            score, _ = scores.get(id(span), (0, span))
            scores[id(span)] = (score + 1, span)
        found = sorted(
            scores.values(),
            key=lambda item: (item[0], item[1].start or datetime.min),
            reverse=True,
        )
        self._candidates[key] = found
        return found

    def _own_claim(self, agent_span: Span, at: datetime) -> Span | None:
        """The agent's own claim holding ``at`` that can be the matched session's work: not one
        on another branch, and not one the agent took after ``at`` (the grace before a claim is
        for a claim written late, not for the end of the previous ticket's work)."""
        fits = [
            span
            for span in self._claims_of.get(agent_span.instance or "", ())
            if span.holds(at)
            and not (span.branch and agent_span.branch and span.branch != agent_span.branch)
        ]
        started = [span for span in fits if span.start is None or span.start <= at]
        if started:
            return max(started, key=lambda span: span.start or datetime.min)
        if agent_span.kind == "session" and agent_span.task:
            return None  # the session names its task: a later claim is the next ticket
        return fits[0] if fits else None

    def attribute(self, cwd: str | None, branch: str | None, at: datetime) -> Attribution:
        """The best span holding ``at`` among those matching the branch (2) and/or worktree (1):
        highest score, then latest start. The ticket comes from a matching claim span when one
        holds, else from the agent's own claim then, else from the session's task, else from a
        ticket id in the branch name."""
        scored = [(score, span) for score, span in self._scored(cwd, branch) if span.holds(at)]
        agent_span = next((span for _s, span in scored if span.instance), None)
        claim_span = next((span for _s, span in scored if span.kind == "claim"), None)
        if claim_span is None and agent_span is not None and agent_span.instance:
            claim_span = self._own_claim(agent_span, at)
        matched = "branch" if branch and agent_span and agent_span.branch == branch else "worktree"
        if claim_span is not None:
            agent = agent_span.instance if agent_span else claim_span.instance
            return Attribution(
                agent, claim_span.claim, claim_span.phase, f"{matched} and time of claim"
            )
        if agent_span is not None:
            return Attribution(
                agent_span.instance, agent_span.task, None, f"{matched} and time of session"
            )
        named = find_tickets(branch or "")
        if named:
            return Attribution(None, named[0], None, "ticket id in the branch name")
        return Attribution(None, None, None, "no session or claim matches")
