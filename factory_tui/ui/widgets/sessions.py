"""Sessions: running, crashed and recently ended, with durations; the highlighted one's whole
story (and, for a crashed one, its checkpoint: steps done and remaining, blockers) below."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.fleet import Fleet, SessionView, fmt_age
from factory_tui.core.timeparse import parse_ts
from factory_tui.ui.widgets.fields import Field, FieldList
from factory_tui.ui.widgets.fleet_view import READING, FleetTableView, empty_text
from factory_tui.ui.widgets.quiet import update_if_changed
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import (
    SESSION_BADGES,
    badge,
    clip,
    lit,
    matches,
    missing_lines,
    short_ts,
    styled_text,
)

__all__ = ["SessionsView", "checkpoint_lines", "order_sessions", "session_detail"]

COLUMNS = (
    ("status", "status"),
    ("task", "task"),
    ("instance", "instance"),
    ("started", "started"),
    ("duration", "duration"),
    ("last step", "step"),
    ("checkpoint", "checkpoint"),
    ("why", "why"),
)
WHY_WIDTH = 200
#: The columns' widths (see :class:`Fit`): the badge, times and counts fixed, the texts sharing
#: the rest, the why the most; cut with an ellipsis, whole in the detail below.
FITS = (
    Fit(9),
    Fit(10, 3, 40, floor=10),
    Fit(8, 1, 16),
    Fit(11),
    Fit(8, 1, 12),
    Fit(8, 2, 28),
    Fit(8, 1, 28),
    Fit(12, 6, WHY_WIDTH),
)
#: Below this width the table leaves out the last step and the checkpoint (the detail below has
#: both), so that at 80 columns the why keeps room to be read.
NARROW_BELOW = 100
NARROW_GONE = frozenset({"step", "checkpoint"})
#: Ended sessions shown at most (the newest); crashed and running ones are always shown.
MAX_ENDED = 200


def order_sessions(sessions: tuple[SessionView, ...]) -> list[SessionView]:
    """Crashed first (the longest silent first), then running, then ended (newest first)."""

    def when(raw: str | None) -> datetime:
        return (parse_ts(raw) if raw else None) or datetime.min

    crashed = sorted(
        (s for s in sessions if s.status == "crashed"), key=lambda s: when(s.last_event_at)
    )
    running = sorted(
        (s for s in sessions if s.status == "running"), key=lambda s: when(s.started_at)
    )
    ended = sorted(
        (s for s in sessions if s.status == "ended"),
        key=lambda s: when(s.ended_at),
        reverse=True,
    )
    return [*crashed, *running, *ended]


def checkpoint_summary(cp: Checkpoint | None) -> str:
    if cp is None:
        return "—"
    text = f"{len(cp.steps_completed)} done · {len(cp.steps_remaining)} left"
    if cp.blockers:
        text += f" · {len(cp.blockers)} blocker{'s' if len(cp.blockers) > 1 else ''}"
    return text


def _row(view: SessionView, now: datetime) -> list[Text]:
    word, style = SESSION_BADGES.get(view.status, (view.status.upper(), "bold"))
    step = "—"
    if view.last_step:
        step = f"{lit(view.last_step)} {view.last_step_state or ''}".strip()
    duration = fmt_age(view.duration) if view.duration is not None else "—"
    if view.status == "running":
        duration += " so far"
    return [
        styled_text((word, style)),
        styled_text(lit(view.task)),
        styled_text(lit(view.instance) or "—"),
        styled_text(short_ts(view.started_at, now)),
        styled_text(duration),
        styled_text(step),
        styled_text(checkpoint_summary(view.checkpoint)),
        styled_text(clip(lit(view.why), WHY_WIDTH)),
    ]


def checkpoint_lines(cp: Checkpoint) -> list[Field]:
    """A checkpoint as the engineer needs it to decide: where it stopped and what is left."""
    muted = "$text-muted"
    fields: list[Field] = [
        ("checkpoint", Content.assemble(lit(cp.name), (f"  at {lit(cp.timestamp)}", muted))),
        (
            "steps done",
            Content.styled("✓ " + ", ".join(lit(s) for s in cp.steps_completed), "$success")
            if cp.steps_completed
            else Content.styled("none", muted),
        ),
        ("remaining", Content(", ".join(lit(s) for s in cp.steps_remaining) or "none")),
    ]
    if cp.blockers:
        fields.append(
            ("blockers", Content.styled("; ".join(lit(b) for b in cp.blockers), "bold $warning"))
        )
    facts = [
        ("branch", cp.branch),
        ("sha", cp.git_sha),
        ("pr", None if cp.pr_number is None else f"#{cp.pr_number}"),
        ("notes", cp.notes),
    ]
    if cp.claimed_phase:
        phase = cp.claimed_phase
        facts.append(("claim", f"{phase.get('mega_id', '?')} phase {phase.get('phase_id', '?')}"))
    fields.extend((label, Content(lit(value))) for label, value in facts if value)
    return fields


def session_detail(view: SessionView, now: datetime) -> list[Field]:
    muted = "$text-muted"
    step = f"{lit(view.last_step) or '—'} {lit(view.last_step_state)}".strip()
    fields: list[Field] = [
        ("", Content.assemble(badge(SESSION_BADGES, view.status), "  ", (lit(view.task), "bold"))),
        ("why", Content(lit(view.why))),
        ("instance", Content(lit(view.instance) or "—")),
        ("branch", Content(lit(view.branch) or "—")),
        (
            "started",
            Content.assemble(
                lit(view.started_at),
                ("  ended ", muted),
                lit(view.ended_at) or "—",
                ("  duration ", muted),
                fmt_age(view.duration) if view.duration is not None else "—",
            ),
        ),
        (
            "last step",
            Content.assemble(
                step, (f"  at {lit(view.last_step_at)}" if view.last_step_at else "", muted)
            ),
        ),
        ("pr", Content(lit(view.pr) or "—")),
        ("log", Content(f"{lit(view.source)}:{view.start_line}")),
    ]
    if view.last_error:
        fields.append(("last error", Content.styled(lit(view.last_error), "$error")))
    if view.recovered_from:
        fields.append(("recovered", Content(f"from {lit(view.recovered_from)}")))
    if view.recovered_by:
        fields.append(("recovered", Content(f"by {lit(view.recovered_by)}")))
    if view.checkpoint is not None:
        fields.extend(checkpoint_lines(view.checkpoint))
    elif view.status == "crashed":
        fields.append(("checkpoint", Content.styled("none for this task", muted)))
    return fields


class SessionTable(KeyedTable):
    """The sessions; enter opens the detail of the session's agent. Widths follow the table's
    width only; a long why is cut with an ellipsis and read whole in the detail below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Agent details", id="sessions.select"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, id=id, fits=FITS)

    def fits_for(self, width: int) -> Sequence[Fit | None]:
        """Every column from ``NARROW_BELOW`` cells; narrower, without ``NARROW_GONE``."""
        if width >= NARROW_BELOW:
            return FITS
        return [
            None if key in NARROW_GONE else fit
            for (_label, key), fit in zip(COLUMNS, FITS, strict=True)
        ]


