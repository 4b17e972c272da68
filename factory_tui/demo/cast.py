"""The demo's cast and timeline: the tickets, the agents, the role each plays and when each
thing happened (a pure function of the seed, ``now`` and the host name)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psutil

__all__ = [
    "ABANDONED_TICKET",
    "HISTORY_TICKETS",
    "IDLE_TICKET",
    "KEPT_DONE",
    "MEGA_ID",
    "MEGA_TITLE",
    "PHASE_1",
    "PHASE_2",
    "PHASE_3",
    "PHASE_4",
    "PHASE_5",
    "REMOTE_TICKET",
    "STALE_TICKET",
    "Agent",
    "Flow",
    "Plan",
    "Ticket",
    "make_plan",
    "mins",
]

MEGA_ID = "CAB-1290"
MEGA_TITLE = "Gateway live-code MEGA"
_EPOCH = datetime(1970, 1, 1)


def mins(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


# -- tickets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
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


def _phase(phase: int, first: str, title: str, slug: str, path: str, *more: str) -> Ticket:
    return Ticket(first, title, "feat", slug, path, MEGA_ID, phase, (first, *more))


PHASE_1 = _phase(
    1, "CAB-1350", "API + gateway routes", "gateway-api", "src/tinygate/api.py", "CAB-1351"
)
PHASE_2 = _phase(2, "CAB-1352", "Traceparent propagation", "traceparent", "src/tinygate/tracing.py")
PHASE_3 = _phase(3, "CAB-1353", "Span exporter", "span-exporter", "src/tinygate/span_exporter.py")
PHASE_4 = _phase(4, "CAB-1355", "E2E tests", "e2e-tests", "tests/e2e/test_live_code.py", "CAB-1356")
PHASE_5 = _phase(5, "CAB-1357", "Docs + runbook", "live-code-docs", "docs/live-code.md")

IDLE_TICKET = Ticket("CAB-1321", "Portal ToS link fix", "fix", "tos-link", "portal/footer.html")
STALE_TICKET = Ticket(
    "CAB-1302", "Flaky webhook retry test", "fix", "webhook-retry-flake", "tests/test_webhooks.py"
)
REMOTE_TICKET = Ticket(
    "CAB-1340",
    "Helm chart: gateway resource limits",
    "chore",
    "helm-limits",
    "deploy/helm/values.yaml",
)
ABANDONED_TICKET = Ticket(
    "CAB-1297", "Migrate config loader to pydantic v2", "refactor", "pydantic-v2-config"
)
HISTORY_TICKETS = (
    Ticket("CAB-1280", "Health endpoint returns the build sha", "feat", "health-build-sha"),
    Ticket("CAB-1284", "Request-id middleware", "feat", "request-id"),
    Ticket("CAB-1288", "Rate-limit headers on 429", "feat", "ratelimit-headers"),
    Ticket("CAB-1292", "Cache the route table between reloads", "perf", "route-cache"),
    Ticket("CAB-1295", "Distroless base image", "chore", "distroless-image", "deploy/Dockerfile"),
)
#: The done standalone claim kept in the claims folder (the others were cleaned up).
KEPT_DONE = "CAB-1288"
EXTRA_TICKETS = (
    Ticket("CAB-1361", "Cache JWKS keys with a TTL", "feat", "jwks-cache"),
    Ticket("CAB-1362", "Reject oversized request headers", "fix", "oversized-headers"),
    Ticket("CAB-1364", "Structured access logs", "feat", "access-logs"),
    Ticket("CAB-1366", "Flaky test_route_reload on CI", "fix", "route-reload-flake"),
    Ticket("CAB-1367", "OpenAPI spec for the admin API", "docs", "admin-openapi"),
    Ticket("CAB-1369", "Bump httpx to 0.28", "chore", "bump-httpx"),
    Ticket("CAB-1371", "Graceful shutdown drains connections", "feat", "graceful-drain"),
    Ticket("CAB-1372", "Circuit breaker per upstream", "feat", "circuit-breaker"),
    Ticket("CAB-1374", "gzip responses over 1 KiB", "feat", "gzip-responses"),
    Ticket("CAB-1375", "CORS preflight for PATCH", "fix", "cors-patch"),
)


# -- the plan: every random draw, made up front so the rest is a pure function ------------------


@dataclass(frozen=True)
class Flow:
    """A ticket taken from claim to merge; each step's time follows from a few durations."""

    start: datetime
    code: int
    ci: int
    pr: int
    crash: tuple[int, int] | None = None
    """(minutes into coding when it crashed, minutes until it was resumed)."""

    def times(self) -> dict[str, datetime]:
        t: dict[str, datetime] = {"start": self.start, "branch": self.start + mins(1)}
        t["code_start"] = self.start + mins(2)
        resume = t["code_start"]
        if self.crash is not None:
            t["error"] = t["code_start"] + mins(self.crash[0])
            t["recover"] = resume = t["error"] + mins(self.crash[1])
        t["code_done"] = resume + mins(self.code)
        t["quality"] = t["code_done"] + mins(2)
        t["commit"] = t["quality"] + mins(1)
        t["push"] = t["commit"] + mins(1)
        t["pr"] = t["push"] + mins(2)
        t["ci_start"] = t["pr"] + mins(1)
        t["ci_done"] = t["ci_start"] + mins(self.ci)
        t["checkpoint"] = t["ci_done"] + mins(1)
        t["merged"] = t["checkpoint"] + mins(1)
        t["cd"] = t["merged"] + mins(8)
        t["cleanup"] = t["cd"] + mins(2)
        t["end"] = t["cleanup"] + mins(1)
        return t


