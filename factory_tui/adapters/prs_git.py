"""Local pull requests, for factories without GitHub, read through :class:`GitRepo`.

- An *open* local PR is an agent branch (from the claims, ``SESSION-START branch=`` and the
  worktrees) that is not merged into main: its changed files, line counts and diff are taken
  against its merge base with main.
- A *merged* local PR is a squash commit on main's first-parent history whose subject ends with
  ``(#N)`` or that carries a ``Factory-Branch:`` trailer (the squash merges
  :meth:`GitRepo.squash_merge` makes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from factory_tui.adapters.git import HEX, GitError, GitRepo
from factory_tui.adapters.git_formats import Worktree, commit_time, parse_numstat
from factory_tui.core.modes_paths import ChangedFile
from factory_tui.core.prs import PullRequest
from factory_tui.core.prs_link import branch_slug

__all__ = ["history", "local_pr_diff", "merged_prs", "open_prs", "review_note_path"]

_PR_SUFFIX = re.compile(r"\s*\(#(\d+)\)\s*$")
_SEP = "\x1e"


@dataclass(frozen=True, slots=True)
class MainCommit:
    sha: str
    parents: tuple[str, ...]
    at: datetime
    author: str
    subject: str
    number: int | None
    """``N`` of a subject ending with ``(#N)``."""
    branch: str | None
    """The ``Factory-Branch:`` trailer."""
    heads: tuple[str, ...]
    """The ``Factory-Head:`` trailers: branch tips this squash commit merged."""


_CACHE: dict[tuple[str, ...], Any] = {}
"""Answers that depend on commit ids only (content-addressed, so never stale)."""
_CACHE_MAX = 4096


def _remember(key: tuple[str, ...], value: object) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = value


def review_note_path(reviews_dir: Path, branch: str) -> Path:
    """Where a request for changes on the local PR of ``branch`` is left for the agent:
    ``<reviews_dir>/review-<branch slug>.md``, in the factory's own state (never in the agent's
    worktree, where it would be the agent's uncommitted file)."""
    return reviews_dir / f"review-{branch_slug(branch)}.md"


def commit_numstats(git: GitRepo, shas: Sequence[str]) -> dict[str, tuple[ChangedFile, ...]]:
    """Each (single-parent) commit's changed files against its parent, in one git call
    for the commits not seen before."""
    found: dict[str, tuple[ChangedFile, ...]] = {}
    missing = []
    for sha in shas:
        known = _CACHE.get(("show", sha))
        if isinstance(known, tuple):
            found[sha] = known
        else:
            missing.append(sha)
    if not missing:
        return found
    out = git.run(
        "show", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv",
        "--format=%x1e%H", *missing, "--",
    )  # fmt: skip
    for chunk in out.split(_SEP):
        sha, _, rest = chunk.partition("\0")
        if HEX.fullmatch(sha):
            found[sha] = parse_numstat(rest.lstrip("\n"))
            _remember(("show", sha), found[sha])
    return found


def _compare(git: GitRepo, main: str, tip: str) -> tuple[tuple[ChangedFile, ...], datetime] | None:
    """What branch ``tip`` brings that ``main`` lacks: (files, first commit's time), or
    ``None`` when nothing (merged, unrelated, or all already on main). A pure function of
    the two commits, so it is cached by their ids."""
    key = ("compare", main, tip)
    if key in _CACHE:
        return _CACHE[key]  # type: ignore[no-any-return]
    result: tuple[tuple[ChangedFile, ...], datetime] | None = None
    times = git.run("log", "--format=%ct", f"{main}..{tip}").split()
    if times:
        try:
            files = git.numstat(main, tip, merge_base=True)
        except GitError:
            files = ()  # no merge base: an unrelated history is no PR against main
        if files:
            paths = [f.path for f in files] + [f.old_path for f in files if f.old_path]
            same, _, _ = git.call("diff", "--quiet", main, tip, "--", *paths, ok=(0, 1))
            if same != 0:
                result = (files, commit_time(int(times[-1])))
    _remember(key, result)
    return result


def local_pr_diff(git: GitRepo, pr: PullRequest) -> str:
    """The unified diff a local PR shows: branch against its merge base, or a squash commit
    against its parent."""
    if pr.state == "merged" and pr.merge_sha:
        return git.diff(pr.merge_sha + "^", pr.merge_sha)
    if not pr.branch:
        raise GitError(f"{pr.key} names no branch", "no-branch")
    tip = git.rev(f"refs/heads/{pr.branch}")
    if tip is None:
        raise GitError(f"there is no local branch {pr.branch!r} any more", "no-branch")
    return git.run(
        "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
        f"{git.main_sha()}...{tip}", "--",
    )  # fmt: skip


def history(git: GitRepo, limit: int = 500) -> tuple[MainCommit, ...]:
    """Main's recent first-parent history, newest first (cached by main's commit id)."""
    main = git.main_sha()
    known = _CACHE.get(("history", main, str(limit)))
    if isinstance(known, tuple):
        return known
    fmt = (
        "%H%x00%P%x00%ct%x00%an%x00%s%x00"
        "%(trailers:key=Factory-Branch,valueonly,separator=%x2C)%x00"
        "%(trailers:key=Factory-Head,valueonly,separator=%x2C)%x1e"
    )
    out = git.run("log", "--first-parent", f"--max-count={limit}", "--format=" + fmt, main)
    commits: list[MainCommit] = []
    for record in out.split(_SEP):
        parts = record.strip("\n").split("\0")
        if len(parts) != 7 or not parts[2].isdigit():
            continue
        sha, parents, stamp, author, subject, branches, heads = parts
        match = _PR_SUFFIX.search(subject)
        commits.append(
            MainCommit(
                sha=sha,
                parents=tuple(parents.split()),
                at=commit_time(int(stamp)),
                author=author,
                subject=subject,
                number=int(match.group(1)) if match else None,
                branch=branches.split(",")[0].strip() or None,
                heads=tuple(h.strip() for h in heads.split(",") if h.strip()),
            )
        )
    _remember(("history", main, str(limit)), tuple(commits))
    return tuple(commits)


def open_prs(
    git: GitRepo,
    branches: Iterable[str],
    *,
    worktrees: Sequence[Worktree] | None = None,
    reviews_dir: Path | None = None,
) -> list[PullRequest]:
    """Each of ``branches`` that exists locally and has changes main does not have; changes
    are requested when its review note in ``reviews_dir`` is newer than its last commit."""
    main = git.main_sha()
    tips = git.branch_tips()
    trees = {w.branch: w for w in (worktrees or git.worktrees()) if w.branch}
    merged_heads = {head for commit in history(git) for head in commit.heads}
    out: list[PullRequest] = []
    for branch in dict.fromkeys(branches):
        if branch == git.main or branch not in tips:
            continue
        branch_tip = tips[branch]
        tip = branch_tip.sha
        if tip in merged_heads:
            continue
        compared = _compare(git, main, tip)
        if compared is None:
            continue  # merged, nothing new, unrelated, or every change already on main
        files, created = compared
        tree = trees.get(branch)
        dirty = git.status(tree.path, untracked="normal") if tree is not None else ()
        asked = False
        if reviews_dir is not None and branch_tip.committed_at is not None:
            note = review_note_path(reviews_dir, branch)
            try:
                noted = commit_time(note.stat().st_mtime)
            except OSError:
                noted = None
            asked = noted is not None and noted >= branch_tip.committed_at
        out.append(
            PullRequest(
                source="local",
                number=None,
                branch=branch,
                title=branch_tip.subject,
                state="open",
                base=git.main,
                created_at=created,
                files=files,
                additions=sum(f.additions for f in files),
                deletions=sum(f.deletions for f in files),
                ci="none",
                ci_detail="no CI for a local branch",
                head_sha=tip,
                worktree=str(tree.path) if tree is not None else None,
                worktree_dirty=dirty,
                author=branch_tip.author,
                changes_requested=asked,
            )
        )
    return out


def merged_prs(git: GitRepo, since: datetime) -> list[PullRequest]:
    """Squash commits on main since ``since`` (subject ``... (#N)`` or a ``Factory-Branch``
    trailer), newest first."""
    picked = [
        c
        for c in history(git)
        if c.at >= since and len(c.parents) == 1 and (c.number is not None or c.branch)
    ]
    files = commit_numstats(git, [c.sha for c in picked])
    prs: list[PullRequest] = []
    for commit in picked:
        changed = files.get(commit.sha, ())
        prs.append(
            PullRequest(
                source="local",
                number=commit.number,
                branch=commit.branch,
                title=_PR_SUFFIX.sub("", commit.subject),
                state="merged",
                base=git.main,
                merged_at=commit.at,
                files=changed,
                additions=sum(f.additions for f in changed),
                deletions=sum(f.deletions for f in changed),
                merge_sha=commit.sha,
                author=commit.author,
            )
        )
    return prs
