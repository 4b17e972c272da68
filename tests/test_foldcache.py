"""The warm-start cache of the folded operations.log: a warm start must give exactly what a cold
read gives (the fold field by field, the fleet derived from it), and any change to the files it
was saved for — or to the cache file itself — must make it read cold, never wrong, never a
traceback."""

from __future__ import annotations

import json
import os
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import config_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import CACHE_DIR_ENV, CACHE_SWITCH_ENV, FoldCache
from factory_tui.adapters.tail import LogTail
from factory_tui.cli import main
from factory_tui.config import Config
from factory_tui.core.fold import LogFold, SessionRec
from factory_tui.core.fold_ended import LATE_ENDS
from factory_tui.core.fold_sessions import (
    WIDTH,
    SessionRefs,
    SessionTable,
)

NOW = datetime(2026, 2, 12, 16, 0)

_TOKENS = st.sampled_from(
    ["task=a", "task=b", "task=c", "step=s", "step=t", "branch=x", "instance=i1", "instance=i2",
     "pr=3", "file=f.json", "status=success", "status=crashed", "recovered_by=i2",
     "recovered_from=a", 'detail="a b"', "detail='q'", "bare", "by=dana", "phase=1", "phase=-",
     "reason=done", "change=c1", "change=c2", "claim=a", "owner=i1", "error=boom", "cmd=x y",
     "kind=permission", "detail=d", "worktree=/w"]
)  # fmt: skip
_NAMES = st.sampled_from(
    ["SESSION-START", "SESSION-END", "STEP-DONE", "STEP-START", "CHECKPOINT", "ERROR", "CLAIM",
     "RELEASE", "RELEASE-INTENT", "BASH-EXEC", "AGENT-WAITING", "AGENT-TURN-END",
     "AGENT-RESUMED", "LAUNCH", "weird name"]
)  # fmt: skip
_LINE = st.one_of(
    st.builds(
        lambda day, n, name, tokens: (
            f"2026-02-{day:02d}T14:{n:02d} | {name} | {' '.join(tokens)}".encode()
        ),
        st.sampled_from([1, 12, 12]),  # days before NOW's history window, and within it
        st.integers(0, 59),
        _NAMES,
        st.lists(_TOKENS, max_size=5),
    ),
    st.sampled_from([b"junk", b"\xff not utf-8", b"", b"2026-02-12T14:00 | X\r"]),
)


