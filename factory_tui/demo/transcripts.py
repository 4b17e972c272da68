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

:class:`LiveTranscript` is the live side: the simulator's agents append to their session's file
as they work (each logged action, its model responses), so the demo's spend moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factory_tui.adapters.lock import append_line
from factory_tui.config import Config, encode_project_path, load_config
from factory_tui.core.claims import parse_claim
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "DEMO_AGENT_BUDGET_USD",
    "DEMO_CLAUDE_DIR",
    "DEMO_DAILY_BUDGET_USD",
    "DemoSession",
    "LiveTranscript",
    "StepWork",
    "demo_session_id",
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


def _config(root: Path) -> Config:
    return load_config(root, flags={}, env={}, user_config=root / ".no-user-config.toml")


def _claim_hosts(root: Path) -> dict[str, set[str | None]]:
    """The hosts each agent's claims name, by agent (an agent with no claim is not there)."""
    hosts: dict[str, set[str | None]] = {}
    for path in sorted(_config(root).claims_dir.glob("*.json")):
        claim, _problems = parse_claim(str(path), path.read_bytes())
        for unit in claim.units if claim is not None else ():
            if unit.owner:
                hosts.setdefault(unit.owner, set()).add(unit.hostname)
    return hosts


def demo_sessions(root: Path, hostname: str) -> list[DemoSession]:
    """The sessions of the demo's log whose agent runs on ``hostname`` (an agent whose claims
    all name another host runs there), oldest first."""
    config = _config(root)
    fold = LogFold()
    fold.feed_all(_events(config.log_history_file))
    fold.feed_all(_events(config.log_file))
    hosts = _claim_hosts(root)
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
        tool_id = "toolu_01" + _hex(self.session_id, key, "tool")
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
    return _uuid(instance, task, start.isoformat())


#: How much a closed session's context grows over it (tokens); it ends near 62 % of 200k.
_GROWTH = 110_000
#: The most recently active agent's current session: it ends near 70 %, past the ⚠ mark (60 %).
_GROWTH_FULL = 126_000
#: The other agents' current sessions: they end between about 28 % and 45 %, below the mark.
_GROWTH_LOW = (36_000, 70_000)


def _growths(sessions: list[DemoSession], claimers: set[str]) -> dict[DemoSession, int]:
    """How much the context grows over the current (last) session of each agent in
    ``claimers`` (those holding a claim: their panes show the fill): the most recently active
    one's nears 70 % (so the demo shows what the ⚠ mark means), the others' stay well below
    the mark. Every other session keeps ``_GROWTH`` (and so its spend)."""
    current: dict[str, DemoSession] = {}
    for session in sessions:  # oldest first: the last one of each agent stays
        if session.instance in claimers:
            current[session.instance] = session
    ranked = sorted(current.values(), key=lambda s: (s.end, s.start, s.instance), reverse=True)
    out: dict[DemoSession, int] = {}
    for n, session in enumerate(ranked):
        rng = random.Random(f"growth|{session.instance}|{session.start.isoformat()}")
        out[session] = _GROWTH_FULL if n == 0 else rng.randint(*_GROWTH_LOW)
    return out


def _session_lines(
    session: DemoSession,
    cwd: Path,
    session_id: str,
    *,
    sidechain: bool = False,
    growth: int = _GROWTH,
) -> list[str]:
    """The transcript of ``session``: its context grows by about ``growth`` tokens over it."""
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
            "cache_read": 0 if n == 0 else 14_000 + n * growth // count + rng.randint(0, 6_000),
            "output": rng.randint(90, 1_600),
        }
        tool = ("TodoWrite", {"todos": _todos(0)}) if n == 0 and not sidechain else None
        tool_id = writer.response(at, f"{tag}r{n}", model, usage, streamed=n % 5 == 2, tool=tool)
        if n + 1 < count:
            writer.result(at + timedelta(seconds=3), f"{tag}t{n}", tool_id)
    return writer.lines


def write_demo_transcripts(root: Path, *, hostname: str) -> Path:
    """Write the transcripts of the demo at ``root`` and point its config at them; returns the
    Claude config folder written (``<root>/.factory/claude``)."""
    root = Path(root).resolve()
    claude = root / DEMO_CLAUDE_DIR
    projects = claude / "projects"
    projects.mkdir(parents=True, exist_ok=True)
    subagent_done = False
    sessions = demo_sessions(root, hostname)
    growths = _growths(sessions, set(_claim_hosts(root)))
    for session in sessions:
        tree = root / ".worktrees" / session.instance
        cwd = tree if tree.is_dir() else root
        session_id = demo_session_id(session.instance, session.task, session.start)
        folder = projects / encode_project_path(cwd)
        folder.mkdir(exist_ok=True)
        lines = _session_lines(session, cwd, session_id, growth=growths.get(session, _GROWTH))
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


# -- live: the simulator's agents spend as they work ---------------------------------------------


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
            ("TodoWrite", {"todos": _todos(0)}),
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
            ("TodoWrite", {"todos": _todos(1)}),
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
        calls = [*calls, ("TodoWrite", {"todos": _todos(TODO_STEPS.index(work.step) + 1)})]
    return calls


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


def _todos(done: int) -> list[dict[str, str]]:
    """The todo list with its first ``done`` items completed and the next one in progress."""
    out = []
    for n, step in enumerate(TODO_STEPS):
        content, active = _TODO_WORDS[step]
        status = "completed" if n < done else "in_progress" if n == done else "pending"
        out.append({"content": content, "status": status, "activeForm": active})
    return out


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
        self._writer = _Writer(session, cwd, self.session_id, sidechain=False)
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
