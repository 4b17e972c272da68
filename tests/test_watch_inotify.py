"""Issue 17: the watcher blocks on an inotify descriptor (no 10 ms wake-ups when idle) and falls
back to watchfiles where inotify is not usable. The adapter on real folders, the parser on
synthetic records, the watcher's re-arm, overflow and fallback."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import queue
import select
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import config_for

from factory_tui.adapters.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Inotify,
    InotifyEvent,
    InotifyUnavailable,
    parse_events,
)
from factory_tui.adapters.wake import WakeEvent, drain
from factory_tui.ui import watch
from factory_tui.ui.watch import WatchTargets, watch_files

WAIT_S = 10


def wait_for(notify: Inotify, wanted: Callable[[list[InotifyEvent]], bool]) -> list[InotifyEvent]:
    """The events read until ``wanted`` holds for them (bounded: blocks in poll, no sleep)."""
    poller = select.poll()
    poller.register(notify.fileno(), select.POLLIN)
    events: list[InotifyEvent] = []
    deadline = time.monotonic() + WAIT_S
    while not wanted(events):
        left = deadline - time.monotonic()
        assert left > 0, f"never came; got {events}"
        if poller.poll(left * 1000):
            events.extend(notify.read())
    return events


def has(name: str, mask: int) -> Callable[[list[InotifyEvent]], bool]:
    return lambda events: any(e.name == name and e.mask & mask for e in events)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Inotify, Path]]:
    folder = tmp_path / "claims"
    folder.mkdir()
    with Inotify() as notify:
        notify.add_watch(folder)
        yield notify, folder


def test_a_write_is_a_modify_then_a_close(watched: tuple[Inotify, Path]) -> None:
    notify, folder = watched
    (folder / "a.json").write_text("{}")
    events = wait_for(notify, has("a.json", IN_CLOSE_WRITE))
    assert any(e.mask & IN_MODIFY for e in events)
    assert {p for e in events for p in notify.paths(e)} == {folder / "a.json"}


def test_a_create_a_rename_in_and_a_delete(watched: tuple[Inotify, Path], tmp_path: Path) -> None:
    notify, folder = watched
    (folder / "new.json").touch()
    wait_for(notify, has("new.json", IN_CREATE))
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    os.replace(outside, folder / "moved.json")
    wait_for(notify, has("moved.json", IN_MOVED_TO))
    (folder / "new.json").unlink()
    wait_for(notify, has("new.json", IN_DELETE))


def test_a_removed_folder_drops_its_watch(watched: tuple[Inotify, Path]) -> None:
    notify, folder = watched
    folder.rmdir()
    events = wait_for(notify, lambda evs: any(e.mask & IN_IGNORED for e in evs))
    assert any(e.mask & IN_DELETE_SELF for e in events)
    assert {p for e in events for p in notify.paths(e)} == {folder}  # the folder, no name
    assert notify.paths(InotifyEvent(events[0].wd, IN_MODIFY, 0, "x")) == []  # watch gone


def test_the_parser_reads_padded_names_and_an_overflow() -> None:
    name = "é.json".encode()
    padded = name + b"\0" * (16 - len(name))
    data = (
        struct.pack("iIII", 3, IN_MODIFY, 0, len(padded))
        + padded
        + struct.pack("iIII", -1, IN_Q_OVERFLOW, 0, 0)
        + struct.pack("iIII", 4, IN_CREATE, 0, 16)  # truncated: its name is missing
    )
    assert parse_events(data) == [
        InotifyEvent(3, IN_MODIFY, 0, "é.json"),
        InotifyEvent(-1, IN_Q_OVERFLOW, 0, ""),
    ]


class FakeLibc:
    """A libc whose inotify calls fail with ``init_errno`` / ``watch_errno`` (0: succeed, on a
    descriptor that never has events)."""

    def __init__(self, init_errno: int = 0, watch_errno: int = 0) -> None:
        self.init_errno = init_errno
        self.watch_errno = watch_errno

    def inotify_init1(self, _flags: int) -> int:
        if self.init_errno:
            ctypes.set_errno(self.init_errno)
            return -1
        return os.open(os.devnull, os.O_RDONLY)

    def inotify_add_watch(self, _fd: int, _path: bytes, _mask: int) -> int:
        if self.watch_errno:
            ctypes.set_errno(self.watch_errno)
            return -1
        return 1


def test_no_inotify_outside_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(InotifyUnavailable, match="darwin"):
        Inotify()


def test_init_and_watch_failures_say_why(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="inotify_init1") as init:
        Inotify(libc=FakeLibc(init_errno=errno.EMFILE))
    assert init.value.errno == errno.EMFILE
    with (
        Inotify(libc=FakeLibc(watch_errno=errno.ENOSPC)) as notify,
        pytest.raises(OSError, match="inotify_add_watch") as watch,
    ):
        notify.add_watch(tmp_path)
    assert watch.value.errno == errno.ENOSPC and watch.value.filename == str(tmp_path)


# The watcher


@contextmanager
def watching(targets: WatchTargets, **kwargs: object) -> Iterator[queue.Queue[frozenset[Path]]]:
    """``watch_files`` on a thread; its posts in a queue; stopped and joined on exit."""
    posts: queue.Queue[frozenset[Path]] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_files, args=(targets, posts.put, stop), kwargs=kwargs, daemon=True
    )
    thread.start()
    try:
        yield posts
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert not thread.is_alive(), "the watcher did not stop"


def next_post(
    posts: queue.Queue[frozenset[Path]],
    wanted: Callable[[frozenset[Path]], bool],
    wait_s: float = WAIT_S,
) -> frozenset[Path]:
    """The first post for which ``wanted`` holds (bounded wait on the queue; queue.Empty)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise queue.Empty("never posted")
        paths = posts.get(timeout=left)
        if wanted(paths):
            return paths


