"""The operations log: a tail that follows, pauses, filters and searches a million lines.

:class:`LogView` is a Line API widget (``ScrollView`` + ``render_line``): its virtual height is
the number of (filtered) lines, and only the lines on screen are read, from a
:class:`~factory_tui.adapters.logindex.LogIndex` that holds byte offsets, never the lines. A
filter runs over the whole log in a thread worker (progress in the border); the view keeps
showing the previous lines until the result is in. Lines are drawn literally (agent-written text
is never parsed as markup; control characters become ``\\xNN``) with light structure: timestamp
dim, event name coloured by kind through component classes that use the theme's ``$log-*``
variables (the app must provide them: ``App.get_theme_variable_defaults()`` returning
``factory_tui.ui.themes.THEME_VARIABLE_DEFAULTS``).

The app owns the file watching: after ``index.update()`` (in its worker thread) it calls
:meth:`LogView.refresh_index` on the UI thread, which costs O(new lines).

Keys (when the view has focus): ``f`` follow/pause, ``/`` filter, ``s`` or ``ctrl+f`` search,
``]`` / ``[`` next / previous match (``n`` stays the app's "next thing that needs you"),
``escape`` clears the search, then the filter; ``end`` jumps to the tail and follows again,
scrolling up pauses.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.events import MouseScrollUp, Resize
from textual.strip import Strip
from textual.widget import Widget

from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logtail import read_tail
from factory_tui.core.safe import printable
from factory_tui.ui.screens.log_query import LogQueryScreen
from factory_tui.ui.widgets.log_lines import line_styles, line_text, marked, wrapped_row
from factory_tui.ui.widgets.log_preview import NOTE, TailPreview
from factory_tui.ui.widgets.log_view_base import FILTER_GROUP, SEARCH_GROUP, LogViewBase

__all__ = ["LogView"]

_SYNC_FILTER_LINES = 20_000
"""New lines filtered right away on the UI thread; more go to a worker."""
_PREVIEW_LINES = 500
"""The log's last lines shown before the index is in (a bounded read from the end)."""


