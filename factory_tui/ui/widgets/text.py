"""Turning fleet values into screen text: literal agent text, status badges, ages, step rows.

Everything an agent wrote (ids, titles, branches, log values, file names) goes through
:func:`lit`: control characters become visible escapes and the result is only ever put into a
``Content``/``Text`` as plain characters, never parsed as markup. Colours are theme variables
(``$agent-crashed``...) resolved when the text is drawn; every status also reads in words.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.style import Style as RichStyle
from rich.text import Span, Text
from textual._context import active_app
from textual.content import Content
from textual.style import Style

from factory_tui.core.safe import printable
from factory_tui.core.steps import STEP_ORDER
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.core.oplog import Event

__all__ = [
    "AGENT_BADGES",
    "CLAIM_BADGES",
    "SESSION_BADGES",
    "Badge",
    "ago",
    "badge",
    "clip",
    "event_text",
    "lit",
    "matches",
    "missing_lines",
    "rich_style",
    "short_path",
    "short_ts",
    "step_row",
]

Badge = tuple[str, str]
"""The words a status reads as, and the style (theme variables) it is drawn in."""

AGENT_BADGES: dict[str, Badge] = {
    "waiting": ("? WAITING FOR YOU", "bold reverse $warning"),
    "crashed": ("✗ CRASHED", "bold reverse $agent-crashed"),
    "stale": ("! STALE", "bold reverse $agent-stale"),
    "working": ("● WORKING", "bold $agent-working"),
    "idle": ("○ IDLE", "bold $agent-idle"),
    "ended": ("· ENDED", "$agent-ended"),
}
CLAIM_BADGES: dict[str, Badge] = {
    "available": ("★ AVAILABLE", "bold reverse $claim-available"),
    "blocked": ("⊘ BLOCKED", "$claim-blocked"),
    "claimed": ("◆ CLAIMED", "$claim-claimed"),
    "stale": ("! STALE", "bold reverse $claim-stale"),
    "done": ("✓ DONE", "$claim-done"),
}
SESSION_BADGES: dict[str, Badge] = {
    "running": ("▶ RUNNING", "bold $agent-working"),
    "crashed": ("✗ CRASHED", "bold reverse $agent-crashed"),
    "ended": ("■ ENDED", "$agent-ended"),
}


def lit(value: object) -> str:
    """Agent-written text made safe to show: ``None`` is empty, control characters visible."""
    return printable("" if value is None else str(value)).replace("\n", " ").replace("\t", " ")


def short_path(path: str, root: str) -> str:
    """``path`` relative to the factory's root when under it, with ``~`` for the home folder
    otherwise (screens are narrow; the full path is in ``status --json``)."""
    root = root.rstrip("/")
    if root and path.startswith(root + "/"):
        return lit(path[len(root) + 1 :])
    home = os.path.expanduser("~").rstrip("/")
    if home and home != "/" and path.startswith(home + "/"):
        return lit("~" + path[len(home) :])
    return lit(path)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def badge(table: dict[str, Badge], status: str, *, width: int = 0) -> Content:
    """The badge of ``status``, padded to ``width`` (unknown statuses read as themselves)."""
    word, style = table.get(status, (status.upper(), "bold"))
    return Content.styled(word.ljust(width), style)


def rich_style(style: str) -> RichStyle:
    """A style string with theme variables, as a Rich style for ``Text`` (tables, trees).

    Resolved against the running app's current theme; re-resolve after a theme change.
    ``$text-muted`` is a contrast rule ("auto 60%"), not a colour: it becomes ``dim``.
    """
    try:
        theme = active_app.get().theme
    except LookupError:
        theme = ""
    return _rich_style(style, theme)


@functools.lru_cache(maxsize=512)
def _rich_style(style: str, _theme: str) -> RichStyle:
    """Parsing a style is slow next to building a cell: cached per theme."""
    try:
        return Style.parse(style.replace("$text-muted", "dim")).rich_style
    except Exception:
        return RichStyle.null()


def styled_text(*parts: str | tuple[str, str]) -> Text:
    """A Rich ``Text`` from literal pieces (never markup), pieces as ``(text, style)``."""
    chunks: list[str] = []
    spans: list[Span] = []
    at = 0
    for part in parts:
        piece, style = part if isinstance(part, tuple) else (part, "")
        if style and piece:
            spans.append(Span(at, at + len(piece), rich_style(style)))
        chunks.append(piece)
        at += len(piece)
    return Text("".join(chunks), no_wrap=True, overflow="ellipsis", end="", spans=spans)


def _age(delta: timedelta) -> str:
    """:func:`~factory_tui.core.fleet.fmt_age`, imported when first needed: the cockpit's first
    frame (it shows no age yet) imports this module but not the fleet's."""
    from factory_tui.core.fleet import fmt_age

    return fmt_age(delta)


