"""Issues 2 and 17's performance figures, measured in one run on a generated scale factory.

    python benchmarks/bench_status.py [--dir DIR] [--runs 5] [--appends 50] [--lines N ...]

Prints:
- ``status --json`` cold (``--no-cache``: the whole log folded) and warm (the fold cache of the
  previous run, then 10 new log lines each run), and cold on one core (no split fold, the runs
  interleaved): wall time and peak RSS (a fresh process each
  run, its peak RSS with its split fold's child; median of --runs), and warm / cold;
- one appended operations.log line: fold update alone, and fold update + full fleet re-derive;
- one changed claim file: re-read alone, and re-read + full fleet re-derive.
Targets (issue 17): cold ≤ 1.5 s, warm ≤ 0.3x cold (ideally ≤ 0.4 s), RSS ≤ 150 MB; an appended
line re-derived ≤ 5 ms; a changed claim re-derived ≤ 5 ms. ``--lines`` etc. size the generated
factory (default: the scale factory of issue 2, 1M + 200k lines).
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
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from run_all import compile_package
from scale_factory import NOW, generate

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import append_line
from factory_tui.config import load_config


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms"


#: Runs the command given as its arguments and prints its wall time and its peak RSS. The RSS
#: of a process this benchmark starts directly would not be its own: Linux carries the parent's
#: peak into the child's ``ru_maxrss`` across the fork and exec (this process, with factory_tui
#: and the generator imported, is ~80 MB), so a small launcher starts it instead. A long log's
#: cold read has a child process of its own (the split fold): the figure is then the peak of the
#: two together, sampled every 10 ms from /proc, or the process's own ``ru_maxrss`` if higher.
LAUNCHER = """
import os, subprocess, sys, time

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def tree(pid):
    found = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for child in f.read().split():
                found += tree(int(child))
    except OSError:
        pass
    return found

import threading
peak = [0]
done = threading.Event()

def sample(pid):
    while not done.wait(0.01):
        peak[0] = max(peak[0], sum(map(rss_kb, tree(pid))))

