"""Fold the operations.log, one event at a time, into what the fleet needs to know.

The fold keeps sessions and per-instance activity, never the whole log: feeding an appended line
costs one line of work whatever the log's size, and a million-line history is read in one pass in
bounded memory. Events are fed in log order (``operations.log.1`` first).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from factory_tui.core.oplog import REQUIRED_FIELDS, Event, missing_fields
from factory_tui.core.problems import Problem

__all__ = ["LogFold", "SessionRec"]

MAX_PROBLEMS = 500
RECENT_PER_INSTANCE = 12
RECENT_GLOBAL = 400


class SessionRec:
    """A session as the log tells it: SESSION-START up to its SESSION-END (mutable while folding)."""

    __slots__ = (
        "branch",
        "checkpoint_file",
        "end_line",
        "end_status",
        "ended_at",
        "extra_starts",
        "instance",
        "last_error",
        "last_event_at",
        "last_step",
        "last_step_at",
        "last_step_state",
        "pr",
        "recovered_by",
        "recovered_from",
        "seq",
        "source",
        "start_line",
        "started_at",
        "task",
    )

    def __init__(self, event: Event, seq: int) -> None:
        f = event.fields
        self.seq = seq
        self.task: str = f.get("task", "")
        self.instance: str | None = f.get("instance") or None
        self.branch: str | None = f.get("branch") or None
        self.started_at: str = event.ts
        self.start_line: int = event.line
        self.source: str = event.source
        self.recovered_from: str | None = f.get("recovered_from") or None
        self.ended_at: str | None = None
        self.end_line: int | None = None
        self.end_status: str | None = None
        self.recovered_by: str | None = None
        self.pr: str | None = f.get("pr") or None
        self.last_step: str | None = None
        self.last_step_state: str | None = None
        self.last_step_at: str | None = None
        self.last_event_at: str = event.ts
        self.checkpoint_file: str | None = None
        self.last_error: str | None = None
        self.extra_starts: int = 0

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


@dataclass
class ClaimEventInfo:
    """The last CLAIM or RELEASE the log holds for one (task, phase)."""

    event: str
    instance: str
    ts: str
    reason: str | None


class LogFold:
    """Everything the fleet derivation needs from operations.log, kept up to date incrementally."""

    def __init__(self) -> None:
        self.sessions: list[SessionRec] = []
        self.ended: list[SessionRec] = []
        self.open_by_task: dict[str, list[SessionRec]] = {}
        self.latest_by_task: dict[str, SessionRec] = {}
        self.instance_last_start: dict[str, str] = {}
        self.instance_last_event: dict[str, str] = {}
        self.instance_recent: dict[str, deque[Event]] = {}
        self.instance_sessions: dict[str, list[SessionRec]] = {}
        self.claim_events: dict[tuple[str, str], ClaimEventInfo] = {}
        self.recent: deque[Event] = deque(maxlen=RECENT_GLOBAL)
        self.counts: Counter[str] = Counter()
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.events = 0
        self.last_ts: str | None = None

    # -- feeding -------------------------------------------------------------------------------

    def feed_all(self, items: Iterable[Event | Problem]) -> None:
        for item in items:
            if isinstance(item, Problem):
                self.add_problem(item)
            else:
                self.feed(item)

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def feed(self, event: Event) -> None:
        self.events += 1
        name = event.name
        self.counts[name] += 1
        self.recent.append(event)
        self.last_ts = event.ts
        fields = event.fields
        if name in REQUIRED_FIELDS and (missing := missing_fields(event)):
            self.add_problem(
                Problem(event.source, f"{name} without {', '.join(missing)}", event.line)
            )
        task = fields.get("task")
        instance = fields.get("instance") or None
        session: SessionRec | None = None
        if name == "SESSION-START":
            if task:
                session = self._start(event, task)
                instance = session.instance
        elif name == "SESSION-END":
            if task:
                session = self._end(event, task)
                if session is not None and instance is None:
                    instance = session.instance
        elif task:
            opened = self.open_by_task.get(task)
            if opened:
                session = opened[-1]
            if session is not None:
                session.last_event_at = event.ts
                if name in ("STEP-START", "STEP-DONE"):
                    session.last_step = fields.get("step")
                    session.last_step_state = "start" if name == "STEP-START" else "done"
                    session.last_step_at = event.ts
                    if fields.get("pr"):
                        session.pr = fields["pr"]
                    if fields.get("branch") and not session.branch:
                        session.branch = fields["branch"]
                elif name == "CHECKPOINT":
                    session.checkpoint_file = fields.get("file")
                elif name == "ERROR":
                    session.last_error = fields.get("error")
                if instance is None:
                    instance = session.instance
        if name in ("CLAIM", "RELEASE") and task and instance:
            phase = fields.get("phase", "")
            self.claim_events[(task, phase)] = ClaimEventInfo(
                name, instance, event.ts, fields.get("reason")
            )
        if instance:
            self.instance_last_event[instance] = event.ts
            recent = self.instance_recent.get(instance)
            if recent is None:
                recent = self.instance_recent[instance] = deque(maxlen=RECENT_PER_INSTANCE)
            recent.append(event)

    def _start(self, event: Event, task: str) -> SessionRec:
        session = SessionRec(event, len(self.sessions))
        self.sessions.append(session)
        opened = self.open_by_task.setdefault(task, [])
        if opened:
            session.extra_starts = len(opened)
        opened.append(session)
        self.latest_by_task[task] = session
        if session.instance:
            self.instance_last_start[session.instance] = event.ts
            self.instance_sessions.setdefault(session.instance, []).append(session)
        return session

    def _end(self, event: Event, task: str) -> SessionRec | None:
        opened = self.open_by_task.get(task)
        if not opened:
            self.add_problem(
                Problem(event.source, f"SESSION-END for task {task!r} with no open session", event.line)
            )
            return None
        fields = event.fields
        status = fields.get("status")
        # Closing a crashed session names the oldest one left open; a normal end closes the newest.
        closing_crashed = status == "crashed" or "recovered_by" in fields
        session = opened.pop(0) if closing_crashed else opened.pop()
        if not opened:
            del self.open_by_task[task]
        self.ended.append(session)
        session.ended_at = event.ts
        session.end_line = event.line
        session.end_status = status
        session.recovered_by = fields.get("recovered_by") or None
        session.last_event_at = event.ts
        if fields.get("pr"):
            session.pr = fields["pr"]
        return session

