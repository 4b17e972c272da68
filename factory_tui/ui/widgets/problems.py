"""Problems: every file or line that could not be read, with where and why, and the state lint.

The cockpit never raises on a bad file: the readers turn each one into a ``Problem`` and this
view lists them (keyed by where + what, so a list that grows keeps the cursor)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from factory_tui.core.fleet import Fleet
from factory_tui.ui.widgets.fields import Field, FieldList
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import lit, matches, missing_lines, short_path, styled_text

__all__ = ["FITS", "ProblemsView", "finding_detail", "lint_rows", "problem_rows"]

COLUMNS = (("kind", "kind"), ("where", "where"), ("what is wrong", "what"))
#: The kind, where and what of a problem or a finding (the State view's table too): cut with an
#: ellipsis, whole in the detail below.
FITS = (Fit(14, 2, 28), Fit(14, 2, 40), Fit(20, 6))


def _unique(rows: list[tuple[str, list[Text]]]) -> list[tuple[str, list[Text]]]:
    seen: dict[str, int] = {}
    out: list[tuple[str, list[Text]]] = []
    for key, cells in rows:
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append((key if n == 0 else f"{key}#{n}", cells))
    return out


def problem_rows(fleet: Fleet, needle: str = "") -> list[tuple[str, list[Text]]]:
    rows: list[tuple[str, list[Text]]] = []
    for problem in fleet.problems:
        where = short_path(problem.where(), fleet.root)
        what = lit(problem.message)
        if matches(needle, "problem", where, what):
            rows.append(
                (
                    f"p:{where}:{what}",
                    [
                        styled_text(("✗ problem", "bold $error")),
                        styled_text(where),
                        styled_text(what),
                    ],
                )
            )
    rows.extend(lint_rows(fleet, needle))
    return _unique(rows)


def lint_rows(fleet: Fleet, needle: str = "") -> list[tuple[str, list[Text]]]:
    rows: list[tuple[str, list[Text]]] = []
    for finding in fleet.lint:
        where = short_path(f"{finding.file}:{finding.line}", fleet.root)
        what, rule = lit(finding.message), lit(getattr(finding, "rule", "lint"))
        if matches(needle, "lint", rule, where, what):
            rows.append(
                (
                    f"l:{where}:{rule}:{what}",
                    [
                        styled_text((f"! lint {rule}", "bold $warning")),
                        styled_text(where),
                        styled_text(what),
                    ],
                )
            )
    return _unique(rows)


def finding_detail(cells: Sequence[Text]) -> list[Field]:
    """A problem's or a finding's row, whole (the table cuts it): kind, where, what."""
    kind, where, what = (cell.plain for cell in cells[:3])
    return [("", Content.styled(kind, "bold")), ("where", Content(where)), ("what", Content(what))]


class ProblemsView(Vertical):
    DEFAULT_CSS = """
    ProblemsView { height: 1fr; }
    ProblemsView > #problems-empty { color: $text-muted; padding: 1 2; height: auto; }
    ProblemsView > #problem-detail {
        height: auto;
        max-height: 40%;
        border-top: solid $panel-lighten-2;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fleet: Fleet | None = None
        self._loaded = False
        self.filter_text = ""
        self._rows: dict[str, Sequence[Text]] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content("Reading the factory…"), id="problems-empty")
        yield KeyedTable(COLUMNS, id="problems-table", fits=FITS)
        yield FieldList(id="problem-detail")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self._fleet is not None:
            self.show_fleet(self._fleet, loaded=self._loaded)

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        self._fleet, self._loaded = fleet, loaded
        rows: Sequence[tuple[str, Sequence[Text]]] = problem_rows(fleet, self.filter_text)
        self.table.sync(rows)
        empty = self.query_one("#problems-empty", Static)
        if not loaded:
            empty.update(Content("Reading the factory…"))
        elif not fleet.problems and not fleet.lint and fleet.missing:
            empty.update(
                Content(
                    "No problems found, but not every file was there to read:\n"
                    + missing_lines(fleet.missing)
                )
            )
        elif not fleet.problems and not fleet.lint:
            empty.update(
                Content(
                    "No problems: every claim file, log line, checkpoint and state file "
                    "read cleanly."
                )
            )
        else:
            empty.update(Content(f"No problem matches the filter {self.filter_text!r}."))
        empty.display = not rows
        self.table.display = bool(rows)
        self._rows = {key: cells for key, cells in rows}
        self.query_one("#problem-detail", FieldList).display = bool(rows)
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.table.cursor_key()
        cells = self._rows.get(key) if key else None
        if cells is None:
            return
        self.query_one("#problem-detail", FieldList).show(finding_detail(cells))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def restyle(self) -> None:
        if self._fleet is not None:
            self.show_fleet(self._fleet, loaded=self._loaded)
