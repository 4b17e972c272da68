"""Usage records from Claude Code's transcripts: one line parsed into a :class:`UsageRecord`.

FORMATS.md, Cost: only ``type: "assistant"`` lines with ``message.usage`` count; model
``<synthetic>`` (and API-error lines, ``isApiErrorMessage``) are skipped. A fast-mode response
(``message.usage.speed == "fast"``) is summed under ``<model> (fast)``. The periods a report
covers are here too. Pure: times come in as arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal, get_args

from factory_tui.core.pricing import Usage
from factory_tui.core.timeparse import MAX_YEAR, MIN_YEAR, naive_local

__all__ = [
    "PERIODS",
    "SKIP_REASONS",
    "Attribution",
    "Period",
    "SkipReason",
    "UsageRecord",
    "naive_local",
    "parse_transcript_line",
    "period_since",
]

SkipReason = Literal["synthetic", "api_error", "malformed"]
SKIP_REASONS: tuple[SkipReason, ...] = get_args(SkipReason)


SYNTHETIC_MODEL = "<synthetic>"


FAST_SUFFIX = " (fast)"
"""Appended to a model's name for its fast-mode responses (their own line in ``by model``)."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Whose spend a response is, and how that was decided (``how``, for the explanation)."""

    agent: str | None
    """The instance id (``t48217-a3f2``), or None when no span matched."""
    ticket: str | None
    """The claim key (``CAB-1321``, ``CAB-1290:1``), else the session's task, else a ticket id
    found in the branch name; None when nothing names one."""
    phase: int | None
    how: str


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One model response's tokens, as counted: one per ``key``."""

    key: tuple[str, str]
    """``("message", message.id)``; without a message id, ``("uuid", uuid)`` or ``("line",
    file:line)``. The ``requestId`` is not part of it: a subagent's replay of its parent's
    message has a new one."""
    model: str
    usage: Usage
    at: datetime
    """Naive, in the ledger's zone (local time unless told otherwise)."""
    cwd: str | None = None
    branch: str | None = None
    session_id: str | None = None
    sidechain: bool = False
    source: str = ""
    """``file:line`` of the line kept."""
    usd: float | None = None
    """A price already known (the Council's own calls); None: priced from the table."""
    fixed: Attribution | None = None
    """An attribution already known (the Council's calls); None: attributed from the spans."""
    fast: bool = False
    """A fast-mode response (``usage.speed == "fast"``): billed at the model's fast price."""

    @property
    def model_key(self) -> str:
        """The model as summed and reported: ``<model> (fast)`` for a fast-mode response."""
        return self.model + FAST_SUFFIX if self.fast else self.model


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _usage(raw: Mapping[str, object]) -> Usage:
    written = _int(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    w5 = w1h = 0
    if isinstance(split, Mapping):
        w5 = _int(split.get("ephemeral_5m_input_tokens"))
        w1h = _int(split.get("ephemeral_1h_input_tokens"))
    # Without the split (older transcripts), every cache write is a 5-minute one, the default.
    w5 += max(0, written - w5 - w1h)
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1h,
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
    )


Period = Literal["today", "7 days", "all"]
PERIODS: tuple[Period, ...] = get_args(Period)


def period_since(period: Period, now: datetime) -> datetime | None:
    """Where ``period`` starts for ``now`` (None: everything)."""
    midnight = datetime.combine(now.date(), datetime.min.time())
    if period == "today":
        return midnight
    if period == "7 days":
        return midnight - timedelta(days=6)
    return None


def _when(raw: object, tz: tzinfo | None) -> datetime | None:
    """A transcript line's time, naive in ``tz``; None when it is not one (a year outside
    1900..9000, as everywhere in the factory: year 1 in a zone west of UTC raised
    ``OverflowError`` out of the read)."""
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(text)
        if not MIN_YEAR <= at.year <= MAX_YEAR:
            return None
        return naive_local(at, tz)
    except (ValueError, OverflowError):
        return None


def parse_transcript_line(
    line: bytes | str, *, source: str = "", tz: tzinfo | None = None
) -> UsageRecord | SkipReason | None:
    """One transcript line: a usage record, why a usage line was skipped, or None (not one).

    ``source`` is the line's ``file:line`` (also the dedup key of a line without ids). ``tz`` is
    the zone to convert timestamps to (None: local time); the result is naive in that zone.
    Cheap for the lines that do not count: a line without ``"usage"`` is not parsed at all.
    """
    if isinstance(line, bytes):
        if b'"usage"' not in line:
            return None
    elif '"usage"' not in line:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return "malformed"
    if not isinstance(obj, dict) or obj.get("type") != "assistant":
        return None
    message = obj.get("message")
    if not isinstance(message, dict):
        return None
    raw_usage = message.get("usage")
    if not isinstance(raw_usage, dict):
        return None
    model = message.get("model")
    if model == SYNTHETIC_MODEL:
        return "synthetic"
    if obj.get("isApiErrorMessage") is True:
        return "api_error"
    at = _when(obj.get("timestamp"), tz)
    if at is None or not isinstance(model, str) or not model.strip():
        return "malformed"
    message_id = _str(message.get("id"))
    if message_id is not None:
        key = ("message", message_id)
    elif _str(obj.get("uuid")) is not None:
        key = ("uuid", str(obj["uuid"]))
    else:
        key = ("line", source)
    return UsageRecord(
        key=key,
        model=model.strip(),
        usage=_usage(raw_usage),
        at=at,
        cwd=_str(obj.get("cwd")),
        branch=_str(obj.get("gitBranch")),
        session_id=_str(obj.get("sessionId")),
        sidechain=obj.get("isSidechain") is True,
        source=source,
        fast=raw_usage.get("speed") == "fast",
    )
