"""Agent panes: one per instance, in a grid that goes from one column at 80 cells to several.

Each pane is drawn from one :class:`InstanceView` and the fleet's ``now``; the grid updates panes
by instance id (a pane is re-drawn only when its view changed, added or removed as instances come
and go, moved only when the engineer changes the order), so focus and scroll position survive
every update. What a pane says is built in :mod:`factory_tui.ui.widgets.agent_lines`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from factory_tui.core.safe import plain_int
from factory_tui.ui.widgets.agent_lines import host_header, pane_lines
from factory_tui.ui.widgets.fleet_view import READING, empty_text
from factory_tui.ui.widgets.quiet import same_content, update_if_changed
from factory_tui.ui.widgets.text import AGENT_BADGES, lit, matches, missing_lines

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not the fleet's
    from factory_tui.core.fleet import Fleet, InstanceView
    from factory_tui.core.fleet_hosts import HostGroup

__all__ = ["ORDER_NAMES", "AgentGrid", "AgentPane", "Order", "id_order"]

#: A pane is at least this wide; the grid has as many columns as fit.
MIN_PANE_WIDTH = 58

Order = Literal["attention", "id"]
"""How the grid orders its panes: the fleet's order ("needs me first": crashed, stale, working,
idle, ended) as it was when last sorted, or by instance id."""
ORDER_NAMES: dict[Order, str] = {"attention": "needs me first", "id": "by id"}


def id_order(instance_id: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that puts ``agent-2`` before ``agent-10`` (numbers compare as numbers)."""
    parts = re.split(r"(\d+)", instance_id)
    return tuple(
        (1, part) if (number := plain_int(part, digits=1000)) is None else (0, number)
        for part in parts
        if part
    )