def _plain(value: Any) -> Any:
    """``value`` as plain comparable data: sessions by their fields, deques with their bound,
    mappings with their order."""
    if isinstance(value, SessionRec):
        return ("session", *(getattr(value, name) for name in SessionRec.__slots__))
    if isinstance(value, deque):
        return ("deque", value.maxlen, [_plain(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(key, _plain(item)) for key, item in value.items()])
    if isinstance(value, list | tuple | SessionTable | SessionRefs):
        return [_plain(item) for item in value]
    return value


def fold_fields(fold: LogFold) -> dict[str, Any]:
    """Every field of the fold but its caches of shared strings. The lines counted by kind
    (``counts``) compare as a multiset: their order is the order the fast path counted them
    in, a block at a time (a cold read of [SESSION-END, SESSION-START] counts START first, a
    warm start cut between them END first), and nothing reads it."""
    fields = {name: _plain(value) for name, value in vars(fold).items() if not name.startswith("_")}
    fields["counts"] = sorted(fold.counts.items())
    return fields


def make_factory(root: Path) -> Config:
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    return config_for(root)


def reader(config: Config, cache: FoldCache | None) -> FactoryReader:
    found = FactoryReader(config, hostname="h", fold_cache=cache)
    found.refresh_log()
    return found


def starts_warm_as_cold(config: Config, cache: FoldCache) -> FactoryReader:
    """The fold saved in ``cache`` starts warm, and answers as a cold read does; the warm
    reader."""
    warm = reader(config, cache)
    assert warm.warm_started, cache.last_miss
    assert_same(warm, reader(config, None))
    return warm


def assert_same(warm: FactoryReader, cold: FactoryReader) -> None:
    """The same fold and fleet. A warm fold makes its saved sessions on demand: it is
    derived (without reading its archive of old sessions: only the live ones are shown), and
    saved again, before it is looked at whole (which makes them all)."""
    warm_fleet, cold_fleet = warm.fleet(NOW, procs={}), cold.fleet(NOW, procs={})
    if warm.fold.sessions.saved:
        assert not warm.fold.sessions.archive_read
    assert warm_fleet == cold_fleet
    assert warm.fold.to_state() == cold.fold.to_state()
    assert warm_fleet.to_json() == cold_fleet.to_json()
    assert warm.fold.to_state() == cold.fold.to_state()
    assert fold_fields(warm.fold) == fold_fields(cold.fold)
    sessions = warm.fold.sessions
    assert all(sessions[s.seq] is s for s in warm.fold.ended)
    assert all(sessions[s.seq] is s for refs in warm.fold.instance_sessions.values() for s in refs)
    assert all(sessions[s.seq] is s for s in warm.fold.latest_by_task.values())


@pytest.fixture
def cache(tmp_path: Path) -> FoldCache:
    return FoldCache(tmp_path / "cache", min_log_bytes=0)


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.none() | st.lists(_LINE, max_size=15),
    log=st.lists(_LINE, max_size=30),
    cut=st.floats(0, 1),
    rotate=st.none() | st.integers(1, 30),
)
def test_warm_equals_cold_at_any_cut(
    tmp_path_factory: pytest.TempPathFactory,
    history: list[bytes] | None,
    log: list[bytes],
    cut: float,
    rotate: int | None,
) -> None:
    """Fold a prefix of the log (cut anywhere, even inside a line) and save it; append the rest;
    maybe rotate as the hooks do (the oldest lines appended to operations.log.1, the log
    replaced by the rest); a warm start then equals a cold read, field by field and fleet for
    fleet. It is warm unless a first rotation created operations.log.1."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    if history is not None:
        _write(config.log_history_file, history)
    data = b"".join(line + b"\n" for line in log)
    at = int(len(data) * cut)
    config.log_file.write_bytes(data[:at])
    first = reader(config, cache)
    assert first.save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(data[at:])
    if rotate is not None:
        with config.log_history_file.open("ab") as f:
            f.write(b"".join(line + b"\n" for line in log[:rotate]))
        rest = config.log_file.with_name("operations.log.tmp")
        rest.write_bytes(b"".join(line + b"\n" for line in log[rotate:]))
        os.replace(rest, config.log_file)
    warm = reader(config, cache)
    assert warm.warm_started == (history is not None or rotate is None), cache.last_miss
    assert_same(warm, reader(config, None))


@pytest.fixture
def saved(tmp_path: Path, cache: FoldCache) -> Config:
    """A factory with a rotated log and a log, whose fold is in the cache; then 3 more lines."""
    config = make_factory(tmp_path / "factory")
    _write(
        config.log_history_file,
        [
            b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1",
            b"2026-02-12T13:01 | STEP-DONE | step=code task=a",
        ],
    )
    lines = [
        f"2026-02-12T14:{n:02d} | STEP-DONE | step=s{n} task=a".encode() for n in range(40)
    ] + [b"2026-02-12T14:50 | CLAIM | task=a phase=1 instance=i1"]
    _write(config.log_file, lines)
    assert reader(config, cache).save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:00 | SESSION-START | task=c branch=d instance=i2\n")
        f.write(b"2026-02-12T15:01 | STEP-DONE | step=x task=c\n")
        f.write(b'2026-02-12T15:02 | ERROR | task=c error="oh no"\n')
    return config


def test_a_warm_start_reads_only_what_follows(saved: Config, cache: FoldCache) -> None:
    warm = reader(saved, cache)
    assert warm.warm_started and cache.last_miss is None
    assert warm.fold.sessions[-1].last_error == "oh no"
    assert warm.fold.sessions[-1].start_line == 42  # line numbers go on from the cache's
    assert_same(warm, reader(saved, None))


def _old_sessions(count: int, *, steps: bool = False) -> list[str]:
    """``count`` sessions of 20 tasks on three agents, all of them ended on 2026-02-01 (each with
    a step when ``steps``)."""
    lines = []
    for n in range(count):
        lines.append(
            f"2026-02-01T10:{n % 60:02d} | SESSION-START | task=t{n % 20} branch=b instance=i{n % 3}"
        )
        if steps:
            lines.append(f"2026-02-01T11:{n % 60:02d} | STEP-DONE | step=code task=t{n % 20}")
        lines.append(
            f"2026-02-01T12:{n % 60:02d} | SESSION-END | task=t{n % 20} status=success pr={n}"
        )
    return lines


def test_a_warm_start_makes_only_the_sessions_it_shows(tmp_path: Path, cache: FoldCache) -> None:
    """Issue 17: a warm start of a long history does not rebuild the old ended sessions nothing
    shows (the fleet shows the open ones, each task's latest, those ended within a day; its walk
    back through the ends looks LATE_ENDS further): they stay saved columns until something
    reads them all, and the answers are a cold read's."""
    config = make_factory(tmp_path / "factory")
    old = _old_sessions(1000, steps=True)
    recent = [
        "2026-02-12T14:00 | SESSION-START | task=t1 branch=b instance=i1",
        "2026-02-12T14:01 | SESSION-END | task=t1 status=success",
        "2026-02-12T14:02 | SESSION-START | task=t2 branch=b instance=i2",
    ]
    _write(config.log_file, [line.encode() for line in old + recent])
    assert reader(config, cache).save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:00 | STEP-DONE | step=test task=t2\n")
    warm, cold = reader(config, cache), reader(config, None)
    assert warm.warm_started
    shown = warm.fleet(NOW, procs={}).sessions
    assert len(shown) == 20  # each task's latest (t1's ended today, t2's is open)
    sessions = warm.fold.sessions
    assert len(sessions) == 1002 and sessions.saved >= 1002 - 20 - (LATE_ENDS + 1)
    assert_same(warm, cold)
    assert sessions.saved == 0  # read whole (as the cost view does): all made, the same


