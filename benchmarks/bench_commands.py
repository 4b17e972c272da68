"""The commands besides ``status`` on the scale factory: each one's time with the fold's
warm-start cache (what every run after the first is) beside the same command reading the whole
log (``FACTORY_TUI_FOLD_CACHE=0``), in one run.

    python benchmarks/bench_commands.py [--dir DIR] [--runs 3] [--quick]

Every command reads the factory; only ``status`` used to start from the cache, so ``agent``,
``prs``, ``cost``, a refused ``release`` or a ``recover`` that only shows folded the whole
history at each run (issue 17). The commands run here change nothing: ``release`` of a claim
that is not stale is refused, ``recover --close-merged`` of a session whose PR is not merged
(without a terminal) shows the session and refuses. Prints one line per command: warm median,
cold median, their ratio and the exit codes seen.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_all import FULL, QUICK, compile_package, factory

NOW = "2026-11-22T12:00:00"


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and exit code of ``python -m factory_tui ARGV`` (its output dropped)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "factory_tui", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    return time.perf_counter() - t0, done.returncode


def targets(root: Path, env: dict[str, str]) -> tuple[str, str, str]:
    """An agent, a claim that is not stale (its release is refused) and a crashed task."""
    out = subprocess.run(
        [sys.executable, "-m", "factory_tui", "status", str(root), "--json", "--now", NOW],
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    fleet = json.loads(out)
    agent = fleet["instances"][0]["id"]
    claim = next(c["id"] for c in fleet["claims"] if c.get("status") != "stale")
    crashed = next(s["task"] for s in fleet["sessions"] if s["status"] == "crashed")
    return agent, claim, crashed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="where the factory is (made if missing)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the scale factory")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-commands-"))
    root = factory(base, QUICK if args.quick else FULL)
    compile_package()
    with tempfile.TemporaryDirectory(prefix="factory-cache-") as cache:
        warm_env = {**os.environ, "FACTORY_TUI_CACHE_DIR": cache}
        cold_env = {**warm_env, "FACTORY_TUI_FOLD_CACHE": "0"}
        agent, claim, crashed = targets(root, warm_env)  # reads cold, saves the cache
        commands = {
            "status --json": ["status", str(root), "--json", "--now", NOW],
            "agent": ["agent", agent, str(root), "--now", NOW],
            "prs": ["prs", str(root), "--source", "local", "--now", NOW],
            "cost": ["cost", str(root)],
            "release (refused)": ["release", claim, str(root)],
            "recover (refused)": ["recover", "--close-merged", crashed, str(root)],
        }
        print(f"{'command':20} | {'warm':>8} | {'whole log':>9} | warm/whole | exit")
        for name, argv in commands.items():
            warm: list[float] = []
            cold: list[float] = []
            codes: set[int] = set()
            for _ in range(args.runs):  # interleaved: both see the same machine
                for env, into in ((warm_env, warm), (cold_env, cold)):
                    took, code = run(argv, env)
                    into.append(took)
                    codes.add(code)
            w, c = statistics.median(warm), statistics.median(cold)
            exits = ",".join(map(str, sorted(codes)))
            print(f"{name:20} | {w:6.2f} s | {c:7.2f} s | {w / c:9.2f}x | {exits}", flush=True)
    print(f"({args.runs} runs each, medians; {root})")


if __name__ == "__main__":
    main()