t0 = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
threading.Thread(target=sample, args=(child.pid,), daemon=True).start()
_pid, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - t0
done.set()
rss = max(peak[0], usage.ru_maxrss)
print(f"{wall} {rss} {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


def run_status(
    root: Path, now: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, float, bytes]:
    """One ``status --json`` in a fresh process: its wall time (s), its peak RSS (MB) and
    its stdout (see :data:`LAUNCHER`)."""
    argv = [sys.executable, "-m", "factory_tui", "status", str(root), "--json", "--now", now]
    launcher = [sys.executable, "-S", "-c", LAUNCHER]
    with tempfile.TemporaryFile() as out:
        done = subprocess.run(
            [*launcher, *argv, *extra], stdout=out, stderr=subprocess.PIPE, env=env, check=True
        )
        wall, rss_kb, code = done.stderr.decode().split()[-3:]
        if int(code) != 0:
            raise SystemExit(f"status --json exited {code} on {root}")
        out.seek(0)
        return float(wall), int(rss_kb) / 1024, out.read()


def report_status(kind: str, runs: list[tuple[float, float, bytes]], note: str) -> None:
    walls = [wall for wall, _rss, _out in runs]
    print(
        f"status --json {kind}: median {statistics.median(walls):.2f} s over {len(runs)} runs "
        f"(min {min(walls):.2f}, max {max(walls):.2f}); peak RSS "
        f"{max(rss for _w, rss, _o in runs):.0f} MB; {note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse/generate the scale factory here")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--appends", type=int, default=50)
    parser.add_argument("--lines", type=int, default=1_000_000, help="when generating")
    parser.add_argument("--claims", type=int, default=1000, help="when generating")
    parser.add_argument("--checkpoints", type=int, default=10_000, help="when generating")
    parser.add_argument("--cold-runs", type=int, help="cold status runs (default: --runs)")
    parser.add_argument(
        "--status-only",
        action="store_true",
        help="only the status runs (skip the in-process appended line and changed claim)",
    )
    args = parser.parse_args()
    compile_package()
    root = args.dir or Path(tempfile.mkdtemp(prefix="factory-scale-")) / "factory"
    if not (root / "factory.toml").exists():
        print(f"generating the scale factory in {root} …", flush=True)
        t0 = time.perf_counter()
        generate(
            root,
            lines=args.lines,
            history=args.lines // 5,
            claims=args.claims,
            checkpoints=args.checkpoints,
        )
        print(f"  done in {time.perf_counter() - t0:.1f}s")
    now = NOW.strftime("%Y-%m-%dT%H:%M")
    # As installed: pip writes the package's bytecode at install; a machine that sets
    # PYTHONDONTWRITEBYTECODE would otherwise recompile every module in every timed run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "factory_tui"], check=True, cwd=REPO)

    cache = tempfile.TemporaryDirectory(prefix="factory-cache-")  # the fold cache, removed at exit
    env = {**os.environ, "FACTORY_TUI_CACHE_DIR": cache.name}
    cold_runs = args.runs if args.cold_runs is None else args.cold_runs
    one_core = {**env, "FACTORY_TUI_SPLIT_FOLD": "0"}
    cold, single = [], []
    for _ in range(cold_runs):  # interleaved: the two see the same machine
        cold.append(run_status(root, now, "--no-cache", env=env))
        single.append(run_status(root, now, "--no-cache", env=one_core))
    summary = json.loads(cold[-1][2])["summary"]
    if single[-1][2] != cold[-1][2]:
        raise SystemExit("status --json read on one core says something else than on two")
    report_status("cold", cold, f"{summary['log_events']} log events")
    report_status("cold on one core", single, "FACTORY_TUI_SPLIT_FOLD=0")
    first = run_status(root, now, env=env)  # reads cold, saves the cache
    print(f"status --json first run (cold + saving the cache): {first[0]:.2f} s, {first[1]:.0f} MB")
    log = root / ".factory" / "memory" / "operations.log"
    warm = []
    for n in range(args.runs):
        with log.open("a") as f:
            for k in range(10):
                f.write(f"{now} | STEP-DONE | step=code task=WARM-{n} detail=line-{k}\n")
        warm.append(run_status(root, now, env=env))
    ratio = statistics.median(w for w, _, _ in warm) / statistics.median(w for w, _, _ in cold)
    report_status("warm", warm, f"10 new log lines each; warm/cold {ratio:.2f}x")
    if json.loads(warm[-1][2])["summary"]["log_events"] != summary["log_events"] + 10 * args.runs:
        raise SystemExit("the warm status did not count the appended lines")
    if args.status_only:
        return

    config = load_config(root, flags={}, env={}, user_config=root / "no-user-config.toml")
    reader = FactoryReader(config)
    rss0 = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    reader.refresh_all()
    fleet_t0 = time.perf_counter()
    reader.fleet(NOW)
    print(
        f"in-process first read: {fleet_t0 - t0:.2f} s, RSS "
        f"+{(psutil.Process().memory_info().rss - rss0) / 2**20:.0f} MB; one full derive: "
        f"{(time.perf_counter() - fleet_t0) * 1000:.1f} ms"
    )

    # The cockpit's path for an appended line: read and fold it, then re-derive what it touched
    # (the process table of the last probe still stands; the tick re-probes). Lines name the
    # tasks of open sessions (touching a session, its instance and that instance's claims) and
    # start new sessions (superseding one), as agents do.
    opened = sorted(reader.fold.open_by_task)
    fold_only: list[float] = []
    with_derive: list[float] = []
    full_derive: list[float] = []
    for i in range(args.appends):
        task = opened[i % len(opened)]
        line = (
            f"{now} | SESSION-START | task=NEW-{i} branch=fix/NEW-{i} instance=t10001-bench"
            if i % 5 == 0
            else f"{now} | STEP-DONE | step=code task={task} detail=bench"
        )
        append_line(config.log_file, line)
        t0 = time.perf_counter()
        reader.refresh_log()
        t1 = time.perf_counter()
        reader.fleet(NOW, reprobe=False)
        t2 = time.perf_counter()
        reader.fleet(NOW, reprobe=False, full=True)
        t3 = time.perf_counter()
        fold_only.append(t1 - t0)
        with_derive.append(t2 - t0)
        full_derive.append(t3 - t2)
    print(f"one appended log line, read + folded: {ms(fold_only)}")
    print(f"one appended log line, read + folded + fleet re-derived: {ms(with_derive)}")
    print(f"  (for comparison, a full derive of the same fleet: {ms(full_derive)})")

    claim = sorted(config.claims_dir.glob("CAB-*.json"))[1]
    reread: list[float] = []
    reread_derive: list[float] = []
    for i in range(args.appends):
        data = json.loads(claim.read_text())
        data["title"] = f"Ticket retitled {i}"
        claim.write_text(json.dumps(data, indent=2))
        t0 = time.perf_counter()
        reader.refresh_claim(claim)
        t1 = time.perf_counter()
        reader.fleet(NOW)
        t2 = time.perf_counter()
        reread.append(t1 - t0)
        reread_derive.append(t2 - t0)
    print(f"one changed claim file, re-read: {ms(reread)}")
    print(f"one changed claim file, re-read + fleet re-derived: {ms(reread_derive)}")
    print(f"(at {datetime.now():%Y-%m-%d %H:%M}: {args.runs} status runs, {args.appends} changes)")


if __name__ == "__main__":
    main()
