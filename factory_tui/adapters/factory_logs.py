"""The factory's logs, folded as they grow: operations.log (after its rotated history) and
metrics.log.

``FactoryLogs`` is the log side of :class:`~factory_tui.adapters.factory.FactoryReader`: it feeds
each appended chunk to the fold, reads the rotated ``operations.log.1`` once first, and keeps the
fold's warm-start cache (:mod:`factory_tui.adapters.foldcache`): it starts from the cache when its
key matches the files, and saves the fold again when enough more was folded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from factory_tui.adapters.foldcache import (
    BLOCK_BYTES,
    FileIdentity,
    FoldCache,
    WarmStart,
    file_identity,
    path_identity,
    read_identity,
)
from factory_tui.adapters.forked import Forked
from factory_tui.adapters.memory import gc_paused
from factory_tui.adapters.spill import SpillFile
from factory_tui.adapters.tail import LogTail
from factory_tui.config import Config
from factory_tui.core.fold import LogFold
from factory_tui.core.problems import Problem

if TYPE_CHECKING:
    from factory_tui.adapters.split_read import SplitRead

__all__ = [
    "CHECKPOINT_FILE_COST",
    "CLAIM_FILE_COST",
    "EARLY_LEAD_BYTES",
    "LOG_CHUNK_BYTES",
    "Beside",
    "FactoryLogs",
    "ReadCancelled",
    "ReadProgress",
    "read_progress",
    "small_files_cost",
]

# The log is read a megabyte at a time: as fast as bigger reads, and the short-lived lines of a
# chunk never outnumber the fold's long-lived records, which keeps the heap dense (8 MB chunks left
# a million-line read 25 MB bigger) and the progress fine-grained.
LOG_CHUNK_BYTES = 1 << 20
EARLY_LEAD_BYTES = 9 << 20
"""How much later than a child :meth:`FactoryLogs.start_early` started this process starts
folding (the cockpit's views mounted meanwhile, ~0.15 s), in bytes folded in the same time."""
CLAIM_FILE_COST = 2_800
CHECKPOINT_FILE_COST = 260
"""The cold read of a claim file and of an entry of the checkpoints folder (only each task's
newest is parsed), in bytes of the log folded in the same time (the scale factory: 1,000 claim
files in 70 ms, 10,000 checkpoints in 65 ms, a megabyte of log in 25 ms)."""


def small_files_cost(config: Config) -> int:
    """What reading the claim files and checkpoints costs, in bytes of the log folded in the
    same time (see :data:`CLAIM_FILE_COST`)."""
    return CLAIM_FILE_COST * _entries(config.claims_dir) + CHECKPOINT_FILE_COST * _entries(
        config.checkpoints_dir
    )


def _entries(folder: Path) -> int:
    """How many entries ``folder`` has (0 when it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for _ in entries)
    except OSError:
        return 0


class ReadProgress(Protocol):
    """Told how far a long read is, and what comes after it in this process."""

    def __call__(self, source: str, done: int, total: int) -> None: ...

    def phase(self, words: str | None) -> None:
        """What this process does now, not reading (``saving the warm-start cache``); None:
        that, or a read, is over."""


read_progress: ContextVar[ReadProgress | None] = ContextVar("read_progress", default=None)
"""Told the progress of every factory read made where it is set (and no ``on_progress`` was
given): the CLI's progress line on a terminal (:mod:`factory_tui.cli.progress`). Here, not beside
the reader: the CLI sets it before it imports the reader."""


@dataclass(eq=False)
class Beside:
    """Work of the caller's for this process while a child folds the log's tail (see
    :attr:`FactoryLogs.beside`): ``work``, and ``cost(read_bytes)``, its time in bytes folded in
    the same time (``read_bytes``: the whole read's), by which this process's share of the read
    is made smaller."""

    work: Callable[[], object]
    cost: Callable[[int], int]


class ReadCancelled(Exception):
    """A read stopped between two chunks because :attr:`FactoryLogs.cancel` was set (the
    cockpit is closing): the fold is of no prefix of the log, and is never saved."""


class FactoryLogs:
    """operations.log folded into :attr:`fold`, metrics.log into :attr:`metrics`."""

    def __init__(self, config: Config, fold_cache: FoldCache | None) -> None:
        self.config = config
        self.fold_cache = fold_cache
        """Where the fold is saved for a warm start (None: always read cold, never saved)."""
        self.spill: SpillFile
        """Where the fold's packed old sessions are kept (see :mod:`factory_tui.adapters.spill`):
        a file of each fold's own, made when its first are packed."""
        self.fold = LogFold()
        self.metrics = LogFold(utc=True)  # metrics.log times are UTC (date -u)
        self.on_progress: Callable[[str, int, int], None] | None = None
        """Told ``(source, offset, total)`` after each chunk read."""
        self.on_phase: Callable[[str | None], None] | None = None
        """Told what this process does when it is no read and may be long (a save made here),
        and None when that, or a read, is over."""
        self.warm_started = False
        """The fold came from :attr:`fold_cache`: only the log after its offset was read."""
        self._log_tail = _log_tail(config.log_file)
        self._metrics_tail = LogTail(config.metrics_file)
        self._history_read = False
        # The fold is still that of the rotated log read whole and the log's first bytes (no
        # reset, no read error since): only then may it be saved.
        self._cacheable = fold_cache is not None
        self._history_identity: FileIdentity | None = None
        self._saved_offset: int | None = None
        self._log_pin: tuple[int, int, FileIdentity] | None = None
        """The log's offset, line count and key right after the read that folded it there."""
        self._history_saved: int | None = None
        self._warm_allowed = True
        self._saves_held = False
        self._save_due = False
        self.cold_because: str | None = None
        """Why the warm start was dropped for a cold read after it began (None: it was not)."""
        self._span: tuple[int, int] | None = None
        """During the first, cold read: the rotated log's size and both files' (the progress
        told is of the two as one read, not 0 to 100 % twice)."""
        self.split = True
        """A long log's cold read may use a child process for its tail (see
        :meth:`_read_cold`; ``FACTORY_TUI_SPLIT_FOLD=0`` turns it off too)."""
        self.split_merged = False
        """The cold read took a child's fold of the log's tail."""
        self.beside: list[Beside] = []
        """Work the caller has for this process while a child folds the log's tail (the
        cockpit indexes the log then; the claim files and checkpoints are read then): this
        process's share of the read is smaller. Each runs then or not at all (the read is not
        split): the caller does what did not run. An error it raises is raised once the read
        is whole."""
        self._beside_error: Exception | None = None
        self.save_in_child = False
        """The fold's cache is saved by a forked child (:mod:`factory_tui.adapters.forked`)
        while this process goes on (the cockpit); else here (``status``, which ends after)."""
        self._saving: dict[str, Forked] = {}
        self.cancel: threading.Event | None = None
        """Once set, a read stops after the chunk it is on (:class:`ReadCancelled`): the
        cockpit's exit does not wait for the rest of a long history (a chunk is ~30 ms)."""
        self._early: SplitRead | None = None
        self._early_lock = threading.Lock()

    def hold_saves(self) -> None:
        """Hold back the save of the log's fold that a read makes due, until
        :meth:`release_saves`: the cockpit's first load shows the fleet and indexes the log
        first (on the scale factory the save took 0.6 s of a 4.6 s cold load). The rotated
        log's fold alone is still saved as it is read: that fold is gone once the log is
        read."""
        self._saves_held = True

    def release_saves(self) -> bool:
        """Stop holding saves back, and make the one held back, if any: the fold of the log as
        read now, at the offset read now (a fold a failed read left half-fed is never saved:
        see :meth:`_drain`). True if saved."""
        self._saves_held = False
        due, self._save_due = self._save_due, False
        return due and self._save_when_due()

    def read_cold(self, why: str) -> None:
        """Drop the warm start, whose cache proved unreadable on the way (``why``: its archive
        of old sessions, read when first needed), and fold the rotated log and the log again
        from their first bytes: a damaged cache costs a cold read, never a wrong answer. The
        cache file is removed; the next save writes a sound one."""
        if self.fold_cache is not None:
            self.fold_cache.forget(self.config.log_file)
        self.cold_because = why
        self._log_tail.close()
        self._log_tail = _log_tail(self.config.log_file)
        self.fold = LogFold()
        self.warm_started = False
        self._history_read = False
        self._cacheable = self.fold_cache is not None
        self._history_identity = None
        self._saved_offset = self._history_saved = None
        self._log_pin = None
        self._warm_allowed = False
        self.refresh()

    def start_early(self, work: Callable[[int], int], *, lead_bytes: int | None = None) -> bool:
        """Start the first read's child now, when that read will likely be cold and split (a
        long log, no saved fold): it folds while the caller gets ready (the cockpit mounts its
        views, ~0.15 s of the scale factory's cold start); the first :meth:`refresh` takes it.
        ``work(read_bytes)``: what the caller will do beside it (see :attr:`beside`), in bytes
        folded; ``lead_bytes``: how much later this process starts folding, the same way
        (default :data:`EARLY_LEAD_BYTES`). True if started; :meth:`close_early` stops one never
        taken. Whatever cannot be read now (an unreadable cache folder, say) starts nothing: the
        read meets it and says so."""
        from factory_tui.adapters.split_read import SplitRead, split_allowed

        try:
            if self._history_read or not self.split or self.warm_likely():
                return False
            if not split_allowed(os.environ):
                return False
            read_bytes = self._cold_span()[1]
            split = SplitRead.start(
                self._history_file,
                self.config.log_file,
                work_bytes=work(read_bytes)
                + (EARLY_LEAD_BYTES if lead_bytes is None else lead_bytes),
                spool=self._spool,
            )
        except OSError:
            return False
        with self._early_lock:
            old, self._early = self._early, split
        if old is not None:
            old.close()
        return split is not None

    def close_early(self) -> None:
        """Stop the child :meth:`start_early` started, unless a read took it."""
        split = self._take_early()
        if split is not None:
            split.close()

    def _take_early(self) -> SplitRead | None:
        with self._early_lock:
            split, self._early = self._early, None
        return split

    def warm_likely(self) -> bool:
        """Whether the first read will likely start warm: a fold of these files was saved
        (whether its key still matches the files is known only as it is loaded). False when
        the cache folder cannot be looked at (a cold read then, as with no cache)."""
        cache = self.fold_cache
        if cache is None or self._history_read:
            return False
        log = self.config.log_file
        try:
            return any(cache.path_for(log, history_only=h).exists() for h in (False, True))
        except OSError:  # not searchable (chmod 000, another user's): Path.exists raises
            return False

    def refresh(self) -> bool:
        """Feed what was appended to operations.log (and metrics.log) since the last call; the
        first call reads the rotated log first (or starts warm), doing :attr:`beside` while a
        child folds a long log's tail. True if anything was read."""
        try:
            return self._refresh()
        finally:
            if self.on_phase is not None:
                # However the read ended (a last line unfinished, an error): its progress goes.
                self.on_phase(None)

    def _refresh(self) -> bool:
        changed = False
        if not self._history_read:
            self._history_read = True
            try:
                if self._warm_allowed and self._warm_start():
                    changed = True
                else:
                    self._span = self._cold_span()
                    changed |= self._read_cold()
            finally:
                self.beside = []  # what did not run is the caller's to do
                self.close_early()  # started warm after all
        try:
            changed |= self._drain(self._log_tail, self.fold, self.config.log_file.name)
        finally:
            self._span = None
        self._pin_log()
        changed |= self._drain(self._metrics_tail, self.metrics, self.config.metrics_file.name)
        if changed:
            self._save_when_due()
        error, self._beside_error = self._beside_error, None
        if error is not None:
            raise error
        return changed

    def _read_cold(self) -> bool:
        """Fold the rotated log whole, and a long one's head while a child process folds its
        tail (:mod:`factory_tui.adapters.split_read`), or a long log's head the same way; the
        file split is then followed from where the child stopped. What is left of the log is
        read by the caller's drain."""
        from factory_tui.adapters.split_read import SplitRead, split_allowed

        split = self._take_early()
        quitting = self.cancel is not None and self.cancel.is_set()  # no child to kill at once
        if split is None and self.split and not quitting and split_allowed(os.environ):
            span = self._span[1] if self._span is not None else 0
            work = sum(job.cost(span) for job in self.beside)
            split = SplitRead.start(
                self._history_file, self.config.log_file, work_bytes=work, spool=self._spool
            )
        if split is not None and self._span is not None:
            # What this process reads is the whole read's progress: the child's part ends
            # about when this one does.
            before = 0 if split.in_history else self._span[0]
            self._span = (self._span[0], before + split.split)
        try:
            if split is None:
                return self._read_history()
            began = time.monotonic()  # this process's part: the rotated log's too, if before
            if split.in_history:
                return self._read_split(split, self._history_file.name, began)
            changed = self._read_history()
            return self._read_split(split, self.config.log_file.name, began) or changed
        finally:
            if split is not None:
                split.close()

    def _read_split(self, split: SplitRead, source: str, began: float) -> bool:
        """Fold the head of the file split here, take the child's fold of its tail (or fold
        the tail here when there is no answer or its seed is refused), and follow the file
        from where the two stopped, if it is still the file they read (else read everything
        again). The rotated log's rest is folded and its fold saved as a cold read does."""
        from factory_tui.adapters.split_read import patience
        from factory_tui.core.fold_split import merge_tail

        try:
            line = self._fold_range(split.fd, 0, split.split, source, 1)
            self._work_beside()
            with gc_paused():  # the answer's records, unpickled and merged: all long-lived
                answer = split.answer(self.cancel, patience(time.monotonic() - began))
                self._check_cancel(source, split.split, split.end)
                merged = answer is not None and merge_tail(self.fold, answer.fold, answer.seed)
            if merged:
                assert answer is not None
                line = answer.next_line
                self.split_merged = True
            else:
                line = self._fold_range(split.fd, split.split, split.end, source, line)
        except OSError:  # cut short under the read (truncated): read everything again
            self._restart_cold()
            return True
        if split.in_history:
            tail = _log_tail(self._history_file)
        else:
            tail = self._log_tail
        try:
            tail.resume(split.end, line - 1, check=split.same_file)
        except OSError:
            tail.close()
            self._restart_cold()  # the file changed under the two reads: read it again, whole
            return True
        if split.in_history:
            self._fold_history(tail)  # its rest, what it was, its fold saved when due
        return True

    def _work_beside(self) -> None:
        """Do the caller's work while the child folds (:attr:`beside`), each job once; the
        first error is kept for :meth:`refresh` to raise once the read is whole (raised here,
        it would leave the fold with the file's head only)."""
        jobs, self.beside = self.beside, []
        for job in jobs:
            try:
                job.work()
            except Exception as error:
                if self._beside_error is None:
                    self._beside_error = error

    def _fold_range(self, fd: int, start: int, end: int, source: str, line: int) -> int:
        """Fold the whole lines ``[start, end)`` of the log (``line``: the first one's number),
        telling progress and stopping when cancelled; the number of the line after."""
        from factory_tui.adapters.fold_child import whole_lines

        fold = self.fold
        try:
            with gc_paused():
                for block in whole_lines(fd, start, end, LOG_CHUNK_BYTES):
                    data = block[:-1] if block.endswith(b"\n") else block
                    fold.feed_block(data, source, line)
                    line += data.count(b"\n") + 1
                    start += len(block)
                    self._chunk_done(source, start, end, fold)
        except BaseException:
            self._cacheable = False  # fed part of it, maybe: the fold is of no prefix
            raise
        return line

    def _check_cancel(self, source: str, at: int, total: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ReadCancelled(f"stopped reading {source} at byte {at} of {total}")

    def _restart_cold(self) -> None:
        """Start the cold read again from the files as they are now (one core)."""
        self._log_tail.close()
        self._log_tail = _log_tail(self.config.log_file)
        self.fold = LogFold()
        self._cacheable = self.fold_cache is not None
        self._history_identity = None
        self._history_saved = None
        self._log_pin = None
        self.split_merged = False
        self._read_history()

    def _cold_span(self) -> tuple[int, int]:
        """The rotated log's size and both files' (0 for a file that cannot be read now)."""
        sizes = []
        for path in (self._history_file, self.config.log_file):
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)
        return sizes[0], sizes[0] + sizes[1]

    @property
    def fold(self) -> LogFold:
        """operations.log (after its rotated history), folded: its packed old sessions kept in
        :attr:`spill`."""
        return self._fold

    @fold.setter
    def fold(self, fold: LogFold) -> None:
        # A file of its own: one read again from the start (a rotation, a truncation) leaves
        # the old one's sessions behind, and with the old fold the file goes.
        self.spill = SpillFile(self._spool)
        fold.sessions.store = self.spill
        self._fold = fold

    @property
    def _history_file(self) -> Path:
        return self.config.log_history_file

    @property
    def _spool(self) -> Path | None:
        """Where the fold's spill files are made (its own, and a split read's child's): the
        warm-start cache's folder (the user's cache, on disk), if there is one."""
        return None if self.fold_cache is None else self.fold_cache.folder

    def _read_history(self) -> bool:
        """Fold the rotated log whole."""
        return self._fold_history(_log_tail(self._history_file))

    def _fold_history(self, tail: LogTail) -> bool:
        """Fold what ``tail`` has left of the rotated log, noting what the file was and saving
        the fold of it alone when due (a rotation appends to it: that fold survives one)."""
        before = self._history_now()
        changed = self._drain(tail, self.fold, self._history_file.name)
        if self._cacheable and (self._history_now() != before or not _read_as_is(tail)):
            # Rotated while we read it, or rewritten in place since what was read of it (a
            # resumed tail's bytes were read, and checked, before ``before``): this fold is of
            # no one file.
            self._cacheable = False
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
        ends = tail.read_ends()
        try:
            history = read_identity(fd, ends) if ends is not None else None
        except (OSError, ValueError):
            return
        if history is None:
            return
        if self._save(cache, None, 0, history, history_lines=tail.line_count):
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
        tail = _log_tail(self._history_file)

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

    def _save_when_due(self) -> bool:
        """Save the fold once the log itself (not the rotated one, saved on its own) is big
        enough to be worth it, and again once :attr:`FoldCache.resave_bytes` more of it was
        folded. A factory whose hooks rotate keeps its log short: nothing to save here, and the
        next rotation would make it stale anyway. Held back (:meth:`hold_saves`): noted as
        due only. True if saved."""
        cache = self.fold_cache
        if cache is None or not self._cacheable:
            return False
        offset = self._log_tail.offset
        if self._saved_offset is None:
            if offset < cache.min_log_bytes:
                return False
        elif offset - self._saved_offset < cache.resave_bytes:
            return False
        if self._saves_held:
            self._save_due = True
            return False
        return self.save_fold_cache()

    def _pin_log(self) -> None:
        """Note the log's key (:func:`read_identity`: of the bytes folded, as they were read)
        right after a read took the fold to a new offset: a save, held back (``status`` saves
        once its answer is out; the cockpit, once its first load is shown) or made at exit,
        keys the fold by the bytes it was made of. Taken from the file at the save, or even
        right after the read, a log rewritten in place meanwhile (same file, at least as long)
        was saved under its new bytes, and every later run started warm from the fold of the
        old ones: a wrong answer, for good."""
        if self.fold_cache is None or not self._cacheable:
            return
        fd, offset = self._log_tail.fileno, self._log_tail.offset
        pinned = self._log_pin
        if fd is None or (pinned is not None and pinned[0] == offset):
            return
        ends = self._log_tail.read_ends()
        try:
            if ends is None or ends[0] != offset:
                raise ValueError("the log's ends were not kept")
            self._log_pin = (offset, self._log_tail.line_count, read_identity(fd, ends))
        except (OSError, ValueError):
            self._log_pin = None  # unreadable now: nothing is saved until the next read

    def save_fold_cache(self) -> bool:
        """Save the fold for the next start's warm read (at exit, say), under the log's key as
        the last read left it (see :meth:`_pin_log`). False when there is no cache, nothing to
        save, the fold no longer follows the files' prefixes (a rotation or a read error since
        the start), or the file could not be written."""
        cache = self.fold_cache
        fd = self._log_tail.fileno
        if cache is None or not self._cacheable or fd is None or not self._history_read:
            return False
        offset = self._log_tail.offset
        if offset == self._saved_offset:
            return True
        pinned = self._log_pin
        if pinned is None or pinned[0] != offset:
            return False  # no key of these bytes as they were read
        _offset, line_count, log = pinned
        saved = self._save(cache, log, line_count, self._history_identity)
        if saved:
            self._saved_offset = offset
        return saved

    def _save(
        self,
        cache: FoldCache,
        log: FileIdentity | None,
        line_count: int,
        history: FileIdentity | None,
        *,
        history_lines: int = 0,
    ) -> bool:
        """:meth:`FoldCache.save` of the fold as of those prefixes (the collector paused); by
        a forked child when :attr:`save_in_child` (True: it was started). While the last child
        saving the same file still runs, none is started (False: made when next due): an older
        fold never replaces a newer one, and the reading thread never waits on a child."""
        fold = self.fold

        def save() -> bool:
            with gc_paused():
                return cache.save(
                    self.config.log_file,
                    self._history_file,
                    fold=fold,
                    log=log,
                    line_count=line_count,
                    history=history,
                    history_lines=history_lines,
                )

        if not self.save_in_child:
            if self.on_phase is None:
                return save()
            self.on_phase("saving the warm-start cache")
            try:
                return save()
            finally:
                self.on_phase(None)
        kind = "log" if log is not None else "history"
        last = self._saving.get(kind)
        if last is not None and last.running:
            return False
        child = Forked.start(save)
        if child is None:
            return save()
        self._saving[kind] = child
        return True

    def wait_saves(self, timeout: float | None = None) -> bool:
        """Wait for the saves forked children make (see :attr:`save_in_child`); True if all
        were made (False: one failed or is still running)."""
        saving, self._saving = self._saving, {}
        return all([child.wait(timeout) for child in saving.values()])

    def _drain(self, tail: LogTail, fold: LogFold, source: str) -> bool:
        try:
            with gc_paused():
                return self._drain_now(tail, fold, source)
        except BaseException:
            if fold is self.fold:
                self._cacheable = False  # fed half a chunk, maybe: the fold is of no prefix
            raise

    def _chunk_done(self, source: str, done: int, total: int, fold: LogFold) -> None:
        """A chunk of ``source`` was folded: tell :attr:`on_progress` how far the read is (a
        cold start's rotated log and log as one read of the log), and stop if cancelled."""
        if self.on_progress is not None:
            self._progress(source, done, total, fold)
        self._check_cancel(source, done, total)

    def _progress(self, source: str, done: int, total: int, fold: LogFold) -> None:
        assert self.on_progress is not None
        span = self._span
        if span is not None and fold is self.fold:
            if source != self._history_file.name:
                done += span[0]
            source, total = self.config.log_file.name, max(span[1], done)
        self.on_progress(source, done, total)

    def _drain_now(self, tail: LogTail, fold: LogFold, source: str) -> bool:
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
            self._chunk_done(source, tail.offset, total, fold)
        if tail.last_error:
            if fold is self.fold:
                self._cacheable = False  # a problem of this moment, not of the file's bytes
            fold.add_problem(Problem(source, tail.last_error))
        return changed


def _read_as_is(tail: LogTail) -> bool:
    """Whether the file ``tail`` reads still has the ends it read (see
    :meth:`LogTail.read_ends`) up to where it read."""
    ends, fd = tail.read_ends(), tail.fileno
    if ends is None or fd is None:
        return ends is not None and ends[0] == 0
    try:
        return read_identity(fd, ends) == file_identity(fd, ends[0])
    except (OSError, ValueError):
        return False


def _log_tail(path: Path) -> LogTail:
    """A tail of the log or the rotated log that keeps the ends of what it read: the fold
    cache's key of the bytes folded (:meth:`FactoryLogs._pin_log`)."""
    return LogTail(path, chunk_bytes=LOG_CHUNK_BYTES, ends_bytes=BLOCK_BYTES)
