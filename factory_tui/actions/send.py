"""Answer an agent: type one line into its tmux pane (``send-keys -l``, then Enter).

The pane is found from structured facts (:meth:`~factory_tui.adapters.tmux.Tmux.find_pane`: the
pane whose process tree holds the agent's pid, else the one in its worktree), shown in the
confirmation with the text, and found again right before sending: a pane that changed in
between gets nothing. The audit line (``REPLY | instance=… pane=… chars=N by=…``) records that
the engineer answered, not what: an agent may have asked for a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import branch_worktree
from factory_tui.adapters.tmux import Pane, PaneMatch, Tmux, TmuxError, check_reply
from factory_tui.config import Config
from factory_tui.core.fleet import InstanceView

__all__ = [
    "AgentPane",
    "Look",
    "SendPlan",
    "find_agent_pane",
    "look_into",
    "pane_of",
    "plan_send",
    "send",
]


@dataclass(frozen=True)
class AgentPane:
    """An agent's facts for finding its pane, and what was found."""

    instance: str
    pid: int | None
    worktree: Path | None
    match: PaneMatch

    @property
    def pane(self) -> Pane | None:
        return self.match.pane

    def describe(self) -> list[str]:
        pane = self.match.pane
        if pane is None:
            return [f"no pane found for {self.instance}: {self.match.how}"]
        return [
            f"pane {pane.target} ({pane.id}), in {pane.path}",
            f"found because {self.match.how}",
        ]


@dataclass(frozen=True)
class SendPlan:
    instance: str
    pane: Pane
    how: str
    text: str

    def describe(self) -> list[str]:
        return [
            f"agent {self.instance}",
            f"pane {self.pane.target} ({self.pane.id}), in {self.pane.path}",
            f"found because {self.how}",
            f"types, literally, then Enter: {self.text}",
        ]


def find_agent_pane(
    config: Config,
    instance_id: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    tmux: Tmux | None = None,
) -> AgentPane | ActionResult:
    """The agent ``instance_id``'s pane from its claim's pid and its branch's worktree; an error
    result when there is no such agent. A pane that cannot be found is an :class:`AgentPane`
    whose ``match`` says why."""
    reader = reader or FactoryReader.warm(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    view: InstanceView | None = next((i for i in fleet.instances if i.id == instance_id), None)
    if view is None:
        return ActionResult(Outcome.ERROR, f"no agent {instance_id} in this factory")
    return pane_of(config, view, tmux or Tmux())


def pane_of(config: Config, view: InstanceView, tmux: Tmux) -> AgentPane:
    """The pane of the agent ``view`` as the fleet shows it (its claim's pid when local, its
    branch's worktree)."""
    pid = view.pid if view.local else None  # a pid on another host is not in our panes
    worktree = branch_worktree(config.root, view.branch)
    return AgentPane(view.id, pid, worktree, tmux.find_pane(pid, worktree))


@dataclass(frozen=True)
class Look:
    """One look into an agent's pane: what it shows (raw, escapes and all: filter it with
    :func:`~factory_tui.adapters.tmux.capture_text`), or why there is nothing to show."""

    found: AgentPane
    raw: str | None
    why: str | None = None


def look_into(config: Config, view: InstanceView, tmux: Tmux) -> Look:
    """Find the agent's pane and capture it (for the detail screen's terminal)."""
    found = pane_of(config, view, tmux)
    if found.pane is None:
        return Look(found, None, f"no pane found: {found.match.how}")
    try:
        return Look(found, tmux.capture(found.pane.id))
    except TmuxError as error:
        return Look(found, None, str(error))


def plan_send(
    config: Config,
    instance_id: str,
    text: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    tmux: Tmux | None = None,
) -> SendPlan | ActionResult:
    """What sending ``text`` to ``instance_id`` would do, or why it cannot be done: read-only,
    text that is not one plain line, no tmux, no pane found."""
    refusal = read_only_refusal(config, "answering an agent")
    if refusal is not None:
        return refusal
    try:
        check_reply(text)
    except TmuxError as error:
        return ActionResult(Outcome.REFUSED, f"nothing was sent: {error}")
    tmux = tmux or Tmux()
    why = tmux.unavailable()
    if why is not None:
        return ActionResult(Outcome.REFUSED, f"nothing was sent: {why}")
    found = find_agent_pane(config, instance_id, now=now, reader=reader, tmux=tmux)
    if isinstance(found, ActionResult):
        return found
    if found.pane is None:
        return ActionResult(
            Outcome.REFUSED, f"nothing was sent: no pane found for {instance_id}: {found.match.how}"
        )
    return SendPlan(instance_id, found.pane, found.match.how, text)


def send(
    config: Config,
    plan: SendPlan,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    tmux: Tmux | None = None,
    by: str | None = None,
) -> ActionResult:
    """Send the planned text, after finding the pane again: the same pane, or nothing."""
    refusal = read_only_refusal(config, "answering an agent")
    if refusal is not None:
        return refusal
    tmux = tmux or Tmux()
    again = find_agent_pane(config, plan.instance, now=now, reader=reader, tmux=tmux)
    if isinstance(again, ActionResult):
        return again
    if again.pane is None or again.pane.id != plan.pane.id:
        now_there = again.pane.target if again.pane is not None else f"none ({again.match.how})"
        return ActionResult(
            Outcome.REFUSED,
            f"{plan.instance}'s pane changed since you confirmed (was {plan.pane.target}, now "
            f"{now_there}): nothing was sent — look again",
        )
    try:
        tmux.send_text(plan.pane.id, plan.text)
    except TmuxError as error:
        return ActionResult(Outcome.ERROR, f"could not send to {plan.pane.target}: {error}")
    fields = [
        ("instance", plan.instance),
        ("pane", plan.pane.id),
        ("target", plan.pane.target),
        ("chars", str(len(plan.text))),
        ("by", by or actor()),
    ]
    line = audit(config, now, "REPLY", fields)
    return ActionResult(
        Outcome.DONE,
        f"sent {len(plan.text)} characters and Enter to {plan.instance} in {plan.pane.target}",
        log_lines=(line,),
    )
