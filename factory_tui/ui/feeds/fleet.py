"""The fleet feed: the factory's files read on one thread, the fleet derived, posted to the app.

The watcher (:mod:`factory_tui.ui.watch`) says which paths changed; the app's handler turns them
into a :class:`~factory_tui.ui.watch.RefreshPlan` and asks this feed for it. The feed's one
worker calls only the matching ``FactoryReader.refresh_*``, derives a new
:class:`~factory_tui.core.fleet.Fleet` and posts :class:`FleetUpdated`. A slow tick re-probes
the pids (and ages move on): a fleet is posted then only if what is shown could differ.

After each read the feed tells the watcher which transcripts the reader follows
(:class:`~factory_tui.ui.watch.FollowedFiles`): a line an agent's Claude Code appends comes back
as ``RefreshPlan(transcripts=True)``, and only the transcripts are read again before the
re-derive (the log's fold, the claims and the process facts stand).

The process facts are probed once per read and passed into ``reader.fleet(now, procs=…)``:
nothing swaps the reader's probe under another thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from factory_tui.config import Config
from factory_tui.ui.feeds.base import Drain
from factory_tui.ui.messages import FleetUpdated, LoadProgress, ReaderFailed, StateSummary
from factory_tui.ui.watch import RefreshPlan, WatchTargets

if TYPE_CHECKING:
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.logindex import LogIndex
    from factory_tui.core.fleet import Fleet, HostProcs, ProcInfo

__all__ = ["INDEX_CHUNK_BYTES", "FleetFeed", "FleetWant", "empty_fleet", "state_summary"]

INDEX_CHUNK_BYTES = 1 << 20
"""The first load indexes the log this much at a time: its progress, and how soon a closing
app stops it."""


def empty_fleet(root: str, now: datetime, hostname: str = "") -> Fleet:
    """The fleet before anything is read."""
    from factory_tui.core.fleet import Fleet

    return Fleet(
        root=root,
        generated_at=now,
        hostname=hostname,
        instances=(),
        sessions=(),
        claims=(),
        problems=(),
    )


def state_summary(config: Config) -> StateSummary:
    """plan.md and memory.md in counts (two small files; read after the reader saw them change)."""
    from factory_tui.adapters.safe_read import read_factory_file
    from factory_tui.core.statefiles_parse import parse_memory, parse_plan

    def read(path: Path) -> str | None:
        data = read_factory_file(path, config.max_file_bytes)  # a FIFO must not block
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None

    plan_text = read(config.plan_file)
    memory_text = read(config.memory_file)
    plan_counts: tuple[tuple[str, int], ...] = ()
    sections: tuple[tuple[str, int], ...] = ()
    if plan_text is not None:
        plan = parse_plan(plan_text, str(config.plan_file))
        counts: dict[str, int] = {}
        for item in plan.items:
            counts[item.state] = counts.get(item.state, 0) + 1
        plan_counts = tuple(
            (state, counts[state])
            for state in ("in_progress", "pending", "blocked", "done")
            if state in counts
        )
    if memory_text is not None:
        memory = parse_memory(memory_text, str(config.memory_file))
        sections = tuple((s.name, len(s.items)) for s in memory.sections if s.kind is not None)
    return StateSummary(
        plan_file=str(config.plan_file),
        plan_exists=plan_text is not None,
        plan_counts=plan_counts,
        memory_file=str(config.memory_file),
        memory_exists=memory_text is not None,
        memory_sections=sections,
    )


@dataclass
class FleetWant:
    """What the fleet worker is asked to do: the first complete load, re-read what changed, or a
    re-probe of the pids (``tick``)."""

    plan: RefreshPlan = field(default_factory=RefreshPlan)
    initial: bool = False
    tick: bool = False

    def merge(self, other: FleetWant) -> FleetWant:
        self.plan.merge(other.plan)
        self.initial |= other.initial
        self.tick |= other.tick
        return self


PROGRESS_EVERY = 0.1
"""Seconds between two progress posts of one source during the first read."""
LOG_SHOWN_WAIT = 5.0
"""Seconds the spend's spans and the log index's save wait at most for the app to show the
first load."""


class FleetFeed:
    """Reads the factory on one thread and posts :class:`FleetUpdated` to ``app``.

    ``after_read(reader)`` runs on the worker after every read (the cost feed works out its
    spans there). After the first load it finishes the changes an interrupted factory-tui left
    half done (:meth:`finish_interrupted`)."""

    def __init__(
        self,
        app: App[Any],
        config: Config,
        reader: FactoryReader,
        log_index: LogIndex,
        *,
        clock: Callable[[], datetime],
        after_read: Callable[[FactoryReader], None],
        targets: WatchTargets | None = None,
        freeze_read: bool = False,
    ) -> None:
        """``targets``: the watcher's, told which transcripts the reader follows (None: no
        watcher to tell). ``freeze_read``: the process is the cockpit's own; the first read
        runs with the cyclic collector off and what it made is frozen out of it (see
        :meth:`_collector_held`)."""
        self.app = app
        self.freeze_read = freeze_read
        self.targets = targets
        self.config = config
        self.reader = reader
        self.log_index = log_index
        self.clock = clock
        self.after_read = after_read
        self.drain: Drain[FleetWant] = Drain(
            app,
            name="read factory",
            group="reader",
            work=self._work,
            failed=self._failed,
            merge=FleetWant.merge,
        )
        self._last_shown: object = None
        """What the fleet posted last shows (:func:`shown_facts`), made when a tick first
        compares with it (None: not made yet, see :attr:`_last_posted`)."""
        self._last_posted: Fleet | None = None
        self._last_probe: object = None
        self.posted = 0
        """The fleets posted so far (the app draws one only when no newer one is on its way:
        see :meth:`FactoryApp.on_fleet_updated`)."""
        self._server_stop = threading.Event()
        self._closing = threading.Event()
        self._index_restored_lines = 0
        """The lines of the log index the last start kept (0: none was used)."""
        self._indexed_beside = False
        """The first read indexed the log while a child folded its tail."""
        self._progress_at: dict[str, float] = {}
        """When each source's progress was last posted (see :meth:`_progress`)."""
        self.log_shown = threading.Event()
        """Set by the app once it has shown the first fleet with the log indexed."""
        self.index_kept = threading.Event()
        """Set once the first load's log index was kept for the next start (or found not worth
        keeping): a quit before it keeps none (the next start indexes the log whole)."""
        reader.logs.cancel = self._closing  # a long read stops when the app closes

    def request(
        self, *, plan: RefreshPlan | None = None, initial: bool = False, tick: bool = False
    ) -> None:
        """On the event loop: read what ``plan`` names (the first load: ``initial``; re-probe
        the pids: ``tick``)."""
        self.drain.request(FleetWant(plan or RefreshPlan(), initial=initial, tick=tick))

    def tick_here(self) -> None:
        """On the app's ticker thread: re-probe the pids there (no worker started; a
        fleet is posted only if what is shown could differ)."""
        self.drain.work_here(FleetWant(tick=True))

    def close(self) -> None:
        """The app is closing: the read in progress stops after its chunk (the exit joins the
        worker's thread), the log index's build after its chunk; nothing more is read."""
        self._closing.set()
        self.log_shown.set()
        self.reader.logs.close_early()  # started, never taken: the app quit first
        self.drain.close()
        self._server_stop.set()
        if self.reader.server is not None:
            self.reader.server.stop()

    def _start_server(self) -> None:
        """Keep the shared server live on a thread of its own (its realtime stream waits for
        events); each change asks this feed for a re-derive."""
        server = self.reader.server
        if server is None or self.reader.server_live:
            return
        self.reader.server_live = True

        def changed() -> None:
            try:
                self.app.call_from_thread(self.request, plan=RefreshPlan(remote=True))
            except RuntimeError:  # the app is gone
                self._server_stop.set()

        threading.Thread(
            target=server.run,
            args=(self._server_stop, changed),
            name="hegemon server",
            daemon=True,
        ).start()

    def finish_interrupted(self, reader: FactoryReader) -> None:
        """On start, on the worker: close the changes an interrupted factory-tui left half done
        (an intent logged, no outcome), by what the claim files show; say so."""
        if self.config.read_only or not reader.fold.open_changes:
            return
        from factory_tui.actions.interrupted import finish_interrupted

        done = finish_interrupted(self.config, reader.fold.open_changes, now=self.clock())
        reader.refresh_log()
        for item in done:
            self.app.call_from_thread(
                self.app.notify,
                item.message,
                title=f"Interrupted change {item.change}",
                severity="information" if item.outcome != "left" else "warning",
            )

    def _failed(self, error: BaseException) -> None:
        self.app.post_message(ReaderFailed(f"{type(error).__name__}: {error}"))

    def _work(self, want: FleetWant) -> None:
        from factory_tui.adapters.factory_logs import ReadCancelled

        try:
            if want.initial:
                self._load_everything()
            if want.plan or want.tick:
                self._refresh(want.plan, want.tick)
        except ReadCancelled:
            return  # closing: nothing to show or to attribute
        self.after_read(self.reader)  # new spans for the spend's attribution

    def _progress(self, source: str, done: int, total: int) -> None:
        """Post how far the first read is: at most every :data:`PROGRESS_EVERY` seconds a
        source, and its end (each one made the app draw the header again, on the GIL the
        read needs: ~150 of them on the scale factory)."""
        now = time.monotonic()
        if done < total and now - self._progress_at.get(source, -PROGRESS_EVERY) < PROGRESS_EVERY:
            return
        self._progress_at[source] = now
        self.app.post_message(LoadProgress(source, done, total))

    def _load_everything(self) -> None:
        from factory_tui.adapters.factory_logs import Beside
        from factory_tui.adapters.memory import release_free_memory

        reader = self.reader
        reader.on_progress = self._progress
        self._start_server()  # before the files: a server that does not answer waits on its own
        # The fold's warm-start cache is saved once the fleet is shown and the log indexed (a
        # cold read of a big log made it due): it is for the next start, not this one (0.6 s
        # on the scale factory). A read that fails still saves the fold if it was read whole;
        # a fold fed half is never saved.
        reader.logs.hold_saves()
        reader.logs.save_in_child = True  # the cockpit goes on meanwhile (see adapters/forked)
        self._restore_index(reader)
        try:
            with self._collector_held():
                # A long log's cold read has a child fold its tail: the log is indexed meanwhile
                # (a twelfth of a fold's time, the sessions' instances left for later).
                index = Beside(self._index_beside, self._index_cost)
                reader.logs.beside.append(index)
                try:
                    reader.refresh_all()
                finally:
                    reader.on_progress = None
                self.finish_interrupted(reader)
            self._show_first(reader)
        finally:
            reader.with_fold(lambda _fold: reader.logs.release_saves())
            reader.keep_files()  # for the next start, now that this one's fleet is shown
        # The spend's attribution after the log: the Log view is looked at first, the spend is
        # still being read on its own thread (on the scale factory the spans of every session
        # in the history took a second, which the log then waited for). After the save too
        # (made after the spend's spans, its passing memory was in the RSS once they showed).
        # And once the app has shown the log: beside the spans, its handler's 0.3 s took 0.3
        # to 2.9 s at 10x (the GIL). Bounded: a fleet that is never shown does not hold it.
        self.log_shown.wait(LOG_SHOWN_WAIT)
        self.after_read(reader)
        release_free_memory()  # the read's buffers are gone: their pages go back to the system

    @contextlib.contextmanager
    def _collector_held(self) -> Iterator[None]:
        """In the cockpit's own process (:attr:`freeze_read`), the first read with the cyclic
        collector off, and what it made frozen out of it after: the fold and the files live as
        long as the cockpit, and each full pass walked them all to free nothing (with 10,000
        claims ~100 ms a pass, ~50 ms with them frozen; a pass every few new claim files).

        A frozen cycle is never freed: one full pass first, for what the app's own thread
        dropped while the collector was off (its strips and their caches, as it drew: a
        thousand objects on the demo). What the views hold at the freeze and drop later stays
        (the footer's keys, rebuilt once: bounded, once); what they make after it is freed."""
        if not self.freeze_read:
            yield
            return
        from factory_tui.adapters.memory import collect_and_freeze, gc_paused

        with gc_paused():
            try:
                yield
            finally:
                collect_and_freeze()

    def start_early(self) -> bool:
        """Start the first read's child now if that read will be cold and split (see
        :meth:`FactoryLogs.start_early`): the app mounts its views meanwhile. True if
        started."""
        reader = self.reader
        return reader.logs.start_early(
            lambda read_bytes: reader.small_files_cost(read_bytes) + self._index_cost(read_bytes)
        )

    @staticmethod
    def _index_cost(read_bytes: int) -> int:
        """The log's index, made beside a child's fold: a twelfth of the fold's time."""
        return read_bytes // 12

    def _show_first(self, reader: FactoryReader) -> None:
        """Post the first fleet, then index the log and say the Log view can show it; both at
        once when the log was indexed while the child folded (a second message waited for
        the first one's frame: ~0.09 s of the scale factory's cold start)."""
        fleet = reader.fleet(self.clock())
        self._follow_transcripts()
        self._shown_later(fleet)
        indexed = self._indexed_beside and self._index_log()  # what was appended since
        state = state_summary(self.config)
        self._post(
            FleetUpdated(fleet, changed=True, initial=True, log_changed=indexed, state=state)
        )
        if not indexed:
            if not self._index_log():
                return
            self._post(FleetUpdated(fleet, changed=False, log_changed=True))
        # Kept once the app has shown the log: written beside the app's handling of the first
        # fleets, it held the GIL the log's showing waited for (~0.1 s of 2.6).
        self.log_shown.wait(LOG_SHOWN_WAIT)
        try:
            self._keep_index(reader)
        finally:
            self.index_kept.set()

    def _index_beside(self) -> None:
        """The log indexed while a child folds its tail (see :attr:`FactoryLogs.beside`)."""
        self._indexed_beside = self._index_log()

    def _restore_index(self, reader: FactoryReader) -> None:
        """Start the log index from the one the last start kept (a warm start indexes what
        was appended since)."""
        from factory_tui.adapters.logindex_cache import restore_index

        cache = reader.logs.fold_cache
        if cache is not None and restore_index(
            self.log_index, cache.index_path(self.config.log_file)
        ):
            self._index_restored_lines = len(self.log_index)

    def _keep_index(self, reader: FactoryReader) -> None:
        """Keep the log index for the next start, once shown, unless it came from there and
        grew by less than the fold cache's threshold since (in lines of ~100 bytes: a log
        that small is indexed in milliseconds)."""
        from factory_tui.adapters.logindex_cache import save_index

        cache = reader.logs.fold_cache
        if cache is None:
            return
        if len(self.log_index) - self._index_restored_lines >= cache.min_log_bytes // 100:
            save_index(self.log_index, cache.index_path(self.config.log_file))

    def _index_log(self) -> bool:
        """Index what the log index lacks, telling progress; False if the app closed meanwhile
        (the rest is indexed by no one)."""
        for step in self.log_index.update_in_chunks(INDEX_CHUNK_BYTES):
            self._progress("log index", step.bytes_done, step.bytes_total)
            if self._closing.is_set():
                return False
        return True

    def _refresh(self, plan: RefreshPlan, tick: bool) -> None:
        reader = self.reader
        changed = False
        for path in sorted(plan.claim_paths):
            changed |= reader.refresh_claim(path)
        if plan.rescan_claims:
            changed |= reader.refresh_claims()
        elif plan.locks:
            changed |= reader.refresh_locks()
        log_changed = False
        if plan.log:
            log_changed = reader.refresh_log()
            generation = self.log_index.generation
            log_changed |= self.log_index.update() > 0 or self.log_index.generation != generation
        if plan.checkpoints:
            changed |= reader.refresh_checkpoints()
        if plan.store or tick:  # a stat of the database and its WAL when nothing says so
            changed |= reader.refresh_store()
        state: StateSummary | None = None
        if plan.state and reader.refresh_state_files():
            changed = True
            state = state_summary(self.config)
        # Only lines appended to the log (or the server's news): the fleet is re-derived where
        # they touch, with the process facts of the last probe (the tick re-probes).
        log_only = (log_changed or plan.remote) and not changed and not tick
        changed |= plan.remote
        changed |= log_changed
        if not changed and (plan.transcripts or (tick and reader.transcripts_changed())):
            # An agent's transcript grew, or a new one (a new session) appeared beside it: its
            # activity (and maybe its wait) moved (issue 13). The derive reads the transcripts
            # again; off the tick, the last process facts still stand.
            changed = True
            log_only = not tick
        if not (changed or tick):
            return
        now = self.clock()
        if not changed:
            # Only the clock and the process table can have moved: probe once, and derive a
            # fleet only if what is shown could differ (a big factory derives in ~0.1 s).
            procs = reader.probe.probe(reader.local_pids())
            minute = now.replace(second=0, microsecond=0)
            # Other hosts' pids too (their answers are cached a few seconds).
            remote = reader.probe_remote()
            facts = (minute, proc_facts(procs), remote_facts(remote))
            if facts == self._last_probe:
                return
            self._last_probe = facts
            fleet = reader.fleet(now, procs=procs)
        else:
            fleet = reader.fleet(now, reprobe=not log_only)
        self._follow_transcripts()
        if changed:
            self._shown_later(fleet)
            self._post(FleetUpdated(fleet, changed=changed, log_changed=log_changed, state=state))
            return
        shown = shown_facts(fleet)
        last = self._last_shown
        if last is None and self._last_posted is not None:
            last = shown_facts(self._last_posted)
        self._last_shown, self._last_posted = shown, None
        if shown != last:
            self._post(FleetUpdated(fleet, changed=changed, log_changed=log_changed, state=state))

    def _shown_later(self, fleet: Fleet) -> None:
        """``fleet`` is posted: what it shows is made only when a tick with no file changed
        compares a fleet with it (each change made it for ten thousand claims: ~4 ms, most of
        the feed's work for a claim file written)."""
        self._last_posted, self._last_shown = fleet, None

    def _post(self, message: FleetUpdated) -> None:
        """Post a fleet, numbered (:attr:`posted`)."""
        self.posted += 1
        message.seq = self.posted
        self.app.post_message(message)

    def _follow_transcripts(self) -> None:
        """Tell the watcher which transcripts the reader follows now (after a derive)."""
        agents = self.reader.agents
        if self.targets is not None and agents is not None:
            self.targets.transcripts.update(agents.followed(), agents.looking)


