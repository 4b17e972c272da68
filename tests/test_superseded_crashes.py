"""A crash its task moved on from long ago is history, not a session to recover: an open session
a later session of the same task superseded, silent since before the history window, is not
listed (a long history holds tens of thousands of them: status --json grew with the history).
A recent one, or one still its task's latest, is."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_recover import AGENT, CRASHED, NOW_S, WHO, Env, info_of, session_of
from test_recover import NOW as RNOW

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.recover import abandon, close_merged, resume
from factory_tui.actions.recovery_info import recovery_info
from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import load_config
from factory_tui.core.fleet import Fleet, Settings
from factory_tui.core.fleet_derive import FleetDeriver, derive_fleet
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_ended import LATE_ENDS
from factory_tui.core.fold_records import SessionRec
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 18, 0)
SETTINGS = Settings()


def at(hours_ago: float) -> str:
    return f"{NOW - timedelta(hours=hours_ago):%Y-%m-%dT%H:%M}"


def start(hours_ago: float, task: str, instance: str) -> str:
    return f"{at(hours_ago)} | SESSION-START | task={task} branch=fix/{task} instance={instance}"


def folded(lines: list[str]) -> LogFold:
    fold = LogFold()
    fold.feed_lines([line.encode() for line in lines], "operations.log")
    return fold


def derive(fold: LogFold, deriver: FleetDeriver | None = None) -> Fleet:
    how = deriver.derive if deriver is not None else derive_fleet
    return how(root="/r", now=NOW, hostname="h", claims=[], fold=fold, procs={}, settings=SETTINGS)


def listed(fleet: Fleet) -> list[tuple[str, str | None, str]]:
    return [(s.task, s.instance, s.status) for s in fleet.sessions]


def derived_in_batches(lines: list[str], cuts: list[int]) -> None:
    """The first ``lines`` up to the first cut derived, then the rest appended a batch at a time
    (from cut to cut), derived after each: each partial derive equals a full one."""
    bounds = [0, *sorted(min(cut, len(lines)) for cut in cuts), len(lines)]
    fold = folded(lines[: bounds[1]])
    deriver = FleetDeriver()
    derive(fold, deriver)
    for begin, end in pairwise(bounds[1:]):
        fold.feed_lines([line.encode() for line in lines[begin:end]], "operations.log", begin + 1)
        assert derive(fold, deriver) == derive(fold)


def partial_after(lines: list[str], line: str) -> Fleet:
    """``lines`` derived, then ``line`` appended and derived again: the partial derive it took,
    asserted equal to a full one."""
    fold = folded(lines)
    deriver = FleetDeriver()
    derive(fold, deriver)
    fold.feed_lines([line.encode()], "operations.log", len(lines) + 1)
    partial = derive(fold, deriver)
    assert deriver.partial_derives == 1 and partial == derive(fold)
    return partial


HISTORY = [
    # T1 crashed five days ago; a later session of T1 finished it: history.
    start(120, "T1", "t1-old"),
    start(100, "T1", "t1-new"),
    f"{at(99)} | SESSION-END | task=T1 status=success",
    # T2 crashed two hours ago and was started again: a recent crash, listed.
    start(2, "T2", "t2-old"),
    start(1, "T2", "t2-new"),
    # T3 crashed five days ago and nothing of T3 started since: still to recover.
    start(120, "T3", "t3-old"),
    # T4 crashed five days ago; its instance moved on to T5, but T4's latest is still this one.
    start(121, "T4", "t4-old"),
    start(119, "T5", "t4-old"),
    f"{at(118)} | SESSION-END | task=T5 status=success",
    # T6 crashed five days ago, was superseded, but logged a step within the window.
    start(120, "T6", "t6-old"),
    f"{at(3)} | STEP-DONE | task=T6 step=code instance=t6-old",
    start(110, "T6", "t6-new"),
]


def test_a_crash_its_task_moved_on_from_long_ago_is_not_listed() -> None:
    fleet = derive(folded(HISTORY))
    shown = listed(fleet)
    assert ("T1", "t1-old", "crashed") not in shown
    assert ("T1", "t1-new", "ended") in shown
    assert ("T2", "t2-old", "crashed") in shown
    assert ("T3", "t3-old", "crashed") in shown
    assert ("T4", "t4-old", "crashed") in shown
    assert ("T6", "t6-old", "crashed") in shown
    assert fleet.counts["sessions_crashed"] == sum(s[2] == "crashed" for s in shown)


def test_the_appended_start_that_supersedes_an_old_crash_drops_it_as_a_full_derive_does() -> None:
    fold = folded(HISTORY)
    deriver = FleetDeriver()
    before = derive(fold, deriver)
    assert ("T3", "t3-old", "crashed") in listed(before)
    fold.feed_lines([start(0.5, "T3", "t3-new").encode()], "operations.log", len(HISTORY) + 1)
    partial = derive(fold, deriver)
    assert deriver.partial_derives == 1
    assert partial == derive(fold)
    assert ("T3", "t3-old", "crashed") not in listed(partial)
    assert ("T3", "t3-new", "crashed") in listed(partial)


def test_status_json_and_its_gate_count_only_the_crashes_listed(tmp_path: Path) -> None:
    memory = tmp_path / ".factory" / "memory"
    memory.mkdir(parents=True)
    (tmp_path / "factory.toml").write_text('memory = ".factory/memory"\n')
    superseded = [start(120, "T1", "t1-old"), start(100, "T1", "t1-new")]
    superseded.append(f"{at(99)} | SESSION-END | task=T1 status=success")
    (memory / "operations.log").write_text("\n".join(superseded) + "\n")
    env = {**os.environ, "FACTORY_TUI_CACHE_DIR": str(tmp_path / "cache")}

    def run(command: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        argv = [sys.executable, "-m", "factory_tui", command, str(tmp_path), *args]
        argv += ["--now", f"{NOW:%Y-%m-%dT%H:%M}"]
        return subprocess.run(argv, capture_output=True, env=env, check=False)

    def gate() -> int:
        return run(
            "snapshot", "--output", str(tmp_path / "s.txt"), "--fail-on", "crashed"
        ).returncode

    done = run("status", "--json", "--no-cache")
    status = json.loads(done.stdout)
    assert [(s["task"], s["status"]) for s in status["sessions"]] == [("T1", "ended")]
    assert status["summary"]["sessions_crashed"] == 0
    assert gate() == 0
    # The same crash a day ago is still news: listed, and the gate fails on it.
    recent = [start(20, "T1", "t1-old"), start(10, "T1", "t1-new")]
    (memory / "operations.log").write_text("\n".join(recent) + "\n")
    status = json.loads(run("status", "--json", "--no-cache").stdout)
    assert status["summary"]["sessions_crashed"] == 2
    assert gate() == 1


# -- recovering a task with older sessions left open ---------------------------------------------
#
# A crashed SESSION-END of a task closes its oldest open session (FORMATS.md). The fleet no
# longer lists the old ones a later session superseded: a recovery of the crash it does list
# closes those first, each with its own line; one line alone would close the oldest, hidden
# one, and leave the crash the engineer chose open.


@pytest.fixture
def superseded(git_demo: DemoFactory, fake_bin: Path) -> Env:
    """The demo's crashed task with two sessions of it left open days before its crash (as
    test_recover's ``env``: the demo in git, the fakes first on PATH)."""
    cfg = load_config(git_demo.root, flags={}, env={}, user_config=git_demo.root / "none.toml")
    env = Env(git_demo, dataclasses.replace(cfg, agent_command=AGENT), fake_bin)
    lines = [
        f"2026-02-1{day}T09:00 | SESSION-START | task={CRASHED} branch=feat/{CRASHED} "
        f"instance=t1111{day}-dead"
        for day in (1, 2)
    ]
    env.log.write_text("\n".join(lines) + "\n" + env.log.read_text())
    return env


