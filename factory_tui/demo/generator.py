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

import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from factory_tui.adapters.git import ISOLATED_ENV, GitError, GitMissing, GitRepo
from factory_tui.core.claims import dump_claim
from factory_tui.core.oplog import format_event
from factory_tui.core.timeparse import format_ts, utc_naive

__all__ = ["MEGA_ID", "DemoFactory", "generate_demo", "stop_demo_processes"]

MEGA_ID = "CAB-1290"
MEGA_TITLE = "Gateway live-code MEGA"
#: Roles whose agents get a live stub process.
LIVE_ROLES = frozenset({"working", "idle"})
#: How far ``now`` may be from the stubs' real start time when processes are started.
MAX_CLOCK_SKEW = timedelta(minutes=10)
#: operations.log rotates past 500 lines (FORMATS.md); the demo keeps the live file under that.
LOG_KEEP_LINES = 480
_EPOCH = datetime(1970, 1, 1)
_MODEL = "claude-sonnet-4-5"
_GIT_USER = ("Dana Engineer", "dana@tinygate.example")


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


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


# -- tickets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ticket:
    id: str
    title: str
    kind: str
    slug: str
    path: str = ""
    mega: str | None = None
    phase: int | None = None
    tickets: tuple[str, ...] = ()
    component: str = "gateway"

    @property
    def branch(self) -> str:
        return f"{self.kind}/{self.id}-{self.slug}"

    @property
    def task(self) -> str:
        return f"{self.id}-{self.slug}"

    @property
    def claim_task(self) -> str:
        return self.mega or self.id

    @property
    def phase_field(self) -> str:
        """The log's ``phase=`` value; a standalone ticket has none and writes ``-``."""
        return str(self.phase) if self.phase is not None else "-"

    @property
    def ticket_list(self) -> tuple[str, ...]:
        return self.tickets or (self.id,)

    @property
    def file(self) -> str:
        return self.path or f"src/tinygate/{self.slug.replace('-', '_')}.py"


def _phase(phase: int, first: str, title: str, slug: str, path: str, *more: str) -> _Ticket:
    return _Ticket(first, title, "feat", slug, path, MEGA_ID, phase, (first, *more))


PHASE_1 = _phase(
    1, "CAB-1350", "API + gateway routes", "gateway-api", "src/tinygate/api.py", "CAB-1351"
)
PHASE_2 = _phase(2, "CAB-1352", "Traceparent propagation", "traceparent", "src/tinygate/tracing.py")
PHASE_3 = _phase(3, "CAB-1353", "Span exporter", "span-exporter", "src/tinygate/span_exporter.py")
PHASE_4 = _phase(4, "CAB-1355", "E2E tests", "e2e-tests", "tests/e2e/test_live_code.py", "CAB-1356")
PHASE_5 = _phase(5, "CAB-1357", "Docs + runbook", "live-code-docs", "docs/live-code.md")

IDLE_TICKET = _Ticket("CAB-1321", "Portal ToS link fix", "fix", "tos-link", "portal/footer.html")
STALE_TICKET = _Ticket(
    "CAB-1302", "Flaky webhook retry test", "fix", "webhook-retry-flake", "tests/test_webhooks.py"
)
REMOTE_TICKET = _Ticket(
    "CAB-1340",
    "Helm chart: gateway resource limits",
    "chore",
    "helm-limits",
    "deploy/helm/values.yaml",
)
ABANDONED_TICKET = _Ticket(
    "CAB-1297", "Migrate config loader to pydantic v2", "refactor", "pydantic-v2-config"
)
HISTORY_TICKETS = (
    _Ticket("CAB-1280", "Health endpoint returns the build sha", "feat", "health-build-sha"),
    _Ticket("CAB-1284", "Request-id middleware", "feat", "request-id"),
    _Ticket("CAB-1288", "Rate-limit headers on 429", "feat", "ratelimit-headers"),
    _Ticket("CAB-1292", "Cache the route table between reloads", "perf", "route-cache"),
    _Ticket("CAB-1295", "Distroless base image", "chore", "distroless-image", "deploy/Dockerfile"),
)
#: The done standalone claim kept in the claims folder (the others were cleaned up).
KEPT_DONE = "CAB-1288"
EXTRA_TICKETS = (
    _Ticket("CAB-1361", "Cache JWKS keys with a TTL", "feat", "jwks-cache"),
    _Ticket("CAB-1362", "Reject oversized request headers", "fix", "oversized-headers"),
    _Ticket("CAB-1364", "Structured access logs", "feat", "access-logs"),
    _Ticket("CAB-1366", "Flaky test_route_reload on CI", "fix", "route-reload-flake"),
    _Ticket("CAB-1367", "OpenAPI spec for the admin API", "docs", "admin-openapi"),
    _Ticket("CAB-1369", "Bump httpx to 0.28", "chore", "bump-httpx"),
    _Ticket("CAB-1371", "Graceful shutdown drains connections", "feat", "graceful-drain"),
    _Ticket("CAB-1372", "Circuit breaker per upstream", "feat", "circuit-breaker"),
    _Ticket("CAB-1374", "gzip responses over 1 KiB", "feat", "gzip-responses"),
    _Ticket("CAB-1375", "CORS preflight for PATCH", "fix", "cors-patch"),
)


# -- the plan: every random draw, made up front so the rest is a pure function ------------------


@dataclass(frozen=True)
class _Flow:
    """A ticket taken from claim to merge; each step's time follows from a few durations."""

    start: datetime
    code: int
    ci: int
    pr: int
    crash: tuple[int, int] | None = None
    """(minutes into coding when it crashed, minutes until it was resumed)."""

    def times(self) -> dict[str, datetime]:
        t: dict[str, datetime] = {"start": self.start, "branch": self.start + _m(1)}
        t["code_start"] = self.start + _m(2)
        resume = t["code_start"]
        if self.crash is not None:
            t["error"] = t["code_start"] + _m(self.crash[0])
            t["recover"] = resume = t["error"] + _m(self.crash[1])
        t["code_done"] = resume + _m(self.code)
        t["quality"] = t["code_done"] + _m(2)
        t["commit"] = t["quality"] + _m(1)
        t["push"] = t["commit"] + _m(1)
        t["pr"] = t["push"] + _m(2)
        t["ci_start"] = t["pr"] + _m(1)
        t["ci_done"] = t["ci_start"] + _m(self.ci)
        t["checkpoint"] = t["ci_done"] + _m(1)
        t["merged"] = t["checkpoint"] + _m(1)
        t["cd"] = t["merged"] + _m(8)
        t["cleanup"] = t["cd"] + _m(2)
        t["end"] = t["cleanup"] + _m(1)
        return t