def test_an_end_logged_late_with_an_older_time_keeps_the_warm_start_a_cold_ones(
    tmp_path: Path, cache: FoldCache
) -> None:
    """x's end, dated eleven days ago, is logged between c's of today and a's: c's session is
    listed (the walk back through the ends goes on past an old one, LATE_ENDS in a row), and
    the warm start's live sessions hold it (its walk goes as far): listed from them, the
    archive of the 1,000 old sessions left unread."""
    config = make_factory(tmp_path / "factory")
    old = _old_sessions(1000)
    recent = [
        "2026-02-01T09:00 | SESSION-START | task=x branch=b instance=i9",
        *old,
        "2026-02-12T13:00 | SESSION-START | task=c branch=b instance=i1",
        "2026-02-12T13:30 | SESSION-END | task=c status=success",
        "2026-02-01T13:00 | SESSION-END | task=x status=success",  # logged late
        "2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i2",
        "2026-02-12T14:01 | SESSION-END | task=a status=success",
        "2026-02-12T15:00 | SESSION-START | task=c branch=b instance=i1",
    ]
    _write(config.log_file, [line.encode() for line in recent])
    assert reader(config, cache).save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:10 | STEP-DONE | step=test task=c\n")
    warm, cold = reader(config, cache), reader(config, None)
    assert warm.warm_started
    shown = [(s.task, s.started_at) for s in warm.fleet(NOW, procs={}).sessions]
    assert ("c", "2026-02-12T13:00") in shown and ("c", "2026-02-12T15:00") in shown
    assert warm.fold.sessions.saved > 700  # the old ones but LATE_ENDS stay in the archive
    assert_same(warm, cold)


