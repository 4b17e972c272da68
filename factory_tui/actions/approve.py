"""Approve a PR (FORMATS.md): every check first (the PR is open, not a draft, CI green unless
overridden, no conflict, main's worktree clean), and only then: write a checkpoint, log
``CHECKPOINT``, squash merge (``gh pr merge N --squash --delete-branch``, or for a local PR a
squash commit on main made by :class:`~factory_tui.adapters.git.GitRepo`), verify, log
``STEP-DONE | step=merged task=T pr=N sha=S``, delete the checkpoint. A merge that fails leaves
main as it was; it is logged as an ``ERROR`` and its checkpoint removed, so recovery never
mistakes it for a merge in progress.

:func:`plan_approve` checks without changing a thing (what the confirmation shows);
:func:`approve_pr` checks again and acts."""

from __future__ import annotations

import contextlib
import json
import shlex
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.actions.prs import (
    gh_client,
    git_repo,
    prs_config,
    queued_pr,
    task_for,
)
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import Gh, GhError
from factory_tui.adapters.git import GitError, GitRepo, SquashPlan
from factory_tui.adapters.lock import append_line, atomic_write
from factory_tui.config import Config
from factory_tui.core.oplog import format_event
from factory_tui.core.prs import CiState, PullRequest
from factory_tui.core.prs_link import branch_slug
from factory_tui.core.prs_queue import PrView, Queue
from factory_tui.core.safe import printable
from factory_tui.core.steps import STEP_ORDER
from factory_tui.core.timeparse import format_ts, utc_naive

__all__ = ["ApprovePlan", "approve_pr", "plan_approve"]

_CI_WORDS = {"green": "green", "red": "red", "pending": "still running", "none": "unknown"}


@dataclass(frozen=True)
class ApprovePlan:
    """What approving would do, step by step, for the confirmation."""

    view: PrView
    task: str
    ci: CiState
    ci_detail: str
    head_sha: str | None
    merge_argv: tuple[str, ...] | None
    """GitHub: the exact ``gh pr merge`` command."""
    squash: SquashPlan | None
    """Local: the computed squash merge."""
    checkpoint: Path
    override_ci: bool
    warnings: tuple[str, ...]
    by: str

    @property
    def number(self) -> int | None:
        return self.view.number

    def commit_message(self) -> str:
        pr = self.view.pr
        ref = f" (#{self.number})" if self.number is not None else ""
        branch = self.view.branch or ""
        lines = [
            f"{pr.title or branch}{ref}",
            "",
            f"Squash merge of branch {branch}, approved by {self.by} in factory-tui.",
            "",
            f"Factory-Branch: {branch}",
            f"Factory-Head: {self.head_sha or ''}",
            f"Factory-Task: {self.task}",
        ]
        return "\n".join(lines) + "\n"

    def describe(self) -> list[str]:
        view, pr = self.view, self.view.pr
        title = printable(pr.title)
        where = []
        if view.link.task:
            where.append(f"task {printable(view.link.task)}")
        if view.link.instance:
            where.append(f"instance {printable(view.link.instance)}")
        lines = [
            f"approve {view.mode.mode.capitalize()} PR {view.label}: {title}"
            + (f" ({', '.join(where)})" if where else ""),
            f"mode: {printable(view.mode.reason)}",
            f"size: {view.size} ({pr.changed_lines} changed lines); "
            f"CI {_CI_WORDS[self.ci]}: {printable(self.ci_detail)}",
        ]
        lines += [f"⚠ {printable(w)}" for w in self.warnings]
        number = [("pr", str(self.number))] if self.number is not None else []
        checkpoint_line = format_event(
            "<now>", "CHECKPOINT", [("task", self.task), ("file", self.checkpoint.name)]
        )
        merged_line = format_event(
            "<now>",
            "STEP-DONE",
            [("step", "merged"), ("task", self.task), *number, ("sha", "<sha>")],
        )
        lines.append(f"1. writes the checkpoint {self.checkpoint}")
        lines.append(f"2. logs {printable(checkpoint_line)}")
        if self.merge_argv is not None:
            lines.append(f"3. runs: {printable(shlex.join(['gh', *self.merge_argv[1:]]))}")
        elif self.squash is not None:
            sq = self.squash
            lines.append(
                f"3. squash merges branch {printable(sq.branch)} (head {sq.head_sha[:7]}) into "
                f"{sq.main} (at {sq.main_sha[:7]}), leaving the branch as it is:"
            )
            lines.append(
                f"   git merge-tree --write-tree {sq.main_sha[:12]} {sq.head_sha[:12]}"
                f"  (done: no conflict, tree {str(sq.tree)[:12]})"
            )
            lines.append(
                f"   git commit-tree {str(sq.tree)[:12]} -p {sq.main_sha[:12]} -m "
                f"{printable(shlex.quote(self.commit_message().splitlines()[0]))} ... "
                f"(author {printable(sq.author[0])})"
            )
            if sq.main_worktree is not None:
                lines.append(
                    f"   git -C {shlex.quote(str(sq.main_worktree))} merge --ff-only <commit>"
                    "  (main's worktree is clean)"
                )
            else:
                lines.append(
                    f"   git update-ref refs/heads/{sq.main} <commit> {sq.main_sha[:12]}"
                    f"  ({sq.main} is checked out nowhere)"
                )
        lines.append(f"4. logs {printable(merged_line)}")
        lines.append("5. deletes the checkpoint")
        return lines