def factory(tmp_path: Path) -> WatchTargets:
    (tmp_path / ".claude" / "claims").mkdir(parents=True)
    return WatchTargets.from_config(config_for(tmp_path))


@pytest.mark.parametrize(("backend", "rearm_ms"), [("inotify", 60_000), ("watchfiles", 100)])
def test_a_replaced_claims_folder_is_rearmed_and_caught_up(
    tmp_path: Path, backend: str, rearm_ms: int
) -> None:
    """inotify sees the folder move at once (no re-arm tick for a minute); watchfiles at its
    next tick."""
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    everything = targets.everything()
    with watching(targets, backend=backend, rearm_ms=rearm_ms) as posts:
        next_post(posts, lambda paths: paths == everything)  # armed
        fresh = tmp_path / ".claude" / "claims.new"
        fresh.mkdir()
        (fresh / "old.json").write_text("{}")
        claims.rename(tmp_path / ".claude" / "claims.old")
        fresh.rename(claims)
        next_post(posts, lambda paths: paths == everything)  # replaced: re-read it all ...
        next_post(posts, lambda paths: paths == everything)  # ... and again once re-armed
        # The new folder is watched: a file written in it is posted by name. Under load the
        # watchfiles backend may see the folder gone between the two renames, arm without it,
        # and re-arm once more: a write then is caught up by that re-arm's re-read of
        # everything (the reader reads it), and the next write must come by name.
        for name in ("b.json", "c.json", "d.json"):
            (claims / name).write_text("{}")
            found = next_post(
                posts, lambda paths, n=name: claims / n in paths or paths == everything
            )
            if claims / name in found:
                break
        else:
            pytest.fail("no write in the new claims folder was ever posted by name")


def test_a_claims_folder_removed_and_made_again_is_watched_again(tmp_path: Path) -> None:
    """Removed and made again at once (a reset), the folder gets its freed inode back here: the
    identity check saw nothing replaced, and the dropped watch (``IN_IGNORED``) was never made
    again, so no claim write was seen (no re-arm tick for a minute)."""
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    (claims / "a.json").write_text("{}")
    everything = targets.everything()
    before = os.stat(claims).st_ino
    with watching(targets, backend="inotify", rearm_ms=60_000) as posts:
        next_post(posts, lambda paths: paths == everything)  # armed
        (claims / "a.json").unlink()
        claims.rmdir()
        claims.mkdir()
        if os.stat(claims).st_ino != before:  # then the identity check re-arms (tested above)
            pytest.skip("this file system did not give the folder its inode back")
        next_post(posts, lambda paths: paths == everything)  # dropped: re-read it all ...
        next_post(posts, lambda paths: paths == everything)  # ... and again once re-armed
        (claims / "b.json").write_text("{}")
        # Seen: posted, or everything posted again after it (under load the watcher can look
        # while the folder is gone, arm without it, then find it back and re-arm: the write
        # made in between is caught up by that re-read; the suite saw this once).
        next_post(posts, lambda paths: claims / "b.json" in paths or paths == everything)