def _open_sessions(env: Env) -> list[str | None]:
    """The instances of the crashed task's sessions left open, oldest first."""
    reader = FactoryReader(env.cfg)
    reader.refresh_all()
    return [rec.instance for rec in reader.fold.open_by_task.get(CRASHED, [])]


def test_the_recovery_says_it_closes_the_older_sessions_left_open(superseded: Env) -> None:
    info = info_of(superseded)
    assert info.instance == superseded.instance("crashed") and info.superseded == 2
    plan = info.plan("resume", by=WHO, launch=False)
    assert f"SESSION-END | task={CRASHED} status=crashed recovered_by={WHO} (2x" in "\n".join(plan)
    assert any("2 older session(s) of this task were left open" in line for line in info.describe())


@pytest.mark.parametrize("how", ["resume", "abandon", "close-merged"])
def test_a_recovery_closes_the_older_sessions_left_open_then_the_crash(
    superseded: Env, how: str
) -> None:
    env = superseded
    assert len(_open_sessions(env)) == 3
    before = len(env.lines())
    if how == "resume":
        result = resume(env.cfg, CRASHED, now=RNOW, by=WHO, launch=False)
    elif how == "abandon":
        result = abandon(env.cfg, CRASHED, now=RNOW, reason="x", by=WHO)
    else:
        env.set_pr(377)
        env.gh_fixture({"377": {"state": "MERGED", "mergedAt": "2026-02-16T15:00:00Z"}})
        result = close_merged(env.cfg, CRASHED, now=RNOW, by=WHO)
    assert result.ok, result.message
    ends = [line for line in env.lines()[before:] if "| SESSION-END |" in line]
    older = f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed recovered_by={WHO}"
    assert len(ends) == 3 and ends[:2] == [older, older]
    assert list(result.log_lines[-3:]) == ends
    assert _open_sessions(env) == []
    assert session_of(env, CRASHED).status == "ended"


