"""What the demo's simulated agents do, as data and pure functions: the flow of steps a ticket
goes through, the backlog they take tickets from, the tickets and the agents' state, the log
lines and file edits their steps write, and where a resumed session carries on
(:mod:`factory_tui.demo.simulate` plays them)."""

from __future__ import annotations

import re
import subprocess
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import psutil

from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
)
from factory_tui.core.fleet import PID_START_GRACE
from factory_tui.core.oplog import format_event
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import format_ts, parse_ts
from factory_tui.demo.live_transcript import LiveTranscript

__all__ = [
    "ASK",
    "ASK_WAIT_TICKS",
    "BACKLOG",
    "CRASHER_PLAN",
    "FLOW",
    "SILENT_PLAN",
    "SPENDING",
    "WORKER_FIRST_PLAN",
    "Agent",
    "Backlog",
    "Op",
    "Step",
    "Ticket",
    "agent_identity",
    "checkpoint_data",
    "commit_subject",
    "edit_text",
    "event_line",
    "is_available",
    "live_start",
    "resume_plan",
    "slug",
    "ticket_of",
    "unit_of",
]

Op = tuple[str, str]
"""One action of an agent: ``(kind, step)``; kinds: take, start, done, checkpoint, ci-failed,
release, next, crash, silent, ask."""

#: A ticket from claim to release, one action a tick (FORMATS.md's usual step order).
FLOW: tuple[Op, ...] = (
    ("take", ""),
    ("done", "branch"),
    ("start", "code"),
    ("done", "code"),
    ("start", "quality-gate"),
    ("done", "quality-gate"),
    ("done", "commit"),
    ("done", "push"),
    ("done", "pr-created"),
    ("start", "ci"),
    ("done", "ci"),
    ("checkpoint", "merged"),
    ("done", "merged"),
    ("done", "cd-verified"),
    ("done", "cleanup"),
    ("release", ""),
)
CRASHER_PLAN = (
    *FLOW[: FLOW.index(("checkpoint", "merged")) + 1],
    ("start", "merged"),
    ("crash", ""),
)
SILENT_PLAN = (*FLOW[:3], ("silent", ""))
#: Before its first merge the worker asks the engineer's permission (a Claude Code permission
#: prompt, through ``factory-tui hook``) and waits; the demo answers for the engineer after
#: ``ASK_WAIT_TICKS`` ticks (its next transcript and log lines end the wait).
ASK: Op = ("ask", "merged")
WORKER_FIRST_PLAN = (
    *FLOW[: FLOW.index(("checkpoint", "merged"))],
    ASK,
    *FLOW[FLOW.index(("checkpoint", "merged")) :],
)
ASK_WAIT_TICKS = 10
#: The actions an agent logs, so spends model responses on (its transcript grows).
SPENDING = frozenset({"take", "start", "done", "checkpoint", "ci-failed", "release"})


@dataclass(frozen=True)
class Backlog:
    id: str
    title: str
    kind: str
    slug: str
    file: str
    component: str


BACKLOG: tuple[Backlog, ...] = (
    Backlog("CAB-1380", "Retry budget per upstream", "feat", "retry-budget",
             "src/tinygate/retry.py", "gateway"),
    Backlog("CAB-1381", "Trim trailing slashes in route keys", "fix", "route-trailing-slash",
             "src/tinygate/routes.py", "routes"),
    Backlog("CAB-1383", "Health check reports upstream latency", "feat", "health-latency",
             "src/tinygate/health.py", "gateway"),
    Backlog("CAB-1384", "Document the admin API auth flow", "docs", "admin-auth-docs",
             "docs/admin-auth.md", "docs"),
    Backlog("CAB-1386", "Log the matched route on 404", "fix", "log-404-route",
             "src/tinygate/gateway.py", "gateway"),
    Backlog("CAB-1387", "Per-route timeouts", "feat", "route-timeouts",
             "src/tinygate/timeouts.py", "gateway"),
    Backlog("CAB-1389", "Flaky test_health_latency on CI", "fix", "health-latency-flake",
             "tests/test_health.py", "tests"),
    Backlog("CAB-1390", "Bump httpx to 0.28.1", "chore", "bump-httpx-0281",
             "requirements.txt", "deps"),
)  # fmt: skip


@dataclass(frozen=True)
class Ticket:
    """What an agent works on: a MEGA phase or a standalone ticket."""

    claim_id: str
    phase: int | None
    task: str
    branch: str
    tickets: tuple[str, ...]
    title: str
    file: str
    component: str

    @property
    def lock_name(self) -> str:
        if self.phase is None:
            return f"{self.claim_id}.lock"
        return f"{self.claim_id}-phase-{self.phase}.lock"

    @property
    def key(self) -> str:
        return self.claim_id if self.phase is None else f"{self.claim_id}:{self.phase}"

    @property
    def phase_field(self) -> str:
        return "-" if self.phase is None else str(self.phase)


@dataclass
class Agent:
    instance: str
    role: str
    """``working`` (left running by the generator), ``crasher``, ``silent`` or ``worker``."""
    pid: int
    started: datetime | None
    """The process's start time (``None`` when it could not be read)."""
    process: subprocess.Popen[bytes] | None
    """Our own stub, or ``None`` for a process someone else started."""
    worktree: Path | None
    plan: deque[Op]
    next_tick: int
    ticket: Ticket | None = None
    pr: int | None = None
    sha: str | None = None
    checkpoint: Path | None = None
    claims: int = 0
    ci_runs: int = 0
    stopped: bool = False
    commit_message: str = ""
    transcript: LiveTranscript | None = None
    """The transcript of the agent's current session (None: none is written)."""
    last_acted: datetime | None = None
    """When the agent last did something (its responses since then are spread over that time)."""