def _cold(config: Config, cache: FoldCache, why: str) -> None:
    """The next start ignores the cache (saying why) and equals a cold read."""
    found = reader(config, cache)
    assert not found.warm_started
    assert cache.last_miss is not None and why in cache.last_miss
    assert_same(found, reader(config, None))


def _log_cache_missed(config: Config, cache: FoldCache, why: str) -> None:
    """The log's cache is ignored (saying why); the rotated log's, still good, is used: the
    result equals a cold read."""
    warm = cache.load(config.log_file, config.log_history_file)
    assert warm is not None and warm.log is None  # the rotated log's cache, not the log's
    assert len(cache.skipped) == 1 and cache.skipped[0].startswith("log cache: ")
    assert why in cache.skipped[0]
    found = reader(config, cache)
    assert found.warm_started and cache.last_miss is None
    assert_same(found, reader(config, None))


def only_the_log_cache(cache: FoldCache, config: Config) -> None:
    cache.path_for(config.log_file, history_only=True).unlink()


def test_a_rotation_reads_cold(saved: Config, cache: FoldCache) -> None:
    old = saved.log_file.read_bytes().splitlines()
    _write(saved.log_history_file, old[:-5])
    _write(saved.log_file, old[-5:])
    _cold(saved, cache, "operations.log.1 changed")


def test_a_first_rotation_reads_cold(tmp_path: Path, cache: FoldCache) -> None:
    config = make_factory(tmp_path / "factory")
    lines = [f"2026-02-12T14:{n:02d} | STEP-DONE | step=s task=a".encode() for n in range(9)]
    _write(config.log_file, lines)
    assert reader(config, cache).save_fold_cache()
    _write(config.log_history_file, lines[:6])
    _write(config.log_file, lines[6:])
    _cold(config, cache, "operations.log.1 changed")


def test_a_truncation_reads_cold(saved: Config, cache: FoldCache) -> None:
    saved.log_file.write_bytes(b"2026-02-12T16:00 | SESSION-START | task=z branch=y\n")
    _log_cache_missed(saved, cache, "operations.log was truncated")


def test_a_replaced_log_reads_cold(saved: Config, cache: FoldCache) -> None:
    copy = saved.log_file.with_name("copy")
    copy.write_bytes(saved.log_file.read_bytes())
    os.replace(copy, saved.log_file)
    _log_cache_missed(saved, cache, "operations.log was replaced")


@pytest.mark.parametrize("where", ["head", "tail"])
def test_a_log_rewritten_in_place_reads_cold(saved: Config, cache: FoldCache, where: str) -> None:
    data = bytearray(saved.log_file.read_bytes())
    at = data.index(b"step=s0 ") if where == "head" else data.index(b"phase=1")
    data[at : at + 6] = b"step=X" if where == "head" else b"phase2"
    with saved.log_file.open("r+b") as f:  # same inode, same size
        f.write(data)
    _log_cache_missed(saved, cache, "operations.log was rewritten")


def test_another_version_reads_cold(saved: Config, cache: FoldCache) -> None:
    other = FoldCache(cache.folder, min_log_bytes=0, version="0.0.0-other")
    _cold(saved, other, "another version")


def _edit_header(cache: FoldCache, config: Config, **changes: object) -> None:
    for history_only in (False, True):
        path = cache.path_for(config.log_file, history_only=history_only)
        header, _, rest = path.read_bytes().partition(b"\n")
        fields = json.loads(header) | changes
        path.write_bytes(json.dumps(fields).encode() + b"\n" + rest)


def test_another_format_reads_cold(saved: Config, cache: FoldCache) -> None:
    _edit_header(cache, saved, format=0)
    _cold(saved, cache, "another cache format")


