"""State files: what plan.md and memory.md hold, and the protocol's state-lint findings (cut with
an ellipsis in the table; the highlighted one whole below it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from factory_tui.core.fleet import Fleet
from factory_tui.core.statefiles import LintFinding
from factory_tui.ui.messages import StateSummary
from factory_tui.ui.widgets.fields import FieldList
from factory_tui.ui.widgets.problems import FITS, FindingsView, lint_rows
from factory_tui.ui.widgets.quiet import update_if_changed
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


def _file_line(label: str, path: str, exists: bool, holds: str) -> Content:
    """One state file: its label, its path and what it ``holds`` (muted), or that it is not
    there."""
    muted = "$text-muted"
    if not exists:
        return Content.assemble((label, "bold"), (f"{path}: not found", muted))
    return Content.assemble((label, "bold"), path, "  ", (holds, muted))


def state_summary_text(
    summary: StateSummary | None,
    findings: Sequence[LintFinding],
    root: str = "",
    missing: Sequence[str] = (),
) -> Content:
    muted = "$text-muted"
    if summary is None:
        return Content("Reading plan.md and memory.md…")
    plan_counts = " · ".join(f"{n} {state.replace('_', ' ')}" for state, n in summary.plan_counts)
    sections = " · ".join(f"{lit(name)} {n}" for name, n in summary.memory_sections)
    lines = [
        _file_line(
            "plan     ",
            short_path(summary.plan_file, root),
            summary.plan_exists,
            plan_counts or "no items",
        ),
        _file_line(
            "memory   ",
            short_path(summary.memory_file, root),
            summary.memory_exists,
            sections or "no sections",
        ),
    ]
    if findings:
        lines.append(Content.styled(_findings_line(summary, findings), "bold $warning"))
    elif summary.plan_exists or summary.memory_exists:
        lines.append(
            Content.styled("✓ the state lint finds nothing: the two files agree", "$success")
        )
    if missing:
        lines.append(Content.styled(missing_lines(missing), muted))
    return Content("\n").join(lines)


class StateView(FindingsView):
    DEFAULT_CSS = """
    StateView { height: 1fr; }
    StateView > #state-summary { height: auto; padding: 0 1 1 1; }
    StateView > #state-detail {
        height: auto;
        max-height: 40%;
        border-top: solid $panel-lighten-2;
    }
    """

    detail_id = "state-detail"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary: StateSummary | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content("Reading plan.md and memory.md…"), id="state-summary")
        yield KeyedTable(COLUMNS, id="state-table", fits=FITS)
        yield FieldList(id="state-detail")

    def show_fleet(
        self, fleet: Fleet, summary: StateSummary | None = None, *, loaded: bool = True
    ) -> None:
        """The findings and what the two files hold (``summary``; None: the last one)."""
        self._fleet, self._loaded = fleet, loaded
        if summary is not None:
            self.summary = summary
        self.show_rows(lint_rows(fleet, self.filter_text))
        update_if_changed(
            self.query_one("#state-summary", Static),
            state_summary_text(self.summary, fleet.lint, fleet.root, fleet.missing),
        )
