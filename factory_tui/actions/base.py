"""What every action shares: its result, who acted, and the audit line."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from factory_tui.adapters.lock import append_line
from factory_tui.config import Config
from factory_tui.core.oplog import format_event
from factory_tui.core.timeparse import format_ts

__all__ = ["ActionResult", "Outcome", "actor", "audit", "read_only_refusal"]


class Outcome(IntEnum):
    """Also the CLI's exit code."""

    DONE = 0
    REFUSED = 1
    ERROR = 2


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    message: str
    """One sentence a tired engineer understands: what happened, or why nothing did."""
    details: tuple[str, ...] = ()
    log_lines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


def actor() -> str:
    """``by=`` for the audit line: the human at this machine, through factory-tui."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def audit(config: Config, now: datetime, event: str, fields: list[tuple[str, str]]) -> str:
    """Append one protocol line to operations.log (single write, O_APPEND) and return it."""
    line = format_event(format_ts(now), event, fields)
    append_line(config.log_file, line)
    return line


def read_only_refusal(config: Config, what: str) -> ActionResult | None:
    if config.read_only:
        return ActionResult(Outcome.REFUSED, f"read-only mode: {what} is disabled (--read-only)")
    return None
