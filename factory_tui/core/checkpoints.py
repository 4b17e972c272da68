"""Checkpoint files: ``<memory>/checkpoints/<ISO-timestamp>-<task-slug>.json``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from factory_tui.core.problems import Problem, parse_json
from factory_tui.core.safe import shown_value
from factory_tui.core.timeparse import MAX_YEAR, MIN_YEAR, parse_ts

__all__ = [
    "Checkpoint",
    "checkpoint_from_json",
    "parse_checkpoint",
    "parse_checkpoint_name",
    "zoned_name",
]

# 2026-02-12T14-25-traceability-system.json (colons written as dashes), seconds optional.
_NAME = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}[-:]\d{2}(?:[-:]\d{2})?(?:Z|[+-]\d{2}(?::?\d{2})?)?)"
    r"-(?P<slug>.+)\.json$"
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    file: str
    name: str
    file_ts: datetime | None
    slug: str
    task: str
    timestamp: str | None
    branch: str | None
    git_sha: str | None
    pr_number: int | None
    steps_completed: tuple[str, ...]
    steps_remaining: tuple[str, ...]
    context: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    claimed_phase: dict[str, Any] | None = None

    @property
    def at(self) -> datetime | None:
        """When it was written: its ``timestamp``, else the time in its file name."""
        return (parse_ts(self.timestamp) if self.timestamp else None) or self.file_ts

    @property
    def blockers(self) -> tuple[str, ...]:
        value = (self.progress or {}).get("blockers")
        return tuple(str(item) for item in value) if isinstance(value, list) else ()

    @property
    def notes(self) -> str | None:
        value = (self.context or {}).get("notes")
        return value if isinstance(value, str) else None


def parse_checkpoint_name(name: str) -> tuple[datetime | None, str]:
    """The timestamp and slug a checkpoint's file name carries."""
    match = _NAME.match(name)
    if not match:
        return None, name.removesuffix(".json")
    ts, slug = match.group("ts", "slug")
    if len(ts) == 16:  # the usual YYYY-MM-DDTHH-MM: no seconds, no zone (a folder of 10,000)
        return _naive_ts(f"{ts[:10]}T{ts[11:13]}:{ts[14:]}"), slug
    return name_time(ts), slug


def zoned_name(name: str) -> bool:
    """Whether a checkpoint's file name gives its time with a zone (``…T09-30Z-…``): read as
    local time, its order among a task's files depends on the local zone."""
    match = _NAME.match(name)
    if match is None or len(ts := match.group("ts")) == 16:  # the usual: no seconds, no zone
        return False
    parts = _NAME_TS.match(ts)
    return parts is not None and bool(parts.group(5))


def name_time(ts: str) -> datetime | None:
    """The time of a name's timestamp part (any of the forms its pattern allows: ``-`` or ``:``
    between the clock's parts, seconds or not, a zone or not)."""
    match = _NAME_TS.match(ts)
    if match is None:
        return None
    date, hour, minute, second, zone = match.groups()
    seconds = f":{second}" if second else ""
    return parse_ts(f"{date}T{hour}:{minute}{seconds}{zone or ''}")


_NAME_TS = re.compile(r"(.{10}).(\d{2})[-:](\d{2})(?:[-:](\d{2}))?(.*)$")
"""A timestamp part :data:`_NAME` matched, cut into date, hour, minute, seconds and zone."""


def _naive_ts(text: str) -> datetime | None:
    """:func:`name_time` of a 16-character timestamp part made ``YYYY-MM-DDTHH:MM`` (digits, as
    the name's pattern matched them): :func:`parse_ts` without its steps for the other forms
    (there is no space, zone or ``Z`` to handle), a few microseconds a name less."""
    try:
        value = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


MAX_PR = 2**31 - 1


def _pr_number(value: object) -> int | None:
    """A PR number (``42``, ``"42"``, ``"#42"``); None when it is not one or out of range (a
    5,000-digit string would make ``int()`` raise)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if not (0 < len(text) <= 18 and text.isascii() and text.isdigit()):
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= MAX_PR:
        return value
    return None


def parse_checkpoint(file: str, data: bytes) -> tuple[Checkpoint | None, list[Problem]]:
    raw, unreadable = parse_json(file, data)
    if unreadable is not None:
        return None, [unreadable]
    return checkpoint_from_json(file, raw)


def checkpoint_from_json(
    file: str, raw: Any, name_parts: tuple[datetime | None, str] | None = None
) -> tuple[Checkpoint | None, list[Problem]]:
    """:func:`parse_checkpoint` from the file's JSON value (read now, or kept since it was
    read). ``name_parts``: :func:`parse_checkpoint_name` of the file's name, when known."""
    name = file.rsplit("/", 1)[-1]
    file_ts, slug = name_parts or parse_checkpoint_name(name)
    if not isinstance(raw, dict):
        return None, [Problem(file, "a checkpoint holds a JSON object")]
    problems: list[Problem] = []
    pr_raw = raw.get("pr_number")
    pr = _pr_number(pr_raw)
    if pr is None and pr_raw is not None:
        problems.append(
            Problem(
                file,
                f"pr_number: expected an integer from 1 to {MAX_PR}, found {shown_value(pr_raw)}",
            )
        )
    task = _text(raw, "task", file, problems)
    if not task:
        problems.append(Problem(file, "task: missing; using the file name's slug"))
    timestamp = _text(raw, "timestamp", file, problems)
    if timestamp and parse_ts(timestamp) is None:
        problems.append(Problem(file, f"timestamp: not a timestamp: {timestamp[:40]!r}"))
        timestamp = None
    # Positional, in the order of the fields (and of the problems they may add).
    checkpoint = Checkpoint(
        file,
        name,
        file_ts,
        slug,
        task or slug,
        timestamp,
        _text(raw, "branch", file, problems),
        _text(raw, "git_sha", file, problems),
        pr,
        _steps(raw, "steps_completed", file, problems),
        _steps(raw, "steps_remaining", file, problems),
        _object(raw, "context", file, problems),
        _object(raw, "progress", file, problems),
        _object(raw, "claimed_phase", file, problems),
    )
    return checkpoint, problems


def _text(raw: dict[str, Any], key: str, file: str, problems: list[Problem]) -> str | None:
    """A text field (a number is taken as its text); None when absent, empty or not text."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    problems.append(Problem(file, f"{key}: expected a string, found {shown_value(value)}"))
    return None


def _steps(raw: dict[str, Any], key: str, file: str, problems: list[Problem]) -> tuple[str, ...]:
    """A list of step names; () when absent or not one."""
    value = raw.get(key)
    if value is None:
        return ()
    if type(value) is list and set(map(type, value)) <= {str}:  # one pass in C
        return tuple(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    problems.append(Problem(file, f"{key}: expected an array of step names"))
    return ()


def _object(
    raw: dict[str, Any], key: str, file: str, problems: list[Problem]
) -> dict[str, Any] | None:
    """An object field; None when absent or not an object."""
    value = raw.get(key)
    if value is None or isinstance(value, dict):
        return value
    problems.append(Problem(file, f"{key}: expected an object"))
    return None
