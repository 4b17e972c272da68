"""Start an agent on free work: an available MEGA phase or standalone ticket (``ID[:PHASE]``).

:func:`plan_launch` says what would happen, or why it cannot: read-only, no agent command (or
not on PATH), no such unit, a unit that is not available (claimed, blocked, done), one already
launched and not yet claimed, a branch or worktree that already exists. :func:`launch` then,
under a launch lock (``<memory>/.launch-<slug>.lock``: two people cannot launch the same unit
twice), re-checks all of it and:

1. creates the worktree on a new branch from main (``git worktree add -b``; the path from
   ``launch_worktree``, by default a sibling folder ``<repo>-<slug>``; the branch from
   ``launch_branch``);
2. links its ``.claude/claims`` to the factory's claims folder, as the real factory does (every
   worktree shares the main repo's claims);
3. starts the configured ``agent_command`` there with the ``launch_prompt`` (naming the work,
   the phase and the Definition of Done) as its last argument, in a new tmux window or detached,
   exactly like Resume (:func:`~factory_tui.adapters.launch.launch_agent`);
4. appends ``LAUNCH | task=ID phase=N instance=NEW branch=B worktree=W by=WHO``.

The agent claims the unit itself under the protocol; until it does the fleet shows "launched,
not yet claimed" (:mod:`factory_tui.core.launches`). When the agent cannot be started, the new
worktree and branch are taken back (``git worktree remove`` without force, the branch deleted
only at the commit it was made at) and nothing is logged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.actions.recovery import Launcher
from factory_tui.actions.recovery_brief import new_instance_id
from factory_tui.actions.release import parse_target
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.launch import (
    Launched,
    LaunchError,
    LaunchRequest,
    inside_tmux,
    launch_agent,
)
from factory_tui.adapters.lock import LockBusy, LockUnsafe, claim_lock
from factory_tui.config import Config
from factory_tui.core.fleet import ClaimView, Fleet
from factory_tui.core.launch_templates import launch_slug, render, slug
from factory_tui.core.safe import printable

__all__ = ["LaunchPlan", "launch", "plan_launch"]


@dataclass(frozen=True)
class LaunchPlan:
    key: str
    claim_id: str
    phase: int | None
    title: str
    name: str
    tickets: tuple[str, ...]
    instance: str
    branch: str
    base: str
    worktree: Path
    main_tree: Path
    claims_dir: Path
    argv: tuple[str, ...]
    """The agent command with the prompt as its last argument."""
    prompt: str
    in_tmux: bool
    log_file: Path

    @property
    def slug(self) -> str:
        return launch_slug(self.claim_id, self.phase)

    def describe(self) -> list[str]:
        what = (
            f"phase {self.phase} ({self.name}) of {self.claim_id}"
            if self.phase is not None
            else self.key
        )
        where = (
            "in a new tmux window"
            if self.in_tmux
            else f"detached; its output goes to {self.log_file}"
        )
        return [
            f"work: {what} — {self.title}",
            f"new branch {self.branch} from {self.base}",
            f"new worktree {self.worktree}",
            f"links {self.worktree / '.claude' / 'claims'} → {self.claims_dir}",
            f"starts {' '.join(self.argv[:-1])} {where}, as instance {self.instance}",
            f"prompt: {self.prompt}",
            f"logs: LAUNCH | task={self.claim_id}"
            + (f" phase={self.phase}" if self.phase is not None else "")
            + f" instance={self.instance} branch={self.branch} …",
            "the agent claims the work itself; until then it shows as launched, not yet claimed",
        ]


def _refuse(message: str) -> ActionResult:
    return ActionResult(Outcome.REFUSED, message)


def _unit(fleet: Fleet, target: str) -> ClaimView | ActionResult:
    claim_id, phase = parse_target(target)
    views = [view for view in fleet.claims if view.unit.claim_id == claim_id]
    if not views:
        return ActionResult(Outcome.ERROR, f"no claim {claim_id} in this factory")
    if phase is None and views[0].kind == "mega":
        free = [str(v.unit.phase) for v in views if v.state == "available"]
        hint = f" (available: {', '.join(free)})" if free else " (none is available)"
        return _refuse(f"{claim_id} is a MEGA: name a phase, as {claim_id}:N{hint}")
    view = next((v for v in views if v.unit.phase == phase), None)
    if view is None:
        return ActionResult(Outcome.ERROR, f"{claim_id} has no phase {phase}")
    if view.state != "available":
        return _refuse(
            f"{view.key} is not available ({view.state}: {view.why}): only an available phase "
            "or ticket can be launched"
        )
    pending = fleet.launch_of(view.key)
    if pending is not None:
        return _refuse(f"{view.key} was already launched: {pending.why}")
    return view


def _agent_refusal(config: Config) -> ActionResult | None:
    if not config.agent_command:
        return _refuse(
            'no agent command is configured: set agent_command in factory.toml (e.g. ["claude"])'
        )
    if shutil.which(config.agent_command[0]) is None:
        return _refuse(
            f"the agent command {printable(config.agent_command[0], multiline=False)} is not on "
            "PATH: install it, or set agent_command in factory.toml"
        )
    return None


def _git_refusal(git: GitRepo, branch: str, worktree: Path) -> ActionResult | None:
    if git.branch_exists(branch):
        return _refuse(f"branch {branch} already exists: launch on it by hand, or remove it")
    if os.path.lexists(worktree):
        return _refuse(f"{worktree} already exists: move it away, or set launch_worktree")
    return None


def plan_launch(
    config: Config,
    target: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    git: GitRepo | None = None,
    tmux: bool | None = None,
) -> LaunchPlan | ActionResult:
    """What launching an agent on ``target`` would do, or why it cannot be done."""
    refusal = read_only_refusal(config, "launching an agent") or _agent_refusal(config)
    if refusal is not None:
        return refusal
    reader = reader or FactoryReader.warm(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    view = _unit(fleet, target)
    if isinstance(view, ActionResult):
        return view
    git = git or GitRepo(config.root)
    try:
        trees = git.worktrees()
        base = git.base_branch() or "HEAD"
    except GitError as error:
        return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
    if not trees:
        return ActionResult(Outcome.ERROR, f"{config.root} has no worktree; nothing was changed")
    main_tree = trees[0].path
    unit = view.unit
    names = {
        "repo": slug(main_tree.name),
        "slug": launch_slug(unit.claim_id, unit.phase),
        "id": slug(unit.claim_id),
        "phase": "" if unit.phase is None else str(unit.phase),
    }
    branch = render(config.launch_branch, names)
    worktree = main_tree.parent / render(config.launch_worktree, names)
    try:
        refusal = _git_refusal(git, branch, worktree)
    except GitError as error:
        return ActionResult(Outcome.ERROR, f"{error}; nothing was changed")
    if refusal is not None:
        return refusal
    instance = new_instance_id(now, (i.id for i in fleet.instances))
    what = (
        f"phase {unit.phase} ({unit.name}) of {unit.claim_id}"
        if unit.phase is not None
        else f"ticket {unit.claim_id}"
    )
    values = {
        "what": what,
        "id": unit.claim_id,
        "phase": "" if unit.phase is None else str(unit.phase),
        "name": unit.name,
        "title": view.title,
        "tickets": ", ".join(unit.tickets) or unit.claim_id,
        "branch": branch,
        "worktree": str(worktree),
        "instance": instance,
    }
    prompt = printable(
        render(config.launch_prompt, {k: printable(v, multiline=False) for k, v in values.items()})
    )
    stem = f"{now:%Y-%m-%dT%H-%M-%S}-{names['slug']}-{instance}"
    return LaunchPlan(
        key=view.key,
        claim_id=unit.claim_id,
        phase=unit.phase,
        title=view.title,
        name=unit.name,
        tickets=unit.tickets,
        instance=instance,
        branch=branch,
        base=base,
        worktree=worktree,
        main_tree=main_tree,
        claims_dir=config.claims_dir,
        argv=(*config.agent_command, prompt),
        prompt=prompt,
        in_tmux=inside_tmux() if tmux is None else tmux,
        log_file=config.memory_dir / "launches" / f"{stem}.log",
    )


def launch(
    config: Config,
    plan: LaunchPlan,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    git: GitRepo | None = None,
    launcher: Launcher | None = None,
    by: str | None = None,
) -> ActionResult:
    """Do what ``plan`` says (see the module), after checking again under the launch lock."""
    refusal = read_only_refusal(config, "launching an agent")
    if refusal is not None:
        return refusal
    folder = config.log_file.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with claim_lock(
            folder,
            f".launch-{plan.slug}.lock",
            stale_after_s=config.lock_stale_after.total_seconds(),
        ):
            return _launch_locked(
                config,
                plan,
                now,
                reader or FactoryReader.warm(config),
                git or GitRepo(config.root),
                launcher,
                by or actor(),
            )
    except LockBusy:
        return _refuse(f"someone else is launching {plan.key} right now — look again")
    except LockUnsafe as unsafe:
        return _refuse(f"cannot launch {plan.key}: {unsafe}; nothing was changed")
    except OSError as error:
        return ActionResult(Outcome.ERROR, f"cannot launch {plan.key}: {error}")


def _launch_locked(
    config: Config,
    plan: LaunchPlan,
    now: datetime,
    reader: FactoryReader,
    git: GitRepo,
    launcher: Launcher | None,
    by: str,
) -> ActionResult:
    refusal = _agent_refusal(config)
    if refusal is not None:
        return refusal
    reader.refresh_all()
    view = _unit(reader.fleet(now, full=True), plan.key)
    if isinstance(view, ActionResult):
        return view
    try:
        refusal = _git_refusal(git, plan.branch, plan.worktree)
        if refusal is not None:
            return refusal
        git.add_worktree(plan.worktree, plan.branch, plan.base)
        sha = git.branch_sha(plan.branch)
    except GitError as error:
        return ActionResult(Outcome.ERROR, f"{error}; nothing was launched")
    details: list[str] = []
    note = _link_claims(plan.worktree, plan.claims_dir)
    if note:
        details.append(note)
    request = LaunchRequest(
        argv=plan.argv,
        cwd=plan.worktree,
        env={
            "FACTORY_INSTANCE": plan.instance,
            "FACTORY_TASK": plan.claim_id,
            "FACTORY_PHASE": "" if plan.phase is None else str(plan.phase),
            "FACTORY_CLAIM": plan.key,
            "FACTORY_BRANCH": plan.branch,
        },
        name=f"launch-{plan.slug}",
        log_file=plan.log_file,
    )
    try:
        started: Launched = (launcher or _default_launcher(plan.in_tmux))(request)
    except (LaunchError, OSError) as error:
        undone = _undo(git, plan, sha)
        return ActionResult(
            Outcome.ERROR, f"could not start the agent: {error}; {undone}", tuple(details)
        )
    fields = [("task", plan.claim_id)]
    if plan.phase is not None:
        fields.append(("phase", str(plan.phase)))
    fields += [
        ("instance", plan.instance),
        ("branch", plan.branch),
        ("worktree", str(plan.worktree)),
        ("mode", started.mode),
    ]
    if started.window:
        fields.append(("window", started.window))
    if started.pid is not None:
        fields.append(("pid", str(started.pid)))
    fields.append(("by", by))
    line = audit(config, now, "LAUNCH", fields)
    if started.log_file is not None:
        details.append(f"output: {started.log_file}")
    return ActionResult(
        Outcome.DONE,
        f"launched {plan.instance} on {plan.key} in {plan.worktree} (branch {plan.branch}), "
        f"{started.describe()}; it claims the work itself",
        tuple(details),
        (line,),
    )


def _default_launcher(in_tmux: bool) -> Launcher:
    return lambda request: launch_agent(request, tmux=in_tmux)


def _link_claims(worktree: Path, claims_dir: Path) -> str | None:
    """``<worktree>/.claude/claims`` → the factory's claims folder; a note when it could not be
    linked (the branch tracks files there: they are left alone)."""
    link = worktree / ".claude" / "claims"
    try:
        if link.is_symlink() or (link.is_dir() and any(link.iterdir())):
            return f"{link} exists in the branch: not linked to {claims_dir}; check it"
        if link.is_dir():
            link.rmdir()  # empty: the link replaces it
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(claims_dir, link, target_is_directory=True)
    except OSError as error:
        return f"{link} could not be linked to {claims_dir}: {error}"
    return None


def _undo(git: GitRepo, plan: LaunchPlan, sha: str | None) -> str:
    """Take back the new worktree and branch (clean, just made); say what is left."""
    link = plan.worktree / ".claude" / "claims"
    with contextlib.suppress(OSError):
        if link.is_symlink():
            link.unlink()
            with contextlib.suppress(OSError):
                link.parent.rmdir()  # only when we emptied it
    try:
        git.remove_worktree(plan.worktree)
        if sha is not None:
            git.delete_branch(plan.branch, sha)
    except GitError as error:
        return (
            f"the new worktree {plan.worktree} and branch {plan.branch} are left ({error}); "
            "nothing was logged"
        )
    return "the new worktree and branch were taken back; nothing was logged"
