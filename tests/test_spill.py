"""A long cold read keeps its packed old sessions in an unlinked file, not in memory (issue 17: ~30
MB of the 10x factory's cold read, in its two processes), and every reader still gets what the
plain fold gives: one process's read, a split read's child's (its chunks stay in its file), the
warm-start cache saved from them; a full disk keeps them in memory, a file cut short makes the
read start again, never a wrong answer."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fold_packed import _HISTORY, assert_same_folds, chunk, fold_of
from test_foldcache import starts_warm_as_cold
from test_split_read import NOW, _assert_as_one_core, _factory, _one_core, small_logs_split

from factory_tui.adapters import spill as spill_module
from factory_tui.adapters import split_read
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.forked import fork_allowed
from factory_tui.adapters.spill import SpillFile, spill_file
from factory_tui.core import fold_sessions
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_packed import PackedChunks

__all__ = ["small_logs_split"]  # the split read's small logs (autouse there), used below


def _packed(fold: LogFold) -> PackedChunks:
    return fold.sessions._packed


def test_a_spill_file_gives_back_what_it_was_given_and_has_no_name(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spill = SpillFile(cache)
    assert spill.file is None  # made when first written to
    assert (spill.put(b"abc"), spill.put(b"defg")) == (0, 3)
    assert (spill.get(3, 4), spill.get(0, 3)) == (b"defg", b"abc")
    assert spill.file is not None
    assert Path(f"/proc/self/fd/{spill.file.fileno()}").readlink().parent == cache
    assert list(cache.iterdir()) == []  # no name: gone with its descriptor, however it ends
    assert spill_file(spill.token) is spill
    with pytest.raises(ValueError, match="does not hold"):
        spill_file("0123456789abcdef")  # an answer naming a file this process never made


def test_a_full_disk_keeps_the_chunks_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chunk the file cannot take, and every later one, stays in memory: the fold
    answers the same."""
    lines = [
        f"2026-02-12T10:{n % 60:02d} | SESSION-{'START' if n % 2 == 0 else 'END'} | task=t{n // 2}"
        f"{' branch=b instance=i1' if n % 2 == 0 else ' status=success'}".encode()
        for n in range(40)
    ]
    spill = SpillFile()
    with chunk(2):
        fold = LogFold()
        fold.sessions.store = spill
        fold.feed_lines(lines[:12], "operations.log")
        stored = _packed(fold).packed_bytes - _packed(fold).held_bytes
        assert stored > 0

        def full(*_args: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(spill_module.os, "pwrite", full)
        fold.feed_lines(lines[12:30], "operations.log", 13)
        monkeypatch.undo()  # room again: the file takes no more all the same
        fold.feed_lines(lines[30:], "operations.log", 31)
    assert _packed(fold).held_bytes > 0
    assert _packed(fold).packed_bytes - _packed(fold).held_bytes == stored
    assert_same_folds(fold, fold_of(lines, 10**9))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_HISTORY, size=st.integers(1, 3))
def test_a_fold_whose_chunks_are_in_a_file_answers_as_the_plain_one(
    lines: list[bytes], size: int
) -> None:
    with tempfile.TemporaryDirectory() as folder, chunk(size):
        fold = LogFold()
        fold.sessions.store = SpillFile(Path(folder))
        fold.feed_lines(lines, "operations.log")
        assert _packed(fold).held_bytes == 0
        assert_same_folds(fold, fold_of(lines, 10**9))
        assert os.listdir(folder) == []


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_sessions, "CHUNK", 16)


@pytest.mark.usefixtures("small_logs_split", "small_chunks")
def test_a_cold_reads_packed_sessions_are_in_its_file_not_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _factory(tmp_path / "factory")
    found = _one_core(config)
    packed = _packed(found.fold)
    assert packed.chunk_count > 10 and packed.held_bytes == 0
    assert found.logs.spill.end == packed.packed_bytes
    monkeypatch.setattr(SpillFile, "put", lambda _self, _data: None)  # a disk that is full
    plain = _one_core(config)
    assert _packed(plain.fold).held_bytes == _packed(plain.fold).packed_bytes > 0
    assert found.fleet(NOW, procs={}).to_json() == plain.fleet(NOW, procs={}).to_json()


@pytest.mark.usefixtures("small_logs_split", "small_chunks")
def test_a_split_reads_tail_stays_in_the_childs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child packs into the file this process made for its answer; the merge adopts its
    chunks where they are, and the warm-start cache saved from the fold reads them there."""
    if not fork_allowed():
        pytest.skip("no fork here")
    monkeypatch.setattr(split_read, "_forks", lambda: True)
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    split = FactoryReader(config, hostname="h", fold_cache=cache)
    split.refresh_log()
    assert split.logs.split_merged
    chunks = _packed(split.fold)._chunks
    stores = {id(getattr(c, "store", None)) for c in chunks}
    assert id(split.logs.spill) in stores and len(stores - {id(split.logs.spill)}) == 1
    assert _packed(split.fold).held_bytes == 0
    _assert_as_one_core(split, config)
    assert split.save_fold_cache()
    starts_warm_as_cold(config, cache)
    assert [p.name for p in cache.folder.iterdir() if not p.name.startswith("fold-")] == []


@pytest.mark.usefixtures("small_logs_split", "small_chunks")
def test_a_file_cut_short_makes_the_read_start_again(tmp_path: Path) -> None:
    """What was packed cannot be read back whole: the fold cannot answer, and is read again
    from the start (into a file of its own), as a damaged warm-start cache is."""
    config = _factory(tmp_path / "factory")
    found = _one_core(config)
    spill = found.logs.spill
    assert spill.file is not None
    os.ftruncate(spill.file.fileno(), spill.end // 2)
    # A walk over every session (the spend's attribution's, a save's) reads them all back.
    count = found.with_fold(lambda fold: sum(1 for _rec in fold.sessions))
    assert found.logs.cold_because is not None and "on disk" in found.logs.cold_because
    assert found.logs.spill is not spill and _packed(found.fold).held_bytes == 0
    cold = _one_core(config)
    assert count == len(cold.fold.sessions)
    assert found.fleet(NOW, procs={}).to_json() == cold.fleet(NOW, procs={}).to_json()


def test_where_files_cannot_be_written_at_an_offset_nothing_is_spilled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spill_module, "_POSITIONED", False)  # as on Windows
    spill = SpillFile()
    assert spill.put(b"abc") is None and spill.file is None


@pytest.mark.usefixtures("small_chunks")
def test_a_save_made_by_a_forked_child_reads_the_chunks_from_the_file(tmp_path: Path) -> None:
    """The cockpit's save is made by a fork of it: it reads the packed sessions from the same
    file (``pread``, at the offsets this process wrote), and the cache it writes starts warm as
    a cold read answers."""
    if not fork_allowed():
        pytest.skip("no fork here")
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    cockpit = FactoryReader(config, hostname="h", fold_cache=cache)
    cockpit.logs.split = False
    cockpit.logs.save_in_child = True
    assert cockpit.refresh_log()
    assert _packed(cockpit.fold).held_bytes == 0 and cockpit.logs.spill.end > 0
    assert cockpit.logs._saving  # a forked child saves
    assert cockpit.logs.wait_saves(30)
    starts_warm_as_cold(config, cache)
