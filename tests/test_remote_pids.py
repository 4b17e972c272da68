"""Remote pids over SSH (issue #15): one batched ``ps`` per host, its start time compared with
``claimed_at`` like a local pid's; an unreachable or hanging host leaves the pid "not checked",
never "dead"; ``stop`` on a remote agent goes through the same argv with the same refusals.

The ``ssh`` on PATH is ``tests/fake_bin/ssh``: it runs the remote command here, so a process of
this machine plays the remote agent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest
from conftest import FixedProbe, config_for
from fakes import use_fake_bin

from factory_tui.actions.base import Outcome
from factory_tui.actions.stop import StopPlan, plan_stop, stop_agent
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.remote_procs import RemoteProbe, parse_etime, parse_ps

HOST = "macbook-pro"


def test_ps_elapsed_times_and_lines() -> None:
    assert parse_etime("05:07") == timedelta(minutes=5, seconds=7)
    assert parse_etime("3-02:01:00") == timedelta(days=3, hours=2, minutes=1)
    assert parse_etime("junk") is None
    now = datetime(2026, 2, 16, 17, 0)
    out = "  12 01:00:00 claude --x\n  13 bad line\n  99 00:10 other\n"
    table = parse_ps(out, now, [12, 13])
    assert list(table) == [12]
    assert table[12].started_at == now - timedelta(hours=1)
    assert table[12].cmdline == ("claude", "--x")


@pytest.fixture
def ssh_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_fake_bin(tmp_path, monkeypatch)
    log = tmp_path / "ssh.jsonl"
    monkeypatch.setenv("FAKE_SSH_RECORD", str(log))
    return log


def _calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def agent() -> Iterator[subprocess.Popen[bytes]]:
    """A process of this machine that plays an agent on another host; reaped as soon as it dies
    (a zombie would still be listed by ps)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    threading.Thread(target=proc.wait, daemon=True).start()
    yield proc
    if proc.poll() is None:
        proc.kill()


def _factory(tmp_path: Path, hosts: dict[str, str], claims: dict[str, tuple[int, str]]) -> Path:
    """Claims ``ticket → (pid, host)`` by ``t-<ticket>``, claimed a second ago."""
    root = tmp_path / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    toml = 'memory = ".factory/memory"\n'
    for name in hosts:
        toml += f'[hosts."{name}"]\nssh = ["ssh", "-o", "BatchMode=yes", "{name}"]\n'
    (root / "factory.toml").write_text(toml)
    claimed = (datetime.now() - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    for ticket, (pid, host) in claims.items():
        data = {
            "ticket": ticket,
            "title": "",
            "owner": f"t-{ticket.lower()}",
            "pid": pid,
            "hostname": host,
            "claimed_at": claimed,
            "branch": f"feat/{ticket}",
            "completed_at": None,
        }
        (root / ".claude" / "claims" / f"{ticket}.json").write_text(json.dumps(data))
    return root


def _reader(root: Path) -> FactoryReader:
    reader = FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())
    reader.refresh_all()
    return reader


def _pid_condition(reader: FactoryReader, key: str) -> tuple[bool | None, str]:
    view = next(c for c in reader.fleet(datetime.now()).claims if c.key == key)
    detail = next(c.detail for c in view.conditions if c.name == "pid")
    return view.pid_alive, detail


def test_a_remote_pid_is_checked_like_a_local_one_in_one_batched_ps(
    tmp_path: Path, ssh_log: Path, agent: subprocess.Popen[bytes]
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = _factory(
        tmp_path,
        {"worker-1": ""},
        {"CAB-1": (agent.pid, "worker-1"), "CAB-2": (dead.pid, "worker-1.lan")},
    )
    reader = _reader(root)
    assert _pid_condition(reader, "CAB-1") == (True, f"on host worker-1: pid {agent.pid} is alive")
    alive, detail = _pid_condition(reader, "CAB-2")
    assert alive is False and detail == f"on host worker-1.lan: pid {dead.pid} is not running"
    (call,) = _calls(ssh_log)  # one ps for both pids, then the cache answers
    pids = ",".join(str(p) for p in sorted((agent.pid, dead.pid)))
    assert call["argv"] == [
        "-o",
        "BatchMode=yes",
        "worker-1",
        *("ps", "-o", "pid=", "-o", "etime=", "-o", "args=", "-p", pids),
    ]
    fleet = reader.fleet(datetime.now())
    (working,) = [i for i in fleet.instances if i.id == "t-cab-1"]
    assert working.alive is True and working.cpu_percent is None  # not the local table's
    agent.kill()
    assert reader.remote is not None
    reader.remote.cache_s = 0
    assert _pid_condition(reader, "CAB-1")[0] is False


def test_a_pid_started_after_the_claim_is_a_reused_pid_there_too(
    tmp_path: Path, ssh_log: Path, agent: subprocess.Popen[bytes]
) -> None:
    root = _factory(tmp_path, {"worker-1": ""}, {"CAB-1": (agent.pid, "worker-1")})
    path = root / ".claude" / "claims" / "CAB-1.json"
    data = json.loads(path.read_text())
    data["claimed_at"] = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    path.write_text(json.dumps(data))
    alive, detail = _pid_condition(_reader(root), "CAB-1")
    assert alive is False and "a reused pid" in detail


def test_an_unreachable_host_is_not_checked_never_dead(tmp_path: Path, ssh_log: Path) -> None:
    root = _factory(tmp_path, {"down": ""}, {"CAB-1": (4242, "down")})
    reader = _reader(root)
    alive, detail = _pid_condition(reader, "CAB-1")
    assert alive is None
    assert detail == (
        "on host down: pid not checked (ssh to down failed: ssh: connect to host down port 22: "
        "Connection refused)"
    )
    fleet = reader.fleet(datetime.now())
    assert all(i.alive is None for i in fleet.instances)


def test_a_host_that_hangs_is_given_up_on_time_and_nothing_is_left_running(
    tmp_path: Path, ssh_log: Path
) -> None:
    root = _factory(tmp_path, {"hang": ""}, {"CAB-1": (4242, "hang")})
    reader = FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())
    reader.refresh_all()
    assert reader.remote is not None
    reader.remote.timeout_s = 0.5
    started = time.monotonic()
    alive, detail = _pid_condition(reader, "CAB-1")
    assert time.monotonic() - started < 5
    assert (
        alive is None and detail == "on host hang: pid not checked (no answer over ssh within 0.5s)"
    )
    (call,) = _calls(ssh_log)
    assert not psutil.pid_exists(int(call["pid"])) or (  # type: ignore[call-overload]
        psutil.Process(int(call["pid"])).status() == psutil.STATUS_ZOMBIE  # type: ignore[call-overload]
    )
    # The cache keeps the answer: the next refresh does not wait again.
    started = time.monotonic()
    _pid_condition(reader, "CAB-1")
    assert time.monotonic() - started < 0.5 and len(_calls(ssh_log)) == 1