def _flip_in_body(data: bytes) -> bytes:
    """Three bytes of the body (the part read at load) changed."""
    at = data.index(b"\n") + 5
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + 3]) + data[at + 3 :]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="cut short"),
        pytest.param(lambda data: data + b"x", id="longer"),
        pytest.param(_flip_in_body, id="flipped bytes"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"\xff\xfe garbage\n" + data, id="garbage header"),
        pytest.param(lambda data: b"[" * 100_000 + b"\n", id="deep nesting"),
        pytest.param(lambda data: b"null\n", id="not an object"),
    ],
)
def test_a_corrupt_cache_file_reads_cold(saved: Config, cache: FoldCache, damage: Any) -> None:
    only_the_log_cache(cache, saved)
    path = cache.path_for(saved.log_file)
    path.write_bytes(damage(path.read_bytes()))
    found = reader(saved, cache)
    assert not found.warm_started and cache.last_miss
    assert_same(found, reader(saved, None))


def _live_field(state: dict[str, Any], column: int, value: int, *, at: int = 0) -> None:
    """Set the live session ``at``'s value (-1: the last's) in ``column`` (0: its seq, then
    the fields)."""
    rows = len(state["live"]) // (1 + WIDTH)
    assert rows > 1 and rows > at
    state["live"][column * rows + at % rows] = value


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: _live_field(s, 1, 0), id="a live session without a task"),
        pytest.param(lambda s: _live_field(s, 0, s["live"][0], at=1), id="a live session twice"),
        pytest.param(
            lambda s: _live_field(s, 0, s["sessions"], at=-1), id="a live session past the end"
        ),
        pytest.param(
            lambda s: _live_field(s, 2, len(s["live_strings"])), id="a live text past its table"
        ),
        pytest.param(lambda s: s["live"].pop(), id="live columns cut short"),
        pytest.param(lambda s: s["live_strings"].append(7), id="a live text that is a number"),
        pytest.param(lambda s: s.update(sessions=s["sessions"] + 1), id="a wrong count"),
        pytest.param(lambda s: s.update(latest_by_task={"a": 999}), id="a dangling session"),
        pytest.param(lambda s: s.update(latest_by_task={"a": "0"}), id="a latest seq as text"),
        pytest.param(lambda s: s.update(open_by_task={"a": 0}), id="open seqs not a list"),
        pytest.param(lambda s: s.update(open_by_task={"a": [True]}), id="an open seq as a bool"),
        pytest.param(
            lambda s: s.update(open_by_task={"a": [0], "b": [s["sessions"]]}),
            id="an open session past the end",
        ),
        pytest.param(lambda s: s.update(recent=[["x", "1", "f"]]), id="a line number as text"),
        pytest.param(lambda s: s.update(counts={"X": True}), id="a count that is a bool"),
        pytest.param(lambda s: s.pop("events"), id="a missing field"),
        pytest.param(lambda s: s.update(problems=[[1, 2]]), id="a short row"),
        pytest.param(lambda s: s.update(open_changes=[7]), id="a row that is not a list"),
        pytest.param(
            lambda s: s.update(agent_signals=[["i", "X", "t", 1, None, "w"]]),
            id="a signal's kind that is a number",
        ),
        pytest.param(
            lambda s: s.update(launches=[["k", None, "t", None, None, "w", "f"]]),
            id="a launch row cut short",
        ),
    ],
)
def test_a_well_formed_but_wrong_cache_reads_cold(
    saved: Config, cache: FoldCache, change: Any
) -> None:
    """A cache file whose checksum holds but whose contents are not a fold's (written by
    someone else, or by a buggy version): checked field by field, read cold."""
    fold = reader(saved, None).fold
    original = fold.to_state

    def doctored(spill: Any = None, now: Any = None) -> dict[str, Any]:
        state = original(spill, now)
        change(state)
        return state

    fold.to_state = doctored  # type: ignore[method-assign]
    only_the_log_cache(cache, saved)
    log = saved.log_file
    from factory_tui.adapters.foldcache import file_identity

    with log.open("rb") as f:
        identity = file_identity(f.fileno(), log.stat().st_size)
    history = saved.log_history_file
    with history.open("rb") as f:
        history_identity = file_identity(f.fileno(), history.stat().st_size)
    assert cache.save(
        log,
        history,
        fold=fold,
        log=identity,
        line_count=len(log.read_bytes().splitlines()),
        history=history_identity,
    )
    found = reader(saved, cache)
    assert not found.warm_started and cache.last_miss and "unreadable" in cache.last_miss
    assert_same(found, reader(saved, None))


