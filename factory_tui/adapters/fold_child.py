"""The tail of a long log's cold fold, folded by a child process while the parent folds the head
(see :mod:`factory_tui.core.fold_split`; started by
:class:`~factory_tui.adapters.factory_logs.FactoryLogs`).

    python -m factory_tui.adapters.fold_child JOB

``JOB`` is JSON: ``{"seed": [[fd, size, source], ...], "tail": [fd, start, end, source],
"parent": pid}``:
descriptors the parent opened and passed (the files it reads, whatever happens to their names
meanwhile); the seed parts are read from byte 0 (the head's files, whole lines), the tail from
``start`` (a line's start) to ``end`` (a line's end). The answer, on standard output, is the
pickle of ``(seed, fold, next_line)``: the sessions open at ``start``, the fold of the tail from
them, and the number of the line after the last read. Anything else exits non-zero, saying why on
standard error: the parent then folds the tail itself. A child whose parent died (killed)
stops at its next megabyte.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Iterator
from typing import Any

from factory_tui.core.fold_packed import ChunkStore
from factory_tui.core.fold_split import OpenSeed, seeded_fold

__all__ = ["READ_BYTES", "main", "whole_lines"]

READ_BYTES = 1 << 20
"""Read this much at a time (cut at the last line end)."""


def whole_lines(fd: int, start: int, end: int, chunk: int = READ_BYTES) -> Iterator[bytes]:
    """The bytes ``[start, end)`` of ``fd`` (whole lines, each ending ``\\n``), a chunk of
    whole lines at a time; a line longer than ``chunk`` comes whole all the same."""
    pos, partial = start, b""
    while pos < end:
        data = os.pread(fd, min(chunk, end - pos), pos)
        if not data:
            raise OSError(f"the file ended at byte {pos}, before {end}")
        pos += len(data)
        cut = data.rfind(b"\n") + 1
        if not cut:
            partial += data
            continue
        yield partial + data[:cut]
        partial = data[cut:]
    if partial:
        yield partial  # the end given was not a line's end: the last line as it is


def fold_tail(job: dict[str, Any], store: ChunkStore | None = None) -> tuple[object, object, int]:
    """The seed from the job's seed parts (the last one: the split file's head), then the
    tail's fold from it (its packed sessions kept by ``store``, if given). Stops (``OSError``)
    once its parent is gone: no one waits for it."""
    parent = int(job.get("parent", os.getppid()))
    seed = OpenSeed()
    line = 1
    for fd, size, source in job["seed"]:
        line = 1
        for block in whole_lines(int(fd), 0, int(size)):
            _check_parent(parent)
            line = seed.feed_bytes(block, str(source), line)
    fd, start, end, source = job["tail"]
    fd, start, end, source = int(fd), int(start), int(end), str(source)
    opened = seed.open  # made anew at each look: once, and the answer's strings are shared
    fold = seeded_fold(opened)
    fold.sessions.store = store
    for block in whole_lines(fd, start, end):
        _check_parent(parent)
        data = block[:-1] if block.endswith(b"\n") else block
        fold.feed_block(data, source, line)
        line += data.count(b"\n") + 1
    fold.pack_rest()
    return opened, fold, line


def _check_parent(parent: int) -> None:
    if os.getppid() != parent:
        raise OSError(f"the parent process {parent} is gone")


def main(argv: list[str]) -> int:
    import gc

    gc.disable()  # a process that only builds what it returns
    try:
        job = json.loads(argv[1])
        answer = fold_tail(job)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        print(f"fold_child: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    # Written as it is made: the answer is never held twice (~40 MB at 10x).
    pickle.dump(answer, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # No teardown: the parent waits for the pipe's end, and freeing the fold object by object
    # (the interpreter's exit) cost ~0.1 s of the scale factory's cold read.
    os._exit(code)
