"""The warm-start cache's archive of sessions: the sessions a warm start does not need (old ended
ones) stay in the cache file until something asks for one, then are read, checked and made once;
a damaged archive is an error that says so (never a wrong answer), and the next start is cold."""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_foldcache import (
    NOW,
    _write,
    assert_same,
    fold_fields,
    make_factory,
    reader,
)

from factory_tui.adapters import foldcache_parts
from factory_tui.adapters.foldcache import FoldCache, sealed
from factory_tui.cli import main
from factory_tui.core import fold_saved, fold_sessions
from factory_tui.core.cost_attribution import SpanBuilder
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_packed import FIELDS
from factory_tui.core.fold_saved import WIDTH, SavedSessionsError, SavedStrings
from factory_tui.core.fold_sessions import SESSION_TEXT, WIDTH_OF
from factory_tui.core.fold_state import _SavedTexts
from factory_tui.core.prs import PullRequest
from factory_tui.core.prs_link import link_rows, log_branches

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")


@pytest.fixture
def cache(tmp_path: Path) -> FoldCache:
    return FoldCache(tmp_path / "cache", min_log_bytes=0)


def _flip_archive(data: bytes) -> bytes:
    """The last three bytes (the archive's) changed: its checksum fails."""
    return data[:-3] + bytes(b ^ 0xFF for b in data[-3:])


def _archive_index_past_the_table(data: bytes) -> bytes:
    """The first session's task index (the archive's first column) past the string table,
    with the archive's checksum made to match."""
    first, rest = data.split(b"\n", 1)
    header = json.loads(first)
    described = header["archive"]
    size = described["strings_bytes"] + 4 * (described["strings"] + described["columns"])
    at = len(rest) - 4 * described["columns"]  # the first column: the first session's task
    rest = rest[:at] + (2**31).to_bytes(4, "little") + rest[at + 4 :]
    described["sha256"] = hashlib.sha256(rest[-size:]).hexdigest()
    return json.dumps(sealed(header)).encode() + b"\n" + rest


DAMAGES = [
    pytest.param(_flip_archive, "checksum", id="its checksum fails (its last column)"),
    pytest.param(_archive_index_past_the_table, "past the string table", id="bad index"),
]


@pytest.mark.parametrize(("damage", "why"), DAMAGES)
def test_a_damaged_archive_is_found_when_read_and_the_reader_reads_cold(
    tmp_path: Path, cache: FoldCache, damage: Any, why: str
) -> None:
    """The archive of every session (the end of the file) is read only when the fold first
    needs a session it does not hold live (an old ended one): damaged, the fold's read raises
    an error that says so (never a wrong answer), the cache file is removed, and the reader
    folds the log again cold and answers from that; the next start is cold and right too."""
    config = make_factory(tmp_path / "factory")
    old = [
        line
        for n in range(1, 29)  # a session a day: the last two days' are live
        for line in (
            f"2026-01-{n:02d}T10:00 | SESSION-START | task=t branch=b instance=i1",
            f"2026-01-{n:02d}T11:00 | SESSION-END | task=t status=success pr={n}",
        )
    ]
    _write(config.log_file, [line.encode() for line in old])
    assert reader(config, cache).save_fold_cache()
    path = cache.path_for(config.log_file)
    path.write_bytes(damage(path.read_bytes()))
    found = reader(config, cache)
    assert found.warm_started  # the body is sound: what the fleet shows is there
    assert found.fleet(NOW, procs={}) == reader(config, None).fleet(NOW, procs={})
    with pytest.raises(SavedSessionsError, match=r"saved sessions .*--no-cache") as raised:
        list(found.fold.sessions)
    assert why in str(raised.value)
    assert not path.exists()
    cold = reader(config, None)
    # Through the reader (the spans, the PR queue, a save), the same read is a cold one.
    sessions = found.with_fold(lambda fold: list(fold.sessions))
    assert len(sessions) == 28
    assert not found.warm_started and found.logs.cold_because is not None
    assert why in found.logs.cold_because
    assert fold_fields(found.fold) == fold_fields(cold.fold)
    assert found.fleet(NOW, procs={}) == cold.fleet(NOW, procs={})
    assert found.save_fold_cache() and path.exists()  # a sound cache again
    assert_same(reader(config, cache), cold)
    path.unlink()
    again = reader(config, cache)
    assert not again.warm_started
    assert_same(again, reader(config, None))


