"""Stop a runaway agent: SIGTERM, then SIGKILL after a grace period; logged.

A signal goes only to a process that is provably the agent's (``core.agentproc``): on this very
host, not pid 1, not factory-tui or its ancestors, started before the claim and not before the
agent's first session, working in the agent's worktree when that can be seen. The rules are
checked again right before each signal (a pid may be reused during the grace period).

An agent on another configured host (``[hosts."NAME"] ssh``) is stopped through that host's argv
(``ssh NAME kill -TERM PID``), after the same rules checked on that host's ``ps``: the same pid,
started before the claim and not before the agent's first session. Its working folder cannot be
seen from here, so that rule is not applied there; the confirmation says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import psutil

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import branch_worktree
from factory_tui.adapters.procs import ProcessProbe
from factory_tui.adapters.remote_procs import RemoteProbe
from factory_tui.config import Config
from factory_tui.core.agentproc import AgentClaim, exact_host, why_not_the_agent
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
    remote: str | None = None
    """The configured host the agent runs on (signalled through its SSH argv), or None: here."""
    argv: tuple[str, ...] = ()
    """That host's argv (``ssh NAME``)."""

    def describe(self) -> list[str]:
        cmd = " ".join(self.proc.cmdline) or "(command line not readable)"
        if self.remote is not None:
            via = " ".join(self.argv)
            return [
                f"agent {self.instance.id}, task {self.instance.task or '—'}",
                f"on host {self.remote}, pid {self.pid}: {cmd}",
                f"started {self.proc.started_at:%Y-%m-%dT%H:%M:%S} (its ps, seen from here)"
                if self.proc.started_at
                else "start time not known",
                "its working folder cannot be seen from here: not checked",
                f"sends kill -TERM through `{via}`, then kill -KILL if it is still running "
                "after the grace period",
            ]
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
    tree = branch_worktree(config.root, view.branch or unit.branch)
    return AgentClaim(
        instance=view.id,
        pid=unit.pid,
        hostname=unit.hostname,
        claimed_at=unit.claimed_at,
        session_start=min(starts) if starts else None,
        worktree=str(tree.resolve()) if tree is not None else None,
    )


def plan_stop(
    config: Config, instance_id: str, *, now: datetime, reader: FactoryReader | None = None
) -> StopPlan | ActionResult:
    reader = reader or FactoryReader.warm(config)
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
    remote = reader.remote
    host = remote.host_of(agent.hostname) if remote is not None else None
    if remote is not None and host is not None and not exact_host(agent.hostname, reader.hostname):
        return _plan_remote(remote, host, view, agent, now)
    proc = reader.probe.probe([agent.pid]).get(agent.pid)
    why = why_not_the_agent(
        agent, proc, now=now, hostname=reader.hostname, own_pid=os.getpid(), ancestors=ancestors()
    )
    if why is not None or proc is None:
        return ActionResult(Outcome.REFUSED, f"{instance_id} was not stopped: {why}")
    return StopPlan(view, agent.pid, proc, agent, reader.hostname)


def _plan_remote(
    remote: RemoteProbe, host: str, view: InstanceView, agent: AgentClaim, now: datetime
) -> StopPlan | ActionResult:
    """The plan for an agent on another host, from that host's ``ps`` asked now."""
    agent = replace(agent, worktree=None)  # its worktree is on that host
    assert agent.pid is not None and agent.hostname is not None
    why = _why_not_remote(remote, host, agent, now)
    if isinstance(why, str):
        return ActionResult(Outcome.REFUSED, f"{agent.instance} was not stopped: {why}")
    return StopPlan(
        view, agent.pid, why, agent, agent.hostname, remote=host, argv=tuple(remote.hosts[host])
    )


