"""The incremental log reader: appends, partial lines, truncation, rotation, errors — real files."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters.tail import LogTail, TailChunk


def ln(n: int) -> bytes:
    return f"2026-02-12T14:{n % 60:02d} | STEP-DONE | step=code task=t{n}".encode()


def block(*ns: int) -> bytes:
    return b"".join(ln(n) + b"\n" for n in ns)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Same inode, new content: what ``open(path, "w")`` or a shell ``>`` does."""
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(data)


def drain(tail: LogTail) -> list[TailChunk]:
    chunks: list[TailChunk] = []
    for _ in range(100_000):
        chunk = tail.poll()
        if chunk is None:
            return chunks
        chunks.append(chunk)
    raise AssertionError("poll() never returned None")


def lines_of(chunks: list[TailChunk]) -> list[bytes]:
    return [line for chunk in chunks for line in chunk.lines]


def assert_positions(chunk: TailChunk, content: bytes) -> None:
    """Line numbers and byte offsets of ``chunk`` point at its lines in ``content``."""
    assert len(chunk.offsets) == len(chunk.lines)
    file_lines = content.split(b"\n")
    for i, (line, offset) in enumerate(zip(chunk.lines, chunk.offsets, strict=True)):
        assert content[offset : offset + len(line) + 1] == line + b"\n"
        assert file_lines[chunk.first_line - 1 + i] == line


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "operations.log"


@pytest.fixture
def tailer(log: Path) -> Iterator[LogTail]:
    t = LogTail(log)
    yield t
    t.close()


def test_reads_existing_lines_then_only_appended_ones(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3))
    chunk = tailer.poll()
    assert chunk is not None
    assert chunk.lines == [ln(1), ln(2), ln(3)]
    assert (chunk.first_line, chunk.reset) == (1, None)
    assert_positions(chunk, log.read_bytes())
    assert tailer.poll() is None
    assert (tailer.offset, tailer.line_count) == (len(block(1, 2, 3)), 3)

    append(log, block(4, 5))
    chunk = tailer.poll()
    assert chunk is not None
    assert chunk.lines == [ln(4), ln(5)]
    assert chunk.first_line == 4
    assert chunk.offsets[0] == len(block(1, 2, 3))
    assert_positions(chunk, log.read_bytes())
    assert tailer.poll() is None
    assert tailer.line_count == 5


def test_repeated_identical_appended_lines_are_all_delivered(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 1))
    append(log, block(1))
    assert lines_of(drain(tailer)) == [ln(1)] * 3
    append(log, block(1))
    assert lines_of(drain(tailer)) == [ln(1)]


def test_partial_line_is_held_until_its_newline(log: Path, tailer: LogTail) -> None:
    log.write_bytes(b"first\nsec")
    chunk = tailer.poll()
    assert chunk is not None and chunk.lines == [b"first"]
    assert (tailer.offset, tailer.line_count) == (6, 1)
    append(log, b"on")
    assert tailer.poll() is None
    assert tailer.offset == 6
    append(log, b"d\nthi")
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.first_line, chunk.offsets) == ([b"second"], 2, [6])
    assert tailer.offset == 13


def test_crlf_keeps_the_carriage_return_for_the_parser(log: Path, tailer: LogTail) -> None:
    log.write_bytes(b"a\r\nb\r\n\n")
    chunk = tailer.poll()
    assert chunk is not None
    assert chunk.lines == [b"a\r", b"b\r", b""]
    assert chunk.offsets == [0, 3, 6]


def test_missing_file_then_created_is_read_from_its_start(log: Path, tailer: LogTail) -> None:
    assert tailer.poll() is None
    assert tailer.last_error is None
    log.write_bytes(block(1, 2))
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.reset, chunk.first_line) == ([ln(1), ln(2)], None, 1)


def test_deleted_then_recreated_reports_created_and_skips_overlap(
    log: Path, tailer: LogTail
) -> None:
    log.write_bytes(block(1, 2, 3))
    assert lines_of(drain(tailer)) == [ln(1), ln(2), ln(3)]
    log.unlink()
    assert tailer.poll() is None
    assert tailer.last_error is None
    log.write_bytes(block(2, 3, 4))
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.reset, chunk.first_line) == ([ln(4)], "created", 3)
    assert_positions(chunk, log.read_bytes())


