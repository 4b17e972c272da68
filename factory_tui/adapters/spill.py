"""Files that keep a fold's packed old sessions out of memory (issue 17), and the unlinked files
they are made of.

A long cold read packs its ended sessions as it goes (:mod:`factory_tui.core.fold_packed`):
~20 bytes a session, yet ~30 MB at 10x across the split read's two processes, held to the end.
A :class:`SpillFile` takes each chunk as it is packed and gives its blobs back when a walk asks
for them (a save, the spend's attribution, an old session looked at). It is a file with no name
(gone with its last descriptor, however the process ends), in the user's cache folder, where
its pages are the system's to drop, or else in the temp folder. A chunk it cannot take (a full
disk) stays in memory; once one is refused, the file takes no more.

A split read's child folds into a spill file this process made before it forked (its answer's
file, see :class:`~factory_tui.adapters.split_read.ForkedChild`): the chunks in its answer name
that file (its token, when pickled), which this process holds, and keeps while its fold refers
to them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO

__all__ = ["SpillFile", "spill_file", "unlinked_file"]

_POSITIONED = hasattr(os, "pwrite") and hasattr(os, "pread")
"""Whether files are written and read at given offsets here (not on Windows: nothing spilled)."""
_OPEN: weakref.WeakValueDictionary[str, SpillFile] = weakref.WeakValueDictionary()
"""This process's spill files by token, while something holds them."""


def unlinked_file(folder: Path | None) -> BinaryIO | None:
    """A new file with no name, in ``folder`` (made if need be) or else the temp folder; None
    when neither can hold one."""
    for where in (folder, None):
        with contextlib.suppress(OSError):
            if where is not None:
                where.mkdir(parents=True, exist_ok=True)
            return tempfile.TemporaryFile(dir=where)
    return None


class SpillFile:
    """Bytes kept in an unlinked file, each put at the end and read back where it was put
    (:class:`~factory_tui.core.fold_packed.ChunkStore`). Made when first written to (in
    ``folder``, see :func:`unlinked_file`), unless given ``file``. Written and read at given
    offsets (``pwrite``, ``pread``): a forked child that shares the descriptor moves no offset
    of this process's."""

    __slots__ = ("__weakref__", "_folder", "_refused", "end", "file", "token")

    def __init__(self, folder: Path | None = None, file: BinaryIO | None = None) -> None:
        self._folder = folder
        self.file = file
        self.end = 0
        """Where the next bytes go."""
        self._refused = False
        self.token = secrets.token_hex(8)
        _OPEN[self.token] = self

    @classmethod
    def made(cls, folder: Path | None) -> SpillFile | None:
        """One whose file is made now (None when it cannot be): for a child that writes to it
        while this process reads it."""
        file = unlinked_file(folder)
        return None if file is None else cls(file=file)

    def put(self, data: bytes) -> int | None:
        """Keep ``data``; its offset, or None when it cannot be kept (then never again)."""
        if self._refused or not _POSITIONED:
            return None
        try:
            if self.file is None:
                self.file = unlinked_file(self._folder)
                if self.file is None:
                    raise OSError("no folder can hold a spill file")
            fd, at, view = self.file.fileno(), self.end, memoryview(data)
            while view:
                written = os.pwrite(fd, view, at)
                view, at = view[written:], at + written
        except OSError:
            self._refused = True  # (what was written past ``end`` is never read)
            return None
        at, self.end = self.end, self.end + len(data)
        return at

    def get(self, at: int, size: int) -> bytes:
        """The ``size`` bytes put at ``at`` (fewer only if the file was cut: the caller checks)."""
        if self.file is None:
            raise OSError("nothing was spilled")
        return os.pread(self.file.fileno(), size, at)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        """Pickled as its token: the process that made it reads it back as itself."""
        return spill_file, (self.token,)


def spill_file(token: str) -> SpillFile:
    """The spill file of this process with ``token`` (an answer's chunks, unpickled); raises
    ``ValueError`` when there is none (the answer then is no answer)."""
    found = _OPEN.get(token)
    if found is None:
        raise ValueError("a spill file this process does not hold")
    return found
