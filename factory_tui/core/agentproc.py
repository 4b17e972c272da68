"""Is this process provably the agent's? The rules a signal must pass before it is sent.

A claim's pid is agent-written text: it may be null, stale, another host's, a reused pid, pid 1,
or the pid of the very shell the engineer runs factory-tui from. ``why_not_the_agent`` says why a
process is not to be signalled (one sentence), or ``None`` when every rule holds. Pure: the
process facts, this host's name, our own pid and ancestors come in as arguments.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from factory_tui.core.fleet import PID_START_GRACE, ProcInfo
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = ["AgentClaim", "exact_host", "why_not_the_agent"]


@dataclass(frozen=True, slots=True)
class AgentClaim:
    """What the files say about the agent a signal would be meant for."""

    instance: str
    pid: int | None
    hostname: str | None
    claimed_at: str | None
    """As written in the claim (``YYYY-MM-DDTHH:MM``, minute precision)."""
    session_start: datetime | None = None
    """When the instance's earliest known session started (its SESSION-START), if known."""
    worktree: str | None = None
    """The agent's worktree (where its branch is checked out), if known."""


def _host(name: str) -> str:
    return name.strip().rstrip(".").casefold()


def exact_host(claim_host: str | None, hostname: str) -> bool:
    """The same machine only when the names are equal (case and a trailing dot aside):
    ``vm.other-domain.example`` is not ``vm``, and no name is no machine."""
    return bool(claim_host and claim_host.strip()) and _host(claim_host or "") == _host(hostname)


def _inside(path: str, folder: str) -> bool:
    try:
        PurePath(path).relative_to(PurePath(folder))
    except ValueError:
        return False
    return True


def why_not_the_agent(
    agent: AgentClaim,
    proc: ProcInfo | None,
    *,
    now: datetime,
    hostname: str,
    own_pid: int,
    ancestors: Collection[int],
) -> str | None:
    """Why the process of ``agent.pid`` must not be signalled, or ``None`` when it provably is
    the agent's: a pid above 1, not factory-tui nor one of its ancestors, on this very host,
    claimed at a known time that is not in the future, running, started before the claim (within
    the claim's minute precision) and not before the agent's first session, and, when its working
    folder or command line can be read and the worktree is known, working in that worktree."""
    pid = agent.pid
    if pid is None:
        return f"{agent.instance}'s claim records no pid"
    if pid <= 1:
        return f"pid {pid} is the system's (or a namespace's) first process: never signalled"
    if pid == own_pid:
        return f"pid {pid} is factory-tui itself"
    if pid in ancestors:
        return f"pid {pid} is an ancestor of factory-tui (the shell or terminal it runs in)"
    if not (agent.hostname and agent.hostname.strip()):
        return f"{agent.instance}'s claim records no hostname: cannot tell it runs on this host"
    if not exact_host(agent.hostname, hostname):
        return (
            f"{agent.instance} runs on host {agent.hostname}, not on this host ({hostname}): "
            "stop it there, not from here"
        )
    claimed = parse_ts(agent.claimed_at) if agent.claimed_at else None
    if claimed is None:
        return (
            f"{agent.instance}'s claim has no readable claimed_at ({agent.claimed_at!r}): cannot "
            f"tell pid {pid} is the claimer"
        )
    if claimed > now:
        return (
            f"{agent.instance}'s claimed_at {agent.claimed_at} is in the future (now "
            f"{format_ts(now)}): cannot tell pid {pid} is the claimer"
        )
    if proc is None:
        return f"pid {pid} is not running: nothing to stop"
    started = proc.started_at
    if started is None:
        return f"pid {pid}'s start time cannot be read (another user's process?): not signalled"
    if started > claimed + PID_START_GRACE:
        return (
            f"pid {pid} started {format_ts(started, seconds=True)}, after the claim "
            f"({agent.claimed_at}): a reused pid, not {agent.instance}'s process"
        )
    if agent.session_start is not None and started < agent.session_start - PID_START_GRACE:
        return (
            f"pid {pid} started {format_ts(started, seconds=True)}, before {agent.instance}'s "
            f"first session ({format_ts(agent.session_start)}): not its process"
        )
    return _why_not_in_worktree(agent, proc)


def _why_not_in_worktree(agent: AgentClaim, proc: ProcInfo) -> str | None:
    tree = agent.worktree
    if not tree or (proc.cwd is None and not proc.cmdline):
        return None
    if proc.cwd is not None and _inside(proc.cwd, tree):
        return None
    if any(tree in arg for arg in proc.cmdline):
        return None
    where = proc.cwd if proc.cwd is not None else "(not readable)"
    return (
        f"pid {agent.pid} works in {where}, not in {agent.instance}'s worktree {tree}, and its "
        "command line does not name it: not its process"
    )
