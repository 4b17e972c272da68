"""The live side of the demo's transcripts: while the simulator's agents work, each appends the
model responses behind every action it logs to its session's Claude Code transcript
(:class:`LiveTranscript`), so the demo's spend moves. A session's file is the one
:func:`~factory_tui.demo.transcripts.write_demo_transcripts` wrote when there is one (its
conversation is continued), else a new one.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from factory_tui.adapters.lock import append_line
from factory_tui.config import encode_project_path
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo.transcript_writer import (
    MODEL,
    TODO_STEPS,
    DemoSession,
    TranscriptWriter,
    demo_session_id,
    todos,
)

__all__ = ["LiveTranscript", "StepWork"]


@dataclass(frozen=True)
class StepWork:
    """What a simulated agent just did (one action that it logged), for its transcript."""

    kind: str
    """The simulator's action: ``take``, ``start``, ``done``, ``checkpoint``, ``ci-failed``,
    ``release``."""
    step: str
    """The protocol's step (``code``, ``ci``, ...); empty for ``take`` and ``release``."""
    file: str
    """The ticket's file, relative to the worktree."""
    pr: int | None = None
    target: str | None = None
    """A file the action wrote (the checkpoint), absolute."""


#: Claude Code compacts a conversation near the context window's end; its context restarts small.
_COMPACT_AT = 150_000
_COMPACTED = 24_000
_SYSTEM_PROMPT_TOKENS = 14_000
_TAIL_BYTES = 256 << 10


def _bash(command: str, description: str) -> tuple[str, dict[str, Any]]:
    return "Bash", {"command": command, "description": description}


def _calls(
    work: StepWork, cwd: str, branch: str, rng: random.Random
) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls (one model response each) behind one logged action."""
    path = f"{cwd}/{work.file}"
    pr = work.pr if work.pr is not None else ""
    if work.kind == "take":
        return [
            ("Read", {"file_path": f"{cwd}/plan.md"}),
            ("Read", {"file_path": f"{cwd}/memory.md"}),
            ("TodoWrite", {"todos": todos(0)}),
        ]
    if work.kind == "release":
        return [
            ("Edit", {"file_path": f"{cwd}/plan.md"}),
            ("Edit", {"file_path": f"{cwd}/memory.md"}),
        ]
    if work.kind == "checkpoint":
        return [("Write", {"file_path": work.target or f"{cwd}/checkpoint.json"})]
    if work.kind == "ci-failed":
        return [
            _bash(f"gh run view --log-failed --branch {branch}", "Read the failing CI log"),
            ("Read", {"file_path": f"{cwd}/tests/test_routes.py"}),
        ]
    if work.kind == "start":
        starts = {
            "code": ("Read", {"file_path": path}),
            "quality-gate": _bash("ruff check . && ruff format --check .", "Lint"),
            "ci": _bash(f"gh pr checks {pr} --watch", "Wait for CI"),
            "merged": _bash(f"gh pr merge {pr} --squash --delete-branch", "Squash-merge the PR"),
        }
        return [starts.get(work.step, _bash("git status --short", "Where things are"))]
    if work.step == "code":
        edits = [("Edit", {"file_path": path}) for _ in range(rng.randint(2, 3))]
        return [
            ("Grep", {"pattern": "def ", "path": path}),
            *edits,
            ("TodoWrite", {"todos": todos(1)}),
        ]
    done: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "branch": [_bash(f"git switch -c {branch}", "Create the ticket's branch")],
        "quality-gate": [_bash("pytest -q", "Run the tests")],
        "commit": [_bash("git add -A && git commit -q", "Commit the change")],
        "push": [_bash(f"git push -u origin {branch}", "Push the branch")],
        "pr-created": [_bash(f"gh pr create --fill --head {branch}", "Open the PR")],
        "ci": [_bash(f"gh pr checks {pr}", "CI result")],
        "merged": [_bash(f"gh pr view {pr} --json state,mergeCommit", "Check the merge")],
        "cd-verified": [_bash("gh run list --branch main --limit 1", "Check the deploy")],
        "cleanup": [_bash("git switch main && git pull --ff-only", "Back to main")],
    }
    calls = done.get(work.step, [_bash("git status --short", "Where things are")])
    if work.step in TODO_STEPS:
        calls = [*calls, ("TodoWrite", {"todos": todos(TODO_STEPS.index(work.step) + 1)})]
    return calls


def _output_tokens(tool: str, rng: random.Random) -> int:
    if tool in ("Edit", "Write"):
        return rng.randint(250, 1_400)
    return rng.randint(40, 320)


def _result_tokens(tool: str, rng: random.Random) -> int:
    """What a tool's result adds to the conversation (written to the cache next response)."""
    if tool in ("Read", "Grep"):
        return rng.randint(900, 4_500)
    return rng.randint(120, 1_600)


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


