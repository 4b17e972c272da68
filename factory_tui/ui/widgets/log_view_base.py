"""The log view's state, and its filter and search machinery (thread workers).

:class:`LogViewBase` is the state of :class:`~factory_tui.ui.widgets.log_view.LogView` (the
index, the lines known, the filter's rows, the search match, follow or paused, the tail preview)
and what runs a filter or a search over the whole log in a thread worker and takes its result on
the UI thread. The view itself (keys, events, drawing) is in ``log_view``.
"""

from __future__ import annotations

import bisect
import re
from array import array
from typing import TypeAlias

from rich.style import Style
from textual import on, work
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState, get_current_worker

from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logindex import FilterCancelled, LogIndex
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.log_preview import TailPreview
from factory_tui.ui.widgets.log_view_messages import (
    FilterApplied,
    FilterProgress,
    FilterResult,
    FollowChanged,
    SearchMoved,
    SearchResult,
)

__all__ = ["FILTER_GROUP", "SEARCH_GROUP", "LogViewBase"]

FILTER_GROUP = "log-view-filter"
SEARCH_GROUP = "log-view-search"


class LogViewBase(ScrollView):
    """The state and the workers of the log view (see the module docstring)."""

    FilterProgress: TypeAlias = FilterProgress
    FilterApplied: TypeAlias = FilterApplied
    FollowChanged: TypeAlias = FollowChanged
    SearchMoved: TypeAlias = SearchMoved

    def __init__(
        self,
        index: LogIndex,
        *,
        follow: bool = True,
        id: str | None = None,
        name: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.index = index
        self._follow = follow
        self._known = 0  # lines of the index this view shows (as of the last refresh_index)
        self._generation = index.generation
        self._rows: array[int] | None = None  # logical numbers of the filtered lines
        self._filter: FilterSpec | None = None
        self._filter_serial = 0
        self._filter_running = False
        self._progress = (0, 0)
        self._search: FilterSpec | None = None
        self._search_re: re.Pattern[str] | None = None
        self._search_serial = 0
        self._search_note = ""
        self._match: int | None = None  # logical line of the current search match
        self._new_while_paused = 0
        self._growth_unshown = False  # lines came while hidden: size and status not shown yet
        self._width = 0
        self._cache: LRUCache[int, Strip] = LRUCache(2048)
        self._styles: dict[str, Style] | None = None
        self.border_title = "operations.log"
        self._missing = ""
        self._preview: TailPreview | None = None
        """The log's last lines, shown until the index is in (see :meth:`on_mount`)."""

    # --- state --------------------------------------------------------------------------------

    @property
    def follow(self) -> bool:
        """Whether the view keeps the newest line in sight as lines arrive."""
        return self._follow

    @follow.setter
    def follow(self, value: bool) -> None:
        if value == self._follow:
            return
        self._follow = value
        if not self.is_mounted:
            return
        if value:
            self._new_while_paused = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_status()
        self.post_message(self.FollowChanged(self, value))

    @property
    def row_count(self) -> int:
        """Lines the view shows (after the filter)."""
        if self._preview is not None:
            return 0 if self._filter is not None else self._preview.row_count
        return len(self._rows) if self._rows is not None else self._known

    @property
    def status_text(self) -> str:
        """What the border subtitle says: counts, filter, search, follow state."""
        parts: list[str] = []
        if self._preview is not None:
            parts.append(self._preview.status)
            if self._filter is not None:
                parts.append(f"filter {printable(self._filter.describe())}: waits for the index")
        elif self._filter is not None:
            query = printable(self._filter.describe())
            if self._filter_running:
                done, total = self._progress
                percent = 100 * done // total if total else 0
                parts.append(f"filtering {query}… {percent}%")
            else:
                parts.append(f"filter {query}: {self.row_count:,} of {self._known:,} lines")
        else:
            parts.append(f"{self._known:,} lines")
        if self._search is not None:
            parts.append(f"search {printable(self._search.describe())}: {self._search_note}")
        if self._follow:
            parts.append("following")
        elif self._new_while_paused:
            new = self._new_while_paused
            parts.append(f"paused — {new:,} new line{'s' if new != 1 else ''}")
        else:
            parts.append("paused")
        return " · ".join(parts)

    def logical_line(self, row: int) -> int:
        """The logical index line shown at ``row`` (0-based, after the filter)."""
        return self._rows[row] if self._rows is not None else row

    @on(FilterProgress)
    def _on_filter_progress(self, message: FilterProgress) -> None:
        if message.serial == self._filter_serial and self._filter_running:
            self._progress = (message.done, message.total)
            self._update_status()

    @on(FilterResult)
    def _on_filter_result(self, message: FilterResult) -> None:
        message.stop()
        if message.serial != self._filter_serial or self._filter is None:
            return
        if message.generation != self.index.generation:
            self._start_filter(0, self._known, replace=True)
            return
        top = self._top_logical()
        replaced = message.first == 0 or self._rows is None
        if replaced:
            self._rows = message.rows
            self._cache.clear()
        else:
            assert self._rows is not None
            self._rows.extend(message.rows)
            if not self._follow:
                self._new_while_paused += len(message.rows)
        if message.end < self._known:  # lines arrived while it ran: filter those too
            self._start_filter(message.end, self._known, replace=False, keep_serial=True)
            if replaced:
                self._update_virtual_size()
            return
        self._filter_running = False
        self._update_virtual_size()
        if self._follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif replaced:
            self._restore_position(top)
        self._update_status()
        self.refresh()
        self.post_message(self.FilterApplied(self, self._filter, len(self._rows)))

    @on(SearchResult)
    def _on_search_result(self, message: SearchResult) -> None:
        message.stop()
        if message.serial != self._search_serial or self._search is None:
            return
        previous, self._match = self._match, message.line
        for line in (previous, message.line):
            if line is not None:
                self._cache.discard(line)
        if message.line is None:
            self._search_note = "no match"
        else:
            row = self._row_of(message.line)
            self._search_note = f"line {message.line + 1:,}" + (
                " (wrapped)" if message.wrapped else ""
            )
            if self._follow:
                self.follow = False
            height = self.scrollable_content_region.height
            self.scroll_to(y=max(0, row - height // 2), animate=False)
        self._update_status()
        self.refresh()
        self.post_message(self.SearchMoved(self, message.line, message.wrapped))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.group not in (FILTER_GROUP, SEARCH_GROUP):
            return
        event.stop()
        reason = f"{type(worker.error).__name__}: {worker.error}"
        if worker.group == FILTER_GROUP:
            self._filter_running = False
            self.notify(f"The log filter failed: {reason}", severity="error", markup=False)
        else:
            self._search_note = f"failed ({reason})"
        self._update_status()

    def _start_filter(
        self, start: int, stop: int, *, replace: bool, keep_serial: bool = False
    ) -> None:
        assert self._filter is not None
        if not keep_serial:
            self._filter_serial += 1
        if replace:
            start = 0
        self._filter_running = True
        self._progress = (0, stop - start)
        self._update_status()
        self._filter_worker(self._filter, self._filter_serial, self.index.generation, start, stop)

    @work(thread=True, group=FILTER_GROUP, exclusive=True, exit_on_error=False)
    def _filter_worker(
        self, spec: FilterSpec, serial: int, generation: int, start: int, stop: int
    ) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self.post_message(self.FilterProgress(self, done, total, serial))

        try:
            rows = self.index.build_filtered(
                spec, progress, start=start, stop=stop, cancel=lambda: worker.is_cancelled
            )
        except FilterCancelled:
            return
        self.post_message(FilterResult(serial, generation, start, stop, rows))

    def _step_match(self, direction: int) -> None:
        if self._search is None or self._preview is not None:
            return
        if self._match is not None:
            self._find(self._match + direction, direction)
        elif direction > 0:
            self._find(self._top_logical(), 1)
        else:
            self._find(self._bottom_logical(), -1)

    def _find(self, start: int, direction: int) -> None:
        assert self._search is not None
        self._search_serial += 1
        self._search_note = "searching…"
        self._update_status()
        rows = self._rows
        self._search_worker(self._search, self._search_serial, start, direction, rows, self._known)

    @work(thread=True, group=SEARCH_GROUP, exclusive=True, exit_on_error=False)
    def _search_worker(
        self,
        spec: FilterSpec,
        serial: int,
        start: int,
        direction: int,
        rows: array[int] | None,
        known: int,
    ) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled

        predicate = self.index.predicate(spec)
        wrapped = False
        try:
            found = self.index.search(
                predicate, start, direction, among=rows, stop=known, cancel=cancelled
            )
            if found is None:
                wrapped = True
                restart = 0 if direction > 0 else known - 1
                found = self.index.search(
                    predicate, restart, direction, among=rows, stop=known, cancel=cancelled
                )
        except FilterCancelled:
            return
        self.post_message(SearchResult(serial, found, wrapped and found is not None))

    # --- helpers -----------------------------------------------------------------------------

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._width, self.row_count)

    def _update_status(self) -> None:
        self.border_subtitle = Content(self.status_text)

    def _top_logical(self) -> int:
        row = min(round(self.scroll_y), max(self.row_count - 1, 0))
        if self.row_count == 0:
            return 0
        return self.logical_line(row)

    def _bottom_logical(self) -> int:
        if self.row_count == 0:
            return 0
        row = min(round(self.scroll_y) + self.scrollable_content_region.height, self.row_count)
        return self.logical_line(row - 1)

    def _row_of(self, logical: int) -> int:
        """The row showing ``logical``, or the row of the next line shown after it."""
        if self._rows is None:
            return logical
        return min(bisect.bisect_left(self._rows, logical), max(len(self._rows) - 1, 0))

    def _restore_position(self, top_logical: int) -> None:
        self.scroll_to(y=self._row_of(top_logical), animate=False)