class AgentPane(Widget, can_focus=True):
    """One agent instance. Enter (or a double click) opens its detail screen."""

    DEFAULT_CSS = """
    AgentPane {
        height: auto;
        border: round $panel-lighten-2;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Details", id="agent.open")]

    class Selected(Message):
        """The engineer asked for this instance's details."""

        def __init__(self, instance_id: str) -> None:
            super().__init__()
            self.instance_id = instance_id

    def __init__(self, view: InstanceView, now: datetime, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.now = now
        self.spend: Content | None = None
        self._drawn: tuple[int, list[Content]] | None = None
        """The lines last worked out, and the width they were for (height and render share
        them)."""
        self._apply_classes(update=False)  # the styles are worked out once, as it is mounted

    def _apply_classes(self, *, update: bool = True) -> None:
        # One style update for the lot (each one is the stylesheet applied again: ~0.5 ms, so
        # 50 ms of the first fleet's frame of a hundred agents when each pane's was its own).
        self.update_classes(
            {f"-{status}": self.view.status == status for status in AGENT_BADGES}, update=update
        )
        self.border_title = Content(lit(self.view.id))
        word, style = AGENT_BADGES.get(self.view.status, (self.view.status.upper(), "bold"))
        self.border_subtitle = Content.styled(f" {word} ", style)

    def show(self, view: InstanceView, now: datetime) -> None:
        """Show a new view of the same instance; re-draws only if what the pane shows changed
        (ages are shown to the minute, so a new ``now`` within the same minute changes nothing
        but second-precision ages, which wait for the next minute), and lays the screen out
        again only if its height did. A log line of the agent's changes its view (its recent
        events, the time of its last one) but seldom its lines."""
        same_minute = now.replace(second=0) == self.now.replace(second=0)
        if same_minute and (view is self.view or view == self.view):
            return
        old, badge = self._lines(), (self.view.id, self.view.status)
        self.view, self.now, self._drawn = view, now, None
        if (view.id, view.status) != badge:
            self._apply_classes()
        self._redraw_if_changed(old)

    def _lines(self, width: int | None = None) -> list[Content]:
        """The pane's lines at ``width`` (default: its own), worked out once a width."""
        if width is None:
            width = self.content_size.width or MIN_PANE_WIDTH
        if self._drawn is None or self._drawn[0] != width:
            self._drawn = (width, pane_lines(self.view, self.now, width, self.spend))
        return self._drawn[1]

    def _redraw_if_changed(self, old: list[Content]) -> None:
        new = self._lines()
        if len(new) != len(old):
            self.refresh(layout=True)
        elif not all(same_content(a, b) for a, b in zip(old, new, strict=True)):
            self.refresh()

    def show_spend(self, spend: Content | None) -> None:
        """The agent's spend line (issue 6); re-drawn only when it changed (text or style:
        ``Content ==`` compares the text only)."""
        if (spend is None and self.spend is None) or same_content(self.spend, spend):
            return
        old = self._lines()
        self.spend, self._drawn = spend, None
        self._redraw_if_changed(old)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # Kept for the drawing and the next ask: a layout asks each pane twice, and a pane
        # off screen is never drawn (a hundred panes' lines were worked out three times).
        return len(self._lines(width))

    def render(self) -> Content:
        return Content("\n").join(self._lines())

    def action_open(self) -> None:
        self.post_message(self.Selected(self.view.id))

    def on_click(self, event: events.Click) -> None:
        if event.chain >= 2:
            self.post_message(self.Selected(self.view.id))


class AgentGrid(VerticalScroll, can_focus=False):
    """The agent panes, updated by instance id; arrow keys move between panes, ``o`` switches
    the order between "needs me first" and "by id".

    Panes keep their place. "Needs me first" is the fleet's own order (crashed, stale, working,
    idle, ended; decided in the core), but it is applied only when it is asked for: every pane's
    rank is fixed when the pane first appears (after the ones already shown) and when the
    engineer presses ``o`` back to "needs me first"; an agent whose status changes keeps its
    rank. A grid re-sorted on every refresh moves the pane under the cursor whenever any agent
    changes status, so a key pressed a moment after a refresh would act on another agent (an
    agent needing attention is found with ``n`` and shown by its badge, not by moving). While the
    factory is still being read the order follows the fleet: nothing has been shown for long.
    "By id" never moves a pane: ids do not change.

    When the fleet's agents run on more than one host, the panes are grouped by host under a
    line naming it, its agent count and how its pids are checked (this host first, the others
    by name); the order applies within each group. With one host there is no such line.
    """

    DEFAULT_CSS = """
    AgentGrid {
        layout: grid;
        grid-size: 1;
        grid-rows: auto;
        grid-gutter: 0 1;
        height: 1fr;
    }
    AgentGrid > #agents-order {
        column-span: 9;
        height: 1;
        color: $text-muted;
        text-align: right;
    }
    AgentGrid > .host-header {
        column-span: 9;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AgentGrid > .host-gap {
        height: 0;
    }
    AgentGrid > #agents-empty {
        column-span: 9;
        color: $text-muted;
        padding: 1 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1, 0)", "Up", show=False, id="agents.up"),
        Binding("down,j", "move(1, 0)", "Down", show=False, id="agents.down"),
        Binding("left,h", "move(0, -1)", "Left", show=False, id="agents.left"),
        Binding("right,l", "move(0, 1)", "Right", show=False, id="agents.right"),
        Binding("g,home", "edge(0)", "First agent", show=False, id="agents.first"),
        Binding("G,end", "edge(-1)", "Last agent", show=False, id="agents.last"),
        # One key, two bindings: the footer shows the one that applies, so it names the order
        # the grid is in now; o switches to the other.
        Binding("o", "order('id')", "Order: needs me first", id="agents.order-id"),
        Binding("o", "order('attention')", "Order: by id", id="agents.order-attention"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.panes: dict[str, AgentPane] = {}
        self.filter_text = ""
        self._fleet: Fleet | None = None
        self._loaded = False
        self._columns = 1
        self._spend_of: Callable[[InstanceView], Content] | None = None
        self.order: Order = "attention"
        self._rank: dict[str, int] = {}
        """Each instance's place in "needs me first", fixed when it first appeared or when that
        order was last asked for (see the class docstring)."""
        self._ranked = False
        self._headers: dict[str, Static] = {}
        self._gaps: dict[str, Static] = {}
        """Each host group's line, by :func:`~factory_tui.core.fleet_hosts.host_key` (none
        while the fleet runs on one host)."""
        self._empty: Static | None = None
        """The "no agents" line while it is shown: held, not queried for on every fleet (a
        query walks the grid's children; under load that is ten times a second)."""

    def compose_empty(self) -> Static:
        return Static(Content(READING), id="agents-empty")

    def on_mount(self) -> None:
        self._empty = self.compose_empty()
        self.mount(self._empty)

    def on_resize(self, event: events.Resize) -> None:
        columns = max(1, event.size.width // MIN_PANE_WIDTH)
        if columns != self._columns:
            self._columns = columns
            self.styles.grid_size_columns = columns
            if self._headers and self._fleet is not None:
                self._arrange(self.shown_views(self._fleet))

    @property
    def columns(self) -> int:
        return self._columns

    def shown_views(self, fleet: Fleet) -> list[InstanceView]:
        return [
            view
            for view in fleet.instances
            if matches(
                self.filter_text,
                view.id,
                view.status,
                view.host,
                view.task,
                view.branch,
                view.step,
                " ".join(view.claims),
            )
        ]

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if self._fleet is not None:
            self.show_fleet(self._fleet, loaded=self._loaded)

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        """Bring the panes in line with ``fleet``: update, add, remove; new panes take their
        place in the grid's order, the others keep theirs."""
        self._fleet, self._loaded = fleet, loaded
        self._update_ranks(fleet, resort=not (loaded and self._ranked))
        self._ranked = self._ranked or loaded
        views = self.shown_views(fleet)
        now = fleet.generated_at
        wanted = {view.id for view in views}
        for gone in [key for key in self.panes if key not in wanted]:
            self.panes.pop(gone).remove()
        new: list[AgentPane] = []
        for view in views:
            pane = self.panes.get(view.id)
            if pane is None:
                pane = AgentPane(view, now)  # no DOM id: instance ids are agent-written
                if self._spend_of is not None:
                    pane.spend = self._spend_of(view)
                self.panes[view.id] = pane
                new.append(pane)
            else:
                local = pane.view.local
                pane.show(view, now)
                # The spend line reads the instance's id and whether it runs here (a new
                # snapshot redraws every pane's, see show_spend).
                if self._spend_of is not None and view.local != local:
                    pane.show_spend(self._spend_of(view))
        if new:
            self.mount_all(new)
        self._arrange(views)
        self._show_empty(loaded, fleet, bool(views))

    def _update_ranks(self, fleet: Fleet, *, resort: bool) -> None:
        """``resort``: every rank from the fleet's order now; otherwise only new instances get
        one (after every ranked one, in the fleet's order) and gone ones lose theirs."""
        if resort:
            self._rank = {view.id: n for n, view in enumerate(fleet.instances)}
            return
        present = {view.id for view in fleet.instances}
        rank = {key: n for key, n in self._rank.items() if key in present}
        after = max(rank.values(), default=-1) + 1
        for view in fleet.instances:
            if view.id not in rank:
                rank[view.id] = after
                after += 1
        self._rank = rank

    def ordered_views(self, views: list[InstanceView]) -> list[InstanceView]:
        """``views`` in the grid's order."""
        if self.order == "id":
            return sorted(views, key=lambda view: id_order(view.id))
        return sorted(views, key=lambda view: self._rank.get(view.id, len(self._rank)))

    def _groups(self, views: list[InstanceView]) -> list[tuple[HostGroup | None, list[AgentPane]]]:
        """The panes of ``views`` in the grid's order, by host (each with its whole group, for
        the header); one group without a header while the whole fleet runs on one host."""
        from factory_tui.core.fleet_hosts import host_groups

        ordered = self.ordered_views(views)
        fleet = self._fleet
        whole = (
            [] if fleet is None else host_groups(fleet.instances, fleet.hostname, fleet.host_procs)
        )
        if sum(1 for group in whole if group.instances) < 2:
            return [(None, [self.panes[view.id] for view in ordered])]
        group_of = {key: n for n, group in enumerate(whole) for key in group.instances}
        panes: list[list[AgentPane]] = [[] for _ in whole]
        for view in ordered:
            panes[group_of[view.id]].append(self.panes[view.id])
        return [(group, shown) for group, shown in zip(whole, panes, strict=True) if shown]

    def _arrange(self, views: list[InstanceView]) -> None:
        wanted: list[Widget] = []
        before = 0  # panes in the previous group
        for group, panes in self._groups(views):
            if group is not None:
                # The grid puts a wide cell in the first free one, even at the end of a short
                # row: an empty cell fills the row first, so that the host's line starts one.
                gap = self._gap(group.key, -before % self._columns if wanted else 0)
                if gap is not None:
                    wanted.append(gap)
                wanted.append(self._header(group, len(panes)))
            wanted.extend(panes)
            before = len(panes)
        for lines in (self._headers, self._gaps):
            for key in [key for key, line in lines.items() if line not in wanted]:
                lines.pop(key).remove()
        if self._laid_out() != wanted:
            for widget in wanted:
                self.move_child(widget, after=self.children[-1])

    def _laid_out(self) -> list[Widget]:
        """The panes and host lines (with the gaps before them), in the order shown."""
        return [
            child
            for child in self.children
            if isinstance(child, AgentPane)
            or child.has_class("host-header")
            or child.has_class("host-gap")
        ]

    def _gap(self, key: str, span: int) -> Static | None:
        """The empty cell that ends the row before a host's line (None: the row is full)."""
        gap = self._gaps.get(key)
        if span == 0:
            return None
        if gap is None:
            gap = self._gaps[key] = Static(classes="host-gap")
            self.mount(gap)
        if gap.styles.column_span != span:  # a style set is a new layout, even unchanged
            gap.styles.column_span = span
        return gap

    def _header(self, group: HostGroup, shown: int) -> Static:
        """The host's line, made or brought up to date."""
        text = host_header(group, shown)
        header = self._headers.get(group.key)
        if header is None:
            header = Static(text, classes="host-header")  # no DOM id: host names are agent-written
            self._headers[group.key] = header
            self.mount(header)
        else:
            old = header.visual
            if not (
                isinstance(old, Content) and (old.plain, old.spans) == (text.plain, text.spans)
            ):
                header.update(text)
        return header

    def host_lines(self) -> list[str]:
        """The host lines as shown, in order (none while the fleet runs on one host)."""
        return [
            child.visual.plain
            for child in self._laid_out()
            if child.has_class("host-header")
            and isinstance(child, Static)
            and isinstance(child.visual, Content)
        ]

    def rows(self) -> list[list[AgentPane]]:
        """The panes as laid out in the grid: a row per line of panes, a host line starting a
        new row."""
        rows: list[list[AgentPane]] = [[]]
        for child in self._laid_out():
            if child.has_class("host-gap"):
                continue
            if not isinstance(child, AgentPane):
                rows.append([])
            elif len(rows[-1]) < self._columns:
                rows[-1].append(child)
            else:
                rows.append([child])
        return [row for row in rows if row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Of the two ``o`` bindings, the one that switches away from the current order."""
        if action == "order":
            return bool(parameters) and parameters[0] != self.order
        return super().check_action(action, parameters)

    def action_order(self, order: str) -> None:
        """Order the panes by ``order``; "needs me first" is sorted afresh from the statuses
        now. The focused pane stays focused and in view, wherever it moves."""
        if order not in ORDER_NAMES:
            return
        self.order = "id" if order == "id" else "attention"
        if self._fleet is not None:
            if self.order == "attention":
                self._update_ranks(self._fleet, resort=True)
            self._arrange(self.shown_views(self._fleet))
        focused = self.screen.focused
        if isinstance(focused, AgentPane) and focused in self.ordered_panes():
            self.call_after_refresh(focused.scroll_visible, animate=False)
        self._show_order()
        self.refresh_bindings()
        self.notify(f"Agents: {ORDER_NAMES[self.order]}", markup=False, timeout=2)

    def _show_order(self) -> None:
        """A line above the panes says the order when it is not the default (the footer, where
        the ``o`` key says it too, is often too narrow to show it)."""
        line = self.query("#agents-order")
        if self.order == "attention":
            line.remove()
        elif not line:
            text = Content.styled("ordered by id · o: needs me first", "$text-muted")
            self.mount(Static(text, id="agents-order"), before=0 if self.children else None)

    def _show_empty(self, loaded: bool, fleet: Fleet, any_shown: bool) -> None:
        empty = self._empty
        if any_shown:
            if empty is not None:  # a removal of nothing still costs a message round
                self._empty = None
                empty.remove()
            return
        message = empty_text(
            loaded=loaded,
            found=bool(fleet.instances),
            noun="agent",
            filter_text=self.filter_text,
            missing=missing_lines(fleet.missing),
            missing_intro="No agents: nothing to read.\n",
            nothing="No agents: no claim has an owner and operations.log names no instance. "
            "Agents appear here as soon as they claim work or log a SESSION-START.",
        )
        if empty is not None:
            update_if_changed(empty, message)
        else:
            self._empty = Static(message, id="agents-empty")
            self.mount(self._empty)

    def show_spend(self, spend_of: Callable[[InstanceView], Content] | None) -> None:
        """Each pane's spend line from ``spend_of(its instance)`` (issue 6; None: no line)."""
        self._spend_of = spend_of
        for pane in self.panes.values():
            pane.show_spend(spend_of(pane.view) if spend_of is not None else None)

    def ordered_panes(self) -> list[AgentPane]:
        return [child for child in self.children if isinstance(child, AgentPane)]

    def focus_instance(self, instance_id: str) -> bool:
        pane = self.panes.get(instance_id)
        if pane is None:
            return False
        pane.focus()
        pane.scroll_visible(animate=False)
        return True

    def action_edge(self, which: int) -> None:
        """``g``/Home: the first pane; ``G``/End: the last (in the order shown)."""
        panes = self.ordered_panes()
        if panes:
            panes[which].focus()
            panes[which].scroll_visible(animate=False)

    def action_move(self, rows: int, columns: int) -> None:
        """Left and right walk the panes in order (across rows and hosts); up and down go to
        the pane above or below (the last of a shorter row), across a host line too."""
        panes = self.ordered_panes()
        if not panes:
            return
        focused = self.screen.focused
        index = panes.index(focused) if isinstance(focused, AgentPane) and focused in panes else -1
        if index < 0:
            target = panes[0]
        elif rows:
            grid = self.rows()
            row = next(n for n, line in enumerate(grid) if panes[index] in line)
            column = grid[row].index(panes[index])
            line = grid[max(0, min(len(grid) - 1, row + rows))]
            target = line[min(column, len(line) - 1)]
        else:
            target = panes[max(0, min(len(panes) - 1, index + columns))]
        target.focus()
        target.scroll_visible(animate=False)
