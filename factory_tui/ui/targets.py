"""What each of the engineer's keys would act on, from what is selected: plain functions of a
:class:`Selection` and the fleet (no widgets, no Textual), so the rules are read and tested in
one place. The cockpit screen builds the selection from its views and asks these functions both
whether a key applies (its footer) and what the key acts on.

A key that does not apply gets ``None`` here; :func:`why_not` says why in words.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from factory_tui.core.claims import ClaimUnit
    from factory_tui.core.fleet import ClaimView, Fleet, InstanceView, SessionView
    from factory_tui.core.prs_queue import PrView

__all__ = [
    "ACTIONS",
    "PR_ACTIONS",
    "CouncilTarget",
    "Selection",
    "action_target",
    "copy_target",
    "council_target",
    "pr_target",
    "selected_instance",
    "why_not",
    "why_not_reviewed",
]

#: The engineer's actions on agents and claims (issue 4).
ACTIONS = ("release", "recover", "stop_agent", "release_all_stale", "unlock")
#: The approval queue's actions (issue 5): on the PR under the cursor in the PRs view.
PR_ACTIONS = ("approve_pr", "request_changes", "mark_reviewed")

READ_ONLY = "read-only: the cockpit changes nothing (factory.toml's read_only)."


@dataclass(frozen=True)
class Selection:
    """What is selected in the current view.

    - ``instance``: the agents view's focused pane (else its first pane).
    - ``claim`` / ``group``: the claims view's node: a claim, or a group's key (``mega/ID``).
    - ``session``: the sessions view's row.
    - ``pr``: the PRs view's row, with its section (``ask``, ``show``, …).
    """

    view: str
    instance: str | None = None
    claim: ClaimView | None = None
    group: str | None = None
    session: SessionView | None = None
    pr: tuple[str, PrView] | None = None


def selected_instance(selection: Selection) -> str | None:
    """The agent behind the selection: the pane's, the claim owner's, the session's."""
    if selection.view == "agents":
        return selection.instance
    if selection.view == "claims":
        return selection.claim.unit.owner if selection.claim is not None else None
    if selection.view == "sessions":
        return selection.session.instance if selection.session is not None else None
    return None


def instance_view(fleet: Fleet, instance_id: str | None) -> InstanceView | None:
    return next((i for i in fleet.instances if i.id == instance_id), None)


def action_target(
    action: str, selection: Selection, fleet: Fleet, *, ssh_hosts: Collection[str] = ()
) -> str | None:
    """What ``action`` (one of :data:`ACTIONS`) would act on now — a claim key, a task, an
    instance id, a lock's name — or ``None`` when nothing fitting is selected. ``ssh_hosts``:
    the hosts whose agents can be stopped over SSH (``[hosts."NAME"] ssh``)."""
    if action == "release":
        return _release(selection, fleet)
    if action == "recover":
        return _recover(selection, fleet)
    if action == "stop_agent":
        return _stop(selection, fleet, ssh_hosts)
    if action == "release_all_stale":
        stale = [c.key for c in fleet.claims if c.state == "stale"]
        return ",".join(stale) if stale else None
    if action == "unlock":
        return _unlock(selection, fleet)
    return None


def _release(selection: Selection, fleet: Fleet) -> str | None:
    """Claims view: the selected claim if someone owns it (a claim that is not stale needs a
    typed confirmation); agents view: the selected agent's first stale claim."""
    if selection.view == "claims":
        claim = selection.claim
        if claim is not None and claim.unit.owner and claim.state in ("stale", "claimed"):
            return claim.key
        return None
    if selection.view == "agents" and selection.instance is not None:
        stale = [
            c.key for c in fleet.claims if c.state == "stale" and c.unit.owner == selection.instance
        ]
        return stale[0] if stale else None
    return None


def _unlock(selection: Selection, fleet: Fleet) -> str | None:
    """Claims view: the name of the selected claim's stale lock (its writer died)."""
    if selection.view != "claims" or selection.claim is None:
        return None
    stale = [lock.name for lock in fleet.locks_of(selection.claim.key) if lock.stale]
    return stale[0] if stale else None


def _recover(selection: Selection, fleet: Fleet) -> str | None:
    """The task of the selected crashed session (sessions view) or crashed agent."""
    if selection.view == "sessions":
        session = selection.session
        return session.task if session is not None and session.status == "crashed" else None
    if selection.view == "agents":
        instance = instance_view(fleet, selection.instance)
        if instance is None or instance.status != "crashed":
            return None
        return instance.session.task if instance.session is not None else instance.task
    return None


def _stop(selection: Selection, fleet: Fleet, ssh_hosts: Collection[str]) -> str | None:
    """The selected agent (agents view) when it runs here, or on a host reached over SSH, under
    a known pid; whether that pid is still its process is for ``plan_stop`` to say (it refuses,
    saying why)."""
    if selection.view != "agents":
        return None
    instance = instance_view(fleet, selection.instance)
    if instance is None or instance.pid is None:
        return None
    if not instance.local and (instance.host or "") not in ssh_hosts:
        return None
    return instance.id


