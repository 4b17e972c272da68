"""The cockpit's main screen: its views and the engineer's keys on them.

The app (:mod:`factory_tui.ui.app`) owns the data the views show — ``fleet``, ``queue`` and the
spend — and sets it only in its message handlers; it then hands it to this screen, whose views
(:class:`~factory_tui.ui.screens.cockpit_views.CockpitViews`) update by key. Every key here is a
binding of this screen: it applies only while the cockpit is on top (a confirmation, the help or
an agent's detail screen has keys of its own), so no action asks "am I on the main screen?".
What a key acts on is decided by :mod:`factory_tui.ui.targets` from what is selected; the
action's flow (:mod:`factory_tui.ui.flows`) then plans, confirms, acts and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from factory_tui.ui import keys, targets
from factory_tui.ui.screens.cockpit_views import DETAIL_VIEWS, VIEW_TITLES, VIEWS, CockpitViews
from factory_tui.ui.targets import Selection
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from factory_tui.core.attention import AttentionItem
    from factory_tui.core.council import Proposal
    from factory_tui.core.prs_queue import PrView
    from factory_tui.ui.screens.help import KeySection

__all__ = ["DETAIL_VIEWS", "VIEWS", "VIEW_TITLES", "CockpitScreen"]

#: Actions on something the reader found: none applies before the first load.
_ACT_ON_WHAT_IS_READ = frozenset((*targets.ACTIONS, *targets.PR_ACTIONS, "council"))


class CockpitScreen(CockpitViews):
    """The main screen: its views (:class:`CockpitViews`) and the engineer's keys on them."""

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
        Binding("K", "why_not('stop_agent')", "Stop agent", show=False, id="why.K"),
        Binding("C", "why_not('council')", "Council", show=False, id="why.C"),
        # escape clears the current view's filter (the log view's own escape comes first).
        Binding("escape", "clear_filter", "Clear filter", show=False, id="filter.clear-view"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which keys apply now (the footer shows those): an action on what is selected only
        when something fitting is selected; nothing before the first load."""
        if action in ("next_view", "previous_view") and isinstance(self.focused, Input):
            return False
        if action in _ACT_ON_WHAT_IS_READ:
            # Nothing read yet (the first frame has no fleet): nothing to act on.
            return self.factory.loaded and self._applies(action, self.selection())
        if action == "acknowledge_budget":
            return bool(self.factory.unacknowledged_budget_alerts())
        if action == "clear_filter":
            return bool(self.filters.get(self.current_view))
        return not (action == "details" and self.current_view not in DETAIL_VIEWS)

    def _applies(self, action: str, selection: targets.Selection) -> bool:
        """Whether ``action`` (one of ``_ACT_ON_WHAT_IS_READ``) has something to act on."""
        if action in targets.ACTIONS:
            return self._action_target(action, selection) is not None
        if action in targets.PR_ACTIONS:
            return self._pr_target(action, selection) is not None
        # The Council (issue 6): where there is something to put to it.
        return not self.config.read_only and self._council_target(selection) is not None

    def keys_depend_on(self) -> tuple[object, ...]:
        """Everything the keys that apply read (:meth:`check_action`, and the focused widgets'
        own: the Claims view's ``L`` reads the highlighted claim) that a fleet, a queue or a
        spend can change; the focused widgets' other state refreshes the footer itself. While
        this is the same, so are the keys: the footer does not work them out again."""
        loaded = self.factory.loaded
        selection = self.selection() if loaded else None
        applies = (
            tuple(self._applies(action, selection) for action in _ACT_ON_WHAT_IS_READ)
            if selection is not None
            else ()
        )
        return (
            self.focused,
            self.current_view,
            selection,
            applies,
            bool(self.factory.unacknowledged_budget_alerts()),
            bool(self.filters.get(self.current_view)),
        )

    def selection(self) -> Selection:
        """What is selected in the current view (see :mod:`factory_tui.ui.targets`)."""
        view = self.current_view
        if view == "agents":
            focused = self.focused
            if isinstance(focused, AgentPane):
                return Selection(view, instance=focused.view.id)
            panes = self.query_one(AgentGrid).ordered_panes()
            return Selection(view, instance=panes[0].view.id if panes else None)
        if view == "claims":
            node = self._claim_tree.cursor_node
            data = node.data if node is not None else None
            if data is None:
                return Selection(view)
            return Selection(view, claim=data.claim, group=data.key if data.group else None)
        if view == "sessions":
            key = self._sessions_view.table.cursor_key()
            session = next((s for s in self.factory.fleet.sessions if s.key == key), None)
            return Selection(view, session=session)
        if view == "prs":
            return Selection(view, pr=self._prs_view.cursor())
        return Selection(view)

    def action_details(self) -> None:
        """Open the detail screen of the agent behind what is selected in the current view."""
        instance = targets.selected_instance(self.selection())
        if instance is None:
            self.notify("Select an agent, a claimed claim or a session first.", markup=False)
            return
        self.open_detail(instance)

    def action_copy(self) -> None:
        """Copy the selection's id to the clipboard (the terminal's, through OSC 52)."""
        text = targets.copy_target(self.selection()) if self.factory.loaded else None
        if not text:
            self.notify("Nothing selected to copy here.", markup=False, timeout=3)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {text}", markup=False, timeout=3)

    def action_next_attention(self) -> None:
        """Jump to the next thing needing the engineer (oldest first, wrapping around)."""
        from factory_tui.core.attention import attention_items

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
                "Nothing needs you: no agent waiting, no crashed session, no stale claim, "
                "no Ask PR.",
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
        if item.view == "agents":
            self.query_one(AgentGrid).focus_instance(item.target)
        elif item.view == "sessions":
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

    def _action_target(self, action: str, selection: targets.Selection | None = None) -> str | None:
        """What ``action`` would act on now (in ``selection``, default what is selected), or
        ``None`` (read-only, nothing fitting)."""
        if self.config.read_only:
            return None
        hegemon = self.config.hegemon
        hosts = hegemon.hosts if hegemon is not None else {}
        return targets.action_target(
            action,
            selection if selection is not None else self.selection(),
            self.factory.fleet,
            ssh_hosts=hosts.keys(),
        )

    def _pr_target(self, action: str, selection: targets.Selection | None = None) -> PrView | None:
        if self.config.read_only:
            return None
        return targets.pr_target(action, selection if selection is not None else self.selection())

    def _refuse_read_only(self) -> bool:
        if self.config.read_only:
            self.notify(
                "Read-only mode: actions are disabled (--read-only).",
                severity="warning",
                markup=False,
            )
        return self.config.read_only

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
        target = self._action_target("release")
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
        name = self._action_target("unlock")
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
        target = self._action_target("stop_agent")
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
        task = self._action_target("recover")
        if task is None:
            self.notify("Select a crashed session or agent.", markup=False)
            return
        self._start_flow("recover", recover_flow(self.factory, task))

    # -- the approval queue (issue 5): loading, the PRs view, approve / request changes / reviewed

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

    def action_pr_diff(self) -> None:
        """The diff of the PR under the cursor in the PRs view."""
        view = self._prs_view.cursor_view() if self.current_view == "prs" else None
        if view is None:
            self.notify("Select a PR in the PRs view (7).", markup=False)
            return
        self.open_diff(view)

    def action_refresh(self) -> None:
        """Re-read every file now (nothing should need it; the watcher sees changes)."""
        self.factory.read_everything()
        self.notify("Re-reading every file.", markup=False, timeout=2)

    def key_sections(self) -> list[KeySection]:
        """Every key, by where it works (the help screen, ``?``)."""
        return keys.key_sections(self.factory)

    def palette_commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        """The command palette's commands (ctrl+p)."""
        return keys.palette_commands(self)

    def action_why_not(self, action: str) -> None:
        """A key whose action does not apply now: say why, in a short notification."""
        why = targets.why_not(
            action, self.selection(), read_only=self.config.read_only, loaded=self.factory.loaded
        )
        self.notify(why, title="Nothing to do", markup=False, timeout=4)

    def action_clear_filter(self) -> None:
        """escape: the current view shows everything again."""
        self.apply_filter(self.current_view, "")
        self.notify("Filter cleared.", markup=False, timeout=2)

    def action_why_not_reviewed(self) -> None:
        """``v`` where it does not apply: say why."""
        why = targets.why_not_reviewed(self.selection(), read_only=self.config.read_only)
        self.notify(why, title="Nothing to do", markup=False, timeout=4)

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
        from factory_tui.core.cost_records import naive_local

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

    def _council_target(
        self, selection: targets.Selection | None = None
    ) -> tuple[str, Callable[[], Proposal]] | None:
        """What ``C`` would put before the Council (from ``selection``, default what is
        selected), and how to make the proposal (on the Council's thread)."""
        from factory_tui.actions.council import proposal_for_pr, proposal_for_ticket
        from factory_tui.core.statefiles import find_tickets

        target = targets.council_target(
            selection if selection is not None else self.selection(),
            self.factory.fleet,
            find_tickets,
        )
        if target is None:
            return None
        if target.kind == "github" and target.number is not None:
            return target.label, partial(proposal_for_pr, self.config, target.number)
        if target.kind == "local" and target.pr is not None:
            return target.label, partial(self._council_local_pr, target.pr)
        assert target.ticket is not None
        return target.label, partial(proposal_for_ticket, self.config, target.ticket)

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
