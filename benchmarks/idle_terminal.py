"""An idle cockpit's CPU in a real terminal (a tmux pane), beside a bare Textual app's in the same
terminal: what the headless figures of ``bench_cockpit.py`` leave out (the driver's input thread,
the terminal's output) (issue 17).

    python benchmarks/idle_terminal.py [--idle 30]

The cockpit (``python -m factory_tui ui``) runs on a demo factory of 10 agents, twice: with the
stub processes of its working and idle agents running, then with none (the stubs stopped: a
finished fleet left open). A bare Textual app (one ``Static``) runs in the same pane size.
Each is measured from ``/proc`` (every thread's CPU and voluntary context switches) over
``--idle`` seconds (at least 61 with no agent running: its ticks come once a minute), once its
first frame is on screen and 10 s have passed. Prints one line each, as (measured here):

    terminal idle, 4 agents' processes running: 1.53 % of a core, 2.0 wake-ups a second
    terminal idle, no agent process running: 0.48 % of a core, 1.4 wake-ups a second (over 61 s)
    terminal idle, bare Textual app: 0.47 % of a core, 9.9 wake-ups a second
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from log_tail import kill_server, tmux

from factory_tui.adapters.procs import local_hostname
from factory_tui.demo import generate_demo
from factory_tui.demo.generator import stop_demo_processes

SETTLE_S = 10
BARE = """
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("bare Textual app")


Bare().run()
"""


def cpu_and_wakeups(proc: psutil.Process) -> tuple[float, int]:
    """Every thread's CPU seconds and voluntary context switches, from ``/proc``."""
    cpu, switches = 0.0, 0
    for thread in proc.threads():
        cpu += thread.user_time + thread.system_time
        try:
            with open(f"/proc/{proc.pid}/task/{thread.id}/status") as status:
                switches += next(
                    int(line.split()[1])
                    for line in status
                    if line.startswith("voluntary_ctxt_switches:")
                )
        except (OSError, StopIteration):
            pass  # a thread that ended meanwhile
    return cpu, switches


def idle_in_tmux(argv: list[str], shown: str, seconds: float, cwd: Path) -> tuple[float, float]:
    """``argv`` in a fresh 160x48 tmux pane: once ``shown`` is on screen and :data:`SETTLE_S`
    went by, its CPU (% of a core) and wake-ups a second over ``seconds``."""
    socket = f"idle-terminal-{os.getpid()}-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    out = tmux(
        socket, "new-session", "-d", "-P", "-F", "#{pane_pid}", "-x", "160", "-y", "48",
        "-c", str(cwd), "--", *argv, env=env,
    )  # fmt: skip
    try:
        proc = psutil.Process(int(out.split()[0]))
        deadline = time.monotonic() + 60
        while shown not in tmux(socket, "capture-pane", "-p", env=env):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv}: {shown!r} not on screen after 60 s")
            time.sleep(0.2)
        time.sleep(SETTLE_S)  # benchmark only: the first load's last work done
        cpu0, woken0 = cpu_and_wakeups(proc)
        began = time.monotonic()
        time.sleep(seconds)
        cpu1, woken1 = cpu_and_wakeups(proc)
        spent = time.monotonic() - began
        return (cpu1 - cpu0) / spent * 100, (woken1 - woken0) / spent
    finally:
        kill_server(socket, env)


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="idle-terminal-") as folder:
        base = Path(folder)
        os.environ["FACTORY_TUI_CACHE_DIR"] = str(base / "cache")
        cockpit = [sys.executable, "-m", "factory_tui", "ui"]
        demo = generate_demo(
            base / "factory", now=datetime.now(), hostname=local_hostname(), agents=10
        )
        try:
            cpu, woken = idle_in_tmux([*cockpit, str(demo.root)], "Agents", args.idle, base)
        finally:
            stop_demo_processes(demo)
        print(
            f"terminal idle, {len(demo.pids)} agents' processes running: {cpu:.2f} % of a core, "
            f"{woken:.1f} wake-ups a second"
        )
        # Its ticks come as the clock's minute turns: a window of a minute or more holds one.
        window = max(args.idle, 61)
        cpu, woken = idle_in_tmux([*cockpit, str(demo.root)], "Agents", window, base)
        print(
            f"terminal idle, no agent process running: {cpu:.2f} % of a core, "
            f"{woken:.1f} wake-ups a second (over {window:.0f} s)"
        )
        bare = base / "bare.py"
        bare.write_text(BARE)
        cpu, woken = idle_in_tmux([sys.executable, str(bare)], "bare Textual app", args.idle, base)
        print(
            f"terminal idle, bare Textual app: {cpu:.2f} % of a core, {woken:.1f} wake-ups a second"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=30, help="seconds of idle to measure")
    main(parser.parse_args())