@dataclass
class _Agent:
    role: str
    instance: str
    host: str
    pid: int
    ticket: _Ticket
    marks: dict[str, datetime]
    """Named times of its timeline (``start`` of the session holding the current claim, ...)."""
    flow: _Flow | None = None
    """For agents that finished their ticket today (``ended`` and extra ``ended``)."""
    jitter: tuple[int, ...] = ()
    pr: int = 0
    """The PR of its current ticket, once it opened one (stale and remote agents)."""
    live_start: datetime | None = None
    head: str = ""

    @property
    def worktree(self) -> str:
        return f".worktrees/{self.instance}"


@dataclass
class _Plan:
    now: datetime
    hostname: str
    remote_host: str
    agents: list[_Agent]
    history: list[tuple[str, _Ticket, _Flow]]
    """(role of the agent that did it, ticket, flow), days before today, oldest first."""
    abandoned: _Flow
    mega_created: datetime
    token_draws: list[int] = field(default_factory=list)

    def by_role(self, role: str) -> _Agent | None:
        return next((agent for agent in self.agents if agent.role == role), None)

    def agent(self, role: str) -> _Agent:
        found = self.by_role(role)
        assert found is not None, role
        return found


def _roles(agents: int) -> list[str]:
    roles = ["working", "idle", "crashed", "stale", "ended", "remote"][:agents]
    roles += ["working" if i % 2 == 0 else "ended" for i in range(agents - len(roles))]
    return roles


def _instance_id(rng: random.Random, birth: datetime, seen: set[str]) -> str:
    """``t<N>-<R>``: N = the start's epoch seconds mod 100000, R = 4 hex chars; never a repeat."""
    seconds = int((birth - _EPOCH).total_seconds())
    while True:
        instance = f"t{seconds % 100000}-{rng.getrandbits(16):04x}"
        if instance not in seen:
            seen.add(instance)
            return instance


def _dead_pid(rng: random.Random, taken: set[int]) -> int:
    """A pid nothing is running under (one draw per call, so the sequence stays fixed)."""
    pid = rng.randrange(3000, 32000)
    while pid in taken or psutil.pid_exists(pid):
        pid = 3000 + (pid - 3000 + 1) % 29000
    taken.add(pid)
    return pid


def _plan(rng: random.Random, now: datetime, agents: int, hostname: str) -> _Plan:
    T = now
    roles = _roles(agents)
    taken: set[int] = set()
    seen: set[str] = set()
    extras = list(EXTRA_TICKETS)
    rng.shuffle(extras)
    extras += [
        _Ticket(f"CAB-{1400 + i}", f"Backlog item {i}", "chore", f"backlog-{i}")
        for i in range(max(0, agents - 6 - len(extras)))
    ]
    pr = 340 + rng.randint(0, 25)

    def next_pr() -> int:
        nonlocal pr
        pr += rng.randint(1, 3)
        return pr

    short = hostname.split(".", 1)[0].lower()
    remote_host = "build-box-07.lan" if short == "ci-runner-02" else "ci-runner-02.lan"

    # Days before today: .1 history (which agent did which ticket depends on who exists).
    def who(*prefer: str) -> str:
        return next(role for role in prefer if role in roles)

    history: list[tuple[str, _Ticket, _Flow]] = []
    starts = (70 * 60, 52 * 60, 31 * 60, 29 * 60, 27 * 60 + 30)
    doers = (
        who("ended", "working"),
        who("crashed"),
        who("ended", "working"),
        who("idle"),
        who("remote", "crashed"),
    )
    for ticket, start, role in zip(HISTORY_TICKETS, starts, doers, strict=True):
        past = _Flow(T - _m(start + rng.randint(0, 20)), rng.randint(25, 70), rng.randint(8, 20), 0)
        history.append((role, ticket, past))
    history.sort(key=lambda item: item[2].start)
    history = [(role, t, _Flow(f.start, f.code, f.ci, next_pr())) for role, t, f in history]
    abandoned = _Flow(T - _m(49 * 60 + rng.randint(0, 30)), rng.randint(40, 60), 0, 0)

    built: list[_Agent] = []
    extra_index = 0
    for index, role in enumerate(roles):
        birth = T - _m(72 * 60 + 60 + index * 17 + rng.randint(0, 36000) / 60)
        instance = _instance_id(rng, birth, seen)
        pid = _dead_pid(rng, taken) if role != "remote" else rng.randrange(2000, 60000)
        host = remote_host if role == "remote" else hostname
        jitter = tuple(rng.randint(0, 9) for _ in range(6))
        marks: dict[str, datetime] = {}
        flow: _Flow | None = None
        if role == "working":
            ticket = PHASE_2 if index == 0 else extras[extra_index]
            extra_index += index != 0
            marks["paused_start"] = T - _m(95 + jitter[0] * 2)
            marks["paused_end"] = T - _m(30 + jitter[1])
            marks["resume"] = T - _m(18 + jitter[2])
        elif role == "idle":
            ticket = IDLE_TICKET
            marks["start"] = T - _m(72 + jitter[0] * 2)
            marks["last"] = T - _m(30 + jitter[1] * 1.5)
        elif role == "crashed":
            ticket = PHASE_3
            marks["start"] = T - _m(92 + jitter[0])
            marks["code_done"] = marks["start"] + _m(28 + jitter[1])
            marks["checkpoint"] = marks["code_done"] + _m(5)
        elif role == "stale":
            ticket = STALE_TICKET
            marks["start"] = T - _m(300 + jitter[0] * 3)
            marks["code_done"] = marks["start"] + _m(22 + jitter[1])
        elif role == "remote":
            ticket = REMOTE_TICKET
            marks["start"] = T - _m(185 + jitter[0])
            marks["paused_end"] = T - _m(130 + jitter[1])
            marks["resume"] = T - _m(40 + jitter[2])
        else:  # ended
            ticket = PHASE_1 if index == 4 else extras[extra_index]
            extra_index += index != 4
            if index == 4:
                flow = _Flow(
                    T - _m(425 + jitter[0]), 30 + jitter[1] * 2, 12 + jitter[2], 0, (38, 24)
                )
            else:
                flow = _Flow(
                    T - _m(240 + index * 9 + jitter[0] * 4), 25 + jitter[1] * 3, 8 + jitter[2], 0
                )
        built.append(_Agent(role, instance, host, pid, ticket, marks, flow, jitter))

    # Phase 1 was finished this morning, by the ended agent or (four agents) the working one.
    if "ended" not in roles:
        working = built[0]
        working.flow = _Flow(T - _m(425 + working.jitter[3]), 40, 14, 0, (38, 24))
    flows_today = sorted(
        (agent for agent in built if agent.flow is not None),
        key=lambda a: a.flow.start if a.flow else T,
    )
    for agent in flows_today:
        assert agent.flow is not None
        f = agent.flow
        agent.flow = _Flow(f.start, f.code, f.ci, next_pr(), f.crash)
    for agent in built:
        if agent.role in ("stale", "remote"):
            agent.pr = next_pr()
    plan = _Plan(
        now=T,
        hostname=hostname,
        remote_host=remote_host,
        agents=built,
        history=history,
        abandoned=abandoned,
        mega_created=T - _m(27 * 60 + rng.randint(0, 50)),
    )
    plan.token_draws = [rng.randint(40, 400) for _ in range(64)]
    return plan


