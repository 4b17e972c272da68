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
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import ISOLATED_ENV, GitError, GitRepo, dated
from factory_tui.adapters.lock import LockBusy, append_line, atomic_write, claim_lock
from factory_tui.adapters.procs import local_hostname
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
    dump_claim,
    parse_claim,
    release_fields,
    update_unit,
)
from factory_tui.core.fleet import PID_START_GRACE, same_host
from factory_tui.core.oplog import format_event
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import format_ts, parse_ts, utc_naive
from factory_tui.demo.stubs import start_stub, stop_stubs
from factory_tui.demo.transcripts import LiveTranscript, StepWork

__all__ = ["INTERVAL_S", "Simulator", "main"]

#: Seconds between two ticks at speed 1 (drawn uniformly from this range).
INTERVAL_S = (1.0, 3.0)
#: Ticks at which the simulator starts its own agents.
SPAWNS: dict[int, str] = {2: "crasher", 3: "silent", 5: "worker"}
_MODEL = "claude-sonnet-4-5"
#: The demo repository's main branch (the generator's), checked out in ROOT.
_MAIN = "main"

Op = tuple[str, str]
"""One action of an agent: ``(kind, step)``; kinds: take, start, done, checkpoint, ci-failed,
release, next, crash, silent."""

#: A ticket from claim to release, one action a tick (FORMATS.md's usual step order).
FLOW: tuple[Op, ...] = (
    ("take", ""),
    ("done", "branch"),
    ("start", "code"),
    ("done", "code"),
    ("start", "quality-gate"),
    ("done", "quality-gate"),
    ("done", "commit"),
    ("done", "push"),
    ("done", "pr-created"),
    ("start", "ci"),
    ("done", "ci"),
    ("checkpoint", "merged"),
    ("done", "merged"),
    ("done", "cd-verified"),
    ("done", "cleanup"),
    ("release", ""),
)
_CRASHER_PLAN = (
    *FLOW[: FLOW.index(("checkpoint", "merged")) + 1],
    ("start", "merged"),
    ("crash", ""),
)
_SILENT_PLAN = (*FLOW[:3], ("silent", ""))
#: The actions an agent logs, so spends model responses on (its transcript grows).
_SPENDING = frozenset({"take", "start", "done", "checkpoint", "ci-failed", "release"})


@dataclass(frozen=True)
class _Backlog:
    id: str
    title: str
    kind: str
    slug: str
    file: str
    component: str


BACKLOG: tuple[_Backlog, ...] = (
    _Backlog("CAB-1380", "Retry budget per upstream", "feat", "retry-budget",
             "src/tinygate/retry.py", "gateway"),
    _Backlog("CAB-1381", "Trim trailing slashes in route keys", "fix", "route-trailing-slash",
             "src/tinygate/routes.py", "routes"),
    _Backlog("CAB-1383", "Health check reports upstream latency", "feat", "health-latency",
             "src/tinygate/health.py", "gateway"),
    _Backlog("CAB-1384", "Document the admin API auth flow", "docs", "admin-auth-docs",
             "docs/admin-auth.md", "docs"),
    _Backlog("CAB-1386", "Log the matched route on 404", "fix", "log-404-route",
             "src/tinygate/gateway.py", "gateway"),
    _Backlog("CAB-1387", "Per-route timeouts", "feat", "route-timeouts",
             "src/tinygate/timeouts.py", "gateway"),
    _Backlog("CAB-1389", "Flaky test_health_latency on CI", "fix", "health-latency-flake",
             "tests/test_health.py", "tests"),
    _Backlog("CAB-1390", "Bump httpx to 0.28.1", "chore", "bump-httpx-0281",
             "requirements.txt", "deps"),
)  # fmt: skip


@dataclass(frozen=True)
class _Ticket:
    """What an agent works on: a MEGA phase or a standalone ticket."""

    claim_id: str
    phase: int | None
    task: str
    branch: str
    tickets: tuple[str, ...]
    title: str
    file: str
    component: str

    @property
    def lock_name(self) -> str:
        if self.phase is None:
            return f"{self.claim_id}.lock"
        return f"{self.claim_id}-phase-{self.phase}.lock"

    @property
    def key(self) -> str:
        return self.claim_id if self.phase is None else f"{self.claim_id}:{self.phase}"

    @property
    def phase_field(self) -> str:
        return "-" if self.phase is None else str(self.phase)