def _checkpoint_path(config: Config, now: datetime, task: str) -> Path:
    stamp = format_ts(now, seconds=True).replace(":", "-")
    base = config.checkpoints_dir / f"{stamp}-{branch_slug(task)}.json"
    path, counter = base, 2
    while path.exists():
        path = base.with_name(f"{base.stem}-{counter}.json")
        counter += 1
    return path


def plan_approve(
    config: Config,
    ref: str,
    *,
    now: datetime,
    override_ci: bool = False,
    queue: Queue | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reader: FactoryReader | None = None,
    by: str | None = None,
) -> ApprovePlan | ActionResult:
    """Check everything approving ``ref`` needs, fresh from the source, without changing a
    thing; an :class:`ActionResult` says why it cannot be approved."""
    pcfg = prs_config(config)
    view = queued_pr(config, ref, now=now, queue=queue, reader=reader, gh=gh, git=git)
    if isinstance(view, ActionResult):
        return view
    who = by or actor()
    warnings: list[str] = []
    merge_argv: tuple[str, ...] | None = None
    squash: SquashPlan | None = None
    head: str | None = view.pr.head_sha
    refused = _not_open(view.label, view.pr)
    if refused is not None:
        return refused
    ci, ci_detail = view.ci, view.ci_detail
    if view.pr.source == "github" and view.pr.number is not None:
        client = gh_client(config, pcfg, gh)
        try:
            fresh = client.view(view.pr.number)
            checks = client.checks(view.pr.number)
        except GhError as error:
            return ActionResult(Outcome.ERROR, f"cannot check {view.label}: {error}")
        refused = _not_open(view.label, fresh)
        if refused is not None:
            return refused
        if fresh.mergeable == "CONFLICTING":
            return ActionResult(
                Outcome.REFUSED,
                f"{view.label} conflicts with {fresh.base}: request changes so the agent "
                "rebases; nothing was merged",
            )
        # gh pr checks is the fresher word, unless it saw no checks where the PR lists some.
        if checks is not None and (checks[0] != "none" or fresh.ci == "none"):
            ci, ci_detail = checks[0], checks[1]
        else:
            ci, ci_detail = fresh.ci, fresh.ci_detail
        head = fresh.head_sha
        merge_argv = tuple(client.merge_argv(view.pr.number, head))
        view = replace(view, pr=fresh)
    else:
        if not view.branch:
            return ActionResult(Outcome.ERROR, f"{view.label} names no branch to merge")
        try:
            squash = git_repo(config, pcfg, git).plan_squash(view.branch)
        except GitError as error:
            return ActionResult(Outcome.ERROR, f"cannot check {view.label}: {error}")
        head = squash.head_sha
        if squash.dirty:
            listed = ", ".join(printable(d) for d in squash.dirty[:4])
            return ActionResult(
                Outcome.REFUSED,
                f"{squash.main_worktree} (main's worktree) has uncommitted changes ({listed}): "
                "commit or stash them, then approve again; nothing was merged",
            )
        if squash.tree is None:
            files = ", ".join(printable(c) for c in squash.conflicts[:5]) or "some files"
            return ActionResult(
                Outcome.REFUSED,
                f"{view.label} conflicts with {squash.main} in {files}: request changes so "
                "the agent rebases; nothing was merged, the branch is untouched",
                details=tuple(squash.conflicts),
            )
        if view.pr.worktree_dirty:
            warnings.append(
                f"the agent's worktree {view.pr.worktree} has uncommitted changes "
                f"({len(view.pr.worktree_dirty)}): they are not part of this merge"
            )
    if ci in ("red", "pending"):
        if not override_ci:
            what = "red" if ci == "red" else "still running"
            return ActionResult(
                Outcome.REFUSED,
                f"CI is {what} for {view.label} ({ci_detail}): wait for it or fix it, or "
                "approve with the CI override (logged)",
            )
        warnings.append(f"CI is {_CI_WORDS[ci]} and overridden: the log says so")
    if view.size == "must split":
        warnings.append(f"{view.changed_lines} changed lines: over 300, it should be split")
    failing = [item for item in view.dod if item.ok is False and item.name != "CI green"]
    if failing:
        warnings.append(
            "Definition of Done not met: " + "; ".join(f"{i.name}: {i.detail}" for i in failing)
        )
    task = task_for(view)
    return ApprovePlan(
        view=view,
        task=task,
        ci=ci,
        ci_detail=ci_detail,
        head_sha=head,
        merge_argv=merge_argv,
        squash=squash,
        checkpoint=_checkpoint_path(config, now, task),
        override_ci=override_ci and ci in ("red", "pending"),
        warnings=tuple(warnings),
        by=who,
    )


