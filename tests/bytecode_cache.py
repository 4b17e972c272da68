"""Compiled modules cached outside the source tree when the environment says not to write them
next to the sources (``PYTHONDONTWRITEBYTECODE``).

Without a cache, every xdist worker, and every ``python -m factory_tui`` or cockpit child that the
tests start, compiles each module it imports again: about a tenth of the suite's CPU time. The
cache goes to a folder of its own (``sys.pycache_prefix``), so the tree stays as clean as the
environment asked; Python checks each cached file against its source's size and time, so a stale
one is never used. Imported by ``conftest.py`` before anything of ``factory_tui``: the modules
imported from then on, and the Python processes started from then on, use the cache.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path


def cache_bytecode() -> None:
    """Write and read compiled modules in a per-user folder of the temp directory, in this
    process and the processes it starts; nothing to do when Python already writes them (or the
    user chose a folder)."""
    if not sys.dont_write_bytecode or sys.pycache_prefix:
        return
    folder = Path(tempfile.gettempdir()) / f"factory-tui-tests-pycache-{os.getuid()}"
    if not _private(folder):
        return  # compiled code from a folder someone else could write to would run as ours
    prefix = str(folder)
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _private(folder: Path) -> bool:
    """``folder`` exists (made here if not), is a real folder of this user's and nobody else
    can write to it."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


cache_bytecode()
