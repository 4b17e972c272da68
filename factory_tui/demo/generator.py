"""The demo factory: a realistic factory written into a folder, the same for the same seed.

``generate_demo(path, seed=..., agents=..., now=..., hostname=...)`` writes:

* a real git repository (a small fake project, *tinygate*): ``main`` with a few squash-merged
  commits, and per agent a branch with a linked worktree at ``.worktrees/<instance>`` whose
  ``.claude/claims`` is a symlink to the main worktree's claims folder (FORMATS.md);
* ``factory.toml`` pointing the memory folder at ``.factory/memory`` (the demo never touches
  ``~/.claude``), and there ``operations.log`` (the last day), ``operations.log.1`` (the days
  before, with a few timestamps the wild way), ``metrics.log`` and ``checkpoints/``;
* ``.claude/claims/``: a MEGA claim with five phases (done, claimed, claimed, blocked on two
  deps, available) and standalone claims (claimed, stale, done, available);
* ``plan.md`` and ``memory.md`` agreeing with the claims but for one state-lint finding (an item
  marked ``— DONE`` under 🔴 IN PROGRESS).

Roles, by instance (``DemoFactory.instances``), in this order: ``working`` (a live stub process
whose pid its claim carries, recent steps), ``idle`` (live stub, no log event for 30-45 min),
``crashed`` (SESSION-START without SESSION-END, dead pid, a checkpoint, claim under 2 h old),
``stale`` (claim over 5 h old, last SESSION-START as old, dead pid on this host), ``ended``
(SESSION-END status=success, RELEASE reason=done, MEGA phase 1 completed), ``remote`` (claim on
another host, claimed over 2 h ago but a SESSION-START 40-50 min ago). Past six agents,
``working`` and ``ended`` alternate. With four agents there is no ``ended`` agent (the working
agent finished phase 1 in the morning) and with five no ``remote`` one.

Everything is a function of (seed, agents, now, hostname) — ``random.Random(seed)``, never the
clock — except what live processes force: the pid rule of FORMATS.md takes a live pid whose
process started after ``claimed_at`` for a reused one, so with ``start_processes=True`` the stubs
start first and the live agents' ``claimed_at`` (and the working agents' current SESSION-START)
is the stub's start time to the minute. ``now`` must then be the real time (within 10 minutes).
With ``start_processes=False`` every local pid written is one that is not running (checked with
psutil): the output is fixed, and ``DemoFactory.pids`` still names the working and idle agents'
pids so a test can pass a process table that calls them alive.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from factory_tui.adapters.clock import local_zone
from factory_tui.core.claims import dump_claim
from factory_tui.core.cost_records import naive_local
from factory_tui.core.timeparse import format_ts
from factory_tui.demo.cast import MEGA_ID, PHASE_1, Plan, make_plan
from factory_tui.demo.repo import build_repo, write_files
from factory_tui.demo.state import crashed_checkpoint, demo_claims, state_files
from factory_tui.demo.story import Story
from factory_tui.demo.stubs import agent_command_toml, start_minute, start_stub, stop_stubs

__all__ = ["MEGA_ID", "DemoFactory", "generate_demo", "stop_demo_processes"]

#: Roles whose agents get a live stub process.
LIVE_ROLES = frozenset({"working", "idle"})
#: How far ``now`` may be from the stubs' real start time when processes are started.
MAX_CLOCK_SKEW = timedelta(minutes=10)
#: operations.log rotates past 500 lines (FORMATS.md); the demo keeps the live file under that.
LOG_KEEP_LINES = 480


@dataclass(frozen=True)
class DemoFactory:
    root: Path
    """The repo (ROOT)."""
    memory_dir: Path
    """Where operations.log, metrics.log and checkpoints/ are."""
    claims_dir: Path
    instances: dict[str, str]
    """Instance id -> the role it plays (``working``, ``idle``, ``crashed``, ``stale``, ...)."""
    pids: dict[str, int]
    """Instance id -> pid its claim carries, for the working and idle agents: the live stub's
    pid, or (``start_processes=False``) a pid that was not running."""
    now: datetime


_FACTORY_TOML = """\
# factory-tui configuration for this demo: keep the memory folder inside the repo, so the demo
# never touches ~/.claude.
memory = ".factory/memory"
# The simulated agents move fast: an agent silent for two minutes reads as idle, in the cockpit
# and in `factory-tui status` alike.
idle_after = "2m"
"""


def stop_demo_processes(factory: DemoFactory) -> None:
    """Terminate the demo's stub processes (and wait for them); a dead or foreign pid is left."""
    stop_stubs(list(factory.pids.values()), factory.root)


