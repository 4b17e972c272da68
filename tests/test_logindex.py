"""The log index: offsets, both files as one sequence, rotation, odd bytes, filters, search."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters import logindex_files
from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logindex import (
    FilterCancelled,
    IndexProgress,
    LogIndex,
)
from factory_tui.adapters.logindex_files import (
    ENDS_BYTES,
    STRIDE,
    Chunk,
    FileIndex,
    apply_chunk,
    scan_lines,
)


def ev(n: int, event: str = "STEP-DONE", rest: str = "") -> str:
    return f"2026-02-12T14:{n % 60:02d} | {event} | step=code task=T{n}{rest}"


def write(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(line + "\n" for line in lines).encode())


def append(path: Path, data: str | bytes) -> None:
    with path.open("ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def rewrite_in_place(path: Path, lines: list[str]) -> None:
    with path.open("r+b") as f:
        f.truncate(0)
        f.write("".join(line + "\n" for line in lines).encode())


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "operations.log.1", tmp_path / "operations.log"


def make(files: tuple[Path, Path]) -> LogIndex:
    index = LogIndex(*files)
    index.update()
    return index


def everything(index: LogIndex) -> list[str]:
    return index.lines(0, len(index))


# --- offsets and order ---------------------------------------------------------------------


def test_offsets_and_on_demand_reads(files: tuple[Path, Path]) -> None:
    _, cur = files
    lines = [ev(0), "", "é ünïcode ✓", ev(3, rest=" detail=" + "x" * 500), ev(4)]
    write(cur, lines)
    with make(files) as index:
        assert len(index) == 5
        assert [index.line(i) for i in range(5)] == lines
        assert index.line(-1) == lines[-1]
        assert index.lines(1, 4) == lines[1:4]
        assert index.lines(3, 99) == lines[3:]
        assert index.lines(4, 2) == []
        assert index.source(2) == ("operations.log", 3)
        with pytest.raises(IndexError, match="out of range"):
            index.line(5)
        offsets, itemsize = index.offsets
        data = cur.read_bytes()
        assert offsets == [0, *[i + 1 for i, b in enumerate(data) if b == 10][:-1]]
        assert itemsize == 4  # under 4 GiB: 4 bytes a line


def test_a_files_offsets_widen_to_8_bytes_past_4_gib(tmp_path: Path) -> None:
    """A file past 4 GiB (not written: its chunks are made as the scan makes them) keeps every
    run's first offset, the ones below 4 GiB and the ones past it, and counts every line."""
    f = FileIndex(tmp_path / "operations.log", 0)
    below = array("I", [0, *range(10, 10 * STRIDE, 10)])  # a run of lines
    apply_chunk(f, Chunk(below, 2**32 - 8, 0, b"", (b"", b""), []))
    assert (f.offsets.itemsize, list(f.offsets.marks), len(f.offsets)) == (4, [0], STRIDE)
    apply_chunk(f, Chunk(array("Q", [2**32 - 8, 2**32 + 5]), 2**32 + 9, 0, b"", (b"", b""), []))
    assert (f.offsets.itemsize, list(f.offsets.marks)) == (8, [0, 2**32 - 8])
    assert len(f.offsets) == STRIDE + 2
    assert f.span(STRIDE, STRIDE + 2) == (2**32 - 8, 2**32 + 9)  # run starts: nothing read


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), max_size=3 * STRIDE + 5),
    chunk=st.sampled_from([1, 97, 1 << 20]),
    scan=st.sampled_from([1, 7, 64, 1 << 16]),
    cuts=st.lists(st.integers(0, 3 * STRIDE + 6), max_size=4),
)
def test_a_runs_lines_are_found_in_the_file(
    lengths: list[int], chunk: int, scan: int, cuts: list[int]
) -> None:
    """One line's offset in STRIDE is kept (an index of 12 million lines was 48 MB); the
    others are found in the file's bytes, read a few at a time or many: each line's start,
    any span, and the line at any offset are what every line's offset gives."""
    body = b"".join(b"x" * n + b"\n" for n in lengths)
    every = [sum(lengths[:i]) + i for i in range(len(lengths))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "operations.log"
        path.write_bytes(body + b"half a line")
        f = FileIndex(path, 0)
        f.fd = os.open(path, os.O_RDONLY)
        try:
            for found in scan_lines(f.fd, 0, len(body) + 11, chunk, 0, b""):
                apply_chunk(f, found)
            with pytest.MonkeyPatch.context() as patched:
                patched.setattr(logindex_files, "_SCAN_BYTES", scan)
                assert (len(f.offsets), f.end) == (len(lengths), len(body))
                assert len(f.offsets.marks) == -(-len(lengths) // STRIDE)
                assert f.starts() == every
                assert [f.start(i) for i in range(len(lengths) + 1)] == [*every, len(body)]
                for first, stop in zip(sorted(cuts)[::2], sorted(cuts)[1::2], strict=False):
                    first, stop = min(first, len(lengths)), min(stop, len(lengths))
                    assert f.span(first, stop) == (
                        [*every, len(body)][first],
                        [*every, len(body)][stop],
                    )
                starts_at = {at: i for i, at in enumerate([*every, len(body)])}
                for offset in range(len(body) + 3):
                    assert f.line_at(offset) == starts_at.get(offset), offset
        finally:
            os.close(f.fd)


def test_the_line_at_an_offset_reads_its_run_once(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding the line at an offset (a rotation's check) reads the bytes from its run's start
    to it once: it read up to 64 KB a line of the run before (2 MB for a run of long lines)."""
    write(files[1], [f"{n:05d}" + "x" * 10_000 for n in range(2 * STRIDE)])
    index = make(files)
    f = index._cur
    read: list[int] = []
    pread = os.pread
    monkeypatch.setattr(
        logindex_files.os, "pread", lambda fd, n, at: read.append(n) or pread(fd, n, at)
    )
    last = (STRIDE - 1) * 10_006
    assert (f.line_at(last), f.line_at(last + 1), f.line_at(STRIDE * 10_006)) == (
        STRIDE - 1,
        None,
        STRIDE,
    )
    assert sum(read) == 2 * last + 1


def test_a_rotation_whose_log_is_cut_while_checked_is_published(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hooks' rotation (lines moved to operations.log.1, the rest left in operations.log),
    the log cut by an agent while the index checks whether the order was kept (which reads
    it): the new files are still indexed and published as a change of order, not thrown away
    with an error (the next update read the log whole again)."""
    hist, cur = files
    write(cur, [ev(n) for n in range(100)])
    index = make(files)
    write(hist, [ev(n) for n in range(40)])
    write(cur.with_name("new"), [*(ev(n) for n in range(40, 100)), "new 1", "new 2"])
    os.replace(cur.with_name("new"), cur)
    real = logindex_files.FileIndex.line_at

    def cut_first(f: FileIndex, offset: int) -> int | None:
        os.truncate(f.path, 0)
        return real(f, offset)

    monkeypatch.setattr(logindex_files.FileIndex, "line_at", cut_first)
    index.update()
    assert (index.last_error, len(index), index.generation) == (None, 102, 1)


def test_the_offsets_of_a_file_cut_since_are_those_it_still_holds(
    files: tuple[Path, Path],
) -> None:
    write(files[1], [f"line {n:04d}" for n in range(40)])
    index = make(files)
    assert index.offsets == ([10 * n for n in range(40)], 4)
    os.truncate(files[1], 35)
    assert index.offsets == ([0, 10, 20, 30], 4)


def test_the_scan_of_lines_past_4_gib_gives_8_byte_offsets(tmp_path: Path) -> None:
    path = tmp_path / "sparse.log"  # a sparse file: only its last bytes are written
    with path.open("wb") as handle:
        handle.seek(2**32 - 2)
        handle.write(b"a\nbb\ncc\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        low = list(scan_lines(fd, 2**32 - 2, 2**32, 1 << 20, 0, b""))
        high = list(scan_lines(fd, 2**32 - 2, 2**32 + 7, 1 << 20, 0, b""))
    finally:
        os.close(fd)
    assert [(c.offsets.typecode, list(c.offsets)) for c in low] == [("I", [2**32 - 2])]
    assert [(c.offsets.typecode, list(c.offsets)) for c in high] == [
        ("Q", [2**32 - 2, 2**32, 2**32 + 3])
    ]


def test_history_comes_first_then_current(files: tuple[Path, Path]) -> None:
    hist, cur = files
    write(hist, [ev(1), ev(2)])
    write(cur, [ev(3)])
    with make(files) as index:
        assert everything(index) == [ev(1), ev(2), ev(3)]
        assert index.source(0) == ("operations.log.1", 1)
        assert index.source(1) == ("operations.log.1", 2)
        assert index.source(2) == ("operations.log", 1)
        # reads across the boundary in one call
        assert index.lines(1, 3) == [ev(2), ev(3)]


def test_missing_files_read_as_empty_and_appear_later(files: tuple[Path, Path]) -> None:
    hist, cur = files
    index = LogIndex(hist, cur)
    assert index.update() == 0
    assert len(index) == 0
    write(cur, [ev(1)])
    assert index.update() == 1
    assert everything(index) == [ev(1)]
    index.close()
    assert len(index) == 0
    assert index.update() == 0


def test_appends_are_indexed_incrementally_and_partial_lines_wait(
    files: tuple[Path, Path],
) -> None:
    _, cur = files
    write(cur, [ev(1)])
    with make(files) as index:
        generation = index.generation
        append(cur, ev(2) + "\n" + ev(3)[:10])
        assert index.update() == 1
        assert everything(index) == [ev(1), ev(2)]
        append(cur, ev(3)[10:] + "\n")
        assert index.update() == 1
        assert everything(index) == [ev(1), ev(2), ev(3)]
        assert index.update() == 0
        assert index.generation == generation


def test_cached_block_sees_lines_appended_to_it(files: tuple[Path, Path]) -> None:
    _, cur = files
    write(cur, [ev(1)])
    with make(files) as index:
        assert index.line(0) == ev(1)  # caches the (partial) first block
        append(cur, ev(2) + "\n")
        index.update()
        assert index.line(1) == ev(2)


def test_update_in_chunks_reports_progress_and_handles_long_lines(
    files: tuple[Path, Path],
) -> None:
    hist, cur = files
    write(hist, [ev(i) for i in range(20)])
    long_line = ev(99, rest=" detail=" + "y" * 300)
    write(cur, [long_line, ev(100)])
    total = hist.stat().st_size + cur.stat().st_size
    index = LogIndex(hist, cur)
    steps = list(index.update_in_chunks(max_bytes=64))
    assert len(steps) > 5
    assert all(isinstance(step, IndexProgress) for step in steps)
    assert steps[-1] == IndexProgress(22, total, total)
    assert [s.lines for s in steps] == sorted(s.lines for s in steps)
    assert index.line(20) == long_line
    with pytest.raises(ValueError, match="max_bytes"):
        list(index.update_in_chunks(0))


def test_crlf_line_endings_are_stripped(files: tuple[Path, Path]) -> None:
    _, cur = files
    cur.write_bytes(f"{ev(1)}\r\n{ev(2)}\r\n".encode())
    with make(files) as index:
        assert everything(index) == [ev(1), ev(2)]
        assert index.line(1) == ev(2)


def test_undecodable_bytes_are_replaced_not_fatal(files: tuple[Path, Path]) -> None:
    _, cur = files
    cur.write_bytes(b"2026-02-12T14:00 | ERROR | task=T error=\xff\xfe\n\xc3\nlast\n")
    with make(files) as index:
        assert len(index) == 3
        assert index.line(0).endswith("error=\ufffd\ufffd")
        assert index.line(1) == "\ufffd"
        assert index.line(2) == "last"
        assert index.build_filtered(FilterSpec(event="ERROR")).tolist() == [0]


def test_a_directory_in_place_of_the_log_is_an_error_not_a_crash(
    files: tuple[Path, Path],
) -> None:
    _, cur = files
    cur.mkdir()
    index = LogIndex(*files)
    assert index.update() == 0
    assert index.last_error is not None
    assert "operations.log" in index.last_error
    assert "not a regular file" in index.last_error


# --- rotation --------------------------------------------------------------------------------


def test_rotation_moving_lines_to_history_keeps_the_sequence(files: tuple[Path, Path]) -> None:
    """FORMATS.md: the oldest lines move to .1, the current file keeps the newest."""
    hist, cur = files
    write(hist, [ev(0)])
    write(cur, [ev(i) for i in range(1, 9)])
    with make(files) as index:
        generation = index.generation
        before = everything(index)
        append(hist, "".join(ev(i) + "\n" for i in range(1, 6)))
        rewrite_in_place(cur, [ev(i) for i in range(6, 9)] + [ev(9)])
        assert index.update() == 1
        assert index.generation == generation
        assert everything(index) == [*before, ev(9)]
        assert index.source(8) == ("operations.log", 3)


def test_rotation_by_replacing_the_current_file_keeps_the_sequence(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    hist, cur = files
    write(cur, [ev(i) for i in range(6)])
    with make(files) as index:
        generation = index.generation
        write(hist, [ev(i) for i in range(4)])  # .1 did not exist yet
        fresh = tmp_path / "fresh"
        write(fresh, [ev(4), ev(5)])
        os.replace(fresh, cur)
        assert index.update() == 0
        assert index.generation == generation
        assert everything(index) == [ev(i) for i in range(6)]


def test_rotation_by_renaming_the_log_to_history_keeps_the_sequence(
    files: tuple[Path, Path],
) -> None:
    hist, cur = files
    write(cur, [ev(i) for i in range(3)])
    with make(files) as index:
        generation = index.generation
        os.rename(cur, hist)
        write(cur, [ev(3)])
        assert index.update() == 1
        assert index.generation == generation
        assert everything(index) == [ev(i) for i in range(4)]


def test_current_rewritten_with_other_content_is_reindexed(files: tuple[Path, Path]) -> None:
    hist, cur = files
    write(hist, [ev(0)])
    write(cur, [ev(1), ev(2), ev(3)])
    with make(files) as index:
        generation = index.generation
        rewrite_in_place(cur, [ev(7), ev(8)])
        assert index.update() == 3  # a reset: every line counts as new
        assert index.generation == generation + 1
        assert everything(index) == [ev(0), ev(7), ev(8)]


def test_current_shrunk_to_the_same_size_is_noticed(files: tuple[Path, Path]) -> None:
    _, cur = files
    write(cur, [ev(1), ev(2)])
    with make(files) as index:
        rewrite_in_place(cur, [ev(3), ev(4)])  # same length, other bytes
        index.update()
        assert everything(index) == [ev(3), ev(4)]


def test_history_trimmed_at_the_front_changes_the_generation(files: tuple[Path, Path]) -> None:
    hist, cur = files
    write(hist, [ev(0), ev(1), ev(2)])
    write(cur, [ev(3)])
    with make(files) as index:
        generation = index.generation
        rewrite_in_place(hist, [ev(1), ev(2)])
        index.update()
        assert index.generation > generation
        assert everything(index) == [ev(1), ev(2), ev(3)]


def test_history_growing_under_current_lines_is_an_insertion(files: tuple[Path, Path]) -> None:
    """Half a rotation (lines appended to .1, the current file not rewritten yet) shifts the
    current lines: logical numbers change, and the generation says so."""
    hist, cur = files
    write(hist, [ev(0)])
    write(cur, [ev(1), ev(2)])
    with make(files) as index:
        generation = index.generation
        append(hist, ev(1) + "\n")
        index.update()
        assert index.generation == generation + 1
        assert everything(index) == [ev(0), ev(1), ev(1), ev(2)]
        rewrite_in_place(cur, [ev(2)])  # the rotation completes
        index.update()
        assert everything(index) == [ev(0), ev(1), ev(2)]


def test_deleted_current_file_drops_its_lines(files: tuple[Path, Path]) -> None:
    hist, cur = files
    write(hist, [ev(0)])
    write(cur, [ev(1)])
    with make(files) as index:
        generation = index.generation
        cur.unlink()
        index.update()
        assert everything(index) == [ev(0)]
        assert index.generation == generation + 1


class _Model:
    """What the index should hold: the complete lines of both files, history first."""

    def __init__(self, hist: Path, cur: Path) -> None:
        self.hist, self.cur = hist, cur

    def lines(self) -> list[str]:
        out: list[str] = []
        for path in (self.hist, self.cur):
            if path.exists():
                data = path.read_bytes()
                out.extend(data[: data.rfind(b"\n") + 1].decode().splitlines())
        return out


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 5)),
        st.tuples(st.just("partial"), st.integers(1, 30)),
        st.tuples(st.just("rotate"), st.integers(0, 6)),
        st.tuples(st.just("replace"), st.integers(0, 6)),
        st.tuples(st.just("truncate"), st.integers(0, 3)),
        st.tuples(st.just("session"), st.integers(0, 2)),
        st.tuples(st.just("ask"), st.integers(0, 2)),
    ),
    max_size=14,
)


def rotate(hist: Path, cur: Path, k: int, *, replace: bool) -> None:
    """The hooks' rotation: the first ``k`` complete lines of the log moved to the end of the
    rotated log; the log rewritten in place, or (``replace``) replaced by a new file."""
    data = cur.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].splitlines(keepends=True)
    append(hist, b"".join(complete[:k]))
    rest = b"".join(complete[k:]) + data[data.rfind(b"\n") + 1 :]
    if replace:
        tmp = cur.with_name("tmp")
        tmp.write_bytes(rest)
        os.replace(tmp, cur)
    else:
        with cur.open("r+b") as f:
            f.truncate(0)
            f.write(rest)


def _session_pairs(paths: tuple[Path, ...]) -> set[tuple[str, str]]:
    """(task, instance) of the complete SESSION-START lines in the files now."""
    found = set()
    for path in paths:
        if path.exists():
            data = path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1].decode()
            found.update(re.findall(r"\| SESSION-START \| task=(\S+) instance=(\S+)", complete))
    return found


