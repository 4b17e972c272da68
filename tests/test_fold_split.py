"""A cold fold in two parts (core/fold_split.py): the head's fold, the tail's fold from the seed
of the sessions open where it begins, merged, equals the fold of the whole log, field by field, at
any cut; or the merge refuses the seed and leaves the head as it was."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foldcache import _LINE, fold_fields

from factory_tui.core import fold_packed, fold_sessions
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_split import OpenSeed, SeedSessions, merge_tail, seeded_fold

HISTORY, LOG = "operations.log.1", "operations.log"

_TASK = st.sampled_from(["a", "b", "c"])
_INSTANCE = st.sampled_from(["i1", "i2"])
_CANONICAL = st.one_of(
    st.builds(
        lambda n, t, i: (
            f"2026-02-12T14:{n:02d} | SESSION-START | task={t} branch=x-{t} instance={i}".encode()
        ),
        st.integers(0, 59),
        _TASK,
        _INSTANCE,
    ),
    st.builds(
        lambda n, t, status: (
            f"2026-02-12T14:{n:02d} | SESSION-END | task={t} status={status}".encode()
        ),
        st.integers(0, 59),
        _TASK,
        st.sampled_from(["success", "crashed", "paused"]),
    ),
    st.builds(
        lambda n, t, s: f"2026-02-12T14:{n:02d} | STEP-DONE | step={s} task={t}".encode(),
        st.integers(0, 59),
        _TASK,
        st.sampled_from(["code", "ci"]),
    ),
    st.builds(
        lambda n, t, i, kind: (
            f"2026-02-12T14:{n:02d} | {kind} | task={t} phase=1 instance={i}".encode()
        ),
        st.integers(0, 59),
        _TASK,
        _INSTANCE,
        st.sampled_from(["CLAIM", "RELEASE"]),
    ),
    st.builds(
        lambda n, i, kind: f"2026-02-12T14:{n:02d} | {kind} | instance={i} kind=x".encode(),
        st.integers(0, 59),
        _INSTANCE,
        st.sampled_from(["AGENT-WAITING", "AGENT-RESUMED"]),
    ),
    st.builds(
        lambda n, c, kind: f"2026-02-12T14:{n:02d} | {kind} | change={c} task=a by=dana".encode(),
        st.integers(0, 59),
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(["RELEASE-INTENT", "RELEASE"]),
    ),
)


def _block(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def _fold(history: list[bytes], log: list[bytes]) -> LogFold:
    fold = LogFold()
    if history:
        fold.feed_block(_block(history), HISTORY)
    if log:
        fold.feed_block(_block(log), LOG)
    return fold


def _split(
    history: list[bytes], log: list[bytes], cut: int, *, pack_rest: bool = False
) -> tuple[LogFold, bool]:
    """The head's fold (history and log[:cut]) with the tail's merged in, and whether it was
    (``pack_rest``: the tail's old sessions all packed first, as the child sends them)."""
    head = _fold(history, log[:cut])
    seed = OpenSeed()
    seed.feed_bytes(b"".join(line + b"\n" for line in history), HISTORY)
    first = seed.feed_bytes(b"".join(line + b"\n" for line in log[:cut]), LOG)
    assert first == cut + 1
    tail = seeded_fold(seed.open)
    if log[cut:]:
        tail.feed_block(_block(log[cut:]), LOG, first)
    if pack_rest:
        tail.pack_rest()
    return head, merge_tail(head, tail, seed.open)


def _fields(fold: LogFold) -> dict[str, object]:
    """:func:`fold_fields`, the event counts by name in any order: a fold counts a block's
    commonest lines after it, so their order follows where its blocks begin, cold or split."""
    fields = fold_fields(fold)
    fields["counts"] = sorted(fold.counts.items())
    return fields


def _assert_whole(fold: LogFold, cold: LogFold) -> None:
    assert _fields(fold) == _fields(cold)
    assert fold.to_state() == cold.to_state()
    sessions = fold.sessions
    assert all(sessions[s.seq] is s for s in fold.ended if s.ended_at is None)
    assert all(sessions[s.seq] is s for s in fold.latest_by_task.values())
    assert all(sessions[s.seq] is s for opened in fold.open_by_task.values() for s in opened)


@pytest.fixture(params=[2, 4096], ids=["chunks of 2", "chunks of 4096"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Small chunks: both folds pack as they go, and the merge packs what it appends."""
    monkeypatch.setattr(fold_sessions, "CHUNK", request.param)
    return int(request.param)


_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(
    history=st.lists(_CANONICAL, max_size=20),
    log=st.lists(_CANONICAL, max_size=80),
    cut=st.floats(0, 1),
    pack_rest=st.booleans(),
)
def test_a_split_fold_of_the_protocols_lines_is_the_whole_fold(
    chunk: int, history: list[bytes], log: list[bytes], cut: float, pack_rest: bool
) -> None:
    at = int(len(log) * cut)
    fold, merged = _split(history, log, at, pack_rest=pack_rest)
    assert merged  # the seed of canonical lines is always the head's open sessions
    _assert_whole(fold, _fold(history, log))


@_SETTINGS
@given(
    history=st.lists(_LINE | _CANONICAL, max_size=15),
    log=st.lists(_LINE | _CANONICAL, max_size=40),
    cut=st.floats(0, 1),
    pack_rest=st.booleans(),
)
def test_a_split_fold_of_any_lines_is_the_whole_fold_or_refused(
    chunk: int, history: list[bytes], log: list[bytes], cut: float, pack_rest: bool
) -> None:
    """Junk, quotes, bad bytes and lines of odd shapes: merged, it is the whole fold;
    refused, the head is untouched (the caller folds the tail itself)."""
    at = int(len(log) * cut)
    fold, merged = _split(history, log, at, pack_rest=pack_rest)
    if merged:
        _assert_whole(fold, _fold(history, log))
    else:
        assert _fields(fold) == _fields(_fold(history, log[:at]))


def test_a_seed_that_is_not_the_heads_open_sessions_is_refused() -> None:
    history = [b"2026-02-12T14:00 | SESSION-START | task=a branch=x instance=i1"]
    log = [b"2026-02-12T14:01 | STEP-DONE | step=code task=a"]
    wrongs: list[SeedSessions] = [
        {},  # a session missed
        {"a": ["i2"]},  # another instance
        {"a": [None]},  # no instance
        {"a": ["i1", "i1"]},  # one too many
        {"b": ["i1"]},  # another task
        {"a": ["i1"], "b": ["i2"]},  # one more task
    ]
    for wrong in wrongs:
        head = _fold(history, [])
        tail = seeded_fold(wrong)
        tail.feed_block(_block(log), LOG)
        assert not merge_tail(head, tail, wrong)
        assert _fields(head) == _fields(_fold(history, []))
    # The right seed, but a tail not folded from it (its placeholders are not its first
    # sessions): refused, not merged wrong nor raised.
    right: SeedSessions = {"a": ["i1"]}
    head = _fold(history, [])
    tail = seeded_fold(right)
    tail.sessions = _fold(history, log).sessions
    tail.feed_block(_block(log), LOG)
    assert not merge_tail(head, tail, right)
    assert _fields(head) == _fields(_fold(history, []))


def test_the_tail_finishes_what_the_head_opened() -> None:
    """A crashed session of the head's closed by the tail, another one's steps, a claim the
    head made released by the tail, a change it opened closed, a signal it heard ended."""
    history = [
        b"2026-02-12T13:00 | SESSION-START | task=a branch=x instance=i1",
        b"2026-02-12T13:01 | SESSION-START | task=b instance=i2",
        b"2026-02-12T13:02 | CLAIM | task=a phase=1 instance=i1",
        b"2026-02-12T13:03 | RELEASE-INTENT | change=c1 task=a by=dana",
        b"2026-02-12T13:04 | AGENT-WAITING | instance=i2 kind=permission",
    ]
    log = [
        b"2026-02-12T14:00 | STEP-START | step=code task=b branch=late",
        b"2026-02-12T14:01 | SESSION-END | task=a status=crashed recovered_by=i3",
        b"2026-02-12T14:02 | RELEASE | task=a phase=1 instance=i1 reason=stale",
        b"2026-02-12T14:03 | RELEASE | change=c1 task=a by=dana",
        b"2026-02-12T14:04 | SESSION-START | task=a branch=y instance=i3 recovered_from=a",
    ]
    for at in range(len(log) + 1):
        fold, merged = _split(history, log, at)
        assert merged
        _assert_whole(fold, _fold(history, log))
    assert not fold.open_claims and not fold.open_changes and not fold.agent_signals
    assert fold.open_by_task["b"][0].branch == "late"
    assert fold.latest_by_task["a"].recovered_from == "a"


def test_a_session_line_the_seed_does_not_see_makes_it_refused() -> None:
    """The fold reads an event name in any letters; the seed looks for SESSION- lines as the
    hooks write them: a session opened in small letters is missed, and the merge says so."""
    history = [b"2026-02-12T14:00 | session-start | task=a branch=x instance=i1"]
    log = [b"2026-02-12T14:01 | STEP-DONE | step=code task=a"]
    assert _fold(history, []).open_by_task  # the fold opened it
    fold, merged = _split(history, log, 0)
    assert not merged
    assert _fields(fold) == _fields(_fold(history, []))


def test_the_merge_takes_the_tails_packed_sessions_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tail's packed chunks are taken whole, renumbered, not made into records and packed
    again (that was most of the merge: 4.6 s of the 10x factory's cold read); the sessions,
    held, kept and appended, are those of the whole fold at every cut."""
    monkeypatch.setattr(fold_sessions, "CHUNK", 3)
    rng = random.Random(17)
    lines = []
    for n in range(400):
        task, instance = rng.choice("abcdefg"), rng.choice(["i1", "i2", "i3"])
        kind = rng.random()
        ts = f"2026-02-12T{10 + n // 60:02d}:{n % 60:02d}"
        if kind < 0.3:
            line = f"{ts} | SESSION-START | task={task} branch=x-{task} instance={instance}"
        elif kind < 0.55:
            status = rng.choice(["success", "success", "crashed"])
            line = f"{ts} | SESSION-END | task={task} status={status} pr={n}"
        else:
            line = f"{ts} | STEP-DONE | step=s{n} task={task}"
        lines.append(line.encode())
    whole = _fold([], lines)
    assert whole.sessions._packed.chunk_count > 10  # the chunks are the point
    made = 0
    real_make = fold_packed.make_session

    def counted(*args: Any) -> Any:
        nonlocal made
        made += 1
        return real_make(*args)

    for cut, pack_rest in itertools.product(range(0, 401, 25), (False, True)):
        head = _fold([], lines[:cut])
        seed = OpenSeed()
        first = seed.feed_bytes(b"".join(line + b"\n" for line in lines[:cut]), LOG)
        tail = seeded_fold(seed.open)
        tail.feed_block(_block(lines[cut:]), LOG, first)
        if pack_rest:  # as the child sends it: its last chunk a short one
            tail.pack_rest()
            assert not tail.sessions.unpacked
        made = 0
        with monkeypatch.context() as patch:
            patch.setattr(fold_packed, "make_session", counted)
            assert merge_tail(head, tail, seed.open)
        assert made == 0, cut
        _assert_whole(head, whole)
        assert [rec.pr for rec in head.sessions] == [rec.pr for rec in whole.sessions]


def test_a_session_line_with_its_bars_unspaced_is_in_the_seed() -> None:
    """``20:01|SESSION-END|task=…`` is a session line to the fold: the seed reads its block line
    by line instead of missing it (the merge then refused the seed: a 38 MB log of sloppy lines
    was folded on one core after the child's work, 1.5 s against 1.37 s without the child)."""
    history = [
        b"2026-02-12T13:00 | SESSION-START | task=a branch=x instance=i1",
        b"2026-02-12T13:01 | SESSION-START | task=a branch=x instance=i2",
        b"2026-02-12T13:02|SESSION-END|task=a status=success",
        b"2026-02-12T13:03 |SESSION-START| task=b branch=y instance=i3",
        b'2026-02-12T13:04 | STEP-DONE | step=code task=b detail="no SESSION-END here"',
    ]
    log = [
        b"2026-02-12T14:00 | STEP-DONE | step=ci task=a",
        b"2026-02-12T14:01 | SESSION-END | task=b status=success",
    ]
    for at in range(len(log) + 1):
        fold, merged = _split(history, log, at)
        assert merged, at
        _assert_whole(fold, _fold(history, log))


@pytest.mark.parametrize(
    "task, instance",
    [(b"b\xff", b"i2"), (b"b\xc3", b"\xa9")],  # a bad byte; two fields that join into an "é"
    ids=["bad byte", "split sequence"],
)
def test_a_block_with_an_undecodable_session_line_is_read_once_line_by_line(
    task: bytes, instance: bytes
) -> None:
    """The block's canonical session lines are applied only once every field of them decodes
    (each field on its own): else the block is read line by line, as the fold reads it (the
    undecodable line a problem, not a session), and no line of it counts twice."""
    lines = [
        b"2026-02-12T13:00 | SESSION-START | task=a branch=x instance=i1",
        b"2026-02-12T13:01 | SESSION-START | task=" + task + b" branch=y instance=" + instance,
        b"2026-02-12T13:02 | STEP-DONE | step=s task=a",
    ]
    seed = OpenSeed()
    seed.feed_bytes(b"2026-02-12T12:59 | STEP-DONE | step=s task=z\n" + _block(lines) + b"\n", LOG)
    fold = _fold([], [b"2026-02-12T12:59 | STEP-DONE | step=s task=z", *lines])
    assert seed.open == {"a": ["i1"]}
    assert {t: [s.instance for s in opened] for t, opened in fold.open_by_task.items()} == seed.open


@pytest.mark.parametrize("task", ["ascii-1", "tâche-é", "任务-7"])
def test_a_blocks_names_come_out_as_the_fold_reads_them(task: str) -> None:
    """An ASCII block's fields are not checked one by one (they decode); a block with other
    characters' are: either way the seed's names are the fold's, decoded, and an instance not
    named is None."""
    lines = [
        f"2026-02-12T13:00 | SESSION-START | task={task} branch=x instance=i-{task}".encode(),
        b"2026-02-12T13:01 | SESSION-START | task=other branch=y",
        f"2026-02-12T13:02 | SESSION-START | task={task} branch=x".encode(),
        f"2026-02-12T13:03 | SESSION-END | task={task} status=success".encode(),
    ]
    seed = OpenSeed()
    seed.feed_bytes(b"2026-02-12T12:59 | STEP-DONE | step=s task=z\n" + _block(lines) + b"\n", LOG)
    fold = _fold([], [b"2026-02-12T12:59 | STEP-DONE | step=s task=z", *lines])
    assert seed.open == {task: [f"i-{task}"], "other": [None]}
    assert {t: [s.instance for s in opened] for t, opened in fold.open_by_task.items()} == seed.open
