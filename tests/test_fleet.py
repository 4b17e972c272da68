"""The fleet's verdicts, rule by rule (FORMATS.md: claims, stale claims, sessions and crashes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.fleet import Fleet, ProcInfo, Settings
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fleet_derive import derive_fleet
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import iter_lines

NOW = datetime(2026, 2, 16, 18, 0)
HOST = "macbook-pro"
#: The claim tool's ``Z`` timestamps are read as UTC, whatever the machine's zone.
UTC_SETTINGS = Settings(tz=UTC)


def claim(obj: dict[str, Any], name: str = "C.json") -> ClaimFile:
    parsed, problems = parse_claim(name, json.dumps(obj).encode())
    assert parsed is not None, problems
    return parsed


def fold(*lines: str) -> LogFold:
    f = LogFold()
    f.feed_all(iter_lines([line.encode() for line in lines], "operations.log"))
    return f


def fleet(
    claims: list[ClaimFile],
    f: LogFold,
    procs: dict[int, ProcInfo] | None = None,
    now: datetime = NOW,
) -> Fleet:
    return derive_fleet(
        root="/r",
        now=now,
        hostname=HOST,
        claims=claims,
        fold=f,
        procs=procs or {},
        settings=UTC_SETTINGS,
    )


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


# -- real shapes and liveness from the agent's own evidence (issues #11, #16) ----------------------


def test_standalone_claim_session_without_phase() -> None:
    f = fleet(
        [standalone(claimed_at="2026-02-16T17:50")],
        fold(
            "2026-02-16T17:49 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa",
            "2026-02-16T17:50 | CLAIM | task=CAB-1 instance=t1-aaaa tickets=CAB-1",
        ),
        {100: ProcInfo(pid=100, started_at=datetime(2026, 2, 16, 17, 48))},
    )
    (view,) = f.claims
    assert (view.state, view.conflicts) == ("claimed", ())
    (agent,) = f.instances
    assert agent.claims == ("CAB-1",) and agent.status == "working"


def test_standalone_claim_lines_are_no_problem() -> None:
    f = fold(
        "2026-02-16T17:50 | CLAIM | task=CAB-1 instance=t1-aaaa tickets=CAB-1",
        "2026-02-16T17:55 | RELEASE | task=CAB-1 instance=t1-aaaa reason=done",
    )
    assert f.problems == []


def heg_claim(**over: Any) -> ClaimFile:
    """A standalone claim as the real claim tool (heg_state.py) writes it."""
    return claim(heg_json(**over), "CAB-1.json")


def heg_json(**over: Any) -> dict[str, Any]:
    """:func:`heg_claim`'s JSON object."""
    base: dict[str, Any] = {
        "ticket": "CAB-1",
        "title": "",
        "owner": "t1-aaaa",
        "pid": 100,
        "hostname": "macbook-pro",
        "claimed_at": "2026-02-16T17:00:42Z",
        "branch": "fix/x",
        "completed_at": None,
    }
    base.update(over)
    return base


def test_claim_tool_shapes() -> None:
    parsed, problems = parse_claim("CAB-1.json", json.dumps({**heg_json(), "title": ""}).encode())
    assert parsed is not None and problems == []
    # a "done" release keeps claimed_at, pid and hostname: it is done, not claimed or stale
    done = heg_claim(claimed_at="2026-02-16T10:00:05Z", completed_at="2026-02-16T11:00:00Z")
    f = fleet([done], fold())
    assert state(f) == "done"
    # MEGA phases without pid or hostname
    mega = claim(
        {
            "mega": "M",
            "title": "",
            "phases": [
                {"id": 1, "owner": "t1-aaaa", "claimed_at": "2026-02-16T17:30:00Z", "deps": []}
            ],
        },
        "M.json",
    )
    (view,) = fleet([mega], fold()).claims
    assert view.state == "claimed" and view.unit.claimed_at == "2026-02-16T17:30:00Z"


LONG_START = "2026-02-16T15:00 | SESSION-START | task=CAB-1 branch=fix/x instance=t1-aaaa"


