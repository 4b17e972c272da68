"""What the agents spend, in the cockpit: the header's spend, each pane's, the Cost view, the
budget banner.

The numbers come from :class:`~factory_tui.adapters.transcripts.CostTracker`, refreshed by the
app's ``cost`` thread worker, which posts a :class:`CostUpdated` holding a frozen
:class:`CostSnapshot` (today's :class:`~factory_tui.core.cost.CostView` and one
:class:`~factory_tui.core.cost.CostReport` for the grouping and period shown). Nothing here reads
a file. Group keys (instance ids, tickets, model names) come from agents' files: they are shown
literally (:func:`~factory_tui.ui.widgets.text.lit`), never as markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Sparkline, Static

from factory_tui.core.cost_records import PERIODS, Period, naive_local, period_since
from factory_tui.core.cost_report import (
    GROUPINGS,
    Bucket,
    BudgetState,
    CostReport,
    CostView,
    Grouping,
    format_tokens,
)
from factory_tui.core.fleet import InstanceView
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import lit, matches, short_path, styled_text

__all__ = [
    "PERIODS",
    "BudgetBanner",
    "CostPanel",
    "CostSnapshot",
    "Period",
    "agent_spend_line",
    "budget_words",
    "naive_local",
    "period_since",
    "spend_segment",
    "unpriced_advice",
]

TOTAL_KEY = "\x00total"
"""The totals row's key (no group key can hold a NUL: keys are printable)."""


@dataclass(frozen=True)
class CostSnapshot:
    """What the cost worker hands the UI (frozen: the tracker stays on its thread)."""

    view: CostView
    report: CostReport
    grouping: Grouping
    period: Period
    projects_dir: str
    files: int
    folders: int
    problems: tuple[str, ...] = ()
    attributed: bool = False
    """The fleet's spans were applied: each agent's spend is known (not only the total)."""


# -- words and numbers --------------------------------------------------------------------------


def _percent(state: BudgetState) -> str:
    return "∞ %" if math.isinf(state.fraction) else f"{state.fraction * 100:.0f} %"


def budget_words(state: BudgetState) -> tuple[str, str]:
    """How far a budget is used, in words that read in the monochrome theme too (``65 %``,
    ``! 85 %``, ``✗ 104 % REACHED``), and a style."""
    if state.level == "alert":
        return f"✗ {_percent(state)} REACHED", "bold reverse $error"
    if state.level == "warning":
        return f"! {_percent(state)}", "bold $warning"
    return _percent(state), "$text-muted"


def unpriced_advice(model: str) -> str:
    """What to do about a model the price table does not list (config.py's ``[cost.prices]``)."""
    return (
        f"model {lit(model)} is not in the price table, so its tokens are left out of the "
        f'dollars: add [cost.prices."{lit(model)}"] input = …, output = … (US dollars per '
        "million tokens) to factory.toml"
    )


def spend_segment(
    snapshot: CostSnapshot | None,
    *,
    reading: bool,
    error: str | None = None,
    percent: int | None = None,
) -> Content:
    """The header's ``spend`` segment: ``SPEND $12.40 / $50.00 today``, in the warning style
    from 80 % of the daily budget and the alarm style from 100 %, with words for both."""
    label: tuple[str, str] = ("SPEND", "bold")
    if error is not None and snapshot is None:
        return Content.assemble(label, " ", ("✗ see the Cost view", "bold $error"))
    if snapshot is None:
        done = f" {percent}%" if percent is not None else ""
        what = f"reading transcripts{done}…" if reading else "…"
        return Content.assemble(label, " ", (what, "$text-muted"))
    view = snapshot.view
    amount = f"${view.today_usd:.2f}" + ("+" if view.unpriced_models else "")
    if view.daily_budget_usd is not None:
        amount += f" / ${view.daily_budget_usd:.2f}"
    parts: list[str | tuple[str, str] | Content] = [label, " "]
    daily = next((s for s in view.budgets if s.scope == "daily"), None)
    if daily is not None and daily.level == "alert":
        parts.extend([(f"{amount} today", "bold reverse $error"), " ", ("✗ BUDGET", "bold $error")])
    elif daily is not None and daily.level == "warning":
        parts.extend(
            [(f"{amount} today", "bold $warning"), " ", (f"! {_percent(daily)}", "$warning")]
        )
    else:
        parts.append(f"{amount} today")
    over = [s for s in view.budgets if s.scope == "agent" and s.level == "alert"]
    near = [s for s in view.budgets if s.scope == "agent" and s.level == "warning"]
    if over:
        parts.extend(
            [" ", (f"✗ {len(over)} agent{'s' if len(over) > 1 else ''} over", "bold $error")]
        )
    elif near:
        parts.extend([" ", (f"! {len(near)} agent{'s' if len(near) > 1 else ''} near", "$warning")])
    return Content.assemble(*parts)


