"""git, through GitPython, for recovery: where a branch is checked out, how far it is from main,
what is uncommitted, the diffs for a review, and (when asked) deleting a branch.

Every command is an argv list (never a shell); branch names are passed as full ref names
(``refs/heads/<name>``) so a name can never be read as an option. Reading commands run with
``GIT_OPTIONAL_LOCKS=0`` so a ``git status`` here never takes the index lock an agent working in
the same worktree may need, and diffs run without external diff drivers or textconv filters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GIT_MISSING", "GitError", "GitMissing", "GitRepo", "Worktree"]

GIT_MISSING = (
    "git is not installed or not on PATH: install git (apt-get install git) or set "
    "GIT_PYTHON_GIT_EXECUTABLE to its path"
)

#: A diff longer than this is cut (with a note) before it reaches a screen.
MAX_DIFF_BYTES = 2 << 20


class GitError(Exception):
    """A git command failed; ``str()`` says which command, where, and git's own words."""


class GitMissing(GitError):
    """No git executable: nothing about the repository can be known (it is not "not a git
    repository"); ``str()`` says what to install."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(GIT_MISSING + (f" ({detail})" if detail else ""))


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
    """Parse ``git worktree list --porcelain`` (blocks separated by blank lines; the first block
    is the main worktree)."""
    out: list[Worktree] = []
    for index, block in enumerate(text.replace("\r\n", "\n").split("\n\n")):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line:
                continue
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" not in fields:
            continue
        ref = fields.get("branch")
        out.append(
            Worktree(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD") or None,
                branch=ref.removeprefix("refs/heads/") if ref else None,
                is_main=index == 0,
                locked="locked" in fields,
                prunable="prunable" in fields,
                bare="bare" in fields,
            )
        )
    return out


class GitRepo:
    """One repository (any of its worktrees may be ``root``)."""

    def __init__(self, root: Path, *, timeout_s: float = 30.0) -> None:
        self.root = Path(root)
        self.timeout_s = timeout_s

    # -- running ---------------------------------------------------------------------------------

    def run(self, *args: str, cwd: Path | None = None, read_only: bool = True) -> str:
        """``git ARGS`` in ``cwd`` (default: the root); its stdout, or ``GitError``."""
        where = cwd or self.root
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat"}
        if read_only:
            env["GIT_OPTIONAL_LOCKS"] = "0"
        argv = ["git", "-c", "core.fsmonitor=false", "-c", "color.ui=false", *args]
        git = gitpython()
        try:
            status, out, err = git.Git(str(where)).execute(
                argv,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                kill_after_timeout=self.timeout_s,
                env=env,
                strip_newline_in_stdout=False,
            )
        except git.GitCommandNotFound:
            raise GitMissing() from None
        except OSError as error:
            raise GitError(f"git {' '.join(args[:2])} could not start in {where}: {error}") from (
                error
            )
        text = _decode(out)
        if status != 0:
            message = (_decode(err) or text).strip().splitlines()
            first = message[-1] if message else f"exit status {status}"
            raise GitError(f"git {' '.join(args[:2])} failed in {where}: {first}")
        return text

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
        return parse_worktree_list(self.run("worktree", "list", "--porcelain"))

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
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=worktree)
        paths: list[str] = []
        entries = out.split("\0")
        index = 0
        while index < len(entries):
            entry = entries[index]
            index += 1
            if len(entry) < 4:
                continue
            code, path = entry[:2], entry[3:]
            paths.append(path)
            if "R" in code or "C" in code:
                index += 1  # a rename's source path follows as its own entry
        return tuple(paths)

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

    def remove_worktree(self, path: Path) -> None:
        """``git worktree remove`` without ``--force``: git itself refuses a dirty worktree."""
        self.run("worktree", "remove", str(Path(path).resolve()), read_only=False)

    def delete_branch(self, branch: str, expected_sha: str) -> None:
        """Delete ``refs/heads/<branch>`` only if it still points at ``expected_sha``."""
        self.run("update-ref", "-d", f"refs/heads/{branch}", expected_sha, read_only=False)


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
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
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
