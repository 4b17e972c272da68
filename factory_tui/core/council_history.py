"""The Council's history: ``council-history.jsonl`` read line by line (ours and the real
Council script's, FORMATS.md), a replay of the latest complete verdict for the same proposal, the
day's spend, and the guards (the kill switch, the daily cap) that may keep a sitting from
starting. Pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from factory_tui.core.council import (
    GO_WITH_ADJUSTMENTS,
    CouncilResult,
    PersonaVerdict,
    Proposal,
    Status,
    reason_texts,
)
from factory_tui.core.council_settings import CouncilSettings
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "KILL_SWITCH_ENV",
    "HistoryEntry",
    "find_replay",
    "guard",
    "kill_switch",
    "parse_history_line",
    "replay",
    "spent_on",
]

KILL_SWITCH_ENV = "FACTORY_COUNCIL_DISABLE"
_COMPLETE: tuple[Status, ...] = ("go", "go_with_adjustments", "rejected")
#: The real script prices its calls in euros at Sonnet 4.5's list price converted at this rate
#: (its docs: €2.76 and €13.80 per MTok for $3 and $15): its ``cost_eur`` over it is dollars.
REAL_SCRIPT_EUR_PER_USD = 0.92
#: The real script's statuses that are verdicts (``error`` and ``BYPASSED`` are not).
_REAL_VERDICTS = ("APPROVED", "REWORK")


# --------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class HistoryEntry:
    """One line of council-history.jsonl, read tolerantly (other writers exist)."""

    where: str
    timestamp: str
    at: datetime | None
    ticket: str | None
    status: str
    global_score: float | None
    scores: Mapping[str, int]
    model: str | None
    input_tokens: int
    output_tokens: int
    cost: float
    duration_ms: int
    sha256: str | None
    """Ours: ``sha256`` of the proposal; the real script's: ``diff_sha`` of the diff."""
    raw: Mapping[str, Any] = field(default_factory=dict)
    cost_eur: float | None = None
    """The real script's own figure; ``cost`` is then it in US dollars."""

    @property
    def complete(self) -> bool:
        """A verdict that may be replayed: ours when every persona answered, the real
        script's ``APPROVED`` or ``REWORK`` (not ``error``, not ``BYPASSED``)."""
        return self.status.lower() in _COMPLETE or self.status in _REAL_VERDICTS


def _num(value: object) -> float | None:
    """A finite number as a float, else None (an int too big for a float too: JSON has them)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:
        return None


def parse_history_line(line: bytes | str, where: str) -> HistoryEntry | str | None:
    """A history line; a string saying what is wrong with it; None for a blank line."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return f"{where}: not a JSON object; the line is ignored"
    if not isinstance(obj, dict):
        return f"{where}: not a JSON object; the line is ignored"
    timestamp = obj.get("timestamp")
    scores_raw = obj.get("scores")
    scores: dict[str, int] = {}
    if isinstance(scores_raw, dict):
        scores = {
            str(k): v
            for k, v in scores_raw.items()
            if isinstance(v, int) and not isinstance(v, bool)
        }
    sha = obj.get("sha256")
    if not isinstance(sha, str) or not sha:
        sha = obj.get("diff_sha")
    cost = _num(obj.get("cost"))
    cost_eur = _num(obj.get("cost_eur"))
    if cost is None and cost_eur is not None:
        cost = cost_eur / REAL_SCRIPT_EUR_PER_USD
    ticket = obj.get("ticket")
    model = obj.get("model")
    status = obj.get("status")
    return HistoryEntry(
        where=where,
        timestamp=str(timestamp) if timestamp is not None else "",
        at=parse_ts(timestamp) if isinstance(timestamp, str) else None,
        ticket=str(ticket) if ticket is not None else None,
        status=str(status) if status is not None else "",
        global_score=_num(obj.get("global_score")),
        scores=MappingProxyType(scores),
        model=str(model) if model is not None else None,
        input_tokens=int(_num(obj.get("input_tokens")) or 0),
        output_tokens=int(_num(obj.get("output_tokens")) or 0),
        cost=cost or 0.0,
        duration_ms=int(_num(obj.get("duration_ms")) or 0),
        sha256=str(sha).lower() if isinstance(sha, str) and sha else None,
        raw=MappingProxyType(obj),
        cost_eur=cost_eur,
    )


