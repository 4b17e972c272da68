"""Derive the session views: which sessions are shown and each one's status with its evidence."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from datetime import datetime, timedelta

from factory_tui.core import fold_ended
from factory_tui.core.activity import AgentSignal
from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.fleet import ClaimView, SessionStatus, SessionView, Settings, fmt_age
from factory_tui.core.fleet_claims import (
    instance_alive,
    pid_detail,
)
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.timeparse import parse_ts

#: The hook lines that say an agent waits for the engineer (AGENT-RESUMED says it stopped).
WAITING_EVENTS = ("AGENT-WAITING", "AGENT-TURN-END")


def derive_sessions(
    fold: LogFold,
    owned: dict[str, list[ClaimView]],
    checkpoints: dict[str, Checkpoint],
    now: datetime,
    settings: Settings,
    picked_recs: Iterable[SessionRec] | None = None,
    opened: dict[str, dict[int, SessionRec]] | None = None,
) -> list[SessionView]:
    """Views of the sessions worth showing: each task's latest, the open ones active within the
    history window or still their task's latest, and those that ended within the window. Older
    sessions stay in the log, not on screen: an ended one, and an open one a later session of
    its task superseded long ago (a crash the task moved on from: a long history holds tens of
    thousands, and the real protocol only ever looks at the latest). ``picked_recs``:
    :func:`picked_sessions` already called; ``opened``: :func:`open_by_instance` already
    called."""
    if picked_recs is None:
        picked_recs = picked_sessions(fold, now, settings)
    picked = {rec.seq: rec for rec in picked_recs}
    in_order = [picked[seq] for seq in sorted(picked)]
    if opened is None:
        opened = open_by_instance(fold)
    latest_open_by_instance = {i: mine[max(mine)] for i, mine in opened.items() if mine}
    return [
        session_view(rec, fold, owned, checkpoints, latest_open_by_instance, now, settings)
        for rec in in_order
    ]


def open_by_instance(fold: LogFold) -> dict[str, dict[int, SessionRec]]:
    """Each instance's open sessions by ``seq``, listed or not."""
    found: dict[str, dict[int, SessionRec]] = {}
    for opened in fold.open_by_task.values():
        for rec in opened:
            if rec.instance:
                found.setdefault(rec.instance, {})[rec.seq] = rec
    return found


def latest_open_of_instances(fold: LogFold) -> dict[str, SessionRec]:
    """Each instance's latest open session, listed or not: one a later session of its task
    superseded long ago (not listed) still says its agent moved on from its earlier ones."""
    return {i: opened[max(opened)] for i, opened in open_by_instance(fold).items()}


def picked_sessions(
    fold: LogFold, now: datetime, settings: Settings, walked: set[int] | None = None
) -> list[SessionRec]:
    """The sessions worth showing (see :func:`derive_sessions`), in no particular order.
    ``walked``: given, the ``seq`` of every session :func:`ended_walk` found is added to it
    (each task's latest among them), for :func:`is_shown`."""
    picked: list[SessionRec] = []
    horizon = now - settings.history
    latest_by_task = fold.latest_by_task
    for task, opened in fold.open_by_task.items():
        latest = latest_by_task.get(task)
        picked.extend(rec for rec in opened if rec is latest or _active_since(rec, horizon))
    picked.extend(rec for rec in latest_by_task.values() if not rec.is_open)
    for rec in ended_walk(fold, horizon):
        if walked is not None:
            walked.add(rec.seq)
        if latest_by_task.get(rec.task) is not rec:
            picked.append(rec)
    return picked


def ended_walk(fold: LogFold, horizon: datetime) -> Iterator[SessionRec]:
    """The sessions that ended at ``horizon`` or later, as far as the walk back through the
    ends goes (newest first, in log order): it stops after
    :data:`~factory_tui.core.fold_ended.LATE_ENDS` in a row ended before ``horizon`` (or
    cannot say when), so one that ended recently but was logged before that many late old
    ones is not found."""
    late_ends = fold_ended.LATE_ENDS  # read here: a test sets it
    older = 0  # how many in a row ended before the horizon
    for rec in reversed(fold.ended):
        if not ended_since(rec, horizon):
            older += 1
            if older >= late_ends:
                return
            continue
        older = 0
        yield rec


