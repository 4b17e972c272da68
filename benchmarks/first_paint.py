"""Start → first paint of a real process in a real terminal (a pseudo-terminal), as seen.

    python benchmarks/first_paint.py [--runs 7] [--scale DIR]

Each run execs a fresh interpreter on a pty of 160x48 and times from the exec until the first frame
is on the terminal: the bytes of a marker only the first frame writes (the bare app's text, the
cockpit's header title). Compared, in the same run, with a bare Textual app (a Static and a Footer),
the issue's baseline; with --scale DIR, the cockpit on a scale factory too (1M log lines: the
first paint must not wait for the read); with --old-transcripts MB, the cockpit on a second demo
whose Claude config folder holds MB of old transcripts besides its agents' (issue 13: finding each
agent's live transcript must not slow the first paint; see old_transcripts.py); with --baseline
DIR, each cockpit case again with the factory_tui package of another checkout (``git worktree add
DIR main``: its code first on PYTHONPATH), interleaved with the others, to compare a change
against its baseline in one run.

Each case's line is followed by the CPU time its processes used until then, less noisy than the
wall time on a machine whose cores other work competes for.

The factory_tui package is compiled first (``compileall``), as pip does at install: a machine
that sets PYTHONDONTWRITEBYTECODE would otherwise compile every module again in every timed run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BARE = """
from textual.app import App
from textual.widgets import Footer, Static

class Bare(App):
    def compose(self):
        yield Static("bare-app-painted")
        yield Footer()

Bare().run()
"""


def time_to_marker(
    argv: list[str],
    marker: bytes,
    env: dict[str, str],
    timeout: float = 60,
    cwd: Path | None = None,
) -> tuple[float, float]:
    """Seconds from exec to ``marker`` appearing on the pty's output, and the CPU seconds the
    process used (until it is killed, right after: on a busy machine a little more than until
    the marker; less noisy than the wall time where other work competes for the cores)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
    )
    os.close(slave)
    seen = b""
    try:
        while marker not in seen:
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"{argv}: no {marker!r} after {timeout} s")
            try:
                data = os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"{argv} ended before painting: {seen[-400:]!r}") from None
            seen = (seen + data)[-65536:]
        wall = time.perf_counter() - t0
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def stop_demo_agents(demo: Path) -> None:
    """The demo's live agents (``demo --no-ui`` leaves them running): stopped with the run."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        if str(demo) in " ".join(process.info["cmdline"] or ()):
            with contextlib.suppress(psutil.Error):
                process.kill()


def make_demo(folder: Path, env: dict[str, str]) -> None:
    """The demo factory of 10 agents at ``folder``, its agents left running."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_tui",
            "demo",
            "--dir",
            str(folder),
            "--no-ui",
            "--agents",
            "10",
        ],
        check=True,
        capture_output=True,
        env=env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scale", type=Path, help="a factory from scale_factory.py")
    parser.add_argument(
        "--old-transcripts", type=int, default=0, metavar="MB", help="see the docstring"
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR", help="another checkout to compare with"
    )
    args = parser.parse_args()
    # As installed: the bytecode is there (see the module's docstring).
    for checkout in (REPO, args.baseline):
        if checkout is not None:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", "factory_tui"], check=True, cwd=checkout
            )
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    # This checkout's code, whatever is installed (run from a folder of no package of its own).
    env["PYTHONPATH"] = str(REPO)
    work = Path(tempfile.mkdtemp(prefix="first-paint-"))
    env["FACTORY_TUI_STATE_DIR"] = str(work / "state")
    env["CLAUDE_CONFIG_DIR"] = str(work / "claude")
    bare_script = work / "bare.py"
    bare_script.write_text(BARE)
    demo = work / "demo"
    make_demo(demo, env)
    demos = [demo]
    cockpit = [sys.executable, "-m", "factory_tui", str(demo)]
    title = b"factory-tui"
    cases: list[tuple[str, list[str], bytes]] = [
        ("bare Textual app", [sys.executable, str(bare_script)], b"bare-app-painted"),
        ("cockpit, demo factory (10 agents)", cockpit, title),
    ]
    if args.old_transcripts:
        from old_transcripts import write_old_transcripts

        crowded = work / "demo-old-transcripts"
        make_demo(crowded, env)
        demos.append(crowded)
        trees = sorted(p for p in (crowded / ".worktrees").iterdir() if p.is_dir())
        files, size = write_old_transcripts(
            crowded / ".factory" / "claude", trees, args.old_transcripts
        )
        print(f"({files} old transcripts, {size / 2**20:.0f} MB, in the second demo)")
        cases.append(
            (
                f"cockpit, demo factory + {size / 2**20:.0f} MB of old transcripts",
                [sys.executable, "-m", "factory_tui", str(crowded)],
                title,
            )
        )
    if args.scale:
        cases.append(
            (
                "cockpit, scale factory",
                [sys.executable, "-m", "factory_tui", str(args.scale)],
                title,
            )
        )
    envs = {name: env for name, _, _ in cases}
    if args.baseline:
        baseline_env = {**env, "PYTHONPATH": str(args.baseline.resolve())}
        for name, argv, marker in list(cases[1:]):
            cases.append((f"{name} [baseline]", argv, marker))
            envs[f"{name} [baseline]"] = baseline_env
    results: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    try:
        for _ in range(args.runs):  # interleaved, so that a noisy moment hits every case alike
            for name, argv, marker in cases:
                wall, used = time_to_marker(argv, marker, envs[name], cwd=work)
                results[name].append(wall)
                cpu[name].append(used)
    finally:
        for folder in demos:
            stop_demo_agents(folder)
    bare = statistics.median(results["bare Textual app"])
    bare_cpu = statistics.median(cpu["bare Textual app"])
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"first paint, {name}: median {median * 1000:.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, {args.runs} runs); "
            f"{median / bare:.2f}x the bare app"
        )
        used = statistics.median(cpu[name])
        print(
            f"  (its CPU time: median {used * 1000:.0f} ms, {used / bare_cpu:.2f}x the bare app's)"
        )


if __name__ == "__main__":
    main()
