"""The known config keys, how each value is converted and checked, and their defaults."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from factory_tui.config.durations import parse_duration
from factory_tui.config.locations import expand_path
from factory_tui.core.launch_templates import (
    DEFAULT_LAUNCH_BRANCH,
    DEFAULT_LAUNCH_PROMPT,
    DEFAULT_LAUNCH_WORKTREE,
    PATH_FIELDS,
    PROMPT_FIELDS,
    template_problem,
)


class BadValue(Exception):
    """A value of the wrong form; the message says what was expected."""


_Converter = Callable[[object, bool, Path, Mapping[str, str]], object]


def _to_path(value: object, _text: bool, base: Path, env: Mapping[str, str]) -> object:
    if not isinstance(value, str) or not value.strip():
        raise BadValue("a path (a non-empty string)")
    return expand_path(value, base, env)


def _to_paths(value: object, _text: bool, base: Path, env: Mapping[str, str]) -> object:
    """One path or a list of them, each may be a glob (``~/.claude-agent-*``): absolute
    patterns, expanded by :func:`expand_claude_dirs`."""
    expected = 'a path or a list of paths, each may be a glob (["~/.claude", "~/.claude-*"])'
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise BadValue(expected)
    return tuple(str(expand_path(str(item), base, env)) for item in items)


def _to_duration(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'a duration such as "2h", "90m", "7200s" or a number of seconds, above zero'
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int | float):
        result = timedelta(seconds=float(value))
    elif isinstance(value, str):
        try:
            result = parse_duration(value)
        except ValueError:
            raise BadValue(expected) from None
    else:
        raise BadValue(expected)
    if result <= timedelta(0):
        raise BadValue(expected)
    return result


def _to_money(value: object, text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'an amount in US dollars (a number ≥ 0, e.g. 50 or 12.5), or "none"'
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, str):
        if value.strip().lower() in {"none", "off"}:
            return None
        try:
            value = float(value.strip().lstrip("$"))
        except ValueError:
            raise BadValue(expected) from None
    if not isinstance(value, int | float) or value != value or value < 0:
        raise BadValue(expected)
    return float(value)


_SIZE = re.compile(r"(?P<number>\d{1,15})[ \t]*(?P<unit>[KMG]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def _to_size(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'a size in bytes above zero: a number, or "64 MiB", "512 KiB", "1 GB"'
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        number = int(match.group("number")) * _SIZE_UNITS[(match.group("unit") or "").lower()]
    else:
        raise BadValue(expected)
    if number <= 0:
        raise BadValue(expected)
    return number


def _to_text(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    if not isinstance(value, str) or not value.strip():
        raise BadValue("a non-empty string")
    return value.strip()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _to_bool(value: object, text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise BadValue("true or false (1/0, yes/no, on/off)")
    raise BadValue("true or false")


def _to_command(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = (
        'a command: a list of strings (["claude", "--flag"]) or one string split like a shell'
    )
    if isinstance(value, str):
        try:
            parts = shlex.split(value)
        except ValueError as exc:
            raise BadValue(f"{expected} ({exc})") from None
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = list(value)
    else:
        raise BadValue(expected)
    if not parts or not parts[0].strip():
        raise BadValue(expected + ", not empty")
    return tuple(parts)


def _template(allowed: tuple[str, ...]) -> _Converter:
    """A text template whose placeholders are among ``allowed``."""

    def convert(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
        if not isinstance(value, str) or not value.strip():
            raise BadValue("a non-empty text template")
        problem = template_problem(value, allowed)
        if problem is not None:
            raise BadValue(f"a template: {problem}")
        return value.strip()

    return convert


@dataclass(frozen=True)
class KeySpec:
    field: str
    convert: _Converter
    is_path: bool = False


KNOWN_KEYS: Mapping[str, KeySpec] = MappingProxyType(
    {
        "claims": KeySpec("claims_dir", _to_path, True),
        "memory": KeySpec("memory_dir", _to_path, True),
        "log": KeySpec("log_file", _to_path, True),
        "metrics": KeySpec("metrics_file", _to_path, True),
        "checkpoints": KeySpec("checkpoints_dir", _to_path, True),
        "plan": KeySpec("plan_file", _to_path, True),
        "memory_md": KeySpec("memory_file", _to_path, True),
        "council_history": KeySpec("council_history", _to_path, True),
        "claude_config_dir": KeySpec("claude_config_dir", _to_paths, True),
        "stale_after": KeySpec("stale_after", _to_duration),
        "lock_stale_after": KeySpec("lock_stale_after", _to_duration),
        "idle_after": KeySpec("idle_after", _to_duration),
        "daily_budget_usd": KeySpec("daily_budget_usd", _to_money),
        "agent_budget_usd": KeySpec("agent_budget_usd", _to_money),
        "theme": KeySpec("theme", _to_text),
        "read_only": KeySpec("read_only", _to_bool),
        "notify": KeySpec("notify", _to_bool),
        "bell": KeySpec("bell", _to_bool),
        "agent_command": KeySpec("agent_command", _to_command),
        "max_file_bytes": KeySpec("max_file_bytes", _to_size),
        "launch_prompt": KeySpec("launch_prompt", _template(PROMPT_FIELDS)),
        "launch_worktree": KeySpec("launch_worktree", _template(PATH_FIELDS)),
        "launch_branch": KeySpec("launch_branch", _template(PATH_FIELDS)),
        "launch_claim_within": KeySpec("launch_claim_within", _to_duration),
    }
)
"""Config keys (as written in factory.toml, flags and ``FACTORY_TUI_<KEY>``) → Config field."""

FLAG_ONLY = {"config"}

DEFAULTS: dict[str, object] = {
    "stale_after": timedelta(hours=2),
    "lock_stale_after": timedelta(seconds=30),
    "idle_after": timedelta(minutes=15),
    "daily_budget_usd": None,
    "agent_budget_usd": None,
    "theme": None,
    "read_only": False,
    "notify": True,
    "bell": True,
    "agent_command": ("claude",),
    "max_file_bytes": 64 << 20,
    "launch_prompt": DEFAULT_LAUNCH_PROMPT,
    "launch_worktree": DEFAULT_LAUNCH_WORKTREE,
    "launch_branch": DEFAULT_LAUNCH_BRANCH,
    "launch_claim_within": timedelta(minutes=10),
}