def test_recent_event_keeps_a_dead_pid_session_running() -> None:
    """The claim tool's pid died at once; the instance logged a minute ago: it is running."""
    f = fleet(
        [heg_claim(claimed_at="2026-02-16T15:00:10Z")],
        fold(LONG_START, "2026-02-16T17:59 | STEP-DONE | step=code task=CAB-1"),
    )
    (session,) = f.sessions
    assert session.status == "running"
    assert "logged 1m ago" in session.why and "pid 100 is not running" in session.why
    (agent,) = f.instances
    assert agent.status == "working"
    (view,) = f.claims
    assert view.state == "claimed"
    assert [c.name for c in view.conditions if not c.holds] == ["log"]
    assert "event by t1-aaaa 1m ago" in view.why
    assert any("pid 100 is not running" in c and "logged 1m ago" in c for c in agent.conflicts)


def test_stale_rule_two_counts_any_event_by_the_instance() -> None:
    f = fleet([standalone()], fold(OLD_START, "2026-02-16T17:00 | STEP-DONE | step=ci task=CAB-1"))
    assert state(f) == "claimed"
    assert "event by t1-aaaa 1h ago" in f.claims[0].why


def test_an_audit_line_after_a_crash_is_not_activity() -> None:
    lines = (
        LONG_START,
        "2026-02-16T15:05 | STEP-DONE | step=code task=CAB-1",
        "2026-02-16T17:59 | RECOVERY | task=CAB-1 action=resume from_step=code by=dana",
        "2026-02-16T17:59 | STEP-DONE | step=merged task=CAB-1 pr=5 by=dana",
        "2026-02-16T17:59 | ERROR | task=CAB-1 error=merge-failed instance=t1-aaaa by=dana",
    )
    f = fleet([standalone(claimed_at="2026-02-16T15:00")], fold(*lines))
    (session,) = f.sessions
    assert session.status == "crashed" and session.last_event_at == "2026-02-16T15:05"
    (agent,) = f.instances
    assert agent.status == "crashed" and agent.last_event_at == "2026-02-16T15:05"
    assert "event by t1-aaaa 2h55m ago" in f.claims[0].why


def test_a_dead_pid_is_never_idle() -> None:
    # an ended session, a claim still owned and not stale, the pid dead: ended, not idle
    ended = fleet(
        [standalone(claimed_at="2026-02-16T17:00")],
        fold(RECENT_START, "2026-02-16T17:30 | SESSION-END | task=CAB-1 status=success"),
    )
    (agent,) = ended.instances
    assert agent.status == "ended" and agent.alive is False
    # no session at all, silent past the idle threshold: no sign of life
    silent = fleet(
        [standalone(claimed_at="2026-02-16T17:00")],
        fold("2026-02-16T17:00 | CLAIM | task=CAB-1 instance=t1-aaaa"),
    )
    (agent,) = silent.instances
    assert agent.status == "crashed" and "no sign of life" in agent.why
    assert "its pid is not running, yet its claim is not stale" in agent.conflicts


def test_release_in_the_log_while_the_file_names_the_owner() -> None:
    f = fleet(
        [heg_claim(claimed_at="2026-02-16T17:00:42Z")],
        fold(
            "2026-02-16T17:00 | CLAIM | task=CAB-1 instance=t1-aaaa",
            "2026-02-16T17:40 | RELEASE | task=CAB-1 instance=t1-aaaa reason=done",
        ),
    )
    (view,) = f.claims
    (conflict,) = view.conflicts
    assert "t1-aaaa logged RELEASE of CAB-1 at 2026-02-16T17:40 (operations.log:2" in conflict
    assert "still names t1-aaaa" in conflict and "conflict:" in view.why
    assert view.to_json()["conflicts"] == [conflict]
    (agent,) = f.instances
    assert conflict in agent.conflicts
    # a RELEASE older than the claim (an earlier claim's) is no conflict
    old = fleet(
        [heg_claim(claimed_at="2026-02-16T17:50:00Z")],
        fold("2026-02-16T17:40 | RELEASE | task=CAB-1 instance=t1-aaaa reason=done"),
    )
    assert old.claims[0].conflicts == ()


def two_phase_mega(owner1: str | None, owner2: str | None) -> ClaimFile:
    return claim(two_phase_mega_json(owner1, owner2), "M.json")


def two_phase_mega_json(owner1: str | None, owner2: str | None) -> dict[str, Any]:
    """:func:`two_phase_mega`'s JSON object."""

    def phase(n: int, owner: str | None) -> dict[str, Any]:
        return {
            "id": n,
            "name": f"P{n}",
            "owner": owner,
            "pid": 7 if owner else None,
            "claimed_at": "2026-02-16T17:58" if owner else None,
            "hostname": HOST if owner else None,
            "deps": [],
            "completed_at": None,
        }

    return {"mega": "M", "title": "m", "phases": [phase(1, owner1), phase(2, owner2)]}


