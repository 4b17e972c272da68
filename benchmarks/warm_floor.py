"""The floor of a warm ``status --json``: what a warm start cannot skip even if it re-derived and
re-serialised nothing, on the scale factory and on the 10x one, in one run.

    python benchmarks/warm_floor.py DIR1 DIR10 [--runs 3]

DIR1 and DIR10 are factories from ``scale_factory.py`` (``run_all.py --dir DIR`` makes them as
``DIR/factory-1000000`` and ``DIR/factory-10000000-300d``). Each run is a fresh interpreter that
imports the logs' reader, loads the fold cache and folds what was appended (10 new lines each
run), stats every claim file, lists the checkpoints folder and writes the answer of a real
``status --json`` run again (made once, first; it also leaves the caches warm). Printed: each
stage's median and the process's, start to end, and the 10x / 1x ratio of those, beside the
warm growth target of issue 17 (≤ 1.5x): an answer cache could at best approach this floor.
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

REPO = Path(__file__).resolve().parent.parent

FLOOR = r"""
import json, os, sys, time
t0 = time.perf_counter()
import gc
gc.disable()
from pathlib import Path
from factory_tui.adapters.factory_logs import FactoryLogs
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.config import load_config
stages = {"imports": time.perf_counter() - t0}
root, answer = Path(sys.argv[1]), Path(sys.argv[2])
def mark(name, begun):
    stages[name] = time.perf_counter() - begun
begun = time.perf_counter()
config = load_config(root, flags={}, env={}, user_config=root / "no-user-config.toml")
logs = FactoryLogs(config, FoldCache.from_env())
logs.refresh()
mark("fold cache load + new lines", begun)
begun = time.perf_counter()
claims = sum(1 for entry in os.scandir(config.claims_dir) if entry.stat())
mark("stat of the claim files", begun)
begun = time.perf_counter()
checkpoints = sum(1 for _ in os.scandir(config.checkpoints_dir))
mark("checkpoints folder listed", begun)
begun = time.perf_counter()
with open(os.devnull, "wb") as out:
    out.write(answer.read_bytes())
mark("the answer written again", begun)
stages["in process"] = time.perf_counter() - t0
print(json.dumps(stages))
os._exit(0)
"""


def append_lines(root: Path, n: int) -> None:
    log = root / ".factory" / "memory" / "operations.log"
    with log.open("a") as f:
        for k in range(n):
            f.write(f"2026-11-22T12:00 | STEP-DONE | step=floor-{k} task=CAB-1\n")


def one_run(root: Path, answer: Path, env: dict[str, str]) -> dict[str, float]:
    append_lines(root, 10)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", FLOOR, str(root), str(answer)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, float] = json.loads(done.stdout)
    found["process, start to end"] = time.perf_counter() - began  # the interpreter's start too
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("one", type=Path, help="the scale factory")
    parser.add_argument("ten", type=Path, help="the 10x factory")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="warm-floor-") as folder:
        answers = {}
        for name, root in (("1x", args.one), ("10x", args.ten)):
            answers[name] = Path(folder) / f"{name}.json"
            with answers[name].open("wb") as out:  # a real answer; the caches left warm
                cmd = [sys.executable, "-m", "factory_tui", "status", "--json", str(root)]
                subprocess.run(cmd, env=env, stdout=out, check=True)
            results[name] = []
        for _run in range(args.runs):  # interleaved: both see the same machine
            for name, root in (("1x", args.one), ("10x", args.ten)):
                results[name].append(one_run(root, answers[name], env))
    totals = {}
    for name, runs in results.items():
        parts = ", ".join(
            f"{stage} {statistics.median(r[stage] for r in runs) * 1000:.0f} ms"
            for stage in runs[0]
            if stage != "process, start to end"
        )
        totals[name] = statistics.median(r["process, start to end"] for r in runs)
        print(
            f"{name}: {totals[name] * 1000:.0f} ms, start to end ({parts}; median of {args.runs})"
        )
    print(
        f"warm floor, 10x / 1x: {totals['10x'] / totals['1x']:.2f}x "
        "(issue 17's warm growth target: <= 1.5x; status itself: see run_all.py)"
    )


if __name__ == "__main__":
    main()
