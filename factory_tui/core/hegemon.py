"""The real factory's own store (HEGEMON, FORMATS.md "The real system's own store") as values.

Its claim tool (``heg_state.py``) keeps sessions, milestones, claims, tickets, a work queue and a
Council cache in a SQLite database. The adapter (:mod:`factory_tui.adapters.hegemon_store`)
reads the rows; here they become frozen values. Every field is agent-written and untrusted: a
value of the wrong type is dropped (``None``), never trusted and never an exception. Timestamps
stay as written (UTC with ``Z``); the fleet parses them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from factory_tui.core.claims import MAX_PHASE, MAX_PID

__all__ = [
    "STORE_TABLES",
    "CouncilEntry",
    "QueueJob",
    "StoreClaim",
    "StoreMilestone",
    "StoreSession",
    "StoreSnapshot",
    "StoreTicket",
    "claim_from_row",
    "session_from_row",
    "snapshot_from_rows",
]

#: The tables of schema v1 (``schema.sql``), in the order ``doctor`` lists their row counts.
STORE_TABLES = ("sessions", "milestones", "claims", "tickets", "council_cache", "queue_jobs")

Row = Mapping[str, Any]


def _text(row: Row, key: str) -> str | None:
    value = row.get(key)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _int(row: Row, key: str, high: int = 2**63 - 1) -> int | None:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= high else None


def _float(row: Row, key: str) -> float | None:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _deps(raw: str | None) -> tuple[int, ...]:
    """``deps`` is a JSON array text (``[1, 2]``); anything else is no deps."""
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(
        d for d in value if isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_PHASE
    )


@dataclass(frozen=True, slots=True)
class StoreSession:
    """A row of ``sessions``: an agent at work (the tool deletes the row when it is done)."""

    instance_id: str
    project: str | None
    role: str | None
    ticket: str | None
    branch: str | None
    step: str | None
    pr: int | None
    host: str | None
    source: str | None
    pid: int | None
    started_at: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class StoreMilestone:
    """A row of ``milestones``: one step an agent reached (``claimed``, ``pr-created``, …)."""

    id: int
    ticket: str | None
    step: str | None
    instance_id: str | None
    pr: int | None
    sha: str | None
    detail: str | None
    created_at: str | None


@dataclass(frozen=True, slots=True)
class StoreClaim:
    """A row of ``claims``: a standalone ticket (``id`` = the ticket) or a MEGA phase (``id`` =
    ``<MEGA>-phase-<N>``, ``mega_id`` and ``phase`` set). The tool releases by setting
    ``owner`` and ``pid`` to null and ``completed_at`` to the release time."""

    id: str
    ticket: str | None
    phase: int | None
    mega_id: str | None
    owner: str | None
    pid: int | None
    host: str | None
    branch: str | None
    deps: tuple[int, ...]
    claimed_at: str | None
    completed_at: str | None

    @property
    def claim_id(self) -> str:
        """The id a claim file would carry: the MEGA's for a phase, else the row's."""
        return self.mega_id if self.mega_id and self.phase is not None else self.id

    @property
    def unit_phase(self) -> int | None:
        return self.phase if self.mega_id else None

    @property
    def key(self) -> str:
        """As :attr:`factory_tui.core.claims.ClaimUnit.key`: ``CAB-1290:2`` or ``CAB-1321``."""
        phase = self.unit_phase
        return self.claim_id if phase is None else f"{self.claim_id}:{phase}"


@dataclass(frozen=True, slots=True)
class StoreTicket:
    id: str
    title: str | None
    status: str | None
    component: str | None
    parent_id: str | None
    cycle: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class CouncilEntry:
    """A row of ``council_cache``: the last Council verdict on a ticket."""

    ticket_id: str
    score: float | None
    verdict: str | None
    evaluated_at: str | None


@dataclass(frozen=True, slots=True)
class QueueJob:
    """A row of ``queue_jobs``: a ticket waiting (``pending``) or handed to a worker
    (``dispatched``, ``running``)."""

    id: int
    ticket_id: str
    title: str | None
    priority: int | None
    role: str | None
    status: str | None
    assigned_to: str | None
    dispatched_at: str | None
    created_at: str | None


@dataclass(frozen=True)
class StoreSnapshot:
    """What one read of the store saw: its rows, its row counts and schema, and where it is."""

    path: str
    schema: str
    """``user_version N`` and the v1 tables it lacks, e.g. ``user_version 0 (no queue_jobs)``."""
    counts: Mapping[str, int] = field(default_factory=dict)
    sessions: tuple[StoreSession, ...] = ()
    milestones: tuple[StoreMilestone, ...] = ()
    """The latest milestone of each (ticket, instance), oldest first."""
    claims: tuple[StoreClaim, ...] = ()
    tickets: tuple[StoreTicket, ...] = ()
    council: tuple[CouncilEntry, ...] = ()
    queue: tuple[QueueJob, ...] = ()
    """The open jobs (pending, dispatched, running), by priority."""
    read_at: str = ""
    """When it was read (local time, seconds): shown when a later read could not be made."""
    note: str | None = None
    """Why what is shown is older than the store (a read failed), or None."""
    unreachable_since: str | None = None
    """Since when the shared server cannot be reached (what is shown is its last known)."""
    origin: str = "local store"
    """``local store`` (the SQLite database) or ``remote`` (the shared PocketBase server): what
    the fleet's ``origins`` call it."""

    @property
    def label(self) -> str:
        """How sentences name it: ``the local store``, ``the shared server``."""
        return "the local store" if self.origin == "local store" else "the shared server"

    # Indexes, made once per snapshot (a merge looks up every session's and agent's rows).

    @cached_property
    def _steps(self) -> dict[tuple[str, str | None], StoreMilestone]:
        out: dict[tuple[str, str | None], StoreMilestone] = {}
        for m in sorted(self.milestones, key=lambda m: m.id):
            if m.instance_id is not None:
                out[(m.instance_id, m.ticket)] = m
                out[(m.instance_id, None)] = m
        return out

    @cached_property
    def _titles(self) -> dict[str, str]:
        return {t.id: t.title or "" for t in self.tickets}

    @cached_property
    def _signs(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self.sessions:
            if s.updated_at:
                out.setdefault(s.instance_id, []).append(s.updated_at)
        for m in self.milestones:
            if m.instance_id and m.created_at:
                out.setdefault(m.instance_id, []).append(m.created_at)
        return out

    @cached_property
    def _sessions_by_instance(self) -> dict[str, StoreSession]:
        return {s.instance_id: s for s in reversed(self.sessions)}

    def latest_step(self, instance: str, ticket: str | None) -> StoreMilestone | None:
        """The latest milestone of ``instance`` (on ``ticket`` when given)."""
        return self._steps.get((instance, ticket))

    def ticket_title(self, ticket: str | None) -> str:
        return self._titles.get(ticket or "", "")

    def update_times(self, instance: str) -> list[str]:
        """When the store heard of ``instance``: its session's ``updated_at``, its milestones."""
        return self._signs.get(instance, [])

    def session_of(self, instance: str) -> StoreSession | None:
        return self._sessions_by_instance.get(instance)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "origin": self.origin,
            "schema": self.schema,
            "counts": dict(self.counts),
            "read_at": self.read_at,
            "note": self.note,
            "unreachable_since": self.unreachable_since,
            "queue": [
                {
                    "id": j.id,
                    "ticket": j.ticket_id,
                    "title": j.title,
                    "priority": j.priority,
                    "role": j.role,
                    "status": j.status,
                    "assigned_to": j.assigned_to,
                    "dispatched_at": j.dispatched_at,
                    "created_at": j.created_at,
                }
                for j in self.queue
            ],
            "tickets": [
                {"id": t.id, "title": t.title, "status": t.status, "cycle": t.cycle}
                for t in self.tickets
            ],
            "council": [
                {
                    "ticket": c.ticket_id,
                    "score": c.score,
                    "verdict": c.verdict,
                    "evaluated_at": c.evaluated_at,
                }
                for c in self.council
            ],
        }


