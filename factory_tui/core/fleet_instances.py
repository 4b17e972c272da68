"""Derive the agent (instance) views from their sessions and the claims they own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from factory_tui.core.fleet import (
    ClaimView,
    InstanceStatus,
    InstanceView,
    ProcInfo,
    SessionView,
    Settings,
    fmt_age,
)
from factory_tui.core.fleet_claims import (
    conflicts_by_instance,
    instance_alive,
    pid_detail,
)
from factory_tui.core.fleet_sessions import wait_detail, waiting_signal
from factory_tui.core.fold import LogFold
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import parse_ts


def derive_instances(
    fold: LogFold,
    owned: dict[str, list[ClaimView]],
    claim_views: list[ClaimView],
    sessions: list[SessionView],
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
) -> list[InstanceView]:
    conflicts = conflicts_by_instance(claim_views)
    ids: set[str] = set(owned)
    ids.update(fold.instance_sessions)
    ids.update(fold.instance_last_event)
    ids.update(conflicts)
    by_instance: dict[str, list[SessionView]] = {}
    for view in sessions:
        if view.instance:
            by_instance.setdefault(view.instance, []).append(view)
    out = [
        instance_view(
            i,
            fold,
            owned.get(i, []),
            by_instance.get(i, []),
            procs,
            now,
            settings,
            conflicts.get(i, ()),
        )
        for i in ids
    ]
    out.sort(key=instance_order)
    return out


_STATUS_ORDER = {"waiting": 0, "crashed": 1, "stale": 2, "working": 3, "idle": 4, "ended": 5}


def instance_order(view: InstanceView) -> tuple[int, str]:
    return _STATUS_ORDER[view.status], view.id


def _pid_conflict(evidence: ClaimView, alive_because: str, conflicts: list[str]) -> str:
    """A dead or unchecked pid beside other evidence of life: the conflict is added to
    ``conflicts``; the pid's detail is returned, to end the agent's why."""
    detail = pid_detail(evidence)
    conflicts.append(f"{evidence.key}: {detail}, yet {alive_because}")
    return f" ({detail})"


def instance_view(
    instance: str,
    fold: LogFold,
    claims: list[ClaimView],
    sessions: list[SessionView],
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
    claim_conflicts: Iterable[str] = (),
) -> InstanceView:
    alive, evidence = instance_alive(claims)
    local = all(c.local for c in claims) if claims else True
    last_raw = fold.instance_last_event.get(instance)
    last = parse_ts(last_raw) if last_raw else None
    silent = now - last if last else None
    session = next((s for s in reversed(sessions) if s.status == "running"), None) or (
        sessions[-1] if sessions else None
    )
    crashed = [s for s in sessions if s.status == "crashed"]
    stale = [c for c in claims if c.state == "stale"]
    conflicts: list[str] = []
    status: InstanceStatus
    quiet = f"last event {fmt_age(silent)} ago" if silent is not None else "no event in the log"
    if crashed and not (session and session.status == "running"):
        status, why = "crashed", f"session {crashed[-1].task} crashed: {crashed[-1].why}"
        if stale:
            why += f"; claim {stale[0].key} is stale"
    elif stale and not alive:
        status, why = "stale", f"claim {stale[0].key} is {stale[0].why}"
    elif alive or (alive is None and evidence is not None):
        idle = silent is None or silent > settings.idle_after
        status = "idle" if idle else "working"
        pid_word = (
            f"pid {evidence.unit.pid} alive"
            if alive and evidence is not None
            else f"on host {evidence.unit.hostname if evidence else '?'}"
        )
        why = f"{pid_word}; {quiet}" + (
            f" (idle after {fmt_age(settings.idle_after)})" if idle else ""
        )
        if alive and silent is not None and silent > settings.stale_after:
            conflicts.append(f"pid alive but no log event for {fmt_age(silent)}")
    elif session is not None and session.status == "running" and not claims:
        # A resumed session (see session_view): its log is the only evidence.
        idle = silent is None or silent > settings.idle_after
        status = "idle" if idle else "working"
        why = f"{session.why}" + (f" (idle after {fmt_age(settings.idle_after)})" if idle else "")
    elif silent is not None and silent <= settings.idle_after:
        # Alive on the log's evidence, whatever its pid (often the claim tool's, long gone).
        status = "working"
        why = f"{quiet}: alive on the log's evidence"
        if evidence is not None:
            why += _pid_conflict(
                evidence, f"{instance} logged {fmt_age(silent)} ago ({last_raw})", conflicts
            )
    elif (
        session is not None
        and session.status == "running"
        and (wait := waiting_signal(fold, instance, now, settings.stale_after)) is not None
    ):
        # Silent because it waits for the engineer (see session_view): idle here, "waiting"
        # once its hook line is laid over it (fleet_agents).
        status = "idle"
        waits = f"waits for the engineer ({wait_detail(wait, now)})"
        why = waits
        if evidence is not None:
            why += _pid_conflict(evidence, f"{instance} {waits}", conflicts)
    elif claims and not (session is not None and session.status == "ended"):
        # A dead pid is never idle (idle means alive and silent): no sign of life at all.
        status = "crashed"
        why = f"no sign of life: {pid_detail(evidence) if evidence else 'pid dead'}; {quiet}"
        why += "; its claim is not stale yet"
        conflicts.append("its pid is not running, yet its claim is not stale")
    elif claims:
        status = "ended"
        assert session is not None
        why = f"session {session.task} ended status={session.end_status}; {quiet}"
    else:
        status = "ended"
        why = (
            f"session {session.task} ended status={session.end_status}"
            if session is not None and session.status == "ended"
            else f"owns no claim; {quiet}"
        )
    if session is not None and session.status == "ended" and claims:
        conflicts.append(
            f"SESSION-END for {session.task} at {session.ended_at} "
            f"while {claims[0].key} is still owned"
        )
    pid = evidence.unit.pid if evidence is not None else None
    # The local process table speaks only for a local pid (another host's may be the same).
    info = procs.get(pid) if pid is not None and alive and evidence and evidence.local else None
    task = session.task if session else None
    branch = (session.branch if session else None) or (claims[0].unit.branch if claims else None)
    step = session.last_step if session else None
    return InstanceView(
        id=instance,
        status=status,
        why=why,
        host=evidence.unit.hostname if evidence is not None else None,
        local=local,
        pid=pid,
        alive=alive,
        cpu_percent=info.cpu_percent if info else None,
        rss_bytes=info.rss_bytes if info else None,
        task=task,
        branch=branch,
        step=step,
        step_state=session.last_step_state if session else None,
        step_index=step_index(step) if step else None,
        step_since=session.last_step_at if session else None,
        last_event_at=last_raw,
        claims=tuple(c.key for c in claims),
        conflicts=(*conflicts, *claim_conflicts),
        recent=tuple(fold.recent_events(instance)),
        session=session,
    )
