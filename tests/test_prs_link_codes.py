"""The PR queue's links read a restored fold's columns as codes into the archive's table, not as
texts: a 300-day history's two million texts cut out to find a few hundred PRs' sessions took
120 MB (``factory-tui prs`` peaked at 428 MB). The links and the branches are a cold read's,
whatever the archive holds and whatever changed since it was saved."""

from __future__ import annotations

from array import array
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_foldcache import _write, make_factory, reader
from test_foldcache_archive import _pr, _warm_with_counted_archive

from factory_tui.adapters import foldcache_parts
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.core import fold_saved
from factory_tui.core.fold_packed import FIELDS
from factory_tui.core.fold_saved import CodedColumn, SavedStrings, codes_of_each
from factory_tui.core.prs_link import link_pr, link_rows, log_branches

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")

_TASKS = ["t0", "t1", "t2"]
_BRANCHES = ["b0", "b1", "b2", "b3"]
_NUMBERS = ["7", "8", "9", "x"]

_SESSION_LINE = st.one_of(
    st.builds(
        lambda task, branch: (
            f"SESSION-START | task={task}" + (f" branch={branch}" if branch else "")
        ),
        st.sampled_from(_TASKS),
        st.none() | st.sampled_from(_BRANCHES),
    ),
    st.builds(
        lambda task, pr: f"SESSION-END | task={task} status=success" + (f" pr={pr}" if pr else ""),
        st.sampled_from(_TASKS),
        st.none() | st.sampled_from(_NUMBERS),
    ),
    st.builds(
        lambda task, pr, branch: (
            f"STEP-DONE | step=pr-created task={task}"
            + (f" pr={pr}" if pr else "")
            + (f" branch={branch}" if branch else "")
        ),
        st.sampled_from(_TASKS),
        st.none() | st.sampled_from(_NUMBERS),
        st.none() | st.sampled_from(_BRANCHES),
    ),
)


def _links(fold: Any, prs: list[Any]) -> list[tuple[object, ...]]:
    return [(rec.seq, rec.task, rec.branch, rec.pr) for rec in link_rows(fold.sessions, prs)]


def _fields(rec: Any) -> tuple[object, ...]:
    return (rec.seq, *(getattr(rec, name) for name in FIELDS))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(_SESSION_LINE, min_size=1, max_size=40),
    cut=st.floats(0.2, 1),
    chunk=st.sampled_from([4, 8, 12, 16 << 20]),
    prs=st.lists(
        st.tuples(st.none() | st.sampled_from(_NUMBERS), st.none() | st.sampled_from(_BRANCHES)),
        max_size=3,
    ),
)
def test_links_and_branches_by_code_are_a_cold_reads(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    cut: float,
    chunk: int,
    prs: list[tuple[str | None, str | None]],
) -> None:
    """Sessions of a few tasks, branches and PR numbers, days apart (the older ones only in
    the archive once saved, a branch's or a number's latest often one of them), then random
    ones, some still open at the cut, whose PR and branch the lines after it may set: the
    sessions found for any PRs (every field: made from their rows of the archive, read a few
    bytes at a time or in one chunk), their links, and the log's branches are a cold read's."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    older = [  # every task's, on every branch, with every number: in the archive once saved
        f"SESSION-{kind} | task={_TASKS[n % 3]} "
        + (
            f"branch={_BRANCHES[n // 3 % 4]}"
            if kind == "START"
            else f"status=success pr={_NUMBERS[n // 5 % 4]}"
        )
        for n in range(24)
        for kind in ("START", "END")
    ]
    first = datetime(2025, 6, 1, 10, 0)  # three days apart: the older ones only in the archive
    stamped = [
        f"{first + timedelta(days=3 * n):%Y-%m-%dT%H:%M} | {x}" for n, x in enumerate(older + lines)
    ]
    at = int(len(stamped) * cut)
    _write(config.log_file, [line.encode() for line in stamped[:at]])
    assert reader(config, cache).save_fold_cache()
    _write(config.log_file, [line.encode() for line in stamped])
    warm, cold = reader(config, cache), reader(config, None)
    asked = [_pr(int(n) if n and n.isdigit() else None, b) for n, b in prs]
    with monkeypatch.context() as patched:
        patched.setattr(foldcache_parts, "READ_CHUNK", chunk)
        found = link_rows(warm.fold.sessions, asked)
    expected = link_rows(cold.fold.sessions, asked)
    assert list(map(_fields, found)) == list(map(_fields, expected))
    assert [link_pr(pr, found, []) for pr in asked] == [link_pr(pr, expected, []) for pr in asked]
    assert log_branches(warm.fold.sessions) == log_branches(cold.fold.sessions)


def test_the_links_cut_out_no_text_of_the_archive(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restored fold's links and branches come from its columns' codes: the archive's table
    is searched a part at a time, never cut out whole (nor a column made of its texts); the
    answers are a cold read's."""
    warm, reads = _warm_with_counted_archive(tmp_path, cache)
    cold = reader(warm.config, None)
    sessions = warm.fold.sessions
    prs = [_pr(7, None), _pr(None, "b5"), _pr(1100, "b1100"), _pr(None, "nowhere")]
    expected = _links(cold.fold, prs), log_branches(cold.fold.sessions)

    def refused(self: Any) -> Any:
        raise AssertionError("the archive's texts cut out whole")

    monkeypatch.setattr(SavedStrings, "as_list", refused)
    monkeypatch.setattr(fold_saved, "SCAN_TEXTS", 100)  # more than one part of 1,200 texts
    assert (_links(warm.fold, prs), log_branches(sessions)) == expected
    assert [rec[3] for rec in expected[0]] == ["5", "7", "1100"]  # found in the archive
    assert len(reads) == 2 and not sessions.archive_read  # one read a walk, let go


