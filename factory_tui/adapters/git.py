"""git, the one adapter: :class:`GitRepo` runs the ``git`` command through GitPython for
recovery (where a branch is checked out or in use, how far it is from main, what is uncommitted,
the diffs for a review, deleting a branch), the local PR queue (branch tips, numstats, diffs,
the squash merge) and the demo (commits with given author dates).

Every command is an argv list (never a shell); branch names are passed as full ref names
(``refs/heads/<name>``) so a name can never be read as an option. Every command runs with
``GIT_OPTIONAL_LOCKS=0`` (a ``git status`` here never takes the index lock an agent working in
the same worktree may need), and with hooks, fsmonitor, external diff and textconv drivers off
(the repository's config is agent-writable), and a timeout.

What git prints is read, and the dates it is given are made, in
:mod:`~factory_tui.adapters.git_formats`.

The squash merge (:meth:`GitRepo.plan_squash`, :meth:`GitRepo.squash_merge`) never leaves
anything half done: the merge is computed with ``git merge-tree --write-tree`` (no worktree
touched; a conflict changes nothing at all), committed with ``git commit-tree``, and main moves
only by a fast-forward in its own clean worktree (or a compare-and-swap ``update-ref`` when main
is checked out nowhere). The branch is never touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from factory_tui.adapters.git_formats import (
    BranchTip,
    Worktree,
    commit_time,
    dated,
    parse_numstat,
    parse_status,
    parse_worktree_list,
)
from factory_tui.config.regular_files import read_regular
from factory_tui.core.modes_paths import ChangedFile

__all__ = [
    "GIT_MISSING",
    "GitError",
    "GitMissing",
    "GitRepo",
    "SquashPlan",
    "branch_worktree",
]

GIT_MISSING = (
    "git is not installed or not on PATH: install git (apt-get install git) or set "
    "GIT_PYTHON_GIT_EXECUTABLE to its path"
)

#: A diff longer than this is cut (with a note) before it reaches a screen.
MAX_DIFF_BYTES = 2 << 20


GitErrorKind = Literal["missing", "timeout", "failed", "no-main", "no-branch", "old-git"]
HEX = re.compile(r"[0-9a-f]{40,64}")


class GitError(Exception):
    """A git command failed; ``str()`` says which command, where, git's own words, and what to
    do."""

    def __init__(self, message: str, kind: GitErrorKind = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class GitMissing(GitError):
    """No git executable: nothing about the repository can be known (it is not "not a git
    repository"); ``str()`` says what to install."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(GIT_MISSING + (f" ({detail})" if detail else ""), "missing")


def gitpython() -> Any:
    """GitPython, imported on first use: without a git executable its import raises ImportError
    (unless ``GIT_PYTHON_REFRESH=quiet``, set here, so that the first command says it instead);
    :class:`GitMissing` either way, never the ImportError."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    try:
        import git
    except ImportError as error:
        raise GitMissing(str(error).splitlines()[0] if str(error) else "") from None
    return git


@dataclass(frozen=True, slots=True)
class SquashPlan:
    """What a squash merge of ``branch`` into main would do, computed without touching a thing."""

    branch: str
    main: str
    main_sha: str
    head_sha: str
    tree: str | None
    """The merged tree; ``None`` when there are conflicts."""
    conflicts: tuple[str, ...]
    main_worktree: Path | None
    dirty: tuple[str, ...]
    """Uncommitted changes to tracked files in main's worktree (``git status`` lines)."""
    author: tuple[str, str]
    """The branch tip's author (name, email): the squash commit's author."""

    @property
    def clean(self) -> bool:
        return self.tree is not None and not self.dirty


#: The demo's git: nothing of the user's or the system's config (commit ids must not depend on it).
ISOLATED_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


class GitRepo:
    """One repository (any of its worktrees may be ``root``) and the name of its main branch.

    ``env`` is added to every command's environment (the demo passes :data:`ISOLATED_ENV`).
    """

    def __init__(
        self,
        root: Path,
        *,
        main: str = "main",
        timeout_s: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.main = main
        self.timeout_s = timeout_s
        self.env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "GIT_EDITOR": "true",
            **(env or {}),
        }

    # -- running ---------------------------------------------------------------------------------

    def call(
        self,
        *args: str,
        cwd: Path | None = None,
        ok: Sequence[int] = (0,),
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        """``git -C <cwd> <safety options> ARGS`` (``cwd`` default: the root); (status, stdout,
        stderr), or :class:`GitError` when the status is not in ``ok``."""
        where = cwd or self.root
        argv = [
            "git",
            "-C", str(where),
            "-c", "core.hooksPath=" + os.devnull,
            "-c", "core.fsmonitor=false",
            "-c", "core.quotePath=false",
            "-c", "color.ui=false",
            "-c", "diff.external=",
            *args,
        ]  # fmt: skip
        git = gitpython()
        try:
            status, out, err = git.Git(str(where)).execute(
                argv,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                kill_after_timeout=self.timeout_s,
                env={**self.env, **(env or {})},
                strip_newline_in_stdout=False,
            )
        except git.GitCommandNotFound:
            raise GitMissing() from None
        except OSError as error:
            raise GitError(f"git {' '.join(args[:2])} could not start in {where}: {error}") from (
                error
            )
        err = _decode(err)
        if err.startswith("Timeout:"):
            raise GitError(
                f"git {' '.join(args[:2])} in {where} took over {self.timeout_s:g} s and was "
                "stopped",
                "timeout",
            )
        if status not in ok:
            if "not a git repository" in err:
                raise GitError(f"{where} is not a git repository")
            lines = [line.strip() for line in (err or _decode(out)).splitlines() if line.strip()]
            said = [line for line in lines if line.startswith(("fatal:", "error:"))]
            first = (said or lines or [f"exit status {status}"])[-1 if not said else 0]
            raise GitError(f"git {' '.join(args[:2])} failed in {where}: {first}")
        return status, bytes(out or b""), err

    def run(self, *args: str, cwd: Path | None = None) -> str:
        """``git ARGS`` in ``cwd`` (default: the root); its stdout, or :class:`GitError`."""
        return _decode(self.call(*args, cwd=cwd)[1])

    def _ok(self, *args: str, cwd: Path | None = None) -> bool:
        """Did the command succeed? A missing git is no answer: :class:`GitMissing` is raised."""
        try:
            self.run(*args, cwd=cwd)
        except GitMissing:
            raise
        except GitError:
            return False
        return True

    # -- reading ---------------------------------------------------------------------------------

    def is_repo(self) -> bool:
        return self._ok("rev-parse", "--git-dir")

    def worktrees(self) -> list[Worktree]:
        return parse_worktree_list(self.run("worktree", "list", "--porcelain", "-z"))

    def main_worktree(self) -> Worktree | None:
        """The worktree that has main checked out, if any."""
        return self.worktree_for(self.main)

    def worktree_for(self, branch: str) -> Worktree | None:
        """The worktree that has ``branch`` checked out, if any."""
        return next((w for w in self.worktrees() if w.branch == branch), None)

    def worktree_using(self, branch: str) -> tuple[Worktree, str] | None:
        """The worktree that uses ``branch`` and how: ``being rebased`` or ``being bisected``
        (the operation returns to the branch when it ends; a bisect may not have left it yet),
        ``being merged`` into its branch (``MERGE_HEAD`` is the branch's tip), or else
        ``checked out`` on it. An operation in any worktree wins over a plain checkout: the
        branch's own worktree, which deleting the branch removes, must not hide another
        worktree's merge of it."""
        ref = f"refs/heads/{branch}"
        tip: str | None = None
        checked_out: Worktree | None = None
        for tree in self.worktrees():
            if tree.branch == branch and checked_out is None:
                checked_out = tree
            gitdir = None if tree.bare else _git_dir(tree.path)
            if gitdir is None:
                continue
            for name, how in (
                ("rebase-merge/head-name", "being rebased"),
                ("rebase-apply/head-name", "being rebased"),
                ("BISECT_START", "being bisected"),
            ):
                if _first_line(gitdir / name) in (ref, branch):
                    return tree, how
            merging = (gitdir / "MERGE_HEAD").is_file()
            if merging and (tip := tip or self.branch_sha(branch)) is not None:
                heads = _read_text(gitdir / "MERGE_HEAD").split()
                if tip in heads:
                    return tree, "being merged"
        return None if checked_out is None else (checked_out, "checked out")

    def branch_sha(self, branch: str) -> str | None:
        """The commit ``refs/heads/<branch>`` points at; ``None`` when there is no such branch."""
        try:
            out = self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        except GitMissing:
            raise
        except GitError:
            return None
        return out.strip() or None

    def branch_exists(self, branch: str) -> bool:
        return self.branch_sha(branch) is not None

    def base_branch(self, candidates: Sequence[str] = ("main", "master")) -> str | None:
        """The branch work is measured against: the first of ``candidates`` that exists."""
        return next((name for name in candidates if self.branch_exists(name)), None)

    def ahead_behind(self, branch: str, base: str) -> tuple[int, int]:
        """Commits on ``branch`` not on ``base`` (ahead), and on ``base`` not on ``branch``."""
        out = self.run(
            "rev-list", "--left-right", "--count", f"refs/heads/{base}...refs/heads/{branch}"
        )
        behind, _, ahead = out.strip().partition("\t")
        return int(ahead or 0), int(behind or 0)

    def uncommitted(self, worktree: Path) -> tuple[str, ...]:
        """Paths with changes not committed in ``worktree`` (modified, staged, untracked)."""
        return tuple(entry[3:] for entry in self.status(worktree, untracked="all"))

    def status(
        self, worktree: Path, *, untracked: Literal["all", "normal", "no"]
    ) -> tuple[str, ...]:
        """Uncommitted changes in ``worktree``, one ``git status --porcelain`` entry each."""
        out = self.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=" + untracked, cwd=worktree
        )
        return parse_status(out)

    def branch_tips(self) -> dict[str, BranchTip]:
        """Every local branch's tip."""
        fmt = "%(refname)%00%(objectname)%00%(authorname)%00%(subject)%00%(committerdate:unix)"
        out = self.run("for-each-ref", "--format=" + fmt, "refs/heads/")
        tips: dict[str, BranchTip] = {}
        for line in out.splitlines():
            parts = line.split("\0")
            if len(parts) != 5:
                continue
            ref, sha, name, subject, stamp = parts
            when = commit_time(int(stamp)) if stamp.isdigit() else None
            tips[ref.removeprefix("refs/heads/")] = BranchTip(sha, name, subject, when)
        return tips

    def rev(self, ref: str) -> str | None:
        """The commit ``ref`` names; ``None`` when it names none."""
        status, out, _ = self.call("rev-parse", "--verify", "--quiet", ref + "^{commit}", ok=(0, 1))
        sha = out.decode("ascii", "replace").strip()
        return sha if status == 0 and sha else None

    def main_sha(self) -> str:
        sha = self.rev(f"refs/heads/{self.main}")
        if sha is None:
            raise GitError(
                f'{self.root} has no branch {self.main!r}: set [prs] main = "<branch>" in '
                "factory.toml",
                "no-main",
            )
        return sha

    # -- diffs -----------------------------------------------------------------------------------

    def numstat(self, base: str, tip: str, *, merge_base: bool = False) -> tuple[ChangedFile, ...]:
        """Changed files from ``base`` to ``tip``; with ``merge_base``, from their merge base
        (``base...tip``), as a PR shows them."""
        spec = [f"{base}...{tip}"] if merge_base else [base, tip]
        out = self.run(
            "diff", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv", *spec, "--"
        )
        return parse_numstat(out)

    def diff(self, base: str, tip: str) -> str:
        """The unified diff from ``base`` to ``tip`` (``base`` may be ``main...tip``'s form)."""
        return self.run(
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", base, tip, "--"
        )

    def branch_diff(self, branch: str, base: str, *, max_bytes: int = MAX_DIFF_BYTES) -> str:
        """What the branch changed since it left ``base`` (``base...branch``), as a unified
        diff."""
        out = self.run(
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            f"refs/heads/{base}...refs/heads/{branch}",
            "--",
        )
        return _clip(out, max_bytes)

    def uncommitted_diff(self, worktree: Path, *, max_bytes: int = MAX_DIFF_BYTES) -> str:
        """The worktree's changes against its HEAD (staged and not), then its untracked files."""
        out = self.run(
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", "HEAD", "--", cwd=worktree
        )
        untracked = self.run(
            "ls-files", "--others", "--exclude-standard", "-z", cwd=worktree
        ).split("\0")
        names = [name for name in untracked if name]
        if names:
            out += "".join(f"untracked: {name}\n" for name in names)
        return _clip(out, max_bytes)

    # -- changing (only when the engineer asked) -------------------------------------------------

    def add_worktree(self, path: Path, branch: str, base: str) -> None:
        """A new branch ``branch`` from ``base``, checked out in the new folder ``path``
        (``git worktree add -b``): git refuses an existing branch or a non-empty folder."""
        if base.startswith("-") or branch.startswith("-"):
            raise GitError(f"refusing a branch or base that reads as an option: {branch} {base}")
        self.run("worktree", "add", "--quiet", "-b", branch, str(Path(path).absolute()), base)

    def remove_worktree(self, path: Path) -> None:
        """``git worktree remove`` without ``--force``: git itself refuses a dirty worktree."""
        self.run("worktree", "remove", str(Path(path).resolve()))

    def delete_branch(self, branch: str, expected_sha: str) -> None:
        """Delete ``refs/heads/<branch>`` only if it still points at ``expected_sha``."""
        self.run("update-ref", "-d", f"refs/heads/{branch}", expected_sha)

    def commit(
        self,
        message: str,
        *,
        cwd: Path,
        when: datetime,
        author: tuple[str, str],
        paths: Sequence[str] = (),
    ) -> str:
        """Commit ``paths`` (default: everything) in ``cwd`` (``git add -A``) as ``author``
        (name, email) at ``when`` (author and committer date; see the module's note on times),
        hooks and signing off; the new commit's id. For the demo, which makes its history with
        given dates."""
        name, email = author
        who = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
        self.call(*who, "-c", "core.autocrlf=false", "add", "-A", "--", *paths, cwd=cwd)
        self.call(
            *who, "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false",
            "commit", "-q", "--no-verify", "-m", message, cwd=cwd, env=dated(when),
        )  # fmt: skip
        return self.run("rev-parse", "HEAD", cwd=cwd).strip()

    def commit_tree(
        self, tree: str, parent: str, message: str, *, when: datetime, author: tuple[str, str]
    ) -> str:
        """A commit of ``tree`` on ``parent`` as ``author`` (name, email; committer too) at
        ``when`` (see the module's note on times), made with ``git commit-tree`` (no worktree or
        ref touched, signing off); the new commit's id. For the demo's simulated merges."""
        name, email = author
        _, out, _ = self.call(
            "-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false",
            "commit-tree", tree, "-p", parent, "-m", message, env=dated(when),
        )  # fmt: skip
        return out.decode("ascii", "replace").strip()

    # -- the squash merge --------------------------------------------------------------------

    def plan_squash(self, branch: str) -> SquashPlan:
        """Compute the squash merge of ``branch`` into main; nothing is written but git objects
        (the merged tree), which are harmless when unused."""
        tip = self.rev(f"refs/heads/{branch}")
        if tip is None:
            raise GitError(f"there is no local branch {branch!r}", "no-branch")
        main = self.main_sha()
        tree_wt = self.main_worktree()
        dirty = self.status(tree_wt.path, untracked="no") if tree_wt is not None else ()
        status, out, err = self.call(
            "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", main, tip, ok=(0, 1)
        )
        if status == 0 and not HEX.match(out.decode("ascii", "replace")):
            raise GitError(f"git merge-tree answered no tree: {err.strip()[:80]}")
        items = out.decode("utf-8", "replace").split("\0")
        tree_id = items[0].strip() if items else ""
        if not HEX.fullmatch(tree_id):
            raise GitError(
                "a local squash merge needs git 2.38 or newer (git merge-tree --write-tree); "
                "upgrade git",
                "old-git",
            )
        conflicts = tuple(dict.fromkeys(p for p in items[1:] if p))
        email_line = self.run("log", "-1", "--format=%an%x00%ae", tip).strip()
        name, _, email = email_line.partition("\0")
        return SquashPlan(
            branch=branch,
            main=self.main,
            main_sha=main,
            head_sha=tip,
            tree=tree_id if status == 0 else None,
            conflicts=conflicts if status != 0 else (),
            main_worktree=tree_wt.path if tree_wt is not None else None,
            dirty=dirty,
            author=(name or "unknown", email or "unknown@localhost"),
        )

    def squash_merge(self, plan: SquashPlan, message: str) -> str:
        """Commit ``plan``'s tree on main and move main to it; returns the new main sha.

        Re-checks that main, the branch and main's worktree are as planned. Raises
        :class:`GitError` with main untouched when anything differs or fails.
        """
        if plan.tree is None:
            raise GitError(f"{plan.branch} conflicts with {plan.main}; nothing merged")
        if self.rev(f"refs/heads/{plan.branch}") != plan.head_sha:
            raise GitError(f"{plan.branch} moved since it was checked; nothing merged: look again")
        if self.main_sha() != plan.main_sha:
            raise GitError(f"{plan.main} moved since it was checked; nothing merged: look again")
        if plan.main_worktree is not None:
            dirty = self.status(plan.main_worktree, untracked="no")
            if dirty:
                raise GitError(
                    f"{plan.main_worktree} has uncommitted changes ({', '.join(dirty[:3])}); "
                    "nothing merged"
                )
        env = {"GIT_AUTHOR_NAME": plan.author[0], "GIT_AUTHOR_EMAIL": plan.author[1]}
        try:
            _, out, _ = self.call(
                "commit-tree", plan.tree, "-p", plan.main_sha, "-m", message, env=env
            )
        except GitError as error:
            raise _identity_hint(error) from None
        commit = out.decode("ascii", "replace").strip()
        if not HEX.fullmatch(commit):
            raise GitError(f"git commit-tree answered no commit: {commit[:80]!r}")
        if plan.main_worktree is not None:
            try:
                self.run("merge", "--ff-only", "--no-stat", "-q", commit, cwd=plan.main_worktree)
            except GitError as error:
                raise GitError(
                    f"main's worktree {plan.main_worktree} could not be fast-forwarded "
                    f"({error}); {plan.main} is unchanged"
                ) from None
        else:
            self.run(
                "update-ref",
                "-m",
                f"factory-tui: squash merge {plan.branch}",
                f"refs/heads/{plan.main}",
                commit,
                plan.main_sha,
            )
        if self.main_sha() != commit:
            raise GitError(f"{plan.main} is not at the squash commit {commit[:7]} after the merge")
        return commit


def branch_worktree(root: Path, branch: str | None) -> Path | None:
    """The worktree that has ``branch`` checked out in the repo at ``root``; None when there
    is no branch, no such worktree, or git cannot tell (the caller goes on without one)."""
    if not branch:
        return None
    try:
        tree = GitRepo(root).worktree_for(branch)
    except GitError:
        return None
    return tree.path if tree is not None else None


def _identity_hint(error: GitError) -> GitError:
    text = str(error)
    if "identity" in text.lower() or "tell me who you are" in text.lower():
        return GitError(
            'git does not know who you are: run `git config --global user.name "Your Name"` '
            "and `git config --global user.email you@example.com`; nothing merged"
        )
    return GitError(f"{text}; nothing merged", error.kind)


def _git_dir(tree: Path) -> Path | None:
    """A worktree's own git directory: ``<tree>/.git`` itself, or where its ``gitdir:`` points."""
    dot = tree / ".git"
    if dot.is_dir():
        return dot
    line = _first_line(dot)
    if not line.startswith("gitdir:"):
        return None
    target = Path(line.removeprefix("gitdir:").strip())
    return target if target.is_absolute() else tree / target


def _read_text(path: Path, limit: int = 1 << 16) -> str:
    try:
        return read_regular(path, limit, whole=False).decode("utf-8", errors="replace")
    except OSError:  # a FIFO there too: never waited on
        return ""


def _first_line(path: Path) -> str:
    text = _read_text(path, 4096)
    return text.splitlines()[0].strip() if text.strip() else ""


def _decode(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return "" if data is None else str(data)


def _clip(text: str, max_bytes: int) -> str:
    if len(text) <= max_bytes:
        return text
    cut = text.rfind("\n", 0, max_bytes) + 1 or max_bytes
    return text[:cut] + f"… diff cut at {max_bytes // 1024} KiB ({len(text) // 1024} KiB in all)\n"
