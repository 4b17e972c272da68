"""What an agent is doing right now, folded from its Claude Code transcript, and whether it waits.

A transcript is one JSON object a line (``<claude>/projects/<folder>/<session>.jsonl``):

- ``type: "assistant"``: ``message.id``, ``message.model``, ``message.content`` (blocks of type
  ``text``, ``thinking``, ``tool_use`` with ``id``, ``name``, ``input``), ``message.stop_reason``
  and ``message.usage`` (``input_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``, ``output_tokens``). A streamed response is written as several
  lines sharing ``message.id`` (often one content block each): a block already seen is not
  counted twice, and the response's usage is the latest line's.
- ``type: "user"``: either the engineer's prompt (``message.content`` a string or ``text``
  blocks) or the tools' results (``tool_result`` blocks naming a ``tool_use_id``).
- compactions: a ``type: "system"`` line with ``subtype: "compact_boundary"``, followed by a
  ``user`` line with ``isCompactSummary: true`` (older versions write only the summary).
- ``isSidechain: true`` lines belong to a subagent: they say nothing of the main conversation's
  tool, text, todos or context, only that something is going on (their time counts).

:class:`ActivityFold` is fed lines as they are appended (no re-parse of the file) and answers an
:class:`AgentActivity`. :func:`waiting_verdict` decides "waiting for you" from the hook lines
factory-tui's ``hook`` command writes (:class:`AgentSignal`) and the transcript.

Pure: no I/O, no clock. Agent-written text is kept raw here; every face renders it with
:func:`~factory_tui.core.safe.printable` or dumps it with ``json_safe``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from factory_tui.core.fleet import fmt_age
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "CONTEXT_FLAG",
    "DEFAULT_CONTEXT_WINDOW",
    "HOOK_EVENTS",
    "ActivityFold",
    "AgentActivity",
    "AgentSignal",
    "TodoItem",
    "ToolCall",
    "Waiting",
    "context_window",
    "summarize_tool",
    "waiting_verdict",
]

DEFAULT_CONTEXT_WINDOW = 200_000
ONE_MILLION = 1_000_000
#: Models whose window is 1M tokens without a ``[1m]`` marker in their id (Anthropic's model
#: pages: Claude Sonnet 5 ships a native 1M-token window). Any id carrying ``[1m]`` (Claude
#: Code's name for the 1M variant, e.g. ``claude-sonnet-4-5-20250929[1m]``) is 1M too.
NATIVE_1M_PREFIXES: tuple[str, ...] = ("claude-sonnet-5",)
#: Context fill from which a session is flagged: past ~60 % a session degrades.
CONTEXT_FLAG = 0.60
#: The hook lines (operations.log) that speak of an agent's turn.
HOOK_EVENTS = ("AGENT-WAITING", "AGENT-TURN-END", "AGENT-RESUMED")

_SUMMARY_MAX = 120
_TEXT_MAX = 20_000
_TODO_MAX = 200
_FILE_TOOLS = frozenset({"Read", "Edit", "Write", "MultiEdit", "NotebookEdit", "NotebookRead"})
_TOOL_KEYS = {
    "Bash": "command",
    "Grep": "pattern",
    "Glob": "pattern",
    "WebFetch": "url",
    "WebSearch": "query",
    "Task": "description",
    "Agent": "description",
    "Skill": "skill",
}


def context_window(model: str | None, observed: int | None = None) -> int:
    """The context window of ``model`` in tokens: 1M for a ``[1m]`` id or a native-1M model,
    else 200k; a response that already used more than 200k proves a 1M window."""
    name = (model or "").lower()
    if "[1m]" in name or name.endswith("-1m") or name.startswith(NATIVE_1M_PREFIXES):
        return ONE_MILLION
    if observed is not None and observed > DEFAULT_CONTEXT_WINDOW:
        return ONE_MILLION
    return DEFAULT_CONTEXT_WINDOW


def _one_line(text: str, limit: int = _SUMMARY_MAX) -> str:
    """The first non-empty line of ``text``, cut at ``limit`` characters with an ellipsis."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _relative(path: str, cwd: str | None) -> str:
    if cwd:
        base = cwd.rstrip("/") + "/"
        if path.startswith(base) and len(path) > len(base):
            return path[len(base) :]
    return path