TWO_CLAIMS = (
    "2026-02-16T17:58 | CLAIM | task=M phase=1 instance=t1-aaaa tickets=CAB-1",
    "2026-02-16T17:58 | CLAIM | task=M phase=2 instance=t2-bbbb tickets=CAB-2",
)


def test_lost_claim_two_agents_on_one_mega_file() -> None:
    """t2's rewrite of the whole file (its own phase's lock only) dropped t1's owner."""
    f = fleet([two_phase_mega(None, "t2-bbbb")], fold(*TWO_CLAIMS))
    phase1 = next(v for v in f.claims if v.unit.phase == 1)
    (conflict,) = phase1.conflicts
    assert conflict.startswith("lost claim: t1-aaaa logged CLAIM of M:1 at 2026-02-16T17:58")
    assert "(operations.log:1)" in conflict and "M.json names no owner" in conflict
    assert phase1.state == "available" and phase1.conflicts_about == ("t1-aaaa",)
    agent = next(i for i in f.instances if i.id == "t1-aaaa")
    assert conflict in agent.conflicts
    assert next(v for v in f.claims if v.unit.phase == 2).conflicts == ()
    # both written as they should: no conflict
    fine = fleet([two_phase_mega("t1-aaaa", "t2-bbbb")], fold(*TWO_CLAIMS))
    assert all(v.conflicts == () for v in fine.claims)
    assert not any(
        c.startswith(("lost", "overwritten")) for i in fine.instances for c in i.conflicts
    )
    # a RELEASE after the CLAIM closes it
    released = fleet(
        [two_phase_mega(None, "t2-bbbb")],
        fold(
            *TWO_CLAIMS, "2026-02-16T17:59 | RELEASE | task=M phase=1 instance=t1-aaaa reason=done"
        ),
    )
    assert all(v.conflicts == () for v in released.claims)


def test_a_claim_taken_over_with_no_release_between_is_a_conflict_on_the_first() -> None:
    f = fleet(
        [two_phase_mega("t2-bbbb", None)],
        fold(
            "2026-02-16T17:50 | CLAIM | task=M phase=1 instance=t1-aaaa",
            "2026-02-16T17:58 | CLAIM | task=M phase=1 instance=t2-bbbb",
        ),
    )
    phase1 = next(v for v in f.claims if v.unit.phase == 1)
    (conflict,) = phase1.conflicts
    assert "t1-aaaa logged CLAIM of M:1 at 2026-02-16T17:50 (operations.log:1)" in conflict
    assert "t2-bbbb claimed it at 2026-02-16T17:58 (operations.log:2)" in conflict
    assert phase1.conflicts_about == ("t1-aaaa",)
    first = next(i for i in f.instances if i.id == "t1-aaaa")
    assert conflict in first.conflicts
    second = next(i for i in f.instances if i.id == "t2-bbbb")
    assert conflict not in second.conflicts


def test_a_lost_claim_stays_lost_after_another_agent_claims_and_releases() -> None:
    """Seen in the stress test: t1's claim of M:1 was dropped by t2's rewrite of the file; t2
    then claimed M:1 itself and released it. t1 logged no RELEASE: it still believes it holds
    M:1, and the file names nobody — a lost claim of t1's, whatever came after it."""
    f = fleet(
        [two_phase_mega(None, None)],
        fold(
            "2026-02-16T17:50 | CLAIM | task=M phase=1 instance=t1-aaaa",
            "2026-02-16T17:52 | CLAIM | task=M phase=2 instance=t2-bbbb",
            "2026-02-16T17:55 | CLAIM | task=M phase=1 instance=t2-bbbb",
            "2026-02-16T17:56 | RELEASE | task=M phase=1 instance=t2-bbbb reason=done",
            "2026-02-16T17:57 | RELEASE | task=M phase=2 instance=t2-bbbb reason=done",
        ),
    )
    phase1 = next(v for v in f.claims if v.unit.phase == 1)
    (conflict,) = phase1.conflicts
    assert conflict.startswith("lost claim: t1-aaaa logged CLAIM of M:1 at 2026-02-16T17:50")
    assert phase1.conflicts_about == ("t1-aaaa",)
    assert conflict in next(i for i in f.instances if i.id == "t1-aaaa").conflicts
    assert next(v for v in f.claims if v.unit.phase == 2).conflicts == ()
    # factory-tui's release of t1's claim (an audit line naming the instance) closes it too
    closed = fleet(
        [two_phase_mega(None, None)],
        fold(
            "2026-02-16T17:50 | CLAIM | task=M phase=1 instance=t1-aaaa",
            "2026-02-16T17:58 | RELEASE | task=M phase=1 instance=t1-aaaa reason=stale by=dana",
        ),
    )
    assert all(v.conflicts == () for v in closed.claims)


