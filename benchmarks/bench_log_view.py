"""How the operations-log viewer copes with a 1,000,000-line log.

    python benchmarks/bench_log_view.py [--lines 1000000] [--runs 5] [--keep DIR]

Writes a log in a temp dir (1/5 in operations.log.1, the rest in operations.log, shaped like the
scale factory's: sessions of about ten lines, a few errors and crashes) and prints the median of
``--runs`` runs of each step:

- index build: ``LogIndex.update()`` over both files, from nothing;
- first paint: ``App.run_test()`` until the first frame of an app holding a ``LogView`` over the
  built index (on_mount + call_after_refresh), next to a bare app with one ``Static``;
- first paint, live: the same app with an empty index that a thread worker fills in chunks (the
  cockpit's way), and the time until the whole log is indexed and shown;
- one appended line: ``index.update()`` + ``refresh_index()`` until the frame shows it;
- scrolling (the key actions, called directly): home → end, and a page up, until the frame is
  drawn;
- filters (thread worker until applied) and a search that has to cross most of the log.

RSS: what building one index adds, and the process's peak at the end (every app and index the
benchmark made, filter results included).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logindex import LogIndex
from factory_tui.ui.themes import THEME_VARIABLE_DEFAULTS
from factory_tui.ui.widgets.log_view import LogView

START = datetime(2026, 10, 23)
STEPS = ("branch", "code", "quality-gate", "commit", "push", "pr-created", "ci", "merged")
SIZE = (160, 48)


def write_log(folder: Path, lines: int, seed: int = 1) -> tuple[Path, Path]:
    """Stream the log to disk (never the whole of it in memory: RSS is measured later)."""
    rng = random.Random(seed)
    instances = [f"t{10000 + i}-{rng.randrange(16**4):04x}" for i in range(100)]
    history, current = folder / "operations.log.1", folder / "operations.log"
    split = lines // 5
    written = 0
    session = 0
    with history.open("w") as hist_file, current.open("w") as cur_file:

        def emit(text: str) -> None:
            nonlocal written
            if written < lines:
                (hist_file if written < split else cur_file).write(text + "\n")
                written += 1

        while written < lines:
            inst = instances[session % len(instances)]
            task = f"CAB-{rng.randrange(1000)}"
            ts = f"{START + timedelta(minutes=written * 43200 // lines):%Y-%m-%dT%H:%M}"
            emit(f"{ts} | SESSION-START | task={task} branch=fix/{task} instance={inst}")
            for step in STEPS[: rng.randrange(3, len(STEPS))]:
                detail = (
                    f' detail="step {step} ok"'
                    if rng.random() < 0.05
                    else f" component=c{session % 7}"
                )
                emit(f"{ts} | STEP-DONE | step={step} task={task}{detail}")
            if session % 97 == 0:
                emit(f"{ts} | ERROR | task={task} error=ci-failed step=ci")
                emit(f"{ts} | SESSION-END | task={task} status=crashed")
            else:
                emit(f"{ts} | SESSION-END | task={task} status=success pr={session}")
            session += 1
    return history, current


def rss_mb() -> float:
    """Current resident set size (Linux), else the peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BareApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.painted = asyncio.get_running_loop().create_future()

    def compose(self) -> ComposeResult:
        yield Static("bare")

    def on_mount(self) -> None:
        self.call_after_refresh(lambda: self.painted.set_result(time.perf_counter()))


class LogApp(App[None]):
    def __init__(self, index: LogIndex, *, live: bool = False) -> None:
        super().__init__()
        self.index = index
        self.live = live
        self.painted = asyncio.get_running_loop().create_future()
        self.indexed = asyncio.get_running_loop().create_future()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield LogView(self.index, id="log")

    def on_mount(self) -> None:
        self.query_one(LogView).focus()
        self.call_after_refresh(lambda: self.painted.set_result(time.perf_counter()))
        if self.live:
            self.run_worker(self._index_worker, thread=True, group="bench-index")

    def _index_worker(self) -> None:
        for _ in self.index.update_in_chunks(4 << 20):
            self.call_from_thread(self.query_one(LogView).refresh_index)
        self.call_from_thread(self._indexed)

    def _indexed(self) -> None:
        self.query_one(LogView).refresh_index()
        self.call_after_refresh(lambda: self.indexed.set_result(time.perf_counter()))


