"""The cost feed: the transcripts read on one thread, the spend posted to the app (issue 6).

One worker owns the :class:`~factory_tui.adapters.transcripts.CostTracker`: it takes what is
asked (a slow timer, new spans from the fleet feed's thread, another grouping or period, a paid
Council sitting), reads what the transcripts gained and posts a frozen
:class:`~factory_tui.ui.widgets.spend.CostSnapshot` (:class:`CostUpdated`), only when what is
shown could differ. Transcript folders are not watched (they appear anywhere under the Claude
config dir): the app's ticker re-reads them every :data:`COST_REFRESH_SECONDS` on its own thread
(:meth:`CostFeed.refresh_here`), which costs a stat per transcript file. Budgets reached run
``[cost] on_budget`` from here, once per alert.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from factory_tui.config import Config
from factory_tui.ui.feeds.base import Drain
from factory_tui.ui.messages import (
    CostFailed,
    CostProgress,
    CostSpans,
    CostUpdated,
    SpansWanted,
)

if TYPE_CHECKING:
    import subprocess

    from textual.notifications import SeverityLevel

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.transcripts import CostTracker
    from factory_tui.adapters.worktrees import Worktrees
    from factory_tui.core.cost_attribution import Span, SpanBuilder
    from factory_tui.core.cost_records import Period
    from factory_tui.core.cost_report import CostView, Grouping

__all__ = ["COST_REFRESH_SECONDS", "SPANS_EVERY", "CostFeed", "CostWant"]

#: Seconds between re-reads of the transcripts (their folders are not watched).
COST_REFRESH_SECONDS = 10.0
#: The fleet feed's thread works out the attribution's spans at most this often.
SPANS_EVERY = 2.0


@dataclass(frozen=True)
class CostWant:
    """A re-read, with the fleet's new spans when they came with it."""

    spans: Sequence[Span] | None = None
    post: bool = False
    """Post the snapshot even if nothing shown moved."""


def _merge(old: CostWant, new: CostWant) -> CostWant:
    return CostWant(new.spans if new.spans is not None else old.spans, old.post or new.post)