def test_an_unreadable_cache_path_reads_cold(saved: Config, cache: FoldCache) -> None:
    only_the_log_cache(cache, saved)
    path = cache.path_for(saved.log_file)
    path.unlink()
    path.mkdir()
    _cold(saved, cache, "unreadable")


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    config = make_factory(tmp_path / "factory")
    config.log_file.write_bytes(b"2026-02-12T14:00 | SESSION-START | task=a branch=b\n")
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    found = reader(config, FoldCache(blocked, min_log_bytes=0))
    assert not found.save_fold_cache()
    assert found.fold.events == 1


def test_a_rotation_while_running_is_followed_but_never_saved(
    saved: Config, cache: FoldCache
) -> None:
    """A warm reader follows a rotation like a cold one (its tail knows the lines before the
    cache's offset); its fold is then of no one file, so it is not saved."""
    warm, cold = reader(saved, cache), reader(saved, None)
    before = cache.path_for(saved.log_file).read_bytes()
    old = saved.log_file.read_bytes().splitlines()
    _write(saved.log_history_file, old[:-6])
    _write(saved.log_file, [*old[-6:], b"2026-02-12T15:30 | STEP-DONE | step=y task=c"])
    warm.refresh_log()
    cold.refresh_log()
    assert_same(warm, cold)
    assert warm.fold.sessions[-1].last_step == "y" and warm.fold.events == cold.fold.events
    assert not warm.save_fold_cache()
    assert cache.path_for(saved.log_file).read_bytes() == before


def test_small_logs_are_not_cached(tmp_path: Path) -> None:
    config = make_factory(tmp_path / "factory")
    config.log_file.write_bytes(b"2026-02-12T14:00 | SESSION-START | task=a branch=b\n")
    cache = FoldCache(tmp_path / "cache")
    reader(config, cache)
    assert not cache.path_for(config.log_file).exists()


def test_a_cold_read_of_a_big_log_saves_and_a_warm_one_saves_again_later(
    tmp_path: Path,
) -> None:
    config = make_factory(tmp_path / "factory")
    line = b"2026-02-12T14:00 | STEP-DONE | step=code task=a detail=" + b"x" * 60
    _write(config.log_file, [line] * 20)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000, resave_bytes=500)
    path = cache.path_for(config.log_file)
    reader(config, cache)
    first = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with config.log_file.open("ab") as f:
        f.write(line + b"\n")
    assert reader(config, cache).warm_started and path.read_bytes() == first  # 1 line: not yet
    with config.log_file.open("ab") as f:
        f.write((line + b"\n") * 10)
    assert reader(config, cache).warm_started and path.read_bytes() != first
    assert reader(config, cache).fold.events == 31
    assert not list(path.parent.glob(".*.tmp"))


def test_the_cache_folder_and_switch_come_from_the_environment(tmp_path: Path) -> None:
    found = FoldCache.from_env({CACHE_DIR_ENV: str(tmp_path / "c")})
    assert found is not None and found.folder == tmp_path / "c"
    for off in ("0", "off", "no", "false", " OFF "):
        assert FoldCache.from_env({CACHE_SWITCH_ENV: off}) is None
    assert FoldCache.from_env({CACHE_SWITCH_ENV: "1"}) is not None


