"""Issue 17, the idle cockpit: the periodic work (the pids' re-probe, the spend's re-read) runs
on threads of its own, so that a tick that finds nothing changed wakes that one thread only: no
Textual timer on the event loop, no worker started, no message posted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from conftest import demo_reader
from test_app import make_app
from textual.app import App

from factory_tui.adapters.procs import TableProbe
from factory_tui.adapters.transcripts import CostTracker
from factory_tui.core.fleet import ProcInfo
from factory_tui.demo import DemoFactory
from factory_tui.ui.feeds import cost as cost_feed
from factory_tui.ui.feeds.base import Drain, Ticker, _next_due
from factory_tui.ui.feeds.prs import PrsOptions

SIZE = (120, 40)
WAIT_S = 10


class Count:
    """A thread-safe counter one can wait on (no sleep: woken by each increment)."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = threading.Condition()

    def add(self) -> None:
        with self._changed:
            self.value += 1
            self._changed.notify_all()

    def wait_for(self, at_least: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.value >= at_least, WAIT_S)


class CountingProbe(TableProbe):
    def __init__(self, table: dict[int, ProcInfo], count: Count) -> None:
        super().__init__(table)
        self.count = count

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        self.count.add()
        return super().probe(pids)


async def test_an_idle_tick_starts_no_worker_and_posts_nothing(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticks that find nothing changed (the same processes, the same minute, no transcript
    grown) start no Textual worker and post no fleet and no spend."""
    probes, rereads = Count(), Count()
    real_refresh = CostTracker.refresh

    def counting_refresh(tracker: CostTracker, *args: Any, **kwargs: Any) -> bool:
        rereads.add()
        return real_refresh(tracker, *args, **kwargs)

    monkeypatch.setattr(CostTracker, "refresh", counting_refresh)
    monkeypatch.setattr(cost_feed, "COST_REFRESH_SECONDS", 0.02)
    reader = demo_reader(demo)
    assert isinstance(reader.probe, TableProbe)
    reader.probe = CountingProbe(reader.probe.table, probes)
    app = make_app(demo.root, reader=reader, refresh_interval=0.02, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        await app.wait_for_cost()
        await app.workers.wait_for_complete()
        # One tick of each after the start's reads: what the next ones compare with.
        assert await asyncio.to_thread(probes.wait_for, probes.value + 1)
        assert await asyncio.to_thread(rereads.wait_for, rereads.value + 1)
        started: list[str | None] = []
        real_run_worker = app.run_worker

        def counting_run_worker(*args: Any, **kwargs: Any) -> Any:
            started.append(kwargs.get("name"))
            return real_run_worker(*args, **kwargs)

        monkeypatch.setattr(app, "run_worker", counting_run_worker)
        fleets, spends = app.fleet_updates.count, app.cost_updates.count
        assert await asyncio.to_thread(probes.wait_for, probes.value + 3)
        assert await asyncio.to_thread(rereads.wait_for, rereads.value + 3)
        assert started == []
        assert (app.fleet_updates.count, app.cost_updates.count) == (fleets, spends)


async def test_work_here_works_on_the_callers_thread_when_no_worker_runs() -> None:
    threads: list[int] = []
    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = Drain(
            app,
            name="t",
            group="t",
            work=lambda _w: threads.append(threading.get_ident()),
            failed=lambda _e: None,
        )
        ticker_thread = await asyncio.to_thread(
            lambda: (drain.work_here(1), threading.get_ident())[1]
        )
        assert threads == [ticker_thread]
        assert not app.workers and not drain.running and not drain.pending


async def test_work_here_folds_into_the_running_worker() -> None:
    """A tick while a worker drains: the worker takes it (merged), the ticker returns at once."""
    entered, release = threading.Event(), threading.Event()
    passes: list[list[int]] = []

    def work(want: list[int]) -> None:
        passes.append(want)
        if len(passes) == 1:
            entered.set()
            release.wait(WAIT_S)

    app: App[None] = App()
    async with app.run_test():
        drain: Drain[list[int]] = Drain(
            app,
            name="t",
            group="t",
            work=work,
            failed=lambda _e: None,
            merge=lambda old, new: [*old, *new],
        )
        drain.request([0])
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        await asyncio.to_thread(drain.work_here, [1])
        await asyncio.to_thread(drain.work_here, [2])
        assert drain.pending
        release.set()
        await app.workers.wait_for_complete()
        assert passes == [[0], [1, 2]]


async def test_work_here_after_close_does_nothing() -> None:
    done: list[int] = []
    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = Drain(
            app, name="t", group="t", work=done.append, failed=lambda _e: None
        )
        drain.close()
        drain.work_here(1)
    assert done == []


def test_a_ticker_runs_its_ticks_on_one_thread_until_stopped_and_outlives_a_failing_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast, slow = Count(), Count()
    threads: set[int] = set()

    def tick_fast() -> None:
        threads.add(threading.get_ident())
        fast.add()
        if fast.value == 1:
            raise RuntimeError("a bug in a tick")

    def tick_slow() -> None:
        threads.add(threading.get_ident())
        slow.add()

    ticker = Ticker(name="test ticker")
    ticker.every(0.005, tick_fast)
    ticker.every(0.01, tick_slow)
    ticker.start()
    try:
        assert fast.wait_for(4) and slow.wait_for(2)
    finally:
        ticker.stop()
    ticker.join(WAIT_S)
    assert not ticker.alive
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert "test ticker: a tick failed" in caplog.text and "a bug in a tick" in caplog.text
    with pytest.raises(ValueError, match="positive"):
        Ticker(name="never").every(0, tick_fast)
    with pytest.raises(RuntimeError, match="already started"):
        ticker.every(1, tick_fast)


def test_a_ticker_stopped_before_its_first_tick_never_ticks() -> None:
    ticks: list[int] = []
    ticker = Ticker(name="slow")
    ticker.every(3600, lambda: ticks.append(1))
    ticker.start()
    ticker.stop()
    ticker.join(WAIT_S)  # woken by stop, not by the hour going by
    assert not ticker.alive and ticks == []


def test_a_tick_that_overran_skips_what_it_missed() -> None:
    assert _next_due(10.0, 5.0, now=12.0) == 15.0
    assert _next_due(10.0, 5.0, now=15.0) == 20.0  # due exactly now: already late, the next
    assert _next_due(10.0, 5.0, now=31.0) == 35.0
