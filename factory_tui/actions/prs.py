"""The approval queue's actions: approve (squash merge), request changes, mark a Show PR reviewed.

Approve follows the protocol (FORMATS.md): every check first (the PR is open, not a draft, CI
green unless overridden, no conflict, main's worktree clean), and only then: write a checkpoint,
log ``CHECKPOINT``, squash merge (``gh pr merge N --squash --delete-branch``, or for a local PR a
squash commit on main made by :class:`~factory_tui.adapters.git.GitRepo`), verify, log
``STEP-DONE | step=merged task=T pr=N sha=S``, delete the checkpoint. A merge that fails leaves
main as it was; it is logged as an ``ERROR`` and its checkpoint removed, so recovery never
mistakes it for a merge in progress.

Request changes goes to GitHub (``gh pr review N --request-changes --body TEXT``) or, for a
local PR, into a note file beside the claims folder (``.claude/reviews/review-<branch>.md``,
never in the agent's worktree); both are logged as ``REVIEW`` lines. Marking a Show PR
reviewed is the engineer's own bookkeeping, kept per user in
``platformdirs.user_state_path("factory-tui")`` (``FACTORY_TUI_STATE_DIR`` overrides it).

Also here: loading the queue from the sources (:func:`load_queue`), a PR's diff for the viewer
(:func:`pr_diff`) and :func:`ask_waiting` for ``snapshot --fail-on ask``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import Gh, GhError
from factory_tui.adapters.git import GitError, GitRepo, SquashPlan
from factory_tui.adapters.lock import append_line, atomic_write
from factory_tui.adapters.prs_git import local_pr_diff, merged_prs, open_prs, review_note_path
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.adapters.user_state import read_state, state_dir, write_state
from factory_tui.config import Config, missing_inputs, parse_duration
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import Fleet
from factory_tui.core.modes import ModeSettings, settings_from_config
from factory_tui.core.oplog import format_event
from factory_tui.core.prs import CiState, PullRequest, SessionLike, Source
from factory_tui.core.prs_link import branch_slug, candidate_branches
from factory_tui.core.prs_patch import FileDiff, split_patch
from factory_tui.core.prs_queue import PrView, Queue, ReviewState, build_queue
from factory_tui.core.safe import printable
from factory_tui.core.steps import STEP_ORDER
from factory_tui.core.timeparse import format_ts, parse_ts, utc_naive

__all__ = [
    "REVIEWS_FILE",
    "ApprovePlan",
    "PrsConfig",
    "PrsError",
    "approve_pr",
    "ask_waiting",
    "diff_pager",
    "load_queue",
    "load_review_state",
    "mark_reviewed",
    "plan_approve",
    "pr_diff",
    "prs_config",
    "record_look",
    "request_changes",
    "review_note_for",
    "state_dir",
]

REVIEWS_FILE = "prs-reviews.json"
#: A diff longer than this is cut (with a note) before it reaches the viewer.
MAX_DIFF_CHARS = 4 << 20
SourceChoice = Literal["auto", "github", "local", "both"]


class PrsError(Exception):
    """A PR source could not answer; ``str()`` says what to do."""


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrsConfig:
    """``[prs]`` of factory.toml: ``source``, ``main``, ``show_horizon``, ``pager``,
    ``gh_timeout``, ``[prs.paths]``, ``[prs.components]``."""

    source: SourceChoice = "auto"
    main: str = "main"
    horizon: timedelta = timedelta(days=7)
    pager: tuple[str, ...] | None = None
    gh_timeout: float = 30.0
    modes: ModeSettings = field(default_factory=ModeSettings)
    problems: tuple[str, ...] = ()


def prs_config(config: Config) -> PrsConfig:
    where = config.sources.get("extra.prs", "config")
    modes = settings_from_config(config.extra, where)
    table = config.extra.get("prs")
    if not isinstance(table, Mapping):
        return PrsConfig(modes=modes, problems=modes.problems)
    problems: list[str] = []
    source = str(table.get("source", "auto")).lower()
    if source not in ("auto", "github", "local", "both"):
        problems.append(f"{where}: [prs] source = {source!r}: use auto, github, local or both")
        source = "auto"
    main = table.get("main", "main")
    if not isinstance(main, str) or not main.strip():
        problems.append(f"{where}: [prs] main must be a branch name; using main")
        main = "main"
    horizon = timedelta(days=7)
    raw_horizon = table.get("show_horizon")
    if raw_horizon is not None:
        try:
            horizon = parse_duration(str(raw_horizon))
        except ValueError:
            problems.append(f"{where}: [prs] show_horizon = {raw_horizon!r}: not a duration")
    pager: tuple[str, ...] | None = None
    raw_pager = table.get("pager")
    if isinstance(raw_pager, str) and raw_pager.strip():
        pager = tuple(shlex.split(raw_pager))
    elif isinstance(raw_pager, list) and all(isinstance(p, str) for p in raw_pager):
        pager = tuple(raw_pager) or None
    timeout = table.get("gh_timeout", 30.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        problems.append(f"{where}: [prs] gh_timeout must be a number of seconds; using 30")
        timeout = 30.0
    return PrsConfig(
        source=source,  # type: ignore[arg-type]
        main=main.strip(),
        horizon=horizon,
        pager=pager,
        gh_timeout=float(timeout),
        modes=modes,
        problems=(*problems, *modes.problems),
    )


def diff_pager(config: Config) -> tuple[str, ...] | None:
    """The external pager for diffs (``[prs] pager = "delta"``), as argv; ``None``: built in."""
    return prs_config(config).pager


# -- the per-user review state -----------------------------------------------------------------


def _reviews_path(folder: Path | None) -> Path:
    return (folder or state_dir()) / REVIEWS_FILE


def _repo_entry(data: dict[str, Any], root: Path) -> dict[str, Any]:
    repos: dict[str, Any] = data.setdefault("repos", {})
    entry = repos.get(str(root))
    if not isinstance(entry, dict):
        entry = repos[str(root)] = {}
    if not isinstance(entry.get("reviewed"), dict):
        entry["reviewed"] = {}
    return entry


def load_review_state(config: Config, *, folder: Path | None = None) -> ReviewState:
    path = _reviews_path(folder)
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return ReviewState()
    entry = data.get("repos", {}).get(str(config.root)) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        return ReviewState()
    reviewed = entry.get("reviewed")
    last = entry.get("last_look")
    return ReviewState(
        reviewed=frozenset(reviewed) if isinstance(reviewed, dict) else frozenset(),
        last_look=parse_ts(last) if isinstance(last, str) else None,
    )


def record_look(config: Config, now: datetime, *, folder: Path | None = None) -> None:
    """The engineer looked at the queue now: Show PRs merged before this are no longer new."""
    path = _reviews_path(folder)
    data = read_state(path)
    _repo_entry(data, config.root)["last_look"] = format_ts(now, seconds=True)
    write_state(path, data)


# -- loading the queue ---------------------------------------------------------------------------


@dataclass
class _Fetched:
    prs: list[PullRequest] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)


def _gh(config: Config, pcfg: PrsConfig, gh: Gh | None) -> Gh:
    return gh or Gh(config.root, timeout=pcfg.gh_timeout)


def _git(config: Config, pcfg: PrsConfig, git: GitRepo | None) -> GitRepo:
    return git or GitRepo(config.root, main=pcfg.main)


def _fetch(
    config: Config,
    pcfg: PrsConfig,
    *,
    now: datetime,
    sessions: Sequence[SessionLike],
    units: Sequence[ClaimUnit],
    choice: SourceChoice,
    gh: Gh | None,
    git: GitRepo | None,
) -> _Fetched:
    got = _Fetched()
    use_local = choice in ("local", "both")
    if choice in ("auto", "github", "both"):
        client = _gh(config, pcfg, gh)
        try:
            got.prs.extend(client.list_prs("open"))
            got.prs.extend(client.list_prs("merged", limit=50))
            got.sources.append("github")
            got.notices.extend(problem for pr in got.prs for problem in pr.problems)
        except GhError as error:
            got.notices.append(str(error))
            use_local = use_local or choice == "auto"
    if use_local:
        try:
            local = _git(config, pcfg, git)
            trees = local.worktrees()
            names = [w.branch for w in trees if w.branch]
            branches = candidate_branches(sessions, units, names, main=pcfg.main)
            got.prs.extend(
                open_prs(local, branches, worktrees=trees, reviews_dir=_reviews_dir(config))
            )
            got.prs.extend(merged_prs(local, now - pcfg.horizon))
            got.sources.append("local")
        except GitError as error:
            got.notices.append(f"local PRs: {error}")
    return got


def _state_texts(config: Config) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in (config.plan_file, config.memory_file):
        # Never opened blocking, never read past the cap: a FIFO or a device is skipped (the
        # reader lists it as a problem).
        data = read_factory_file(path, config.max_file_bytes)
        if isinstance(data, bytes):
            texts[path.name] = data[: 1 << 20].decode("utf-8", "replace")
    return texts


def load_queue(
    config: Config,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    fleet: Fleet | None = None,
    source: SourceChoice | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reviews_dir: Path | None = None,
) -> Queue:
    """Fetch the PRs (``gh``, local git, per ``[prs] source`` or ``source``) and build the queue.

    Sessions and claims for the links come from ``reader`` (every session in the log) or
    ``fleet`` (the sessions it shows); without either, the factory is read here. Blocking (it
    runs git and gh): call it from a worker thread.
    """
    pcfg = prs_config(config)
    sessions: Sequence[SessionLike]
    units: list[ClaimUnit]
    if fleet is not None and reader is None:
        sessions = fleet.sessions
        units = [view.unit for view in fleet.claims]
    else:
        if reader is None:
            reader = FactoryReader(config)
            reader.refresh_claims()
            reader.refresh_log()
        sessions = reader.fold.sessions
        units = [unit for claim in reader.claim_files() for unit in claim.units]
    got = _fetch(
        config,
        pcfg,
        now=now,
        sessions=sessions,
        units=units,
        choice=source or pcfg.source,
        gh=gh,
        git=git,
    )
    return build_queue(
        got.prs,
        now=now,
        sessions=sessions,
        units=units,
        settings=pcfg.modes,
        review=load_review_state(config, folder=reviews_dir),
        state_texts=_state_texts(config),
        horizon=pcfg.horizon,
        notices=[*pcfg.problems, *got.notices, *_where_branches_come_from(config)],
        sources=got.sources,
    )


def _where_branches_come_from(config: Config) -> list[str]:
    """The agents' branches are found through the claims and the log: when either does not
    exist, say where it was looked for (an empty queue alone would not tell)."""
    return [
        f"agent branches are found in the claims and the log: {s}" for s in missing_inputs(config)
    ]


def ask_waiting(config: Config, fleet: Fleet) -> int:
    """How many Ask PRs wait for the engineer (for ``snapshot --fail-on ask``)."""
    return load_queue(config, now=fleet.generated_at, fleet=fleet).ask_waiting


def pr_diff(
    config: Config, view: PrView, *, gh: Gh | None = None, git: GitRepo | None = None
) -> list[FileDiff]:
    """The PR's diff, one :class:`FileDiff` per file, for the viewer. Raises :class:`PrsError`."""
    pcfg = prs_config(config)
    pr = view.pr
    try:
        if pr.source == "github" and pr.number is not None:
            text = _gh(config, pcfg, gh).diff(pr.number)
        else:
            text = local_pr_diff(_git(config, pcfg, git), pr)
    except (GhError, GitError) as error:
        raise PrsError(f"the diff of {view.label} cannot be read: {error}") from None
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS]
        files = split_patch(text)
        if files:
            last = files[-1]
            files[-1] = FileDiff(
                last.path,
                last.old_path,
                last.status,
                last.additions,
                last.deletions,
                last.binary,
                last.text + f"\n… the diff is cut at {MAX_DIFF_CHARS} characters\n",
            )
        return files
    return split_patch(text)


