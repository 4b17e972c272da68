"""Linux inotify through ctypes on libc: an event-driven watch of a few folders, no dependency.

watchfiles' Rust side wakes every ``step`` ms even when nothing changes (a few tenths of a
percent of a core for an idle cockpit) and that step is most of its write → event latency. A
bare inotify descriptor costs nothing until the kernel has an event: the caller blocks in
``select.poll`` on :meth:`Inotify.fileno` and reads the events with :meth:`Inotify.read`.

Folders are watched non-recursively, for the changes a reader cares about (:data:`WATCH_MASK`).
The kernel may drop events when its queue is full: :meth:`Inotify.read` then returns an
:data:`IN_Q_OVERFLOW` event (``wd == -1``) and the caller must re-read everything.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "IN_CREATE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_Q_OVERFLOW",
    "WATCH_MASK",
    "Inotify",
    "InotifyEvent",
    "InotifyUnavailable",
    "parse_events",
]

# <sys/inotify.h>
IN_MODIFY = 0x0000_0002
IN_ATTRIB = 0x0000_0004
IN_CLOSE_WRITE = 0x0000_0008
IN_MOVED_FROM = 0x0000_0040
IN_MOVED_TO = 0x0000_0080
IN_CREATE = 0x0000_0100
IN_DELETE = 0x0000_0200
IN_DELETE_SELF = 0x0000_0400
IN_MOVE_SELF = 0x0000_0800
IN_Q_OVERFLOW = 0x0000_4000
IN_IGNORED = 0x0000_8000
IN_ONLYDIR = 0x0100_0000
IN_ISDIR = 0x4000_0000
IN_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # the module imports anywhere; only Linux uses them
IN_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

#: The changes that matter to a reader of the files in a folder, and to the folder itself.
WATCH_MASK = (
    IN_CREATE
    | IN_MODIFY
    | IN_CLOSE_WRITE
    | IN_ATTRIB
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)

#: ``struct inotify_event``: int wd; uint32_t mask, cookie, len; then ``len`` bytes of name.
_HEADER = struct.Struct("iIII")
#: Room for many events per read (one needs at most 16 + NAME_MAX + 1 bytes).
_READ_SIZE = 64 * 1024


class InotifyUnavailable(OSError):
    """This system has no inotify (not Linux, or a libc without it)."""


@dataclass(frozen=True)
class InotifyEvent:
    """One ``struct inotify_event``; ``name`` is empty for an event on the watched folder itself
    (and for :data:`IN_Q_OVERFLOW`, whose ``wd`` is -1)."""

    wd: int
    mask: int
    cookie: int
    name: str


def parse_events(data: bytes) -> list[InotifyEvent]:
    """The events in what one ``read`` of an inotify descriptor returned (whole records: the
    kernel never splits one). A truncated trailing record is dropped."""
    events = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        if offset + length > len(data):
            break
        raw = data[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(InotifyEvent(wd, mask, cookie, os.fsdecode(raw)))
    return events


def _libc() -> Any:
    """The process's libc, with the inotify calls typed; :class:`InotifyUnavailable` if none."""
    if not sys.platform.startswith("linux"):
        raise InotifyUnavailable(errno.ENOSYS, f"no inotify on {sys.platform}")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init1 = libc.inotify_init1
        add_watch = libc.inotify_add_watch
    except (OSError, AttributeError) as error:
        raise InotifyUnavailable(errno.ENOSYS, f"libc has no inotify: {error}") from error
    init1.argtypes = [ctypes.c_int]
    init1.restype = ctypes.c_int
    add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    add_watch.restype = ctypes.c_int
    return libc


class Inotify:
    """One inotify descriptor (non-blocking, close-on-exec) and the folders it watches.

    ``libc`` is for tests (a stand-in whose calls fail); by default the process's own."""

    def __init__(self, libc: Any = None) -> None:
        self._libc = _libc() if libc is None else libc
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1 failed: {os.strerror(code)}")
        self._fd: int = fd
        self._folders: dict[int, list[Path]] = {}

    def fileno(self) -> int:
        return self._fd

    def add_watch(self, folder: Path, mask: int = WATCH_MASK) -> int:
        """Watch ``folder`` (a directory; not recursively); its watch descriptor. Raises
        OSError with the errno (ENOENT: it vanished; ENOSPC: the user's watch limit)."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), mask | IN_ONLYDIR)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch failed: {os.strerror(code)}", str(folder))
        forms = self._folders.setdefault(wd, [])  # one inode added under two names: one wd
        if folder not in forms:
            forms.append(folder)
        return int(wd)

    def read(self) -> list[InotifyEvent]:
        """Every event queued now ([] if none: the descriptor does not block)."""
        chunks = []
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not data:
                break
            chunks.extend(parse_events(data))
        return chunks

    def paths(self, event: InotifyEvent) -> list[Path]:
        """The paths an event is about: the entry named in each folder watched under that wd,
        or the folders themselves (an event on the folder); none for an unknown wd."""
        folders = self._folders.get(event.wd, [])
        if event.mask & IN_IGNORED:
            self._folders.pop(event.wd, None)  # the kernel dropped the watch
        if not event.name:
            return list(folders)
        return [folder / event.name for folder in folders]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Inotify:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
