"""The Cost view's tables: their columns and how they give way when narrow, the rows of a
:class:`~factory_tui.core.cost_report.CostReport` (largest spend first, each ticket's phases, the
total), and the highlighted row in full. Plain functions of a
:class:`~factory_tui.ui.widgets.spend.CostSnapshot` except :class:`CostTable`, the table widget.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.content import Content

from factory_tui.core.cost_report import (
    Bucket,
    BudgetState,
    CostReport,
    Grouping,
    format_tokens,
)
from factory_tui.ui.widgets.spend import CostSnapshot, budget_words
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import lit, matches, styled_text

__all__ = [
    "TOTAL_KEY",
    "CostTable",
    "column_fits",
    "columns_for",
    "report_rows",
    "row_bucket",
    "row_detail",
]

TOTAL_KEY = "\x00total"
"""The totals row's key (no group key can hold a NUL: keys are printable)."""


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
