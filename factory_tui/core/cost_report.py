"""What the cost faces show: sums grouped by agent, ticket, model or day (:class:`CostReport`),
today's view (:class:`CostView`) and the budgets' states (:class:`BudgetState`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, get_args

from factory_tui.core.cost_attribution import (
    norm_path,
)
from factory_tui.core.cost_records import (
    Attribution,
    UsageRecord,
)
from factory_tui.core.statefiles import find_tickets

__all__ = [
    "GROUPINGS",
    "WARN_FRACTION",
    "Bucket",
    "BudgetLevel",
    "BudgetState",
    "CostReport",
    "CostView",
    "Grouping",
    "budget_states",
    "format_tokens",
    "group_key",
]

Grouping = Literal["agent", "ticket", "model", "day"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)


BudgetLevel = Literal["ok", "warning", "alert"]

WARN_FRACTION = 0.8
"""A budget warns at 80 % and alerts at 100 %."""


NO_TICKET = "(no ticket)"


COUNCIL_AGENT = "(council)"


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
        name = norm_path(record.cwd).rsplit("/", 1)[-1] if record.cwd else ""
        return f"({name or 'unknown'})"
    if grouping == "ticket":
        return ticket_key(attribution.ticket)
    if grouping == "model":
        return record.model_key
    return record.at.date().isoformat()


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


def format_tokens(n: int) -> str:
    """``950``, ``1.2k``, ``12k``, ``4.56M``, ``1.23G``: token counts as people read them, in at
    most five characters (the cockpit's Cost view and ``factory-tui cost`` alike)."""
    if n >= 1_000_000_000:
        return f"{n / 1_000_000_000:.2f}G"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)
