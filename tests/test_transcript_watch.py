"""Issue 13: an agent's transcript growth reaches the screen when it is written, through the
cockpit's watcher (not the 5 s re-probe tick)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from conftest import config_for
from test_agent_waiting import claude_dir, put_transcript, working
from test_app import demo_app

from factory_tui.core.fleet import Fleet
from factory_tui.demo import DemoFactory
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.watch import FollowedFiles, RefreshPlan, WatchTargets, watch_files

GLOB_LINE = json.dumps(
    {
        "type": "assistant",
        "timestamp": "2026-02-16T10:41:00Z",
        "message": {
            "id": "m11",
            "model": "claude-opus-4-1-20250805",
            "content": [
                {"type": "tool_use", "id": "t11", "name": "Glob", "input": {"pattern": "**/*.py"}}
            ],
        },
    }
)


def tool_of(fleet: Fleet, agent: str) -> str | None:
    view = next(i for i in fleet.instances if i.id == agent)
    if view.activity is None or view.activity.tool is None:
        return None
    return view.activity.tool.summary


def test_followed_transcripts_are_classified_with_new_ones_beside_them(tmp_path: Path) -> None:
    followed = FollowedFiles()
    folder = tmp_path / "projects" / "-w-a"
    path = folder / "s1.jsonl"
    assert followed.update([path]) and followed.moved.is_set()
    followed.moved.clear()
    assert not followed.update([path]) and not followed.moved.is_set()  # same folders
    assert followed.classify(path) and followed.classify(folder / "s2.jsonl")  # a new session
    assert not followed.classify(folder / "notes.txt")
    assert not followed.classify(tmp_path / "projects" / "-w-b" / "s1.jsonl")
    assert followed.update([]) and not followed.files


def test_watch_targets_classify_a_followed_transcript(demo: DemoFactory, tmp_path: Path) -> None:
    targets = WatchTargets.from_config(config_for(demo.root))
    path = tmp_path / "projects" / "-w-a" / "s1.jsonl"
    assert not targets.classify([path])
    targets.transcripts.update([path])
    plan = targets.classify([path])
    assert plan == RefreshPlan(transcripts=True)
    assert path in targets.everything()
    assert path.parent in targets.watched_folders()


@pytest.mark.parametrize("backend", ["inotify", "watchfiles"])
def test_the_watcher_rearms_on_new_transcript_folders_and_sees_their_lines(
    tmp_path: Path, backend: str
) -> None:
    """The watcher starts before any transcript is known; once told, it watches its folder."""
    (tmp_path / ".claude" / "claims").mkdir(parents=True)
    targets = WatchTargets.from_config(config_for(tmp_path))
    transcript = tmp_path / "claude" / "projects" / "-w-a" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("{}\n")
    stop = threading.Event()
    seen = threading.Event()

    def post(paths: frozenset[Path]) -> None:
        if targets.classify(paths).transcripts:
            seen.set()

    thread = threading.Thread(
        target=watch_files,
        args=(targets, post, stop),
        # Only the move can make it look at the new folder.
        kwargs={"rearm_ms": 60_000, "backend": backend},
        daemon=True,
    )
    thread.start()
    try:
        assert targets.transcripts.armed.wait(10)
        targets.transcripts.update([transcript])
        assert targets.transcripts.armed.wait(10), "the watcher did not re-arm"
        with transcript.open("a") as handle:
            handle.write("{}\n")
        assert seen.wait(10), "the transcript's line was not seen"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


async def test_a_transcript_line_reaches_the_pane_through_the_watcher(demo: DemoFactory) -> None:
    agent = working(demo)
    path = put_transcript(demo, agent)
    # The re-probe tick an hour away: only the watcher can bring the line to the screen.
    app = demo_app(demo, watch=True, refresh_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet(lambda f: app.loaded and tool_of(f, agent) is not None)
        assert tool_of(app.fleet, agent) == "Bash: pytest -x tests/api"
        followed = app.targets.transcripts
        assert path.resolve() in followed.files
        assert await asyncio.to_thread(followed.armed.wait, 10)
        with path.open("a") as handle:
            handle.write(GLOB_LINE + "\n")
        await app.wait_for_fleet(lambda f: tool_of(f, agent) == "Glob: **/*.py")
        await pilot.pause()
        assert "Glob: **/*.py" in screen_text(app)


async def test_a_transcript_that_appears_after_the_start_is_followed_at_once(
    demo: DemoFactory,
) -> None:
    """An agent none was found for: the watcher looks where its first transcript will be (the
    Claude config's projects folder, its project folder not there yet)."""
    agent = working(demo)
    (claude_dir(demo) / "projects").mkdir(parents=True)
    app = demo_app(demo, watch=True, refresh_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet(lambda _f: app.loaded)
        assert tool_of(app.fleet, agent) is None
        followed = app.targets.transcripts
        assert claude_dir(demo) / "projects" in followed.folders  # its project's not there yet
        assert await asyncio.to_thread(followed.armed.wait, 10)
        put_transcript(demo, agent)  # its project folder, then its transcript
        await app.wait_for_fleet(lambda f: tool_of(f, agent) == "Bash: pytest -x tests/api")
        assert await asyncio.to_thread(followed.armed.wait, 10)  # its folder watched now
        view = next(i for i in app.fleet.instances if i.id == agent)
        assert view.activity is not None
        path = Path(view.activity.transcript)
        with path.open("a") as handle:
            handle.write(GLOB_LINE + "\n")
        await app.wait_for_fleet(lambda f: tool_of(f, agent) == "Glob: **/*.py")
        await pilot.pause()
        assert "Glob: **/*.py" in screen_text(app)
