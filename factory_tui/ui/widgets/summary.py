"""The header: the factory summed up in at most two lines, whatever the terminal's width.

It shows named *segments* (title, agents, claims, sessions, problems, ...), packed left to right
and wrapped between segments, never inside one. A segment may come with a short form (zero counts
left out, shorter words): when the full forms need more than :data:`MAX_LINES` lines, every
segment takes its short form, then the title and the time of the last change go, and what still
does not fit is cut at the last line's end. Later features add their own segment (``ask``,
``spend``) with :meth:`SummaryBar.set_segment`; :func:`fleet_segments` builds the fleet's.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from factory_tui.core.progress import progress_words, time_left
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.quiet import same_content

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not the fleet's
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import Queue

__all__ = [
    "SEGMENT_ORDER",
    "SummaryBar",
    "ask_segment",
    "fleet_segments",
    "fleet_short_segments",
    "progress_segment",
    "queue_segment",
    "time_left",
    "title_segment",
    "waiting_segments",
]

#: Where each segment goes; unknown keys go last, in the order they were set.
SEGMENT_ORDER = (
    "title",
    "agents",
    "claims",
    "sessions",
    "problems",
    "remote",
    "ask",
    "spend",
    "changed",
    "action",
    "loading",
)
SEPARATOR = "  │  "
SHORT_SEPARATOR = " │ "
MAX_LINES = 2
"""The header's most lines: at 80x24 the views keep the rest."""
SPARED = ("title", "changed")
"""The segments left out when even the short forms need more than :data:`MAX_LINES` lines."""


def _count(n: int, word: str, alarm: str | None = None) -> Content:
    """``3 working``; when ``alarm`` is given and n > 0 the piece is drawn in that style."""
    text = f"{n} {word}" if word else str(n)
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


