"""Each agent's live Claude Code transcript, found from what is known of it and read as it grows.

Which file, for one agent (instance):

1. its folder: the working directory of its live process when the process table knows it, else
   the worktree its branch is checked out in (git's own files, see
   :func:`~factory_tui.adapters.worktrees.worktree_branches`);
2. Claude Code's project folder for that path under every configured ``claude_config_dir``
   (:func:`~factory_tui.config.locations.project_dir_candidates`, the cost reader's encoding);
3. the newest ``*.jsonl`` there written since its session's SESSION-START (a minute of slack:
   the log has minute precision).

How: one :class:`~factory_tui.adapters.tail.LogTail` and one
:class:`~factory_tui.core.activity.ActivityFold` per agent; a refresh costs a few ``stat`` calls
per agent plus the bytes appended. When the newest file changes (a new session) the fold starts
over on it. A line longer than ``max_line_bytes`` is skipped (counted as a problem), never parsed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from factory_tui.adapters.tail import LogTail
from factory_tui.adapters.worktrees import Worktrees
from factory_tui.config.locations import CLAUDE_PROJECT_NAME_MAX, project_dir_candidates
from factory_tui.core.activity import ActivityFold, AgentActivity
from factory_tui.core.fleet import InstanceView, ProcInfo
from factory_tui.core.timeparse import parse_ts

__all__ = ["AgentTranscripts", "newest_transcript"]

_SLACK = timedelta(minutes=1)
_MAX_REMEMBERED = 256
MAX_LINE_BYTES = 16 << 20


def newest_transcript(folders: Iterable[Path], since: datetime | None) -> Path | None:
    """The most recently written ``*.jsonl`` directly in any of ``folders`` (regular files
    only), modified at or after ``since`` (naive local time) less a minute; None if none."""
    best: tuple[int, str] | None = None
    floor = (since - _SLACK).timestamp() if since is not None else None
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".jsonl"):
                continue
            try:
                if not entry.is_file():
                    continue
                mtime = entry.stat().st_mtime_ns
            except OSError:
                continue
            if floor is not None and mtime / 1e9 < floor:
                continue
            if best is None or (mtime, entry.path) > best:
                best = (mtime, entry.path)
    return Path(best[1]) if best is not None else None


@dataclass
class _Followed:
    path: Path
    tail: LogTail
    fold: ActivityFold
    stamp: tuple[int, int, int] | None = None
    """(inode, size, mtime) when last read to its end; None while there is more to read."""


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class AgentTranscripts:
    """Follows each agent's transcript; :meth:`refresh` answers their activities.

    Not thread-safe: refresh it from one worker (the fleet reader's)."""

    def __init__(
        self,
        claude_dirs: Sequence[Path],
        root: Path,
        *,
        tz: tzinfo | None = None,
        chunk_bytes: int = 1 << 20,
        max_line_bytes: int = MAX_LINE_BYTES,
        budget_bytes: int = 32 << 20,
    ) -> None:
        """``budget_bytes``: at most about this much of one transcript is read per refresh (a
        long session's first read is spread over several, so no refresh stalls on it)."""
        self.claude_dirs = tuple(claude_dirs)
        self.root = root
        self.tz = tz
        self.chunk_bytes = chunk_bytes
        self.max_line_bytes = max_line_bytes
        self.budget_bytes = budget_bytes
        self._followed: dict[str, _Followed] = {}
        self._worktrees: Worktrees | None = None
        self._candidates: dict[Path, list[Path]] = {}
        """Each agent folder's project folders (a ``realpath`` walk and an encoding): made
        again when the worktrees changed (every derive asks, issue 17)."""
        self._generation = -1
        self.problems: list[str] = []
        self.looking: frozenset[Path] = frozenset()
        """Where a live agent's transcript would be, for the agents none was found for yet
        (Claude Code project folders, existing or not): the cockpit watches them too."""

    def close(self) -> None:
        for followed in self._followed.values():
            followed.tail.close()
        self._followed.clear()

    def changed(self) -> bool:
        """Whether a followed transcript grew (or changed) since it was read, or one is still
        being caught up on: one ``stat`` per agent. A new session's file is found by the next
        :meth:`refresh`."""
        return any(f.stamp is None or _stamp(f.path) != f.stamp for f in self._followed.values())

    def followed(self) -> tuple[Path, ...]:
        """The transcripts read now, one per agent (the cockpit's watcher watches them)."""
        return tuple(sorted(f.path for f in self._followed.values()))

    def folder_of(
        self,
        view: InstanceView,
        procs: Mapping[int, ProcInfo],
        worktrees: Mapping[Path, str | None],
    ) -> Path | None:
        """Where the agent works: its process's cwd, else its branch's worktree."""
        info = procs.get(view.pid) if view.pid is not None and view.alive else None
        if info is not None and info.cwd:
            return Path(info.cwd)
        if view.branch:
            for path, branch in worktrees.items():
                if branch == view.branch:
                    return path
        return None

    def candidates(self, folder: Path) -> list[Path]:
        """The Claude Code project folders an agent working in ``folder`` writes to."""
        out: list[Path] = []
        for claude in self.claude_dirs:
            for form in dict.fromkeys((folder, Path(os.path.realpath(folder)))):
                out.extend(project_dir_candidates(claude, form))
        return out

    def _candidates_of(self, folder: Path) -> list[Path]:
        """:meth:`candidates`, remembered until the worktrees change (at most
        ``_MAX_REMEMBERED`` folders: the processes' working folders come and go)."""
        found = self._candidates.get(folder)
        if found is None:
            found = self.candidates(folder)
            # A long path's candidates include the folders found by listing (their hash may
            # not be ours): those are looked for again each time.
            if all(len(c.name) <= CLAUDE_PROJECT_NAME_MAX for c in found):
                if len(self._candidates) >= _MAX_REMEMBERED:
                    self._candidates.clear()
                self._candidates[folder] = found
        return found

    def _worktree_branches(self) -> dict[Path, str | None]:
        """The worktrees (read again only when git's files changed); the remembered candidates
        forgotten when they did (a worktree moved, a folder's symlink may have too)."""
        if self._worktrees is None:
            self._worktrees = Worktrees(self.root)
        branches = self._worktrees.branches()
        if self._worktrees.generation != self._generation:
            self._generation = self._worktrees.generation
            self._candidates.clear()
        return branches

    def transcript_of(self, folder: Path, since: datetime | None) -> Path | None:
        return newest_transcript(self.candidates(folder), since)

    def refresh(
        self,
        instances: Iterable[InstanceView],
        procs: Mapping[int, ProcInfo] | None = None,
    ) -> dict[str, AgentActivity]:
        """The activity of every agent (not ended) whose transcript is found."""
        self.problems = []
        procs = procs or {}
        live = [view for view in instances if view.status != "ended"]
        self.looking = frozenset()
        if not live:
            self.close()
            return {}
        worktrees = self._worktree_branches()
        out: dict[str, AgentActivity] = {}
        looking: set[Path] = set()
        for view in live:
            folder = self.folder_of(view, procs, worktrees)
            if folder is None:
                continue
            started = view.session.started_at if view.session is not None else None
            since = parse_ts(started) if started else None
            candidates = self._candidates_of(folder)
            path = newest_transcript(candidates, since)
            if path is None:
                looking.update(candidates)
                continue
            out[view.id] = self._read(view.id, path)
        self.looking = frozenset(looking)
        for gone in set(self._followed) - set(out):
            self._followed.pop(gone).tail.close()
        return out

    def _read(self, instance: str, path: Path) -> AgentActivity:
        followed = self._followed.get(instance)
        if followed is None or followed.path != path:
            if followed is not None:
                followed.tail.close()
            followed = _Followed(
                path,
                LogTail(path, chunk_bytes=self.chunk_bytes, overlap_lines=0),
                ActivityFold(str(path), tz=self.tz),
            )
            self._followed[instance] = followed
        fold = followed.fold
        limit = self.max_line_bytes
        stamp = _stamp(path)
        start = followed.tail.offset
        followed.stamp = None
        while (chunk := followed.tail.poll()) is not None:
            if chunk.reset is not None:  # truncated, replaced or re-created: start over
                fold = followed.fold = ActivityFold(str(path), tz=self.tz)
            for line in chunk.lines:
                if len(line) > limit:
                    fold.skip_line()
                    continue
                fold.feed_line(line)
            if followed.tail.offset - start >= self.budget_bytes:
                break  # the rest on the next refresh
        else:
            followed.stamp = stamp
        if followed.tail.last_error:
            self.problems.append(followed.tail.last_error)
        return fold.activity()