# -- the incremental derive against a full one, with sessions hidden and listed again -----------


def test_a_hidden_session_still_says_its_agent_moved_on() -> None:
    """I's session of T0 was superseded by its later session of T1, which a session of T1 by
    J then hid: T0's stays crashed (its agent moved on), in a full derive and a partial one,
    though I is alive by its log."""
    lines = [
        start(72, "T0", "I"),
        start(48, "T1", "I"),
        f"{at(0.2)} | AGENT-WAITING | instance=I kind=permission_prompt",
    ]
    partial = partial_after(lines, start(0.1, "T1", "J"))
    assert ("T0", "I", "crashed") in listed(partial) and ("T1", "I", "crashed") not in listed(
        partial
    )


@pytest.mark.parametrize(
    "tail",
    [
        # A recovery's first line closes the hidden oldest session: ended now, listed again.
        [f"{at(0.1)} | SESSION-END | task=T status=crashed recovered_by=dana"],
        # The newer one ends; a step of the task then lands on the old one: listed again.
        [f"{at(0.2)} | SESSION-END | task=T status=success", f"{at(0.1)} | STEP-DONE | task=T"],
    ],
    ids=["closed", "logging-again"],
)
def test_a_session_listed_again_takes_its_place_as_in_a_full_derive(tail: list[str]) -> None:
    fold = folded([start(50, "T", "old"), start(1, "T", "new")])
    deriver = FleetDeriver()
    assert [s.instance for s in derive(fold, deriver).sessions] == ["new"]
    fold.feed_lines([line.encode() for line in tail], "operations.log", 3)
    again = derive(fold, deriver)
    assert deriver.partial_derives == 1  # put in its place, not derived again in full
    assert again == derive(fold)
    assert [s.instance for s in again.sessions] == ["old", "new"]


def test_an_end_logged_late_with_an_older_time_hides_nothing_logged_before_it() -> None:
    """B's end, dated two days ago, is logged after A's of half an hour ago (another machine's
    clock, a time with a zone): A's session is still listed, by a full derive and a partial one
    (the walk back through the ends stopped at B's and left A's out of the full one)."""
    lines = [
        start(1, "A", "i1"),
        f"{at(0.5)} | SESSION-END | task=A status=success",
        start(50, "B", "i2"),
        f"{at(49)} | SESSION-END | task=B status=success",
    ]
    partial = partial_after(lines, start(0.2, "A", "i3"))
    assert listed(partial) == [("A", "i1", "ended"), ("B", "i2", "ended"), ("A", "i3", "running")]


def test_the_walk_back_through_the_ends_stops_after_late_ends_old_ones_in_a_row() -> None:
    """Past LATE_ENDS sessions in a row that ended before the window, the walk stops: a long
    history is not read back to its start at every derive."""
    old = [
        line
        for n in range(LATE_ENDS)
        for line in (start(60, f"O{n}", "o"), f"{at(59)} | SESSION-END | task=O{n} status=success")
    ]
    for gap, shown in ((old[:-2], True), (old, False)):
        lines = [start(2, "A", "i1"), f"{at(1)} | SESSION-END | task=A status=success"]
        lines += [*gap, start(0.5, "A", "i2")]
        assert (("A", "i1", "ended") in listed(derive(folded(lines)))) is shown


