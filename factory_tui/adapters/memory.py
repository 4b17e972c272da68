"""Memory around the cockpit's big reads: the cyclic collector paused while long-lived records
are made, and freed memory given back to the system after the first read.

Reading a million-line log makes and drops many short-lived buffers next to the long-lived
records; glibc keeps the freed heap pages in the process (about 20 MB on the scale factory).
``malloc_trim(0)`` returns them. A no-op where the C library has no such call (macOS, musl).
"""

from __future__ import annotations

import contextlib
import gc
import operator
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

__all__ = ["collect_and_freeze", "gc_paused", "release_free_memory"]

#: How long another thread waits for the interpreter while :func:`collect_and_freeze` runs,
#: before it asks for its turn: longer than a full pass over the cockpit's heap (~0.1 s with
#: 10,000 claims). The pass gives the interpreter back once it is done.
FREEZE_HOLD_S = 1.0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off while a big read runs (restored after, if it was on). Reading a
    big log or the transcripts creates many long-lived objects; the collector would rescan them
    again and again (about 1.6x the time on the log) while finding nothing to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect_and_freeze() -> None:
    """A full pass of the cyclic collector, then what is left frozen out of its passes, with no
    other thread run in between: a cycle another thread drops after the pass and before the
    freeze would be frozen, never freed (the app's thread drops its strips as it draws).

    Python hands the interpreter to another thread only between two bytecodes. The two calls
    are made one after the other by ``map``, in C: no bytecode runs between the pass's end and
    the freeze. (Within the pass, finalizers run Python code; the switch interval is raised
    meanwhile, so that another thread rarely gets its turn there, and the interpreter given up
    once before, so that a thread already waiting waits again under the long interval, and
    once after, so that none waits it out. A thread that has waited the whole second still
    gets its turn in Python code the pass runs: the finalizers of its garbage and the
    collector's callbacks, if any; what it drops then may be frozen. Rare, and bounded: this
    runs once, after the first read.)"""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(FREEZE_HOLD_S)
    try:
        time.sleep(0)
        calls: tuple[Callable[[], object], ...] = (gc.collect, gc.freeze)
        deque(map(operator.call, calls), maxlen=0)
    finally:
        sys.setswitchinterval(interval)
        time.sleep(0)


@cache
def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes.util  # here: status pauses the collector only, and ctypes costs ~5 ms

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
