"""What the agents spend: usage records from Claude Code's transcripts, counted once, priced,
attributed to an instance, a ticket and a day, summed, and held against the budgets.

FORMATS.md, Cost: only ``type: "assistant"`` lines with ``message.usage`` count; a streamed
response is written as several lines with the same ``message.id`` + ``requestId`` (the early ones
with partial counts), so it is counted once, from the line with the largest token total; model
``<synthetic>`` (and API-error lines, ``isApiErrorMessage``) are skipped. Dedup is by
``message.id`` alone (an API message id names one response), global across every file: a
subagent's replay of its parent's message (same ``message.id``, a new ``requestId``,
``isSidechain``) or a resumed session's copy is not counted twice. A fast-mode response
(``message.usage.speed == "fast"``) is priced at its model's fast price and summed under
``<model> (fast)``.

Attribution uses what the fleet knows: sessions (instance, task, branch, start and end) and claims
(owner, claim and phase, branch, claimed_at to completed_at), and the worktrees (path → branch).
A response goes to the span whose time contains it and whose branch (``gitBranch``) or worktree
(``cwd``) matches it, preferring both, then the latest start. See :class:`Attributor`.

:class:`CostLedger` keeps the records and running sums per (agent, ticket, model, hour), so that
an appended line costs one record of work, and a report or the cockpit's view is a sum over
cells, not over every record. Everything here is pure: times come in as arguments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Literal, get_args

from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fold import SessionRec
from factory_tui.core.pricing import PriceTable, Usage, cost_usd
from factory_tui.core.statefiles import find_tickets
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "GROUPINGS",
    "PERIODS",
    "SKIP_REASONS",
    "WARN_FRACTION",
    "Attribution",
    "Attributor",
    "Bucket",
    "BudgetLevel",
    "BudgetState",
    "CostLedger",
    "CostReport",
    "CostView",
    "Grouping",
    "Period",
    "SkipReason",
    "Span",
    "UsageRecord",
    "budget_states",
    "build_spans",
    "group_key",
    "naive_local",
    "parse_transcript_line",
    "period_since",
]

Grouping = Literal["agent", "ticket", "model", "day"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)
SkipReason = Literal["synthetic", "api_error", "malformed"]
SKIP_REASONS: tuple[SkipReason, ...] = get_args(SkipReason)
BudgetLevel = Literal["ok", "warning", "alert"]

WARN_FRACTION = 0.8
"""A budget warns at 80 % and alerts at 100 %."""

SYNTHETIC_MODEL = "<synthetic>"
NO_TICKET = "(no ticket)"
FAST_SUFFIX = " (fast)"
"""Appended to a model's name for its fast-mode responses (their own line in ``by model``)."""
COUNCIL_AGENT = "(council)"

#: A Claude Code session starts a little before the agent logs SESSION-START, and its last
#: responses may land just after SESSION-END; a response this close to a span still belongs to it.
GRACE_BEFORE = timedelta(minutes=30)
GRACE_AFTER = timedelta(minutes=10)


# --------------------------------------------------------------------------------------------
# Usage records


@dataclass(frozen=True, slots=True)
class Attribution:
    """Whose spend a response is, and how that was decided (``how``, for the explanation)."""

    agent: str | None
    """The instance id (``t48217-a3f2``), or None when no span matched."""
    ticket: str | None
    """The claim key (``CAB-1321``, ``CAB-1290:1``), else the session's task, else a ticket id
    found in the branch name; None when nothing names one."""
    phase: int | None
    how: str


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One model response's tokens, as counted: one per ``key``."""

    key: tuple[str, str]
    """``("message", message.id)``; without a message id, ``("uuid", uuid)`` or ``("line",
    file:line)``. The ``requestId`` is not part of it: a subagent's replay of its parent's
    message has a new one."""
    model: str
    usage: Usage
    at: datetime
    """Naive, in the ledger's zone (local time unless told otherwise)."""
    cwd: str | None = None
    branch: str | None = None
    session_id: str | None = None
    sidechain: bool = False
    source: str = ""
    """``file:line`` of the line kept."""
    usd: float | None = None
    """A price already known (the Council's own calls); None: priced from the table."""
    fixed: Attribution | None = None
    """An attribution already known (the Council's calls); None: attributed from the spans."""
    fast: bool = False
    """A fast-mode response (``usage.speed == "fast"``): billed at the model's fast price."""

    @property
    def model_key(self) -> str:
        """The model as summed and reported: ``<model> (fast)`` for a fast-mode response."""
        return self.model + FAST_SUFFIX if self.fast else self.model


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _usage(raw: Mapping[str, object]) -> Usage:
    written = _int(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    w5 = w1h = 0
    if isinstance(split, Mapping):
        w5 = _int(split.get("ephemeral_5m_input_tokens"))
        w1h = _int(split.get("ephemeral_1h_input_tokens"))
    # Without the split (older transcripts), every cache write is a 5-minute one, the default.
    w5 += max(0, written - w5 - w1h)
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1h,
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
    )


