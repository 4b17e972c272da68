"""Local pull requests, for factories without GitHub: git through GitPython, argv only.

- An *open* local PR is an agent branch (from the claims, ``SESSION-START branch=`` and the
  worktrees) that is not merged into main: its changed files, line counts and diff are taken
  against its merge base with main.
- A *merged* local PR is a squash commit on main's first-parent history whose subject ends with
  ``(#N)`` or that carries a ``Factory-Branch:`` trailer (the squash merges this module makes).
- :meth:`LocalGit.plan_squash` and :meth:`LocalGit.squash_merge` make a squash merge into main
  without ever leaving anything half done: the merge is computed with ``git merge-tree
  --write-tree`` (no worktree touched; a conflict changes nothing at all), committed with
  ``git commit-tree``, and main moves only by a fast-forward in its own clean worktree (or a
  compare-and-swap ``update-ref`` when main is checked out nowhere). The branch is never touched.

Every git command runs with hooks, fsmonitor, external diff and textconv drivers off (the
repository's config is agent-writable) and a timeout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from factory_tui.adapters.git import GIT_MISSING
from factory_tui.core.modes import ChangedFile
from factory_tui.core.prs import PullRequest, branch_slug

__all__ = ["BranchTip", "GitError", "LocalGit", "SquashPlan", "Worktree", "review_note_path"]

GitErrorKind = Literal["missing", "timeout", "failed", "no-main", "no-branch", "old-git"]
_PR_SUFFIX = re.compile(r"\s*\(#(\d+)\)\s*$")
_HEX = re.compile(r"[0-9a-f]{40,64}")
_SEP = "\x1e"


class GitError(Exception):
    """git could not do it; ``str()`` says what and what to do."""

    def __init__(self, kind: GitErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Worktree:
    path: Path
    head: str | None
    branch: str | None
    """The short branch name checked out (``None``: detached or bare)."""
    bare: bool = False


@dataclass(frozen=True, slots=True)
class BranchTip:
    sha: str
    author: str
    subject: str
    committed_at: datetime | None


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


def _parse_numstat(out: str) -> tuple[ChangedFile, ...]:
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


_CACHE: dict[tuple[str, ...], Any] = {}
"""Answers that depend on commit ids only (content-addressed, so never stale)."""
_CACHE_MAX = 4096


def _remember(key: tuple[str, ...], value: object) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[key] = value


def review_note_path(worktree: Path, branch: str) -> Path:
    """Where a request for changes on a local PR is left for the agent: in its worktree."""
    return worktree / ".claude" / f"review-{branch_slug(branch)}.md"


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


def _load_git() -> Any:
    """GitPython, imported on first use: it refuses to import at all without a git binary."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    try:
        import git
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise GitError("missing", f"{GIT_MISSING} ({error})") from None
    return git


