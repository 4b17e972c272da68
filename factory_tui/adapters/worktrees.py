"""The worktrees of the factory's repository and the branch each has checked out, read from git's
own files (no subprocess). Apart from :mod:`factory_tui.adapters.transcripts` so that what needs
only this (an agent's activity, in every ``status``) does not import the cost machinery."""

from __future__ import annotations

import os
from pathlib import Path

from factory_tui.config import main_worktree

__all__ = ["worktree_branches"]


def _head_branch(head_file: Path) -> str | None:
    try:
        text = head_file.read_text(encoding="utf-8", errors="replace").strip()
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
                gitdir = (folder / "gitdir").read_text(encoding="utf-8").strip()
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
