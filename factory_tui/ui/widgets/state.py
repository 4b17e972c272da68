"""State files: what plan.md and memory.md hold, and the protocol's state-lint findings (cut with
an ellipsis in the table; the highlighted one whole below it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from factory_tui.core.fleet import Fleet
from factory_tui.core.statefiles import LintFinding
from factory_tui.ui.messages import StateSummary
from factory_tui.ui.widgets.fields import FieldList
from factory_tui.ui.widgets.problems import FITS, finding_detail, lint_rows
from factory_tui.ui.widgets.table import KeyedTable
from factory_tui.ui.widgets.text import lit, missing_lines, short_path

__all__ = ["StateView", "state_summary_text"]

COLUMNS = (("rule", "kind"), ("where", "where"), ("what to fix", "what"))


def _findings_line(summary: StateSummary, findings: Sequence[LintFinding]) -> str:
    """How many findings, and where: the cross-file rules flag plan.md's line (the two files
    disagree); a finding in memory.md is about memory.md alone."""
    count = f"{len(findings)} state-lint finding{'s' if len(findings) != 1 else ''}"
    memory = Path(summary.memory_file).name
    if all(finding.file == summary.memory_file for finding in findings):
        return f"{count} in {memory}"
    return f"{count}: {Path(summary.plan_file).name} and {memory} disagree"


def state_summary_text(
    summary: StateSummary | None,
    findings: Sequence[LintFinding],
    root: str = "",
    missing: Sequence[str] = (),
) -> Content:
    muted = "$text-muted"
    if summary is None:
        return Content("Reading plan.md and memory.md…")
    lines: list[Content] = []
    if summary.plan_exists:
        counts = " · ".join(f"{n} {state.replace('_', ' ')}" for state, n in summary.plan_counts)
        lines.append(
            Content.assemble(
                ("plan     ", "bold"),
                short_path(summary.plan_file, root),
                "  ",
                (counts or "no items", muted),
            )
        )
    else:
        lines.append(
            Content.assemble(
                ("plan     ", "bold"), (f"{short_path(summary.plan_file, root)}: not found", muted)
            )
        )
    if summary.memory_exists:
        sections = " · ".join(f"{lit(name)} {n}" for name, n in summary.memory_sections)
        lines.append(
            Content.assemble(
                ("memory   ", "bold"),
                short_path(summary.memory_file, root),
                "  ",
                (sections or "no sections", muted),
            )
        )
    else:
        lines.append(
            Content.assemble(
                ("memory   ", "bold"),
                (f"{short_path(summary.memory_file, root)}: not found", muted),
            )
        )
    if findings:
        lines.append(Content.styled(_findings_line(summary, findings), "bold $warning"))
    elif summary.plan_exists or summary.memory_exists:
        lines.append(
            Content.styled("✓ the state lint finds nothing: the two files agree", "$success")
        )
    if missing:
        lines.append(Content.styled(missing_lines(missing), muted))
    return Content("\n").join(lines)


class StateView(Vertical):
    DEFAULT_CSS = """
    StateView { height: 1fr; }
    StateView > #state-summary { height: auto; padding: 0 1 1 1; }
    StateView > #state-detail {
        height: auto;
        max-height: 40%;
        border-top: solid $panel-lighten-2;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fleet: Fleet | None = None
        self.summary: StateSummary | None = None
        self.filter_text = ""
        self._rows: dict[str, Sequence[Text]] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content("Reading plan.md and memory.md…"), id="state-summary")
        yield KeyedTable(COLUMNS, id="state-table", fits=FITS)
        yield FieldList(id="state-detail")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self._fleet is not None:
            self.show_fleet(self._fleet, self.summary)

    def show_fleet(self, fleet: Fleet, summary: StateSummary | None) -> None:
        self._fleet = fleet
        if summary is not None:
            self.summary = summary
        rows = lint_rows(fleet, self.filter_text)
        self.table.sync(rows)
        self.table.display = bool(rows)
        self._rows = {key: cells for key, cells in rows}
        self.query_one("#state-detail", FieldList).display = bool(rows)
        self._show_detail()
        self.query_one("#state-summary", Static).update(
            state_summary_text(self.summary, fleet.lint, fleet.root, fleet.missing)
        )

    def _show_detail(self) -> None:
        """The highlighted finding whole: the table cuts it to its columns."""
        key = self.table.cursor_key()
        cells = self._rows.get(key) if key else None
        if cells is not None:
            self.query_one("#state-detail", FieldList).show(finding_detail(cells))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def restyle(self) -> None:
        if self._fleet is not None:
            self.show_fleet(self._fleet, self.summary)
