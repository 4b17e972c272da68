"""The cockpit's Claims view on a factory of many claims: write → shown for a claim file, through
the real watcher, beside the watchfiles floor measured in the same run.

    python benchmarks/bench_claims_view.py [--dir DIR] [--writes 30] [--baseline TREE]

DIR is a factory from scale_factory.py (default: one generated with 10,000 claims and 200,000
log lines); it is copied to a temp folder first (the writes go to the copy). The cockpit runs
headless (``run_test``) in a fresh interpreter, its cache warmed by a first start, with the
Claims view shown. Two kinds of write, each timed from the write until the first screen refresh
after the fleet holding it reached the app:
- an edited claim file (a title changed: the claim tool's commonest write, a claim's phase or
  owner, is the same kind of change): the target of issue 17's write → shown, ≤ 2.5x the floor;
- a new claim file (a new ticket claimed: rarer; every claim's place may move).
With ``--baseline TREE`` (a worktree of another commit: ``git worktree add TREE REV``) the
cockpit runs with that tree's package too, interleaved, to compare in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cockpit import pct, raw_floor
from run_all import compile_package
from scale_factory import generate, run_on_a_warm_copy

TIMED = r"""
import asyncio, inspect, json, os, statistics, sys, time
from pathlib import Path
from factory_tui.config import load_config
from factory_tui.ui.app import FactoryApp

root, writes = Path(sys.argv[1]), int(sys.argv[2])
cache = os.environ["FACTORY_TUI_CACHE_DIR"]

async def shown(app):
    done = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: done.set_result(time.perf_counter()))
    return await done

async def main():
    config = load_config(root, flags={}, env={}, user_config=root / "no-user-config.toml")
    # A process of its own, as ``ui``'s (a baseline tree before freeze_read: without it).
    own = {"freeze_read": True} if "freeze_read" in inspect.signature(FactoryApp).parameters else {}
    app = FactoryApp(config, watch=True, environ={"FACTORY_TUI_CACHE_DIR": cache}, **own)
    app.animation_level = "none"
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_for_fleet(lambda f: app.loaded and app.log_ready, timeout=600)
        await pilot.press("2")
        await pilot.pause()
        files = sorted(config.claims_dir.glob("*.json"))[:writes]
        edited, added = [], []
        for n, path in enumerate(files):
            data = json.loads(path.read_text())
            title = f"bench retitled {n}"
            data["title"] = title
            began = time.perf_counter()
            path.write_text(json.dumps(data, indent=2))
            await app.wait_for_fleet(
                lambda f, t=title: any(c.title == t for c in f.claims), timeout=60
            )
            edited.append(await shown(app) - began)
            await pilot.pause()
        for n in range(max(writes // 2, 1)):
            key = f"BENCH-NEW-{n}"
            began = time.perf_counter()
            (config.claims_dir / f"{key}.json").write_text(
                json.dumps({"ticket": key, "title": "bench", "owner": None})
            )
            await app.wait_for_fleet(lambda f, k=key: any(c.key == k for c in f.claims), timeout=60)
            added.append(await shown(app) - began)
            await pilot.pause()
        print(len(app.fleet.claims))
        print(json.dumps(edited))
        print(json.dumps(added))

asyncio.run(main())
"""


def one_run(factory: Path, tree: Path, writes: int) -> tuple[int, list[float], list[float]]:
    """(claim units, edited write → shown s, new-file write → shown s) on a fresh copy."""
    import json

    out = run_on_a_warm_copy(factory, tree, TIMED, str(writes)).splitlines()[-3:]
    units, edited, added = int(out[0]), json.loads(out[1]), json.loads(out[2])
    return units, edited, added


def figures(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.1f} ms p95 {pct(ms, 0.95):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="a factory from scale_factory.py")
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--baseline", type=Path, help="a worktree of another commit")
    args = parser.parse_args()
    compile_package()
    factory = args.dir
    if factory is None or not (factory / "factory.toml").exists():
        factory = factory or Path(tempfile.mkdtemp(prefix="claims-view-factory-")) / "factory"
        print(f"generating a factory of 10,000 claims in {factory} …", flush=True)
        generate(factory, claims=10_000, lines=200_000, history=40_000, checkpoints=1000)
    trees = {"this tree": REPO} | ({"baseline": args.baseline} if args.baseline else {})
    with tempfile.TemporaryDirectory(prefix="claims-view-floor-") as folder:
        floor = raw_floor(Path(folder), args.writes)
    print(
        f"raw floor (watchfiles write → event) median {statistics.median(floor):.1f} ms "
        f"p95 {pct(floor, 0.95):.1f} ms"
    )
    found: dict[str, tuple[int, list[float], list[float]]] = {}
    for _run in range(args.runs):
        for name, tree in trees.items():
            units, edited, added = one_run(factory, tree, args.writes)
            was = found.get(name, (units, [], []))
            found[name] = (units, was[1] + edited, was[2] + added)
    for name, (units, edited, added) in found.items():
        print(
            f"claims view ({units} claims), {name}: an edited claim file, write → shown "
            f"{figures(edited)}"
        )
        print(
            f"claims view ({units} claims), {name}: a new claim file, write → shown "
            f"{figures(added)}"
        )


if __name__ == "__main__":
    main()