class LocalGit:
    """One repository (any of its worktrees) and the name of its main branch."""

    def __init__(self, root: Path, *, main: str = "main", timeout: float = 30.0) -> None:
        self.root = root
        self.main = main
        self.timeout = timeout
        git = _load_git()
        self._git = git.Git(str(root))
        self._env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PAGER": "cat",
            "GIT_EDITOR": "true",
        }

    # -- running git ------------------------------------------------------------------------------

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        ok: Sequence[int] = (0,),
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        """``git -C <cwd> <safety -c options> args...``; (status, stdout, stderr)."""
        argv = [
            "git",
            "-C", str(cwd or self.root),
            "-c", "core.hooksPath=" + os.devnull,
            "-c", "core.fsmonitor=false",
            "-c", "core.quotePath=false",
            "-c", "diff.external=",
            *args,
        ]  # fmt: skip
        full_env = dict(self._env)
        if env:
            full_env.update(env)
        try:
            status, out, err = self._git.execute(
                argv,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                kill_after_timeout=self.timeout,
                env=full_env,
            )
        except OSError as error:
            raise GitError("missing", f"git cannot be run ({error}): install git") from None
        except Exception as error:  # GitPython's GitCommandNotFound and friends
            if type(error).__name__ == "GitCommandNotFound":
                raise GitError("missing", GIT_MISSING) from None
            raise
        err = err or ""
        if err.startswith("Timeout:"):
            raise GitError(
                "timeout", f"git {' '.join(args[:2])} took over {self.timeout:g} s and was stopped"
            )
        if status not in ok:
            if "not a git repository" in err:
                raise GitError("failed", f"{cwd or self.root} is not a git repository")
            first = next((line for line in err.splitlines() if line.strip()), f"exit {status}")
            raise GitError("failed", f"git {' '.join(args[:2])} failed: {first.strip()}")
        return status, bytes(out or b""), err

    def text(self, *args: str, cwd: Path | None = None) -> str:
        return self.run(*args, cwd=cwd)[1].decode("utf-8", errors="replace")

    def rev(self, ref: str) -> str | None:
        status, out, _ = self.run("rev-parse", "--verify", "--quiet", ref + "^{commit}", ok=(0, 1))
        sha = out.decode().strip()
        return sha if status == 0 and sha else None

    def main_sha(self) -> str:
        sha = self.rev(f"refs/heads/{self.main}")
        if sha is None:
            raise GitError(
                "no-main",
                f'{self.root} has no branch {self.main!r}: set [prs] main = "<branch>" in '
                "factory.toml",
            )
        return sha

    # -- worktrees and branches -------------------------------------------------------------------

    def worktrees(self) -> list[Worktree]:
        out = self.run("worktree", "list", "--porcelain", "-z")[1].decode("utf-8", "replace")
        trees: list[Worktree] = []
        fields: dict[str, str] = {}

        def flush() -> None:
            if "worktree" in fields:
                branch = fields.get("branch")
                trees.append(
                    Worktree(
                        Path(fields["worktree"]),
                        fields.get("HEAD"),
                        branch.removeprefix("refs/heads/") if branch else None,
                        "bare" in fields,
                    )
                )
            fields.clear()

        for item in out.split("\0"):
            if not item:
                flush()
                continue
            key, _, value = item.partition(" ")
            fields[key] = value
        flush()
        return trees

    def main_worktree(self) -> Worktree | None:
        return next((w for w in self.worktrees() if w.branch == self.main), None)

    def status(self, path: Path, *, untracked: bool) -> tuple[str, ...]:
        """Uncommitted changes in a worktree, one ``git status --porcelain`` entry each."""
        out = self.run(
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=" + ("normal" if untracked else "no"),
            cwd=path,
        )[1].decode("utf-8", "replace")
        entries: list[str] = []
        items = out.split("\0")
        index = 0
        while index < len(items):
            item = items[index]
            index += 1
            if not item:
                continue
            entries.append(item)
            if item[:1] in ("R", "C"):
                index += 1  # the rename's source path follows
        return tuple(entries)

    def branch_tips(self) -> dict[str, BranchTip]:
        """Every local branch's tip."""
        fmt = "%(refname)%00%(objectname)%00%(authorname)%00%(subject)%00%(committerdate:unix)"
        out = self.text("for-each-ref", "--format=" + fmt, "refs/heads/")
        tips: dict[str, BranchTip] = {}
        for line in out.splitlines():
            parts = line.split("\0")
            if len(parts) != 5:
                continue
            ref, sha, name, subject, stamp = parts
            when = datetime.fromtimestamp(int(stamp)) if stamp.isdigit() else None
            tips[ref.removeprefix("refs/heads/")] = BranchTip(sha, name, subject, when)
        return tips

    # -- diffs ---------------------------------------------------------------------------------

    def numstat(self, base: str, tip: str, *, merge_base: bool = False) -> tuple[ChangedFile, ...]:
        """Changed files from ``base`` to ``tip``; with ``merge_base``, from their merge base
        (``base...tip``), as a PR shows them."""
        spec = [f"{base}...{tip}"] if merge_base else [base, tip]
        out = self.run(
            "diff", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv", *spec, "--"
        )[1].decode("utf-8", "replace")
        return _parse_numstat(out)

    def commit_numstats(self, shas: Sequence[str]) -> dict[str, tuple[ChangedFile, ...]]:
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
        out = self.run(
            "show", "--numstat", "-z", "-M", "--no-ext-diff", "--no-textconv",
            "--format=%x1e%H", *missing, "--",
        )[1].decode("utf-8", "replace")  # fmt: skip
        for chunk in out.split(_SEP):
            sha, _, rest = chunk.partition("\0")
            if _HEX.fullmatch(sha):
                found[sha] = _parse_numstat(rest.lstrip("\n"))
                _remember(("show", sha), found[sha])
        return found

    def _compare(self, main: str, tip: str) -> tuple[tuple[ChangedFile, ...], datetime] | None:
        """What branch ``tip`` brings that ``main`` lacks: (files, first commit's time), or
        ``None`` when nothing (merged, unrelated, or all already on main). A pure function of
        the two commits, so it is cached by their ids."""
        key = ("compare", main, tip)
        if key in _CACHE:
            return _CACHE[key]  # type: ignore[no-any-return]
        result: tuple[tuple[ChangedFile, ...], datetime] | None = None
        times = self.text("log", "--format=%ct", f"{main}..{tip}").split()
        if times:
            try:
                files = self.numstat(main, tip, merge_base=True)
            except GitError:
                files = ()  # no merge base: an unrelated history is no PR against main
            if files:
                paths = [f.path for f in files] + [f.old_path for f in files if f.old_path]
                same, _, _ = self.run("diff", "--quiet", main, tip, "--", *paths, ok=(0, 1))
                if same != 0:
                    result = (files, datetime.fromtimestamp(int(times[-1])))
        _remember(key, result)
        return result

    def diff(self, base: str, tip: str) -> str:
        return self.text(
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M", base, tip, "--"
        )

    def pr_diff(self, pr: PullRequest) -> str:
        """The unified diff a local PR shows: branch against its merge base, or a squash commit
        against its parent."""
        if pr.state == "merged" and pr.merge_sha:
            return self.diff(pr.merge_sha + "^", pr.merge_sha)
        if not pr.branch:
            raise GitError("no-branch", f"{pr.key} names no branch")
        tip = self.rev(f"refs/heads/{pr.branch}")
        if tip is None:
            raise GitError("no-branch", f"there is no local branch {pr.branch!r} any more")
        return self.text(
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", "-M",
            f"{self.main_sha()}...{tip}", "--",
        )  # fmt: skip

    # -- pull requests -------------------------------------------------------------------------

    def history(self, limit: int = 500) -> tuple[MainCommit, ...]:
        """Main's recent first-parent history, newest first (cached by main's commit id)."""
        main = self.main_sha()
        known = _CACHE.get(("history", main, str(limit)))
        if isinstance(known, tuple):
            return known
        fmt = (
            "%H%x00%P%x00%ct%x00%an%x00%s%x00"
            "%(trailers:key=Factory-Branch,valueonly,separator=%x2C)%x00"
            "%(trailers:key=Factory-Head,valueonly,separator=%x2C)%x1e"
        )
        out = self.text("log", "--first-parent", f"--max-count={limit}", "--format=" + fmt, main)
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
                    at=datetime.fromtimestamp(int(stamp)),
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
        self, branches: Iterable[str], *, worktrees: Sequence[Worktree] | None = None
    ) -> list[PullRequest]:
        """Each of ``branches`` that exists locally and has changes main does not have."""
        main = self.main_sha()
        tips = self.branch_tips()
        trees = {w.branch: w for w in (worktrees or self.worktrees()) if w.branch}
        merged_heads = {head for commit in self.history() for head in commit.heads}
        out: list[PullRequest] = []
        for branch in dict.fromkeys(branches):
            if branch == self.main or branch not in tips:
                continue
            branch_tip = tips[branch]
            tip = branch_tip.sha
            if tip in merged_heads:
                continue
            compared = self._compare(main, tip)
            if compared is None:
                continue  # merged, nothing new, unrelated, or every change already on main
            files, created = compared
            tree = trees.get(branch)
            dirty = self.status(tree.path, untracked=True) if tree is not None else ()
            asked = False
            if tree is not None and branch_tip.committed_at is not None:
                note = review_note_path(tree.path, branch)
                try:
                    noted = datetime.fromtimestamp(note.stat().st_mtime)
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
                    base=self.main,
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

    def merged_prs(self, since: datetime) -> list[PullRequest]:
        """Squash commits on main since ``since`` (subject ``... (#N)`` or a ``Factory-Branch``
        trailer), newest first."""
        picked = [
            c
            for c in self.history()
            if c.at >= since and len(c.parents) == 1 and (c.number is not None or c.branch)
        ]
        files = self.commit_numstats([c.sha for c in picked])
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
                    base=self.main,
                    merged_at=commit.at,
                    files=changed,
                    additions=sum(f.additions for f in changed),
                    deletions=sum(f.deletions for f in changed),
                    merge_sha=commit.sha,
                    author=commit.author,
                )
            )
        return prs

    # -- the squash merge ----------------------------------------------------------------------

    def plan_squash(self, branch: str) -> SquashPlan:
        """Compute the squash merge of ``branch`` into main; nothing is written but git objects
        (the merged tree), which are harmless when unused."""
        tip = self.rev(f"refs/heads/{branch}")
        if tip is None:
            raise GitError("no-branch", f"there is no local branch {branch!r}")
        main = self.main_sha()
        tree_wt = self.main_worktree()
        dirty = self.status(tree_wt.path, untracked=False) if tree_wt is not None else ()
        status, out, err = self.run(
            "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", main, tip, ok=(0, 1)
        )
        if status == 0 and not _HEX.match(out.decode("ascii", "replace")):
            raise GitError("failed", f"git merge-tree answered no tree: {err.strip()[:80]}")
        items = out.decode("utf-8", "replace").split("\0")
        tree_id = items[0].strip() if items else ""
        if not _HEX.fullmatch(tree_id):
            raise GitError(
                "old-git",
                "a local squash merge needs git 2.38 or newer (git merge-tree --write-tree); "
                "upgrade git",
            )
        conflicts = tuple(dict.fromkeys(p for p in items[1:] if p))
        email_line = self.text("log", "-1", "--format=%an%x00%ae", tip).strip()
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
            raise GitError("failed", f"{plan.branch} conflicts with {plan.main}; nothing merged")
        if self.rev(f"refs/heads/{plan.branch}") != plan.head_sha:
            raise GitError(
                "failed", f"{plan.branch} moved since it was checked; nothing merged: look again"
            )
        if self.main_sha() != plan.main_sha:
            raise GitError(
                "failed", f"{plan.main} moved since it was checked; nothing merged: look again"
            )
        if plan.main_worktree is not None:
            dirty = self.status(plan.main_worktree, untracked=False)
            if dirty:
                raise GitError(
                    "failed",
                    f"{plan.main_worktree} has uncommitted changes ({', '.join(dirty[:3])}); "
                    "nothing merged",
                )
        env = {"GIT_AUTHOR_NAME": plan.author[0], "GIT_AUTHOR_EMAIL": plan.author[1]}
        try:
            _, out, _ = self.run(
                "commit-tree", plan.tree, "-p", plan.main_sha, "-m", message, env=env
            )
        except GitError as error:
            raise _identity_hint(error) from None
        commit = out.decode("ascii", "replace").strip()
        if not _HEX.fullmatch(commit):
            raise GitError("failed", f"git commit-tree answered no commit: {commit[:80]!r}")
        if plan.main_worktree is not None:
            try:
                self.run("merge", "--ff-only", "--no-stat", "-q", commit, cwd=plan.main_worktree)
            except GitError as error:
                raise GitError(
                    "failed",
                    f"main's worktree {plan.main_worktree} could not be fast-forwarded "
                    f"({error}); {plan.main} is unchanged",
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
            raise GitError(
                "failed", f"{plan.main} is not at the squash commit {commit[:7]} after the merge"
            )
        return commit


def _identity_hint(error: GitError) -> GitError:
    text = str(error)
    if "identity" in text.lower() or "tell me who you are" in text.lower():
        return GitError(
            "failed",
            'git does not know who you are: run `git config --global user.name "Your Name"` '
            "and `git config --global user.email you@example.com`; nothing merged",
        )
    return GitError(error.kind, f"{text}; nothing merged")