@dataclass
class Agent:
    role: str
    instance: str
    host: str
    pid: int
    ticket: Ticket
    marks: dict[str, datetime]
    """Named times of its timeline (``start`` of the session holding the current claim, ...)."""
    flow: Flow | None = None
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
class Plan:
    now: datetime
    hostname: str
    remote_host: str
    agents: list[Agent]
    history: list[tuple[str, Ticket, Flow]]
    """(role of the agent that did it, ticket, flow), days before today, oldest first."""
    abandoned: Flow
    mega_created: datetime
    token_draws: list[int] = field(default_factory=list)

    def by_role(self, role: str) -> Agent | None:
        return next((agent for agent in self.agents if agent.role == role), None)

    def agent(self, role: str) -> Agent:
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


def make_plan(rng: random.Random, now: datetime, agents: int, hostname: str) -> Plan:
    T = now
    roles = _roles(agents)
    taken: set[int] = set()
    seen: set[str] = set()
    extras = list(EXTRA_TICKETS)
    rng.shuffle(extras)
    extras += [
        Ticket(f"CAB-{1400 + i}", f"Backlog item {i}", "chore", f"backlog-{i}")
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

    history: list[tuple[str, Ticket, Flow]] = []
    starts = (70 * 60, 52 * 60, 31 * 60, 29 * 60, 27 * 60 + 30)
    doers = (
        who("ended", "working"),
        who("crashed"),
        who("ended", "working"),
        who("idle"),
        who("remote", "crashed"),
    )
    for ticket, start, role in zip(HISTORY_TICKETS, starts, doers, strict=True):
        past = Flow(
            T - mins(start + rng.randint(0, 20)), rng.randint(25, 70), rng.randint(8, 20), 0
        )
        history.append((role, ticket, past))
    history.sort(key=lambda item: item[2].start)
    history = [(role, t, Flow(f.start, f.code, f.ci, next_pr())) for role, t, f in history]
    abandoned = Flow(T - mins(49 * 60 + rng.randint(0, 30)), rng.randint(40, 60), 0, 0)

    built: list[Agent] = []
    extra_index = 0
    for index, role in enumerate(roles):
        birth = T - mins(72 * 60 + 60 + index * 17 + rng.randint(0, 36000) / 60)
        instance = _instance_id(rng, birth, seen)
        pid = _dead_pid(rng, taken) if role != "remote" else rng.randrange(2000, 60000)
        host = remote_host if role == "remote" else hostname
        jitter = tuple(rng.randint(0, 9) for _ in range(6))
        marks: dict[str, datetime] = {}
        flow: Flow | None = None
        if role == "working":
            ticket = PHASE_2 if index == 0 else extras[extra_index]
            extra_index += index != 0
            marks["paused_start"] = T - mins(95 + jitter[0] * 2)
            marks["paused_end"] = T - mins(30 + jitter[1])
            marks["resume"] = T - mins(18 + jitter[2])
        elif role == "idle":
            ticket = IDLE_TICKET
            marks["start"] = T - mins(72 + jitter[0] * 2)
            marks["last"] = T - mins(30 + jitter[1] * 1.5)
        elif role == "crashed":
            ticket = PHASE_3
            marks["start"] = T - mins(92 + jitter[0])
            marks["code_done"] = marks["start"] + mins(28 + jitter[1])
            marks["checkpoint"] = marks["code_done"] + mins(5)
        elif role == "stale":
            ticket = STALE_TICKET
            marks["start"] = T - mins(300 + jitter[0] * 3)
            marks["code_done"] = marks["start"] + mins(22 + jitter[1])
        elif role == "remote":
            ticket = REMOTE_TICKET
            marks["start"] = T - mins(185 + jitter[0])
            marks["paused_end"] = T - mins(130 + jitter[1])
            marks["resume"] = T - mins(40 + jitter[2])
        else:  # ended
            ticket = PHASE_1 if index == 4 else extras[extra_index]
            extra_index += index != 4
            if index == 4:
                flow = Flow(
                    T - mins(425 + jitter[0]), 30 + jitter[1] * 2, 12 + jitter[2], 0, (38, 24)
                )
            else:
                flow = Flow(
                    T - mins(240 + index * 9 + jitter[0] * 4), 25 + jitter[1] * 3, 8 + jitter[2], 0
                )
        built.append(Agent(role, instance, host, pid, ticket, marks, flow, jitter))

    # Phase 1 was finished this morning, by the ended agent or (four agents) the working one.
    if "ended" not in roles:
        working = built[0]
        working.flow = Flow(T - mins(425 + working.jitter[3]), 40, 14, 0, (38, 24))
    flows_today = sorted(
        (agent for agent in built if agent.flow is not None),
        key=lambda a: a.flow.start if a.flow else T,
    )
    for agent in flows_today:
        assert agent.flow is not None
        f = agent.flow
        agent.flow = Flow(f.start, f.code, f.ci, next_pr(), f.crash)
    for agent in built:
        if agent.role in ("stale", "remote"):
            agent.pr = next_pr()
    plan = Plan(
        now=T,
        hostname=hostname,
        remote_host=remote_host,
        agents=built,
        history=history,
        abandoned=abandoned,
        mega_created=T - mins(27 * 60 + rng.randint(0, 50)),
    )
    plan.token_draws = [rng.randint(40, 400) for _ in range(64)]
    return plan
