"""The factory's checkpoints (the latest of each task) and state files (plan.md, memory.md, linted
together), as :class:`~factory_tui.adapters.factory.FactoryReader` reads them."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from datetime import datetime
from pathlib import Path

from factory_tui.adapters.factory_claims import (
    FileKey,
    FilesProgress,
    file_key,
    racy_after,
    told_as_read,
)
from factory_tui.adapters.jsonfiles import MISS, RACY_NS, JsonFiles
from factory_tui.adapters.safe_read import read_factory_file_stat
from factory_tui.config import Config
from factory_tui.core.checkpoints import (
    Checkpoint,
    checkpoint_from_json,
    parse_checkpoint_name,
    zoned_name,
)
from factory_tui.core.problems import Problem, parse_json
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan

__all__ = ["CheckpointFolder", "StateFiles", "read_checkpoints"]


_StatKey = tuple[int, int, int, int, int]
_Parsed = tuple[Checkpoint | None, list[Problem]]


def read_checkpoints(config: Config) -> tuple[dict[str, Checkpoint], list[Problem]]:
    """The latest checkpoint of each task, and the problems met (see :class:`CheckpointFolder`)."""
    return CheckpointFolder(config).read()


class CheckpointFolder:
    """The checkpoints folder, read again incrementally: names are listed, only the newest file
    per task slug is read (a folder of ten thousand stays cheap), and of those only the ones
    whose stat (device, inode, size, mtime, ctime) changed since the last :meth:`read` are
    parsed again. With :attr:`values`, what was made of the names (the newest of each slug,
    the names that are not a checkpoint's) is kept under the folder's own stat: a next run whose
    folder has the same names lists none of them."""

    def __init__(self, config: Config, *, values: JsonFiles | None = None) -> None:
        self.config = config
        self.values = values
        """The checkpoints' JSON kept from the last run, by stat (None: always read)."""
        self._names: dict[str, tuple[datetime | None, str]] = {}
        """Each file name's time and slug (a pure function of the name)."""
        self._parsed: dict[str, tuple[_StatKey, _Parsed]] = {}
        """Each newest file read whole, by path: its stat key then, and what it parsed to."""

    def read(
        self, progress: FilesProgress | None = None
    ) -> tuple[dict[str, Checkpoint], list[Problem]]:
        """The latest checkpoint of each task, and the problems met. ``progress``: told how
        far the read of the newest files is (see :meth:`ClaimFolder.refresh`)."""
        folder = self.config.checkpoints_dir
        where = os.fspath(folder)
        latest, unnamed, problems = self._listed(folder)
        for name in unnamed:
            problems.append(
                Problem(
                    os.path.join(where, name),
                    "checkpoint file name is not <ISO-timestamp>-<task-slug>.json",
                )
            )
        checkpoints: dict[str, Checkpoint] = {}
        parsed, self._parsed = self._parsed, {}
        # Each file's path as os.path.join makes it; the racy window from one clock read (taken
        # before any file's stat: a file changed since then is racy all the same).
        prefix = os.path.join(where, "")
        racy_after = time.time_ns() - RACY_NS
        for name in told_as_read(latest, progress):
            found = self._parse(prefix + name, name, parsed, racy_after)
            if found is None:
                continue
            if isinstance(found, Problem):
                problems.append(found)
                continue
            cp, found_problems = found
            problems.extend(found_problems)
            if cp is not None:
                known_cp = checkpoints.get(cp.task)
                if known_cp is None or (cp.at or datetime.min) >= (known_cp.at or datetime.min):
                    checkpoints[cp.task] = cp
        return checkpoints, problems

    def forget(self) -> None:
        """Drop what was kept to read the folder again incrementally (each name's parts, each
        newest file's stat and parse): a one-shot ``status`` reads it once, and frees that
        before it derives (ten thousand entries at 10x). The next :meth:`read` reads whole."""
        self._names, self._parsed = {}, {}

    def _listed(self, folder: Path) -> tuple[list[str], list[str], list[Problem]]:
        """The newest file name of each task slug (in the order the slugs were first listed),
        the names that are not ``<ISO-timestamp>-<task-slug>.json`` (in listing order), and the
        problem of a folder that cannot be listed. Kept in :attr:`values` under the folder's
        stat, taken before it is listed (a name added, removed or renamed changes it), both of
        the one folder opened (a symlink re-pointed between a stat of its path and a listing of
        it kept one folder's names under the other's stat)."""
        values = self.values
        if values is None:
            return self._list(folder)[:3]
        read_at = values.clock()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return self._list(folder)[:3]  # (it says why)
        try:
            st = os.fstat(fd)
            kept = _kept_names(values.get(str(folder), st, folder=True))
            if kept is not None:
                latest, unnamed = kept
                known, self._names = self._names, {}
                for name in latest:
                    self._names[name] = known.get(name) or parse_checkpoint_name(name)
                return latest, unnamed, []
            latest, unnamed, problems, zoned = self._list(folder, fd)
        finally:
            os.close(fd)
        # A name with a zone is read as local time: which file is a task's newest then depends
        # on the zone, and a listing made in one is not kept for another.
        if not problems and not zoned:
            values.put(str(folder), st, [latest, unnamed], read_at_ns=read_at, folder=True)
        return latest, unnamed, problems

    def _list(
        self, folder: Path, fd: int | None = None
    ) -> tuple[list[str], list[str], list[Problem], bool]:
        """:meth:`_listed` made from the folder's names (of ``fd`` when given: the folder
        opened), and whether one gives its time with a zone."""
        problems: list[Problem] = []
        latest: dict[str, tuple[datetime, str]] = {}
        unnamed: list[str] = []
        try:
            with os.scandir(folder if fd is None else fd) as listed:
                # Sorted: what is made of them (each task's newest, the problems) comes in
                # the same order whatever order a file system lists them in.
                names = sorted(e.name for e in listed if e.name.endswith(".json"))
        except FileNotFoundError:
            names = []
        except OSError as error:
            problems.append(Problem(str(folder), f"cannot list checkpoints: {error.strerror}"))
            names = []
        known_names, self._names = self._names, {}
        for name in names:
            parts = known_names.get(name) or parse_checkpoint_name(name)
            self._names[name] = parts
            when, slug = parts
            if when is None:
                unnamed.append(name)
                when = datetime.min
            known = latest.get(slug)
            if known is None or (when, name) > known:
                latest[slug] = (when, name)
        zoned = any(map(zoned_name, names))
        return [name for _when, name in latest.values()], unnamed, problems, zoned

    def _parse(
        self,
        path: str,
        name: str,
        parsed: dict[str, tuple[_StatKey, _Parsed]],
        racy_after: int,
    ) -> _Parsed | Problem | None:
        """One newest file: as parsed last time when its stat key is the same, else from its
        JSON kept in :attr:`values` under the same stat, else read. ``racy_after``: a file
        changed after this (ns) is parsed again next time (see :func:`_stat_key`)."""
        st = _lstat(path)
        key = _stat_key(st, racy_after)
        known = parsed.get(path) if key is not None else None
        if key is not None and known is not None and known[0] == key:
            self._parsed[path] = known
            return known[1]
        result, read_st = self._read(path, name, st)
        # Kept by the stat of the file read, when it is the one looked at (a symlink's is never
        # kept: re-pointed, the key of its own stat would not move).
        if (
            key is not None
            and result is not None
            and not isinstance(result, Problem)
            and _stat_key(read_st, racy_after) == key
        ):
            self._parsed[path] = (key, result)
        return result

    def _read(
        self, path: str, name: str, st: os.stat_result | None
    ) -> tuple[_Parsed | Problem | None, os.stat_result | None]:
        """One file, parsed, and the stat of the file it was read from (``st`` when its JSON
        kept in :attr:`values` under ``st`` was used; None when it was not read)."""
        # The file as a Path would name it (the folder's path is a Path's already: only a
        # folder "." differs), without making one per file: a folder of 10,000 newest files.
        file = str(Path(path)) if path.startswith("./") else path
        values, parts = self.values, self._names.get(name)
        # Kept under a bigger limit, it is refused now as a read refuses it.
        if values is not None and st is not None and st.st_size <= self.config.max_file_bytes:
            raw = values.get(file, st)
            if raw is not MISS:
                return checkpoint_from_json(file, raw, parts), st
        read_at = values.clock() if values is not None else 0
        data, read_st = read_factory_file_stat(Path(path), self.config.max_file_bytes)
        if data is None or isinstance(data, Problem):
            if values is not None:
                values.forget(file)
            return data, None
        raw, unreadable = parse_json(file, data)
        if values is not None:
            # Kept only for the file looked up by (its own stat: a symlink's value could
            # never be found again, kept under its target's).
            if unreadable is None and read_st is not None and _same_file(st, read_st):
                values.put(file, read_st, raw, read_at_ns=read_at)
            else:
                values.forget(file)
        if unreadable is not None:
            return (None, [unreadable]), read_st
        return checkpoint_from_json(file, raw, parts), read_st


def _kept_names(value: object) -> tuple[list[str], list[str]] | None:
    """The kept ``[latest, unnamed]`` names of the checkpoints folder, checked (the cache file
    is untrusted: each a plain name in the folder, ``*.json``); None when there are none."""
    if type(value) is not list or len(value) != 2:
        return None
    for names in value:
        if type(names) is not list or not all(map(_plain_name, names)):
            return None
    return value[0], value[1]


def _plain_name(name: object) -> bool:
    """Whether ``name`` is a ``*.json`` name in a folder (no separator, no NUL)."""
    return (
        type(name) is str
        and name.endswith(".json")
        and "/" not in name
        and os.sep not in name
        and "\0" not in name
    )


def _lstat(path: str) -> os.stat_result | None:
    """A listed file's own stat (taken before it is read); None when it cannot be had."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def _same_file(looked: os.stat_result | None, read: os.stat_result) -> bool:
    """Whether the file read (``read``: its descriptor's stat) is the regular file whose own
    stat was ``looked`` (not a symlink's, not another file put there since)."""
    return (
        looked is not None
        and stat.S_ISREG(looked.st_mode)
        and (looked.st_dev, looked.st_ino) == (read.st_dev, read.st_ino)
    )


def _stat_key(st: os.stat_result | None, racy_after: int) -> _StatKey | None:
    """The stat key of a listed regular file; None for anything else (a symlink, a special
    file) or a file changed after ``racy_after`` (:data:`RACY_NS` before the read): read
    those."""
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_ctime_ns > racy_after:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StateFiles:
    """plan.md and memory.md: their lint findings and read problems, read again only when one of
    the two files' stat changed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lint: list[object] = []
        self.problems: list[Problem] = []
        self._keys: dict[Path, FileKey | None] | None = None
        """The files' keys when last read; None: read them next time (never read, either had
        changed too recently for its key to be trusted (see :meth:`FileKey.settled`), or could
        not be read then)."""
        self._read: tuple[list[bytes | None], list[Problem]] | None = None
        """What the last read found, each file's bytes as a digest (None: never read): a read
        that finds the same is no change (the State view's counts are made from the files,
        not from the lint alone)."""

    def refresh(self) -> bool:
        """Read both files again if either changed. True if what they hold changed (or this is
        the first read)."""
        racy = racy_after()
        keys: dict[Path, FileKey | None] = {}
        for path in (self.config.plan_file, self.config.memory_file):
            try:
                keys[path] = file_key(path)
            except OSError:
                keys[path] = None
        if keys == self._keys:
            return False
        problems: list[Problem] = []
        texts: dict[Path, str | None] = {}
        digests: list[bytes | None] = []
        same = True  # each file read is the one whose key was taken (not a symlink re-pointed)
        for path in keys:
            data, read_st = read_factory_file_stat(path, self.config.max_file_bytes)
            if isinstance(data, Problem):
                problems.append(data)
            if read_st is not None and FileKey.of(read_st) != keys[path]:
                same = False
            texts[path] = (
                data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None
            )
            digests.append(hashlib.blake2b(data).digest() if isinstance(data, bytes) else None)
        settled = all(key is None or key.settled(racy) for key in keys.values())
        # A file that could not be read (too many open files, EIO) is read again next time.
        self._keys = keys if settled and same and not problems else None
        found = (digests, problems)
        if self._read == found:
            return False
        self._read = found
        plan_text = texts[self.config.plan_file]
        memory_text = texts[self.config.memory_file]
        plan = parse_plan(plan_text, str(self.config.plan_file)) if plan_text is not None else None
        memory = (
            parse_memory(memory_text, str(self.config.memory_file))
            if memory_text is not None
            else None
        )
        self.lint = list(lint_state(plan, memory)) if (plan or memory) else []
        self.problems = problems
        return True
