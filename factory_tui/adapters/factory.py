"""Read a factory from disk, incrementally: only what changed is read again.

``FactoryReader`` owns the file side of the one-way flow: it keeps the parsed claim files (keyed
by path, re-read when their stat changes), the operations.log fold (fed with appended lines
only), the latest checkpoint of each task and the state files. ``fleet()`` derives the view.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from factory_tui.adapters.agent_transcripts import AgentTranscripts
from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.foldcache import (
    FileIdentity,
    FoldCache,
    WarmStart,
    file_identity,
    path_identity,
)
from factory_tui.adapters.hegemon_remote import RemoteReader, remote_reader
from factory_tui.adapters.hegemon_store import StoreReader
from factory_tui.adapters.memory import gc_paused
from factory_tui.adapters.procs import ProcessProbe, local_hostname
from factory_tui.adapters.remote_procs import RemoteProbe
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.adapters.tail import LogTail
from factory_tui.config import Config, missing_inputs
from factory_tui.core.checkpoints import Checkpoint, parse_checkpoint, parse_checkpoint_name
from factory_tui.core.claims import ClaimFile, claim_set_problems, parse_claim
from factory_tui.core.fleet import Fleet, HostProcs, ProcInfo, Settings
from factory_tui.core.fleet_agents import with_agents
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fleet_derive import FleetDeriver
from factory_tui.core.fleet_store import StoreMerger, store_pids
from factory_tui.core.fold import LogFold
from factory_tui.core.locks import LockEntry, LockView, lock_problems, lock_views
from factory_tui.core.problems import Problem
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan

__all__ = ["FactoryReader", "FileKey"]

# atomic_write's temp file for a claim file: ".<name>.json.<random>.tmp".
_CLAIM_TEMP = re.compile(r"\.(.+\.json)\.[^.]+\.tmp\Z")


@dataclass(frozen=True, slots=True)
class FileKey:
    """Enough of a stat to tell that a file changed."""

    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_mtime_ns, st.st_size, st.st_ino)


def _file_key(path: Path) -> FileKey | None:
    """The key of what ``path`` names (a dangling symlink: of the link itself); None when there
    is nothing. Raises ``OSError`` for anything else."""
    try:
        return FileKey.of(path.stat())
    except FileNotFoundError:
        try:
            return FileKey.of(path.lstat())
        except FileNotFoundError:
            return None


# The log is read a megabyte at a time: as fast as bigger reads, and the short-lived lines of a
# chunk never outnumber the fold's long-lived records, which keeps the heap dense (8 MB chunks left
# a million-line read 25 MB bigger) and the progress fine-grained.
LOG_CHUNK_BYTES = 1 << 20


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
    ) -> None:
        """``transcripts``: read each agent's Claude Code transcript for its activity (see
        :class:`~factory_tui.adapters.agent_transcripts.AgentTranscripts`)."""
        self.config = config
        self.hostname = hostname or local_hostname()
        self.probe = probe or ProcessProbe()
        self.on_progress = on_progress
        self.fold = LogFold()
        self.claims: dict[Path, tuple[FileKey | None, ClaimFile | None, list[Problem]]] = {}
        self.dir_problems: list[Problem] = []
        self.lock_entries: list[LockEntry] = []
        self.checkpoints: dict[str, Checkpoint] = {}
        self.checkpoint_problems: list[Problem] = []
        self.state_problems: list[Problem] = []
        self.lint: list[object] = []
        self.metrics = LogFold(utc=True)  # metrics.log times are UTC (date -u)
        self._log_tail = LogTail(config.log_file, chunk_bytes=LOG_CHUNK_BYTES)
        self._metrics_tail = LogTail(config.metrics_file)
        self._history_read = False
        self._state_keys: dict[Path, FileKey | None] = {}
        self.generation = 0
        self.claims_generation = 0
        self.deriver = FleetDeriver()
        # One per source: a server update re-merges only the rows it changed.
        self._store_merger = StoreMerger()
        self._server_merger = StoreMerger()
        self._procs: dict[int, ProcInfo] | None = None
        self._claims_sorted: tuple[int, list[ClaimFile]] | None = None
        self.agents: AgentTranscripts | None = (
            AgentTranscripts(config.claude_dirs, config.root, tz=local_zone())
            if transcripts
            else None
        )
        hegemon = config.hegemon
        self.store: StoreReader | None = StoreReader(hegemon.db) if hegemon else None
        """The real factory's local store (read-only), merged into every fleet."""
        hosts = hegemon.hosts if hegemon else {}
        self.remote: RemoteProbe | None = RemoteProbe(hosts) if hosts else None
        """The other hosts reached over SSH (``[hosts."NAME"]``), whose claims' pids are checked."""
        self._remote: dict[str, HostProcs] | None = None
        self.server: RemoteReader | None = remote_reader(hegemon, os.environ)
        """The shared server (``[hegemon] remote_url``), merged after the local store."""
        self.server_live = False
        """Set while a thread keeps :attr:`server` live (then no one-shot read is made)."""
        self.fold_cache = fold_cache
        """Where the fold is saved for a warm start (None: always read cold, never saved)."""
        self.warm_started = False
        """The fold came from :attr:`fold_cache`: only the log after its offset was read."""
        # The fold is still that of the rotated log read whole and the log's first bytes (no
        # reset, no read error since): only then may it be saved.
        self._cacheable = fold_cache is not None
        self._history_identity: FileIdentity | None = None
        self._saved_offset: int | None = None
        self._history_saved: int | None = None

    # -- reading ---------------------------------------------------------------------------------

    def refresh_all(self) -> None:
        self.refresh_claims()
        self.refresh_log()
        self.refresh_checkpoints()
        self.refresh_state_files()
        self.refresh_store()
        self.refresh_server()

    def refresh_claims(self) -> bool:
        """Rescan the claims folder; re-read only files whose stat changed. True if anything did."""
        folder = self.config.claims_dir
        changed = False
        self.dir_problems = []
        seen: set[Path] = set()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            entries = []
        except OSError as error:
            self.dir_problems.append(
                Problem(str(folder), f"cannot list the claims folder: {error.strerror}")
            )
            entries = []
        locks: list[LockEntry] = []
        for entry in entries:
            if entry.name.startswith("."):
                self._check_leftover(entry)
                continue
            if entry.name.endswith(".lock"):
                self._note_lock(entry, locks)
                continue
            if not entry.name.endswith(".json"):
                continue
            path = Path(entry.path)
            seen.add(path)
            changed |= self.refresh_claim(path)
        for gone in set(self.claims) - seen:
            del self.claims[gone]
            self.claims_generation += 1
            changed = True
        if locks != self.lock_entries:
            self.lock_entries = locks
            changed = True
        if changed:
            self.generation += 1
        return changed

    def refresh_locks(self) -> bool:
        """Rescan only the claim lock directories (cheaper than :meth:`refresh_claims`: no claim
        file is looked at). True if the set of locks or their times changed."""
        locks: list[LockEntry] = []
        try:
            entries = list(os.scandir(self.config.claims_dir))
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.endswith(".lock") and not entry.name.startswith("."):
                self._note_lock(entry, locks)
        if locks == self.lock_entries:
            return False
        self.lock_entries = locks
        self.generation += 1
        return True

    @staticmethod
    def _note_lock(entry: os.DirEntry[str], locks: list[LockEntry]) -> None:
        """A claim lock directory, with its mtime (its age says fresh or stale)."""
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            locks.append(LockEntry(entry.name, datetime.fromtimestamp(st.st_mtime)))

    def lock_views(self, now: datetime) -> tuple[LockView, ...]:
        """The claim lock directories at ``now``: fresh (a writer at work) or stale."""
        return lock_views(self.lock_entries, now, self.config.lock_stale_after)

    def _check_leftover(self, entry: os.DirEntry[str]) -> None:
        """A temp file of an interrupted claim write (older than a lock's stale age, so not a
        write in progress) is a problem: factory-tui removes it the next time it holds that
        claim's lock."""
        found = _CLAIM_TEMP.match(entry.name)
        if found is None:
            return
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return
        if time.time() - st.st_mtime <= self.config.lock_stale_after.total_seconds():
            return
        self.dir_problems.append(
            Problem(
                entry.path,
                f"a temp file left by an interrupted write of {found[1]} ({st.st_size} bytes): "
                "the claim file itself is whole; factory-tui removes it the next time it "
                "changes that claim",
            )
        )

    def refresh_claim(self, path: Path) -> bool:
        """Re-read one claim file if its stat changed (or it vanished). True if anything changed."""
        try:
            key = _file_key(path)
        except OSError as error:
            return self._set_claim(
                path, None, None, [Problem(str(path), f"cannot stat: {error.strerror}")]
            )
        if key is None:
            return self._forget_claim(path)
        known = self.claims.get(path)
        if known is not None and known[0] == key:
            return False
        data = read_factory_file(path, self.config.max_file_bytes)
        if data is None:
            return self._forget_claim(path)
        if isinstance(data, Problem):
            return self._set_claim(path, key, None, [data])
        claim, problems = parse_claim(str(path), data)
        return self._set_claim(path, key, claim, problems)

    def _forget_claim(self, path: Path) -> bool:
        """The file is gone: forget it. True if it was known."""
        if path not in self.claims:
            return False
        del self.claims[path]
        self.claims_generation += 1
        self.generation += 1
        return True

    def _set_claim(
        self, path: Path, key: FileKey | None, claim: ClaimFile | None, problems: list[Problem]
    ) -> bool:
        self.claims[path] = (key, claim, problems)
        self.claims_generation += 1
        self.generation += 1
        return True

    def refresh_store(self) -> bool:
        """Read the local store again if the database or its WAL changed."""
        if self.store is None or not self.store.refresh():
            return False
        self.generation += 1
        return True

    def refresh_server(self) -> bool:
        """Read the shared server once (unless a thread keeps it live)."""
        if self.server is None or self.server_live or not self.server.refresh():
            return False
        self.generation += 1
        return True

    def refresh_log(self) -> bool:
        """Feed what was appended to operations.log (and metrics.log) since the last call."""
        changed = False
        if not self._history_read:
            self._history_read = True
            if self._warm_start():
                changed = True
            else:
                changed |= self._read_history()
        changed |= self._drain(self._log_tail, self.fold, self.config.log_file.name)
        changed |= self._drain(self._metrics_tail, self.metrics, self.config.metrics_file.name)
        if changed:
            self.generation += 1
            self._save_when_due()
        return changed

    @property
    def _history_file(self) -> Path:
        return Path(str(self.config.log_file) + ".1")

    def _read_history(self) -> bool:
        """Fold the rotated log whole."""
        return self._fold_history(LogTail(self._history_file, chunk_bytes=LOG_CHUNK_BYTES))

    def _fold_history(self, tail: LogTail) -> bool:
        """Fold what ``tail`` has left of the rotated log, noting what the file was and saving
        the fold of it alone when due (a rotation appends to it: that fold survives one)."""
        before = self._history_now()
        changed = self._drain(tail, self.fold, self._history_file.name)
        if self._cacheable and self._history_now() != before:
            self._cacheable = False  # rotated while we read it: this fold is of no one file
        self._history_identity = before
        self._save_history_when_due(tail)
        tail.close()
        return changed

    def _save_history_when_due(self, tail: LogTail) -> None:
        cache, fd, offset = self.fold_cache, tail.fileno, tail.offset
        if cache is None or not self._cacheable or fd is None or offset < cache.min_log_bytes:
            return
        if self._history_saved is not None and offset - self._history_saved < cache.resave_bytes:
            return
        try:
            history = file_identity(fd, offset)
        except OSError:
            return
        with gc_paused():
            saved = cache.save(
                self.config.log_file,
                self._history_file,
                fold=self.fold,
                log=None,
                line_count=0,
                history=history,
                history_lines=tail.line_count,
            )
        if saved:
            self._history_saved = offset

    def _history_now(self) -> FileIdentity | None:
        if not self._cacheable:
            return None
        try:
            return path_identity(self._history_file)
        except OSError:
            self._cacheable = False
            return None

    def _warm_start(self) -> bool:
        """Take the fold from the cache when its key matches the files: the log is then read
        from the cache's offset on. False (and nothing changed): read cold."""
        cache = self.fold_cache
        if cache is None:
            return False
        with gc_paused():
            warm = cache.load(self.config.log_file, self._history_file)
        if warm is None:
            return False
        log = warm.log
        if log is None:
            return self._warm_from_history(cache, warm)

        def same(fd: int, log: FileIdentity = log) -> bool:
            return file_identity(fd, log.size) == log

        try:
            self._log_tail.resume(log.size, warm.line_count, check=same)
        except OSError as error:
            cache.last_miss = f"cannot resume the log: {error}"
            return False
        self.fold = warm.fold
        self._history_identity = warm.history
        self._saved_offset = log.size
        self.warm_started = True
        return True

    def _warm_from_history(self, cache: FoldCache, warm: WarmStart) -> bool:
        """Go on from the fold of the rotated log's first bytes: read the rest of it, then the
        log from its start."""
        saved = warm.history
        if saved is None:
            return False
        tail = LogTail(self._history_file, chunk_bytes=LOG_CHUNK_BYTES)

        def same(fd: int, saved: FileIdentity = saved) -> bool:
            return file_identity(fd, saved.size) == saved

        try:
            tail.resume(saved.size, warm.history_lines, check=same)
        except OSError as error:
            cache.last_miss = f"cannot resume the rotated log: {error}"
            return False
        self.fold = warm.fold
        self._history_saved = saved.size
        self.warm_started = True
        self._fold_history(tail)
        return True

    def _save_when_due(self) -> None:
        """Save the fold once the log itself (not the rotated one, saved on its own) is big
        enough to be worth it, and again once :attr:`FoldCache.resave_bytes` more of it was
        folded. A factory whose hooks rotate keeps its log short: nothing to save here, and the
        next rotation would make it stale anyway."""
        cache = self.fold_cache
        if cache is None or not self._cacheable:
            return
        offset = self._log_tail.offset
        if self._saved_offset is None:
            if offset < cache.min_log_bytes:
                return
        elif offset - self._saved_offset < cache.resave_bytes:
            return
        self.save_fold_cache()

    def save_fold_cache(self) -> bool:
        """Save the fold for the next start's warm read (at exit, say). False when there is no
        cache, nothing to save, the fold no longer follows the files' prefixes (a rotation or a
        read error since the start), or the file could not be written."""
        cache = self.fold_cache
        fd = self._log_tail.fileno
        if cache is None or not self._cacheable or fd is None or not self._history_read:
            return False
        offset = self._log_tail.offset
        if offset == self._saved_offset:
            return True
        try:
            log = file_identity(fd, offset)
        except OSError:
            return False
        with gc_paused():
            saved = cache.save(
                self.config.log_file,
                self._history_file,
                fold=self.fold,
                log=log,
                line_count=self._log_tail.line_count,
                history=self._history_identity,
            )
        if saved:
            self._saved_offset = offset
        return saved

    def _drain(self, tail: LogTail, fold: LogFold, source: str, *, close: bool = False) -> bool:
        with gc_paused():
            return self._drain_now(tail, fold, source, close=close)

    def _drain_now(self, tail: LogTail, fold: LogFold, source: str, *, close: bool) -> bool:
        changed = False
        try:
            total = tail.path.stat().st_size
        except OSError:
            total = 0
        while (chunk := tail.poll()) is not None:
            changed = True
            if chunk.reset is not None and fold is self.fold:
                self._cacheable = False  # rotated or rewritten: the fold is of no one file now
            fold.feed_block(chunk.data, source, chunk.first_line)
            if self.on_progress is not None:
                self.on_progress(source, tail.offset, total)
        if tail.last_error:
            if fold is self.fold:
                self._cacheable = False  # a problem of this moment, not of the file's bytes
            fold.add_problem(Problem(source, tail.last_error))
        if close:
            tail.close()
        return changed

    def refresh_checkpoints(self) -> bool:
        """Keep the latest checkpoint of each task: names are listed, only the newest file per
        task slug is read (a folder of ten thousand stays cheap)."""
        folder = self.config.checkpoints_dir
        problems: list[Problem] = []
        latest: dict[str, tuple[datetime, Path]] = {}
        try:
            names = [e for e in os.scandir(folder) if e.name.endswith(".json")]
        except FileNotFoundError:
            names = []
        except OSError as error:
            problems.append(Problem(str(folder), f"cannot list checkpoints: {error.strerror}"))
            names = []
        for entry in names:
            when, slug = parse_checkpoint_name(entry.name)
            if when is None:
                problems.append(
                    Problem(
                        entry.path, "checkpoint file name is not <ISO-timestamp>-<task-slug>.json"
                    )
                )
                when = datetime.min
            known = latest.get(slug)
            if known is None or (when, entry.name) > (known[0], known[1].name):
                latest[slug] = (when, Path(entry.path))
        checkpoints: dict[str, Checkpoint] = {}
        for _slug, (_when, path) in latest.items():
            data = read_factory_file(path, self.config.max_file_bytes)
            if data is None:
                continue
            if isinstance(data, Problem):
                problems.append(data)
                continue
            cp, found = parse_checkpoint(str(path), data)
            problems.extend(found)
            if cp is not None:
                known_cp = checkpoints.get(cp.task)
                if known_cp is None or (cp.at or datetime.min) >= (known_cp.at or datetime.min):
                    checkpoints[cp.task] = cp
        changed = checkpoints != self.checkpoints or problems != self.checkpoint_problems
        self.checkpoints, self.checkpoint_problems = checkpoints, problems
        if changed:
            self.generation += 1
        return changed

    def refresh_state_files(self) -> bool:
        keys: dict[Path, FileKey | None] = {}
        for path in (self.config.plan_file, self.config.memory_file):
            try:
                keys[path] = _file_key(path)
            except OSError:
                keys[path] = None
        if keys == self._state_keys:
            return False
        self._state_keys = keys
        problems: list[Problem] = []
        texts: dict[Path, str | None] = {}
        for path in keys:
            data = read_factory_file(path, self.config.max_file_bytes)
            if isinstance(data, Problem):
                problems.append(data)
            texts[path] = (
                data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None
            )
        plan_text = texts[self.config.plan_file]
        memory_text = texts[self.config.memory_file]
        plan = parse_plan(plan_text, str(self.config.plan_file)) if plan_text is not None else None
        memory = (
            parse_memory(memory_text, str(self.config.memory_file))
            if memory_text is not None
            else None
        )
        self.lint = list(lint_state(plan, memory)) if (plan or memory) else []
        self.state_problems = problems
        self.generation += 1
        return True

    # -- deriving --------------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        out: list[Problem] = list(self.dir_problems)
        for _key, _claim, found in self.claims.values():
            out.extend(found)
        out.extend(claim_set_problems(self._sorted_claims()))
        out.extend(self.fold.problems)
        out.extend(self._half_done_changes())
        if self.fold.problem_count > len(self.fold.problems):
            extra = self.fold.problem_count - len(self.fold.problems)
            out.append(
                Problem(self.config.log_file.name, f"… and {extra} more problems in the log")
            )
        out.extend(self.metrics.problems)
        out.extend(self.checkpoint_problems)
        out.extend(self.state_problems)
        if self.store is not None and self.store.error:
            out.append(Problem(str(self.store.path), self.store.error))
        if self.server is not None and self.server.error:
            out.append(Problem(self.server.shown, self.server.error))
        return out

    def _half_done_changes(self) -> list[Problem]:
        """factory-tui logs an intent before it writes a claim and the outcome after: an intent
        with no outcome is a change that may have happened without its audit line. Say what
        the claim file shows now, and what to do."""
        out = []
        for change, intent in self.fold.open_changes.items():
            claim_id = intent.get("claim") or "?"
            phase = intent.get("phase") or "-"
            owner = intent.get("owner") or "?"
            key = claim_id if phase == "-" else f"{claim_id}:{phase}"
            shows = self._claim_shows(intent.get("file") or "", phase, owner)
            out.append(
                Problem(
                    intent.source,
                    f"half-done change {change}: {intent.name} for {key} (owner {owner}) has no "
                    f"outcome line; {shows}",
                    intent.line,
                )
            )
        return out

    def _claim_shows(self, name: str, phase: str, owner: str) -> str:
        if not name or Path(name).name != name or not name.endswith(".json"):
            return "the claim file it names is not a plain file name: check by hand"
        entry = self.claims.get(self.config.claims_dir / name)
        claim = entry[1] if entry is not None else None
        if claim is None:
            return f"{name} is gone or unreadable now: check by hand"
        unit = next(
            (u for u in claim.units if (str(u.phase) if u.phase is not None else "-") == phase),
            None,
        )
        if unit is None:
            return f"{name} has no such unit now: check by hand"
        if unit.owner == owner:
            return f"{name} still shows it owned by {owner}: the change did not happen"
        if unit.owner is None:
            return (
                f"{name} shows it released, with no RELEASE line: the change happened but was not "
                "logged — add the RELEASE line, or put back the previous file from .history/"
            )
        return f"{name} shows it owned by {unit.owner} now: the claim moved on"

    def claim_files(self) -> list[ClaimFile]:
        return [claim for _key, claim, _found in self.claims.values() if claim is not None]

    def local_pids(self) -> set[int]:
        pids: set[int] = set()
        for claim in self.claim_files():
            for unit in claim.units:
                if unit.owner and unit.pid and same_host(unit.hostname, self.hostname):
                    pids.add(unit.pid)
        if self.store is not None:
            pids |= store_pids(self.store.snapshot, self.hostname)
        return pids

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
            claims=self._sorted_claims(),
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

    def _sorted_claims(self) -> list[ClaimFile]:
        if self._claims_sorted is None or self._claims_sorted[0] != self.claims_generation:
            files = sorted(self.claim_files(), key=lambda c: c.file)
            self._claims_sorted = (self.claims_generation, files)
        return self._claims_sorted[1]