def _short_join(label: str, counts: list[tuple[int, str, str | None]]) -> Content:
    """``AGENTS 4 CRASHED 1 STALE``: the non-zero counts only (``AGENTS 0`` when all are)."""
    pieces = [_count(n, word, alarm) for n, word, alarm in counts if n]
    return _join(label, pieces or [Content.styled("0", "$text-muted")])


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
    # Agents waiting for the engineer lead the header, and only when there are some.
    waiting = c.get("agents_waiting", 0)
    agents = _join(
        "AGENTS",
        [
            *([_count(waiting, "WAITING FOR YOU", "bold reverse $warning")] if waiting else []),
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
    return {
        "agents": agents,
        "claims": claims,
        "sessions": sessions,
        "problems": problems,
        "remote": remote_segment(fleet),
    }


def remote_segment(fleet: Fleet) -> Content | None:
    """``REMOTE unreachable since …, last known``: only while the shared server cannot be
    reached (what the views show of it is then its last known state)."""
    remote = fleet.remote
    if remote is None or remote.unreachable_since is None:
        return None
    return Content.styled(
        f"REMOTE unreachable since {remote.unreachable_since}, last known", "bold $warning"
    )


def fleet_short_segments(fleet: Fleet, *, loaded: bool) -> dict[str, Content | None]:
    """The short forms of :func:`fleet_segments` (for a narrow header)."""
    if not loaded:
        return waiting_segments()
    c = fleet.counts
    crashed, stale = "bold reverse $agent-crashed", "bold reverse $agent-stale"
    return {
        "agents": _short_join(
            "AGENTS",
            [
                (c.get("agents_waiting", 0), "WAITING", "bold reverse $warning"),
                (c.get("agents_working", 0), "working", None),
                (c.get("agents_idle", 0), "idle", None),
                (c.get("agents_crashed", 0), "CRASHED", crashed),
                (c.get("agents_stale", 0), "STALE", stale),
            ],
        ),
        "claims": _short_join(
            "CLAIMS",
            [
                (c.get("claims_available", 0), "free", "bold $claim-available"),
                (c.get("claims_claimed", 0), "claimed", None),
                (c.get("claims_stale", 0), "STALE", "bold reverse $claim-stale"),
            ],
        ),
        "sessions": _short_join("SESSIONS", [(c.get("sessions_crashed", 0), "CRASHED", crashed)]),
        "problems": _short_join("PROBLEMS", [(c.get("problems", 0), "", "bold $warning")]),
        "remote": remote_segment(fleet),
    }


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
        self._short: dict[str, Content] = {}
        self._progress_from: dict[str, tuple[float, int]] = {}
        """Each progress's first report: when, and how far it was then (for the time left)."""

    @property
    def segments(self) -> dict[str, Content]:
        return dict(self._segments)

    def set_segment(self, key: str, content: Content | None, short: Content | None = None) -> None:
        """Show ``content`` as segment ``key`` (``None`` removes it); ``short`` is its form for a
        narrow header (default: ``content`` itself)."""
        if self._store(key, content, short):
            self._changed()

    def set_segments(
        self,
        segments: dict[str, Content | None],
        short: dict[str, Content | None] | None = None,
    ) -> None:
        changed = False
        for key, content in segments.items():
            changed |= self._store(key, content, (short or {}).get(key))
        if changed:
            self._changed()

    def _store(self, key: str, content: Content | None, short: Content | None) -> bool:
        """Keep segment ``key``; True if what it shows changed (its styles too)."""
        current = self._segments.get(key)
        if content is None:
            self._short.pop(key, None)
            if current is None:
                return False
            del self._segments[key]
            return True
        short = content if short is None else short
        if same_content(current, content) and same_content(self._short.get(key), short):
            return False
        self._segments[key] = content
        self._short[key] = short
        return True

    def _changed(self) -> None:
        """Repaint; lay the screen out again only if the header's height changes (a layout
        reflows every view, and a count changes far more often than the header's lines)."""
        width = self.content_size.width
        same_height = bool(width) and len(self.pack(width)) == self.content_size.height
        self.refresh(layout=not same_height)

    def show_progress(self, source: str, done: int, total: int) -> None:
        """How far the first read (or the log's indexing) is, and the time left at the rate
        so far."""
        now = time.monotonic()
        since, done_then = self._progress_from.setdefault(source, (now, done))
        left = time_left(done - done_then, now - since, total - done)
        self.set_segment("loading", progress_segment(source, done, total, left))

    def show_fleet(self, fleet: Fleet, *, loaded: bool, last_change: datetime | None) -> None:
        """The fleet's counts and the time of its last change."""
        self.set_segments(
            fleet_segments(fleet, loaded=loaded), fleet_short_segments(fleet, loaded=loaded)
        )
        self.set_segment(
            "changed", changed_segment(last_change), changed_short_segment(last_change)
        )

    def show_queue(self, queue: Queue | None) -> None:
        """The PR queue's Ask count (see :func:`queue_segment`)."""
        self.set_segment("ask", queue_segment(queue), queue_segment(queue, short=True))

    def _ordered(self, forms: dict[str, Content]) -> list[Content]:
        known = [forms[k] for k in SEGMENT_ORDER if k in forms]
        extra = [v for k, v in forms.items() if k not in SEGMENT_ORDER]
        return known + extra

    @staticmethod
    def _pack(segments: list[Content], width: int, separator: str) -> list[Content]:
        lines: list[Content] = []
        line: Content | None = None
        for segment in segments:
            if line is None:
                line = segment
            elif line.cell_length + len(separator) + segment.cell_length <= width:
                line = Content.assemble(line, (separator, "$text-muted"), segment)
            else:
                lines.append(line)
                line = segment
        if line is not None:
            lines.append(line)
        return lines

    def pack(self, width: int) -> list[Content]:
        """At most :data:`MAX_LINES` lines of segments, each at most ``width`` cells: the full
        forms if they fit, else the short forms, else those but the :data:`SPARED` ones, the
        overflow joined to the last line and cut."""
        lines = self._pack(self._ordered(self._segments), width, SEPARATOR)
        if len(lines) > MAX_LINES:
            lines = self._pack(self._ordered(self._short), width, SHORT_SEPARATOR)
        if len(lines) > MAX_LINES:
            needed = {k: v for k, v in self._short.items() if k not in SPARED}
            lines = self._pack(self._ordered(needed), width, SHORT_SEPARATOR)
        if len(lines) > MAX_LINES:
            last = Content(SHORT_SEPARATOR).join(lines[MAX_LINES - 1 :])
            lines = [*lines[: MAX_LINES - 1], last]
        if width > 1:
            lines = [
                line if line.cell_length <= width else line.truncate(width, ellipsis=True)
                for line in lines
            ]
        return lines or [Content("")]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.pack(width))

    def render(self) -> Content:
        return Content("\n").join(self.pack(self.content_size.width or self.size.width))


def progress_segment(
    source: str, done: int, total: int, left: float | None = None
) -> Content | None:
    """:func:`~factory_tui.core.progress.progress_words`, muted; ``None`` once the log's
    indexing is done (the segment goes)."""
    words = progress_words(source, done, total, left)
    return None if words is None else Content.styled(words, "$text-muted")


def action_segment(words: str | None) -> Content | None:
    """A long action's progress (``releasing 37 of 200…``), in the warning colour: the
    factory is being changed; None when there is none."""
    return None if words is None else Content.styled(f"{words}…", "bold $warning")


def title_segment(root: Path, read_only: bool, *, short: bool = False) -> Content:
    """``factory-tui ROOT``; the short form is the root's name in the accent."""
    name = printable(root.name or str(root))
    parts: list[str | tuple[str, str]] = (
        [(name, "bold $accent")] if short else [("factory-tui", "bold $accent"), " ", name]
    )
    if read_only:
        parts.append((" read-only" if short else "  read-only", "$text-muted"))
    return Content.assemble(*parts)


def changed_segment(at: datetime | None) -> Content | None:
    if at is None:
        return None
    return Content.assemble(("changed ", "$text-muted"), f"{at:%H:%M:%S}")


def changed_short_segment(at: datetime | None) -> Content | None:
    return None if at is None else Content(f"{at:%H:%M}")


# -- the approval queue's segment (issue 5) -------------------------------------------------------


def ask_segment(
    ask_waiting: int | None,
    show_to_review: int = 0,
    *,
    failed: bool = False,
    short: bool = False,
) -> Content:
    """``PRS 3 Ask waiting 1 Show to review``; ``…`` before the first load, ``?`` when no
    source answered (the PRs view says why). The short form: ``PRS 3 Ask 1 Show``."""
    if failed:
        why = "?" if short else "? (see the PRs view)"
        return _join("PRS", [Content.styled(why, "bold $warning")])
    if ask_waiting is None:
        return _join("PRS", [Content.styled("…", "$text-muted")])
    pieces = [_count(ask_waiting, "Ask" if short else "Ask waiting", "bold reverse $warning")]
    if show_to_review:
        pieces.append(_count(show_to_review, "Show" if short else "Show to review", "$accent"))
    return _join("PRS", pieces)


def queue_segment(queue: Queue | None, *, short: bool = False) -> Content:
    """The loaded queue's :func:`ask_segment`: ``?`` when no source answered (or the load itself
    failed), for the count would be a guess."""
    failed = queue is None or (not queue.sources and bool(queue.notices))
    waiting = queue.ask_waiting if queue is not None else None
    show = len(queue.show) if queue is not None else 0
    return ask_segment(waiting, show, failed=failed, short=short)
