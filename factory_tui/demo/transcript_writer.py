"""One Claude Code transcript file's lines, as Claude Code writes them, shared by the demo's
written transcripts (:mod:`factory_tui.demo.transcripts`) and the simulator's live ones
(:mod:`factory_tui.demo.live_transcript`): the session a file belongs to, its ids, the user,
assistant (tool call) and tool result lines, and the agent's todo list.

Everything is a function of its arguments: no clock, no global random.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL",
    "SUBAGENT_MODEL",
    "TODO_STEPS",
    "VERSION",
    "DemoSession",
    "TranscriptWriter",
    "claude_time",
    "demo_session_id",
    "line_uuid",
    "short_hash",
    "todos",
]

MODEL = "claude-sonnet-4-5-20250929"
SUBAGENT_MODEL = "claude-haiku-4-5-20251001"
VERSION = "2.0.31"


@dataclass(frozen=True)
class DemoSession:
    """One agent session of the log that ran on this host."""

    instance: str
    task: str
    branch: str | None
    start: datetime
    end: datetime


def claude_time(at: datetime) -> str:
    """Claude Code's timestamp: UTC with milliseconds and a ``Z`` (``at`` is local time)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def short_hash(*parts: object, n: int = 24) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``parts``: the demo's stable ids."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def line_uuid(*parts: object) -> str:
    """A UUID made from ``parts`` (the same parts, the same UUID)."""
    return str(uuid.UUID(short_hash(*parts, n=32)))


class TranscriptWriter:
    """The lines of one transcript file."""

    def __init__(self, session: DemoSession, cwd: Path, session_id: str, sidechain: bool) -> None:
        self.session = session
        self.cwd = str(cwd)
        self.session_id = session_id
        self.sidechain = sidechain
        self.lines: list[str] = []
        self.parent: str | None = None

    def _base(self, kind: str, at: datetime, key: str) -> dict[str, Any]:
        line_id = line_uuid(self.session_id, key, kind)
        base: dict[str, Any] = {
            "parentUuid": self.parent,
            "isSidechain": self.sidechain,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": VERSION,
            "gitBranch": self.session.branch or "HEAD",
            "type": kind,
            "uuid": line_id,
            "timestamp": claude_time(at),
        }
        self.parent = line_id
        return base

    def user(self, at: datetime, key: str, text: str) -> None:
        line = self._base("user", at, key)
        line["message"] = {"role": "user", "content": text}
        self.lines.append(json.dumps(line, separators=(",", ":")))

    def response(
        self,
        at: datetime,
        key: str,
        model: str,
        usage: dict[str, int],
        *,
        streamed: bool,
        tool: tuple[str, dict[str, Any]] | None = None,
        early_text: str = "Looking at the failing test first.",
        early_output: int = 9,
    ) -> str:
        """One model response (a tool call); ``streamed``: preceded by an early line with the same
        ids and a partial output count, as Claude Code writes a streamed response. Returns the
        tool call's id (its result names it)."""
        name, tool_input = tool or ("Edit", {"file_path": f"{self.cwd}/src/tinygate/routes.py"})
        message_id = "msg_01" + short_hash(self.session_id, key, "msg")
        request_id = "req_011C" + short_hash(self.session_id, key, "req")
        tokens = {
            "input_tokens": usage["input"],
            "cache_creation_input_tokens": usage["cache_write"],
            "cache_read_input_tokens": usage["cache_read"],
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage["cache_write"],
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": usage["output"],
            "service_tier": "standard",
        }
        tool_id = "toolu_01" + short_hash(self.session_id, key, "tool")
        parts: list[tuple[dict[str, Any], dict[str, Any]]] = []
        if streamed:
            # Claude Code writes a response's blocks as they stream: the early line carries the
            # same ids and a partial output count. It must be counted once, from the full line.
            early = dict(tokens, output_tokens=min(usage["output"], early_output))
            parts.append((early, {"type": "text", "text": early_text}))
        parts.append(
            (
                tokens,
                {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input},
            )
        )
        for counted, block in parts:
            line = self._base("assistant", at, f"{key}:{len(self.lines)}")
            line["message"] = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": counted,
            }
            line["requestId"] = request_id
            self.lines.append(json.dumps(line, separators=(",", ":")))
        return tool_id

    def result(self, at: datetime, key: str, tool_id: str, text: str = "ok") -> None:
        """The tool's result, as Claude Code writes it: a user line with a ``tool_result``."""
        line = self._base("user", at, key)
        line["message"] = {
            "role": "user",
            "content": [
                {"tool_use_id": tool_id, "type": "tool_result", "content": text, "is_error": False}
            ],
        }
        self.lines.append(json.dumps(line, separators=(",", ":")))


def demo_session_id(instance: str, task: str, start: datetime) -> str:
    """The Claude Code session id of the demo's session of ``instance`` on ``task`` started at
    ``start`` (its SESSION-START time): the name of its transcript file."""
    return line_uuid(instance, task, start.isoformat())


#: The agent's todo list for a ticket (its TodoWrite calls): the protocol's steps it works
#: through, as a Claude Code agent writes them.
TODO_STEPS = ("code", "quality-gate", "commit", "push", "pr-created", "ci", "merged")
_TODO_WORDS = {
    "code": ("Write the change", "Writing the change"),
    "quality-gate": ("Run lint and tests", "Running lint and tests"),
    "commit": ("Commit", "Committing"),
    "push": ("Push the branch", "Pushing the branch"),
    "pr-created": ("Open the PR", "Opening the PR"),
    "ci": ("Get CI green", "Getting CI green"),
    "merged": ("Merge the PR", "Merging the PR"),
}


def todos(done: int) -> list[dict[str, str]]:
    """The todo list with its first ``done`` items completed and the next one in progress."""
    out = []
    for n, step in enumerate(TODO_STEPS):
        content, active = _TODO_WORDS[step]
        status = "completed" if n < done else "in_progress" if n == done else "pending"
        out.append({"content": content, "status": status, "activeForm": active})
    return out
