"""Watching the factory's files: one thread, one ``watchfiles.watch`` over every folder.

The watcher only says *which paths* changed; :meth:`WatchTargets.classify` turns paths into a
:class:`RefreshPlan` saying which reader refresh each one needs (the one claim file, the log,
the checkpoints, the state files, the agents' transcripts). Nothing here reads a file's content
and nothing polls: on Linux the thread blocks on an inotify descriptor (:mod:`.adapters.inotify`)
until something changes or its stop or ``moved`` event is set (:class:`WakeEvent`: a plain
event is looked at every ``POLL_MS``), waking only every ``rearm_ms`` (when its stop events
are all :class:`WakeEvent` s, as the app's are) to notice a folder that appeared or was
replaced. Elsewhere (or when
inotify is refused, e.g. the watch limit) it sleeps in watchfiles (FSEvents, ...), whose Rust
side wakes every ``STEP_MS``.

The agents' transcripts are not known from the config: the fleet feed says which files the
reader follows (:class:`FollowedFiles`) after each read, and the watcher re-arms at once when
their folders change (an agent started or ended).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from factory_tui.adapters.inotify import (
    IN_CREATE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Inotify,
    InotifyUnavailable,
)
from factory_tui.adapters.wake import WakeEvent, drain
from factory_tui.config import Config

__all__ = ["RefreshPlan", "WakeEvent", "WatchTargets", "watch_files"]

log = logging.getLogger(__name__)

#: watchfiles waits this long after the last change before it yields (when no other change
#: arrives); the default of 50 ms costs 85 ms of latency, 10 ms about 15 ms.
STEP_MS = 10
#: The longest a burst of changes is coalesced before it is yielded.
DEBOUNCE_MS = 100
#: How often the watcher wakes with nothing to report, to notice folders that appeared.
REARM_MS = 5_000
#: The shortest wait between re-arm checks a ``pace`` gets (see :func:`watch_files`).
MIN_PACE_S = 0.05
#: The inotify watcher, after an event, keeps reading while the next comes within this (up to
#: ``DEBOUNCE_MS``), then posts the burst once: one write is a modify and a close.
INOTIFY_STEP_MS = 3
#: The longest the inotify watcher blocks before it looks at a stop or ``moved`` event that is
#: not a :class:`WakeEvent` (those wake it at once).
POLL_MS = 250
#: While a folder is missing, the watchfiles backend looks at the folders at least this often
#: (ms): it cannot tell when its watch has started, so a folder made between the look before
#: arming and that moment is seen at this look (the inotify backend looks once armed).
MISSING_CHECK_MS = 1_000
#: A missing folder's parent is watched for this: an entry made in it (or moved in), and the
#: parent itself gone (its watch is then dropped, and the watcher re-arms).
_PARENT_MASK = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF
#: An event on a folder itself, a folder in it, or dropped events: look at the watched folders.
_FOLDER_EVENTS = IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW

Backend = Literal["auto", "inotify", "watchfiles"]


@dataclass
class RefreshPlan:
    """What to re-read after some paths changed."""

    claim_paths: set[Path] = field(default_factory=set)
    rescan_claims: bool = False
    locks: bool = False
    """A claim lock directory came or went (agents take one for every claim they write)."""
    log: bool = False
    checkpoints: bool = False
    state: bool = False
    store: bool = False
    """The real factory's local store (its database or WAL) changed."""
    remote: bool = False
    """The shared server's snapshot changed (its thread says so, not the watcher)."""
    transcripts: bool = False
    """An agent's transcript grew, or a new one appeared beside it (a new session)."""

    def merge(self, other: RefreshPlan) -> None:
        self.claim_paths |= other.claim_paths
        self.rescan_claims |= other.rescan_claims
        self.locks |= other.locks
        self.log |= other.log
        self.checkpoints |= other.checkpoints
        self.state |= other.state
        self.store |= other.store
        self.remote |= other.remote
        self.transcripts |= other.transcripts

    def __bool__(self) -> bool:
        return bool(
            self.claim_paths
            or self.rescan_claims
            or self.locks
            or self.log
            or self.checkpoints
            or self.state
            or self.store
            or self.remote
            or self.transcripts
        )