def generate_demo(
    path: Path,
    *,
    seed: int = 7,
    agents: int = 6,
    now: datetime,
    hostname: str,
    start_processes: bool = True,
    python: str = sys.executable,
    transcripts: bool = False,
    tz: tzinfo | None = None,
) -> DemoFactory:
    """Write a demo factory into ``path`` (new or empty); see the module docstring.

    ``transcripts``: also write the local agents' Claude Code transcripts inside the demo and
    point ``claude_config_dir`` (and budgets) at them in factory.toml, so the cockpit shows each
    agent's spend (:mod:`factory_tui.demo.transcripts`; off by default: the transcripts name
    the demo's absolute path, so two folders would no longer hold the same bytes).

    ``tz``: the zone of the factory's naive local times (default: this machine's,
    :func:`~factory_tui.adapters.clock.local_zone`); an aware ``now`` is converted to it, and
    metrics.log's UTC lines and the live stubs' start times are computed in it."""
    path = Path(path)
    if agents < 4:
        raise ValueError(f"agents={agents}: the demo factory needs at least 4 agents")
    if not hostname.strip():
        raise ValueError("hostname is empty: give this machine's host name")
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{path}: not a directory; give a new or empty folder")
        if any(path.iterdir()):
            raise ValueError(f"{path}: not empty; the demo factory needs a new or empty folder")
    path.mkdir(parents=True, exist_ok=True)
    root = path.resolve()
    zone = tz if tz is not None else local_zone()
    given_now = naive_local(now, zone)
    T = given_now.replace(second=0, microsecond=0)
    plan = make_plan(random.Random(seed), T, agents, hostname.strip())

    started: list[int] = []
    try:
        factory = _generate(root, plan, given_now, zone, start_processes, python, started)
        if transcripts:
            from factory_tui.demo.transcripts import write_demo_transcripts

            write_demo_transcripts(root, hostname=hostname.strip())
        return factory
    except BaseException:
        stop_stubs(started, root)
        raise


def _generate(
    root: Path,
    plan: Plan,
    given_now: datetime,
    zone: tzinfo,
    start_processes: bool,
    python: str,
    started: list[int],
) -> DemoFactory:
    T = plan.now
    # Merged PR numbers are known from the plan, so the state files can go into main's history.
    prs: dict[str, int] = {}
    for _role, ticket, flow in plan.history:
        prs[ticket.id] = flow.pr
    for agent in plan.agents:
        if agent.flow is not None:
            prs[(PHASE_1 if agent.role == "working" else agent.ticket).id] = agent.flow.pr
    plan_md, memory_md = state_files(plan, prs)
    claims_dir = root / ".claude" / "claims"
    claims_dir.mkdir(parents=True)
    git = build_repo(root, plan, memory_md, plan_md)

    # Live stubs first, then every time that must not precede their start.
    if start_processes:
        for agent in plan.agents:
            if agent.role in LIVE_ROLES:
                process = start_stub(python, root, root / agent.worktree)
                started.append(process.pid)
                agent.pid = process.pid
                agent.live_start = start_minute(process.pid, zone)
                if abs(agent.live_start - T) > MAX_CLOCK_SKEW:
                    raise ValueError(
                        f"now={format_ts(T)} is {abs(agent.live_start - T)} away from the stub "
                        f"processes' start ({format_ts(agent.live_start)}): with "
                        "start_processes=True pass the real time as now"
                    )

    story = Story(plan, git, zone)
    story.history()
    story.today()
    assert story.phase1_done is not None

    memory_dir = root / ".factory" / "memory"
    (memory_dir / "checkpoints").mkdir(parents=True)
    ordered = story.log.ordered()
    day = T - timedelta(hours=24)
    old = [line for at, line in ordered if at < day]
    recent = [line for at, line in ordered if at >= day]
    if len(recent) > LOG_KEEP_LINES:
        old, recent = old + recent[:-LOG_KEEP_LINES], recent[-LOG_KEEP_LINES:]
    _write_lines(memory_dir / "operations.log.1", old)
    _write_lines(memory_dir / "operations.log", recent)
    _write_lines(memory_dir / "metrics.log", [line for _, line in story.metrics.ordered()])
    name, checkpoint = crashed_checkpoint(plan)
    _write_json(memory_dir / "checkpoints" / name, checkpoint)

    for claim_id, data in demo_claims(plan, story.phase1_done).items():
        (claims_dir / f"{claim_id}.json").write_bytes(dump_claim(data))
    write_files(root, {"factory.toml": _FACTORY_TOML + agent_command_toml()})

    return DemoFactory(
        root=root,
        memory_dir=memory_dir,
        claims_dir=claims_dir,
        instances={agent.instance: agent.role for agent in plan.agents},
        pids={agent.instance: agent.pid for agent in plan.agents if agent.role in LIVE_ROLES},
        now=given_now,
    )


def _write_lines(target: Path, lines: Sequence[str]) -> None:
    target.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))


def _write_json(target: Path, data: Mapping[str, Any]) -> None:
    target.write_bytes((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