Period = Literal["today", "7 days", "all"]
PERIODS: tuple[Period, ...] = get_args(Period)


def naive_local(at: datetime, tz: tzinfo | None = None) -> datetime:
    """The cost ledger's time: naive, local (an aware clock reading is converted to ``tz``)."""
    return at.astimezone(tz).replace(tzinfo=None) if at.tzinfo is not None else at


def period_since(period: Period, now: datetime) -> datetime | None:
    """Where ``period`` starts for ``now`` (None: everything)."""
    midnight = datetime.combine(now.date(), datetime.min.time())
    if period == "today":
        return midnight
    if period == "7 days":
        return midnight - timedelta(days=6)
    return None


def _when(raw: object, tz: tzinfo | None) -> datetime | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value


def parse_transcript_line(
    line: bytes | str, *, source: str = "", tz: tzinfo | None = None
) -> UsageRecord | SkipReason | None:
    """One transcript line: a usage record, why a usage line was skipped, or None (not one).

    ``source`` is the line's ``file:line`` (also the dedup key of a line without ids). ``tz`` is
    the zone to convert timestamps to (None: local time); the result is naive in that zone.
    Cheap for the lines that do not count: a line without ``"usage"`` is not parsed at all.
    """
    if isinstance(line, bytes):
        if b'"usage"' not in line:
            return None
    elif '"usage"' not in line:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return "malformed"
    if not isinstance(obj, dict) or obj.get("type") != "assistant":
        return None
    message = obj.get("message")
    if not isinstance(message, dict):
        return None
    raw_usage = message.get("usage")
    if not isinstance(raw_usage, dict):
        return None
    model = message.get("model")
    if model == SYNTHETIC_MODEL:
        return "synthetic"
    if obj.get("isApiErrorMessage") is True:
        return "api_error"
    at = _when(obj.get("timestamp"), tz)
    if at is None or not isinstance(model, str) or not model.strip():
        return "malformed"
    message_id = _str(message.get("id"))
    if message_id is not None:
        key = ("message", message_id)
    elif _str(obj.get("uuid")) is not None:
        key = ("uuid", str(obj["uuid"]))
    else:
        key = ("line", source)
    return UsageRecord(
        key=key,
        model=model.strip(),
        usage=_usage(raw_usage),
        at=at,
        cwd=_str(obj.get("cwd")),
        branch=_str(obj.get("gitBranch")),
        session_id=_str(obj.get("sessionId")),
        sidechain=obj.get("isSidechain") is True,
        source=source,
        fast=raw_usage.get("speed") == "fast",
    )


# --------------------------------------------------------------------------------------------
# Attribution


