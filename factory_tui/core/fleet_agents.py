"""Lay what the agents' transcripts and hook lines say over a derived fleet.

Applied after :mod:`~factory_tui.core.fleet_derive` (whose incremental state it leaves alone):
each agent gains its :class:`~factory_tui.core.activity.AgentActivity`, and an agent alive
(``working`` or ``idle``) that waits for the engineer becomes ``waiting`` with its evidence. Pure:
the activities, the log fold's hook signals and ``now`` come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from factory_tui.core.activity import AgentActivity, AgentSignal, waiting_verdict
from factory_tui.core.fleet import Fleet, InstanceView
from factory_tui.core.fleet_instances import instance_order

__all__ = ["WAITING_FROM", "with_agents"]

#: The statuses a wait can replace: a crashed, stale or ended agent waits for nobody.
WAITING_FROM = frozenset({"working", "idle"})


def _agent(
    view: InstanceView,
    activity: AgentActivity | None,
    signal: AgentSignal | None,
    now: datetime,
    idle_after: timedelta,
) -> InstanceView:
    waiting = None
    if view.status in WAITING_FROM:
        waiting = waiting_verdict(signal, activity, now, idle_after)
    if waiting is None:
        return replace(view, activity=activity) if activity is not None else view
    return replace(
        view,
        status="waiting",
        why=waiting.evidence,
        activity=activity,
        waiting=waiting,
    )


def with_agents(
    fleet: Fleet,
    activities: Mapping[str, AgentActivity],
    signals: Mapping[str, AgentSignal],
    now: datetime,
    idle_after: timedelta,
) -> Fleet:
    """``fleet`` with each agent's activity and waiting verdict, counts and order updated."""
    if not activities and not signals:
        return fleet
    counts = dict(fleet.counts)
    views: list[InstanceView] = []
    changed = False
    for view in fleet.instances:
        new = _agent(view, activities.get(view.id), signals.get(view.id), now, idle_after)
        if new is not view:
            changed = True
            if new.status != view.status:
                counts[f"agents_{view.status}"] = counts.get(f"agents_{view.status}", 1) - 1
                counts[f"agents_{new.status}"] = counts.get(f"agents_{new.status}", 0) + 1
        views.append(new)
    if not changed:
        return fleet
    views.sort(key=instance_order)
    return replace(fleet, instances=tuple(views), counts=counts)