async def after_refresh(app: App[None]) -> None:
    done = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: done.set_result(None))
    await done


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


async def bench_paint(history: Path, current: Path, runs: int) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {k: [] for k in ("bare", "paint", "live_paint", "live_all")}
    for _ in range(runs):
        start = time.perf_counter()
        bare = BareApp()
        async with bare.run_test(size=SIZE):
            res["bare"].append(await bare.painted - start)
        index = LogIndex(history, current)
        index.update()
        start = time.perf_counter()
        app = LogApp(index)
        async with app.run_test(size=SIZE):
            res["paint"].append(await app.painted - start)
        index.close()
        index = LogIndex(history, current)
        start = time.perf_counter()
        app = LogApp(index, live=True)
        async with app.run_test(size=SIZE):
            res["live_paint"].append(await app.painted - start)
            res["live_all"].append(await app.indexed - start)
            assert app.query_one(LogView).row_count == len(index)
        index.close()
    return res


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def bench_interaction(history: Path, current: Path, runs: int) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        res.setdefault(key, []).append(value)

    index = LogIndex(history, current)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=SIZE) as pilot:
        await app.painted
        view = app.query_one(LogView)
        for n in range(runs):
            with current.open("a") as f:
                f.write(f"2026-11-22T12:00 | STEP-DONE | step=code task=BENCH-{n}\n")

            async def append_one() -> None:
                index.update()
                view.refresh_index()
                await after_refresh(app)

            add("append 1 line → frame", await timed(append_one))
            assert view.render_line(view.size.height - 1).text.startswith("2026-11-22T12:00")

            async def home() -> None:
                view.action_scroll_home()
                await after_refresh(app)

            async def end() -> None:
                view.action_scroll_end()
                await after_refresh(app)

            async def page_up() -> None:
                view.action_page_up()
                await after_refresh(app)

            add("scroll home (top of the log)", await timed(home))
            add("scroll end (tail)", await timed(end))
            add("page up", await timed(page_up))

            for query in ("event:ERROR", "text:crashed", "task:CAB-5", "instance:t10005"):
                spec = FilterSpec.parse(query)

                async def apply(spec: FilterSpec | None = spec) -> None:
                    view.set_filter(spec)
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    await after_refresh(app)

                elapsed = await timed(apply)
                add(f"filter {query} ({view.row_count:,} lines)", elapsed)
                view.set_filter(None)
                await pilot.pause()

            async def search() -> None:
                view.follow = False
                view.scroll_to(y=0, animate=False)
                view.set_search(FilterSpec(text="BENCH-0"))
                await app.workers.wait_for_complete()
                await pilot.pause()
                await after_refresh(app)

            add("search across the log", await timed(search))
            assert view.match_line is not None
            view.set_search(None)
            view.follow = True
            await pilot.pause()
    index.close()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        history, current = write_log(folder, args.lines)
        size_mb = (history.stat().st_size + current.stat().st_size) / 1e6
        took = time.perf_counter() - t
        print(f"log: {args.lines:,} lines, {size_mb:.0f} MB, written in {took:.1f}s")
        print(f"median of {args.runs} runs, terminal {SIZE[0]}x{SIZE[1]}")

        builds = []
        for _ in range(args.runs):
            index = LogIndex(history, current)
            t = time.perf_counter()
            index.update()
            builds.append(time.perf_counter() - t)
            assert len(index) == args.lines
            index.close()
        print(f"  index build ({args.lines:,} lines)     {median_ms(builds)}")
        index = LogIndex(history, current)
        base = rss_mb()
        index.update()
        print(f"  RSS of one built index            {rss_mb() - base:8.1f} MB")
        index.close()

        paint = asyncio.run(bench_paint(history, current, args.runs))
        print(f"  first paint, bare Textual app     {median_ms(paint['bare'])}")
        print(f"  first paint, LogView over index   {median_ms(paint['paint'])}")
        print(f"  first paint, live (index after)   {median_ms(paint['live_paint'])}")
        print(f"  live: whole log indexed + shown   {median_ms(paint['live_all'])}")

        inter = asyncio.run(bench_interaction(history, current, args.runs))
        for key, samples in inter.items():
            print(f"  {key:<34}{median_ms(samples)}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of this whole process    {peak:8.0f} MB")


if __name__ == "__main__":
    main()
