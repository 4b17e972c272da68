"""Stopping a runaway agent: a real local process, refusals for remote and reused pids."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest

from factory_tui.actions.base import Outcome
from factory_tui.actions.stop import plan_stop, stop_agent
from factory_tui.cli import main
from factory_tui.config import Config, load_config


@pytest.fixture
def agent() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def factory(tmp_path: Path, pid: int, *, claimed_at: datetime, host: str | None = None) -> Config:
    claims = tmp_path / ".claude" / "claims"
    claims.mkdir(parents=True)
    (tmp_path / "factory.toml").write_text('memory = "mem"\n')
    (tmp_path / "mem").mkdir()
    claim = {
        "ticket": "CAB-9",
        "title": "runaway",
        "owner": "t1-abcd",
        "pid": pid,
        "hostname": host or socket.gethostname(),
        "claimed_at": claimed_at.strftime("%Y-%m-%dT%H:%M"),
        "branch": "fix/x",
        "completed_at": None,
    }
    (claims / "CAB-9.json").write_text(json.dumps(claim))
    (tmp_path / "mem" / "operations.log").write_text(
        f"{claimed_at:%Y-%m-%dT%H:%M} | SESSION-START | task=CAB-9 branch=fix/x instance=t1-abcd\n"
    )
    return load_config(tmp_path, flags={}, env={}, user_config=tmp_path / "none.toml")


def started(proc: subprocess.Popen[bytes]) -> datetime:
    return datetime.fromtimestamp(psutil.Process(proc.pid).create_time())


def test_stop_a_live_local_agent(tmp_path: Path, agent: subprocess.Popen[bytes]) -> None:
    cfg = factory(tmp_path, agent.pid, claimed_at=started(agent))
    now = started(agent) + timedelta(minutes=1)
    plan = plan_stop(cfg, "t1-abcd", now=now)
    assert not isinstance(plan, type(None)) and hasattr(plan, "describe")
    text = "\n".join(plan.describe())  # type: ignore[union-attr]
    assert f"pid {agent.pid}: " in text and "time.sleep(120)" in text and "cwd: " in text
    result = stop_agent(cfg, "t1-abcd", now=now, grace_s=5, by="me")
    assert result.ok, result.message
    assert agent.wait(timeout=10) is not None
    log = (tmp_path / "mem" / "operations.log").read_text().splitlines()[-1]
    assert f"AGENT-STOP | task=CAB-9 instance=t1-abcd pid={agent.pid} signal=SIGTERM by=me" in log


def test_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        cfg = factory(tmp_path, stubborn.pid, claimed_at=started(stubborn))
        result = stop_agent(cfg, "t1-abcd", now=started(stubborn), grace_s=0.2)
        assert result.ok and "SIGKILL" in result.message
        stubborn.wait(timeout=10)
        assert (
            not psutil.pid_exists(stubborn.pid) or psutil.Process(stubborn.pid).status() == "zombie"
        )
    finally:
        stubborn.kill()
        stubborn.wait()


def test_refused_for_another_host(tmp_path: Path, agent: subprocess.Popen[bytes]) -> None:
    cfg = factory(tmp_path, agent.pid, claimed_at=started(agent), host="build-box-9")
    result = stop_agent(cfg, "t1-abcd", now=started(agent))
    assert result.outcome is Outcome.REFUSED and "runs on host build-box-9" in result.message
    assert agent.poll() is None


def test_refused_for_a_reused_pid(tmp_path: Path, agent: subprocess.Popen[bytes]) -> None:
    claimed = started(agent) - timedelta(hours=1)
    factory(tmp_path, agent.pid, claimed_at=claimed)
    assert (
        main(["kill", "t1-abcd", str(tmp_path), "--now", f"{started(agent):%Y-%m-%dT%H:%M}"]) == 1
    )
    assert agent.poll() is None


def test_refused_read_only_and_unknown(tmp_path: Path, agent: subprocess.Popen[bytes]) -> None:
    factory(tmp_path, agent.pid, claimed_at=started(agent))
    assert main(["kill", "t1-abcd", str(tmp_path), "--read-only"]) == 1
    assert main(["kill", "t9-nope", str(tmp_path)]) == 2
    assert agent.poll() is None