def test_truncation_to_zero_is_announced_then_new_lines_follow(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3))
    drain(tailer)
    rewrite_in_place(log, b"")
    chunk = tailer.poll()
    assert chunk == TailChunk(b"", 1, "truncated")
    assert (tailer.offset, tailer.line_count) == (0, 0)
    assert tailer.poll() is None
    append(log, block(7))
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.first_line, chunk.offsets, chunk.reset) == ([ln(7)], 1, [0], None)


def test_truncated_file_that_regrew_past_our_offset_is_detected(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1))
    drain(tailer)
    rewrite_in_place(log, block(8, 9, 10))  # longer than what we had read: size alone can't tell
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.reset, chunk.first_line) == ([ln(8), ln(9), ln(10)], "truncated", 1)


def test_shrink_keeping_newest_lines_in_place(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(*range(1, 11)))
    drain(tailer)
    append(log, block(11, 12))  # not read yet when the rotation happens
    rewrite_in_place(log, block(*range(8, 13)))
    chunks = drain(tailer)
    assert lines_of(chunks) == [ln(11), ln(12)]
    assert chunks[0].reset == "truncated"
    assert chunks[0].first_line == 4
    assert_positions(chunks[0], log.read_bytes())
    assert (tailer.line_count, tailer.offset) == (5, len(block(*range(8, 13))))


def test_rename_rotation_drains_the_old_file_then_reads_the_new(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3, 4, 5))
    drain(tailer)
    append(log, block(6, 7))
    os.rename(log, log.with_name("operations.log.1"))
    log.write_bytes(block(4, 5, 6, 7, 8, 9))
    old = tailer.poll()
    assert old is not None
    assert (old.lines, old.first_line, old.reset) == ([ln(6), ln(7)], 6, None)
    assert_positions(old, log.with_name("operations.log.1").read_bytes())
    new = tailer.poll()
    assert new is not None
    assert (new.lines, new.first_line, new.reset) == ([ln(8), ln(9)], 5, "replaced")
    assert_positions(new, log.read_bytes())
    assert tailer.poll() is None
    append(log, block(10))
    chunk = tailer.poll()
    assert chunk is not None and (chunk.lines, chunk.first_line) == ([ln(10)], 7)


def test_rotation_in_the_middle_of_a_line_delivers_it_once(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2) + b"half of th")
    assert lines_of(drain(tailer)) == [ln(1), ln(2)]
    os.rename(log, log.with_name("operations.log.1"))
    log.write_bytes(block(2) + b"half of th")  # the rotation carries the partial line over
    assert lines_of(drain(tailer)) == []
    append(log, b"ree\n" + block(3))
    chunks = drain(tailer)
    assert lines_of(chunks) == [b"half of three", ln(3)]
    assert chunks[0].first_line == 2


def test_in_place_rotation_in_the_middle_of_a_line(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3) + b"half")
    drain(tailer)
    rewrite_in_place(log, block(3) + b"half and whole\n")
    chunks = drain(tailer)
    assert lines_of(chunks) == [b"half and whole"]
    assert (chunks[0].reset, chunks[0].first_line) == ("truncated", 2)


def test_line_completed_in_the_old_file_before_the_rename_is_not_repeated(
    log: Path, tailer: LogTail
) -> None:
    log.write_bytes(block(1) + b"hal")
    drain(tailer)
    append(log, b"f\n")  # a writer holding the old file open finishes the line
    os.rename(log, log.with_name("operations.log.1"))
    log.write_bytes(b"half\n" + block(2))
    assert lines_of(drain(tailer)) == [b"half", ln(2)]


def test_file_rewritten_in_place_then_renamed_before_the_next_poll(tmp_path: Path) -> None:
    log = tmp_path / "operations.log"
    log.write_bytes(block(*range(1, 10)))
    tailer = LogTail(log, chunk_bytes=7, overlap_lines=8)
    try:
        drain(tailer)
        rewrite_in_place(log, block(*range(2, 10)))
        append(log, block(10))
        os.rename(log, log.with_name("operations.log.1"))
        log.write_bytes(block(10, 11))
        assert lines_of(drain(tailer)) == [ln(10), ln(11)]
    finally:
        tailer.close()