class LogView(LogViewBase, can_focus=True):
    """A view of a :class:`LogIndex`; see the module docstring."""

    ALLOW_SELECT = False

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        &:focus {
            border: round $primary;
            border-subtitle-color: $foreground;
        }
        & > .log-view--timestamp { color: $text-muted; }
        & > .log-view--separator { color: $text-muted; }
        & > .log-view--key { color: $text-muted; }
        & > .log-view--event { text-style: bold; }
        & > .log-view--session { color: $log-session; text-style: bold; }
        & > .log-view--step { color: $log-step; }
        & > .log-view--claim { color: $log-claim; text-style: bold; }
        & > .log-view--error { color: $log-error; text-style: bold reverse; }
        & > .log-view--error-line { background: $log-error 12%; }
        & > .log-view--match { background: $accent 45%; color: $foreground; text-style: bold; }
        & > .log-view--current { background: $primary 25%; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--timestamp",
        "log-view--separator",
        "log-view--key",
        "log-view--event",
        "log-view--session",
        "log-view--step",
        "log-view--claim",
        "log-view--error",
        "log-view--error-line",
        "log-view--match",
        "log-view--current",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_follow", "Follow/pause", id="log.follow"),
        Binding("slash", "filter", "Filter log", id="log.filter"),
        Binding("s", "search", "Search", id="log.search"),
        Binding("ctrl+f", "search", "Search", show=False, id="log.search-ctrl"),
        Binding("right_square_bracket", "next_match", "Next match", id="log.next-match"),
        Binding("left_square_bracket", "previous_match", "Prev match", id="log.prev-match"),
        Binding("escape", "clear", "Clear search/filter", id="log.clear"),
        Binding("end", "scroll_end", "Tail", show=False, id="log.tail"),
        # The list keys of every view (issue 12): the log scrolls by lines, G is the tail.
        Binding("j", "scroll_down", "Down", show=False, id="log.down"),
        Binding("k", "scroll_up", "Up", show=False, id="log.up"),
        Binding("g", "scroll_home", "First line", show=False, id="log.first"),
        Binding("G", "scroll_end", "Tail", show=False, id="log.last"),
    ]

    # --- public API --------------------------------------------------------------------------

    @property
    def filter(self) -> FilterSpec | None:
        """The filter applied or being applied, or None."""
        return self._filter

    @property
    def filtering(self) -> bool:
        """A filter worker is running."""
        return self._filter_running

    @property
    def previewing(self) -> bool:
        """The view shows the log's last lines, read before the index was in."""
        return self._preview is not None

    @property
    def match_line(self) -> int | None:
        """Logical line of the current search match, or None."""
        return self._match

    @property
    def new_while_paused(self) -> int:
        """Lines (matching the filter) that arrived since the view was paused."""
        return self._new_while_paused

    def refresh_preview(self) -> None:
        """The log changed before its index is in: a following view reads its last lines
        again (bounded, as at mount); a paused one keeps what the engineer is reading."""
        if self._preview is None or not self._follow:
            return
        tail = read_tail(*self.index.paths, max_lines=_PREVIEW_LINES)
        if tail.lines == self._preview.tail.lines:
            return
        self._preview = TailPreview(tail)
        self._update_virtual_size()
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_status()
        self.refresh()

    def refresh_index(self) -> None:
        """Show what the index gained since the last call. O(new lines); call it on the UI
        thread after ``index.update()``."""
        if self._preview is not None:
            self._leave_preview(self._preview)
            return
        n = len(self.index)
        generation = self.index.generation
        if generation != self._generation:
            # Logical numbers were reassigned: everything derived from them goes.
            self._generation = generation
            self._known = n
            self._cache.clear()
            self._match = None
            if self._filter is not None:
                self._start_filter(0, n, replace=True)
            self._after_growth(0)
            self.refresh()
            return
        added = n - self._known
        if added <= 0:
            return
        old, self._known = self._known, n
        new_rows = 0
        if self._filter is None:
            new_rows = added
        elif not self._filter_running:
            if added > _SYNC_FILTER_LINES:
                self._start_filter(old, n, replace=False)
            else:
                found = self.index.build_filtered(self._filter, start=old, stop=n)
                assert self._rows is not None
                self._rows.extend(found)
                new_rows = len(found)
        self._after_growth(new_rows)

    def set_filter(self, spec: FilterSpec | None) -> None:
        """Show only the lines matching ``spec`` (None or an empty spec: every line). A filter
        runs in a thread worker; the view shows the previous lines until it is done."""
        if spec is not None and spec.is_empty:
            spec = None
        if spec == self._filter:
            return
        self._filter = spec
        self._filter_serial += 1
        self.refresh_bindings()  # escape clears it now (or no more)
        if self._preview is not None:  # filtered once the index is in
            self._update_virtual_size()
            self._update_status()
            self.refresh()
            return
        if spec is None:
            self.workers.cancel_group(self, FILTER_GROUP)
            top = self._top_logical()
            self._filter_running = False
            self._rows = None
            self._cache.clear()
            self._update_virtual_size()
            if self._follow:
                self.scroll_end(animate=False, immediate=True, x_axis=False)
            else:
                self._restore_position(top)
            self._update_status()
            self.refresh()
            self.post_message(self.FilterApplied(self, None, self._known))
            return
        self._start_filter(0, self._known, replace=True)

    def set_search(self, spec: FilterSpec | None, direction: int = 1) -> None:
        """Search for ``spec`` and highlight the first match from the view's position (the
        latest one when following); None clears the search."""
        self._search = spec if spec is not None and not spec.is_empty else None
        self.refresh_bindings()  # ] and [ apply now (or no more)
        self._search_re = (
            re.compile(re.escape(printable(self._search.text)), re.IGNORECASE)
            if self._search is not None and self._search.text
            else None
        )
        self._match = None
        self._search_note = ""
        self._cache.clear()
        self.refresh()
        if self._search is None or self._preview is not None:
            self._search_serial += 1
            self.workers.cancel_group(self, SEARCH_GROUP)
            self._search_note = "waits for the index" if self._search is not None else ""
            self._update_status()
            return
        if self._follow and direction > 0:
            self._find(self._known - 1, -1)
        else:
            self._find(self._top_logical() if direction > 0 else self._bottom_logical(), direction)

    def find_next(self) -> None:
        """The next match below the current one (wrapping to the top)."""
        self._step_match(1)

    def find_previous(self) -> None:
        """The previous match above the current one (wrapping to the bottom)."""
        self._step_match(-1)

    # --- actions -----------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.follow = not self._follow
        self.refresh_preview()

    def action_filter(self) -> None:
        current = self._filter.describe() if self._filter is not None else ""
        self.app.push_screen(
            LogQueryScreen("Filter the log", "instance:ID task:ID event:NAME text", current),
            self._filter_entered,
        )

    def action_search(self) -> None:
        current = self._search.describe() if self._search is not None else ""
        self.app.push_screen(
            LogQueryScreen("Search the log", "text, or instance:/task:/event: as in /", current),
            self._search_entered,
        )

    def action_next_match(self) -> None:
        self.find_next()

    def action_previous_match(self) -> None:
        self.find_previous()

    def action_clear(self) -> None:
        if self._search is not None:
            self.set_search(None)
        elif self._filter is not None:
            self.set_filter(None)

    # Scrolling is not animated: a jump across a million lines is a jump.

    def action_scroll_end(self) -> None:
        self.follow = True
        self.refresh_preview()
        self.scroll_end(animate=False, x_axis=False)

    def action_scroll_home(self) -> None:
        self._pause_for_user()
        self.scroll_home(animate=False, x_axis=False)

    def action_scroll_up(self) -> None:
        self._pause_for_user()
        self.scroll_up(animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_down(animate=False)

    def action_page_up(self) -> None:
        self._pause_for_user()
        self.scroll_page_up(animate=False)

    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return self._search is not None
        if action == "clear":
            return self._search is not None or self._filter is not None
        return True

    def _filter_entered(self, query: str | None) -> None:
        if query is not None:
            self.set_filter(FilterSpec.parse(query))

    def _search_entered(self, query: str | None) -> None:
        if query is not None:
            self.set_search(FilterSpec.parse(query))

    # --- events ------------------------------------------------------------------------------

    @property
    def cached_lines(self) -> int:
        """How many drawn lines are kept (only what was on screen is read and drawn)."""
        return len(self._cache)

    def on_mount(self) -> None:
        self._known = len(self.index)
        self._generation = self.index.generation
        if self._known == 0:
            # Not indexed yet (the cockpit folds the history first): the last lines now, read
            # backwards from the end, until refresh_index brings the index (issue 17).
            tail = read_tail(*self.index.paths, max_lines=_PREVIEW_LINES)
            if tail.lines:
                self._preview = TailPreview(tail)
        self._update_virtual_size()
        if self._follow:
            self.scroll_end(animate=False, x_axis=False)
        self._update_status()

    def on_resize(self, event: Resize) -> None:
        if self._follow:
            self.scroll_end(animate=False, x_axis=False)

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self._pause_for_user()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cache.clear()
        if self._preview is not None:
            self._preview.strips.clear()

    # --- workers -----------------------------------------------------------------------------

    # --- rendering ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if self.row_count == 0 and self._filter is None and self._missing:
            return wrapped_row(self._missing, y, width, base, self.app.console)
        if row >= self.row_count:
            return Strip.blank(width, base)
        if self._preview is not None:
            return self._sized(self._preview_strip(self._preview, row), scroll_x, width, base)
        logical = self.logical_line(row)
        if logical >= self._known:
            return Strip.blank(width, base)
        strip = self._cache.get(logical)
        if strip is None:
            self._fill_cache(scroll_y, scroll_y + self.size.height)
            strip = self._cache.get(logical)
            if strip is None:  # pragma: no cover - the fill covers every visible row
                return Strip.blank(width, base)
        return self._sized(strip, scroll_x, width, base)

    def _sized(self, strip: Strip, scroll_x: int, width: int, base: Style) -> Strip:
        """``strip`` as shown from ``scroll_x`` (and the virtual width grown to it)."""
        if strip.cell_length > self._width:
            self._width = strip.cell_length
            self.call_later(self._grow_width)
        seen = self.scrollable_content_region.width or width
        return marked(strip, scroll_x, width, seen, base)

    def show_missing(self, missing: str) -> None:
        """What to say while the log is empty because it does not exist (where it was looked
        for, how to point elsewhere: :func:`~factory_tui.ui.widgets.text.missing_lines`)."""
        if missing != self._missing:
            self._missing = missing
            self.refresh()

    def _fill_cache(self, first_row: int, stop_row: int) -> None:
        """Read and draw the lines of rows [first_row, stop_row) that are not drawn yet."""
        stop_row = min(stop_row, self.row_count)
        if first_row >= stop_row:
            return
        if self._rows is None:
            first, stop = first_row, min(stop_row, self._known)
            for k, raw in enumerate(self.index.lines(first, stop)):
                if first + k not in self._cache:
                    self._cache[first + k] = self._draw(raw, first + k)
            return
        for row in range(first_row, stop_row):
            logical = self._rows[row]
            if logical not in self._cache and logical < self._known:
                self._cache[logical] = self._draw(self.index.line(logical), logical)

    def _preview_strip(self, preview: TailPreview, row: int) -> Strip:
        strip = preview.strips.get(row)
        if strip is None:
            raw = preview.line_at(row)
            if raw is None:
                if self._styles is None:
                    self._styles = line_styles(
                        self.COMPONENT_CLASSES, self.get_component_rich_style
                    )
                text = Text(NOTE, style=self._styles["log-view--timestamp"], end="")
                strip = Strip(text.render(self.app.console), text.cell_len)
            else:
                strip = self._draw(raw, -1)
            preview.strips[row] = strip
        return strip

    def _leave_preview(self, preview: TailPreview) -> None:
        """The index is in: its lines replace the tail's (the same lines, numbered now), at the
        same place when the engineer scrolled; a filter and a search that waited run now."""
        top = None if self._follow else preview.logical_of(round(self.scroll_y), len(self.index))
        self._preview = None
        self._generation = self.index.generation
        self._known = len(self.index)
        self._cache.clear()
        if self._filter is not None:
            self._start_filter(0, self._known, replace=True)
        self._update_virtual_size()
        if self._follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif top is not None:
            self._restore_position(top)
        if self._search is not None:
            self.set_search(self._search)
        self._update_status()
        self.refresh()

    def _line_styles(self) -> dict[str, Style]:
        if self._styles is None:
            self._styles = line_styles(self.COMPONENT_CLASSES, self.get_component_rich_style)
        return self._styles

    def _draw(self, raw: str, logical: int) -> Strip:
        text = self._line_text(raw, logical)
        return Strip(text.render(self.app.console), text.cell_len)

    def _line_text(self, raw: str, logical: int) -> Text:
        """One log line as styled text: every character of the line, literally."""
        return line_text(
            raw,
            self._line_styles(),
            plain=self.rich_style,
            current=logical == self._match,
            search=self._search_re,
        )

    # --- helpers -----------------------------------------------------------------------------

    def _after_growth(self, new_rows: int) -> None:
        if not self._follow:
            self._new_while_paused += new_rows
        if self._out_of_sight():
            # Another view is on screen: the new size, the scroll to the tail and the status
            # wait until this one shows. A hidden widget's new size is looked up in the whole
            # screen's layout, made again for it at every append (a fifth of the cockpit's CPU
            # under 1,000 lines/s, issue 17).
            self._growth_unshown = True
            return
        self._show_growth()

    def _show_growth(self) -> None:
        self._growth_unshown = False
        self._update_virtual_size()
        if self._follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_status()
        self.refresh()

    def _out_of_sight(self) -> bool:
        """This view or a container of it is not displayed (another view's tab is active)."""
        node: DOMNode | None = self
        while isinstance(node, Widget):
            if not node.display:
                return True
            node = node.parent
        return False

    def on_show(self) -> None:
        if self._growth_unshown:
            self._show_growth()

    def _grow_width(self) -> None:
        """A wider line was drawn: widen the virtual size (a horizontal scrollbar may appear and
        take a row, so a following view scrolls to the end again)."""
        self._update_virtual_size()
        if self._follow:
            self.scroll_end(animate=False, x_axis=False)

    def _pause_for_user(self) -> None:
        if self._follow:
            self.follow = False