@dataclass
class _Agent:
    instance: str
    role: str
    """``working`` (left running by the generator), ``crasher``, ``silent`` or ``worker``."""
    pid: int
    started: datetime | None
    """The process's start time (``None`` when it could not be read)."""
    process: subprocess.Popen[bytes] | None
    """Our own stub, or ``None`` for a process someone else started."""
    worktree: Path | None
    plan: deque[Op]
    next_tick: int
    ticket: _Ticket | None = None
    pr: int | None = None
    sha: str | None = None
    checkpoint: Path | None = None
    claims: int = 0
    ci_runs: int = 0
    stopped: bool = False
    commit_message: str = ""
    transcript: LiveTranscript | None = None
    """The transcript of the agent's current session (None: none is written)."""
    last_acted: datetime | None = None
    """When the agent last did something (its responses since then are spread over that time)."""


@dataclass
class _Step:
    now: datetime
    ts: str
    said: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "work"


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value


class _Git:
    """The simulator's git: :class:`~factory_tui.adapters.git.GitRepo`, isolated from the user's
    and the system's config. Failures are not fatal (``None``, and ``last_error`` says why): the
    simulator's files do not depend on git, only its realism does."""

    def __init__(self, root: Path) -> None:
        self.enabled = shutil.which("git") is not None and (root / ".git").exists()
        self.repo = GitRepo(root, env=ISOLATED_ENV)
        self.last_error = ""

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        when: datetime | None = None,
        who: tuple[str, str] = ("factory-tui demo", "demo@tinygate.example"),
    ) -> str | None:
        """``git ARGS`` as ``who``, dated ``when`` (naive: local time) if given; its stdout."""
        if not self.enabled:
            return None
        identity = ("-c", f"user.name={who[0]}", "-c", f"user.email={who[1]}",
                    "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false")  # fmt: skip
        try:
            env = dated(when) if when is not None else None
            _, out, _ = self.repo.call(*identity, *args, cwd=cwd, env=env)
            return out.decode("utf-8", errors="replace")
        except GitError as error:
            self.last_error = str(error)[:200]
            return None

    def commit(self, message: str, *, cwd: Path, when: datetime, who: tuple[str, str]) -> bool:
        """Commit everything in ``cwd`` at ``when`` (naive: local time, like the log's)."""
        if not self.enabled:
            return False
        try:
            self.repo.commit(message, cwd=cwd, when=when, author=who)
        except GitError as error:
            self.last_error = str(error)[:200]
            return False
        return True


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
    ) -> None:
        """Raises ``ValueError`` when ROOT is not a demo factory (or ``speed`` is not positive).

        ``config`` (default: ``load_config(factory_root)``) says where the files are; ``sleep``
        is what the lock protocol's retries wait with.
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
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._intervals = random.Random(seed * 7919 + 1)
        self._git = _Git(self.root)
        self._agents: list[_Agent] = []
        self._tick = 0
        self._ready = False
        self._closed = False
        self._instances: set[str] = set()
        self._initially_free: set[str] = set()
        self._taken: set[str] = set()
        self._pr = 400
        self._base = "HEAD"
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
        now = _naive(self._clock())
        step = _Step(now, format_ts(now))
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

    def _setup(self, step: _Step) -> None:
        """Read the factory once: which agents are working, what is free, the last PR number."""
        self._ready = True
        reader = FactoryReader(self.config, hostname=self.hostname)
        reader.refresh_claims()
        reader.refresh_log()
        fold = reader.fold
        self._instances.update(fold.instance_last_event, fold.instance_sessions)
        prs = [int(s.pr) for s in fold.sessions if s.pr and s.pr.isdigit()]
        self._pr = max(prs, default=400)
        head = self._git.run("rev-parse", "HEAD")
        if head:
            self._base = head.strip()
        claims = sorted(reader.claim_files(), key=lambda c: c.file)
        for claim in claims:
            for unit in claim.units:
                if unit.owner:
                    self._instances.add(unit.owner)
                if _available(claim, unit):
                    self._initially_free.add(unit.key)
        seen: set[str] = set()
        for claim in claims:
            for unit in claim.units:
                owner = unit.owner
                if not owner or owner in seen or unit.completed_at or unit.pid is None:
                    continue
                if not same_host(unit.hostname, self.hostname):
                    continue
                started = _live_start(unit.pid, unit.claimed_at)
                if started is None:
                    continue
                last_raw = fold.instance_last_event.get(owner)
                last = parse_ts(last_raw) if last_raw else None
                if last is None or step.now - last > self.config.idle_after:
                    continue  # an idle agent stays idle
                session = next(
                    (s for s in reversed(fold.instance_sessions.get(owner, [])) if s.is_open),
                    None,
                )
                if session is None:
                    continue
                seen.add(owner)
                ticket = _ticket_of(claim, unit, session.task, session.branch)
                plan = _resume_plan(session.last_step, session.last_step_state)
                worktree = self.root / ".worktrees" / owner
                agent = _Agent(
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
                session_start = parse_ts(session.started_at)
                if session_start is not None:
                    agent.transcript = self._transcript(agent, ticket, session_start)
                self._add_ci_failure(agent)
                self._agents.append(agent)
                self._taken.add(ticket.key)
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

    def _spawn(self, role: str, step: _Step) -> None:
        instance = self._new_instance(step.now)
        tree = self.root / ".worktrees" / instance
        worktree: Path | None = None
        if self._git.run("worktree", "add", "-q", "--detach", str(tree), self._base) is not None:
            worktree = tree
            self._link_claims(tree)
        process = start_stub(self.python, self.root, worktree or self.root)
        try:
            started: datetime | None = datetime.fromtimestamp(
                psutil.Process(process.pid).create_time()
            )
        except psutil.Error:
            started = None
        if role == "crasher":
            plan: list[Op] = list(_CRASHER_PLAN)
        elif role == "silent":
            plan = list(_SILENT_PLAN)
        else:
            plan = [*FLOW, ("next", "")]
        agent = _Agent(
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

    def _add_ci_failure(self, agent: _Agent) -> None:
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

    def _delay(self, agent: _Agent, op: Op) -> int:
        if op == ("start", "ci") or op[0] == "ci-failed":
            return self._rng.randint(3, 5)
        if op[0] in ("release", "take") and agent.role != "crasher":
            return self._rng.randint(2, 4)
        if agent.role == "crasher":
            return self._rng.randint(1, 2)
        return self._rng.randint(1, 3)

    def _alive(self, agent: _Agent) -> bool:
        if agent.process is not None:
            return agent.process.poll() is None
        try:
            proc = psutil.Process(agent.pid)
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _act(self, agent: _Agent, step: _Step) -> None:
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
            if kind in _SPENDING:
                self._converse(agent, step, kind, name)
            agent.last_acted = step.now
        else:
            agent.next_tick = self._tick + 1

    def _transcript(self, agent: _Agent, ticket: _Ticket, start: datetime) -> LiveTranscript | None:
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

    def _converse(self, agent: _Agent, step: _Step, kind: str, name: str) -> None:
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

    def _task(self, agent: _Agent) -> str:
        return agent.ticket.task if agent.ticket is not None else "-"

    def _log(self, at: _Step, name: str, /, **fields: object) -> None:
        """One operations.log line, in one O_APPEND write."""
        append_line(self.config.log_file, _line(at, name, fields))

    def _metric(self, at: _Step, name: str, /, **fields: object) -> None:
        """metrics.log is written in UTC without a marker, as the hooks' ``date -u`` does."""
        utc = _Step(utc_naive(at.now), format_ts(utc_naive(at.now)))
        append_line(self.config.metrics_file, _line(utc, name, fields))

    def _still_owner(self, agent: _Agent, step: _Step) -> bool:
        """Does the claim file still name this agent? If someone released or took it (the
        engineer, say), the agent logs the loss, ends its session and looks for other work."""
        ticket = agent.ticket
        if ticket is None:
            return True
        unit = self._read_unit(ticket)
        if unit is not None and unit.owner == agent.instance:
            return True
        holder = unit.owner if unit is not None else None
        detail = f"{ticket.key} now owned by {holder}" if holder else f"{ticket.key} was released"
        self._log(step, "ERROR", task=ticket.task, error="claim-lost", detail=detail)
        self._log(step, "SESSION-END", task=ticket.task, status="paused")
        step.said.append(f"{agent.instance} lost {ticket.key} ({detail}); it ends its session")
        self._taken.discard(ticket.key)
        agent.ticket = None
        agent.transcript = None
        agent.pr = None
        agent.plan = deque([("next", "")]) if agent.role != "crasher" else deque()
        if not agent.plan:
            agent.stopped = True
        agent.next_tick = self._tick + 2
        return False

    # -- claims, under the lock protocol --------------------------------------------------------

    def _read(self, path: Path) -> ClaimFile | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        claim, _problems = parse_claim(str(path), data)
        return claim

    def _read_unit(self, ticket: _Ticket) -> ClaimUnit | None:
        claim = self._read(self.claims_dir / f"{ticket.claim_id}.json")
        if claim is None:
            return None
        return next((u for u in claim.units if u.phase == ticket.phase), None)

    def _candidates(self, agent: _Agent) -> list[tuple[ClaimFile, ClaimUnit]]:
        """Free units worth taking: for the crasher any, for the others only those freed since
        the simulator started (the demo keeps its initially free claims visible as free)."""
        found: list[tuple[ClaimFile, ClaimUnit]] = []
        for path in sorted(self.claims_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            claim = self._read(path)
            if claim is None:
                continue
            for unit in claim.units:
                if not _available(claim, unit) or unit.key in self._taken:
                    continue
                if agent.role == "crasher" or unit.key not in self._initially_free:
                    found.append((claim, unit))
        return found

    def _claimed_at(self, agent: _Agent, step: _Step) -> str:
        """Not before the agent's process started (minute precision, as the protocol writes)."""
        when = step.now
        if agent.started is not None and (agent.claims == 0 or agent.started > when):
            when = agent.started
        return format_ts(when)

    def _take(self, agent: _Agent, step: _Step) -> bool:
        owner = {
            "owner": agent.instance,
            "pid": agent.pid,
            "claimed_at": self._claimed_at(agent, step),
            "hostname": self.hostname,
        }
        ticket: _Ticket | None = None
        for claim, unit in self._candidates(agent):
            candidate = _ticket_of(claim, unit, None, None)
            result = self._claim_existing(candidate, {**owner, "branch": candidate.branch})
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
        started = parse_ts(step.ts)
        agent.transcript = self._transcript(agent, ticket, started or step.now)
        agent.claims += 1
        agent.pr = None
        agent.sha = None
        agent.ci_runs = 0
        self._taken.add(ticket.key)
        self._initially_free.discard(ticket.key)  # freed again later, it is fair game
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

    def _locked_write(
        self, ticket: _Ticket, change: Callable[[ClaimFile | None], dict[str, Any] | str]
    ) -> str:
        """The protocol: mkdir the lock, re-read, write atomically, remove the lock. ``change``
        gets the claim as read under the lock and returns the new JSON object, or a reason not
        to write. Returns ``"ok"``, ``"busy"`` or that reason."""
        path = self.claims_dir / f"{ticket.claim_id}.json"
        try:
            with claim_lock(self.claims_dir, ticket.lock_name, sleep=self._sleep):
                decided = change(self._read(path))
                if isinstance(decided, str):
                    return decided
                atomic_write(path, dump_claim(decided))
        except LockBusy:
            return "busy"
        return "ok"

    def _claim_existing(self, ticket: _Ticket, owner: dict[str, Any]) -> str:
        """Take a free unit; returns ``"ok"``, ``"busy"`` or the instance that holds it."""

        def change(claim: ClaimFile | None) -> dict[str, Any] | str:
            unit = _unit(claim, ticket.phase)
            if claim is None or unit is None:
                return "nobody (the claim file is gone)"
            if not _available(claim, unit):
                return unit.owner or "nobody (no longer free)"
            return update_unit(claim.raw, ticket.phase, owner)

        result = self._locked_write(ticket, change)
        if result != "ok":
            return result
        return "ok" if self._verify(ticket, owner["owner"], owner["pid"]) else "someone else"

    def _verify(self, ticket: _Ticket, instance: str, pid: int) -> bool:
        """Step 3 of the protocol, after the lock is gone: re-read, check our owner and pid."""
        unit = self._read_unit(ticket)
        return unit is not None and unit.owner == instance and unit.pid == pid

    def _claim_new(self, agent: _Agent, owner: dict[str, Any], step: _Step) -> _Ticket | None:
        """Create a standalone claim for the next backlog ticket no claim file names yet."""
        existing = {p.stem for p in self.claims_dir.glob("*.json")} | {
            key.split(":", 1)[0] for key in self._taken
        }
        pick = next((b for b in BACKLOG if b.id not in existing), None)
        if pick is None:
            n = 1
            while f"CAB-{1500 + n}" in existing:
                n += 1
            pick = _Backlog(f"CAB-{1500 + n}", f"Backlog item {n}", "chore", f"backlog-{n}",
                            f"docs/backlog/item_{n}.md", "docs")  # fmt: skip
        branch = f"{pick.kind}/{pick.id}-{pick.slug}"
        ticket = _Ticket(pick.id, None, f"{pick.id}-{pick.slug}", branch, (pick.id,), pick.title,
                         pick.file, pick.component)  # fmt: skip
        data: dict[str, Any] = {
            "ticket": pick.id,
            "title": pick.title,
            **owner,
            "branch": branch,
            "completed_at": None,
        }

        def change(claim: ClaimFile | None) -> dict[str, Any] | str:
            return "exists" if claim is not None else data

        result = self._locked_write(ticket, change)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return None
        if result != "ok" or not self._verify(ticket, agent.instance, agent.pid):
            step.said.append(f"{agent.instance}: {pick.id} appeared meanwhile; retries")
            self._taken.add(ticket.key)  # skip it next time
            return None
        return ticket

    def _release(self, agent: _Agent, step: _Step) -> bool:
        ticket = agent.ticket
        assert ticket is not None
        done = {**release_fields(), "completed_at": step.ts}

        def change(claim: ClaimFile | None) -> dict[str, Any] | str:
            unit = _unit(claim, ticket.phase)
            if claim is None or unit is None or unit.owner != agent.instance:
                return "lost"
            return update_unit(claim.raw, ticket.phase, done)

        result = self._locked_write(ticket, change)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return False
        unit = self._read_unit(ticket)
        if result != "ok" or unit is None or unit.completed_at != step.ts or unit.owner:
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
        self._taken.discard(ticket.key)
        agent.ticket = None
        return True

    # -- steps, checkpoints, crashes ------------------------------------------------------------

    def _step_line(self, agent: _Agent, step: _Step, kind: str, name: str) -> None:
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
            merged = self._squash_merge(agent, step)
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

    def _ci_failed(self, agent: _Agent, step: _Step) -> None:
        ticket = agent.ticket
        assert ticket is not None
        self._log(step, "ERROR", task=ticket.task, error="ci-failed", step="ci",
                  detail="test_route_reload timed out")  # fmt: skip
        self._metric(step, "CI-FIX", task=ticket.task, pr=agent.pr, attempt=1, result="failed")
        step.said.append(f"{agent.instance}: CI failed on PR #{agent.pr}; re-runs it")

    def _checkpoint(self, agent: _Agent, step: _Step) -> None:
        """Written before the risky step (the merge), as the protocol asks."""
        ticket = agent.ticket
        assert ticket is not None
        done_at = FLOW.index(("checkpoint", "merged"))
        completed = [name for kind, name in FLOW[1:done_at] if kind == "done"]
        data: dict[str, Any] = {
            "task": ticket.task,
            "timestamp": format_ts(step.now, seconds=True),
            "branch": ticket.branch,
            "git_sha": agent.sha,
            "pr_number": agent.pr,
            "steps_completed": completed,
            "steps_remaining": ["merged", "cd-verified", "cleanup"],
            "context": {
                "component": ticket.component,
                "files_modified": [ticket.file],
                "notes": "CI green, ready to merge",
            },
            "progress": {
                "files_completed": [ticket.file],
                "files_remaining": [],
                "last_commit_message": agent.commit_message,
                "decisions_made": [],
                "blockers": [],
            },
        }
        if ticket.phase is not None:
            data["claimed_phase"] = {
                "mega_id": ticket.claim_id,
                "phase_id": ticket.phase,
                "claim_file": f".claude/claims/{ticket.claim_id}.json",
            }
        folder = self.config.checkpoints_dir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{step.ts.replace(':', '-')}-{ticket.task}.json"
        body = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(folder / name, body)
        agent.checkpoint = folder / name
        self._log(step, "CHECKPOINT", task=ticket.task, file=name)
        step.said.append(f"{agent.instance} writes checkpoint {name} before the merge")

    def _crash(self, agent: _Agent, step: _Step) -> None:
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

    def _spend(self, agent: _Agent, step: _Step) -> None:
        tokens_in = self._rng.randint(40, 400) * 1000
        tokens_out = self._rng.randint(40, 400) * 100
        cache_read = self._rng.randint(40, 400) * 5000
        cost = tokens_in * 3e-6 + tokens_out * 15e-6 + cache_read * 0.3e-6
        self._metric(step, "TOKEN-SPEND", instance=agent.instance, task=self._task(agent),
                     model=_MODEL, input_tokens=tokens_in, output_tokens=tokens_out,
                     cache_read_tokens=cache_read, cost_usd=f"{cost:.2f}")  # fmt: skip

    # -- git --------------------------------------------------------------------------------------

    def _switch_branch(self, agent: _Agent, ticket: _Ticket) -> None:
        tree = agent.worktree
        if tree is None:
            return
        git = self._git
        if git.run("switch", "-q", "-c", ticket.branch, self._base, cwd=tree) is None:
            git.run("switch", "-q", ticket.branch, cwd=tree)

    def _commit(self, agent: _Agent, step: _Step) -> str:
        """A real commit in the agent's worktree when there is one; else a made-up sha."""
        ticket = agent.ticket
        assert ticket is not None
        agent.commit_message = _subject(ticket)
        fallback = f"{self._rng.getrandbits(28):07x}"
        tree = agent.worktree
        if tree is None:
            return fallback
        git = self._git
        on = git.run("symbolic-ref", "--short", "-q", "HEAD", cwd=tree)
        if on is None or on.strip() != ticket.branch:
            # The ticket's branch is checked out in another worktree (a crashed agent's): the
            # switch failed, and this work must not land on the branch the worktree is on.
            return fallback
        target = tree / ticket.file
        with contextlib.suppress(OSError):
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8", newline="\n") as handle:
                handle.write(_edit_text(target, ticket, agent.claims))
        who = (f"Claude ({agent.instance})", f"{agent.instance}@agents.tinygate.example")
        kind = ticket.branch.split("/", 1)[0]
        message = f"{kind}: {agent.commit_message}"
        if not git.commit(message, cwd=tree, when=step.now, who=who):
            return fallback
        head = git.run("rev-parse", "--short=7", "HEAD", cwd=tree)
        return head.strip() if head else fallback

    def _squash_merge(self, agent: _Agent, step: _Step) -> str | None:
        """Merge the agent's PR as its ``gh pr merge --squash`` would: one commit on main with
        the branch's changes, subject ``<kind>: <subject> (#N)`` and the ``Factory-Branch`` /
        ``Factory-Head`` trailers factory-tui's own squash merges write, then main's worktree
        (ROOT) fast-forwarded. The local PR queue then shows the PR merged, once. Returns the
        commit's short id; ``None`` (nothing merged, the log goes on) without git, when the
        branch brings nothing, on a conflict, or when ROOT cannot fast-forward."""
        ticket = agent.ticket
        assert ticket is not None
        git = self._git
        if agent.worktree is None or agent.pr is None:
            return None
        tip = git.run("rev-parse", "-q", "--verify", f"refs/heads/{ticket.branch}^{{commit}}")
        main = git.run("rev-parse", "-q", "--verify", f"refs/heads/{_MAIN}^{{commit}}")
        if not tip or not main:
            return None
        tip, main = tip.strip(), main.strip()
        merged = git.run("merge-tree", "--write-tree", main, tip)  # fails on a conflict
        main_tree = git.run("rev-parse", f"{main}^{{tree}}")
        if merged is None or main_tree is None:
            return None
        tree = merged.split("\n", 1)[0].strip()
        if tree == main_tree.strip():
            return None  # every change of the branch is on main already
        kind = ticket.branch.split("/", 1)[0]
        message = (
            f"{kind}: {agent.commit_message or _subject(ticket)} (#{agent.pr})\n\n"
            f"Factory-Branch: {ticket.branch}\nFactory-Head: {tip}\nFactory-Task: {ticket.task}\n"
        )
        who = (f"Claude ({agent.instance})", f"{agent.instance}@agents.tinygate.example")
        commit = git.run("commit-tree", tree, "-p", main, "-m", message, when=step.now, who=who)
        if commit is None:
            return None
        commit = commit.strip()
        if git.run("merge", "--ff-only", "-q", commit, cwd=self.root) is None:
            return None
        self._base = commit  # the next branches start from the merged main
        return commit[:7]


# -- pure helpers --------------------------------------------------------------------------------


def _subject(ticket: _Ticket) -> str:
    """``traceparent propagation (CAB-1352)``: a commit's subject for the ticket."""
    return f"{ticket.task.split('-', 2)[-1].replace('-', ' ')} ({ticket.key})"


def _line(at: _Step, name: str, fields: dict[str, object]) -> str:
    return format_event(at.ts, name, [(k, str(v)) for k, v in fields.items()])


def _unit(claim: ClaimFile | None, phase: int | None) -> ClaimUnit | None:
    if claim is None:
        return None
    return next((u for u in claim.units if u.phase == phase), None)


def _available(claim: ClaimFile, unit: ClaimUnit) -> bool:
    """FORMATS.md: no owner, not completed, every dep completed."""
    if unit.owner or unit.completed_at:
        return False
    done = {u.phase for u in claim.units if u.completed_at}
    return all(dep in done for dep in unit.deps)


def _live_start(pid: int, claimed_at: str | None) -> datetime | None:
    """The process's start if ``pid`` runs and is the claimer (not a reused pid), else None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        started = datetime.fromtimestamp(proc.create_time())
    except psutil.Error:
        return None
    claimed = parse_ts(claimed_at) if claimed_at else None
    if claimed is not None and started > claimed + PID_START_GRACE:
        return None
    return started


def _ticket_of(claim: ClaimFile, unit: ClaimUnit, task: str | None, branch: str | None) -> _Ticket:
    first = unit.tickets[0] if unit.tickets else unit.claim_id
    name = unit.name or claim.title or first
    kind = "feat"
    branch = branch or unit.branch or f"{kind}/{first}-{_slug(name)}"
    if task is None:
        task = branch.split("/", 1)[1] if "/" in branch else f"{first}-{_slug(name)}"
    component = claim.raw.get("component")
    return _Ticket(
        claim_id=unit.claim_id,
        phase=unit.phase,
        task=task,
        branch=branch,
        tickets=unit.tickets or (unit.claim_id,),
        title=name,
        file=f"src/tinygate/{_slug(task.split('-', 2)[-1]).replace('-', '_')}.py",
        component=component if isinstance(component, str) else "gateway",
    )


def _resume_plan(last_step: str | None, state: str | None) -> list[Op]:
    """What is left of :data:`FLOW` after the step a session is at (then the next ticket)."""
    ops = list(FLOW)
    at = 0
    if last_step:
        kind = "start" if state == "start" else "done"
        if (kind, last_step) in ops:
            at = ops.index((kind, last_step)) + 1
        elif kind == "start" and ("done", last_step) in ops:
            at = ops.index(("done", last_step))
        else:
            index = step_index(last_step)
            if index is not None:
                at = next(
                    (
                        i
                        for i, (k, name) in enumerate(ops)
                        if k in ("start", "done") and (step_index(name) or 0) > index
                    ),
                    len(ops) - 1,
                )
    at = max(at, 1)  # never "take": the agent holds its claim already
    return [*ops[at:], ("next", "")]


def _edit_text(target: Path, ticket: _Ticket, revision: int) -> str:
    """What an agent adds to its ticket's file at a commit (the file's language, roughly)."""
    n = revision
    fresh = not target.exists() or target.stat().st_size == 0
    if target.suffix == ".py":
        head = f'"""{ticket.title} ({ticket.key})."""\n' if fresh else ""
        ident = _slug(ticket.task).replace("-", "_")
        return f"{head}\n\ndef {ident}_{n}() -> str:\n    return {ticket.key!r}\n"
    if target.suffix == ".md":
        return (f"# {ticket.title}\n\n" if fresh else "") + f"- {ticket.key}: revision {n}\n"
    return f"# {ticket.key} revision {n}\n"


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