def summarize_tool(name: str, tool_input: object, cwd: str | None = None) -> str:
    """A tool call in a few words: ``Bash: pytest -x tests/api``, ``Edit: src/quota.py``.

    Raw text (the caller renders it with ``printable``); one line, at most 120 characters."""
    args = tool_input if isinstance(tool_input, Mapping) else {}
    detail = ""
    if name in _FILE_TOOLS:
        raw = args.get("file_path") or args.get("notebook_path")
        detail = _relative(raw, cwd) if isinstance(raw, str) else ""
    elif name == "TodoWrite":
        todos = args.get("todos")
        detail = f"{len(todos)} items" if isinstance(todos, list) else ""
    elif name in _TOOL_KEYS:
        raw = args.get(_TOOL_KEYS[name])
        detail = raw if isinstance(raw, str) else ""
        if name == "Grep" and isinstance(args.get("path"), str) and detail:
            detail += f" in {_relative(args['path'], cwd)}"
    else:
        detail = next((v for v in args.values() if isinstance(v, str) and v.strip()), "")
    detail = _one_line(detail, _SUMMARY_MAX - len(name) - 2)
    return f"{name}: {detail}" if detail else name


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The last tool call the agent made, rendered short, and whether its result came back."""

    name: str
    summary: str
    at: datetime | None
    tool_id: str
    done: bool = False
    failed: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "summary": self.summary,
            "at": self.at.isoformat(timespec="seconds") if self.at else None,
            "done": self.done,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class TodoItem:
    content: str
    status: str
    """``pending``, ``in_progress`` or ``completed`` as Claude Code writes it (kept raw)."""

    @property
    def mark(self) -> str:
        return {"completed": "✓", "in_progress": "▶"}.get(self.status, "·")

    def to_json(self) -> dict[str, object]:
        return {"content": self.content, "status": self.status}


@dataclass(frozen=True, slots=True)
class AgentActivity:
    """What one transcript says the agent is doing (a snapshot of an :class:`ActivityFold`)."""

    transcript: str
    session_id: str | None = None
    model: str | None = None
    tool: ToolCall | None = None
    text: str | None = None
    text_at: datetime | None = None
    todos: tuple[TodoItem, ...] = ()
    todos_at: datetime | None = None
    context_tokens: int | None = None
    context_window: int = DEFAULT_CONTEXT_WINDOW
    compactions: int = 0
    turn_ended_at: datetime | None = None
    """When the last turn ended (``stop_reason: end_turn``) with no user message since."""
    last_record_at: datetime | None = None
    records: int = 0
    problems: int = 0

    @property
    def fill(self) -> float | None:
        """Context fill, 0..1 (may pass 1 when the window is wrong), None before a response."""
        if self.context_tokens is None or self.context_window <= 0:
            return None
        return self.context_tokens / self.context_window

    @property
    def fill_flagged(self) -> bool:
        fill = self.fill
        return fill is not None and fill >= CONTEXT_FLAG

    def todo_counts(self) -> tuple[int, int, int]:
        """(done, in progress, pending) of the latest todo list."""
        done = sum(1 for t in self.todos if t.status == "completed")
        doing = sum(1 for t in self.todos if t.status == "in_progress")
        return done, doing, len(self.todos) - done - doing

    def fill_text(self) -> str:
        """``ctx 43% of 200k`` (``⚠`` from 60 %), ``+2 compactions``; empty when unknown."""
        fill = self.fill
        if fill is None:
            return f"{self.compactions} compactions" if self.compactions else ""
        window = "1M" if self.context_window == ONE_MILLION else f"{self.context_window // 1000}k"
        out = f"ctx {fill:.0%} of {window}" + (" ⚠" if self.fill_flagged else "")
        if self.compactions:
            out += f", {self.compactions} compaction" + ("s" if self.compactions > 1 else "")
        return out

    def activity_line(self, now: datetime) -> str:
        """One printable line: the current tool call and its age, else the last text."""
        if self.tool is not None:
            age = f" ({fmt_age(now - self.tool.at)} ago)" if self.tool.at else ""
            state = "" if self.tool.done else " …"
            return printable(self.tool.summary, multiline=False) + state + age
        if self.text:
            return printable(_one_line(self.text), multiline=False)
        return ""

    def to_json(self) -> dict[str, object]:
        done, doing, pending = self.todo_counts()
        return {
            "transcript": self.transcript,
            "session_id": self.session_id,
            "model": self.model,
            "tool": self.tool.to_json() if self.tool else None,
            "text": self.text,
            "text_at": self.text_at.isoformat(timespec="seconds") if self.text_at else None,
            "todos": [t.to_json() for t in self.todos],
            "todo_counts": {"done": done, "in_progress": doing, "pending": pending},
            "context_tokens": self.context_tokens,
            "context_window": self.context_window,
            "context_fill": round(self.fill, 4) if self.fill is not None else None,
            "context_flagged": self.fill_flagged,
            "compactions": self.compactions,
            "turn_ended_at": (
                self.turn_ended_at.isoformat(timespec="seconds") if self.turn_ended_at else None
            ),
            "last_record_at": (
                self.last_record_at.isoformat(timespec="seconds") if self.last_record_at else None
            ),
        }


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _is_prompt(content: object) -> bool:
    """A user line that is the engineer speaking (not only tool results)."""
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(isinstance(b, Mapping) and b.get("type") == "text" for b in content) and not any(
            isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
        )
    return False


class ActivityFold:
    """Fold a transcript's lines, in order, into an :class:`AgentActivity`.

    Each line costs O(its blocks); nothing of the file is kept but the answer's parts and the
    ids of the current response's blocks (for streamed duplicates) and of pending tool calls.
    """

    def __init__(self, transcript: str = "", *, tz: tzinfo | None = None) -> None:
        self.transcript = transcript
        self.tz = tz
        self.session_id: str | None = None
        self.model: str | None = None
        self.tool: ToolCall | None = None
        self.text: str | None = None
        self.text_at: datetime | None = None
        self.todos: tuple[TodoItem, ...] = ()
        self.todos_at: datetime | None = None
        self.context_tokens: int | None = None
        self.compactions = 0
        self.turn_ended_at: datetime | None = None
        self.last_record_at: datetime | None = None
        self.records = 0
        self.problems = 0
        self._message_id: str | None = None
        self._blocks_seen: set[str] = set()
        self._after_boundary = False
        self._snapshot: AgentActivity | None = None

    # -- feeding -------------------------------------------------------------------------------

    def feed_line(self, line: bytes | str) -> None:
        """One transcript line (without its newline). A line that is not a JSON object is
        counted in ``problems`` and otherwise ignored (a half-written last line never reaches
        here: the tail holds it until its newline)."""
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            self.problems += 1
            self._snapshot = None
            return
        if isinstance(record, dict):
            self.feed(record)
        else:
            self.problems += 1
            self._snapshot = None

    def skip_line(self) -> None:
        """A line the reader would not parse (too long): counted in ``problems``."""
        self.problems += 1
        self._snapshot = None

    def feed(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        self._snapshot = None
        at = self._time(record.get("timestamp"))
        kind = record.get("type")
        if at is not None and kind in ("user", "assistant"):
            self.last_record_at = at  # the conversation's, not the bookkeeping lines' time
        session = record.get("sessionId")
        if isinstance(session, str) and session:
            self.session_id = session
        if record.get("isSidechain") is True:
            return
        if kind == "system" and record.get("subtype") == "compact_boundary":
            self._compacted()
            self._after_boundary = True
            return
        if kind == "assistant":
            self._after_boundary = False
            message = record.get("message")
            if isinstance(message, Mapping):
                self._assistant(message, record, at)
        elif kind == "user":
            if record.get("isCompactSummary") is True:
                if not self._after_boundary:
                    self._compacted()
                self._after_boundary = False
                return
            self._after_boundary = False
            message = record.get("message")
            if isinstance(message, Mapping):
                self._user(message.get("content"), record)

    def _time(self, raw: object) -> datetime | None:
        return parse_ts(raw, self.tz) if isinstance(raw, str) else None

    def _compacted(self) -> None:
        self.compactions += 1
        self.context_tokens = None

    def _assistant(
        self, message: Mapping[str, Any], record: Mapping[str, Any], at: datetime | None
    ) -> None:
        model = message.get("model")
        if model == "<synthetic>":
            return  # Claude Code's own placeholder (an API error, an interrupt): no model call
        if isinstance(model, str) and model:
            self.model = model
        message_id = message.get("id")
        same = isinstance(message_id, str) and message_id == self._message_id
        if not same:
            self._message_id = message_id if isinstance(message_id, str) else None
            self._blocks_seen = set()
        usage = message.get("usage")
        if isinstance(usage, Mapping) and record.get("isApiErrorMessage") is not True:
            tokens = (
                _int(usage.get("input_tokens"))
                + _int(usage.get("cache_creation_input_tokens"))
                + _int(usage.get("cache_read_input_tokens"))
            )
            if tokens:
                # A streamed response's lines may carry partial usage: keep its largest.
                previous = self.context_tokens if same else None
                self.context_tokens = max(tokens, previous or 0)
        self.turn_ended_at = at if message.get("stop_reason") == "end_turn" else None
        cwd = record.get("cwd") if isinstance(record.get("cwd"), str) else None
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        for index, block in enumerate(blocks):
            if not isinstance(block, Mapping):
                continue
            btype = block.get("type")
            key = block.get("id") if btype == "tool_use" else None
            seen_key = str(key) if isinstance(key, str) else f"{btype}:{index}:{block.get('text')}"
            if seen_key in self._blocks_seen:
                continue
            self._blocks_seen.add(seen_key)
            if btype == "text":
                text = block.get("text")
                if isinstance(text, str) and text.strip():
                    self.text = text[:_TEXT_MAX]
                    self.text_at = at
            elif btype == "tool_use":
                name = block.get("name")
                name = name if isinstance(name, str) and name else "tool"
                tool_input = block.get("input")
                self.tool = ToolCall(
                    name=name,
                    summary=summarize_tool(name, tool_input, cwd),
                    at=at,
                    tool_id=key if isinstance(key, str) else "",
                )
                if name == "TodoWrite" and isinstance(tool_input, Mapping):
                    self._todos(tool_input.get("todos"), at)

    def _todos(self, raw: object, at: datetime | None) -> None:
        if not isinstance(raw, list):
            return
        items = []
        for entry in raw[:_TODO_MAX]:
            if not isinstance(entry, Mapping):
                continue
            content = entry.get("content")
            status = entry.get("status")
            if isinstance(content, str):
                items.append(TodoItem(content, status if isinstance(status, str) else "pending"))
        self.todos = tuple(items)
        self.todos_at = at

    def _user(self, content: object, record: Mapping[str, Any]) -> None:
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, Mapping) or block.get("type") != "tool_result":
                    continue
                tool = self.tool
                if tool is not None and block.get("tool_use_id") == tool.tool_id:
                    self.tool = ToolCall(
                        tool.name,
                        tool.summary,
                        tool.at,
                        tool.tool_id,
                        done=True,
                        failed=block.get("is_error") is True,
                    )
        if record.get("isMeta") is True:
            return
        if _is_prompt(content):
            self.turn_ended_at = None

    # -- reading -------------------------------------------------------------------------------

    def activity(self) -> AgentActivity:
        if self._snapshot is None:
            self._snapshot = AgentActivity(
                transcript=self.transcript,
                session_id=self.session_id,
                model=self.model,
                tool=self.tool,
                text=self.text,
                text_at=self.text_at,
                todos=self.todos,
                todos_at=self.todos_at,
                context_tokens=self.context_tokens,
                context_window=context_window(self.model, self.context_tokens),
                compactions=self.compactions,
                turn_ended_at=self.turn_ended_at,
                last_record_at=self.last_record_at,
                records=self.records,
                problems=self.problems,
            )
        return self._snapshot


# --------------------------------------------------------------------------------------------
# Waiting for you


@dataclass(frozen=True, slots=True)
class AgentSignal:
    """The last hook line about one agent's turn (``AGENT-WAITING``, ``AGENT-TURN-END``,
    ``AGENT-RESUMED``), as the log fold keeps it until the agent does something else."""

    event: str
    ts: str
    kind: str | None = None
    detail: str | None = None
    where: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "event": self.event,
            "ts": self.ts,
            "kind": self.kind,
            "detail": self.detail,
            "log": self.where,
        }


@dataclass(frozen=True, slots=True)
class Waiting:
    """The agent waits for the engineer: what for, since when, and the evidence."""

    kind: str
    since: datetime
    evidence: str

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "since": self.since.isoformat(timespec="seconds"),
            "evidence": self.evidence,
        }


def _precision(ts: str) -> timedelta:
    """How much later than ``ts`` the event may have happened: its time is cut to the minute
    (the protocol's ``YYYY-MM-DDTHH:MM``) or to the second; a transcript line within that span
    may precede it."""
    return timedelta(seconds=1) if len(ts.strip()) > 16 else timedelta(minutes=1)


def waiting_verdict(
    signal: AgentSignal | None,
    activity: AgentActivity | None,
    now: datetime,
    idle_after: timedelta,
) -> Waiting | None:
    """Whether the agent waits for the engineer, most reliable evidence first:

    1. an ``AGENT-WAITING`` hook line (a permission prompt, an elicitation, Claude Code's idle
       prompt) with nothing in the transcript after it;
    2. an ``AGENT-TURN-END`` hook line (Stop) followed by no user message nor transcript line
       for ``idle_after``;
    3. the transcript alone: a turn that ended (``end_turn``) with no user message since, for
       ``idle_after``.
    """
    last = activity.last_record_at if activity is not None else None
    if signal is not None and signal.event in ("AGENT-WAITING", "AGENT-TURN-END"):
        since = parse_ts(signal.ts)
        if since is not None and (last is None or last < since + _precision(signal.ts)):
            detail = f" ({printable(signal.detail, multiline=False)})" if signal.detail else ""
            where = f" at {signal.where}" if signal.where else ""
            if signal.event == "AGENT-WAITING":
                kind = signal.kind or "input"
                return Waiting(
                    kind,
                    since,
                    f"hook: {kind}{detail} since {signal.ts}{where}, not answered",
                )
            if now - since >= idle_after:
                return Waiting(
                    "turn_end",
                    since,
                    f"hook: turn ended at {signal.ts}{where}, no user message for "
                    f"{fmt_age(now - since)} (idle after {fmt_age(idle_after)})",
                )
            return None
    if activity is not None and activity.turn_ended_at is not None:
        since = activity.turn_ended_at
        if now - since >= idle_after:
            return Waiting(
                "turn_end",
                since,
                f"transcript: turn ended at {since.isoformat(timespec='seconds')}, no user "
                f"message for {fmt_age(now - since)} (idle after {fmt_age(idle_after)})",
            )
    return None
