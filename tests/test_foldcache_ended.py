"""Issue 17: the order a long history's sessions ended in (a uint32 each: 6 MB of a 300-day log)
stays in the warm-start cache file, past the body, until something walks back past the last
ones (the fleet's window, a save's live sessions) — then it is read once and checked; damaged,
it is an error that says so and the reader reads cold (never a wrong answer)."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foldcache import NOW, _write, make_factory, reader
from test_foldcache import test_warm_equals_cold_at_any_cut as warm_equals_cold_at_any_cut

from factory_tui.adapters import foldcache
from factory_tui.adapters.foldcache import FoldCache, sealed
from factory_tui.config import Config
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_ended import EndedRefs
from factory_tui.core.fold_sessions import SavedSessionsError

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")


@pytest.fixture(autouse=True)
def few_kept() -> Iterator[None]:
    """The body keeps only the ended sessions a save's walk reads (at least none)."""
    with mock.patch.object(foldcache, "ENDED_KEPT", 0):
        yield


@pytest.fixture
def cache(tmp_path: Path) -> FoldCache:
    return FoldCache(tmp_path / "cache", min_log_bytes=0)


@pytest.fixture
def saved(tmp_path: Path, cache: FoldCache) -> Config:
    """Forty days of sessions, one every six hours, all ended; a new line after the save."""
    config = make_factory(tmp_path / "factory")
    start = NOW - timedelta(days=40)
    lines = []
    for n in range(160):
        at = f"{start + timedelta(hours=6 * n):%Y-%m-%dT%H:%M}"
        lines.append(f"{at} | SESSION-START | task=t{n % 7} branch=b instance=i{n % 3}")
        lines.append(f"{at} | SESSION-END | task=t{n % 7} status=success pr={n}")
    _write(config.log_file, [line.encode() for line in lines])
    assert reader(config, cache).save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(f"{NOW:%Y-%m-%dT%H:%M} | STEP-DONE | step=code task=t1\n".encode())
    return config


def _ended(found: object) -> EndedRefs:
    assert isinstance(found, EndedRefs)
    return found


def test_a_warm_start_reads_the_first_ended_sessions_only_when_a_walk_needs_them(
    saved: Config, cache: FoldCache
) -> None:
    header = json.loads(cache.path_for(saved.log_file).read_bytes().split(b"\n", 1)[0])
    kept = header["arrays"]["ended"]
    assert header["ended_first"]["count"] == 160 - kept and 0 < kept < 20  # two days and one
    warm = reader(saved, cache)
    assert warm.warm_started
    ended = _ended(warm.fold.ended)
    assert len(ended) == 160 and ended[-1].task == "t5" and ended[-kept].seq == 160 - kept
    cold = reader(saved, None)
    assert warm.fleet(NOW, procs={}) == cold.fleet(NOW, procs={})
    assert not ended.first_read and not warm.fold.sessions.archive_read
    # A window that reaches further back (a --now long ago) walks past them: read, the same.
    then = NOW - timedelta(days=30)
    assert warm.fleet(then, procs={}) == cold.fleet(then, procs={})
    assert ended.first_read
    assert [s.seq for s in ended] == list(range(160))
    assert warm.fold.to_state() == cold.fold.to_state()


def test_the_last_ones_are_read_as_a_cold_fold_has_them(saved: Config, cache: FoldCache) -> None:
    warm, cold = reader(saved, cache), reader(saved, None)
    ended = _ended(warm.fold.ended)
    for index in (-1, -2, 159, 150):
        assert ended[index].seq == cold.fold.ended[index].seq
    assert [s.seq for s in ended[150:]] == [s.seq for s in cold.fold.ended[150:]]
    assert not ended.first_read
    assert ended[3].seq == 3 and ended.first_read  # an early one: read
    with pytest.raises(IndexError):
        ended[160]