def _forms(path: Path) -> set[Path]:
    """A path as configured and as resolved (a symlinked claims folder reports either)."""
    out = {Path(os.path.abspath(path))}
    with contextlib.suppress(OSError):
        out.add(path.resolve())
    return out


class FollowedFiles:
    """The files the reader follows beyond the configured ones: each agent's transcript, and
    where one is expected for an agent none was found for yet.

    Set by the fleet feed's worker after each read (:meth:`update`), read by the watcher's
    thread and the app's handler; a lock keeps the sets consistent. ``moved`` is set when the
    folders to watch changed: the watcher then re-arms (it is part of its stop condition).
    ``armed`` is set once the watcher arms with the current folders (tests wait on it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: frozenset[Path] = frozenset()
        self._looking: frozenset[Path] = frozenset()
        self._folders: frozenset[Path] = frozenset()
        self._dirs: frozenset[Path] = frozenset()
        self.moved = WakeEvent()
        self.armed = threading.Event()

    def update(self, paths: Iterable[Path], looking: Iterable[Path] = ()) -> bool:
        """Follow exactly ``paths``, and look in ``looking`` (project folders where an agent's
        first transcript will be: watched if they exist, else their parent, for them to
        appear); True if the folders to watch changed."""
        paths = [Path(os.path.abspath(p)) for p in paths]
        wanted = frozenset(Path(os.path.abspath(p)) for p in looking)
        files = frozenset(f for p in paths for f in _forms(p))
        folders = {p.parent for p in paths}
        dirs = set(folders)
        for folder in wanted:
            if os.path.isdir(folder):
                folders.add(folder)
                dirs.add(folder)
            elif os.path.isdir(folder.parent):
                dirs.add(folder.parent)
        with self._lock:
            self._files = files
            self._looking = wanted
            self._folders = frozenset(folders)
            moved = dirs != self._dirs
            self._dirs = frozenset(dirs)
        if moved:
            self.armed.clear()
            self.moved.set()
        return moved

    @property
    def files(self) -> frozenset[Path]:
        """The followed transcripts, and the folders looked in (posted after a re-arm)."""
        with self._lock:
            return self._files | self._looking

    @property
    def folders(self) -> frozenset[Path]:
        """The folders to watch."""
        with self._lock:
            return self._dirs

    def classify(self, path: Path) -> bool:
        """Whether ``path`` (absolute) is a followed transcript, a new one beside one or where
        one is looked for, or a folder looked in that appeared."""
        with self._lock:
            return (
                path in self._files
                or path in self._looking
                or (
                    path.suffix == ".jsonl"
                    and not path.name.startswith(".")
                    and path.parent in self._folders
                )
            )


@dataclass(frozen=True)
class WatchTargets:
    """The files the cockpit reads, as the watcher needs them."""

    claims_dirs: frozenset[Path]
    checkpoints_dirs: frozenset[Path]
    log_files: frozenset[Path]
    state_files: frozenset[Path]
    folders: tuple[Path, ...]
    store_files: frozenset[Path] = frozenset()
    """The local store's database and its ``-wal`` (a commit in WAL mode writes only that)."""
    transcripts: FollowedFiles = field(default_factory=FollowedFiles, compare=False)
    """The agents' transcripts the reader follows (they change as agents start and end)."""

    @classmethod
    def from_config(cls, config: Config) -> WatchTargets:
        logs = (config.log_file, config.log_history_file, config.metrics_file)
        states = (config.plan_file, config.memory_file)
        store: tuple[Path, ...] = ()
        if config.hegemon is not None:
            db = config.hegemon.db
            store = (db, db.with_name(db.name + "-wal"))
            real = Path(os.path.realpath(db))
            if real != Path(os.path.abspath(db)):  # a symlink: SQLite's WAL is beside its target
                store = (*store, real.with_name(real.name + "-wal"))
        folders: list[Path] = []
        for folder in (
            config.claims_dir,
            config.checkpoints_dir,
            *(p.parent for p in logs),
            *(p.parent for p in states),
            *(p.parent for p in store[:1]),
            *(p.parent for p in store[2:]),
        ):
            folder = Path(os.path.abspath(folder))
            if folder not in folders:
                folders.append(folder)
        return cls(
            claims_dirs=frozenset(_forms(config.claims_dir)),
            checkpoints_dirs=frozenset(_forms(config.checkpoints_dir)),
            log_files=frozenset(f for p in logs for f in _forms(p)),
            state_files=frozenset(f for p in states for f in _forms(p)),
            folders=tuple(folders),
            store_files=frozenset(f for p in store for f in _forms(p)),
        )

    def everything(self) -> frozenset[Path]:
        """Paths that, posted, make the reader look at every file again (after a re-arm)."""
        return frozenset(
            {
                *self.claims_dirs,
                *self.checkpoints_dirs,
                *self.log_files,
                *self.state_files,
                *self.store_files,
                *self.transcripts.files,
            }
        )

    def watched_folders(self) -> tuple[Path, ...]:
        """The configured folders, then the followed transcripts' folders."""
        extra = sorted(self.transcripts.folders - set(self.folders))
        return (*self.folders, *extra)

    def accepts(self, path: Path) -> bool:
        """Whether a change to ``path`` matters to the cockpit."""
        return bool(self.classify((path,)))

    def classify(self, paths: Iterable[Path]) -> RefreshPlan:
        plan = RefreshPlan()
        for path in paths:
            path = Path(os.path.abspath(path))
            if path in self.log_files:
                plan.log = True
            elif path in self.store_files:
                plan.store = True
            elif path in self.state_files:
                plan.state = True
            elif path in self.claims_dirs:
                plan.rescan_claims = True
            elif path in self.checkpoints_dirs:
                plan.checkpoints = True
            elif path.parent in self.claims_dirs:
                if path.suffix == ".json" and not path.name.startswith("."):
                    plan.claim_paths.add(path)
                elif path.suffix == ".lock" and not path.name.startswith("."):
                    plan.locks = True
            elif path.parent in self.checkpoints_dirs and path.suffix == ".json":
                plan.checkpoints = True
            elif self.transcripts.classify(path):
                plan.transcripts = True
        return plan


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder's device and inode (one ``stat``: the re-arm check runs every ``rearm_ms``),
    None if it is missing or not a folder."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


