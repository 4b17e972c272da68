"""Launch → the log's last line on screen: the cockpit's Log view against toolong (issue 17).

    python benchmarks/log_tail.py [--runs 5] [--lines 800000] [--size 160x48] [--keep DIR]
        [--baseline SRC]

Makes a factory whose operations.log holds ``--lines`` lines (~58 MB at 800k, the lines of
scale_factory.py's generator) ending in a line only the tail has, installs toolong (``tl``) in a
venv of its own under the user cache folder (it pins an older Textual: never into the project's
venv), then times, interleaved, run after run:

- ``tl <operations.log>``;
- ``factory-tui <factory>`` with the Log view's key (``4``) sent at once (typed ahead of the first
  frame: the cockpit holds it until its views are mounted);

and with ``--baseline DIR``, the cockpit of another source tree too (``PYTHONPATH=DIR``: e.g. a
``git archive`` of main, to compare before and after in the same run); each in a tmux server of
its own (``tmux -L``) with one session of a fixed size, from the
``new-session`` call until the first ``capture-pane -p`` that shows the last line (polled every
``--poll`` seconds). The cockpit's caches are fresh per run (a cold start: no fold cache). Prints
each run, the medians side by side and their ratio (target: the cockpit ≤ toolong).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_factory import generate

MARKER = "tail-marker-of-the-benchmark"
TOOLONG = "toolong"


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "factory-tui-bench"


def toolong_tl(folder: Path) -> Path:
    """``tl`` from a venv of its own in ``folder`` (made and filled on first use)."""
    venv = folder / "toolong-venv"
    tl = venv / "bin" / "tl"
    if not tl.exists():
        print(f"installing toolong into {venv} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", TOOLONG], check=True
        )
    return tl


def make_factory(root: Path, lines: int) -> Path:
    """A factory with ``lines`` log lines (no rotated history) and a last line that only the
    tail has; returns its operations.log."""
    generate(root, agents=100, claims=1000, lines=lines, history=0, checkpoints=1000)
    memory = root / ".factory" / "memory"
    (memory / "operations.log.1").unlink()  # generate writes an empty-line history at 0
    log = memory / "operations.log"
    with log.open("a") as out:
        out.write(f"2026-11-22T12:00 | SESSION-END | task=CAB-1 status=success pr={MARKER}\n")
    return log


def tmux(socket: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["tmux", "-L", socket, "-f", os.devnull, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    if done.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def kill_server(socket: str, env: dict[str, str]) -> None:
    """End the tmux server ``socket`` and what runs in it (gone already: nothing said)."""
    subprocess.run(
        ["tmux", "-L", socket, "-f", os.devnull, "kill-server"],
        capture_output=True,
        env=env,
        timeout=20,
    )


def time_to_tail(
    argv: list[str],
    keys: list[str],
    env: dict[str, str],
    *,
    width: int,
    height: int,
    poll: float,
    cwd: Path,
    timeout: float = 60,
) -> float:
    """Seconds from starting ``argv`` in a fresh tmux session (``keys`` sent right after) to
    the first capture that shows :data:`MARKER`. ``cwd``: where it runs (not a source tree:
    ``python -m factory_tui`` would import the package found there, whatever PYTHONPATH says)."""
    socket = f"log-tail-{os.getpid()}-{time.monotonic_ns()}"
    command = " ".join(_quote(a) for a in argv)
    t0 = time.perf_counter()
    size = ("-x", str(width), "-y", str(height))
    tmux(socket, "new-session", "-d", *size, "-c", str(cwd), "-s", "b", command, env=env)
    try:
        if keys:
            tmux(socket, "send-keys", "-t", "b", *keys, env=env)
        while True:
            screen = tmux(socket, "capture-pane", "-p", "-t", "b", env=env)
            if MARKER in screen:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"{argv}: no last line after {timeout} s:\n{screen}")
            time.sleep(poll)
    finally:
        kill_server(socket, env)


def compile_package(tree: Path) -> None:
    """The bytecode of ``tree``'s factory_tui, as pip writes it at install (a machine that sets
    PYTHONDONTWRITEBYTECODE would compile every module again in every timed run)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "factory_tui")], check=True
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=800_000)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--poll", type=float, default=0.02)
    parser.add_argument("--keep", type=Path, help="make the factory here (kept, reused)")
    parser.add_argument("--baseline", type=Path, help="a source tree to time beside this one")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    if shutil.which("tmux") is None:
        sys.exit("tmux is not installed")
    tl = toolong_tl(cache_folder())
    work = Path(tempfile.mkdtemp(prefix="log-tail-"))
    root = args.keep or work / "factory"
    log = root / ".factory" / "memory" / "operations.log"
    if not log.exists() or MARKER not in log.read_bytes()[-200:].decode(errors="replace"):
        root.mkdir(parents=True, exist_ok=True)
        make_factory(root, args.lines)
    size_mb = log.stat().st_size / 1e6
    with log.open("rb") as f:
        count = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    print(f"operations.log: {size_mb:.1f} MB, {count:,} lines; tmux {width}x{height}")
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("NO_COLOR", None)
    env.pop("TMUX", None)
    compile_package(HERE.parent)
    factory_tui = Path(sys.executable).with_name("factory-tui")
    cockpit_argv = (
        [str(factory_tui)] if factory_tui.exists() else [sys.executable, "-m", "factory_tui"]
    )
    cases: list[tuple[str, list[str], list[str], dict[str, str]]] = [
        ("toolong (tl)", [str(tl), str(log)], [], {}),
        ("cockpit, Log view", [*cockpit_argv, str(root)], ["4"], {}),
    ]
    if args.baseline:
        baseline = str(args.baseline.resolve())
        cases.insert(
            1,
            (
                "cockpit (baseline), Log view",
                [sys.executable, "-m", "factory_tui", str(root)],
                ["4"],
                {"PYTHONPATH": baseline},
            ),
        )
        compile_package(Path(baseline))
    results: dict[str, list[float]] = {name: [] for name, _, _, _ in cases}
    for run in range(args.runs):  # interleaved: a noisy moment hits both alike
        state = work / f"state-{run}"
        run_env = {
            **env,
            "FACTORY_TUI_STATE_DIR": str(state / "state"),
            "CLAUDE_CONFIG_DIR": str(state / "claude"),
        }
        figures = []
        # toolong first, then the cockpits, their order swapped every other run: the one run
        # right after toolong was 20-25 % faster whatever code it ran (measured both ways).
        order = [cases[0], *(cases[1:] if run % 2 == 0 else cases[:0:-1])]
        for name, argv, keys, extra in order:
            seconds = time_to_tail(
                argv,
                keys,
                # A cold start every run, each cockpit its own cache folder.
                {**run_env, **extra, "FACTORY_TUI_CACHE_DIR": str(state / f"cache-{name}")},
                width=width,
                height=height,
                poll=args.poll,
                cwd=work,
            )
            results[name].append(seconds)
            figures.append(f"{name} {seconds * 1000:.0f} ms")
        print(f"run {run + 1}: " + ", ".join(figures), flush=True)
    tl_med = statistics.median(results["toolong (tl)"])
    ck_med = statistics.median(results["cockpit, Log view"])
    print()
    print(f"{'launch -> last line visible':<32}{'median':>10}{'min':>10}{'max':>10}{'/ tl':>8}")
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:<32}{median * 1000:>8.0f}ms"
            f"{min(values) * 1000:>8.0f}ms{max(values) * 1000:>8.0f}ms{median / tl_med:>7.2f}x"
        )
    verdict = "pass" if ck_med <= tl_med else "FAIL"
    print(f"cockpit / toolong: {ck_med / tl_med:.2f}x (target <= 1.00x): {verdict}")
    if args.keep is None:
        log.unlink()  # the 58 MB; the rest of the temporary folder is small


if __name__ == "__main__":
    main()
