"""The demo's live simulator: strict files, the lock protocol, a crash, a silent agent, releases."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import atomic_write, claim_lock
from factory_tui.adapters.transcripts import CostTracker
from factory_tui.config import Config, encode_project_path, load_config
from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
    dump_claim,
    parse_claim,
    release_fields,
    update_unit,
)
from factory_tui.core.cost_report import CostReport
from factory_tui.core.fleet import Fleet, Settings
from factory_tui.core.oplog import Event, format_event, missing_fields, parse_line
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo import (
    DemoFactory,
    generate_demo,
    simulate,
    simulate_claims,
    stop_demo_processes,
)
from factory_tui.demo.live_transcript import LiveTranscript, StepWork
from factory_tui.demo.simulate import Simulator

HOST = "sim-host.local"
STRICT_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\Z")
STUB = "factory_tui.demo.agent_stub"
#: Enough ticks for the crash (~tick 20), two releases (~tick 35-45) and some of the next ticket.
TICKS = 60


class Clock:
    """A clock the test moves: two seconds a tick, like the real loop at speed 1."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 2.0) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    factory: DemoFactory
    config: Config
    clock: Clock
    sim: Simulator
    said: list[str]
    log_start: int
    """How many operations.log lines the generator wrote (the simulator's come after)."""

    def step(self, n: int = 1) -> list[str]:
        out: list[str] = []
        for _ in range(n):
            out += self.sim.step()
            self.clock.advance()
        self.said += out
        return out

    def new_lines(self, name: str = "operations.log") -> list[str]:
        lines = (self.factory.memory_dir / name).read_text(encoding="utf-8").splitlines()
        return lines[self.log_start :] if name == "operations.log" else lines

    def new_events(self) -> list[Event]:
        events = []
        for number, line in enumerate(self.new_lines(), start=self.log_start + 1):
            parsed = parse_line(line, number, "operations.log")
            assert isinstance(parsed, Event), f"operations.log:{number}: {parsed}"
            events.append(parsed)
        return events

    def fleet(self, now: datetime | None = None, idle_after: timedelta | None = None) -> Fleet:
        reader = FactoryReader(self.config, hostname=HOST)
        reader.refresh_all()
        settings = Settings(idle_after=idle_after) if idle_after else None
        return reader.fleet(now or self.clock.now, settings=settings)

    def cost(self, tracker: CostTracker) -> CostReport:
        """The spend by agent, all time, as ``tracker`` reads the factory now."""
        reader = FactoryReader(self.config, hostname=HOST)
        reader.refresh_all()
        tracker.refresh(reader)
        return tracker.ledger.report("agent")

    def transcripts(self) -> dict[Path, bytes]:
        """Every transcript file of the demo (its agents' Claude Code sessions) and its bytes."""
        projects = self.config.claude_config_dir / "projects"
        return {path: path.read_bytes() for path in sorted(projects.glob("**/*.jsonl"))}

    def transcripts_of(self, instance: str) -> dict[Path, bytes]:
        """The transcripts of an agent that ran in its worktree (``.worktrees/<instance>``)."""
        folder = encode_project_path(self.factory.root / ".worktrees" / instance)
        return {p: b for p, b in self.transcripts().items() if p.parent.name == folder}