def test_a_warm_fold_saved_again_keeps_every_ended_session(saved: Config, cache: FoldCache) -> None:
    assert reader(saved, cache).save_fold_cache()
    again, cold = reader(saved, cache), reader(saved, None)
    assert again.warm_started and not _ended(again.fold.ended).first_read
    assert again.fleet(NOW, procs={}) == cold.fleet(NOW, procs={})
    assert again.fold.to_state() == cold.fold.to_state()
    assert [s.seq for s in again.fold.ended] == list(range(160))


def _flip_first(data: bytes) -> bytes:
    """A byte of the first ended sessions (right after the body's arrays) changed."""
    first, rest = data.split(b"\n", 1)
    header = json.loads(first)
    at = header["body_bytes"] + 4 * sum(header["arrays"].values()) + 1
    return first + b"\n" + rest[:at] + bytes([rest[at] ^ 0xFF]) + rest[at + 1 :]


def test_damaged_first_ended_sessions_are_found_when_read_and_the_reader_reads_cold(
    saved: Config, cache: FoldCache
) -> None:
    path = cache.path_for(saved.log_file)
    path.write_bytes(_flip_first(path.read_bytes()))
    found, cold = reader(saved, cache), reader(saved, None)
    assert found.warm_started  # the body is sound
    assert found.fleet(NOW, procs={}) == cold.fleet(NOW, procs={})
    with pytest.raises(SavedSessionsError, match=r"ended sessions .*checksum.*--no-cache"):
        list(found.fold.ended)
    assert not path.exists()
    then = NOW - timedelta(days=30)
    assert found.fleet(then, procs={}) == cold.fleet(then, procs={})  # read cold, on the way
    assert not found.warm_started and found.logs.cold_because is not None
    assert found.fold.to_state() == cold.fold.to_state()


def test_first_ended_sessions_that_are_not_sessions_are_refused(
    saved: Config, cache: FoldCache
) -> None:
    """Sound by their checksum (a cache made by someone else) but naming a session past the
    count, or fewer than the header says: refused when read, never followed."""
    warm = reader(saved, cache)
    ended = _ended(warm.fold.ended)
    ended._load = lambda: foldcache.array("I", [10**6] * ended._before)  # type: ignore[method-assign]
    with pytest.raises(SavedSessionsError, match="not those it saved"):
        ended[0]
    ended._load = lambda: foldcache.array("I", [0])  # type: ignore[method-assign]
    with pytest.raises(SavedSessionsError, match="not those it saved"):
        list(ended)


def test_warm_equals_cold_at_any_cut_with_the_first_ended_sessions_apart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The random histories of test_foldcache, their ended sessions cut to what a save reads."""
    warm_equals_cold_at_any_cut(tmp_path_factory)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sessions=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 2), st.booleans(), st.integers(0, 30)),
        min_size=1,
        max_size=50,
    ),
    cut=st.floats(0, 1),
    back=st.integers(0, 40),
)
def test_random_long_histories_start_warm_as_cold(
    tmp_path_factory: pytest.TempPathFactory,
    sessions: list[tuple[int, int, bool, int]],
    cut: float,
    back: int,
) -> None:
    """Sessions over weeks (each: its task, its instance, whether it ended, hours after the
    one before), saved at a random cut and read warm: the fleet now and ``back`` days ago, and
    the fold saved again, are a cold read's."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    at, lines = NOW - timedelta(days=30), []
    for task, instance, ends, gap in sessions:
        at += timedelta(hours=gap)
        lines.append(f"{at:%Y-%m-%dT%H:%M} | SESSION-START | task=t{task} instance=i{instance}")
        if ends:
            lines.append(f"{at:%Y-%m-%dT%H:%M} | SESSION-END | task=t{task} status=success")
    data = b"".join(line.encode() + b"\n" for line in lines)
    config.log_file.write_bytes(data[: int(len(data) * cut)])
    assert reader(config, cache).save_fold_cache()
    config.log_file.write_bytes(data)
    warm, cold = reader(config, cache), reader(config, None)
    for now in (NOW, NOW - timedelta(days=back)):
        assert warm.fleet(now, procs={}) == cold.fleet(now, procs={})
    assert warm.fold.to_state() == cold.fold.to_state()


