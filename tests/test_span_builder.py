"""SpanBuilder: the cost attribution's spans kept up to date over a growing log equal the spans
built from scratch, at every step; a closed session's span is made once."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.core import cost_attribution
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.cost_attribution import SpanBuilder, build_spans
from factory_tui.core.fold import LogFold
from factory_tui.core.timeparse import parse_any_ts, parse_ts

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")

_LINE = st.builds(
    lambda minute, name, task, extra: (
        f"2026-02-12T14:{minute:02d} | {name} | task={task} {extra}".encode()
    ),
    st.integers(0, 59),
    st.sampled_from(["SESSION-START", "SESSION-END", "STEP-DONE"]),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(
        ["branch=x instance=i1", "branch=y instance=i2", "status=success", "status=crashed",
         "step=s branch=z", "step=t", "instance=i3"]
    ),
)  # fmt: skip
_TREES = st.sampled_from([{}, {"/w/x": "x"}, {"/w/x": "x", "/w/y": "y"}, {"/w/z": None}])
_CWDS = st.sampled_from([{}, {"i1": "/w/x/sub"}, {"i2": "/elsewhere"}])
UNITS = [
    ClaimUnit(
        claim_id="a",
        phase=None,
        name="a",
        tickets=("a",),
        owner="i1",
        pid=None,
        claimed_at="2026-02-12T14:00",
        hostname=None,
        branch="x",
        mode=None,
        deps=(),
        completed_at=None,
    )
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(_LINE, max_size=8), _TREES, _CWDS), max_size=8))
def test_incremental_spans_equal_spans_built_afresh(
    steps: list[tuple[list[bytes], dict[str, str | None], dict[str, str]]],
) -> None:
    fold, builder = LogFold(), SpanBuilder()
    line = 1
    for lines, trees, cwds in steps:
        fold.feed_lines(lines, "operations.log", line)
        line += len(lines)
        kept = builder.build(fold.sessions, UNITS, worktrees=trees, instance_cwds=cwds)
        fresh = build_spans(fold.sessions, UNITS, worktrees=trees, instance_cwds=cwds)
        assert kept == fresh


def test_a_closed_sessions_span_is_made_once_and_another_fold_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fold, builder = LogFold(), SpanBuilder()
    fold.feed_lines(
        [
            b"2026-02-12T14:00 | SESSION-START | task=a branch=x instance=i1",
            b"2026-02-12T14:01 | SESSION-END | task=a status=success",
            b"2026-02-12T14:02 | SESSION-START | task=b branch=y instance=i2",
        ],
        "operations.log",
    )
    first = builder.build(fold.sessions, [])
    fold.feed_lines([b"2026-02-12T14:03 | STEP-DONE | step=s task=b branch=z"], "f", 4)
    made: list[object] = []
    for name in ("_session_span", "_append_session"):
        real = getattr(cost_attribution, name)
        monkeypatch.setattr(
            cost_attribution, name, lambda *a, real=real: made.append(a[0]) or real(*a)
        )
    second = builder.build(fold.sessions, [])
    assert made == []  # closed: kept (its row copied), open and unchanged: kept
    monkeypatch.undo()
    assert second[0] == first[0]
    assert second[1] == first[1]  # open, its span fields unchanged (branch was set)
    fold.feed_lines([b"2026-02-12T14:09 | SESSION-END | task=b status=success"], "f", 5)
    third = builder.build(fold.sessions, [])
    assert third[1].end is not None and third[1] != second[1]
    other = LogFold()
    assert builder.build(other.sessions, []) == ()


def _wild(n: int, at: str) -> str:
    """Some of the times in shapes the wild writes (seconds, a space, a zone)."""
    return [at, at + ":30", at.replace("T", " "), at + "Z", at + "+02:00"][n % 5 if n % 3 else 0]


@pytest.mark.parametrize("trees", [{"/w/b1": "b1"}, {}], ids=["a worktree", "none"])
def test_a_restored_folds_archived_sessions_give_their_spans_without_being_made(
    trees: dict[str, str | None],
) -> None:
    """A fold restored from the warm-start cache keeps its old sessions archived: the builder
    makes their spans from the saved columns, a column at a time (the same spans as the cold
    fold's, times in the wild's shapes too, open ones followed after) and makes no record of
    them."""
    lines = [
        line
        for n in range(1, 1500)
        for at in [_wild(n, f"2026-{1 + n // 600:02d}-{1 + n % 28:02d}T{n % 24:02d}:00")]
        for line in (
            f"{at} | SESSION-START | task=t{n % 40} branch=b{n % 7} instance=i{n % 5}".encode(),
            *([f"{at} | SESSION-END | task=t{n % 40} status=success".encode()] * (n % 9 > 0)),
        )
    ]
    cold = LogFold()
    cold.feed_lines(lines, "operations.log")
    state = cold.to_state()
    arrays = {name: state.pop(name) for name in ("columns", "ended", "live")}  # saved as binary
    warm = LogFold.from_state(json.loads(json.dumps(state)) | arrays)
    builder = SpanBuilder()
    kept = builder.build(warm.sessions, UNITS, worktrees=trees)
    assert kept == build_spans(cold.sessions, UNITS, worktrees=trees)
    assert warm.sessions.saved > 1000  # not made
    more = [b"2026-03-12T10:00 | SESSION-END | task=t1 status=success"]
    for fold in (warm, cold):
        fold.feed_lines(more, "operations.log", len(lines) + 1)
    kept = builder.build(warm.sessions, UNITS, worktrees=trees)
    assert kept == build_spans(cold.sessions, UNITS, worktrees=trees)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", fullmatch=True),
        st.from_regex(r"[0-9 T:Zz+-]{16}", fullmatch=True),
        st.sampled_from(["2026-02-12T14:00", "0001-01-01T00:00", "9999-12-31T23:59",
                         "2026-02-12T14:0Z", "2026-02-12T14+02", "2026-02-12T1400Z",
                         "2026-02-12t14:00", " 026-02-12T14:00", ""]),
        st.text(max_size=20),
    )
)  # fmt: skip
def test_a_time_read_in_the_protocols_shape_is_the_parsers(text: str) -> None:
    """Times read directly in the log's own shape (the spend's spans of a long history) are
    what the parser of every shape reads."""
    assert parse_ts.__wrapped__(text) == parse_any_ts(text)