def test_copy_truncate_rotation(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3))
    drain(tailer)
    shutil.copyfile(log, log.with_name("operations.log.1"))
    with log.open("r+b") as f:
        f.truncate(0)
    append(log, block(4, 5))
    chunks = drain(tailer)
    assert lines_of(chunks) == [ln(4), ln(5)]
    assert (chunks[0].reset, chunks[0].first_line, chunks[0].offsets[0]) == ("truncated", 1, 0)


def test_replaced_file_overlapping_what_was_read(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(*range(1, 9)))
    assert len(lines_of(drain(tailer))) == 8
    tmp = log.with_name("operations.log.tmp")
    tmp.write_bytes(block(*range(5, 12)))
    os.replace(tmp, log)
    chunks = drain(tailer)
    assert lines_of(chunks) == [ln(9), ln(10), ln(11)]
    assert (chunks[0].reset, chunks[0].first_line) == ("replaced", 5)
    assert_positions(chunks[0], log.read_bytes())
    assert (tailer.line_count, tailer.offset) == (7, len(block(*range(5, 12))))


def test_replacement_by_an_unrelated_file_delivers_all_of_it(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1, 2, 3))
    drain(tailer)
    tmp = log.with_name("x.tmp")
    tmp.write_bytes(block(2, 40, 41))  # starts with a line we read, but not with our last ones
    os.replace(tmp, log)
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.reset, chunk.first_line) == ([ln(2), ln(40), ln(41)], "replaced", 1)


def test_half_written_rewrite_is_held_until_it_is_complete(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(*range(1, 11)))
    drain(tailer)
    rewrite_in_place(log, block(6, 7, 8))  # the rotation's writer has not finished yet
    assert tailer.poll() == TailChunk(b"", 1, "truncated")
    append(log, block(9, 10, 11))
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.first_line, chunk.reset) == ([ln(11)], 6, None)


def test_held_lines_are_released_by_a_quiet_poll(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(*range(1, 11)))
    drain(tailer)
    rewrite_in_place(log, block(3, 4))  # lines found inside what we read, not at its end
    assert tailer.poll() == TailChunk(b"", 1, "truncated")
    chunk = tailer.poll()
    assert chunk is not None
    assert (chunk.lines, chunk.first_line) == ([ln(3), ln(4)], 1)


def test_overlap_is_only_looked_for_in_the_last_overlap_lines(tmp_path: Path) -> None:
    log = tmp_path / "operations.log"
    log.write_bytes(block(*range(1, 11)))
    tailer = LogTail(log, overlap_lines=3)
    try:
        drain(tailer)
        rewrite_in_place(log, block(*range(6, 13)))
        assert lines_of(drain(tailer)) == [ln(n) for n in range(6, 13)]  # beyond the bound
        rewrite_in_place(log, block(*range(10, 14)))
        assert lines_of(drain(tailer)) == [ln(13)]
    finally:
        tailer.close()


def test_big_file_is_drained_in_chunks(tmp_path: Path) -> None:
    log = tmp_path / "operations.log"
    content = block(*range(20_000))
    log.write_bytes(content)
    tailer = LogTail(log, chunk_bytes=64 << 10)
    try:
        chunks = drain(tailer)
        assert (tailer.offset, tailer.line_count) == (len(content), 20_000)
    finally:
        tailer.close()
    assert len(chunks) > 10
    assert lines_of(chunks) == [ln(n) for n in range(20_000)]
    expected_first = 1
    for chunk in chunks:
        assert chunk.first_line == expected_first
        assert sum(len(line) + 1 for line in chunk.lines) <= (64 << 10) + 100
        expected_first += len(chunk.lines)
    assert_positions(chunks[-1], content)
    assert_positions(chunks[3], content)


def test_line_longer_than_a_chunk_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "operations.log"
    log.write_bytes(b"x" * 100 + b"\nshort\n" + b"y" * 50)
    tailer = LogTail(log, chunk_bytes=16)
    try:
        chunks = drain(tailer)
        assert lines_of(chunks) == [b"x" * 100, b"short"]
        append(log, b"y" * 40 + b"\n")
        assert lines_of(drain(tailer)) == [b"y" * 90]
    finally:
        tailer.close()


def test_unreadable_file_sets_last_error(log: Path, tailer: LogTail) -> None:
    log.write_bytes(block(1))
    log.chmod(0)
    try:
        if os.access(log, os.R_OK):
            pytest.skip("running as a user who can read a chmod 000 file (root)")
        assert tailer.poll() is None
        assert tailer.last_error is not None
        assert str(log) in tailer.last_error and "Permission denied" in tailer.last_error
    finally:
        log.chmod(0o644)
    chunk = tailer.poll()
    assert chunk is not None and chunk.lines == [ln(1)]
    assert tailer.last_error is None


