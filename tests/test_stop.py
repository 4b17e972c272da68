"""Stopping a runaway agent: a real local process, refusals for remote and reused pids."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.stop import plan_stop, stop_agent
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.procs import ProcessProbe
from factory_tui.cli import main
from factory_tui.config import Config, load_config
from factory_tui.core.fleet import ProcInfo


@pytest.fixture
def agent() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


_HERE = object()


def factory(
    tmp_path: Path,
    pid: int,
    *,
    claimed_at: datetime | None,
    host: object = _HERE,
    session_at: datetime | None = None,
    claimed_text: str | None = None,
) -> Config:
    """A factory whose one claim (CAB-9, owner t1-abcd) records ``pid``; ``host`` defaults to
    this machine's name (``None`` writes a null hostname)."""
    claims = tmp_path / ".claude" / "claims"
    claims.mkdir(parents=True)
    (tmp_path / "factory.toml").write_text('memory = "mem"\n')
    (tmp_path / "mem").mkdir()
    claim = {
        "ticket": "CAB-9",
        "title": "runaway",
        "owner": "t1-abcd",
        "pid": pid,
        "hostname": socket.gethostname() if host is _HERE else host,
        "claimed_at": claimed_text
        or (claimed_at.strftime("%Y-%m-%dT%H:%M") if claimed_at is not None else None),
        "branch": "fix/x",
        "completed_at": None,
    }
    (claims / "CAB-9.json").write_text(json.dumps(claim))
    start = session_at or claimed_at or datetime.now()
    (tmp_path / "mem" / "operations.log").write_text(
        f"{start:%Y-%m-%dT%H:%M} | SESSION-START | task=CAB-9 branch=fix/x instance=t1-abcd\n"
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


# -- only the agent's process is ever signalled (issue 16) ---------------------------------------


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every signal psutil would send, recorded instead of sent (a refusal must send none)."""
    sent: list[tuple[int, int]] = []

    def record(self: psutil.Process, sig: int) -> None:
        sent.append((self.pid, int(sig)))

    monkeypatch.setattr(psutil.Process, "send_signal", record)
    return sent


def _minute_of(pid: int) -> datetime:
    return datetime.fromtimestamp(psutil.Process(pid).create_time()).replace(
        second=0, microsecond=0
    )


@pytest.mark.parametrize(
    ("which", "expected"),
    [("self", "is factory-tui itself"), ("parent", "is an ancestor of factory-tui")],
)
def test_never_signals_itself_or_its_parent_shell(
    tmp_path: Path, signals: list[tuple[int, int]], which: str, expected: str
) -> None:
    pid = os.getpid() if which == "self" else os.getppid()
    claimed = _minute_of(pid)
    cfg = factory(tmp_path, pid, claimed_at=claimed)
    result = stop_agent(cfg, "t1-abcd", now=claimed + timedelta(minutes=1), grace_s=0)
    assert result.outcome is Outcome.REFUSED and expected in result.message, result.message
    assert signals == []


def test_never_signals_pid_1(tmp_path: Path) -> None:
    claimed = _minute_of(1)
    cfg = factory(tmp_path, 1, claimed_at=claimed)
    sent: list[tuple[int, int]] = []
    result = stop_agent(
        cfg,
        "t1-abcd",
        now=claimed + timedelta(minutes=1),
        grace_s=0,
        send=lambda proc, sig: sent.append((proc.pid, sig)),
    )
    assert result.outcome is Outcome.REFUSED and "pid 1 is the system's" in result.message
    assert sent == []


@pytest.mark.parametrize(
    ("host", "reader_host", "expected"),
    [
        (None, None, "records no hostname"),
        ("", None, "records no hostname"),
        ("vm.other-domain.example", "vm", "runs on host vm.other-domain.example, not on this"),
    ],
)
def test_a_null_or_merely_similar_hostname_is_not_this_host(
    tmp_path: Path,
    agent: subprocess.Popen[bytes],
    signals: list[tuple[int, int]],
    host: str | None,
    reader_host: str | None,
    expected: str,
) -> None:
    cfg = factory(tmp_path, agent.pid, claimed_at=started(agent), host=host)
    reader = FactoryReader(cfg, hostname=reader_host or socket.gethostname())
    result = stop_agent(cfg, "t1-abcd", now=started(agent), reader=reader, grace_s=0)
    assert result.outcome is Outcome.REFUSED and expected in result.message, result.message
    assert signals == [] and agent.poll() is None


@pytest.mark.parametrize("claimed", ["null", "future", "garbage"])
def test_an_unknown_or_future_claim_time_proves_nothing(
    tmp_path: Path, agent: subprocess.Popen[bytes], signals: list[tuple[int, int]], claimed: str
) -> None:
    now = started(agent) + timedelta(minutes=1)
    if claimed == "null":
        cfg = factory(tmp_path, agent.pid, claimed_at=None, session_at=started(agent))
    elif claimed == "future":
        cfg = factory(tmp_path, agent.pid, claimed_at=now + timedelta(hours=1))
    else:
        cfg = factory(
            tmp_path, agent.pid, claimed_at=None, session_at=now, claimed_text="yesterday"
        )
    result = stop_agent(cfg, "t1-abcd", now=now, grace_s=0)
    assert result.outcome is Outcome.REFUSED, result.message
    assert "claimed_at" in result.message
    assert signals == [] and agent.poll() is None


def test_a_process_older_than_the_agent_session_is_not_the_agent(
    tmp_path: Path, agent: subprocess.Popen[bytes], signals: list[tuple[int, int]]
) -> None:
    session = started(agent) + timedelta(minutes=5)
    cfg = factory(
        tmp_path, agent.pid, claimed_at=session + timedelta(minutes=1), session_at=session
    )
    result = stop_agent(cfg, "t1-abcd", now=session + timedelta(minutes=10), grace_s=0)
    assert result.outcome is Outcome.REFUSED
    assert "before t1-abcd's first session" in result.message
    assert signals == [] and agent.poll() is None


def _repo_with_worktree(root: Path) -> Path:
    """``root`` as a real git repo with branch fix/x checked out in ``root/wt``."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "0")
    git("worktree", "add", "-q", "-b", "fix/x", str(root / "wt"))
    return (root / "wt").resolve()


def test_a_process_outside_the_agent_worktree_is_not_the_agent(
    tmp_path: Path, signals: list[tuple[int, int]]
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=other)
    try:
        cfg = factory(tmp_path, proc.pid, claimed_at=started(proc))
        tree = _repo_with_worktree(tmp_path)
        result = stop_agent(cfg, "t1-abcd", now=started(proc), grace_s=0)
        assert result.outcome is Outcome.REFUSED
        assert f"not in t1-abcd's worktree {tree}" in result.message
        assert signals == [] and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_rechecked_before_sigkill(tmp_path: Path) -> None:
    """An agent in its worktree gets SIGTERM; it ignores it and moves out of the worktree during
    the grace period: the re-check before SIGKILL no longer sees the agent, so no SIGKILL."""
    tree_parent = tmp_path
    proc: subprocess.Popen[bytes] | None = None
    try:
        tree = _repo_with_worktree(tree_parent)
        script = (
            "import os, signal, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: (os.chdir('/'), print('moved', flush=True)))\n"
            "print('ready', flush=True)\n"
            # Short sleeps: a handler runs at the next check (one long sleep can miss it).
            "while True: time.sleep(0.05)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=tree, stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        cfg = factory(tmp_path / "f", proc.pid, claimed_at=started(proc))
        # the factory's root is the repo: claims and log live under it
        cfg = dataclasses.replace(cfg, root=tmp_path)
        sent: list[signal.Signals] = []

        def send(target: psutil.Process, sig: signal.Signals) -> None:
            sent.append(sig)
            target.send_signal(sig)

        def wait(_target: psutil.Process, _timeout: float) -> bool:
            assert proc is not None and proc.stdout is not None
            return proc.stdout.readline() != b"moved\n"  # not gone: it only moved

        result = stop_agent(cfg, "t1-abcd", now=started(proc), grace_s=0, send=send, wait=wait)
        assert sent == [signal.SIGTERM]
        assert result.outcome is Outcome.ERROR and "SIGKILL not sent" in result.message
        assert f"not in t1-abcd's worktree {tree}" in result.message
        assert proc.poll() is None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def test_an_agent_in_its_worktree_is_stopped(tmp_path: Path) -> None:
    tree = _repo_with_worktree(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tree)
    try:
        cfg = factory(tmp_path / "f", proc.pid, claimed_at=started(proc))
        cfg = dataclasses.replace(cfg, root=tmp_path)
        plan = plan_stop(cfg, "t1-abcd", now=started(proc))
        assert not isinstance(plan, ActionResult), plan.message
        assert f"worktree: {tree}" in plan.describe()
        result = stop_agent(cfg, "t1-abcd", now=started(proc), grace_s=5)
        assert result.ok, result.message
        assert proc.wait(timeout=10) is not None
    finally:
        proc.kill()
        proc.wait()


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_asks_and_needs_yes_without_a_terminal(
    tmp_path: Path,
    agent: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    factory(tmp_path, agent.pid, claimed_at=started(agent))
    log = tmp_path / "mem" / "operations.log"
    before = log.read_text()
    now = f"{started(agent):%Y-%m-%dT%H:%M}"
    argv = ["kill", "t1-abcd", str(tmp_path), "--now", now]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(argv) == 1
    assert "pass --yes" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", Tty("n\n"))
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert f"Stop t1-abcd (pid {agent.pid})? [y/N]" in out and "declined" in err
    assert agent.poll() is None and log.read_text() == before
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    assert main(argv) == 0
    assert agent.wait(timeout=10) is not None
    assert "AGENT-STOP | task=CAB-9 instance=t1-abcd" in log.read_text()


def test_cli_yes_stops_without_asking(
    tmp_path: Path, agent: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory(tmp_path, agent.pid, claimed_at=started(agent))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    now = f"{started(agent):%Y-%m-%dT%H:%M}"
    assert main(["kill", "t1-abcd", str(tmp_path), "--now", now, "-y"]) == 0
    assert agent.wait(timeout=10) is not None


class SeenEarlier(ProcessProbe):
    """The process table as the plan saw it: the pid's process started ``shift`` earlier than the
    process now at that pid, i.e. the agent's process, since exited and its pid reused."""

    def __init__(self, shift: timedelta) -> None:
        super().__init__()
        self.shift = shift

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        return {
            pid: dataclasses.replace(
                info, started_at=info.started_at and info.started_at - self.shift
            )
            for pid, info in super().probe(pids).items()
        }


def test_a_pid_reused_between_the_plan_and_the_signal_is_not_signalled(
    tmp_path: Path, agent: subprocess.Popen[bytes]
) -> None:
    """The plan saw the agent's process; by the signal its pid belongs to another process that
    passes every other rule (on this host, started within the claim's minute, after the session
    began): only its different start time tells them apart, and nothing is sent."""
    cfg = factory(tmp_path, agent.pid, claimed_at=started(agent))
    now = started(agent) + timedelta(minutes=1)
    reader = FactoryReader(cfg, probe=SeenEarlier(timedelta(seconds=10)))
    plan = plan_stop(cfg, "t1-abcd", now=now, reader=reader)
    assert not isinstance(plan, ActionResult), plan.message
    assert plan.proc.started_at == started(agent) - timedelta(seconds=10)
    log_before = (tmp_path / "mem" / "operations.log").read_text()
    sent: list[tuple[int, signal.Signals]] = []
    result = stop_agent(
        cfg,
        "t1-abcd",
        now=now,
        reader=FactoryReader(cfg, probe=SeenEarlier(timedelta(seconds=10))),
        grace_s=0,
        by="me",
        send=lambda proc, sig: sent.append((proc.pid, sig)),
    )
    assert sent == []
    assert result.outcome is Outcome.REFUSED
    assert result.message == f"pid {agent.pid} was replaced by another process: not stopped"
    assert agent.poll() is None
    assert (tmp_path / "mem" / "operations.log").read_text() == log_before
