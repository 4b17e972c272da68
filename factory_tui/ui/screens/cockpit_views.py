"""The cockpit's views: what each shows, which has the focus, what is selected.

:class:`CockpitViews` is the main screen's layout — the header, the views as tabs, the filter
line and the footer — and the part of it that shows what the app hands it
(:meth:`~CockpitViews.show_fleet`, :meth:`~CockpitViews.show_queue`,
:meth:`~CockpitViews.show_cost`), updating every view by key; it keeps the focus on the current
view, the filters, the tab labels, the announcements, and says what is selected
(:meth:`~CockpitViews.selection`). The keys are
:class:`~factory_tui.ui.screens.cockpit.CockpitScreen`'s.

The plain parts live beside it: the views' catalogue and tab labels in
:mod:`~factory_tui.ui.screens.cockpit_tabs`, the header's segments in
:mod:`~factory_tui.ui.widgets.summary`, what is announced in :mod:`~factory_tui.ui.news`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual import events, on
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Tree

from factory_tui.config import Config
from factory_tui.ui.screens.cockpit_footer import FooterKeys
from factory_tui.ui.screens.cockpit_tabs import (
    DETAIL_VIEWS,
    FOCUS_IDS,
    VIEW_IDS,
    VIEW_TITLES,
    VIEWS,
    ViewPane,
    tab_labels,
    view_content,
)
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.filterbar import FilterBar
from factory_tui.ui.widgets.footer import KeysFooter
from factory_tui.ui.widgets.summary import (
    SummaryBar,
    ask_segment,
    title_segment,
    waiting_segments,
)
from factory_tui.ui.widgets.text import missing_lines
from factory_tui.ui.widgets.view_tabs import ViewTabs

# The first frame needs only what is imported above (issue 3: start to first paint): the other
# views' modules are imported by :meth:`CockpitScreen.mount_the_rest`, right after it, and the
# news's when the first fleet comes.
if TYPE_CHECKING:
    from textual.widgets import DataTable

    from factory_tui.core.cost_report import CostView
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import PrView
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.messages import FleetUpdated, PrsLoaded, StateSummary
    from factory_tui.ui.news import News
    from factory_tui.ui.widgets.claims import ClaimNode, ClaimsView, ClaimTree
    from factory_tui.ui.widgets.cost import CostPanel
    from factory_tui.ui.widgets.log_view import LogView
    from factory_tui.ui.widgets.problems import ProblemsView
    from factory_tui.ui.widgets.prs import PrsView
    from factory_tui.ui.widgets.sessions import SessionsView
    from factory_tui.ui.widgets.spend import BudgetBanner, CostSnapshot
    from factory_tui.ui.widgets.state import StateView

__all__ = ["DETAIL_VIEWS", "VIEWS", "VIEW_TITLES", "CockpitViews"]


#: The views drawn from the fleet alone (each drawn when shown, see CockpitViews.show_fleet).
FLEET_VIEWS = ("claims", "sessions", "problems", "state")


class _Filtered(Protocol):
    def set_filter(self, text: str) -> None: ...


class _Styled(Protocol):
    def restyle(self) -> None: ...


class CockpitViews(Screen[None]):
    """The cockpit's views: the header, the tabs, the filter line and the footer; what each
    view shows, which has the focus, what is selected. The keys and actions are
    :class:`~factory_tui.ui.screens.cockpit.CockpitScreen`'s."""

    AUTO_FOCUS = ""
    """No focus given at start: the tab bar took it, restyled, and lost it to the view at once
    (:meth:`_focus_view`; two restyles of the tabs before the first frame, issue 17)."""

    def __init__(self, *, initial_view: str = "agents") -> None:
        super().__init__(id="cockpit")
        if initial_view not in VIEWS:
            raise ValueError(f"view {initial_view!r}: expected one of {', '.join(VIEWS)}")
        self.initial_view = initial_view
        self.filters: dict[str, str] = dict.fromkeys(VIEWS, "")
        self.announced: set[str] = set()
        self._attention_cursor: str | None = None
        self.footer_keys = FooterKeys()
        self.mounted_all = False
        """Every view is mounted (:meth:`mount_the_rest`)."""
        self._behind: set[str] = set()
        """Fleet views that were hidden when a fleet came: drawn when next shown."""
        self._state_summary: StateSummary | None = None
        """The newest plan/memory summary a fleet brought (the State view's, when drawn)."""

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
        # panes stay empty until after_first_frame fills them; it also mounts the budget banner
        # and the filter line (both hidden until needed).
        yield SummaryBar(id="summary")
        yield ViewTabs(VIEW_TITLES, active=self.initial_view, id="view-tabs")
        with ContentSwitcher(initial=self.initial_view, id="views"):
            for view in VIEWS:
                with ViewPane(id=view):
                    if view == self.initial_view:
                        yield self._view_content(view)
        yield KeysFooter()

    def _view_content(self, view: str) -> Widget:
        return view_content(view, self.factory)

    def on_mount(self) -> None:
        summary = self.query_one(SummaryBar)
        root, read_only = self.config.root, self.config.read_only
        summary.set_segment(
            "title", title_segment(root, read_only), title_segment(root, read_only, short=True)
        )
        summary.set_segments(waiting_segments())
        summary.set_segment("loading", Content.styled("reading the factory…", "$text-muted"))
        self.bindings_updated_signal.subscribe(self, self._bindings_refreshed)
        self.post_message(ViewTabs.Activated(self.initial_view))

    async def mount_the_rest(self) -> None:
        """Right after the first frame: the other views, the budget banner and the filter line
        (both hidden until needed)."""
        from factory_tui.ui.widgets.spend import BudgetBanner

        mounts = [
            self.query_one(f"#{view}", ViewPane).mount(self._view_content(view))
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
        self.query_one(SummaryBar).show_progress(source, done, total)

    def show_action_progress(self, words: str | None) -> None:
        """How far a long action is (``releasing 37 of 200``), in the header; None: done."""
        from factory_tui.ui.widgets.summary import action_segment

        self.query_one(SummaryBar).set_segment("action", action_segment(words))

    def show_fleet(self, message: FleetUpdated) -> None:
        """A new fleet (the app already holds it): every view, the tabs, the keys that apply,
        and a notification for what newly needs the engineer."""
        fleet, loaded = message.fleet, self.factory.loaded
        with self.app.batch_update():
            summary = self.query_one(SummaryBar)
            summary.show_fleet(fleet, loaded=loaded, last_change=self.factory.last_change)
            if message.initial:
                summary.set_segment("loading", None)
            self.query_one(AgentGrid).show_fleet(fleet, loaded=loaded)
            if message.state is not None:
                self._state_summary = message.state
            # Only the view on screen is drawn now: a hidden one's new rows asked for a layout,
            # which reflows and repaints the whole screen between a write and its showing.
            current = self.current_view
            for view in FLEET_VIEWS:
                if view == current:
                    self._draw_fleet_view(view)
                else:
                    self._behind.add(view)
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
        with self.app.batch_update():
            self._prs_view.show_queue(message.queue, error=message.error)
            self.query_one(SummaryBar).show_queue(self.factory.queue)
            self._update_tab_labels(self.factory.fleet)
        if first and self.current_view == "prs":
            self._prs_looked()
            if self.focused is None:
                self.call_after_refresh(self.focus_if_nothing_is)
        # Ask PRs already waiting when the cockpit opened are not news; later ones are.
        self._announce(self.factory.fleet, first=first)
        self._refresh_bindings_if_changed()  # a rebuilt footer costs more than the queue

    def show_spend_reading(self, percent: int | None = None) -> None:
        from factory_tui.ui.widgets.spend import spend_segment

        self.query_one(SummaryBar).set_segment(
            "spend", spend_segment(None, reading=True, percent=percent)
        )

    def show_cost(self, snapshot: CostSnapshot, *, first: bool) -> None:
        """A new spend snapshot (the app already holds it): the header, the panes' spend, the
        Cost view, the budget alerts."""
        from factory_tui.ui.widgets.spend import agent_spend_line, spend_segment

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
        from factory_tui.ui.widgets.spend import spend_segment

        self.query_one(SummaryBar).set_segment(
            "spend", spend_segment(self.factory.cost, reading=False, error=error)
        )
        self._cost_panel.show_error(error)

    def _budget_alerts(self, view: CostView) -> None:
        """A notification for each new warning (80 %) and alert (100 %), once; the bell once for
        new alerts; the banner shows the alerts not acknowledged."""
        from factory_tui.ui.news import budget_news

        seen = self.factory.budget_seen
        fresh = [state for state in view.alerts if state.alert_id not in seen]
        for state in fresh:
            seen[state.alert_id] = self.factory.clock()
        self._tell(budget_news(fresh, self.factory.budget_acknowledged))
        self._budget_banner.show_alerts(self.factory.unacknowledged_budget_alerts())
        self._refresh_bindings_if_changed()

    def _update_tab_labels(self, fleet: Fleet) -> None:
        labels = tab_labels(
            fleet,
            self.factory.queue,
            budget_alerts=len(self.factory.unacknowledged_budget_alerts()),
            filters=self.filters,
            width=self.size.width,
            loaded=self.factory.loaded,
        )
        tabs = self.query_one(ViewTabs)
        for view, label in labels.items():
            tabs.set_label(view, label)

    def on_resize(self, event: events.Resize) -> None:
        if self.factory.loaded:
            self._update_tab_labels(self.factory.fleet)

    def _announce(self, fleet: Fleet, *, first: bool) -> None:
        """Notify (and ring) once for each new thing needing the engineer; not for what was
        already there when the cockpit opened."""
        from factory_tui.core.attention import attention_items
        from factory_tui.ui.news import attention_news

        items = attention_items(fleet, self.factory.queue)
        news = attention_news(items, self.announced, first=first)
        self.announced.update(item.key for item in items)
        self._tell(news)

    def _tell(self, news: News) -> None:
        """Show the news as notifications (if ``notify``) and ring (if ``bell``)."""
        if self.config.notify:
            for notice in news.notices:
                self.notify(
                    notice.message,
                    title=notice.title,
                    severity=notice.severity,
                    markup=False,
                    timeout=notice.timeout,
                )
        if news.ring and self.config.bell:
            self.app.bell()

    def _on_theme_changed(self, _theme: object) -> None:
        for view in ("claims", "sessions", "problems", "state", "prs", "cost"):
            cast("_Styled", self.query_one(VIEW_IDS[view])).restyle()

    # -- views, focus, keys ---------------------------------------------------------------------

    @property
    def current_view(self) -> str:
        return self.query_one("#views", ContentSwitcher).current or self.initial_view

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
        return self.query_one(FOCUS_IDS[view])

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

    def _focus_unless_in_view(self) -> None:
        """The current view's widget takes the focus unless the focus is already inside the
        current view (an agent pane, the filter line)."""
        focused = self.focused
        pane = self.query_one(f"#{self.current_view}", ViewPane)
        if focused is not None and (focused is pane or pane in focused.ancestors):
            return
        if isinstance(focused, Input):  # the filter line: the engineer is typing
            return
        self._focus_view()

    def focus_if_nothing_is(self) -> None:
        """The first focus (after mount, after the first load) unless the engineer already put
        it somewhere (a key pressed meanwhile wins)."""
        if self.focused is None:
            self._focus_view()

    def _activate(self, view: str) -> None:
        """Show ``view`` and underline its title; :meth:`on_view_tabs_activated` follows."""
        if view != self.current_view:
            self.query_one(ViewTabs).active = view
            self.query_one("#views", ContentSwitcher).current = view
            self.post_message(ViewTabs.Activated(view))

    def on_view_tabs_clicked(self, event: ViewTabs.Clicked) -> None:
        self._activate(event.view)

    def on_view_tabs_activated(self, event: ViewTabs.Activated) -> None:
        # Before mount_the_rest is done: the initial view, activated as it mounts (no filter
        # line yet; mount_the_rest records a first look at the PRs).
        started = self.mounted_all
        self._catch_up(self.current_view)  # shown another way than action_show_view (a click)
        if started:
            self.query_one(FilterBar).close()
        self._focus_view()
        # And once the new view is laid out: on a busy machine the old view's hiding can move
        # the focus after the call above (j/k then did nothing until a click).
        self.call_after_refresh(self._focus_unless_in_view)
        self.refresh_bindings()
        if started and self.current_view == "prs":
            self._prs_looked()

    def keys_depend_on(self) -> object:
        """What the keys that apply depend on (:class:`FooterKeys`; None: not known)."""
        return None

    def _refresh_bindings_if_changed(self) -> None:
        """Refresh the footer only when the keys that apply changed (see :class:`FooterKeys`)."""
        self.footer_keys.refresh_if_changed(self, self.keys_depend_on())

    def _bindings_refreshed(self, screen: Screen[Any]) -> None:
        self.footer_keys.refreshed(screen, self.keys_depend_on())

    def _draw_fleet_view(self, view: str) -> None:
        """Draw fleet view ``view`` with the app's fleet."""
        fleet, loaded = self.factory.fleet, self.factory.loaded
        self._behind.discard(view)
        if view == "claims":
            self._claims_view.show_fleet(fleet, loaded=loaded)
        elif view == "sessions":
            self._sessions_view.show_fleet(fleet, loaded=loaded)
        elif view == "problems":
            self._problems_view.show_fleet(fleet, loaded=loaded)
        elif view == "state":
            self._state_view.show_fleet(fleet, self._state_summary)

    def _catch_up(self, view: str) -> None:
        """Before ``view`` shows: draw the fleets that came while it was hidden."""
        if view in self._behind and self.mounted_all:
            self._draw_fleet_view(view)

    def action_show_view(self, view: str) -> None:
        if view in VIEWS and view != self.current_view:
            self._catch_up(view)  # drawn before it shows, and before a caller selects in it
            self._activate(view)
            self._focus_view()

    def action_next_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index + 1) % len(VIEWS)])

    def action_previous_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index - 1) % len(VIEWS)])

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
        if event.control.id in ("problems-table", "state-table"):
            self.notify("The whole finding is shown below the table.", markup=False, timeout=3)
            return
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
            cast("_Filtered", self.query_one(VIEW_IDS[view])).set_filter(text)
        self._update_tab_labels(self.factory.fleet)

    # attention

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

    def _in_thread(self, name: str, work: Callable[[], None]) -> None:
        self.app.run_worker(work, name=name, group="actions", thread=True, exit_on_error=False)

    def on_prs_view_selected(self, message: PrsView.Selected) -> None:
        self.open_diff(message.view)

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