def _why_not_remote(
    remote: RemoteProbe, host: str, agent: AgentClaim, now: datetime
) -> ProcInfo | str:
    """The remote process when every rule holds, else why not (an unreachable host: refused,
    never assumed dead)."""
    assert agent.pid is not None and agent.hostname is not None
    facts = remote.probe_host(host, [agent.pid])
    if facts.error is not None:
        return f"cannot check pid {agent.pid} on host {host}: {facts.error}"
    proc = facts.procs.get(agent.pid)
    why = why_not_the_agent(agent, proc, now=now, hostname=agent.hostname, own_pid=0, ancestors=())
    if why is not None or proc is None:
        return why or f"pid {agent.pid} is not running on host {host}"
    return proc


#: A remote start time is the local clock minus ``ps``'s elapsed seconds: it moves by a
#: second or two between two asks.
REMOTE_START_SLACK_S = 5.0


def _stop_remote(
    config: Config,
    plan: StopPlan,
    remote: RemoteProbe,
    *,
    now: datetime,
    grace_s: float,
    by: str | None,
) -> ActionResult:
    """kill -TERM, then kill -KILL after the grace period, through the host's argv; the rules
    are asked again on that host right before each signal."""
    assert plan.remote is not None
    host, pid = plan.remote, plan.pid
    sent: list[str] = []
    held = ""
    for sig in ("TERM", "KILL"):
        checked = _why_not_remote(remote, host, plan.agent, now)
        if isinstance(checked, ProcInfo) and not _same_start(checked, plan.proc):
            checked = f"pid {pid} on host {host} was replaced by another process"
        if isinstance(checked, str):
            if not sent:
                return ActionResult(Outcome.REFUSED, f"{checked}: not stopped")
            held = f"; SIGKILL not sent: {checked}"
            break
        try:
            done = remote.run(remote.argv(host, ["kill", f"-{sig}", str(pid)]), timeout=10.0)
        except (subprocess.TimeoutExpired, OSError) as error:
            failed = f"could not send SIG{sig} to pid {pid} on host {host}: {error}"
            return ActionResult(Outcome.ERROR, failed + (f" (sent {sent})" if sent else ""))
        if done.returncode != 0:
            err = done.stderr[:300].decode("utf-8", errors="replace").strip()
            return ActionResult(
                Outcome.ERROR,
                f"kill -{sig} {pid} on host {host} failed: {err or done.returncode}",
            )
        sent.append(f"SIG{sig}")
        if _gone_remote(remote, host, pid, grace_s if sig == "TERM" else 5.0):
            break
    how = "+".join(sent)
    fields = [
        ("task", plan.instance.task or "-"),
        ("instance", plan.instance.id),
        ("pid", str(pid)),
        ("host", host),
        ("signal", how),
        ("by", by or actor()),
    ]
    line = audit(config, now, "AGENT-STOP", fields)
    if held:
        return ActionResult(
            Outcome.ERROR,
            f"sent {how} to {plan.instance.id} (pid {pid} on host {host}){held}",
            log_lines=(line,),
        )
    return ActionResult(
        Outcome.DONE,
        f"stopped {plan.instance.id} (pid {pid} on host {host}, {how})",
        log_lines=(line,),
    )


def _same_start(now: ProcInfo, planned: ProcInfo) -> bool:
    if now.started_at is None or planned.started_at is None:
        return False
    return abs((now.started_at - planned.started_at).total_seconds()) <= REMOTE_START_SLACK_S


def _gone_remote(remote: RemoteProbe, host: str, pid: int, timeout: float) -> bool:
    """Ask the host until ``pid`` is gone or ``timeout`` passed (an unreachable host: not
    known to be gone)."""
    deadline = time.monotonic() + timeout
    while True:
        facts = remote.probe_host(host, [pid])
        if facts.error is None and pid not in facts.procs:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


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
    reader = reader or FactoryReader.warm(config)
    plan = plan_stop(config, instance_id, now=now, reader=reader)
    if isinstance(plan, ActionResult):
        return plan
    if plan.remote is not None and reader.remote is not None:
        return _stop_remote(config, plan, reader.remote, now=now, grace_s=grace_s, by=by)
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
