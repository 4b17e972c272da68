"""The walk back through the ends (LATE_ENDS) with SESSION-END lines logged late (older times,
zones, unparseable ones): a partial derive against a full one, and a warm start against a cold
read."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foldcache import fold_fields, make_factory, reader
from test_superseded_crashes import NOW, at, derive, derived_in_batches, folded, listed, start

from factory_tui.adapters.foldcache import FoldCache
from factory_tui.core import fold_ended
from factory_tui.core.fleet_derive import FleetDeriver

LATE = fold_ended.LATE_ENDS


def _old(n: int, prefix: str = "O") -> list[str]:
    """``n`` sessions of their own tasks, started and ended two and a half days ago."""
    return [
        line
        for k in range(n)
        for line in (
            start(60, f"{prefix}{k}", "o"),
            f"{at(59)} | SESSION-END | task={prefix}{k} status=success",
        )
    ]


def test_partial_keeps_a_superseded_end_the_full_walk_no_longer_reaches() -> None:
    """A's session ended an hour ago, then LATE_ENDS old ends were logged (late): A's is shown
    as its task's latest. A new session of A starts: a full derive's walk stops before A's
    end (LATE_ENDS old ones in a row), the partial derive keeps it (is_shown: ended within
    the window)."""
    lines = [start(2, "A", "i1"), f"{at(1)} | SESSION-END | task=A status=success", *_old(LATE)]
    fold = folded(lines)
    deriver = FleetDeriver()
    derive(fold, deriver)
    fold.feed_lines([start(0.5, "A", "i2").encode()], "operations.log", len(lines) + 1)
    partial = derive(fold, deriver)
    assert deriver.partial_derives == 1
    full = derive(fold)
    assert ("A", "i1", "ended") not in listed(full)
    assert partial == full


def test_partial_keeps_an_end_the_walk_stops_before_after_one_more_old_end() -> None:
    """B's first session (not its task's latest) ended 2.5 h ago, then LATE_ENDS - 1 old ends:
    the walk reaches it. One more old end is logged: the walk stops before it (a full derive
    drops it); the partial derive does not touch B and keeps it."""
    lines = [
        start(3, "B", "b1"),
        f"{at(2.5)} | SESSION-END | task=B status=success",
        start(2, "B", "b2"),
        *_old(LATE - 1),
    ]
    fold = folded(lines)
    deriver = FleetDeriver()
    assert ("B", "b1", "ended") in listed(derive(fold, deriver))
    fold.feed_lines([line.encode() for line in _old(1, "P")], "operations.log", len(lines) + 1)
    partial = derive(fold, deriver)
    full = derive(fold)
    assert ("B", "b1", "ended") not in listed(full)
    assert partial == full


_HOURS = [0.1, 2, 30, 60, 100]


def _stamp(hours: float, shape: int, now: datetime = NOW) -> str:
    """``hours`` before ``now`` in one of the shapes the wild writes (5: not a time)."""
    when = now - timedelta(hours=hours)
    return [
        f"{when:%Y-%m-%dT%H:%M}",
        f"{when:%Y-%m-%dT%H:%M:%S}",
        f"{when:%Y-%m-%d %H:%M}",
        f"{when:%Y-%m-%dT%H:%M}Z",
        f"{when:%Y-%m-%dT%H:%M}+02:00",
        "not-a-time",
    ][shape]


_SHAPE = st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])
_LOG_LINE = st.one_of(
    st.builds(
        lambda h, s, t, i: f"{_stamp(h, s)} | SESSION-START | task=t{t} branch=b instance=i{i}",
        st.sampled_from(_HOURS), _SHAPE, st.integers(0, 3), st.integers(0, 2),
    ),
    st.builds(
        lambda h, s, t, st_: f"{_stamp(h, s)} | SESSION-END | task=t{t} status={st_}",
        st.sampled_from(_HOURS), _SHAPE, st.integers(0, 3), st.sampled_from(["success", "crashed"]),
    ),
    st.builds(
        lambda h, s, t: f"{_stamp(h, s)} | STEP-DONE | step=code task=t{t}",
        st.sampled_from(_HOURS), _SHAPE, st.integers(0, 3),
    ),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(_LOG_LINE, min_size=1, max_size=30),
    cuts=st.lists(st.integers(0, 30), min_size=1, max_size=4),
    late_ends=st.sampled_from([1, 2, 3, LATE]),
)
def test_partial_equals_full_with_small_late_ends(
    lines: list[str], cuts: list[int], late_ends: int
) -> None:
    """Lines as they came (late ends, mixed shapes, unparseable times), LATE_ENDS small so a
    short log crosses it: a partial derive after each batch equals a full one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fold_ended, "LATE_ENDS", late_ends)
        derived_in_batches(lines, cuts)