class RefusingInotify(Inotify):
    """A real descriptor that refuses to watch ``refused`` (EACCES: an unreadable folder)."""

    refused: Path

    def add_watch(self, folder: Path, mask: int = 0) -> int:
        if folder == self.refused:
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        return super().add_watch(folder, mask) if mask else super().add_watch(folder)


@pytest.mark.parametrize("backend", ["inotify", "watchfiles"])
def test_a_missing_folders_unreadable_parent_is_left_out(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent of a missing folder cannot be watched (unreadable: the home folder above a
    missing ``~/.hegemon`` under ``sudo -u``): the rest is watched as before. Its watch was
    taken for inotify refusing: ``inotify`` raised, ``auto`` fell back to watchfiles, which
    failed on the same folder again and again, and nothing was watched at all."""
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    claims.rmdir()
    plan = tmp_path / "plan.md"
    monkeypatch.setattr(RefusingInotify, "refused", claims.parent, raising=False)
    if backend == "watchfiles":
        import watchfiles

        real = watchfiles.watch

        def refusing(*paths: Path, **kwargs: Any) -> Any:
            if claims.parent in paths:  # as watchfiles fails on an unreadable folder
                raise RuntimeError("Permission denied (os error 13)")
            return real(*paths, **kwargs)

        monkeypatch.setattr(watchfiles, "watch", refusing)
    with watching(targets, backend=backend, rearm_ms=60_000, open_inotify=RefusingInotify) as posts:
        assert targets.transcripts.armed.wait(WAIT_S)  # (watchfiles: its first arming)
        states = {plan, tmp_path / "memory.md"}
        written_until_posted(posts, [*states, plan], lambda paths: bool(paths & states))


@pytest.mark.parametrize("backend", ["inotify", "watchfiles"])
def test_a_missing_folders_parent_that_is_a_watched_folder_by_another_name(
    tmp_path: Path, backend: str
) -> None:
    """The missing folder's parent is a watched folder under another name (a symlink in the
    path). watchfiles keeps one name per folder, the last one added: every change in the
    watched folder came under the parent's name, which the filter drops. Such a parent is
    watched already: it is not watched again."""
    (tmp_path / "link").symlink_to(tmp_path)
    claims, log = tmp_path / "link" / "claims", tmp_path / "operations.log"
    targets = WatchTargets(
        claims_dirs=frozenset(watch._forms(claims)),
        checkpoints_dirs=frozenset(),
        log_files=frozenset(watch._forms(log)),
        state_files=frozenset(),
        folders=(tmp_path, claims),
    )
    with watching(targets, backend=backend, rearm_ms=60_000) as posts:
        assert targets.transcripts.armed.wait(WAIT_S)
        written_until_posted(posts, [log], lambda paths: log in paths)
        (tmp_path / "claims").mkdir()  # made: seen through the watched folder itself
        next_post(posts, lambda paths: targets.everything() <= paths)


def test_watchfiles_rearms_when_a_watched_folder_is_removed_and_made_again(
    tmp_path: Path,
) -> None:
    """The inotify test above for the watchfiles backend: the folder made again got its inode
    back, so the identity check saw nothing replaced, and its dead watch never reported
    again. A watched folder's own removal re-arms."""
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    plan = tmp_path / "plan.md"
    everything = targets.everything()
    before = os.stat(claims).st_ino
    with watching(targets, backend="watchfiles", rearm_ms=60_000) as posts:
        assert targets.transcripts.armed.wait(WAIT_S)
        written_until_posted(posts, [plan], lambda paths: everything <= paths)
        claims.rmdir()
        claims.mkdir()
        if os.stat(claims).st_ino != before:
            pytest.skip("this file system did not give the folder its inode back")
        next_post(posts, lambda paths: paths == everything)  # removed: re-armed, all re-read
        names = [claims / name for name in ("b.json", "c.json", "d.json")]
        written_until_posted(posts, names, lambda paths: bool(paths & set(names)))


