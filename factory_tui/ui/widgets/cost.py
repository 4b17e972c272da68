"""The Cost view: today against the budgets, spend per hour over the last 24 h, and spend grouped
by agent, ticket, model or day over a period (:class:`CostPanel`).

The numbers come from :class:`~factory_tui.adapters.transcripts.CostTracker`, refreshed by the
app's ``cost`` thread worker, which posts a :class:`CostUpdated` holding a frozen
:class:`~factory_tui.ui.widgets.spend.CostSnapshot` (today's
:class:`~factory_tui.core.cost.CostView` and one :class:`~factory_tui.core.cost.CostReport` for
the grouping and period shown). Nothing here reads a file. Group keys (instance ids, tickets,
model names) come from agents' files: they are shown literally
(:func:`~factory_tui.ui.widgets.text.lit`), never as markup. The tables' rows are built in
:mod:`~factory_tui.ui.widgets.cost_table`; the spend shown outside this view (the header, the
panes, the budget banner) in :mod:`~factory_tui.ui.widgets.spend`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Sparkline, Static

from factory_tui.core.cost_records import PERIODS, Period
from factory_tui.core.cost_report import GROUPINGS, CostView, Grouping
from factory_tui.ui.widgets.cost_table import CostTable, report_rows, row_detail
from factory_tui.ui.widgets.spend import CostSnapshot, budget_words, unpriced_advice
from factory_tui.ui.widgets.table import KeyedTable
from factory_tui.ui.widgets.text import lit, short_path

__all__ = ["CostPanel"]


class CostPanel(Vertical):
    """The Cost view: today against the budgets, spend per hour over the last 24 h, and spend
    grouped by agent, ticket, model or day (``g``) over today, 7 days or everything (``p``)."""

    DEFAULT_CSS = """
    CostPanel { height: 1fr; }
    CostPanel > #cost-summary { height: auto; padding: 0 1; }
    CostPanel > #cost-spark-title { height: 1; padding: 0 1; margin-top: 1; }
    CostPanel > #cost-spark { height: 3; margin: 0 1; }
    CostPanel > #cost-spark-axis { height: 1; padding: 0 1; color: $text-muted; }
    CostPanel > #cost-grouping { height: 1; padding: 0 1; margin-top: 1; }
    CostPanel > KeyedTable { height: 1fr; min-height: 4; display: none; }
    CostPanel > KeyedTable.-active { display: block; }
    CostPanel > #cost-notes { height: auto; max-height: 20%; padding: 0 1; margin-bottom: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "cycle_grouping", "Group by", id="cost.grouping"),
        Binding("p", "cycle_period", "Period", id="cost.period"),
    ]

    class Changed(Message):
        """The engineer asked for another grouping or period: the app recomputes."""

        def __init__(self, grouping: Grouping, period: Period) -> None:
            super().__init__()
            self.grouping = grouping
            self.period = period

    def __init__(self, *, root: str = "", id: str | None = None) -> None:
        """``root``: the factory's folder, to show paths under it relative to it."""
        super().__init__(id=id)
        self.root = root
        self.grouping: Grouping = "agent"
        self.period: Period = "today"
        self.filter_text = ""
        self.snapshot: CostSnapshot | None = None
        self.error: str | None = None
        self.reading = True

    def compose(self) -> ComposeResult:
        yield Static(
            Content.styled("Reading Claude Code's transcripts…", "$text-muted"), id="cost-summary"
        )
        yield Static(Content(""), id="cost-spark-title")
        yield Sparkline([], id="cost-spark")
        yield Static(Content(""), id="cost-spark-axis")
        yield Static(self._grouping_line(), id="cost-grouping")
        yield Static(Content(""), id="cost-notes")
        for grouping in GROUPINGS:
            table = CostTable(grouping, id=f"cost-table-{grouping}")
            table.set_class(grouping == self.grouping, "-active")
            yield table

    # -- what the app calls ---------------------------------------------------------------------

    @property
    def table(self) -> KeyedTable:
        """The table of the grouping shown."""
        return self.query_one(f"#cost-table-{self.grouping}", KeyedTable)

    def show_snapshot(self, snapshot: CostSnapshot) -> None:
        self.snapshot, self.error, self.reading = snapshot, None, False
        self._draw()

    def show_error(self, error: str) -> None:
        self.error = error
        self.reading = False
        self._draw()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._draw()

    def restyle(self) -> None:
        self._draw()

    # -- keys -----------------------------------------------------------------------------------

    def action_cycle_grouping(self) -> None:
        index = GROUPINGS.index(self.grouping)
        self._switch(GROUPINGS[(index + 1) % len(GROUPINGS)], self.period)

    def action_cycle_period(self) -> None:
        index = PERIODS.index(self.period)
        self._switch(self.grouping, PERIODS[(index + 1) % len(PERIODS)])

    def _switch(self, grouping: Grouping, period: Period) -> None:
        had_focus = self.screen.focused is self.table
        self.table.remove_class("-active")
        self.grouping, self.period = grouping, period
        self.table.add_class("-active")
        if had_focus:
            self.table.focus()
        self.query_one("#cost-grouping", Static).update(self._grouping_line())
        self.post_message(self.Changed(grouping, period))

    # -- drawing --------------------------------------------------------------------------------

    def _grouping_line(self, computing: bool = False) -> Content:
        parts: list[str | tuple[str, str]] = [("By ", "bold")]
        for grouping in GROUPINGS:
            parts.append(
                (f"[{grouping}]", "bold $accent") if grouping == self.grouping else grouping
            )
            parts.append(" ")
        parts.append(("  over ", "bold"))
        for period in PERIODS:
            parts.append((f"[{period}]", "bold $accent") if period == self.period else period)
            parts.append(" ")
        return Content.assemble(*parts)

    def _draw(self) -> None:
        summary = self.query_one("#cost-summary", Static)
        notes = self.query_one("#cost-notes", Static)
        snapshot = self.snapshot
        if snapshot is None:
            if self.error is not None:
                summary.update(Content.assemble(("✗ ", "bold $error"), lit(self.error)))
            else:
                summary.update(Content.styled("Reading Claude Code's transcripts…", "$text-muted"))
            return
        summary.update(self._summary(snapshot))
        self._draw_spark(snapshot.view)
        current = (snapshot.grouping, snapshot.period) == (self.grouping, self.period)
        if current:
            self.table.sync(report_rows(snapshot, self.filter_text))
        notes.update(self._notes(snapshot, current))

    def _summary(self, snapshot: CostSnapshot) -> Content:
        view = snapshot.view
        lines: list[Content] = []
        amount = f"${view.today_usd:.2f}" + ("+" if view.unpriced_models else "")
        head: list[str | tuple[str, str]] = [("Today ", "bold"), (amount, "bold")]
        daily = next((s for s in view.budgets if s.scope == "daily"), None)
        if daily is not None:
            words, style = budget_words(daily)
            head.extend([f" of the ${daily.limit_usd:.2f} daily budget: ", (words, style)])
        else:
            head.append(("  (no daily budget: daily_budget_usd in factory.toml)", "$text-muted"))
        if view.agent_budget_usd is not None:
            head.append((f"  ·  ${view.agent_budget_usd:.2f} per agent", "$text-muted"))
        lines.append(Content.assemble(*head))
        for state in view.budgets:
            if state.level != "ok" and state.scope == "agent":
                words, style = budget_words(state)
                lines.append(Content.assemble("  ", (words, style), "  ", lit(state.message)))
        if view.unpriced_models:
            lines.append(
                Content.styled(
                    "  +: today's total leaves out the models without a price (see below)",
                    "$warning",
                )
            )
        if snapshot.files:
            where = short_path(snapshot.projects_dir, self.root)
            lines.append(
                Content.styled(
                    f"{snapshot.files} transcript file{'s' if snapshot.files != 1 else ''} in "
                    f"{snapshot.folders} project folder{'s' if snapshot.folders != 1 else ''} "
                    f"of {where}",
                    "$text-muted",
                )
            )
        else:
            lines.append(
                Content.styled(
                    f"No Claude Code transcript of this repo or its worktrees in "
                    f"{short_path(snapshot.projects_dir, self.root)} (CLAUDE_CONFIG_DIR or "
                    "claude_config_dir in factory.toml say where Claude Code keeps them; "
                    "`factory-tui doctor` lists every path it resolved)",
                    "$text-muted",
                )
            )
        return Content("\n").join(lines)

    def _draw_spark(self, view: CostView) -> None:
        values = list(view.per_hour)
        spark = self.query_one("#cost-spark", Sparkline)
        if list(spark.data or []) != values:
            spark.data = values
        peak = max(values) if values else 0.0
        title: list[str | tuple[str, str]] = [
            ("Spend per hour", "bold"),
            (f", last {len(values)} h", "$text-muted"),
        ]
        if peak > 0:
            at = view.per_hour_start + timedelta(hours=values.index(peak))
            title.append((f"  (peak ${peak:.2f} at {at:%H:00})", "$text-muted"))
        else:
            title.append(("  (nothing spent)", "$text-muted"))
        self.query_one("#cost-spark-title", Static).update(Content.assemble(*title))
        width = max(20, self.query_one("#cost-spark", Sparkline).size.width)
        left = f"{view.per_hour_start:%H:00}"
        right = "now"
        axis = left + " " * max(1, width - len(left) - len(right)) + right
        self.query_one("#cost-spark-axis", Static).update(Content(axis))

    def on_resize(self) -> None:
        if self.snapshot is not None:
            self._draw_spark(self.snapshot.view)

    def on_data_table_row_highlighted(self, event: CostTable.RowHighlighted) -> None:
        """The detail line follows the cursor."""
        event.stop()
        snapshot = self.snapshot
        if snapshot is not None and (snapshot.grouping, snapshot.period) == (
            self.grouping,
            self.period,
        ):
            self.query_one("#cost-notes", Static).update(self._notes(snapshot, True))

    def _notes(self, snapshot: CostSnapshot, current: bool) -> Content:
        report = snapshot.report
        lines: list[Content] = []
        if not current:
            lines.append(Content.styled("computing…", "$text-muted"))
        else:
            lines.append(row_detail(snapshot, self.table.cursor_key()))
        unpriced = sorted({*report.unpriced_models, *snapshot.view.unpriced_models})
        for model in unpriced:
            lines.append(
                Content.assemble(("! ", "bold $warning"), (unpriced_advice(model), "$warning"))
            )
        for problem in snapshot.problems[:3]:
            lines.append(Content.assemble(("! ", "bold $warning"), lit(problem)))
        if report.price_table:
            lines.append(Content.styled(f"prices: {lit(report.price_table)}", "$text-muted"))
        return Content("\n").join(lines)