def _not_open(label: str, pr: PullRequest) -> ActionResult | None:
    """The refusal for a PR that is not open or still a draft (as listed, then as fresh)."""
    if pr.state != "open":
        return ActionResult(Outcome.REFUSED, f"{label} is {pr.state} already")
    if pr.draft:
        return ActionResult(Outcome.REFUSED, f"{label} is a draft: the agent marks it ready first")
    return None


def _checkpoint_data(
    plan: ApprovePlan, now: datetime, claims_dir: Path, root: Path
) -> dict[str, Any]:
    view = plan.view
    done_index = STEP_ORDER.index("ci") + 1
    claim_path = claims_dir / f"{view.link.claim_id}.json"
    try:
        claim_file = str(claim_path.relative_to(root))
    except ValueError:
        claim_file = str(claim_path)
    data: dict[str, Any] = {
        "task": plan.task,
        "timestamp": format_ts(now, seconds=True),
        "branch": view.branch,
        "git_sha": (plan.head_sha or "")[:7] or None,
        "pr_number": plan.number,
        "steps_completed": list(STEP_ORDER[:done_index]),
        "steps_remaining": list(STEP_ORDER[done_index:]),
        "context": {
            "files_modified": [f.path for f in view.pr.files or ()],
            "notes": f"approved by {plan.by} in factory-tui: squash merge into main",
            "mode": view.mode.mode,
        },
    }
    if view.link.claim_id is not None and view.link.phase is not None:
        data["claimed_phase"] = {
            "mega_id": view.link.claim_id,
            "phase_id": view.link.phase,
            "claim_file": claim_file,
        }
    return data


