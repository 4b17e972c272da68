"""What git prints, read into values, and the dates it is given (for the git adapter).

The porcelain outputs (``git worktree list --porcelain -z``, ``git status --porcelain=v1 -z``,
``git diff --numstat -z -M``) are NUL-separated, so any path reads back whole.

Times: git gives commit times as Unix seconds; :func:`commit_time` turns them into naive local
datetimes (the factory's files are in naive local time), the one place that does. A time given
to git (:meth:`~factory_tui.adapters.git.GitRepo.commit`) is an instant: an aware datetime as it
is, a naive one as local (:func:`dated`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_tui.core.modes_paths import ChangedFile

__all__ = [
    "BranchTip",
    "Worktree",
    "commit_time",
    "dated",
    "parse_numstat",
    "parse_status",
    "parse_worktree_list",
]


@dataclass(frozen=True, slots=True)
class Worktree:
    """One entry of ``git worktree list --porcelain``."""

    path: Path
    head: str | None
    branch: str | None
    """The short branch name (``feat/x``), ``None`` when detached or bare."""
    is_main: bool
    locked: bool = False
    prunable: bool = False
    bare: bool = False


def parse_worktree_list(text: str) -> list[Worktree]:
    """Parse ``git worktree list --porcelain -z``: ``key value`` fields ending with NUL, a block
    ending with an empty field; the first block is the main worktree."""
    out: list[Worktree] = []
    fields: dict[str, str] = {}
    for item in [*text.split("\0"), ""]:
        if item:
            key, _, value = item.partition(" ")
            fields[key] = value
            continue
        if "worktree" in fields:
            ref = fields.get("branch")
            out.append(
                Worktree(
                    path=Path(fields["worktree"]),
                    head=fields.get("HEAD") or None,
                    branch=ref.removeprefix("refs/heads/") if ref else None,
                    is_main=not out,
                    locked="locked" in fields,
                    prunable="prunable" in fields,
                    bare="bare" in fields,
                )
            )
        fields.clear()
    return out


def parse_status(out: str) -> tuple[str, ...]:
    """``git status --porcelain=v1 -z`` entries (``XY path``); a rename's or copy's source path,
    which follows as its own NUL-ended field, is skipped (``R``/``C`` in either column: a
    worktree rename of an intent-to-add file has it in the second)."""
    entries: list[str] = []
    items = out.split("\0")
    index = 0
    while index < len(items):
        entry = items[index]
        index += 1
        if len(entry) < 4:
            continue
        entries.append(entry)
        if "R" in entry[:2] or "C" in entry[:2]:
            index += 1
    return tuple(entries)


def parse_numstat(out: str) -> tuple[ChangedFile, ...]:
    """``git diff --numstat -z -M`` output: ``A\tD\tpath\0``, or for a rename
    ``A\tD\t\0old\0new\0``; ``-`` counts for a binary file."""
    items = out.split("\0")
    files: list[ChangedFile] = []
    index = 0
    while index < len(items):
        head = items[index]
        index += 1
        if not head.strip():
            continue
        added, _, rest = head.partition("\t")
        deleted, _, path = rest.partition("\t")
        old: str | None = None
        if not path and index + 1 < len(items):
            old, path = items[index], items[index + 1]
            index += 2
        binary = added == "-"
        files.append(
            ChangedFile(
                path,
                0 if binary or not added.isdigit() else int(added),
                0 if binary or not deleted.isdigit() else int(deleted),
                "R" if old is not None else "M",
                old,
                binary,
            )
        )
    return tuple(files)


def commit_time(seconds: float) -> datetime:
    """Unix seconds (git's ``%ct`` and ``committerdate:unix``, a file's mtime) as a naive local
    datetime: the factory's files are in naive local time, so these compare with them."""
    return datetime.fromtimestamp(seconds)


def dated(when: datetime) -> dict[str, str]:
    """The environment that makes a commit's author and committer date ``when``: an aware
    datetime is its instant, a naive one is local time (``+0000`` is written either way)."""
    stamp = f"@{int(when.timestamp())} +0000"
    return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


@dataclass(frozen=True, slots=True)
class BranchTip:
    sha: str
    author: str
    subject: str
    committed_at: datetime | None