def test_the_links_keep_two_columns_then_only_the_rows_found(
    tmp_path: Path, cache: FoldCache
) -> None:
    """A restored fold's links keep the ``pr`` and ``branch`` columns of the archive's read,
    then make their sessions from only their rows of another (each read and checked whole):
    never every column of every session, which a 300-day history's ``prs`` held (150 MB).
    The log's branches keep the one column. The answers are a cold read's."""
    warm, _reads = _warm_with_counted_archive(tmp_path, cache)
    cold = reader(warm.config, None)
    sessions = warm.fold.sessions
    archive = sessions._saved.archive  # the real one, under the counter
    reads: list[str] = []
    sessions._saved = mock.Mock(
        side_effect=lambda: reads.append("whole") or archive(),
        columns=lambda places: reads.append(f"{len(places)} columns") or archive.columns(places),
        rows=lambda seqs: reads.append(f"rows {list(seqs)}") or archive.rows(seqs),
    )
    prs = [_pr(7, None), _pr(None, "b5"), _pr(1100, "b1100"), _pr(None, "nowhere")]
    assert _links(warm.fold, prs) == _links(cold.fold, prs)
    assert log_branches(sessions) == log_branches(cold.fold.sessions)
    assert reads == ["2 columns", "rows [5, 7, 1100]", "1 columns"]
    assert not sessions.archive_read


def test_a_text_saved_twice_is_found_by_each_of_its_codes() -> None:
    """A save's table may hold a text more than once (a session's own texts are not looked
    up): each of its codes is found; a code past the table is a text changed since."""
    table = SavedStrings("7x87", array("I", [1, 2, 3, 4]))  # None, "7", "x", "8", "7"
    column = CodedColumn(array("I", [1, 4, 2, 5, 0]), table, ["8"])
    assert column.codes_of({"7"}) == {1, 4}
    assert column.codes_of({"8", None}) == {3, 5, 0}
    assert [column.text(code) for code in column.codes] == ["7", "7", "x", "8", None]
    assert list(table.indexes_of({"7", "8"})) == [1, 3, 4]


def test_columns_sharing_a_table_are_searched_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PRs' numbers and branches are looked for in one pass of the table their columns
    share (two passes of a 300-day history's two million texts before); each column's codes
    are its own search's, its texts changed since included."""
    table = SavedStrings("7b18b2", array("I", [1, 3, 4, 6]))  # None, "7", "b1", "8", "b2"
    prs = CodedColumn(array("I", [1, 0, 3, 5]), table, ["b1"])  # a pr= that reads "b1"
    on = CodedColumn(array("I", [2, 4, 2, 5]), table, ["7"])
    passes: list[object] = []
    searched = SavedStrings.indexes_of
    monkeypatch.setattr(
        SavedStrings, "indexes_of", lambda self, w: passes.append(w) or searched(self, w)
    )
    found = codes_of_each([prs, on], [{"7", "8"}, {"b1"}])
    assert found == [{1, 3}, {2}] and passes == [{"7", "8", "b1"}]
    passes.clear()
    assert [prs.codes_of({"7", "8"}), on.codes_of({"b1"})] == found
    assert prs.codes_of({"b1"}) == {2, 5} and on.codes_of({"7"}) == {1, 5}
    assert len(passes) == 4


@pytest.fixture
def cache(tmp_path: Path) -> FoldCache:
    return FoldCache(tmp_path / "cache", min_log_bytes=0)