def approve_pr(
    config: Config,
    ref: str,
    *,
    now: datetime,
    override_ci: bool = False,
    confirmed: ApprovePlan | None = None,
    queue: Queue | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reader: FactoryReader | None = None,
    by: str | None = None,
) -> ActionResult:
    """Approve and squash merge ``ref`` (``#N``, ``N`` or a branch), per the protocol.

    Everything is checked again first; with ``confirmed`` (the plan the engineer saw) a PR whose
    head moved since is refused rather than merged unseen.
    """
    refusal = read_only_refusal(config, "approving a PR")
    if refusal is not None:
        return refusal
    plan = plan_approve(
        config,
        ref,
        now=now,
        override_ci=override_ci,
        queue=queue,
        gh=gh,
        git=git,
        reader=reader,
        by=by,
    )
    if isinstance(plan, ActionResult):
        return plan
    if confirmed is not None and confirmed.head_sha != plan.head_sha:
        return ActionResult(
            Outcome.REFUSED,
            f"{plan.view.label} changed since you confirmed (head {str(confirmed.head_sha)[:7]} → "
            f"{str(plan.head_sha)[:7]}): look at it again; nothing was merged",
        )
    pcfg = prs_config(config)
    view = plan.view
    number = [("pr", str(plan.number))] if plan.number is not None else []
    lines: list[str] = []
    try:
        plan.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(
            plan.checkpoint,
            (
                json.dumps(_checkpoint_data(plan, now, config.claims_dir, config.root), indent=2)
                + "\n"
            ).encode("utf-8"),
        )
        lines.append(
            audit(config, now, "CHECKPOINT", [("task", plan.task), ("file", plan.checkpoint.name)])
        )
    except OSError as error:
        with contextlib.suppress(OSError):
            plan.checkpoint.unlink()
        return ActionResult(
            Outcome.ERROR,
            f"cannot write the checkpoint {plan.checkpoint} ({error}); nothing was merged",
        )
    sha: str | None = None
    warning = ""
    try:
        if plan.merge_argv is not None and plan.number is not None:
            client = gh_client(config, pcfg, gh)
            try:
                client.merge(plan.number, plan.head_sha)
            except GhError as error:
                # --delete-branch may fail after the merge itself succeeded: ask GitHub.
                try:
                    after = client.view(plan.number)
                except GhError:
                    raise error from None
                if after.state != "merged":
                    raise
                warning = f" (gh said: {error})"
            merged = client.view(plan.number)
            if merged.state != "merged":
                raise GhError(
                    "failed", f"gh pr merge {plan.number} ran but GitHub says {merged.state}"
                )
            sha = merged.merge_sha
        elif plan.squash is not None:
            sha = git_repo(config, pcfg, git).squash_merge(plan.squash, plan.commit_message())
        else:  # pragma: no cover - plan_approve always sets one
            raise GitError("nothing to merge with")
    except (GhError, GitError) as error:
        lines.append(
            audit(
                config,
                now,
                "ERROR",
                [
                    ("task", plan.task),
                    ("error", "merge-failed"),
                    ("step", "merged"),
                    *number,
                    ("detail", str(error)[:200]),
                    ("by", plan.by),
                ],
            )
        )
        with contextlib.suppress(OSError):
            plan.checkpoint.unlink()
        said = str(error).lower()
        refused = "conflict" in said or "not mergeable" in said or "moved since" in said
        outcome = Outcome.REFUSED if refused else Outcome.ERROR
        return ActionResult(
            outcome,
            f"{view.label} was not merged: {error}; main is unchanged and the checkpoint removed",
            log_lines=tuple(lines),
        )
    fields = [("step", "merged"), ("task", plan.task), *number]
    if sha:
        fields.append(("sha", sha[:7]))
    if view.branch:
        fields.append(("branch", view.branch))
    fields.append(("mode", view.mode.mode))
    if plan.override_ci:
        fields.append(("ci", f"{plan.ci}-overridden"))
    fields.append(("by", plan.by))
    lines.append(audit(config, now, "STEP-DONE", fields))
    metrics = [("task", plan.task), *number, ("mode", view.mode.mode), ("by", plan.by)]
    with contextlib.suppress(OSError):
        # metrics.log is in UTC without a marker (FORMATS.md), unlike operations.log.
        stamp = format_ts(utc_naive(now))
        append_line(config.metrics_file, format_event(stamp, "PR-MERGED", metrics))
    with contextlib.suppress(OSError):
        plan.checkpoint.unlink()
    short = sha[:7] if sha else "(sha unknown)"
    return ActionResult(
        Outcome.DONE,
        f"merged {view.label} into {view.pr.base} as {short} (squash){warning}",
        details=plan.warnings,
        log_lines=tuple(lines),
    )