def _norm(path: str) -> str:
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
        if _within(_norm(path), folder) and (best is None or len(folder) > len(best)):
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
    worktree that has its branch checked out.
    """
    trees = {_norm(path): branch for path, branch in (worktrees or {}).items()}
    folders = sorted(trees)
    by_branch: dict[str, list[str]] = {}
    for folder, branch in trees.items():
        if branch:
            by_branch.setdefault(branch, []).append(folder)
    cwds = instance_cwds or {}

    def worktree(instance: str | None, branch: str | None) -> str | None:
        if instance and instance in cwds:
            found = _worktree_of(cwds[instance], folders)
            return found or _norm(cwds[instance])
        candidates = by_branch.get(branch or "", [])
        return candidates[0] if len(candidates) == 1 else None

    spans: list[Span] = []
    for rec in sessions:
        spans.append(
            Span(
                kind="session",
                instance=rec.instance,
                task=rec.task,
                claim=None,
                phase=None,
                branch=rec.branch,
                worktree=worktree(rec.instance, rec.branch),
                start=parse_ts(rec.started_at),
                end=parse_ts(rec.ended_at) if rec.ended_at else None,
            )
        )
    for unit in units:
        if not unit.owner:
            continue
        spans.append(
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
        )
    return tuple(spans)


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


# --------------------------------------------------------------------------------------------
# Sums


@dataclass(frozen=True, slots=True)
class Bucket:
    """Spend and tokens of a group of responses."""

    usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    responses: int = 0
    unpriced_responses: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "usd": round(self.usd, 6),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "responses": self.responses,
            "unpriced_responses": self.unpriced_responses,
        }


class _Acc:
    """A mutable :class:`Bucket`, for running sums."""

    __slots__ = ("cr", "cw", "inp", "n", "out", "unpriced", "usd")

    def __init__(self) -> None:
        self.usd = 0.0
        self.inp = self.out = self.cw = self.cr = self.n = self.unpriced = 0

    def add(self, usage: Usage, usd: float | None, sign: int = 1) -> None:
        self.usd += sign * (usd or 0.0)
        self.inp += sign * usage.input_tokens
        self.out += sign * usage.output_tokens
        self.cw += sign * usage.cache_write_tokens
        self.cr += sign * usage.cache_read_tokens
        self.n += sign
        if usd is None:
            self.unpriced += sign

    def merge(self, other: _Acc) -> None:
        self.usd += other.usd
        self.inp += other.inp
        self.out += other.out
        self.cw += other.cw
        self.cr += other.cr
        self.n += other.n
        self.unpriced += other.unpriced

    def freeze(self) -> Bucket:
        # Removing a replaced line leaves float dust: anything under a nano-dollar is zero.
        usd = self.usd if abs(self.usd) > 1e-9 else 0.0
        return Bucket(usd, self.inp, self.out, self.cw, self.cr, self.n, self.unpriced)


def ticket_key(ticket: str | None) -> str:
    """What spend is summed under by ticket: the ticket id (a session's task
    ``CAB-1350-gateway-api`` counts as ``CAB-1350``), a phase's claim key (``CAB-1290:1``)
    as it is (:meth:`CostLedger.report` lists it under its ticket), ``(no ticket)`` for none."""
    if not ticket:
        return NO_TICKET
    if split_phase(ticket)[1] is not None:
        return ticket
    named = find_tickets(ticket)
    return named[0] if named and ticket.startswith(named[0]) else ticket


def split_phase(key: str) -> tuple[str, str | None]:
    """``CAB-1290:1`` → ``("CAB-1290", "1")``; any other key is its own ticket, no phase."""
    ticket, sep, phase = key.rpartition(":")
    if sep and ticket and phase.isdigit():
        return ticket, phase
    return key, None


def group_key(grouping: Grouping, attribution: Attribution, record: UsageRecord) -> str:
    """The key a record is summed under for ``grouping``.

    Unattributed spend is kept visible: its agent key is the worktree folder's name in
    parentheses (``(stoa-wt3)``), its ticket ``(no ticket)``.
    """
    if grouping == "agent":
        if attribution.agent:
            return attribution.agent
        name = _norm(record.cwd).rsplit("/", 1)[-1] if record.cwd else ""
        return f"({name or 'unknown'})"
    if grouping == "ticket":
        return ticket_key(attribution.ticket)
    if grouping == "model":
        return record.model_key
    return record.at.date().isoformat()


_Cell = tuple[str, str, str, datetime]  # agent, ticket, model, hour


@dataclass(frozen=True)
class CostReport:
    """Spend grouped one way, over ``[since, until)``."""

    grouping: Grouping
    total: Bucket
    by: Mapping[str, Bucket]
    unpriced_models: tuple[str, ...]
    since: datetime | None = None
    until: datetime | None = None
    skipped: Mapping[str, int] = field(default_factory=dict)
    price_table: str = ""
    phases: Mapping[str, Mapping[str, Bucket]] = field(default_factory=dict)
    """By ticket: a phased ticket's spend per phase (``"1"``, ``"2"``…), summed in ``by``."""

    def _group_json(self, key: str, bucket: Bucket) -> dict[str, object]:
        data: dict[str, object] = dict(bucket.to_json())
        if key in self.phases:
            data["phases"] = {n: b.to_json() for n, b in self.phases[key].items()}
        return data

    def to_json(self) -> dict[str, object]:
        return {
            "total_usd": round(self.total.usd, 6),
            "total": self.total.to_json(),
            "grouping": self.grouping,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "by": {key: self._group_json(key, bucket) for key, bucket in self.by.items()},
            "unpriced_models": list(self.unpriced_models),
            "skipped_lines": dict(self.skipped),
            "price_table": self.price_table,
        }


