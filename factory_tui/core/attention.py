"""What needs the engineer (the cockpit's ``n`` key and its "Needs you" toasts): agents waiting
for an answer first, then the rest oldest first.

Pure: the derived fleet, the PR queue and the unacknowledged budget alerts in, a sorted list of
:class:`AttentionItem` out. Agent-written text in a title is made printable here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from factory_tui.core.safe import printable
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.core.cost_report import BudgetState
    from factory_tui.core.fleet import ClaimView, Fleet, InstanceView, SessionView
    from factory_tui.core.prs_queue import Queue

__all__ = ["AttentionItem", "attention_items"]


@dataclass(frozen=True, slots=True)
class AttentionItem:
    """Something that needs the engineer, where it is shown, and since when.

    ``key`` is stable across updates (it decides "already announced"); ``view`` and ``target``
    say where ``n`` jumps (a view name and the row or node key in it).
    """

    key: str
    kind: str
    since: datetime
    view: str
    target: str
    title: str
    instance: str | None = None


def attention_items(
    fleet: Fleet,
    queue: Queue | None = None,
    *,
    budgets: Iterable[tuple[BudgetState, datetime]] = (),
) -> list[AttentionItem]:
    """Everything that needs the engineer now: agents waiting for an answer (oldest first),
    then, oldest first, crashed sessions, stale claims, (given the PR ``queue``) Ask PRs
    waiting, and (given ``budgets``: each unacknowledged budget alert with when it was first
    seen) budgets reached."""
    items = [
        *(_waiting(agent) for agent in fleet.instances if agent.status == "waiting"),
        *(_crashed(session) for session in fleet.sessions if session.status == "crashed"),
        *(_stale(claim) for claim in fleet.claims if claim.state == "stale"),
        *(queue.attention() if queue is not None else ()),
        *(_budget_reached(state, seen) for state, seen in budgets),
    ]
    items.sort(key=lambda item: (item.kind != WAITING, item.since, item.key))
    return items


WAITING = "waiting for you"


def _waiting(agent: InstanceView) -> AttentionItem:
    wait = agent.waiting
    since = wait.since if wait is not None else datetime.min
    kind = wait.kind if wait is not None else "an answer"
    return AttentionItem(
        # The wait's start is part of the key: the next wait is announced again.
        key=f"waiting:{agent.id}@{since.isoformat(timespec='seconds')}",
        kind=WAITING,
        since=since,
        view="agents",
        target=agent.id,
        title=f"agent {printable(agent.id)} waits for you: {printable(kind)}",
        instance=agent.id,
    )


def _crashed(session: SessionView) -> AttentionItem:
    since = parse_ts(session.last_event_at) or parse_ts(session.started_at) or datetime.min
    who = f" ({printable(session.instance)})" if session.instance else ""
    return AttentionItem(
        key=f"session:{session.key}",
        kind="crashed session",
        since=since,
        view="sessions",
        target=session.key,
        title=f"session {printable(session.task)}{who} crashed",
        instance=session.instance,
    )


def _stale(claim: ClaimView) -> AttentionItem:
    since = (parse_ts(claim.unit.claimed_at) if claim.unit.claimed_at else None) or datetime.min
    owner = f" (owner {printable(claim.unit.owner)})" if claim.unit.owner else ""
    return AttentionItem(
        key=f"claim:{claim.key}",
        kind="stale claim",
        since=since,
        view="claims",
        target=claim.key,
        title=f"claim {printable(claim.key)} is stale{owner}",
        instance=claim.unit.owner,
    )


def _budget_reached(state: BudgetState, seen: datetime) -> AttentionItem:
    """Issue 6: a budget at 100 %, not acknowledged (first seen at ``seen``)."""
    return AttentionItem(
        key=f"budget:{state.alert_id}",
        kind="budget reached",
        since=seen,
        view="cost",
        target=state.subject,
        title=state.message,
        instance=state.subject if state.scope == "agent" else None,
    )
