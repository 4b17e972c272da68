"""The cockpit gives freed heap pages back after its first big read (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import psutil
import pytest

from factory_tui.adapters.memory import release_free_memory


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
