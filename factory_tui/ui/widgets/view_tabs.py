"""The cockpit's tab bar as one widget: the views' titles in a row and the active one's
underline, drawn as Textual's ``Tabs`` draws them (the same cells, the same styles).

Textual's tab bar is a dozen widgets (a ``Tab`` per title, their containers, the underline):
styling, laying out and drawing them was a fifth of the cockpit's first frame (issue 17). Here
one widget draws the two lines; a click on a title says which view it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.bar import Bar
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

__all__ = ["ViewTabs"]


class ViewTabs(Widget):
    """A title per view, its label set by :meth:`set_label`, the ``active`` one underlined."""

    DEFAULT_CSS = """
    ViewTabs {
        width: 100%;
        height: 2;
        pointer: pointer;
        & > .view-tabs--tab { color: $foreground 50%; }
        & > .view-tabs--active { color: $foreground; }
        & > .view-tabs--bar {
            color: $block-cursor-background;
            background: $foreground 10%;
        }
        &:ansi {
            & > .view-tabs--tab { text-style: dim; }
            & > .view-tabs--active { text-style: not dim bold; }
            & > .view-tabs--bar {
                color: $block-cursor-background;
                background: $border-blurred;
            }
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "view-tabs--tab",
        "view-tabs--active",
        "view-tabs--bar",
    }
    ALLOW_SELECT = False

    active: reactive[str] = reactive("", init=False)
    """The view whose title is underlined."""

    class Activated(Message):
        """A view was shown (by a key, a click or at start)."""

        def __init__(self, view: str) -> None:
            super().__init__()
            self.view = view

    class Clicked(Message):
        """A view's title was clicked."""

        def __init__(self, view: str) -> None:
            super().__init__()
            self.view = view

    def __init__(self, titles: Mapping[str, str], *, active: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels: dict[str, Content] = {view: Content(title) for view, title in titles.items()}
        self.set_reactive(ViewTabs.active, active)
        self._hovered: str | None = None
        """The view whose title is under the mouse (drawn as the active one's, as a Tab's
        ``:hover``)."""

    def label(self, view: str) -> Content:
        """The label shown for ``view``."""
        return self._labels[view]

    def set_label(self, view: str, label: Content) -> None:
        """Show ``label`` for ``view`` (redrawn only when it changed)."""
        old = self._labels[view]
        if old != label or old.spans != label.spans:
            self._labels[view] = label
            self.refresh()

    def watch_active(self) -> None:
        self.refresh()

    def spans(self) -> dict[str, tuple[int, int]]:
        """Each view's title: its first cell and the cell after its last (padding included)."""
        spans: dict[str, tuple[int, int]] = {}
        x = 0
        for view, label in self._labels.items():
            spans[view] = (x, x + label.cell_length + 2)
            x += label.cell_length + 2
        return spans

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        background = Style(bgcolor=self.background_colors[1].rich_color)
        if y == 0:
            return self._titles(width, background)
        if y == 1:
            return self._underline(width, background)
        return Strip.blank(width, background)

    def _titles(self, width: int, background: Style) -> Strip:
        """The titles, each with a cell of padding either side, as a ``Tab`` draws itself."""
        pad = Segment(" ", background)
        segments: list[Segment] = []
        for view, label in self._labels.items():
            bright = view in (self.active, self._hovered)
            part = "view-tabs--active" if bright else "view-tabs--tab"
            style = self.get_visual_style(part)
            strips = Visual.to_strips(self, label, label.cell_length, 1, style)
            segments.append(pad)
            segments.extend(strips[0] if strips else ())
            segments.append(pad)
        used = sum(label.cell_length + 2 for label in self._labels.values())
        if used < width:
            segments.append(Segment(" " * (width - used), background))
        return Strip(segments).crop(0, width)

    def _underline(self, width: int, background: Style) -> Strip:
        """The bar under the titles, the active title's part highlighted (Textual's
        ``Underline``)."""
        start, end = self.spans().get(self.active, (0, 0))
        bar_style = self.get_component_rich_style("view-tabs--bar")
        bar = Bar(
            highlight_range=(start + 1, end - 1) if end else (0, 0),
            highlight_style=Style.from_color(bar_style.color),
            background_style=Style.from_color(bar_style.bgcolor),
        )
        console = self.app.console
        rendered = console.render(bar, console.options.update_width(width))
        segments = [
            Segment(text, background + style if style else background)
            for text, style, _ in rendered
        ]
        return Strip(segments, width)

    def view_at(self, x: int) -> str | None:
        """The view whose title (or its underline) covers column ``x``."""
        return next((view for view, (a, b) in self.spans().items() if a <= x < b), None)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        view = self.view_at(event.x)
        if view is not None:
            self.post_message(self.Clicked(view))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hovered(self.view_at(event.x) if event.y == 0 else None)

    def on_leave(self, _event: events.Leave) -> None:
        self._set_hovered(None)

    def _set_hovered(self, view: str | None) -> None:
        if view != self._hovered:
            self._hovered = view
            self.refresh()
