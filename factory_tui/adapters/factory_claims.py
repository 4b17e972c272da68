"""The claims folder, read incrementally: the claim files, their lock directories, the temp files
of interrupted writes, and what a half-done change's claim file shows now.

``ClaimFolder`` is the claims side of :class:`~factory_tui.adapters.factory.FactoryReader`: it
keeps each parsed claim file keyed by path and reads it again only when its stat changes.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from factory_tui.adapters.jsonfiles import MISS, RACY_NS, JsonFiles
from factory_tui.adapters.safe_read import read_factory_file_stat
from factory_tui.core.claims import ClaimFile, claim_from_json, claim_json, claim_set_problems
from factory_tui.core.fold import LogFold
from factory_tui.core.locks import LockEntry
from factory_tui.core.problems import Problem

__all__ = [
    "PROGRESS_FILES",
    "ClaimFolder",
    "FileKey",
    "file_key",
    "file_stat",
    "racy_after",
    "told_as_read",
]

PROGRESS_FILES = 1000
"""How many files a folder's read goes between two words of its progress (and at its end)."""
FilesProgress = Callable[[int, int], None]
"""Told ``(files done, files in all)`` as a folder of many files is read."""
T = TypeVar("T")


def told_as_read(items: Sequence[T], progress: FilesProgress | None) -> Iterator[T]:
    """``items`` one by one, ``progress`` (if any) told how many were taken every
    :data:`PROGRESS_FILES` of them and once they all were."""
    if progress is None:
        yield from items
        return
    total = len(items)
    for done, item in enumerate(items):
        if done % PROGRESS_FILES == 0:
            progress(done, total)
        yield item
    progress(total, total)


# atomic_write's temp file for a claim file: ".<name>.json.<random>.tmp".
_CLAIM_TEMP = re.compile(r"\.(.+\.json)\.[^.]+\.tmp\Z")


@dataclass(frozen=True, slots=True)
class FileKey:
    """Enough of a stat to tell that a file changed: rewritten in place (its size or times,
    ``ctime`` too: a copy that sets the old ``mtime`` back), or replaced (its inode).

    A file rewritten twice within the file system's timestamp tick, at the same size, keeps its
    key: a key is trusted only when the file had not changed for :data:`RACY_NS` before it was
    read (:meth:`settled`)."""

    mtime_ns: int
    ctime_ns: int
    size: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)

    def settled(self, racy_after: int) -> bool:
        """Whether the file last changed before ``racy_after`` (ns, from :func:`racy_after`):
        then a change made since moves its times. By ``ctime``, which every change sets to
        the clock (``mtime`` can be set ahead: a file copied from a host whose clock is ahead
        was read again at every refresh until the clock passed it)."""
        return self.ctime_ns <= racy_after


def racy_after() -> int:
    """The time (ns) after which a file's change is too recent for its key to be trusted: read
    once before the stats it judges (a file changed after that is racy all the same)."""
    return time.time_ns() - RACY_NS


def file_key(path: Path) -> FileKey | None:
    """The key of what ``path`` names (a dangling symlink: of the link itself); None when there
    is nothing. Raises ``OSError`` for anything else."""
    st = file_stat(path)
    return None if st is None else FileKey.of(st)