# -- the fake project ----------------------------------------------------------------------------

_README = """\
# tinygate

A tiny API gateway: routes, live-code endpoints, trace propagation.

This repository is a demo made by `factory-tui demo`: several AI agents work on it at once,
each in its own worktree under `.worktrees/`, and coordinate through `.claude/claims/`,
`plan.md`, `memory.md` and the operations log in `.factory/memory/`.

    pip install -e . && pytest
"""

_PYPROJECT = """\
[project]
name = "tinygate"
version = "0.3.0"
requires-python = ">=3.11"
dependencies = ["httpx>=0.27"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_GITIGNORE = """\
__pycache__/
*.egg-info/
.venv/
# the factory's shared state, not part of the project
.worktrees/
.factory/
.claude/claims/
# (a worktree's .claude/claims is a symlink, a file to git: hence the line without a slash)
.claude/claims
factory.toml
"""

_FACTORY_TOML = """\
# factory-tui configuration for this demo: keep the memory folder inside the repo, so the demo
# never touches ~/.claude.
memory = ".factory/memory"
# The simulated agents move fast: an agent silent for two minutes reads as idle, in the cockpit
# and in `factory-tui status` alike.
idle_after = "2m"
"""


def _agent_command_toml() -> str:
    """Resume from the recovery screen starts this stub agent (in the resumed worktree, with the
    recovery prompt as its last argument): it lives at most 10 minutes, so Resume can be tried
    without a real Claude Code."""
    argv = [sys.executable, "-m", _STUB_MODULE, "--root", ".", "--max-seconds", "600"]
    return (
        '# What Resume starts (a real factory: ["claude"], the default); the prompt comes last.\n'
        f"agent_command = {json.dumps(argv)}\n"
    )


_BASE_FILES: dict[str, str] = {
    "README.md": _README,
    "pyproject.toml": _PYPROJECT,
    ".gitignore": _GITIGNORE,
    "src/tinygate/__init__.py": '"""tinygate: a tiny API gateway."""\n\n__version__ = "0.3.0"\n',
    "src/tinygate/routes.py": (
        '"""The route table: longest prefix wins."""\n\n\n'
        "def match(routes: dict[str, str], path: str) -> str | None:\n"
        "    best = max((p for p in routes if path.startswith(p)), key=len, default=None)\n"
        "    return routes[best] if best is not None else None\n"
    ),
    "src/tinygate/gateway.py": (
        '"""Forward a request to the upstream its route names."""\n\n'
        "from tinygate.routes import match\n\n\n"
        "def upstream_for(routes: dict[str, str], path: str) -> str:\n"
        "    target = match(routes, path)\n"
        "    if target is None:\n"
        '        raise LookupError(f"no route for {path}")\n'
        "    return target\n"
    ),
    "tests/test_routes.py": (
        "from tinygate.routes import match\n\n\n"
        "def test_longest_prefix_wins() -> None:\n"
        '    assert match({"/": "a", "/api": "b"}, "/api/x") == "b"\n'
    ),
    "tests/test_webhooks.py": (
        "def test_webhook_retry_gives_up_after_three() -> None:\n"
        "    attempts = [1, 2, 3]\n"
        "    assert len(attempts) == 3\n"
    ),
    "portal/footer.html": '<footer><a href="/tos">Terms of service</a></footer>\n',
    "deploy/helm/values.yaml": "replicaCount: 2\nimage:\n  repository: tinygate\n",
}


def _file_text(ticket: _Ticket, revision: int, base: str | None = None) -> str:
    """The content an agent leaves in its ticket's file after ``revision`` rounds of work."""
    path = ticket.file
    if path.endswith(".py"):
        head = base or f'"""{ticket.title} ({ticket.id})."""\n'
        body = "".join(
            f"\n\ndef step_{n}() -> str:\n    return {f'{ticket.id} step {n}'!r}\n"
            for n in range(1, revision + 1)
        )
        return head + body
    if path.endswith((".yaml", ".yml")):
        extra = "".join(f"# {ticket.id} revision {n}\n" for n in range(1, revision + 1))
        return (base or "") + "resources:\n  limits:\n    cpu: 500m\n    memory: 256Mi\n" + extra
    if path.endswith("Dockerfile"):
        return "FROM gcr.io/distroless/python3-debian12\nCOPY src /app\n" + "".join(
            f"# {ticket.id} revision {n}\n" for n in range(1, revision + 1)
        )
    if path.endswith(".html"):
        return '<footer><a href="/legal/terms">Terms of service</a></footer>\n' + "".join(
            f"<!-- {ticket.id} revision {n} -->\n" for n in range(2, revision + 1)
        )
    lines = "".join(f"- {ticket.id}: revision {n}\n" for n in range(1, revision + 1))
    return (base or f"# {ticket.title}\n\n") + lines


def _ticket_files(ticket: _Ticket, revision: int) -> dict[str, str]:
    files = {ticket.file: _file_text(ticket, revision, _BASE_FILES.get(ticket.file))}
    if ticket is PHASE_1:
        files["src/tinygate/gateway.py"] = _BASE_FILES["src/tinygate/gateway.py"] + (
            "\n\ndef live_code_upstream(routes: dict[str, str]) -> str:\n"
            '    return upstream_for(routes, "/live-code")\n'
        )
    return files


