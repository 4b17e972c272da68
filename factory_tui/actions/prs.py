"""The approval queue: its configuration, loading it from the sources (:func:`load_queue`),
finding a PR in it, a PR's diff for the viewer (:func:`pr_diff`), :func:`ask_waiting` for
``snapshot --fail-on ask``, and marking a Show PR reviewed: the engineer's own bookkeeping, kept
per user in ``platformdirs.user_state_path("factory-tui")`` (``FACTORY_TUI_STATE_DIR`` overrides
it).

The queue's actions live beside it: approve (checks, checkpoint, squash merge) in
:mod:`factory_tui.actions.approve`, request changes in :mod:`factory_tui.actions.request_changes`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from factory_tui.actions.base import ActionResult, Outcome, actor, read_only_refusal
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import Gh, GhError
from factory_tui.adapters.git import GitError, GitRepo
from factory_tui.adapters.prs_git import local_pr_diff, merged_prs, open_prs, review_note_path
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.adapters.user_state import STATE_BYTES, read_state, state_dir, write_state
from factory_tui.config import Config, missing_inputs, parse_duration
from factory_tui.config.regular_files import read_regular
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import Fleet
from factory_tui.core.modes_paths import ModeSettings, settings_from_config
from factory_tui.core.prs import PullRequest, SessionLike, Source
from factory_tui.core.prs_link import candidate_branches, link_rows, log_branches
from factory_tui.core.prs_patch import FileDiff, split_patch
from factory_tui.core.prs_queue import PrView, Queue, ReviewState, build_queue
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "REVIEWS_FILE",
    "PrsConfig",
    "PrsError",
    "ask_waiting",
    "diff_pager",
    "find_pr",
    "gh_client",
    "git_repo",
    "load_queue",
    "load_review_state",
    "mark_reviewed",
    "pr_diff",
    "prs_config",
    "queued_pr",
    "record_look",
    "review_note_for",
    "review_notes_dir",
    "state_dir",
    "task_for",
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
        data = json.loads(read_regular(path, STATE_BYTES))  # a FIFO there: never waited on
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


def gh_client(config: Config, pcfg: PrsConfig, gh: Gh | None) -> Gh:
    return gh or Gh(config.root, timeout=pcfg.gh_timeout)


def git_repo(config: Config, pcfg: PrsConfig, git: GitRepo | None) -> GitRepo:
    return git or GitRepo(config.root, main=pcfg.main)


def _fetch(
    config: Config,
    pcfg: PrsConfig,
    *,
    now: datetime,
    session_branches: Callable[[], Iterable[str | None]],
    units: Sequence[ClaimUnit],
    choice: SourceChoice,
    gh: Gh | None,
    git: GitRepo | None,
) -> _Fetched:
    """The PRs of the chosen sources; ``session_branches``: the sessions' branches, first seen
    first (read only when local git is asked)."""
    got = _Fetched()
    use_local = choice in ("local", "both")
    if choice in ("auto", "github", "both"):
        client = gh_client(config, pcfg, gh)
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
            local = git_repo(config, pcfg, git)
            trees = local.worktrees()
            names = [w.branch for w in trees if w.branch]
            branches = candidate_branches(session_branches(), units, names, main=pcfg.main)
            got.prs.extend(
                open_prs(local, branches, worktrees=trees, reviews_dir=review_notes_dir(config))
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
    units: list[ClaimUnit]
    if fleet is not None and reader is None:
        shown = fleet.sessions
        units = [view.unit for view in fleet.claims]

        def branches() -> list[str | None]:
            return [view.branch for view in shown]

        def linkable(prs: list[PullRequest]) -> Sequence[SessionLike]:
            return shown

    else:
        if reader is None:
            reader = FactoryReader.warm(config)
            reader.refresh_claims()
            reader.refresh_log()
        log = reader
        units = [unit for claim in log.claim_files() for unit in claim.units]

        # Every session in the log, read as columns: only the branches, and the sessions
        # the PRs found name (see link_rows).
        def branches() -> list[str | None]:
            return log.with_fold(lambda fold: log_branches(fold.sessions))

        def linkable(prs: list[PullRequest]) -> Sequence[SessionLike]:
            return log.with_fold(lambda fold: link_rows(fold.sessions, prs))

    got = _fetch(
        config,
        pcfg,
        now=now,
        session_branches=branches,
        units=units,
        choice=source or pcfg.source,
        gh=gh,
        git=git,
    )
    return build_queue(
        got.prs,
        now=now,
        sessions=linkable(got.prs),
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
            text = gh_client(config, pcfg, gh).diff(pr.number)
        else:
            text = local_pr_diff(git_repo(config, pcfg, git), pr)
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


# -- finding a PR, its task and its review note -------------------------------------------------


def task_for(view: PrView) -> str:
    if view.link.task:
        return view.link.task
    if view.branch:
        return view.branch
    return f"pr-{view.number}" if view.number is not None else "pr"


def review_notes_dir(config: Config) -> Path:
    """The factory's review notes: ``reviews/`` beside the claims folder."""
    return config.claims_dir.parent / "reviews"


def review_note_for(config: Config, view: PrView) -> Path:
    """Where a request for changes on the local PR ``view`` is written: ``reviews/`` beside the
    claims folder (``<root>/.claude/reviews/review-<branch>.md`` by default), outside the agent's
    worktree, so that Recover does not count it as the agent's uncommitted work. The REVIEW
    line in operations.log names it (``file=``)."""
    return review_note_path(review_notes_dir(config), view.branch or task_for(view))


def find_pr(queue: Queue, ref: str) -> PrView | ActionResult:
    view = queue.find(ref)
    if view is not None:
        return view
    where = ", ".join(queue.sources) or "no source"
    notes = f" ({queue.notices[0]})" if queue.notices else ""
    return ActionResult(
        Outcome.ERROR,
        f"no PR {printable(ref)} in the queue ({where}){notes}; `factory-tui prs` lists them",
    )


def queued_pr(
    config: Config,
    ref: str,
    *,
    now: datetime,
    queue: Queue | None = None,
    reader: FactoryReader | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reviews_dir: Path | None = None,
) -> PrView | ActionResult:
    """Load the queue (unless given), find the PR ``ref`` in it, or refuse (:func:`find_pr`)."""
    if queue is None:
        queue = load_queue(config, now=now, reader=reader, gh=gh, git=git, reviews_dir=reviews_dir)
    return find_pr(queue, ref)


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
        found = queued_pr(config, ref, now=now, queue=queue, reviews_dir=reviews_dir)
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