_NOWS = [NOW, NOW + timedelta(days=5), NOW - timedelta(days=2)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(_LOG_LINE, min_size=0, max_size=40),
    cut=st.integers(0, 40),
    late_ends=st.sampled_from([1, 2, 3, LATE]),
    now=st.sampled_from(_NOWS),
)
def test_warm_equals_cold_with_late_mixed_ends(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[str],
    cut: int,
    late_ends: int,
    now: datetime,
) -> None:
    """Save the fold of a prefix, append the rest: a warm start's fleet (at ``now``: the log's
    time, days after, days before: ends in the future) and fold equal a cold read's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fold_ended, "LATE_ENDS", late_ends)
        root = tmp_path_factory.mktemp("f") / "factory"
        config = make_factory(root)
        cache = FoldCache(root.parent / "cache", min_log_bytes=0)
        data = [x.encode() + b"\n" for x in lines]
        cut = min(cut, len(data))
        config.log_file.write_bytes(b"".join(data[:cut]))
        assert reader(config, cache).save_fold_cache()
        with config.log_file.open("ab") as f:
            f.write(b"".join(data[cut:]))
        warm, cold = reader(config, cache), reader(config, None)
        assert warm.warm_started, cache.last_miss
        assert warm.fleet(now, procs={}) == cold.fleet(now, procs={})
        assert fold_fields(warm.fold) == fold_fields(cold.fold)


def _session(n: int, hours: float, zone: str = "") -> list[bytes]:
    return [
        f"{at(hours + 0.5)} | SESSION-START | task=s{n} branch=b instance=i{n % 7}".encode(),
        f"{at(hours)}{zone} | SESSION-END | task=s{n} status=success".encode(),
    ]


def test_an_end_dated_in_the_future_leaves_the_warm_start_right(tmp_path: Path) -> None:
    """LATE_ENDS + 50 sessions of two tasks ended an hour ago, then one END dated a week
    ahead (another machine's clock): the save's live walk cuts 48 h before that one and
    stops after LATE_ENDS; the fleet's walk (24 h before now) goes on past them, into the
    archive (slower: read once), and answers as a cold read."""
    config = make_factory(tmp_path / "factory")
    lines = [line for n in range(LATE + 50) for line in _session(n % 2, 1)]
    lines += [
        f"{at(3)} | SESSION-START | task=f branch=b instance=if".encode(),
        f"{NOW + timedelta(days=7):%Y-%m-%dT%H:%M} | SESSION-END | task=f status=crashed".encode(),
    ]
    lines += [b"2026-02-12T15:00 | SESSION-START | task=z branch=b instance=iz"]
    config.log_file.write_bytes(b"".join(x + b"\n" for x in lines))
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    assert reader(config, cache).save_fold_cache()
    warm, cold = reader(config, cache), reader(config, None)
    assert warm.warm_started
    assert warm.fleet(NOW, procs={}) == cold.fleet(NOW, procs={})
    assert fold_fields(warm.fold) == fold_fields(cold.fold)


FC_NOW = datetime(2026, 2, 12, 16, 0)  # test_foldcache's NOW (assert_same derives at it)


def _fc(hours: float, shape: int = 0) -> str:
    return _stamp(hours, shape, FC_NOW)


def _pair(task: str, instance: str, ended: float, shape: int = 0) -> list[bytes]:
    return [
        f"{_fc(ended + 0.5)} | SESSION-START | task={task} branch=b instance={instance}".encode(),
        f"{_fc(ended, shape)} | SESSION-END | task={task} status=success".encode(),
    ]


_BLOCK = st.builds(
    lambda n, hours, shape: [
        line for k in range(n) for line in _pair(f"o{k % 3}", "io", hours, shape)
    ],
    st.sampled_from([LATE - 2, LATE - 1, LATE, LATE + 1]),
    st.sampled_from([30, 60, 200]),
    st.sampled_from([0, 3, 4]),
)
_RECENT = st.builds(
    lambda t, i, hours, shape: _pair(f"r{t}", f"i{i}", hours, shape),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from([0.1, 1, 5, 20, 23.9, 30, 47, 49]),
    st.sampled_from([0, 1, 2, 3, 4]),
)
_OTHER = st.sampled_from(
    [
        [f"{_fc(0.2)} | SESSION-START | task=r0 branch=b instance=i9".encode()],
        [f"{_fc(0.2)} | STEP-DONE | step=code task=r1".encode()],
        [b"2026-02-12Tnope | SESSION-END | task=r2 status=success"],
        [f"{_fc(-30)} | SESSION-END | task=r1 status=crashed".encode()],  # a future end
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(st.one_of(_RECENT, _RECENT, _OTHER, _BLOCK), min_size=1, max_size=10),
    cut=st.floats(0, 1),
)
def test_warm_equals_cold_and_partial_full_around_late_ends_blocks(
    tmp_path_factory: pytest.TempPathFactory, parts: list[list[bytes]], cut: float
) -> None:
    """Recent sessions (times in every shape), runs of LATE_ENDS - 2 .. LATE_ENDS + 1 old ends
    logged late (with zones), a future end, a line whose time does not parse; saved at a line
    anywhere, the rest appended: the warm start equals a cold read (no archive read unless an
    end in the future made it), and a partial derive after the append equals a full one."""
    lines = [line for part in parts for line in part]
    at_line = int(len(lines) * cut)
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    config.log_file.write_bytes(b"".join(x + b"\n" for x in lines[:at_line]))
    first = reader(config, cache)
    first.fleet(FC_NOW, procs={})
    assert first.save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(b"".join(x + b"\n" for x in lines[at_line:]))
    warm, cold = reader(config, cache), reader(config, None)
    assert warm.warm_started, cache.last_miss
    warm_fleet = warm.fleet(FC_NOW, procs={})
    future = any(b"status=crashed" in x and x.startswith(_fc(-30).encode()) for x in lines)
    if warm.fold.sessions.saved and not future:
        assert not warm.fold.sessions.archive_read
    assert warm_fleet == cold.fleet(FC_NOW, procs={})
    assert fold_fields(warm.fold) == fold_fields(cold.fold)
    # The partial derive: the first reader's fold fed the rest, derived again.
    first.refresh_log()
    assert first.fleet(FC_NOW, procs={}) == cold.fleet(FC_NOW, procs={}, full=True)


def test_an_end_dated_after_the_save_leaves_the_live_sessions_whole(tmp_path: Path) -> None:
    """As above, with the times around this machine's clock: one END dated a week after the
    save (another machine's clock is ahead). The save's live span ends at its own clock, not
    at that end: a warm start now derives the fleet without reading the archive."""
    now = datetime.now().replace(second=0, microsecond=0)

    def when(hours: float) -> str:
        return f"{now - timedelta(hours=hours):%Y-%m-%dT%H:%M}"

    config = make_factory(tmp_path / "factory")
    lines = [
        line
        for n in range(2 * LATE)  # old sessions of five tasks: all but their latest archived
        for line in (
            f"{when(200)} | SESSION-START | task=old{n % 5} branch=b instance=io",
            f"{when(199)} | SESSION-END | task=old{n % 5} status=success",
        )
    ]
    for n in range(LATE + 50):
        lines += [
            f"{when(1.5)} | SESSION-START | task=s{n % 2} branch=b instance=i{n % 7}",
            f"{when(1)} | SESSION-END | task=s{n % 2} status=success",
        ]
    lines += [
        f"{when(3)} | SESSION-START | task=f branch=b instance=if",
        f"{when(-7 * 24)} | SESSION-END | task=f status=crashed",  # a week ahead
    ]
    config.log_file.write_bytes("".join(line + "\n" for line in lines).encode())
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    assert reader(config, cache).save_fold_cache()
    warm, cold = reader(config, cache), reader(config, None)
    assert warm.warm_started and warm.fold.sessions.saved
    assert warm.fleet(now, procs={}) == cold.fleet(now, procs={})
    assert not warm.fold.sessions.archive_read