@dataclass(frozen=True, slots=True)
class BudgetState:
    """One budget against today's spend."""

    scope: Literal["daily", "agent"]
    subject: str
    """``all agents`` for the daily budget, else the instance id."""
    day: date
    spent_usd: float
    limit_usd: float
    level: BudgetLevel

    @property
    def fraction(self) -> float:
        if self.limit_usd > 0:
            return self.spent_usd / self.limit_usd
        return math.inf if self.spent_usd > 0 else 0.0

    @property
    def alert_id(self) -> str:
        """Stable for one budget, day and level: what an acknowledgement (or a command run
        once) is keyed by."""
        return f"{self.scope}:{self.subject}:{self.day.isoformat()}:{self.level}"

    @property
    def message(self) -> str:
        who = "today" if self.scope == "daily" else f"{self.subject} today"
        percent = "∞" if math.isinf(self.fraction) else f"{self.fraction * 100:.0f}"
        text = f"{who}: ${self.spent_usd:.2f} of ${self.limit_usd:.2f} ({percent} %)"
        if self.level == "alert":
            return text + " — budget reached"
        if self.level == "warning":
            return text + f" — past {WARN_FRACTION * 100:.0f} % of the budget"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "subject": self.subject,
            "day": self.day.isoformat(),
            "spent_usd": round(self.spent_usd, 6),
            "limit_usd": self.limit_usd,
            "level": self.level,
            "alert_id": self.alert_id,
            "message": self.message,
        }


def _level(spent: float, limit: float) -> BudgetLevel:
    if spent >= limit and (limit > 0 or spent > 0):
        return "alert"
    if spent >= WARN_FRACTION * limit and spent > 0:
        return "warning"
    return "ok"


def budget_states(
    day: date,
    spent_today: float,
    agents_today: Mapping[str, float],
    *,
    daily_budget_usd: float | None,
    agent_budget_usd: float | None,
) -> tuple[BudgetState, ...]:
    """The daily budget against the day's total, and the per-agent budget against each instance
    that spent today (the per-agent budget ignores unattributed spend and the Council, whose keys
    are in parentheses). Worst first."""
    states: list[BudgetState] = []
    if daily_budget_usd is not None:
        states.append(
            BudgetState(
                "daily",
                "all agents",
                day,
                spent_today,
                daily_budget_usd,
                _level(spent_today, daily_budget_usd),
            )
        )
    if agent_budget_usd is not None:
        for agent, spent in sorted(agents_today.items()):
            if agent.startswith("("):
                continue
            states.append(
                BudgetState(
                    "agent", agent, day, spent, agent_budget_usd, _level(spent, agent_budget_usd)
                )
            )
    order = {"alert": 0, "warning": 1, "ok": 2}
    states.sort(key=lambda s: (order[s.level], s.scope != "daily", -s.fraction))
    return tuple(states)


@dataclass(frozen=True)
class CostView:
    """What the cockpit shows: today's spend and budget, each agent's, spend per hour."""

    now: datetime
    day: date
    today: Bucket
    agents_today: Mapping[str, Bucket]
    daily_budget_usd: float | None
    agent_budget_usd: float | None
    per_hour: tuple[float, ...]
    """US dollars per hour, oldest first; the last is the current hour."""
    per_hour_start: datetime
    budgets: tuple[BudgetState, ...]
    unpriced_models: tuple[str, ...]
    """Models seen today that the price table does not list: today's total leaves them out."""

    @property
    def today_usd(self) -> float:
        return self.today.usd

    @property
    def alerts(self) -> tuple[BudgetState, ...]:
        """Budgets at a warning or an alert."""
        return tuple(state for state in self.budgets if state.level != "ok")

    def agent_usd(self, instance: str) -> float:
        bucket = self.agents_today.get(instance)
        return bucket.usd if bucket is not None else 0.0

    def header_text(self) -> str:
        """``today $12.34 of $50.00`` (``today $12.34`` without a daily budget); a ``+`` marks
        a total that leaves out unpriced models."""
        text = f"today ${self.today.usd:.2f}" + ("+" if self.unpriced_models else "")
        if self.daily_budget_usd is not None:
            text += f" of ${self.daily_budget_usd:.2f}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "now": self.now.isoformat(),
            "day": self.day.isoformat(),
            "today_usd": round(self.today.usd, 6),
            "today": self.today.to_json(),
            "daily_budget_usd": self.daily_budget_usd,
            "agent_budget_usd": self.agent_budget_usd,
            "agents_today": {key: bucket.to_json() for key, bucket in self.agents_today.items()},
            "per_hour_start": self.per_hour_start.isoformat(),
            "per_hour_usd": [round(value, 6) for value in self.per_hour],
            "budgets": [state.to_json() for state in self.budgets],
            "unpriced_models": list(self.unpriced_models),
            "header": self.header_text(),
        }


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class _Entry:
    __slots__ = ("attribution", "cell", "record", "usd")

    def __init__(
        self, record: UsageRecord, attribution: Attribution, usd: float | None, cell: _Cell
    ) -> None:
        self.record = record
        self.attribution = attribution
        self.usd = usd
        self.cell = cell