# -- git -----------------------------------------------------------------------------------------


class _Git:
    """The demo's git: :class:`~factory_tui.adapters.git.GitRepo`, isolated from the user's and
    the system's git config; a failure stops the demo with git's words."""

    def __init__(self, root: Path) -> None:
        self.repo = GitRepo(root, env=ISOLATED_ENV)

    def run(self, *args: str, cwd: Path | None = None) -> str:
        try:
            return self.repo.run(*args, cwd=cwd)
        except GitMissing as error:
            raise RuntimeError("the demo factory needs git on PATH") from error
        except GitError as error:
            raise RuntimeError(str(error)) from error

    def commit(
        self,
        cwd: Path,
        files: Mapping[str, str],
        message: str,
        when: datetime,
        who: tuple[str, str],
    ) -> str:
        """Commit ``files`` at ``when``. Naive demo times are written as UTC (not local, as
        :meth:`GitRepo.commit` reads a naive time) so commit ids do not depend on the time
        zone."""
        _write_files(cwd, files)
        try:
            return self.repo.commit(
                message, cwd=cwd, when=when.replace(tzinfo=UTC), author=who, paths=list(files)
            )
        except GitError as error:
            raise RuntimeError(str(error)) from error


def _write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")


def _agent_who(agent: _Agent) -> tuple[str, str]:
    return (f"Claude ({agent.instance})", f"{agent.instance}@agents.tinygate.example")


@dataclass
class _GitFacts:
    merges: dict[str, str]
    """ticket id -> the squash-merge commit on main."""


def _build_repo(root: Path, plan: _Plan, memory_md: str, plan_md: str) -> _GitFacts:
    git = _Git(root)
    git.run("init", "-q", "-b", "main")
    T = plan.now
    commits: list[tuple[datetime, str, str, dict[str, str]]] = [
        (T - _m(96 * 60), "base", "chore: tinygate skeleton", dict(_BASE_FILES))
    ]
    for _role, ticket, flow in plan.history:
        merged = flow.times()["merged"]
        message = f"{ticket.kind}: {ticket.title} ({ticket.id}) (#{flow.pr})"
        commits.append((merged, ticket.id, message, _ticket_files(ticket, 2)))
    for agent in plan.agents:
        if agent.flow is not None:
            merged = agent.flow.times()["merged"]
            ticket = PHASE_1 if agent.role == "working" else agent.ticket
            tickets = ", ".join(ticket.ticket_list)
            message = f"{ticket.kind}: {ticket.title} ({tickets}) (#{agent.flow.pr})"
            commits.append((merged, ticket.id, message, _ticket_files(ticket, 2)))
    commits.append(
        (
            T - _m(12),
            "state",
            "chore(state): plan.md and memory.md",
            {"plan.md": plan_md, "memory.md": memory_md},
        )
    )
    commits.sort(key=lambda item: item[0])
    main: list[tuple[datetime, str]] = []
    merges: dict[str, str] = {}
    for when, key, message, files in commits:
        sha = git.commit(root, files, message, when, _GIT_USER)
        main.append((when, sha))
        merges[key] = sha

    def fork_point(start: datetime) -> str:
        return [sha for when, sha in main if when <= start][-1]

    for agent in plan.agents:
        ticket, marks = agent.ticket, agent.marks
        start = (
            agent.flow.start
            if agent.flow is not None and agent.role == "ended"
            else (marks.get("paused_start") or marks["start"])
        )
        git.run("worktree", "add", "-q", "-b", ticket.branch, agent.worktree, fork_point(start))
        tree = root / agent.worktree
        who = _agent_who(agent)
        work: list[tuple[datetime, str, dict[str, str]]] = []
        dirty: dict[str, str] = {}
        subject = f"{ticket.kind}: {ticket.title.lower()} ({ticket.id})"
        if agent.role == "ended" and agent.flow is not None:
            t = agent.flow.times()
            work = [(t["code_done"], f"wip: {ticket.title.lower()}", _ticket_files(ticket, 1))]
            work.append((t["commit"], subject, _ticket_files(ticket, 2)))
        elif agent.role == "working":
            work = [(marks["paused_start"] + _m(30), subject, _ticket_files(ticket, 1))]
            dirty = _ticket_files(ticket, 2)
            dirty[f"tests/test_{ticket.slug.replace('-', '_')}.py"] = (
                f"def test_{ticket.slug.replace('-', '_')}() -> None:\n    assert True\n"
            )
        elif agent.role == "idle":
            work = [(marks["start"] + _m(20), subject, _ticket_files(ticket, 1))]
        elif agent.role in ("crashed", "stale"):
            work = [
                (
                    marks["code_done"] - _m(5),
                    f"wip: {ticket.title.lower()}",
                    _ticket_files(ticket, 1),
                )
            ]
            work.append((marks["code_done"] + _m(3), subject, _ticket_files(ticket, 2)))
            if agent.role == "crashed":
                dirty = _ticket_files(ticket, 3)
        else:  # remote
            work = [(marks["resume"] + _m(3), subject, _ticket_files(ticket, 1))]
        for when, message, files in work:
            agent.head = git.commit(tree, files, message, when, who)
        _write_files(tree, dirty)
        (tree / ".claude").mkdir(parents=True, exist_ok=True)
        (tree / ".claude" / "claims").symlink_to(Path("..", "..", "..", ".claude", "claims"))
    return _GitFacts(merges)


# -- the logs ------------------------------------------------------------------------------------


class _Lines:
    """Log lines with the time they sort by; ``ts`` overrides the written timestamp (wild forms)."""

    def __init__(self, *, utc: bool = False) -> None:
        self.items: list[tuple[datetime, int, str]] = []
        self.utc = utc
        """metrics.log is written in UTC without a marker (``date -u``), operations.log in local
        time (FORMATS.md)."""

    def add(self, at: datetime, name: str, /, *, ts: str | None = None, **fields: object) -> None:
        if ts is None:
            ts = format_ts(utc_naive(at) if self.utc else at)
        line = format_event(ts, name, [(k, str(v)) for k, v in fields.items()])
        self.items.append((at, len(self.items), line))

    def ordered(self) -> list[tuple[datetime, str]]:
        return [(at, line) for at, _, line in sorted(self.items)]


def _wild(at: datetime, form: str) -> str:
    """A timestamp as agents in the wild write it: with seconds, or with a ``Z``."""
    if form == "seconds":
        return format_ts(at.replace(second=(at.minute * 7 + 13) % 60), seconds=True)
    return format_ts(at) + "Z"


