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
to that agent's Claude Code transcript (:class:`~factory_tui.demo.live_transcript.LiveTranscript`,
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
import random
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from types import FrameType

import psutil

from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.procs import local_hostname
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.cost_records import naive_local
from factory_tui.core.timeparse import format_ts
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
)
from factory_tui.demo.simulate_actions import AgentActions
from factory_tui.demo.simulate_claims import ClaimDesk
from factory_tui.demo.simulate_start import read_start
from factory_tui.demo.stubs import start_stub, stop_stubs

__all__ = ["INTERVAL_S", "Simulator", "main"]

#: Seconds between two ticks at speed 1 (drawn uniformly from this range).
INTERVAL_S = (1.0, 3.0)
#: Ticks at which the simulator starts its own agents.
SPAWNS: dict[int, str] = {2: "crasher", 3: "silent", 5: "worker"}


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
        claude = config.claude_config_dir.resolve()
        self._actions = AgentActions(
            config,
            tz=self.tz,
            hostname=self.hostname,
            python=python,
            seed=seed,
            rng=self._rng,
            git=self._git,
            claims=self._claims,
            instances=self._instances,
            claude_dir=claude if claude.is_relative_to(self.root.resolve()) else None,
        )
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
        """Read the factory once (:func:`read_start`) and take over the agents left working."""
        self._ready = True
        start = read_start(
            self.config, hostname=self.hostname, tz=self.tz, now=step.now, tick=self._tick
        )
        self._instances.update(start.instances)
        self._actions.pr = start.last_pr
        self._git.start()
        self._claims.initially_free.update(start.free)
        for resumed in start.working:
            agent, ticket = resumed.agent, resumed.ticket
            if resumed.session_start is not None:
                agent.transcript = self._actions.transcript(agent, ticket, resumed.session_start)
            self._add_ci_failure(agent)
            self._agents.append(agent)
            self._claims.taken.add(ticket.key)
            step.said.append(resumed.said)

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
        owns_one = kind not in ("take", "next", "crash", "silent")
        if owns_one and not self._actions.still_owner(agent, step):
            agent.next_tick = self._tick + 2
            return
        done = True
        if kind == "take":
            done = self._actions.take(agent, step)
        elif kind in ("start", "done"):
            self._actions.step_line(agent, step, kind, name)
        elif kind == "checkpoint":
            self._actions.checkpoint(agent, step)
        elif kind == "ci-failed":
            self._actions.ci_failed(agent, step)
        elif kind == "release":
            done = self._actions.release(agent, step)
        elif kind == "next":
            agent.plan.extend([*FLOW, ("next", "")])
            self._add_ci_failure(agent)
            step.said.append(f"{agent.instance} looks for its next ticket")
        elif kind == "ask":
            self._actions.ask(agent, step)
        elif kind == "crash":
            self._actions.crash(agent, step)
        elif kind == "silent":
            agent.stopped = True
            step.said.append(
                f"{agent.instance} goes silent on {self._actions.task(agent)}: pid {agent.pid} "
                "alive, no more log events"
            )
        if done:
            agent.plan.popleft()
            agent.next_tick = self._tick + self._delay(agent, op)
            if kind in SPENDING:
                self._actions.converse(agent, step, kind, name)
            agent.last_acted = step.now
        else:
            agent.next_tick = self._tick + 1


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
