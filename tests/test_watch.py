"""The watcher catches up once it is armed: a change made before that is not lost."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import config_for

from factory_tui.ui.watch import WatchTargets, watch_files


@pytest.mark.parametrize("backend", ["inotify", "watchfiles"])
def test_first_quiet_tick_posts_every_target(tmp_path: Path, backend: str) -> None:
    (tmp_path / ".claude" / "claims").mkdir(parents=True)
    (tmp_path / "factory.toml").write_text('memory = "mem"\n')
    (tmp_path / "mem").mkdir()
    targets = WatchTargets.from_config(config_for(tmp_path))
    stop = threading.Event()
    posted: list[frozenset[Path]] = []
    got = threading.Event()

    def post(paths: frozenset[Path]) -> None:
        posted.append(paths)
        got.set()

    thread = threading.Thread(
        target=watch_files,
        args=(targets, post, stop),
        kwargs={"rearm_ms": 100, "backend": backend},
        daemon=True,
    )
    thread.start()
    assert got.wait(10), "the watcher never caught up after arming"
    stop.set()
    thread.join(10)
    assert posted[0] == targets.everything()