def _checkpoint_name(at: datetime, task: str) -> str:
    return f"{format_ts(at).replace(':', '-')}-{task}.json"


class _Story:
    """Writes every agent's day (and the days before) as operations.log and metrics.log lines."""

    def __init__(self, plan: _Plan, git: _GitFacts) -> None:
        self.plan = plan
        self.git = git
        self.log = _Lines()
        self.metrics = _Lines(utc=True)
        self._tokens = itertools.cycle(plan.token_draws)
        self.phase1_done: datetime | None = None
        self._days: dict[str, Callable[[_Agent], None]] = {
            "working": self._working,
            "idle": self._idle,
            "crashed": self._crashed,
            "stale": self._stale,
            "ended": self._ended,
            "remote": self._remote,
        }

    def spend(self, at: datetime, agent: _Agent, task: str) -> None:
        tokens_in = next(self._tokens) * 1000
        tokens_out = next(self._tokens) * 100
        cache_read = next(self._tokens) * 5000
        cost = tokens_in * 3e-6 + tokens_out * 15e-6 + cache_read * 0.3e-6
        self.metrics.add(
            at,
            "TOKEN-SPEND",
            instance=agent.instance,
            task=task,
            model=_MODEL,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
            cost_usd=f"{cost:.2f}",
        )

    def claim(self, at: datetime, agent: _Agent, ticket: _Ticket, *, again: bool = False) -> None:
        """A CLAIM line; ``again`` for an owner re-claiming (new pid), not a new phase claim."""
        self.log.add(
            at,
            "CLAIM",
            task=ticket.claim_task,
            phase=ticket.phase_field,
            instance=agent.instance,
            tickets=",".join(ticket.ticket_list),
        )
        if ticket.mega is not None and not again:
            self.metrics.add(
                at, "PHASE-CLAIMED", task=ticket.mega, phase=ticket.phase, instance=agent.instance
            )

    def start(self, at: datetime, agent: _Agent, ticket: _Ticket, **extra: str) -> None:
        self.log.add(
            at,
            "SESSION-START",
            task=ticket.task,
            branch=ticket.branch,
            instance=agent.instance,
            **extra,
        )

    def flow(
        self,
        agent: _Agent,
        ticket: _Ticket,
        flow: _Flow,
        *,
        head: str | None,
        wild: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A ticket from claim to merge and release; ``wild`` = (step, timestamp form) pairs."""
        t = flow.times()
        forms = dict(wild)
        task, log = ticket.task, self.log

        def step(key: str, name: str, step_name: str, **extra: object) -> None:
            form = forms.get(step_name)
            ts = _wild(t[key], form) if form and name == "STEP-DONE" else None
            log.add(t[key], name, ts=ts, step=step_name, task=task, **extra)

        self.start(t["start"], agent, ticket)
        self.claim(t["start"], agent, ticket)
        step("branch", "STEP-DONE", "branch", branch=ticket.branch)
        step("code_start", "STEP-START", "code")
        if flow.crash is not None:
            log.add(
                t["error"],
                "ERROR",
                task=task,
                error="context-exhausted",
                step="code",
                detail="context window exhausted mid-refactor",
            )
            log.add(t["recover"], "RECOVERY", task=task, action="resume", from_step="code")
            self.start(t["recover"], agent, ticket, recovered_from=task)
            log.add(
                t["recover"],
                "SESSION-END",
                task=task,
                status="crashed",
                recovered_by=agent.instance,
            )
            log.add(
                t["recover"], "STEP-START", step="code", task=task, detail="resumed after a crash"
            )
        step("code_done", "STEP-DONE", "code", component=ticket.component)
        step("quality", "STEP-DONE", "quality-gate")
        if head:
            step("commit", "STEP-DONE", "commit", sha=head[:7])
        else:
            step("commit", "STEP-DONE", "commit")
        step("push", "STEP-DONE", "push", branch=ticket.branch)
        step("pr", "STEP-DONE", "pr-created", pr=flow.pr, branch=ticket.branch)
        step("ci_start", "STEP-START", "ci", pr=flow.pr)
        step("ci_done", "STEP-DONE", "ci", pr=flow.pr, duration_s=flow.ci * 60)
        log.add(
            t["checkpoint"], "CHECKPOINT", task=task, file=_checkpoint_name(t["checkpoint"], task)
        )
        merge = self.git.merges.get(ticket.id, "")
        step("merged", "STEP-DONE", "merged", pr=flow.pr, sha=merge[:7])
        self.metrics.add(t["merged"], "PR-MERGED", task=task, pr=flow.pr, mode="show")
        step("cd", "STEP-DONE", "cd-verified")
        step("cleanup", "STEP-DONE", "cleanup")
        log.add(
            t["end"],
            "RELEASE",
            task=ticket.claim_task,
            phase=ticket.phase_field,
            instance=agent.instance,
            reason="done",
        )
        if ticket.mega is not None:
            self.metrics.add(
                t["end"],
                "PHASE-COMPLETED",
                task=ticket.mega,
                phase=ticket.phase,
                instance=agent.instance,
            )
        if ticket is PHASE_1:
            self.phase1_done = t["end"]
        self.spend(t["end"], agent, task)
        log.add(t["end"], "SESSION-END", task=task, status="success", pr=flow.pr)

    # -- the days before today (operations.log.1) ---------------------------------------------

    def history(self) -> None:
        plan = self.plan
        for index, (role, ticket, flow) in enumerate(plan.history):
            wild: tuple[tuple[str, str], ...] = ()
            if index == 0:
                wild = (
                    ("branch", "seconds"),
                    ("quality-gate", "seconds"),
                    ("push", "Z"),
                    ("cd-verified", "Z"),
                )
            elif index == 1:
                wild = (("code", "seconds"), ("cleanup", "seconds"))
            self.flow(plan.agent(role), ticket, flow, head=None, wild=wild)
        # The stale agent's earlier ticket: it crashed, and was abandoned the next hour.
        agent, ticket, flow = plan.agent("stale"), ABANDONED_TICKET, plan.abandoned
        t0 = flow.start
        task = ticket.task
        self.start(t0, agent, ticket)
        self.claim(t0, agent, ticket)
        self.log.add(t0 + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        self.log.add(t0 + _m(2), "STEP-START", step="code", task=task)
        crash = t0 + _m(2 + flow.code)
        self.log.add(
            crash,
            "ERROR",
            task=task,
            error="merge-conflict",
            step="code",
            detail="rebase onto main stopped: 41 conflicting files",
        )
        later = crash + _m(55)
        self.log.add(
            later,
            "RECOVERY",
            task=task,
            action="abandon",
            reason="branch diverged from main; start over",
        )
        self.log.add(
            later, "RELEASE", task=ticket.id, phase="-", instance=agent.instance, reason="abandoned"
        )
        self.log.add(later, "SESSION-END", task=task, status="crashed", recovered_by=agent.instance)
        self.spend(later, agent, task)

    # -- today ---------------------------------------------------------------------------------

    def today(self) -> None:
        for agent in self.plan.agents:
            if agent.flow is not None:
                ticket = PHASE_1 if agent.role == "working" else agent.ticket
                self.flow(
                    agent, ticket, agent.flow, head=agent.head if agent.role == "ended" else None
                )
            self._days[agent.role](agent)

    def _working(self, agent: _Agent) -> None:
        T, marks, ticket, log = self.plan.now, agent.marks, agent.ticket, self.log
        task = ticket.task
        p0, p1 = marks["paused_start"], marks["paused_end"]
        self.start(p0, agent, ticket)
        self.claim(p0, agent, ticket)
        log.add(p0 + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(p0 + _m(2), "STEP-START", step="code", task=task)
        log.add(
            p1 - _m(2),
            "CONTEXT-COMPACT",
            task=task,
            instance=agent.instance,
            tokens_before=180000 + agent.jitter[3] * 1000,
            tokens_after=41000,
        )
        self.spend(p1 - _m(1), agent, task)
        log.add(p1, "SESSION-END", task=task, status="paused")
        # The current session: with a live stub it starts at the stub's start minute.
        resume = agent.live_start or marks["resume"]
        self.start(resume, agent, ticket)
        self.claim(resume, agent, ticket, again=True)
        log.add(
            resume, "STEP-START", step="code", task=task, detail="resume after context compaction"
        )
        if T - resume >= _m(10):
            log.add(
                resume + (T - resume) * 0.6,
                "STEP-DONE",
                step="code",
                task=task,
                component=ticket.component,
            )
            # Within the demo's 2 m idle threshold (factory.toml): it reads as working.
            log.add(T - _m(1), "STEP-START", step="quality-gate", task=task)

    def _idle(self, agent: _Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, last = ticket.task, marks["start"], marks["last"]
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + _m(2), "STEP-START", step="code", task=task)
        log.add(last - _m(4), "STEP-DONE", step="code", task=task, component="portal")
        log.add(
            last,
            "STEP-START",
            step="quality-gate",
            task=task,
            detail="waiting for an answer: which ToS URL, /legal/terms or /tos?",
        )

    def _crashed(self, agent: _Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, code_done = ticket.task, marks["start"], marks["code_done"]
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        loser = self.plan.by_role("idle")
        if loser is not None:
            self.metrics.add(
                start,
                "CLAIM-CONFLICT",
                task=MEGA_ID,
                phase=ticket.phase,
                winner=agent.instance,
                loser=loser.instance,
            )
        log.add(start + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + _m(2), "STEP-START", step="code", task=task)
        log.add(code_done, "STEP-DONE", step="code", task=task, component="exporter")
        log.add(code_done + _m(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(code_done + _m(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        at = marks["checkpoint"]
        log.add(at, "CHECKPOINT", task=task, file=_checkpoint_name(at, task))
        log.add(
            at + _m(1),
            "STEP-START",
            step="push",
            task=task,
            detail="rebase onto main before the push",
        )
        self.metrics.add(
            at + _m(2),
            "STATE-DRIFT",
            file="memory.md",
            detail="an item marked DONE under IN PROGRESS",
            instance=agent.instance,
        )
        self.spend(at + _m(1), agent, task)

    def _stale(self, agent: _Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, code_done = ticket.task, marks["start"], marks["code_done"]
        pr = agent.pr
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + _m(2), "STEP-START", step="code", task=task)
        log.add(code_done, "STEP-DONE", step="code", task=task, component="webhooks")
        log.add(code_done + _m(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(code_done + _m(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        log.add(code_done + _m(4), "STEP-DONE", step="push", task=task, branch=ticket.branch)
        log.add(
            code_done + _m(6),
            "STEP-DONE",
            step="pr-created",
            task=task,
            pr=pr,
            branch=ticket.branch,
        )
        log.add(code_done + _m(7), "STEP-START", step="ci", task=task, pr=pr)
        first = code_done + _m(22)
        log.add(
            first,
            "ERROR",
            task=task,
            error="ci-failed",
            step="ci",
            detail="test_webhook_retry timed out",
        )
        self.metrics.add(first + _m(1), "CI-FIX", task=task, pr=pr, attempt=1, result="failed")
        log.add(first + _m(2), "STEP-START", step="ci", task=task, pr=pr, detail="re-run 2/3")
        second = first + _m(17)
        log.add(second, "ERROR", task=task, error="ci-failed", step="ci", detail="timed out again")
        self.metrics.add(second + _m(1), "CI-FIX", task=task, pr=pr, attempt=2, result="failed")
        self.spend(second + _m(1), agent, task)
        log.add(second + _m(2), "SESSION-END", task=task, status="paused", pr=pr)

    def _ended(self, agent: _Agent) -> None:
        """Its whole day is the finished flow written by :meth:`today`."""

    def _remote(self, agent: _Agent) -> None:
        T, marks, ticket, log = self.plan.now, agent.marks, agent.ticket, self.log
        task, start, paused, resume = (
            ticket.task,
            marks["start"],
            marks["paused_end"],
            marks["resume"],
        )
        pr = agent.pr
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + _m(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + _m(2), "STEP-START", step="code", task=task)
        log.add(paused - _m(5), "STEP-DONE", step="code", task=task, component="deploy")
        self.spend(paused - _m(1), agent, task)
        log.add(paused, "SESSION-END", task=task, status="paused")
        self.start(resume, agent, ticket)
        log.add(resume + _m(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(resume + _m(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        log.add(resume + _m(4), "STEP-DONE", step="push", task=task, branch=ticket.branch)
        log.add(
            resume + _m(6), "STEP-DONE", step="pr-created", task=task, pr=pr, branch=ticket.branch
        )
        log.add(resume + _m(7), "STEP-START", step="ci", task=task, pr=pr)
        log.add(T - _m(8), "STEP-DONE", step="ci", task=task, pr=pr)
        log.add(
            T - _m(1),  # within the demo's 2 m idle threshold: still working at ``now``
            "STEP-START",
            step="merged",
            task=task,
            pr=pr,
            detail="waiting for review (Ask: infra)",
        )


# -- claims, checkpoint, state files -------------------------------------------------------------


def _claimed_at(agent: _Agent) -> datetime:
    marks = agent.marks
    if agent.live_start is not None:
        return agent.live_start
    if agent.role == "working":
        return marks["resume"]
    return marks["start"]


def _owner_fields(agent: _Agent) -> dict[str, Any]:
    return {
        "owner": agent.instance,
        "pid": agent.pid,
        "claimed_at": format_ts(_claimed_at(agent)),
        "hostname": agent.host,
    }


def _free_fields(host: str | None) -> dict[str, Any]:
    return {"owner": None, "pid": None, "claimed_at": None, "hostname": host}


def _claims(plan: _Plan, phase1_done: datetime) -> dict[str, dict[str, Any]]:
    working, crashed = plan.agent("working"), plan.agent("crashed")

    def phase(
        ticket: _Ticket, holder: dict[str, Any], mode: str, deps: list[int], done: str | None
    ) -> dict[str, Any]:
        return {
            "id": ticket.phase,
            "name": ticket.title,
            "tickets": list(ticket.ticket_list),
            "owner": holder["owner"],
            "pid": holder["pid"],
            "claimed_at": holder["claimed_at"],
            "hostname": holder["hostname"],
            "branch": ticket.branch if holder["hostname"] else None,
            "mode": mode,
            "deps": deps,
            "completed_at": done,
        }

    claims: dict[str, dict[str, Any]] = {
        MEGA_ID: {
            "mega": MEGA_ID,
            "title": MEGA_TITLE,
            "created": format_ts(plan.mega_created),
            "component": "gateway",
            "phases": [
                phase(PHASE_1, _free_fields(plan.hostname), "parallel", [], format_ts(phase1_done)),
                phase(PHASE_2, _owner_fields(working), "parallel", [1], None),
                phase(PHASE_3, _owner_fields(crashed), "parallel", [1], None),
                {**phase(PHASE_4, _free_fields(None), "sequential", [2, 3], None), "estimate_h": 6},
                phase(PHASE_5, _free_fields(None), "parallel", [1], None),
            ],
        }
    }

    def standalone(ticket: _Ticket, holder: dict[str, Any], done: str | None, **extra: Any) -> None:
        claims[ticket.id] = {
            "ticket": ticket.id,
            "title": ticket.title,
            **holder,
            "branch": ticket.branch,
            "completed_at": done,
            **extra,
        }

    for agent in plan.agents:
        if agent.role in ("idle", "stale", "remote") or (
            agent.role == "working" and agent.ticket is not PHASE_2
        ):
            extra = {"priority": "P2"} if agent.role == "idle" else {}
            standalone(agent.ticket, _owner_fields(agent), None, **extra)
        elif agent.role == "ended" and agent.ticket is not PHASE_1 and agent.flow is not None:
            done = format_ts(agent.flow.times()["end"])
            standalone(agent.ticket, _free_fields(agent.host), done)
    for role, ticket, flow in plan.history:
        if ticket.id == KEPT_DONE:
            standalone(ticket, _free_fields(plan.agent(role).host), format_ts(flow.times()["end"]))
    standalone(ABANDONED_TICKET, _free_fields(plan.hostname), None)
    return claims


def _checkpoint(plan: _Plan) -> tuple[str, dict[str, Any]]:
    agent = plan.agent("crashed")
    ticket = agent.ticket
    at = agent.marks["checkpoint"]
    data = {
        "task": ticket.task,
        "timestamp": format_ts(at, seconds=True),
        "branch": ticket.branch,
        "git_sha": agent.head[:7],
        "pr_number": None,
        "steps_completed": ["branch", "code", "quality-gate", "commit"],
        "steps_remaining": ["push", "pr-created", "ci", "merged", "cd-verified", "cleanup"],
        "context": {
            "component": "exporter",
            "files_modified": [ticket.file],
            "notes": "Phase 1 merged meanwhile: rebase onto main before the first push",
        },
        "progress": {
            "files_completed": [ticket.file],
            "files_remaining": ["tests/test_span_exporter.py", "docs/tracing.md"],
            "last_commit_message": f"{ticket.kind}: {ticket.title.lower()} ({ticket.id})",
            "decisions_made": [
                "batch spans by 512 or 5 s, whichever comes first",
                "on overflow drop the oldest spans and count the drops",
            ],
            "blockers": [],
        },
        "claimed_phase": {
            "mega_id": MEGA_ID,
            "phase_id": ticket.phase,
            "claim_file": f".claude/claims/{MEGA_ID}.json",
        },
    }
    return _checkpoint_name(at, ticket.task), data


def _state_files(plan: _Plan, prs: Mapping[str, int]) -> tuple[str, str]:
    """plan.md and memory.md: consistent with the claims, but for one lint finding."""
    working, crashed = plan.agent("working"), plan.agent("crashed")
    stale, idle, remote = plan.agent("stale"), plan.agent("idle"), plan.by_role("remote")
    plan_lines = [
        "# Plan — tinygate",
        "",
        "Agents keep the markers current; `.claude/claims/` says who holds what.",
        "",
        f"## {MEGA_ID} — {MEGA_TITLE}",
        "",
        f"- [~] **{MEGA_ID}** {MEGA_TITLE}",
        f"  - [x] **Phase 1** (parallel) [owner: —] {PHASE_1.title} — CAB-1350, CAB-1351",
        f"  - [~] **Phase 2** (parallel) [owner: {working.instance}] {PHASE_2.title} — CAB-1352",
        f"  - [~] **Phase 3** (parallel) [owner: {crashed.instance}] {PHASE_3.title} — CAB-1353",
        f"  - [!] **Phase 4** (sequential) [owner: —] {PHASE_4.title} — CAB-1355, CAB-1356"
        " (after 2 and 3)",
        f"  - [ ] **Phase 5** (parallel) [owner: —] {PHASE_5.title} — CAB-1357",
        "",
        "## Standalone tickets",
        "",
    ]
    in_progress = [
        f"- CAB-1352 {PHASE_2.title} ({MEGA_ID} phase 2) — {working.instance} on {PHASE_2.branch}",
        f"- CAB-1353 {PHASE_3.title} ({MEGA_ID} phase 3) — {crashed.instance} on {PHASE_3.branch}",
        "  - Exporter retry budget — DONE",
    ]
    done = [
        f"- CAB-1350, CAB-1351 {PHASE_1.title} ({MEGA_ID} phase 1) — PR #{prs[PHASE_1.id]} merged",
    ]
    standalone: list[tuple[str, _Ticket, str]] = []
    for _role, ticket, _flow in plan.history:
        if ticket.id == KEPT_DONE:
            standalone.append(("x", ticket, f"PR #{prs[ticket.id]} merged"))
    standalone.append(("~", STALE_TICKET, f"{stale.instance}, PR #{stale.pr}: CI red twice"))
    standalone.append(("~", IDLE_TICKET, f"{idle.instance} on {IDLE_TICKET.branch}"))
    if remote is not None:
        standalone.append(("~", REMOTE_TICKET, f"{remote.instance} on {plan.remote_host}"))
    for agent in plan.agents:
        if agent.role == "working" and agent.ticket is not PHASE_2:
            standalone.append(("~", agent.ticket, f"{agent.instance} on {agent.ticket.branch}"))
        elif agent.role == "ended" and agent.ticket is not PHASE_1:
            standalone.append(("x", agent.ticket, f"PR #{prs[agent.ticket.id]} merged"))
    standalone.append((" ", ABANDONED_TICKET, "abandoned once, start from main"))
    for mark, ticket, note in standalone:
        plan_lines.append(f"- [{mark}] {ticket.id} {ticket.title}")
        entry = f"- {ticket.id} {ticket.title} — {note}"
        if mark == "x":
            done.append(entry)
        elif mark == "~":
            in_progress.append(entry)
    memory_lines = [
        "# Memory — tinygate",
        "",
        "Shared state between sessions, kept short: what is on, what is next, what is finished.",
        "",
        "## 🔴 IN PROGRESS",
        "",
        *in_progress,
        "",
        "## 📋 NEXT",
        "",
        f"- CAB-1357 {PHASE_5.title} ({MEGA_ID} phase 5) — free, deps done",
        f"- {ABANDONED_TICKET.id} {ABANDONED_TICKET.title} — abandoned once, start from main",
        "",
        "## ✅ DONE",
        "",
        *done,
        "",
        "## 🚫 BLOCKED",
        "",
        f"- CAB-1355, CAB-1356 {PHASE_4.title} ({MEGA_ID} phase 4) — waits for phases 2 and 3",
        "",
    ]
    return "\n".join(plan_lines) + "\n", "\n".join(memory_lines)


# -- processes -----------------------------------------------------------------------------------

_STARTED: dict[int, subprocess.Popen[bytes]] = {}
"""Stub processes this interpreter started, by pid (so they are reaped, never orphaned zombies)."""
_STUB_MODULE = "factory_tui.demo.agent_stub"


def _start_stub(python: str, root: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [python, "-m", _STUB_MODULE, "--root", str(root)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _STARTED[process.pid] = process
    return process


def _start_minute(pid: int) -> datetime:
    started = datetime.fromtimestamp(psutil.Process(pid).create_time())
    return started.replace(second=0, microsecond=0)


def _stop(pids: Sequence[int], root: Path | None, timeout: float = 5.0) -> None:
    for pid in pids:
        process = _STARTED.pop(pid, None)
        if process is not None:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
            continue
        # Not started here (another interpreter, or a dead pid from start_processes=False):
        # only a process that is our stub for this very root is touched.
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if _STUB_MODULE not in cmdline or (root is not None and str(root) not in cmdline):
            continue
        try:
            proc.terminate()
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def stop_demo_processes(factory: DemoFactory) -> None:
    """Terminate the demo's stub processes (and wait for them); a dead or foreign pid is left."""
    _stop(list(factory.pids.values()), factory.root)


# -- the entry point -----------------------------------------------------------------------------


def _normalise_now(now: datetime) -> datetime:
    if now.tzinfo is not None:
        now = now.astimezone().replace(tzinfo=None)
    return now


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
) -> DemoFactory:
    """Write a demo factory into ``path`` (new or empty); see the module docstring.

    ``transcripts``: also write the local agents' Claude Code transcripts inside the demo and
    point ``claude_config_dir`` (and budgets) at them in factory.toml, so the cockpit shows each
    agent's spend (:mod:`factory_tui.demo.transcripts`; off by default: the transcripts name
    the demo's absolute path, so two folders would no longer hold the same bytes)."""
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
    given_now = _normalise_now(now)
    T = given_now.replace(second=0, microsecond=0)
    plan = _plan(random.Random(seed), T, agents, hostname.strip())

    started: list[int] = []
    try:
        factory = _generate(root, plan, given_now, start_processes, python, started)
        if transcripts:
            from factory_tui.demo.transcripts import write_demo_transcripts

            write_demo_transcripts(root, hostname=hostname.strip())
        return factory
    except BaseException:
        _stop(started, root)
        raise