# -- approve ------------------------------------------------------------------------------------

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


def _task_for(view: PrView) -> str:
    if view.link.task:
        return view.link.task
    if view.branch:
        return view.branch
    return f"pr-{view.number}" if view.number is not None else "pr"


def _reviews_dir(config: Config) -> Path:
    """The factory's review notes: ``reviews/`` beside the claims folder."""
    return config.claims_dir.parent / "reviews"


def review_note_for(config: Config, view: PrView) -> Path:
    """Where a request for changes on the local PR ``view`` is written: ``reviews/`` beside the
    claims folder (``<root>/.claude/reviews/review-<branch>.md`` by default), outside the agent's
    worktree, so that Recover does not count it as the agent's uncommitted work. The REVIEW
    line in operations.log names it (``file=``)."""
    return review_note_path(_reviews_dir(config), view.branch or _task_for(view))


def _checkpoint_path(config: Config, now: datetime, task: str) -> Path:
    stamp = format_ts(now, seconds=True).replace(":", "-")
    base = config.checkpoints_dir / f"{stamp}-{branch_slug(task)}.json"
    path, counter = base, 2
    while path.exists():
        path = base.with_name(f"{base.stem}-{counter}.json")
        counter += 1
    return path


def _find(queue: Queue, ref: str) -> PrView | ActionResult:
    view = queue.find(ref)
    if view is not None:
        return view
    where = ", ".join(queue.sources) or "no source"
    notes = f" ({queue.notices[0]})" if queue.notices else ""
    return ActionResult(
        Outcome.ERROR,
        f"no PR {printable(ref)} in the queue ({where}){notes}; `factory-tui prs` lists them",
    )


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
    queue = queue or load_queue(config, now=now, reader=reader, gh=gh, git=git)
    found = _find(queue, ref)
    if isinstance(found, ActionResult):
        return found
    view = found
    who = by or actor()
    warnings: list[str] = []
    merge_argv: tuple[str, ...] | None = None
    squash: SquashPlan | None = None
    head: str | None = view.pr.head_sha
    if view.pr.state != "open":
        return ActionResult(Outcome.REFUSED, f"{view.label} is {view.pr.state} already")
    if view.pr.draft:
        return ActionResult(
            Outcome.REFUSED, f"{view.label} is a draft: the agent marks it ready first"
        )
    ci, ci_detail = view.ci, view.ci_detail
    if view.pr.source == "github" and view.pr.number is not None:
        client = _gh(config, pcfg, gh)
        try:
            fresh = client.view(view.pr.number)
            checks = client.checks(view.pr.number)
        except GhError as error:
            return ActionResult(Outcome.ERROR, f"cannot check {view.label}: {error}")
        if fresh.state != "open":
            return ActionResult(Outcome.REFUSED, f"{view.label} is {fresh.state} already")
        if fresh.draft:
            return ActionResult(
                Outcome.REFUSED, f"{view.label} is a draft: the agent marks it ready first"
            )
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
            squash = _git(config, pcfg, git).plan_squash(view.branch)
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
    task = _task_for(view)
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
            client = _gh(config, pcfg, gh)
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
            sha = _git(config, pcfg, git).squash_merge(plan.squash, plan.commit_message())
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