def _session(row: Row) -> StoreSession | None:
    instance = _text(row, "instance_id")
    if instance is None:
        return None
    return StoreSession(
        instance_id=instance,
        project=_text(row, "project"),
        role=_text(row, "role"),
        ticket=_text(row, "ticket"),
        branch=_text(row, "branch"),
        step=_text(row, "step"),
        pr=_int(row, "pr"),
        host=_text(row, "host"),
        source=_text(row, "source"),
        pid=_int(row, "pid", MAX_PID),
        started_at=_text(row, "started_at"),
        updated_at=_text(row, "updated_at"),
    )


def _milestone(row: Row) -> StoreMilestone | None:
    ident = _int(row, "id")
    if ident is None:
        return None
    return StoreMilestone(
        id=ident,
        ticket=_text(row, "ticket"),
        step=_text(row, "step"),
        instance_id=_text(row, "instance_id"),
        pr=_int(row, "pr"),
        sha=_text(row, "sha"),
        detail=_text(row, "detail"),
        created_at=_text(row, "created_at"),
    )


def _claim(row: Row) -> StoreClaim | None:
    ident = _text(row, "id")
    if ident is None:
        return None
    raw_phase = row.get("phase")
    phase = (
        raw_phase
        if isinstance(raw_phase, int)
        and not isinstance(raw_phase, bool)
        and 0 <= raw_phase <= MAX_PHASE
        else None
    )
    return StoreClaim(
        id=ident,
        ticket=_text(row, "ticket"),
        phase=phase,
        mega_id=_text(row, "mega_id"),
        owner=_text(row, "owner"),
        pid=_int(row, "pid", MAX_PID),
        host=_text(row, "host"),
        branch=_text(row, "branch"),
        deps=_deps(_text(row, "deps")),
        claimed_at=_text(row, "claimed_at"),
        completed_at=_text(row, "completed_at"),
    )