def test_status_with_a_damaged_archive_reads_cold_and_answers_right(
    tmp_path: Path, private_cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status`` whose window reaches sessions only the archive holds (a ``--now`` long before
    the log's end), on a cache file whose archive was damaged: the log is read cold and the
    output is what a cold read prints, exit 0, no traceback; so is the next run's."""
    config = make_factory(tmp_path / "factory")
    old = [
        f"2026-02-01T10:{n % 60:02d} | SESSION-{'START' if n % 2 == 0 else 'END'} | task=o{n // 6} "
        + ("branch=b instance=i1" if n % 2 == 0 else "status=success")
        for n in range(600)
    ]
    lines = [
        f"2026-02-12T{n // 600 % 24:02d}:{n % 60:02d} | STEP-DONE | step=s task=t{n % 50} "
        f"component=c{n}"
        for n in range(24_000)
    ]
    ending = ["2026-02-12T00:00 | SESSION-START | task=t1 branch=b"]
    ending.append("2026-02-12T15:00 | SESSION-END | task=t1 status=success")
    _write(config.log_file, [line.encode() for line in [*old, *lines, *ending]])
    now = ["--json", "--now", "2026-02-02T10:00"]
    assert main(["status", str(config.root), *now]) == 0
    capsys.readouterr()
    (path,) = private_cache_dir.glob("fold-*.json")
    path.write_bytes(_flip_archive(path.read_bytes()))
    assert main(["status", str(config.root), *now, "--no-cache"]) == 0
    cold = capsys.readouterr().out
    assert main(["status", str(config.root), *now]) == 0
    shown = capsys.readouterr()
    assert shown.out == cold and "Traceback" not in shown.err
    assert main(["status", str(config.root), *now]) == 0
    assert capsys.readouterr().out == cold


def test_saved_sessions_are_made_once_and_stay_the_same_objects() -> None:
    """A restored fold's sessions are made on first access, one at a time or (a long slice, a
    whole read) in batches; a session made once is the same object ever after, and each one
    equals the cold fold's. Made at once: the live ones (each task's latest, the open ones,
    those that ended in the last two days and one more)."""
    start = datetime(2026, 1, 1)
    lines = [
        line
        for n in range(9000)  # a session every 10 minutes: 62 days
        for at in [f"{start + timedelta(minutes=10 * n):%Y-%m-%dT%H:%M}"]
        for line in (
            f"{at} | SESSION-START | task=t{n % 10} branch=b instance=i{n % 3}",
            f"{at} | SESSION-END | task=t{n % 10} status=success pr={n}",
        )
    ]
    cold = LogFold()
    cold.feed_lines([line.encode() for line in lines], "operations.log")
    state = cold.to_state()
    live = 2 * 24 * 6 + 2  # 48 hours of them, the one 48 hours before the last, one more
    assert list(state["live"][:live]) == list(range(9000 - live, 9000))  # their seqs first
    assert len(state["live"]) == live * (1 + WIDTH)
    arrays = {name: state.pop(name) for name in ("columns", "ended", "live")}  # saved as binary
    warm = LogFold.from_state(json.loads(json.dumps(state)) | arrays)
    sessions = warm.sessions
    assert sessions.saved == 9000 - live
    third = sessions[3]
    assert sessions[3] is third and sessions[-1] is warm.latest_by_task["t9"]
    assert sessions.saved == 9000 - live - 1
    assert warm.to_state() == cold.to_state()  # saved again without making them
    assert sessions.saved == 9000 - live - 1
    rest = sessions[100:]  # long: all made at once
    assert sessions.saved == 0 and sessions[3] is third and rest[0] is sessions[100]
    assert fold_fields(warm) == fold_fields(cold)


def test_a_saved_string_table_is_its_texts_joined_and_their_ends() -> None:
    """The archive's string table: None, then each text cut from one string; bounds out of
    order (a damaged file) are refused."""
    table = SavedStrings("aébcd", array("I", [1, 2, 5]))
    assert list(table) == [None, "a", "é", "bcd"] and table[-1] == "bcd" and len(table) == 4
    with pytest.raises(IndexError):
        table[4]
    for ends in ([2, 1, 5], [1, 2, 6], [], [1, 3, 2, 5]):
        with pytest.raises(ValueError, match="bounds"):
            SavedStrings("aébcd", array("I", ends))
    assert list(SavedStrings("aébcd", array("I", [1, 1, 5]))) == [None, "a", "", "ébcd"]


def test_a_whole_string_table_cut_out_is_not_interned() -> None:
    """The whole table cut out for a walk of every session's columns (the spend's spans, a
    save) holds its own texts: interning them grew Python's table of interned strings by 59 MB
    at 10x for the process's life (the cockpit's RSS on a 300-day history 268 → 215 MB). A
    session made from the table (kept, beside the fold's own strings) still gets interned
    ones."""
    interned = sys.intern("".join(["branch-", "feature-x"]))
    table = SavedStrings("abranch-feature-x", array("I", [1, 17]))
    whole = table.as_list()
    assert whole == [None, "a", "branch-feature-x"]
    assert whole[2] is not interned
    assert table[2] is interned


def test_a_saves_columns_are_spilled_as_made_and_are_the_held_ones() -> None:
    """A save takes the archive's columns a part at a time (written to a file as they come,
    never all held: 114 MB of a 300-day log); they are the columns a held read makes."""
    start = datetime(2026, 1, 1)
    fold = LogFold()
    fold.feed_lines(
        [
            line.encode()
            for n in range(3000)
            for at in [f"{start + timedelta(minutes=10 * n):%Y-%m-%dT%H:%M}"]
            for line in (
                f"{at} | SESSION-START | task=t{n % 10} branch=b instance=i{n % 3}",
                f"{at} | SESSION-END | task=t{n % 10} status=success pr={n}",
            )
        ],
        "operations.log",
    )
    parts: list[array[int]] = []
    spilled = fold.to_state(parts.append)
    held = fold.to_state()
    assert max(map(len, parts)) <= 3000  # a column (or a chunk of one) at a time
    assert spilled["columns"] == len(held["columns"]) == 3000 * WIDTH
    saved = SavedStrings(b"".join(spilled["texts"]).decode(), spilled["ends"]).as_list()
    assert _decoded(saved, array("I", [v for part in parts for v in part])) == _decoded(
        held["strings"], held["columns"]
    )
    archive = {"columns", "strings", "texts", "ends"}
    assert {k: v for k, v in spilled.items() if k not in archive} == {
        k: v for k, v in held.items() if k not in archive
    }
    # Each PR number its own: not looked up in the save's table (which still holds each once).
    assert len(saved) == len(held["strings"])


def _decoded(strings: list[str | None], columns: array[int]) -> list[list[object]]:
    """The archive's columns as the sessions' values: each text column through its table."""
    rows = len(columns) // WIDTH
    out: list[list[object]] = []
    for n in range(WIDTH):
        column = columns[n * rows : (n + 1) * rows]
        out.append([strings[v] for v in column] if n < len(SESSION_TEXT) else list(column))
    return out


def test_a_saves_table_looks_up_only_the_texts_that_repeat() -> None:
    """A part of a column of each session's own texts, nearly all distinct (a PR number per
    session), gets an index per text, kept joined, never in the lookup (~180 MB of a 300-day
    log's save); one whose texts repeat, or another column's, is looked up as before, each text
    once."""
    table = _SavedTexts()
    assert list(table.codes("pr", ["17", None, "18", "19"])) == [1, 0, 2, 3]
    assert table.index == {None: 0}
    repeated = ["a", "a", "b", "a", None, "b", "a", "a"]
    assert list(table.codes("pr", repeated)) == [4, 4, 5, 4, 0, 5, 4, 4]
    assert table.index == {None: 0, "a": 4, "b": 5}
    assert list(table.codes("started_at", ["c", "d", "b"])) == [6, 7, 5]
    assert list(table.codes("ended_at", ["c", "d", "b"])) == [6, 7, 5]
    assert table.index == {None: 0, "a": 4, "b": 5, "c": 6, "d": 7}
    state = table.state()
    assert SavedStrings(b"".join(state["texts"]).decode(), state["ends"]).as_list() == [
        None, "17", "18", "19", "a", "b", "c", "d"
    ]  # fmt: skip


def _warm_with_counted_archive(tmp_path: Path, cache: FoldCache) -> tuple[Any, list[int]]:
    """A warm reader of 1,200 sessions, one an hour (those of the last two days live, the
    others only in the archive: more than the spans' walk of the columns needs), whose archive
    reads are counted."""
    config = make_factory(tmp_path / "factory")
    first = datetime(2026, 1, 1, 10, 0)
    lines = []
    for n in range(1200):
        at = first + timedelta(hours=n)
        end = at + timedelta(minutes=30)
        lines += [
            f"{at:%Y-%m-%dT%H:%M} | SESSION-START | task=t{n % 3} branch=b{n} instance=i{n % 2}",
            f"{end:%Y-%m-%dT%H:%M} | SESSION-END | task=t{n % 3} status=success pr={n}",
        ]
    warm = _warm_of(config, cache, lines)
    sessions = warm.fold.sessions
    reads: list[int] = []
    saved = sessions._saved

    def counted() -> Any:
        reads.append(1)
        return saved()

    counted.archive = saved  # type: ignore[attr-defined]  # the real one, for a test to wrap
    sessions._saved = counted
    return warm, reads


def _pr(number: int | None, branch: str | None) -> PullRequest:
    return PullRequest(source="github", number=number, branch=branch, title="t", state="open")


@pytest.mark.parametrize(
    "walk",
    [
        pytest.param(lambda fold: log_branches(fold.sessions), id="the PR branches"),
        pytest.param(
            lambda fold: [
                (rec.seq, rec.task, rec.pr)
                for rec in link_rows(fold.sessions, [_pr(7, None), _pr(None, "b5")])
            ],
            id="the PR links",
        ),
        pytest.param(
            lambda fold: SpanBuilder().build(fold.sessions, [], worktrees={}),
            id="the spend's spans",
        ),
        pytest.param(lambda fold: fold.to_state(), id="a save"),
    ],
)
def test_a_walk_of_every_sessions_columns_reads_the_archive_once_and_lets_it_go(
    tmp_path: Path, cache: FoldCache, walk: Any
) -> None:
    """The archive (114 MB of columns and 75 MB of texts in a 300-day history) is read once for
    a walk of several columns, then let go: the cockpit held it for its whole life once the
    spend's spans were made (its RSS on that history 401 MB warm, more than cold). Read again
    when next needed, from the file as opened at load; the answers are a cold read's."""
    warm, reads = _warm_with_counted_archive(tmp_path, cache)
    cold = reader(warm.config, None)
    assert walk(warm.fold) == walk(cold.fold)
    assert len(reads) == 1
    assert not warm.fold.sessions.archive_read  # let go
    assert walk(warm.fold) == walk(cold.fold)
    assert len(reads) == 2  # read again, once
    assert fold_fields(warm.fold) == fold_fields(cold.fold)


def test_a_walk_cuts_the_archives_strings_out_once_for_all_its_columns(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within a walk, the archive's strings are cut out in one pass, once, whatever columns
    are read (a method call per value cost a second of the scale factory's columns); after
    it, they go with the archive; a column read outside a walk cuts nothing out."""
    warm, _reads = _warm_with_counted_archive(tmp_path, cache)
    cold = reader(warm.config, None)
    sessions = warm.fold.sessions
    cuts: list[int] = []
    real = fold_sessions.SavedStrings.as_list

    def as_list(self: Any) -> Any:
        cuts.append(1)
        return real(self)

    monkeypatch.setattr(fold_sessions.SavedStrings, "as_list", as_list)
    names = ["task", "branch", "started_at", "pr"]
    with sessions.archive_held():
        inside = [sessions.column(name) for name in names]
        assert len(cuts) == 1 and sessions._cut is not None
    assert sessions._cut is None
    assert inside == [cold.fold.sessions.column(name) for name in names]
    assert sessions.column("task") == inside[0]
    assert len(cuts) == 1  # outside a walk: read value by value


def test_an_archive_a_session_was_made_from_stays_after_a_walk(
    tmp_path: Path, cache: FoldCache
) -> None:
    """A session read by index keeps the archive (an instance's history is read one session
    at a time: each would read the file again); a walk does not let go of an archive it did
    not read."""
    warm, reads = _warm_with_counted_archive(tmp_path, cache)
    sessions = warm.fold.sessions
    first = sessions[0]
    assert sessions.archive_read and len(reads) == 1
    log_branches(sessions)
    assert sessions.archive_read and len(reads) == 1
    assert sessions[0] is first and sessions[1].task == "t1"
    assert len(reads) == 1


def test_an_archive_is_read_into_its_arrays_not_beside_them(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive's bytes are read a chunk at a time straight into the arrays they become
    (and hashed there), never held whole beside them, and checked without copying them: at
    10x (190 MB) a read of the archive peaked at 320 MB RSS, now 227."""
    import tracemalloc

    monkeypatch.setattr(foldcache_parts, "READ_CHUNK", 4096)
    monkeypatch.setattr(fold_saved, "LANES_BYTES", 1024)  # its check's own ~100 KB: small
    warm, reads = _warm_with_counted_archive(tmp_path, cache)
    part = warm.fold.sessions._saved
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        strings, columns = part()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    held = len(columns) * 4 + len(strings._ends) * 4 + len(strings._text)
    assert len(reads) == 1 and held > 100_000
    assert peak < 1.4 * held, (peak, held)


_EDGES = [0, 1, 2, 7, 2**16, 2**24 - 1, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.sampled_from(_EDGES) | st.integers(0, 2**32 - 1), max_size=40),
    low=st.sampled_from([0, 1, 2, 8]),
    high=st.sampled_from(_EDGES[1:]) | st.integers(1, 2**32),
    lanes=st.sampled_from([4, 8, 12, 16384]),
)
def test_all_in_answers_as_a_check_of_each_value(
    values: list[int], low: int, high: int, lanes: int
) -> None:
    """The archive's codes are checked as big integers of 32-bit lanes, a chunk at a time
    (0.6 s of each 10x archive read was ``max`` and ``in`` over them): the same answer as
    looking at each value, whatever the values, bounds and chunk's size."""
    with mock.patch.object(fold_saved, "LANES_BYTES", lanes):
        found = fold_saved.all_in(memoryview(array("I", values)), low, high)
    assert found == all(low <= value < high for value in values)


def test_a_warm_folds_save_copies_its_restored_sessions_as_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm fold saved again (the cockpit's resave, ``status`` after a few megabytes more)
    copies the restored sessions' columns and table as the archive holds them, with the values
    of those the fold changed since put in: no text of the history is cut out (525 MB and 5 s of
    a 300-day history's resave). Read back, every session is the cold read's."""
    start = datetime(2026, 1, 1)

    def at(n: int) -> str:
        return f"{start + timedelta(minutes=10 * n):%Y-%m-%dT%H:%M}"

    config = make_factory(tmp_path / "factory")
    lines = []
    for n in range(300):
        lines.append(f"{at(n)} | SESSION-START | task=t{n % 7} branch=b{n % 3} instance=i{n % 4}")
        if n % 5:  # every fifth left open: a crash, ended by a later one's recovery
            lines.append(f"{at(n)} | SESSION-END | task=t{n % 7} status=success pr={n}")
    _write(config.log_file, [line.encode() for line in lines])
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    assert reader(config, cache).save_fold_cache()
    more = [
        f"{at(400)} | SESSION-END | task=t3 status=crashed recovered_by=i9",  # an old one ends
        f"{at(401)} | SESSION-START | task=new branch=b-é instance=i1",
        f"{at(402)} | STEP-DONE | step=code task=t1 pr=77",  # an open restored one changes
        f"{at(403)} | SESSION-END | task=new status=success pr=900",
        # Three days on: the sessions changed above are no longer live (saved in the archive
        # only), and read back from there.
        f"{at(900)} | SESSION-START | task=later branch=c instance=i2",
        f"{at(901)} | SESSION-END | task=later status=success pr=901",
    ]
    with config.log_file.open("ab") as f:
        f.write("".join(line + "\n" for line in more).encode())
    warm = reader(config, cache)
    assert warm.warm_started and warm.fold.sessions.saved_table() is not None

    def no_cut(self: SavedStrings) -> list[str | None]:
        raise AssertionError("a warm fold's save cut out the archive's texts")

    with monkeypatch.context() as patched:
        patched.setattr(SavedStrings, "as_list", no_cut)
        assert warm.save_fold_cache()
    again = reader(config, cache)
    assert again.warm_started, cache.last_miss
    cold = reader(config, None)
    assert len(again.fold.sessions) == len(cold.fold.sessions) == 302
    for warm_rec, cold_rec in zip(again.fold.sessions, cold.fold.sessions, strict=True):
        assert [getattr(warm_rec, f) for f in FIELDS] == [getattr(cold_rec, f) for f in FIELDS]
    assert_same(again, cold)

    # Saved again, no session changed: the same table (no live session's texts added again at
    # each resave).
    def strings() -> int:
        header = json.loads(cache.path_for(config.log_file).read_bytes().split(b"\n", 1)[0])
        return int(header["archive"]["strings"])

    before, saved_file = strings(), cache.path_for(config.log_file).read_bytes()
    with config.log_file.open("ab") as f:
        f.write(f"{at(902)} | STEP-DONE | step=x task=nobody\n".encode())
    assert reader(config, cache).save_fold_cache()
    assert cache.path_for(config.log_file).read_bytes() != saved_file  # saved again
    assert strings() == before


def _saved_days(tmp_path: Path, cache: FoldCache) -> Any:
    """A warm reader of 28 sessions a day apart (the last two days' live, the others only in
    its archive)."""
    config = make_factory(tmp_path / "factory")
    old = [
        line
        for n in range(1, 29)
        for line in (
            f"2026-01-{n:02d}T10:00 | SESSION-START | task=t{n % 3} branch=b{n} instance=i1",
            f"2026-01-{n:02d}T11:00 | SESSION-END | task=t{n % 3} status=success pr={n}",
        )
    ]
    return _warm_of(config, cache, old)


def _warm_of(config: Any, cache: FoldCache, lines: list[str]) -> Any:
    """A warm reader of a log of ``lines``, its fold saved once: some sessions only in its
    archive."""
    _write(config.log_file, [line.encode() for line in lines])
    assert reader(config, cache).save_fold_cache()
    warm = reader(config, cache)
    assert warm.warm_started and warm.fold.sessions.saved
    return warm


def test_some_columns_of_the_archive_are_the_whole_reads(tmp_path: Path, cache: FoldCache) -> None:
    """The spend's spans read 5 of the archive's 19 columns: the archive is read and checked
    whole, only those kept; they and the table are the whole read's."""
    warm = _saved_days(tmp_path, cache)
    archive = warm.fold.sessions._saved
    wanted = [WIDTH_OF[name] for name in ("instance", "task", "branch", "started_at", "ended_at")]
    strings, kept = archive.columns(wanted)
    whole_strings, flat = archive()
    count = len(flat) // WIDTH
    assert strings.parts() == whole_strings.parts() and sorted(kept) == sorted(wanted)
    for n in wanted:
        assert kept[n] == flat[n * count : (n + 1) * count]
    assert archive.columns([])[1] == {}


@pytest.mark.parametrize("chunk", [4, 6, 8, 12, 20, 4096])
def test_rows_are_picked_whole_across_any_chunks(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The archive is read a chunk at a time, the rows picked out of each as it comes: at any
    chunk size (one not a multiple of a value's 4 bytes raised ``TypeError``) the rows are the
    whole read's, the first and last included."""
    warm = _saved_days(tmp_path, cache)
    archive = warm.fold.sessions._saved
    _strings, flat = archive()
    count = len(flat) // WIDTH
    seqs = [0, 1, count // 2, count - 2, count - 1]
    monkeypatch.setattr(foldcache_parts, "READ_CHUNK", chunk)
    rows = archive.rows(seqs)[1]
    assert [list(column) for column in rows] == [
        [flat[n * count + seq] for seq in seqs] for n in range(WIDTH)
    ]


def test_some_rows_of_the_archive_are_the_whole_reads(tmp_path: Path, cache: FoldCache) -> None:
    """The PR queue's sessions are made from their rows of the archive (read and checked
    whole, only those kept): in the order asked, each the whole read's; one past the archive
    is refused."""
    warm = _saved_days(tmp_path, cache)
    archive = warm.fold.sessions._saved
    whole_strings, flat = archive()
    count = len(flat) // WIDTH
    seqs = [count - 1, 0, 3, 0]
    strings, rows = archive.rows(seqs)
    assert strings.parts() == whole_strings.parts() and len(rows) == WIDTH
    for n, column in enumerate(rows):
        assert list(column) == [flat[n * count + seq] for seq in seqs]
    assert [list(column) for column in archive.rows([])[1]] == [[]] * WIDTH
    for outside in ([count], [-1, 0]):
        with pytest.raises(ValueError, match="not all in the archive"):
            archive.rows(outside)
    made = warm.fold.sessions.made([3, 0])
    fresh = reader(warm.config, None).fold.sessions

    def fields(rec: Any) -> tuple[object, ...]:
        return (rec.seq, *(getattr(rec, name) for name in FIELDS))

    assert [fields(rec) for rec in made] == [fields(fresh[3]), fields(fresh[0])]
    assert not warm.fold.sessions.archive_read  # made from the rows: no archive held


_PART_READS = [
    pytest.param(lambda sessions: sessions.coded_columns(["task", "ended_at"]), id="columns"),
    pytest.param(lambda sessions: sessions.made([2, 0]), id="rows"),
]


@pytest.mark.parametrize(("damage", "why"), DAMAGES)
@pytest.mark.parametrize("read", _PART_READS)
def test_a_damaged_archive_is_found_by_a_read_of_some_of_it(
    tmp_path: Path, cache: FoldCache, damage: Any, why: str, read: Any
) -> None:
    """Damaged in a part the read does not keep (the last column: checked all the same), or
    one it keeps (the first session's task past the table): a read of some columns, or of
    some sessions' rows, says so; the cache file is removed."""
    warm = _saved_days(tmp_path, cache)
    path = cache.path_for(warm.config.log_file)
    path.write_bytes(damage(path.read_bytes()))
    damaged = reader(warm.config, cache)
    assert damaged.warm_started
    with pytest.raises(SavedSessionsError, match=why):
        read(damaged.fold.sessions)
    assert not path.exists()


def test_the_spans_read_only_their_columns_of_the_archive(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window of the spend's spans on a restored fold: the archive's read keeps its five
    columns, not the nineteen (never the whole read); the spans are a cold read's."""
    from factory_tui.core import cost_attribution
    from factory_tui.core.cost_attribution import SpanBuilder

    warm = _saved_days(tmp_path, cache)
    cold = reader(warm.config, None)
    sessions = warm.fold.sessions
    reads: list[str] = []
    archive = sessions._saved
    sessions._saved = mock.Mock(
        side_effect=lambda: reads.append("whole") or archive(),
        columns=lambda places: reads.append(f"{len(places)} columns") or archive.columns(places),
    )
    monkeypatch.setattr(cost_attribution, "COLUMNS_FROM", 0)
    since = datetime(2026, 1, 20, 12, 0)
    spans = SpanBuilder().build(sessions, [], since=since)
    assert reads == ["5 columns"]
    assert list(spans) == list(SpanBuilder().build(cold.fold.sessions, [], since=since))
    # From the 21st's session on (the 20th's ended at 11:00, before the window and its grace).
    assert [span.branch for span in spans] == [f"b{n}" for n in range(21, 29)]