def test_a_claim_lost_on_a_unit_someone_else_finished_is_shown_while_recent() -> None:
    """t1's claim was dropped, t2 claimed and finished the phase: t1 may still be working on it.
    Shown while t1's CLAIM is younger than the stale age; older, it is history."""
    raw = two_phase_mega_json(None, None)
    raw["phases"] = [{**raw["phases"][0], "completed_at": "2026-02-16T17:59"}, raw["phases"][1]]
    finished = claim(raw, "M.json")
    lines = (
        "2026-02-16T17:50 | CLAIM | task=M phase=1 instance=t1-aaaa",
        "2026-02-16T17:55 | CLAIM | task=M phase=1 instance=t2-bbbb",
        "2026-02-16T17:59 | RELEASE | task=M phase=1 instance=t2-bbbb reason=done",
    )
    f = fleet([finished], fold(*lines))
    phase1 = next(v for v in f.claims if v.unit.phase == 1)
    assert phase1.state == "done"
    (conflict,) = phase1.conflicts
    assert conflict.startswith("lost claim") and "t1-aaaa logged CLAIM of M:1" in conflict
    assert conflict in next(i for i in f.instances if i.id == "t1-aaaa").conflicts
    later = fleet([finished], fold(*lines), now=NOW + timedelta(hours=3))
    assert next(v for v in later.claims if v.unit.phase == 1).conflicts == ()


WAITS = "2026-02-16T17:10 | AGENT-WAITING | instance=t1-aaaa kind=permission_prompt detail=Bash"


def test_an_agent_waiting_for_the_engineer_is_alive_whatever_its_claims_pid() -> None:
    """Its hook said it waits (a permission prompt) and it has logged nothing since: it cannot
    log while it waits, so its silence past the idle threshold is no sign of death, and the
    claim tool's long-gone pid is only a conflict (FORMATS.md, "Sessions and crashes")."""
    from factory_tui.core.fleet_agents import with_agents

    lines = (RECENT_START, "2026-02-16T17:05 | STEP-DONE | step=code task=CAB-1", WAITS)
    f0 = fold(*lines)
    derived = fleet([standalone(claimed_at="2026-02-16T17:00")], f0)
    (session,) = derived.sessions
    assert session.status == "running"
    assert "waits for the engineer" in session.why and "pid 100 is not running" in session.why
    agents = with_agents(derived, {}, f0.agent_signals, NOW, UTC_SETTINGS.idle_after)
    (agent,) = agents.instances
    assert agent.status == "waiting" and "permission_prompt" in agent.why
    assert any("pid 100 is not running" in c and "waits" in c for c in agent.conflicts)
    assert agents.counts["agents_waiting"] == 1 and agents.counts["agents_crashed"] == 0
    # a turn that ended (Stop) waits for the next prompt the same way
    ended_turn = WAITS.replace("AGENT-WAITING", "AGENT-TURN-END").replace(
        " kind=permission_prompt detail=Bash", ""
    )
    f1 = fold(*lines[:2], ended_turn)
    turn = with_agents(
        fleet([standalone(claimed_at="2026-02-16T17:00")], f1),
        {},
        f1.agent_signals,
        NOW,
        UTC_SETTINGS.idle_after,
    )
    assert turn.instances[0].status == "waiting" and turn.sessions[0].status == "running"


def test_a_wait_answered_or_too_old_is_no_sign_of_life() -> None:
    claims = [standalone(claimed_at="2026-02-16T17:00")]
    # answered: the agent resumed, then fell silent past the idle threshold with its pid dead
    resumed = "2026-02-16T17:12 | AGENT-RESUMED | instance=t1-aaaa kind=prompt"
    answered = fleet(claims, fold(RECENT_START, WAITS, resumed))
    assert answered.sessions[0].status == "crashed"
    assert answered.instances[0].status == "crashed"
    # a wait older than the stale threshold: the protocol lets another agent take the claim
    later = NOW + UTC_SETTINGS.stale_after
    old = fleet(claims, fold(RECENT_START, WAITS), now=later)
    assert old.sessions[0].status == "crashed"
    assert "waits for the engineer" not in old.sessions[0].why
