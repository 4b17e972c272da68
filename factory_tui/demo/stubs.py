"""The demo's live agents: stub processes (:mod:`factory_tui.demo.agent_stub`) started detached,
reaped when stopped, and the ``agent_command`` that Resume starts in a demo factory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

import psutil

__all__ = ["STUB_MODULE", "agent_command_toml", "start_minute", "start_stub", "stop_stubs"]

# -- processes -----------------------------------------------------------------------------------

_STARTED: dict[int, subprocess.Popen[bytes]] = {}
"""Stub processes this interpreter started, by pid (so they are reaped, never orphaned zombies)."""
STUB_MODULE = "factory_tui.demo.agent_stub"


def start_stub(python: str, root: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [python, "-m", STUB_MODULE, "--root", str(root)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _STARTED[process.pid] = process
    return process


def start_minute(pid: int, tz: tzinfo) -> datetime:
    """When the process ``pid`` started, to the minute, naive in ``tz``."""
    started = datetime.fromtimestamp(psutil.Process(pid).create_time(), tz).replace(tzinfo=None)
    return started.replace(second=0, microsecond=0)


def stop_stubs(pids: Sequence[int], root: Path | None, timeout: float = 5.0) -> None:
    for pid in pids:
        process = _STARTED.pop(pid, None)
        if process is not None:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
            continue
        # Not started here (another interpreter, or a dead pid from start_processes=False):
        # only a process that is our stub for this very root is touched.
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if STUB_MODULE not in cmdline or (root is not None and str(root) not in cmdline):
            continue
        try:
            proc.terminate()
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def agent_command_toml() -> str:
    """Resume from the recovery screen starts this stub agent (in the resumed worktree, with the
    recovery prompt as its last argument): it lives at most 10 minutes, so Resume can be tried
    without a real Claude Code."""
    argv = [sys.executable, "-m", STUB_MODULE, "--root", ".", "--max-seconds", "600"]
    return (
        '# What Resume starts (a real factory: ["claude"], the default); the prompt comes last.\n'
        f"agent_command = {json.dumps(argv)}\n"
    )
