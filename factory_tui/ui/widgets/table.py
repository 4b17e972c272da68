"""A DataTable updated by row key: changed cells are updated, new rows added, gone rows removed,
the order restored with ``sort`` — never clear-and-refill, so cursor and scroll survive.

Given :class:`Fit` s, its columns have widths of their own, derived from the table's width alone:
a refresh never changes them (Textual's auto widths follow the longest cell, so a longer title
made every column to its right jump); a cell too long for its column is cut with an ellipsis.
Where the table is narrow, a subclass may leave columns out (:meth:`KeyedTable.fits_for`): the
rows keep every cell, the table shows those of the columns it has.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from factory_tui.ui.widgets.listkeys import LIST_KEYS

__all__ = ["FLOOR", "Fit", "KeyedTable", "KeyedText", "fit_widths"]


#: A growing column is never cut narrower than this (five characters and the ellipsis).
FLOOR = 6


@dataclass(frozen=True, slots=True)
class Fit:
    """A column's width: ``least`` cells, and a ``grow`` share of the room the table has beyond
    every column's least, up to ``most`` cells (0: no limit); where the room is short, a growing
    column gives way down to ``floor`` cells (an id column keeps its ``least``)."""

    least: int
    grow: int = 0
    most: int = 0
    floor: int = FLOOR


def fit_widths(fits: Sequence[Fit], room: int) -> list[int]:
    """Each column's width (padding excluded) for ``room`` cells. Every column gets its
    ``least``; more room is shared by ``grow``, one cell at a time to the column furthest below
    its share; less room is taken from the growing columns, the widest first, down to their
    ``floor`` (then the table scrolls sideways). The same ``room`` always gives the same
    widths."""
    widths = [fit.least for fit in fits]
    extra = room - sum(widths)
    while extra > 0:
        open_ = [
            n
            for n, fit in enumerate(fits)
            if fit.grow > 0 and (not fit.most or widths[n] < fit.most)
        ]
        if not open_:
            break
        n = min(open_, key=lambda n: ((widths[n] - fits[n].least) / fits[n].grow, n))
        widths[n] += 1
        extra -= 1
    while extra < 0:
        shrinkable = [n for n, fit in enumerate(fits) if fit.grow > 0 and widths[n] > fit.floor]
        if not shrinkable:
            break
        n = max(shrinkable, key=lambda n: (widths[n], n))
        widths[n] -= 1
        extra += 1
    return widths


class KeyedText(Text):
    """The first cell of a row: a ``Text`` that knows its row's key, so ``sort`` can restore
    the wanted order from cell values alone."""

    def __init__(self, text: Text, row_key: str, order: int) -> None:
        super().__init__(
            text.plain,
            style=text.style,
            no_wrap=text.no_wrap,
            overflow=text.overflow,
            end="",
            spans=list(text.spans),
        )
        self.row_key = row_key
        self.order = order
        self.source = text


def _same(a: object, b: object) -> bool:
    if a is b:
        return True
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.spans == b.spans and a.style == b.style
    return a == b


class KeyedTable(DataTable[Text]):
    """``sync(rows)`` makes the table show exactly ``rows`` (``(key, cells)``, in order).

    ``leave_keys``: list keys (of ``LIST_KEYS``) the table leaves to its container, which gives
    them another meaning (the Cost view's ``g`` is "group by"). ``fits``: one :class:`Fit` per
    column, for widths that only the table's own width changes (without: Textual's auto widths,
    which follow the longest cell); ``right``: keys of columns whose header is right-aligned,
    over right-aligned numbers; a subclass's :meth:`fits_for` may leave some out where the
    table is narrow."""

    BINDINGS: ClassVar[list[BindingType]] = [*LIST_KEYS]

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        id: str | None = None,
        leave_keys: Collection[str] = (),
        fits: Sequence[Fit] | None = None,
        right: Collection[str] = (),
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._column_spec = list(columns)
        self._order: list[str] = []
        self._leave_keys = frozenset(leave_keys)
        if fits is not None and len(fits) != len(self._column_spec):
            raise ValueError(f"{len(fits)} fits for {len(self._column_spec)} columns")
        self._fits = list(fits) if fits is not None else None
        self._widths: list[int] = []
        self._right = frozenset(right)
        self._shown = tuple(range(len(self._column_spec)))
        """The indexes (in ``columns``) of the columns the table has, left to right."""
        self._rows: list[tuple[str, Sequence[Text]]] = []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A left key is not handled here, so it reaches the container's binding."""
        if action == "first" and parameters and parameters[0] in self._leave_keys:
            return False
        return super().check_action(action, parameters)

    def action_first(self, key: str = "") -> None:
        """The first row (``key``: the key that asked, see ``leave_keys``)."""
        if self.row_count:
            self.move_cursor(row=0, scroll=True)

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, scroll=True)

    def fits_for(self, width: int) -> Sequence[Fit | None]:
        """One fit per column (``None``: the column is left out) for a table ``width`` cells
        wide, its vertical scrollbar included. The fits given, whatever the width."""
        return self._fits or ()

    def on_mount(self) -> None:
        self._add_columns()
        self._fit_columns()

    def _add_columns(self) -> None:
        fits: list[Fit | None] = [*self._fits] if self._fits else [None] * len(self._column_spec)
        for index in self._shown:
            label, key = self._column_spec[index]
            fit = fits[index]
            justify: JustifyMethod = "right" if key in self._right else "left"
            header = Text(label, no_wrap=True, overflow="ellipsis", end="", justify=justify)
            self.add_column(header, key=key, width=fit.least if fit else None)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_columns()

    @property
    def column_widths(self) -> list[int]:
        """The columns' rendered widths, padding included, left to right."""
        return [column.get_render_width(self) for column in self.ordered_columns]

    def _fit_columns(self) -> None:
        """Widths from the table's width (a vertical scrollbar's room always kept, so rows
        that come or go never change them); nothing when they are already those."""
        if self._fits is None or not self.columns or not self.size.width:
            return
        scrollbar = self.styles.scrollbar_size_vertical
        outer = self.size.width  # (a scroll view's size includes its scrollbars)
        layout = self.fits_for(outer)
        if len(layout) != len(self._column_spec):
            raise ValueError(f"{len(layout)} fits for {len(self._column_spec)} columns")
        shown = tuple(n for n, fit in enumerate(layout) if fit is not None)
        if shown != self._shown:
            self._show_columns(shown)
        fits = [fit for fit in layout if fit is not None]
        room = outer - scrollbar - 2 * self.cell_padding * len(fits)
        widths = fit_widths(fits, room)
        if widths == self._widths:
            return
        self._widths = widths
        for column, width in zip(self.ordered_columns, widths, strict=True):
            column.width, column.auto_width = width, False
        # DataTable has no public way to re-width a column: its render caches are keyed by
        # _update_count, and the virtual size is recomputed when dimensions are required.
        self._update_count += 1
        self._require_update_dimensions = True
        self._clear_caches()
        self.check_idle()
        self.refresh()

    def _show_columns(self, shown: tuple[int, ...]) -> None:
        """Have the columns ``shown`` only: the table is built again from the last rows, the
        cursor on the same row."""
        keep = self.cursor_key()
        self.clear(columns=True)
        self._shown, self._order, self._widths = shown, [], []
        self._add_columns()
        self._sync(self._rows, keep)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """With fits, every column's width is ours: DataTable measured each new cell for a
        width it does not use (125,000 measures, 3 of the 4.6 s the Sessions view took to
        show a 10x factory's 15,700 sessions); only the table's size is left to update. The
        rows here have no label and a height of 1."""
        fitted = self._fits is not None and not any(c.auto_width for c in self.columns.values())
        super()._update_dimensions(() if fitted else new_rows)

    @property
    def row_keys(self) -> list[str]:
        """Keys in display order."""
        return list(self._order)

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _col = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Show exactly ``rows`` (each with one cell per column, shown or not), in order."""
        self._rows = list(rows)
        self._sync(self._rows, self.cursor_key())

    def _sync(self, given: Sequence[tuple[str, Sequence[Text]]], keep: str | None) -> None:
        rows = [(key, [cells[n] for n in self._shown if n < len(cells)]) for key, cells in given]
        wanted = [key for key, _cells in rows]
        wanted_set = set(wanted)
        existing = {row_key.value for row_key in self.rows}
        for gone in existing - wanted_set:
            if gone is not None:
                self.remove_row(gone)
        columns = [self._column_spec[n][1] for n in self._shown]
        for order, (key, cells) in enumerate(rows):
            if key in existing:
                for index, (column, value) in enumerate(zip(columns, cells, strict=False)):
                    current = self.get_cell(key, column)
                    if index == 0 and isinstance(current, KeyedText):
                        if current.source is value or _same(current.source, value):
                            current.order = order
                            continue
                        value = KeyedText(value, key, order)
                    elif _same(current, value):
                        continue
                    # A fitted column's width is ours: measuring it again is waste, and
                    # DataTable measures the whole column when a cell gets narrower (a table
                    # of thousands of rows whose ages tick took seconds per refresh).
                    fitted = not self.columns[ColumnKey(column)].auto_width
                    self.update_cell(key, column, value, update_width=not fitted)
            else:
                self.add_row(KeyedText(cells[0], key, order), *cells[1:], key=key)
        current_order = [row.key.value for row in self.ordered_rows]
        if current_order != wanted:
            first_column = columns[0]
            self.sort(first_column, key=lambda cell: getattr(cell, "order", 0))
        self._order = wanted
        if keep is not None and keep in wanted_set:
            index = self.get_row_index(RowKey(keep))
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)

    def select_key(self, key: str) -> bool:
        if key not in self._order:
            return False
        self.move_cursor(row=self.get_row_index(RowKey(key)), scroll=True)
        return True
