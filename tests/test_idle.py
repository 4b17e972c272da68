"""Issue 17, the idle cockpit: the periodic work (the pids' re-probe, the spend's re-read) runs
on threads of its own, so that a tick that finds nothing changed wakes that one thread only: no
Textual timer on the event loop, no worker started, no message posted."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import DEMO_NOW, demo_probe, demo_reader
from test_agent_waiting import claude_dir, put_transcript, working
from test_app import make_app
from textual.app import App
from textual.widgets import Static

from factory_tui.adapters import worktrees as worktrees_module
from factory_tui.adapters.agent_transcripts import AgentTranscripts
from factory_tui.adapters.procs import TableProbe
from factory_tui.adapters.transcripts import CostTracker
from factory_tui.config.locations import CLAUDE_PROJECT_NAME_MAX, encode_project_path
from factory_tui.core.fleet import Fleet, ProcInfo
from factory_tui.demo import DemoFactory
from factory_tui.ui import watch
from factory_tui.ui.feeds import cost as cost_feed
from factory_tui.ui.feeds.base import (
    MINUTE_SLACK,
    TICK_SLACK,
    Drain,
    Interval,
    Ticker,
    _next_due,
    _Schedule,
)
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.widgets.agents import AgentGrid

SIZE = (120, 40)
W = TypeVar("W")
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


def _drain(app: App[None], work: Callable[[W], None], **kw: Any) -> Drain[W]:
    """A drain of group "t" whose failures are ignored (``kw``: merge, on_close)."""
    return Drain(app, name="t", group="t", work=work, failed=lambda _e: None, **kw)


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


async def test_an_idle_reread_of_the_spend_works_out_nothing_until_the_minute_turns(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-read that found nothing new in the same minute skips the spend's view and report
    (their sums over every record were most of an idle re-read); the next minute makes
    them again (the last 24 hours moved)."""
    from datetime import timedelta

    rereads, views = Count(), Count()
    real_refresh, real_view = CostTracker.refresh, CostTracker.view

    def counting_refresh(tracker: CostTracker, *args: Any, **kwargs: Any) -> bool:
        rereads.add()
        return real_refresh(tracker, *args, **kwargs)

    def counting_view(tracker: CostTracker, *args: Any, **kwargs: Any) -> Any:
        views.add()
        return real_view(tracker, *args, **kwargs)

    monkeypatch.setattr(CostTracker, "refresh", counting_refresh)
    monkeypatch.setattr(CostTracker, "view", counting_view)
    monkeypatch.setattr(cost_feed, "COST_REFRESH_SECONDS", 0.02)
    now = [DEMO_NOW]
    app = make_app(
        demo.root,
        reader=demo_reader(demo),
        clock=lambda: now[0],
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        await app.wait_for_cost()
        await app.workers.wait_for_complete()
        assert await asyncio.to_thread(rereads.wait_for, rereads.value + 1)
        seen = views.value
        assert await asyncio.to_thread(rereads.wait_for, rereads.value + 3)
        assert views.value == seen
        now[0] = DEMO_NOW + timedelta(minutes=1)
        assert await asyncio.to_thread(views.wait_for, seen + 1)


async def test_work_here_works_on_the_callers_thread_when_no_worker_runs() -> None:
    threads: list[int] = []
    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = _drain(app, lambda _w: threads.append(threading.get_ident()))
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
        drain: Drain[list[int]] = _drain(app, work, merge=lambda old, new: [*old, *new])
        drain.request([0])
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        await asyncio.to_thread(drain.work_here, [1])
        await asyncio.to_thread(drain.work_here, [2])
        assert drain.pending
        release.set()
        await app.workers.wait_for_complete()
        assert passes == [[0], [1, 2]]


async def test_a_request_during_a_pass_here_starts_a_worker_that_waits_for_it() -> None:
    """A change asked for while a tick works starts a worker as usual (waiting for the app's
    workers waits for it), which works it once the tick's pass is done, never beside it."""
    entered, release = threading.Event(), threading.Event()
    passes: list[int] = []
    busy = threading.Lock()
    overlapped: list[int] = []

    def work(want: int) -> None:
        if not busy.acquire(blocking=False):
            overlapped.append(want)
            return
        try:
            passes.append(want)
            if want == 0:
                entered.set()
                release.wait(WAIT_S)
        finally:
            busy.release()

    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = _drain(app, work)
        tick = asyncio.ensure_future(asyncio.to_thread(drain.work_here, 0))
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        drain.request(1)
        assert drain.running and [w for w in app.workers if w.group == "t"]
        release.set()
        await tick
        await app.workers.wait_for_complete()
        assert passes == [0, 1] and overlapped == []


async def test_closing_during_a_pass_here_closes_once_after_it() -> None:
    entered, release = threading.Event(), threading.Event()
    closed: list[bool] = []

    def work(_want: int) -> None:
        entered.set()
        release.wait(WAIT_S)

    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = _drain(app, work, on_close=lambda: closed.append(True))
        tick = asyncio.ensure_future(asyncio.to_thread(drain.work_here, 0))
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        drain.close()
        assert closed == []  # the pass still works: its files stay open
        release.set()
        await tick
    assert closed == [True]


async def test_work_here_after_close_does_nothing() -> None:
    done: list[int] = []
    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = _drain(app, done.append)
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


def test_a_function_interval_is_asked_after_each_tick_and_again_when_rescheduled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long wait is cut short by :meth:`Ticker.reschedule` when the interval now says less;
    an interval that fails is logged and waited as the default (never a busy loop)."""
    ticks, asked = Count(), Count()
    fast = threading.Event()

    def interval() -> float:
        asked.add()
        return 0.01 if fast.is_set() else 3600

    def failing() -> float:
        asked.add()
        raise RuntimeError("a bug in an interval")

    ticker = Ticker(name="test ticker")
    ticker.every(interval, ticks.add)
    ticker.every(failing, ticks.add)
    ticker.start()
    try:
        assert asked.wait_for(2)  # both asked at the start: an hour, and the default
        ticker.reschedule()
        assert asked.wait_for(4)
        assert ticks.value == 0  # nothing said less than an hour
        fast.set()
        ticker.reschedule()  # the hour's wait ends now
        assert ticks.wait_for(3)  # and goes on at the new pace
    finally:
        ticker.stop()
    ticker.join(WAIT_S)
    assert not ticker.alive
    assert (
        "test ticker: an interval failed" in caplog.text and "a bug in an interval" in caplog.text
    )


async def test_the_ticks_come_once_a_minute_while_no_process_runs(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No claimed process runs (a finished fleet left open) and the files are watched: the
    periodic ticks (and the watcher's check for replaced folders) wait for the clock's next
    minute (ages are shown to the minute); a process running, unwatched files or a slow
    interval asked for keep the interval."""
    paces: list[Callable[[], float]] = []
    real_watch = watch.watch_files

    def recording_watch(*args: Any, pace: Callable[[], float], **kwargs: Any) -> None:
        paces.append(pace)
        real_watch(*args, pace=pace, **kwargs)

    monkeypatch.setattr(watch, "watch_files", recording_watch)
    reader = demo_reader(demo)
    assert isinstance(reader.probe, TableProbe)
    reader.probe.table.clear()
    app = make_app(demo.root, reader=reader, watch=True, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        assert DEMO_NOW.second == 30
        assert app.tick_interval(5) == pytest.approx(30 + MINUTE_SLACK)
        assert [pace() for pace in paces] == [pytest.approx(30 + MINUTE_SLACK)]
        assert app.tick_interval(90) == 90
        app.watching = False
        assert app.tick_interval(5) == 5
        app.watching = True
        reader.probe.table.update(demo_probe(demo).table)
        app.read_everything()
        await app.wait_for_fleet(lambda f: any(i.alive for i in f.instances))
        assert app.tick_interval(5) == 5


async def test_a_process_that_starts_while_the_ticks_wait_for_the_minute_is_probed_again_at_once(
    demo: DemoFactory,
) -> None:
    """The cockpit waits for the next minute (30 s away) when an agent's process starts: the
    fleet that shows it running reschedules the ticks, so its death (no file says it) shows
    within the re-probe's interval, not at the minute."""
    reader = demo_reader(demo)
    assert isinstance(reader.probe, TableProbe)
    table = dict(reader.probe.table)
    reader.probe.table.clear()
    agent = next(i for i, r in demo.instances.items() if r == "working")
    app = make_app(
        demo.root, reader=reader, watch=True, refresh_interval=0.05, prs=PrsOptions(enabled=False)
    )

    def alive(fleet: Fleet) -> bool | None:
        return next(i for i in fleet.instances if i.id == agent).alive

    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        assert not alive(app.fleet) and app.tick_interval(0.05) > 20
        reader.probe.table.update(table)  # it starts; its claim file names it (a re-read)
        app.read_everything()
        await app.wait_for_fleet(lambda f: alive(f) is True)
        reader.probe.table.clear()  # it dies; no file changes
        await app.wait_for_fleet(lambda f: alive(f) is False, timeout=WAIT_S)


def test_a_tick_that_overran_skips_what_it_missed() -> None:
    assert _next_due(10.0, 5.0, now=12.0) == 15.0
    assert _next_due(10.0, 5.0, now=15.0) == 20.0  # due exactly now: already late, the next
    assert _next_due(10.0, 5.0, now=31.0) == 35.0


def _wake_ups(
    intervals: list[Interval], run_s: float, until: float
) -> tuple[list[list[int]], list[float]]:
    """A ticker's schedule simulated from 0 to ``until``, each tick taking ``run_s``: the
    ticks run at each wake-up, and when each wake-up came."""
    schedule = _Schedule(intervals, lambda i: i() if callable(i) else i, 0.0)
    wakes: list[list[int]] = []
    times: list[float] = []
    now = schedule.next_at()
    while now < until:
        times.append(now)
        wakes.append([])
        for index in range(len(intervals)):
            if schedule.is_due(index, now):
                wakes[-1].append(index)
                now += run_s
                schedule.ran(index, now)
        now = max(now, schedule.next_at())
    return wakes, times


def test_ticks_due_together_share_their_wake_ups_however_long_they_run() -> None:
    """The re-probe (5 s) and the spend (10 s), each asked its wait after it ran: over a
    minute, with each tick taking 30 ms (a tick's CPU after a sleep on a nested VM), twelve
    wake-ups, the spend in every other one. Each waited from its own end, they drifted apart
    by those 30 ms: eighteen wake-ups."""
    wakes, _times = _wake_ups(
        [lambda: 5.0, lambda: 10.0], run_s=0.03, until=61
    )  # a minute, and 0.3 s of run times
    assert len(wakes) == 12
    assert [w for w in wakes if 1 in w] == [[0, 1]] * 6


def test_a_tick_runs_early_by_at_most_a_tenth_of_its_wait_and_never_before_the_minute() -> None:
    # Waited for the minute (0.2 s after it turns): never run before it turns.
    schedule = _Schedule([lambda: 59.8 + MINUTE_SLACK], lambda i: i() if callable(i) else i, 0.2)
    assert not schedule.is_due(0, 59.99)
    assert schedule.is_due(0, 60.1) and TICK_SLACK < MINUTE_SLACK
    # A short interval is not run back to back: a tenth of its wait early at most.
    wakes, times = _wake_ups([0.005], run_s=0.0001, until=0.1)
    assert len(wakes) == 19  # at 0.005, 0.010 … 0.095
    assert all(b - a >= 0.0045 for a, b in itertools.pairwise(times))


# -- what every derive of the fleet asks again: the worktrees, the agents' project folders ----


def test_a_derive_reads_the_worktrees_again_only_when_gits_files_changed(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the fleet is derived ten times a second: each derive looked up every agent's
    transcript from the worktrees (two git files read per worktree) and each agent's project
    folders (a ``realpath`` walk); both are now remembered until git's files change."""
    agent = working(demo)
    path = put_transcript(demo, agent)
    reads, lookups = Count(), Count()
    real_branches = worktrees_module.worktree_branches
    real_candidates = AgentTranscripts.candidates

    def counting_branches(root: Path) -> dict[Path, str | None]:
        reads.add()
        return real_branches(root)

    def counting_candidates(agents: AgentTranscripts, folder: Path) -> list[Path]:
        lookups.add()
        return real_candidates(agents, folder)

    reader = demo_reader(demo)
    reader.refresh_all()
    instances = reader.fleet(DEMO_NOW).instances
    monkeypatch.setattr(worktrees_module, "worktree_branches", counting_branches)
    monkeypatch.setattr(worktrees_module, "RACY_NS", 0)  # the demo's git files are not racy
    monkeypatch.setattr(AgentTranscripts, "candidates", counting_candidates)
    agents = AgentTranscripts((claude_dir(demo),), demo.root)
    assert agents.refresh(instances)[agent].transcript == str(path)
    assert reads.value == 1 and lookups.value > 0
    first_lookups = lookups.value
    for _ in range(3):
        assert agents.refresh(instances)[agent].transcript == str(path)
    assert (reads.value, lookups.value) == (1, first_lookups)
    # A worktree's HEAD rewritten (another branch checked out): read again, looked up again.
    head = next((demo.root / ".git" / "worktrees").iterdir()) / "HEAD"
    head.write_text(head.read_text())  # same branch, rewritten: its stat moved
    assert agents.refresh(instances)[agent].transcript == str(path)
    assert reads.value == 2 and lookups.value == 2 * first_lookups


def test_a_long_paths_project_folders_are_looked_for_again_each_time(tmp_path: Path) -> None:
    """Past 200 characters Claude Code's folder name ends in a hash that may not be ours: the
    folders named like it are listed at each lookup, never remembered."""
    claude = tmp_path / "claude"
    long_folder = tmp_path / ("x" * 230)
    agents = AgentTranscripts((claude,), tmp_path)
    encoded = encode_project_path(long_folder)
    assert [c.name for c in agents._candidates_of(long_folder)] == [encoded]  # only ours yet
    theirs = claude / "projects" / (encoded[:CLAUDE_PROJECT_NAME_MAX] + "-theirhash")
    theirs.mkdir(parents=True)
    assert theirs in agents._candidates_of(long_folder)
    short = tmp_path / "short"
    assert agents._candidates_of(short) is agents._candidates_of(short)  # remembered


# -- what every fleet shown does on the event loop (ten times a second under load) -----------


async def test_showing_a_fleet_does_not_query_for_the_empty_line(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grid holds its "no agents" line instead of querying its children for it on every
    fleet; the line still comes when a filter hides every agent and goes when one shows."""
    app = make_app(demo.root, reader=demo_reader(demo), prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        grid = app.query_one(AgentGrid)
        queries: list[str] = []
        real_query = grid.query

        def counting_query(selector: Any = None) -> Any:
            queries.append(str(selector))
            return real_query(selector)

        monkeypatch.setattr(grid, "query", counting_query)
        for _ in range(3):
            grid.show_fleet(app.fleet)
        assert "#agents-empty" not in queries
        for shown in (False, True, False, True):
            grid.set_filter("" if shown else "no-such-agent")
            await pilot.pause()
            empty = real_query("#agents-empty")
            assert len(empty) == (0 if shown else 1)
            if not shown:
                assert "no-such-agent" in str(empty.first(Static).render())


async def test_a_changed_file_posts_its_fleet_without_working_out_what_it_shows(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet posted for a changed file is posted as it is: what it shows (every claim's and
    session's state, :func:`shown_facts`: ~4 ms at ten thousand claims, most of the feed's work
    for a claim file written) is worked out only when a tick with nothing changed compares a
    fleet with it, and that tick still posts nothing."""
    from factory_tui.ui.feeds import fleet as fleet_feed
    from factory_tui.ui.watch import RefreshPlan

    made = Count()
    real = fleet_feed.shown_facts

    def counting(fleet: Any) -> object:
        made.add()
        return real(fleet)

    monkeypatch.setattr(fleet_feed, "shown_facts", counting)
    app = make_app(demo.root, reader=demo_reader(demo), prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        await app.workers.wait_for_complete()
        assert made.value == 0  # the first fleet: posted as it is
        claim = demo.claims_dir / "IDLE-1.json"
        claim.write_text('{"ticket": "IDLE-1", "title": "new", "owner": null}')
        posted = app.fleet_updates.count
        app.fleet_feed.request(plan=RefreshPlan(claim_paths={claim}))
        await app.wait_for_fleet(lambda f: any(c.key == "IDLE-1" for c in f.claims))
        assert app.fleet_updates.count == posted + 1
        assert made.value == 0
        app.fleet_feed.request(tick=True)  # nothing changed: compared, not posted
        assert await asyncio.to_thread(made.wait_for, 2)
        await app.workers.wait_for_complete()
        assert app.fleet_updates.count == posted + 1
