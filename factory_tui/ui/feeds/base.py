"""What every background feed of the cockpit shares: one way to queue work and drain it on one
thread, and one way to wait for what a feed published.

:class:`Drain` is "queue what changed, one worker drains it": requests made while the worker
runs fold (``merge``) into one pending want, and the worker takes the newest pending want each
time round, until nothing is pending. So a burst of file events becomes one or two reads, never
a pile of threads. The fleet, cost and PR feeds are each a :class:`Drain` with their own work.

:class:`Ticker` is the periodic work (the fleet's re-probe, the spend's re-read): a thread of its
own that works its want in place (:meth:`Drain.work_here`) rather than through the event loop. A
tick that finds nothing changed then wakes that one thread, not the event loop, a worker thread
and the event loop again (a Textual timer, a worker started, its state changes posted): on an
idle cockpit each such wake-up costs far more than the work itself (issue 17).

:class:`Updates` is how the app (and the tests) wait for a feed: the app's message handler
calls :meth:`Updates.changed` after it set the data a feed brought; :meth:`Updates.wait_until`
waits, bounded, until a condition on that data holds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from textual.app import App

if TYPE_CHECKING:
    from factory_tui.config import Config

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "MINUTE_SLACK",
    "MIN_DELAY",
    "Drain",
    "Interval",
    "Ticker",
    "Updates",
    "refresh_seconds",
]

log = logging.getLogger(__name__)

#: Seconds between re-probes of the pids (and re-derived ages) when nothing changes.
DEFAULT_REFRESH_SECONDS = 5.0

#: A tick at the clock's next minute comes this long after it (so that the minute has turned).
MINUTE_SLACK = 0.2


def refresh_seconds(config: Config) -> float:
    """``refresh_seconds`` from the config's extra keys, else :data:`DEFAULT_REFRESH_SECONDS`."""
    value = config.extra.get("refresh_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_REFRESH_SECONDS


W = TypeVar("W")


class Drain(Generic[W]):
    """One thread worker (Textual group ``group``) that works each want until none is pending.

    - ``work(want)`` runs on the worker thread; an exception from it goes to ``failed(error)``
      (on that thread) and the drain goes on with the next want.
    - ``merge(pending, new)`` folds a new want into the pending one (default: the newest wins).
    - ``on_close`` runs once, after :meth:`close`, by whichever side is last: the caller when
      nothing works, else the worker (or :meth:`work_here`'s pass) as it stops (it may own
      files the work opened).

    :meth:`request` is called on the app's event loop (it may start a worker); :meth:`work_here`
    on a thread of the caller's; everything else is thread-safe. Work never runs on two threads
    at once (``_turn``): a worker started while a :meth:`work_here` pass runs waits for it.
    """

    def __init__(
        self,
        app: App[Any],
        *,
        name: str,
        group: str,
        work: Callable[[W], None],
        failed: Callable[[BaseException], None],
        merge: Callable[[W, W], W] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.name = name
        self.group = group
        self._work = work
        self._failed = failed
        self._merge = merge or (lambda _old, new: new)
        self._on_close = on_close
        self._lock = threading.Lock()
        self._turn = threading.Lock()
        """Held while a want is worked: by the worker, or by a :meth:`work_here` pass."""
        self._pending: W | None = None
        self._running = False
        self._here = 0
        """:meth:`work_here` passes under way (or waiting for their turn)."""
        self._closed = False
        self._held = 0
        """:meth:`hold` s not let go yet: nothing new is worked meanwhile."""

    @property
    def running(self) -> bool:
        """A worker is draining (or about to)."""
        with self._lock:
            return self._running

    @property
    def pending(self) -> bool:
        """A want waits for the worker to take it."""
        with self._lock:
            return self._pending is not None

    def request(self, want: W) -> None:
        """Queue ``want`` (folded into what is pending); start the worker unless it runs or the
        drain is held."""
        with self._lock:
            if self._closed:
                return
            self._pending = want if self._pending is None else self._merge(self._pending, want)
            if self._running or self._held:
                return
            self._running = True
        self._start_worker()

    def hold(self) -> None:
        """Work nothing new until :meth:`let_go` (the want being worked finishes; what is asked
        meanwhile waits, folded into one): an action's batch of changes (every stale claim
        released, a claim file and a log line each) is read once, after it, instead of a read
        and a redraw of the fleet per change beside it (the three took turns on the GIL)."""
        with self._lock:
            self._held += 1

    def let_go(self) -> None:
        """On the app's event loop: end a :meth:`hold`; what was asked meanwhile is worked."""
        with self._lock:
            self._held -= 1
            start = (
                not self._held
                and not self._closed
                and not self._running
                and self._pending is not None
            )
            if start:
                self._running = True
        if start:
            self._start_worker()

    def _start_worker(self) -> None:
        self.app.run_worker(
            self._drain,
            name=self.name,
            group=self.group,
            thread=True,
            exit_on_error=False,
        )

    def work_here(self, want: W) -> None:
        """From a thread of the caller's (a :class:`Ticker`), never the event loop: work
        ``want`` on this thread when no worker runs, else fold it into what the running worker
        takes next. No Textual worker is started for it; what is asked meanwhile starts one as
        usual (it waits for this pass), so that waiting for the app's workers still waits for
        every change asked for."""
        with self._lock:
            if self._closed:
                return
            if self._running or self._held:
                self._pending = want if self._pending is None else self._merge(self._pending, want)
                return
            self._here += 1
        try:
            with self._turn:
                with self._lock:
                    closed = self._closed
                if not closed:
                    self._work_one(want)
        finally:
            with self._lock:
                self._here -= 1
                last = self._closed and not self._running and not self._here
            if last and self._on_close is not None:
                self._on_close()

    def _drain(self) -> None:
        with self._turn:
            while True:
                with self._lock:
                    if self._held and not self._closed:  # what is pending waits for let_go
                        self._running = False
                        last = False
                        break
                    want, self._pending = self._pending, None
                    if want is None or self._closed:
                        self._running = False
                        last = self._closed and not self._here
                        break
                self._work_one(want)
        if last and self._on_close is not None:
            self._on_close()

    def _work_one(self, want: W) -> None:
        try:
            self._work(want)
        except Exception as error:  # a bug, not a bad file: the cockpit keeps running
            self._failed(error)

    def worker_died(self) -> None:
        """The worker ended without finishing its loop (an error the worker machinery caught):
        the next request starts a new one."""
        with self._lock:
            self._running = False

    def close(self) -> None:
        """No more work: what is pending is dropped; ``on_close`` runs once, now or when the
        running worker (or :meth:`work_here` pass) stops."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending = None
            if self._running or self._here:
                return
        if self._on_close is not None:
            self._on_close()


#: A tick's interval: seconds, or a function that says how many from now, asked after each tick
#: (and at the start, and on :meth:`Ticker.reschedule`).
Interval = float | Callable[[], float]

#: How early a tick may run, to run in the wake-up of another: at most a tenth of its wait, and
#: less than ``MINUTE_SLACK`` (a tick asked to come just after the minute turns still comes
#: after it).
TICK_SLACK = 0.1

#: The shortest wait a function interval gets (one that says 0, or less, or fails, is not a
#: busy loop).
MIN_DELAY = 0.05


class Ticker:
    """Calls each of its ticks every its own interval, all on one daemon thread, from
    :meth:`start` until :meth:`stop` (a tick that runs then finishes; the next never starts).

    One thread for every periodic task: ticks due together run one after the other in one
    wake-up (two threads woken at once fight for the GIL: dozens of futex hand-offs for a few
    milliseconds of work). Ticks keep to their schedule (a slow tick does not push the next
    ones back) and one that overran is skipped, not made up for. An exception from a tick is
    logged and the ticks go on (the feeds' own errors are reported by their :class:`Drain`).

    An interval given as a function is asked after each of its ticks how long to wait from
    then: the cockpit ticks fast while something could change that no file says, and once a
    minute when nothing can (see :meth:`FactoryApp.tick_interval`). :meth:`reschedule` asks
    those functions again now, so that a long wait is cut short when they would say less."""

    def __init__(self, *, name: str) -> None:
        self._ticks: list[tuple[Interval, Callable[[], None]]] = []
        self._changed = threading.Condition()
        self._stopped = False
        self._rescheduled = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.wakeups = 0
        """How many times the thread woke and ran ticks (those due together run in one)."""

    def every(self, interval: Interval, tick: Callable[[], None]) -> None:
        """Call ``tick()`` every ``interval`` seconds (the first one ``interval`` after
        :meth:`start`); ``interval`` may be a function (see the class). Before :meth:`start`
        only."""
        if not callable(interval) and not interval > 0:
            raise ValueError(f"a tick's interval must be positive, got {interval}")
        if self._thread.ident is not None:
            raise RuntimeError("a tick added to a ticker already started")
        self._ticks.append((interval, tick))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No more ticks (a running one finishes; the thread then ends)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def reschedule(self) -> None:
        """Ask the function intervals again now (from any thread): a tick whose new interval
        has already gone by since it last ran runs at once."""
        with self._changed:
            self._rescheduled = True
            self._changed.notify_all()

    def join(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds) for the thread to end after :meth:`stop`."""
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Its thread runs (started and not stopped yet)."""
        return self._thread.is_alive()

    def _seconds(self, interval: Interval) -> float:
        if not callable(interval):
            return interval
        try:
            return max(MIN_DELAY, float(interval()))
        except Exception:
            log.exception("%s: an interval failed", self._thread.name)
            return DEFAULT_REFRESH_SECONDS

    def _run(self) -> None:
        if not self._ticks:
            return
        schedule = _Schedule(
            [interval for interval, _tick in self._ticks], self._seconds, time.monotonic()
        )
        while True:
            with self._changed:
                while not (self._stopped or self._rescheduled):
                    timeout = schedule.next_at() - time.monotonic()
                    if timeout <= 0:
                        break
                    self._changed.wait(timeout)
                if self._stopped:
                    return
                rescheduled, self._rescheduled = self._rescheduled, False
            if rescheduled:
                schedule.ask_again()
            ran = False
            for index, (_interval, tick) in enumerate(self._ticks):
                if self._stopped or not schedule.is_due(index, time.monotonic()):
                    continue
                ran = True
                try:
                    tick()
                except Exception:
                    log.exception("%s: a tick failed", self._thread.name)
                schedule.ran(index, time.monotonic())
            if ran:
                self.wakeups += 1


class _Schedule:
    """When each of a :class:`Ticker`'s ticks is next due (the times are given: testable without
    a clock).

    A tick due soon runs in the wake-up of one due now (at most :data:`TICK_SLACK`, and a tenth
    of its wait, early): a 5 s and a 10 s tick, each waited from its own end, would drift apart
    by their run times, and a wake-up costs more than the ticks' work on some hosts (issue
    17)."""

    def __init__(
        self, intervals: list[Interval], seconds: Callable[[Interval], float], start: float
    ) -> None:
        self.intervals = intervals
        self._seconds = seconds
        self.waits = [seconds(interval) for interval in intervals]
        self.last = [start for _interval in intervals]
        self.due = [start + wait for wait in self.waits]

    def next_at(self) -> float:
        return min(self.due)

    def is_due(self, index: int, now: float) -> bool:
        return self.due[index] <= now + min(TICK_SLACK, self.waits[index] / 10)

    def ran(self, index: int, now: float) -> None:
        """Tick ``index`` ended at ``now``."""
        interval = self.intervals[index]
        self.last[index] = now
        if callable(interval):
            self.waits[index] = self._seconds(interval)
            self.due[index] = now + self.waits[index]
        else:
            self.due[index] = _next_due(self.due[index], interval, now)

    def ask_again(self) -> None:
        """The function intervals asked again (:meth:`Ticker.reschedule`): one whose new wait
        has gone by since its tick last ran is due now."""
        for index, interval in enumerate(self.intervals):
            if callable(interval):
                self.waits[index] = self._seconds(interval)
                self.due[index] = min(self.due[index], self.last[index] + self.waits[index])


def _next_due(due: float, interval: float, now: float) -> float:
    """The next time on the schedule ``due + k * interval`` after ``now`` (ticks an overrun
    missed are skipped)."""
    due += interval
    if due <= now:
        due += ((now - due) // interval + 1) * interval
    return due


class Updates:
    """A feed's "something new was shown" signal, on the event loop."""

    def __init__(self) -> None:
        self.count = 0
        self._event: asyncio.Event | None = None

    def changed(self) -> None:
        """The app's handler took in what the feed brought."""
        self.count += 1
        if self._event is not None:
            self._event.set()

    async def wait_until(self, ready: Callable[[], bool], *, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until ``ready()`` holds (checked after each
        update); ``TimeoutError`` otherwise."""

        async def wait() -> None:
            if self._event is None:
                self._event = asyncio.Event()
            while not ready():
                self._event.clear()
                await self._event.wait()

        await asyncio.wait_for(wait(), timeout)
