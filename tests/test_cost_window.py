"""The spend's spans start where the responses read do (issue 17): a session that ended before
the earliest response to attribute (less the grace after a session) cannot be any response's,
so its span is not made (a 300-day history's two million, for a month of transcripts). Every
response is attributed as with the spans of every session, from a cold fold or a warm one
(its archive read by codes), however the window moves between builds."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foldcache import _write, make_factory, reader

from factory_tui.adapters.foldcache import FoldCache
from factory_tui.core import cost_attribution
from factory_tui.core.cost_attribution import Attributor, SpanBuilder, build_spans

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")

_FIRST = datetime(2025, 6, 1, 9, 0)
_TASKS = ["CAB-1", "CAB-2", "CAB-3"]
_BRANCHES = ["feat/CAB-1-a", "feat/CAB-2-b", "fix/x"]

# A session line: its task, branch and instance; an end, or none (left open).
_SESSION = st.tuples(
    st.sampled_from(_TASKS),
    st.sampled_from(_BRANCHES),
    st.sampled_from(["i1", "i2", "i3"]),
    st.integers(1, 600),  # its length in minutes
    st.booleans(),  # ended
)


def _log(sessions: list[tuple[str, str, str, int, bool]]) -> list[str]:
    """Each session started six hours after the one before (the last ones' ends among the
    next starts), in time order."""
    events: list[tuple[datetime, int, str]] = []
    for n, (task, branch, instance, minutes, ended) in enumerate(sessions):
        start = _FIRST + timedelta(hours=6 * n)
        events.append(
            (start, 0, f"SESSION-START | task={task} branch={branch} instance={instance}")
        )
        if ended:
            end = start + timedelta(minutes=minutes)
            events.append((end, 1, f"SESSION-END | task={task} status=success"))
    events.sort(key=lambda event: (event[0], event[1]))
    return [f"{at:%Y-%m-%dT%H:%M} | {text}" for at, _order, text in events]


def _attributed(spans: Any, queries: list[tuple[str | None, datetime]]) -> list[object]:
    attributor = Attributor(spans)
    return [attributor.attribute(None, branch, at) for branch, at in queries]


_QUERY = st.tuples(
    st.sampled_from([None, *_BRANCHES]),
    st.integers(0, 24 * 60 * 16).map(lambda n: _FIRST + timedelta(minutes=n)),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sessions=st.lists(_SESSION, min_size=1, max_size=40),
    cut=st.floats(0, 1),
    queries=st.lists(_QUERY, min_size=1, max_size=8),
    earlier=st.lists(_QUERY, max_size=3),
)
def test_spans_from_the_earliest_response_attribute_as_every_sessions(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    sessions: list[tuple[str, str, str, int, bool]],
    cut: float,
    queries: list[tuple[str | None, datetime]],
    earlier: list[tuple[str | None, datetime]],
) -> None:
    """Sessions over days (twenty ended ones, then random ones, some left open), folded cold
    and warm (the warm fold saved at a random cut, the rest read after it); responses at random times, then maybe earlier ones
    (the window moves back: the spans are made afresh). Each response is attributed as with
    the spans of every session."""
    monkeypatch.setattr(cost_attribution, "COLUMNS_FROM", 0)  # a restored fold's columns
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    older = [(_TASKS[n % 3], _BRANCHES[n % 3], f"i{n % 3 + 1}", 60, True) for n in range(20)]
    lines = [line.encode() for line in _log(older + sessions)]
    _write(config.log_file, lines[: int(len(lines) * cut)])
    assert reader(config, cache).save_fold_cache()
    _write(config.log_file, lines)
    warm, cold = reader(config, cache), reader(config, None)
    every = build_spans(cold.fold.sessions, [], worktrees={})
    for fold in (warm.fold, cold.fold):
        builder = SpanBuilder()
        asked = list(queries)
        for more in ([], earlier):
            asked += more
            since = min(at for _branch, at in asked)
            spans = builder.build(fold.sessions, [], worktrees={}, since=since)
            assert _attributed(spans, asked) == _attributed(every, asked)
            assert len(spans) <= len(every)


def test_the_sessions_that_ended_before_the_window_get_no_span(tmp_path: Path) -> None:
    """Ten sessions a day apart, each an hour long, the last one open: from the eighth's end
    on, the spans are the eighth's, the ninth's and the open tenth's; from before the first,
    every session's. A later window after an earlier one keeps the earlier one's spans."""
    config = make_factory(tmp_path / "factory")
    lines = []
    for n in range(10):
        start = _FIRST + timedelta(days=n)
        lines.append(f"{start:%Y-%m-%dT%H:%M} | SESSION-START | task=T{n} branch=b{n}")
        if n < 9:
            end = start + timedelta(hours=1)
            lines.append(f"{end:%Y-%m-%dT%H:%M} | SESSION-END | task=T{n} status=success")
    _write(config.log_file, [line.encode() for line in lines])
    sessions = reader(config, None).fold.sessions
    builder = SpanBuilder()
    late = _FIRST + timedelta(days=7, hours=1)  # the eighth's end
    assert [span.task for span in builder.build(sessions, [], since=late)] == ["T7", "T8", "T9"]
    assert len(builder.build(sessions, [], since=_FIRST)) == 10  # made afresh, every one
    assert len(builder.build(sessions, [], since=late)) == 10  # kept
    assert len(SpanBuilder().build(sessions, [], since=None)) == 10


def test_a_window_from_before_the_year_1000_keeps_every_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window's start is compared with the hooks' times as text: its year four digits
    (strftime's %Y is not padded on glibc: year 500 sorted after every 2025 end, and every
    ended session of a restored fold was left out)."""
    monkeypatch.setattr(cost_attribution, "COLUMNS_FROM", 0)  # a restored fold's columns
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    sessions = [(_TASKS[n % 3], _BRANCHES[0], f"i{n % 3}", 60, True) for n in range(20)]
    _write(config.log_file, [line.encode() for line in _log(sessions)])
    assert reader(config, cache).save_fold_cache()
    warm = reader(config, cache)
    assert warm.fold.sessions.saved  # (read from its columns)
    spans = SpanBuilder().build(warm.fold.sessions, [], worktrees={}, since=datetime(500, 1, 1))
    assert len(spans) == len(build_spans(warm.fold.sessions, [], worktrees={})) == 20


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sessions=st.lists(_SESSION, min_size=1, max_size=30),
    cut=st.floats(0, 1),
    grow=st.floats(0, 1),
    queries=st.lists(_QUERY, min_size=1, max_size=8),
    later=st.lists(_QUERY, max_size=4),
    columns_from=st.sampled_from([0, 1000]),
)
def test_the_window_across_a_growing_log(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    sessions: list[tuple[str, str, str, int, bool]],
    cut: float,
    grow: float,
    queries: list[tuple[str | None, datetime]],
    later: list[tuple[str | None, datetime]],
    columns_from: int,
) -> None:
    """One builder over a log that grows between its builds (the cockpit's), warm and cold,
    the window maybe moved back by the responses read since: each response is attributed as
    with every session's spans (a hostile review's test)."""
    monkeypatch.setattr(cost_attribution, "COLUMNS_FROM", columns_from)
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    older = [(_TASKS[n % 3], _BRANCHES[n % 3], f"i{n % 3 + 1}", 60, True) for n in range(20)]
    lines = [line.encode() for line in _log(older + sessions)]
    saved_at = int(len(lines) * cut)
    read_at = saved_at + int((len(lines) - saved_at) * grow)
    _write(config.log_file, lines[:saved_at])
    assert reader(config, cache).save_fold_cache()
    for kept in (cache, None):
        _write(config.log_file, lines[:read_at])
        folded = reader(config, kept)
        builder = SpanBuilder()
        asked = list(queries)
        builder.build(folded.fold.sessions, [], since=min(at for _b, at in asked))
        _write(config.log_file, lines)
        folded.refresh_log()
        asked += later
        spans = builder.build(folded.fold.sessions, [], since=min(at for _b, at in asked))
        every = build_spans(folded.fold.sessions, [])
        assert _attributed(spans, asked) == _attributed(every, asked)