@dataclass(frozen=True)
class _Arming:
    """What one arming watches, computed just before it."""

    armed: dict[Path, tuple[int, int] | None]
    """Every folder to watch, and every missing one's parent, with its identity now (to notice
    one replaced, or appeared)."""
    existing: list[Path]
    """The folders that exist: watched for every change."""
    parents: list[Path]
    """The existing parents of the missing ones: watched only for entries made in them, so a
    missing folder made is noticed at once, not at the next re-arm tick (a reset's remove and
    make, looked at in between)."""
    missing: frozenset[Path]
    catch_up: frozenset[Path]
    """What to post once armed."""


def _to_arm(targets: WatchTargets, catch_up: frozenset[Path]) -> _Arming:
    """Before each arming: the folders and their identities now, the ones that exist, the
    parents of the missing ones, and what to post once armed (the followed transcripts too
    when their folders moved)."""
    followed = targets.transcripts
    if followed.moved.is_set():
        followed.moved.clear()
        catch_up |= followed.files
    armed = {folder: _identity(folder) for folder in targets.watched_folders()}
    existing = [folder for folder, ident in armed.items() if ident is not None]
    missing = frozenset(folder for folder, ident in armed.items() if ident is None)
    watched = {armed[folder] for folder in existing}
    parents = []
    for parent in sorted({folder.parent for folder in missing} - set(existing)):
        armed[parent] = ident = _identity(parent)
        # Not a watched folder under another name (watchfiles keeps one name per folder: the
        # watched one's changes would all come under the parent's, and be dropped).
        if ident is not None and ident not in watched:
            parents.append(parent)
    return _Arming(armed, existing, parents, missing, catch_up)