class SessionsView(FleetTableView):
    DEFAULT_CSS = """
    SessionsView { height: 1fr; }
    SessionsView > #session-detail {
        height: 40%;
        min-height: 4;
        max-height: 18;
        border-top: solid $panel-lighten-2;
    }
    SessionsView > #sessions-empty { color: $text-muted; padding: 1 2; height: auto; }
    SessionsView > #sessions-more { height: 1; padding: 0 1; display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._by_key: dict[str, SessionView] = {}
        self._rows: dict[str, tuple[SessionView, str, list[Text]]] = {}
        self.hidden_ended = 0

    def _row(self, view: SessionView, now: datetime) -> list[Text]:
        """A session's cells, rebuilt only when the session or its shown duration changed."""
        shown = fmt_age(view.duration) if view.duration is not None else ""
        cached = self._rows.get(view.key)
        if cached is not None and cached[0] == view and cached[1] == shown:
            return cached[2]
        cells = _row(view, now)
        self._rows[view.key] = (view, shown, cells)
        return cells

    def compose(self) -> ComposeResult:
        yield Static(Content(READING), id="sessions-empty")
        yield SessionTable(id="sessions-table")
        yield Static(Content(""), id="sessions-more")
        yield FieldList(id="session-detail")

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        self._fleet, self._loaded = fleet, loaded
        now = fleet.generated_at
        shown = [
            s
            for s in order_sessions(fleet.sessions)
            if matches(self.filter_text, s.task, s.instance, s.status, s.branch, s.last_step)
        ]
        ended = [s for s in shown if s.status == "ended"]
        self.hidden_ended = max(0, len(ended) - MAX_ENDED)
        if self.hidden_ended:
            shown = shown[: len(shown) - self.hidden_ended]
        self._by_key = {s.key: s for s in shown}
        self.table.sync([(s.key, self._row(s, now)) for s in shown])
        self._rows = {key: row for key, row in self._rows.items() if key in self._by_key}
        more = self.query_one("#sessions-more", Static)
        more.display = bool(self.hidden_ended)
        if self.hidden_ended:
            update_if_changed(
                more,
                Content.styled(
                    f"… and {self.hidden_ended} older ended sessions, not shown here "
                    "(factory-tui status --json lists them)",
                    "$text-muted",
                ),
            )
        empty = self.query_one("#sessions-empty", Static)
        update_if_changed(
            empty,
            empty_text(
                loaded=loaded,
                found=bool(fleet.sessions),
                noun="session",
                filter_text=self.filter_text,
                missing=missing_lines(fleet.missing, "log"),
                missing_intro="No sessions: ",
                nothing="No sessions in operations.log yet (no SESSION-START).",
            ),
        )
        empty.display = not shown
        self.show_detail()

    def show_detail(self) -> None:
        key = self.table.cursor_key()
        view = self._by_key.get(key) if key else None
        if view is None or self._fleet is None:
            return
        self.query_one("#session-detail", FieldList).show(
            session_detail(view, self._fleet.generated_at)
        )

    def select_key(self, key: str) -> bool:
        return self.table.select_key(key)

    def restyle(self) -> None:
        self._rows.clear()
        super().restyle()