def written_until_posted(
    posts: queue.Queue[frozenset[Path]],
    files: list[Path],
    wanted: Callable[[frozenset[Path]], bool],
) -> None:
    """Each file written in turn until a post ``wanted`` holds for comes (a watch that starts
    a little after the write misses that one)."""
    for file in files:
        file.write_text("{}")
        with contextlib.suppress(queue.Empty):
            next_post(posts, wanted, WAIT_S / len(files))
            return
    pytest.fail(f"none of {files} was ever posted")


def test_a_write_a_rename_and_a_delete_are_posted(tmp_path: Path) -> None:
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    with watching(targets, backend="inotify", rearm_ms=60_000) as posts:
        next_post(posts, lambda paths: paths == targets.everything())
        a, c = claims / "a.json", claims / "c.json"
        a.write_text("{}")
        assert next_post(posts, bool) == {a}
        (claims / ".a.json.tmp").write_text("{}")  # not a claim: filtered out ...
        os.replace(claims / ".a.json.tmp", c)  # ... its rename in is one
        # Under load a file's last event (the write's close) may come in the next batch: a
        # path posted again is read again for nothing, never missed.
        found = next_post(posts, lambda paths: c in paths)
        assert found <= {a, c}  # the temp file is not a claim: never posted
        a.unlink()
        found = next_post(posts, lambda paths: a in paths)
        assert found <= {a, c}


class Overflowing(Inotify):
    """A real descriptor whose first read also says the kernel's queue overflowed."""

    overflowed = False

    def read(self) -> list[InotifyEvent]:
        events = super().read()
        if events and not self.overflowed:
            self.overflowed = True
            events.append(InotifyEvent(-1, IN_Q_OVERFLOW, 0, ""))
        return events


def test_an_overflow_posts_every_target(tmp_path: Path) -> None:
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    with watching(targets, backend="inotify", open_inotify=Overflowing) as posts:
        next_post(posts, lambda paths: paths == targets.everything())
        (claims / "a.json").write_text("{}")
        assert next_post(posts, bool) == targets.everything() | {claims / "a.json"}


@pytest.mark.parametrize(
    "libc", [FakeLibc(init_errno=errno.EMFILE), FakeLibc(watch_errno=errno.ENOSPC)]
)
def test_when_inotify_refuses_it_falls_back_to_watchfiles(
    tmp_path: Path, libc: FakeLibc, caplog: pytest.LogCaptureFixture
) -> None:
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    with (
        caplog.at_level(logging.WARNING, "factory_tui.ui.watch"),
        watching(targets, rearm_ms=100, open_inotify=lambda: Inotify(libc=libc)) as posts,
    ):
        next_post(posts, lambda paths: paths == targets.everything())  # watchfiles' first tick
        (claims / "a.json").write_text("{}")
        next_post(posts, lambda paths: claims / "a.json" in paths)
    assert "watching with watchfiles" in caplog.text
    assert os.strerror(libc.init_errno or libc.watch_errno) in caplog.text


def test_inotify_only_raises_its_failure(tmp_path: Path) -> None:
    targets = factory(tmp_path)
    with pytest.raises(OSError, match="inotify_add_watch"):
        watch_files(
            targets,
            lambda _paths: None,
            threading.Event(),
            backend="inotify",
            open_inotify=lambda: Inotify(libc=FakeLibc(watch_errno=errno.ENOSPC)),
        )


def test_a_wake_event_makes_its_pipes_readable() -> None:
    event = WakeEvent()
    with event.waking() as fd:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert not poller.poll(0)
        threading.Thread(target=event.set).start()
        assert poller.poll(WAIT_S * 1000), "set() did not wake the poll"
        drain(fd)
        assert not poller.poll(0)
    with event.waking() as fd:  # set already: readable at once
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0)


