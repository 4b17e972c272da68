"""Where the cockpit's memory goes once fully loaded on a factory (tracemalloc).

    python benchmarks/cockpit_memory.py DIR [--top 25] [--by lineno|filename] [--frames N]
                                            [--no-cost] [--no-trace] [--claude-dir DIR]

Starts tracemalloc, runs the cockpit (headless, no watcher) on DIR until the fleet and the log
index are loaded and the spend is attributed (as bench_cockpit.py's RSS; ``--no-cost``: not
waiting for the spend), then prints the process RSS, the traced total and the largest allocation
sites (``--frames N``: with the N innermost frames of each, to see who calls the site).
tracemalloc slows the load several times and adds its own memory: read the shares, not the load
time. ``--no-trace``: only the RSS, without tracemalloc (a figure to compare runs by).
``--claude-dir DIR``: Claude Code's folder, whose transcripts the spend reads (default: none).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tracemalloc
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import config_for

from factory_tui.ui.app import FactoryApp


async def measure(
    folder: Path,
    top: int,
    key: str,
    *,
    frames: int,
    cost: bool,
    trace: bool = True,
    claude: Path | None = None,
) -> None:
    config = config_for(folder)
    if claude is not None:
        config = dataclasses.replace(config, claude_config_dir=claude, claude_config_dirs=(claude,))
    if trace:
        tracemalloc.start(frames)
    app = FactoryApp(config, watch=False, environ={})
    async with app.run_test(size=(160, 48)):
        await app.wait_for_fleet(lambda f: app.loaded and app.log_ready, timeout=900)
        if cost:
            await app.wait_for_cost(timeout=900)
        snapshot = tracemalloc.take_snapshot() if trace else None
        rss = psutil.Process().memory_info().rss / 2**20
    if snapshot is None:
        print(f"RSS {rss:.0f} MB (no tracemalloc)")
        return
    traced = sum(stat.size for stat in snapshot.statistics("filename")) / 2**20
    print(f"RSS {rss:.0f} MB (tracemalloc's own overhead included); traced {traced:.0f} MB")
    root = str(Path(__file__).resolve().parent.parent)
    group = "traceback" if frames > 1 else key
    for stat in snapshot.statistics(group)[:top]:
        frame = stat.traceback[0]
        where = frame.filename.replace(root + "/", "")
        where = f"{where}:{frame.lineno}" if key == "lineno" or frames > 1 else where
        print(f"{stat.size / 2**20:8.1f} MB {stat.count:>9,} blocks  {where}")
        for caller in list(stat.traceback)[1:]:
            print(f"{'':28}< {caller.filename.replace(root + '/', '')}:{caller.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--by", choices=("lineno", "filename"), default="lineno")
    parser.add_argument("--frames", type=int, default=1, help="frames kept per allocation")
    parser.add_argument("--no-cost", action="store_true", help="do not wait for the spend")
    parser.add_argument("--no-trace", action="store_true", help="only the RSS, no tracemalloc")
    parser.add_argument("--claude-dir", type=Path, help="Claude Code's folder (transcripts)")
    args = parser.parse_args()
    asyncio.run(
        measure(
            args.dir,
            args.top,
            args.by,
            frames=args.frames,
            cost=not args.no_cost,
            trace=not args.no_trace,
            claude=args.claude_dir,
        )
    )


if __name__ == "__main__":
    main()