def _stub_pids(root: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if STUB in cmdline and str(root) in cmdline and proc.info["status"] != "zombie":
            found.append(proc.pid)
    return found


def _make(tmp: Path, *, live: bool, seed: int = 7, start: datetime | None = None) -> World:
    start = start or datetime.now()
    factory = generate_demo(
        tmp / "factory",
        now=start,
        hostname=HOST,
        start_processes=live,
        seed=seed,
        transcripts=True,  # as `factory-tui demo` makes it: its agents' spend is inside it
    )
    config = load_config(factory.root, env={}, user_config=tmp / "no-user-config.toml")
    clock = Clock(start)
    sim = Simulator(factory.root, seed=seed, clock=clock, hostname=HOST, config=config)
    lines = (factory.memory_dir / "operations.log").read_text().splitlines()
    return World(factory, config, clock, sim, [], len(lines))


@dataclass
class Played:
    """One live demo played for TICKS ticks, shared by the tests that only look at the result:
    claim writes were recorded with the lock directories present at that moment, and a reader
    thread parsed every claim and checkpoint file, and checked the log, all along."""

    world: World
    writes: list[tuple[str, list[str]]]
    before: Fleet
    bad_reads: list[str]
    reads: int
    transcripts_before: dict[Path, bytes]
    cost_before: CostReport
    cost_after: CostReport
    """Read by the same tracker as cost_before, incrementally (as the cockpit does)."""
    tracker: CostTracker


def _reader(world: World, done: threading.Event, bad: list[str], counter: list[int]) -> None:
    folders = (world.config.claims_dir, world.config.checkpoints_dir)
    while not done.is_set():
        for folder in folders:
            for path in folder.glob("*.json"):
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue  # a checkpoint deleted after its merge
                counter[0] += 1
                try:
                    json.loads(data)
                except ValueError as error:
                    bad.append(f"{path.name}: {error}: {data[-40:]!r}")
        text = world.config.log_file.read_bytes()
        if not text.endswith(b"\n") and not _completes(world.config.log_file, len(text)):
            bad.append(f"operations.log ends mid-line: {text[-60:]!r}")
        # Transcripts are not checked here: a line of one (often over a page) is one write(),
        # but a concurrent read can see half of it on Linux, as with Claude Code's own files;
        # the transcript reader holds a partial last line until its newline arrives.


def _completes(log: Path, size: int) -> bool:
    """Whether the log's line cut at ``size`` is whole when read again at once: a line is one
    ``write``, but a read beside it can see part of it on Linux (a write crossing a page is
    copied a page at a time: once in 1,800 tests here, a 60-byte line). A line left half
    written stays so."""
    for _ in range(1000):
        data = log.read_bytes()
        if b"\n" in data[size:]:
            return True
    return False


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    w = _make(tmp_path_factory.mktemp("played"), live=True)
    writes: list[tuple[str, list[str]]] = []

    def spy(path: Path, data: bytes) -> None:
        if path.parent == w.config.claims_dir:
            held = sorted(p.name for p in path.parent.glob("*.lock"))
            writes.append((path.stem, held))
        atomic_write(path, data)

    bad: list[str] = []
    counter = [0]
    done = threading.Event()
    thread = threading.Thread(target=_reader, args=(w, done, bad, counter))
    tracker = CostTracker(w.config)
    try:
        before = w.fleet()
        transcripts = w.transcripts()
        cost_before = w.cost(tracker)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(simulate_claims, "atomic_write", spy)
            thread.start()
            try:
                w.step(TICKS)
            finally:
                done.set()
                thread.join()
        cost_after = w.cost(tracker)
        yield Played(
            w, writes, before, bad, counter[0], transcripts, cost_before, cost_after, tracker
        )
    finally:
        tracker.close()
        w.sim.close()
        stop_demo_processes(w.factory)
    assert _stub_pids(w.factory.root) == [], "stub processes left behind"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh demo factory (no live generator stubs) and a simulator on it."""
    w = _make(tmp_path, live=False)
    try:
        yield w
    finally:
        w.sim.close()
    assert _stub_pids(w.factory.root) == [], "stub processes left behind"


def _claims(config: Config) -> list[ClaimFile]:
    out = []
    for path in sorted(config.claims_dir.glob("*.json")):
        claim, problems = parse_claim(str(path), path.read_bytes())
        assert problems == [], problems
        assert claim is not None
        out.append(claim)
    return out


def _unit_of(config: Config, task: str, phase: str) -> ClaimUnit:
    for claim in _claims(config):
        for unit in claim.units:
            wanted = "-" if unit.phase is None else str(unit.phase)
            if unit.claim_id == task and wanted == phase:
                return unit
    raise AssertionError(f"no claim unit {task} phase {phase}")


# -- the files stay strict -----------------------------------------------------------------------


def test_claims_and_log_lines_stay_strict(played: Played) -> None:
    world = played.world
    _claims(world.config)  # every claim file parses without a problem
    events = world.new_events()
    assert len(events) > 60
    for name in ("operations.log", "metrics.log"):
        for line in world.new_lines(name):
            parsed = parse_line(line, 1, name)
            assert isinstance(parsed, Event), line
            assert missing_fields(parsed) == (), line
            assert STRICT_TS.match(parsed.ts), line
            assert format_event(parsed.ts, parsed.name, parsed.fields.items()) == line
    assert world.fleet().problems == ()
    # Steps follow the usual order within each session.
    last: dict[str, int] = {}
    for event in events:
        task = event.fields.get("task", "")
        if event.name == "SESSION-START":
            last[task] = -1
        elif event.name in ("STEP-START", "STEP-DONE"):
            index = step_index(event.fields["step"])
            assert index is not None and index >= last.get(task, -1), event
            last[task] = index


def test_every_claim_is_written_under_its_lock(played: Played) -> None:
    world, writes = played.world, played.writes
    assert writes
    for stem, held in writes:
        assert len(held) == 1 and (
            held[0] == f"{stem}.lock" or held[0].startswith(f"{stem}-phase-")
        )
    claims = [e for e in world.new_events() if e.name in ("CLAIM", "RELEASE")]
    assert {e.name for e in claims} == {"CLAIM", "RELEASE"}
    for event in claims:
        task, phase = event.fields["task"], event.fields["phase"]
        lock = f"{task}.lock" if phase == "-" else f"{task}-phase-{phase}.lock"
        assert (task, [lock]) in writes, event
    assert list(world.config.claims_dir.glob("*.lock")) == []
    # A claimed unit names the claimer and its live pid, claimed no earlier than its start.
    for event in claims:
        if event.name == "CLAIM":
            instance = event.fields["instance"]
            pid = world.sim.pids.get(instance)
            if pid is None:
                continue
            unit = _unit_of(world.config, event.fields["task"], event.fields["phase"])
            if unit.owner == instance:
                assert unit.pid == pid and unit.hostname == HOST


def test_a_held_lock_makes_the_agent_wait_and_retry(world: World) -> None:
    w = world
    sleeps: list[float] = []
    sim = Simulator(
        w.factory.root, clock=w.clock, hostname=HOST, config=w.config, sleep=sleeps.append
    )
    lock = w.config.claims_dir / "CAB-1290-phase-5.lock"
    lock.mkdir()
    try:
        said = sim.step() + sim.step()  # tick 2: the crasher goes for phase 5
        assert any("CAB-1290-phase-5.lock is held; retries" in line for line in said)
        assert sleeps == [0.2, 0.2, 0.2]
        assert _unit_of(w.config, "CAB-1290", "5").owner is None
        lock.rmdir()
        said = sim.step()
        assert any("claims CAB-1290:5" in line for line in said)
        assert _unit_of(w.config, "CAB-1290", "5").owner in sim.pids
        assert not lock.exists()
    finally:
        sim.close()


# -- what the engineer sees ----------------------------------------------------------------------


def test_one_agent_crashes_with_a_checkpoint_and_a_dead_pid(played: Played) -> None:
    world = played.world
    crasher = next(i for i, role in world.sim.agents.items() if role == "crasher")
    pid = world.sim.pids[crasher]
    assert not psutil.pid_exists(pid)
    events = world.new_events()
    starts = [e for e in events if e.name == "SESSION-START" and e.get("instance") == crasher]
    assert len(starts) == 1
    task = starts[0].fields["task"]
    assert not any(e.name == "SESSION-END" and e.get("task") == task for e in events)
    checkpoints = [e for e in events if e.name == "CHECKPOINT" and e.get("task") == task]
    assert len(checkpoints) == 1
    file = world.config.checkpoints_dir / checkpoints[0].fields["file"]
    data = json.loads(file.read_bytes())
    assert data["task"] == task and data["pr_number"] and data["steps_remaining"][0] == "merged"
    claim = next(e for e in events if e.name == "CLAIM" and e.get("instance") == crasher)
    unit = _unit_of(world.config, claim.fields["task"], claim.fields["phase"])
    assert unit.owner == crasher and unit.pid == pid
    # The branch is real, so a resume can check it out.
    branch = starts[0].fields["branch"]
    subprocess.run(
        ["git", "rev-parse", "--verify", f"refs/heads/{branch}"],
        cwd=world.factory.root,
        check=True,
        capture_output=True,
    )


def test_prs_merges_and_a_release_with_reason_done(played: Played) -> None:
    world = played.world
    events = world.new_events()
    before = [
        int(e.fields["pr"])
        for e in parse_all(world.factory.memory_dir / "operations.log")[: world.log_start]
        if e.get("pr")
    ]
    prs = [e for e in events if e.name == "STEP-DONE" and e.get("step") == "pr-created"]
    assert len(prs) >= 3
    assert all(int(e.fields["pr"]) > max(before) and e.get("branch") for e in prs)
    releases = [e for e in events if e.name == "RELEASE"]
    assert releases and all(e.fields["reason"] == "done" for e in releases)
    for release in releases:
        instance, task = release.fields["instance"], release.fields["task"]
        ends = [e for e in events if e.name == "SESSION-END" and e.get("status") == "success"]
        assert ends
        unit = _unit_of(world.config, task, release.fields["phase"])
        assert unit.completed_at is not None
        assert unit.owner != instance or unit.completed_at
    # The phase the generator's working agent held is completed by it.
    phase2 = _unit_of(world.config, "CAB-1290", "2")
    assert phase2.completed_at is not None and phase2.owner is None and phase2.pid is None
    # Checkpoints written before merges are deleted after them (the crasher's stays).
    merged = {
        e.fields["task"] for e in events if e.name == "STEP-DONE" and e.get("step") == "merged"
    }
    left = {json.loads(p.read_bytes())["task"] for p in world.config.checkpoints_dir.glob("*.json")}
    assert merged and not merged & left
    metrics = [parse_line(line, 1, "metrics.log") for line in world.new_lines("metrics.log")]
    names = {m.name for m in metrics if isinstance(m, Event)}
    assert {"PHASE-CLAIMED", "PHASE-COMPLETED", "PR-MERGED", "TOKEN-SPEND"} <= names


def parse_all(path: Path) -> list[Event]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parsed = parse_line(line, number, path.name)
        assert isinstance(parsed, Event)
        out.append(parsed)
    return out


def test_the_fleet_shows_a_crash_progress_and_a_silent_agent(played: Played) -> None:
    world, first = played.world, played.before
    working = next(i for i, r in world.factory.instances.items() if r == "working")
    at_start = next(v for v in first.instances if v.id == working)
    fleet = world.fleet()
    roles = world.sim.agents
    crasher = next(i for i, r in roles.items() if r == "crasher")
    silent = next(i for i, r in roles.items() if r == "silent")
    worker = next(i for i, r in roles.items() if r == "worker")
    by_id = {v.id: v for v in fleet.instances}
    # Just after the crash its last line is recent: on that evidence it still runs (FORMATS.md,
    # change 4), and the dead pid is a conflict; silent past the idle threshold, it crashed.
    # (Log times have minute precision: its last line may already be past the threshold.)
    assert by_id[crasher].status in ("working", "crashed")
    if by_id[crasher].status == "working":
        assert any("not running" in c for c in by_id[crasher].conflicts), by_id[crasher]
    later_fleet = world.fleet(world.clock.now + world.config.idle_after + timedelta(minutes=1))
    assert {v.id: v for v in later_fleet.instances}[crasher].status == "crashed"
    crashed = [s for s in later_fleet.sessions if s.status == "crashed" and s.instance == crasher]
    assert len(crashed) == 1 and crashed[0].checkpoint is not None and crashed[0].pr
    assert "has no SESSION-END" in crashed[0].why and "not running" in crashed[0].why
    assert by_id[worker].status == "working" and by_id[worker].alive
    assert by_id[working].status == "working"
    # Silent: alive, not idle yet a minute after its last event (the demo's factory.toml says
    # idle_after = "2m", and 60 ticks are two minutes: judged now, it may already be idle).
    last = parse_ts(by_id[silent].last_event_at or "")
    assert last is not None and by_id[silent].alive
    soon = {v.id: v for v in world.fleet(last + timedelta(minutes=1)).instances}
    assert soon[silent].status == "working"
    assert fleet.counts["claims_done"] > first.counts["claims_done"]
    assert fleet.counts["sessions_ended"] > first.counts["sessions_ended"]
    assert at_start.session is not None and at_start.session.task == "CAB-1352-traceparent"
    assert any(
        s.instance == working and s.task == "CAB-1352-traceparent" and s.end_status == "success"
        for s in fleet.sessions
    )
    # Silent: alive, no events; past the idle threshold it is idle (demo: idle_after = "2m").
    later = world.clock.now + timedelta(minutes=3)
    quiet = {v.id: v for v in world.fleet(later, idle_after=timedelta(minutes=2)).instances}
    assert quiet[silent].status == "idle" and quiet[silent].alive


def test_the_engineer_releasing_claims_is_seen_by_the_agents(world: World) -> None:
    world.step(12)
    roles = world.sim.agents
    worker = next(i for i, r in roles.items() if r == "worker")
    crasher = next(i for i, r in roles.items() if r == "crasher")
    lost: dict[str, str] = {}
    # The engineer releases the worker's and the crasher's claims, and the stale claim, under
    # the lock as the cockpit does.
    for claim in _claims(world.config):
        for unit in claim.units:
            if unit.owner in (worker, crasher) or unit.claim_id == "CAB-1302":
                with claim_lock(world.config.claims_dir, unit.lock_name):
                    raw = json.loads(Path(claim.file).read_bytes())  # re-read under the lock
                    new = update_unit(raw, unit.phase, release_fields())
                    atomic_write(Path(claim.file), dump_claim(new))
                if unit.owner in (worker, crasher):
                    lost[unit.owner] = unit.key
    assert set(lost) == {worker, crasher}
    said = world.step(90)
    for instance, key in lost.items():
        assert any(f"{instance} lost {key}" in line for line in said)
    events = world.new_events()
    ends = [e for e in events if e.name == "SESSION-END" and e.get("status") == "paused"]
    assert len(ends) == 2
    assert sum(e.name == "ERROR" and e.get("error") == "claim-lost" for e in events) == 2
    # The crasher lost its claim before it could crash; its phase, freed, is taken again, and
    # so is the stale ticket the engineer released.
    assert crasher not in {v.id for v in world.fleet().instances if v.status == "crashed"}
    for task, phase in (("CAB-1290", "5"), ("CAB-1302", "-")):
        taken = [
            e
            for e in events
            if e.name == "CLAIM" and e.get("task") == task and e.get("phase") == phase
        ]
        assert taken and taken[-1].fields["instance"] == worker, (task, phase)
        unit = _unit_of(world.config, task, phase)
        assert unit.owner == worker or unit.completed_at
    assert list(world.config.claims_dir.glob("*.lock")) == []
    # CAB-1302's branch is still checked out in its crashed agent's worktree: the worker that
    # took the ticket cannot switch to it, and must not commit its work on another branch.
    _assert_own_branches(world)


def test_an_unexpected_error_stops_run_quietly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    world.step(3)
    assert world.sim.pids
    monkeypatch.setattr(world.sim, "step", broken)
    world.sim.run(threading.Event(), max_seconds=5)
    assert world.sim.error == "the simulator stopped: RuntimeError: boom"
    assert _stub_pids(world.factory.root) == []


# -- the agents spend: their transcripts grow --------------------------------------------------


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    assert data == b"" or data.endswith(b"\n"), data[-80:]
    return [json.loads(line) for line in data.splitlines()]


def _responses(data: bytes) -> list[dict[str, Any]]:
    """The lines that count (FORMATS.md, Cost): assistant lines with usage."""
    return [
        line
        for line in _json_lines(data)
        if line["type"] == "assistant" and "usage" in line["message"]
    ]


def _key(line: dict[str, Any]) -> tuple[str, str]:
    """A response is counted once by its message id (a subagent's replay has a new requestId)."""
    return "message", line["message"]["id"]


def test_working_agents_transcripts_grow_by_whole_lines(played: Played) -> None:
    world, before = played.world, played.transcripts_before
    after = world.transcripts()
    for path, data in before.items():  # appended to, never rewritten
        assert after[path].startswith(data), path
    working = next(i for i, r in world.factory.instances.items() if r == "working")
    worker = next(i for i, r in world.sim.agents.items() if r == "worker")
    branches = {
        (e.fields["instance"], e.fields["branch"])
        for e in world.new_events()
        if e.name == "SESSION-START"
    }
    branches |= {(working, "feat/CAB-1352-traceparent")}
    for instance in (working, worker):
        tree = str(world.factory.root / ".worktrees" / instance)
        grown = {
            path: data[len(before.get(path, b"")) :]
            for path, data in world.transcripts_of(instance).items()
            if len(data) > len(before.get(path, b""))
        }
        assert len(grown) >= 2, instance  # its ticket's session, then the next one's
        for path, new in grown.items():
            lines = _json_lines(new)  # whole lines only
            assert {line["type"] for line in lines} == {"user", "assistant"}
            assert len(_responses(new)) >= 3
            for line in lines:
                assert line["sessionId"] == path.stem and line["cwd"] == tree
                assert (instance, line["gitBranch"]) in branches
            # One conversation, in time order, up to the simulator's clock.
            whole = _json_lines(after[path])
            assert [line["parentUuid"] for line in whole[1:]] == [
                line["uuid"] for line in whole[:-1]
            ]
            times = [parse_ts(line["timestamp"]) or datetime.min for line in whole]
            assert datetime.min not in times and times == sorted(times)
            assert times[-1] <= world.clock.now


def test_the_cost_tracker_counts_the_new_spend_once(played: Played) -> None:
    world, before = played.world, played.transcripts_before
    roles = world.sim.agents
    working = next(i for i, r in world.factory.instances.items() if r == "working")
    worker = next(i for i, r in roles.items() if r == "worker")
    crasher = next(i for i, r in roles.items() if r == "crasher")
    old, new = played.cost_before.by, played.cost_after.by
    assert new[working].usd > old[working].usd + 0.1
    assert worker not in old and new[worker].usd > 0.1
    assert crasher not in old and new[crasher].usd > 0
    # The new lines: streamed responses are written twice with the same ids ...
    outputs: dict[tuple[str, str], list[int]] = {}
    for path, data in world.transcripts().items():
        for line in _responses(data[len(before.get(path, b"")) :]):
            outputs.setdefault(_key(line), []).append(line["message"]["usage"]["output_tokens"])
    streamed = [key for key, seen in outputs.items() if len(seen) > 1]
    assert len(outputs) > 50 and len(streamed) >= 5
    assert all(seen[0] < seen[-1] for seen in (outputs[key] for key in streamed))
    # ... and counted once, from the full line, for the agent whose session it was.
    records = {
        record.key: (record, how, usd) for record, how, usd in played.tracker.ledger.records()
    }
    every = {_key(line) for data in world.transcripts().values() for line in _responses(data)}
    assert set(records) == every
    for key, seen in outputs.items():
        record, how, usd = records[key]
        assert record.usage.output_tokens == max(seen) and usd is not None and usd > 0
        assert how.agent in (working, *roles), (key, how)
    added = sum(records[key][2] or 0.0 for key in outputs)
    assert played.cost_after.total.usd - played.cost_before.total.usd == pytest.approx(added)
    # Read afresh, all at once, the factory says the same as the tracker that tailed it.
    fresh = CostTracker(world.config)
    try:
        again = world.cost(fresh)
    finally:
        fresh.close()
    # (Summed in another order: equal to the last float bits, not always rounded alike.)
    assert {k: b.usd for k, b in again.by.items()} == pytest.approx(
        {k: b.usd for k, b in new.items()}, rel=1e-12
    )


def test_crashed_and_silent_agents_stop_spending(world: World) -> None:
    w = world
    crashed_at = None
    for _ in range(40):
        at = w.clock.now
        if any("CRASHES" in line for line in w.step()):
            crashed_at = at
            break
    assert crashed_at is not None and any("goes silent" in line for line in w.said)
    roles = w.sim.agents
    crasher, silent, worker = (next(i for i, r in roles.items() if r == role)
                               for role in ("crasher", "silent", "worker"))  # fmt: skip
    crashed, quiet, working = (w.transcripts_of(i) for i in (crasher, silent, worker))
    for files in (crashed, quiet, working):  # they spent while they worked
        assert files and all(_responses(data) for data in files.values())
    last = max(parse_ts(line["timestamp"]) or datetime.min
               for data in crashed.values() for line in _json_lines(data))  # fmt: skip
    assert last <= crashed_at
    w.step(15)
    assert w.transcripts_of(crasher) == crashed
    assert w.transcripts_of(silent) == quiet
    assert w.transcripts_of(worker) != working  # the others go on


def test_a_live_transcript_continues_its_session_file(tmp_path: Path) -> None:
    start = datetime(2026, 2, 16, 15, 0)
    work = [StepWork("done" if n % 3 else "start", "code", "src/app.py") for n in range(12)]

    def play(folder: str, seed: int, steps: list[StepWork], since: datetime) -> LiveTranscript:
        live = LiveTranscript(tmp_path / folder, instance="t1-aaaa", task="CAB-1-x",
                              branch="feat/CAB-1-x", start=start, cwd=tmp_path / "repo",
                              seed=seed)  # fmt: skip
        for n, what in enumerate(steps):
            live.work(since + timedelta(seconds=4 * n), since + timedelta(seconds=4 * n + 4), what)
        return live

    first = play("claude", 1, work[:6], start)
    data = first.path.read_bytes()
    lines = _json_lines(data)
    assert lines[0]["type"] == "user" and lines[0]["parentUuid"] is None
    # Another simulator on the same session (a restart) continues the conversation.
    second = play("claude", 1, work[6:], start + timedelta(seconds=24))
    assert second.path == first.path
    more = _json_lines(first.path.read_bytes()[len(data) :])
    assert more[0]["parentUuid"] == lines[-1]["uuid"]
    assert (parse_ts(more[0]["timestamp"]) or datetime.min) > (
        parse_ts(lines[-1]["timestamp"]) or datetime.max
    )
    context = _responses(data)[-1]["message"]["usage"]["cache_read_input_tokens"]
    assert (
        _responses(first.path.read_bytes()[len(data) :])[0]["message"]["usage"][
            "cache_read_input_tokens"
        ]
        > context
    )
    # The same seed and times give the same bytes; another seed other ones.
    again = play("again", 1, work[:6], start)
    assert again.path != first.path and again.path.read_bytes() == data
    assert play("other", 2, work[:6], start).path.read_bytes() != data


def test_no_transcript_is_written_outside_the_demo(tmp_path: Path) -> None:
    """A factory whose Claude folder is not its own (a real ~/.claude): no transcript lines."""
    factory = generate_demo(tmp_path / "factory", now=datetime.now(), hostname=HOST,
                            start_processes=False)  # fmt: skip
    claude = tmp_path / "claude"
    config = load_config(factory.root, env={"CLAUDE_CONFIG_DIR": str(claude)},
                         user_config=tmp_path / "no-user-config.toml")  # fmt: skip
    assert config.claude_config_dir == claude
    clock = Clock(factory.now)
    with Simulator(factory.root, clock=clock, hostname=HOST, config=config) as sim:
        said: list[str] = []
        for _ in range(12):
            said += sim.step()
            clock.advance()
    assert any("claims" in line for line in said)
    assert not claude.exists()


# -- concurrency, determinism, the loop ----------------------------------------------------------


def test_a_concurrent_reader_never_sees_a_partial_file(played: Played) -> None:
    assert played.bad_reads == []
    assert played.reads > 100


def test_same_seed_same_actions(tmp_path: Path) -> None:
    """Same factory, seed and clock: the same lines, byte for byte (real commits included)."""
    start = datetime(2026, 2, 16, 15, 42, 30)
    runs = []
    for name in ("a", "b"):
        w = _make(tmp_path / name, live=False, start=start)
        made = len(w.transcripts())
        try:
            w.step(25)
        finally:
            w.sim.close()
        # The transcripts name the factory's folder (cwd, the project folder): the rest is equal.
        root, folder = str(w.factory.root), encode_project_path(w.factory.root)
        projects = w.config.claude_config_dir / "projects"
        texts = {
            str(path.relative_to(projects)).replace(folder, "<root>"): data.decode().replace(
                root, "<root>"
            )
            for path, data in w.transcripts().items()
        }
        assert len(texts) > made  # the simulator's agents wrote theirs
        runs.append((w.new_lines(), w.new_lines("metrics.log"), texts))
    assert runs[0] == runs[1]
    assert sum("| CLAIM |" in line for line in runs[0][0]) == 3
    assert any("step=commit" in line and "sha=" in line for line in runs[0][0])


def test_run_honours_stop_max_seconds_and_a_vanished_root(world: World) -> None:
    w = world
    stop = threading.Event()
    stop.set()
    idle = Simulator(w.factory.root, hostname=HOST, config=w.config)
    idle.run(stop)
    assert idle.pids == {}  # stopped before the first step: nothing started

    timed = Simulator(w.factory.root, clock=w.clock, hostname=HOST, config=w.config, speed=500)
    timed.run(threading.Event(), max_seconds=0.2)
    assert not timed.finished and timed.pids
    assert _stub_pids(w.factory.root) == []
    assert timed.step() == ["the simulator is stopped"]

    sim = Simulator(w.factory.root, clock=w.clock, hostname=HOST, config=w.config, speed=1000)
    steps: list[list[str]] = []

    def on_step(said: list[str]) -> None:
        steps.append(said)
        if len(steps) == 6:
            shutil.rmtree(w.factory.root)

    sim.run(threading.Event(), max_seconds=30, on_step=on_step)
    assert sim.finished and sim.error is None
    assert "is gone" in steps[-1][-1]
    assert sim.pids and not any(psutil.pid_exists(pid) for pid in sim.pids.values())


def test_refuses_what_is_not_a_demo_factory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        Simulator(tmp_path, speed=0)
    with pytest.raises(ValueError, match="no such folder"):
        Simulator(tmp_path / "missing")
    (tmp_path / "factory.toml").write_text('memory = "/elsewhere/memory"\n')
    with pytest.raises(ValueError, match="not a demo factory"):
        Simulator(tmp_path)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = _make(tmp_path, live=False)
    root = w.factory.root
    code = simulate.main(["--root", str(root), "--speed", "200", "--max-seconds", "0.15"])
    assert code == 0
    out = capsys.readouterr().out
    assert "starts (pid" in out and "claims CAB-1290:5" in out
    assert _stub_pids(root) == []
    assert simulate.main(["--root", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def _assert_own_branches(world: World) -> int:
    """Each branch carries only its own ticket's commits: an agent that could not switch to its
    ticket's branch (checked out in another worktree) must not commit on the branch it is on.
    Returns how many ticket commits were checked."""
    git = ["git", "-C", str(world.factory.root)]
    tickets_of = {
        unit.key: {unit.claim_id, *unit.tickets}
        for claim in _claims(world.config)
        for unit in claim.units
    }
    branches = subprocess.run(
        [*git, "branch", "--format=%(refname:short)"], capture_output=True, text=True, check=True
    ).stdout.split()
    checked = 0
    for branch in branches:
        match = re.search(r"CAB-\d+", branch)
        if branch == "main" or match is None:
            continue
        subjects = subprocess.run(
            [*git, "log", "--format=%s", f"main..{branch}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        for subject in subjects:
            key = re.search(r"\((CAB-\d+(?::\d+)?)\)$", subject)
            if key is None:
                continue  # a work-in-progress commit names no ticket
            checked += 1
            allowed = tickets_of.get(key.group(1), {key.group(1)})
            assert match.group() in allowed, f"{branch} carries {subject!r}"
    return checked


def test_an_agent_commits_only_on_its_own_branch(played: Played) -> None:
    assert _assert_own_branches(played.world) > 0


def test_a_pr_the_log_calls_merged_is_merged_on_main_and_leaves_the_queue(played: Played) -> None:
    """As the real agent's ``gh pr merge --squash``: STEP-DONE step=merged pr=N puts a squash
    commit ``... (#N)`` on main; the local queue then lists #N once, merged, CI still green."""
    from factory_tui.actions.prs import load_queue

    world = played.world
    merged = [
        int(e.fields["pr"])
        for e in world.new_events()
        if e.name == "STEP-DONE" and e.get("step") == "merged" and e.get("pr")
    ]
    assert merged
    subjects = subprocess.run(
        ["git", "-C", str(world.factory.root), "log", "--first-parent", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for number in merged:
        assert sum(s.endswith(f"(#{number})") for s in subjects) == 1, (number, subjects[:5])
    queue = load_queue(world.config, now=world.clock.now, source="local")
    open_numbers = {v.number for v in (*queue.ask, *queue.in_flight)}
    keys = [v.key for v in queue.views]
    for number in merged:
        assert number not in open_numbers
        view = queue.find(str(number))
        assert view is not None and view.pr.state == "merged" and view.pr.merge_sha
        assert view.ci == "green", view.ci_detail
        assert keys.count(f"#{number}") == 1


def test_the_worker_asks_permission_through_the_hook_and_waits_for_you(world: World) -> None:
    from factory_tui.demo.playbook import ASK_WAIT_TICKS

    for _ in range(120):
        said = world.step()
        if any("asks permission" in line for line in said):
            break
    else:
        pytest.fail("the worker never asked: " + "\n".join(world.said[-10:]))
    worker = next(i for i, r in world.sim.agents.items() if r == "worker")
    asked = [e for e in world.new_events() if e.name == "AGENT-WAITING"]
    assert [e.fields["instance"] for e in asked] == [worker]
    assert asked[0].fields["kind"] == "permission_request"
    assert asked[0].fields["detail"].startswith("Bash: gh pr merge ")
    view = next(i for i in world.fleet().instances if i.id == worker)
    assert view.status == "waiting" and view.waiting is not None
    assert view.activity is not None and view.activity.tool is not None
    assert (
        view.activity.tool.summary.startswith("Bash: gh pr merge ") and not view.activity.tool.done
    )
    assert view.activity.todos  # the worker keeps a todo list
    world.step(ASK_WAIT_TICKS + 1)  # the demo answers for the engineer
    view = next(i for i in world.fleet().instances if i.id == worker)
    assert view.status == "working", view.why
