"""A live simulator of agents for the demo factory: the files move while the cockpit watches.

    python -m factory_tui.demo.simulate --root PATH [--speed X] [--seed N] [--max-seconds N]

The simulator plays agents the way FORMATS.md says agents behave, on real files: claims are taken
and completed under the lock protocol (``mkdir`` the lock, re-read, atomic write, remove the lock,
re-read to verify), every log line is one ``O_APPEND`` write, checkpoints are written before a
merge and deleted after it, and every simulated agent is a live process (an
:mod:`~factory_tui.demo.agent_stub`, detached in its own session) whose pid its claims carry, with
``claimed_at`` no earlier than that process's start (the fleet takes a pid that started more than
60 s after ``claimed_at`` for a reused one).

The cast, one tick at a time (a tick every 1-3 s at speed 1):

* **working agents the generator left running** (a claim on this host, a live pid, an open session
  whose last event is recent): they carry on from the step they were at, open a PR, pass CI, write
  a checkpoint, merge, delete the checkpoint, complete their phase and release it
  (``RELEASE reason=done``), then take a new ticket;
* tick 2, **an agent that crashes**: it takes the first available claim (the MEGA's free phase),
  works through to an open PR and green CI, writes a checkpoint before the merge, starts the merge
  and is killed there (SIGKILL): a SESSION-START without SESSION-END, a checkpoint, a dead pid;
* tick 3, **an agent that goes silent**: it takes a new backlog ticket, logs two steps, then says
  nothing more while its process stays alive; the fleet calls it idle once ``idle_after`` passed;
* tick 5, **a worker** that takes backlog tickets one after the other, through every step.

The agents spend as they work: each action an agent logs appends the model responses behind it
to that agent's Claude Code transcript (:class:`~factory_tui.demo.transcripts.LiveTranscript`,
the session's file that ``factory-tui demo`` wrote, continued, or a new one per new session),
whole lines in single ``O_APPEND`` writes, so the cockpit's spend moves. A crashed or silent
agent writes nothing more; a session's file stops growing at its release. Only when the factory's
``claude_config_dir`` is inside ROOT (as the demo's ``factory.toml`` sets it): the simulator
never writes to a real ``~/.claude``.

A claim released by someone else while the simulator runs (the engineer releasing a stale claim,
say) is picked up by the next agent looking for work. Everything is a function of the seed and of
the factory's files, except the timestamps (the injected clock) and what live processes force
(pids, and ``claimed_at`` from a process's start time).

The silent agent turns idle ``idle_after`` after its last event, 15 minutes by default: the demo's
``factory.toml`` sets ``idle_after = "2m"`` (for the cockpit and ``status`` alike) so the engineer
sees it happen about two to three minutes in (log timestamps have minute precision).

It only runs on a demo factory (its memory folder inside ROOT, as ``factory-tui demo`` writes it),
stops the processes it started when it stops (so in a kept factory its agents that were still
running read as crashed afterwards, which is what they are), and stops when ROOT disappears.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import append_line, atomic_write
from factory_tui.adapters.procs import local_hostname
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.cost_records import naive_local
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.timeparse import format_ts, parse_ts, utc_naive
from factory_tui.demo.agent_git import AgentGit
from factory_tui.demo.playbook import (
    ASK_WAIT_TICKS,
    CRASHER_PLAN,
    FLOW,
    SILENT_PLAN,
    SPENDING,
    WORKER_FIRST_PLAN,
    Agent,
    Op,
    Step,
    Ticket,
    checkpoint_data,
    commit_subject,
    event_line,
    is_available,
    live_start,
    resume_plan,
    ticket_of,
)
from factory_tui.demo.simulate_claims import ClaimDesk
from factory_tui.demo.stubs import start_stub, stop_stubs
from factory_tui.demo.transcripts import LiveTranscript, StepWork

__all__ = ["INTERVAL_S", "Simulator", "main"]

#: Seconds between two ticks at speed 1 (drawn uniformly from this range).
INTERVAL_S = (1.0, 3.0)
#: Ticks at which the simulator starts its own agents.
SPAWNS: dict[int, str] = {2: "crasher", 3: "silent", 5: "worker"}
_MODEL = "claude-sonnet-4-5"


class Simulator:
    """Simulated agents acting on a demo factory's files, one :meth:`step` (tick) at a time."""

    def __init__(
        self,
        factory_root: Path,
        *,
        seed: int = 7,
        speed: float = 1.0,
        clock: Callable[[], datetime] = datetime.now,
        sleep: Callable[[float], None] = time.sleep,
        python: str = sys.executable,
        hostname: str | None = None,
        config: Config | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        """Raises ``ValueError`` when ROOT is not a demo factory (or ``speed`` is not positive).

        ``config`` (default: ``load_config(factory_root)``) says where the files are; ``sleep``
        is what the lock protocol's retries wait with; ``tz`` the zone of the factory's naive
        local times (default: this machine's, :func:`~factory_tui.adapters.clock.local_zone`),
        which an aware ``clock`` reading is converted to.
        """
        if not speed > 0:
            raise ValueError(f"speed={speed}: must be more than 0 (1 is real time, 5 is 5x)")
        root = Path(factory_root)
        if not root.is_dir():
            raise ValueError(f"{root}: no such folder; give a demo factory's folder")
        if config is None:
            try:
                config = load_config(root)
            except ConfigError as error:
                raise ValueError(f"{root}: {error}") from error
        self.root = config.root
        memory = config.memory_dir.resolve()
        if not memory.is_relative_to(self.root.resolve()):
            raise ValueError(
                f"{self.root}: its memory folder {memory} is outside the repository, so this is "
                "not a demo factory; the simulator only runs on `factory-tui demo` factories"
            )
        if not config.claims_dir.is_dir():
            raise ValueError(
                f"{config.claims_dir}: no claims folder; make a demo factory first "
                "(factory-tui demo --no-ui)"
            )
        self.config = config
        self.claims_dir = config.claims_dir
        claude = config.claude_config_dir.resolve()
        self._claude_dir = claude if claude.is_relative_to(self.root.resolve()) else None
        """Where the agents' transcripts go; None (not inside ROOT): none are written."""
        self.speed = speed
        self.seed = seed
        self.hostname = hostname or local_hostname()
        self.python = python
        self._clock = clock
        self._rng = random.Random(seed)
        self._intervals = random.Random(seed * 7919 + 1)
        self.tz = tz if tz is not None else local_zone()
        self._git = AgentGit(self.root, self.tz)
        self._claims = ClaimDesk(config.claims_dir, sleep=sleep)
        self._agents: list[Agent] = []
        self._tick = 0
        self._ready = False
        self._closed = False
        self._instances: set[str] = set()
        self._pr = 400
        self._mutex = threading.Lock()
        self.finished = False
        """Set once ROOT is gone: nothing more will happen."""
        self.error: str | None = None
        """Why :meth:`run` stopped early on an unexpected error (kept off the terminal, which
        may belong to the cockpit)."""

    # -- the public loop -------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        """Instance -> pid of every stub this simulator started (dead or alive)."""
        return {a.instance: a.pid for a in self._agents if a.process is not None}

    @property
    def agents(self) -> dict[str, str]:
        """Instance -> role of every agent the simulator plays."""
        return {a.instance: a.role for a in self._agents}

    def next_interval(self) -> float:
        """Seconds until the next tick at speed 1 (the caller divides by the speed)."""
        return self._intervals.uniform(*INTERVAL_S)

    def step(self) -> list[str]:
        """Advance the world by one tick; returns a short description of what it did."""
        with self._mutex:
            return self._step()

    def _step(self) -> list[str]:
        if self._closed:
            return ["the simulator is stopped"]
        if self.finished or not self.root.exists():
            self.finished = True
            return [f"{self.root} is gone: nothing to simulate"]
        now = naive_local(self._clock(), self.tz)
        step = Step(now, format_ts(now))
        self._tick += 1
        try:
            if not self._ready:
                self._setup(step)
            role = SPAWNS.get(self._tick)
            if role is not None:
                self._spawn(role, step)
            for agent in list(self._agents):
                if agent.stopped or agent.next_tick > self._tick or not agent.plan:
                    continue
                self._act(agent, step)
        except OSError:
            if not self.root.exists():
                self.finished = True
                step.said.append(f"{self.root} is gone: nothing to simulate")
                return step.said
            raise
        return step.said

    def run(
        self,
        stop: threading.Event,
        max_seconds: float | None = None,
        *,
        on_step: Callable[[list[str]], None] | None = None,
    ) -> None:
        """Step, then wait ``stop.wait(interval / speed)``; until ``stop`` is set, ROOT vanishes
        or ``max_seconds`` passed. Stops the processes it started on the way out."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    said = self.step()
                except Exception as error:  # a bug must not take the cockpit's terminal down
                    self.error = f"the simulator stopped: {type(error).__name__}: {error}"
                    break
                if on_step is not None and said:
                    on_step(said)
                if self.finished:
                    break
                wait = self.next_interval() / self.speed
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                if stop.wait(wait):
                    break
        finally:
            self.close()

    def close(self) -> None:
        """Stop (and reap) every stub process this simulator started. Idempotent."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
        stop_stubs([a.pid for a in self._agents if a.process is not None], self.root)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setting up ------------------------------------------------------------------------------

    def _setup(self, step: Step) -> None:
        """Read the factory once: which agents are working, what is free, the last PR number."""
        self._ready = True
        reader = FactoryReader(self.config, hostname=self.hostname)
        reader.refresh_claims()
        reader.refresh_log()
        fold = reader.fold
        self._instances.update(fold.instance_last_event, fold.instance_sessions)
        prs = [int(s.pr) for s in fold.sessions if s.pr and s.pr.isdigit()]
        self._pr = max(prs, default=400)
        self._git.start()
        claims = sorted(reader.claim_files(), key=lambda c: c.file)
        for claim in claims:
            for unit in claim.units:
                if unit.owner:
                    self._instances.add(unit.owner)
                if is_available(claim, unit):
                    self._claims.initially_free.add(unit.key)
        seen: set[str] = set()
        for claim in claims:
            for unit in claim.units:
                owner = unit.owner
                if not owner or owner in seen or unit.completed_at or unit.pid is None:
                    continue
                if not same_host(unit.hostname, self.hostname):
                    continue
                started = live_start(unit.pid, unit.claimed_at, self.tz)
                if started is None:
                    continue
                last_raw = fold.instance_last_event.get(owner)
                last = parse_ts(last_raw, self.tz) if last_raw else None
                if last is None or step.now - last > self.config.idle_after:
                    continue  # an idle agent stays idle
                session = next(
                    (s for s in reversed(fold.instance_sessions.get(owner, [])) if s.is_open),
                    None,
                )
                if session is None:
                    continue
                seen.add(owner)
                ticket = ticket_of(claim, unit, session.task, session.branch)
                plan = resume_plan(session.last_step, session.last_step_state)
                worktree = self.root / ".worktrees" / owner
                agent = Agent(
                    instance=owner,
                    role="working",
                    pid=unit.pid,
                    started=started,
                    process=None,
                    worktree=worktree if worktree.is_dir() else None,
                    plan=deque(plan),
                    next_tick=self._tick,
                    ticket=ticket,
                    pr=int(session.pr) if session.pr and session.pr.isdigit() else None,
                    claims=1,
                    last_acted=last,
                )
                session_start = parse_ts(session.started_at, self.tz)
                if session_start is not None:
                    agent.transcript = self._transcript(agent, ticket, session_start)
                self._add_ci_failure(agent)
                self._agents.append(agent)
                self._claims.taken.add(ticket.key)
                step.said.append(
                    f"{owner} carries on with {ticket.task} from {session.last_step or 'its start'}"
                )

    def _new_instance(self, now: datetime) -> str:
        seconds = int(now.timestamp())
        while True:
            instance = f"t{seconds % 100000}-{self._rng.getrandbits(16):04x}"
            if instance not in self._instances:
                self._instances.add(instance)
                return instance

    def _spawn(self, role: str, step: Step) -> None:
        instance = self._new_instance(step.now)
        tree = self.root / ".worktrees" / instance
        worktree: Path | None = None
        if self._git.add_worktree(tree):
            worktree = tree
            self._link_claims(tree)
        process = start_stub(self.python, self.root, worktree or self.root)
        try:
            started: datetime | None = datetime.fromtimestamp(
                psutil.Process(process.pid).create_time(), self.tz
            ).replace(tzinfo=None)
        except psutil.Error:
            started = None
        if role == "crasher":
            plan: list[Op] = list(CRASHER_PLAN)
        elif role == "silent":
            plan = list(SILENT_PLAN)
        else:
            plan = [*WORKER_FIRST_PLAN, ("next", "")]
        agent = Agent(
            instance=instance,
            role=role,
            pid=process.pid,
            started=started,
            process=process,
            worktree=worktree,
            plan=deque(plan),
            next_tick=self._tick,
        )
        if role == "worker":
            self._add_ci_failure(agent)
        self._agents.append(agent)
        step.said.append(f"{instance} starts (pid {process.pid}, {role})")

    def _link_claims(self, worktree: Path) -> None:
        """A worktree's ``.claude/claims`` is a symlink to the main one's (FORMATS.md)."""
        if self.claims_dir.resolve() != (self.root / ".claude" / "claims").resolve():
            return
        link = worktree / ".claude" / "claims"
        with contextlib.suppress(OSError):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path("..", "..", "..", ".claude", "claims"))

    def _add_ci_failure(self, agent: Agent) -> None:
        """Now and then CI fails once and is re-run (decided up front, from the seed)."""
        if self._rng.random() >= 0.35:
            return
        plan = list(agent.plan)
        try:
            at = plan.index(("start", "ci"))
        except ValueError:
            return
        plan[at + 1 : at + 1] = [("ci-failed", "ci"), ("start", "ci")]
        agent.plan = deque(plan)

    # -- acting ----------------------------------------------------------------------------------

    def _delay(self, agent: Agent, op: Op) -> int:
        if op[0] == "ask":
            return ASK_WAIT_TICKS
        if op == ("start", "ci") or op[0] == "ci-failed":
            return self._rng.randint(3, 5)
        if op[0] in ("release", "take") and agent.role != "crasher":
            return self._rng.randint(2, 4)
        if agent.role == "crasher":
            return self._rng.randint(1, 2)
        return self._rng.randint(1, 3)

    def _alive(self, agent: Agent) -> bool:
        if agent.process is not None:
            return agent.process.poll() is None
        try:
            proc = psutil.Process(agent.pid)
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _act(self, agent: Agent, step: Step) -> None:
        op = agent.plan[0]
        if not self._alive(agent):
            agent.stopped = True
            step.said.append(f"{agent.instance}: pid {agent.pid} is gone; it does nothing more")
            return
        kind, name = op
        if kind not in ("take", "next", "crash", "silent") and not self._still_owner(agent, step):
            return
        done = True
        if kind == "take":
            done = self._take(agent, step)
        elif kind in ("start", "done"):
            self._step_line(agent, step, kind, name)
        elif kind == "checkpoint":
            self._checkpoint(agent, step)
        elif kind == "ci-failed":
            self._ci_failed(agent, step)
        elif kind == "release":
            done = self._release(agent, step)
        elif kind == "next":
            agent.plan.extend([*FLOW, ("next", "")])
            self._add_ci_failure(agent)
            step.said.append(f"{agent.instance} looks for its next ticket")
        elif kind == "ask":
            self._ask(agent, step)
        elif kind == "crash":
            self._crash(agent, step)
        elif kind == "silent":
            agent.stopped = True
            step.said.append(
                f"{agent.instance} goes silent on {self._task(agent)}: pid {agent.pid} alive, "
                "no more log events"
            )
        if done:
            agent.plan.popleft()
            agent.next_tick = self._tick + self._delay(agent, op)
            if kind in SPENDING:
                self._converse(agent, step, kind, name)
            agent.last_acted = step.now
        else:
            agent.next_tick = self._tick + 1

    def _transcript(self, agent: Agent, ticket: Ticket, start: datetime) -> LiveTranscript | None:
        """The transcript of ``agent``'s session on ``ticket`` that started at ``start`` (its
        SESSION-START time), where ``write_demo_transcripts`` puts it; None when the factory's
        Claude folder is not the demo's own."""
        if self._claude_dir is None:
            return None
        root = self.root.resolve()
        cwd = root / ".worktrees" / agent.instance if agent.worktree is not None else root
        return LiveTranscript(
            self._claude_dir,
            instance=agent.instance,
            task=ticket.task,
            branch=ticket.branch,
            start=start,
            cwd=cwd,
            seed=self.seed,
        )

    def _converse(self, agent: Agent, step: Step, kind: str, name: str) -> None:
        """The model responses behind the action just logged, appended to the transcript; the
        session's transcript ends with its release."""
        transcript = agent.transcript
        ticket = agent.ticket
        if transcript is None:
            return
        if kind == "release":
            agent.transcript = None
        work = StepWork(
            kind=kind,
            step=name,
            file=ticket.file if ticket is not None else "",
            pr=agent.pr,
            target=str(agent.checkpoint) if kind == "checkpoint" and agent.checkpoint else None,
        )
        transcript.work(agent.last_acted, step.now, work)

    def _ask(self, agent: Agent, step: Step) -> None:
        """The agent asks permission for a merge and waits: its transcript gets the tool call
        (no result), and Claude Code's PermissionRequest hook runs the real ``factory-tui hook``,
        which logs ``AGENT-WAITING``. Its next action (after ``ASK_WAIT_TICKS``) ends the wait."""
        command = f"gh pr merge {agent.pr or ''} --squash --delete-branch".replace("  ", " ")
        tool_input = {"command": command, "description": "Squash-merge the PR"}
        if agent.transcript is not None:
            agent.transcript.ask(step.now, "Bash", tool_input)
        cwd = self.root / ".worktrees" / agent.instance
        event = {
            "session_id": agent.transcript.session_id if agent.transcript else "",
            "transcript_path": str(agent.transcript.path) if agent.transcript else "",
            "cwd": str(cwd if cwd.is_dir() else self.root),
            "permission_mode": "default",
            "hook_event_name": "PermissionRequest",
            "tool_name": "Bash",
            "tool_input": tool_input,
        }
        argv = [self.python, "-m", "factory_tui", "hook", str(self.root)]
        argv += ["--instance", agent.instance, "--log", str(self.config.log_file)]
        argv += ["--now", step.now.isoformat(timespec="seconds")]
        try:
            subprocess.run(  # argv, never a shell
                argv, input=json.dumps(event), text=True, capture_output=True, timeout=60
            )
        except (OSError, subprocess.SubprocessError) as error:
            step.said.append(f"{agent.instance}: the hook did not run: {error}")
            return
        step.said.append(
            f"{agent.instance} asks permission to run `{command}` and waits for you "
            f"(the demo answers in {ASK_WAIT_TICKS} ticks)"
        )

    def _task(self, agent: Agent) -> str:
        return agent.ticket.task if agent.ticket is not None else "-"

    def _log(self, at: Step, name: str, /, **fields: object) -> None:
        """One operations.log line, in one O_APPEND write."""
        append_line(self.config.log_file, event_line(at, name, fields))

    def _metric(self, at: Step, name: str, /, **fields: object) -> None:
        """metrics.log is written in UTC without a marker, as the hooks' ``date -u`` does."""
        utc = Step(utc_naive(at.now, self.tz), format_ts(utc_naive(at.now, self.tz)))
        append_line(self.config.metrics_file, event_line(utc, name, fields))

    def _still_owner(self, agent: Agent, step: Step) -> bool:
        """Does the claim file still name this agent? If someone released or took it (the
        engineer, say), the agent logs the loss, ends its session and looks for other work."""
        ticket = agent.ticket
        if ticket is None:
            return True
        unit = self._claims.read_unit(ticket)
        if unit is not None and unit.owner == agent.instance:
            return True
        holder = unit.owner if unit is not None else None
        detail = f"{ticket.key} now owned by {holder}" if holder else f"{ticket.key} was released"
        self._log(step, "ERROR", task=ticket.task, error="claim-lost", detail=detail)
        self._log(step, "SESSION-END", task=ticket.task, status="paused")
        step.said.append(f"{agent.instance} lost {ticket.key} ({detail}); it ends its session")
        self._claims.taken.discard(ticket.key)
        agent.ticket = None
        agent.transcript = None
        agent.pr = None
        agent.plan = deque([("next", "")]) if agent.role != "crasher" else deque()
        if not agent.plan:
            agent.stopped = True
        agent.next_tick = self._tick + 2
        return False

    # -- claims, under the lock protocol --------------------------------------------------------

    def _claimed_at(self, agent: Agent, step: Step) -> str:
        """Not before the agent's process started (minute precision, as the protocol writes)."""
        when = step.now
        if agent.started is not None and (agent.claims == 0 or agent.started > when):
            when = agent.started
        return format_ts(when)

    def _take(self, agent: Agent, step: Step) -> bool:
        owner = {
            "owner": agent.instance,
            "pid": agent.pid,
            "claimed_at": self._claimed_at(agent, step),
            "hostname": self.hostname,
        }
        ticket: Ticket | None = None
        for claim, unit in self._claims.candidates(agent.role):
            candidate = ticket_of(claim, unit, None, None)
            result = self._claims.claim_existing(candidate, {**owner, "branch": candidate.branch})
            if result == "busy":
                step.said.append(f"{agent.instance}: {candidate.lock_name} is held; retries")
                return False
            if result == "ok":
                ticket = candidate
                break
            if result in self._instances:
                self._metric(step, "CLAIM-CONFLICT", task=candidate.claim_id,
                             phase=candidate.phase_field, winner=result,
                             loser=agent.instance)  # fmt: skip
            step.said.append(f"{agent.instance} lost {candidate.key} to {result}")
        if ticket is None:
            made = self._claim_new(agent, owner, step)
            if made is None:
                return False
            ticket = made
        agent.ticket = ticket
        started = parse_ts(step.ts, self.tz)
        agent.transcript = self._transcript(agent, ticket, started or step.now)
        agent.claims += 1
        agent.pr = None
        agent.sha = None
        agent.ci_runs = 0
        self._claims.taken.add(ticket.key)
        self._claims.initially_free.discard(ticket.key)  # freed again later, it is fair game
        self._switch_branch(agent, ticket)
        self._log(step, "SESSION-START", task=ticket.task, branch=ticket.branch,
                  instance=agent.instance)  # fmt: skip
        self._log(step, "CLAIM", task=ticket.claim_id, phase=ticket.phase_field,
                  instance=agent.instance, tickets=",".join(ticket.tickets))  # fmt: skip
        if ticket.phase is not None:
            self._metric(step, "PHASE-CLAIMED", task=ticket.claim_id, phase=ticket.phase,
                         instance=agent.instance)  # fmt: skip
        step.said.append(
            f"{agent.instance} claims {ticket.key} under {ticket.lock_name} "
            f"(pid {agent.pid}) and starts {ticket.task}"
        )
        return True

    def _claim_new(self, agent: Agent, owner: dict[str, Any], step: Step) -> Ticket | None:
        """Create a standalone claim for the next backlog ticket no claim file names yet."""
        ticket, result = self._claims.claim_new(owner)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return None
        if result != "ok":
            step.said.append(f"{agent.instance}: {ticket.claim_id} appeared meanwhile; retries")
            return None
        return ticket

    def _release(self, agent: Agent, step: Step) -> bool:
        ticket = agent.ticket
        assert ticket is not None
        result = self._claims.complete(ticket, agent.instance, step.ts)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return False
        if result != "ok":
            step.said.append(f"{agent.instance}: completing {ticket.key} did not stick")
            return True
        self._log(step, "RELEASE", task=ticket.claim_id, phase=ticket.phase_field,
                  instance=agent.instance, reason="done")  # fmt: skip
        if ticket.phase is not None:
            self._metric(step, "PHASE-COMPLETED", task=ticket.claim_id, phase=ticket.phase,
                         instance=agent.instance)  # fmt: skip
        self._spend(agent, step)
        fields: dict[str, object] = {"task": ticket.task, "status": "success"}
        if agent.pr is not None:
            fields["pr"] = agent.pr
        self._log(step, "SESSION-END", **fields)
        step.said.append(
            f"{agent.instance} completes {ticket.key} and releases it (reason=done); "
            f"session {ticket.task} ends"
        )
        self._claims.taken.discard(ticket.key)
        agent.ticket = None
        return True

    # -- steps, checkpoints, crashes ------------------------------------------------------------

    def _step_line(self, agent: Agent, step: Step, kind: str, name: str) -> None:
        ticket = agent.ticket
        assert ticket is not None
        event = "STEP-START" if kind == "start" else "STEP-DONE"
        extra: dict[str, object] = {}
        if kind == "done" and name in ("branch", "push"):
            extra["branch"] = ticket.branch
        elif kind == "done" and name == "code":
            extra["component"] = ticket.component
        elif kind == "done" and name == "commit":
            agent.sha = self._commit(agent, step)
            extra["sha"] = agent.sha
        elif name == "pr-created":
            self._pr += self._rng.randint(1, 3)
            agent.pr = self._pr
            extra.update(pr=agent.pr, branch=ticket.branch)
        elif name in ("ci", "merged") and agent.pr is not None:
            extra["pr"] = agent.pr
        if kind == "done" and name == "merged":
            merged = self._git.merge_pr(agent, step.now)
            if merged is not None:
                extra["sha"] = merged
        if kind == "start" and name == "ci":
            agent.ci_runs += 1
            if agent.ci_runs > 1:
                extra["detail"] = f"re-run {agent.ci_runs}/3"
        if kind == "start" and name == "merged":
            extra["detail"] = "gh pr merge --squash --delete-branch"
        self._log(step, event, step=name, task=ticket.task, **extra)
        said = f"{agent.instance} {event} {name} ({ticket.task})"
        if name == "pr-created":
            said = f"{agent.instance} opens PR #{agent.pr} for {ticket.task}"
        if kind == "done" and name == "merged":
            self._metric(step, "PR-MERGED", task=ticket.task, pr=agent.pr, mode="show")
            if agent.checkpoint is not None:
                with contextlib.suppress(FileNotFoundError):
                    agent.checkpoint.unlink()
                said += f", deletes checkpoint {agent.checkpoint.name}"
                agent.checkpoint = None
        step.said.append(said)

    def _ci_failed(self, agent: Agent, step: Step) -> None:
        ticket = agent.ticket
        assert ticket is not None
        self._log(step, "ERROR", task=ticket.task, error="ci-failed", step="ci",
                  detail="test_route_reload timed out")  # fmt: skip
        self._metric(step, "CI-FIX", task=ticket.task, pr=agent.pr, attempt=1, result="failed")
        step.said.append(f"{agent.instance}: CI failed on PR #{agent.pr}; re-runs it")

    def _checkpoint(self, agent: Agent, step: Step) -> None:
        """Written before the risky step (the merge), as the protocol asks."""
        ticket = agent.ticket
        assert ticket is not None
        data = checkpoint_data(agent, ticket, step)
        folder = self.config.checkpoints_dir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{step.ts.replace(':', '-')}-{ticket.task}.json"
        body = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(folder / name, body)
        agent.checkpoint = folder / name
        self._log(step, "CHECKPOINT", task=ticket.task, file=name)
        step.said.append(f"{agent.instance} writes checkpoint {name} before the merge")

    def _crash(self, agent: Agent, step: Step) -> None:
        """The process dies mid-step: no SESSION-END, the checkpoint stays, the claim stays."""
        if agent.process is not None:
            agent.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.process.wait(5)
        agent.stopped = True
        agent.transcript = None
        step.said.append(
            f"{agent.instance} CRASHES during {self._task(agent)}: pid {agent.pid} killed, "
            "no SESSION-END, its checkpoint and claim stay"
        )

    def _spend(self, agent: Agent, step: Step) -> None:
        tokens_in = self._rng.randint(40, 400) * 1000
        tokens_out = self._rng.randint(40, 400) * 100
        cache_read = self._rng.randint(40, 400) * 5000
        cost = tokens_in * 3e-6 + tokens_out * 15e-6 + cache_read * 0.3e-6
        self._metric(step, "TOKEN-SPEND", instance=agent.instance, task=self._task(agent),
                     model=_MODEL, input_tokens=tokens_in, output_tokens=tokens_out,
                     cache_read_tokens=cache_read, cost_usd=f"{cost:.2f}")  # fmt: skip

    # -- git --------------------------------------------------------------------------------------

    def _switch_branch(self, agent: Agent, ticket: Ticket) -> None:
        if agent.worktree is not None:
            self._git.switch_branch(agent.worktree, ticket.branch)

    def _commit(self, agent: Agent, step: Step) -> str:
        """A real commit in the agent's worktree when there is one; else a made-up sha."""
        ticket = agent.ticket
        assert ticket is not None
        agent.commit_message = commit_subject(ticket)
        fallback = f"{self._rng.getrandbits(28):07x}"
        return self._git.commit_work(agent, ticket, step.now) or fallback


# -- command line --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m factory_tui.demo.simulate",
        description="Simulated agents acting on a demo factory (factory-tui demo), live.",
    )
    parser.add_argument("--root", required=True, type=Path, help="the demo factory's folder")
    parser.add_argument("--speed", type=float, default=1.0, help="5 = five times faster")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop after this long (default: never)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print what happens")
    args = parser.parse_args(argv)
    if args.max_seconds is not None and args.max_seconds < 0:
        parser.error(f"--max-seconds {args.max_seconds}: must be 0 or more")
    try:
        simulator = Simulator(args.root, seed=args.seed, speed=args.speed)
    except ValueError as error:
        print(f"factory-tui simulate: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)

    def show(said: Iterable[str]) -> None:
        if args.quiet:
            return
        stamp = datetime.now().strftime("%H:%M:%S")
        for line in said:
            print(f"{stamp}  {line}", flush=True)

    try:
        simulator.run(stop, args.max_seconds, on_step=show)
    except KeyboardInterrupt:
        return 130
    finally:
        simulator.close()
        signal.signal(signal.SIGTERM, previous)
    if simulator.error:
        print(f"factory-tui simulate: {simulator.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
