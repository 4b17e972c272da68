"""The simulated agents' git work in the demo repository: a branch per ticket, a commit per
``commit`` step (the agent's edit of its ticket's file), and a PR's squash merge onto main,
through the one git adapter (:class:`~factory_tui.adapters.git.GitRepo`, isolated from the
user's and the system's config).

Nothing here is fatal: the simulator's files do not depend on git, only its realism does. A git
that is missing or fails answers ``None`` (or ``False``) and :attr:`AgentGit.last_error` says
why. The demo's times are naive in the zone given, which is how they are handed to git.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TypeVar

from factory_tui.adapters.git import ISOLATED_ENV, GitError, GitRepo
from factory_tui.demo.playbook import Agent, Ticket, agent_identity, commit_subject, edit_text

__all__ = ["AgentGit"]

T = TypeVar("T")


class AgentGit:
    """The demo repository at ``root`` as the simulated agents use it."""

    def __init__(self, root: Path, tz: tzinfo) -> None:
        self.root = root
        self.tz = tz
        self.enabled = shutil.which("git") is not None and (root / ".git").exists()
        self.repo = GitRepo(root, env=ISOLATED_ENV)
        self.last_error = ""
        self.base = "HEAD"
        """Where new branches start: main's tip as the simulator last saw or made it."""

    def _try(self, command: Callable[[], T]) -> T | None:
        if not self.enabled:
            return None
        try:
            return command()
        except GitError as error:
            self.last_error = str(error)[:200]
            return None

    def start(self) -> None:
        """Take main's current tip (ROOT's HEAD) as the base of new branches."""
        head = self._try(lambda: self.repo.run("rev-parse", "HEAD"))
        if head:
            self.base = head.strip()

    def add_worktree(self, tree: Path) -> bool:
        """A detached worktree at ``tree`` on the base; did it work?"""
        args = ("worktree", "add", "-q", "--detach", str(tree), self.base)
        return self._try(lambda: self.repo.run(*args)) is not None

    def switch_branch(self, tree: Path, branch: str) -> None:
        """``tree`` on ``branch``: made from the base, or the existing one."""
        made = self._try(lambda: self.repo.run("switch", "-q", "-c", branch, self.base, cwd=tree))
        if made is not None:
            return
        self._try(lambda: self.repo.run("switch", "-q", branch, cwd=tree))

    def branch_of(self, tree: Path) -> str | None:
        """The branch checked out in ``tree`` (``None``: detached, or no git)."""
        on = self._try(lambda: self.repo.run("symbolic-ref", "--short", "-q", "HEAD", cwd=tree))
        return on.strip() if on is not None else None

    def commit(self, tree: Path, message: str, when: datetime, who: tuple[str, str]) -> str | None:
        """Commit everything in ``tree`` at ``when``; the new commit's short id."""
        at = when.replace(tzinfo=self.tz)
        if self._try(lambda: self.repo.commit(message, cwd=tree, when=at, author=who)) is None:
            return None
        head = self._try(lambda: self.repo.run("rev-parse", "--short=7", "HEAD", cwd=tree))
        return head.strip() if head else None

    def squash_merge(
        self, branch: str, message: Callable[[str], str], when: datetime, who: tuple[str, str]
    ) -> str | None:
        """One commit on main with ``branch``'s changes (its message made from the branch's tip
        by ``message``), then ROOT fast-forwarded to it and the base moved there; the commit's
        id. ``None`` (nothing merged) when the branch brings nothing, on a conflict, or when ROOT
        cannot fast-forward."""
        repo = self.repo
        tip = self._try(lambda: repo.rev(f"refs/heads/{branch}"))
        main = self._try(lambda: repo.rev(f"refs/heads/{repo.main}"))
        if not tip or not main:
            return None
        merged = self._try(lambda: repo.run("merge-tree", "--write-tree", main, tip))
        main_tree = self._try(lambda: repo.run("rev-parse", f"{main}^{{tree}}"))
        if merged is None or main_tree is None:
            return None  # a conflict fails merge-tree
        tree = merged.split("\n", 1)[0].strip()
        if tree == main_tree.strip():
            return None  # every change of the branch is on main already
        at = when.replace(tzinfo=self.tz)
        text = message(tip)
        commit = self._try(lambda: repo.commit_tree(tree, main, text, when=at, author=who))
        if commit is None:
            return None
        if self._try(lambda: repo.run("merge", "--ff-only", "-q", commit, cwd=self.root)) is None:
            return None
        self.base = commit  # the next branches start from the merged main
        return commit

    # -- an agent's work -------------------------------------------------------------------------

    def commit_work(self, agent: Agent, ticket: Ticket, when: datetime) -> str | None:
        """A real commit of ``agent``'s edit of ``ticket``'s file in its worktree: the short id;
        ``None`` without a worktree, when the worktree is not on the ticket's branch, or when git
        fails (the simulator then makes one up)."""
        tree = agent.worktree
        if tree is None:
            return None
        if self.branch_of(tree) != ticket.branch:
            # The ticket's branch is checked out in another worktree (a crashed agent's): the
            # switch failed, and this work must not land on the branch the worktree is on.
            return None
        target = tree / ticket.file
        with contextlib.suppress(OSError):
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8", newline="\n") as handle:
                handle.write(edit_text(target, ticket, agent.claims))
        kind = ticket.branch.split("/", 1)[0]
        message = f"{kind}: {agent.commit_message}"
        return self.commit(tree, message, when, agent_identity(agent))

    def merge_pr(self, agent: Agent, when: datetime) -> str | None:
        """Merge the agent's PR as its ``gh pr merge --squash`` would: one commit on main with
        the branch's changes, subject ``<kind>: <subject> (#N)`` and the ``Factory-Branch`` /
        ``Factory-Head`` trailers factory-tui's own squash merges write, then main's worktree
        (ROOT) fast-forwarded. The local PR queue then shows the PR merged, once. Returns the
        commit's short id; ``None`` (nothing merged, the log goes on) without git, when the
        branch brings nothing, on a conflict, or when ROOT cannot fast-forward."""
        ticket = agent.ticket
        assert ticket is not None
        if agent.worktree is None or agent.pr is None:
            return None
        kind = ticket.branch.split("/", 1)[0]
        subject = f"{kind}: {agent.commit_message or commit_subject(ticket)} (#{agent.pr})"

        def message(tip: str) -> str:
            return (
                f"{subject}\n\nFactory-Branch: {ticket.branch}\nFactory-Head: {tip}\n"
                f"Factory-Task: {ticket.task}\n"
            )

        commit = self.squash_merge(ticket.branch, message, when, agent_identity(agent))
        return commit[:7] if commit is not None else None
