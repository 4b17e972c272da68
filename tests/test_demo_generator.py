"""The demo factory generator: real git, strict files, the intended roles, live stubs."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest

from factory_tui.config import load_config
from factory_tui.core.checkpoints import parse_checkpoint
from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.fleet import Fleet, ProcInfo
from factory_tui.core.fleet_derive import derive_fleet
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import REQUIRED_FIELDS, Event, format_event, missing_fields, parse_line
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo import DemoFactory, agent_stub, generate_demo, stop_demo_processes

NOW = datetime(2026, 2, 16, 15, 42, 30)
#: The protocol's own events (FORMATS.md); the real hooks' (BASH-EXEC, …) and metrics.log's are
#: known too, but the demo's agents do not write them.
PROTOCOL_EVENTS = {"SESSION-START", "SESSION-END", "STEP-START", "STEP-DONE", "CHECKPOINT",
                   "ERROR", "RECOVERY", "CLAIM", "RELEASE"}  # fmt: skip
HOST = "macbook-pro.local"
INSTANCE = re.compile(r"t\d{1,5}-[0-9a-f]{4}\Z")
STRICT_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\Z")


def _generate(path: Path, *, seed: int = 7, agents: int = 6) -> DemoFactory:
    return generate_demo(
        path, seed=seed, agents=agents, now=NOW, hostname=HOST, start_processes=False
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFactory:
    return _generate(tmp_path_factory.mktemp("demo") / "factory")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file and symlink under root except git's own (``.git`` dirs and worktree files)."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if ".git" in rel.parts:
            continue
        if path.is_symlink():
            out[str(rel)] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            out[str(rel)] = path.read_bytes()
        else:
            out[str(rel)] = b"<dir>"
    return out


def _claims(factory: DemoFactory) -> list[ClaimFile]:
    claims = []
    for file in sorted(factory.claims_dir.glob("*.json")):
        claim, problems = parse_claim(str(file), file.read_bytes())
        assert problems == [], problems
        assert claim is not None
        claims.append(claim)
    return claims


def _events(file: Path) -> list[Event]:
    events = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        parsed = parse_line(line, number, file.name)
        assert isinstance(parsed, Event), f"{file.name}:{number}: {parsed}"
        events.append(parsed)
    return events


def _fleet(factory: DemoFactory, alive: dict[int, datetime] | None = None) -> Fleet:
    """The derived fleet; ``alive`` maps pids to their start time (default: the claimed pids of
    the working and idle agents, started at their claim's minute)."""
    claims = _claims(factory)
    if alive is None:
        alive = {}
        for claim in claims:
            for unit in claim.units:
                if unit.owner in factory.pids and unit.claimed_at:
                    started = parse_ts(unit.claimed_at)
                    assert started is not None and unit.pid is not None
                    alive[unit.pid] = started + timedelta(seconds=40)
    fold = LogFold()
    for name in ("operations.log.1", "operations.log"):
        fold.feed_all(_events(factory.memory_dir / name))
    procs = {pid: ProcInfo(pid=pid, started_at=started) for pid, started in alive.items()}
    checkpoints = []
    for file in (factory.memory_dir / "checkpoints").iterdir():
        checkpoint, _ = parse_checkpoint(str(file), file.read_bytes())
        assert checkpoint is not None
        checkpoints.append(checkpoint)
    return derive_fleet(
        root=str(factory.root),
        now=factory.now,
        hostname=HOST,
        claims=claims,
        fold=fold,
        checkpoints=checkpoints,
        procs=procs,
    )


# -- the API and its guards ----------------------------------------------------------------------


def test_roles_and_instance_ids(demo: DemoFactory) -> None:
    assert list(demo.instances.values()) == [
        "working",
        "idle",
        "crashed",
        "stale",
        "ended",
        "remote",
    ]
    assert all(INSTANCE.match(instance) for instance in demo.instances)
    assert set(demo.pids) == {
        i for i, role in demo.instances.items() if role in ("working", "idle")
    }
    assert demo.memory_dir == demo.root / ".factory" / "memory"
    assert demo.claims_dir == demo.root / ".claude" / "claims"
    assert demo.now == NOW


def test_without_processes_every_written_local_pid_is_dead(demo: DemoFactory) -> None:
    for claim in _claims(demo):
        for unit in claim.units:
            if unit.pid is not None and unit.hostname == HOST:
                assert not psutil.pid_exists(unit.pid), unit


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        _generate(tmp_path)
    with pytest.raises(ValueError, match="at least 4 agents"):
        _generate(tmp_path / "new", agents=3)


def test_factory_toml_keeps_memory_inside_the_repo(demo: DemoFactory, tmp_path: Path) -> None:
    toml = tomllib.loads((demo.root / "factory.toml").read_text())
    command = toml.pop("agent_command")
    assert toml == {"memory": ".factory/memory", "idle_after": "2m"}
    # Resume can be tried: it starts the stub agent, which takes the prompt as its last argument.
    assert command[:3] == [sys.executable, "-m", "factory_tui.demo.agent_stub"]
    assert agent_stub.main([*command[3:], "--max-seconds", "0", "the recovery prompt"]) == 0
    config = load_config(demo.root, env={}, user_config=tmp_path / "no-user-config.toml")
    assert config.memory_dir.resolve() == demo.memory_dir
    assert config.claims_dir.resolve() == demo.claims_dir
    # The demo's own setting, so the cockpit and `status` on the demo judge alike (issue 11).
    assert config.idle_after == timedelta(minutes=2)


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_bytes_whatever_the_global_random(tmp_path: Path) -> None:
    random.seed(1)
    first = _generate(tmp_path / "a")
    random.seed(2)
    second = _generate(tmp_path / "b")
    assert first.instances == second.instances
    a, b = _snapshot(first.root), _snapshot(second.root)
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    assert len(a) > 50
    # The commits too (their dates are fixed, so their ids are).
    assert _git(first.root, "rev-parse", "main") == _git(second.root, "rev-parse", "main")


def test_another_seed_another_factory(demo: DemoFactory, tmp_path: Path) -> None:
    other = _generate(tmp_path / "f", seed=8)
    assert set(other.instances) != set(demo.instances)


# -- git -----------------------------------------------------------------------------------------


def test_a_real_git_repo_with_a_worktree_per_agent(demo: DemoFactory) -> None:
    root = demo.root
    listing = _git(root, "worktree", "list", "--porcelain")
    worktrees = {
        line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")
    }
    expected = {str(root / ".worktrees" / instance) for instance in demo.instances}
    assert worktrees == {str(root)} | expected
    branches = _git(root, "branch", "--format=%(refname:short)").split()
    assert "main" in branches
    assert any(re.fullmatch(r"feat/CAB-\d+-[a-z-]+", b) for b in branches)
    assert any(b.startswith("fix/CAB-") for b in branches)
    assert int(_git(root, "rev-list", "--count", "main")) >= 3
    # main is clean: the factory's own files are ignored.
    assert _git(root, "status", "--porcelain") == ""
    for name in ("README.md", "src/tinygate/gateway.py", "tests/test_routes.py", "plan.md"):
        assert (root / name).is_file()
    dirty = []
    for instance in demo.instances:
        tree = root / ".worktrees" / instance
        link = tree / ".claude" / "claims"
        assert link.is_symlink() and link.resolve() == demo.claims_dir
        assert int(_git(tree, "rev-list", "--count", "main..HEAD")) >= 1
        if _git(tree, "status", "--porcelain"):
            dirty.append(demo.instances[instance])
    assert sorted(dirty) == ["crashed", "working"]


# -- claims --------------------------------------------------------------------------------------


def test_claims_parse_and_hold_a_mega_with_every_phase_state(demo: DemoFactory) -> None:
    claims = _claims(demo)
    megas = [claim for claim in claims if claim.kind == "mega"]
    assert len(megas) == 1
    mega = megas[0]
    assert len(mega.units) >= 3
    assert any(unit.deps for unit in mega.units)
    assert sum(claim.kind == "standalone" for claim in claims) >= 3
    for claim in claims:
        for unit in claim.units:
            if unit.owner:
                assert INSTANCE.match(unit.owner) and unit.owner in demo.instances
                assert unit.claimed_at and STRICT_TS.match(unit.claimed_at)
                assert unit.branch and re.match(
                    r"(feat|fix|chore|refactor|perf|docs)/CAB-", unit.branch
                )
    fleet = _fleet(demo)
    states = {view.key: view.state for view in fleet.claims}
    mega_states = [states[unit.key] for unit in mega.units]
    assert {"done", "claimed", "blocked", "available"} <= set(mega_states)
    assert "stale" in states.values()
    # Unknown fields are part of the realism (and must survive the cockpit's rewrites).
    raw = json.loads(Path(mega.file).read_bytes())
    assert "component" in raw and "estimate_h" in raw["phases"][3]
    assert mega.component == raw["component"]


# -- logs ----------------------------------------------------------------------------------------


def test_every_log_line_parses_and_operations_log_is_strict(demo: DemoFactory) -> None:
    for name in ("operations.log", "operations.log.1", "metrics.log"):
        events = _events(demo.memory_dir / name)
        assert events, name
        for event in events:
            assert missing_fields(event) == (), event
    for line in (demo.memory_dir / "operations.log").read_text().splitlines():
        parsed = parse_line(line, 1, "operations.log")
        assert isinstance(parsed, Event)
        assert STRICT_TS.match(parsed.ts), line
        assert format_event(parsed.ts, parsed.name, parsed.fields.items()) == line


def test_operations_log_holds_every_event_type_and_the_wild_parts(demo: DemoFactory) -> None:
    recent = _events(demo.memory_dir / "operations.log")
    older = _events(demo.memory_dir / "operations.log.1")
    names = {event.name for event in recent}
    assert names >= PROTOCOL_EVENTS
    assert names - set(REQUIRED_FIELDS), "an unknown event"
    known_keys = {"task", "branch", "instance", "recovered_from", "status", "pr", "recovered_by",
                  "step", "detail", "sha", "component", "file", "error", "action", "from_step",
                  "reason", "phase", "tickets"}  # fmt: skip
    assert any(set(e.fields) - known_keys for e in recent if e.name in REQUIRED_FIELDS)
    assert any(" " in value for event in recent for value in event.fields.values())
    assert '="' in (demo.memory_dir / "operations.log").read_text()
    assert {e.fields.get("action") for e in recent + older} >= {"resume", "abandon"}
    assert {e.fields.get("reason") for e in recent + older} >= {"done", "abandoned"}
    # A day ending at now, then older history; the .1 file has seconds and Z forms.
    times = [event.at for event in recent if event.at is not None]
    old_times = [event.at for event in older if event.at is not None]
    assert len(times) == len(recent) and len(old_times) == len(older)
    assert max(times) <= NOW and min(times) >= NOW - timedelta(hours=24)
    assert max(old_times) < min(times)
    assert any(re.search(r":\d{2}:\d{2}$", e.ts) for e in older)
    assert any(e.ts.endswith("Z") for e in older)
    assert len(recent) < 500


def test_metrics_log_events(demo: DemoFactory) -> None:
    names = {event.name for event in _events(demo.memory_dir / "metrics.log")}
    assert names >= {"PR-MERGED", "PHASE-CLAIMED", "PHASE-COMPLETED", "CLAIM-CONFLICT",
                     "TOKEN-SPEND", "CI-FIX", "STATE-DRIFT"}  # fmt: skip


def test_crashed_session_checkpoint(demo: DemoFactory) -> None:
    files = list((demo.memory_dir / "checkpoints").iterdir())
    assert len(files) == 1
    checkpoint, problems = parse_checkpoint(str(files[0]), files[0].read_bytes())
    assert problems == [] and checkpoint is not None
    assert checkpoint.file_ts is not None and checkpoint.slug == checkpoint.task
    assert checkpoint.context and checkpoint.progress and checkpoint.claimed_phase
    assert checkpoint.steps_completed and checkpoint.steps_remaining
    crashed = next(i for i, role in demo.instances.items() if role == "crashed")
    starts = [
        e for e in _events(demo.memory_dir / "operations.log")
        if e.name == "SESSION-START" and e.fields.get("instance") == crashed
    ]  # fmt: skip
    assert starts[-1].fields["task"] == checkpoint.task


# -- plan.md and memory.md -----------------------------------------------------------------------


def test_state_files_have_exactly_one_lint_finding(demo: DemoFactory) -> None:
    plan = parse_plan((demo.root / "plan.md").read_text(), "plan.md")
    memory = parse_memory((demo.root / "memory.md").read_text(), "memory.md")
    findings = lint_state(plan, memory)
    assert [(f.file, f.rule) for f in findings] == [("memory.md", "done-outside-done")]
    owners = {phase.phase: phase.owner for phase in plan.phases}
    by_phase = {
        unit.phase: unit.owner
        for claim in _claims(demo)
        for unit in claim.units
        if claim.kind == "mega"
    }
    assert owners == by_phase


# -- the roles, as the fleet derivation sees them ------------------------------------------------


def _statuses(factory: DemoFactory, alive: dict[int, datetime] | None = None) -> dict[str, str]:
    fleet = _fleet(factory, alive)
    return {view.id: view.status for view in fleet.instances}


def test_roles_derive_as_intended_when_the_stub_pids_are_alive(demo: DemoFactory) -> None:
    statuses = _statuses(demo)
    expected = {i: ("working" if r == "remote" else r) for i, r in demo.instances.items()}
    assert statuses == expected
    fleet = _fleet(demo)
    stale = [c for c in fleet.claims if c.state == "stale"]
    assert len(stale) == 1 and all(c.holds for c in stale[0].conditions)
    sessions = fleet.sessions
    crashed = [s for s in sessions if s.status == "crashed"]
    assert len(crashed) == 1 and crashed[0].checkpoint is not None


def test_four_and_nine_agents(tmp_path: Path) -> None:
    four = _generate(tmp_path / "four", agents=4)
    assert sorted(four.instances.values()) == ["crashed", "idle", "stale", "working"]
    assert _statuses(four) == four.instances
    nine = _generate(tmp_path / "nine", agents=9, seed=3)
    roles = list(nine.instances.values())
    assert roles[6:] == ["working", "ended", "working"] and len(nine.pids) == 4
    expected = {i: ("working" if r == "remote" else r) for i, r in nine.instances.items()}
    assert _statuses(nine) == expected
    plan = parse_plan((nine.root / "plan.md").read_text(), "plan.md")
    memory = parse_memory((nine.root / "memory.md").read_text(), "memory.md")
    assert len(lint_state(plan, memory)) == 1


# -- live stubs ----------------------------------------------------------------------------------


def test_live_stubs_carry_the_claims_and_stop(tmp_path: Path) -> None:
    now = datetime.now()
    factory = generate_demo(tmp_path / "live", now=now, hostname=HOST)
    processes = {pid: psutil.Process(pid) for pid in factory.pids.values()}
    try:
        assert len(processes) == 2
        started: dict[int, datetime] = {}
        for pid, process in processes.items():
            assert process.is_running() and process.status() != psutil.STATUS_ZOMBIE
            # Under load the new process may not have its argv in /proc yet: wait for it.
            deadline = time.monotonic() + 10
            while not process.cmdline() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert "factory_tui.demo.agent_stub" in process.cmdline()
            started[pid] = datetime.fromtimestamp(process.create_time())
        for claim in _claims(factory):
            for unit in claim.units:
                if unit.pid in started:
                    claimed = parse_ts(unit.claimed_at or "")
                    assert claimed is not None
                    assert claimed >= started[unit.pid].replace(second=0, microsecond=0)
        statuses = _statuses(factory, started)
        assert {statuses[i] for i in factory.pids} == {"working", "idle"}
        assert [statuses[i] for i, r in factory.instances.items() if r == "working"] == ["working"]
    finally:
        stop_demo_processes(factory)
    for process in processes.values():
        process.wait(timeout=5)  # returns at once for a process that is gone
        assert not process.is_running()


def test_a_failed_live_generation_leaves_no_stub_behind(tmp_path: Path) -> None:
    root = tmp_path / "skewed"
    far = datetime.now() - timedelta(days=3)
    with pytest.raises(ValueError, match="pass the real time as now"):
        generate_demo(root, now=far, hostname=HOST)
    leftovers = [
        proc.pid
        for proc in psutil.process_iter(["cmdline"])
        if "factory_tui.demo.agent_stub" in (proc.info["cmdline"] or [])
        and str(root.resolve()) in (proc.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_stop_leaves_a_foreign_pid_alone(demo: DemoFactory) -> None:
    me = psutil.Process()
    foreign = DemoFactory(demo.root, demo.memory_dir, demo.claims_dir, {}, {"x": me.pid}, NOW)
    stop_demo_processes(foreign)
    assert me.is_running()


def test_agent_stub_exits_when_its_root_is_gone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        root.rmdir()

    assert agent_stub.run(root, 100.0, sleep=fake_sleep) == 0
    assert sleeps == [2.0]


def test_agent_stub_process_exits_on_a_missing_root_or_max_seconds(tmp_path: Path) -> None:
    for args in (
        ["--root", str(tmp_path / "missing")],
        ["--root", str(tmp_path), "--max-seconds", "0"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "factory_tui.demo.agent_stub", *args], timeout=20, check=False
        )
        assert done.returncode == 0


def test_metrics_are_written_in_utc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """metrics.log is UTC without a marker (the hooks' ``date -u``), operations.log local: the
    same merge is 14:26 in the log and 09:26 in metrics when the machine is in New York."""
    import time

    from factory_tui.core.timeparse import parse_ts, parse_utc_ts

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    parse_ts.cache_clear()
    parse_utc_ts.cache_clear()
    try:
        demo = generate_demo(tmp_path / "f", now=NOW, hostname="h", start_processes=False)
        ops = (demo.memory_dir / "operations.log").read_text().splitlines()
        metrics = (demo.memory_dir / "metrics.log").read_text().splitlines()
        merged_ops = {
            re.search(r"task=(\S+)", line).group(1): line.split(" | ")[0]  # type: ignore[union-attr]
            for line in ops
            if "| STEP-DONE | step=merged " in line
        }
        checked = 0
        for line in metrics:
            if "| PR-MERGED |" not in line:
                continue
            task = re.search(r"task=(\S+)", line).group(1)  # type: ignore[union-attr]
            if task in merged_ops:
                local = parse_ts(merged_ops[task])
                assert parse_utc_ts(line.split(" | ")[0]) == local, line
                assert line.split(" | ")[0] != merged_ops[task]
                checked += 1
        assert checked > 0
    finally:
        monkeypatch.undo()
        time.tzset()
        parse_ts.cache_clear()
        parse_utc_ts.cache_clear()