def ago(now: datetime, raw: str | None) -> str:
    """``3m ago`` for a raw log/claim timestamp, ``—`` when absent or unreadable."""
    if not raw:
        return "—"
    at = parse_ts(raw)
    if at is None:
        return lit(raw)
    return _age(now - at) + " ago" if now >= at else "in the future"


def since(now: datetime, raw: str | None) -> str:
    """``3m`` for a raw timestamp (no ``ago``), ``—`` when absent."""
    if not raw:
        return "—"
    at = parse_ts(raw)
    return _age(now - at) if at is not None else "—"


def short_ts(raw: str, now: datetime | None = None) -> str:
    """``14:52`` for today's timestamps, ``02-15 14:52`` for older ones."""
    at = parse_ts(raw)
    if at is None:
        return lit(raw)
    if now is not None and at.date() == now.date():
        return f"{at:%H:%M}"
    return f"{at:%m-%d %H:%M}"


def step_row(step: str | None, index: int | None, state: str | None) -> Content:
    """The usual step order as a row of marks with the current step placed on it.

    ``●`` done, ``◉`` the step in progress, ``○`` still to come:
    ``●●◉○○○○○○○ quality-gate 3/10 started``.
    """
    total = len(STEP_ORDER)
    if step is None:
        return Content.assemble(("○" * total, "$text-muted"), " no step logged yet")
    if index is None:
        return Content.assemble(
            ("?" * 1, "bold"), " ", lit(step), (" (not in the usual step order)", "$text-muted")
        )
    finished = state == "done"
    marks: list[str | tuple[str, str]] = []
    if index:
        marks.append(("●" * index, "$success"))
    marks.append(("●" if finished else "◉", "bold $accent"))
    if total - index - 1:
        marks.append(("○" * (total - index - 1), "$text-muted"))
    word = "done" if finished else "started"
    return Content.assemble(*marks, " ", (lit(step), "bold"), f" {index + 1}/{total} {word}")


def event_text(event: Event, now: datetime | None, *, skip: Iterable[str] = ()) -> Content:
    """One log event: ``14:52 STEP-START step=push detail=...`` (values literal)."""
    skipped = set(skip)
    fields = " ".join(
        f"{lit(key)}={lit(value)}" for key, value in event.fields.items() if key not in skipped
    )
    return Content.assemble(
        (short_ts(event.ts, now), "$text-muted"), " ", (lit(event.name), "bold"), " ", fields
    )


def matches(needle: str, *haystack: object) -> bool:
    """Case-insensitive substring filter over a record's visible values (empty matches all)."""
    if not needle:
        return True
    lowered = needle.lower()
    return any(lowered in str(value).lower() for value in haystack if value is not None)


def missing_lines(missing: Iterable[str], *kinds: str) -> str:
    """The sentences of :attr:`Fleet.missing <factory_tui.core.fleet.Fleet.missing>` about
    ``kinds`` ("claims", "log"; none: all of them), one a line, paths shown literally: what a
    view looked for, where, and how to point it elsewhere. Empty when all were found."""
    starts = tuple({"claims": "no claims folder", "log": "no operations.log"}[k] for k in kinds)
    return "\n".join(s for s in missing if not starts or s.startswith(starts))