def old_ends_on_top(fold: LogFold, horizon: datetime) -> int:
    """How many of the last sessions that ended (in log order) ended, in a row, before
    ``horizon`` (or cannot say when): where :func:`ended_walk` starts, up to
    :data:`~factory_tui.core.fold_ended.LATE_ENDS` (then it finds nothing further)."""
    late_ends = fold_ended.LATE_ENDS
    found = 0
    for rec in reversed(fold.ended):
        if found >= late_ends or ended_since(rec, horizon):
            break
        found += 1
    return found


def ended_since(rec: SessionRec, horizon: datetime) -> bool:
    """Whether ``rec`` ended at ``horizon`` or later (False when it cannot say when)."""
    ended = parse_ts(rec.ended_at) if rec.ended_at else None
    return ended is not None and ended >= horizon


def _active_since(rec: SessionRec, horizon: datetime) -> bool:
    """Whether an open session started or logged at ``horizon`` or later (or cannot say when)."""
    last = parse_ts(rec.last_event_at)
    return last is None or last >= horizon


def is_shown(
    rec: SessionRec, fold: LogFold, horizon: datetime, walked: Container[int] | None = None
) -> bool:
    """Whether :func:`picked_sessions` picks ``rec`` (one record at a time). ``walked``: the
    sessions :func:`ended_walk` found (an ended one that is not its task's latest is shown
    only if the walk found it); None: as if it found every one."""
    if fold.latest_by_task.get(rec.task) is rec:
        return True
    if rec.is_open:
        return _active_since(rec, horizon)
    return ended_since(rec, horizon) and (walked is None or rec.seq in walked)


def rec_key(rec: SessionRec) -> str:
    """The :attr:`SessionView.key` of the view of ``rec``."""
    return f"{rec.task}@{rec.source}:{rec.start_line}"


def latest_checkpoints(checkpoints: Iterable[Checkpoint]) -> dict[str, Checkpoint]:
    latest: dict[str, Checkpoint] = {}
    for cp in checkpoints:
        known = latest.get(cp.task)
        if known is None or (cp.at or datetime.min) >= (known.at or datetime.min):
            latest[cp.task] = cp
    return latest