def test_the_watcher_wakes_on_stop_and_moved_not_on_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no timeout to fall back on, only the events' pipes can wake the blocked watcher."""
    monkeypatch.setattr(watch, "POLL_MS", 3_600_000)
    targets = factory(tmp_path)
    transcript = tmp_path / "claude" / "projects" / "-w-a" / "s1.jsonl"
    transcript.parent.mkdir(parents=True)
    stop = WakeEvent()
    posts: queue.Queue[frozenset[Path]] = queue.Queue()
    thread = threading.Thread(
        target=watch_files,
        args=(targets, posts.put, stop),
        kwargs={"backend": "inotify", "rearm_ms": 3_600_000},
        daemon=True,
    )
    thread.start()
    try:
        next_post(posts, lambda paths: paths == targets.everything())
        targets.transcripts.update([transcript])  # sets moved: re-arm on its folder
        next_post(posts, lambda paths: transcript in paths)  # the catch-up once re-armed
        transcript.write_text("{}\n")
        next_post(posts, lambda paths: paths == {transcript})
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert not thread.is_alive(), "stop did not wake the watcher"


class _RecordingPoll:
    """``select.poll()`` that records each ``poll(timeout)`` of a poller watching more than one
    descriptor (the watcher's wait: its inotify descriptor and the stop events' pipes)."""

    def __init__(self, timeouts: queue.Queue[float | None]) -> None:
        self._poll = select.poll()
        self._fds = 0
        self._timeouts = timeouts

    def register(self, fd: int, mask: int) -> None:
        self._fds += 1
        self._poll.register(fd, mask)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        if self._fds > 1:
            self._timeouts.put(timeout)
        return self._poll.poll(timeout)


def _recording_select(timeouts: queue.Queue[float | None]) -> object:
    """A stand-in for the watcher's ``select`` module whose pollers are :class:`_RecordingPoll`
    s: each wait of the watcher's is put in ``timeouts`` just before it blocks."""

    class Select:
        POLLIN = select.POLLIN

        @staticmethod
        def poll() -> _RecordingPoll:
            return _RecordingPoll(timeouts)

    return Select