def _check_task_map(index: LogIndex, paths: tuple[Path, ...], ever: set[tuple[str, str]]) -> None:
    """The task map holds the sessions of the lines indexed now, and none never written (a
    line gone before the map was first asked for need not be in it)."""
    now = _session_pairs(paths)
    for instance in ("i0", "i1", "i2"):
        tasks = index.tasks_of(instance)
        assert {t for t, i in now if i == instance} <= tasks
        assert tasks <= {t for t, i in ever if i == instance}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_index_always_matches_the_files(tmp_path: Path, ops: list[tuple[str, int]]) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # an example may be drawn twice
    hist, cur = folder / "operations.log.1", folder / "operations.log"
    model = _Model(hist, cur)
    counter = iter(range(10_000))
    cur.write_bytes(b"")
    ever: set[tuple[str, str]] = set()
    with LogIndex(hist, cur) as index:
        for op, k in ops:
            before, generation = everything(index), index.generation
            if op == "append":
                append(cur, "".join(ev(next(counter)) + "\n" for _ in range(k)))
            elif op == "session":
                n = next(counter)
                append(
                    cur, ev(n, "SESSION-START", f" instance=i{k}").replace("step=code ", "") + "\n"
                )
                ever.add((f"T{n}", f"i{k}"))
            elif op == "ask":
                _check_task_map(index, (hist, cur), ever)
            elif op == "partial":
                append(cur, ev(next(counter))[:k])
            elif op in ("rotate", "replace"):
                rotate(hist, cur, k, replace=op == "replace")
            else:
                write(cur, [ev(next(counter)) for _ in range(k)])
            index.update()
            after = everything(index)
            assert after == model.lines()
            if index.generation == generation:
                assert after[: len(before)] == before
            for f in index.files():  # the ends kept of the bytes indexed (the cache's key)
                n = min(f.end, ENDS_BYTES)
                read = (os.pread(f.fd, n, 0), os.pread(f.fd, n, f.end - n)) if f.fd else (b"",) * 2
                assert f.ends == read
        _check_task_map(index, (hist, cur), ever)


