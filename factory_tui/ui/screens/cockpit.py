"""The cockpit's main screen: the views, their keys, focus, filters, details and the actions.

The app (:mod:`factory_tui.ui.app`) owns the data the views show — ``fleet``, ``queue`` and the
spend — and sets it only in its message handlers; it then hands it to this screen
(:meth:`CockpitScreen.show_fleet`, :meth:`show_queue`, :meth:`show_cost`), which updates every
view by key. Everything the engineer does here is a binding of this screen: it applies only
while the cockpit is on top (a confirmation, the help or an agent's detail screen has keys of
its own), so no action has to ask "am I on the main screen?". Each action picks its target
here and hands it to its flow (:mod:`factory_tui.ui.flows`), which plans, confirms, acts and
reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TabPane, Tree

from factory_tui.config import Config
from factory_tui.core.attention import AttentionItem, attention_items
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.filterbar import FilterBar
from factory_tui.ui.widgets.footer import KeysFooter
from factory_tui.ui.widgets.summary import (
    SummaryBar,
    ask_segment,
    changed_segment,
    changed_short_segment,
    fleet_segments,
    fleet_short_segments,
    waiting_segments,
)
from factory_tui.ui.widgets.text import missing_lines

# The first frame needs only what is imported above (issue 3: start to first paint): the other
# views' modules are imported by :meth:`CockpitScreen.mount_the_rest`, right after it.
if TYPE_CHECKING:
    from collections.abc import Coroutine

    from textual.widgets import DataTable

    from factory_tui.core.claims import ClaimUnit
    from factory_tui.core.cost_report import CostView
    from factory_tui.core.council import Proposal
    from factory_tui.core.fleet import Fleet, InstanceView
    from factory_tui.core.prs_queue import PrView
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.messages import FleetUpdated, PrsLoaded
    from factory_tui.ui.screens.help import KeySection
    from factory_tui.ui.widgets.claims import ClaimNode, ClaimsView, ClaimTree
    from factory_tui.ui.widgets.cost import BudgetBanner, CostPanel, CostSnapshot
    from factory_tui.ui.widgets.log_view import LogView
    from factory_tui.ui.widgets.problems import ProblemsView
    from factory_tui.ui.widgets.prs import PrsView
    from factory_tui.ui.widgets.sessions import SessionsView
    from factory_tui.ui.widgets.state import StateView

__all__ = ["DETAIL_VIEWS", "VIEWS", "VIEW_TITLES", "CockpitScreen"]

VIEWS: tuple[str, ...] = (
    "agents",
    "claims",
    "sessions",
    "log",
    "problems",
    "state",
    "prs",
    "cost",
)
DETAIL_VIEWS = ("agents", "claims", "sessions")
VIEW_TITLES = {
    "agents": "Agents",
    "claims": "Claims",
    "sessions": "Sessions",
    "log": "Log",
    "problems": "Problems",
    "state": "State",
    "prs": "PRs",
    "cost": "Cost",
}
#: The engineer's actions (issue 4): hidden where they do not apply and in read-only mode.
_ACTIONS = ("release", "recover", "stop_agent", "release_all_stale", "unlock")
#: The approval queue's actions (issue 5): on the PR under the cursor in the PRs view.
_PR_ACTIONS = ("approve_pr", "request_changes", "mark_reviewed")
#: Actions on something the reader found: none applies before the first load.
_ACT_ON_WHAT_IS_READ = frozenset((*_ACTIONS, *_PR_ACTIONS, "council"))


#: Each view's widget (it filters and restyles itself).
_VIEW_IDS = {
    "agents": "#agent-grid",
    "claims": "#claims-view",
    "sessions": "#sessions-view",
    "log": "#log-view",
    "problems": "#problems-view",
    "state": "#state-view",
    "prs": "#prs-view",
    "cost": "#cost-view",
}


class _Filtered(Protocol):
    def set_filter(self, text: str) -> None: ...


class _Styled(Protocol):
    def restyle(self) -> None: ...


class CockpitScreen(Screen[None]):
    """The main screen: the header, the views as tabs, the filter line, the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_view", "Next view", priority=True, id="view.next"),
        Binding(
            "shift+tab",
            "previous_view",
            "Previous view",
            priority=True,
            show=False,
            id="view.previous",
        ),
        Binding("1", "show_view('agents')", "Agents", show=False, id="view.agents"),
        Binding("2", "show_view('claims')", "Claims", show=False, id="view.claims"),
        Binding("3", "show_view('sessions')", "Sessions", show=False, id="view.sessions"),
        Binding("4", "show_view('log')", "Log", show=False, id="view.log"),
        Binding("5", "show_view('problems')", "Problems", show=False, id="view.problems"),
        Binding("6", "show_view('state')", "State", show=False, id="view.state"),
        Binding("7", "show_view('prs')", "PRs", show=False, id="view.prs"),
        Binding("8", "show_view('cost')", "Cost", show=False, id="view.cost"),
        Binding("enter", "details", "Details", id="details"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("n", "next_attention", "Next needing you", id="attention.next"),
        Binding("y", "copy", "Copy id", show=False, id="copy"),
        Binding("x", "release", "Release claim", id="action.release"),
        Binding("X", "release_all_stale", "Release all stale", id="action.release_all"),
        Binding("u", "unlock", "Unlock", id="action.unlock"),
        Binding("r", "recover", "Recover", id="action.recover"),
        Binding("K", "stop_agent", "Stop agent", id="action.stop"),
        Binding("C", "council", "Council", id="action.council"),
        Binding("A", "acknowledge_budget", "Acknowledge budget", id="budget.acknowledge"),
        # ``r`` refreshes where there is nothing to recover (a disabled binding falls through).
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        # Where x, X or A does not apply, the key says why instead of doing nothing.
        Binding("x", "why_not('release')", "Release claim", show=False, id="why.release"),
        Binding("X", "why_not('release_all_stale')", "Release all stale", show=False, id="why.X"),
        Binding("A", "why_not('acknowledge_budget')", "Acknowledge budget", show=False, id="why.A"),
    ]

    def __init__(self, *, initial_view: str = "agents") -> None:
        super().__init__(id="cockpit")
        if initial_view not in VIEWS:
            raise ValueError(f"view {initial_view!r}: expected one of {', '.join(VIEWS)}")
        self.initial_view = initial_view
        self.filters: dict[str, str] = dict.fromkeys(VIEWS, "")
        self.announced: set[str] = set()
        self._attention_cursor: str | None = None
        self._binding_keys: tuple[tuple[str, str, bool], ...] = ()
        self.mounted_all = False
        """Every view is mounted (:meth:`mount_the_rest`)."""

    @property
    def config(self) -> Config:
        return self.factory.config

    @property
    def factory(self) -> FactoryApp:
        """The app, which owns the data shown here."""
        return cast("FactoryApp", self.app)

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The first frame: the header, the tabs, the initial view, the footer. The other views'
        # panes stay empty until _after_first_frame fills them; it also mounts the budget banner
        # and the filter line (both hidden until needed).
        yield SummaryBar(id="summary")
        with TabbedContent(initial=self.initial_view, id="views"):
            for view in VIEWS:
                with TabPane(VIEW_TITLES[view], id=view):
                    if view == self.initial_view:
                        yield self._view_content(view)
        yield KeysFooter()

    def _view_content(self, view: str) -> Widget:
        """What the pane of ``view`` holds (its module imported when first asked for)."""
        root = str(self.config.root)
        if view == "agents":
            return AgentGrid(id="agent-grid")
        if view == "claims":
            from factory_tui.ui.widgets.claims import ClaimsView

            return ClaimsView(id="claims-view")
        if view == "sessions":
            from factory_tui.ui.widgets.sessions import SessionsView

            return SessionsView(id="sessions-view")
        if view == "log":
            from factory_tui.ui.widgets.log_view import LogView

            return LogView(self.factory.log_index, follow=True, id="log-view")
        if view == "problems":
            from factory_tui.ui.widgets.problems import ProblemsView

            return ProblemsView(id="problems-view")
        if view == "state":
            from factory_tui.ui.widgets.state import StateView

            return StateView(id="state-view")
        if view == "prs":
            from factory_tui.ui.widgets.prs import PrsView

            return PrsView(root=root, id="prs-view")
        from factory_tui.ui.widgets.cost import CostPanel

        return CostPanel(root=root, id="cost-view")

    def _title_segment(self, *, short: bool = False) -> Content:
        """``factory-tui ROOT``; the short form is the root's name in the accent."""
        name = printable(self.config.root.name or str(self.config.root))
        parts: list[str | tuple[str, str]] = (
            [(name, "bold $accent")] if short else [("factory-tui", "bold $accent"), " ", name]
        )
        if self.config.read_only:
            parts.append((" read-only" if short else "  read-only", "$text-muted"))
        return Content.assemble(*parts)

    def on_mount(self) -> None:
        summary = self.query_one(SummaryBar)
        summary.set_segment("title", self._title_segment(), self._title_segment(short=True))
        summary.set_segments(waiting_segments())
        summary.set_segment("loading", Content.styled("reading the factory…", "$text-muted"))
        self.bindings_updated_signal.subscribe(self, self._bindings_refreshed)

    async def mount_the_rest(self) -> None:
        """Right after the first frame: the other views, the budget banner and the filter line
        (both hidden until needed)."""
        from factory_tui.ui.widgets.cost import BudgetBanner

        mounts = [
            self.query_one(f"#{view}", TabPane).mount(self._view_content(view))
            for view in VIEWS
            if view != self.initial_view
        ]
        mounts.append(self.mount(BudgetBanner(id="budget-banner"), after="#summary"))
        mounts.append(self.mount(FilterBar(id="filter-bar"), after="#views"))
        for mounted in mounts:
            await mounted
        self.mounted_all = True
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self.factory.prs_options.enabled:
            self.query_one(SummaryBar).set_segment("ask", ask_segment(None))
        else:
            self._prs_view.disable("The PR queue is not loaded in this cockpit.")
        if self.current_view == "prs":
            self._prs_looked()  # the cockpit opened on the queue: the engineer looks at it

    # -- what the app's feeds bring ---------------------------------------------------------------

    def show_progress(self, source: str, done: int, total: int) -> None:
        """How far the first read (or the log's indexing) is, in the header."""
        summary = self.query_one(SummaryBar)
        percent = 100 if not total else min(100, done * 100 // total)
        if source == "log index" and percent >= 100:
            summary.set_segment("loading", None)
            return
        what = "indexing the log" if source == "log index" else f"reading {source}"
        summary.set_segment(
            "loading", Content.styled(f"{printable(what)} {percent}%…", "$text-muted")
        )

    def show_fleet(self, message: FleetUpdated) -> None:
        """A new fleet (the app already holds it): every view, the tabs, the keys that apply,
        and a notification for what newly needs the engineer."""
        fleet, loaded = message.fleet, self.factory.loaded
        with self.app.batch_update():
            summary = self.query_one(SummaryBar)
            summary.set_segments(
                fleet_segments(fleet, loaded=loaded), fleet_short_segments(fleet, loaded=loaded)
            )
            summary.set_segment(
                "changed",
                changed_segment(self.factory.last_change),
                changed_short_segment(self.factory.last_change),
            )
            if message.initial:
                summary.set_segment("loading", None)
            self.query_one(AgentGrid).show_fleet(fleet, loaded=loaded)
            self._claims_view.show_fleet(fleet, loaded=loaded)
            self._sessions_view.show_fleet(fleet, loaded=loaded)
            self._problems_view.show_fleet(fleet, loaded=loaded)
            self._state_view.show_fleet(fleet, message.state)
            self._log_view.show_missing(missing_lines(fleet.missing, "log"))
            if message.log_changed:
                self._log_view.refresh_index()
            self._update_tab_labels(fleet)
        # Which action keys apply depends on the fleet (a stale claim to release, ...).
        self._refresh_bindings_if_changed()
        if message.initial and self.focused is None:
            self.call_after_refresh(self.focus_if_nothing_is)
        self._announce(fleet, first=message.initial)

    def show_queue(self, message: PrsLoaded, *, first: bool) -> None:
        """A new PR queue (the app already holds it): the PRs view, the header's Ask count."""
        queue = self.factory.queue
        with self.app.batch_update():
            self._prs_view.show_queue(message.queue, error=message.error)
            # No source answered (or the load itself failed): the count would be a guess.
            failed = queue is None or (not queue.sources and bool(queue.notices))
            waiting = queue.ask_waiting if queue is not None else None
            show = len(queue.show) if queue is not None else 0
            self.query_one(SummaryBar).set_segment(
                "ask",
                ask_segment(waiting, show, failed=failed),
                ask_segment(waiting, show, failed=failed, short=True),
            )
            self._update_tab_labels(self.factory.fleet)
        if first and self.current_view == "prs":
            self._prs_looked()
            if self.focused is None:
                self.call_after_refresh(self.focus_if_nothing_is)
        # Ask PRs already waiting when the cockpit opened are not news; later ones are.
        self._announce(self.factory.fleet, first=first)
        self.refresh_bindings()

    def show_spend_reading(self, percent: int | None = None) -> None:
        from factory_tui.ui.widgets.cost import spend_segment

        self.query_one(SummaryBar).set_segment(
            "spend", spend_segment(None, reading=True, percent=percent)
        )

    def show_cost(self, snapshot: CostSnapshot, *, first: bool) -> None:
        """A new spend snapshot (the app already holds it): the header, the panes' spend, the
        Cost view, the budget alerts."""
        from factory_tui.ui.widgets.cost import agent_spend_line, spend_segment

        with self.app.batch_update():
            self.query_one(SummaryBar).set_segment("spend", spend_segment(snapshot, reading=False))
            self._cost_panel.show_snapshot(snapshot)
            self.query_one(AgentGrid).show_spend(
                partial(agent_spend_line, snapshot) if snapshot.attributed else None
            )
            if snapshot.attributed:
                self._budget_alerts(snapshot.view)
            self._update_tab_labels(self.factory.fleet)
        if first:
            self.refresh_bindings()

    def show_cost_failed(self, error: str) -> None:
        from factory_tui.ui.widgets.cost import spend_segment

        self.query_one(SummaryBar).set_segment(
            "spend", spend_segment(self.factory.cost, reading=False, error=error)
        )
        self._cost_panel.show_error(error)

    def _update_tab_labels(self, fleet: Fleet) -> None:
        tabs = self.query_one(TabbedContent)
        counts = {
            "agents": len(fleet.instances),
            "claims": len(fleet.claims),
            "sessions": len(fleet.sessions),
            "problems": fleet.counts.get("problems", 0),
            "state": len(fleet.lint),
            **({"prs": len(self.factory.queue.views)} if self.factory.queue is not None else {}),
        }
        alarms = {
            "agents": fleet.counts.get("agents_crashed", 0) + fleet.counts.get("agents_stale", 0),
            "claims": fleet.counts.get("claims_stale", 0),
            "sessions": fleet.counts.get("sessions_crashed", 0),
            "problems": counts["problems"],
            "state": counts["state"],
            "prs": self.factory.queue.ask_waiting if self.factory.queue is not None else 0,
            "cost": len(self.factory.unacknowledged_budget_alerts()),
        }
        labels = {view: self._tab_label(view, counts, alarms, short=False) for view in VIEWS}
        # Every tab named at once: past the width, the totals go (the alarms stay).
        if sum(label.cell_length + 2 for label in labels.values()) > self.size.width:
            labels = {view: self._tab_label(view, counts, alarms, short=True) for view in VIEWS}
        for view, label in labels.items():
            tab = tabs.get_tab(view)
            if tab.label != label or tab.label.spans != label.spans:
                tab.label = label

    def _tab_label(
        self, view: str, counts: dict[str, int], alarms: dict[str, int], *, short: bool
    ) -> Content:
        """``Claims 10 !5 ⧩``: the title, the total (not when ``short``), the number needing the
        engineer, the filter mark."""
        parts: list[str | tuple[str, str]] = [VIEW_TITLES[view]]
        if view in counts and not short:
            parts.append(f" {counts[view]}")
        if alarms.get(view):
            parts.append((f" !{alarms[view]}", "bold $warning"))
        if self.filters[view]:
            parts.append((" ⧩", "$accent"))
        return Content.assemble(*parts)

    def on_resize(self, event: events.Resize) -> None:
        if self.factory.loaded:
            self._update_tab_labels(self.factory.fleet)

    def _announce(self, fleet: Fleet, *, first: bool) -> None:
        """Notify (and ring) once for each new thing needing the engineer; not for what was
        already there when the cockpit opened."""
        items = attention_items(fleet, self.factory.queue)
        new = [item for item in items if item.key not in self.announced]
        self.announced.update(item.key for item in items)
        if first or not new:
            return
        if self.config.notify:
            for item in new:
                self.notify(
                    item.title,
                    title=f"Needs you: {item.kind}",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )
        if self.config.bell:
            self.app.bell()

    def _on_theme_changed(self, _theme: object) -> None:
        for view in ("claims", "sessions", "problems", "state", "prs", "cost"):
            cast("_Styled", self.query_one(_VIEW_IDS[view])).restyle()

    # -- views, focus, keys ---------------------------------------------------------------------

    @property
    def current_view(self) -> str:
        return self.query_one(TabbedContent).active or self.initial_view

    # The views' widgets, looked up by id: their modules are imported with the views (see
    # ``_view_content``), not with this one.

    @property
    def _claims_view(self) -> ClaimsView:
        return cast("ClaimsView", self.query_one("#claims-view"))

    @property
    def _claim_tree(self) -> ClaimTree:
        return cast("ClaimTree", self.query_one("#claim-tree"))

    @property
    def _sessions_view(self) -> SessionsView:
        return cast("SessionsView", self.query_one("#sessions-view"))

    @property
    def _log_view(self) -> LogView:
        return cast("LogView", self.query_one("#log-view"))

    @property
    def _problems_view(self) -> ProblemsView:
        return cast("ProblemsView", self.query_one("#problems-view"))

    @property
    def _state_view(self) -> StateView:
        return cast("StateView", self.query_one("#state-view"))

    @property
    def _prs_view(self) -> PrsView:
        return cast("PrsView", self.query_one("#prs-view"))

    @property
    def _cost_panel(self) -> CostPanel:
        return cast("CostPanel", self.query_one("#cost-view"))

    @property
    def _budget_banner(self) -> BudgetBanner:
        return cast("BudgetBanner", self.query_one("#budget-banner"))

    def _view_widget(self, view: str) -> Widget:
        widgets: dict[str, str] = {
            "agents": "#agent-grid",
            "claims": "#claim-tree",
            "sessions": "#sessions-table",
            "log": "#log-view",
            "problems": "#problems-table",
            "state": "#state-table",
            "prs": "#prs-table",
            "cost": "#cost-view KeyedTable.-active",
        }
        return self.query_one(widgets[view])

    def _focus_view(self) -> None:
        """Give the current view's main widget the focus, at once.

        At once matters: when the old view hides, Textual moves a focus left inside it to a
        *sibling* of the focused widget (another agent pane), and the tabs follow that focus
        back to the old view.
        """
        if not self.is_active:
            return
        view = self.current_view
        target: Widget | None
        if view == "agents":
            focused = self.focused
            grid = self.query_one(AgentGrid)
            if isinstance(focused, AgentPane) and focused.parent is grid:
                return
            panes = grid.ordered_panes()
            target = panes[0] if panes else None
        else:
            target = self._view_widget(view)
        if target is None or not target.focusable:
            self.set_focus(None)
        else:
            self.set_focus(target, scroll_visible=False)

    def focus_if_nothing_is(self) -> None:
        """The first focus (after mount, after the first load) unless the engineer already put
        it somewhere (a key pressed meanwhile wins)."""
        if self.focused is None:
            self._focus_view()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Before mount_the_rest is done: the initial view, activated as it mounts (no filter
        # line yet; mount_the_rest records a first look at the PRs).
        started = self.mounted_all
        if started:
            self.query_one(FilterBar).close()
        self._focus_view()
        self.refresh_bindings()
        if started and self.current_view == "prs":
            self._prs_looked()

    @staticmethod
    def _keys_that_apply(screen: Screen[Any]) -> tuple[tuple[str, str, bool], ...]:
        active = screen.active_bindings
        return tuple((key, b.binding.action, b.enabled) for key, b in active.items())

    def _refresh_bindings_if_changed(self) -> None:
        """Refresh the footer only when the keys that apply changed: it rebuilds every key widget
        when told to, which under a steady stream of log lines cost more than the views."""
        keys = self._keys_that_apply(self)
        if keys != self._binding_keys:
            self._binding_keys = keys
            self.refresh_bindings()

    def _bindings_refreshed(self, screen: Screen[Any]) -> None:
        """The main screen's footer was refreshed, whoever asked (a focus change, a handler): it
        shows the keys that apply now."""
        self._binding_keys = self._keys_that_apply(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which keys apply now (the footer shows those): an action on what is selected only
        when something fitting is selected; nothing before the first load."""
        if action in ("next_view", "previous_view") and isinstance(self.focused, Input):
            return False
        if action in _ACT_ON_WHAT_IS_READ and not self.factory.loaded:
            return False  # nothing read yet (the first frame has no fleet): nothing to act on
        if action in _ACTIONS:
            return self._action_target(action) is not None
        if action in _PR_ACTIONS:
            return self._pr_target(action) is not None
        if action == "council":  # issue 6: where there is something to put to the Council
            return not self.config.read_only and self._council_target() is not None
        if action == "acknowledge_budget":
            return bool(self.factory.unacknowledged_budget_alerts())
        return not (action == "details" and self.current_view not in DETAIL_VIEWS)

    def action_show_view(self, view: str) -> None:
        if view in VIEWS and view != self.current_view:
            self.query_one(TabbedContent).active = view
            self._focus_view()

    def action_next_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index + 1) % len(VIEWS)])

    def action_previous_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index - 1) % len(VIEWS)])

    def action_details(self) -> None:
        """Open the detail screen of the agent behind what is selected in the current view."""
        instance = self._selected_instance()
        if instance is None:
            self.notify("Select an agent, a claimed claim or a session first.", markup=False)
            return
        self.open_detail(instance)

    def _copy_target(self) -> str | None:
        """What ``y`` copies: the selected agent's id, claim's key, session's key or PR's
        branch (its label when it has none)."""
        view = self.current_view
        if view == "agents":
            return self._selected_instance()
        if view == "claims":
            node = self._claim_tree.cursor_node
            claim = node.data.claim if node is not None and node.data is not None else None
            return claim.key if claim is not None else None
        if view == "sessions":
            return self._sessions_view.table.cursor_key()
        if view == "prs":
            found = self._prs_view.cursor()
            return None if found is None else (found[1].pr.branch or found[1].label)
        return None

    def action_copy(self) -> None:
        """Copy the selection's id to the clipboard (the terminal's, through OSC 52)."""
        text = self._copy_target() if self.factory.loaded else None
        if not text:
            self.notify("Nothing selected to copy here.", markup=False, timeout=3)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {text}", markup=False, timeout=3)

    def _selected_instance(self) -> str | None:
        view = self.current_view
        if view == "agents":
            focused = self.focused
            if isinstance(focused, AgentPane):
                return focused.view.id
            panes = self.query_one(AgentGrid).ordered_panes()
            return panes[0].view.id if panes else None
        if view == "claims":
            node = self._claim_tree.cursor_node
            if node is not None and node.data is not None and node.data.claim is not None:
                return node.data.claim.unit.owner
            return None
        if view == "sessions":
            key = self._sessions_view.table.cursor_key()
            session = next((s for s in self.factory.fleet.sessions if s.key == key), None)
            return session.instance if session else None
        return None

    def open_detail(self, instance_id: str) -> None:
        from factory_tui.ui.screens.detail import AgentDetailScreen

        if any(
            isinstance(s, AgentDetailScreen) and s.instance_id == instance_id
            for s in self.app.screen_stack
        ):
            return
        while len(self.app.screen_stack) > 1 and isinstance(self.app.screen, AgentDetailScreen):
            self.app.pop_screen()
        self.app.push_screen(AgentDetailScreen(self.factory.fleet, instance_id))

    def on_agent_pane_selected(self, message: AgentPane.Selected) -> None:
        self.open_detail(message.instance_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # By name, not ``@on(DataTable.RowSelected, ...)``: this module does not import DataTable
        # (the first frame has none).
        if event.control.id != "sessions-table":
            return
        session = next(
            (s for s in self.factory.fleet.sessions if s.key == event.row_key.value), None
        )
        if session is not None and session.instance:
            self.open_detail(session.instance)

    @on(Tree.NodeSelected, "#claim-tree")
    def _claim_selected(self, event: Tree.NodeSelected[ClaimNode]) -> None:
        data = event.node.data
        if data is not None and data.claim is not None and data.claim.unit.owner:
            self.open_detail(data.claim.unit.owner)

    # filter

    def action_filter(self) -> None:
        view = self.current_view
        if view == "log":
            log_view = self._log_view
            log_view.focus()
            log_view.action_filter()
            return
        self.query_one(FilterBar).open(VIEW_TITLES[view].lower(), self.filters[view])

    @on(Input.Changed, "#filter-bar")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(self.current_view, event.value)

    def on_filter_bar_closed(self, message: FilterBar.Closed) -> None:
        self.apply_filter(self.current_view, message.text)
        self._focus_view()

    def on_log_view_filter_applied(self, message: LogView.FilterApplied) -> None:
        self.filters["log"] = message.spec.describe() if message.spec is not None else ""
        self._update_tab_labels(self.factory.fleet)

    def apply_filter(self, view: str, text: str) -> None:
        """Show only what matches ``text`` in ``view`` (the log takes its own filter syntax)."""
        self.filters[view] = text
        if view == "log":
            from factory_tui.adapters.logfilter import FilterSpec

            self._log_view.set_filter(FilterSpec.parse(text) if text.strip() else None)
        else:
            cast("_Filtered", self.query_one(_VIEW_IDS[view])).set_filter(text)
        self._update_tab_labels(self.factory.fleet)

    # attention

    def action_next_attention(self) -> None:
        """Jump to the next thing needing the engineer (oldest first, wrapping around)."""
        items = attention_items(
            self.factory.fleet,
            self.factory.queue,
            budgets=[
                (state, self.factory.budget_seen.get(state.alert_id, self.factory.clock()))
                for state in self.factory.unacknowledged_budget_alerts()
            ],
        )
        if not items:
            self.notify(
                "Nothing needs you: no crashed session, no stale claim, no Ask PR waiting.",
                markup=False,
            )
            return
        keys = [item.key for item in items]
        index = 0
        if self._attention_cursor in keys:
            index = (keys.index(self._attention_cursor) + 1) % len(items)
        item = items[index]
        self._attention_cursor = item.key
        while len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        if self.filters[item.view]:
            self.apply_filter(item.view, "")
        self.action_show_view(item.view)
        self.call_after_refresh(self._select_target, item)
        self.notify(
            f"{index + 1}/{len(items)}: {item.title}",
            title="Needs you",
            markup=False,
            timeout=4,
        )

    def _select_target(self, item: AttentionItem) -> None:
        if item.view == "sessions":
            view = self._sessions_view
            view.select_key(item.target)
            view.table.focus()
        elif item.view == "claims":
            tree = self._claim_tree
            tree.select_key(item.target)
            tree.focus()
        elif item.view == "prs":
            prs = self._prs_view
            prs.select_pr(item.target)
            prs.table.focus()
        elif item.view == "cost":
            table = self._cost_panel.table
            table.select_key(item.target)
            table.focus()

    # actions: release, recover, stop (each planned and done on a thread, group "actions")

    def _action_target(self, action: str) -> str | None:
        """What ``action`` would act on now (a claim key, a task, an instance id), or ``None``
        when it does not apply: read-only mode, another screen on top, nothing fitting selected."""
        if self.config.read_only:
            return None
        if action == "release":
            return self._release_target()
        if action == "recover":
            return self._recover_target()
        if action == "stop_agent":
            return self._stop_target()
        if action == "release_all_stale":
            stale = [c.key for c in self.factory.fleet.claims if c.state == "stale"]
            return ",".join(stale) if stale else None
        if action == "unlock":
            return self._unlock_target()
        return None

    def _release_target(self) -> str | None:
        """Claims view: the selected claim if someone owns it (a claim that is not stale needs a
        typed confirmation); agents view: the selected agent's first stale claim."""
        view = self.current_view
        if view == "claims":
            node = self._claim_tree.cursor_node
            claim = node.data.claim if node is not None and node.data is not None else None
            if claim is not None and claim.unit.owner and claim.state in ("stale", "claimed"):
                return claim.key
            return None
        if view == "agents":
            instance = self._selected_instance()
            stale = [
                c.key
                for c in self.factory.fleet.claims
                if c.state == "stale" and c.unit.owner == instance
            ]
            return stale[0] if instance is not None and stale else None
        return None

    def _unlock_target(self) -> str | None:
        """Claims view: the name of the selected claim's stale lock (its writer died)."""
        if self.current_view != "claims":
            return None
        node = self._claim_tree.cursor_node
        claim = node.data.claim if node is not None and node.data is not None else None
        if claim is None:
            return None
        stale = [lock.name for lock in self.factory.fleet.locks_of(claim.key) if lock.stale]
        return stale[0] if stale else None

    def _recover_target(self) -> str | None:
        """The task of the selected crashed session (sessions view) or crashed agent."""
        view = self.current_view
        if view == "sessions":
            key = self._sessions_view.table.cursor_key()
            session = next((s for s in self.factory.fleet.sessions if s.key == key), None)
            return session.task if session is not None and session.status == "crashed" else None
        if view == "agents":
            instance = self._instance_view(self._selected_instance())
            if instance is None or instance.status != "crashed":
                return None
            return instance.session.task if instance.session is not None else instance.task
        return None

    def _stop_target(self) -> str | None:
        """The selected agent (agents view) when it runs here under a known pid; whether that
        pid is still its process is for ``plan_stop`` to say (it refuses, saying why)."""
        if self.current_view != "agents":
            return None
        instance = self._instance_view(self._selected_instance())
        if instance is None or not instance.local or instance.pid is None:
            return None
        return instance.id

    def _instance_view(self, instance_id: str | None) -> InstanceView | None:
        return next((i for i in self.factory.fleet.instances if i.id == instance_id), None)

    def _refuse_read_only(self) -> bool:
        if self.config.read_only:
            self.notify(
                "Read-only mode: actions are disabled (--read-only).",
                severity="warning",
                markup=False,
            )
        return self.config.read_only

    def _in_thread(self, name: str, work: Callable[[], None]) -> None:
        self.app.run_worker(work, name=name, group="actions", thread=True, exit_on_error=False)

    def _start_flow(self, name: str, flow: Coroutine[Any, Any, None]) -> None:
        """Run an action's flow (:mod:`factory_tui.ui.flows`) as a worker of its own."""
        self.app.run_worker(flow, name=name, group="flows", exit_on_error=False)

    def action_release_all_stale(self) -> None:
        """``X``: every stale claim listed with its evidence, one confirmation, then each released
        under its own lock with its own re-check and log line."""
        from factory_tui.ui.flows.release import release_all_stale_flow

        if self._refuse_read_only():
            return
        stale = [
            (c.key, c.unit.owner, c.why) for c in self.factory.fleet.claims if c.state == "stale"
        ]
        if not stale:
            self.notify("No stale claim to release.", markup=False)
            return
        self._start_flow("release all stale", release_all_stale_flow(self.factory, stale))

    def action_release(self) -> None:
        """``x``: release the selected stale claim, after a confirmation listing the stale
        conditions (a claim that is not stale: typed confirmation, ``force=True``)."""
        from factory_tui.ui.flows.release import release_flow

        if self._refuse_read_only():
            return
        target = self._release_target()
        if target is None:
            self.notify("Select an owned claim, or an agent with a stale claim.", markup=False)
            return
        self._start_flow("release", release_flow(self.factory, target))

    def action_unlock(self) -> None:
        """``u``: break the selected claim's stale lock, after a confirmation naming it and its
        age; ``unlock`` re-checks its age and refuses a lock that is fresh again."""
        from factory_tui.ui.flows.release import unlock_flow

        if self._refuse_read_only():
            return
        name = self._unlock_target()
        lock = next((lock for lock in self.factory.fleet.locks if lock.name == name), None)
        if lock is None:
            self.notify("Select a claim with a stale lock (🔒) in the Claims view.", markup=False)
            return
        self._start_flow("unlock", unlock_flow(self.factory, lock))

    def action_stop_agent(self) -> None:
        """``K``: stop the selected live local agent (SIGTERM, then SIGKILL), after a
        confirmation naming its pid, command line and cwd."""
        from factory_tui.ui.flows.stop import stop_flow

        if self._refuse_read_only():
            return
        target = self._stop_target()
        if target is None:
            self.notify("Select an agent running on this host.", markup=False)
            return
        self._start_flow("stop agent", stop_flow(self.factory, target))

    def action_recover(self) -> None:
        """``r`` on a crashed session or agent: what is known about it, then resume, abandon
        (with a reason), close (its PR is merged) or cancel."""
        from factory_tui.ui.flows.recover import recover_flow

        if self._refuse_read_only():
            return
        task = self._recover_target()
        if task is None:
            self.notify("Select a crashed session or agent.", markup=False)
            return
        self._start_flow("recover", recover_flow(self.factory, task))

    # -- the approval queue (issue 5): loading, the PRs view, approve / request changes / reviewed

    def _prs_looked(self) -> None:
        """The engineer looks at the queue: Show PRs merged before now are no longer new (they
        stay marked while this look lasts)."""
        from factory_tui.actions.prs import record_look

        self._prs_view.looked()
        if not self.factory.prs_options.enabled or not self.factory.prs_options.record_looks:
            return
        now, folder = self.factory.clock(), self.factory.prs_options.reviews_dir

        def record() -> None:
            # The engineer's own bookkeeping: a read-only home is no reason to shout.
            with contextlib.suppress(OSError):
                record_look(self.config, now, folder=folder)

        self._in_thread("record PR look", record)

    def _pr_target(self, action: str) -> PrView | None:
        """The PR ``action`` would act on: the one under the cursor in the PRs view, when the
        action applies to it (approve: open, not a draft; request changes: open; mark
        reviewed: a merged Show PR not reviewed yet)."""
        if self.config.read_only or self.current_view != "prs":
            return None
        found = self._prs_view.cursor()
        if found is None:
            return None
        section, view = found
        if action == "approve_pr":
            return view if view.pr.state == "open" and not view.pr.draft else None
        if action == "request_changes":
            return view if view.pr.state == "open" else None
        if action == "mark_reviewed":
            return view if section == "show" and not view.reviewed else None
        return None

    def action_approve_pr(self) -> None:
        """``a``: approve the selected PR (squash merge per the protocol), after a confirmation
        saying exactly what will run; red or running CI needs ``override`` typed."""
        from factory_tui.ui.flows.prs import approve_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("approve_pr")
        if view is None:
            self.notify("Select an open PR in the PRs view.", markup=False)
            return
        self._start_flow("approve", approve_flow(self.factory, view))

    def action_request_changes(self) -> None:
        """``c``: ask the agent for changes on the selected open PR (a text box)."""
        from factory_tui.ui.flows.prs import request_changes_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("request_changes")
        if view is None:
            self.notify("Select an open PR in the PRs view.", markup=False)
            return
        self._start_flow("request changes", request_changes_flow(self.factory, view))

    def action_mark_reviewed(self) -> None:
        """``v``: remember that the selected merged Show PR was reviewed (per user)."""
        from factory_tui.ui.flows.prs import mark_reviewed_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("mark_reviewed")
        if view is None:
            self.notify("Select a merged Show PR not reviewed yet.", markup=False)
            return
        self._start_flow("mark reviewed", mark_reviewed_flow(self.factory, view))

    def on_prs_view_selected(self, message: PrsView.Selected) -> None:
        self.open_diff(message.view)

    def action_pr_diff(self) -> None:
        """The diff of the PR under the cursor in the PRs view."""
        view = self._prs_view.cursor_view() if self.current_view == "prs" else None
        if view is None:
            self.notify("Select a PR in the PRs view (7).", markup=False)
            return
        self.open_diff(view)

    def open_diff(self, view: PrView) -> None:
        """The PR's diff in the viewer (fetched on a thread; ``o`` opens the pager if one is
        configured with ``[prs] pager``)."""
        from factory_tui.actions.prs import diff_pager, pr_diff
        from factory_tui.ui.screens.diff import DiffScreen

        title = f"{view.label}  {view.pr.title}"
        self.app.push_screen(
            DiffScreen(title, partial(pr_diff, self.config, view), pager=diff_pager(self.config))
        )

    @on(Tree.NodeHighlighted, "#claim-tree")
    def _selection_moved(self) -> None:
        """The footer shows only the actions that apply to what is selected."""
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.control.id == "sessions-table":
            self._selection_moved()

    # refresh, help, the command palette

    def action_refresh(self) -> None:
        """Re-read every file now (nothing should need it; the watcher sees changes)."""
        self.factory.read_everything()

    def key_sections(self) -> list[KeySection]:
        """Every key, by where it works, for the help screen: the bindings themselves (a user
        keymap applied), and a few of Textual's own widgets' keys said in words."""
        from factory_tui.ui.screens.council import CouncilScreen
        from factory_tui.ui.screens.detail import AgentDetailScreen
        from factory_tui.ui.screens.diff import DiffScreen
        from factory_tui.ui.widgets.cost import CostPanel
        from factory_tui.ui.widgets.listkeys import LIST_KEYS
        from factory_tui.ui.widgets.log_view import LogView
        from factory_tui.ui.widgets.prs import PrsView, PrTable

        sections: list[KeySection] = [
            ("Everywhere", [*self.BINDINGS, *self.factory.BINDINGS]),
            ("Agents view", [*AgentGrid.BINDINGS, *AgentPane.BINDINGS]),
            (
                "Every list and table",
                [
                    *LIST_KEYS,
                    Binding("pageup,pagedown", "page", "A page up / down"),
                ],
            ),
            (
                "Claims view",
                [
                    Binding("up,down", "move", "Move between claims"),
                    Binding(
                        "enter,space",
                        "select",
                        "Expand / collapse; enter on a claim: owner's details",
                    ),
                ],
            ),
            (
                "Sessions and problems views",
                [
                    Binding("up,down,pageup,pagedown", "move", "Move between rows"),
                    Binding("enter", "select", "The session's agent in detail"),
                ],
            ),
            ("Log view", list(LogView.BINDINGS)),
            ("Filter line", [*FilterBar.BINDINGS[:1], Binding("enter", "keep", "Keep the filter")]),
            ("Agent detail", list(AgentDetailScreen.BINDINGS)),
            (
                "PRs view",
                [
                    Binding("up,down,pageup,pagedown", "move", "Move between PRs"),
                    *PrTable.BINDINGS,
                    *PrsView.BINDINGS,
                ],
            ),
            ("PR diff", list(DiffScreen.BINDINGS)),
            ("Cost view", list(CostPanel.BINDINGS)),
            ("Council verdict", list(CouncilScreen.BINDINGS)),
            (
                "Mouse",
                [
                    Binding("click", "tab", "A tab: show that view; a row or claim: select it"),
                    Binding("double-click", "pane", "An agent pane: its details"),
                ],
            ),
        ]
        keymap = self.factory.keymap
        return [
            (title, [_remapped(binding, keymap) for binding in bindings])
            for title, bindings in sections
        ]

    def palette_commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        """The command palette: every key's action (from the same bindings as the footer and
        the help), named by its description, with a few commands that have no key."""
        from factory_tui.ui.widgets.cost import CostPanel
        from factory_tui.ui.widgets.prs import PrsView

        sources: list[tuple[str, Any, list[BindingType]]] = [
            ("", self, self.BINDINGS),
            ("", self.app, self.factory.BINDINGS),
        ]
        if self.mounted_all:
            sources.append(("PRs: ", self._prs_view, PrsView.BINDINGS))
            sources.append(("Cost: ", self._cost_panel, CostPanel.BINDINGS))
        commands: dict[str, tuple[str, Callable[[], Any], str]] = {}
        for prefix, node, bindings in sources:
            for binding in bindings:
                if not isinstance(binding, Binding) or not _in_palette(binding):
                    continue
                action = binding.action.partition(".")[2] or binding.action
                if self.config.read_only and action.partition("(")[0] in _ACT_ON_WHAT_IS_READ:
                    continue
                is_view = (binding.id or "").startswith("view.") and binding.id != "view.next"
                name = f"View: {binding.description}" if is_view else prefix + binding.description
                keys = self.factory.key_display(binding)
                help_text = f"{binding.tooltip or binding.description} ({keys})"
                run = partial(node.run_action, binding.action)
                commands.setdefault(name, (name, run, help_text))
        extra: list[tuple[str, Callable[[], Any], str]] = [
            ("Reload PRs", self.factory.reload_prs, "ask gh and git for the PR queue now"),
            *(
                (
                    f"Theme: {name}",
                    partial(self.factory.action_set_theme, name),
                    f"the {name} theme",
                )
                for name in self.factory.theme_names()
            ),
        ]
        return [*commands.values(), *extra]

    def _budget_alerts(self, view: CostView) -> None:
        """A notification for each new warning (80 %) and alert (100 %), once; the bell once for
        new alerts; the banner shows the alerts not acknowledged."""
        ring = False
        for state in view.alerts:
            if state.alert_id in self.factory.budget_seen:
                continue
            self.factory.budget_seen[state.alert_id] = self.factory.clock()
            if state.alert_id in self.factory.budget_acknowledged:
                continue  # acknowledged before a restart: announced then
            if state.level == "alert":
                ring = True
            if self.config.notify:
                self.notify(
                    state.message,
                    title="Budget reached" if state.level == "alert" else "Budget warning",
                    severity="error" if state.level == "alert" else "warning",
                    markup=False,
                    timeout=15 if state.level == "alert" else 10,
                )
        if ring and self.config.bell:
            self.app.bell()
        self._budget_banner.show_alerts(self.factory.unacknowledged_budget_alerts())
        self.refresh_bindings()

    def action_why_not(self, action: str) -> None:
        """A key whose action does not apply now: say why, in a short notification."""
        self.notify(self._why_not(action), title="Nothing to do", markup=False, timeout=4)

    def action_why_not_reviewed(self) -> None:
        """``v`` where it does not apply: only a merged Show PR not reviewed yet is marked."""
        found = self._prs_view.cursor() if self.current_view == "prs" else None
        if self.config.read_only:
            why = "read-only: the cockpit changes nothing (factory.toml's read_only)."
        elif found is None:
            why = "Select a PR first."
        elif found[0] != "show":
            why = f"{found[1].label} is not a merged Show PR: v marks those reviewed."
        else:
            why = f"{found[1].label} is already marked reviewed."
        self.notify(why, title="Nothing to do", markup=False, timeout=4)

    def _why_not(self, action: str) -> str:
        if self.config.read_only and action != "acknowledge_budget":
            return "read-only: the cockpit changes nothing (factory.toml's read_only)."
        if not self.factory.loaded:
            return "The factory is still being read."
        if action == "release_all_stale":
            return "Nothing is stale: no claim to release."
        if action == "acknowledge_budget":
            return "No budget alert to acknowledge."
        view = self.current_view
        if view == "agents":
            instance = self._selected_instance()
            if instance is None:
                return "Select an agent first."
            return f"not stale: {instance} holds no stale claim (x releases a stale claim)."
        if view == "claims":
            return "Select a claimed or stale claim to release (x)."
        return f"x releases a claim from the Agents or Claims view, not from {view}."

    def action_acknowledge_budget(self) -> None:
        """``A``: the budget alerts on screen are seen; the banner goes (a new alert, another
        budget or tomorrow's, shows again)."""
        alerts = self.factory.unacknowledged_budget_alerts()
        if not alerts:
            self.notify("No budget alert to acknowledge.", markup=False)
            return
        self.factory.budget_acknowledged.update(state.alert_id for state in alerts)
        self._remember_acknowledged(tuple(state.alert_id for state in alerts))
        self._budget_banner.show_alerts(self.factory.unacknowledged_budget_alerts())
        self._update_tab_labels(self.factory.fleet)
        self.refresh_bindings()
        self.notify(
            f"Acknowledged: {'; '.join(state.message for state in alerts)}",
            title="Budget",
            markup=False,
            timeout=5,
        )

    def _remember_acknowledged(self, alert_ids: tuple[str, ...]) -> None:
        """Write the acknowledgement to the user state file, on a thread, so that a restart (or
        another cockpit started on this factory) does not raise these alerts again."""
        from factory_tui.actions.budget_state import remember_acknowledged
        from factory_tui.ui.widgets.cost import naive_local

        root, now = self.config.root, naive_local(self.factory.clock())
        folder = self.factory.cost_feed.budget_state_dir

        def remember() -> None:
            try:
                remember_acknowledged(root, alert_ids, now, folder=folder)
            except OSError as error:
                self.app.call_from_thread(
                    self.notify,
                    f"The acknowledgement is not remembered ({error}): the alert shows again "
                    "after a restart.",
                    title="Budget",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )

        self._in_thread("remember budget acknowledgement", remember)

    # the Council

    def _council_ticket(self, unit: ClaimUnit) -> str:
        """The ticket a claim unit stands for: a MEGA phase's first ticket, else its claim."""
        return unit.tickets[0] if unit.phase is not None and unit.tickets else unit.claim_id

    def _council_target(self) -> tuple[str, Callable[[], Proposal]] | None:
        """What ``C`` would put before the Council, and how to make the proposal (on a thread):
        the selected claim or MEGA (claims view), the selected agent's ticket (agents view) or
        the selected PR (PRs view)."""
        from factory_tui.actions.council import proposal_for_pr, proposal_for_ticket
        from factory_tui.core.statefiles import find_tickets

        try:
            view = self.current_view
        except NoMatches:  # not composed yet
            return None
        ticket: str | None = None
        if view == "claims":
            node = self._claim_tree.cursor_node
            data = node.data if node is not None else None
            if data is not None and data.claim is not None:
                ticket = self._council_ticket(data.claim.unit)
            elif data is not None and data.key.startswith("mega:"):
                ticket = data.key.removeprefix("mega:")
        elif view == "agents":
            instance = self._instance_view(self._selected_instance())
            if instance is not None:
                units = [c.unit for c in self.factory.fleet.claims if c.key in instance.claims]
                if units:
                    ticket = self._council_ticket(units[0])
                else:
                    named = find_tickets(instance.task or "")
                    ticket = named[0] if named else None
        elif view == "prs":
            pr = self._prs_view.cursor_view()
            if pr is None:
                return None
            number = pr.pr.number
            if pr.pr.source == "github" and number is not None:
                return f"PR #{number}", partial(proposal_for_pr, self.config, number)
            return f"{pr.label}", partial(self._council_local_pr, pr)
        if not ticket:
            return None
        return f"ticket {ticket}", partial(proposal_for_ticket, self.config, ticket)

    def _council_local_pr(self, view: PrView) -> Proposal:
        """A PR known from git only: its diff as the proposal (on the Council's thread)."""
        from factory_tui.actions.council import ProposalError
        from factory_tui.actions.prs import pr_diff
        from factory_tui.core.council import Proposal

        text = "".join(diff.text for diff in pr_diff(self.config, view))
        if not text.strip():
            raise ProposalError(f"{view.label}: the diff is empty; nothing to score")
        return Proposal(text, view.label)

    def action_council(self) -> None:
        """``C``: the Council scores the selected claim / ticket, agent's ticket or PR, on a
        thread (the cockpit never waits for it); then its verdict on a screen."""
        if self.factory.council_running is not None:
            sitting = self.factory.council_running
            self.notify(f"The Council is already sitting on {sitting}.", markup=False)
            return
        if self._refuse_read_only():
            return
        target = self._council_target()
        if target is None:
            self.notify(
                "Select a claim or MEGA (Claims view), an agent holding a ticket, or a PR.",
                markup=False,
            )
            return
        from factory_tui.ui.flows.council import council_flow

        self._start_flow("council", council_flow(self.factory, *target))


def _in_palette(binding: Binding) -> bool:
    """A binding the command palette offers: not the fallbacks that say why a key does not
    apply, nor the second keys of an action."""
    skip = ("why.", "prs.why", "quit.ctrl_c", "view.previous")
    return bool(binding.id) and not (binding.id or "").startswith(skip)


def _remapped(binding: BindingType, keymap: dict[str, str]) -> BindingType:
    """``binding`` with the keys the user's keymap gives its id."""
    if isinstance(binding, Binding) and binding.id and binding.id in keymap:
        return dataclasses.replace(binding, key=keymap[binding.id])
    return binding
