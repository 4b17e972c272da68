"""The cockpit's first load saves the fold's warm-start cache after it posted the fleet and built
the log index (issue 17: the save was on the way to "fully loaded"), before the spend's spans, and
never loses it: a load cut short still saves, as does one that fails after the log was read; a
fold fed half is never saved."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from test_foldcache import make_factory, starts_warm_as_cold

from factory_tui.adapters import factory_logs
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.logindex import LogIndex
from factory_tui.config import Config
from factory_tui.core.fold import LogFold
from factory_tui.ui.feeds.fleet import FleetFeed
from factory_tui.ui.messages import FleetUpdated

NOW = datetime(2026, 2, 12, 16, 0)


class RecordingApp:
    """The part of the app the fleet feed posts to: each fleet posted, with whether the log's
    fold cache existed then and how many lines the log index held."""

    def __init__(self, cache_file: Path, index: LogIndex) -> None:
        self.cache_file = cache_file
        self.index = index
        self.posted: list[tuple[str, bool, int]] = []

    def post_message(self, message: object) -> bool:
        if isinstance(message, FleetUpdated):
            kind = "initial" if message.initial else "log" if message.log_changed else "other"
            self.posted.append((kind, self.cache_file.exists(), len(self.index)))
        return True


def _factory(tmp_path: Path) -> Config:
    config = make_factory(tmp_path / "factory")
    config.log_history_file.write_bytes(
        b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1\n"
        b"2026-02-12T13:01 | STEP-DONE | step=code task=a\n"
    )
    lines = [
        f"2026-02-12T14:{n % 60:02d} | STEP-DONE | step=s{n} task=a detail=".encode() + b"x" * 40
        for n in range(40)
    ]
    config.log_file.write_bytes(b"".join(line + b"\n" for line in lines))
    return config


def _feed(config: Config, reader: FactoryReader, index: LogIndex, app: RecordingApp) -> FleetFeed:
    def after_read(_reader: FactoryReader) -> None:  # the spend's spans are worked out here
        # The cockpit's saves are made by a forked child: one started before the spans is
        # waited for here (one started after would not be: the file would not exist yet).
        reader.logs.wait_saves()
        app.posted.append(("spans", app.cache_file.exists(), len(index)))

    feed = FleetFeed(
        cast(Any, app), config, reader, index, clock=lambda: NOW, after_read=after_read
    )
    feed.log_shown.set()  # this app shows a fleet as it is posted
    return feed


def test_the_fold_is_saved_after_the_fleet_and_the_log_index_are_posted(tmp_path: Path) -> None:
    config = _factory(tmp_path)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    cache_file = cache.path_for(config.log_file)
    reader = FactoryReader(config, hostname="h", fold_cache=cache)
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = RecordingApp(cache_file, index)
        _feed(config, reader, index, app)._load_everything()
    assert app.posted == [("initial", False, 0), ("log", False, 42), ("spans", True, 42)]
    assert cache_file.exists()
    starts_warm_as_cold(config, cache)


def test_a_load_cut_short_still_saves_the_fold(tmp_path: Path) -> None:
    """The cockpit quit before the log was indexed (the index is closed): the fold is saved
    all the same, before the worker ends."""
    config = _factory(tmp_path)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    reader = FactoryReader(config, hostname="h", fold_cache=cache)
    index = LogIndex(config.log_history_file, config.log_file)
    index.close()
    feed = _feed(config, reader, index, RecordingApp(cache.path_for(config.log_file), index))
    feed._load_everything()
    assert reader.logs.wait_saves()
    starts_warm_as_cold(config, cache)


class FailingReader(FactoryReader):
    """Its checkpoints cannot be read the first time (after the log was folded)."""

    failed = False

    def refresh_checkpoints(self) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("checkpoints unreadable")
        return super().refresh_checkpoints()


def test_a_first_load_that_fails_after_the_log_still_saves_its_fold(tmp_path: Path) -> None:
    config = _factory(tmp_path)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    cache_file = cache.path_for(config.log_file)
    reader = FailingReader(config, hostname="h", fold_cache=cache)
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = RecordingApp(cache_file, index)
        with pytest.raises(RuntimeError, match="checkpoints unreadable"):
            _feed(config, reader, index, app)._load_everything()
    assert app.posted == []
    assert reader.logs.wait_saves()
    starts_warm_as_cold(config, cache)


def test_a_fold_a_failed_read_left_half_fed_is_never_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fold raised on the log's second chunk: nothing is saved, then or later (the fold
    is of no prefix of the log), and the saves are not held back for ever either way."""
    config = _factory(tmp_path)
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 1024)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000, resave_bytes=500)
    cache_file = cache.path_for(config.log_file)
    reader = FactoryReader(config, hostname="h", fold_cache=cache)
    feed_block = LogFold.feed_block
    blocks: list[bytes] = []

    def failing_feed(fold: LogFold, data: bytes, source: str, first_line: int) -> None:
        if source == config.log_file.name:
            blocks.append(data)
            if len(blocks) == 2:
                feed_block(fold, data[: len(data) // 2], source, first_line)
                raise RuntimeError("the fold broke")
        feed_block(fold, data, source, first_line)

    monkeypatch.setattr(LogFold, "feed_block", failing_feed)
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = RecordingApp(cache_file, index)
        with pytest.raises(RuntimeError, match="the fold broke"):
            _feed(config, reader, index, app)._load_everything()
    assert len(blocks) == 2 and not cache_file.exists()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:00 | STEP-DONE | step=z task=a detail=" + b"y" * 600 + b"\n")
    assert reader.refresh_log()
    assert not cache_file.exists()


def test_the_log_index_is_kept_once_the_app_has_shown_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log index is written for the next start after the app has shown the log (written
    beside the app's handling of the first fleets, it held the GIL the log's showing waited
    for), and before the spend's spans."""
    from factory_tui.adapters import logindex_cache

    config = _factory(tmp_path)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    reader = FactoryReader(config, hostname="h", fold_cache=cache)
    save_index = logindex_cache.save_index
    order: list[str] = []

    def noting_save(*args: Any, **kw: Any) -> Any:
        order.append("index kept")
        return save_index(*args, **kw)

    monkeypatch.setattr(logindex_cache, "save_index", noting_save)
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = RecordingApp(cache.path_for(config.log_file), index)
        feed = _feed(config, reader, index, app)
        shown = feed.log_shown
        wait = shown.wait

        def noting_wait(timeout: float | None = None) -> bool:
            order.append(f"waited after {app.posted[-1][0]}")
            return wait(timeout)

        monkeypatch.setattr(shown, "wait", noting_wait)
        feed._load_everything()
    assert order[:2] == ["waited after log", "index kept"]
    assert cache.index_path(config.log_file).exists()


def test_the_first_reads_progress_is_posted_ten_times_a_second_and_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each progress post made the app draw its header again, on the GIL the read needs (~150
    of them on the scale factory's cold start): a source's progress is posted at most every
    PROGRESS_EVERY seconds, and always at its end."""
    from factory_tui.ui.feeds import fleet as fleet_module
    from factory_tui.ui.messages import LoadProgress

    config = _factory(tmp_path)
    reader = FactoryReader(config, hostname="h")
    posted: list[tuple[str, int]] = []

    class ProgressApp:
        def post_message(self, message: object) -> bool:
            if isinstance(message, LoadProgress):
                posted.append((message.source, message.done))
            return True

    now = [0.0]
    monkeypatch.setattr(fleet_module.time, "monotonic", lambda: now[0])
    with LogIndex(config.log_history_file, config.log_file) as index:
        feed = FleetFeed(
            cast(Any, ProgressApp()), config, reader, index, clock=lambda: NOW, after_read=print
        )
        for done in range(1, 6):  # a burst: the first is posted
            feed._progress("operations.log", done, 10)
        feed._progress("log index", 1, 10)  # another source: its own pace
        now[0] += fleet_module.PROGRESS_EVERY
        feed._progress("operations.log", 6, 10)
        feed._progress("operations.log", 7, 10)
        feed._progress("operations.log", 10, 10)  # the end: always
    assert posted == [
        ("operations.log", 1),
        ("log index", 1),
        ("operations.log", 6),
        ("operations.log", 10),
    ]
