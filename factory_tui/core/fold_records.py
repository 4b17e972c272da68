"""What the log's fold keeps (:class:`~factory_tui.core.fold.LogFold`): a session as the log
tells it, the last CLAIM or RELEASE line of a unit, and the keys and tests the fold files them by.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RECENT_PER_INSTANCE",
    "SESSION_NUMBERS",
    "SESSION_TEXT",
    "ClaimEventInfo",
    "RawLine",
    "SessionRec",
    "claim_key",
    "is_audit",
]

RawLine = tuple[str, int, str]
"""A line of the log as the fold keeps it for the recent lines: its text, number and file."""
RECENT_PER_INSTANCE = 12
"""How many of its last lines the fold keeps per instance."""

# A session's fields as :meth:`LogFold.to_state` stores them: the text ones as indexes into one
# table of strings (None included), then the numbers; ``seq`` is the session's position.
SESSION_TEXT = (
    "task",
    "instance",
    "branch",
    "started_at",
    "source",
    "recovered_from",
    "ended_at",
    "end_status",
    "recovered_by",
    "pr",
    "last_step",
    "last_step_state",
    "last_step_at",
    "last_event_at",
    "checkpoint_file",
    "last_error",
)
SESSION_NUMBERS = ("start_line", "end_line", "extra_starts")


class SessionRec:
    """A session as the log tells it, SESSION-START to SESSION-END (mutable while folding)."""

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

    def __init__(
        self,
        ts: str,
        task: str,
        branch: str | None,
        instance: str | None,
        recovered_from: str | None,
        pr: str | None,
        line: int,
        source: str,
        seq: int = 0,
    ) -> None:
        self.seq = seq
        self.task: str = task
        self.instance: str | None = instance
        self.branch: str | None = branch
        self.started_at: str = ts
        self.start_line: int = line
        self.source: str = source
        self.recovered_from: str | None = recovered_from
        self.ended_at: str | None = None
        self.end_line: int | None = None
        self.end_status: str | None = None
        self.recovered_by: str | None = None
        self.pr: str | None = pr
        self.last_step: str | None = None
        self.last_step_state: str | None = None
        self.last_step_at: str | None = None
        self.last_event_at: str = ts
        self.checkpoint_file: str | None = None
        self.last_error: str | None = None
        self.extra_starts: int = 0

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


@dataclass
class ClaimEventInfo:
    """A CLAIM or RELEASE line of one (task, phase): who, when, where."""

    event: str
    instance: str
    ts: str
    reason: str | None
    source: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def claim_key(task: str, phase: str | None) -> tuple[str, str]:
    """The key of a claim in :attr:`LogFold.claim_events`: a standalone ticket's phase is ``""``
    (agents write none; factory-tui's own RELEASE writes ``-``)."""
    phase = (phase or "").strip()
    return task, "" if phase == "-" else phase


def is_audit(fields: dict[str, str]) -> bool:
    """A line factory-tui wrote (every audit line carries ``by=``): a fact about the files, never
    an agent's activity."""
    return "by" in fields