def pr_target(action: str, selection: Selection) -> PrView | None:
    """The PR ``action`` (one of :data:`PR_ACTIONS`) would act on: the one under the cursor,
    when the action applies to it (approve: open, not a draft; request changes: open; mark
    reviewed: a merged Show PR not reviewed yet)."""
    if selection.view != "prs" or selection.pr is None:
        return None
    section, view = selection.pr
    if action == "approve_pr":
        return view if view.pr.state == "open" and not view.pr.draft else None
    if action == "request_changes":
        return view if view.pr.state == "open" else None
    if action == "mark_reviewed":
        return view if section == "show" and not view.reviewed else None
    return None


def copy_target(selection: Selection) -> str | None:
    """What ``y`` copies: the selected agent's id, claim's key, session's key or PR's branch
    (its label when it has none)."""
    if selection.view == "agents":
        return selection.instance
    if selection.view == "claims":
        return selection.claim.key if selection.claim is not None else None
    if selection.view == "sessions":
        return selection.session.key if selection.session is not None else None
    if selection.view == "prs" and selection.pr is not None:
        view = selection.pr[1]
        return view.pr.branch or view.label
    return None


@dataclass(frozen=True)
class CouncilTarget:
    """What ``C`` puts before the Council: a ticket, a PR on GitHub, or a PR known to git only
    (its diff is the proposal)."""

    kind: Literal["ticket", "github", "local"]
    label: str
    ticket: str | None = None
    number: int | None = None
    pr: PrView | None = None


def council_ticket(unit: ClaimUnit) -> str:
    """The ticket a claim unit stands for: a MEGA phase's first ticket, else its claim."""
    return unit.tickets[0] if unit.phase is not None and unit.tickets else unit.claim_id


def council_target(
    selection: Selection, fleet: Fleet, find_tickets: Callable[[str], Sequence[str]]
) -> CouncilTarget | None:
    """The selected claim or MEGA (claims view), the selected agent's ticket (agents view: its
    first claim's, else one its task names) or the selected PR (PRs view)."""
    ticket: str | None = None
    if selection.view == "claims":
        if selection.claim is not None:
            ticket = council_ticket(selection.claim.unit)
        elif selection.group is not None:
            prefix = _mega_group_prefix()
            if selection.group.startswith(prefix):
                ticket = selection.group.removeprefix(prefix)
    elif selection.view == "agents":
        instance = instance_view(fleet, selection.instance)
        if instance is not None:
            units = [c.unit for c in fleet.claims if c.key in instance.claims]
            if units:
                ticket = council_ticket(units[0])
            else:
                named = find_tickets(instance.task or "")
                ticket = named[0] if named else None
    elif selection.view == "prs" and selection.pr is not None:
        view = selection.pr[1]
        number = view.pr.number
        if view.pr.source == "github" and number is not None:
            return CouncilTarget("github", f"PR #{number}", number=number)
        return CouncilTarget("local", view.label, pr=view)
    if not ticket:
        return None
    return CouncilTarget("ticket", f"ticket {ticket}", ticket=ticket)


def why_not(action: str, selection: Selection, *, read_only: bool, loaded: bool) -> str:
    """Why ``x``, ``X`` or ``A`` does nothing here, in one sentence."""
    if read_only and action != "acknowledge_budget":
        return READ_ONLY
    if not loaded:
        return "The factory is still being read."
    if action == "release_all_stale":
        return "Nothing is stale: no claim to release."
    if action == "acknowledge_budget":
        return "No budget alert to acknowledge."
    if action == "stop_agent":
        if selection.view != "agents":
            return f"K stops the selected agent in the Agents view, not from {selection.view}."
        return "K stops an agent running here (or on a host with an ssh argv) under a known pid."
    if action == "council":
        return (
            "C puts a claim, an agent's ticket or a PR before the Council: select one in the "
            "Claims, Agents or PRs view."
        )
    if selection.view == "agents":
        if selection.instance is None:
            return "Select an agent first."
        return f"not stale: {selection.instance} holds no stale claim (x releases a stale claim)."
    if selection.view == "claims":
        return "Select a claimed or stale claim to release (x)."
    return f"x releases a claim from the Agents or Claims view, not from {selection.view}."


def why_not_reviewed(selection: Selection, *, read_only: bool) -> str:
    """``v`` where it does not apply: only a merged Show PR not reviewed yet is marked."""
    found = selection.pr if selection.view == "prs" else None
    if read_only:
        return READ_ONLY
    if found is None:
        return "Select a PR first."
    if found[0] != "show":
        return f"{found[1].label} is not a merged Show PR: v marks those reviewed."
    return f"{found[1].label} is already marked reviewed."


def _mega_group_prefix() -> str:
    """The claims tree's MEGA group key prefix (its widget module, imported when asked)."""
    from factory_tui.ui.widgets.claims import MEGA_GROUP

    return MEGA_GROUP
