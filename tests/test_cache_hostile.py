"""The warm-start caches in a hostile world (found by a review that attacked them): whatever is
in the cache folder, and whatever changed since it was written, a run answers as a cold one does,
never waits forever and never ends in a traceback."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import marshal
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import config_for
from test_checkpoints_incremental import make_factory as checkpoints_factory
from test_foldcache import _cold, _write, assert_same, make_factory, reader, starts_warm_as_cold

from factory_tui import __version__
from factory_tui.adapters import foldcache, jsonfiles
from factory_tui.adapters.factory_claims import ClaimFolder
from factory_tui.adapters.factory_state import CheckpointFolder, StateFiles
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.jsonfiles import JsonFiles
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logindex_cache import restore_index
from factory_tui.config import Config
from factory_tui.core import timeparse
from factory_tui.ui.watch import WatchTargets

LATER = 10 * 10**9
"""How far ahead of the real clock :attr:`JsonFiles.clock` runs: the files just written are
old enough to keep."""


@pytest.fixture
def cache(tmp_path: Path) -> FoldCache:
    return FoldCache(tmp_path / "cache", min_log_bytes=0)


def _factory(root: Path) -> Config:
    """A factory whose log is folded and saved in the cache, then a line more."""
    config = make_factory(root)
    _write(
        config.log_file,
        [
            b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1",
            *(f"2026-02-12T13:{n:02d} | STEP-DONE | step=s{n} task=a".encode() for n in range(9)),
        ],
    )
    return config


def _saved(root: Path, cache: FoldCache) -> Config:
    config = _factory(root)
    assert reader(config, cache).save_fold_cache()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T14:00 | SESSION-END | task=a status=success pr=12\n")
    return config


# -- a FIFO where a cache file should be -------------------------------------------------------


def _returns(work: Callable[[], object], fifo: Path) -> object:
    """``work()``'s answer, which must come without waiting for a writer (or a reader) of
    ``fifo`` (if it waits, both ends are opened to let it go, and the test fails rather than
    hangs)."""
    answer: list[object] = []
    thread = threading.Thread(target=lambda: answer.append(work()), daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets a writer's open() go
        try:
            with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):  # and a reader's
                pass
            thread.join(20)
        finally:
            os.close(reader)
        pytest.fail(f"waited for a writer or a reader of the FIFO at {fifo.name}")
    return answer[0]


def test_a_fifo_for_the_folds_cache_file_is_no_cache(tmp_path: Path, cache: FoldCache) -> None:
    config = _saved(tmp_path / "factory", cache)
    for history_only in (False, True):
        path = cache.path_for(config.log_file, history_only=history_only)
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    found = _returns(lambda: reader(config, cache), cache.path_for(config.log_file))
    assert isinstance(found, type(reader(config, None)))
    assert not found.warm_started and "not a regular file" in (cache.last_miss or "")
    assert_same(found, reader(config, None))


def test_a_fifo_among_other_factories_caches_does_not_stop_a_save(
    tmp_path: Path, cache: FoldCache
) -> None:
    """A save looks at every fold cache file in the folder (to remove those of logs gone)."""
    cache.folder.mkdir()
    other = cache.folder / f"fold-{'0' * 24}.json"
    os.mkfifo(other)
    config = _factory(tmp_path / "factory")
    assert _returns(lambda: reader(config, cache).save_fold_cache(), other) is True
    starts_warm_as_cold(config, cache)


def test_a_fifo_for_the_kept_files_is_no_cache(tmp_path: Path) -> None:
    config = checkpoints_factory(tmp_path / "factory")
    (config.checkpoints_dir / "2026-02-12T14-00-a.json").write_text('{"task": "a"}')
    kept = tmp_path / "files.marshal"
    os.mkfifo(kept)
    values = JsonFiles(kept)
    found = _returns(lambda: CheckpointFolder(config, values=values).read(), kept)
    assert isinstance(found, tuple) and set(found[0]) == {"a"}
    assert values.skipped is not None and "not a regular file" in values.skipped


def test_a_fifo_for_the_log_index_is_no_index(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory")
    saved = tmp_path / "index.bin"
    os.mkfifo(saved)
    with LogIndex(config.log_history_file, config.log_file) as index:
        assert _returns(lambda: restore_index(index, saved), saved) is False


# -- a factory whose path is not UTF-8 ---------------------------------------------------------


def test_a_factory_whose_path_is_not_utf8_starts_warm(tmp_path: Path, cache: FoldCache) -> None:
    """Its path (and so the log's) holds a byte that is not UTF-8: a surrogate in Python, which
    the cache's header and body keep as they are."""
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/f\xff"))
    config = _saved(root, cache)
    starts_warm_as_cold(config, cache)


def test_a_log_whose_name_is_not_utf8_starts_warm(tmp_path: Path, cache: FoldCache) -> None:
    """The log's name (``--log``) is in every session's source: the archive's texts too."""
    config = make_factory(tmp_path / "factory")
    odd = config.log_file.with_name(os.fsdecode(b"operations\xff.log"))
    config = dataclasses.replace(config, log_file=odd)
    _write(
        odd,
        [
            b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1",
            b"2026-02-12T13:01 | SESSION-END | task=a status=success pr=1",
            b"2026-02-12T13:02 | SESSION-START | task=a branch=b instance=i1",
        ],
    )
    assert reader(config, cache).save_fold_cache()
    starts_warm_as_cold(config, cache)


def test_a_cache_file_without_a_line_end_is_no_header(
    tmp_path: Path, cache: FoldCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its header is read up to :data:`HEADER_BYTES` (a file of hundreds of megabytes without
    a line end was read whole by the load and by every save's clean-up)."""
    monkeypatch.setattr(foldcache, "HEADER_BYTES", 1000)
    config = _saved(tmp_path / "factory", cache)
    for history_only in (False, True):
        cache.path_for(config.log_file, history_only=history_only).write_bytes(b"{" * 5000)
    _cold(config, cache, "no header")
    assert reader(config, cache).save_fold_cache()  # the clean-up too


# -- the header is checked whole ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["line_count", "history_lines"])
def test_a_header_with_a_changed_line_count_reads_cold(
    tmp_path: Path, cache: FoldCache, field: str
) -> None:
    """No other check covers the line counts a warm start numbers the next lines from: one
    digit changed gave every new line a wrong number."""
    config = _saved(tmp_path / "factory", cache)
    for history_only in (False, True):
        path = cache.path_for(config.log_file, history_only=history_only)
        if path.exists():
            first, rest = path.read_bytes().split(b"\n", 1)
            header = json.loads(first)
            header[field] += 900
            path.write_bytes(json.dumps(header).encode() + b"\n" + rest)
    _cold(config, cache, "the header does not match its checksum")


# -- the checkpoints folder's listing and the time zone --------------------------------------


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set the process's time zone (as ``TZ=`` does for a new one: the times parsed so far,
    remembered by zone-free keys, are forgotten); put back after."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
        timeparse.parse_ts.cache_clear()

    yield set_zone
    monkeypatch.undo()
    time.tzset()
    timeparse.parse_ts.cache_clear()


@pytest.mark.parametrize(
    ("day", "zoned", "first", "then", "newest"),
    [
        # 10:00 local, 09:30Z: the first in UTC, the second in Tokyo.
        ("2026-11-20", "09-30Z", "UTC", "Asia/Tokyo", ("10-00", "09-30Z")),
        # Moscow and Volgograd agree on every offset of late years (the key a review broke),
        # not in 2019: 06:30Z was 09:30 in Moscow, 10:30 in Volgograd.
        ("2019-06-20", "06-30Z", "Europe/Moscow", "Europe/Volgograd", ("10-00", "06-30Z")),
    ],
)
def test_a_listing_with_a_zoned_name_is_not_kept(
    tmp_path: Path,
    zone: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    day: str,
    zoned: str,
    first: str,
    then: str,
    newest: tuple[str, str],
) -> None:
    """A checkpoint name with a zone is read as local time: which file of a task is the newest
    depends on the zone, so the folder's listing is not kept (a listing kept in one zone was
    used in another); each run in each zone answers as a fresh read there."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    config = checkpoints_factory(tmp_path / "factory")
    cps = config.checkpoints_dir
    (cps / f"{day}T10-00-z.json").write_text('{"task": "z", "last_step": "local"}')
    (cps / f"{day}T{zoned}-z.json").write_text('{"task": "z", "last_step": "zoned"}')
    kept = tmp_path / "files.marshal"

    def newest_here() -> str:
        values = JsonFiles(kept)
        found = CheckpointFolder(config, values=values).read()[0]["z"]
        values.save()
        return found.file.rsplit("/", 1)[-1].removeprefix(f"{day}T").removesuffix("-z.json")

    for name, expected in zip((first, then, first), (*newest, newest[0]), strict=True):
        zone(name)
        assert newest_here() == expected, name
    assert JsonFiles(kept).get(str(cps), os.stat(cps), folder=True) is jsonfiles.MISS


# -- kept values and the size limit ---------------------------------------------------------------


def test_kept_values_are_refused_past_a_lowered_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim file and a checkpoint kept under the default limit, then the limit lowered
    (``max_file_bytes``): refused, as a read refuses them."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    config = checkpoints_factory(tmp_path / "factory")
    claims = tmp_path / "factory" / "claims"
    claims.mkdir()
    claim = claims / "CAB-1.json"
    claim.write_text(json.dumps({"ticket": "CAB-1", "title": "t" * 200, "owner": "i1"}))
    (config.checkpoints_dir / "2026-02-12T14-00-a.json").write_text(
        json.dumps({"task": "a", "last_step": "s" * 200})
    )
    kept = tmp_path / "files.marshal"

    def read(limit: int) -> tuple[list[str], list[str]]:
        values = JsonFiles(kept)
        folder = ClaimFolder(
            claims, max_file_bytes=limit, lock_stale_after=config.lock_stale_after, values=values
        )
        folder.refresh()
        small = dataclasses.replace(config, max_file_bytes=limit)
        checkpoints, problems = CheckpointFolder(small, values=values).read()
        values.save()
        found = [c.claim_id for c in folder.files()] + list(checkpoints)
        return found, [p.message for p in folder.problems() + problems]

    assert read(config.max_file_bytes) == (["CAB-1", "a"], [])
    found, problems = read(100)
    assert found == []
    assert len(problems) == 2 and all("max_file_bytes" in message for message in problems)


# -- a crafted cache of kept values ---------------------------------------------------------------


def _crafted(path: Path, change: Callable[[str, Any], Any]) -> None:
    """Rewrite the kept values at ``path`` (``change(file, value)`` for each), its header and
    hash made to match: what only a deliberately made file holds."""
    entries = marshal.loads(path.read_bytes().partition(b"\n")[2])
    for file, entry in entries.items():
        entries[file] = (*entry[:5], marshal.dumps(change(file, marshal.loads(entry[5]))))
    body = marshal.dumps(entries)
    digest = hashlib.sha256(body).hexdigest()
    header = f"{jsonfiles.MAGIC.decode()} {jsonfiles.FORMAT} {__version__} {digest}\n"
    path.write_bytes(header.encode() + body)


@pytest.mark.parametrize(
    ("odd", "shown"),
    [
        (b"bytes", "<bytes>"),
        (frozenset({"a"}), "<frozenset>"),
        (1j, "<complex>"),
        (("a", "b"), "<tuple>"),
        ({("a",): 1}, "<dict>"),
    ],
    ids=["bytes", "set", "complex", "tuple", "tuple key"],
)
def test_kept_values_json_cannot_hold_are_problems_not_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: object, shown: str
) -> None:
    """A value of a type ``json.loads`` never makes, in every field of a kept claim and
    checkpoint: each read as a field of the wrong type is (a problem naming it)."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    config = checkpoints_factory(tmp_path / "factory")
    claims = tmp_path / "factory" / "claims"
    claims.mkdir()
    (claims / "CAB-1.json").write_text(
        json.dumps({"ticket": "CAB-1", "title": "t", "owner": "i1", "pid": 5, "hostname": "h"})
    )
    (config.checkpoints_dir / "2026-02-12T14-00-a.json").write_text(
        json.dumps({"task": "a", "pr_number": 3, "branch": "b", "last_step": "s"})
    )
    kept = tmp_path / "files.marshal"

    def read() -> list[str]:
        values = JsonFiles(kept)
        folder = ClaimFolder(
            claims,
            max_file_bytes=config.max_file_bytes,
            lock_stale_after=config.lock_stale_after,
            values=values,
        )
        folder.refresh()
        _checkpoints, problems = CheckpointFolder(config, values=values).read()
        values.save()
        return [p.message for p in folder.problems() + problems]

    assert read() == []
    _crafted(
        kept, lambda file, value: {k: odd for k in value} if isinstance(value, dict) else value
    )
    problems = read()
    wrong = [message for message in problems if ": expected " in message]
    assert len(wrong) >= 8 and all(message.endswith(f"found {shown}") for message in wrong)


# -- a symlink re-pointed between a file's stat and its read (a hostile review's find) --------------


def _repointing_open(
    monkeypatch: pytest.MonkeyPatch, link: Path, elsewhere: Path
) -> Callable[[], bool]:
    """``os.open`` of ``link`` (a symlink) re-points it at ``elsewhere`` first, once: what a
    worktree switched under a running read does between its stat and its read. Says whether
    it happened."""
    real = os.open
    done: list[bool] = []

    def repointing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not done and os.fspath(path) == os.fspath(link):
            done.append(True)
            os.unlink(link)
            os.symlink(elsewhere, link)
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", repointing)
    return lambda: bool(done)


def test_a_claim_symlink_repointed_before_its_read_is_not_kept_under_the_first_files_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim file that is a symlink (into a worktree), re-pointed from A to B between its
    stat and its read, and back: B's JSON was kept under A's stat, in memory (the cockpit) and
    in the kept values (the next ``status``), and shown for A for good (A's stat never moves)."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    monkeypatch.setattr(
        "factory_tui.adapters.factory_claims.racy_after", lambda: time.time_ns() + LATER
    )
    claims = tmp_path / "claims"
    claims.mkdir()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for target, title in ((a, "from A"), (b, "from B")):
        target.write_text(json.dumps({"ticket": "CAB-7", "title": title, "owner": None}))
    link = claims / "CAB-7.json"
    link.symlink_to(a)
    kept = tmp_path / "files.marshal"

    def folder(values: JsonFiles | None) -> ClaimFolder:
        return ClaimFolder(
            claims, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=5), values=values
        )

    def titles(found: ClaimFolder) -> list[str]:
        return [claim.title for claim in found.files()]

    values = JsonFiles(kept)
    running = folder(values)
    happened = _repointing_open(monkeypatch, link, b)
    running.refresh()
    values.save()
    monkeypatch.undo()
    assert happened() and titles(running) == ["from B"]  # read while it named B
    link.unlink()
    link.symlink_to(a)  # back
    running.refresh()
    assert titles(running) == ["from A"]  # the cockpit's kept key
    again = folder(JsonFiles(kept))
    again.refresh()
    assert titles(again) == ["from A"]  # the next status's kept values


def test_a_checkpoints_folder_symlink_repointed_before_its_listing_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoints folder a symlink, re-pointed from A to B between its stat and its
    listing, and back: B's listing was kept under A's stat, and A's checkpoint was missing from
    every later read (no problem said so)."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    config = checkpoints_factory(tmp_path / "factory")
    folder = config.checkpoints_dir
    folder.rmdir()
    a, b = tmp_path / "a", tmp_path / "b"
    for target, task in ((a, "alpha"), (b, "beta")):
        target.mkdir()
        (target / f"2026-02-12T14-00-{task}.json").write_text(json.dumps({"task": task}))
    folder.symlink_to(a)
    kept = tmp_path / "files.marshal"
    real = os.scandir
    done: list[bool] = []

    def repointing(path: Any = ".") -> Any:
        if not done:  # after the folder's stat, before its listing
            done.append(True)
            folder.unlink()
            folder.symlink_to(b)
        return real(path)

    values = JsonFiles(kept)
    monkeypatch.setattr(os, "scandir", repointing)
    CheckpointFolder(config, values=values).read()
    values.save()
    monkeypatch.setattr(os, "scandir", real)
    assert done
    folder.unlink()
    folder.symlink_to(a)  # back
    found, _problems = CheckpointFolder(config, values=JsonFiles(kept)).read()
    assert list(found) == ["alpha"]


def test_a_memory_md_symlink_repointed_before_its_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """memory.md a symlink, re-pointed from A to B between its stat and its read, and back:
    the cockpit kept A's key for B's findings, and never read A again (its stat never moves)."""
    monkeypatch.setattr(
        "factory_tui.adapters.factory_state.racy_after", lambda: time.time_ns() + LATER
    )
    root = tmp_path / "factory"
    root.mkdir()
    config = config_for(root)
    memory = config.memory_file
    memory.parent.mkdir(parents=True, exist_ok=True)
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    item = "# Memory\n\n## 🔴 IN PROGRESS\n- CAB-1 {}\n\n## ✅ DONE\n- CAB-0\n"
    a.write_text(item.format("**DONE**"))  # a done item under IN PROGRESS: one finding
    b.write_text(item.format("working"))
    memory.symlink_to(a)
    files = StateFiles(config)
    happened = _repointing_open(monkeypatch, memory, b)
    files.refresh()
    monkeypatch.undo()
    assert happened() and files.lint == []  # read while it named B
    memory.unlink()
    memory.symlink_to(a)  # back
    files.refresh()
    assert len(files.lint) == 1


def test_a_symlinked_checkpoint_is_not_kept_where_it_cannot_be_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that is a symlink is looked up by its own stat (never a regular file's):
    its JSON kept under its target's stat could never be found again, only written to disk at
    every save (found by a review of the symlink fix above)."""
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))
    config = checkpoints_factory(tmp_path / "factory")
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"task": "a"}))
    link = config.checkpoints_dir / "2026-02-12T14-00-a.json"
    link.symlink_to(target)
    kept = tmp_path / "files.marshal"
    values = JsonFiles(kept)
    found, _problems = CheckpointFolder(config, values=values).read()
    values.save()
    assert list(found) == ["a"]
    assert JsonFiles(kept).get(str(link), os.stat(link)) is jsonfiles.MISS


def test_worktrees_of_a_symlinked_git_repointed_during_the_read_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ROOT/.git a symlink, re-pointed from repository A to B while the worktrees are read,
    then back: B's branches were kept under A's stamp and shown for good (a review's find)."""
    from factory_tui.adapters import worktrees

    monkeypatch.setattr(worktrees, "RACY_NS", 0)  # the files are old enough to be trusted
    for name, branch in (("gitA", "alpha"), ("gitB", "beta")):
        (tmp_path / name / "refs" / "heads").mkdir(parents=True)
        (tmp_path / name / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    root = tmp_path / "repo"
    root.mkdir()
    link = root / ".git"
    link.symlink_to(tmp_path / "gitA")
    real = worktrees.worktree_branches
    done: list[bool] = []

    def repointing(at: Path) -> dict[Path, str | None]:
        if not done:
            done.append(True)
            link.unlink()
            link.symlink_to(tmp_path / "gitB")
        return real(at)

    monkeypatch.setattr(worktrees, "worktree_branches", repointing)
    trees = worktrees.Worktrees(root)
    assert list(trees.branches().values()) == ["beta"]  # read while it named B
    link.unlink()
    link.symlink_to(tmp_path / "gitA")  # back
    assert list(trees.branches().values()) == ["alpha"]


def _old_store(path: Path, sessions: list[tuple[str, str]]) -> Path:
    """A store with ``sessions`` (instance, task), its files dated long ago (past the racy
    window)."""
    import store_fixture

    db = store_fixture.create_store(path)
    for instance, task in sessions:
        store_fixture.session(db, instance, task)
    old = time.time_ns() - LATER
    for file in (db, db.with_name(db.name + "-wal")):
        if file.exists():
            os.utime(file, ns=(old, old))
    return db


def test_a_symlinked_store_repointed_during_its_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local store a symlink, re-pointed from A to B while it is read, then back: B's
    snapshot was kept under A's stamp and shown for good (a review's find)."""
    from factory_tui.adapters import hegemon_store

    a = _old_store(tmp_path / "a.db", [("t1-aaaa", "CAB-1")])
    b = _old_store(tmp_path / "b.db", [("t1-bbbb", "CAB-2"), ("t2-bbbb", "CAB-3")])
    link = tmp_path / "state.db"
    link.symlink_to(a)
    real = hegemon_store.read_store
    done: list[bool] = []

    def repointing(path: Path, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            link.unlink()
            link.symlink_to(b)
        return real(path, **kwargs)

    monkeypatch.setattr(hegemon_store, "read_store", repointing)
    reader = hegemon_store.StoreReader(link)
    reader.refresh()
    assert reader.snapshot is not None and reader.snapshot.counts["sessions"] == 2
    link.unlink()
    link.symlink_to(a)  # back
    reader.refresh()
    assert reader.snapshot.counts["sessions"] == 1


def test_a_symlinked_stores_commit_in_its_targets_wal_is_seen(tmp_path: Path) -> None:
    """SQLite resolves a symlinked database and writes its WAL beside the target: the stamp
    and the watcher looked beside the link, so a commit that stayed in the WAL (a writer that
    keeps its connection open: no checkpoint) was never seen (a review's find)."""
    import sqlite3

    import store_fixture

    from factory_tui.adapters import hegemon_store

    (tmp_path / "real").mkdir()
    db = _old_store(tmp_path / "real" / "state.db", [("t1-cccc", "CAB-9")])
    link = tmp_path / "state.db"
    link.symlink_to(db)
    reader = hegemon_store.StoreReader(link)
    reader.refresh()
    assert reader.snapshot is not None and reader.snapshot.counts["sessions"] == 1
    held = sqlite3.connect(db)  # held open, as the store's daemon does
    try:
        held.execute("select 1").fetchall()
        store_fixture.session(db, "t2-cccc", "CAB-10")
        assert reader.refresh() and reader.snapshot.counts["sessions"] == 2
    finally:
        held.close()
    (tmp_path / "factory").mkdir()
    base = config_for(tmp_path / "factory")
    assert base.hegemon is not None
    config = dataclasses.replace(base, hegemon=dataclasses.replace(base.hegemon, db=link))
    targets = WatchTargets.from_config(config)
    wal = db.with_name(db.name + "-wal")
    assert targets.accepts(wal) and wal.parent in targets.folders


def test_a_symlinked_transcript_repointed_before_its_tail_opens_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's transcript a symlink, re-pointed from A to B between its stat and its tail's
    open, then back: the reader's key was A's stat while its tail held B, so A's spend was
    never counted (a finished session's transcript never changes again; a review's find)."""
    from factory_tui.adapters import tail as tail_module
    from factory_tui.adapters.prices import default_price_table
    from factory_tui.adapters.transcripts import TranscriptReader
    from factory_tui.core.cost import CostLedger

    work = tmp_path / "repo"
    work.mkdir()
    project = tmp_path / "claude" / "projects" / "-repo"
    project.mkdir(parents=True)

    def line(message: str, tokens: int) -> str:
        usage = {"input_tokens": tokens}
        record = {"type": "assistant", "cwd": str(work), "timestamp": "2026-02-16T14:20:00Z"}
        record |= {"requestId": "r" + message}
        record["message"] = {"id": message, "model": "claude-sonnet-4-5", "usage": usage}
        return json.dumps(record) + "\n"

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(line("mA1", 1000) + line("mA2", 1000))
    b.write_text(line("mB1", 7))
    link = project / "sess.jsonl"
    link.symlink_to(a)
    real = tail_module.open_regular
    done: list[bool] = []

    def repointing(path: Any, *args: Any, **kwargs: Any) -> int:
        if not done and os.fspath(path) == os.fspath(link):
            done.append(True)
            link.unlink()
            link.symlink_to(b)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tail_module, "open_regular", repointing)
    reader = TranscriptReader(tmp_path / "claude", lambda: [str(work)])
    ledger = CostLedger(default_price_table())
    reader.refresh(ledger)
    monkeypatch.undo()
    assert done and len(ledger) == 1  # B's, read while the link named it
    link.unlink()
    link.symlink_to(a)  # back
    reader.refresh(ledger)
    assert len(ledger) == 3  # A's two counted too (B's was spent as well)