def _generate(
    root: Path,
    plan: _Plan,
    given_now: datetime,
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
    plan_md, memory_md = _state_files(plan, prs)
    claims_dir = root / ".claude" / "claims"
    claims_dir.mkdir(parents=True)
    git = _build_repo(root, plan, memory_md, plan_md)

    # Live stubs first, then every time that must not precede their start.
    if start_processes:
        for agent in plan.agents:
            if agent.role in LIVE_ROLES:
                process = _start_stub(python, root, root / agent.worktree)
                started.append(process.pid)
                agent.pid = process.pid
                agent.live_start = _start_minute(process.pid)
                if abs(agent.live_start - T) > MAX_CLOCK_SKEW:
                    raise ValueError(
                        f"now={format_ts(T)} is {abs(agent.live_start - T)} away from the stub "
                        f"processes' start ({format_ts(agent.live_start)}): with "
                        "start_processes=True pass the real time as now"
                    )

    story = _Story(plan, git)
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
    name, checkpoint = _checkpoint(plan)
    _write_json(memory_dir / "checkpoints" / name, checkpoint)

    for claim_id, data in _claims(plan, story.phase1_done).items():
        (claims_dir / f"{claim_id}.json").write_bytes(dump_claim(data))
    _write_files(root, {"factory.toml": _FACTORY_TOML + _agent_command_toml()})

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