def test_the_task_map_waits_for_its_first_use(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's build does not look for the sessions (a third of its cost on a million
    lines, which the cockpit's first load waited for): the first instance filter maps them,
    and the updates keep the map from then on."""
    from factory_tui.adapters import logindex_files

    hist, cur = files
    write(hist, [ev(1, "SESSION-START", " instance=i1"), ev(2)])
    write(cur, [ev(3), ev(4, "SESSION-START", " instance=i1")])
    looked = 0
    sessions = logindex_files._sessions

    def counted(body: bytes) -> list[tuple[str, str]]:
        nonlocal looked
        looked += 1
        return sessions(body)

    monkeypatch.setattr(logindex_files, "_sessions", counted)
    with make(files) as index:
        assert looked == 0
        assert index.tasks_of("i1") == {"T1", "T4"}
        assert looked == 2  # each file once
        append(cur, ev(5, "SESSION-START", " instance=i1") + "\n")
        index.update()
        assert looked == 3  # the appended chunk, as it is indexed
        assert index.tasks_of("i1") == {"T1", "T4", "T5"}
        assert looked == 3  # nothing left to map


def test_readers_on_another_thread_see_whole_lines(files: tuple[Path, Path]) -> None:
    hist, cur = files
    write(cur, [ev(i) for i in range(50)])
    index = make(files)
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            n = len(index)
            for line in index.lines(max(0, n - 60), n):
                if not line.startswith("2026-02-12T14:"):
                    bad.append(line)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(30):
            append(cur, "".join(ev(i) + "\n" for i in range(round_, round_ + 20)))
            index.update()
            if round_ % 5 == 0:  # rotate by replacing (an in-place rewrite read before the
                # index noticed it would be a different file under the same offsets)
                data = cur.read_bytes().splitlines(keepends=True)
                append(hist, b"".join(data[:30]))
                tmp = cur.with_name("tmp")
                tmp.write_bytes(b"".join(data[30:]))
                os.replace(tmp, cur)
                index.update()
    finally:
        stop.set()
        thread.join()
    index.close()
    assert bad == []


# --- filters -----------------------------------------------------------------------------------


def test_filter_query_syntax() -> None:
    assert FilterSpec.parse("  ") is None
    spec = FilterSpec.parse("instance:t1 task=CAB-1 event:ERROR disk full")
    assert spec == FilterSpec(instance="t1", task="CAB-1", event="ERROR", text="disk full")
    assert FilterSpec.parse(spec.describe()) == spec
    assert FilterSpec.parse("14:05 http://x") == FilterSpec(text="14:05 http://x")
    assert FilterSpec.parse("text:a b") == FilterSpec(text="a b")
    assert FilterSpec().is_empty


LOG = [
    "2026-02-12T14:00 | SESSION-START | task=CAB-1 branch=feat/x instance=t48217-a3f2",
    "2026-02-12T14:01 | STEP-DONE | step=code task=CAB-1",
    "2026-02-12T14:02 | CLAIM | task=MEGA-9 phase=1 instance=t48217-a3f2 tickets=CAB-5",
    "2026-02-12T14:03 | SESSION-START | task=CAB-2 branch=b instance=t999-0000",
    '2026-02-12T14:04 | ERROR | task=CAB-2 error="disk full" step=ci',
    "2026-02-12T14:05 | step-start | step=ci task=cab-1",
    "garbage ERROR line task=CAB-1",
    '2026-02-12T14:06 | SESSION-START | task="CAB 3" branch=c instance=t48217-a3f2',
    '2026-02-12T14:07 | STEP-DONE | step=code task="CAB 3"',
    "2026-02-12T14:08 | SESSION-END | task=CAB-2 status=crashed",
]


@pytest.fixture
def log_index(files: tuple[Path, Path]) -> LogIndex:
    write(files[1], LOG)
    return make(files)


def matching(index: LogIndex, query: str) -> list[int]:
    spec = FilterSpec.parse(query)
    assert spec is not None
    return index.build_filtered(spec).tolist()


def test_filter_by_event_task_and_text(log_index: LogIndex) -> None:
    assert matching(log_index, "event:ERROR") == [4]
    assert matching(log_index, "event:error") == [4]
    assert matching(log_index, "event:STEP-*") == [1, 5, 8]
    assert matching(log_index, "task:CAB-1") == [0, 1, 5]  # case-insensitive; not line 6
    assert matching(log_index, "text:DISK") == [4]
    assert matching(log_index, "garbage") == [6]  # unparseable lines match a text filter
    assert matching(log_index, "event:ERROR text:full") == [4]
    assert matching(log_index, "event:ERROR text:nothing") == []


def test_instance_filter_includes_the_tasks_it_started(log_index: LogIndex) -> None:
    assert log_index.tasks_of("t48217-a3f2") == {"CAB-1", "CAB 3"}
    assert log_index.tasks_of("t48217") == {"CAB-1", "CAB 3"}  # the older t<N> form
    assert matching(log_index, "instance:t48217-a3f2") == [0, 1, 2, 5, 7, 8]
    assert matching(log_index, "instance:t48217") == [0, 1, 2, 5, 7, 8]
    assert matching(log_index, "instance:t999-0000") == [3, 4, 9]
    assert matching(log_index, "instance:t4821") == []


def test_matches_without_an_index() -> None:
    spec = FilterSpec(instance="t1-abcd")
    line = "2026-02-12T14:01 | STEP-DONE | step=code task=X"
    assert not spec.matches(line)
    assert spec.matches(line, instance_tasks={"X"})
    assert FilterSpec(text="[bold]").matches("a [BOLD] b")


def test_build_filtered_range_and_progress(log_index: LogIndex) -> None:
    calls: list[tuple[int, int]] = []
    spec = FilterSpec(event="SESSION-START")
    assert log_index.build_filtered(spec, start=2, stop=8).tolist() == [3, 7]
    result = log_index.build_filtered(spec, lambda d, t: calls.append((d, t)))
    assert result.tolist() == [0, 3, 7]
    assert calls[-1] == (len(LOG), len(LOG))
    assert result.typecode == "Q"


def test_build_filtered_can_be_cancelled(files: tuple[Path, Path]) -> None:
    write(files[1], [ev(i) for i in range(30_000)])
    index = make(files)
    event = threading.Event()
    event.set()
    with pytest.raises(FilterCancelled):
        index.build_filtered(FilterSpec(text="task"), cancel=event)
    checks: list[int] = []

    def cancel_on_second_check() -> bool:
        checks.append(1)
        return len(checks) >= 2

    with pytest.raises(FilterCancelled):
        index.build_filtered(FilterSpec(text="task"), cancel=cancel_on_second_check)
    assert len(checks) == 2  # stopped after two slices of 30,000 lines
    with pytest.raises(FilterCancelled):
        index.search(FilterSpec(text="nowhere"), 0, cancel=event)


def test_search_both_ways_within_a_subset(log_index: LogIndex) -> None:
    spec = FilterSpec(text="CAB-2")
    assert log_index.search(spec, 0) == 3
    assert log_index.search(spec, 4) == 4
    assert log_index.search(spec, 5) == 9
    assert log_index.search(spec, 8, -1) == 4
    assert log_index.search(spec, 2, -1) is None
    assert log_index.search(spec, 5, stop=9) is None
    assert log_index.search(lambda line: "CLAIM" in line, 0) == 2
    among = [0, 4, 9]
    assert log_index.search(spec, 0, among=among) == 4
    assert log_index.search(spec, 5, among=among) == 9
    assert log_index.search(spec, 8, -1, among=among) == 4
    assert log_index.search(spec, 10, -1, among=among, stop=9) == 4


def test_the_task_map_of_a_file_cut_short_under_it_ends(files: tuple[Path, Path]) -> None:
    """The map reads what was indexed; a file cut short since (no newline left in what is
    read) ends the read instead of asking for ever more bytes. A line longer than a read is
    read on to its end."""
    from factory_tui.adapters.logindex_files import session_pairs

    _hist, cur = files
    long_line = ev(1, "SESSION-START", " instance=i1 note=" + "x" * 5000)
    write(cur, [long_line, ev(2, "SESSION-START", " instance=i2")])
    with make(files) as index:
        fd = os.open(cur, os.O_RDONLY)
        try:
            end = cur.stat().st_size
            assert set(session_pairs(fd, 0, end, max_bytes=64)) == {("T1", "i1"), ("T2", "i2")}
            cur.write_bytes(b"2026-02-12T14:00 | SESSION-START | task=T9 instance=i9")
            done: list[object] = []
            reader = threading.Thread(
                target=lambda: done.append(session_pairs(fd, 0, end, 64)), daemon=True
            )
            reader.start()
            reader.join(10)
            assert done == [[]]
        finally:
            os.close(fd)
        index.update()
        assert index.tasks_of("i9") == frozenset()  # no complete line names it
