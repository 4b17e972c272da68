"""The cockpit's first load of a long history (issue 17: fast at any size).

Quitting while it runs: the worker that folds the log and indexes it stops after the chunk it is
on. The exit waited for the whole read (the scale factory's cold fold, 4.9 s measured under
tmux), as the event loop's thread pool is joined at exit and the index's close waited for its
build. A fold cut short is never saved; a fold read whole still is, for the next start.

Its progress: the rotated log and the log told as one read."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import DEMO_NOW, config_for
from test_foldcache import make_factory

from factory_tui.adapters import factory_logs
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.logindex import LogIndex
from factory_tui.config import Config
from factory_tui.core.fold import LogFold
from factory_tui.ui.feeds import fleet
from factory_tui.ui.feeds.fleet import FleetFeed, FleetWant
from factory_tui.ui.messages import FleetUpdated, LoadProgress, ReaderFailed
from factory_tui.ui.watch import RefreshPlan

NOW = datetime(2026, 2, 12, 16, 0)
CHUNK = 4096
LINES = 400  # ~10 chunks of the fold and of the index at CHUNK bytes


def _factory(root: Path) -> Config:
    config = make_factory(root)
    lines = [
        f"2026-02-12T14:{n % 60:02d} | STEP-DONE | step=s{n} task=a detail=".encode() + b"x" * 40
        for n in range(LINES)
    ]
    config.log_file.write_bytes(
        b"2026-02-12T13:00 | SESSION-START | task=a branch=b instance=i1\n"
        + b"".join(line + b"\n" for line in lines)
    )
    return config


class ClosingApp:
    """What the fleet feed posts to; ``close_at(source)`` closes the feed, as the app's unmount
    does, when the first chunk of ``source`` was read (on the worker, so the close lands
    between two chunks of that read)."""

    def __init__(self) -> None:
        self.posted: list[object] = []
        self.feed: FleetFeed | None = None
        self.close_on: str | None = None

    def post_message(self, message: object) -> bool:
        self.posted.append(message)
        if (
            isinstance(message, LoadProgress)
            and message.source == self.close_on
            and self.feed is not None
        ):
            self.feed.close()
        return True

    def progress(self, source: str) -> int:
        return sum(isinstance(m, LoadProgress) and m.source == source for m in self.posted)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", CHUNK)
    monkeypatch.setattr(fleet, "INDEX_CHUNK_BYTES", CHUNK)


def _feed(config: Config, cache: FoldCache, index: LogIndex, app: ClosingApp) -> FleetFeed:
    reader = FactoryReader(config, hostname="h", fold_cache=cache)
    feed = FleetFeed(
        cast(Any, app), config, reader, index, clock=lambda: NOW, after_read=lambda _r: None
    )
    app.feed = feed
    return feed


def test_closing_during_the_fold_stops_it_after_the_chunk_it_is_on(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    app = ClosingApp()
    app.close_on = config.log_file.name
    with LogIndex(config.log_history_file, config.log_file) as index:
        feed = _feed(config, cache, index, app)
        feed._work(feed_want_initial())
        fold = feed.reader.logs.fold
    assert app.progress(config.log_file.name) == 1
    assert fold.events < LINES / 4  # a chunk's worth, not the log
    assert not any(isinstance(m, FleetUpdated | ReaderFailed) for m in app.posted)
    feed.reader.logs.wait_saves()  # none started: none made by a child later either
    assert not cache.path_for(config.log_file).exists()  # a fold cut short is of no prefix


def test_closing_during_the_index_stops_it_and_still_saves_the_whole_fold(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=1000)
    app = ClosingApp()
    app.close_on = "log index"
    with LogIndex(config.log_history_file, config.log_file) as index:
        feed = _feed(config, cache, index, app)
        feed._work(feed_want_initial())
    assert app.progress("log index") == 1
    assert feed.reader.logs.fold.events == LINES + 1
    assert feed.reader.logs.wait_saves()  # by a forked child: the cockpit exits meanwhile
    assert cache.path_for(config.log_file).exists()


def feed_want_initial() -> FleetWant:
    return FleetWant(RefreshPlan(), initial=True)


async def test_quitting_the_cockpit_during_its_first_read_stops_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's unmount closes the feed: the read stops at the next chunk. The fold is held
    on its first chunk until then (the feed's close, wrapped)."""
    from factory_tui.ui.app import FactoryApp

    config = config_for(_factory(tmp_path / "factory").root)
    closed = threading.Event()
    close = FleetFeed.close

    def close_and_say(feed: FleetFeed) -> None:
        close(feed)
        closed.set()

    monkeypatch.setattr(FleetFeed, "close", close_and_say)
    feed_block = LogFold.feed_block
    blocks: list[str] = []
    first = threading.Event()

    def held_feed(fold: LogFold, data: bytes, source: str, first_line: int = 1) -> None:
        feed_block(fold, data, source, first_line)
        blocks.append(source)
        if source == config.log_file.name and not first.is_set():
            first.set()
            assert closed.wait(30), "the app never closed its fleet feed"

    monkeypatch.setattr(LogFold, "feed_block", held_feed)
    work = FleetFeed._work
    worked = threading.Event()

    def work_and_say(feed: FleetFeed, want: FleetWant) -> None:
        try:
            work(feed, want)
        finally:
            worked.set()

    monkeypatch.setattr(FleetFeed, "_work", work_and_say)
    app = FactoryApp(
        config,
        clock=lambda: DEMO_NOW,
        watch=False,
        theme_dir=tmp_path / "no-themes",
        environ={"FACTORY_TUI_CACHE_DIR": str(tmp_path / "cache")},
    )
    async with app.run_test(size=(120, 40)):
        assert await asyncio.to_thread(first.wait, 30), "the first read never began"
        app.exit()
    # The worker may still be on its way out of the chunk it held: its end is what counts.
    assert await asyncio.to_thread(worked.wait, 30), "the read never ended"
    assert blocks.count(config.log_file.name) == 1


def test_a_cold_reads_progress_is_of_the_rotated_log_and_the_log_as_one(tmp_path: Path) -> None:
    """Not 0 to 100 % for operations.log.1, then 0 to 100 % again for operations.log: one
    read of the log, its bytes counted across both files."""
    config = _factory(tmp_path / "factory")
    config.log_history_file.write_bytes(config.log_file.read_bytes())
    sizes = config.log_history_file.stat().st_size, config.log_file.stat().st_size
    told: list[tuple[str, int, int]] = []
    reader = FactoryReader(config, hostname="h", on_progress=lambda *p: told.append(p))
    reader.refresh_log()
    assert {source for source, _, _ in told} == {config.log_file.name}
    assert {total for _, _, total in told} == {sum(sizes)}
    done = [d for _, d, _ in told]
    assert done == sorted(done) and done[-1] == sum(sizes)
    assert any(d < sizes[0] for d in done) and any(d > sizes[0] for d in done)
    told.clear()
    line = b"2026-02-12T15:00 | STEP-DONE | step=z task=a\n"
    with config.log_file.open("ab") as f:
        f.write(line)
    reader.refresh_log()  # a later read is of the log alone
    assert told == [(config.log_file.name, sizes[1] + len(line), sizes[1] + len(line))]
