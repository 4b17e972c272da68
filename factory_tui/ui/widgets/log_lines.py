"""One line of the operations log as styled text, for the log view.

Every character of the line is kept and drawn literally (control characters become ``\\xNN``);
the structure is light: the timestamp dim, the event name coloured by its kind, ``key=`` names
muted, an error's line tinted, search matches highlighted. The colours come from the log view's
component classes, resolved once per theme by :func:`line_styles`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from factory_tui.core.safe import printable

__all__ = ["event_kind", "line_styles", "line_text", "marked", "wrapped_row"]

_FIELD_KEY = re.compile(r"(?:(?<=\s)|^)([^\s=|]+)=")
_CRASHED = re.compile(r"(?:(?<=\s)|^)status=crashed\b")
_BACKGROUND_CLASSES = frozenset(("log-view--error-line", "log-view--current", "log-view--match"))


def event_kind(name: str, rest: str) -> str:
    """The component class of an event name."""
    if name == "ERROR" or (name == "SESSION-END" and "status=crashed" in rest):
        return "log-view--error"
    if name.startswith(("CLAIM", "RELEASE", "PHASE-")):
        return "log-view--claim"
    if name.startswith("STEP-"):
        return "log-view--step"
    if name.startswith("SESSION-") or name in ("RECOVERY", "CHECKPOINT"):
        return "log-view--session"
    return "log-view--event"


def line_styles(classes: Iterable[str], style_of: Callable[[str], Style]) -> dict[str, Style]:
    """Rich styles of the component ``classes`` as ``style_of`` resolves them against the widget
    (so ``$text-muted`` and alpha colours blend). Span styles lose their background: a tinted
    line keeps its tint under them."""
    styles: dict[str, Style] = {}
    for name in classes:
        full = style_of(name)
        if name in _BACKGROUND_CLASSES:
            styles[name] = full
        else:
            styles[name] = full.without_color + Style(color=full.color)
    return styles


def line_text(
    raw: str,
    styles: dict[str, Style],
    *,
    plain: Style,
    current: bool = False,
    search: re.Pattern[str] | None = None,
) -> Text:
    """One log line as styled text: every character of the line, literally. ``plain``: the
    view's own style; ``current``: the line of the current search match; ``search``: what to
    highlight."""
    safe = printable(raw).expandtabs(4)
    parts = safe.split("|", 2)
    kind = None
    if len(parts) >= 2:
        rest = parts[2] if len(parts) == 3 else ""
        kind = event_kind(parts[1].strip().upper(), rest)
    if current:
        line_style = styles["log-view--current"]
    elif kind == "log-view--error":
        line_style = styles["log-view--error-line"]
    else:
        line_style = plain
    text = Text(no_wrap=True, end="", style=line_style)
    if kind is None:
        text.append(safe)
    else:
        sep = styles["log-view--separator"]
        text.append(parts[0], styles["log-view--timestamp"])
        text.append("|", sep)
        text.append(parts[1], styles[kind])
        if len(parts) == 3:
            text.append("|", sep)
            offset = len(text)
            text.append(parts[2])
            for m in _FIELD_KEY.finditer(parts[2]):
                text.stylize(styles["log-view--key"], offset + m.start(), offset + m.end())
            if kind == "log-view--error":
                for m in _CRASHED.finditer(parts[2]):
                    text.stylize(styles[kind], offset + m.start(), offset + m.end())
    if search is not None:
        for m in search.finditer(safe):
            text.stylize(styles["log-view--match"], m.start(), m.end())
    return text


def marked(strip: Strip, scroll_x: int, width: int, seen: int, base: Style) -> Strip:
    """The visible part of a drawn line (``width`` cells from ``scroll_x``; ``seen`` of them
    on screen), with an ellipsis where it goes on beyond the view's edge (on the right, and on
    the left once scrolled sideways): a long line is never cut silently."""
    visible = strip.crop_extend(scroll_x, scroll_x + width, base)
    more_right = strip.cell_length > scroll_x + seen
    more_left = scroll_x > 0 and strip.cell_length > 0
    if seen < 2 or not (more_right or more_left):
        return visible
    mark = Strip([Segment("…", base + Style(dim=True))], 1)
    middle = visible.crop(1 if more_left else 0, seen - 1 if more_right else seen)
    parts = [mark] if more_left else []
    parts += [middle, *([mark] if more_right else []), visible.crop(seen, width)]
    return Strip.join(parts)


def wrapped_row(text: str, y: int, width: int, base: Style, console: Console) -> Strip:
    """Row ``y`` of ``text`` (agent-written: made printable) wrapped to ``width``, in ``base``
    (blank past its end)."""
    lines = Text(printable(text)).wrap(console, max(width - 1, 20))
    if y >= len(lines):
        return Strip.blank(width, base)
    line = lines[y]
    line.stylize(base)
    return Strip(line.render(console)).crop_extend(0, width, base)