def agent_spend_line(snapshot: CostSnapshot, agent: InstanceView) -> Content:
    """One pane's spend line, short enough for the narrowest pane: ``spend  $4.40 today · 44 %
    of $10.00 budget`` (``! 88 %`` past 80 %, ``✗ OVER BUDGET: 139 %`` past 100 %). An agent on
    another host has its transcripts there."""
    view = snapshot.view
    usd = view.agent_usd(agent.id)
    label = ("spend  ", "$text-muted")
    if not agent.local and not usd:
        return Content.assemble(
            label, ("— runs on another host (transcripts there)", "$text-muted")
        )
    parts: list[str | tuple[str, str]] = [
        label,
        (f"${usd:.2f} today", "" if usd else "$text-muted"),
    ]
    state = next((s for s in view.budgets if s.scope == "agent" and s.subject == agent.id), None)
    if state is not None:
        parts.append((" · ", "$text-muted"))
        if state.level == "alert":
            parts.extend(
                [
                    ("✗ OVER BUDGET", "bold reverse $error"),
                    (f": {_percent(state)} of ${state.limit_usd:.2f}", "bold $error"),
                ]
            )
        elif state.level == "warning":
            parts.extend(
                [
                    (f"! {_percent(state)}", "bold $warning"),
                    (f" of ${state.limit_usd:.2f} budget", "$warning"),
                ]
            )
        else:
            parts.append((f"{_percent(state)} of ${state.limit_usd:.2f} budget", "$text-muted"))
    elif view.agent_budget_usd is not None:
        parts.append((f" · 0 % of ${view.agent_budget_usd:.2f} budget", "$text-muted"))
    return Content.assemble(*parts)


# -- the budget banner ---------------------------------------------------------------------------


class BudgetBanner(Static):
    """Budgets at 100 % not yet acknowledged: stays on screen until ``A`` is pressed."""

    DEFAULT_CSS = """
    BudgetBanner {
        height: auto;
        padding: 0 1;
        background: $error 25%;
        color: $foreground;
        display: none;
    }
    BudgetBanner.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.alerts: tuple[BudgetState, ...] = ()

    def show_alerts(self, alerts: Sequence[BudgetState]) -> None:
        alerts = tuple(alerts)
        if alerts == self.alerts:
            return
        self.alerts = alerts
        self.set_class(bool(alerts), "-shown")
        lines = [
            Content.assemble(
                ("✗ BUDGET REACHED", "bold reverse $error"),
                "  ",
                lit(state.message),
                ("   A: acknowledge", "$text-muted"),
            )
            for state in alerts
        ]
        self.update(Content("\n").join(lines))


# -- the Cost view -------------------------------------------------------------------------------


COLUMNS = (
    ("USD", "usd"),
    ("SHARE", "share"),
    ("INPUT", "in"),
    ("OUTPUT", "out"),
    ("CACHE WRITE", "cw"),
    ("CACHE READ", "cr"),
    ("RESPONSES", "n"),
)
BUDGET_COLUMN = ("BUDGET", "budget")
"""Only the table by agent has it: a budget applies per agent (and to the day)."""
KEY_WIDTH = 40
#: The columns' widths (see :class:`Fit`): the group key shares the room, the numbers fit their
#: header and widest value (``$1234.56 *``, ``4.56M``, ``✗ 104 % REACHED``).
KEY_FIT = Fit(16, 1, KEY_WIDTH, floor=12)
FITS = {
    "usd": Fit(9),
    "share": Fit(5),
    "in": Fit(5),
    "out": Fit(6),
    "cw": Fit(11),
    "cr": Fit(10),
    "n": Fit(9),
    "budget": Fit(15, 1, 15, floor=7),
}
#: Where the table is too narrow for every column, these give way, in this order (the detail
#: line above the table has every number of the highlighted row).
GIVE_WAY = (("in", "n"), ("cw", "cr"))


def columns_for(grouping: Grouping) -> tuple[tuple[str, str], ...]:
    """The table's columns by ``grouping``: the key, the numbers, and BUDGET by agent."""
    budget = (BUDGET_COLUMN,) if grouping == "agent" else ()
    return ((grouping.upper(), "key"), *COLUMNS, *budget)


def _fit(key: str) -> Fit:
    return KEY_FIT if key == "key" else FITS[key]


def column_fits(columns: Sequence[tuple[str, str]], width: int) -> list[Fit | None]:
    """The fits for a cost table ``width`` cells wide (its scrollbar's two included): every
    column where they fit (a growing column down to its floor), else without the ``GIVE_WAY``
    groups, one after the other, until they do."""
    gone: set[str] = set()
    fits: list[Fit | None] = []
    for step in ((), *GIVE_WAY):
        gone.update(step)
        fits = [None if key in gone else _fit(key) for _label, key in columns]
        least = sum(
            (min(fit.least, fit.floor) if fit.grow else fit.least) + 2
            for fit in fits
            if fit is not None
        )
        if least + 2 <= width:
            break
    return fits


