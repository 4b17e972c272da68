"""Stop a runaway agent: SIGTERM, then SIGKILL after a grace period; logged.

A signal goes only to a process that is provably the agent's (``core.agentproc``): on this very
host, not pid 1, not factory-tui or its ancestors, started before the claim and not before the
agent's first session, working in the agent's worktree when that can be seen. The rules are
checked again right before each signal (a pid may be reused during the grace period).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psutil

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.procs import ProcessProbe
from factory_tui.config import Config
from factory_tui.core.agentproc import AgentClaim, why_not_the_agent
from factory_tui.core.fleet import Fleet, InstanceView, ProcInfo
from factory_tui.core.timeparse import parse_ts

__all__ = ["StopPlan", "ancestors", "plan_stop", "stop_agent"]

Sender = Callable[[psutil.Process, signal.Signals], None]


@dataclass(frozen=True)
class StopPlan:
    instance: InstanceView
    pid: int
    proc: ProcInfo
    agent: AgentClaim
    hostname: str

    def describe(self) -> list[str]:
        cmd = " ".join(self.proc.cmdline) or "(command line not readable)"
        return [
            f"agent {self.instance.id}, task {self.instance.task or '—'}",
            f"pid {self.pid}: {cmd}",
            f"cwd: {self.proc.cwd or '(not readable)'}",
            f"worktree: {self.agent.worktree or '(not known)'}",
            "sends SIGTERM, then SIGKILL if it is still running after the grace period",
        ]


def ancestors() -> frozenset[int]:
    """The pids of this process's parents (its shell, terminal, … up to pid 1)."""
    try:
        return frozenset(p.pid for p in psutil.Process().parents())
    except psutil.Error:
        return frozenset()


def _agent_claim(config: Config, fleet: Fleet, view: InstanceView) -> AgentClaim | None:
    """The claim that speaks for ``view``'s process: the one whose pid the fleet calls alive,
    else its first owned claim that records a pid."""
    owned = [
        c.unit
        for c in fleet.claims
        if c.unit.owner == view.id and not c.unit.completed_at and c.unit.pid is not None
    ]
    unit = next((u for u in owned if u.pid == view.pid), owned[0] if owned else None)
    if unit is None:
        return None
    starts = [
        at
        for s in fleet.sessions
        if s.instance == view.id and (at := parse_ts(s.started_at)) is not None
    ]
    return AgentClaim(
        instance=view.id,
        pid=unit.pid,
        hostname=unit.hostname,
        claimed_at=unit.claimed_at,
        session_start=min(starts) if starts else None,
        worktree=_worktree(config, view.branch or unit.branch),
    )


def _worktree(config: Config, branch: str | None) -> str | None:
    if not branch:
        return None
    try:
        tree = GitRepo(config.root).worktree_for(branch)
    except GitError:
        return None
    return str(tree.path.resolve()) if tree is not None else None


def plan_stop(
    config: Config, instance_id: str, *, now: datetime, reader: FactoryReader | None = None
) -> StopPlan | ActionResult:
    reader = reader or FactoryReader(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    view = next((i for i in fleet.instances if i.id == instance_id), None)
    if view is None:
        return ActionResult(Outcome.ERROR, f"no agent {instance_id} in this factory")
    agent = _agent_claim(config, fleet, view)
    if agent is None or agent.pid is None:
        return ActionResult(
            Outcome.REFUSED,
            f"{instance_id} is not running here (no claim of its records a pid): nothing to stop",
        )
    proc = reader.probe.probe([agent.pid]).get(agent.pid)
    why = why_not_the_agent(
        agent, proc, now=now, hostname=reader.hostname, own_pid=os.getpid(), ancestors=ancestors()
    )
    if why is not None or proc is None:
        return ActionResult(Outcome.REFUSED, f"{instance_id} was not stopped: {why}")
    return StopPlan(view, agent.pid, proc, agent, reader.hostname)


def _still_the_agent(plan: StopPlan, now: datetime) -> psutil.Process | str:
    """Right before a signal: the same process (same start time), still passing every rule."""
    try:
        proc = psutil.Process(plan.pid)
        started = datetime.fromtimestamp(proc.create_time())
    except psutil.NoSuchProcess:
        return f"pid {plan.pid} has exited"
    except psutil.AccessDenied:
        return f"pid {plan.pid} cannot be inspected (another user's process)"
    if plan.proc.started_at is None or abs((started - plan.proc.started_at).total_seconds()) > 1:
        return f"pid {plan.pid} was replaced by another process"
    fresh = ProcessProbe().probe([plan.pid]).get(plan.pid)
    why = why_not_the_agent(
        plan.agent,
        fresh,
        now=now,
        hostname=plan.hostname,
        own_pid=os.getpid(),
        ancestors=ancestors(),
    )
    return proc if why is None else why


def _send(proc: psutil.Process, sig: signal.Signals) -> None:
    proc.send_signal(sig)


def stop_agent(
    config: Config,
    instance_id: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    grace_s: float = 5.0,
    by: str | None = None,
    wait: Callable[[psutil.Process, float], bool] | None = None,
    send: Sender | None = None,
) -> ActionResult:
    """Stop ``instance_id``'s process: SIGTERM, then SIGKILL if it outlives ``grace_s``.
    ``send(process, signal)`` sends a signal (tests pass a recorder)."""
    refusal = read_only_refusal(config, "stopping an agent")
    if refusal is not None:
        return refusal
    plan = plan_stop(config, instance_id, now=now, reader=reader)
    if isinstance(plan, ActionResult):
        return plan
    sender = send or _send
    waiter = wait or _wait
    sent: list[str] = []
    held = ""
    try:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            checked = _still_the_agent(plan, now)
            if isinstance(checked, str):
                if not sent:
                    return ActionResult(Outcome.REFUSED, f"{checked}: not stopped")
                held = f"; SIGKILL not sent: {checked}"
                break
            sender(checked, sig)
            sent.append(sig.name)
            if waiter(checked, grace_s if sig is signal.SIGTERM else 5.0):
                break
    except psutil.NoSuchProcess:
        if not sent:
            return ActionResult(
                Outcome.REFUSED, f"pid {plan.pid} exited before it could be stopped"
            )
    except psutil.AccessDenied:
        return ActionResult(
            Outcome.ERROR, f"not allowed to signal pid {plan.pid} (another user's process)"
        )
    how = "+".join(sent)
    fields = [
        ("task", plan.instance.task or "-"),
        ("instance", instance_id),
        ("pid", str(plan.pid)),
        ("signal", how),
        ("by", by or actor()),
    ]
    line = audit(config, now, "AGENT-STOP", fields)
    if held and psutil.pid_exists(plan.pid):
        return ActionResult(
            Outcome.ERROR,
            f"sent {how} to {instance_id} (pid {plan.pid}), still running{held}",
            log_lines=(line,),
        )
    return ActionResult(
        Outcome.DONE, f"stopped {instance_id} (pid {plan.pid}, {how})", log_lines=(line,)
    )


def _wait(proc: psutil.Process, timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        return True
    return True