@dataclass
class Step:
    now: datetime
    ts: str
    said: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "work"


def commit_subject(ticket: Ticket) -> str:
    """``traceparent propagation (CAB-1352)``: a commit's subject for the ticket."""
    return f"{ticket.task.split('-', 2)[-1].replace('-', ' ')} ({ticket.key})"


def agent_identity(agent: Agent) -> tuple[str, str]:
    """The git author (name, email) of a simulated agent's commits."""
    return (f"Claude ({agent.instance})", f"{agent.instance}@agents.tinygate.example")


def event_line(at: Step, name: str, fields: dict[str, object]) -> str:
    return format_event(at.ts, name, [(k, str(v)) for k, v in fields.items()])


def unit_of(claim: ClaimFile | None, phase: int | None) -> ClaimUnit | None:
    if claim is None:
        return None
    return next((u for u in claim.units if u.phase == phase), None)


def is_available(claim: ClaimFile, unit: ClaimUnit) -> bool:
    """FORMATS.md: no owner, not completed, every dep completed."""
    if unit.owner or unit.completed_at:
        return False
    done = {u.phase for u in claim.units if u.completed_at}
    return all(dep in done for dep in unit.deps)


def live_start(pid: int, claimed_at: str | None, tz: tzinfo) -> datetime | None:
    """The process's start if ``pid`` runs and is the claimer (not a reused pid), else None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        started = datetime.fromtimestamp(proc.create_time(), tz).replace(tzinfo=None)
    except psutil.Error:
        return None
    claimed = parse_ts(claimed_at, tz) if claimed_at else None
    if claimed is not None and started > claimed + PID_START_GRACE:
        return None
    return started


def ticket_of(claim: ClaimFile, unit: ClaimUnit, task: str | None, branch: str | None) -> Ticket:
    first = unit.tickets[0] if unit.tickets else unit.claim_id
    name = unit.name or claim.title or first
    kind = "feat"
    branch = branch or unit.branch or f"{kind}/{first}-{slug(name)}"
    if task is None:
        task = branch.split("/", 1)[1] if "/" in branch else f"{first}-{slug(name)}"
    return Ticket(
        claim_id=unit.claim_id,
        phase=unit.phase,
        task=task,
        branch=branch,
        tickets=unit.tickets or (unit.claim_id,),
        title=name,
        file=f"src/tinygate/{slug(task.split('-', 2)[-1]).replace('-', '_')}.py",
        component=claim.component if claim.component is not None else "gateway",
    )


def resume_plan(last_step: str | None, state: str | None) -> list[Op]:
    """What is left of :data:`FLOW` after the step a session is at (then the next ticket)."""
    ops = list(FLOW)
    at = 0
    if last_step:
        kind = "start" if state == "start" else "done"
        if (kind, last_step) in ops:
            at = ops.index((kind, last_step)) + 1
        elif kind == "start" and ("done", last_step) in ops:
            at = ops.index(("done", last_step))
        else:
            index = step_index(last_step)
            if index is not None:
                at = next(
                    (
                        i
                        for i, (k, name) in enumerate(ops)
                        if k in ("start", "done") and (step_index(name) or 0) > index
                    ),
                    len(ops) - 1,
                )
    at = max(at, 1)  # never "take": the agent holds its claim already
    return [*ops[at:], ("next", "")]


def edit_text(target: Path, ticket: Ticket, revision: int) -> str:
    """What an agent adds to its ticket's file at a commit (the file's language, roughly)."""
    n = revision
    fresh = not target.exists() or target.stat().st_size == 0
    if target.suffix == ".py":
        head = f'"""{ticket.title} ({ticket.key})."""\n' if fresh else ""
        ident = slug(ticket.task).replace("-", "_")
        return f"{head}\n\ndef {ident}_{n}() -> str:\n    return {ticket.key!r}\n"
    if target.suffix == ".md":
        return (f"# {ticket.title}\n\n" if fresh else "") + f"- {ticket.key}: revision {n}\n"
    return f"# {ticket.key} revision {n}\n"


def checkpoint_data(agent: Agent, ticket: Ticket, step: Step) -> dict[str, Any]:
    """The checkpoint ``agent`` writes before the merge of ``ticket`` (FORMATS.md's shape): the
    steps done and left, the PR, and the MEGA phase it holds."""
    done_at = FLOW.index(("checkpoint", "merged"))
    completed = [name for kind, name in FLOW[1:done_at] if kind == "done"]
    data: dict[str, Any] = {
        "task": ticket.task,
        "timestamp": format_ts(step.now, seconds=True),
        "branch": ticket.branch,
        "git_sha": agent.sha,
        "pr_number": agent.pr,
        "steps_completed": completed,
        "steps_remaining": ["merged", "cd-verified", "cleanup"],
        "context": {
            "component": ticket.component,
            "files_modified": [ticket.file],
            "notes": "CI green, ready to merge",
        },
        "progress": {
            "files_completed": [ticket.file],
            "files_remaining": [],
            "last_commit_message": agent.commit_message,
            "decisions_made": [],
            "blockers": [],
        },
    }
    if ticket.phase is not None:
        data["claimed_phase"] = {
            "mega_id": ticket.claim_id,
            "phase_id": ticket.phase,
            "claim_file": f".claude/claims/{ticket.claim_id}.json",
        }
    return data
