"""What a crashed session's recovery shows before acting (:class:`RecoveryInfo`), the names of
its claim states, and the protocol lines each recovery action appends."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from factory_tui.adapters.gh import PrStatus
from factory_tui.adapters.launch import (
    Launched,
    LaunchRequest,
    inside_tmux,
)
from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.fleet import (
    ClaimView,
    SessionView,
    fmt_age,
)
from factory_tui.core.oplog import format_event
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import format_ts

__all__ = [
    "ARCHIVE",
    "DONE",
    "LOG_TAIL_LINES",
    "NO_CLAIM",
    "OWNED",
    "RELEASED",
    "Action",
    "GhAsk",
    "Launcher",
    "RecoveryInfo",
    "abandon_fields",
    "end_fields",
    "norm",
    "resume_fields",
    "slug",
    "strings_of",
    "txt",
]

Action = Literal["resume", "abandon", "close_merged"]
GhAsk = Callable[[int, Path], PrStatus]
Launcher = Callable[[LaunchRequest], Launched]

OWNED = "owned by the crashed instance"
RELEASED = "released"
NO_CLAIM = "no claim"
DONE = "done"
ARCHIVE = "archive"
LOG_TAIL_LINES = 20
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str, width: int = 60) -> str:
    return _SLUG.sub("-", text).strip("-.")[:width] or "task"


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def txt(value: object) -> str:
    return printable(str(value))


# -- what the engineer sees before acting --------------------------------------------------------


@dataclass(frozen=True)
class RecoveryInfo:
    """Everything about one crashed session, for a confirmation, the CLI or a recovery screen."""

    task: str
    instance: str | None
    branch: str | None
    branch_exists: bool
    worktree: Path | None
    ahead: int | None
    """Commits on the branch that are not on ``base``; ``None`` when git could not say."""
    behind: int | None
    uncommitted: tuple[str, ...]
    last_step: str | None
    checkpoint: Checkpoint | None
    claim_state: str
    """``owned by the crashed instance``, ``taken by <other>``, ``released``, ``done`` or
    ``no claim``."""
    crashed_since: timedelta
    """Since the session's last event: its last sign of life."""
    pr: int | None
    pr_merged: bool | None
    pr_note: str
    session: SessionView
    resume_from: str = "branch"
    """The step a resumed session starts at (``from_step=`` of the RECOVERY line)."""
    base: str | None = None
    """The branch ``ahead``/``behind`` are measured against (``main``, else ``master``)."""
    branch_sha: str | None = None
    worktree_is_main: bool = False
    git_note: str = ""
    """Why git facts are missing, when they are."""
    claim: ClaimView | None = None
    checkpoint_files: tuple[Path, ...] = ()
    """Every checkpoint file of the task (what abandoning moves to the archive)."""
    log_tail: tuple[str, ...] = ()
    """The task's last lines in operations.log."""
    running_elsewhere: tuple[str, ...] = ()
    """Instances running a later session of the same task."""
    more_open: int = 0
    """Other crashed sessions of the same task still open (each needs its own recovery)."""
    superseded: int = 0
    """Older sessions of the task still open that the fleet no longer lists (later sessions
    superseded them long ago): a crashed ``SESSION-END`` closes the task's oldest open session
    first, so the recovery closes these first, a line each."""
    log_file: Path | None = None
    agent_command: tuple[str, ...] = ("claude",)
    agent_found: bool = True
    """The agent command's program is on PATH (or an executable path): Resume can start it."""

    @property
    def claim_key(self) -> str | None:
        return self.claim.key if self.claim is not None else None

    @property
    def claim_owner(self) -> str | None:
        return self.claim.unit.owner if self.claim is not None else None

    def why_not(self, action: Action, *, launch: bool = True) -> str | None:
        """Why ``action`` cannot be done now (one sentence), or ``None`` when it can."""
        task = self.task
        if action == "resume":
            if not self.branch:
                return (
                    f"{task} names no branch (neither its SESSION-START nor its checkpoint): "
                    "resume needs one — abandon instead"
                )
            if not self.branch_exists:
                extra = f" ({self.git_note})" if self.git_note else ""
                return (
                    f"branch {self.branch} is gone{extra}: nothing to resume on — abandon instead"
                )
            if launch and not self.agent_command:
                return (
                    "no agent command is configured: set agent_command in factory.toml "
                    '(e.g. agent_command = ["claude"]), or resume with --no-launch'
                )
            if launch and not self.agent_found:
                return (
                    f"the agent command {txt(self.agent_command[0])} is not on PATH: install it, "
                    "or set agent_command in factory.toml, or resume with --no-launch"
                )
            if launch and self.worktree is None:
                return (
                    f"branch {self.branch} is not checked out in any worktree: run "
                    f"`git worktree add <folder> {self.branch}` first, or resume with --no-launch"
                )
            if self.running_elsewhere:
                return (
                    f"{task} is running again as {', '.join(self.running_elsewhere)}: "
                    "a second agent would collide with it — abandon the crashed session instead"
                )
            return None
        if action == "close_merged":
            if self.pr is None:
                return f"{task} has no PR in its checkpoint or log: resume or abandon instead"
            if self.pr_merged is None:
                return f"cannot tell whether PR #{self.pr} is merged: {self.pr_note}"
            if not self.pr_merged:
                return f"PR #{self.pr} is not merged ({self.pr_note}): resume or abandon instead"
            return None
        return None

    def describe(self) -> list[str]:
        """Lines for a confirmation or the CLI: agent text made printable, nothing hidden."""
        s = self.session
        who = txt(self.instance) if self.instance else "no instance named"
        lines = [
            f"task: {txt(self.task)} ({who}) — crashed, last sign of life "
            f"{fmt_age(self.crashed_since)} ago ({txt(s.last_event_at)})",
            f"why crashed: {txt(s.why)}",
        ]
        lines.append(f"branch: {self._branch_line()}")
        if self.worktree is not None:
            where = "the main worktree" if self.worktree_is_main else "worktree"
            lines.append(f"{where}: {txt(self.worktree)}")
            if self.uncommitted:
                shown = ", ".join(txt(name) for name in self.uncommitted[:8])
                more = (
                    f" … and {len(self.uncommitted) - 8} more" if len(self.uncommitted) > 8 else ""
                )
                count = len(self.uncommitted)
                lines.append(f"  {count} uncommitted file{'s' if count > 1 else ''}: {shown}{more}")
            else:
                lines.append("  no uncommitted changes")
        elif self.branch_exists:
            lines.append("worktree: none has the branch checked out")
        if self.git_note:
            lines.append(f"git: {txt(self.git_note)}")
        step = txt(self.last_step) if self.last_step else "none logged"
        verb = "started" if s.last_step_state == "start" else "done"
        state = f" ({verb} at {txt(s.last_step_at)})" if s.last_step_state else ""
        lines.append(f"last step: {step}{state}; a resume starts at {txt(self.resume_from)}")
        if s.last_error:
            lines.append(f"last error: {txt(s.last_error)}")
        lines.extend(self._checkpoint_lines())
        lines.append(f"claim: {self._claim_line()}")
        lines.append(f"PR: {self._pr_line()}")
        if self.running_elsewhere:
            lines.append(f"running again as: {', '.join(txt(i) for i in self.running_elsewhere)}")
        if self.more_open:
            lines.append(
                f"{self.more_open} more crashed session(s) of this task are open: "
                "each needs its own recovery"
            )
        if self.superseded:
            lines.append(
                f"{self.superseded} older session(s) of this task were left open and later "
                "sessions superseded them: the recovery closes them first, a SESSION-END each "
                "(the log closes a task's oldest open session first)"
            )
        return lines

    def _branch_line(self) -> str:
        if not self.branch:
            return "none named"
        name = txt(self.branch)
        if not self.branch_exists:
            return f"{name} — gone"
        parts = [f"{name} — exists"]
        if self.branch_sha:
            parts[0] += f" at {self.branch_sha[:7]}"
        if self.ahead is not None and self.behind is not None and self.base:
            parts.append(f"{self.ahead} ahead / {self.behind} behind {self.base}")
        return ", ".join(parts)

    def _checkpoint_lines(self) -> list[str]:
        cp = self.checkpoint
        if cp is None:
            return ["checkpoint: none"]
        when = txt(cp.timestamp or (format_ts(cp.file_ts) if cp.file_ts else "?"))
        lines = [f"checkpoint: {txt(cp.name)} ({when})"]
        done = ", ".join(txt(x) for x in cp.steps_completed) or "—"
        todo = ", ".join(txt(x) for x in cp.steps_remaining) or "—"
        lines.append(f"  steps done: {done}")
        lines.append(f"  steps remaining: {todo}")
        progress = cp.progress or {}
        done_files, todo_files = progress.get("files_completed"), progress.get("files_remaining")
        if isinstance(done_files, list) or isinstance(todo_files, list):
            n_done = len(done_files) if isinstance(done_files, list) else 0
            n_todo = len(todo_files) if isinstance(todo_files, list) else 0
            lines.append(f"  files: {n_done} done, {n_todo} remaining")
        last_commit = progress.get("last_commit_message")
        if isinstance(last_commit, str) and last_commit:
            lines.append(f"  last commit: {txt(last_commit)}")
        for decision in strings_of(progress.get("decisions_made")):
            lines.append(f"  decision: {txt(decision)}")
        blockers = cp.blockers
        lines.append("  blockers: " + ("; ".join(txt(b) for b in blockers) if blockers else "none"))
        if cp.notes:
            lines.append(f"  notes: {txt(cp.notes)}")
        return lines

    def _claim_line(self) -> str:
        claim = self.claim
        if claim is None:
            return "none found for this task"
        unit = claim.unit
        text = f"{txt(claim.key)} {txt(self.claim_state)}"
        if self.claim_state == OWNED:
            alive = (
                "pid not checked (another host)"
                if claim.pid_alive is None
                else ("pid alive" if claim.pid_alive else "pid not running")
            )
            text += f" (pid {unit.pid}, {alive})"
        return text

    def _pr_line(self) -> str:
        if self.pr is None:
            return "none yet"
        if self.pr_merged is True:
            return f"#{self.pr} merged — the session can be closed without resuming"
        if self.pr_merged is False:
            return f"#{self.pr} not merged ({txt(self.pr_note)})"
        return f"#{self.pr}, merged or not unknown: {txt(self.pr_note)}"

    def plan(
        self,
        action: Action,
        *,
        by: str,
        reason: str = "",
        launch: bool = True,
        delete_branch: bool = False,
    ) -> list[str]:
        """What ``action`` would write and start, line by line, for the confirmation."""
        t = self.task
        out: list[str] = []
        if action == "resume":
            out.append("logs: " + log_line_text("RECOVERY", resume_fields(t, self.resume_from, by)))
            if launch:
                how = "a new tmux window" if inside_tmux() else "detached, output to a file"
                cmd = " ".join(self.agent_command)
                out.append(
                    f"starts: {txt(cmd)} with a recovery brief in {txt(self.worktree)} ({how}), "
                    "as a new instance id"
                )
                ender = "<new-instance-id>"
            else:
                out.append("starts: nothing (--no-launch)")
                ender = by
            out.extend(self._superseded_plan(by))
            out.append("logs: " + log_line_text("SESSION-END", end_fields(t, ender)))
            if self.claim is not None and self.claim_state != OWNED:
                out.append(
                    f"claim {txt(self.claim.key)} is {txt(self.claim_state)}: not taken back"
                )
        elif action == "abandon":
            out.append("logs: " + log_line_text("RECOVERY", abandon_fields(t, reason or "…", by)))
            if self.claim is not None and self.claim_state == OWNED:
                out.append(
                    f"releases: {txt(self.claim.key)} from {txt(self.claim_owner)} "
                    "(RELEASE reason=abandoned; the old file is kept in .history/)"
                )
            elif self.claim is not None:
                out.append(f"claim {txt(self.claim.key)} is {txt(self.claim_state)}: left alone")
            n = len(self.checkpoint_files)
            if n:
                out.append(f"moves: {n} checkpoint file(s) to checkpoints/{ARCHIVE}/")
            if delete_branch and self.branch and self.branch_exists:
                tree = (
                    f" after removing the clean worktree {txt(self.worktree)}"
                    if self.worktree is not None and not self.worktree_is_main
                    else ""
                )
                ahead = f", {self.ahead} commit(s) not on {self.base}" if self.ahead else ""
                sha = (self.branch_sha or "")[:12]
                out.append(f"deletes: branch {txt(self.branch)} (at {sha}{ahead}){tree}")
            out.extend(self._superseded_plan(by))
            out.append("logs: " + log_line_text("SESSION-END", end_fields(t, by)))
        else:
            fields = [*end_fields(t, by), ("pr", "?" if self.pr is None else str(self.pr))]
            out.extend(self._superseded_plan(by))
            out.append("logs: " + log_line_text("SESSION-END", fields))
        return out

    def _superseded_plan(self, by: str) -> list[str]:
        """The lines that close the older sessions left open first (:attr:`superseded`)."""
        if not self.superseded:
            return []
        line = log_line_text("SESSION-END", end_fields(self.task, by))
        return [f"logs: {line} ({self.superseded}x: the older sessions left open, first)"]


def strings_of(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def log_line_text(event: str, fields: list[tuple[str, str]]) -> str:
    return printable(format_event("…", event, fields)).removeprefix("… | ")


def resume_fields(task: str, step: str, by: str) -> list[tuple[str, str]]:
    return [("task", task), ("action", "resume"), ("from_step", step), ("by", by)]


def abandon_fields(task: str, reason: str, by: str) -> list[tuple[str, str]]:
    return [("task", task), ("action", "abandon"), ("reason", reason), ("by", by)]


def end_fields(task: str, recovered_by: str) -> list[tuple[str, str]]:
    return [("task", task), ("status", "crashed"), ("recovered_by", recovered_by)]
