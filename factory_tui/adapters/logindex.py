"""A byte-offset index over ``operations.log.1`` + ``operations.log``, read on demand.

The operations log can hold a million lines. A viewer must not keep them as strings (nor as
widgets): :class:`LogIndex` keeps one 8-byte offset per line (``array('Q')``), an open descriptor
per file, and reads the lines it is asked for with ``os.pread``. The two files form ONE logical
sequence: the history file's lines first, then the current file's.

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

:class:`FilterSpec` is the viewer's filter (instance / task / event / free text); an instance
filter also matches the lines of tasks whose ``SESSION-START`` named that instance, from a small
task map kept while indexing.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import os
import re
import stat
import threading
import time
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from factory_tui.core.oplog import Event, parse_fields, parse_line

__all__ = [
    "FilterCancelled",
    "FilterSpec",
    "IndexProgress",
    "LogIndex",
    "Predicate",
]

Predicate = Callable[[str], bool]
"""Decides whether one line (decoded, without its line ending) is wanted."""

_NEWLINE = re.compile(b"\n")
# A SESSION-START line: timestamp (no "|"), the event between bars, then its key=value text.
_SESSION_START = re.compile(rb"\|[ \t]*SESSION-START[ \t]*\|([^\n]*)")
_TASK_INSTANCE = re.compile(rb"(?:^|\s)(task|instance)=(\S*)")
_ANCHOR_BYTES = 64
_BLOCK_LINES = 128
_CACHE_BLOCKS = 64
_SCAN_LINES = 8192
_PROGRESS_SECONDS = 0.05
_FILTER_KEYS = ("instance", "task", "event", "text")


class FilterCancelled(Exception):
    """:meth:`LogIndex.build_filtered` or :meth:`LogIndex.search` stopped because it was asked
    to."""


class IndexProgress(NamedTuple):
    """Where an update stands: lines now in the index, bytes read of the bytes to read."""

    lines: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """Which lines to show. Every criterion given must hold (AND); None means any.

    - ``text``: case-insensitive substring of the raw line (matches unparseable lines too);
    - ``event``: the event name, case-insensitive; a trailing ``*`` makes it a prefix
      (``STEP-*``);
    - ``task``: the ``task`` field, case-insensitive;
    - ``instance``: the ``instance`` field (``t48217`` also matches ``t48217-a3f2``), OR the line's
      task is one whose ``SESSION-START`` named that instance (pass those tasks to
      :meth:`matcher`; :meth:`LogIndex.predicate` does).

    A line that does not parse as an event matches only a text-only spec.
    """

    instance: str | None = None
    task: str | None = None
    event: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, query: str) -> FilterSpec | None:
        """``instance:t1 task:CAB-1 event:ERROR free words`` (``key=value`` works too).

        Words without a known key make up the free text. None when the query is blank.
        """
        values: dict[str, str] = {}
        words: list[str] = []
        for token in query.split():
            key, value = _split_token(token)
            if key is not None and value:
                if key == "text":
                    words.append(value)
                else:
                    values[key] = value
            else:
                words.append(token)
        if words:
            values["text"] = " ".join(words)
        if not values:
            return None
        return cls(
            instance=values.get("instance"),
            task=values.get("task"),
            event=values.get("event"),
            text=values.get("text"),
        )

    @property
    def is_empty(self) -> bool:
        return not (self.instance or self.task or self.event or self.text)

    def describe(self) -> str:
        """The spec in the query syntax :meth:`parse` reads."""
        parts = [
            f"{key}:{value}"
            for key in ("instance", "task", "event")
            if (value := getattr(self, key))
        ]
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    def matches(self, line: str, instance_tasks: AbstractSet[str] = frozenset()) -> bool:
        """Whether ``line`` (without its line ending) passes. For many lines use
        :meth:`matcher` once."""
        return self.matcher(instance_tasks)(line)

    def matcher(self, instance_tasks: AbstractSet[str] = frozenset()) -> Predicate:
        """A fast predicate for this spec. ``instance_tasks``: the tasks whose SESSION-START
        named :attr:`instance`.

        Cheap substring checks reject most lines first; they are necessary conditions only, the
        answer for the lines that pass them comes from :func:`~factory_tui.core.oplog.parse_line`.
        """
        text = self.text.upper() if self.text else None
        event = self.event.strip().upper() if self.event else None
        event_prefix = event is not None and event.endswith("*")
        event_needle = event.rstrip("*") if event else None
        task = self.task.upper() if self.task else None
        instance = self.instance
        tasks = frozenset(t.upper() for t in instance_tasks) if instance else frozenset()
        if not (event_needle or task or instance):
            if text is None:
                return _always
            return lambda line: text in line.upper()

        def match(line: str) -> bool:
            up = line.upper()
            if text is not None and text not in up:
                return False
            if event_needle and event_needle not in up:
                return False
            if task is not None and task not in up:
                return False
            if instance is not None and instance not in line:
                if not tasks:
                    return False
                # Plain k=v text (no quotes, no tabs): the task is one of the "task=" tokens.
                plain = '"' not in line and "'" not in line and line.isprintable()
                if plain and not any(v.upper() in tasks for v in _field_values(line, "task")):
                    return False
            parsed = parse_line(line, 0, "")
            if not isinstance(parsed, Event):
                return False
            fields = parsed.fields
            if event is not None:
                if event_prefix:
                    if not parsed.name.startswith(event[:-1]):
                        return False
                elif parsed.name != event:
                    return False
            if task is not None and fields.get("task", "").upper() != task:
                return False
            if instance is not None:
                value = fields.get("instance")
                if not (value is not None and same_instance(value, instance)) and (
                    fields.get("task", "").upper() not in tasks
                ):
                    return False
            return True

        return match


def same_instance(value: str, wanted: str) -> bool:
    """``value`` is the instance ``wanted``, or ``wanted`` is its older ``t<N>`` form."""
    return value == wanted or value.startswith(wanted + "-")


def _always(line: str) -> bool:
    return True


def _split_token(token: str) -> tuple[str | None, str]:
    for sep in (":", "="):
        key, found, value = token.partition(sep)
        if found and key.lower() in _FILTER_KEYS:
            return key.lower(), value
    return None, token


def _field_values(line: str, key: str) -> Iterator[str]:
    """Every value written as ``key=value`` in plain text (no quotes, spaces only)."""
    probe = key + "="
    at = line.find(probe)
    while at >= 0:
        if at == 0 or line[at - 1] in " |":
            start = at + len(probe)
            end = line.find(" ", start)
            yield line[start:] if end < 0 else line[start:end]
        at = line.find(probe, at + 1)


def _as_cancel_check(cancel: Callable[[], bool] | threading.Event | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


class _File:
    """The index of one file: where each complete line starts, and what was read so far."""

    __slots__ = ("anchor", "crc", "end", "epoch", "fd", "name", "offsets", "path")

    def __init__(self, path: Path, epoch: int) -> None:
        self.path = path
        self.name = path.name
        self.epoch = epoch
        self.fd: int | None = None
        self.offsets = array("Q")
        self.end = 0
        """Byte offset just past the last indexed line's newline."""
        self.crc = 0
        """CRC-32 of bytes [0, end)."""
        self.anchor = b""
        """The last bytes before ``end``: still there unless the file was rewritten."""

    def copy(self) -> _File:
        """The same file (same descriptor and epoch), to extend privately."""
        twin = _File(self.path, self.epoch)
        twin.fd = self.fd
        twin.offsets = array("Q", self.offsets)
        twin.end, twin.crc, twin.anchor = self.end, self.crc, self.anchor
        return twin

    def span(self, first: int, stop: int) -> tuple[int, int]:
        """Byte range of lines [first, stop), newline of the last one included."""
        start = self.offsets[first]
        end = self.offsets[stop] if stop < len(self.offsets) else self.end
        return start, end


