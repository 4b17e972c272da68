"""The log index built by a child process while the cockpit folds the log: taken only when each
file is still the one the child scanned and nothing is indexed yet, then equal to the index
built in-process; a child that fails or answers garbage leaves the in-process build."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import pytest
from test_fleet_feed_save import NOW, RecordingApp
from test_foldcache import make_factory
from test_logindex_scan import _index_state

from factory_tui.adapters import logindex_child
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logindex_child import BuiltIndex, IndexBuild, parse
from factory_tui.ui.feeds.fleet import FleetFeed

_HISTORY = (
    b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1\n"
    b"\xff\xfe not utf-8\n"
    b"\n"
    b"2026-02-12T13:01 | SESSION-START | task='q r' instance=i2\r\n"
)
_LOG = (
    b"2026-02-12T14:00 | SESSION-START | instance=t3-aa task=c\r\n"
    b"2026-02-12T14:01 | STEP-DONE | step=code task=c\n"
    b"2026-02-12T14:02 | SESSION-START | task=d task=e instance=t4\n"
    b"a last line still being written"
)
_APPENDED = b" ends\n2026-02-12T14:03 | SESSION-START | task=f instance=t5\n"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setattr(logindex_child, "MIN_CHILD_BYTES", 0)
    history, current = tmp_path / "operations.log.1", tmp_path / "operations.log"
    history.write_bytes(_HISTORY)
    current.write_bytes(_LOG)
    return history, current


def built_by_child(history: Path, current: Path) -> BuiltIndex:
    build = IndexBuild.start(history, current)
    assert build is not None
    built = build.result()
    assert built is not None
    return built


def built_here(history: Path, current: Path) -> object:
    with LogIndex(history, current) as index:
        index.update()
        return _index_state(index)


def test_the_childs_index_taken_then_updated_equals_the_index_built_here(
    files: tuple[Path, Path],
) -> None:
    built = built_by_child(*files)
    with files[1].open("ab") as f:
        f.write(_APPENDED)  # after the child's scan: the next update indexes it
    with LogIndex(*files) as index:
        assert index.adopt(built)
        assert len(index) == 7  # the complete lines the child saw
        index.update()
        assert _index_state(index) == built_here(*files)
        assert index.tasks_of("t4") == {"e"}
        assert index.tasks_of("i2") == {"q r"}


def test_a_missing_history_is_taken_as_missing_and_followed_when_it_appears(
    files: tuple[Path, Path],
) -> None:
    files[0].unlink()
    built = built_by_child(*files)
    assert built.history is None
    with LogIndex(*files) as index, LogIndex(*files) as here:
        assert index.adopt(built)
        here.update()
        assert _index_state(index) == _index_state(here)
        files[0].write_bytes(_HISTORY)  # lines before the log's: an insertion, for both
        index.update()
        here.update()
        assert _index_state(index) == _index_state(here)


@pytest.mark.parametrize("change", ["replaced", "rewritten", "truncated"])
def test_a_file_changed_after_the_scan_is_not_taken(files: tuple[Path, Path], change: str) -> None:
    built = built_by_child(*files)
    current = files[1]
    if change == "replaced":  # a rotation: a new file at the path
        fresh = current.with_name("operations.log.tmp")
        fresh.write_bytes(_LOG)
        os.replace(fresh, current)
    elif change == "rewritten":  # same file, other bytes before where the child stopped
        with current.open("r+b") as f:
            f.write(_LOG.replace(b"task=e", b"task=E"))
    else:
        with current.open("r+b") as f:
            f.truncate(10)
    with LogIndex(*files) as index:
        assert not index.adopt(built)
        assert index.paths == files and len(index) == 0
        index.update()
        assert _index_state(index) == built_here(*files)


def test_an_index_that_holds_lines_takes_nothing(files: tuple[Path, Path]) -> None:
    built = built_by_child(*files)
    with LogIndex(*files) as index:
        index.update()
        before = _index_state(index)
        assert not index.adopt(built)
        assert _index_state(index) == before
    assert not index.adopt(built)  # closed


@pytest.mark.parametrize(
    "child",
    [("-c", "raise SystemExit(3)"), ("-c", "print('garbage')"), ("-c", "pass")],
    ids=["fails", "garbage", "silent"],
)
def test_a_failing_child_gives_nothing(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, child: tuple[str, ...]
) -> None:
    monkeypatch.setattr(logindex_child, "CHILD_ARGS", child)
    build = IndexBuild.start(*files)
    assert build is not None and build.result() is None


def test_the_childs_answer_is_checked_field_by_field(files: tuple[Path, Path]) -> None:
    build = IndexBuild.start(*files)
    assert build is not None
    out, _ = build.proc.communicate(timeout=60)
    assert parse(out) is not None
    header, _, blob = out.partition(b"\n")
    for bad in (
        out[:-1],  # an offset cut short
        out + b"\0",  # a byte too many
        header + b"\n",  # no offsets
        header.replace(b'"typecode": "I"', b'"typecode": "d"') + b"\n" + blob,
        header.replace(b'"count": 4', b'"count": -4') + b"\n" + blob,
        header.replace(b'"sessions": [', b'"sessions": [1, ') + b"\n" + blob,
        b"[]\n" + blob,
        b"not json\n",
        b"",
    ):
        assert parse(bad) is None, bad[:80]


def test_small_logs_are_indexed_here(tmp_path: Path) -> None:
    history, current = tmp_path / "operations.log.1", tmp_path / "operations.log"
    current.write_bytes(_LOG)
    assert IndexBuild.start(history, current) is None


@pytest.mark.parametrize("child", [None, ("-c", "raise SystemExit(3)")], ids=["works", "fails"])
def test_the_first_load_takes_the_childs_index_or_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: tuple[str, ...] | None
) -> None:
    monkeypatch.setattr(logindex_child, "MIN_CHILD_BYTES", 0)
    if child is not None:
        monkeypatch.setattr(logindex_child, "CHILD_ARGS", child)
    config = make_factory(tmp_path / "factory")
    config.log_history_file.write_bytes(_HISTORY)
    config.log_file.write_bytes(_LOG + _APPENDED)
    reader = FactoryReader(config, hostname="h", fold_cache=None)
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = RecordingApp(tmp_path / "no-cache", index)
        feed = FleetFeed(
            cast(Any, app), config, reader, index, clock=lambda: NOW, after_read=lambda _r: None
        )
        feed._load_everything()
        assert app.posted == [("initial", False, 0), ("log", False, 9)]
        assert _index_state(index) == built_here(config.log_history_file, config.log_file)