class CostLedger:
    """Every counted response, deduplicated, priced, attributed, and summed by cell.

    Feed it records in any order (:meth:`add`), the spans whenever the fleet changes
    (:meth:`set_spans`: re-attributes only when they differ), and ask for a :meth:`report` or the
    cockpit's :meth:`view`. Adding a record costs O(1) plus the spans it is compared with.
    """

    def __init__(self, prices: PriceTable, spans: Sequence[Span] = ()) -> None:
        self._prices = prices
        self._attributor = Attributor(spans)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._cells: dict[_Cell, _Acc] = {}
        self.skipped: dict[str, int] = {reason: 0 for reason in SKIP_REASONS}
        self.skipped["duplicate"] = 0

    # -- feeding ------------------------------------------------------------------------------

    @property
    def prices(self) -> PriceTable:
        return self._prices

    def __len__(self) -> int:
        return len(self._entries)

    def skip(self, reason: str) -> None:
        """Count a line that was not counted (``synthetic``, ``api_error``, ``malformed``)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, record: UsageRecord) -> bool:
        """Count a response once: a line with the same key replaces the kept one only when its
        token total is larger (or equal, the kept one a sidechain's replay and this one the
        parent's own line, whose attribution is the better). True when the sums changed."""
        known = self._entries.get(record.key)
        if known is not None:
            self.skipped["duplicate"] += 1
            new, old = record.usage.total, known.record.usage.total
            if new < old or (new == old and (record.sidechain or not known.record.sidechain)):
                return False
            self._unsum(known)
        entry = self._entry(record)
        self._entries[record.key] = entry
        self._sum(entry)
        return True

    def add_all(self, items: Iterable[UsageRecord | SkipReason | None]) -> int:
        """Feed parsed lines (records, skip reasons, Nones); returns how many records changed
        the sums."""
        changed = 0
        for item in items:
            if item is None:
                continue
            if isinstance(item, str):
                self.skip(item)
            elif self.add(item):
                changed += 1
        return changed

    def set_spans(self, spans: Sequence[Span]) -> bool:
        """Use new spans from the fleet; every record is attributed again if they changed."""
        spans = tuple(spans)
        if spans == self._attributor.spans:
            return False
        self._attributor = Attributor(spans)
        self._reattribute()
        return True

    def set_prices(self, prices: PriceTable) -> None:
        self._prices = prices
        self._reattribute()

    def _reattribute(self) -> None:
        self._cells.clear()
        for key, entry in self._entries.items():
            fresh = self._entry(entry.record)
            self._entries[key] = fresh
            self._sum(fresh)

    def _entry(self, record: UsageRecord) -> _Entry:
        attribution = record.fixed or self._attributor.attribute(
            record.cwd, record.branch, record.at
        )
        usd = record.usd
        if usd is None:
            price = self._prices.lookup(record.model)
            if price is not None and record.fast:
                price = price.fast_mode()
            usd = cost_usd(record.usage, price) if price is not None else None
        cell = (
            group_key("agent", attribution, record),
            group_key("ticket", attribution, record),
            record.model_key,
            _hour(record.at),
        )
        return _Entry(record, attribution, usd, cell)

    def _sum(self, entry: _Entry) -> None:
        acc = self._cells.get(entry.cell)
        if acc is None:
            acc = self._cells[entry.cell] = _Acc()
        acc.add(entry.record.usage, entry.usd)

    def _unsum(self, entry: _Entry) -> None:
        acc = self._cells[entry.cell]
        acc.add(entry.record.usage, entry.usd, -1)
        if acc.n == 0:
            del self._cells[entry.cell]

    # -- reading ------------------------------------------------------------------------------

    def records(self) -> list[tuple[UsageRecord, Attribution, float | None]]:
        """Every counted response with its attribution and price (None: unpriced)."""
        return [(e.record, e.attribution, e.usd) for e in self._entries.values()]

    def _cells_in(
        self, since: datetime | None, until: datetime | None
    ) -> Iterable[tuple[_Cell, _Acc]]:
        low = _hour(since) if since is not None else None
        for cell, acc in self._cells.items():
            hour = cell[3]
            if low is not None and hour < low:
                continue
            if until is not None and hour >= until:
                continue
            yield cell, acc

    def report(
        self,
        grouping: Grouping,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> CostReport:
        """Spend grouped by agent, ticket, model or day, from ``since`` (rounded down to its
        hour) to ``until`` (exclusive). Groups are ordered by spend, largest first (days by
        date)."""
        if grouping not in GROUPINGS:
            raise ValueError(f"grouping {grouping!r}: use one of {', '.join(GROUPINGS)}")
        total = _Acc()
        groups: dict[str, _Acc] = {}
        phases: dict[str, dict[str, _Acc]] = {}
        unpriced: set[str] = set()
        for cell, acc in self._cells_in(since, until):
            agent, ticket, model, hour = cell
            ticket, phase = split_phase(ticket)
            if grouping == "ticket" and phase is not None:
                phases.setdefault(ticket, {}).setdefault(phase, _Acc()).merge(acc)
            key = {
                "agent": agent,
                "ticket": ticket,
                "model": model,
                "day": hour.date().isoformat(),
            }[grouping]
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Acc()
            group.merge(acc)
            total.merge(acc)
            if acc.unpriced:
                unpriced.add(model)
        if grouping == "day":
            ordered = sorted(groups.items())
        else:
            ordered = sorted(groups.items(), key=lambda item: (-item[1].usd, item[0]))
        table = self._prices
        label = table.source + (f" (as of {table.as_of})" if table.as_of else "")
        return CostReport(
            grouping=grouping,
            total=total.freeze(),
            by=MappingProxyType({key: acc.freeze() for key, acc in ordered}),
            unpriced_models=tuple(sorted(unpriced)),
            since=since,
            until=until,
            skipped=MappingProxyType(dict(self.skipped)),
            price_table=label,
            phases=MappingProxyType(
                {
                    key: MappingProxyType(
                        {n: phases[key][n].freeze() for n in sorted(phases[key], key=int)}
                    )
                    for key, _acc in ordered
                    if key in phases
                }
            ),
        )

    def spend_per_hour(self, now: datetime, hours: int = 24) -> tuple[datetime, tuple[float, ...]]:
        """US dollars spent in each of the last ``hours`` hours, the current one last, and the
        start of the first."""
        if hours < 1:
            raise ValueError(f"hours must be at least 1, got {hours}")
        first = _hour(now) - timedelta(hours=hours - 1)
        values = [0.0] * hours
        for cell, acc in self._cells_in(first, None):
            index = int((cell[3] - first).total_seconds() // 3600)
            if 0 <= index < hours:
                values[index] += acc.usd
        return first, tuple(v if abs(v) > 1e-9 else 0.0 for v in values)

    def view(
        self,
        now: datetime,
        *,
        daily_budget_usd: float | None = None,
        agent_budget_usd: float | None = None,
        hours: int = 24,
    ) -> CostView:
        """The cockpit's numbers for ``now`` (naive, in the ledger's zone)."""
        midnight = datetime.combine(now.date(), datetime.min.time())
        today = self.report("agent", since=midnight, until=midnight + timedelta(days=1))
        start, per_hour = self.spend_per_hour(now, hours)
        agents = {key: bucket.usd for key, bucket in today.by.items()}
        return CostView(
            now=now,
            day=now.date(),
            today=today.total,
            agents_today=today.by,
            daily_budget_usd=daily_budget_usd,
            agent_budget_usd=agent_budget_usd,
            per_hour=per_hour,
            per_hour_start=start,
            budgets=budget_states(
                now.date(),
                today.total.usd,
                agents,
                daily_budget_usd=daily_budget_usd,
                agent_budget_usd=agent_budget_usd,
            ),
            unpriced_models=today.unpriced_models,
        )
