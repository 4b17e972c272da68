"""Reading a small file whole without waiting on what is at its path: a FIFO put where a config
file, a cache file, a state file or one of git's files should be would block ``open()`` until a
writer came (a cockpit frozen at its start, a command that never ends). Used from every layer
that reads such files (config reads factory.toml: it is the lowest that touches files)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["GIT_FILE_BYTES", "OPEN_FLAGS", "NotRegularFile", "open_regular", "read_regular"]

OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
"""Open to read, never waiting for a FIFO's writer nor taking a terminal."""
_CHUNK = 1 << 20
GIT_FILE_BYTES = 1 << 16
"""What is read of one of git's small files (``.git``, ``HEAD``, ``commondir``, ``gitdir``)."""


class NotRegularFile(OSError):
    """What was found at the path is not a regular file."""


def open_regular(path: Path | str) -> int:
    """A descriptor of the regular file at ``path``, opened to read without waiting. Raises
    ``FileNotFoundError`` when nothing is there, :class:`NotRegularFile` for anything but a
    regular file (a FIFO, a device, a folder), ``OSError`` when it cannot be opened."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path | str, limit: int, *, whole: bool = True) -> bytes:
    """The bytes of the regular file at ``path`` (:func:`open_regular`), at most ``limit``:
    ``whole``, a longer file raises ``OSError`` (EFBIG); else its first ``limit`` bytes."""
    fd = open_regular(path)
    try:
        if whole and os.fstat(fd).st_size > limit:  # refused before a byte is read
            raise OSError(errno.EFBIG, f"bigger than {limit:,} bytes", os.fspath(path))
        data = read_at_most(fd, limit + 1 if whole else limit)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"bigger than {limit:,} bytes", os.fspath(path))
    return data


def read_at_most(fd: int, count: int) -> bytes:
    """Up to ``count`` bytes of ``fd``, read until its end."""
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
