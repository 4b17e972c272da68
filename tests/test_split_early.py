"""The cockpit's cold read of a long log starts its child before the read (adapters/factory_logs.py
``start_early``): the tail is folded while the app mounts its views (~0.15 s of the scale
factory's cold start), and the first read takes it. A read that starts warm after all, or an app
that quits first, stops it; the answer is the same as a read on one core."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from test_fold_split import _fields
from test_foldcache import reader
from test_split_read import (  # noqa: F401 - small_logs_split: an autouse fixture
    NOW,
    _assert_as_one_core,
    _factory,
    _one_core,
    held_forked_child,
    small_logs_split,
)

from factory_tui import cli
from factory_tui.adapters import factory_logs, split_read
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.factory_logs import FactoryLogs
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.logindex import LogIndex
from factory_tui.cli import status
from factory_tui.config import Config
from factory_tui.ui.feeds.fleet import FleetFeed
from factory_tui.ui.feeds.prs import PrsOptions


def _unread(config: Config, cache: FoldCache) -> FactoryReader:
    return FactoryReader(config, hostname="h", fold_cache=cache)


def _started(monkeypatch: pytest.MonkeyPatch) -> list[split_read.SplitRead]:
    """Each split read started, as it starts."""
    started: list[split_read.SplitRead] = []
    start = split_read.SplitRead.start.__func__  # type: ignore[attr-defined]

    def noting(cls: type[split_read.SplitRead], *args: Any, **kw: Any) -> object:
        found = start(cls, *args, **kw)
        if found is not None:
            started.append(found)
        return found

    monkeypatch.setattr(split_read.SplitRead, "start", classmethod(noting))
    return started


def test_a_child_started_early_is_the_first_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _factory(tmp_path / "factory")
    started = _started(monkeypatch)
    found = FactoryReader(config, hostname="h")
    assert found.logs.start_early(lambda read_bytes: read_bytes // 12)
    assert len(started) == 1  # before the read
    found.refresh_all()
    assert len(started) == 1  # the read took it: no second child
    assert found.logs.split_merged and started[0].child.returncode == 0
    _assert_as_one_core(found, config)


def test_the_early_split_counts_the_lead_and_the_work_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process starts folding after the views are mounted: its share is smaller by that
    lead and by the work it will do beside the child."""
    config = _factory(tmp_path / "factory")
    works: list[int] = []
    start = split_read.SplitRead.start.__func__  # type: ignore[attr-defined]

    def noting(cls: type[split_read.SplitRead], *args: Any, **kw: Any) -> object:
        works.append(kw["work_bytes"])
        return start(cls, *args, **kw)

    monkeypatch.setattr(split_read.SplitRead, "start", classmethod(noting))
    monkeypatch.setattr(factory_logs, "EARLY_LEAD_BYTES", 1000)
    logs = FactoryReader(config, hostname="h").logs
    read_bytes = config.log_file.stat().st_size + config.log_history_file.stat().st_size
    try:
        assert logs.start_early(lambda n: n // 12)
        assert works == [read_bytes // 12 + 1000]
    finally:
        logs.close_early()  # a failed check leaves no child folding on


def test_a_likely_warm_read_starts_no_child_early(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    cold = _unread(config, cache)
    assert cold.logs.start_early(lambda _n: 0)  # no fold saved yet: a cold read
    cold.logs.close_early()
    first = reader(config, cache)
    assert first.save_fold_cache()
    assert not _unread(config, cache).logs.start_early(lambda _n: 0)


def test_a_cache_folder_that_cannot_be_looked_at_means_a_cold_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files' existence cannot be told (not searchable: another user's, chmod 000 for
    this one): the read is cold, as with no cache, instead of failing."""
    config = _factory(tmp_path / "factory")
    cache = tmp_path / "cache"
    cache.mkdir()
    exists = Path.exists

    def refusing(path: Path) -> bool:
        if path.is_relative_to(cache):
            raise PermissionError(13, "Permission denied", str(path))
        return exists(path)

    monkeypatch.setattr(Path, "exists", refusing)
    found = _unread(config, FoldCache(cache, min_log_bytes=0))
    assert not found.logs.warm_likely()
    found.refresh_all()
    assert found.fold.events and not found.logs.warm_started


def test_an_unreadable_cache_folder_starts_nothing_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An early start is only a head start: what it cannot read (a cache folder it may not
    list, say) leaves the read to meet it, and the app's start goes on."""
    config = _factory(tmp_path / "factory")
    found = _unread(config, FoldCache(tmp_path / "cache", min_log_bytes=0))

    def refused(*_args: object, **_kw: object) -> bool:
        raise PermissionError(13, "Permission denied", str(tmp_path / "cache"))

    with monkeypatch.context() as refusing:
        refusing.setattr(FactoryLogs, "warm_likely", refused)
        assert not found.logs.start_early(lambda _n: 0)
    found.refresh_log()
    assert found.logs.split_merged


def test_a_read_that_starts_warm_after_all_stops_the_early_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache was saved (by another cockpit, say) between the early start and the read."""
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    started = _started(monkeypatch)
    found = _unread(config, cache)
    assert found.logs.start_early(lambda _n: 0)
    other = _unread(config, cache)
    other.logs.split = False
    other.refresh_log()
    assert other.save_fold_cache()
    found.refresh_log()
    assert found.logs.warm_started and not found.logs.split_merged
    assert started[0].child.returncode is not None  # stopped, waited for
    _assert_as_one_core(found, config)


def test_a_feed_closed_before_its_read_stops_the_early_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app quit while its views were being mounted: the child it started is killed, not
    left folding for no one."""
    config = _factory(tmp_path / "factory")
    started = _started(monkeypatch)
    monkeypatch.setattr(split_read, "_forks", lambda: True)
    found = FactoryReader(config, hostname="h")
    with (
        held_forked_child(monkeypatch),
        LogIndex(config.log_history_file, config.log_file) as index,
    ):
        feed = FleetFeed(
            cast(Any, _NoApp()),
            config,
            found,
            index,
            clock=lambda: NOW,
            after_read=lambda _r: None,
        )
        assert feed.start_early()
        feed.close()
    assert started[0].child.returncode == -signal.SIGKILL
    assert found.fold.events == 0


def test_the_answer_is_unpickled_and_merged_with_the_collector_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its records all live on: the collector scanned them for nothing (0.05 s of the cockpit's
    cold start, whose collector is on)."""
    config = _factory(tmp_path / "factory")
    from factory_tui.core import fold_split

    merge = fold_split.merge_tail
    seen: list[bool] = []

    def noting(*args: Any) -> bool:
        seen.append(gc.isenabled())
        return merge(*args)

    monkeypatch.setattr(fold_split, "merge_tail", noting)
    assert gc.isenabled()
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert seen == [False] and found.logs.split_merged and gc.isenabled()


class _NoApp:
    def post_message(self, _message: object) -> bool:
        return True


async def test_the_cockpit_starts_the_child_before_its_views_are_mounted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.screens.cockpit_views import CockpitViews as Cockpit

    config = _factory(tmp_path / "factory")
    order: list[str] = []
    early = FactoryLogs.start_early
    mount = Cockpit.mount_the_rest
    take = FactoryLogs._take_early

    def start_early(self: FactoryLogs, work: Any) -> bool:
        order.append("start early")
        return early(self, work)

    async def mount_the_rest(self: Cockpit) -> None:
        order.append("mount")
        await mount(self)

    def take_early(self: FactoryLogs) -> split_read.SplitRead | None:
        split = take(self)
        order.append("taken" if split is not None else "none")
        return split

    monkeypatch.setattr(FactoryLogs, "start_early", start_early)
    monkeypatch.setattr(Cockpit, "mount_the_rest", mount_the_rest)
    monkeypatch.setattr(FactoryLogs, "_take_early", take_early)
    app = FactoryApp(
        config,
        clock=lambda: NOW,
        watch=False,
        environ={"FACTORY_TUI_CACHE_DIR": str(tmp_path / "cache")},
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test():
        await app.wait_for_fleet(lambda _fleet: app.loaded and app.log_ready)
        assert order[:3] == ["start early", "mount", "taken"]
        assert app.reader.logs.split_merged
        await app.workers.wait_for_complete()
    assert _fields(app.reader.fold) == _fields(_one_core(config).fold)


def test_the_patience_counts_the_rotated_logs_fold_before_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split in the log: this process folds the rotated log, then the log's head, while the
    child folds the tail; the two parts are balanced on both, so the wait for the child counts
    both (the rotated log's fold here takes "100 s" of a clock it moves)."""
    config = _factory(tmp_path / "factory", history=300, log=6000)
    clock = [1000.0]
    monkeypatch.setattr(factory_logs.time, "monotonic", lambda: clock[0])
    read_history = FactoryLogs._read_history

    def slow_history(self: FactoryLogs) -> bool:
        clock[0] += 100
        return read_history(self)

    monkeypatch.setattr(FactoryLogs, "_read_history", slow_history)
    asked: list[float] = []
    monkeypatch.setattr(split_read, "patience", lambda t: asked.append(t) or 60.0)
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert found.logs.split_merged and asked == [100.0]


_STATUS_NOTING = """
import json, sys
from factory_tui.adapters import factory_logs, split_read
split_read.MIN_SPLIT_BYTES = 8 << 10
split_read.START_BYTES = 1 << 10
split_read.FORK_START_BYTES = 1 << 8
factory_logs.LOG_CHUNK_BYTES = 16 << 10
split_read._cpus = lambda: 2
from factory_tui.cli import status
status.STATUS_LEAD_BYTES = 1 << 8
seen = []
start, answer = split_read.SplitRead.start.__func__, split_read.SplitRead.answer
def noting(cls, *args, **kw):
    found = start(cls, *args, **kw)
    imported = "factory_tui.adapters.factory" in sys.modules
    seen.append(["start", imported, kw["work_bytes"], found is not None])
    return found
def answering(self, *args, **kw):
    found = answer(self, *args, **kw)
    seen.append(["answer", found is not None])
    return found
split_read.SplitRead.start = classmethod(noting)
split_read.SplitRead.answer = answering
from factory_tui.cli import main
code = main(sys.argv[1:])
print(json.dumps(seen), file=sys.stderr)
sys.exit(code)
"""


def test_status_starts_its_cold_reads_child_before_it_imports_the_reader(
    tmp_path: Path,
) -> None:
    """``status`` forks the child of a long log's cold read before it imports the reader and
    the derivation (~27 ms the child folds meanwhile); this process's share is smaller by that
    lead and the claim files and checkpoints it reads beside; the answer is one core's."""
    config = _factory(tmp_path / "factory")
    (config.claims_dir / "T-1.json").write_text('{"ticket": "T-1", "owner": null}')
    root = str(tmp_path / "factory")
    argv = ["status", "--json", "--no-cache", "--now", "2026-02-12T16:00", root]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("FACTORY_TUI_SPLIT_FOLD", None)
    split = subprocess.run(
        [sys.executable, "-c", _STATUS_NOTING, *argv], env=env, capture_output=True, text=True
    )
    assert split.returncode == 0, split.stderr
    seen = json.loads(split.stderr.strip().splitlines()[-1])
    cost = factory_logs.small_files_cost(config) + (1 << 8)
    assert seen == [["start", False, cost, True], ["answer", True]]
    one_core = subprocess.run(
        [sys.executable, "-m", "factory_tui", *argv],
        env={**env, "FACTORY_TUI_SPLIT_FOLD": "0"},
        capture_output=True,
        text=True,
    )
    assert one_core.returncode == 0, one_core.stderr
    assert split.stdout == one_core.stdout


def test_status_stops_its_early_child_when_it_fails_before_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong between the child's start and the read (here the reader cannot be
    made), the child is killed, not left folding for no one."""
    _factory(tmp_path / "factory")
    started = _started(monkeypatch)
    monkeypatch.setattr(split_read, "_forks", lambda: True)
    monkeypatch.setattr(status, "STATUS_LEAD_BYTES", 1 << 8)

    def refused(*_args: Any, **_kw: Any) -> None:
        raise OSError("no reader")

    monkeypatch.setattr(FactoryReader, "__init__", refused)
    with held_forked_child(monkeypatch), pytest.raises(OSError, match="no reader"):
        cli.main(["status", "--json", "--no-cache", str(tmp_path / "factory")])
    assert len(started) == 1 and started[0].child.returncode == -signal.SIGKILL
