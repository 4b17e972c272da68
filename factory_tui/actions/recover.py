"""Recover a crashed session (FORMATS.md: sessions and crashes): resume it, abandon it, or close
it when its PR is already merged.

``recovery_info`` gathers everything a confirmation (or the recovery screen) shows before acting:
the session, its branch and worktree from git, the latest checkpoint, the claim, the PR. Each
action then takes a recovery lock for the task (``<memory>/.recover-<task>.lock``, so two people
cannot recover the same session twice), re-derives the session under it, does what cannot be
undone last, and appends the protocol's lines:

* resume — ``RECOVERY | task=T action=resume from_step=S by=WHO``, a new agent started in the
  branch's worktree with a recovery brief (``SESSION-START ... recovered_from=T`` is its to log),
  then ``SESSION-END | task=T status=crashed recovered_by=NEW``;
* abandon — ``RECOVERY | task=T action=abandon reason=R by=WHO``, the claim released
  (``RELEASE ... reason=abandoned``) under the claim lock, the task's checkpoints moved to
  ``<checkpoints>/archive/``, the branch deleted only when asked, then the same ``SESSION-END``;
* close when merged — ``SESSION-END | task=T status=crashed recovered_by=WHO pr=N``.

What cannot complete leaves the files as they were and says why in one sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.actions.release import release_claim
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import PrStatus, pr_status
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.launch import (
    Launched,
    LaunchError,
    LaunchRequest,
    inside_tmux,
    launch_agent,
)
from factory_tui.adapters.lock import LockBusy, LockUnsafe, atomic_write, claim_lock
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.core.checkpoints import Checkpoint, parse_checkpoint_name
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import PID_START_GRACE, ClaimView, Fleet, SessionView, fmt_age
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.oplog import Event, format_event, parse_line
from factory_tui.core.safe import printable
from factory_tui.core.steps import STEP_ORDER, step_index
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "Action",
    "RecoveryInfo",
    "ReviewDiffs",
    "abandon",
    "alive_evidence",
    "close_merged",
    "new_instance_id",
    "recovery_brief",
    "recovery_info",
    "resume",
    "review_diffs",
    "task_checkpoints",
    "task_log_tail",
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


def _slug(text: str, width: int = 60) -> str:
    return _SLUG.sub("-", text).strip("-.")[:width] or "task"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _p(value: object) -> str:
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
                    f"the agent command {_p(self.agent_command[0])} is not on PATH: install it, "
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
        who = _p(self.instance) if self.instance else "no instance named"
        lines = [
            f"task: {_p(self.task)} ({who}) — crashed, last sign of life "
            f"{fmt_age(self.crashed_since)} ago ({_p(s.last_event_at)})",
            f"why crashed: {_p(s.why)}",
        ]
        lines.append(f"branch: {self._branch_line()}")
        if self.worktree is not None:
            where = "the main worktree" if self.worktree_is_main else "worktree"
            lines.append(f"{where}: {_p(self.worktree)}")
            if self.uncommitted:
                shown = ", ".join(_p(name) for name in self.uncommitted[:8])
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
            lines.append(f"git: {_p(self.git_note)}")
        step = _p(self.last_step) if self.last_step else "none logged"
        verb = "started" if s.last_step_state == "start" else "done"
        state = f" ({verb} at {_p(s.last_step_at)})" if s.last_step_state else ""
        lines.append(f"last step: {step}{state}; a resume starts at {_p(self.resume_from)}")
        if s.last_error:
            lines.append(f"last error: {_p(s.last_error)}")
        lines.extend(self._checkpoint_lines())
        lines.append(f"claim: {self._claim_line()}")
        lines.append(f"PR: {self._pr_line()}")
        if self.running_elsewhere:
            lines.append(f"running again as: {', '.join(_p(i) for i in self.running_elsewhere)}")
        if self.more_open:
            lines.append(
                f"{self.more_open} more crashed session(s) of this task are open: "
                "each needs its own recovery"
            )
        return lines

    def _branch_line(self) -> str:
        if not self.branch:
            return "none named"
        name = _p(self.branch)
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
        when = _p(cp.timestamp or (format_ts(cp.file_ts) if cp.file_ts else "?"))
        lines = [f"checkpoint: {_p(cp.name)} ({when})"]
        done = ", ".join(_p(x) for x in cp.steps_completed) or "—"
        todo = ", ".join(_p(x) for x in cp.steps_remaining) or "—"
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
            lines.append(f"  last commit: {_p(last_commit)}")
        for decision in _strings(progress.get("decisions_made")):
            lines.append(f"  decision: {_p(decision)}")
        blockers = cp.blockers
        lines.append("  blockers: " + ("; ".join(_p(b) for b in blockers) if blockers else "none"))
        if cp.notes:
            lines.append(f"  notes: {_p(cp.notes)}")
        return lines

    def _claim_line(self) -> str:
        claim = self.claim
        if claim is None:
            return "none found for this task"
        unit = claim.unit
        text = f"{_p(claim.key)} {_p(self.claim_state)}"
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
            return f"#{self.pr} not merged ({_p(self.pr_note)})"
        return f"#{self.pr}, merged or not unknown: {_p(self.pr_note)}"

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
            out.append("logs: " + _line("RECOVERY", _resume_fields(t, self.resume_from, by)))
            if launch:
                how = "a new tmux window" if inside_tmux() else "detached, output to a file"
                cmd = " ".join(self.agent_command)
                out.append(
                    f"starts: {_p(cmd)} with a recovery brief in {_p(self.worktree)} ({how}), "
                    "as a new instance id"
                )
                ender = "<new-instance-id>"
            else:
                out.append("starts: nothing (--no-launch)")
                ender = by
            out.append("logs: " + _line("SESSION-END", _end_fields(t, ender)))
            if self.claim is not None and self.claim_state != OWNED:
                out.append(f"claim {_p(self.claim.key)} is {_p(self.claim_state)}: not taken back")
        elif action == "abandon":
            out.append("logs: " + _line("RECOVERY", _abandon_fields(t, reason or "…", by)))
            if self.claim is not None and self.claim_state == OWNED:
                out.append(
                    f"releases: {_p(self.claim.key)} from {_p(self.claim_owner)} "
                    "(RELEASE reason=abandoned; the old file is kept in .history/)"
                )
            elif self.claim is not None:
                out.append(f"claim {_p(self.claim.key)} is {_p(self.claim_state)}: left alone")
            n = len(self.checkpoint_files)
            if n:
                out.append(f"moves: {n} checkpoint file(s) to checkpoints/{ARCHIVE}/")
            if delete_branch and self.branch and self.branch_exists:
                tree = (
                    f" after removing the clean worktree {_p(self.worktree)}"
                    if self.worktree is not None and not self.worktree_is_main
                    else ""
                )
                ahead = f", {self.ahead} commit(s) not on {self.base}" if self.ahead else ""
                sha = (self.branch_sha or "")[:12]
                out.append(f"deletes: branch {_p(self.branch)} (at {sha}{ahead}){tree}")
            out.append("logs: " + _line("SESSION-END", _end_fields(t, by)))
        else:
            fields = [*_end_fields(t, by), ("pr", "?" if self.pr is None else str(self.pr))]
            out.append("logs: " + _line("SESSION-END", fields))
        return out


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _line(event: str, fields: list[tuple[str, str]]) -> str:
    return printable(format_event("…", event, fields)).removeprefix("… | ")


def _resume_fields(task: str, step: str, by: str) -> list[tuple[str, str]]:
    return [("task", task), ("action", "resume"), ("from_step", step), ("by", by)]


def _abandon_fields(task: str, reason: str, by: str) -> list[tuple[str, str]]:
    return [("task", task), ("action", "abandon"), ("reason", reason), ("by", by)]


def _end_fields(task: str, recovered_by: str) -> list[tuple[str, str]]:
    return [("task", task), ("status", "crashed"), ("recovered_by", recovered_by)]


# -- gathering -----------------------------------------------------------------------------------


def _not_asked(number: int, _cwd: Path) -> PrStatus:
    return PrStatus(number, None, note="not asked")


def _ask_gh(number: int, cwd: Path) -> PrStatus:
    return pr_status(number, cwd=cwd)


def _pick_session(
    fleet: Fleet, task: str, log_file: Path
) -> tuple[SessionView, list[SessionView]] | ActionResult:
    """The session a ``SESSION-END status=crashed`` for ``task`` closes: the oldest still open."""
    mine = [s for s in fleet.sessions if s.task == task]
    still_open = [s for s in mine if s.status != "ended"]
    if not still_open:
        if not mine:
            return ActionResult(
                Outcome.ERROR,
                f"no session of task {task} in {log_file}: check the name "
                "(factory-tui status lists the sessions)",
            )
        last = mine[-1]
        if last.recovered_by:
            return ActionResult(
                Outcome.REFUSED,
                f"{task} ended: it was already recovered by {last.recovered_by} "
                f"(SESSION-END at {last.ended_at})",
            )
        return ActionResult(
            Outcome.REFUSED,
            f"{task} ended (SESSION-END status={last.end_status or '?'} at {last.ended_at}): "
            "nothing to recover",
        )
    target = still_open[0]
    if target.status == "running":
        inst = next((i for i in fleet.instances if i.id == target.instance), None)
        if inst is not None and inst.pid is not None and inst.alive:
            return ActionResult(Outcome.REFUSED, f"{task} is running: pid {inst.pid} alive")
        return ActionResult(Outcome.REFUSED, f"{task} is running: {target.why}")
    return target, still_open[1:]


def _claim_for(fleet: Fleet, session: SessionView) -> ClaimView | None:
    """The claim a session works under: the checkpoint's ``claimed_phase``, else the claim on its
    branch, else one whose ticket the task is named after, else the only one its instance owns
    (only when that instance has no other session open: the claim may be that one's)."""
    claims = list(fleet.claims)
    cp = session.checkpoint
    claimed = cp.claimed_phase if cp is not None else None
    if claimed:
        mega, phase = claimed.get("mega_id"), claimed.get("phase_id")
        for view in claims:
            if str(view.unit.claim_id) == str(mega) and str(view.unit.phase) == str(phase):
                return view
    branch = session.branch or (cp.branch if cp is not None else None)
    if branch:
        on_branch = [v for v in claims if v.unit.branch == branch]
        if on_branch:
            return on_branch[0]
    task = session.task
    for view in claims:
        names = view.unit.tickets or (view.unit.claim_id,)
        if any(task == name or task.startswith(name + "-") for name in names):
            return view
    if _other_open_sessions(fleet, session):
        return None  # its instance has another session open: its one claim may be that one's
    owned = [v for v in claims if session.instance and v.unit.owner == session.instance]
    return owned[0] if len(owned) == 1 else None


def _other_open_sessions(fleet: Fleet, session: SessionView) -> bool:
    """Whether the session's instance has another session without a SESSION-END."""
    return any(
        s.instance == session.instance and s.key != session.key and s.status != "ended"
        for s in fleet.sessions
    )


def _last_agent_event(reader: FactoryReader, instance: str) -> Event | None:
    """The instance's latest line written by the agent itself: not an audit line (``by=``) nor
    a recoverer's ``SESSION-END ... recovered_by=``."""
    for event in reversed(reader.fold.recent_events(instance)):
        if "by" not in event.fields and "recovered_by" not in event.fields:
            return event
    return None


def alive_evidence(
    config: Config,
    reader: FactoryReader,
    instance: str | None,
    units: Iterable[ClaimUnit],
    now: datetime,
) -> str | None:
    """Why ``instance`` is believed alive (a sentence naming the evidence), or ``None``: the pid
    of one of ``units`` runs on this host and started before its claim (a later start is a
    reused pid), or the instance logged a line of its own within the idle threshold."""
    if not instance:
        return None
    for unit in units:
        if unit.owner != instance or unit.pid is None:
            continue
        if not same_host(unit.hostname, reader.hostname):
            continue
        info = reader.probe.probe([unit.pid]).get(unit.pid)
        if info is None:
            continue
        claimed = parse_ts(unit.claimed_at) if unit.claimed_at else None
        started = info.started_at
        if claimed is not None and started is not None and started > claimed + PID_START_GRACE:
            continue  # a reused pid
        since = f" since {format_ts(started)}" if started is not None else ""
        return f"{instance} is alive: pid {unit.pid} running{since} ({unit.key})"
    event = _last_agent_event(reader, instance)
    at = event.at if event is not None else None
    if event is not None and at is not None and now - at <= config.idle_after:
        return (
            f"{instance} is alive: logged {event.name} {fmt_age(now - at)} ago ({event.ts}, "
            f"{event.source}:{event.line}), within the idle threshold "
            f"({fmt_age(config.idle_after)})"
        )
    return None


def _instance_units(fleet: Fleet, instance: str | None) -> list[ClaimUnit]:
    return [v.unit for v in fleet.claims if instance and v.unit.owner == instance]


def _claim_state(claim: ClaimView | None, instance: str | None) -> str:
    if claim is None:
        return NO_CLAIM
    unit = claim.unit
    if unit.completed_at:
        return DONE
    if not unit.owner:
        return RELEASED
    if unit.owner == instance:
        return OWNED
    return f"taken by {unit.owner}"


def _resume_from(session: SessionView, cp: Checkpoint | None) -> str:
    if session.last_step and session.last_step_state == "start":
        return session.last_step
    candidates: list[str] = []
    if session.last_step:
        index = step_index(session.last_step)
        if index is not None and index + 1 < len(STEP_ORDER):
            candidates.append(STEP_ORDER[index + 1])
        elif index is None:
            candidates.append(session.last_step)
    if cp is not None and cp.steps_remaining:
        candidates.append(cp.steps_remaining[0])
    if not candidates:
        return "branch"

    def rank(step: str) -> int:
        index = step_index(step)
        return -1 if index is None else index

    return max(candidates, key=rank)


def task_checkpoints(config: Config, task: str) -> list[Path]:
    """Every checkpoint file of ``task`` in the checkpoints folder (not the archive): by its file
    name's slug, or by the ``task`` it holds."""
    folder = config.checkpoints_dir
    wanted = _norm(task)
    found: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if not entry.name.endswith(".json") or not entry.is_file(follow_symlinks=False):
            continue
        _when, slug = parse_checkpoint_name(entry.name)
        if _norm(slug) == wanted or _holds_task(Path(entry.path), task):
            found.append(Path(entry.path))
    return found


def _holds_task(path: Path, task: str) -> bool:
    data = read_factory_file(path, 1 << 20)  # a FIFO or a device is never opened blocking
    if not isinstance(data, bytes):
        return False
    try:
        raw = json.loads(data)
    except ValueError:
        return False
    return isinstance(raw, dict) and raw.get("task") == task


def task_log_tail(
    config: Config,
    task: str,
    instance: str | None,
    *,
    limit: int = LOG_TAIL_LINES,
    max_bytes: int = 512 << 10,
) -> tuple[str, ...]:
    """The last ``limit`` lines of operations.log about ``task`` or ``instance``."""
    try:
        with open(config.log_file, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read()
    except OSError:
        return ()
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first one was cut
    kept: list[str] = []
    for number, text in enumerate(lines, start=1):
        parsed = parse_line(text, number, config.log_file.name)
        if isinstance(parsed, Event) and (
            parsed.get("task") == task or (instance and parsed.get("instance") == instance)
        ):
            kept.append(text)
    return tuple(kept[-limit:])


def recovery_info(
    config: Config,
    task: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    git: GitRepo | None = None,
    gh: GhAsk | None = None,
) -> RecoveryInfo | ActionResult:
    """Everything about the crashed session of ``task``, or why there is none to recover.

    ``gh(number, cwd)`` answers whether a PR is merged (default: the ``gh`` CLI when on PATH).
    """
    reader = reader or FactoryReader(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    picked = _pick_session(fleet, task, config.log_file)
    if isinstance(picked, ActionResult):
        return picked
    session, others = picked
    alive = alive_evidence(
        config, reader, session.instance, _instance_units(fleet, session.instance), now
    )
    if alive is not None:
        return ActionResult(Outcome.REFUSED, f"{task} is not crashed: {alive}")
    return _gather(config, fleet, session, others, now, git or GitRepo(config.root), gh or _ask_gh)


def _gather(
    config: Config,
    fleet: Fleet,
    session: SessionView,
    others: list[SessionView],
    now: datetime,
    git: GitRepo,
    gh: GhAsk,
) -> RecoveryInfo:
    cp = session.checkpoint
    claim = _claim_for(fleet, session)
    branch = (
        session.branch
        or (cp.branch if cp is not None else None)
        or (claim.unit.branch if claim else None)
    )
    facts = _git_facts(git, branch)
    pr = cp.pr_number if cp is not None and cp.pr_number is not None else None
    if pr is None and session.pr and session.pr.strip().lstrip("#").isdigit():
        pr = int(session.pr.strip().lstrip("#"))
    if pr is None:
        pr_merged, pr_note = None, "no PR yet"
    else:
        status = gh(pr, facts.worktree or config.root)
        pr_merged = status.merged
        pr_note = status.note if status.merged is None else (status.state or "").lower()
    last_seen = parse_ts(session.last_event_at) or parse_ts(session.started_at) or now
    return RecoveryInfo(
        task=session.task,
        instance=session.instance,
        branch=branch,
        branch_exists=facts.sha is not None,
        worktree=facts.worktree,
        ahead=facts.ahead,
        behind=facts.behind,
        uncommitted=facts.uncommitted,
        last_step=session.last_step,
        checkpoint=cp,
        claim_state=_claim_state(claim, session.instance),
        crashed_since=now - last_seen,
        pr=pr,
        pr_merged=pr_merged,
        pr_note=pr_note,
        session=session,
        resume_from=_resume_from(session, cp),
        base=facts.base,
        branch_sha=facts.sha,
        worktree_is_main=facts.worktree_is_main,
        git_note=facts.note,
        claim=claim,
        checkpoint_files=tuple(task_checkpoints(config, session.task)),
        log_tail=task_log_tail(config, session.task, session.instance),
        running_elsewhere=tuple(s.instance or "?" for s in others if s.status == "running"),
        more_open=sum(1 for s in others if s.status == "crashed"),
        log_file=config.log_file,
        agent_command=config.agent_command,
        agent_found=_program_found(config.agent_command),
    )


def _program_found(argv: tuple[str, ...]) -> bool:
    """``argv[0]`` can be started: found on PATH, or an executable file it names."""
    return bool(argv) and shutil.which(argv[0]) is not None


@dataclass
class _GitFacts:
    sha: str | None = None
    base: str | None = None
    worktree: Path | None = None
    worktree_is_main: bool = False
    ahead: int | None = None
    behind: int | None = None
    uncommitted: tuple[str, ...] = ()
    note: str = ""


def _git_facts(git: GitRepo, branch: str | None) -> _GitFacts:
    facts = _GitFacts()
    if not branch:
        return facts
    try:
        if not git.is_repo():
            facts.note = f"{git.root} is not a git repository"
            return facts
        facts.sha = git.branch_sha(branch)
        if facts.sha is None:
            return facts
        facts.base = git.base_branch()
        tree = git.worktree_for(branch)
        if tree is not None and tree.path.is_dir():
            facts.worktree, facts.worktree_is_main = tree.path, tree.is_main
        elif tree is not None:
            facts.note = f"worktree {tree.path} is missing (`git worktree prune` forgets it)"
        if facts.base and facts.base != branch:
            facts.ahead, facts.behind = git.ahead_behind(branch, facts.base)
        if facts.worktree is not None:
            facts.uncommitted = git.uncommitted(facts.worktree)
    except GitError as error:
        facts.note = str(error)
    return facts


@dataclass(frozen=True)
class ReviewDiffs:
    """For the review before deciding: the branch against its base, and what is uncommitted."""

    branch_diff: str
    uncommitted_diff: str
    note: str = ""


def review_diffs(config: Config, info: RecoveryInfo, *, git: GitRepo | None = None) -> ReviewDiffs:
    git = git or GitRepo(config.root)
    notes: list[str] = []
    branch_text = uncommitted_text = ""
    try:
        if info.branch and info.branch_exists and info.base and info.base != info.branch:
            branch_text = git.branch_diff(info.branch, info.base)
        elif not info.branch_exists:
            notes.append(f"branch {info.branch or '?'} is gone: no diff")
        if info.worktree is not None:
            uncommitted_text = git.uncommitted_diff(info.worktree)
    except GitError as error:
        notes.append(str(error))
    return ReviewDiffs(branch_text, uncommitted_text, "; ".join(notes))


# -- the brief for the new agent -----------------------------------------------------------------


def new_instance_id(
    now: datetime, taken: Iterable[str] = (), *, hex4: Callable[[], str] | None = None
) -> str:
    """``t<N>-<R>`` (FORMATS.md): N = epoch seconds mod 100000, R = 4 hex characters."""
    used = set(taken)
    number = int(now.timestamp()) % 100000
    draw = hex4 or (lambda: secrets.token_hex(2))
    for _ in range(1000):
        candidate = f"t{number}-{draw()}"
        if candidate not in used:
            return candidate
    raise RuntimeError("no free instance id after 1000 draws")


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def recovery_brief(
    info: RecoveryInfo,
    log_tail: list[str] | tuple[str, ...],
    *,
    new_instance: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> str:
    """The markdown brief a resumed agent reads first: who it is, what it must log, where the
    crashed session stopped (checkpoint and log). Agent-written values are shown as text."""
    me = new_instance or "<your instance id>"
    branch = info.branch or "?"
    start = format_event(
        "YYYY-MM-DDTHH:MM",
        "SESSION-START",
        [("task", info.task), ("branch", branch), ("instance", me), ("recovered_from", info.task)],
    )
    lines = [
        f"# Recovery brief: resume task {_p(info.task)}",
        "",
        f"You are a new session, instance **{_p(me)}**, resuming task `{_p(info.task)}`, whose "
        f"previous session (instance {_p(info.instance or '?')}) crashed "
        f"{fmt_age(info.crashed_since)} before this brief was written.",
    ]
    if by or now:
        lines.append(
            f"Recovery started by {_p(by or '?')}"
            + (f" at {format_ts(now)}." if now is not None else ".")
        )
    fence = _fence(start)
    lines += [
        "",
        "## First",
        "",
        "1. Log the start of your session to operations.log"
        + (f" (`{_p(info.log_file)}`)" if info.log_file else "")
        + ", with the current time:",
        "",
        fence,
        printable(start),
        fence,
        "",
        f"2. Work in `{_p(info.worktree or '?')}` on branch `{_p(branch)}`"
        + (
            f" ({info.ahead} commit(s) ahead of {info.base}, {info.behind} behind)."
            if info.ahead is not None and info.base
            else "."
        ),
        f"3. Resume at step **{_p(info.resume_from)}**.",
        f"4. The claim: {_claim_brief(info)}",
        "",
        "## Where it stopped",
        "",
        f"- last step: {_p(info.last_step or 'none logged')}"
        + (" (started, not done)" if info.session.last_step_state == "start" else ""),
    ]
    if info.session.last_error:
        lines.append(f"- last error: {_p(info.session.last_error)}")
    if info.pr is not None:
        lines.append(f"- PR: #{info.pr}")
    cp = info.checkpoint
    if cp is not None:
        progress = cp.progress or {}
        lines += [
            "",
            f"## Checkpoint {_p(cp.name)}",
            "",
            f"- steps done: {', '.join(_p(s) for s in cp.steps_completed) or '—'}",
            f"- steps remaining: {', '.join(_p(s) for s in cp.steps_remaining) or '—'}",
        ]
        if cp.git_sha:
            lines.append(f"- commit at the checkpoint: {_p(cp.git_sha)}")
        if cp.notes:
            lines.append(f"- notes: {_p(cp.notes)}")
        for key, label in (
            ("files_completed", "files completed"),
            ("files_remaining", "files remaining"),
            ("decisions_made", "decisions made"),
            ("blockers", "blockers"),
        ):
            items = _strings(progress.get(key))
            lines.append(f"- {label}: " + ("; ".join(_p(x) for x in items) if items else "none"))
        last_commit = progress.get("last_commit_message")
        if isinstance(last_commit, str) and last_commit:
            lines.append(f"- last commit message: {_p(last_commit)}")
    if info.uncommitted:
        lines += ["", "## Uncommitted changes left in the worktree", ""]
        lines += [f"- {_p(path)}" for path in info.uncommitted]
    if log_tail:
        tail = "\n".join(printable(line) for line in log_tail)
        fence = _fence(tail)
        lines += ["", "## The task's last lines in operations.log", "", fence, tail, fence]
    return "\n".join(lines) + "\n"


def _claim_brief(info: RecoveryInfo) -> str:
    if info.claim is None:
        return "none was found for this task; claim it under the lock protocol before working."
    key = _p(info.claim.key)
    if info.claim_state == OWNED:
        return (
            f"{key} is still held by the crashed instance {_p(info.instance)}; it stays. Take it "
            "over under the lock protocol (owner and pid set to yours) so it does not turn stale."
        )
    if info.claim_state == RELEASED:
        return f"{key} was released meanwhile: claim it again under the lock protocol first."
    if info.claim_state == DONE:
        return f"{key} is marked done."
    return f"{key} is {_p(info.claim_state)}: do not take it back; coordinate first."


# -- acting --------------------------------------------------------------------------------------


def _recovery_lock_dir(config: Config) -> Path:
    folder = config.log_file.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _locked(
    config: Config,
    task: str,
    body: Callable[[], ActionResult],
) -> ActionResult:
    try:
        with claim_lock(
            _recovery_lock_dir(config),
            f".recover-{_slug(task)}.lock",
            stale_after_s=config.lock_stale_after.total_seconds(),
        ):
            return body()
    except LockBusy:
        return ActionResult(
            Outcome.REFUSED, f"someone else is recovering {task} right now — try again"
        )
    except LockUnsafe as unsafe:
        return ActionResult(
            Outcome.REFUSED, f"cannot recover {task}: {unsafe}; nothing was changed"
        )
    except OSError as error:
        return ActionResult(
            Outcome.ERROR, f"cannot recover {task}: {error}; nothing more was changed"
        )


def _prepare(
    config: Config,
    task: str,
    now: datetime,
    reader: FactoryReader | None,
    git: GitRepo | None,
    gh: GhAsk,
    what: str,
) -> tuple[RecoveryInfo, FactoryReader, GitRepo] | ActionResult:
    refusal = read_only_refusal(config, what)
    if refusal is not None:
        return refusal
    reader = reader or FactoryReader(config)
    git = git or GitRepo(config.root)
    info = recovery_info(config, task, now=now, reader=reader, git=git, gh=gh)
    if isinstance(info, ActionResult):
        return info
    return info, reader, git


def _recheck(
    config: Config, reader: FactoryReader, info: RecoveryInfo, now: datetime
) -> Fleet | ActionResult:
    """Under the lock: the same session is still the crashed one to close."""
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    picked = _pick_session(fleet, info.task, config.log_file)
    if isinstance(picked, ActionResult):
        return picked
    session, _others = picked
    before = info.session
    if (session.started_at, session.instance) != (before.started_at, before.instance):
        return ActionResult(
            Outcome.REFUSED,
            f"{info.task} changed while you looked (another session is now the oldest open "
            "one): review it again",
        )
    alive = alive_evidence(
        config, reader, session.instance, _instance_units(fleet, session.instance), now
    )
    if alive is not None:
        return ActionResult(Outcome.REFUSED, f"{info.task} is not crashed: {alive}")
    return fleet


def resume(
    config: Config,
    task: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    launch: bool = True,
    by: str | None = None,
    launcher: Launcher | None = None,
    git: GitRepo | None = None,
) -> ActionResult:
    """Resume the crashed session of ``task``: log RECOVERY, start the configured agent in the
    branch's worktree with a recovery brief (unless ``launch`` is false), close the crashed
    session with ``recovered_by`` the new instance (or ``by`` without a launch)."""
    prepared = _prepare(config, task, now, reader, git, _not_asked, "recovering a session")
    if isinstance(prepared, ActionResult):
        return prepared
    info, reader, git = prepared
    why = info.why_not("resume", launch=launch)
    if why is not None:
        return ActionResult(Outcome.REFUSED, why)
    who = by or actor()
    start = launcher or launch_agent
    return _locked(
        config, task, lambda: _resume_locked(config, info, reader, git, now, launch, who, start)
    )


def _resume_locked(
    config: Config,
    info: RecoveryInfo,
    reader: FactoryReader,
    git: GitRepo,
    now: datetime,
    launch: bool,
    who: str,
    start: Launcher,
) -> ActionResult:
    fleet = _recheck(config, reader, info, now)
    if isinstance(fleet, ActionResult):
        return fleet
    task, branch = info.task, info.branch or ""
    try:
        sha = git.branch_sha(branch)
        tree = git.worktree_for(branch) if sha is not None and launch else None
    except GitError as error:
        return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
    if sha is None:
        return ActionResult(
            Outcome.REFUSED, f"branch {branch} is gone: nothing to resume on — abandon instead"
        )
    details: list[str] = []
    launched: Launched | None = None
    if launch:
        if tree is None or not tree.path.is_dir():
            return ActionResult(
                Outcome.REFUSED,
                f"branch {branch} is no longer checked out in a worktree: nothing was changed",
            )
        taken = {i.id for i in fleet.instances}
        new_id = new_instance_id(now, taken)
        folder = config.memory_dir / "recovery"
        stem = f"{now:%Y-%m-%dT%H-%M-%S}-{_slug(task)}-{new_id}"
        brief = folder / f"{stem}.md"
        text = recovery_brief(
            _with_worktree(info, tree.path), info.log_tail, new_instance=new_id, by=who, now=now
        )
        request = LaunchRequest(
            argv=(
                *config.agent_command,
                f"You are resuming a crashed session of the factory task {task} as instance "
                f"{new_id}. Read the recovery brief {brief} first and follow it.",
            ),
            cwd=tree.path,
            env={
                "FACTORY_INSTANCE": new_id,
                "FACTORY_TASK": task,
                "FACTORY_BRANCH": branch,
                "FACTORY_RECOVERED_FROM": task,
                "FACTORY_RECOVERY_BRIEF": str(brief),
            },
            name=f"recover-{task}",
            log_file=folder / f"{stem}.log",
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(brief, text.encode("utf-8"))
            launched = start(request)
        except (LaunchError, OSError) as error:
            brief.unlink(missing_ok=True)
            return ActionResult(
                Outcome.ERROR, f"could not start the agent: {error}; nothing was changed"
            )
        recovered_by = new_id
        details += [f"brief: {brief}", f"command: {' '.join(request.argv)}"]
        if launched.log_file is not None:
            details.append(f"output: {launched.log_file}")
    else:
        recovered_by = who
    lines = (
        audit(config, now, "RECOVERY", _resume_fields(task, info.resume_from, who)),
        audit(config, now, "SESSION-END", _end_fields(task, recovered_by)),
    )
    claim_note = _resume_claim_note(info)
    if launched is not None:
        message = (
            f"resumed {task} from step {info.resume_from} as {recovered_by}, "
            f"{launched.describe()}{claim_note}"
        )
    else:
        where = f" in {info.worktree}" if info.worktree is not None else ""
        message = (
            f"logged the recovery of {task} (from step {info.resume_from}); no agent was started "
            f"(--no-launch): start one{where}, it logs SESSION-START recovered_from={task}"
            f"{claim_note}"
        )
    return ActionResult(Outcome.DONE, message, details=tuple(details), log_lines=lines)


def _with_worktree(info: RecoveryInfo, tree: Path) -> RecoveryInfo:
    return replace(info, worktree=tree)


def _resume_claim_note(info: RecoveryInfo) -> str:
    if info.claim is None:
        return "; no claim was found for this task"
    if info.claim_state == OWNED:
        return f"; the claim {info.claim.key} stays with {info.instance}"
    if info.claim_state.startswith("taken by"):
        return f"; note: the claim {info.claim.key} was {info.claim_state} — not taken back"
    return f"; the claim {info.claim.key} is {info.claim_state}"


# -- abandon -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deletion:
    branch: str
    sha: str
    worktree: Path | None
    """A clean linked worktree to remove first."""


def _plan_deletion(info: RecoveryInfo, git: GitRepo) -> _Deletion | ActionResult | None:
    branch = info.branch
    if not branch or not info.branch_exists or info.branch_sha is None:
        return None  # nothing to delete
    if info.worktree is not None and info.worktree_is_main:
        return ActionResult(
            Outcome.REFUSED,
            f"branch {branch} is checked out in the main worktree {info.worktree}: check out "
            "another branch there first; nothing was changed",
        )
    if info.uncommitted:
        n = len(info.uncommitted)
        return ActionResult(
            Outcome.REFUSED,
            f"branch {branch} is checked out in {info.worktree} with {n} uncommitted "
            f"file{'s' if n > 1 else ''} ({', '.join(info.uncommitted[:3])}): commit, stash or "
            "remove them (or the worktree) first; nothing was changed",
        )
    busy = _branch_busy(git, branch, info.worktree)
    if busy is not None:
        return busy
    if info.worktree is not None:
        try:
            tree = git.worktree_for(branch)
        except GitError as error:
            return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
        if tree is not None and tree.locked:
            return ActionResult(
                Outcome.REFUSED,
                f"worktree {tree.path} is locked (`git worktree unlock` it first); "
                "nothing was changed",
            )
    return _Deletion(branch, info.branch_sha, info.worktree)


def _branch_busy(git: GitRepo, branch: str, planned: Path | None) -> ActionResult | None:
    """A refusal when ``branch`` is in use by a worktree other than the clean one that deleting
    it removes first: checked out elsewhere, or being rebased, merged or bisected."""
    try:
        using = git.worktree_using(branch)
    except GitError as error:
        return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
    if using is None:
        return None
    tree, how = using
    if how == "checked out" and planned is not None and tree.path.resolve() == planned.resolve():
        return None
    finish = {
        "being rebased": "finish or abort the rebase there (`git rebase --abort`)",
        "being merged": "finish or abort the merge there (`git merge --abort`)",
        "being bisected": "end the bisect there (`git bisect reset`)",
    }.get(how, "check out another branch there")
    return ActionResult(
        Outcome.REFUSED,
        f"branch {branch} is {how} in the worktree {tree.path}: {finish} first; "
        "nothing was changed",
    )


def abandon(
    config: Config,
    task: str,
    *,
    now: datetime,
    reason: str,
    reader: FactoryReader | None = None,
    delete_branch: bool = False,
    by: str | None = None,
    git: GitRepo | None = None,
) -> ActionResult:
    """Abandon the crashed session of ``task``: log RECOVERY, release its claim (if the crashed
    instance still owns it), move its checkpoints to the archive, delete its branch when asked,
    close the session."""
    if not reason.strip():
        return ActionResult(
            Outcome.ERROR,
            "give a reason to abandon: it is logged for the agents and the next person",
        )
    prepared = _prepare(config, task, now, reader, git, _not_asked, "abandoning a session")
    if isinstance(prepared, ActionResult):
        return prepared
    info, reader, git = prepared
    deletion: _Deletion | None = None
    if delete_branch:
        planned = _plan_deletion(info, git)
        if isinstance(planned, ActionResult):
            return planned
        deletion = planned
    who = by or actor()
    return _locked(
        config,
        task,
        lambda: _abandon_locked(config, info, reader, git, now, reason.strip(), who, deletion),
    )


def _alive_under_lock(
    config: Config, reader: FactoryReader, info: RecoveryInfo, unit: ClaimUnit, now: datetime
) -> str | None:
    """Under the claim lock, with the claim as re-read there: is its owner alive after all?"""
    reader.refresh_log()
    return alive_evidence(config, reader, info.instance, [unit], now)


def _archive(config: Config, task: str) -> list[tuple[Path, Path]] | ActionResult:
    """Move the task's checkpoints into ``<checkpoints>/archive/`` (never deleted); all or none."""
    files = task_checkpoints(config, task)
    if not files:
        return []
    archive = config.checkpoints_dir / ARCHIVE
    moved: list[tuple[Path, Path]] = []
    try:
        archive.mkdir(exist_ok=True)
        for path in files:
            target = archive / path.name
            counter = 1
            while target.exists():
                target = archive / f"{path.stem}.{counter}{path.suffix}"
                counter += 1
            os.rename(path, target)
            moved.append((path, target))
    except OSError as error:
        _undo(moved)
        with contextlib.suppress(OSError):
            archive.rmdir()
        return ActionResult(
            Outcome.ERROR,
            f"cannot move the checkpoints of {task} to {archive}: {error}; nothing was changed",
        )
    return moved


def _undo(moved: list[tuple[Path, Path]]) -> None:
    for source, target in reversed(moved):
        with contextlib.suppress(OSError):
            os.rename(target, source)
    for folder in {target.parent for _source, target in moved}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when we emptied it


def _abandon_locked(
    config: Config,
    info: RecoveryInfo,
    reader: FactoryReader,
    git: GitRepo,
    now: datetime,
    reason: str,
    who: str,
    deletion: _Deletion | None,
) -> ActionResult:
    fleet = _recheck(config, reader, info, now)
    if isinstance(fleet, ActionResult):
        return fleet
    task = info.task
    claim = _claim_for(fleet, info.session)
    state = _claim_state(claim, info.instance)
    if deletion is not None:
        busy = _branch_busy(git, deletion.branch, deletion.worktree)
        if busy is not None:
            return busy
    if deletion is not None and deletion.worktree is not None:
        try:
            dirty = git.uncommitted(deletion.worktree)
        except GitError as error:
            return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
        if dirty:
            return ActionResult(
                Outcome.REFUSED,
                f"{deletion.worktree} has uncommitted changes now ({', '.join(dirty[:3])}): "
                "the branch was not deleted; nothing was changed",
            )
    moved = _archive(config, task)
    if isinstance(moved, ActionResult):
        return moved
    lines: list[str] = []
    details: list[str] = []

    def log_recovery() -> None:
        lines.append(audit(config, now, "RECOVERY", _abandon_fields(task, reason, who)))

    if claim is not None and state == OWNED:
        released = release_claim(
            config,
            claim.key,
            now=now,
            reader=reader,
            force=True,
            by=who,
            reason_word="abandoned",
            expected_owner=info.instance,
            before_write=log_recovery,
            check_under_lock=lambda unit: _alive_under_lock(config, reader, info, unit, now),
        )
        if not released.ok:
            if not lines:
                _undo(moved)
                return ActionResult(
                    released.outcome, f"{task} was not abandoned: {released.message}"
                )
            details.append(f"claim: {released.message}")
        lines.extend(released.log_lines)
        claim_note = f"released {claim.key}" if released.ok else f"could not release {claim.key}"
    else:
        log_recovery()
        claim_note = (
            "no claim was found"
            if claim is None
            else f"the claim {claim.key} is {state}: left alone"
        )
    if moved:
        details.append(f"checkpoints archived: {', '.join(str(t) for _s, t in moved)}")
    failure = ""
    deleted_note = ""
    if deletion is not None:
        try:
            if deletion.worktree is not None:
                git.remove_worktree(deletion.worktree)
            git.delete_branch(deletion.branch, deletion.sha)
        except GitError as error:
            failure = f"branch {deletion.branch} was not deleted: {error}"
        else:
            fields = [("task", task), ("branch", deletion.branch), ("sha", deletion.sha)]
            if deletion.worktree is not None:
                fields.append(("worktree", str(deletion.worktree)))
            fields.append(("by", who))
            lines.append(audit(config, now, "BRANCH-DELETED", fields))
            deleted_note = f"; deleted branch {deletion.branch} (was {deletion.sha[:12]})"
    lines.append(audit(config, now, "SESSION-END", _end_fields(task, who)))
    archived = f"; archived {len(moved)} checkpoint(s)" if moved else ""
    message = f"abandoned {task}: {claim_note}{archived}{deleted_note}"
    if failure:
        return ActionResult(
            Outcome.ERROR, f"{message}, but {failure}", tuple(details), tuple(lines)
        )
    if details and any(d.startswith("claim:") for d in details):
        return ActionResult(Outcome.ERROR, message, tuple(details), tuple(lines))
    return ActionResult(Outcome.DONE, message, tuple(details), tuple(lines))


# -- close when the PR is merged -----------------------------------------------------------------


def close_merged(
    config: Config,
    task: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    by: str | None = None,
    git: GitRepo | None = None,
    gh: GhAsk | None = None,
) -> ActionResult:
    """Close the crashed session of ``task`` without resuming, because its checkpoint's PR is
    already merged (``gh`` says so)."""
    prepared = _prepare(config, task, now, reader, git, gh or _ask_gh, "closing a session")
    if isinstance(prepared, ActionResult):
        return prepared
    info, reader, _git = prepared
    why = info.why_not("close_merged")
    if why is not None:
        return ActionResult(Outcome.REFUSED, why)
    who = by or actor()

    def body() -> ActionResult:
        fleet = _recheck(config, reader, info, now)
        if isinstance(fleet, ActionResult):
            return fleet
        fields = [*_end_fields(task, who), ("pr", str(info.pr))]
        line = audit(config, now, "SESSION-END", fields)
        return ActionResult(
            Outcome.DONE,
            f"closed {task}: PR #{info.pr} is already merged, nothing to resume",
            log_lines=(line,),
        )

    return _locked(config, task, body)
