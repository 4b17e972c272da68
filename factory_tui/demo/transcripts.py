"""Claude Code transcripts for the demo factory, so its cockpit shows what each agent spends.

``write_demo_transcripts(root, hostname=...)`` reads the demo's operations log and claims and
writes, for every session of an agent running on this host, the transcript Claude Code would have
written: ``<root>/.factory/claude/projects/<encoded worktree>/<session>.jsonl`` (plus one
subagent's file), one model response every minute or so of the session, as Claude Code writes
them (UTC timestamps, the worktree as ``cwd``, the branch as ``gitBranch``, some responses
streamed as two lines with the same ids). It then points ``claude_config_dir`` at that folder in
the demo's ``factory.toml`` and sets a daily and a per-agent budget, so the demo never reads
``~/.claude``.

The output is a function of the log, the claims, ``hostname`` and ``root`` (the transcripts name
their worktree by its absolute path, as Claude Code does): no clock, no global random. A remote
agent's transcripts live on its own machine, so it has none here.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factory_tui.config import encode_project_path, load_config
from factory_tui.core.claims import parse_claim
from factory_tui.core.fleet import same_host
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "DEMO_AGENT_BUDGET_USD",
    "DEMO_CLAUDE_DIR",
    "DEMO_DAILY_BUDGET_USD",
    "DemoSession",
    "demo_sessions",
    "write_demo_transcripts",
]

DEMO_CLAUDE_DIR = ".factory/claude"
DEMO_DAILY_BUDGET_USD = 30.0
DEMO_AGENT_BUDGET_USD = 10.0
MODEL = "claude-sonnet-4-5-20250929"
SUBAGENT_MODEL = "claude-haiku-4-5-20251001"
VERSION = "2.0.31"
#: One model response about every this many seconds of a session.
RESPONSE_EVERY_S = 50

_TOML_ADDITION = f"""\
# Claude Code's transcripts of the demo's agents (the cost view reads them) are inside the demo
# too, and the budgets are the demo's.
claude_config_dir = "{DEMO_CLAUDE_DIR}"
daily_budget_usd = {DEMO_DAILY_BUDGET_USD:.0f}
agent_budget_usd = {DEMO_AGENT_BUDGET_USD:.0f}
"""


@dataclass(frozen=True)
class DemoSession:
    """One agent session of the log that ran on this host."""

    instance: str
    task: str
    branch: str | None
    start: datetime
    end: datetime


def _events(path: Path) -> list[Event]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[Event] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parsed = parse_line(line, number, path.name)
        if isinstance(parsed, Event):
            out.append(parsed)
    return out


def demo_sessions(root: Path, hostname: str) -> list[DemoSession]:
    """The sessions of the demo's log whose agent runs on ``hostname`` (an agent whose claims
    all name another host runs there), oldest first."""
    config = load_config(root, flags={}, env={}, user_config=root / ".no-user-config.toml")
    fold = LogFold()
    fold.feed_all(_events(config.log_history_file))
    fold.feed_all(_events(config.log_file))
    hosts: dict[str, set[str | None]] = {}
    for path in sorted(config.claims_dir.glob("*.json")):
        claim, _problems = parse_claim(str(path), path.read_bytes())
        for unit in claim.units if claim is not None else ():
            if unit.owner:
                hosts.setdefault(unit.owner, set()).add(unit.hostname)
    out: list[DemoSession] = []
    for rec in fold.sessions:
        if rec.instance is None:
            continue
        seen = hosts.get(rec.instance)
        if seen and not any(same_host(host, hostname) for host in seen):
            continue
        start = parse_ts(rec.started_at)
        end = parse_ts(rec.ended_at or rec.last_event_at or rec.started_at)
        if start is None or end is None or end <= start:
            continue
        out.append(DemoSession(rec.instance, rec.task, rec.branch, start, end))
    out.sort(key=lambda s: (s.start, s.instance))
    return out


def _utc(at: datetime) -> str:
    """Claude Code's timestamp: UTC with milliseconds and a ``Z`` (``at`` is local time)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _hex(*parts: object, n: int = 24) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:n]


def _uuid(*parts: object) -> str:
    return str(uuid.UUID(_hex(*parts, n=32)))


