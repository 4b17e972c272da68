"""The cockpit gives freed heap pages back after its first big read (glibc's malloc_trim)."""

from __future__ import annotations

import gc
import sys
import threading
import time

import psutil
import pytest

from factory_tui.adapters.memory import collect_and_freeze, release_free_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_go_back_to_the_system() -> None:
    process = psutil.Process()
    # 80 MB of 4 KB buffers (below the mmap threshold: on the heap), every 64th one kept alive,
    # as a big read leaves its long-lived records among the short-lived buffers.
    buffers = [bytearray(4096) for _ in range(20_000)]
    kept = buffers[::64]
    del buffers
    before = process.memory_info().rss
    assert release_free_memory()
    after = process.memory_info().rss
    assert before - after > 40 << 20, (before >> 20, after >> 20)
    assert len(kept) == 313


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_no_cycle_another_thread_drops_between_the_pass_and_the_freeze_is_frozen() -> None:
    """A thread that keeps dropping cycles (the app's, as it draws) runs while the first read's
    pass and freeze are made: the freeze holds nothing unreachable. After each freeze that
    thread is paused, what it dropped since is collected, and what was frozen is let out and
    collected: what that pass finds unreachable was frozen as garbage. With the two calls made
    plainly, nearly every freeze here held some of that thread's cycles."""
    unreachable: list[int] = []
    stop, pause, paused, resume = (threading.Event() for _ in range(4))

    def drop_cycles() -> None:
        while not stop.is_set():
            for _ in range(50):
                _Cycle()
            if pause.is_set():
                paused.set()
                resume.wait()
            time.sleep(0)  # as a thread that draws and writes to its terminal

    # No Python code in the passes but the product's: the garbage earlier tests left (their
    # finalizers run within a pass) collected first, and the collector's callbacks (hypothesis
    # adds one to the process) set aside. Either can hand the interpreter over within a pass
    # under load; the cockpit's process has neither at its first read's freeze.
    gc.collect()
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()
    thread = threading.Thread(target=drop_cycles)
    thread.start()
    interval = sys.getswitchinterval()
    try:
        for _ in range(50):
            collect_and_freeze()
            resume.clear()
            pause.set()
            assert paused.wait(10)
            pause.clear()
            paused.clear()
            gc.collect()  # what was dropped after the freeze: not frozen
            gc.unfreeze()
            gc.set_debug(gc.DEBUG_SAVEALL)  # what is unreachable now is kept in gc.garbage
            try:
                unreachable.append(gc.collect())
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
            resume.set()
    finally:
        stop.set()
        resume.set()
        thread.join()
        gc.callbacks[:] = callbacks
    assert unreachable == [0] * 50
    assert sys.getswitchinterval() == interval