@pytest.mark.parametrize("made", ["mkdir", "symlink"])
@pytest.mark.parametrize("backend", ["inotify", "watchfiles"])
def test_a_missing_folder_made_is_watched_at_once(
    tmp_path: Path, backend: str, made: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder missing when the watcher arms (a reset removed it, or it was looked at between
    a remove and a make) is noticed when it is made, not at the next re-arm tick (a minute
    here, 5 s in the cockpit): its parent is watched for it. A CI run lost this race: the
    watcher armed while the claims folder was gone, and no claim write was seen after. Made
    as a symlink to a folder (a claims folder may be one), its creation is no folder event."""
    blocked: queue.Queue[float | None] = queue.Queue()
    monkeypatch.setattr(watch, "select", _recording_select(blocked))
    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    claims.rmdir()
    elsewhere = tmp_path / "elsewhere"  # made now: its making is a folder event in the root
    elsewhere.mkdir()
    everything = targets.everything()
    with watching(targets, backend=backend, rearm_ms=60_000) as posts:
        if backend == "watchfiles":  # its first post comes with a change (or a minute's tick)
            plan = tmp_path / "plan.md"
            assert targets.transcripts.armed.wait(WAIT_S) and plan in everything
            written_until_posted(posts, [plan], lambda paths: everything <= paths)
        else:
            next_post(posts, lambda paths: paths == everything)  # armed, without the folder
            blocked.get(timeout=WAIT_S)  # and waiting: it looked at the folders before
        if made == "mkdir":
            claims.mkdir()
        else:
            claims.symlink_to(elsewhere)
        next_post(posts, lambda paths: paths == everything)  # made: re-read it all ...
        if backend == "inotify":
            next_post(posts, lambda paths: paths == everything)  # ... and again once re-armed
        # watched now: a claim written in it is posted by name (watchfiles may start its watch
        # after a first write: that one is caught up by the re-arm's post of everything)
        names = [claims / name for name in ("b.json", "c.json", "d.json")]
        written_until_posted(posts, names, lambda paths: bool(paths & set(names)))


def _idle_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: threading.Event, **kwargs: object
) -> float:
    """How long the inotify watcher on a fresh factory (``rearm_ms`` a minute, ``kwargs``
    more) blocks once armed and idle (ms); then stopped by ``stop``, which must wake it."""
    timeouts: queue.Queue[float | None] = queue.Queue()
    monkeypatch.setattr(watch, "select", _recording_select(timeouts))
    targets = factory(tmp_path)
    posts: queue.Queue[frozenset[Path]] = queue.Queue()
    thread = threading.Thread(
        target=watch_files,
        args=(targets, posts.put, stop),
        kwargs={"backend": "inotify", "rearm_ms": 60_000, **kwargs},
        daemon=True,
    )
    thread.start()
    try:
        next_post(posts, lambda paths: paths == targets.everything())
        timeout = timeouts.get(timeout=WAIT_S)  # the watcher is blocked, waiting with this
    finally:
        stop.set()
        thread.join(WAIT_S)
    assert not thread.is_alive(), "stop did not wake the watcher"
    assert timeout is not None
    return timeout


@pytest.mark.parametrize("wakes", [True, False])
def test_an_idle_watcher_blocks_until_the_rearm_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wakes: bool
) -> None:
    """When its stop events all wake it through their pipes, the idle watcher blocks until the
    re-arm check (no wake-up every ``POLL_MS``: each costs CPU on an idle cockpit, issue 17);
    with a plain ``threading.Event`` to stop on it still looks every ``POLL_MS``."""
    timeout = _idle_wait(tmp_path, monkeypatch, WakeEvent() if wakes else threading.Event())
    if wakes:
        assert 59_000 < timeout <= 60_000
    else:
        assert timeout <= watch.POLL_MS


@pytest.mark.parametrize("fails", [False, True])
def test_the_rearm_check_keeps_the_pace_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fails: bool
) -> None:
    """Given a pace (the cockpit's: once a minute while no agent's process runs), the idle
    watcher blocks until the check that pace says, asked at each check; a pace that fails is
    logged and the watcher goes on at ``rearm_ms``."""
    asked: list[int] = []

    def pace() -> float:
        asked.append(1)
        if fails:
            raise RuntimeError("a bug in the pace")
        return 90.0

    timeout = _idle_wait(tmp_path, monkeypatch, WakeEvent(), pace=pace)
    assert asked
    if fails:
        assert 59_000 < timeout <= 60_000
        assert "the watcher's pace failed" in caplog.text and "a bug in the pace" in caplog.text
    else:
        assert 89_000 < timeout <= 90_000


@pytest.mark.parametrize("now", [16325.398, 16326.508, 0.1, 1e6 + 0.3])
def test_the_wait_until_the_rearm_check_never_exceeds_it(now: float) -> None:
    """The watcher waits ``(now + rearm) - now`` seconds: in floating point that difference can
    come out a hair over ``rearm`` (60 s read as 60000.0000000018 ms at a monotonic clock of
    16325.398 s), which rounded up made a 60 s re-arm wait 60001 ms (a CI run caught it)."""
    check_at = now + 60_000 / 1000
    assert watch._timeout_ms(check_at - now, None) <= 60_000
    assert watch._timeout_ms(check_at - now, None) >= 59_999
    assert watch._timeout_ms(0.0004, None) == 1  # still rounded up: not woken just before due
    assert watch._timeout_ms(-1.0, None) == 0
    assert watch._timeout_ms(check_at - now, watch.POLL_MS) == watch.POLL_MS


def test_watchfiles_sees_a_folder_made_while_its_watch_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchfiles backend cannot tell when its watch has started: a folder made after the
    look before arming (missing then) and before its parent's watch started made no event, and
    nothing woke the watcher until its re-arm tick (a minute here). A CI run of the suite lost
    that race. While a folder is missing it looks again every ``MISSING_CHECK_MS``."""
    import watchfiles

    targets = factory(tmp_path)
    claims = tmp_path / ".claude" / "claims"
    claims.rmdir()
    everything = targets.everything()
    real = watchfiles.watch

    def made_first(*paths: Path, **kwargs: Any) -> Any:
        if not claims.exists():
            claims.mkdir()  # after the look, before the watch
        return real(*paths, **kwargs)

    monkeypatch.setattr(watchfiles, "watch", made_first)
    with watching(targets, backend="watchfiles", rearm_ms=60_000) as posts:
        next_post(posts, lambda paths: paths == everything)  # looked again: re-armed
        names = [claims / name for name in ("b.json", "c.json", "d.json")]
        written_until_posted(posts, names, lambda paths: bool(paths & set(names)))
