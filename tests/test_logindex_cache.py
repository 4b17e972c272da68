"""The log index kept between starts (adapters/logindex_cache.py): a start from it indexes only
what was appended since, and equals an index built from nothing; a file replaced, rewritten,
rotated or cut, or a damaged, foreign or unreadable cache, gives the index built from nothing,
never a wrong one."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from array import array
from pathlib import Path

import pytest
from conftest import config_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_logindex import _OPS, _Model, append, ev, everything, rotate, write

from factory_tui.adapters import logindex
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logindex_cache import _digest, restore_index, save_index
from factory_tui.adapters.logindex_files import STRIDE, LineStarts
from factory_tui.demo import DemoFactory
from factory_tui.ui.feeds.prs import PrsOptions


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    hist, cur = tmp_path / "operations.log.1", tmp_path / "operations.log"
    write(hist, [ev(n) for n in range(300)])
    write(cur, [ev(n, "SESSION-START", " instance=i1") for n in range(300, 500)])
    return hist, cur


def one_by_one(index: LogIndex) -> list[str]:
    """Each line read on its own (a block of lines at a time, by its offsets: a read of all
    of them at once splits one span and would not see wrong offsets inside it)."""
    return [index.line(n) for n in range(len(index))]


def _saved(files: tuple[Path, Path], cache: Path) -> None:
    with LogIndex(*files) as index:
        index.update()
        assert save_index(index, cache)


def _scanned(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The byte ranges the index scans from now on (not the empty ones)."""
    ranges: list[tuple[int, int]] = []
    scan = logindex.scan_lines

    def recorded(fd: int, pos: int, limit: int, *args: object, **kwargs: object) -> object:
        if pos < limit:
            ranges.append((pos, limit))
        return scan(fd, pos, limit, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(logindex, "scan_lines", recorded)
    return ranges


def test_a_start_from_the_kept_index_reads_only_what_was_appended(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "index.bin"
    _saved(files, cache)
    _hist, cur = files
    size = cur.stat().st_size
    append(cur, ev(900) + "\n")
    scanned = _scanned(monkeypatch)
    with LogIndex(*files) as warm, LogIndex(*files) as cold:
        assert restore_index(warm, cache)
        warm.update()
        assert scanned == [(size, cur.stat().st_size)]  # the appended line alone
        cold.update()
        assert one_by_one(warm) == one_by_one(cold)
        assert warm.tasks_of("i1") == cold.tasks_of("i1")  # mapped from the files: the same
        assert warm.source(len(warm) - 1) == ("operations.log", 201)


def test_a_replaced_or_rewritten_file_is_indexed_again(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "index.bin"
    hist, cur = files
    for change in ("replace", "rewrite", "truncate"):
        _saved(files, cache)
        # The same size and the same last bytes, lines cut elsewhere: old offsets would read
        # other lines (the index's own checks look at the inode and the last bytes only).
        data = cur.read_bytes()
        shifted = data.replace(b"task=T420 ", b"task=T4200 ").replace(b"task=T440 ", b"task=T44 ")
        assert len(shifted) == len(data) and shifted[-64:] == data[-64:]
        if change == "replace":  # another inode
            tmp = cur.with_name("tmp")
            tmp.write_bytes(shifted)
            os.replace(tmp, cur)
        elif change == "rewrite":  # in place
            with cur.open("r+b") as f:
                f.write(shifted)
        else:
            with hist.open("r+b") as f:
                f.truncate(100)
        with LogIndex(*files) as warm, LogIndex(*files) as cold:
            restore_index(warm, cache)
            warm.update()
            cold.update()
            assert one_by_one(warm) == one_by_one(cold), change


def test_a_file_rewritten_in_place_while_indexed_is_kept_under_the_bytes_indexed(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The log rewritten in place while the index reads it (between two chunks), in a part
    already indexed (same size, same last bytes: the index's own check passes): the index
    kept was keyed by the file as it was at the save, the new bytes, and every later start
    read the old offsets into the new lines."""
    cache = tmp_path / "index.bin"
    hist, cur = files
    data = cur.read_bytes()
    # Lines T302 to T345 one byte later: the offset kept of line 32 (one in STRIDE) moves.
    shifted = data.replace(b"task=T301 ", b"task=T3010 ").replace(b"task=T345 ", b"task=T34 ")
    assert len(shifted) == len(data) and shifted != data
    rewritten = False
    with LogIndex(*files) as index:
        for step in index.update_in_chunks(1024):
            # The current file's first lines indexed, not its last ones yet.
            if not rewritten and step.bytes_done > hist.stat().st_size + 2048:
                with cur.open("r+b") as f:
                    f.write(shifted)
                rewritten = True
        assert rewritten
        assert index.line(len(index) - 1) == data.decode().splitlines()[-1]
        save_index(index, cache)
    with LogIndex(*files) as warm, LogIndex(*files) as cold:
        restore_index(warm, cache)
        warm.update()
        cold.update()
        assert one_by_one(warm) == one_by_one(cold)


@pytest.mark.parametrize(
    "damage", ["offsets", "header", "cut", "version", "empty", "count", "lines"]
)
def test_a_damaged_or_foreign_cache_is_not_used(
    files: tuple[Path, Path], tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "index.bin"
    _saved(files, cache)
    data = bytearray(cache.read_bytes())
    if damage == "offsets":
        data[-3] ^= 0x01
    elif damage == "header":
        data[5] ^= 0x20
    elif damage == "cut":
        del data[-10:]
    elif damage == "empty":
        data.clear()
    elif damage == "count":  # a count of offsets far past the file's end: not allocated
        header, _, body = bytes(data).partition(b"\n")
        data = bytearray(re.sub(rb'"count":\d+', b'"count":4611686018427387903', header))
        data += b"\n" + body
    elif damage == "lines":  # one line more (the same offsets kept): its count is hashed too
        header, _, body = bytes(data).partition(b"\n")
        lines = int(re.findall(rb'"lines":(\d+)', header)[-1])
        data = bytearray(header.replace(b'"lines":%d' % lines, b'"lines":%d' % (lines + 1)))
        data += b"\n" + body
    cache.write_bytes(bytes(data))
    with LogIndex(*files) as warm, LogIndex(*files) as cold:
        kw = {"version": "0.0.0-other"} if damage == "version" else {}
        assert not restore_index(warm, cache, **kw)  # type: ignore[arg-type]
        warm.update()
        cold.update()
        assert everything(warm) == everything(cold)


def _crafted(cache: Path, name: str, marks: list[int], lines: int, **extra: object) -> None:
    """The kept index of ``name`` made to say ``marks`` and ``lines``, its digest made to
    match (what a damaged or foreign writer could do)."""
    header, _, body = cache.read_bytes().partition(b"\n")
    saved = json.loads(header)
    entry = saved["files"][name]
    kept = array(entry["typecode"], marks)
    others = [n for n in saved["files"] if n != name]
    rest = body[: sum(saved["files"][n]["count"] * kept.itemsize for n in others)]
    entry.update(count=len(kept), lines=lines, sha256=_digest(LineStarts(kept, lines)), **extra)
    cache.write_bytes(json.dumps(saved).encode() + b"\n" + rest + kept.tobytes())


@pytest.mark.parametrize(
    ("marks", "lines"),
    [([0], STRIDE), ([0, 40], STRIDE + 1), ([0, 41], STRIDE + 1), ([0, 8], 2 * STRIDE)],
    ids=["more lines than the file", "one line less", "a run mid-line", "a run too early"],
)
def test_a_kept_index_whose_lines_are_not_the_files_is_not_used(
    files: tuple[Path, Path], tmp_path: Path, marks: list[int], lines: int
) -> None:
    """A kept index made to match its digest, but whose lines are not the file's (a count of
    lines off, a run's start inside a line or on the wrong line): refused where the last
    run's lines must end at the file's indexed end, or read as a cold index reads."""
    write(files[1], [f"line {n:04d}" for n in range(STRIDE + 2)])  # 10 bytes a line
    cache = tmp_path / "index.bin"
    _saved(files, cache)
    _crafted(cache, files[1].name, marks, lines)
    with LogIndex(*files) as warm, LogIndex(*files) as cold:
        assert not restore_index(warm, cache)
        warm.update()
        cold.update()
        assert everything(warm) == everything(cold)


def test_a_kept_index_refused_halfway_leaves_no_descriptor_open(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The rotated log's part opened, the log's refused (another stride), or a header nested
    past Python's depth: nothing is used, nothing raised, no descriptor left open."""
    write(files[0], [ev(n) for n in range(50)])
    write(files[1], [ev(n) for n in range(50, 90)])
    cache = tmp_path / "index.bin"
    _saved(files, cache)
    header, _, body = cache.read_bytes().partition(b"\n")
    saved = json.loads(header)
    saved["files"][files[1].name]["stride"] = 16
    damaged = [json.dumps(saved).encode() + b"\n" + body, b"[" * 60_000 + b"\n"]
    before = len(os.listdir("/proc/self/fd"))
    for data in damaged:
        cache.write_bytes(data)
        with LogIndex(*files) as index:
            assert not restore_index(index, cache)
    assert len(os.listdir("/proc/self/fd")) == before


def test_no_cache_a_fifo_or_an_unwritable_folder_is_a_cold_index(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    with LogIndex(*files) as index:
        assert not restore_index(index, tmp_path / "none.bin")
        index.update()
        fifo = tmp_path / "fifo.bin"
        os.mkfifo(fifo)
        assert not restore_index(index, fifo)  # opened without waiting for a writer
        blocked = tmp_path / "file-not-folder"
        blocked.write_text("")
        assert not save_index(index, blocked / "index.bin")
    _hist, cur = files
    cache = tmp_path / "index.bin"
    _saved(files, cache)
    cur.unlink()
    os.mkfifo(cur)  # the log is a FIFO now: its part is not used, nothing waits
    with LogIndex(*files) as warm:
        assert restore_index(warm, cache)  # the rotated log's part
        assert warm.paths[1] == cur


def test_a_started_index_is_not_restored(files: tuple[Path, Path], tmp_path: Path) -> None:
    cache = tmp_path / "index.bin"
    _saved(files, cache)
    with LogIndex(*files) as index:
        index.update()
        before = everything(index)
        assert not restore_index(index, cache)
        assert everything(index) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS, save_at=st.integers(0, 14))
def test_a_start_from_the_kept_index_is_the_index_of_the_files(
    tmp_path: Path, ops: list[tuple[str, int]], save_at: int
) -> None:
    """Appends, partial lines, rotations, replacements and truncations before and after the
    save: the index restored then updated is the one of the files, line for line."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    hist, cur = folder / "operations.log.1", folder / "operations.log"
    cache = folder / "index.bin"
    cur.write_bytes(b"")
    counter = iter(range(10_000))
    with LogIndex(hist, cur) as live:
        for n, (op, k) in enumerate(ops):
            if n == save_at:
                live.update()
                save_index(live, cache)
            _apply(op, k, hist, cur, counter)
        live.update()
        if save_at >= len(ops):
            save_index(live, cache)
    with LogIndex(hist, cur) as warm:
        restore_index(warm, cache)
        warm.update()
        assert one_by_one(warm) == _Model(hist, cur).lines()


def _apply(op: str, k: int, hist: Path, cur: Path, counter: object) -> None:
    numbers = iter(counter)  # type: ignore[call-overload]
    if op == "append":
        append(cur, "".join(ev(next(numbers)) + "\n" for _ in range(k)))
    elif op == "partial":
        append(cur, ev(next(numbers))[:k])
    elif op in ("rotate", "replace"):
        rotate(hist, cur, k, replace=op == "replace")
    elif op == "truncate":
        write(cur, [ev(next(numbers)) for _ in range(k)])
    elif op == "session":
        append(cur, ev(next(numbers), "SESSION-START", f" instance=i{k}") + "\n")


async def test_the_cockpit_starts_its_log_index_from_the_last_start(
    demo: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start keeps the index once it is shown; the next indexes only what was
    appended since (the 10x factory's 900 MB of log: 3 s of a 4.6 s warm start), and its Log
    view reads the same lines."""
    from conftest import DEMO_HOST, demo_probe
    from test_app import make_app

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.foldcache import FoldCache

    scanned = _scanned(monkeypatch)
    seen: list[tuple[int, list[str]]] = []
    for start in ("first", "next"):
        if start == "next":
            append(demo.memory_dir / "operations.log", ev(900) + "\n")
        scanned.clear()
        reader = FactoryReader(
            config_for(demo.root),
            hostname=DEMO_HOST,
            probe=demo_probe(demo),
            fold_cache=FoldCache(tmp_path / "cache", min_log_bytes=1),
        )
        app = make_app(demo.root, reader=reader, prs=PrsOptions(enabled=False))
        async with app.run_test():
            await app.wait_for_fleet(lambda _fleet, app=app: app.loaded and app.log_ready)
            seen.append((sum(b - a for a, b in scanned), one_by_one(app.log_index)))
            # Kept on the feed's thread once shown: a quit before that keeps none.
            assert await asyncio.to_thread(app.fleet_feed.index_kept.wait, 60)
    log = demo.memory_dir / "operations.log"
    assert seen[0][0] >= log.stat().st_size - len(ev(900)) - 1  # all of it, the first time
    assert seen[1][0] == len(ev(900)) + 1  # the line appended since, the next
    assert seen[1][1] == [*seen[0][1], ev(900)]


def test_the_index_keeps_the_ends_the_fold_cache_keys_a_file_by() -> None:
    """The index's kept ends are the fold cache's blocks (else no index is ever kept: its key
    would be refused as made of other blocks)."""
    from factory_tui.adapters.foldcache import BLOCK_BYTES
    from factory_tui.adapters.logindex_files import ENDS_BYTES

    assert ENDS_BYTES == BLOCK_BYTES