def file_stat(path: Path | str) -> os.stat_result | None:
    """The stat of what ``path`` names (a dangling symlink: of the link itself); None when there
    is nothing. Raises ``OSError`` for anything else."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        try:
            return os.lstat(path)
        except FileNotFoundError:
            return None


class ClaimFolder:
    """The claim files of ``folder`` (with each one's key and problems) and its claim locks."""

    def __init__(
        self,
        folder: Path,
        *,
        max_file_bytes: int,
        lock_stale_after: timedelta,
        values: JsonFiles | None = None,
    ) -> None:
        self.folder = folder
        self.values = values
        """The claim files' JSON kept from the last run, by stat (None: always read)."""
        self.max_file_bytes = max_file_bytes
        self.lock_stale_after = lock_stale_after
        self.claims: dict[str, tuple[FileKey | None, ClaimFile | None, list[Problem]]] = {}
        """Each claim file by its path as ``str(Path)`` writes it (no Path made per file: a
        folder of ten thousand)."""
        self.dir_problems: list[Problem] = []
        self.lock_entries: list[LockEntry] = []
        self.generation = 0
        """Bumped whenever a claim file is read again, appears or goes."""
        self._members = 0
        """Bumped whenever a claim file appears or goes."""
        self._ids = 0
        """Bumped whenever a claim file appears or goes, or the id it declares or its phases
        change (see :func:`_compared`)."""
        self._names: tuple[int, list[str]] | None = None
        self._sorted: tuple[int, list[ClaimFile]] | None = None
        self._all_problems: tuple[int, list[Problem], list[Problem]] | None = None
        self._set_problems: tuple[int, list[Problem]] | None = None

    def refresh(self, progress: FilesProgress | None = None) -> bool:
        """Rescan the folder; re-read only files whose stat changed. True if anything did.
        ``progress``: told how far the rescan is, every :data:`PROGRESS_FILES` entries of the
        folder and at its end (a cold read of ten thousand claim files: ~0.5 s, with nothing
        else to say meanwhile)."""
        folder = self.folder
        changed = False
        self.dir_problems = []
        seen: set[str] = set()
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
        # entry.path joins the folder's text and the name: str(Path(entry.path)) but for a
        # folder "." (whose "./" a Path drops).
        bare = os.fspath(folder) == "."
        racy = racy_after()
        for entry in told_as_read(entries, progress):
            if entry.name.startswith("."):
                self._check_leftover(entry)
                continue
            if entry.name.endswith(".lock"):
                _note_lock(entry, locks)
                continue
            if not entry.name.endswith(".json"):
                continue
            file = entry.name if bare else entry.path
            seen.add(file)
            changed |= self._refresh_file(file, racy)
        for gone in set(self.claims) - seen:
            del self.claims[gone]
            self._gone()
            changed = True
        if locks != self.lock_entries:
            self.lock_entries = locks
            changed = True
        return changed

    def refresh_locks(self) -> bool:
        """Rescan only the claim lock directories (no claim file is looked at). True if the set
        of locks or their times changed."""
        locks: list[LockEntry] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.endswith(".lock") and not entry.name.startswith("."):
                _note_lock(entry, locks)
        if locks == self.lock_entries:
            return False
        self.lock_entries = locks
        return True

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
        if time.time() - st.st_mtime <= self.lock_stale_after.total_seconds():
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
        return self._refresh_file(str(path), racy_after())

    def _refresh_file(self, file: str, racy: int) -> bool:
        """:meth:`refresh_claim` of the file ``str(path)`` names; ``racy``: a file changed
        after this (ns) is read again next time, whatever its stat then (the key kept is None)."""
        try:
            st = file_stat(file)
        except OSError as error:
            return self._set(file, None, None, [Problem(file, f"cannot stat: {error.strerror}")])
        if st is None:
            return self._forget(file)
        key = FileKey.of(st)
        known = self.claims.get(file)
        if known is not None and known[0] == key:
            return False
        found = self._read(file, st)
        if found is None:
            return self._forget(file)
        claim, problems, read = found
        # A file changed lately, or whose read failed (too many open files, EIO), is read
        # again next time, whatever its stat says then.
        return self._set(
            file, read if read is not None and read.settled(racy) else None, claim, problems
        )

    def _read(
        self, file: str, st: os.stat_result
    ) -> tuple[ClaimFile | None, list[Problem], FileKey | None] | None:
        """One claim file, parsed, and the key of the file it was read from (None: its read
        failed); None: it is gone. From its JSON kept in :attr:`values` when its stat ``st`` is
        still the one it was read under. The key is of the file read (its descriptor's stat),
        not ``st``: a symlink re-pointed between the two is kept under what it named then."""
        values = self.values
        # Kept under a bigger limit, it is refused now as a read refuses it.
        if values is not None and st.st_size <= self.max_file_bytes:
            raw = values.get(file, st)
            if raw is not MISS:
                return *claim_from_json(file, raw), FileKey.of(st)
        read_at = values.clock() if values is not None else 0
        data, read_st = read_factory_file_stat(Path(file), self.max_file_bytes)
        if data is None:
            return None
        if isinstance(data, Problem):
            if values is not None:
                values.forget(file)
            return None, [data], None
        assert read_st is not None  # bytes come with the stat of the file they were read from
        raw, unreadable = claim_json(file, data)
        if values is not None:
            if unreadable is None:
                values.put(file, read_st, raw, read_at_ns=read_at)
            else:
                values.forget(file)
        if unreadable is not None:
            return None, [unreadable], FileKey.of(read_st)
        return *claim_from_json(file, raw), FileKey.of(read_st)

    def _forget(self, file: str) -> bool:
        """The file is gone: forget it. True if it was known."""
        if file not in self.claims:
            return False
        del self.claims[file]
        self._gone()
        return True

    def _gone(self) -> None:
        self.generation += 1
        self._members += 1
        self._ids += 1

    def _set(
        self, file: str, key: FileKey | None, claim: ClaimFile | None, problems: list[Problem]
    ) -> bool:
        """Keep what the file holds now; True if it differs from what was known (a file read
        again only because its last read was racy is no change when it reads the same)."""
        known = self.claims.get(file)
        self.claims[file] = (key, claim, problems)
        if known is None:
            self._members += 1
            self._ids += 1
        elif _compared(known[1]) != _compared(claim):  # an id, a key or a lock can collide
            self._ids += 1
        elif known[1] == claim and known[2] == problems:
            # The same object kept: what was derived from it is known to stand (a new claim
            # file's cycle re-derived the claims of each file re-read so).
            self.claims[file] = (key, known[1], known[2])
            return False
        self.generation += 1
        return True

    def files(self) -> list[ClaimFile]:
        """The claim files that parsed, in scan order."""
        return [claim for _key, claim, _found in self.claims.values() if claim is not None]

    def sorted_files(self) -> list[ClaimFile]:
        """:meth:`files` by file name (kept until a claim file changes; the names are sorted
        again only when a file comes or goes: ten thousand, at each change, were ~3 ms)."""
        if self._sorted is None or self._sorted[0] != self.generation:
            claims = self.claims
            names = self._sorted_names()
            made = [claim for file in names if (claim := claims[file][1]) is not None]
            self._sorted = (self.generation, made)
        return self._sorted[1]

    def _sorted_names(self) -> list[str]:
        """The claim files' names, sorted (again only when a file came or went)."""
        if self._names is None or self._names[0] != self._members:
            self._names = (self._members, sorted(self.claims))
        return self._names[1]

    def problems(self) -> list[Problem]:
        """The folder's problems, then each claim file's, by file name: the same order whatever
        order the folder lists its files in (a file system's own) or this reader first met
        them in (a reader kept alive, the cockpit's, listed a file added later last)."""
        out: list[Problem] = list(self.dir_problems)
        claims = self.claims
        for file in self._sorted_names():
            out.extend(claims[file][2])
        return out

    def all_problems(self) -> list[Problem]:
        """:meth:`problems`, then those across the files (an id declared twice, a key or a lock
        taken twice): kept until a claim file changes or the folder is listed again (every
        derive asks, and an appended log line changes neither: 1.5 ms of each re-derive with a
        thousand claim files)."""
        kept = self._all_problems
        if kept is None or kept[0] != self.generation or kept[1] is not self.dir_problems:
            found = self.problems()
            across = self._set_problems
            if across is None or across[0] != self._ids:
                # Only a file that comes, goes, or declares another id or other phases.
                across = self._set_problems = (self._ids, claim_set_problems(self.sorted_files()))
            found.extend(across[1])
            kept = self._all_problems = (self.generation, self.dir_problems, found)
        return list(kept[2])

    def half_done_changes(self, fold: LogFold) -> list[Problem]:
        """factory-tui logs an intent before it writes a claim and the outcome after: an intent
        with no outcome is a change that may have happened without its audit line. Say what
        the claim file shows now, and what to do."""
        out = []
        for change, intent in fold.open_changes.items():
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
        entry = self.claims.get(str(self.folder / name))
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


def _compared(claim: ClaimFile | None) -> tuple[str, tuple[int | None, ...]] | None:
    """What :func:`claim_set_problems` compares of ``claim``: the id it declares and its
    phases (their keys and locks); None: no claim."""
    return None if claim is None else (claim.declared_id, tuple(u.phase for u in claim.units))


def _note_lock(entry: os.DirEntry[str], locks: list[LockEntry]) -> None:
    """A claim lock directory, with its mtime (its age says fresh or stale)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        locks.append(LockEntry(entry.name, datetime.fromtimestamp(st.st_mtime)))
