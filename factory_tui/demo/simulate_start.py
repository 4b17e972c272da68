"""What the simulator finds on its first tick: the instances the factory already names, the last
PR number, the claim units free to take, and the agents the generator left working (a claim on
this host, a live pid, an open session whose last event is recent), each with the plan it carries
on from. Read once, with a :class:`~factory_tui.adapters.factory.FactoryReader`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo

from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import Config
from factory_tui.core.claims import ClaimFile
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fold import LogFold
from factory_tui.core.safe import plain_int
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo.playbook import (
    Agent,
    Ticket,
    is_available,
    live_start,
    resume_plan,
    ticket_of,
)

__all__ = ["FactoryStart", "Resumed", "read_start"]


@dataclass(frozen=True, slots=True)
class Resumed:
    """An agent the generator left working, as the simulator takes it over."""

    agent: Agent
    ticket: Ticket
    session_start: datetime | None
    """When its open session started (its transcript goes on from there)."""
    said: str


@dataclass(frozen=True, slots=True)
class FactoryStart:
    instances: frozenset[str]
    """Every instance the log or a claim names (a new agent takes another name)."""
    last_pr: int
    free: frozenset[str]
    """The keys of the units available at the start."""
    working: tuple[Resumed, ...]


def read_start(
    config: Config, *, hostname: str, tz: tzinfo, now: datetime, tick: int
) -> FactoryStart:
    """Read the factory's claims and log once, at ``now`` (naive, in ``tz``); the working agents
    act from ``tick`` on."""
    reader = FactoryReader(config, hostname=hostname)
    reader.refresh_claims()
    reader.refresh_log()
    fold = reader.fold
    instances = {*fold.instance_last_event, *fold.instance_sessions}
    prs = [n for s in fold.sessions if s.pr and (n := plain_int(s.pr)) is not None]
    claims = sorted(reader.claim_files(), key=lambda c: c.file)
    free: set[str] = set()
    for claim in claims:
        for unit in claim.units:
            if unit.owner:
                instances.add(unit.owner)
            if is_available(claim, unit):
                free.add(unit.key)
    working = _working(config, claims, fold, hostname=hostname, tz=tz, now=now, tick=tick)
    return FactoryStart(
        instances=frozenset(instances),
        last_pr=max(prs, default=400),
        free=frozenset(free),
        working=tuple(working),
    )


def _working(
    config: Config,
    claims: list[ClaimFile],
    fold: LogFold,
    *,
    hostname: str,
    tz: tzinfo,
    now: datetime,
    tick: int,
) -> Iterator[Resumed]:
    """The owners of a claim unit on this host whose process lives and whose session is open
    and not idle, one per owner, in claim file order."""
    seen: set[str] = set()
    for claim in claims:
        for unit in claim.units:
            owner = unit.owner
            if not owner or owner in seen or unit.completed_at or unit.pid is None:
                continue
            if not same_host(unit.hostname, hostname):
                continue
            started = live_start(unit.pid, unit.claimed_at, tz)
            if started is None:
                continue
            last_raw = fold.instance_last_event.get(owner)
            last = parse_ts(last_raw, tz) if last_raw else None
            if last is None or now - last > config.idle_after:
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
            worktree = config.root / ".worktrees" / owner
            agent = Agent(
                instance=owner,
                role="working",
                pid=unit.pid,
                started=started,
                process=None,
                worktree=worktree if worktree.is_dir() else None,
                plan=deque(plan),
                next_tick=tick,
                ticket=ticket,
                pr=plain_int(session.pr) if session.pr else None,
                claims=1,
                last_acted=last,
            )
            yield Resumed(
                agent,
                ticket,
                parse_ts(session.started_at, tz),
                f"{owner} carries on with {ticket.task} from {session.last_step or 'its start'}",
            )