_LOG_LINE = st.one_of(
    st.builds(
        lambda h, t, i: f"{at(h)} | SESSION-START | task=t{t} branch=b instance=i{i}",
        st.sampled_from([0.1, 2, 30, 60, 100]),
        st.integers(0, 2),
        st.integers(0, 2),
    ),
    st.builds(
        lambda h, t, s: f"{at(h)} | SESSION-END | task=t{t} status={s}",
        st.sampled_from([0.1, 2, 30, 60]),
        st.integers(0, 2),
        st.sampled_from(["success", "crashed"]),
    ),
    st.builds(
        lambda h, t: f"{at(h)} | STEP-DONE | step=code task=t{t}",
        st.sampled_from([0.1, 2, 30]),
        st.integers(0, 2),
    ),
    st.builds(
        lambda h, i: f"{at(h)} | AGENT-WAITING | instance=i{i} kind=permission_prompt",
        st.sampled_from([0.05, 2]),
        st.integers(0, 2),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LOG_LINE, min_size=1, max_size=18),
    cuts=st.lists(st.integers(0, 18), min_size=1, max_size=3),
)
@pytest.mark.parametrize("in_time_order", [True, False])
def test_appended_lines_derive_as_a_full_derive_does(
    lines: list[str], cuts: list[int], in_time_order: bool
) -> None:
    """Random days of sessions over three tasks and three agents (some hidden, some listed
    again), in time order or as they came (lines logged late with older times), derived, then
    the rest appended a few lines at a time, derived after each: the same fleet as a full
    derive, in the same order."""
    if in_time_order:
        lines.sort(key=lambda line: line.split(" | ")[0])
    derived_in_batches(lines, cuts)


def test_an_appended_line_reads_only_the_open_sessions_it_touched() -> None:
    """The partial derive keeps each agent's open sessions up to date from the lines it reads:
    it never walks every open session of the fold (a long history holds ~16,000)."""
    fold = folded(HISTORY)
    deriver = FleetDeriver()
    derive(fold, deriver)
    fold.open_by_task = _Unwalkable(fold.open_by_task)
    fold.feed_lines([start(0.5, "T3", "t3-new").encode()], "operations.log", 20)
    partial = derive(fold, deriver)
    assert deriver.partial_derives == 1
    fold.open_by_task = dict(fold.open_by_task)
    assert partial == derive(fold)


class _Unwalkable(dict[str, list[SessionRec]]):
    """The fold's open sessions by task, which may be looked up by task but not walked."""

    def values(self) -> Any:
        raise AssertionError("every open session walked")

    def items(self) -> Any:
        raise AssertionError("every open session walked")

    def __iter__(self) -> Any:
        raise AssertionError("every open session walked")


def test_an_older_session_whose_agent_is_alive_refuses_the_recovery(superseded: Env) -> None:
    """An older session left open whose agent still logs: the recovery's first line would close
    its session (as when it was the one listed and recovered): refused, nothing written."""
    env = superseded
    live = "t11111-dead"  # the oldest session's instance, logging a minute ago
    with env.log.open("a") as log:
        log.write(f"2026-02-16T15:41 | STEP-DONE | step=code task=OTHER-1 instance={live}\n")
    before = env.snapshot()
    refused = recovery_info(env.cfg, CRASHED, now=RNOW)
    assert isinstance(refused, ActionResult) and refused.outcome is Outcome.REFUSED
    assert f"an older session of it left open (started 2026-02-11T09:00 by {live})" in (
        refused.message
    )
    assert f"{live} is alive: logged STEP-DONE 1m ago" in refused.message
    for result in (
        resume(env.cfg, CRASHED, now=RNOW, by=WHO, launch=False),
        abandon(env.cfg, CRASHED, now=RNOW, reason="x", by=WHO),
    ):
        assert result.outcome is Outcome.REFUSED and "an older session of it" in result.message
    assert env.snapshot() == before


def test_an_older_sessions_agent_alive_in_a_later_session_of_its_own_is_no_refusal(
    superseded: Env,
) -> None:
    """The oldest session's agent started another task since and works there: it left this
    session behind (its status is crashed), so the recovery closes it."""
    env = superseded
    moved = "t11111-dead"
    with env.log.open("a") as log:
        log.write(f"2026-02-16T15:00 | SESSION-START | task=OTHER-1 branch=b instance={moved}\n")
        log.write(f"2026-02-16T15:41 | STEP-DONE | step=code task=OTHER-1 instance={moved}\n")
    info = info_of(env)
    assert info.superseded == 2
    result = resume(env.cfg, CRASHED, now=RNOW, by=WHO, launch=False)
    assert result.ok, result.message
    assert _open_sessions(env) == []
