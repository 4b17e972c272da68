"""The header: the factory summed up in one to three lines, whatever the terminal's width.

It shows named *segments* (title, agents, claims, sessions, problems, ...), packed left to right
and wrapped between segments, never inside one. Later features add their own segment (``ask``,
``spend``) with :meth:`SummaryBar.set_segment`; :func:`fleet_segments` builds the fleet's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not the fleet's
    from factory_tui.core.fleet import Fleet

__all__ = ["SEGMENT_ORDER", "SummaryBar", "ask_segment", "fleet_segments", "waiting_segments"]

#: Where each segment goes; unknown keys go last, in the order they were set.
SEGMENT_ORDER = (
    "title",
    "agents",
    "claims",
    "sessions",
    "problems",
    "ask",
    "spend",
    "changed",
    "loading",
)
SEPARATOR = "  │  "


def _count(n: int, word: str, alarm: str | None = None) -> Content:
    """``3 working``; when ``alarm`` is given and n > 0 the piece is drawn in that style."""
    text = f"{n} {word}"
    if n and alarm:
        return Content.styled(text, alarm)
    if not n:
        return Content.styled(text, "$text-muted")
    return Content(text)


def _join(label: str, pieces: list[Content]) -> Content:
    parts: list[Content | str | tuple[str, str]] = [(label, "bold")]
    for piece in pieces:
        parts.extend([" ", piece])
    return Content.assemble(*parts)


def waiting_segments() -> dict[str, Content | None]:
    """The fleet's segments of the header before the first load: counts read ``…``."""
    waiting = Content.styled("…", "$text-muted")
    return {
        "agents": _join("AGENTS", [waiting]),
        "claims": _join("CLAIMS", [waiting]),
        "sessions": None,
        "problems": None,
    }


def fleet_segments(fleet: Fleet, *, loaded: bool) -> dict[str, Content | None]:
    """The fleet's segments of the header (before the first load, :func:`waiting_segments`)."""
    if not loaded:
        return waiting_segments()
    c = fleet.counts
    agents = _join(
        "AGENTS",
        [
            _count(c.get("agents_working", 0), "working"),
            _count(c.get("agents_idle", 0), "idle"),
            _count(c.get("agents_crashed", 0), "CRASHED", "bold reverse $agent-crashed"),
            _count(c.get("agents_stale", 0), "STALE", "bold reverse $agent-stale"),
        ],
    )
    claims = _join(
        "CLAIMS",
        [
            _count(c.get("claims_available", 0), "available", "bold $claim-available"),
            _count(c.get("claims_claimed", 0), "claimed"),
            _count(c.get("claims_stale", 0), "STALE", "bold reverse $claim-stale"),
        ],
    )
    crashed = c.get("sessions_crashed", 0)
    sessions = _join(
        "SESSIONS",
        [
            _count(
                crashed,
                "CRASHED" if crashed else "crashed",
                "bold reverse $agent-crashed",
            )
        ],
    )
    pieces = [_count(c.get("problems", 0), "found", "bold $warning")]
    if c.get("lint", 0):
        pieces.append(Content.styled(f" ({c['lint']} lint)", "$text-muted"))
    problems = _join("PROBLEMS", pieces)
    return {"agents": agents, "claims": claims, "sessions": sessions, "problems": problems}


class SummaryBar(Widget):
    """Segments packed into as few lines as the width allows."""

    DEFAULT_CSS = """
    SummaryBar {
        height: auto;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._segments: dict[str, Content] = {}

    @property
    def segments(self) -> dict[str, Content]:
        return dict(self._segments)

    def set_segment(self, key: str, content: Content | None) -> None:
        """Show ``content`` as segment ``key`` (``None`` removes it)."""
        current = self._segments.get(key)
        if content is None:
            if current is None:
                return
            del self._segments[key]
        else:
            if current is not None and current == content:
                return
            self._segments[key] = content
        self.refresh(layout=True)

    def set_segments(self, segments: dict[str, Content | None]) -> None:
        for key, content in segments.items():
            self.set_segment(key, content)

    def _ordered(self) -> list[Content]:
        known = [self._segments[k] for k in SEGMENT_ORDER if k in self._segments]
        extra = [v for k, v in self._segments.items() if k not in SEGMENT_ORDER]
        return known + extra

    def pack(self, width: int) -> list[Content]:
        """Lines of segments, each line at most ``width`` cells where the segments allow."""
        lines: list[Content] = []
        line: Content | None = None
        for segment in self._ordered():
            if line is None:
                line = segment
            elif line.cell_length + len(SEPARATOR) + segment.cell_length <= width:
                line = Content.assemble(line, (SEPARATOR, "$text-muted"), segment)
            else:
                lines.append(line)
                line = segment
        if line is not None:
            lines.append(line)
        return lines or [Content("")]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.pack(width))

    def render(self) -> Content:
        return Content("\n").join(self.pack(self.content_size.width or self.size.width))


def changed_segment(at: datetime | None) -> Content | None:
    if at is None:
        return None
    return Content.assemble(("changed ", "$text-muted"), f"{at:%H:%M:%S}")


# -- the approval queue's segment (issue 5) -------------------------------------------------------


def ask_segment(
    ask_waiting: int | None, show_to_review: int = 0, *, failed: bool = False
) -> Content:
    """``PRS 3 Ask waiting 1 Show to review``; ``…`` before the first load, ``?`` when no
    source answered (the PRs view says why)."""
    if failed:
        return _join("PRS", [Content.styled("? (see the PRs view)", "bold $warning")])
    if ask_waiting is None:
        return _join("PRS", [Content.styled("…", "$text-muted")])
    pieces = [_count(ask_waiting, "Ask waiting", "bold reverse $warning")]
    if show_to_review:
        pieces.append(_count(show_to_review, "Show to review", "$accent"))
    return _join("PRS", pieces)
