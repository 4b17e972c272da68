"""Recover a crashed session (FORMATS.md: sessions and crashes): resume it, abandon it, or close
it when its PR is already merged.

:func:`~factory_tui.actions.recovery_info.recovery_info` gathers everything a confirmation (or
the recovery screen) shows before acting (:class:`~factory_tui.actions.recovery.RecoveryInfo`):
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
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.actions.recovery import (
    ARCHIVE,
    OWNED,
    GhAsk,
    Launcher,
    RecoveryInfo,
    abandon_fields,
    end_fields,
    resume_fields,
    slug,
)
from factory_tui.actions.recovery_brief import new_instance_id, recovery_brief
from factory_tui.actions.recovery_info import (
    alive_evidence,
    ask_gh,
    claim_for,
    claim_state_of,
    instance_units,
    not_asked,
    older_to_close,
    pick_session,
    recovery_info,
    task_checkpoints,
)
from factory_tui.actions.release import release_claim
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.launch import (
    Launched,
    LaunchError,
    LaunchRequest,
    checked_folder,
    launch_agent,
)
from factory_tui.adapters.lock import LockBusy, LockUnsafe, atomic_write, claim_lock
from factory_tui.config import Config
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import (
    Fleet,
)

__all__ = ["abandon", "close_merged", "resume"]


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
            f".recover-{slug(task)}.lock",
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
    reader = reader or FactoryReader.warm(config)
    git = git or GitRepo(config.root)
    info = recovery_info(config, task, now=now, reader=reader, git=git, gh=gh)
    if isinstance(info, ActionResult):
        return info
    return info, reader, git


def _recheck(
    config: Config, reader: FactoryReader, info: RecoveryInfo, now: datetime
) -> tuple[Fleet, int] | ActionResult:
    """Under the lock: the same session is still the crashed one to close; the fleet, and how
    many older sessions of the task left open are to be closed first (see
    :func:`~factory_tui.actions.recovery_info.older_to_close`)."""
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    picked = pick_session(fleet, info.task, config.log_file)
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
        config, reader, session.instance, instance_units(fleet, session.instance), now
    )
    if alive is not None:
        return ActionResult(Outcome.REFUSED, f"{info.task} is not crashed: {alive}")
    older = older_to_close(config, reader, fleet, session, now)
    return older if isinstance(older, ActionResult) else (fleet, len(older))


def _older_note(older: int) -> str:
    return f"; closed first the {older} older session(s) of it left open" if older else ""


def _ends(
    config: Config, now: datetime, task: str, older: int, who: str, last: list[tuple[str, str]]
) -> list[str]:
    """Log the ``SESSION-END`` of each of the ``older`` sessions of ``task`` left open before
    the one recovered (closed by ``who``), then that one's (``last``): the lines written."""
    lines = [audit(config, now, "SESSION-END", end_fields(task, who)) for _ in range(older)]
    lines.append(audit(config, now, "SESSION-END", last))
    return lines


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
    prepared = _prepare(config, task, now, reader, git, not_asked, "recovering a session")
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
    checked = _recheck(config, reader, info, now)
    if isinstance(checked, ActionResult):
        return checked
    fleet, older = checked
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
        stem = f"{now:%Y-%m-%dT%H-%M-%S}-{slug(task)}-{new_id}"
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
        written = False
        try:
            checked_folder(folder)  # a link there: the brief would be written where it points
            if brief.is_symlink():
                raise LaunchError(f"{brief}: a symbolic link; remove it, nothing was started")
            atomic_write(brief, text.encode("utf-8"))
            written = True
            launched = start(request)
        except (LaunchError, OSError) as error:
            if written:
                with contextlib.suppress(OSError):
                    brief.unlink()
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
        audit(config, now, "RECOVERY", resume_fields(task, info.resume_from, who)),
        *_ends(config, now, task, older, who, end_fields(task, recovered_by)),
    )
    claim_note = _resume_claim_note(info) + _older_note(older)
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
    prepared = _prepare(config, task, now, reader, git, not_asked, "abandoning a session")
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
    checked = _recheck(config, reader, info, now)
    if isinstance(checked, ActionResult):
        return checked
    fleet, older = checked
    task = info.task
    claim = claim_for(fleet, info.session)
    state = claim_state_of(claim, info.instance)
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
        lines.append(audit(config, now, "RECOVERY", abandon_fields(task, reason, who)))

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
    lines.extend(_ends(config, now, task, older, who, end_fields(task, who)))
    archived = f"; archived {len(moved)} checkpoint(s)" if moved else ""
    message = f"abandoned {task}: {claim_note}{archived}{deleted_note}{_older_note(older)}"
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
    prepared = _prepare(config, task, now, reader, git, gh or ask_gh, "closing a session")
    if isinstance(prepared, ActionResult):
        return prepared
    info, reader, _git = prepared
    why = info.why_not("close_merged")
    if why is not None:
        return ActionResult(Outcome.REFUSED, why)
    who = by or actor()

    def body() -> ActionResult:
        checked = _recheck(config, reader, info, now)
        if isinstance(checked, ActionResult):
            return checked
        fields = [*end_fields(task, who), ("pr", str(info.pr))]
        lines = _ends(config, now, task, checked[1], who, fields)
        return ActionResult(
            Outcome.DONE,
            f"closed {task}: PR #{info.pr} is already merged, nothing to resume"
            + _older_note(checked[1]),
            log_lines=tuple(lines),
        )

    return _locked(config, task, body)
