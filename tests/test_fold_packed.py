"""The fold packs its old ended sessions (a long history's memory is its live sessions): every
reader must get what the plain fold of every session as a record gives — field by field, the
fleet's picks, the save and its warm start."""

from __future__ import annotations

import gc
import json
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_foldcache import _LINE, NOW, _plain, assert_same, fold_fields, make_factory, reader

from factory_tui.adapters.foldcache import FoldCache
from factory_tui.core import fold_packed, fold_sessions
from factory_tui.core.cost_attribution import SpanBuilder
from factory_tui.core.fleet import Settings
from factory_tui.core.fleet_sessions import picked_sessions
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_packed import FIELDS, make_session
from factory_tui.core.fold_records import SessionRec

_SESSION_LINE = st.builds(
    lambda day, n, name, task, extra: (
        f"2026-02-{day:02d}T{n // 60:02d}:{n % 60:02d} | {name} | task={task}{extra}".encode()
    ),
    st.sampled_from([1, 11, 12, 12]),  # before the history window, and within it
    st.integers(0, 959),
    st.sampled_from(["SESSION-START", "SESSION-START", "SESSION-END", "STEP-DONE"]),
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from(
        [" branch=x instance=i1", " instance=i2", " status=success pr=7", " status=crashed",
         " status=success recovered_by=i2", " step=s", ' step=s detail="q r"', ""]
    ),
)  # fmt: skip
_HISTORY = st.lists(st.one_of(_SESSION_LINE, _SESSION_LINE, _LINE), max_size=60)


@contextmanager
def chunk(size: int) -> Iterator[None]:
    """Sessions tables made meanwhile pack ``size`` sessions at a time (a huge size: never)."""
    with mock.patch.object(fold_sessions, "CHUNK", size):
        yield


def fold_of(lines: list[bytes], size: int, *, cut: int | None = None) -> LogFold:
    """The fold of ``lines`` (in two blocks when ``cut``), packing ``size`` at a time."""
    with chunk(size):
        fold = LogFold()
        if cut is None:
            fold.feed_lines(lines, "operations.log")
        else:
            fold.feed_lines(lines[:cut], "operations.log")
            fold.feed_lines(lines[cut:], "operations.log", cut + 1)
    return fold


def assert_same_folds(packed: LogFold, plain: LogFold) -> None:
    """Every reader of the sessions gets the same answer from both folds."""
    assert len(packed.sessions) == len(plain.sessions)
    for seq in reversed(range(len(plain.sessions))):  # by index: newest first, as the fleet
        assert _plain(packed.sessions[seq]) == _plain(plain.sessions[seq])
    for start in range(0, len(plain.sessions), 3):
        assert _plain(packed.sessions[start:]) == _plain(plain.sessions[start:])
    for name in FIELDS:
        assert packed.sessions.column(name) == plain.sessions.column(name)
    assert _plain(list(reversed(packed.ended))) == _plain(list(reversed(plain.ended)))
    for days in (1, 30):
        config = Settings(history=timedelta(days=days))
        picks = [sorted(picked_sessions(fold, NOW, config), key=_seq) for fold in (packed, plain)]
        assert _plain(picks[0]) == _plain(picks[1])
    assert fold_fields(packed) == fold_fields(plain)
    assert packed.to_state() == plain.to_state()
    # What the fold's tables hold is what the table gives (the fold changes them in place).
    table = packed.sessions
    assert all(table[rec.seq] is rec for rec in packed.latest_by_task.values())
    assert all(table[rec.seq] is rec for opened in packed.open_by_task.values() for rec in opened)


