"""What every action shares: its result, who acted, and the audit line."""

from __future__ import annotations

import getpass
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import TextIO

from factory_tui.adapters.lock import append_line
from factory_tui.config import Config
from factory_tui.core.oplog import format_event
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import format_ts

__all__ = ["ActionResult", "Outcome", "actor", "audit", "print_result"]


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


def print_result(
    result: ActionResult,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    logged: bool = False,
) -> int:
    """The CLI's report of an action: its message and details (and with ``logged`` the lines it
    logged), on stdout when done, stderr otherwise, made printable (they quote ids, titles,
    branches and tools' words). Returns the exit code."""
    stream = (out or sys.stdout) if result.ok else (err or sys.stderr)
    print(f"factory-tui: {printable(result.message, multiline=False)}", file=stream)
    for detail in result.details:
        print(f"  {printable(detail, multiline=False)}", file=stream)
    if logged:
        for line in result.log_lines:
            print(f"  logged: {printable(line, multiline=False)}", file=stream)
    return int(result.outcome)


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