# -- request changes --------------------------------------------------------------------------


def request_changes(
    config: Config,
    ref: str,
    body: str,
    *,
    now: datetime,
    queue: Queue | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reader: FactoryReader | None = None,
    by: str | None = None,
) -> ActionResult:
    """Ask the agent for changes: a GitHub review, or a note in the factory's ``reviews/``
    folder (:func:`review_note_for`)."""
    refusal = read_only_refusal(config, "requesting changes")
    if refusal is not None:
        return refusal
    if not body.strip():
        return ActionResult(Outcome.REFUSED, "a request for changes needs a text (--body TEXT)")
    pcfg = prs_config(config)
    queue = queue or load_queue(config, now=now, reader=reader, gh=gh, git=git)
    found = _find(queue, ref)
    if isinstance(found, ActionResult):
        return found
    view = found
    if view.pr.state != "open":
        return ActionResult(Outcome.REFUSED, f"{view.label} is {view.pr.state}: nothing to review")
    who = by or actor()
    task = _task_for(view)
    fields: list[tuple[str, str]] = [("task", task)]
    if view.number is not None:
        fields.append(("pr", str(view.number)))
    if view.branch:
        fields.append(("branch", view.branch))
    fields.append(("action", "request-changes"))
    if view.pr.source == "github" and view.pr.number is not None:
        try:
            _gh(config, pcfg, gh).request_changes(view.pr.number, body)
        except GhError as error:
            return ActionResult(Outcome.ERROR, f"changes not requested on {view.label}: {error}")
        where = f"on GitHub ({view.pr.url or view.label})"
    else:
        note = review_note_for(config, view)
        try:
            _write_note(note, view, body, who, now)
        except OSError as error:
            return ActionResult(
                Outcome.ERROR, f"cannot write the review note {note} ({error}); nothing was sent"
            )
        fields.append(("file", str(note)))
        where = f"in {note}"
    first = body.strip().splitlines()[0].strip()
    fields += [("by", who), ("detail", first[:100])]
    line = audit(config, now, "REVIEW", fields)
    return ActionResult(
        Outcome.DONE, f"changes requested on {view.label} {where}", log_lines=(line,)
    )


