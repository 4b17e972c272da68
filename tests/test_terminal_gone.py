"""The terminal closing under the cockpit (an SSH connection dropped, ``tmux kill-server``): the
cockpit quits and its process ends. Textual's output thread died on the first write to the gone
terminal (EIO) and the quit then waited forever for it (4 runs in 6, killed while starting)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from tmuxserver import TmuxServer, wait_for

from factory_tui.ui.driver import TerminalOutput, cockpit_driver


class Gone(io.StringIO):
    """A terminal that is gone: every write and flush fails as a closed pty's does."""

    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")


def test_a_failed_write_means_the_terminal_is_gone_and_later_ones_are_dropped() -> None:
    out = TerminalOutput(Gone())
    assert out.write("frame") == len("frame") and out.gone
    out.flush()
    assert out.write("more") == len("more")
    kept = io.StringIO()
    alive = TerminalOutput(kept)
    alive.write("a frame")
    alive.flush()
    assert kept.getvalue() == "a frame" and not alive.gone


def test_only_textuals_linux_driver_is_replaced() -> None:
    from textual.drivers.headless_driver import HeadlessDriver
    from textual.drivers.linux_driver import LinuxDriver

    assert cockpit_driver(HeadlessDriver) is HeadlessDriver
    replaced = cockpit_driver(LinuxDriver)
    assert replaced is not LinuxDriver and issubclass(replaced, LinuxDriver)


def _factory(root: Path) -> Path:
    """A factory whose log takes the cockpit a moment to read (the window of the hang)."""
    memory = root / ".factory" / "memory"
    memory.mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    lines = (
        f"2026-02-{1 + n // 20_000:02d}T10:{n % 60:02d} | STEP-DONE | step=s task=t{n % 97} "
        f"component=c{n}\n"
        for n in range(150_000)
    )
    (memory / "operations.log").write_text("".join(lines))
    return root


@pytest.mark.stress
@pytest.mark.parametrize("shown", [False, True], ids=["while-starting", "once-shown"])
def test_the_cockpit_ends_when_its_terminal_closes(tmp_path: Path, shown: bool) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's driver")
    root = _factory(tmp_path / "factory")
    server = TmuxServer(tmp_path)
    env = {**os.environ, "FACTORY_TUI_FOLD_CACHE": "0"}
    for attempt in range(3):
        out = server.run(
            "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", f"c{attempt}",
            "-x", "120", "-y", "40", "-e", f"FACTORY_TUI_FOLD_CACHE={env['FACTORY_TUI_FOLD_CACHE']}",
            "--", sys.executable, "-m", "factory_tui", str(root),
        )  # fmt: skip
        proc = psutil.Process(int(out.split()[0]))
        server.run("send-keys", "-t", f"c{attempt}", "4")
        if shown:
            wait_for(
                "the cockpit's first frame",
                lambda a=attempt: "Agents" in server.run("capture-pane", "-p", "-t", f"c{a}"),
            )
        subprocess.run(
            [server.exe, "-L", server.name, "-f", os.devnull, "kill-server"],
            env=server.env, capture_output=True, timeout=10,
        )  # fmt: skip
        try:
            proc.wait(timeout=20)
        except psutil.TimeoutExpired:
            proc.kill()
            pytest.fail(
                f"attempt {attempt + 1}: the cockpit still runs 20 s after its terminal closed"
            )