class LiveTranscript:
    """The transcript of one simulated agent session, growing while the agent works.

    Each :meth:`work` appends the model responses behind one logged action: an assistant line per
    response (some streamed: an early line with the same ``message.id`` and ``requestId`` and a
    partial output count, then the full one) and a tool result after each, every line one
    ``O_APPEND`` write of the whole line and its newline, the file never rewritten. The file is
    the one :func:`write_demo_transcripts` writes for the same session (``<claude>/projects/
    <encoded cwd>/<session id>.jsonl``); when it exists its conversation is continued (the
    ``parentUuid`` chain, the context size, times after its last line).

    The lines are a function of the session, ``seed`` and the times given: no clock, no global
    random.
    """

    def __init__(
        self,
        claude_dir: Path,
        *,
        instance: str,
        task: str,
        branch: str | None,
        start: datetime,
        cwd: Path,
        seed: int,
    ) -> None:
        self.session_id = demo_session_id(instance, task, start)
        self.path = claude_dir / "projects" / encode_project_path(cwd) / f"{self.session_id}.jsonl"
        self.task = task
        session = DemoSession(instance, task, branch, start, start)
        self._writer = TranscriptWriter(session, cwd, self.session_id, sidechain=False)
        self._rng = random.Random(f"{seed}|{instance}|{task}|{start.isoformat()}")
        self._opened = False
        self._context = 0
        self._pending = 0
        self._last: datetime | None = None

    def _open(self) -> None:
        """Continue the file's conversation if it has one, else start it with the prompt."""
        self._opened = True
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - _TAIL_BYTES))
                tail = handle.read()
        except FileNotFoundError:
            tail = b""
        lines = tail.split(b"\n")[:-1] if tail.endswith(b"\n") else tail.split(b"\n")[1:-1]
        for raw in reversed(lines):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            if self._writer.parent is None and isinstance(line.get("uuid"), str):
                self._writer.parent = line["uuid"]
                self._last = parse_ts(str(line.get("timestamp", "")))
            message = line.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if line.get("type") == "assistant" and isinstance(usage, dict):
                self._context = sum(
                    _count(usage, key)
                    for key in (
                        "input_tokens",
                        "cache_read_input_tokens",
                        "cache_creation_input_tokens",
                    )
                )
                self._pending = _count(usage, "output_tokens") + 400
                break

    def ask(self, at: datetime, tool: str, tool_input: dict[str, Any]) -> list[str]:
        """A tool call that needs the engineer's permission: the response, and no result (Claude
        Code shows its permission prompt and waits). Returns the lines written."""
        if not self._opened:
            self._open()
        rng = self._rng
        usage = {
            "input": rng.randint(1, 12),
            "cache_write": max(self._pending, 200),
            "cache_read": self._context,
            "output": _output_tokens(tool, rng),
        }
        self._context += usage["cache_write"] + usage["input"]
        self._pending = usage["output"] + _result_tokens(tool, rng)
        key = f"live|{at.isoformat()}|ask"
        self._writer.response(at, key, MODEL, usage, streamed=False, tool=(tool, tool_input))
        self._last = at
        written = list(self._writer.lines)
        self._writer.lines.clear()
        for line in written:
            append_line(self.path, line)
        return written

    def work(self, since: datetime | None, until: datetime, what: StepWork) -> list[str]:
        """Append the responses behind ``what``, done between ``since`` (None: just started) and
        ``until`` (naive local times); returns the lines written."""
        if not self._opened:
            self._open()
        writer = self._writer
        rng = self._rng
        low = since if since is not None else until - timedelta(seconds=20)
        if self._last is not None and self._last > low:
            low = self._last
        if low >= until:
            low = until - timedelta(milliseconds=200)
        if self._writer.parent is None:
            writer.user(
                low,
                f"live|{low.isoformat()}|prompt",
                f"Work on {self.task}: read the claim, then code.",
            )
        calls = _calls(what, writer.cwd, writer.session.branch or "HEAD", rng)
        slots = 2 * len(calls) + 1
        span = until - low
        for n, (tool, tool_input) in enumerate(calls):
            at = low + span * (2 * n + 1) / slots
            key = f"live|{at.isoformat()}|{n}"
            if self._context == 0:
                usage = {"input": rng.randint(3, 12), "cache_write": _SYSTEM_PROMPT_TOKENS,
                         "cache_read": 0}  # fmt: skip
            else:
                if self._context > _COMPACT_AT:
                    self._context = _COMPACTED
                fresh = max(self._pending, 200)
                usage = {"input": rng.randint(1, 12), "cache_write": fresh,
                         "cache_read": self._context}  # fmt: skip
            usage["output"] = _output_tokens(tool, rng)
            self._context += usage["cache_write"] + usage["input"]
            self._pending = usage["output"] + _result_tokens(tool, rng)
            streamed = rng.random() < 0.3
            tool_id = writer.response(
                at,
                key,
                MODEL,
                usage,
                streamed=streamed,
                tool=(tool, tool_input),
                early_text=f"Next: {what.step or what.kind}.",
                early_output=rng.randint(1, 12),
            )
            writer.result(low + span * (2 * n + 2) / slots, f"{key}|result", tool_id)
            self._last = low + span * (2 * n + 2) / slots
        written = list(writer.lines)
        writer.lines.clear()
        for line in written:
            append_line(self.path, line)
        return written
