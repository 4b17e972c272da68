"""A real tmux server of the test's own (``tmux -L <unique> -f /dev/null`` under a private
``TMUX_TMPDIR``) and a stub agent for its panes: it prints a numbered prompt, then appends every
line it reads to a record file. Waiting is a bounded poll on a real condition (a line in the
record, a pane's text), never a sleep that hopes."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot

from factory_tui.adapters.tmux import Tmux

T = TypeVar("T")

STUB = r"""
import json, sys
record = sys.argv[1]
with open(record, "a", encoding="utf-8") as out:
    out.write(json.dumps({"ready": True}) + "\n")
if len(sys.argv) > 2:
    sys.stdout.write(sys.argv[2])
sys.stdout.write("Allow this edit?\n  1) yes\n  2) no\n> ")
sys.stdout.flush()
for line in sys.stdin:
    with open(record, "a", encoding="utf-8") as out:
        out.write(json.dumps({"read": line.rstrip("\n")}) + "\n")
    sys.stdout.write("> ")
    sys.stdout.flush()
"""


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 10.0) -> T:
    """``probe()`` once it answers something truthy; fails saying ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.02)  # a poll interval, not a synchronisation


class TmuxServer:
    """One private tmux server; :meth:`new_pane` starts the stub in a new window."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("tmux")
        if exe is None:
            pytest.skip("tmux is not installed: the terminal tests need a real tmux server")
        self.exe = exe
        self.folder = folder
        self.name = f"ft-{os.getpid()}-{secrets.token_hex(3)}"
        self.env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        self.env["TMUX_TMPDIR"] = str(folder)
        self.tmux = Tmux(socket_name=self.name, env=self.env)
        self.stub = folder / "stub.py"
        self.stub.write_text(STUB)
        self.started = False

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.exe, "-L", self.name, "-f", os.devnull, *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=10,
        )
        return done.stdout.decode()

    def new_pane(self, cwd: Path, record: Path, banner: str = "") -> tuple[str, int]:
        """Start the stub in ``cwd`` (a new session the first time, then a new window); its pane
        id and pid, once the stub has written that it is ready."""
        argv = [sys.executable, str(self.stub), str(record), *([banner] if banner else [])]
        fmt = "#{pane_id} #{pane_pid}"
        if not self.started:
            out = self.run(
                "new-session", "-d", "-P", "-F", fmt, "-s", "ft", "-x", "100", "-y", "30",
                "-c", str(cwd), "--", *argv,
            )  # fmt: skip
            self.started = True
        else:
            out = self.run("new-window", "-d", "-P", "-F", fmt, "-c", str(cwd), "--", *argv)
        pane_id, pid = out.split()
        wait_for(f"the stub in {pane_id} to start", lambda: record_lines(record))
        wait_for(
            f"the prompt in {pane_id}",
            lambda: "2) no" in self.run("capture-pane", "-p", "-t", pane_id),
        )
        return pane_id, int(pid)

    def client_pane(self) -> str:
        """The pane the attached client shows (``""`` while none is attached)."""
        return self.run("list-clients", "-F", "#{pane_id}").strip()

    @contextlib.contextmanager
    def attached_client(self) -> Iterator[Tmux]:
        """The engineer's client attached to ``ft:0`` on a pseudo-terminal while the block runs
        (killed after it); yields the adapter as seen from inside tmux (``$TMUX`` names this
        server)."""
        master, slave = pty.openpty()
        client = subprocess.Popen(
            [self.exe, "-L", self.name, "attach", "-t", "ft:0"],
            stdin=slave, stdout=slave, stderr=slave, env={**self.env, "TERM": "xterm"},
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("the client to attach", self.client_pane)
            socket = self.folder / f"tmux-{os.getuid()}" / self.name
            yield Tmux(socket_name=self.name, env={**self.env, "TMUX": f"{socket},1,0"})
        finally:
            client.kill()
            client.wait()
            os.close(master)
            os.close(slave)

    def close(self) -> None:
        if self.started:
            subprocess.run(
                [self.exe, "-L", self.name, "kill-server"], env=self.env, capture_output=True
            )


def record_lines(record: Path) -> list[dict[str, object]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def reads(record: Path) -> list[object]:
    """What the stub read, line by line."""
    return [line["read"] for line in record_lines(record) if "read" in line]


async def until(
    pilot: Pilot[Any], what: str, probe: Callable[[], T | None], timeout_s: float = 10.0
) -> T:
    """:func:`wait_for` inside a Pilot test: the app keeps running while we poll."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}")
        await pilot.pause(0.02)