def test_a_cache_of_the_old_format_reads_cold(tmp_path: Path, cache: FoldCache) -> None:
    config = make_factory(tmp_path / "factory")
    _write(config.log_file, [f"{datetime(2026, 2, 1, 10, n):%Y-%m-%dT%H:%M} | X | a=b".encode()
                             for n in range(50)])  # fmt: skip
    assert reader(config, cache).save_fold_cache()
    path = cache.path_for(config.log_file)
    first, rest = path.read_bytes().split(b"\n", 1)
    path.write_bytes(json.dumps({**json.loads(first), "format": 4}).encode() + b"\n" + rest)
    found = reader(config, cache)
    assert not found.warm_started and "another cache format" in (cache.last_miss or "")


def test_slices_of_the_last_ones_are_a_lists_slices() -> None:
    """Every slice of the refs, lazy or read, is the plain list's (a stop before the start is
    empty), and none that stays among the last ones reads the first."""
    fold = LogFold()
    lines = [
        f"2026-02-01T10:{n:02d} | SESSION-{what} | task=t{n} branch=b instance=i{n} status=success"
        for n in range(12)
        for what in ("START", "END")
    ]
    fold.feed_lines([line.encode() for line in lines], "operations.log")
    seqs = list(fold.ended.seqs)
    for start in (None, -20, -3, 0, 1, 2, 3, 5, 11, 12, 20):
        for stop in (None, -20, -1, 0, 1, 2, 4, 11, 12, 20):
            for step in (None, 1, 2, -1):
                lazy = EndedRefs(
                    fold.sessions, array("I", seqs[2:]), 2, lambda: array("I", seqs[:2])
                )
                expected = seqs[start:stop:step]
                assert [s.seq for s in lazy[start:stop:step]] == expected, (start, stop, step)
    lazy = EndedRefs(fold.sessions, array("I", seqs[2:]), 2, lambda: array("I", seqs[:2]))
    assert [s.seq for s in lazy[5:1]] == [] and [s.seq for s in lazy[3:]] == seqs[3:]
    assert not lazy.first_read


def test_a_header_that_says_too_many_first_ended_sessions_reads_cold(
    saved: Config, cache: FoldCache
) -> None:
    path = cache.path_for(saved.log_file)
    first, rest = path.read_bytes().split(b"\n", 1)
    header = json.loads(first)
    header["ended_first"]["count"] = 10**12
    path.write_bytes(json.dumps(sealed(header)).encode() + b"\n" + rest)  # past its checksum
    found = reader(saved, cache)
    assert not found.warm_started and "size" in (cache.last_miss or "")
    assert found.fold.to_state() == reader(saved, None).fold.to_state()


def test_a_fold_with_few_ended_sessions_keeps_them_all_in_the_body(tmp_path: Path) -> None:
    """At the default (4,096 at least), a short history's ended sessions are all in the body:
    nothing to read later."""
    with mock.patch.object(foldcache, "ENDED_KEPT", 4096):
        cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
        config = make_factory(tmp_path / "factory")
        lines = [
            f"2026-01-{1 + n // 60:02d}T10:{n % 60:02d} | SESSION-{what} | task=t branch=b "
            f"instance=i status=success"
            for n in range(300)
            for what in ("START", "END")
        ]
        _write(config.log_file, [line.encode() for line in lines])
        assert reader(config, cache).save_fold_cache()
        header = json.loads(cache.path_for(config.log_file).read_bytes().split(b"\n", 1)[0])
        assert header["ended_first"]["count"] == 0 and header["arrays"]["ended"] == 300
        warm = reader(config, cache)
        assert warm.warm_started and not isinstance(warm.fold.ended, EndedRefs)
