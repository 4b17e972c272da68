"""The fleet's views: claims, sessions and agents with their verdicts, each with its evidence.

The types every face reads (:class:`Fleet` and its views) and the small helpers they share. The
derivation lives in :mod:`~factory_tui.core.fleet_derive` (the whole fleet, and incrementally),
:mod:`~factory_tui.core.fleet_claims`, :mod:`~factory_tui.core.fleet_sessions` and
:mod:`~factory_tui.core.fleet_instances`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.locks import LockView
from factory_tui.core.oplog import Event
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import format_ts

if TYPE_CHECKING:
    from factory_tui.core.activity import AgentActivity, Waiting
    from factory_tui.core.hegemon import StoreSnapshot  # only with [hegemon]: not for status
    from factory_tui.core.launches import LaunchView

__all__ = [
    "ClaimState",
    "ClaimView",
    "Condition",
    "Fleet",
    "HostProcs",
    "InstanceView",
    "ProcInfo",
    "SessionView",
    "Settings",
    "fmt_age",
    "problem_counts",
]

ClaimState = Literal["available", "blocked", "claimed", "stale", "done"]


SessionStatus = Literal["running", "crashed", "ended"]


InstanceStatus = Literal["waiting", "working", "idle", "stale", "crashed", "ended"]
"""``waiting``: alive and waiting for the engineer (an unanswered prompt, or a finished turn
with no user message for the idle threshold); :attr:`InstanceView.waiting` says why."""


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
    launch_within: timedelta = timedelta(minutes=10)
    """A launched agent that has not claimed its work after this long is a problem."""


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
class HostProcs:
    """What another host's process table said about the pids asked of it (one batched ``ps``
    over its configured SSH argv), or why it could not be asked (``error``: unreachable, timed
    out); then its pids stay "not checked", never "dead"."""

    host: str
    procs: Mapping[int, ProcInfo] = field(default_factory=dict)
    error: str | None = None


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
    origins: tuple[str, ...] = ("file",)
    """Where the claim is known, first what it was derived from: ``file``, ``local store``,
    ``remote``."""

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
            "source": self.origins[0],
            "sources": list(self.origins),
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
    origins: tuple[str, ...] = ("file",)
    """Where the session is known (``file``: operations.log; ``local store``; ``remote``)."""

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
            "source": self.origins[0],
            "sources": list(self.origins),
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
    activity: AgentActivity | None = None
    """What its Claude Code transcript says it is doing (None: no transcript found)."""
    waiting: Waiting | None = None
    """Set with status ``waiting``: what it waits for, since when, the evidence."""
    origins: tuple[str, ...] = ("file",)
    """Where the agent is known (``file``: claims and log; ``local store``; ``remote``)."""

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
            "waiting": self.waiting.to_json() if self.waiting is not None else None,
            "activity": self.activity.to_json() if self.activity is not None else None,
            "source": self.origins[0],
            "sources": list(self.origins),
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
    launches: tuple[LaunchView, ...] = ()
    """Agents launched on free work that have not claimed it yet (late ones are problems)."""

    def launch_of(self, key: str) -> LaunchView | None:
        """The pending launch on one claim unit, if any."""
        return next((view for view in self.launches if view.key == key), None)

    store: StoreSnapshot | None = None
    """The real factory's local store as last read, or None when there is none."""
    remote: StoreSnapshot | None = None
    """The shared server's sessions and claims as last known, or None when none is configured
    (its ``note`` says since when it is unreachable)."""
    host_procs: Mapping[str, HostProcs] = field(default_factory=dict)
    """What the other configured hosts' process tables said (by configured host name): how
    their agents' pids were checked, or why they could not be."""

    def locks_of(self, key: str) -> tuple[LockView, ...]:
        """The locks on one claim unit (``CAB-1290:2``, ``CAB-1321``)."""
        return tuple(lock for lock in self.locks if lock.key == key)

    def to_json(self) -> dict[str, object]:
        return {
            key: list(value) if isinstance(value, Iterator) else value
            for key, value in self.json_items()
        }

    def json_items(self) -> list[tuple[str, object]]:
        """:meth:`to_json`'s keys in order, each record list as an iterator that makes each
        record's dict only when asked: ``status --json`` writes records as they are made and
        never holds the whole document."""
        out: list[tuple[str, object]] = [
            ("root", self.root),
            ("generated_at", format_ts(self.generated_at, seconds=True)),
            ("hostname", self.hostname),
            ("summary", dict(self.counts)),
            ("instances", (i.to_json() for i in self.instances)),
            ("sessions", (s.to_json() for s in self.sessions)),
            ("claims", (c.to_json() for c in self.claims)),
            ("problems", (p.to_json() for p in self.problems)),
            ("lint", (finding.to_json() for finding in self.lint)),
            ("locks", (lock.to_json() for lock in self.locks)),
            ("launches", (view.to_json() for view in self.launches)),
        ]
        if self.store is not None:
            out.append(("store", self.store.to_json()))
        if self.remote is not None:
            out.append(("remote", self.remote.to_json()))
        return out


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