def proc_facts(procs: dict[int, ProcInfo]) -> object:
    """The process table as the panes show it (cpu to 0.1 %, memory to the MiB)."""
    return tuple(
        sorted(
            (
                pid,
                info.started_at,
                None if info.cpu_percent is None else round(info.cpu_percent, 1),
                None if info.rss_bytes is None else info.rss_bytes >> 20,
            )
            for pid, info in procs.items()
        )
    )


def remote_facts(remote: dict[str, HostProcs]) -> object:
    """Other hosts' answers as the verdicts use them: which pids run since when, or why the
    host could not be asked."""
    return tuple(
        sorted(
            (host, facts.error, tuple(sorted((p, i.started_at) for p, i in facts.procs.items())))
            for host, facts in remote.items()
        )
    )


def shown_facts(fleet: Fleet) -> object:
    """What a re-derived fleet can show differently when no file changed: the minute (ages are
    shown to the minute), verdicts, and each process's facts as displayed. The slow tick posts
    a new fleet only when these differ, so an idle cockpit does next to nothing."""
    return (
        fleet.generated_at.replace(second=0, microsecond=0),
        tuple(
            (
                i.id,
                i.status,
                i.alive,
                None if i.cpu_percent is None else round(i.cpu_percent, 1),
                None if i.rss_bytes is None else i.rss_bytes >> 20,
                i.waiting,
                i.activity,
            )
            for i in fleet.instances
        ),
        tuple((c.key, c.state) for c in fleet.claims),
        tuple((s.key, s.status) for s in fleet.sessions),
    )
