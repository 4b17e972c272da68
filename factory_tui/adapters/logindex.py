"""A byte-offset index over ``operations.log.1`` + ``operations.log``, read on demand.

The operations log can hold millions of lines. A viewer must not keep them as strings (nor as
widgets): :class:`LogIndex` keeps, per file, where every 32nd line starts (4 bytes each; 8 past
4 GiB) and how many lines there are, an open descriptor, and reads the lines it is asked for with
``os.pread`` (a line inside a run of 32 found in the bytes from its run's start). The two files
form ONE logical sequence: the history file's lines first, then the current file's.

Indexing is incremental: :meth:`LogIndex.update` indexes what was appended since the last call.
Only complete lines (ending in ``\\n``) are indexed; a line still being written waits for its
newline. When a file is truncated, rewritten or replaced (rotation: FORMATS.md moves the oldest
lines to ``operations.log.1`` and rewrites ``operations.log``) it is indexed again from its start.

Logical line numbers stay valid across appends. :attr:`LogIndex.generation` increases whenever an
update may have changed which line a logical number names (a file rewritten, lines inserted into
the history while the current file had lines); a reader holding logical numbers (a filter result,
a search position) must drop them then. A rotation that only moved lines from the current file to
the end of the history keeps the sequence, and the generation, unchanged: the moved bytes are
checked against a CRC of the current file's old content, so following a busy log does not cost a
full re-filter at every rotation.

Changes that are not plain appends are built privately and published at once, so a reader on
another thread sees the index either before or after an update, never half-way. The index is safe
to read from several threads; updates must come from one thread at a time (they serialise on a
lock).

The viewer's filter (:class:`FilterSpec`) is in ``logfilter``; one file's offsets, the scan of
appended bytes and the CRC are in ``logindex_files``. An instance filter also matches the lines of
tasks whose ``SESSION-START`` named that instance, from a task map made when first asked for
(the first instance filter: the cockpit's first load does not wait for it) and kept while
indexing from then on.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from factory_tui.adapters.logfilter import FilterSpec, Predicate, same_instance
from factory_tui.adapters.logindex_files import (
    Chunk,
    Ends,
    FileIndex,
    LineStarts,
    apply_chunk,
    close_fd,
    crc_of,
    scan_lines,
    session_pairs,
)
from factory_tui.config.regular_files import open_regular

__all__ = [
    "FilterCancelled",
    "IndexProgress",
    "LogIndex",
]

_BLOCK_LINES = 128
_CACHE_BLOCKS = 64
_SCAN_LINES = 8192
_PROGRESS_SECONDS = 0.05


class FilterCancelled(Exception):
    """:meth:`LogIndex.build_filtered` or :meth:`LogIndex.search` stopped because it was asked
    to."""


class IndexProgress(NamedTuple):
    """Where an update stands: lines now in the index, bytes read of the bytes to read."""

    lines: int
    bytes_done: int
    bytes_total: int


def _as_cancel_check(cancel: Callable[[], bool] | threading.Event | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


class _Plan(NamedTuple):
    target: FileIndex
    """The file object to index into: the live one (append), or a fresh one (reset/new)."""
    start: int
    size: int
    reset: bool
    """Lines indexed before are no longer valid."""


class LogIndex:
    """``history`` (``operations.log.1``) then ``current`` (``operations.log``) as one sequence
    of lines; see the module docstring. Either file may be missing."""

    def __init__(self, history: Path, current: Path) -> None:
        self._lock = threading.RLock()
        self._update_lock = threading.Lock()
        self._epochs = 0
        self._hist = self._new_file(Path(history))
        self._cur = self._new_file(Path(current))
        self._generation = 0
        self._instance_tasks: dict[str, set[str]] = {}
        self._map_lock = threading.Lock()
        self._map_as_indexed = False
        """The task map was asked for: the updates keep it (before, nothing looks for it)."""
        self._names: dict[str, str] = {}
        self._blocks: OrderedDict[tuple[int, int], list[str]] = OrderedDict()
        self._closed = False
        self.last_error: str | None = None
        """Why the last update or read failed (naming the file), or None."""

    # --- state -----------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Increases when logical line numbers handed out before may name other lines now."""
        return self._generation

    @property
    def paths(self) -> tuple[Path, Path]:
        return self._hist.path, self._cur.path

    @property
    def offsets(self) -> tuple[list[int], int]:
        """operations.log's line offsets (read from the file: the index keeps one line's in
        ``STRIDE``) and the bytes each kept one takes (4 while the file is under 4 GiB, then
        8)."""
        with self._lock:
            return self._cur.starts(), self._cur.offsets.itemsize

    def __len__(self) -> int:
        with self._lock:
            return len(self._hist.offsets) + len(self._cur.offsets)

    def tasks_of(self, instance: str) -> frozenset[str]:
        """Tasks whose SESSION-START named ``instance`` (or an id of which it is the ``t<N>``
        form)."""
        self._map_sessions()
        with self._lock:
            tasks: set[str] = set()
            for name, owned in self._instance_tasks.items():
                if same_instance(name, instance):
                    tasks |= owned
            return frozenset(tasks)

    def predicate(self, spec: FilterSpec) -> Predicate:
        """``spec`` as a predicate, with the instance's tasks as known now."""
        tasks = self.tasks_of(spec.instance) if spec.instance else frozenset()
        return spec.matcher(tasks)

    def close(self) -> None:
        """Close the descriptors; the index reads as empty afterwards."""
        with self._update_lock, self._lock:
            self._closed = True
            for f in (self._hist, self._cur):
                close_fd(f.fd)
            self._hist = self._new_file(self._hist.path)
            self._cur = self._new_file(self._cur.path)
            self._blocks.clear()
            self._generation += 1

    def __enter__(self) -> LogIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- indexing ----------------------------------------------------------------------------

    def update(self) -> int:
        """Index what changed since the last update. Returns the number of lines added at the
        end of the sequence; after a change that was not an append (see :attr:`generation`) every
        line counts as new, so it returns ``len(self)``."""
        before, generation = len(self), self._generation
        for _ in self.update_in_chunks():
            pass
        if self._generation != generation:
            return len(self)
        return len(self) - before

    def update_in_chunks(self, max_bytes: int = 1 << 20) -> Iterator[IndexProgress]:
        """:meth:`update`, one chunk of about ``max_bytes`` at a time, for a progress display.

        Appended lines become visible chunk by chunk; a rewrite is published when it is complete.
        Stopping the iteration early is safe: the rest is indexed by the next update.
        """
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        with self._update_lock:
            if self._closed:
                return
            try:
                yield from self._update(max_bytes)
            except OSError as exc:
                reason = exc.strerror or str(exc) or type(exc).__name__
                where = exc.filename or "the operations log"
                self.last_error = f"cannot index {where}: {reason}; will retry on the next update"
            else:
                self.last_error = None

    def _update(self, max_bytes: int) -> Iterator[IndexProgress]:
        hist, cur = self._hist, self._cur
        hist_plan = self._plan(hist)
        try:
            cur_plan = self._plan(cur)
        except OSError:
            if hist_plan.target.fd not in (hist.fd, cur.fd):
                close_fd(hist_plan.target.fd)
            raise
        total = sum(p.size - p.start for p in (hist_plan, cur_plan))
        history_grows = hist_plan.size > hist_plan.start
        if not (hist_plan.reset or cur_plan.reset) and not (history_grows and cur.offsets):
            yield from self._index_live(hist_plan, cur_plan, max_bytes, total)
            return
        # Not a plain append: build the new state privately and publish it at once.
        hist_new = hist_plan.target if hist_plan.target is not hist else hist.copy()
        cur_new = cur_plan.target if cur_plan.target is not cur else cur.copy()
        sessions: list[tuple[str, str]] = []
        published = False
        try:
            done = 0
            for plan, target in ((hist_plan, hist_new), (cur_plan, cur_new)):
                if target.fd is None:
                    continue
                for chunk in self._scan(target, plan, max_bytes):
                    apply_chunk(target, chunk)
                    sessions.extend(chunk.sessions or ())
                    done += chunk.end - chunk.offsets[0]
                    lines = len(hist_new.offsets) + len(cur_new.offsets)
                    yield IndexProgress(lines, min(done, total), total)
            keeps_order = self._keeps_order(hist, cur, hist_plan, cur_plan, hist_new, cur_new)
            with self._lock:
                for old, new in ((hist, hist_new), (cur, cur_new)):
                    if old.fd is not None and old.fd != new.fd:
                        close_fd(old.fd)
                self._hist, self._cur = hist_new, cur_new
                self._add_sessions(sessions)
                if not keeps_order:
                    self._generation += 1
            published = True
        finally:
            if not published:
                for target in (hist_new, cur_new):
                    if target.fd not in (hist.fd, cur.fd):
                        close_fd(target.fd)

    def _index_live(
        self, hist_plan: _Plan, cur_plan: _Plan, max_bytes: int, total: int
    ) -> Iterator[IndexProgress]:
        """Plain appends (or a file seen for the first time): publish chunk by chunk."""
        with self._lock:  # a file opened for the first time becomes live now, still empty
            self._hist, self._cur = hist_plan.target, cur_plan.target
        done = 0
        for plan in (hist_plan, cur_plan):
            target = plan.target
            if target.fd is None:
                continue
            for chunk in self._scan(target, plan, max_bytes):
                with self._lock:
                    apply_chunk(target, chunk)
                    self._add_sessions(chunk.sessions or ())
                done += chunk.end - chunk.offsets[0]
                yield IndexProgress(len(self), min(done, total), total)

    def _scan(self, target: FileIndex, plan: _Plan, max_bytes: int) -> Iterator[Chunk]:
        """The chunks of ``plan``'s bytes of ``target`` (their sessions once they are mapped)."""
        assert target.fd is not None
        return scan_lines(
            target.fd,
            plan.start,
            plan.size,
            max_bytes,
            target.crc,
            target.anchor,
            target.ends,
            sessions=self._map_as_indexed,
        )

    def _plan(self, f: FileIndex) -> _Plan:
        """What to do with one file: append from where we were, or start again."""
        try:
            st: os.stat_result | None = os.stat(f.path)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(f.path))
        had_lines = f.end > 0
        if f.fd is not None:
            fst = os.fstat(f.fd)
            if st is not None and (st.st_ino, st.st_dev) == (fst.st_ino, fst.st_dev):
                if fst.st_size >= f.end and self._anchor_holds(f):
                    return _Plan(f, f.end, fst.st_size, reset=False)
                fresh = self._new_file(f.path)  # rewritten in place: same descriptor, from 0
                fresh.fd = f.fd
                return _Plan(fresh, 0, fst.st_size, reset=had_lines)
        if st is None:
            if f.fd is None:
                return _Plan(f, 0, 0, reset=False)
            return _Plan(self._new_file(f.path), 0, 0, reset=had_lines or f.fd is not None)
        fresh, size = self._open(f.path)
        return _Plan(fresh, 0, size, reset=had_lines or f.fd is not None)

    def _anchor_holds(self, f: FileIndex) -> bool:
        anchor = f.anchor
        if not anchor or f.fd is None:
            return True
        return os.pread(f.fd, len(anchor), f.end - len(anchor)) == anchor

    def _keeps_order(
        self,
        hist: FileIndex,
        cur: FileIndex,
        hist_plan: _Plan,
        cur_plan: _Plan,
        hist_new: FileIndex,
        cur_new: FileIndex,
    ) -> bool:
        """Whether every line of the old sequence keeps its logical number in the new one."""
        if hist_plan.reset and hist.end > 0:
            return False
        old_current_lines = len(cur.offsets)
        if old_current_lines == 0:
            return True  # the history grew at the end of the sequence
        if not cur_plan.reset:
            # Lines were added to the history before the current file's lines: an insertion.
            return len(hist_new.offsets) == len(hist.offsets)
        # The current file was rewritten. Order is kept when its old content is exactly the lines
        # moved to the history's end followed by the start of the new current file.
        moved_bytes = hist_new.end - hist.end
        moved_lines = len(hist_new.offsets) - len(hist.offsets)
        need = cur.end - moved_bytes
        if moved_bytes < 0 or need < 0 or need > cur_new.end:
            return False
        try:
            kept = cur_new.line_at(need)  # (its run's lines read from the file)
        except OSError:
            return False  # cut since it was scanned: no order shown kept
        if kept is None:
            return False
        if moved_lines + kept != old_current_lines:
            return False
        crc = 0
        if moved_bytes and hist_new.fd is not None:
            crc = crc_of(hist_new.fd, hist.end, hist_new.end, crc)
        if need and cur_new.fd is not None:
            crc = crc_of(cur_new.fd, 0, need, crc)
        return crc == cur.crc

    def _new_file(self, path: Path) -> FileIndex:
        self._epochs += 1
        return FileIndex(path, self._epochs)

    def _open(self, path: Path) -> tuple[FileIndex, int]:
        """A fresh index of the file now at ``path``, with its descriptor, and its size (a FIFO
        put there since it was looked at is refused, never waited on)."""
        f = self._new_file(path)
        fd = open_regular(path)
        f.fd = fd
        return f, os.fstat(fd).st_size

    def files(self) -> tuple[FileIndex, FileIndex]:
        """The rotated log's and the log's indexes now (copies): what a warm start keeps."""
        with self._lock:
            return self._hist.copy(), self._cur.copy()

    def start_from(
        self, parts: Sequence[tuple[int, LineStarts, int, int, bytes, Ends] | None]
    ) -> bool:
        """Before the first update: each file's index from ``parts`` (a descriptor of the file
        at its path, offsets, end, CRC, anchor, ends: checked by :mod:`.logindex_cache`)."""
        with self._update_lock, self._lock:
            if self._closed or self._hist.fd is not None or self._cur.fd is not None:
                return False
            made = []
            for f, part in zip((self._hist, self._cur), parts, strict=True):
                if part is not None:
                    f = self._new_file(f.path)
                    f.fd, f.offsets, f.end, f.crc, f.anchor, f.ends = part
                made.append(f)
            self._hist, self._cur = made
            return True

    def _map_sessions(self) -> None:
        """Map the ``SESSION-START`` lines indexed but not mapped yet: the first call maps the
        whole log (~0.3 s a million lines, a third of the build); the updates map from then on."""
        with self._map_lock:
            with self._lock:
                self._map_as_indexed = True
                todo = [
                    (f, os.dup(f.fd), f.mapped, f.end)
                    for f in (self._hist, self._cur)
                    if f.fd is not None and f.mapped < f.end
                ]
            for f, fd, start, end in todo:
                try:
                    pairs = session_pairs(fd, start, end)
                except OSError:
                    continue  # mapped by the next call
                finally:
                    close_fd(fd)
                with self._lock:
                    self._add_sessions(pairs)
                    f.mapped = max(f.mapped, end)

    def _add_sessions(self, sessions: Iterable[tuple[str, str]]) -> None:
        names = self._names  # one copy of a task's name however many chunks and agents name it
        for task, instance in sessions:
            self._instance_tasks.setdefault(instance, set()).add(names.setdefault(task, task))

    # --- reading -----------------------------------------------------------------------------

    def source(self, i: int) -> tuple[str, int]:
        """The file name and 1-based line number in that file of logical line ``i``."""
        with self._lock:
            f, k = self._locate(i)
            return f.name, k + 1

    def line(self, i: int) -> str:
        """Logical line ``i`` (negative counts from the end), decoded, without its line ending.
        Reads a small block around it and keeps the last blocks read."""
        with self._lock:
            f, k = self._locate(i)
            block = k // _BLOCK_LINES
            key = (f.epoch, block)
            first = block * _BLOCK_LINES
            cached = self._blocks.get(key)
            if cached is not None and k - first < len(cached):
                self._blocks.move_to_end(key)
                return cached[k - first]
            lines = self._read(f, first, min(first + _BLOCK_LINES, len(f.offsets)))
            self._blocks[key] = lines
            if len(self._blocks) > _CACHE_BLOCKS:
                self._blocks.popitem(last=False)
            return lines[k - first]

    def lines(self, start: int, stop: int) -> list[str]:
        """Logical lines [start, stop), clipped to the index like a slice of non-negative
        bounds."""
        with self._lock:
            h = len(self._hist.offsets)
            n = h + len(self._cur.offsets)
            start, stop = max(0, min(start, n)), max(0, min(stop, n))
            if start >= stop:
                return []
            out: list[str] = []
            if start < h:
                out.extend(self._read(self._hist, start, min(stop, h)))
            if stop > h:
                out.extend(self._read(self._cur, max(start - h, 0), stop - h))
            return out

    def _locate(self, i: int) -> tuple[FileIndex, int]:
        h = len(self._hist.offsets)
        n = h + len(self._cur.offsets)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"log line {i} out of range (the index holds {n} lines)")
        return (self._hist, i) if i < h else (self._cur, i - h)

    def _read(self, f: FileIndex, first: int, stop: int) -> list[str]:
        count = stop - first
        try:
            if f.fd is None:
                raise OSError(0, "file closed")
            start, end = f.span(first, stop)  # (lines of a run read from the file)
            data = os.pread(f.fd, end - start, start)
        except OSError as exc:
            self.last_error = f"cannot read {f.path}: {exc.strerror or exc}"
            return [""] * count
        text = data.decode("utf-8", "replace")
        parts = text.split("\n")
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) != count:  # the file changed under us; the next update re-indexes it
            parts = (parts + [""] * count)[:count]
        if "\r" in text:
            parts = [p.rstrip("\r") for p in parts]
        return parts

    # --- filtering and search ----------------------------------------------------------------

    def _as_predicate(self, query: FilterSpec | Predicate) -> Predicate:
        return self.predicate(query) if isinstance(query, FilterSpec) else query

    def build_filtered(
        self,
        query: FilterSpec | Predicate,
        progress_cb: Callable[[int, int], None] | None = None,
        *,
        start: int = 0,
        stop: int | None = None,
        cancel: Callable[[], bool] | threading.Event | None = None,
    ) -> array[int]:
        """Logical numbers of the lines in [start, stop) that match, ascending.

        Works in slices of a few thousand lines: after each it checks ``cancel`` (raising
        :class:`FilterCancelled`), yields the GIL, and about every 50 ms reports
        ``progress_cb(lines_done, lines_total)``. Meant for a thread worker.
        """
        match = self._as_predicate(query)
        cancelled = _as_cancel_check(cancel)
        n = len(self)
        stop = n if stop is None else min(stop, n)
        start = max(start, 0)
        total = max(stop - start, 0)
        out: array[int] = array("Q")
        last_report = time.monotonic()
        i = start
        while i < stop:
            j = min(i + _SCAN_LINES, stop)
            base = i
            out.extend(base + k for k, line in enumerate(self.lines(i, j)) if match(line))
            i = j
            if cancelled():
                raise FilterCancelled(f"filter stopped at line {i} of {stop}")
            time.sleep(0)  # let the UI thread run between slices
            if progress_cb is not None and time.monotonic() - last_report >= _PROGRESS_SECONDS:
                progress_cb(i - start, total)
                last_report = time.monotonic()
        if progress_cb is not None:
            progress_cb(total, total)
        return out

    def search(
        self,
        query: FilterSpec | Predicate,
        start: int,
        direction: int = 1,
        *,
        among: Sequence[int] | None = None,
        stop: int | None = None,
        cancel: Callable[[], bool] | threading.Event | None = None,
    ) -> int | None:
        """The logical number of the first matching line at or after ``start`` (``direction``
        > 0) or at or before it (< 0); None when there is none. No wrap-around.

        ``among``: only these logical numbers (ascending, e.g. a filter result) are candidates;
        ``stop``: only lines before it (the lines a viewer shows). Checks ``cancel`` every few
        thousand lines, raising :class:`FilterCancelled`."""
        match = self._as_predicate(query)
        cancelled = _as_cancel_check(cancel)
        forward = direction > 0
        n = len(self) if stop is None else min(stop, len(self))
        if among is not None:
            return self._search_among(match, start, forward, among, n, cancelled)
        if forward:
            i = max(start, 0)
            while i < n:
                j = min(i + _SCAN_LINES, n)
                for k, line in enumerate(self.lines(i, j)):
                    if match(line):
                        return i + k
                i = j
                if cancelled():
                    raise FilterCancelled(f"search stopped at line {i}")
                time.sleep(0)
            return None
        i = min(start, n - 1)
        while i >= 0:
            j = max(i - _SCAN_LINES + 1, 0)
            chunk = self.lines(j, i + 1)
            for k in range(len(chunk) - 1, -1, -1):
                if match(chunk[k]):
                    return j + k
            i = j - 1
            if cancelled():
                raise FilterCancelled(f"search stopped at line {j}")
            time.sleep(0)
        return None

    def _search_among(
        self,
        match: Predicate,
        start: int,
        forward: bool,
        among: Sequence[int],
        n: int,
        cancelled: Callable[[], bool],
    ) -> int | None:
        if forward:
            positions: Iterator[int] = iter(range(bisect.bisect_left(among, start), len(among)))
        else:
            positions = iter(range(bisect.bisect_right(among, start) - 1, -1, -1))
        for count, p in enumerate(positions, 1):
            logical = among[p]
            if logical >= n:
                if forward:
                    break
                continue
            if match(self.line(logical)):
                return logical
            if count % _SCAN_LINES == 0:
                if cancelled():
                    raise FilterCancelled(f"search stopped at line {logical}")
                time.sleep(0)
        return None
