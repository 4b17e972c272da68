"""The fleet's verdicts, rule by rule (FORMATS.md: claims, stale claims, sessions and crashes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.fleet import Fleet, ProcInfo, derive_fleet, same_host
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import iter_lines

NOW = datetime(2026, 2, 16, 18, 0)
HOST = "macbook-pro"


def claim(obj: dict[str, Any], name: str = "C.json") -> ClaimFile:
    parsed, problems = parse_claim(name, json.dumps(obj).encode())
    assert parsed is not None, problems
    return parsed


def fold(*lines: str) -> LogFold:
    f = LogFold()
    f.feed_all(iter_lines([line.encode() for line in lines], "operations.log"))
    return f


def fleet(claims: list[ClaimFile], f: LogFold, procs: dict[int, ProcInfo] | None = None) -> Fleet:
    return derive_fleet(root="/r", now=NOW, hostname=HOST, claims=claims, fold=f, procs=procs or {})


def standalone(**over: Any) -> ClaimFile:
    base = {
        "ticket": "CAB-1",
        "title": "t",
        "owner": "t1-aaaa",
        "pid": 100,
        "hostname": "macbook-pro.local",
        "claimed_at": "2026-02-16T14:00",
        "branch": "fix/x",
        "completed_at": None,
    }
    base.update(over)
    return claim(base, "CAB-1.json")


OLD_START = "2026-02-16T13:00 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa"
RECENT_START = "2026-02-16T17:00 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa"
ALIVE = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 13, 59, 10))}


def state(f: Fleet) -> str:
    (view,) = f.claims
    return view.state


def test_all_three_conditions_make_a_claim_stale() -> None:
    f = fleet([standalone()], fold(OLD_START))
    assert state(f) == "stale"
    view = f.claims[0]
    assert [c.holds for c in view.conditions] == [True, True, True]
    assert "claimed 4h ago" in view.why and "pid 100 is not running" in view.why


@pytest.mark.parametrize(
    ("over", "lines", "procs", "failing"),
    [
        ({"claimed_at": "2026-02-16T16:30"}, [OLD_START], {}, "age"),
        ({}, [RECENT_START], {}, "log"),
        ({}, [OLD_START], ALIVE, "pid"),
    ],
    ids=["young-claim", "recent-session-start", "pid-alive"],
)
def test_each_condition_failing_alone_keeps_the_claim_claimed(
    over: dict[str, Any], lines: list[str], procs: dict[int, ProcInfo], failing: str
) -> None:
    f = fleet([standalone(**over)], fold(*lines), procs)
    assert state(f) == "claimed"
    view = f.claims[0]
    assert [c.name for c in view.conditions if not c.holds] == [failing]
    assert "not stale" in view.why


def test_reused_pid_counts_as_dead() -> None:
    reused = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 15, 0))}
    f = fleet([standalone()], fold(OLD_START), reused)
    assert state(f) == "stale"
    assert "reused pid" in f.claims[0].why


def test_pid_started_within_the_claims_minute_is_the_claimer() -> None:
    same_minute = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 14, 0, 40))}
    assert state(fleet([standalone()], fold(OLD_START), same_minute)) == "claimed"


def test_other_host_skips_the_pid_rule() -> None:
    remote = standalone(hostname="build-box-7")
    alive_here = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 13, 0))}
    f = fleet([remote], fold(OLD_START), alive_here)
    assert state(f) == "stale"
    assert "on host build-box-7: pid not checked" in f.claims[0].why


def test_same_host_matching() -> None:
    assert same_host("macbook-pro.local", "macbook-pro")
    assert same_host("MacBook-Pro", "macbook-pro.lan")
    assert same_host(None, "x")
    assert not same_host("other", "macbook-pro")


def test_missing_claimed_at_is_never_stale() -> None:
    f = fleet([standalone(claimed_at=None)], fold())
    assert state(f) == "claimed"
    assert "cannot be established" in f.claims[0].why


MEGA = {
    "mega": "CAB-1290",
    "title": "Gateway",
    "phases": [
        {"id": 1, "name": "API", "owner": None, "deps": [], "completed_at": "2026-02-16T15:00"},
        {"id": 2, "name": "UI", "owner": None, "deps": [1], "completed_at": None},
        {"id": 3, "name": "E2E", "owner": None, "deps": [1, 2], "completed_at": None},
        {
            "id": 4,
            "name": "Docs",
            "owner": "t2-bbbb",
            "pid": 5,
            "claimed_at": "2026-02-16T17:30",
            "hostname": HOST,
            "deps": [],
            "completed_at": None,
        },
    ],
}


def test_phase_states() -> None:
    f = fleet([claim(MEGA, "CAB-1290.json")], fold())
    states = {v.unit.phase: (v.state, v.unmet_deps) for v in f.claims}
    assert states == {
        1: ("done", ()),
        2: ("available", ()),
        3: ("blocked", (2,)),
        4: ("claimed", ()),
    }
    blocked = next(v for v in f.claims if v.unit.phase == 3)
    assert blocked.why == "waits for phase 2"


def test_crashed_session_when_no_end_and_pid_dead() -> None:
    f = fleet([standalone(claimed_at="2026-02-16T17:00")], fold(RECENT_START))
    (session,) = f.sessions
    assert session.status == "crashed"
    assert "has no SESSION-END" in session.why and "pid 100 is not running" in session.why
    (agent,) = f.instances
    assert agent.status == "crashed"


def test_running_session_when_pid_alive() -> None:
    procs = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 16, 59))}
    f = fleet(
        [standalone(claimed_at="2026-02-16T17:00")],
        fold(RECENT_START, "2026-02-16T17:55 | STEP-START | step=ci task=CAB-1"),
        procs,
    )
    (session,) = f.sessions
    assert session.status == "running"
    (agent,) = f.instances
    assert (agent.status, agent.step, agent.step_state) == ("working", "ci", "start")
    assert agent.alive is True and agent.pid == 100


def test_idle_agent_alive_but_silent() -> None:
    procs = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 16, 59))}
    f = fleet([standalone(claimed_at="2026-02-16T17:00")], fold(RECENT_START), procs)
    (agent,) = f.instances
    assert agent.status == "idle"
    assert "last event 1h ago" in agent.why


def test_ended_session_and_disagreement() -> None:
    f = fleet(
        [standalone(claimed_at="2026-02-16T17:00")],
        fold(RECENT_START, "2026-02-16T17:30 | SESSION-END | task=CAB-1 status=success pr=7"),
    )
    (session,) = f.sessions
    assert (session.status, session.end_status, session.pr) == ("ended", "success", "7")
    (agent,) = f.instances
    assert any("still owned" in c for c in agent.conflicts)


def test_recovered_session_closes_the_crashed_one() -> None:
    f = fleet(
        [standalone(claimed_at="2026-02-16T17:00")],
        fold(
            "2026-02-16T16:00 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa",
            "2026-02-16T17:00 | RECOVERY | task=CAB-1 action=resume from_step=code",
            "2026-02-16T17:01 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa recovered_from=CAB-1",
            "2026-02-16T17:02 | SESSION-END | task=CAB-1 status=crashed recovered_by=t1-aaaa",
        ),
        {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 16, 0))},
    )
    first, second = f.sessions
    assert (first.status, first.recovered_by) == ("ended", "t1-aaaa")
    assert (second.status, second.recovered_from) == ("running", "CAB-1")


def test_pid_alive_but_silent_for_hours_is_shown_as_conflict() -> None:
    procs = {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 9, 0))}
    f = fleet(
        [standalone(claimed_at="2026-02-16T10:00")],
        fold("2026-02-16T10:00 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa"),
        procs,
    )
    (agent,) = f.instances
    assert agent.status == "idle"
    assert any("pid alive but no log event for 8h" in c for c in agent.conflicts)


def test_json_shape() -> None:
    f = fleet([standalone()], fold(OLD_START))
    data = f.to_json()
    assert set(data) >= {"root", "generated_at", "instances", "sessions", "claims", "problems"}
    assert set(data["instances"][0]) >= {
        "id",
        "status",
        "host",
        "pid",
        "alive",
        "task",
        "branch",
        "step",
        "last_event_at",
        "claims",
        "why",
    }
    assert set(data["sessions"][0]) >= {
        "task",
        "instance",
        "branch",
        "status",
        "end_status",
        "started_at",
        "ended_at",
        "last_step",
        "pr",
        "checkpoint",
    }
    assert set(data["claims"][0]) >= {
        "id",
        "phase",
        "kind",
        "state",
        "owner",
        "pid",
        "host",
        "claimed_at",
        "tickets",
        "deps",
        "file",
        "why",
    }


def test_old_ended_sessions_are_not_listed_but_latest_per_task_is() -> None:
    lines = []
    start = NOW - timedelta(days=5)
    for i in range(50):
        t = start + timedelta(minutes=10 * i)
        lines.append(f"{t:%Y-%m-%dT%H:%M} | SESSION-START | task=T{i % 5} branch=b instance=t9")
        lines.append(f"{t:%Y-%m-%dT%H:%M} | SESSION-END | task=T{i % 5} status=success")
    f = fleet([], fold(*lines))
    assert sorted(s.task for s in f.sessions) == [f"T{i}" for i in range(5)]