def _as_saved(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` as the cache file gives it back: JSON but its uint32 arrays."""
    return {k: v if isinstance(v, array) else json.loads(json.dumps(v)) for k, v in state.items()}


def _seq(rec: SessionRec) -> int:
    return rec.seq


_SETTINGS = settings(max_examples=150, deadline=None)


@_SETTINGS
@given(lines=_HISTORY, size=st.integers(1, 3), cut=st.none() | st.integers(0, 60))
def test_a_packed_fold_answers_as_the_plain_one(
    lines: list[bytes], size: int, cut: int | None
) -> None:
    packed = fold_of(lines, size, cut=None if cut is None else min(cut, len(lines)))
    plain = fold_of(lines, 10**9)
    if len(plain.sessions) >= 2 * size:
        assert packed.sessions.unpacked < len(packed.sessions)  # it did pack
    assert_same_folds(packed, plain)
    # Saved and restored, then fed more, it still answers the same.
    with chunk(size):
        restored = LogFold.from_state(_as_saved(packed.to_state()))
        restored.feed_lines(lines, "operations.log", len(lines) + 1)
    again = fold_of(lines + lines, 10**9)
    assert_same_folds(restored, again)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=_HISTORY, cut=st.floats(0, 1))
@example(  # counted in another order warm and cold (hypothesis found it in a run of the suite)
    log=[
        b"2026-02-01T00:00 | SESSION-END | task=a status=success pr=7",
        b"2026-02-01T00:00 | SESSION-START | task=a branch=x instance=i1",
    ],
    cut=0.5,
)
def test_a_packed_fold_saved_starts_warm_as_the_plain_one_reads_cold(
    tmp_path_factory: pytest.TempPathFactory, log: list[bytes], cut: float
) -> None:
    """The warm-start cache of a packed fold: saved, then started warm after more lines, it
    equals the cold read of a fold that never packs (fleet, save, fields)."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    data = b"".join(line + b"\n" for line in log)
    at = int(len(data) * cut)
    config.log_file.write_bytes(data[:at])
    with chunk(2):
        first = reader(config, cache)
        assert first.save_fold_cache()
        config.log_file.write_bytes(data)
        warm = reader(config, cache)
        assert warm.warm_started, cache.last_miss
        cold_packed = reader(config, None)
    with chunk(10**9):
        cold = reader(config, None)
    assert_same(warm, cold)
    assert_same(cold_packed, cold)


def _long_history(sessions: int) -> bytes:
    """``sessions`` sessions of 10 tasks, one after another, a minute each."""
    start = datetime(2026, 1, 1)
    lines = []
    for n in range(sessions):
        at = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M")
        task = f"T-{n % 10}"
        lines.append(f"{at} | SESSION-START | task={task} branch=b/{task} instance=i{n % 7}")
        lines.append(f"{at} | STEP-DONE | step=code task={task} pr={n}")
        lines.append(f"{at} | SESSION-END | task={task} status=success pr={n}")
    return "\n".join(lines).encode()


def test_a_long_history_keeps_few_sessions_as_records(tmp_path: Path) -> None:
    """30,000 ended sessions: the fold keeps the recent ones as records, not all of them (it
    kept every one: ~400 bytes each, a gigabyte for a 12-million-line log)."""
    fold = LogFold()
    fold.feed_block(_long_history(30_000), "operations.log")
    gc.collect()
    records = sum(1 for obj in gc.get_objects() if type(obj) is SessionRec)
    assert len(fold.sessions) == 30_000
    assert records <= 3 * fold_sessions.CHUNK
    assert fold.sessions[123].pr == "123"
    assert [rec.seq for rec in fold.latest_by_task.values()] == list(range(29_990, 30_000))


def test_a_walk_back_through_alternating_chunks_unpacks_each_once() -> None:
    """Sessions end in another order than they started: the walk back through the last ones
    that ended goes from one chunk to another and back; each chunk is unpacked once."""
    packed = fold_packed.PackedChunks(0, 2)
    recs = [SessionRec("2026-02-12T14:00", f"t{n}", None, "i1", None, None, n + 1, "s", n)
            for n in range(6)]  # fmt: skip
    for first in range(0, 6, 2):
        packed.pack(recs[first : first + 2], [False, first == 2])
    with mock.patch.object(fold_packed.zlib, "decompress", wraps=zlib.decompress) as unzip:
        made = [packed.session(seq) for seq in (5, 1, 4, 0, 5, 1, 3, 2)]
    assert unzip.call_count == 3 * len(fold_packed.FIELDS)
    assert [None if rec is None else rec.task for rec in made] == [
        "t5", "t1", "t4", "t0", "t5", "t1", None, "t2"  # t3 was left out: still open
    ]  # fmt: skip
    assert _plain(made[0]) == _plain(recs[5])


def test_line_numbers_past_uint32_are_packed_as_they_are() -> None:
    packed = fold_packed.PackedChunks(0, 2)
    recs = [SessionRec("2026-02-12T14:00", "t", None, None, None, None, 2**32 + n, "s", n)
            for n in range(2)]  # fmt: skip
    for rec in recs:
        rec.ended_at, rec.end_line = "2026-02-12T15:00", 2**40
    packed.pack(recs, [False, False])
    assert [_plain(packed.session(seq)) for seq in (0, 1)] == [_plain(rec) for rec in recs]


def test_the_cost_spans_of_a_packed_fold_are_those_of_the_plain_one() -> None:
    """The cost view's spans of every session (made from the packed columns, then kept up to
    date as the log grows) are those of a fold that never packs."""
    history = _long_history(12_000).split(b"\n")
    folds = []
    for size in (fold_sessions.CHUNK, 10**9):
        with chunk(size):
            fold = LogFold()
            fold.feed_lines(history[:-600], "operations.log")
            builder = SpanBuilder()
            first = builder.build(fold.sessions, [], worktrees={"/w/T-1": "b/T-1"})
            fold.feed_lines(history[-600:], "operations.log", len(history) - 599)
            folds.append((first, builder.build(fold.sessions, [], worktrees={"/w/T-1": "b/T-1"})))
    assert folds[0] == folds[1]
    assert len(folds[0][1]) == 12_000


def test_packing_asks_about_the_kept_records_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each task's latest session stays a record; a pack used to ask again about every record
    kept so far, so a history of many tasks (10,000 at the 10x scale) cost sessions x tasks / a
    chunk's size: quadratic. Asked again only when the kept ones have doubled: linear."""
    monkeypatch.setattr(fold_sessions, "CHUNK", 16)
    table = fold_sessions.SessionTable()
    asked = 0

    def keep(rec: SessionRec) -> bool:
        nonlocal asked
        asked += 1
        return True  # every task is new: each session is its task's latest

    sessions = 16 * 200
    for n in range(sessions):
        rec = SessionRec("2026-02-12T14:00", f"T-{n}", None, "i1", None, None, n + 1, "s", n)
        rec.ended_at = "2026-02-12T14:01"
        table.append(rec)
        if table.unpacked >= 2 * table.chunk:
            table.pack(keep)
    assert asked <= 4 * sessions
    assert [table[n].task for n in (0, 17, sessions - 1)] == ["T-0", "T-17", f"T-{sessions - 1}"]


def test_a_made_session_has_each_value_in_its_own_field() -> None:
    """make_session assigns the fields positionally, in FIELDS order: a field added to or
    moved in FIELDS without it would swap values."""
    rec = make_session(7, [f"v-{name}" for name in FIELDS])
    assert rec.seq == 7
    assert {name: getattr(rec, name) for name in FIELDS} == {name: f"v-{name}" for name in FIELDS}
    assert set(FIELDS) | {"seq"} == set(SessionRec.__slots__)


def test_a_session_superseded_as_its_tasks_latest_stops_being_a_record() -> None:
    """A packed session kept as its task's latest is let go when a later session of its task
    starts, not at the packing's next check of every kept record (which, with 10,000 tasks,
    walked ~20,000 records every few chunks: a second of the 10x factory's fold)."""
    lines = []
    for n in range(2_000):  # 100 tasks, each session ended long before the next of its task
        at = f"2026-01-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}"
        lines.append(f"{at} | SESSION-START | task=T-{n % 100} instance=i{n % 7}".encode())
        lines.append(f"{at} | SESSION-END | task=T-{n % 100} status=success".encode())
    with chunk(16):
        fold = LogFold()
        for n in range(0, len(lines), 2):  # checked after each session
            fold.feed_lines(lines[n : n + 2], "operations.log", n + 1)
            kept = fold.sessions._kept
            assert all(fold.latest_by_task[rec.task] is rec for rec in kept.values()), n
    assert kept  # the latest of tasks whose chunk is packed stay records
    assert fold.sessions[5].task == "T-5"  # a superseded one is made again from its chunk
