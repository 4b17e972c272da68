"""Durations as written in config files, flags and environment variables: ``2h``, ``90m``,
``1h30m``, ``1.5h`` or a bare number of seconds, and back."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def parse_duration(text: str) -> timedelta:
    """``"2h"``, ``"90m"``, ``"7200s"``, ``"1h30m"``, ``"1.5h"`` or a bare number of seconds.

    Raises ``ValueError`` (with the offending text) for anything else, or a negative value.
    """
    raw = text.strip().lower()
    if _NUMBER.fullmatch(raw):
        return timedelta(seconds=float(raw))
    total = 0.0
    pos = 0
    compact = raw.replace(" ", "")
    if not compact:
        raise ValueError(f"empty duration {text!r}")
    for match in _DURATION_PART.finditer(compact):
        if match.start() != pos or match.group(2) not in _UNITS:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The compact form ``parse_duration`` reads back: ``2h``, ``30s``, ``1h30m``, ``0.5s``."""
    seconds = value.total_seconds()
    if seconds < 0:
        return "-" + format_duration(-value)
    whole = int(seconds)
    fraction = round(seconds - whole, 6)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or fraction or not parts:
        secs = whole + fraction
        parts.append(f"{secs:g}s")
    return "".join(parts)