def _ticket(row: Row) -> StoreTicket | None:
    ident = _text(row, "id")
    if ident is None:
        return None
    return StoreTicket(
        id=ident,
        title=_text(row, "title"),
        status=_text(row, "status"),
        component=_text(row, "component"),
        parent_id=_text(row, "parent_id"),
        cycle=_text(row, "cycle"),
        updated_at=_text(row, "updated_at"),
    )


def _council(row: Row) -> CouncilEntry | None:
    ident = _text(row, "ticket_id")
    if ident is None:
        return None
    return CouncilEntry(
        ticket_id=ident,
        score=_float(row, "score"),
        verdict=_text(row, "verdict"),
        evaluated_at=_text(row, "evaluated_at"),
    )


def _job(row: Row) -> QueueJob | None:
    ident = _int(row, "id")
    ticket = _text(row, "ticket_id")
    if ident is None or ticket is None:
        return None
    return QueueJob(
        id=ident,
        ticket_id=ticket,
        title=_text(row, "title"),
        priority=_int(row, "priority"),
        role=_text(row, "role"),
        status=_text(row, "status"),
        assigned_to=_text(row, "assigned_to"),
        dispatched_at=_text(row, "dispatched_at"),
        created_at=_text(row, "created_at"),
    )


def session_from_row(row: Row) -> StoreSession | None:
    """One ``sessions`` row as a value (None: not one, e.g. no instance id)."""
    return _session(row)


def claim_from_row(row: Row) -> StoreClaim | None:
    """One ``claims`` row as a value (None: not one)."""
    return _claim(row)


def _all(rows: Sequence[Row], make: Any) -> tuple[Any, ...]:
    return tuple(v for v in map(make, rows) if v is not None)


def snapshot_from_rows(
    path: str,
    *,
    schema: str,
    counts: Mapping[str, int],
    tables: Mapping[str, Sequence[Row]],
    read_at: str,
) -> StoreSnapshot:
    """The values of the rows read from each table (a missing table: no rows)."""
    return StoreSnapshot(
        path=path,
        schema=schema,
        counts=dict(counts),
        sessions=_all(tables.get("sessions", ()), _session),
        milestones=_all(tables.get("milestones", ()), _milestone),
        claims=_all(tables.get("claims", ()), _claim),
        tickets=_all(tables.get("tickets", ()), _ticket),
        council=_all(tables.get("council_cache", ()), _council),
        queue=_all(tables.get("queue_jobs", ()), _job),
        read_at=read_at,
    )
