"""The cockpit's views as tabs: which views there are, their titles and widgets, what each
pane holds, and the tab labels (totals, alarms, filter marks) fitted to the width.

Plain values and functions, usable without a screen: :func:`tab_labels` builds every label from
the fleet, the PR queue and the filters; :func:`view_content` makes a view's widget, importing its
module only when first asked for (the first frame needs the initial view only, issue 3).
:class:`~factory_tui.ui.screens.cockpit_views.CockpitViews` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widget import Widget

from factory_tui.ui.widgets.agents import AgentGrid

if TYPE_CHECKING:
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import Queue
    from factory_tui.ui.app import FactoryApp

__all__ = [
    "DETAIL_VIEWS",
    "FOCUS_IDS",
    "VIEWS",
    "VIEW_IDS",
    "VIEW_TITLES",
    "ViewPane",
    "tab_alarms",
    "tab_counts",
    "tab_label",
    "tab_labels",
    "view_content",
]

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

#: Each view's widget (it filters and restyles itself).
VIEW_IDS = {
    "agents": "#agent-grid",
    "claims": "#claims-view",
    "sessions": "#sessions-view",
    "log": "#log-view",
    "problems": "#problems-view",
    "state": "#state-view",
    "prs": "#prs-view",
    "cost": "#cost-view",
}

#: The widget inside each view that takes the focus when the view is shown.
FOCUS_IDS = {
    "agents": "#agent-grid",
    "claims": "#claim-tree",
    "sessions": "#sessions-table",
    "log": "#log-view",
    "problems": "#problems-table",
    "state": "#state-table",
    "prs": "#prs-table",
    "cost": "#cost-view KeyedTable.-active",
}


def view_content(view: str, factory: FactoryApp) -> Widget:
    """What the pane of ``view`` holds, in ``factory``'s cockpit (its module imported when first
    asked for; the log's index made for the Log view only)."""
    root = str(factory.config.root)
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

        return LogView(factory.log_index, follow=True, id="log-view")
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


def tab_counts(fleet: Fleet, queue: Queue | None, *, loaded: bool = True) -> dict[str, int]:
    """Each view's total, where it has one: the fleet's once it is ``loaded`` (before, its
    empty fleet would say "Agents 0" while the factory is being read), the PRs' once the queue
    is loaded."""
    prs = {"prs": len(queue.views)} if queue is not None else {}
    if not loaded:
        return prs
    return {
        "agents": len(fleet.instances),
        "claims": len(fleet.claims),
        "sessions": len(fleet.sessions),
        "problems": fleet.counts.get("problems", 0),
        "state": len(fleet.lint),
        **prs,
    }


def tab_alarms(
    fleet: Fleet, queue: Queue | None, *, budget_alerts: int, loaded: bool = True
) -> dict[str, int]:
    """How many things in each view need the engineer (the fleet's once it is ``loaded``)."""
    fleet_alarms = (
        {
            "agents": fleet.counts.get("agents_crashed", 0) + fleet.counts.get("agents_stale", 0),
            "claims": fleet.counts.get("claims_stale", 0),
            "sessions": fleet.counts.get("sessions_crashed", 0),
            "problems": fleet.counts.get("problems", 0),
            "state": len(fleet.lint),
        }
        if loaded
        else {}
    )
    return {
        **fleet_alarms,
        "prs": queue.ask_waiting if queue is not None else 0,
        "cost": budget_alerts,
    }


def tab_label(
    view: str, counts: Mapping[str, int], alarms: Mapping[str, int], filtered: bool, *, level: int
) -> Content:
    """``Claims 10 !5 ⧩``: the title, the total (level 0 only), the number needing the
    engineer (a bare ``!`` at level 2), the filter mark."""
    parts: list[str | tuple[str, str]] = [VIEW_TITLES[view]]
    if view in counts and level == 0:
        parts.append(f" {counts[view]}")
    if alarms.get(view):
        parts.append((f" !{alarms[view]}" if level < 2 else "!", "bold $warning"))
    if filtered:
        parts.append((" ⧩" if level < 2 else "⧩", "$accent"))
    return Content.assemble(*parts)


def tab_labels(
    fleet: Fleet,
    queue: Queue | None,
    *,
    budget_alerts: int,
    filters: Mapping[str, str],
    width: int,
    loaded: bool,
) -> dict[str, Content]:
    """Every tab's label, all at once within ``width`` cells if they can be: past the width,
    the totals go, then the alarms' numbers (the marks stay: "!" needs you, "⧩" filtered).
    Before the fleet is ``loaded`` its views' labels are their titles alone."""
    counts = tab_counts(fleet, queue, loaded=loaded)
    alarms = tab_alarms(fleet, queue, budget_alerts=budget_alerts, loaded=loaded)
    for level in (0, 1, 2):
        labels = {
            view: tab_label(view, counts, alarms, bool(filters[view]), level=level)
            for view in VIEWS
        }
        if sum(label.cell_length + 2 for label in labels.values()) <= width:
            break
    return labels


class ViewPane(Widget):
    """A view's pane (in the cockpit's ``ContentSwitcher``, by the view's id): what
    :func:`view_content` makes for it, mounted in it."""