def test_the_probe_asks_hosts_in_parallel(tmp_path: Path, ssh_log: Path) -> None:
    probe = RemoteProbe({"hang": ["ssh", "hang"], "down": ["ssh", "down"]}, timeout_s=0.5)
    started = time.monotonic()
    facts = probe.probe({"hang": [11], "down": [12]})
    assert time.monotonic() - started < 5
    assert facts["hang"].error and facts["down"].error and probe.calls == 2


def test_stop_on_a_remote_agent_goes_through_its_argv(
    tmp_path: Path, ssh_log: Path, agent: subprocess.Popen[bytes]
) -> None:
    root = _factory(tmp_path, {"worker-1": ""}, {"CAB-1": (agent.pid, "worker-1")})
    config = config_for(root)
    now = datetime.now()
    plan = plan_stop(config, "t-cab-1", now=now, reader=_reader(root))
    assert isinstance(plan, StopPlan) and plan.remote == "worker-1"
    text = "\n".join(plan.describe())
    assert f"on host worker-1, pid {agent.pid}" in text
    assert "ssh -o BatchMode=yes worker-1" in text
    result = stop_agent(config, "t-cab-1", now=now, reader=_reader(root), grace_s=5, by="dana")
    assert result.outcome is Outcome.DONE, result.message
    assert agent.wait(timeout=10) == -15  # SIGTERM was enough
    kills = [c["argv"] for c in _calls(ssh_log) if "kill" in c["argv"]]  # type: ignore[operator]
    assert kills == [["-o", "BatchMode=yes", "worker-1", "kill", "-TERM", str(agent.pid)]]
    last = config.log_file.read_text().splitlines()[-1]
    assert f"AGENT-STOP | task=- instance=t-cab-1 pid={agent.pid} host=worker-1" in last


def test_stop_on_a_remote_agent_keeps_the_refusals(
    tmp_path: Path, ssh_log: Path, agent: subprocess.Popen[bytes]
) -> None:
    root = _factory(
        tmp_path, {"worker-1": "", "down": ""}, {"CAB-1": (1, "worker-1"), "CAB-2": (7, "down")}
    )
    config = config_for(root)
    now = datetime.now()
    first = stop_agent(config, "t-cab-1", now=now, reader=_reader(root))
    assert first.outcome is Outcome.REFUSED and "pid 1" in first.message
    down = stop_agent(config, "t-cab-2", now=now, reader=_reader(root))
    assert down.outcome is Outcome.REFUSED
    assert "cannot check pid 7 on host down" in down.message
    assert not any("kill" in c["argv"] for c in _calls(ssh_log))  # type: ignore[operator]
    assert agent.poll() is None


async def test_the_slow_tick_sees_a_remote_pid_die(
    tmp_path: Path, ssh_log: Path, agent: subprocess.Popen[bytes]
) -> None:
    """No file changes: the tick re-asks the host, and a dead remote pid reaches the screen
    (its process facts are part of what the tick compares, like the local table's)."""
    from test_app import SIZE, make_app

    from factory_tui.ui.feeds.prs import PrsOptions

    root = _factory(tmp_path, {"worker-1": ""}, {"CAB-1": (agent.pid, "worker-1")})
    reader = FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())
    now = datetime.now().replace(microsecond=0)
    app = make_app(root, reader=reader, clock=lambda: now, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet(lambda f: any(i.alive for i in f.instances))
        app.fleet_feed.request(tick=True)  # the tick's first look: what it compares with next
        await app.workers.wait_for_complete()
        agent.kill()
        assert reader.remote is not None
        reader.remote.cache_s = 0
        app.fleet_feed.request(tick=True)
        await app.wait_for_fleet(lambda f: any(i.alive is False for i in f.instances))
