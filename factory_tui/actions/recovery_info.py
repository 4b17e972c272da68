"""Gathering a crashed session's recovery: the session, its branch and worktree from git, the
latest checkpoint, the claim, the PR and the log (:func:`recovery_info`), the diffs a review shows
(:func:`review_diffs`), and whether its agent is still alive (:func:`alive_evidence`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.recovery import (
    DONE,
    LOG_TAIL_LINES,
    NO_CLAIM,
    OWNED,
    RELEASED,
    GhAsk,
    RecoveryInfo,
    norm,
)
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import PrStatus, pr_status
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.config.regular_files import open_regular, read_at_most
from factory_tui.core.checkpoints import Checkpoint, parse_checkpoint_name
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import PID_START_GRACE, ClaimView, Fleet, SessionView, fmt_age
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fleet_sessions import latest_open_of_instances, rec_key
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.safe import plain_int
from factory_tui.core.steps import STEP_ORDER, step_index
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "GitFacts",
    "ReviewDiffs",
    "alive_evidence",
    "ask_gh",
    "claim_for",
    "claim_state_of",
    "git_facts",
    "instance_units",
    "not_asked",
    "older_open",
    "older_to_close",
    "pick_session",
    "recovery_info",
    "review_diffs",
    "task_checkpoints",
    "task_log_tail",
]

# -- gathering -----------------------------------------------------------------------------------


def not_asked(number: int, _cwd: Path) -> PrStatus:
    return PrStatus(number, None, note="not asked")


def older_open(fold: LogFold, session: SessionView) -> list[SessionRec]:
    """The task's open sessions older than ``session``: those a crashed ``SESSION-END`` of the
    task closes first (the log's reader closes the task's oldest open session: the fold's
    rule, as the hooks write no session id). The fleet no longer lists them (later sessions
    of the task superseded them long ago), so a recovery of ``session`` closes them first,
    each with its own line."""
    opened = fold.open_by_task.get(session.task, [])
    for older, rec in enumerate(opened):
        if rec_key(rec) == session.key:
            return opened[:older]
    return []


def older_to_close(
    config: Config, reader: FactoryReader, fleet: Fleet, session: SessionView, now: datetime
) -> list[SessionRec] | ActionResult:
    """The task's open sessions older than ``session`` (:func:`older_open`), which a recovery
    closes first; or the refusal when one of their agents is alive and has not moved on to a
    later session (the recovery's first ``SESSION-END`` would close the session it works in,
    as when it was listed and the one recovered). An agent alive in a later session of its own
    left this one behind: it is closed."""
    older, latest = reader.with_fold(
        lambda fold: (older_open(fold, session), latest_open_of_instances(fold))
    )
    for rec in older:
        if rec.instance is None or latest.get(rec.instance) is not rec:
            continue
        units = instance_units(fleet, rec.instance)
        if (alive := alive_evidence(config, reader, rec.instance, units, now)) is not None:
            return ActionResult(
                Outcome.REFUSED,
                f"{session.task}: an older session of it left open (started {rec.started_at} "
                f"by {rec.instance}) is closed first by a recovery, and {alive}: nothing was "
                "changed",
            )
    return older


def ask_gh(number: int, cwd: Path) -> PrStatus:
    return pr_status(number, cwd=cwd)


def pick_session(
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


def claim_for(fleet: Fleet, session: SessionView) -> ClaimView | None:
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


def instance_units(fleet: Fleet, instance: str | None) -> list[ClaimUnit]:
    return [v.unit for v in fleet.claims if instance and v.unit.owner == instance]


def claim_state_of(claim: ClaimView | None, instance: str | None) -> str:
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
    wanted = norm(task)
    found: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if not entry.name.endswith(".json") or not entry.is_file(follow_symlinks=False):
            continue
        _when, slug = parse_checkpoint_name(entry.name)
        if norm(slug) == wanted or _holds_task(Path(entry.path), task):
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
        fd = open_regular(config.log_file)  # a FIFO or a device is never opened blocking
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            start = max(0, size - max_bytes)
            os.lseek(fd, start, os.SEEK_SET)
            data = read_at_most(fd, max_bytes)
        finally:
            os.close(fd)
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
    reader = reader or FactoryReader.warm(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    picked = pick_session(fleet, task, config.log_file)
    if isinstance(picked, ActionResult):
        return picked
    session, others = picked
    alive = alive_evidence(
        config, reader, session.instance, instance_units(fleet, session.instance), now
    )
    if alive is not None:
        return ActionResult(Outcome.REFUSED, f"{task} is not crashed: {alive}")
    older = older_to_close(config, reader, fleet, session, now)
    if isinstance(older, ActionResult):
        return older
    info = _gather(config, fleet, session, others, now, git or GitRepo(config.root), gh or ask_gh)
    return replace(info, superseded=len(older))


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
    claim = claim_for(fleet, session)
    branch = (
        session.branch
        or (cp.branch if cp is not None else None)
        or (claim.unit.branch if claim else None)
    )
    facts = git_facts(git, branch)
    pr = cp.pr_number if cp is not None and cp.pr_number is not None else None
    if pr is None and session.pr:
        pr = plain_int(session.pr.strip().lstrip("#"))
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
        claim_state=claim_state_of(claim, session.instance),
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
class GitFacts:
    """What git says of a crashed session's branch: its head, base, worktree, how far it is
    ahead of / behind the base, what is uncommitted; ``note`` says what could not be found."""

    sha: str | None = None
    base: str | None = None
    worktree: Path | None = None
    worktree_is_main: bool = False
    ahead: int | None = None
    behind: int | None = None
    uncommitted: tuple[str, ...] = ()
    note: str = ""


def git_facts(git: GitRepo, branch: str | None) -> GitFacts:
    """The facts of ``branch`` (none when there is no branch); git errors go to ``note``."""
    facts = GitFacts()
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
