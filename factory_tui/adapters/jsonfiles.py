"""The JSON values of the factory's small files (claim files, checkpoints) kept between runs, so a
warm ``status`` reads only the files that changed.

One file per factory beside the fold cache (``files-<hash>.marshal``): a header line (the magic,
the format and tool versions, the SHA-256 of the body) then the body, a :mod:`marshal` of
``{path: (device, inode, size, mtime_ns, ctime_ns, value)}`` where ``value`` is the marshal of
the file's ``json.loads`` (plain dicts, lists, str, int, float, bool, None; its keys and short
texts interned, so each name is one string in memory however many files have it). Marshal
because it loads ten thousand small values several times faster than reading and parsing the
files themselves (a JSON cache of them did not). Each value stays marshalled until its file asks
for it: nothing is held twice, and a value the reader drops after parsing (a checkpoint's) is
freed.

A folder's entry (the checkpoints folder's) holds what was made of its names, under the
folder's own stat. A value is used only when the file's stat now is the one it was read under;
a file changed less than :data:`RACY_NS` before it was read is not kept (a rewrite within the
file system's timestamp tick could keep the same stat); the ctime changes with any write or
``utime``. The cache file is
checked against its hash before it is unmarshalled and its entries field by field after: a
corrupt or foreign one is ignored (the files are read), never a wrong answer. Values still go
through the same parser as bytes read from the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from factory_tui import __version__
from factory_tui.config.regular_files import read_regular

__all__ = ["MISS", "RACY_NS", "JsonFiles", "stat_key", "write_atomically"]

FORMAT = 5
"""5: a checkpoints folder's listing is not kept when a newest name has a zone (its order
depends on the local zone: a listing kept in one zone was used in another). 4: checkpoint names
with seconds after a dash read as seconds (3 kept their newest file by a zone-shifted time)."""
MAGIC = b"factory-tui json files"
FILE_BYTES = 1 << 30
"""A cache file bigger than this is not one this wrote (ten thousand claims make ~5 MB)."""
RACY_NS = 2_000_000_000
"""A file changed less than this before it was read is read again next time."""

StatKey = tuple[int, int, int, int, int]

_UNLOADABLE = (ValueError, EOFError, TypeError, MemoryError, RecursionError)
"""What unmarshalling a damaged or crafted cache file raises (a length past what memory holds,
values nested past Python's depth): the files are read instead. ``marshal`` takes a declared
length at its word before it reads the items; the cache folder is the user's own."""

MISS: Any = object()
"""What :meth:`JsonFiles.get` returns when it holds no value for a file's stat."""


def stat_key(st: os.stat_result, *, folder: bool = False) -> StatKey | None:
    """The key of a regular file's stat (device, inode, size, mtime, ctime); None for anything
    else (a FIFO, a device, a folder: never kept). ``folder``: of a folder's instead (whose
    mtime and ctime change when a name in it is added, removed or renamed)."""
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class JsonFiles:
    """The values of one factory's small JSON files, loaded from and saved to ``path`` (None:
    nothing is loaded or saved; :meth:`get` always misses)."""

    clock: Callable[[], int] = staticmethod(time.time_ns)
    """The clock (ns) a file's times are compared with, read before the file is."""

    def __init__(
        self, path: Path | None, *, version: str = __version__, read_only: bool = False
    ) -> None:
        self.path = path
        self.version = version
        self.read_only = read_only
        """Only :meth:`get`, each file's value given once (then let go: the reader keeps what
        it made of it, by stat): nothing is kept of what is read, nothing saved (an action's
        or a command's reader, beside the cockpit and ``status`` that keep the file up to
        date)."""
        self._saved: dict[str, tuple[Any, ...]] = {}
        self._now: dict[str, tuple[Any, ...]] = {}
        self._loaded = False
        self.skipped: str | None = None
        """Why the cache file was not used (None: used, or there was none)."""

    def get(self, file: str, st: os.stat_result, *, folder: bool = False) -> Any:
        """The value saved for ``file`` when its stat is ``st`` still, else :data:`MISS`.
        ``folder``: ``file`` is a folder (a value made from its names, kept the same way)."""
        if not self._loaded:
            self._load()
        entry = self._saved.get(file)
        key = stat_key(st, folder=folder)
        if entry is None or key is None or entry[:5] != key:
            return MISS
        try:
            value = marshal.loads(entry[5])
        except _UNLOADABLE:
            return MISS
        if self.read_only:
            del self._saved[file]  # given once: its reader keeps what it made of it by stat
        else:
            self._now[file] = entry
        return value

    def put(
        self, file: str, st: os.stat_result, value: Any, *, read_at_ns: int, folder: bool = False
    ) -> None:
        """Keep ``value``, ``file``'s JSON as read under ``st`` (taken before the read, at
        ``read_at_ns`` by :attr:`clock`), unless the file changed too recently to trust its
        stat. ``folder``: ``file`` is a folder and ``value`` made from its names as listed."""
        if self.read_only:
            return
        key = stat_key(st, folder=folder)
        if key is None or st.st_ctime_ns > read_at_ns - RACY_NS:
            self._now.pop(file, None)
            return
        try:
            self._now[file] = (*key, marshal.dumps(_interned(value)))
        except (ValueError, RecursionError):  # nested deeper than marshal or Python goes
            self._now.pop(file, None)

    def forget(self, file: str) -> None:
        """``file`` is gone or unreadable: keep nothing for it."""
        self._now.pop(file, None)

    @property
    def changed(self) -> bool:
        """Whether a save would write something other than what was loaded (never, read
        only)."""
        return not self.read_only and self._now != self._saved

    def save(self) -> bool:
        """Write what this run read (the files it did not see are dropped) when it differs
        from what was loaded. False when there was nothing to write or it could not be."""
        if self.path is None or not self.changed:
            return False
        body = marshal.dumps(self._now)
        header = b"%s %d %s %s\n" % (
            MAGIC,
            FORMAT,
            self.version.encode("ascii", "replace"),
            hashlib.sha256(body).hexdigest().encode(),
        )
        try:
            _write_atomically(self.path, header + body)
        except OSError:
            return False
        self._saved = dict(self._now)
        return True

    def release(self) -> None:
        """Forget what was loaded and read (after :meth:`save`: a ``status`` run has read each
        file by then, and need not hold their values while it derives and writes)."""
        self._saved, self._now = {}, {}

    def _load(self) -> None:
        self._loaded = True
        if self.path is None:
            return
        try:
            data = read_regular(self.path, FILE_BYTES)  # a FIFO there: never waited on
        except FileNotFoundError:
            return
        except OSError as error:
            self.skipped = f"unreadable: {error}"
            return
        try:
            self._saved = self._parse(data)
        except _UNLOADABLE as error:
            self.skipped = f"ignored: {type(error).__name__}: {error}"

    def _parse(self, data: bytes) -> dict[str, tuple[Any, ...]]:
        header, _, body = data.partition(b"\n")
        expected = b"%s %d %s " % (MAGIC, FORMAT, self.version.encode("ascii", "replace"))
        if not header.startswith(expected):
            raise ValueError("another format or version")
        if header[len(expected) :] != hashlib.sha256(body).hexdigest().encode():
            raise ValueError("its body does not match its hash")
        entries = marshal.loads(body)
        if type(entries) is not dict:
            raise ValueError("not a table of files")
        for file, entry in entries.items():
            if (
                type(file) is not str
                or type(entry) is not tuple
                or len(entry) != 6
                or any(type(part) is not int for part in entry[:5])
                or type(entry[5]) is not bytes
            ):
                raise ValueError("an entry is not (device, inode, size, mtime, ctime, value)")
        return entries


def _interned(value: Any) -> Any:
    """``value`` with its keys and short texts interned: marshal writes each once, and loading
    it shares one string for every file that has it (the names of a claim's fields, a host name,
    a checkpoint's step names)."""
    kind = type(value)
    if kind is str:
        return sys.intern(value) if len(value) <= _INTERNED_LENGTH else value
    if kind is dict:
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    if kind is list:
        return [_interned(v) for v in value]
    return value


_INTERNED_LENGTH = 40


def _write_atomically(path: Path, data: bytes) -> None:
    write_atomically(path, lambda f: f.write(data))


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """What ``write`` writes, to a private temp file beside ``path`` renamed over it: never
    half a file (raises ``OSError`` when it cannot be written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
