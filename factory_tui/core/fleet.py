"""Derive the fleet: claims, sessions and agents with their verdicts, each with its evidence.

A pure function of the files' contents (already parsed), the time ``now``, this machine's host
name and a table of process facts. It never reads the clock or the process table itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from itertools import islice
from typing import Any, Literal

from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.claims import ClaimFile, ClaimUnit
from factory_tui.core.fold import ClaimEventInfo, LogFold, SessionRec, claim_key
from factory_tui.core.locks import LockView
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.problems import Problem
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "ClaimState",
    "ClaimView",
    "Condition",
    "Fleet",
    "FleetDeriver",
    "InstanceView",
    "ProcInfo",
    "SessionView",
    "Settings",
    "derive_fleet",
    "fmt_age",
    "problem_counts",
    "same_host",
]

ClaimState = Literal["available", "blocked", "claimed", "stale", "done"]
SessionStatus = Literal["running", "crashed", "ended"]
InstanceStatus = Literal["working", "idle", "stale", "crashed", "ended"]

#: A pid may look "started after claimed_at" by up to this much because claimed_at has minute
#: precision; within it the process is taken to be the claimer.
PID_START_GRACE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Settings:
    stale_after: timedelta = timedelta(hours=2)
    idle_after: timedelta = timedelta(minutes=15)
    history: timedelta = timedelta(hours=24)
    tz: tzinfo | None = None
    """The zone a timestamp with an offset (``Z``, ``+02:00``) is converted to, to compare with
    the protocol's naive local times: the adapters pass
    :func:`~factory_tui.adapters.clock.local_zone`, a test a fixed zone (None: Python's "the
    process's zone")."""


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """What the process table says about one pid that exists (absent pids are not in the table)."""

    pid: int
    started_at: datetime | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    cmdline: tuple[str, ...] = ()
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """One of the three stale rules, whether it holds, and the values that decided it."""

    name: Literal["age", "log", "pid"]
    holds: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "holds": self.holds, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ClaimView:
    unit: ClaimUnit
    file: str
    kind: Literal["mega", "standalone"]
    title: str
    state: ClaimState
    why: str
    conditions: tuple[Condition, ...] = ()
    unmet_deps: tuple[int, ...] = ()
    pid_alive: bool | None = None
    local: bool = True
    #: Where the log and the file disagree (a lost or overwritten claim, a RELEASE the file does
    #: not show), each sentence with both facts; ``conflicts_about`` names, in the same order,
    #: the instance each one is about (its agent shows it too).
    conflicts: tuple[str, ...] = ()
    conflicts_about: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.unit.key

    def to_json(self) -> dict[str, object]:
        u = self.unit
        return {
            "id": u.claim_id,
            "phase": u.phase,
            "kind": self.kind,
            "title": self.title,
            "name": u.name,
            "state": self.state,
            "owner": u.owner,
            "pid": u.pid,
            "pid_alive": self.pid_alive,
            "host": u.hostname,
            "claimed_at": u.claimed_at,
            "completed_at": u.completed_at,
            "branch": u.branch,
            "mode": u.mode,
            "tickets": list(u.tickets),
            "deps": list(u.deps),
            "unmet_deps": list(self.unmet_deps),
            "file": self.file,
            "why": self.why,
            "conditions": [c.to_json() for c in self.conditions],
            "conflicts": list(self.conflicts),
        }


@dataclass(frozen=True, slots=True)
class SessionView:
    task: str
    instance: str | None
    branch: str | None
    status: SessionStatus
    end_status: str | None
    started_at: str
    ended_at: str | None
    last_step: str | None
    last_step_state: str | None
    last_step_at: str | None
    last_event_at: str
    pr: str | None
    checkpoint: Checkpoint | None
    recovered_from: str | None
    recovered_by: str | None
    last_error: str | None
    source: str
    start_line: int
    why: str
    duration: timedelta | None

    @property
    def key(self) -> str:
        return f"{self.task}@{self.source}:{self.start_line}"

    def to_json(self) -> dict[str, object]:
        cp = self.checkpoint
        return {
            "task": self.task,
            "instance": self.instance,
            "branch": self.branch,
            "status": self.status,
            "end_status": self.end_status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": int(self.duration.total_seconds()) if self.duration is not None else None,
            "last_step": self.last_step,
            "last_step_state": self.last_step_state,
            "last_event_at": self.last_event_at,
            "pr": self.pr,
            "checkpoint": cp.file if cp is not None else None,
            "steps_completed": list(cp.steps_completed) if cp is not None else None,
            "steps_remaining": list(cp.steps_remaining) if cp is not None else None,
            "recovered_from": self.recovered_from,
            "recovered_by": self.recovered_by,
            "last_error": self.last_error,
            "log": f"{self.source}:{self.start_line}",
            "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class InstanceView:
    id: str
    status: InstanceStatus
    why: str
    host: str | None
    local: bool
    pid: int | None
    alive: bool | None
    cpu_percent: float | None
    rss_bytes: int | None
    task: str | None
    branch: str | None
    step: str | None
    step_state: str | None
    step_index: int | None
    step_since: str | None
    last_event_at: str | None
    claims: tuple[str, ...]
    conflicts: tuple[str, ...]
    recent: tuple[Event, ...]
    session: SessionView | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "host": self.host,
            "local": self.local,
            "pid": self.pid,
            "alive": self.alive,
            "cpu_percent": self.cpu_percent,
            "rss_bytes": self.rss_bytes,
            "task": self.task,
            "branch": self.branch,
            "step": self.step,
            "step_state": self.step_state,
            "step_since": self.step_since,
            "last_event_at": self.last_event_at,
            "claims": list(self.claims),
            "why": self.why,
            "conflicts": list(self.conflicts),
        }


@dataclass(frozen=True)
class Fleet:
    root: str
    generated_at: datetime
    hostname: str
    instances: tuple[InstanceView, ...]
    sessions: tuple[SessionView, ...]
    claims: tuple[ClaimView, ...]
    problems: tuple[Problem, ...]
    lint: tuple[Any, ...] = ()
    checkpoints: tuple[Checkpoint, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    locks: tuple[LockView, ...] = ()
    """The claim lock directories: fresh (a writer at work) or stale (its writer died)."""
    missing: tuple[str, ...] = ()
    """The factory's inputs that do not exist (the claims folder, operations.log), each as a
    sentence saying where it looked and how to point elsewhere (the reader fills it in)."""

    def locks_of(self, key: str) -> tuple[LockView, ...]:
        """The locks on one claim unit (``CAB-1290:2``, ``CAB-1321``)."""
        return tuple(lock for lock in self.locks if lock.key == key)

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "generated_at": format_ts(self.generated_at, seconds=True),
            "hostname": self.hostname,
            "summary": dict(self.counts),
            "instances": [i.to_json() for i in self.instances],
            "sessions": [s.to_json() for s in self.sessions],
            "claims": [c.to_json() for c in self.claims],
            "problems": [p.to_json() for p in self.problems],
            "lint": [finding.to_json() for finding in self.lint],
            "locks": [lock.to_json() for lock in self.locks],
        }


# -- helpers -------------------------------------------------------------------------------------


def problem_counts(problems: Sequence[Problem], lint: Sequence[Any]) -> dict[str, int]:
    """``problems``: what ``--fail-on problems`` fails on and every face counts (unreadable
    files and lines, and state-lint findings); ``lint``: how many of them are lint findings."""
    return {"problems": len(problems) + len(lint), "lint": len(lint)}


def fmt_age(delta: timedelta) -> str:
    """``3h10m``, ``45m``, ``2d4h``; negative ages (clock skew) read ``in the future``."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def _short_host(name: str) -> str:
    return name.strip().lower().split(".", 1)[0]


def same_host(claim_host: str | None, hostname: str) -> bool:
    """A claim without a host name is taken to be local; ``macbook.local`` matches ``macbook``."""
    if not claim_host:
        return True
    return _short_host(claim_host) == _short_host(hostname)


def _pid_alive(
    pid: int | None, claimed_at: datetime | None, procs: Mapping[int, ProcInfo]
) -> tuple[bool, str]:
    if pid is None:
        return False, "no pid recorded"
    info = procs.get(pid)
    if info is None:
        return False, f"pid {pid} is not running"
    if (
        claimed_at is not None
        and info.started_at is not None
        and info.started_at > claimed_at + PID_START_GRACE
    ):
        return False, (
            f"pid {pid} is running but started {format_ts(info.started_at)}, after the claim "
            f"({format_ts(claimed_at)}): a reused pid"
        )
    return True, f"pid {pid} is alive"


# -- derivation ----------------------------------------------------------------------------------


def derive_claims(
    claims: Iterable[ClaimFile],
    fold: LogFold,
    *,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
) -> list[ClaimView]:
    views: list[ClaimView] = []
    for claim in claims:
        done = {u.phase for u in claim.units if u.completed_at}
        for unit in claim.units:
            views.append(_claim_view(claim, unit, done, fold, now, hostname, procs, settings))
    views.sort(key=lambda v: (v.unit.claim_id, -1 if v.unit.phase is None else v.unit.phase))
    return views


def _claim_view(
    claim: ClaimFile,
    unit: ClaimUnit,
    done: set[int | None],
    fold: LogFold,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
) -> ClaimView:
    found = claim_conflicts(claim.file, unit, fold, settings.tz)
    if unit.completed_at:
        # An agent whose claim of it was lost may still be working on it: a recent lost claim
        # stays a conflict (an old one is history).
        found = [
            (about, detail)
            for about, detail in found
            if detail.startswith("lost claim") and _recent_claim(fold, unit, about, now, settings)
        ]
    base: dict[str, Any] = {
        "unit": unit,
        "file": claim.file,
        "kind": claim.kind,
        "title": claim.title,
        "local": same_host(unit.hostname, hostname),
        "conflicts": tuple(detail for _about, detail in found),
        "conflicts_about": tuple(about for about, _detail in found),
    }
    if unit.completed_at:
        view = ClaimView(**base, state="done", why=f"completed {unit.completed_at}")
    else:
        view = _claim_view_of(unit, done, fold, now, hostname, procs, settings, base)
    if found:
        view = replace(view, why=view.why + "; conflict: " + "; ".join(view.conflicts))
    return view


def _claim_view_of(
    unit: ClaimUnit,
    done: set[int | None],
    fold: LogFold,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    base: dict[str, Any],
) -> ClaimView:
    if unit.owner:
        conditions, alive = stale_conditions(unit, fold, now, hostname, procs, settings)
        if all(c.holds for c in conditions):
            why = "stale: " + "; ".join(c.detail for c in conditions)
            state: ClaimState = "stale"
        else:
            failing = [c.detail for c in conditions if not c.holds]
            why = f"claimed by {unit.owner}; not stale: " + "; ".join(failing)
            state = "claimed"
        unmet = tuple(d for d in unit.deps if d not in done)
        if unmet:
            why += f" (claimed although phase {', '.join(map(str, unmet))} is not done)"
        return ClaimView(
            **base,
            state=state,
            why=why,
            conditions=tuple(conditions),
            unmet_deps=unmet,
            pid_alive=alive,
        )
    unmet = tuple(d for d in unit.deps if d not in done)
    if unmet:
        names = ", ".join(f"phase {d}" for d in unmet)
        return ClaimView(**base, state="blocked", why=f"waits for {names}", unmet_deps=unmet)
    return ClaimView(**base, state="available", why="free: no owner, every dep done")


def _recent_claim(
    fold: LogFold, unit: ClaimUnit, instance: str, now: datetime, settings: Settings
) -> bool:
    """``instance``'s open CLAIM of ``unit`` is younger than the stale age."""
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    claimed = fold.open_claims.get(key, {}).get(instance)
    at = parse_ts(claimed.ts, settings.tz) if claimed is not None else None
    return at is not None and now - at <= settings.stale_after


def claim_conflicts(
    file: str, unit: ClaimUnit, fold: LogFold, tz: tzinfo | None = None
) -> list[tuple[str, str]]:
    """Where operations.log and the claim file disagree about a unit that is not done, as
    (instance it is about, sentence with both facts).

    - A **lost claim**: an instance logged a CLAIM of the unit and no RELEASE of it since, yet
      the file does not name it (the protocol writes the file, then logs: another agent's rewrite
      of the whole MEGA file dropped it, or another agent claimed it over it). Whatever other
      agents did with the unit afterwards, that agent still believes it holds it.
    - A **logged release**: the last line is a RELEASE by the owner the file still names, later
      than its ``claimed_at`` (the real claim tool releases only in its own database).

    No grace period: the file is written before the CLAIM line, so reading the log after the file
    sees both; a reader that read the file just before an agent's write sees that write on the
    next watch cycle (the file changed), and the conflict goes.
    """
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    last = fold.claim_events.get(key)
    if last is None:
        return []
    where = file.rsplit("/", 1)[-1]
    owner = unit.owner
    names = f"names {owner} (claimed_at {unit.claimed_at})" if owner else "names no owner"
    out: list[tuple[str, str]] = []
    held = fold.open_claims.get(key, {})
    for instance, claimed in sorted(held.items(), key=lambda item: (item[1].ts, item[1].line)):
        if instance == owner:
            continue
        if last.event == "CLAIM" and last.instance != instance:
            sentence = (
                f"lost claim (overwritten): {instance} logged CLAIM of {unit.key} at "
                f"{claimed.ts} ({claimed.where}), then {last.instance} claimed it at {last.ts} "
                f"({last.where}) with no RELEASE by {instance} between; {where} {names}"
            )
        else:
            sentence = (
                f"lost claim: {instance} logged CLAIM of {unit.key} at {claimed.ts} "
                f"({claimed.where}) and no RELEASE since, but {where} {names}"
            )
        out.append((instance, sentence))
    if (
        last.event == "RELEASE"
        and owner
        and last.instance == owner
        and _released_after_claim(last, unit, tz)
    ):
        out.append((owner, released_in_log(last, unit, where)))
    return out


def _released_after_claim(release: ClaimEventInfo, unit: ClaimUnit, tz: tzinfo | None) -> bool:
    """The RELEASE line is at or after the unit's ``claimed_at`` (log times have minutes only)."""
    released = parse_ts(release.ts, tz)
    claimed = parse_ts(unit.claimed_at, tz) if unit.claimed_at else None
    if released is None or claimed is None:
        return False
    return released >= claimed.replace(second=0, microsecond=0)


def released_in_log(release: ClaimEventInfo, unit: ClaimUnit, file: str) -> str:
    reason = f", reason={release.reason}" if release.reason else ""
    return (
        f"{unit.owner} logged RELEASE of {unit.key} at {release.ts} ({release.where}{reason}), "
        f"after its claimed_at {unit.claimed_at}, yet {file} still names {unit.owner}"
    )


def logged_release(
    unit: ClaimUnit, fold: LogFold, tz: tzinfo | None = None
) -> ClaimEventInfo | None:
    """The owner's RELEASE line of ``unit`` when it is the unit's last claim event and later than
    its ``claimed_at``: the agent released it, only its file was not updated. ``release`` may
    then proceed on that evidence, without ``--force``."""
    if not unit.owner or unit.completed_at:
        return None
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    last = fold.claim_events.get(key)
    if (
        last is not None
        and last.event == "RELEASE"
        and last.instance == unit.owner
        and _released_after_claim(last, unit, tz)
    ):
        return last
    return None


def stale_conditions(
    unit: ClaimUnit,
    fold: LogFold,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
) -> tuple[list[Condition], bool | None]:
    """The three stale rules of FORMATS.md for one owned unit, and whether its pid is alive."""
    limit = settings.stale_after
    owner = unit.owner or ""
    claimed = parse_ts(unit.claimed_at, settings.tz) if unit.claimed_at else None
    if claimed is None:
        age = Condition("age", False, "claimed_at unknown: the claim's age cannot be established")
    else:
        old = now - claimed > limit
        age = Condition(
            "age",
            old,
            f"claimed {fmt_age(now - claimed)} ago ({unit.claimed_at})"
            + ("" if old else f", under {fmt_age(limit)}"),
        )
    # Rule 2: any line the agent wrote (for its instance or task); never an audit line (by=).
    last_raw = fold.instance_last_event.get(owner)
    last = parse_ts(last_raw, settings.tz) if last_raw else None
    if last is None:
        log = Condition("log", True, f"no event by {owner} in the log")
    elif now - last > limit:
        log = Condition(
            "log", True, f"last event by {owner} {fmt_age(now - last)} ago ({last_raw})"
        )
    else:
        log = Condition("log", False, f"event by {owner} {fmt_age(now - last)} ago ({last_raw})")
    alive: bool | None
    if same_host(unit.hostname, hostname):
        alive, detail = _pid_alive(unit.pid, claimed, procs)
        pid = Condition("pid", not alive, detail)
    else:
        alive = None
        pid = Condition("pid", True, f"on host {unit.hostname}: pid not checked")
    return [age, log, pid], alive


def derive_fleet(
    *,
    root: str,
    now: datetime,
    hostname: str,
    claims: Sequence[ClaimFile],
    fold: LogFold,
    checkpoints: Sequence[Checkpoint] = (),
    procs: Mapping[int, ProcInfo],
    settings: Settings | None = None,
    problems: Sequence[Problem] = (),
    lint: Sequence[Any] = (),
) -> Fleet:
    settings = settings or Settings()
    claim_views = derive_claims(
        claims, fold, now=now, hostname=hostname, procs=procs, settings=settings
    )
    latest_checkpoint = _latest_checkpoints(checkpoints)

    owned = _owned_claims(claim_views)

    sessions = _derive_sessions(fold, owned, latest_checkpoint, now, settings)
    instances = _derive_instances(fold, owned, claim_views, sessions, procs, now, settings)
    counts = _counts(instances, claim_views, sessions, problems, lint, fold)
    return Fleet(
        root=root,
        generated_at=now,
        hostname=hostname,
        instances=tuple(instances),
        sessions=tuple(sessions),
        claims=tuple(claim_views),
        problems=tuple(problems),
        lint=tuple(lint),
        checkpoints=tuple(latest_checkpoint.values()),
        counts=counts,
    )


def _owned_claims(views: Iterable[ClaimView]) -> dict[str, list[ClaimView]]:
    """By instance, the claims it holds (claimed or stale): whose pid speaks for it."""
    owned: dict[str, list[ClaimView]] = {}
    for view in views:
        if view.unit.owner and view.state in ("claimed", "stale"):
            owned.setdefault(view.unit.owner, []).append(view)
    return owned


def _instance_alive(views: list[ClaimView]) -> tuple[bool | None, ClaimView | None]:
    """Alive if a local owned claim's pid is alive; ``None`` when only remote claims speak."""
    remote: ClaimView | None = None
    dead: ClaimView | None = None
    for view in views:
        if view.pid_alive:
            return True, view
        if view.pid_alive is None:
            remote = remote or view
        else:
            dead = dead or view
    if dead is not None:
        return False, dead
    if remote is not None:
        return None, remote
    return False, None


def _derive_sessions(
    fold: LogFold,
    owned: dict[str, list[ClaimView]],
    checkpoints: dict[str, Checkpoint],
    now: datetime,
    settings: Settings,
) -> list[SessionView]:
    """Views of the sessions worth showing: every open one, each task's latest, and those that
    ended within the history window. Older ended sessions stay in the log, not on screen; picking
    them costs O(shown), not O(log)."""
    picked = {rec.seq: rec for rec in _picked(fold, now, settings)}
    latest_open_by_instance: dict[str, SessionRec] = {}
    for seq in sorted(picked):
        rec = picked[seq]
        if rec.is_open and rec.instance:
            latest_open_by_instance[rec.instance] = rec
    return [
        _session_view(picked[seq], fold, owned, checkpoints, latest_open_by_instance, now, settings)
        for seq in sorted(picked)
    ]


def _picked(fold: LogFold, now: datetime, settings: Settings) -> list[SessionRec]:
    """The sessions worth showing (see :func:`_derive_sessions`), in no particular order."""
    picked: list[SessionRec] = []
    for opened in fold.open_by_task.values():
        picked.extend(opened)
    picked.extend(rec for rec in fold.latest_by_task.values() if not rec.is_open)
    horizon = now - settings.history
    for rec in reversed(fold.ended):
        if not _ended_since(rec, horizon):
            break
        if fold.latest_by_task.get(rec.task) is not rec:
            picked.append(rec)
    return picked


def _ended_since(rec: SessionRec, horizon: datetime) -> bool:
    ended = parse_ts(rec.ended_at) if rec.ended_at else None
    return ended is not None and ended >= horizon


def _is_shown(rec: SessionRec, fold: LogFold, horizon: datetime) -> bool:
    """Whether :func:`_picked` picks ``rec`` (one record at a time)."""
    return rec.is_open or fold.latest_by_task.get(rec.task) is rec or _ended_since(rec, horizon)


def _rec_key(rec: SessionRec) -> str:
    """The :attr:`SessionView.key` of the view of ``rec``."""
    return f"{rec.task}@{rec.source}:{rec.start_line}"


def _latest_checkpoints(checkpoints: Iterable[Checkpoint]) -> dict[str, Checkpoint]:
    latest: dict[str, Checkpoint] = {}
    for cp in checkpoints:
        known = latest.get(cp.task)
        if known is None or (cp.at or datetime.min) >= (known.at or datetime.min):
            latest[cp.task] = cp
    return latest


def _session_view(
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
        alive, evidence = _instance_alive(views)
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
                why += f", though {_pid_detail(evidence)}"
            status = "running"
        else:
            status = "crashed"
            if evidence is not None:
                why = f"{opened_at}; {_pid_detail(evidence)}"
            else:
                why = f"{opened_at}; {rec.instance} owns no claim whose pid is alive"
    return SessionView(
        task=rec.task,
        instance=rec.instance,
        branch=rec.branch,
        status=status,
        end_status=rec.end_status,
        started_at=rec.started_at,
        ended_at=rec.ended_at,
        last_step=rec.last_step,
        last_step_state=rec.last_step_state,
        last_step_at=rec.last_step_at,
        last_event_at=rec.last_event_at,
        pr=rec.pr,
        checkpoint=checkpoints.get(rec.task)
        if status != "ended" or rec.end_status == "crashed"
        else None,
        recovered_from=rec.recovered_from,
        recovered_by=rec.recovered_by,
        last_error=rec.last_error,
        source=rec.source,
        start_line=rec.start_line,
        why=why,
        duration=duration,
    )


def _logged_within(
    fold: LogFold, instance: str, now: datetime, limit: timedelta
) -> tuple[timedelta, str] | None:
    """How long ago ``instance`` wrote its last line, and when, if within ``limit``."""
    raw = fold.instance_last_event.get(instance)
    last = parse_ts(raw) if raw else None
    if raw is None or last is None or now - last > limit:
        return None
    return now - last, raw


def _pid_detail(evidence: ClaimView) -> str:
    """What the pid check said for a claim (``pid 100 is not running``)."""
    return next((c.detail for c in evidence.conditions if c.name == "pid"), "pid dead")


def _conflicts_by_instance(views: Iterable[ClaimView]) -> dict[str, list[str]]:
    """The claims' conflicts, by the instance each one is about."""
    out: dict[str, list[str]] = {}
    for view in views:
        for about, detail in zip(view.conflicts_about, view.conflicts, strict=True):
            out.setdefault(about, []).append(detail)
    return out


def _derive_instances(
    fold: LogFold,
    owned: dict[str, list[ClaimView]],
    claim_views: list[ClaimView],
    sessions: list[SessionView],
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
) -> list[InstanceView]:
    conflicts = _conflicts_by_instance(claim_views)
    ids: set[str] = set(owned)
    ids.update(fold.instance_sessions)
    ids.update(fold.instance_last_event)
    ids.update(conflicts)
    by_instance: dict[str, list[SessionView]] = {}
    for view in sessions:
        if view.instance:
            by_instance.setdefault(view.instance, []).append(view)
    out = [
        _instance_view(
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
    out.sort(key=_instance_order)
    return out


_STATUS_ORDER = {"crashed": 0, "stale": 1, "working": 2, "idle": 3, "ended": 4}


def _instance_order(view: InstanceView) -> tuple[int, str]:
    return _STATUS_ORDER[view.status], view.id


def _instance_view(
    instance: str,
    fold: LogFold,
    claims: list[ClaimView],
    sessions: list[SessionView],
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
    claim_conflicts: Iterable[str] = (),
) -> InstanceView:
    alive, evidence = _instance_alive(claims)
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
        # A resumed session (see _session_view): its log is the only evidence.
        idle = silent is None or silent > settings.idle_after
        status = "idle" if idle else "working"
        why = f"{session.why}" + (f" (idle after {fmt_age(settings.idle_after)})" if idle else "")
    elif silent is not None and silent <= settings.idle_after:
        # Alive on the log's evidence, whatever its pid (often the claim tool's, long gone).
        status = "working"
        why = f"{quiet}: alive on the log's evidence"
        if evidence is not None:
            detail = _pid_detail(evidence)
            why += f" ({detail})"
            conflicts.append(
                f"{evidence.key}: {detail}, yet {instance} logged {fmt_age(silent)} ago "
                f"({last_raw})"
            )
    elif claims and not (session is not None and session.status == "ended"):
        # A dead pid is never idle (idle means alive and silent): no sign of life at all.
        status = "crashed"
        why = f"no sign of life: {_pid_detail(evidence) if evidence else 'pid dead'}; {quiet}"
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
    info = procs.get(pid) if pid is not None and alive else None
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


def _counts(
    instances: list[InstanceView],
    claims: list[ClaimView],
    sessions: list[SessionView],
    problems: Sequence[Problem],
    lint: Sequence[Any],
    fold: LogFold,
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in instances:
        counts[f"agents_{view.status}"] = counts.get(f"agents_{view.status}", 0) + 1
    for claim in claims:
        counts[f"claims_{claim.state}"] = counts.get(f"claims_{claim.state}", 0) + 1
    for session in sessions:
        counts[f"sessions_{session.status}"] = counts.get(f"sessions_{session.status}", 0) + 1
    counts.update(problem_counts(problems, lint))
    counts["log_events"] = fold.events
    base = (
        {f"agents_{s}": 0 for s in ("working", "idle", "stale", "crashed", "ended")}
        | {f"claims_{s}": 0 for s in ("available", "blocked", "claimed", "stale", "done")}
        | {f"sessions_{s}": 0 for s in ("running", "crashed", "ended")}
    )
    return base | counts


# -- incremental derivation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a fleet is derived from besides the log: the same inputs allow a partial re-derive."""

    root: str
    hostname: str
    claims: tuple[int, ...]
    checkpoints: tuple[int, ...]
    procs: Mapping[int, ProcInfo]
    settings: Settings


class FleetDeriver:
    """Derive fleets; when only lines were appended to the log since the last one, re-derive just
    what those lines touched and keep every other view.

    A full derive is O(shown sessions + claims): tens of milliseconds on a big factory. After a
    few appended lines the work is O(what they touch): the sessions of the tasks they name, the
    instances of those sessions with their other open sessions (a new SESSION-START supersedes
    them), and the claims those instances own. For the same ``now`` the result equals a full
    derive. With a later ``now`` the views left alone keep the ages they had; a full derive runs
    at least every ``full_every`` and whenever claims, checkpoints, processes or settings change.
    """

    def __init__(self, full_every: timedelta = timedelta(seconds=15)) -> None:
        self.full_every = full_every
        self.partial_derives = 0
        self.previous: Fleet | None = None
        self._inputs: _Inputs | None = None
        self._full_at = datetime.min
        self._events = 0
        self._sessions = 0
        self._ended = 0
        # Of the shown sessions: task -> key -> record, key -> place in Fleet.sessions,
        # instance -> keys.
        self._by_task: dict[str, dict[str, SessionRec]] = {}
        self._place: dict[str, int] = {}
        self._by_instance: dict[str, set[str]] = {}
        self._by_file: dict[str, ClaimFile] = {}
        self._recs: dict[str, SessionRec] = {}
        self._claims_by_owner: dict[str, list[int]] = {}
        self._claims_by_id: dict[str, list[int]] = {}
        # Places in Fleet.claims of the views that have conflicts.
        self._conflicts_at: dict[int, ClaimView] = {}
        self._owned: dict[str, list[ClaimView]] = {}
        self._checkpoint_by_task: dict[str, Checkpoint] = {}

    def derive(
        self,
        *,
        root: str,
        now: datetime,
        hostname: str,
        claims: Sequence[ClaimFile],
        fold: LogFold,
        checkpoints: Sequence[Checkpoint] = (),
        procs: Mapping[int, ProcInfo],
        settings: Settings | None = None,
        problems: Sequence[Problem] = (),
        lint: Sequence[Any] = (),
        full: bool = False,
    ) -> Fleet:
        settings = settings or Settings()
        inputs = _Inputs(
            root=root,
            hostname=hostname,
            claims=tuple(map(id, claims)),
            checkpoints=tuple(map(id, checkpoints)),
            procs=dict(procs),
            settings=settings,
        )
        appended = fold.events - self._events
        previous = self.previous
        if (
            full
            or previous is None
            or inputs != self._inputs
            or not self._full_at <= now < self._full_at + self.full_every
            or not 0 <= appended <= len(fold.recent)
            or len(fold.sessions) < self._sessions
        ):
            fleet = derive_fleet(
                root=root,
                now=now,
                hostname=hostname,
                claims=claims,
                fold=fold,
                checkpoints=checkpoints,
                procs=procs,
                settings=settings,
                problems=problems,
                lint=lint,
            )
            self._full_at = now
            self._index(fleet, _picked(fold, now, settings))
            self._by_file = {claim.file: claim for claim in claims}
            self._checkpoint_by_task = _latest_checkpoints(checkpoints)
        else:
            fleet = self._update(previous, appended, now, fold, procs, settings)
            fleet = replace(
                fleet,
                problems=tuple(problems),
                lint=tuple(lint),
                counts={**fleet.counts, **problem_counts(problems, lint)},
            )
            self.partial_derives += 1
        self.previous = fleet
        self._inputs = inputs
        self._events = fold.events
        self._sessions = len(fold.sessions)
        self._ended = len(fold.ended)
        return fleet

    def _index(self, fleet: Fleet, picked: Iterable[SessionRec]) -> None:
        self._by_task = {}
        self._recs = {}
        for rec in picked:
            key = _rec_key(rec)
            self._by_task.setdefault(rec.task, {})[key] = rec
            self._recs[key] = rec
        self._claims_by_owner = {}
        self._claims_by_id = {}
        self._conflicts_at = {}
        for n, claim_view in enumerate(fleet.claims):
            if claim_view.unit.owner:
                self._claims_by_owner.setdefault(claim_view.unit.owner, []).append(n)
            self._claims_by_id.setdefault(claim_view.unit.claim_id, []).append(n)
            if claim_view.conflicts:
                self._conflicts_at[n] = claim_view
        self._owned = _owned_claims(fleet.claims)
        self._place = {}
        self._by_instance = {}
        for n, view in enumerate(fleet.sessions):
            key = view.key
            self._place[key] = n
            if view.instance:
                self._by_instance.setdefault(view.instance, set()).add(key)

    def _touched(
        self, fold: LogFold, appended: int
    ) -> tuple[dict[int, SessionRec], set[str], set[str]]:
        """The session records the appended lines may have changed, the instances involved, and
        the claims (ids) whose CLAIM / RELEASE lines were appended."""
        tasks: set[str] = set()
        instances: set[str] = set()
        claim_ids: set[str] = set()
        for text, line, source in islice(reversed(fold.recent), appended):
            event = parse_line(text, line, source)
            if isinstance(event, Event):
                if task := event.fields.get("task"):
                    tasks.add(task)
                    if event.name in ("CLAIM", "RELEASE"):
                        claim_ids.add(task)
                if instance := event.fields.get("instance"):
                    instances.add(instance)
        recs: dict[int, SessionRec] = {}
        for rec in (*fold.sessions[self._sessions :], *fold.ended[self._ended :]):
            recs[rec.seq] = rec
            tasks.add(rec.task)
        for task in tasks:
            for rec in fold.open_by_task.get(task, ()):
                recs[rec.seq] = rec
            if (latest := fold.latest_by_task.get(task)) is not None:
                recs[latest.seq] = latest
            for rec in self._by_task.get(task, {}).values():
                recs[rec.seq] = rec
        instances.update(rec.instance for rec in recs.values() if rec.instance)
        # An instance's open sessions supersede one another: all of them may change. (Every
        # open session is shown.)
        for instance in instances:
            for key in self._by_instance.get(instance, ()):
                rec = self._recs[key]
                if rec.is_open:
                    recs[rec.seq] = rec
        return recs, instances, claim_ids

    def _update(
        self,
        previous: Fleet,
        appended: int,
        now: datetime,
        fold: LogFold,
        procs: Mapping[int, ProcInfo],
        settings: Settings,
    ) -> Fleet:
        recs, instances, claim_ids = self._touched(fold, appended)
        counts = dict(previous.counts)
        counts["log_events"] = fold.events
        # The log speaks to a claim through its owner's last event, and through the CLAIM and
        # RELEASE lines of its id (conflicts).
        claim_views = list(previous.claims)
        owned = self._owned
        redo: set[int] = set()
        for owner in instances:
            redo.update(self._claims_by_owner.get(owner, ()))
        for claim_id in claim_ids:
            redo.update(self._claims_by_id.get(claim_id, ()))
        owners: set[str] = set()
        for index in sorted(redo):
            claim_view = claim_views[index]
            claim = self._by_file.get(claim_view.file)
            if claim is None:
                continue
            done = {u.phase for u in claim.units if u.completed_at}
            new_claim = _claim_view(
                claim, claim_view.unit, done, fold, now, previous.hostname, procs, settings
            )
            _recount(counts, "claims", claim_view.state, new_claim.state)
            claim_views[index] = new_claim
            if claim_view.unit.owner:
                owners.add(claim_view.unit.owner)
            # The instances a conflict is about show it too.
            instances.update(claim_view.conflicts_about, new_claim.conflicts_about)
            if new_claim.conflicts:
                self._conflicts_at[index] = new_claim
            else:
                self._conflicts_at.pop(index, None)
        for owner in owners:
            places = self._claims_by_owner[owner]
            owns = [claim_views[n] for n in places if claim_views[n].state in ("claimed", "stale")]
            if owns:
                owned[owner] = owns
            else:
                owned.pop(owner, None)
        instances.update(owners)
        conflicts = _conflicts_by_instance(
            self._conflicts_at[n] for n in sorted(self._conflicts_at)
        )
        latest_open: dict[str, SessionRec] = {}
        for seq in sorted(recs):
            rec = recs[seq]
            if rec.is_open and rec.instance:
                latest_open[rec.instance] = rec
        # Sessions: replace the touched views in place, drop those no longer shown, append new.
        checkpoint_by_task = self._checkpoint_by_task
        horizon = now - settings.history
        sessions = list(previous.sessions)
        dropped = False
        for seq in sorted(recs):
            rec = recs[seq]
            key = _rec_key(rec)
            shown = self._by_task.setdefault(rec.task, {})
            place = self._place.get(key)
            if not _is_shown(rec, fold, horizon):
                if place is not None:
                    _recount(counts, "sessions", sessions[place].status, None)
                    del shown[key]
                    del self._place[key]
                    del self._recs[key]
                    sessions[place] = None  # type: ignore[call-overload]
                    dropped = True
                continue
            view = _session_view(rec, fold, owned, checkpoint_by_task, latest_open, now, settings)
            if place is not None:
                _recount(counts, "sessions", sessions[place].status, view.status)
                sessions[place] = view
            else:
                _recount(counts, "sessions", None, view.status)
                shown[key] = rec
                self._recs[key] = rec
                self._place[key] = len(sessions)
                sessions.append(view)
                if view.instance:
                    self._by_instance.setdefault(view.instance, set()).add(key)
        if dropped:
            sessions = [view for view in sessions if view is not None]
            self._place = {view.key: n for n, view in enumerate(sessions)}
            for keys in self._by_instance.values():
                keys.intersection_update(self._place)
        # Instances: re-derive the involved ones against the new claims and sessions.
        known = {view.id for view in previous.instances}
        wanted = {
            i
            for i in instances
            if i in known
            or i in owned
            or i in fold.instance_sessions
            or i in fold.instance_last_event
            or i in conflicts
        }
        fresh: dict[str, InstanceView] = {}
        for i in wanted:
            places = sorted(self._place[key] for key in self._by_instance.get(i, ()))
            fresh[i] = _instance_view(
                i,
                fold,
                owned.get(i, []),
                [sessions[n] for n in places],
                procs,
                now,
                settings,
                conflicts.get(i, ()),
            )
        instance_views: list[InstanceView] = []
        for old in previous.instances:
            new = fresh.pop(old.id, old)
            _recount(counts, "agents", old.status, new.status)
            instance_views.append(new)
        for new in fresh.values():
            _recount(counts, "agents", None, new.status)
            instance_views.append(new)
        instance_views.sort(key=_instance_order)
        return Fleet(
            root=previous.root,
            generated_at=now,
            hostname=previous.hostname,
            instances=tuple(instance_views),
            sessions=tuple(sessions),
            claims=tuple(claim_views),
            problems=previous.problems,
            lint=previous.lint,
            checkpoints=previous.checkpoints,
            counts=counts,
        )


def _recount(counts: dict[str, int], kind: str, old: str | None, new: str | None) -> None:
    """Move one view from ``kind_old`` to ``kind_new`` in the fleet's counts."""
    if old == new:
        return
    if old is not None:
        counts[f"{kind}_{old}"] -= 1
    if new is not None:
        counts[f"{kind}_{new}"] = counts.get(f"{kind}_{new}", 0) + 1
