"""Give freed memory back to the system after the cockpit's first big read.

Reading a million-line log makes and drops many short-lived buffers next to the long-lived
records; glibc keeps the freed heap pages in the process (about 20 MB on the scale factory).
``malloc_trim(0)`` returns them. A no-op where the C library has no such call (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

__all__ = ["release_free_memory"]


@cache
def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; True if the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