def find_replay(entries: Iterable[HistoryEntry], sha256: str) -> HistoryEntry | None:
    """The latest complete verdict on the same proposal text."""
    found: HistoryEntry | None = None
    for entry in entries:
        if entry.sha256 == sha256.lower() and entry.complete:
            found = entry
    return found


def replay(entry: HistoryEntry, proposal: Proposal) -> CouncilResult:
    """The stored verdict, as a result (free: no tokens, no cost)."""
    personas = entry.raw.get("personas")
    verdicts: list[PersonaVerdict] = []
    for name, score in entry.scores.items():
        detail = personas.get(name) if isinstance(personas, dict) else None
        reasons: tuple[str, ...] = ()
        adjustments: tuple[str, ...] = ()
        if isinstance(detail, dict):
            found_reasons = reason_texts(detail.get("reasons"), "reasons")
            found_adjustments = reason_texts(detail.get("adjustments"), "adjustments")
            reasons = found_reasons if isinstance(found_reasons, tuple) else ()
            adjustments = found_adjustments if isinstance(found_adjustments, tuple) else ()
        verdicts.append(PersonaVerdict(name, score, reasons, adjustments))
    status = _verdict_of(entry)
    return CouncilResult(
        timestamp=entry.timestamp,
        ticket=entry.ticket or proposal.ticket,
        source=proposal.source,
        status=status,
        global_score=entry.global_score,
        verdicts=tuple(verdicts),
        failures=(),
        model=entry.model or "",
        input_tokens=0,
        output_tokens=0,
        cost=0.0,
        duration_ms=0,
        sha256=proposal.sha256,
        replayed_from=entry.timestamp,
    )


def _verdict_of(entry: HistoryEntry) -> Status:
    """Our status for a stored line: ours as written; the real script's ``APPROVED`` is a Go,
    its ``REWORK`` (average under 8) is placed by its score like ours (no score: adjustments)."""
    if entry.status == "APPROVED":
        return "go"
    if entry.status == "REWORK":
        score = entry.global_score
        if score is not None and score < GO_WITH_ADJUSTMENTS:
            return "rejected"
        return "go_with_adjustments"
    text = entry.status.lower()
    for status in _COMPLETE:
        if text == status:
            return status
    return "incomplete"


def spent_on(entries: Iterable[HistoryEntry], day: date) -> float:
    """What the Council's sittings cost on ``day`` (local)."""
    return sum(e.cost for e in entries if e.at is not None and e.at.date() == day)


def kill_switch(env: Mapping[str, str]) -> str | None:
    """Why the Council is off (``FACTORY_COUNCIL_DISABLE`` set to anything but 0/false/no/off),
    or None."""
    switch = env.get(KILL_SWITCH_ENV, "").strip().lower()
    if switch and switch not in {"0", "false", "no", "off"}:
        return (
            f"the Council is disabled ({KILL_SWITCH_ENV}={env[KILL_SWITCH_ENV]}); "
            f"unset {KILL_SWITCH_ENV} to let it sit"
        )
    return None


def guard(env: Mapping[str, str], settings: CouncilSettings, spent_today: float) -> str | None:
    """Why the Council must not sit now (kill switch, daily cap), or None."""
    switched_off = kill_switch(env)
    if switched_off is not None:
        return switched_off
    cap = settings.daily_cap_usd
    if cap is not None and spent_today >= cap:
        return (
            f"the Council's daily cap is reached: ${spent_today:.4f} spent today of "
            f"${cap:.2f}; raise [council] daily_cap_usd or wait until tomorrow"
        )
    return None