class _Writer:
    """The lines of one transcript file."""

    def __init__(self, session: DemoSession, cwd: Path, session_id: str, sidechain: bool) -> None:
        self.session = session
        self.cwd = str(cwd)
        self.session_id = session_id
        self.sidechain = sidechain
        self.lines: list[str] = []
        self.parent: str | None = None

    def _base(self, kind: str, at: datetime, key: str) -> dict[str, Any]:
        line_id = _uuid(self.session_id, key, kind)
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
            "timestamp": _utc(at),
        }
        self.parent = line_id
        return base

    def user(self, at: datetime, key: str, text: str) -> None:
        line = self._base("user", at, key)
        line["message"] = {"role": "user", "content": text}
        self.lines.append(json.dumps(line, separators=(",", ":")))

    def response(
        self, at: datetime, key: str, model: str, usage: dict[str, int], *, streamed: bool
    ) -> None:
        message_id = "msg_01" + _hex(self.session_id, key, "msg")
        request_id = "req_011C" + _hex(self.session_id, key, "req")
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
        parts: list[tuple[dict[str, Any], dict[str, Any]]] = []
        if streamed:
            # Claude Code writes a response's blocks as they stream: the early line carries the
            # same ids and a partial output count. It must be counted once, from the full line.
            early = dict(tokens, output_tokens=min(usage["output"], 9))
            parts.append((early, {"type": "text", "text": "Looking at the failing test first."}))
        parts.append(
            (
                tokens,
                {
                    "type": "tool_use",
                    "id": "toolu_01" + _hex(self.session_id, key, "tool"),
                    "name": "Edit",
                    "input": {"file_path": f"{self.cwd}/src/tinygate/routes.py"},
                },
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


def _session_lines(
    session: DemoSession, cwd: Path, session_id: str, *, sidechain: bool = False
) -> list[str]:
    rng = random.Random(f"{session.instance}|{session.task}|{session.start.isoformat()}")
    writer = _Writer(session, cwd, session_id, sidechain)
    span = (session.end - session.start).total_seconds()
    count = max(2, int(span // RESPONSE_EVERY_S))
    model = SUBAGENT_MODEL if sidechain else MODEL
    # A subagent's file carries its parent's sessionId; its own responses have their own ids.
    tag = "sub-" if sidechain else ""
    writer.user(
        session.start, f"{tag}prompt", f"Work on {session.task}: read the claim, then code."
    )
    for n in range(count):
        at = session.start + timedelta(seconds=span * (n + 0.5) / count)
        at = at.replace(microsecond=rng.randrange(0, 1000) * 1000)
        usage = {
            "input": rng.randint(3, 40),
            "cache_write": 14_000 if n == 0 else rng.randint(600, 4_000),
            "cache_read": 0 if n == 0 else 14_000 + n * 110_000 // count + rng.randint(0, 6_000),
            "output": rng.randint(90, 1_600),
        }
        writer.response(at, f"{tag}r{n}", model, usage, streamed=n % 5 == 2)
        if n + 1 < count:
            writer.user(at + timedelta(seconds=3), f"{tag}t{n}", "tool result: ok")
    return writer.lines


def write_demo_transcripts(root: Path, *, hostname: str) -> Path:
    """Write the transcripts of the demo at ``root`` and point its config at them; returns the
    Claude config folder written (``<root>/.factory/claude``)."""
    root = Path(root).resolve()
    claude = root / DEMO_CLAUDE_DIR
    projects = claude / "projects"
    projects.mkdir(parents=True, exist_ok=True)
    subagent_done = False
    for session in demo_sessions(root, hostname):
        tree = root / ".worktrees" / session.instance
        cwd = tree if tree.is_dir() else root
        session_id = _uuid(session.instance, session.task, session.start.isoformat())
        folder = projects / encode_project_path(cwd)
        folder.mkdir(exist_ok=True)
        lines = _session_lines(session, cwd, session_id)
        (folder / f"{session_id}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if not subagent_done and session.end - session.start >= timedelta(minutes=20):
            # One session delegated a search to a subagent: its own file, under the session.
            subagent_done = True
            helper = DemoSession(
                session.instance,
                session.task,
                session.branch,
                session.start + timedelta(minutes=5),
                session.start + timedelta(minutes=11),
            )
            sub = folder / session_id / "subagents"
            sub.mkdir(parents=True, exist_ok=True)
            sub_lines = _session_lines(helper, cwd, session_id, sidechain=True)
            name = f"agent-{_hex(session_id, 'subagent', n=8)}.jsonl"
            (sub / name).write_text("\n".join(sub_lines) + "\n", encoding="utf-8")
    toml = root / "factory.toml"
    text = toml.read_text(encoding="utf-8") if toml.exists() else ""
    if "claude_config_dir" not in text:
        toml.write_text(text + ("\n" if text and not text.endswith("\n") else "") + _TOML_ADDITION)
    return claude
