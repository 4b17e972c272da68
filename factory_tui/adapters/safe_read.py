"""Read a factory file whole, whatever is at its path.

Agents (and accidents) can leave anything where a claim, a checkpoint or plan.md should be: a
FIFO (``open()`` would wait for a writer forever), a link to ``/dev/zero`` (a read never ends), a
dangling link, a file of gigabytes. :func:`read_factory_file` refuses all of them with a
:class:`Problem` saying what it found, and never blocks: the path is checked (following links: a
claims folder or a claim file linked from a worktree is legitimate), opened non-blocking, checked
again on the open descriptor (the path may have been swapped in between), and read up to the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from factory_tui.config.regular_files import OPEN_FLAGS, read_at_most
from factory_tui.core.problems import Problem

__all__ = ["LIMIT_SETTING", "read_factory_file", "read_factory_file_stat"]

LIMIT_SETTING = "max_file_bytes"


def read_factory_file(path: Path, limit: int) -> bytes | Problem | None:
    """The bytes of the regular file at ``path`` (at most ``limit`` of them).

    ``None`` when nothing is there; a :class:`Problem` naming ``path`` when something is there but
    is not to be read: not a regular file (FIFO, socket, device, directory), a dangling symlink,
    bigger than ``limit``, or unreadable.
    """
    return read_factory_file_stat(path, limit)[0]


def read_factory_file_stat(
    path: Path, limit: int
) -> tuple[bytes | Problem | None, os.stat_result | None]:
    """:func:`read_factory_file`, and the stat of the file the bytes were read from, taken from
    its descriptor before the read (None when none were): what a value made of the bytes is to
    be kept under. The path's own stat, taken before, may be of another file by the read (a
    symlink re-pointed meanwhile)."""
    label = str(path)
    try:
        refused = _refusal(label, os.stat(path), limit)
    except FileNotFoundError:
        return _dangling(path), None
    except OSError as error:
        return Problem(label, f"cannot stat: {error.strerror}"), None
    if refused is not None:
        return refused, None
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return _dangling(path), None
    except OSError as error:
        return Problem(label, f"cannot read: {error.strerror}"), None
    try:
        st = os.fstat(fd)
        refused = _refusal(label, st, limit)
        if refused is not None:
            return refused, None
        data = read_at_most(fd, limit + 1)
    except OSError as error:
        return Problem(label, f"cannot read: {error.strerror}"), None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after the fstat
        return Problem(label, _too_big(f"over {limit:,} bytes", limit)), None
    return data, st


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for a message; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refusal(label: str, st: os.stat_result, limit: int) -> Problem | None:
    kind = _kind(st.st_mode)
    if kind is not None:
        return Problem(label, f"{kind}, not a file: not read")
    if st.st_size > limit:
        return Problem(label, _too_big(f"{st.st_size:,} bytes", limit))
    return None


def _too_big(size: str, limit: int) -> str:
    return f"{size}: over the {limit:,}-byte limit (setting {LIMIT_SETTING}): not read"


def _dangling(path: Path) -> Problem | None:
    """A problem when ``path`` is a symlink to nothing; None when nothing is there at all."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return Problem(str(path), f"a symlink to {target}, which does not exist")
