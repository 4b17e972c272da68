"""Read a factory from disk, incrementally: only what changed is read again.

``FactoryReader`` owns the file side of the one-way flow, through collaborators that each keep
one kind of file: the claims folder (:class:`~factory_tui.adapters.factory_claims.ClaimFolder`),
the logs and their warm-start cache (:class:`~factory_tui.adapters.factory_logs.FactoryLogs`),
the checkpoints and state files (:mod:`factory_tui.adapters.factory_state`), the real factory's
store and server. ``fleet()`` derives the view.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from factory_tui.adapters.agent_transcripts import AgentTranscripts
from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.factory_claims import ClaimFolder
from factory_tui.adapters.factory_logs import (
    Beside,
    FactoryLogs,
    ReadProgress,
    read_progress,
    small_files_cost,
)
from factory_tui.adapters.factory_state import CheckpointFolder, StateFiles
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.hegemon_store import StoreReader
from factory_tui.adapters.jsonfiles import JsonFiles
from factory_tui.adapters.procs import ProcessProbe, local_hostname
from factory_tui.config import Config, missing_inputs
from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.claims import ClaimFile
from factory_tui.core.fleet import Fleet, HostProcs, ProcInfo, Settings
from factory_tui.core.fleet_agents import with_agents
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fleet_derive import FleetDeriver
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_sessions import SavedSessionsError
from factory_tui.core.locks import LockView, lock_problems, lock_views
from factory_tui.core.problems import Problem

if TYPE_CHECKING:
    from factory_tui.adapters.hegemon_remote import RemoteReader
    from factory_tui.adapters.remote_procs import RemoteProbe
    from factory_tui.config.hegemon import HegemonSettings
    from factory_tui.core.fleet_store import StoreMerger  # only with a store: not for status

__all__ = ["FactoryReader", "ReadProgress", "read_progress"]

T = TypeVar("T")


class FactoryReader:
    def __init__(
        self,
        config: Config,
        *,
        hostname: str | None = None,
        probe: ProcessProbe | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
        transcripts: bool = True,
        fold_cache: FoldCache | None = None,
        json_files: JsonFiles | None = None,
        logs: FactoryLogs | None = None,
    ) -> None:
        """``transcripts``: read each agent's Claude Code transcript for its activity (see
        :class:`~factory_tui.adapters.agent_transcripts.AgentTranscripts`). ``logs``: the logs'
        reader made beforehand for ``config`` and ``fold_cache`` (``status`` starts its cold
        read's child before it imports the rest of the reader)."""
        self.config = config
        self.hostname = hostname or local_hostname()
        self.probe = probe or ProcessProbe()
        self.claim_folder = ClaimFolder(
            config.claims_dir,
            max_file_bytes=config.max_file_bytes,
            lock_stale_after=config.lock_stale_after,
            values=json_files,
        )
        self.json_files = json_files
        """The claim files' and checkpoints' JSON kept between runs (``status``; the cockpit's
        first read, see :meth:`keep_files`), or None."""
        self.logs = logs if logs is not None else FactoryLogs(config, fold_cache)
        """operations.log and metrics.log, folded; the fold's warm-start cache."""
        self.logs.on_progress = on_progress
        if on_progress is None and (progress := read_progress.get()) is not None:
            self.logs.on_progress, self.logs.on_phase = progress, progress.phase
        self.checkpoints: dict[str, Checkpoint] = {}
        self.checkpoint_problems: list[Problem] = []
        self.checkpoint_folder = CheckpointFolder(config, values=json_files)
        self.state_files = StateFiles(config)
        self._changes = 0
        self.deriver = FleetDeriver()
        # One per source: a server update re-merges only the rows it changed (made when first
        # needed: most factories have no store).
        self._store_merger: StoreMerger | None = None
        self._server_merger: StoreMerger | None = None
        self._procs: dict[int, ProcInfo] | None = None
        self.agents: AgentTranscripts | None = (
            AgentTranscripts(config.claude_dirs, config.root, tz=local_zone())
            if transcripts
            else None
        )
        hegemon = config.hegemon
        self.store: StoreReader | None = StoreReader(hegemon.db) if hegemon else None
        """The real factory's local store (read-only), merged into every fleet."""
        hosts = hegemon.hosts if hegemon else {}
        self.remote: RemoteProbe | None = _remote_probe(hosts)
        """The other hosts reached over SSH (``[hosts."NAME"]``), whose claims' pids are checked."""
        self._remote: dict[str, HostProcs] | None = None
        self.server: RemoteReader | None = _server_reader(hegemon)
        """The shared server (``[hegemon] remote_url``), merged after the local store."""
        self.server_live = False
        """Set while a thread keeps :attr:`server` live (then no one-shot read is made)."""

    @classmethod
    def warm(
        cls,
        config: Config,
        environ: Mapping[str, str] | None = None,
        *,
        hostname: str | None = None,
        probe: ProcessProbe | None = None,
    ) -> FactoryReader:
        """A reader whose log starts from the user's warm-start cache of the fold (``environ``'s
        ``FACTORY_TUI_CACHE_DIR``, ``FACTORY_TUI_FOLD_CACHE=0`` for none) and saves it again
        when due: what every command and action reads the factory with, so that a million-line
        log costs what was appended since, not its whole history, at each run (a cache that does
        not match the files is read cold: never a wrong answer). The claim files and checkpoints
        whose stat is the one the cockpit or ``status`` kept their JSON under are read from
        there, not parsed again (read only: those two keep it up to date); at 10x, 1.4 s of an
        action's read of 10,000 of each."""
        fold_cache = FoldCache.from_env(environ)
        files = None
        if fold_cache is not None:
            where = fold_cache.files_path(config.claims_dir, config.checkpoints_dir)
            files = JsonFiles(where, read_only=True)
        return cls(config, hostname=hostname, probe=probe, fold_cache=fold_cache, json_files=files)

    @property
    def generation(self) -> int:
        """Grows whenever anything read changed: each claim file read again, appearing or going
        counts, as does each other refresh that found a change."""
        return self._changes + self.claim_folder.generation

    @property
    def fold(self) -> LogFold:
        """operations.log (after its rotated history), folded."""
        return self.logs.fold

    @property
    def metrics(self) -> LogFold:
        """metrics.log, folded (its times are UTC)."""
        return self.logs.metrics

    @property
    def on_progress(self) -> Callable[[str, int, int], None] | None:
        """Told ``(source, offset, total)`` after each chunk of a log is read."""
        return self.logs.on_progress

    @on_progress.setter
    def on_progress(self, callback: Callable[[str, int, int], None] | None) -> None:
        """Replaces :data:`read_progress`'s too (the cockpit tells its progress in its header):
        its phases go with it."""
        self.logs.on_progress = callback
        self.logs.on_phase = None

    @property
    def fold_cache(self) -> FoldCache | None:
        """Where the fold is saved for a warm start (None: always read cold, never saved)."""
        return self.logs.fold_cache

    @property
    def warm_started(self) -> bool:
        """The fold came from :attr:`fold_cache`: only the log after its offset was read."""
        return self.logs.warm_started

    @property
    def lint(self) -> list[object]:
        """The state files' lint findings."""
        return self.state_files.lint

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def with_caches(cls, config: Config, fold_cache: FoldCache | None) -> FactoryReader:
        """A reader that starts from ``fold_cache`` (None: no cache) and, with it, from the
        claim files' and checkpoints' JSON kept beside it (see :meth:`keep_files`)."""
        files = None
        if fold_cache is not None:
            files = JsonFiles(fold_cache.files_path(config.claims_dir, config.checkpoints_dir))
        return cls(config, fold_cache=fold_cache, json_files=files)

    def keep_files(self) -> bool:
        """After the first read: save the claim files' and checkpoints' JSON for the next start
        (at 10x, 10,000 claim files and 10,000 checkpoints read in 2.2 s of the cockpit's warm
        start), then read the files themselves from here on (their values are not held twice).
        True if something was written."""
        files = self.json_files
        if files is None:
            return False
        saved = files.save()
        files.release()
        self.json_files = self.claim_folder.values = self.checkpoint_folder.values = None
        return saved

    def refresh_all(self, *, then: Callable[[], object] | None = None) -> None:
        """Read everything once: the claim files and checkpoints (then ``then``), the logs,
        the state files and the stores. When the log is read cold, the claim files and
        checkpoints are read while a long log's tail is folded by a child process (see
        :attr:`FactoryLogs.beside`: 0.13 s of the scale factory's 1.7 s ``status``); before
        the log when it is likely read warm (a cache was saved): what ``then`` frees is then
        gone before the fold's memory is taken."""
        left: list[Callable[[], object]] = [self.refresh_claims, self.refresh_checkpoints]
        if then is not None:
            left.append(then)

        def small_files() -> None:
            while left:
                left.pop(0)()

        if self.logs.warm_likely():
            small_files()
        else:
            self.logs.beside.append(Beside(small_files, self.small_files_cost))
        self.refresh_log()
        small_files()  # unless done beside the child's fold
        self.refresh_state_files()
        self.refresh_store()
        self.refresh_server()

    def small_files_cost(self, _read_bytes: int) -> int:
        """What reading the claim files and checkpoints costs (see
        :func:`~factory_tui.adapters.factory_logs.small_files_cost`)."""
        return small_files_cost(self.config)

    def refresh_claims(self) -> bool:
        """Rescan the claims folder; re-read only files whose stat changed. True if anything did."""
        return self._bump(self.claim_folder.refresh(self._files_progress("claim files")))

    def _files_progress(self, source: str) -> Callable[[int, int], None] | None:
        """A folder's progress told as :attr:`on_progress` tells a log's (``source``: what the
        words name), or None when nobody is told."""
        told = self.logs.on_progress
        if told is None:
            return None
        return lambda done, total: told(source, done, total)

    def refresh_locks(self) -> bool:
        """Rescan only the claim lock directories (cheaper than :meth:`refresh_claims`: no claim
        file is looked at). True if the set of locks or their times changed."""
        return self._bump(self.claim_folder.refresh_locks())

    def lock_views(self, now: datetime) -> tuple[LockView, ...]:
        """The claim lock directories at ``now``: fresh (a writer at work) or stale."""
        return lock_views(self.claim_folder.lock_entries, now, self.config.lock_stale_after)

    def refresh_claim(self, path: Path) -> bool:
        """Re-read one claim file if its stat changed (or it vanished). True if anything changed."""
        return self._bump(self.claim_folder.refresh_claim(path))

    def refresh_store(self) -> bool:
        """Read the local store again if the database or its WAL changed."""
        return self._bump(self.store is not None and self.store.refresh())

    def refresh_server(self) -> bool:
        """Read the shared server once (unless a thread keeps it live)."""
        return self._bump(
            self.server is not None and not self.server_live and self.server.refresh()
        )

    def refresh_log(self) -> bool:
        """Feed what was appended to operations.log (and metrics.log) since the last call."""
        return self._bump(self.with_fold(lambda _fold: self.logs.refresh()))

    def save_fold_cache(self) -> bool:
        """Save the fold for the next start's warm read (at exit, say); see
        :meth:`FactoryLogs.save_fold_cache`."""
        return self.with_fold(lambda _fold: self.logs.save_fold_cache())

    def with_fold(self, work: Callable[[LogFold], T]) -> T:
        """``work(fold)``, for anything that reads the fold's sessions: when a warm start's
        archive of old sessions proves unreadable on the way, the log is read cold and
        ``work`` runs again on that fold (see :meth:`FactoryLogs.read_cold`)."""
        try:
            return work(self.logs.fold)
        except SavedSessionsError as error:
            self.logs.read_cold(str(error))
            self.deriver = FleetDeriver()
            self._changes += 1
            return work(self.logs.fold)

    def refresh_checkpoints(self) -> bool:
        """Keep the latest checkpoint of each task (see :class:`CheckpointFolder`: only the newest
        files changed since the last call are parsed again)."""
        checkpoints, problems = self.checkpoint_folder.read(self._files_progress("checkpoints"))
        changed = checkpoints != self.checkpoints or problems != self.checkpoint_problems
        self.checkpoints, self.checkpoint_problems = checkpoints, problems
        return self._bump(changed)

    def refresh_state_files(self) -> bool:
        return self._bump(self.state_files.refresh())

    def _bump(self, changed: bool) -> bool:
        """Count a change in :attr:`generation`; ``changed`` passed through."""
        if changed:
            self._changes += 1
        return changed

    # -- deriving --------------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        out: list[Problem] = self.claim_folder.all_problems()
        out.extend(self.fold.problems)
        out.extend(self.claim_folder.half_done_changes(self.fold))
        if self.fold.problem_count > len(self.fold.problems):
            extra = self.fold.problem_count - len(self.fold.problems)
            out.append(
                Problem(self.config.log_file.name, f"… and {extra} more problems in the log")
            )
        out.extend(self.metrics.problems)
        out.extend(self.checkpoint_problems)
        out.extend(self.state_files.problems)
        if self.store is not None and self.store.error:
            out.append(Problem(str(self.store.path), self.store.error))
        if self.server is not None and self.server.error:
            out.append(Problem(self.server.shown, self.server.error))
        return out

    def claim_files(self) -> list[ClaimFile]:
        return self.claim_folder.files()

    def local_pids(self) -> set[int]:
        pids: set[int] = set()
        for claim in self.claim_files():
            for unit in claim.units:
                if unit.owner and unit.pid and same_host(unit.hostname, self.hostname):
                    pids.add(unit.pid)
        if self.store is not None and self.store.snapshot is not None:
            from factory_tui.core.fleet_store import store_pids

            pids |= store_pids(self.store.snapshot, self.hostname)
        return pids

    @property
    def probed_running(self) -> bool:
        """The last probe found one of the claims' processes running, here or on a configured
        host: something that can change (die, use CPU) with no file saying so."""
        return bool(self._procs) or bool(self._remote)

    def transcripts_changed(self) -> bool:
        """Whether an agent's transcript grew since the last :meth:`fleet` (a ``stat`` each)."""
        return self.agents is not None and self.agents.changed()

    def remote_pids(self) -> dict[str, set[int]]:
        """The pids of owned claims on other hosts (files and store), by the claim's host."""
        wanted: dict[str, set[int]] = {}
        units = [u for claim in self.claim_files() for u in claim.units]
        found = [(u.owner, u.pid, u.hostname) for u in units]
        for snapshot in (
            self.store.snapshot if self.store is not None else None,
            self.server.snapshot if self.server is not None else None,
        ):
            if snapshot is not None:
                found += [(c.owner, c.pid, c.host) for c in snapshot.claims]
        for owner, pid, host in found:
            if owner and pid and host and not same_host(host, self.hostname):
                wanted.setdefault(host, set()).add(pid)
        return wanted

    def probe_remote(self) -> dict[str, HostProcs]:
        """The configured hosts' facts about their claims' pids (cached a few seconds)."""
        if self.remote is None:
            return {}
        return self.remote.probe(self.remote_pids())

    def fleet(
        self,
        now: datetime,
        *,
        settings: Settings | None = None,
        reprobe: bool = True,
        full: bool = False,
        procs: Mapping[int, ProcInfo] | None = None,
    ) -> Fleet:
        """The fleet at ``now``. Only appended log lines since the last call (and ``reprobe``
        False: the last process facts still stand) re-derive just what they touched; see
        :class:`FleetDeriver`. ``full`` forces a whole derive. ``procs``: process facts the
        caller already probed (of :meth:`local_pids`), used instead of probing again."""
        return self.with_fold(
            lambda _fold: self._fleet(
                now, settings=settings, reprobe=reprobe, full=full, procs=procs
            )
        )

    def _fleet(
        self,
        now: datetime,
        *,
        settings: Settings | None,
        reprobe: bool,
        full: bool,
        procs: Mapping[int, ProcInfo] | None,
    ) -> Fleet:
        cfg = self.config
        settings = settings or Settings(
            stale_after=cfg.stale_after,
            idle_after=cfg.idle_after,
            tz=local_zone(),
            launch_within=cfg.launch_claim_within,
        )
        if procs is not None:
            self._procs = dict(procs)
        elif reprobe or self._procs is None:
            self._procs = self.probe.probe(self.local_pids())
        if procs is not None or reprobe or self._remote is None:
            self._remote = self.probe_remote()
        locks = self.lock_views(now)
        fleet = self.deriver.derive(
            root=str(cfg.root),
            now=now,
            hostname=self.hostname,
            claims=self.claim_folder.sorted_files(),
            fold=self.fold,
            checkpoints=list(self.checkpoints.values()),
            procs=self._procs,
            settings=settings,
            problems=self.problems() + lock_problems(locks, str(cfg.claims_dir)),
            lint=self.lint,
            full=full,
            remote=self._remote,
        )
        if self.store is not None and self.store.snapshot is not None:
            if self._store_merger is None:
                self._store_merger = _merger()
            fleet = self._store_merger.merge(
                fleet,
                self.store.snapshot,
                fold=self.fold,
                now=now,
                procs=self._procs,
                settings=settings,
                remote=self._remote,
            )
        server = self.server.snapshot if self.server is not None else None
        if server is not None:
            if self._server_merger is None:
                self._server_merger = _merger()
            fleet = self._server_merger.merge(
                fleet,
                server,
                fold=self.fold,
                now=now,
                procs=self._procs,
                settings=settings,
                remote=self._remote,
            )
        activities = (
            self.agents.refresh(fleet.instances, self._procs) if self.agents is not None else {}
        )
        fleet = with_agents(fleet, activities, self.fold.agent_signals, now, settings.idle_after)
        missing = tuple(missing_inputs(cfg))
        if locks or missing or self._remote:
            return replace(fleet, locks=locks, missing=missing, host_procs=self._remote or {})
        return fleet


def _remote_probe(hosts: Mapping[str, Sequence[str]]) -> RemoteProbe | None:
    """The probe of the configured other hosts, None when there are none (and the SSH probe's
    module not imported)."""
    if not hosts:
        return None
    from factory_tui.adapters.remote_procs import RemoteProbe

    return RemoteProbe(hosts)


def _merger() -> StoreMerger:
    """A merger of a store's rows into the fleet (imported only when there is a store)."""
    from factory_tui.core.fleet_store import StoreMerger

    return StoreMerger()


def _server_reader(hegemon: HegemonSettings | None) -> RemoteReader | None:
    """The shared server's reader when a URL is configured, else None (and its HTTP machinery
    not imported: a factory without a server does not pay for it)."""
    if hegemon is None or not hegemon.remote_url:
        return None
    from factory_tui.adapters.hegemon_remote import remote_reader

    return remote_reader(hegemon, os.environ)
