"""Where an idle cockpit's CPU goes, thread by thread, and what its periodic ticks cost when they
wake from a sleep against the same ticks back to back (issue 17's idle row).

    python benchmarks/idle_wakeups.py [--idle 30] [--back-to-back 30]

The cockpit runs headless on the demo factory of ``bench_cockpit.py`` (10 agents' files, no
real agent processes, though its fixed probe says their 10 pids run: re-probed every 5 s;
nothing changing). Prints:
- each thread's CPU (% of a core) and wake-ups a second (voluntary context switches) over
  ``--idle`` seconds;
- each periodic tick (the fleet's re-probe, the spend's re-read): how many ran in that window
  and the median of their CPU time (``time.thread_time``), then the median of the same tick
  called ``--back-to-back`` times in a row on a worker thread; how many times the ticker woke
  (ticks due together share a wake-up);
- one ``stat``'s CPU after 5 s asleep and back to back (the machine's wake-up cost, as
  ``run_all.py``'s machine row).

On a host where a thread's first steps after a sleep are slow (a nested VM here: one ``stat``
1.3-2.9 ms after 5 s asleep, 1-5 µs back to back), the first figure of each tick is many times
the second: idle CPU is then wake-ups times that cost, not the ticks' work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cockpit import idle_demo
from run_all import wake_cost_us

from factory_tui.ui.feeds import base

ThreadFigures = dict[int, tuple[str, int, float]]


def per_thread(pid: int) -> ThreadFigures:
    """Each thread of ``pid``: its name, voluntary context switches and CPU seconds."""
    out: ThreadFigures = {}
    for thread in psutil.Process(pid).threads():
        try:
            with open(f"/proc/{pid}/task/{thread.id}/status") as status:
                switches = next(
                    int(line.split()[1])
                    for line in status
                    if line.startswith("voluntary_ctxt_switches:")
                )
        except (OSError, StopIteration):
            continue  # a thread that ended meanwhile
        out[thread.id] = ("", switches, thread.user_time + thread.system_time)
    return out


def timed_ticks() -> dict[str, list[float]]:
    """Wrap every tick a :class:`~factory_tui.ui.feeds.base.Ticker` is given from now on: its
    CPU time per call (ms) by the tick's name."""
    spent: dict[str, list[float]] = defaultdict(list)
    every = base.Ticker.every

    def timed_every(ticker: base.Ticker, interval: float, tick: Callable[[], None]) -> None:
        name = getattr(tick, "__qualname__", repr(tick))

        def timed() -> None:
            began = time.thread_time()
            try:
                tick()
            finally:
                spent[name].append((time.thread_time() - began) * 1000)

        timed.__qualname__ = name
        every(ticker, interval, timed)

    base.Ticker.every = timed_every  # type: ignore[method-assign]
    return spent


async def main(args: argparse.Namespace) -> None:
    spent = timed_ticks()
    _demo, app = idle_demo(Path(tempfile.mkdtemp(prefix="idle-wakeups-")))
    pid = os.getpid()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_for_fleet(lambda f: app.loaded and app.log_ready)
        await pilot.pause()
        ticks = app.ticker._ticks  # what the app's ticker was given (timed above)
        for calls in spent.values():
            calls.clear()  # the first load's ticks are not idle ones
        before, began, woke = per_thread(pid), time.monotonic(), app.ticker.wakeups
        await asyncio.sleep(args.idle)
        after, window = per_thread(pid), time.monotonic() - began
        woke = app.ticker.wakeups - woke
        names = {t.native_id: t.name for t in threading.enumerate()}
        print(f"idle cockpit, {window:.0f} s, thread by thread:")
        for tid, (_n, switches, cpu) in sorted(after.items()):
            if tid not in before:
                continue
            _n0, switches0, cpu0 = before[tid]
            print(
                f"  {names.get(tid, str(tid)):<12} {(cpu - cpu0) / window * 100:5.2f} % of a core, "
                f"{(switches - switches0) / window:5.2f} wake-ups a second"
            )
        idle_calls = {name: list(calls) for name, calls in spent.items()}

        def back_to_back() -> None:
            for _interval, tick in ticks:
                for _ in range(args.back_to_back):
                    tick()

        for calls in spent.values():
            calls.clear()
        await asyncio.to_thread(back_to_back)  # a thread of its own, as the ticker's
        for name, calls in spent.items():
            woken = idle_calls.get(name, [])
            shown = f"{statistics.median(woken):.1f} ms" if woken else "none ran"
            print(
                f"tick {name}: {len(woken)} in the idle window, CPU median {shown}; back to "
                f"back median {statistics.median(calls):.2f} ms ({len(calls)} calls)"
            )
        print(f"the ticker woke {woke} times in the idle window (ticks due together run in one)")
    woken, hot = await asyncio.to_thread(wake_cost_us)
    print(f"one stat's CPU after 5 s asleep {woken:.0f} µs; back to back {hot:.0f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=30, help="seconds of idle to measure")
    parser.add_argument("--back-to-back", type=int, default=30, help="calls of each tick")
    asyncio.run(main(parser.parse_args()))