class _Chunk(NamedTuple):
    offsets: array[int]
    end: int
    crc: int
    anchor: bytes
    sessions: list[tuple[str, str]]


class _Plan(NamedTuple):
    target: _File
    """The file object to index into: the live one (append), or a fresh one (reset/new)."""
    start: int
    size: int
    reset: bool
    """Lines indexed before are no longer valid."""


def _scan(
    fd: int, pos: int, limit: int, max_bytes: int, crc: int, anchor: bytes
) -> Iterator[_Chunk]:
    """Complete lines in bytes [pos, limit), about ``max_bytes`` per chunk (more for a longer
    line). A last line without its newline is left for later."""
    while pos < limit:
        data = os.pread(fd, min(max_bytes, limit - pos), pos)
        if not data:
            return
        last = data.rfind(b"\n")
        while last < 0:
            more_at = pos + len(data)
            if more_at >= limit:
                return
            more = os.pread(fd, min(max_bytes, limit - more_at), more_at)
            if not more:
                return
            data += more
            last = data.rfind(b"\n")
        body = data if last + 1 == len(data) else data[: last + 1]
        offsets = array("Q", [pos])
        offsets.extend(pos + m.end() for m in _NEWLINE.finditer(body, 0, last))
        crc = zlib.crc32(body, crc)
        anchor = (anchor + body[-_ANCHOR_BYTES:])[-_ANCHOR_BYTES:]
        sessions = _sessions(body)
        pos += last + 1
        yield _Chunk(offsets, pos, crc, anchor, sessions)