def _write_note(note: Path, view: PrView, body: str, who: str, now: datetime) -> None:
    """Append a section to the note (earlier requests stay), written atomically."""
    note.parent.mkdir(parents=True, exist_ok=True)
    try:
        before = note.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    if not before:
        before = (
            f"# Changes requested on branch {view.branch}\n\n"
            "The engineer reviewed this branch in factory-tui and asks for the changes below "
            "before it is merged. Make them, commit, and log the step as usual.\n"
        )
    section = f"\n## {format_ts(now)} — {who}\n\n{body.rstrip()}\n"
    atomic_write(note, (before.rstrip("\n") + "\n" + section).encode("utf-8"))


# -- mark reviewed -------------------------------------------------------------------------------


def mark_reviewed(
    config: Config,
    ref: str | PrView,
    *,
    now: datetime,
    queue: Queue | None = None,
    reviews_dir: Path | None = None,
    by: str | None = None,
) -> ActionResult:
    """Remember that this user reviewed a merged Show PR: the engineer's own state, kept per user
    (not the factory's files, so not logged)."""
    refusal = read_only_refusal(config, "marking a PR reviewed")
    if refusal is not None:
        return refusal
    if isinstance(ref, PrView):
        view = ref
    else:
        queue = queue or load_queue(config, now=now, reviews_dir=reviews_dir)
        found = _find(queue, ref)
        if isinstance(found, ActionResult):
            return found
        view = found
    if view.pr.state != "merged":
        return ActionResult(
            Outcome.REFUSED,
            f"{view.label} is not merged: a Show PR is reviewed after it is merged",
        )
    path = _reviews_path(reviews_dir)
    try:
        data = read_state(path)
        entry = _repo_entry(data, config.root)
        entry["reviewed"][view.review_key] = {
            "at": format_ts(now, seconds=True),
            "by": by or actor(),
            "title": view.pr.title[:200],
        }
        write_state(path, data)
    except OSError as error:
        return ActionResult(Outcome.ERROR, f"cannot remember the review in {path} ({error})")
    return ActionResult(Outcome.DONE, f"marked {view.label} reviewed")
