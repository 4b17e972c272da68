"""The fold's cost per line against the number of tasks in the log: the first MB of two factories'
logs folded on one core, interleaved, the same number of lines each.

    python benchmarks/fold_by_tasks.py DIR_A DIR_B [--mb 150] [--runs 3]

``run_all.py --dir DIR`` makes two such factories with the same history and line count:
``DIR/factory-10000000-300d`` (10,000 claims, so 10,000 tasks in its log) and
``DIR/factory-10000000-300d-1000c`` (1,000). The cold 10x / 1x row of issue 17 grows faster than
the lines when the tasks grow with them: this prints by how much, and how much of it is the
packing of old sessions. The cyclic collector is off, as ``status`` has it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from factory_tui.core import fold_sessions
from factory_tui.core.fold import LogFold


def fold_head(root: Path, limit: int) -> tuple[float, float, int]:
    """Seconds to fold the first ``limit`` bytes of ``root``'s rotated log then log, of which
    packing; and the lines folded."""
    packing = [0.0]
    pack = fold_sessions.SessionTable._pack

    def timed(self: fold_sessions.SessionTable, *args: object) -> None:
        began = time.perf_counter()
        pack(self, *args)  # type: ignore[arg-type]
        packing[0] += time.perf_counter() - began

    fold_sessions.SessionTable._pack = timed  # type: ignore[method-assign]
    try:
        fold = LogFold()
        done = 0
        line = 1
        began = time.perf_counter()
        for name in ("operations.log.1", "operations.log"):
            path = root / ".factory" / "memory" / name
            if not path.exists():
                continue
            with path.open("rb") as f:
                while done < limit:
                    block = f.read(1 << 20)
                    if not block:
                        break
                    cut = block.rfind(b"\n") + 1
                    f.seek(cut - len(block), 1)
                    block = block[:cut]
                    fold.feed_block(block, name, line)
                    line += block.count(b"\n")
                    done += len(block)
        return time.perf_counter() - began, packing[0], line - 1
    finally:
        fold_sessions.SessionTable._pack = pack  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--mb", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    gc.disable()
    found: dict[Path, list[tuple[float, float, int]]] = {args.a: [], args.b: []}
    for _run in range(args.runs):  # interleaved: both see the same machine
        for root in found:
            found[root].append(fold_head(root, args.mb << 20))
            gc.collect()
    for root, runs in found.items():
        tasks = len(list((root / ".claude" / "claims").glob("*.json")))
        whole = statistics.median(r[0] for r in runs)
        packing = statistics.median(r[1] for r in runs)
        print(
            f"{root.name} ({tasks} claim files): {runs[0][2]} lines in {whole:.2f} s "
            f"({whole / runs[0][2] * 1e6:.2f} µs a line), of which packing {packing:.2f} s "
            f"(median of {args.runs}; {min(r[0] for r in runs):.2f}-"
            f"{max(r[0] for r in runs):.2f} s)"
        )
    a, b = (statistics.median(r[0] / r[2] for r in runs) for runs in found.values())
    print(f"a line's fold, {args.b.name} / {args.a.name}: {b / a:.2f}x")


if __name__ == "__main__":
    main()
