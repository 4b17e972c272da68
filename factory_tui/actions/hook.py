"""What a Claude Code hook event means for the cockpit, and the one operations.log line it leaves.

Claude Code runs ``factory-tui hook`` with the event as JSON on stdin. Every event carries
``session_id``, ``transcript_path``, ``cwd`` and ``hook_event_name``; the ones used here:

- ``Notification`` (``message``, ``notification_type``): ``permission_prompt``,
  ``idle_prompt`` (waiting for input for 60 s) and ``elicitation_dialog`` (an MCP server asks)
  → ``AGENT-WAITING kind=<notification_type>``; ``elicitation_complete`` /
  ``elicitation_response`` → ``AGENT-RESUMED``; anything else (``auth_success``) → no line.
  Without ``notification_type`` (older Claude Code) the message decides: "permission" →
  ``permission_prompt``, "waiting for your input" → ``idle_prompt``.
- ``PermissionRequest`` (``tool_name``, ``tool_input``): the permission dialog is shown →
  ``AGENT-WAITING kind=permission_request tool=<tool_name> detail=<the call, short>``.
- ``Stop``: the turn ended → ``AGENT-TURN-END``.
- ``UserPromptSubmit``: the engineer answered → ``AGENT-RESUMED kind=prompt``.

The line's time is the protocol's (minute precision: strict when writing); a wait ends when the
transcript has a line from the next minute on, or the agent logs anything else. It carries no
``by=``: it is the agent's own line (its hook), as the real STOA hooks' lines are.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from factory_tui.adapters.lock import append_line
from factory_tui.config import Config
from factory_tui.core.activity import summarize_tool
from factory_tui.core.oplog import format_event
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import format_ts

__all__ = [
    "HOOKED_EVENTS",
    "HookLine",
    "SettingsError",
    "hook_line",
    "is_ours",
    "merge_hooks",
    "remove_hooks",
    "write_hook_line",
]

#: The Claude Code hook events ``factory-tui hooks install`` registers.
HOOKED_EVENTS = ("Notification", "PermissionRequest", "Stop", "UserPromptSubmit")

_WAITING_TYPES = frozenset({"permission_prompt", "idle_prompt", "elicitation_dialog"})
_RESUMED_TYPES = frozenset({"elicitation_complete", "elicitation_response"})
_DETAIL_MAX = 160


@dataclass(frozen=True, slots=True)
class HookLine:
    event: str
    fields: tuple[tuple[str, str], ...]

    def text(self, now: datetime) -> str:
        return format_event(format_ts(now), self.event, self.fields)


def _text(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


def _clean(text: str) -> str:
    """One printable line, clipped: agent- and tool-written text goes into the log literally."""
    one = printable(" ".join(text.split()), multiline=False)
    return one if len(one) <= _DETAIL_MAX else one[: _DETAIL_MAX - 1] + "…"


def _notification_kind(payload: Mapping[str, object]) -> str | None:
    kind = _text(payload, "notification_type")
    if kind:
        return kind
    message = _text(payload, "message").lower()
    if "permission" in message:
        return "permission_prompt"
    if "waiting for your input" in message:
        return "idle_prompt"
    return None


def hook_line(payload: Mapping[str, object], instance: str | None) -> HookLine | None:
    """The line an event leaves (None: an event that says nothing of a wait)."""
    event = _text(payload, "hook_event_name")
    name: str
    fields: list[tuple[str, str]] = []
    if event == "Notification":
        kind = _notification_kind(payload)
        if kind in _WAITING_TYPES:
            name = "AGENT-WAITING"
        elif kind in _RESUMED_TYPES:
            name = "AGENT-RESUMED"
        else:
            return None
        fields.append(("kind", kind))
        if message := _text(payload, "message"):
            fields.append(("detail", _clean(message)))
    elif event == "PermissionRequest":
        name = "AGENT-WAITING"
        fields.append(("kind", "permission_request"))
        tool = _text(payload, "tool_name")
        if tool:
            fields.append(("tool", _clean(tool)))
            summary = summarize_tool(tool, payload.get("tool_input"), _text(payload, "cwd") or None)
            fields.append(("detail", _clean(summary)))
    elif event == "Stop":
        name = "AGENT-TURN-END"
    elif event == "UserPromptSubmit":
        name = "AGENT-RESUMED"
        fields.append(("kind", "prompt"))
    else:
        return None
    head: list[tuple[str, str]] = [("instance", _clean(instance))] if instance else []
    if session := _text(payload, "session_id"):
        head.append(("session", _clean(session)))
    return HookLine(name, (*head, *fields))


def write_hook_line(config: Config, line: HookLine, now: datetime) -> str:
    """Append the line to operations.log through the path every audit line takes (one
    ``O_APPEND`` write); returns it. Raises OSError when it cannot."""
    text = line.text(now)
    append_line(config.log_file, text)
    return text


# --------------------------------------------------------------------------------------------
# .claude/settings.json: add and take out our hooks, keeping everything else

_OURS = re.compile(r"(?:^|[\s/\"'])(?:factory-tui|factory_tui)[\"']?(?:\s+-m)?\s+hook(?:\s|$)")


def is_ours(command: object) -> bool:
    """A hook command this module installed (``…factory-tui hook``, ``… -m factory_tui hook``)."""
    return isinstance(command, str) and _OURS.search(command) is not None


class SettingsError(ValueError):
    """settings.json is not the shape Claude Code reads: changing it would lose something."""


def _groups(hooks: dict[str, Any], event: str, where: str) -> list[Any]:
    groups = hooks.setdefault(event, [])
    if not isinstance(groups, list):
        raise SettingsError(f"{where}: hooks.{event} is not a list; fix it by hand first")
    return groups


def merge_hooks(settings: Mapping[str, Any], command: str, where: str) -> dict[str, Any]:
    """``settings`` with ``command`` registered for each of :data:`HOOKED_EVENTS` (once: an
    existing hook of ours is replaced in place), every other key and hook kept as it was."""
    out = copy.deepcopy(dict(settings))
    hooks = out.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError(f"{where}: hooks is not an object; fix it by hand first")
    entry = {"type": "command", "command": command, "timeout": 10}
    for event in HOOKED_EVENTS:
        groups = _groups(hooks, event, where)
        placed = False
        for group in groups:
            inner = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(inner, list):
                continue
            for n, hook in enumerate(inner):
                if not placed and isinstance(hook, dict) and is_ours(hook.get("command")):
                    inner[n] = dict(entry)
                    placed = True
        if not placed:
            added: dict[str, Any] = {"hooks": [dict(entry)]}
            if event in ("Notification", "PermissionRequest"):
                added = {"matcher": "", **added}
            groups.append(added)
    return out


def remove_hooks(settings: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``settings`` without any hook of ours; a group left empty goes, and so does an event
    left with no group (and ``hooks`` left empty); everything else is kept."""
    out = copy.deepcopy(dict(settings))
    hooks = out.get("hooks")
    if hooks is None:
        return out
    if not isinstance(hooks, dict):
        raise SettingsError(f"{where}: hooks is not an object; fix it by hand first")
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            inner = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(inner, list):
                kept_groups.append(group)
                continue
            kept = [h for h in inner if not (isinstance(h, dict) and is_ours(h.get("command")))]
            if kept or len(kept) == len(inner):
                kept_groups.append({**group, "hooks": kept})
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if not hooks:
        del out["hooks"]
    return out
