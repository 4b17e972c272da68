"""The PR feed: the approval queue loaded on one thread, gh asked rarely (issue 5).

:class:`QueueLoader` runs :func:`~factory_tui.actions.prs.load_queue` on a
:class:`~factory_tui.ui.feeds.base.Drain` (group ``prs``) and posts :class:`PrsLoaded`; the
app's handler shows it. Requests made while a load runs fold into one more load, and loads
caused by the factory changing (a log line, a claim) start at most one per ``min_gap`` seconds,
so a busy log does not turn into a busy git; and only when the change can show in the queue
(its sessions or claims link the PRs otherwise, or the plan or memory changed): a log line
that moves no linked session runs no git at all. A local branch's own change (a commit) shows
at the slow timer's fresh load, as gh's do.

``gh`` is the slow and rate-limited source: its PR lists are fetched at most once per
``poll_seconds`` (``[prs] poll_seconds``, at least 30) through
:class:`~factory_tui.adapters.gh.GhCache`; in between,
loads caused by the factory reuse its last answer (or its last error) and only relink it to the
fresh sessions and claims. A ``fresh`` request (the slow timer, after an action) asks gh again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.timer import Timer

from factory_tui.actions.prs import SourceChoice, load_queue, prs_config
from factory_tui.adapters.gh import GhCache, PolledGh
from factory_tui.config import Config
from factory_tui.core.fleet import Fleet
from factory_tui.core.prs_link import link_inputs
from factory_tui.core.prs_queue import Queue
from factory_tui.ui.feeds.base import Drain
from factory_tui.ui.messages import PrsLoaded

__all__ = [
    "DEFAULT_POLL_SECONDS",
    "MIN_POLL_SECONDS",
    "PrsOptions",
    "QueueLoader",
    "poll_seconds",
]

#: How often gh is asked for the PR lists, unless ``[prs] poll_seconds`` says otherwise.
DEFAULT_POLL_SECONDS = 60.0
#: Never more often than this: gh calls GitHub's API, which is rate limited.
MIN_POLL_SECONDS = 30.0
#: At most one load per this many seconds when loads are caused by the factory changing.
DEFAULT_MIN_GAP = 2.0


@dataclass(frozen=True)
class PrsOptions:
    """How the cockpit loads the PR queue.

    - ``enabled``: load it at all (``False``: the PRs view says so and nothing runs).
    - ``source``: ``auto``/``github``/``local``/``both``; ``None``: ``[prs] source``.
    - ``reviews_dir``: where the per-user review state lives (``None``: the user state dir).
    - ``poll_seconds``: gh polling (``None``: ``[prs] poll_seconds``, default 60, at least 30).
    - ``min_gap``: seconds between loads caused by the factory changing.
    - ``record_looks``: showing the PRs view records the engineer's look (a headless snapshot
      is nobody looking).
    """

    enabled: bool = True
    source: SourceChoice | None = None
    reviews_dir: Path | None = None
    poll_seconds: float | None = None
    min_gap: float = DEFAULT_MIN_GAP
    record_looks: bool = True


def poll_seconds(config: Config) -> tuple[float, str | None]:
    """``[prs] poll_seconds`` (default 60, at least 30) and a problem sentence if it was bad."""
    table = config.extra.get("prs")
    raw = table.get("poll_seconds") if isinstance(table, Mapping) else None
    if raw is None:
        return DEFAULT_POLL_SECONDS, None
    where = config.sources.get("extra.prs", "config")
    if not isinstance(raw, int | float) or isinstance(raw, bool) or raw <= 0:
        return DEFAULT_POLL_SECONDS, (
            f"{where}: [prs] poll_seconds = {raw!r}: a number of seconds, please; using "
            f"{DEFAULT_POLL_SECONDS:g}"
        )
    if raw < MIN_POLL_SECONDS:
        return MIN_POLL_SECONDS, (
            f"{where}: [prs] poll_seconds = {raw!r}: gh is asked at most every "
            f"{MIN_POLL_SECONDS:g} s (GitHub's API is rate limited); using {MIN_POLL_SECONDS:g}"
        )
    return float(raw), None


@dataclass(frozen=True)
class _Load:
    fleet: Fleet
    fresh: bool
    asked: int
    """The number of the newest request folded into this load."""
    if_relinked: bool = False
    """Only if the fleet links the PRs otherwise than for the last load (see
    :meth:`QueueLoader.request`); false as soon as one request folded in says so."""


def _merge(old: _Load, new: _Load) -> _Load:
    return _Load(
        new.fleet,
        old.fresh or new.fresh,
        max(old.asked, new.asked),
        if_relinked=old.if_relinked and new.if_relinked,
    )


def _links(fleet: Fleet) -> tuple[object, ...]:
    """What a load reads of ``fleet``: the sessions and claims that link the PRs, and the
    inputs it says are missing."""
    return (link_inputs(fleet.sessions, (view.unit for view in fleet.claims)), fleet.missing)


class QueueLoader:
    """Loads the queue on one thread worker and posts :class:`PrsLoaded` to ``app``.

    Every method is called on the app's event loop; only :meth:`_load` runs on the worker
    thread, and it touches nothing but its argument and the (thread-safe) gh cache.
    """

    def __init__(
        self,
        app: Any,
        config: Config,
        *,
        clock: Callable[[], datetime],
        options: PrsOptions,
    ) -> None:
        self.app = app
        self.config = config
        self.clock = clock
        self.options = options
        interval, self.problem = poll_seconds(config)
        if options.poll_seconds is not None:
            interval = max(MIN_POLL_SECONDS, options.poll_seconds)
        self.poll_interval = interval
        self.cache = GhCache(interval)
        self.loads = 0
        """Loads the app has shown (:meth:`loaded`)."""
        self.drain: Drain[_Load] = Drain(
            app,
            name="load PR queue",
            group="prs",
            work=self._load,
            failed=self._failed,
            merge=_merge,
        )
        self._asked = 0
        """Requests handed to the drain (each numbered)."""
        self._shown = 0
        """The newest request whose queue the app has shown."""
        self._last_start = -1e9
        self._timer: Timer | None = None
        self._waiting: _Load | None = None
        """A load held back by the minimum gap (the timer starts it)."""
        self._last_links: tuple[object, ...] | None = None
        """What the last load started read of its fleet (:func:`_links`)."""
        self.skipped = 0
        """Requests dropped because nothing a load reads had changed (``if_relinked``)."""

    @property
    def running(self) -> bool:
        """A load was asked for whose queue the app has not shown yet (it runs, waits for the
        running one, or is posted)."""
        return self._shown < self._asked

    @property
    def pending(self) -> bool:
        """A load is asked for and not started yet (waiting for the running one or the gap)."""
        return self._waiting is not None or self.drain.pending

    def request(
        self,
        fleet: Fleet,
        *,
        fresh: bool = False,
        urgent: bool = False,
        if_relinked: bool = False,
    ) -> None:
        """Load the queue for ``fleet`` (its sessions and claims link the PRs). ``urgent`` skips
        the minimum gap; ``fresh`` also asks gh again. ``if_relinked``: only if ``fleet`` links
        the PRs otherwise than the last load's (the factory changed, not its plan or memory):
        git's branches and gh's lists are read again by the slow timer's fresh load."""
        if not self.options.enabled:
            return
        load = _Load(fleet, fresh, 0, if_relinked=if_relinked and not (fresh or urgent))
        if self._waiting is not None:
            load = _merge(self._waiting, load)
        wait = self.options.min_gap - (time.monotonic() - self._last_start)
        if wait > 0 and not (urgent or fresh):
            self._waiting = load
            if self._timer is None:
                self._timer = self.app.set_timer(wait, self._timer_fired, name="prs gap")
            return
        self._start(load)

    def _start(self, load: _Load) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._waiting = None
        # A skip counts as a start for the minimum gap: under a busy log the fleet is compared
        # at most once per gap too (a big factory's sessions take milliseconds).
        self._last_start = time.monotonic()
        links = _links(load.fleet)
        if load.if_relinked and links == self._last_links:
            self.skipped += 1  # the last load read the same: its queue stands
            return
        self._last_links = links
        self._asked += 1
        self.drain.request(replace(load, asked=self._asked))

    def _timer_fired(self) -> None:
        self._timer = None
        if self._waiting is not None:
            self._start(self._waiting)

    def _failed(self, error: BaseException) -> None:
        """Not reached: :meth:`_load` reports its own failures (with the request's number)."""
        self.app.post_message(PrsLoaded(None, error=f"{type(error).__name__}: {error}"))

    def _load(self, load: _Load) -> None:
        """On the worker thread: the queue, or what failed (a bug, not a missing gh: said, and
        the cockpit stays alive)."""
        try:
            message = PrsLoaded(self._queue(load), asked=load.asked)
        except Exception as error:
            message = PrsLoaded(None, error=f"{type(error).__name__}: {error}", asked=load.asked)
        self.app.post_message(message)

    def _queue(self, load: _Load) -> Queue:
        if load.fresh:
            self.cache.expire()
        timeout = prs_config(self.config).gh_timeout
        queue = load_queue(
            self.config,
            now=self.clock(),
            fleet=load.fleet,
            source=self.options.source,
            gh=PolledGh(self.config.root, self.cache, timeout=timeout),
            reviews_dir=self.options.reviews_dir,
        )
        if self.problem:
            queue = replace(queue, notices=(*queue.notices, self.problem))
        return queue

    def loaded(self, message: PrsLoaded) -> None:
        """Called by the app's handler of :class:`PrsLoaded`: that queue is shown."""
        self.loads += 1
        self._shown = max(self._shown, message.asked)
        if message.error is not None:
            self._last_links = None  # it failed: the next change loads again

    def worker_died(self) -> None:
        """The worker ended without posting (an error the worker machinery caught): nothing
        asked so far will be shown; the next request starts a new worker."""
        self.drain.worker_died()
        self._shown = self._asked
        self._last_links = None  # its load may not have been shown: the next one runs

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._waiting = None
        self._shown = self._asked
        self.drain.close()
