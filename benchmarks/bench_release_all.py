"""Releasing every stale claim of a scale factory, as the cockpit's ``X`` does (the action alone,
no cockpit): the time per release.

    python benchmarks/bench_release_all.py --scale DIR [--runs 2] [--baseline TREE]

Each run copies DIR (a factory from scale_factory.py: 1,000 claims, 200 of them stale) to a temp
folder, reads it once warm (as the cockpit's action reader is), then times ``release_all_stale``
in a fresh interpreter. With ``--baseline TREE`` (a worktree of another commit: ``git worktree
add TREE REV``), each run is made with that tree's package too, interleaved, to compare in one
run. Prints the median per release of each.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from scale_factory import run_on_a_warm_copy

ROOT = Path(__file__).resolve().parent.parent

TIMED = """
import sys, time
from datetime import datetime
from pathlib import Path
from factory_tui.actions.release import release_all_stale
from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import load_config

config = load_config(Path(sys.argv[1]), flags={}, env={})
reader = FactoryReader.warm(config)
reader.refresh_all()
began = time.perf_counter()
results = release_all_stale(config, now=datetime.now(), reader=reader, by="bench")
spent = time.perf_counter() - began
done = sum(result.ok for _key, result in results)
print(f"{spent:.4f} {len(results)} {done}")
"""


def one_run(scale: Path, tree: Path) -> tuple[float, int, int]:
    """(seconds, stale claims, released) for a fresh copy of ``scale`` with ``tree``'s package."""
    out = run_on_a_warm_copy(scale, tree, TIMED).split()
    return float(out[0]), int(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=Path, required=True, help="a factory from scale_factory.py")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="a worktree of another commit")
    args = parser.parse_args()
    trees = {"this tree": ROOT} | ({"baseline": args.baseline} if args.baseline else {})
    found: dict[str, list[float]] = {name: [] for name in trees}
    for _run in range(args.runs):
        for name, tree in trees.items():
            seconds, stale, released = one_run(args.scale, tree)
            if not stale or released != stale:
                raise SystemExit(f"bench_release_all: {name}: released {released} of {stale}")
            found[name].append(seconds / stale * 1000)
            print(f"{name}: {stale} stale claims released in {seconds:.2f} s", flush=True)
    for name, per in found.items():
        print(
            f"release all stale, {name}: median {statistics.median(per):.1f} ms a release "
            f"({', '.join(f'{ms:.1f}' for ms in per)})"
        )


if __name__ == "__main__":
    main()