def session_view(
    rec: SessionRec,
    fold: LogFold,
    owned: dict[str, list[ClaimView]],
    checkpoints: dict[str, Checkpoint],
    latest_open_by_instance: dict[str, SessionRec],
    now: datetime,
    settings: Settings,
) -> SessionView:
    start = parse_ts(rec.started_at)
    status: SessionStatus
    if not rec.is_open:
        status = "ended"
        end = parse_ts(rec.ended_at) if rec.ended_at else None
        duration = end - start if end and start else None
        why = f"SESSION-END status={rec.end_status or '?'} at {rec.ended_at}"
        if rec.recovered_by:
            why += f", recovered by {rec.recovered_by}"
    else:
        duration = now - start if start else None
        opened_at = f"SESSION-START at {rec.source}:{rec.start_line} has no SESSION-END"
        views = owned.get(rec.instance or "", [])
        alive, evidence = instance_alive(views)
        superseded = (
            rec.instance is not None and latest_open_by_instance.get(rec.instance) is not rec
        )
        later = fold.open_by_task.get(rec.task, [])
        superseded = superseded or (bool(later) and later[-1] is not rec)
        if rec.instance is None:
            status, why = (
                "crashed",
                f"{opened_at}, and it names no instance whose pid could be checked",
            )
        elif superseded and alive and not (bool(later) and later[-1] is not rec):
            # Only its own instance moved on, and that instance's pid is alive: the agent left
            # this session unended but it is not dead, so it is not a crashed session to recover.
            assert evidence is not None
            status, why = (
                "running",
                f"{opened_at}, but its instance moved on to a later session and is alive: "
                f"{evidence.unit.key} pid {evidence.unit.pid} is alive",
            )
        elif superseded:
            status, why = (
                "crashed",
                f"{opened_at}; a later session of the same task or instance started",
            )
        elif alive:
            assert evidence is not None
            status, why = (
                "running",
                f"in progress: {evidence.unit.key} pid {evidence.unit.pid} is alive",
            )
        elif alive is None and evidence is not None:
            if evidence.state == "stale":
                status = "crashed"
                why = f"{opened_at}; on host {evidence.unit.hostname} and its claim is stale"
            else:
                status = "running"
                why = (
                    f"in progress on host {evidence.unit.hostname} "
                    "(pid not checked; claim not stale)"
                )
        elif rec.recovered_from and not views:
            # A resumed session: the claim stays with the crashed instance (FORMATS.md), so no
            # pid speaks for the new agent; its log does, until it falls silent.
            last = parse_ts(rec.last_event_at)
            silent = now - last if last else None
            if silent is not None and silent <= settings.stale_after:
                status = "running"
                why = (
                    f"resumed from {rec.recovered_from}; no claim of its own (the claim stays "
                    f"with the crashed instance); last event {fmt_age(silent)} ago"
                )
            else:
                status = "crashed"
                why = (
                    f"{opened_at}; resumed from {rec.recovered_from} but silent for "
                    f"{fmt_age(silent) if silent is not None else 'ever'}"
                )
        elif (logged := _logged_within(fold, rec.instance, now, settings.idle_after)) is not None:
            # The pid in a claim is often not the agent's (the claim tool's own, a shell's $$):
            # an instance that logged within the idle threshold is alive on that evidence.
            why = f"in progress: {rec.instance} logged {fmt_age(logged[0])} ago ({logged[1]})"
            if evidence is not None:
                why += f", though {pid_detail(evidence)}"
            status = "running"
        elif (wait := waiting_signal(fold, rec.instance, now, settings.stale_after)) is not None:
            # It cannot log while it waits for the engineer: its hook's word stands for its
            # life until the claim would be stale (then the protocol lets another agent take it).
            why = f"in progress: {rec.instance} waits for the engineer ({wait_detail(wait, now)})"
            if evidence is not None:
                why += f", though {pid_detail(evidence)}"
            status = "running"
        else:
            status = "crashed"
            if evidence is not None:
                why = f"{opened_at}; {pid_detail(evidence)}"
            else:
                why = f"{opened_at}; {rec.instance} owns no claim whose pid is alive"
    # Positional, in the order of the fields: tens of thousands of sessions at 10x.
    return SessionView(
        rec.task,
        rec.instance,
        rec.branch,
        status,
        rec.end_status,
        rec.started_at,
        rec.ended_at,
        rec.last_step,
        rec.last_step_state,
        rec.last_step_at,
        rec.last_event_at,
        rec.pr,
        checkpoints.get(rec.task) if status != "ended" or rec.end_status == "crashed" else None,
        rec.recovered_from,
        rec.recovered_by,
        rec.last_error,
        rec.source,
        rec.start_line,
        why,
        duration,
    )


def waiting_signal(
    fold: LogFold, instance: str, now: datetime, limit: timedelta
) -> AgentSignal | None:
    """The hook line saying ``instance`` waits for the engineer (a prompt it shows, or its turn
    ended), when nothing it logged came after it and it is not older than ``limit``."""
    signal = fold.agent_signals.get(instance)
    if signal is None or signal.event not in WAITING_EVENTS:
        return None
    since = parse_ts(signal.ts)
    if since is None or now - since > limit:
        return None
    return signal


def wait_detail(signal: AgentSignal, now: datetime) -> str:
    """``AGENT-WAITING kind=permission_prompt at operations.log:9, 50m ago``."""
    since = parse_ts(signal.ts)
    kind = f" kind={signal.kind}" if signal.kind else ""
    where = f" at {signal.where}" if signal.where else ""
    age = f", {fmt_age(now - since)} ago" if since is not None else ""
    return f"{signal.event}{kind}{where}{age}"


def _logged_within(
    fold: LogFold, instance: str, now: datetime, limit: timedelta
) -> tuple[timedelta, str] | None:
    """How long ago ``instance`` wrote its last line, and when, if within ``limit``."""
    raw = fold.instance_last_event.get(instance)
    last = parse_ts(raw) if raw else None
    if raw is None or last is None or now - last > limit:
        return None
    return now - last, raw
