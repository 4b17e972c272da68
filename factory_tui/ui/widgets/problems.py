"""Problems: every file or line that could not be read, with where and why, and the state lint.

The cockpit never raises on a bad file: the readers turn each one into a ``Problem`` and this
view lists them (keyed by where + what, so a list that grows keeps the cursor)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from factory_tui.core.fleet import Fleet
from factory_tui.ui.widgets.fields import Field, FieldList
from factory_tui.ui.widgets.fleet_view import READING, FleetTableView, empty_text
from factory_tui.ui.widgets.quiet import update_if_changed
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import lit, matches, missing_lines, short_path, styled_text

__all__ = ["FITS", "FindingsView", "ProblemsView", "finding_detail", "lint_rows", "problem_rows"]

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


class FindingsView(FleetTableView):
    """A table of problems or lint findings (:func:`problem_rows`, :func:`lint_rows`) and the
    highlighted one whole below it, in the :class:`FieldList` with id ``detail_id``."""

    detail_id = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, Sequence[Text]] = {}

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Show ``rows`` (the table and the detail only where there is one)."""
        self.table.sync(rows)
        self.table.display = bool(rows)
        self._rows = {key: cells for key, cells in rows}
        self.query_one(f"#{self.detail_id}", FieldList).display = bool(rows)
        self.show_detail()

    def show_detail(self) -> None:
        key = self.table.cursor_key()
        cells = self._rows.get(key) if key else None
        if cells is not None:
            self.query_one(f"#{self.detail_id}", FieldList).show(finding_detail(cells))


class ProblemsView(FindingsView):
    DEFAULT_CSS = """
    ProblemsView { height: 1fr; }
    ProblemsView > #problems-empty { color: $text-muted; padding: 1 2; height: auto; }
    ProblemsView > #problem-detail {
        height: auto;
        max-height: 40%;
        border-top: solid $panel-lighten-2;
    }
    """

    detail_id = "problem-detail"

    def compose(self) -> ComposeResult:
        yield Static(Content(READING), id="problems-empty")
        yield KeyedTable(COLUMNS, id="problems-table", fits=FITS)
        yield FieldList(id="problem-detail")

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        self._fleet, self._loaded = fleet, loaded
        rows: Sequence[tuple[str, Sequence[Text]]] = problem_rows(fleet, self.filter_text)
        empty = self.query_one("#problems-empty", Static)
        update_if_changed(
            empty,
            empty_text(
                loaded=loaded,
                found=bool(fleet.problems or fleet.lint),
                noun="problem",
                filter_text=self.filter_text,
                missing=missing_lines(fleet.missing),
                missing_intro="No problems found, but not every file was there to read:\n",
                nothing="No problems: every claim file, log line, checkpoint and state file "
                "read cleanly.",
            ),
        )
        empty.display = not rows
        self.show_rows(rows)
