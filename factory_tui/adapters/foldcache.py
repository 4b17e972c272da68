"""The warm-start cache of the folded operations.log: a second run reads only what is new.

Per factory, in the user cache folder (``platformdirs.user_cache_path("factory-tui")``;
``FACTORY_TUI_CACHE_DIR`` moves it, ``FACTORY_TUI_FOLD_CACHE=0`` turns it off), two files, each
a fold with the key that says whether it still stands:

- ``fold-<hash>.json``: the fold of the rotated ``operations.log.1`` read whole and of the log's
  first bytes. Good while ``operations.log.1`` is exactly the file read and the log still starts
  with those bytes: a big log that is not rotated (the scale factory) is then read from there.
- ``fold-<hash>.history.json``: the fold of ``operations.log.1``'s first bytes alone. The hooks
  rotate by appending the log's oldest lines to ``operations.log.1`` and replacing the log with
  the newest 500: this one survives that; the rest of ``operations.log.1`` and the (short) log are
  then read.

A file's key: the tool's version and the cache format's; the log file (its resolved path and the
names of both files, which the fold's lines carry); for each file prefix, its device, inode,
size, and a hash of its first block and of the block before the offset. On start the log's
cache is tried, then the rotated log's; anything that differs (a truncation, a replaced or
rewritten file, another version, an unreadable or corrupt cache file) and that cache is ignored:
the log is never folded on top of a state it does not extend. A file is one JSON header line
(the key, the parts' sizes and SHA-256s), then the body: the fold's
:meth:`~factory_tui.core.fold.LogFold.to_state` as JSON but its archive of sessions, then the
last sessions that ended (in that order) and the live sessions' columns as little-endian
uint32 arrays; then the first sessions that ended (uint32); then the archive (the bulk of a
long history): its string table as JSON, then its columns as uint32. The body is read and
checked on load; the rest only when the fold first needs it (a session it does not hold live,
a walk back past the last ended ones: the cost view, a save; see
:mod:`~factory_tui.adapters.foldcache_parts`), from the file as opened then (a save replaces
the file, never rewrites it). So a warm start costs what the fleet shows, not the length of
the history. The file is untrusted input: parsed as JSON and checked field by field,
never unpickled or executed. It is written through a temp file and a rename: a reader never
sees half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from array import array
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import platformdirs

from factory_tui import __version__
from factory_tui.adapters.foldcache_parts import Archive, EndedFirst
from factory_tui.adapters.jsonfiles import write_atomically
from factory_tui.config.regular_files import open_regular
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_state import SAVED_TEXT

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_SWITCH_ENV",
    "FORMAT_VERSION",
    "FileIdentity",
    "FoldCache",
    "WarmStart",
    "file_identity",
    "sealed",
]

CACHE_DIR_ENV = "FACTORY_TUI_CACHE_DIR"
CACHE_SWITCH_ENV = "FACTORY_TUI_FOLD_CACHE"
FORMAT_VERSION = 6
"""6: the header sealed by its own SHA-256 (:func:`sealed`): a changed line count (which no
other check covers) gave wrong line numbers."""
BLOCK_BYTES = 64 << 10
# Below this the log is read cold faster than a cache file would be checked and parsed.
MIN_LOG_BYTES = 1 << 20
# A warm reader saves again once this much more has been folded since the cache it loaded.
RESAVE_BYTES = 8 << 20
_COPY_BYTES = 1 << 20
STALE_TEMP_SECONDS = 3600
"""A save's temp file this old was left by a save that was killed (a save is written in well
under a minute; a forked one is ended after ten)."""
# The fold's uint32 arrays stored as binary after its JSON (see LogFold.to_state); the archive
# (the string table and the columns of every session) follows.
_ARRAYS = ("ended", "live")
ENDED_KEPT = 4096
"""The body keeps the last sessions that ended, as many as a save's walk back to its live ones
read and at least this many; the first ones (a long history's bulk) follow the body, read when
first needed (see :class:`~factory_tui.core.fold_ended.EndedRefs`)."""
assert array("I").itemsize == 4, "uint32 arrays need a 4-byte unsigned int"
_UINT32_BYTES = 4


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What says that the first ``size`` bytes of a file are still the ones folded."""

    device: int
    inode: int
    size: int
    head: str
    """SHA-256 of the first block (at most ``BLOCK_BYTES``) of those bytes."""
    tail: str
    """SHA-256 of the last block before ``size``."""

    @classmethod
    def from_json(cls, data: object) -> FileIdentity:
        if not isinstance(data, dict) or set(data) != {"device", "inode", "size", "head", "tail"}:
            raise ValueError("not a file identity")
        for name in ("device", "inode", "size"):
            if type(data[name]) is not int:
                raise ValueError(f"a file identity's {name} is not an integer")
        for name in ("head", "tail"):
            if type(data[name]) is not str:
                raise ValueError(f"a file identity's {name} is not text")
        return cls(**data)


def file_identity(fd: int, size: int) -> FileIdentity:
    """The identity of the first ``size`` bytes of the open file ``fd``. Raises ``OSError`` when
    it is not a regular file that long."""
    n = min(size, BLOCK_BYTES)
    head, tail = os.pread(fd, n, 0), os.pread(fd, n, size - n)
    if len(head) != n or len(tail) != n:
        raise OSError(f"not a regular file of at least {size} bytes")  # (cut while read)
    return read_identity(fd, (size, head, tail))


def read_identity(fd: int, ends: tuple[int, bytes, bytes]) -> FileIdentity:
    """The identity of the first ``size`` bytes of the open file ``fd`` from ``ends``: that
    size, and its first and last blocks as they were read (:meth:`LogTail.read_ends`), not as
    they are now. Raises ``OSError`` when ``fd`` is not a regular file that long."""
    size, head, tail = ends
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size < size:
        raise OSError(f"not a regular file of at least {size} bytes")
    if len(head) != min(size, BLOCK_BYTES) or len(tail) != len(head):
        raise ValueError(f"the ends of {size} bytes are {BLOCK_BYTES}-byte blocks at most")
    return FileIdentity(
        st.st_dev,
        st.st_ino,
        size,
        hashlib.sha256(head).hexdigest(),
        hashlib.sha256(tail).hexdigest(),
    )


def path_identity(path: Path) -> FileIdentity | None:
    """The identity of the whole file at ``path``, None when there is none. Raises ``OSError``
    when it cannot be read."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    try:
        return file_identity(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class WarmStart:
    """A saved fold whose key the files still match: go on reading the log at ``offset``."""

    fold: LogFold
    log: FileIdentity | None
    """The log's first ``log.size`` bytes (``line_count`` lines), whose fold this is after the
    rotated log read whole; None: the fold of the rotated log's first ``history.size`` bytes
    alone (``history_lines`` lines), read on from there, then the log from its start."""
    line_count: int
    history: FileIdentity | None
    """The rotated log as read (None: there was none)."""
    history_lines: int = 0


class FoldCache:
    """The warm-start cache files in ``folder``. Never raises: a cache that cannot be read or
    written is a cold read, not an error."""

    def __init__(
        self,
        folder: Path,
        *,
        min_log_bytes: int = MIN_LOG_BYTES,
        resave_bytes: int = RESAVE_BYTES,
        version: str = __version__,
    ) -> None:
        self.folder = folder
        self.min_log_bytes = min_log_bytes
        self.resave_bytes = resave_bytes
        self.version = version
        self.last_miss: str | None = None
        """Why the last :meth:`load` found no usable cache (for benchmarks and debugging)."""
        self.skipped: tuple[str, ...] = ()
        """Each cache file the last :meth:`load` passed over, with why (the log's own cache
        skipped for the rotated log's reads ``("log cache: …",)``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FoldCache | None:
        """The user's cache (``FACTORY_TUI_CACHE_DIR`` or the platform's cache folder), or None
        when ``FACTORY_TUI_FOLD_CACHE`` turns it off (0, off, no, false)."""
        environ = os.environ if env is None else env
        if environ.get(CACHE_SWITCH_ENV, "").strip().lower() in {"0", "off", "no", "false"}:
            return None
        override = environ.get(CACHE_DIR_ENV, "")  # as written, as every configured path
        folder = Path(override).expanduser() if override.strip() else _default_folder()
        return cls(folder)

    def path_for(self, log_file: Path, *, history_only: bool = False) -> Path:
        """The cache file of the factory whose operations.log is ``log_file``: the fold as of
        an offset of the log, or (``history_only``) as of an offset of the rotated log."""
        digest = hashlib.sha256(os.fsencode(_resolved(log_file))).hexdigest()[:24]
        return self.folder / f"fold-{digest}{'.history' if history_only else ''}.json"

    def files_path(self, claims_dir: Path, checkpoints_dir: Path) -> Path:
        """The file of the claim files' and checkpoints' JSON kept between runs (see
        :class:`~factory_tui.adapters.jsonfiles.JsonFiles`) for these two folders."""
        both = os.fsencode(_resolved(claims_dir)) + b"\0" + os.fsencode(_resolved(checkpoints_dir))
        return self.folder / f"files-{hashlib.sha256(both).hexdigest()[:24]}.marshal"

    def index_path(self, log_file: Path) -> Path:
        """The file of the log index kept between starts for this log (see
        :mod:`~factory_tui.adapters.logindex_cache`)."""
        name = hashlib.sha256(os.fsencode(_resolved(log_file))).hexdigest()[:24]
        return self.folder / f"index-{name}.bin"

    # -- loading --------------------------------------------------------------------------------

    def load(self, log_file: Path, history_file: Path) -> WarmStart | None:
        """The saved fold of ``log_file`` when its key matches the files now, else None (and
        :attr:`last_miss` says why). The fold as of an offset of the log first; else (the
        rotation appended to the rotated log and rewrote the log) as of an offset of the
        rotated log."""
        misses: list[str] = []
        for history_only in (False, True):
            try:
                warm, why = self._load(log_file, history_file, history_only)
            except (
                OSError,
                ValueError,
                KeyError,
                TypeError,
                RecursionError,
                MemoryError,
                OverflowError,
            ) as error:
                warm, why = None, f"unreadable: {type(error).__name__}: {error}"
            if warm is not None:
                self.last_miss = None
                self.skipped = tuple(misses)
                return warm
            misses.append(f"{'history' if history_only else 'log'} cache: {why}")
        self.last_miss = "; ".join(misses)
        self.skipped = tuple(misses)
        return None

    def _load(
        self, log_file: Path, history_file: Path, history_only: bool
    ) -> tuple[WarmStart | None, str | None]:
        path = self.path_for(log_file, history_only=history_only)
        try:
            with os.fdopen(open_regular(path), "rb") as f:
                header = _header(f)
                if header is None:
                    return None, "no header"
                why = self._stale(header, log_file, history_file, history_only)
                if why is not None:
                    return None, why
                state, why = _read_body(f, header)
                if state is None:
                    return None, why
                first, why = EndedFirst.after(f, header, path)
                if first is None:
                    return None, why
                state["ended_before"] = first.count
                archive, why = Archive.after(f, header, path, state.get("sessions"))
                if archive is None:
                    return None, why
        except FileNotFoundError:
            return None, "no cache file"
        fold = LogFold.from_state(state, archive, first if first.count else None)
        del state
        line_count, history_lines = header["line_count"], header["history_lines"]
        for count in (line_count, history_lines):
            if type(count) is not int or count < 0:
                return None, "bad line count"
        log = None if history_only else FileIdentity.from_json(header["log"])
        history = _history_identity(header)
        return WarmStart(fold, log, line_count, history, history_lines), None

    def _stale(
        self, header: dict[str, Any], log_file: Path, history_file: Path, history_only: bool
    ) -> str | None:
        """Why the cache described by ``header`` does not stand for the files now, or None."""
        if header.get("format") != FORMAT_VERSION:
            return "another cache format"
        if header.get(SEAL) != _seal_of(header):
            return "the header does not match its checksum"
        if header.get("tool") != self.version:
            return "another version of factory-tui"
        if header.get("path") != _resolved(log_file):
            return "another log file"
        if header.get("sources") != [history_file.name, log_file.name]:
            return "other source names"
        history = _history_identity(header)
        if history_only:
            if history is None or header.get("log") is not None:
                return "not a rotated log's fold"
            return _prefix_stale(history_file, history)
        if path_identity(history_file) != history:
            return f"{history_file.name} changed (a rotation?)"
        return _prefix_stale(log_file, FileIdentity.from_json(header.get("log")))

    # -- saving ---------------------------------------------------------------------------------

    def save(
        self,
        log_file: Path,
        history_file: Path,
        *,
        fold: LogFold,
        log: FileIdentity | None,
        line_count: int,
        history: FileIdentity | None,
        history_lines: int = 0,
    ) -> bool:
        """Replace the cache of ``log_file`` with ``fold`` as of ``log`` (the first ``log.size``
        bytes, ``line_count`` lines) after ``history`` read whole; or, ``log`` None, the cache
        of the fold of ``history`` alone (its first ``history.size`` bytes, ``history_lines``
        lines). False when it could not be written (a read-only or full disk: the next start
        is cold, nothing else)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.folder) as spool:
                try:
                    made = _Parts.of(fold, spool)
                except OverflowError:
                    return False  # a line number past 2**32: not worth a cache
                header = {
                    "format": FORMAT_VERSION,
                    "tool": self.version,
                    "path": _resolved(log_file),
                    "sources": [history_file.name, log_file.name],
                    "log": None if log is None else asdict(log),
                    "line_count": line_count,
                    "history_lines": history_lines,
                    "history": None if history is None else asdict(history),
                    **made.described(),
                }
                # ASCII: a path that is not UTF-8 (its bytes as surrogates) is escaped too.
                line = json.dumps(sealed(header)).encode() + b"\n"
                write_atomically(
                    self.path_for(log_file, history_only=log is None),
                    lambda out: _write_parts(out, [line, *made.parts()], spool),
                )
        except OSError:
            return False
        self.prune()
        return True

    def prune(self) -> None:
        """Remove the cache files of logs that no longer exist (a demo's temp factory), and the
        temp files of saves that were killed (of the folds, the kept JSON and the log indexes;
        :data:`STALE_TEMP_SECONDS` old: a save in progress is not), one file at a time (best
        effort: a file that cannot be read or removed is left)."""
        try:
            found = list(self.folder.glob("fold-*.json"))
            temps = [
                temp
                for kind in ("fold", "files", "index")
                for temp in self.folder.glob(f".{kind}-*.tmp")
            ]
        except OSError:
            return
        for temp in temps:
            with contextlib.suppress(OSError):
                st = temp.lstat()
                if stat.S_ISREG(st.st_mode) and time.time() - st.st_mtime > STALE_TEMP_SECONDS:
                    temp.unlink()
        for path in found:
            try:
                with os.fdopen(open_regular(path), "rb") as f:
                    header = _header(f)
                log = header.get("path") if header is not None else None
                if isinstance(log, str) and os.path.isabs(log) and not os.path.lexists(log):
                    path.unlink()
            except (OSError, ValueError, RecursionError):
                continue

    def forget(self, log_file: Path) -> None:
        """Remove the cache file of ``log_file`` (best effort)."""
        with contextlib.suppress(OSError):
            self.path_for(log_file).unlink()


@dataclass
class _Parts:
    """A fold as the parts of its cache file but the header (see the module's docstring): its
    archive's columns in ``spool``, written as they were made (114 MB of a 300-day log, never
    held), the rest in memory."""

    body: bytes
    arrays: dict[str, array[int]]
    first: array[int]
    texts: list[bytes]
    """The archive's texts, in pieces (see :func:`~factory_tui.core.fold_state.to_state`)."""
    ends: array[int]
    columns: int
    body_sha256: str
    archive_sha256: str

    @classmethod
    def of(cls, fold: LogFold, spool: BinaryIO) -> _Parts:
        def spill(part: array[int]) -> None:
            if sys.byteorder != "little":
                part.byteswap()
            part.tofile(spool)

        state = fold.to_state(spill, now=datetime.now())  # local, as the log's times
        arrays = {name: state.pop(name) for name in _ARRAYS}
        ended = arrays["ended"]
        cut = max(0, len(ended) - max(state.pop("ended_walked"), ENDED_KEPT))
        first, arrays["ended"] = ended[:cut], ended[cut:]
        del ended
        texts, ends = state.pop("texts"), state.pop("ends")
        columns = state.pop("columns")
        body = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode(*SAVED_TEXT)
        del state
        digest = hashlib.sha256(body)
        for values in (*arrays.values(), first, ends):
            if sys.byteorder != "little":
                values.byteswap()
        for values in arrays.values():
            digest.update(values)
        archive = hashlib.sha256()
        for piece in texts:
            archive.update(piece)
        archive.update(ends)
        spool.flush()
        spool.seek(0)
        while chunk := spool.read(_COPY_BYTES):
            archive.update(chunk)
        return cls(
            body, arrays, first, texts, ends, columns, digest.hexdigest(), archive.hexdigest()
        )

    def described(self) -> dict[str, Any]:
        """The header's fields that describe the parts."""
        return {
            "body_bytes": len(self.body),
            "arrays": {name: len(values) for name, values in self.arrays.items()},
            "body_sha256": self.body_sha256,
            "ended_first": {
                "count": len(self.first),
                "sha256": hashlib.sha256(self.first).hexdigest(),
            },
            "archive": {
                "strings_bytes": sum(map(len, self.texts)),
                "strings": len(self.ends),
                "columns": self.columns,
                "sha256": self.archive_sha256,
            },
        }

    def parts(self) -> list[Any]:
        """The parts after the header, but the columns (in the spool)."""
        return [self.body, *self.arrays.values(), self.first, *self.texts, self.ends]


HEADER_BYTES = 1 << 20
"""A header line longer than this is no header (a file of hundreds of megabytes without a line
end was read whole, by the load and by every save's clean-up)."""


def _header(f: BinaryIO) -> dict[str, Any] | None:
    """A cache file's header line, read from ``f``'s start (None: none, or not an object)."""
    line = f.readline(HEADER_BYTES)
    if not line.endswith(b"\n"):
        return None
    header = json.loads(line)
    return header if isinstance(header, dict) else None


SEAL = "header_sha256"


def sealed(header: dict[str, Any]) -> dict[str, Any]:
    """``header`` with its seal: the SHA-256 of the rest of it. The body's and the archive's
    checksums are in the header, but not every field of it is checked against something else
    (the line counts the log is followed from), so the header is checked whole."""
    return {**header, SEAL: _seal_of(header)}


def _seal_of(header: dict[str, Any]) -> str:
    rest = {key: value for key, value in header.items() if key != SEAL}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _write_parts(out: BinaryIO, parts: list[Any], rest: BinaryIO | None = None) -> None:
    """``parts`` (bytes-like) written one after the other (no copy of a big body joined in
    memory), then what the file ``rest`` holds, then on the disk before the rename makes them
    the cache."""
    for part in parts:
        out.write(part)
    if rest is not None:
        rest.seek(0)
        shutil.copyfileobj(rest, out, _COPY_BYTES)
    out.flush()
    os.fsync(out.fileno())


def _read_body(f: BinaryIO, header: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The saved state after the header: its JSON part, then its uint32 arrays as they were
    written (little-endian). None and why when the sizes or the checksum do not match."""
    size = header.get("body_bytes")
    counts = header.get("arrays")
    if type(size) is not int or not isinstance(counts, dict) or list(counts) != list(_ARRAYS):
        return None, "no body sizes"
    # Sizes taken at their word only within what the file holds: a header naming 2**62 bytes
    # (its seal made again) would have the read allocate that much first.
    left = os.fstat(f.fileno()).st_size - f.tell()
    if not 0 <= size <= left:
        return None, "the file ends early"
    body = f.read(size)
    if len(body) != size:
        return None, "the file ends early"
    left -= size
    digest = hashlib.sha256(body)
    arrays: dict[str, array[int]] = {}
    for name, count in counts.items():
        if type(count) is not int or count < 0:
            return None, "bad array size"
        if count * _UINT32_BYTES > left:
            return None, "the file ends early"
        left -= count * _UINT32_BYTES
        values = array("I")
        try:
            values.fromfile(f, count)
        except EOFError:
            return None, "the file ends early"
        digest.update(values)
        if sys.byteorder != "little":
            values.byteswap()
        arrays[name] = values
    if digest.hexdigest() != header.get("body_sha256"):
        return None, "the body does not match its checksum"
    state = json.loads(body.decode(*SAVED_TEXT))
    if not isinstance(state, dict):
        return None, "the body is not an object"
    state.update(arrays)
    return state, ""


def _prefix_stale(path: Path, saved: FileIdentity) -> str | None:
    """Why the first ``saved.size`` bytes of the file at ``path`` are not those ``saved`` names
    (another file, a shorter one, other bytes), or None."""
    fd = open_regular(path)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (saved.device, saved.inode):
            return f"{path.name} was replaced"
        if st.st_size < saved.size:
            return f"{path.name} was truncated"
        if file_identity(fd, saved.size) != saved:
            return f"{path.name} was rewritten"
    finally:
        os.close(fd)
    return None


def _history_identity(header: dict[str, Any]) -> FileIdentity | None:
    history = header.get("history")
    return None if history is None else FileIdentity.from_json(history)


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path.absolute())


def _default_folder() -> Path:
    return platformdirs.user_cache_path("factory-tui")