class CostTable(KeyedTable):
    """A cost table: numbers right-aligned in columns of their own width, the group key (cut
    with an ellipsis) sharing the rest; narrow, the token columns give way (``GIVE_WAY``)."""

    def __init__(self, grouping: Grouping, *, id: str | None = None) -> None:
        columns = columns_for(grouping)
        # g is "group by" here (G, Home and End still go to the last/first row).
        fits = [_fit(key) for _label, key in columns]
        numbers = [key for _label, key in columns if key not in {"key", "budget"}]
        super().__init__(columns, id=id, leave_keys=("g",), fits=fits, right=numbers)
        self.columns_spec = columns

    def fits_for(self, width: int) -> list[Fit | None]:
        return column_fits(self.columns_spec, width)


def _num(text: str, style: str = "") -> Text:
    cell = styled_text((text, style))
    cell.justify = "right"
    return cell


def _row(
    label: Text, bucket: Bucket, total_usd: float, budget: BudgetState | None, *, by_agent: bool
) -> list[Text]:
    share = f"{bucket.usd / total_usd * 100:.0f} %" if total_usd > 0 else "—"
    usd = f"${bucket.usd:.2f}" + (" *" if bucket.unpriced_responses else "")
    budget_cells = [styled_text(budget_words(budget) if budget is not None else "")]
    return [
        label,
        _num(usd),
        _num(share, "$text-muted"),
        _num(format_tokens(bucket.input_tokens)),
        _num(format_tokens(bucket.output_tokens)),
        _num(format_tokens(bucket.cache_write_tokens)),
        _num(format_tokens(bucket.cache_read_tokens)),
        _num(str(bucket.responses), "$text-muted"),
        *(budget_cells if by_agent else ()),
    ]


def report_rows(snapshot: CostSnapshot, needle: str = "") -> list[tuple[str, list[Text]]]:
    """The table's rows for the snapshot's report, largest spend first, then the total."""
    report, view = snapshot.report, snapshot.view
    budgets = {s.subject: s for s in view.budgets if s.scope == "agent"}
    by_agent = snapshot.grouping == "agent"
    total = report.total.usd
    rows: list[tuple[str, list[Text]]] = []
    for key, bucket in report.by.items():
        shown = lit(key)
        if not matches(needle, shown):
            continue
        style = "$text-muted" if key.startswith("(") else ""
        budget = (
            budgets.get(key)
            if snapshot.grouping == "agent" and snapshot.period == "today"
            else None
        )
        label = styled_text((shown, style))
        rows.append((key, _row(label, bucket, total, budget, by_agent=by_agent)))
        for phase, spent in report.phases.get(key, {}).items():
            label = styled_text((f"  phase {phase}", "$text-muted"))
            rows.append(
                (f"{key}\x00phase {phase}", _row(label, spent, total, None, by_agent=False))
            )
    if report.by:
        label = styled_text(("total", "bold"))
        rows.append((TOTAL_KEY, _row(label, report.total, total, None, by_agent=by_agent)))
    return rows


def row_bucket(report: CostReport, key: str) -> Bucket | None:
    """The spend behind the table's row ``key`` (a group, a ticket's phase, the total)."""
    if key == TOTAL_KEY:
        return report.total
    group, _nul, phase = key.partition("\x00phase ")
    if phase:
        return report.phases.get(group, {}).get(phase)
    return report.by.get(key)


def row_detail(snapshot: CostSnapshot, key: str | None) -> Content:
    """The highlighted row in full, one line above the table: its key uncut, its dollars and
    share, every token count and its budget, whatever columns the table's width left out."""
    report = snapshot.report
    bucket = row_bucket(report, key) if key is not None else None
    if key is None or bucket is None:
        key, bucket = TOTAL_KEY, report.total
    if key == TOTAL_KEY:
        head: list[str | tuple[str, str]] = [("total", "bold")]
    else:
        group, _nul, phase = key.partition("\x00phase ")
        head = [(snapshot.grouping.upper() + " ", "$text-muted"), (lit(group), "bold")]
        if phase:
            head.append((f" phase {lit(phase)}", "bold"))
    total = report.total.usd
    share = f" · {bucket.usd / total * 100:.0f} %" if total > 0 else ""
    unpriced = f" ({bucket.unpriced_responses} unpriced)" if bucket.unpriced_responses else ""
    parts: list[str | tuple[str, str]] = [
        *head,
        f"  ${bucket.usd:.2f}{unpriced}{share}  ",
        ("Tokens ", "bold"),
        f"input {format_tokens(bucket.input_tokens)}"
        f" · output {format_tokens(bucket.output_tokens)}"
        f" · cache write {format_tokens(bucket.cache_write_tokens)}"
        f" · cache read {format_tokens(bucket.cache_read_tokens)}"
        f" · {bucket.responses} responses",
    ]
    budget = next(
        (
            s
            for s in snapshot.view.budgets
            if s.scope == "agent" and s.subject == key and snapshot.period == "today"
        ),
        None,
    )
    if snapshot.grouping == "agent" and budget is not None:
        words, style = budget_words(budget)
        parts.extend([" · budget ", (words, style)])
    return Content.assemble(*parts)


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
