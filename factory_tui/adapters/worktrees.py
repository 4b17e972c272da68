"""The worktrees of the factory's repository and the branch each has checked out, read from git's
own files (no subprocess). Apart from :mod:`factory_tui.adapters.transcripts` so that what needs
only this (an agent's activity, in every ``status``) does not import the cost machinery."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from factory_tui.adapters.jsonfiles import RACY_NS
from factory_tui.config import main_worktree
from factory_tui.config.regular_files import GIT_FILE_BYTES, read_regular

__all__ = ["Worktrees", "worktree_branches"]


def _git_file(path: Path) -> str:
    """One of git's small files, stripped (a FIFO there: never waited on)."""
    return read_regular(path, GIT_FILE_BYTES, whole=False).decode(errors="replace").strip()


def _head_branch(head_file: Path) -> str | None:
    try:
        text = _git_file(head_file)
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return text[len(prefix) :] if text.startswith(prefix) else None


def worktree_branches(root: Path) -> dict[Path, str | None]:
    """Every worktree of ROOT's repository (main first) → its checked-out branch (None:
    detached or unknown), read from git's files."""
    root = Path(root)
    main = main_worktree(root) or root
    out: dict[Path, str | None] = {}
    common = main / ".git"
    if common.is_dir():
        out[main] = _head_branch(common / "HEAD")
        try:
            entries = sorted(os.scandir(common / "worktrees"), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            folder = Path(entry.path)
            try:
                gitdir = _git_file(folder / "gitdir")
            except OSError:
                continue
            if not gitdir:
                continue
            tree = Path(gitdir)
            if not tree.is_absolute():
                tree = folder / tree
            out[tree.parent] = _head_branch(folder / "HEAD")
    else:
        out[main] = None
    if root not in out:
        out[root] = None
    return out


def _key(path: Path, *, folder_by_identity: bool = False) -> tuple[int, int, int, int, int] | None:
    """What changes when ``path`` is replaced or rewritten (its times: ``ctime`` too), or a
    folder's entries change (with ``folder_by_identity`` only when it is replaced: a ``.git``
    folder's times move with every file git writes in it); None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if folder_by_identity and stat.S_ISDIR(st.st_mode):
        return (st.st_ino, st.st_mode, 0, 0, 0)
    return (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(key: object, racy_after: int) -> bool:
    """Whether a :func:`_key` is of a file unchanged since ``racy_after`` (ns), by its
    ``ctime`` (every change sets it to the clock; ``mtime`` can be set ahead)."""
    return not isinstance(key, tuple) or key[4] <= racy_after


class Worktrees:
    """:func:`worktree_branches` of one repository for callers that ask again and again (every
    derive of the fleet, every re-read of the spend): read again only when one of git's files
    it comes from changed, which a ``stat`` each tells (ROOT's ``.git``, the main ``HEAD``, the
    ``worktrees`` folder, each worktree's ``gitdir`` and ``HEAD``: git rewrites them whole, by
    rename or in place), instead of reading two files per worktree each time (issue 17).

    ``generation`` goes up each time the worktrees are read again (callers that derive
    something from them know when to derive it again). Not thread-safe: one thread asks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.generation = 0
        self._branches: dict[Path, str | None] = {}
        self._files: tuple[Path, ...] = ()
        self._stamp: tuple[object, ...] | None = None
        """git's files' keys when last read; None: read them at the next call (never read, or
        one changed too recently for its key to be trusted)."""
        self._seen: tuple[object, ...] | None = None
        """Their keys when last read, trusted or not."""

    def branches(self) -> dict[Path, str | None]:
        """Every worktree (main first) → its checked-out branch, as :func:`worktree_branches`."""
        if self._stamp is None or self._stamp != self._keys():
            racy = time.time_ns() - RACY_NS  # before the stats it judges
            self._files = self._sources()
            # Before the read: a change made while it reads is seen at the next call. A file
            # changed lately is read again at the next call: git rewrites HEAD by a rename
            # that can give back the old inode, at the same size within a timestamp tick.
            stamp = self._keys()
            branches = worktree_branches(self.root)
            # Kept only if the files are the ones stamped still: a symlinked .git re-pointed
            # during the read kept the other repository's branches under this one's stamp.
            settled = all(_settled(key, racy) for key in stamp)
            self._stamp = stamp if settled and self._keys() == stamp else None
            # A new generation when git's files changed (a folder's symlink may have too) or
            # what they say did; not for a read again only because the last was racy.
            if stamp != self._seen or branches != self._branches:
                self._seen, self._branches = stamp, branches
                self.generation += 1
        return dict(self._branches)

    def _keys(self) -> tuple[object, ...]:
        return (
            _key(self.root / ".git", folder_by_identity=True),
            *(_key(path) for path in self._files),
        )

    def _sources(self) -> tuple[Path, ...]:
        """The files the worktrees are read from now (besides ROOT's ``.git``)."""
        common = (main_worktree(self.root) or self.root) / ".git"
        folder = common / "worktrees"
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        files = [common / "HEAD", folder]
        for name in names:
            files += [folder / name / "gitdir", folder / name / "HEAD"]
        return tuple(files)