class _Either:
    """Set when either event is: watchfiles stops on it (it only calls ``is_set``)."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        self.first = first
        self.second = second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()


def watch_files(
    targets: WatchTargets,
    post: Callable[[frozenset[Path]], None],
    stop: threading.Event,
    *,
    step_ms: int = STEP_MS,
    debounce_ms: int = DEBOUNCE_MS,
    rearm_ms: int = REARM_MS,
    backend: Backend = "auto",
    open_inotify: Callable[[], Inotify] = Inotify,
    pace: Callable[[], float] | None = None,
) -> None:
    """Watch until ``stop`` is set, calling ``post(paths)`` for each batch of relevant changes.

    Only existing folders are watched (not recursively). Every ``rearm_ms`` the watcher checks
    whether a missing folder appeared or a watched one was replaced; if so it re-arms and posts
    every target, so the reader looks at what it missed. When the followed transcripts' folders
    change (``targets.transcripts.moved``) it re-arms at once, and posts the transcripts once
    armed (a line written while it re-armed is not lost).

    ``backend``: "auto" watches with inotify, and falls back to watchfiles (logged) when
    inotify is not there or refuses a watch (``open_inotify`` makes the descriptor: tests
    inject a failure); "inotify" or "watchfiles" use only that one (``step_ms`` is
    watchfiles' step).
    """
    if backend != "watchfiles":
        try:
            _watch_inotify(targets, post, stop, open_inotify, debounce_ms, rearm_ms, pace)
            return
        except _InotifyRefused as refused:
            if backend == "inotify":
                raise refused.error from refused
            level = (
                logging.INFO if isinstance(refused.error, InotifyUnavailable) else logging.WARNING
            )
            log.log(level, "inotify is not usable (%s): watching with watchfiles", refused.error)
    _watch_watchfiles(targets, post, stop, step_ms, debounce_ms, rearm_ms)


class _InotifyRefused(Exception):
    """inotify could not be used (no inotify, no descriptor, a watch refused): fall back."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _replaced(armed: dict[Path, tuple[int, int] | None]) -> bool:
    """Whether a watched folder was replaced or removed, or a missing one appeared."""
    return any(_identity(folder) != ident for folder, ident in armed.items())


def _arm(open_inotify: Callable[[], Inotify], arming: _Arming) -> Inotify:
    """A new descriptor watching the arming's folders, and its missing folders' parents for
    entries made in them; one that vanished meanwhile is left out (the identity check after
    arming sees it). :class:`_InotifyRefused` if inotify says no."""
    try:
        notify = open_inotify()
    except OSError as error:
        raise _InotifyRefused(error) from error
    try:
        for parent in arming.parents:
            try:
                notify.add_watch(parent, _PARENT_MASK)
            except OSError as error:
                # Unreadable, gone, or the watch limit: a parent is only there to notice the
                # missing folder sooner; without it the re-arm tick does.
                log.debug("not watching %s for a folder made in it: %s", parent, error)
        for folder in arming.existing:
            try:
                notify.add_watch(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
    except OSError as error:
        notify.close()
        raise _InotifyRefused(error) from error
    return notify


def _watch_inotify(
    targets: WatchTargets,
    post: Callable[[frozenset[Path]], None],
    stop: threading.Event,
    open_inotify: Callable[[], Inotify],
    debounce_ms: int,
    rearm_ms: int,
    pace: Callable[[], float] | None,
) -> None:
    """:func:`watch_files` on an inotify descriptor, re-made at each re-arm (rare: a folder
    replaced or appeared, agents started or ended), so no stale watch is left behind."""
    followed = targets.transcripts
    # What is posted once armed: every target the first time (and after a folder was
    # replaced), the transcripts after a re-arm for their folders.
    catch_up = targets.everything()
    while not stop.is_set():
        arming = _to_arm(targets, catch_up)
        if not arming.existing and not arming.parents:
            if stop.wait(rearm_ms / 1000):
                return
            continue
        with _arm(open_inotify, arming) as notify:
            followed.armed.set()
            if arming.catch_up:
                # Armed now: a change made between the reader's look and this moment is caught up.
                post(arming.catch_up)
            catch_up = frozenset()
            if _follow(notify, targets, post, stop, arming, debounce_ms, _pace(pace, rearm_ms)):
                catch_up = targets.everything()
                post(catch_up)


def _follow(
    notify: Inotify,
    targets: WatchTargets,
    post: Callable[[frozenset[Path]], None],
    stop: threading.Event,
    arming: _Arming,
    debounce_ms: int,
    rearm_s: Callable[[], float],
) -> bool:
    """Post each burst of relevant changes until ``stop`` or ``moved`` is set (False), or a
    watched folder was replaced or a missing one appeared (True: re-arm). Woken at once by
    ``stop`` and ``moved`` when they are :class:`WakeEvent` s."""
    followed = targets.transcripts
    armed, missing = arming.armed, arming.missing
    with contextlib.ExitStack() as wakes:
        events = (stop, followed.moved)
        wake_fds = {
            wakes.enter_context(event.waking()) for event in events if isinstance(event, WakeEvent)
        }
        changes = select.poll()
        changes.register(notify.fileno(), select.POLLIN)
        poller = select.poll()
        for fd in (notify.fileno(), *wake_fds):
            poller.register(fd, select.POLLIN)
        # Every stop event wakes the poll through its pipe: block until the re-arm check (an
        # idle cockpit's watcher wakes every ``rearm_s()``, not every ``POLL_MS``).
        cap = None if all(isinstance(event, WakeEvent) for event in events) else POLL_MS
        check_at = 0.0  # at once: a folder may have gone while arming
        while not stop.is_set() and not followed.moved.is_set():
            now = time.monotonic()
            if now >= check_at:
                if _replaced(armed):
                    return True
                check_at = now + rearm_s()
            ready = {fd for fd, _ in poller.poll(_timeout_ms(check_at - now, cap))}
            for fd in ready & wake_fds:
                drain(fd)  # the loop's test says which event it was
            if notify.fileno() not in ready:
                continue
            paths, folders_changed, overflow, dropped = _burst(notify, changes, debounce_ms)
            batch = frozenset(path for path in paths if targets.accepts(path))
            if overflow:
                batch |= targets.everything()  # events were dropped: the reader re-reads it all
            if batch:
                post(batch)
            if dropped:
                # The kernel dropped a folder's watch (it was removed): re-arm, even when a
                # folder made again at that path got the freed inode back (the identity check
                # then sees nothing replaced, and no event came from it again).
                return True
            if folders_changed or not missing.isdisjoint(paths):
                check_at = 0.0  # (a missing folder made as a symlink to one: no IN_ISDIR)
        return False


def _pace(pace: Callable[[], float] | None, rearm_ms: int) -> Callable[[], float]:
    """Seconds to the next re-arm check: what ``pace`` says (at least ``MIN_PACE_S``), else
    ``rearm_ms``; a ``pace`` that fails is logged once a check and ``rearm_ms`` used (the
    watcher goes on)."""

    def seconds() -> float:
        if pace is not None:
            try:
                return max(MIN_PACE_S, float(pace()))
            except Exception:
                log.exception("the watcher's pace failed: checking every %d ms", rearm_ms)
        return rearm_ms / 1000

    return seconds


def _timeout_ms(left_s: float, cap_ms: int | None) -> int:
    """The poll's timeout: until the next re-arm check (rounded up, so the check is not woken
    for just before it is due), at most ``cap_ms`` when set. Rounded to the microsecond first:
    ``(now + rearm) - now`` in floating point can come out a hair over ``rearm``."""
    left_ms = max(0, math.ceil(round(left_s * 1000, 3)))
    return left_ms if cap_ms is None else min(cap_ms, left_ms)


def _burst(
    notify: Inotify, poller: select.poll, debounce_ms: int
) -> tuple[set[Path], bool, bool, bool]:
    """The paths changed in one burst: events read while the next comes within
    ``INOTIFY_STEP_MS``, for at most ``debounce_ms``; whether a folder event (a folder came,
    went or was moved) or a queue overflow was among them; whether events were dropped;
    whether a watch was (``IN_IGNORED``: its folder removed; this never removes one)."""
    paths: set[Path] = set()
    folders_changed = overflow = dropped = False
    end = time.monotonic() + debounce_ms / 1000
    while True:
        for event in notify.read():
            if event.mask & _FOLDER_EVENTS:
                folders_changed = True
            if event.mask & IN_Q_OVERFLOW:
                overflow = True
            if event.mask & IN_IGNORED:
                dropped = True
            paths.update(notify.paths(event))
        left = (end - time.monotonic()) * 1000
        if left <= 0 or not poller.poll(min(INOTIFY_STEP_MS, left)):
            return paths, folders_changed, overflow, dropped


def _watch_watchfiles(
    targets: WatchTargets,
    post: Callable[[frozenset[Path]], None],
    stop: threading.Event,
    step_ms: int,
    debounce_ms: int,
    rearm_ms: int,
) -> None:
    """:func:`watch_files` with watchfiles (where there is no inotify)."""
    import watchfiles

    missing: frozenset[Path] = frozenset()

    def relevant(_change: object, raw: str) -> bool:
        path = Path(raw)
        return path in missing or targets.accepts(path)

    followed = targets.transcripts
    wake = _Either(stop, followed.moved)
    # What the first quiet tick after arming posts: every target the first time (and after a
    # folder was replaced), the transcripts after a re-arm for their folders.
    catch_up = targets.everything()
    with_parents = True  # until watching a missing folder's parent fails (unreadable, say)
    while not stop.is_set():
        arming = _to_arm(targets, catch_up)
        armed, catch_up, missing = arming.armed, arming.catch_up, arming.missing
        parents = arming.parents if with_parents else []
        existing = [*arming.existing, *parents]  # a parent posts only the missing folder
        if not existing:
            if stop.wait(rearm_ms / 1000):
                return
            continue
        try:
            followed.armed.set()  # the watch starts below; a change before it is caught up on
            for changes in watchfiles.watch(
                *existing,
                watch_filter=relevant,
                debounce=debounce_ms,
                step=step_ms,
                stop_event=wake,
                rust_timeout=min(rearm_ms, MISSING_CHECK_MS) if missing else rearm_ms,
                yield_on_timeout=True,
                raise_interrupt=False,
                recursive=False,
            ):
                if changes or catch_up:
                    # The first yield after arming (a change or a quiet tick): the watch is armed
                    # now. A change made between the reader's look and this moment is caught up.
                    post(frozenset(Path(raw) for _change, raw in changes) | catch_up)
                catch_up = frozenset()
                # A watched folder removed: re-arm, even when one made again at its path got
                # the freed inode back (the identity check then sees nothing replaced, and the
                # dead watch never reports again).
                if _replaced(armed) or any(
                    change == watchfiles.Change.deleted and Path(raw) in armed
                    for change, raw in changes
                ):
                    catch_up = targets.everything()
                    post(catch_up)
                    break
        except (OSError, RuntimeError) as error:
            if parents:  # maybe a parent's watch: watch without them (the tick notices)
                log.info("watching %s failed: %s; again without %s", existing, error, parents)
                with_parents = False
                continue
            # A folder vanished while arming, or the OS refused a watch: retry after a pause.
            log.warning("watching %s failed: %s", existing, error)
            if stop.wait(rearm_ms / 1000):
                return