def test_resume_starts_at_a_line_end_only(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"one\ntwo\nthree\n")
    tail = LogTail(log)
    tail.resume(8, 2)
    chunk = tail.poll()
    assert chunk is not None and chunk.lines == [b"three"] and chunk.first_line == 3
    with pytest.raises(OSError, match="no line end"):
        LogTail(log).resume(6, 1)
    with pytest.raises(OSError, match="not 99 bytes long"):
        LogTail(log).resume(99, 1)
    with pytest.raises(OSError, match="not the file expected"):
        LogTail(log).resume(8, 2, check=lambda fd: False)


def test_status_json_reads_warm_the_second_time(
    tmp_path: Path,
    private_cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
    resumed: list[int],
) -> None:
    """``status --json`` saves the fold of a big log, reads only what follows the next time,
    and prints what a cold read prints; ``--no-cache`` neither reads nor writes the cache."""
    config = make_factory(tmp_path / "factory")
    lines = [
        f"2026-02-12T{n // 600 % 24:02d}:{n % 60:02d} | STEP-DONE | step=s task=t{n % 50} "
        f"component=c{n}".encode()
        for n in range(24_000)
    ]
    old = [  # sessions older than the history window: restored only when read
        f"2026-02-01T10:{n % 60:02d} | SESSION-{'START' if n % 2 == 0 else 'END'} | task=o{n // 6} "
        + ("branch=b instance=i1" if n % 2 == 0 else "status=success")
        for n in range(600)
    ]
    first_session = b"2026-02-12T00:00 | SESSION-START | task=t1 branch=b"
    _write(config.log_file, [*(line.encode() for line in old), first_session, *lines])
    assert config.log_file.stat().st_size > (1 << 20)

    def status(*extra: str) -> Any:
        argv = ["status", str(config.root), "--json", "--now", "2026-02-12T16:00", *extra]
        assert main(argv) == 0
        return capsys.readouterr().out  # compared byte for byte

    first = status()
    assert list(private_cache_dir.glob("fold-*.json")) and resumed == []
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:00 | SESSION-END | task=t1 status=success\n" * 10)
    second = status()
    assert resumed and second == status("--no-cache") != first
    assert len(resumed) == 1


def test_a_save_removes_the_caches_of_logs_gone(tmp_path: Path, cache: FoldCache) -> None:
    gone, kept = make_factory(tmp_path / "gone"), make_factory(tmp_path / "kept")
    for config in (gone, kept):
        config.log_file.write_bytes(b"2026-02-12T14:00 | SESSION-START | task=a branch=b\n")
        reader(config, cache)
    stray = cache.folder / "fold-not-a-cache.json"
    stray.write_bytes(b"\xff garbage")
    gone.log_file.unlink()
    with kept.log_file.open("ab") as f:
        f.write(b"2026-02-12T14:01 | STEP-DONE | step=s task=a\n")
    assert reader(kept, cache).save_fold_cache()
    assert not cache.path_for(gone.log_file).exists()
    assert cache.path_for(kept.log_file).exists() and stray.exists()


def test_a_short_log_after_a_big_rotated_one_saves_only_the_rotated_ones_fold(
    tmp_path: Path,
) -> None:
    """The hooks keep the log short by rotating it: its fold is not saved (the next rotation
    would make it stale), the rotated log's is, and the next start after a rotation uses it."""
    config = make_factory(tmp_path / "factory")
    line = b"2026-02-12T14:00 | STEP-DONE | step=code task=a detail=" + b"x" * 60
    _write(config.log_history_file, [line] * 30)
    _write(config.log_file, [b"2026-02-12T14:00 | SESSION-START | task=a branch=b"])
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    reader(config, cache)
    assert cache.path_for(config.log_file, history_only=True).exists()
    assert not cache.path_for(config.log_file).exists()
    with config.log_history_file.open("ab") as f:  # a rotation: the log's lines move on
        f.write(config.log_file.read_bytes())
    _write(config.log_file, [b"2026-02-12T14:05 | SESSION-END | task=a status=success"])
    warm = reader(config, cache)
    assert warm.warm_started
    assert_same(warm, reader(config, None))