class CostFeed:
    """Reads the transcripts on one thread and posts the spend to ``app``.

    - ``environ``: the environment ``[cost] on_budget`` runs in (default ``os.environ``).
    - ``budget_state_dir``: where on_budget runs are remembered across restarts (None: the user
      state folder).
    - ``budget_command_enabled``: False: ``[cost] on_budget`` is never run (a headless
      snapshot acts on nothing).
    """

    def __init__(
        self,
        app: App[Any],
        config: Config,
        *,
        clock: Callable[[], datetime],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.clock = clock
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.tracker: CostTracker | None = None
        """Owned by the worker's thread."""
        self.drain: Drain[CostWant] = Drain(
            app,
            name="read transcripts",
            group="cost",
            work=self._work,
            failed=self._failed,
            merge=_merge,
            on_close=self._close_tracker,
        )
        self._lock = threading.Lock()
        self._choice: tuple[Grouping, Period] = ("agent", "today")
        self._attributed = False
        self._first_done = False
        self._last: object = None
        self._idle_key: object = None
        # The spans, on the fleet feed's thread.
        self._generation: int | None = None
        self._span_builder: SpanBuilder | None = None  # closed sessions' spans are made once
        self._worktrees: Worktrees | None = None  # read again only when git's files changed
        self._spans_at = 0.0
        self.wants_spans = False
        """Whether a record the worker read wants the spans (set once, by the worker)."""
        self.spans_since: datetime | None = None
        """The earliest such record's time (set by the worker): the spans start there."""
        self._built_since: datetime | None = None
        self.budget_fired: set[str] = set()
        """Alerts the ``[cost] on_budget`` command ran for (the worker's thread only)."""
        self.budget_state_dir: Path | None = None
        self.budget_processes: list[subprocess.Popen[bytes]] = []
        self.budget_command_enabled = True

    # -- asked on the event loop

    def request(self, *, spans: Sequence[Span] | None = None, post: bool = False) -> None:
        """A re-read (with the fleet's new ``spans``, when they changed); ``post``: post the
        snapshot even if nothing shown moved (something waits for one)."""
        self.drain.request(CostWant(spans, post))

    def refresh_here(self) -> None:
        """On the app's ticker thread: re-read the transcripts there (no worker started;
        the spend is posted only if what is shown could differ)."""
        self.drain.work_here(CostWant())

    def choose(self, grouping: Grouping, period: Period) -> None:
        """The Cost view shows another grouping or period: re-read for it."""
        with self._lock:
            self._choice = (grouping, period)
        self.request()

    def close(self) -> None:
        """The app is closing: the tracker's files are closed (by the worker if it runs)."""
        self.drain.close()

    def _close_tracker(self) -> None:
        if self.tracker is not None:
            self.tracker.close()

    # -- on the fleet feed's thread

    def spans_after_read(self, reader: FactoryReader) -> None:
        """After a read that changed the factory: the spans (who worked on what, where, when)
        the spend is attributed with; at most every :data:`SPANS_EVERY` seconds (a later read
        catches up)."""
        from factory_tui.adapters.transcripts import spans_from_reader
        from factory_tui.adapters.worktrees import Worktrees
        from factory_tui.core.cost_attribution import SpanBuilder

        since = self.spans_since
        if not self.wants_spans or (
            reader.generation == self._generation and since == self._built_since
        ):
            return  # (no record wants them yet: see CostLedger.wants_spans)
        moment = time.monotonic()
        if self._generation is not None and moment - self._spans_at < SPANS_EVERY:
            return
        self._spans_at = moment
        if self._span_builder is None:
            self._span_builder = SpanBuilder()
        if self._worktrees is None:
            self._worktrees = Worktrees(self.config.root)
        spans = spans_from_reader(
            reader, self._worktrees.branches(), builder=self._span_builder, since=since
        )
        self._generation, self._built_since = reader.generation, since  # made: not again
        self.app.post_message(CostSpans(spans))

    # -- on the worker's thread

    def _failed(self, error: BaseException) -> None:
        from factory_tui.core.pricing import PriceTableError

        if isinstance(error, PriceTableError):  # a wrong [cost] table: the user's to fix
            self.app.post_message(CostFailed(str(error)))
        else:  # a bug: keep the cockpit alive, say what failed
            self.app.post_message(CostFailed(f"{type(error).__name__}: {error}"))

    def _progress(self, done: int, total: int) -> None:
        self.app.post_message(CostProgress(done, total))  # a burst coalesces

    def _work(self, want: CostWant) -> None:
        from factory_tui.adapters.transcripts import CostTracker
        from factory_tui.core.cost_records import naive_local, period_since
        from factory_tui.ui.widgets.spend import CostSnapshot

        with self._lock:
            grouping, period = self._choice
        tracker = self.tracker
        if tracker is None:
            tracker = self.tracker = CostTracker(self.config)
        changed = False
        if want.spans is not None:
            changed = tracker.ledger.set_spans(want.spans)
            self._attributed = True
        # The first read of a big transcripts folder takes seconds: the header says how far.
        changed |= tracker.refresh(progress=None if self._first_done else self._progress)
        self._first_done = True
        earliest = tracker.ledger.earliest
        if tracker.ledger.wants_spans and (not self.wants_spans or earliest != self.spans_since):
            # The first record to attribute, or one earlier than the spans start: the fleet
            # feed makes them (from its time on).
            self.spans_since = earliest
            self.wants_spans = True
            self.app.post_message(SpansWanted())
        # Nothing to attribute is attributed: the panes say each agent's (none) spend. A
        # record earlier than the spans start is not until they are made again from its time
        # (nor are the budgets judged: an alert for another agent would run on_budget).
        ledger = tracker.ledger
        attributed = not ledger.wants_spans or (self._attributed and ledger.spans_cover)
        now = naive_local(self.clock())
        # Nothing read, nothing asked, the same minute: the view, the report and the budgets
        # are what they were (the ticker's re-read every 10 s was a third of the idle CPU).
        stats = tracker.reader.stats
        idle_key = (
            now.replace(second=0, microsecond=0),
            grouping,
            period,
            stats.files,
            stats.folders_counted,
            tuple(stats.problems),
            tuple(tracker.problems),
            attributed,
        )
        if not changed and not want.post and idle_key == self._idle_key:
            return
        self._idle_key = idle_key
        view = tracker.view(now)
        report = tracker.report(grouping, since=period_since(period, now))
        snapshot = CostSnapshot(
            view=view,
            report=report,
            grouping=grouping,
            period=period,
            projects_dir=str(tracker.reader.projects_dir),
            files=stats.files,
            folders=stats.folders_counted,
            problems=tuple(tracker.problems),
            attributed=attributed,
        )
        # Budgets are judged once the spend is attributed (per-agent budgets need it).
        notes = self._budget_command(view, now) if attributed else ()
        facts = (
            view.day,
            view.per_hour_start,
            view.per_hour,
            view.today,
            tuple(view.agents_today.items()),
            view.budgets,
            view.unpriced_models,
            grouping,
            period,
            report.total,
            tuple(report.by.items()),
            report.unpriced_models,
            stats.files,
            snapshot.problems,
            snapshot.attributed,
        )
        if changed or notes or want.post or facts != self._last:
            self._last = facts
            self.app.post_message(CostUpdated(snapshot, changed=changed, notes=notes))

    def _budget_command(
        self, view: CostView, now: datetime
    ) -> tuple[tuple[str, SeverityLevel], ...]:
        """Run ``[cost] on_budget`` once per new alert (argv, no shell), once across restarts
        and cockpits on this factory too (the user state file says which alerts it ran for);
        what happened, to be notified."""
        from factory_tui.actions.budget_state import claim_fired
        from factory_tui.actions.cost import budget_command, fire_budget_command
        from factory_tui.core.pricing import PriceTableError

        for process in self.budget_processes:
            process.poll()  # reap the ones that ended
        fresh = [
            s for s in view.budgets if s.level == "alert" and s.alert_id not in self.budget_fired
        ]
        if not fresh or not self.budget_command_enabled:
            return ()
        try:
            command = budget_command(self.config)
        except PriceTableError as error:
            self.budget_fired.update(s.alert_id for s in fresh)
            return ((f"[cost] on_budget was not run: {error}", "error"),)
        if command is None:
            return ()
        notes: list[tuple[str, SeverityLevel]] = []
        ids = [s.alert_id for s in fresh]
        try:
            mine = set(claim_fired(self.config.root, ids, now, folder=self.budget_state_dir))
        except OSError as error:
            mine = set(ids)
            notes.append(
                (
                    f"cannot remember the [cost] on_budget runs ({error}): "
                    "a restart may run it again for the same budget",
                    "warning",
                )
            )
        # Already run for by another cockpit on this factory (since this one read the state).
        self.budget_fired.update(set(ids) - mine)
        for state in fresh:
            if state.alert_id not in mine:
                continue
            try:
                started = fire_budget_command(
                    command, (state,), self.budget_fired, env=self.environ
                )
            except OSError as error:
                self.budget_fired.add(state.alert_id)
                notes.append(
                    (
                        f"[cost] on_budget {command[0]} could not start: "
                        f"{error.strerror or error}; fix the command in factory.toml",
                        "error",
                    )
                )
                continue
            self.budget_processes.extend(started)
            pids = ", ".join(str(p.pid) for p in started)
            notes.append(
                (f"ran [cost] on_budget ({command[0]}, pid {pids}) for {state.message}", "warning")
            )
        return tuple(notes)