def _sessions(body: bytes) -> list[tuple[str, str]]:
    """(task, instance) of the SESSION-START lines that name both, without repeats."""
    plain: set[tuple[bytes, bytes]] = set()
    found: list[tuple[str, str]] = []
    for kv in _SESSION_START.findall(body):
        if b'"' in kv or b"'" in kv:
            fields = parse_fields(kv.decode("utf-8", "replace"))
            task, instance = fields.get("task"), fields.get("instance")
            if task and instance:
                found.append((task, instance))
            continue
        pairs = dict(_TASK_INSTANCE.findall(kv))  # the last one wins, as in parse_fields
        raw_task, raw_instance = pairs.get(b"task"), pairs.get(b"instance")
        if raw_task and raw_instance:
            plain.add((raw_task, raw_instance))
    found.extend((t.decode("utf-8", "replace"), i.decode("utf-8", "replace")) for t, i in plain)
    return found


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

    def __len__(self) -> int:
        with self._lock:
            return len(self._hist.offsets) + len(self._cur.offsets)

    def tasks_of(self, instance: str) -> frozenset[str]:
        """Tasks whose SESSION-START named ``instance`` (or an id of which it is the ``t<N>``
        form)."""
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
                _close_fd(f.fd)
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
                _close_fd(hist_plan.target.fd)
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
                for chunk in _scan(
                    target.fd, plan.start, plan.size, max_bytes, target.crc, target.anchor
                ):
                    _apply(target, chunk)
                    sessions.extend(chunk.sessions)
                    done += chunk.end - chunk.offsets[0]
                    lines = len(hist_new.offsets) + len(cur_new.offsets)
                    yield IndexProgress(lines, min(done, total), total)
            keeps_order = self._keeps_order(hist, cur, hist_plan, cur_plan, hist_new, cur_new)
            with self._lock:
                for old, new in ((hist, hist_new), (cur, cur_new)):
                    if old.fd is not None and old.fd != new.fd:
                        _close_fd(old.fd)
                self._hist, self._cur = hist_new, cur_new
                self._add_sessions(sessions)
                if not keeps_order:
                    self._generation += 1
            published = True
        finally:
            if not published:
                for target in (hist_new, cur_new):
                    if target.fd not in (hist.fd, cur.fd):
                        _close_fd(target.fd)

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
            for chunk in _scan(
                target.fd, plan.start, plan.size, max_bytes, target.crc, target.anchor
            ):
                with self._lock:
                    _apply(target, chunk)
                    self._add_sessions(chunk.sessions)
                done += chunk.end - chunk.offsets[0]
                yield IndexProgress(len(self), min(done, total), total)

    def _plan(self, f: _File) -> _Plan:
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

    def _anchor_holds(self, f: _File) -> bool:
        anchor = f.anchor
        if not anchor or f.fd is None:
            return True
        return os.pread(f.fd, len(anchor), f.end - len(anchor)) == anchor

    def _keeps_order(
        self,
        hist: _File,
        cur: _File,
        hist_plan: _Plan,
        cur_plan: _Plan,
        hist_new: _File,
        cur_new: _File,
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
        kept = bisect.bisect_left(cur_new.offsets, need)
        if need != cur_new.end and (kept == len(cur_new.offsets) or cur_new.offsets[kept] != need):
            return False
        if moved_lines + kept != old_current_lines:
            return False
        crc = 0
        if moved_bytes and hist_new.fd is not None:
            crc = _crc_of(hist_new.fd, hist.end, hist_new.end, crc)
        if need and cur_new.fd is not None:
            crc = _crc_of(cur_new.fd, 0, need, crc)
        return crc == cur.crc

    def _new_file(self, path: Path) -> _File:
        self._epochs += 1
        return _File(path, self._epochs)

    def _open(self, path: Path) -> tuple[_File, int]:
        """A fresh index of the file now at ``path``, with its descriptor, and its size."""
        f = self._new_file(path)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        f.fd = fd
        return f, os.fstat(fd).st_size

    def _add_sessions(self, sessions: list[tuple[str, str]]) -> None:
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

    def _locate(self, i: int) -> tuple[_File, int]:
        h = len(self._hist.offsets)
        n = h + len(self._cur.offsets)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"log line {i} out of range (the index holds {n} lines)")
        return (self._hist, i) if i < h else (self._cur, i - h)

    def _read(self, f: _File, first: int, stop: int) -> list[str]:
        count = stop - first
        start, end = f.span(first, stop)
        try:
            if f.fd is None:
                raise OSError(0, "file closed")
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


def _apply(f: _File, chunk: _Chunk) -> None:
    f.offsets.extend(chunk.offsets)
    f.end, f.crc, f.anchor = chunk.end, chunk.crc, chunk.anchor


def _crc_of(fd: int, start: int, end: int, crc: int) -> int:
    pos = start
    while pos < end:
        data = os.pread(fd, min(8 << 20, end - pos), pos)
        if not data:
            return -1  # shorter than indexed: cannot match
        crc = zlib.crc32(data, crc)
        pos += len(data)
    return crc


def _close_fd(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
