"""operations.log and metrics.log: one event a line, ``TIMESTAMP | EVENT | key=value ...``.

The parser never raises: a line that does not fit becomes a :class:`Problem` with its line
number. Unknown events and keys are kept. Values may be quoted (``detail="two words"``).
Timestamps stay raw strings on the event (parsing them is cached and done on demand), which keeps
a million-line log cheap to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import NamedTuple

from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import parse_ts, parse_utc_ts

__all__ = [
    "REQUIRED_FIELDS",
    "REST_OF_LINE",
    "Event",
    "format_event",
    "iter_lines",
    "parse_fields",
    "parse_line",
]

REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "SESSION-START": ("task", "branch"),
    "SESSION-END": ("task", "status"),
    "STEP-START": ("step", "task"),
    "STEP-DONE": ("step", "task"),
    "CHECKPOINT": ("task", "file"),
    "ERROR": ("task", "error"),
    "RECOVERY": ("task", "action"),
    # A standalone ticket's CLAIM / RELEASE carry no phase (FORMATS.md, Changes 1).
    "CLAIM": ("task", "instance"),
    "RELEASE": ("task", "instance", "reason"),
    # Written by the real hooks (operations.log).
    "BASH-EXEC": ("cmd",),
    "PR-MERGED-HOOK": ("pr",),
    "LINEAR-CLOSE": ("ticket", "pr"),
    "MCP-CALL": (),
    "CONFLICT": ("task", "phase", "winner"),
    # Written by `factory-tui hook` (Claude Code's hooks): an agent waits, ended its turn, resumed.
    "AGENT-WAITING": ("kind",),
    "AGENT-TURN-END": (),
    "AGENT-RESUMED": (),
    # metrics.log (same grammar, UTC times).
    # The hook writes date, tokens_total, cost_usd, sessions, messages, models; some writers
    # (the demo) write a per-agent shape: both carry cost_usd.
    "TOKEN-SPEND": ("cost_usd",),
    "COST-ALERT": ("threshold", "actual", "date"),
    "COST-ANOMALY": ("today", "avg_7d", "date"),
    "RULES-BUDGET": ("always_loaded_bytes", "files_without_globs", "memory_lines"),
    "CI-FIX": ("task",),
}

#: Events whose last field runs to the end of the line: the real hooks write it unescaped
#: (``cmd="git commit -m "fix: x""``, ``models=opus=10 sonnet=20``). Its value is everything after
#: ``key=``, less one pair of surrounding double quotes.
REST_OF_LINE: dict[str, str] = {
    "BASH-EXEC": "cmd",
    "PR-MERGED-HOOK": "cmd",
    "TOKEN-SPEND": "models",
}

_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_QUOTED_TOKEN = re.compile(r"""([^\s=]+)=("(?:[^"\\]|\\.)*"?|'[^']*'?|\S*)|(\S+)""")


class Event(NamedTuple):
    """One line of the log. ``ts`` is the raw timestamp text; :attr:`at` parses it (as UTC when
    ``utc``: metrics.log is written by ``date -u`` without a marker)."""

    ts: str
    name: str
    fields: dict[str, str]
    line: int
    source: str
    utc: bool = False

    @property
    def at(self) -> datetime | None:
        return parse_utc_ts(self.ts) if self.utc else parse_ts(self.ts)

    def get(self, key: str) -> str | None:
        return self.fields.get(key)


def parse_fields(text: str) -> dict[str, str]:
    """``key=value`` pairs; a bare word (no ``=``) is kept under the key ``_``."""
    fields: dict[str, str] = {}
    if '"' not in text and "'" not in text:
        for token in text.split():
            key, sep, value = token.partition("=")
            if sep and key:
                fields[key] = value
            else:
                fields["_"] = f"{fields['_']} {token}" if "_" in fields else token
        return fields
    for match in _QUOTED_TOKEN.finditer(text):
        key, value, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None:
            fields["_"] = f"{fields['_']} {bare}" if "_" in fields else bare
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if match.group(2).startswith('"'):
                value = value.replace('\\"', '"').replace("\\\\", "\\")
        elif value[:1] in ("'", '"'):
            value = value[1:]
        fields[key] = value
    return fields


def parse_rest_of_line(text: str, key: str) -> dict[str, str]:
    """Fields of ``text`` where ``key``'s value runs to the end of the line (see
    :data:`REST_OF_LINE`); without ``key=`` it is read like any other line."""
    for match in _QUOTED_TOKEN.finditer(text):
        if match.group(1) != key:
            continue
        fields = parse_fields(text[: match.start()])
        value = text[match.start(2) :].strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        elif value[:1] == '"':
            value = value[1:]
        fields[key] = value
        return fields
    return parse_fields(text)


def parse_line(text: str, line: int, source: str, *, utc: bool = False) -> Event | Problem | None:
    """One line (without its newline). ``None`` for a blank line. ``utc``: a timestamp without
    a zone is UTC (metrics.log)."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    ts, sep, rest = text.partition(" | ")
    if not sep:
        parts = text.split("|", 2)
        if len(parts) < 2:
            return Problem(
                source,
                f"not an event line (expected 'TIMESTAMP | EVENT | k=v'): {_clip(text)}",
                line,
            )
        ts, rest = parts[0], "|".join(parts[1:])
    name, _, kv = rest.partition("|")
    name = name.strip()
    ts = ts.strip()
    if parse_ts(ts) is None:
        return Problem(source, f"bad timestamp {_clip(ts)!r} (expected YYYY-MM-DDTHH:MM)", line)
    if not _EVENT_NAME.match(name):
        return Problem(source, f"bad event name {_clip(name)!r}", line)
    name = name.upper()
    rest_key = REST_OF_LINE.get(name)
    fields = parse_rest_of_line(kv, rest_key) if rest_key else parse_fields(kv)
    return Event(ts, name, fields, line, source, utc)


def missing_fields(event: Event) -> tuple[str, ...]:
    """Required keys of a known event that the line lacks."""
    required = REQUIRED_FIELDS.get(event.name, ())
    return tuple(key for key in required if not event.fields.get(key))


def iter_lines(
    lines: Iterable[bytes], source: str, first_line: int = 1, *, utc: bool = False
) -> Iterator[Event | Problem]:
    """Parse raw lines (bytes, without newline); undecodable ones become problems."""
    for number, raw in enumerate(lines, start=first_line):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield Problem(source, f"not UTF-8 text (byte {error.start})", number)
            continue
        parsed = parse_line(text, number, source, utc=utc)
        if parsed is not None:
            yield parsed


def format_event(ts: str, name: str, fields: Iterable[tuple[str, str]]) -> str:
    """One strict line (no newline). Values with spaces or quotes are quoted; newlines removed.

    The rest-of-line field of a hook's event (:data:`REST_OF_LINE`) goes last, in quotes but
    unescaped, as the hook writes it and as :func:`parse_line` reads it back."""
    parts = [ts, name]
    pairs = []
    rest_key = REST_OF_LINE.get(name)
    rest: str | None = None
    for key, value in fields:
        clean = value.replace("\r", " ").replace("\n", " ")
        if key == rest_key:
            rest = clean
            continue
        if not clean or any(c in clean for c in " \t\"'|"):
            clean = '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
        pairs.append(f"{key}={clean}")
    if rest is not None:
        pairs.append(f'{rest_key}="{rest}"')
    if pairs:
        parts.append(" ".join(pairs))
    return " | ".join(parts)


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