def test_open_refused_sets_last_error_and_recovers(
    log: Path, tailer: LogTail, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.write_bytes(block(1))

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(log))

    monkeypatch.setattr("factory_tui.adapters.tail.os.open", refuse)
    assert tailer.poll() is None
    assert tailer.last_error is not None
    assert str(log) in tailer.last_error and "Permission denied" in tailer.last_error
    monkeypatch.undo()
    chunk = tailer.poll()
    assert chunk is not None and (chunk.lines, chunk.reset) == ([ln(1)], None)
    assert tailer.last_error is None


def test_failed_read_loses_and_repeats_nothing(
    log: Path, tailer: LogTail, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.write_bytes(block(1))
    drain(tailer)
    append(log, block(2, 3))
    real_pread = os.pread

    def failing(fd: int, n: int, offset: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("factory_tui.adapters.tail.os.pread", failing)
    assert tailer.poll() is None
    assert tailer.last_error is not None and str(log) in tailer.last_error
    monkeypatch.setattr("factory_tui.adapters.tail.os.pread", real_pread)
    assert lines_of(drain(tailer)) == [ln(2), ln(3)]


def test_directory_at_the_path_is_an_error(log: Path, tailer: LogTail) -> None:
    log.mkdir()
    assert tailer.poll() is None
    assert tailer.last_error is not None and str(log) in tailer.last_error
    assert "not a regular file" in tailer.last_error


def test_fifo_at_the_path_is_an_error_not_a_hang(log: Path, tailer: LogTail) -> None:
    os.mkfifo(log)
    assert tailer.poll() is None
    assert tailer.last_error is not None and "not a regular file" in tailer.last_error


def test_closed_tail_returns_none(log: Path) -> None:
    log.write_bytes(block(1))
    tailer = LogTail(log)
    tailer.close()
    assert tailer.poll() is None
    tailer.close()


# --- the logical stream survives any sequence of appends, polls and rotations -----------------


class _Writer:
    """Appends an endless stream of unique lines to a log and rotates it the ways agents do."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream = bytearray()
        self._next = 0
        self._buffer = b""
        self._tmp = 0

    def take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            i = self._next
            self._next += 1
            end = b"\r\n" if i % 4 == 3 else b"\n"
            self._buffer += f"{i:05d} | EVT | k={'v' * (i % 13)}".encode() + end
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def append(self, n: int) -> None:
        data = self.take(n)
        self.stream += data
        with self.path.open("ab") as f:
            f.write(data)

    def complete_lines(self) -> list[bytes]:
        return bytes(self.stream).split(b"\n")[:-1]

    def rotate(self, kind: str, keep: int) -> None:
        """Keep the newest ``keep`` complete lines (and the partial last line, if any)."""
        content = self.path.read_bytes() if self.path.exists() else b""
        lines = content.split(b"\n")
        partial = lines.pop()
        kept = lines[len(lines) - keep :] if keep else []
        new = b"".join(line + b"\n" for line in kept) + partial
        old = self.path.with_name(self.path.name + ".1")
        if kind == "rename":
            os.replace(self.path, old)
            self.path.write_bytes(new)
        elif kind == "replace":
            self._tmp += 1
            tmp = self.path.with_name(f"tmp{self._tmp}")
            tmp.write_bytes(new)
            os.replace(tmp, self.path)
        elif kind == "in_place":
            rewrite_in_place(self.path, new)
        elif kind == "unlink":
            self.path.unlink()
        else:
            raise AssertionError(kind)

    def recreate_after_unlink(self, keep_from: bytes) -> None:
        self.path.write_bytes(keep_from)


_OVERLAP = 8

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 120)),
        st.tuples(st.just("poll"), st.just(0)),
        st.tuples(st.just("drain"), st.just(0)),
        st.tuples(
            st.sampled_from(["rename", "replace", "in_place", "unlink", "unlink_poll"]),
            st.integers(0, _OVERLAP),
        ),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=_ops,
    chunk_bytes=st.sampled_from([7, 50, 1 << 20]),
    ends_bytes=st.sampled_from([0, 1, 9, 64, 300]),
)
def test_delivered_lines_are_exactly_the_logical_stream(
    ops: list[tuple[str, int]], chunk_bytes: int, ends_bytes: int
) -> None:
    """... and the ends it keeps of what it read (the fold cache's key) are the file's."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "operations.log"
        writer = _Writer(path)
        tailer = LogTail(
            path, chunk_bytes=chunk_bytes, overlap_lines=_OVERLAP, ends_bytes=ends_bytes
        )
        delivered: list[bytes] = []

        def poll_once() -> None:
            chunk = tailer.poll()
            assert tailer.last_error is None
            assert_ends_read(tailer, ends_bytes)
            if chunk is not None:
                if chunk.lines:
                    starts = [
                        o + len(line) + 1
                        for o, line in zip(chunk.offsets, chunk.lines, strict=True)
                    ]
                    assert chunk.offsets[1:] == starts[:-1]
                delivered.extend(chunk.lines)

        def drain_all() -> None:
            for chunk in drain(tailer):
                delivered.extend(chunk.lines)
                assert_ends_read(tailer, ends_bytes)

        try:
            for op, n in ops:
                if op == "append":
                    writer.append(n)
                elif op == "poll":
                    poll_once()
                elif op == "drain":
                    drain_all()
                else:
                    # The new file must hold every line not yet delivered (a same-inode rewrite
                    # cannot be drained afterwards) and overlap at most what the reader remembers.
                    if not path.exists():
                        continue
                    undelivered = len(writer.complete_lines()) - len(delivered)
                    if undelivered + n > _OVERLAP:
                        drain_all()
                        undelivered = 0
                    on_disk = path.read_bytes().count(b"\n")
                    keep = min(on_disk, undelivered + n)
                    if op.startswith("unlink"):
                        content = path.read_bytes()
                        lines = content.split(b"\n")
                        partial = lines.pop()
                        kept = lines[len(lines) - keep :] if keep else []
                        writer.rotate("unlink", 0)
                        if op == "unlink_poll":
                            poll_once()
                        writer.recreate_after_unlink(b"".join(x + b"\n" for x in kept) + partial)
                    else:
                        writer.rotate(op, keep)
            drain_all()
            drain_all()  # a quiet poll settles anything held
            assert delivered == writer.complete_lines()
        finally:
            tailer.close()


def assert_ends_read(tailer: LogTail, ends_bytes: int) -> None:
    """Right after a poll (nothing rewritten since), the tail's kept ends are its file's."""
    ends, fd, offset = tailer.read_ends(), tailer.fileno, tailer.offset
    if not ends_bytes:
        assert ends is None
        return
    n = min(offset, ends_bytes)
    assert ends is not None
    if fd is None:
        assert ends == (0, b"", b"")
        return
    assert ends == (offset, os.pread(fd, n, 0), os.pread(fd, n, offset - n))


def test_the_kept_ends_are_the_bytes_read_not_the_files_now(log: Path) -> None:
    """Rewritten in place behind the tail (its first bytes), the ends kept are still the ones
    it read: the fold cache keys a fold by what was folded."""
    log.write_bytes(b"first line\nsecond line\n")
    tailer = LogTail(log, ends_bytes=8)
    assert tailer.poll() is not None
    with log.open("r+b") as f:
        f.write(b"FIRST")
    assert tailer.read_ends() == (23, b"first li", b"nd line\n")
    resumed = LogTail(log, ends_bytes=8)
    resumed.resume(11, 1)
    assert resumed.read_ends() == (11, b"FIRST li", b"ST line\n")  # read at the resume


def _open_on(path: Path) -> int:
    """How many of this process's descriptors are open on ``path``."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_tail_let_go_unclosed_closes_its_file(log: Path) -> None:
    """A reader made for one action is dropped, never closed: its tails' files closed with
    them (two descriptors stayed open for each of the cockpit's actions, for its life: a
    thousand actions and it could open no more files)."""
    import gc

    log.write_text("a\n")
    for resumed in (False, True):
        tail = LogTail(log)
        if resumed:
            tail.resume(2, 1)
        else:
            assert tail.poll() is not None
        assert _open_on(log) == 1
        del tail
        gc.collect()
        assert _open_on(log) == 0
    tail = LogTail(log)
    tail.poll()
    tail.close()  # closed first: nothing closed again (the number may be another file's)
    assert _open_on(log) == 0
    del tail
    gc.collect()
