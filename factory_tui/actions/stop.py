"""Stop a runaway agent: SIGTERM, then SIGKILL after a grace period; logged.

Refused for a pid on another host, and for a pid that is no longer the agent's (not running, or
a process that started after the agent's claim: a reused pid).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psutil

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import Config
from factory_tui.core.fleet import InstanceView, ProcInfo

__all__ = ["StopPlan", "plan_stop", "stop_agent"]


@dataclass(frozen=True)
class StopPlan:
    instance: InstanceView
    pid: int
    proc: ProcInfo

    def describe(self) -> list[str]:
        cmd = " ".join(self.proc.cmdline) or "(command line not readable)"
        return [
            f"agent {self.instance.id}, task {self.instance.task or '—'}",
            f"pid {self.pid}: {cmd}",
            f"cwd: {self.proc.cwd or '(not readable)'}",
            "sends SIGTERM, then SIGKILL if it is still running after the grace period",
        ]


def plan_stop(
    config: Config, instance_id: str, *, now: datetime, reader: FactoryReader | None = None
) -> StopPlan | ActionResult:
    reader = reader or FactoryReader(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    view = next((i for i in fleet.instances if i.id == instance_id), None)
    if view is None:
        return ActionResult(Outcome.ERROR, f"no agent {instance_id} in this factory")
    if not view.local:
        return ActionResult(
            Outcome.REFUSED, f"{instance_id} runs on host {view.host}: stop it there, not from here"
        )
    if view.pid is None or not view.alive:
        why = (
            "no pid recorded" if view.pid is None else f"pid {view.pid} is not its process any more"
        )
        return ActionResult(
            Outcome.REFUSED, f"{instance_id} is not running here ({why}): nothing to stop"
        )
    proc = reader.probe.probe([view.pid]).get(view.pid)
    if proc is None:
        return ActionResult(Outcome.REFUSED, f"pid {view.pid} has just exited: nothing to stop")
    return StopPlan(view, view.pid, proc)


def stop_agent(
    config: Config,
    instance_id: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    grace_s: float = 5.0,
    by: str | None = None,
    wait: Callable[[psutil.Process, float], bool] | None = None,
) -> ActionResult:
    refusal = read_only_refusal(config, "stopping an agent")
    if refusal is not None:
        return refusal
    plan = plan_stop(config, instance_id, now=now, reader=reader)
    if isinstance(plan, ActionResult):
        return plan
    try:
        proc = psutil.Process(plan.pid)
        started = datetime.fromtimestamp(proc.create_time())
        if (
            plan.proc.started_at is not None
            and abs((started - plan.proc.started_at).total_seconds()) > 1
        ):
            return ActionResult(
                Outcome.REFUSED, f"pid {plan.pid} was replaced by another process: not stopped"
            )
        proc.send_signal(signal.SIGTERM)
        sent = "SIGTERM"
        waiter = wait or _wait
        if not waiter(proc, grace_s):
            proc.send_signal(signal.SIGKILL)
            sent = "SIGTERM+SIGKILL"
            waiter(proc, 5.0)
    except psutil.NoSuchProcess:
        return ActionResult(Outcome.REFUSED, f"pid {plan.pid} exited before it could be stopped")
    except psutil.AccessDenied:
        return ActionResult(
            Outcome.ERROR, f"not allowed to signal pid {plan.pid} (another user's process)"
        )
    fields = [
        ("task", plan.instance.task or "-"),
        ("instance", instance_id),
        ("pid", str(plan.pid)),
        ("signal", sent),
        ("by", by or actor()),
    ]
    line = audit(config, now, "AGENT-STOP", fields)
    return ActionResult(
        Outcome.DONE, f"stopped {instance_id} (pid {plan.pid}, {sent})", log_lines=(line,)
    )


def _wait(proc: psutil.Process, timeout: float) -> bool:
    try:
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        return True
    return True
