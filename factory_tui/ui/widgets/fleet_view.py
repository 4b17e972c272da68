"""What the fleet's views share: the last fleet, kept to show again when the filter or the theme
changes, and the one line a view shows where it has nothing to list.

:class:`FleetView` is the base of the Claims, Sessions, Problems and State views;
:class:`FleetTableView` adds the table and "the highlighted row whole below it". The agent grid
scrolls (it is no ``Vertical``), so it keeps its own copy of the fleet and shares only
:func:`empty_text`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.content import Content

if TYPE_CHECKING:
    from textual.widgets import DataTable

    from factory_tui.core.fleet import Fleet
    from factory_tui.ui.widgets.table import KeyedTable

__all__ = ["READING", "FleetTableView", "FleetView", "empty_text"]

#: What every view says before the first full read.
READING = "Reading the factory…"


def empty_text(
    *,
    loaded: bool,
    found: bool,
    noun: str,
    filter_text: str,
    missing: str,
    missing_intro: str,
    nothing: str,
) -> Content:
    """The line of a view that lists nothing: still reading; ``found`` something that the
    filter hides all of; nothing found and ``missing`` (the :func:`missing_lines
    <factory_tui.ui.widgets.text.missing_lines>` the view reads from) after ``missing_intro``;
    or ``nothing`` found though everything was there."""
    if not loaded:
        return Content(READING)
    if found:
        return Content(f"No {noun} matches the filter {filter_text!r}.")
    return Content(missing_intro + missing if missing else nothing)


class FleetView(Vertical):
    """A view of the fleet with a filter: :meth:`show_fleet` draws it, and the last fleet is
    drawn again when the filter or the theme changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fleet: Fleet | None = None
        self._loaded = False
        self.filter_text = ""

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        raise NotImplementedError

    def show_again(self) -> None:
        """Draw the last fleet again (nothing before the first one)."""
        if self._fleet is not None:
            self.show_fleet(self._fleet, loaded=self._loaded)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.show_again()

    def restyle(self) -> None:
        """Draw again after a theme change (cell colours are resolved when built)."""
        self.show_again()


class FleetTableView(FleetView):
    """A fleet view whose rows are a :class:`KeyedTable`; :meth:`show_detail` shows the
    highlighted row whole (the table cuts long cells)."""

    @property
    def table(self) -> KeyedTable:
        # Imported here: the agent grid (the first frame's view) shares this module, not the
        # table, and DataTable is a big import (issue 17: first paint).
        from factory_tui.ui.widgets.table import KeyedTable

        return self.query_one(KeyedTable)

    def show_detail(self) -> None:
        raise NotImplementedError

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_detail()
