"""Pull requests and the approval queue: the model, gh's JSON, links to the factory, the queue.

A :class:`PullRequest` comes from GitHub (``gh``'s JSON, parsed here) or from local git (an agent
branch not merged into main, or a squash commit on main). :func:`build_queue` links each one to
its task, instance and claim through the log's sessions (``pr=N``, ``branch=B``) and the claims'
branches, gives it a mode, a size class and its Definition of Done, and sorts the PRs into what
the engineer must do (Ask, oldest first), may review after the fact (Show merged since the last
look) and the record (Ship). Pure: no I/O, no clock (``now`` is an argument).

Here: the model and gh's JSON. The pieces: :mod:`~factory_tui.core.prs_patch` (a diff per file),
:mod:`~factory_tui.core.prs_link` (the links to the factory), :mod:`~factory_tui.core.prs_queue`
(the views and the queue).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from factory_tui.core.modes_paths import ChangedFile
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "CheckRun",
    "CiState",
    "PrState",
    "PullRequest",
    "SessionLike",
    "Source",
    "ci_from_checks",
    "ci_from_rollup",
    "pr_from_gh",
    "with_files",
]

Source = Literal["github", "local"]
PrState = Literal["open", "merged", "closed"]
CiState = Literal["green", "red", "pending", "none"]
QueueName = Literal["ask", "in-flight", "show", "ship", "merged", "closed"]


class SessionLike(Protocol):
    """What linking needs of a session: the fold's ``SessionRec`` and the fleet's
    ``SessionView`` both fit."""

    @property
    def task(self) -> str: ...
    @property
    def instance(self) -> str | None: ...
    @property
    def branch(self) -> str | None: ...
    @property
    def pr(self) -> str | None: ...
    @property
    def started_at(self) -> str: ...
    @property
    def last_step(self) -> str | None: ...
    @property
    def last_step_state(self) -> str | None: ...
    @property
    def last_step_at(self) -> str | None: ...
    @property
    def last_error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CheckRun:
    name: str
    bucket: Literal["pass", "fail", "pending", "skipping"]
    link: str | None = None


@dataclass(frozen=True)
class PullRequest:
    """One PR as its source tells it. ``branch`` is ``None`` for a squash commit on main whose
    branch is not named in its message (the log may still name it: see :func:`link_pr`)."""

    source: Source
    number: int | None
    branch: str | None
    title: str
    state: PrState
    base: str = "main"
    draft: bool = False
    created_at: datetime | None = None
    merged_at: datetime | None = None
    labels: tuple[str, ...] = ()
    files: tuple[ChangedFile, ...] | None = None
    additions: int = 0
    deletions: int = 0
    ci: CiState = "none"
    ci_detail: str = "no CI checks reported"
    checks: tuple[CheckRun, ...] = ()
    url: str | None = None
    head_sha: str | None = None
    merge_sha: str | None = None
    mergeable: str | None = None
    """GitHub's ``MERGEABLE``, ``CONFLICTING`` or ``UNKNOWN``; ``None`` when not asked."""
    worktree: str | None = None
    """Local: the agent's worktree that has the branch checked out."""
    worktree_dirty: tuple[str, ...] = ()
    """Local: uncommitted changes in that worktree (``git status --porcelain`` lines)."""
    author: str | None = None
    changes_requested: bool = False
    """The engineer asked for changes and the agent has not pushed since: the agent's turn."""
    problems: tuple[str, ...] = ()
    """What gh said that could not be read (a ``createdAt`` that is not a time): the queue's
    notices show it; the PR is kept with that field unknown."""

    @property
    def key(self) -> str:
        """How the CLI and the UI name it: ``#N`` on GitHub, the branch for an open local PR,
        ``#N`` or ``sha:<short>`` for a merged local one."""
        if self.source == "github" and self.number is not None:
            return f"#{self.number}"
        if self.state == "open" and self.branch:
            return self.branch
        if self.number is not None:
            return f"#{self.number}"
        if self.merge_sha is None and self.branch:
            return self.branch  # merged by the log's word only, with no number
        return f"sha:{(self.merge_sha or '')[:7]}"

    @property
    def changed_lines(self) -> int:
        return self.additions + self.deletions


# -- gh's JSON ---------------------------------------------------------------------------------

_FAIL = {"FAILURE", "TIMED_OUT", "CANCELLED", "ACTION_REQUIRED", "STARTUP_FAILURE", "ERROR"}
_PASS = {"SUCCESS", "NEUTRAL", "SKIPPED"}


def _summary(checks: Sequence[CheckRun]) -> tuple[CiState, str]:
    if not checks:
        return "none", "no CI checks reported"
    failing = [c.name for c in checks if c.bucket == "fail"]
    pending = [c.name for c in checks if c.bucket == "pending"]
    total = len(checks)
    if failing:
        return "red", f"{len(failing)} of {total} checks failing: {', '.join(failing[:4])}"
    if pending:
        return "pending", f"{len(pending)} of {total} checks running: {', '.join(pending[:4])}"
    return "green", f"{total} check{'s' if total > 1 else ''} passed"


def ci_from_rollup(rollup: object) -> tuple[CiState, str, tuple[CheckRun, ...]]:
    """``statusCheckRollup``: CheckRun (status, conclusion) and StatusContext (state) items."""
    checks: list[CheckRun] = []
    for item in rollup if isinstance(rollup, list) else []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name") or item.get("context") or "check")
        link = item.get("detailsUrl") or item.get("targetUrl")
        bucket: Literal["pass", "fail", "pending", "skipping"]
        if "conclusion" in item or "status" in item:
            status = str(item.get("status") or "").upper()
            conclusion = str(item.get("conclusion") or "").upper()
            if status and status != "COMPLETED":
                bucket = "pending"
            elif conclusion in _FAIL:
                bucket = "fail"
            elif conclusion == "SKIPPED":
                bucket = "skipping"
            elif conclusion in _PASS:
                bucket = "pass"
            else:
                bucket = "pending"
        else:
            state = str(item.get("state") or "").upper()
            bucket = "fail" if state in _FAIL else "pass" if state == "SUCCESS" else "pending"
        checks.append(CheckRun(name, bucket, str(link) if link else None))
    counted = [c for c in checks if c.bucket != "skipping"]
    state, detail = _summary(counted)
    return state, detail, tuple(checks)


def ci_from_checks(items: object) -> tuple[CiState, str, tuple[CheckRun, ...]]:
    """``gh pr checks N --json name,bucket,link``: bucket pass, fail, pending, skipping, cancel."""
    checks: list[CheckRun] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        raw = str(item.get("bucket") or "").lower()
        bucket: Literal["pass", "fail", "pending", "skipping"] = (
            "fail"
            if raw in ("fail", "cancel")
            else "pass"
            if raw == "pass"
            else "skipping"
            if raw == "skipping"
            else "pending"
        )
        link = item.get("link")
        checks.append(
            CheckRun(str(item.get("name") or "check"), bucket, str(link) if link else None)
        )
    state, detail = _summary([c for c in checks if c.bucket != "skipping"])
    return state, detail, tuple(checks)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _when(value: object) -> datetime | None:
    return parse_ts(value) if isinstance(value, str) and value else None


def _time_problems(number: int, obj: Mapping[str, Any]) -> tuple[str, ...]:
    """gh's times that are not times (out of range, junk): said, not a traceback."""
    out = []
    for key in ("createdAt", "mergedAt"):
        value = obj.get(key)
        if value not in (None, "") and _when(value) is None:
            shown = str(value)[:40]
            out.append(f"PR #{number}: gh's {key} {shown!r} is not a time; its age is unknown")
    return tuple(out)


def pr_from_gh(obj: Mapping[str, Any]) -> PullRequest:
    """One object of ``gh pr list/view --json ...``. Raises ``ValueError`` naming the field when
    it has no usable ``number``."""
    number = obj.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ValueError(f"gh answered a PR without a number: {str(obj)[:80]}")
    raw_state = str(obj.get("state") or "OPEN").upper()
    state: PrState = (
        "merged" if raw_state == "MERGED" else "closed" if raw_state == "CLOSED" else "open"
    )
    files: tuple[ChangedFile, ...] | None = None
    raw_files = obj.get("files")
    if isinstance(raw_files, list):
        files = tuple(
            ChangedFile(str(f.get("path")), _int(f.get("additions")), _int(f.get("deletions")))
            for f in raw_files
            if isinstance(f, dict) and f.get("path")
        )
    labels = tuple(
        str(label.get("name")) if isinstance(label, dict) else str(label)
        for label in obj.get("labels") or []
        if label
    )
    ci, detail, checks = ci_from_rollup(obj.get("statusCheckRollup"))
    merge_commit = obj.get("mergeCommit")
    merge_sha = merge_commit.get("oid") if isinstance(merge_commit, dict) else None
    author = obj.get("author")
    decision = str(obj.get("reviewDecision") or "").upper()
    return PullRequest(
        source="github",
        number=number,
        branch=str(obj.get("headRefName")) if obj.get("headRefName") else None,
        title=str(obj.get("title") or ""),
        state=state,
        base=str(obj.get("baseRefName") or "main"),
        draft=bool(obj.get("isDraft")),
        created_at=_when(obj.get("createdAt")),
        merged_at=_when(obj.get("mergedAt")),
        problems=_time_problems(number, obj),
        labels=labels,
        files=files,
        additions=_int(obj.get("additions")),
        deletions=_int(obj.get("deletions")),
        ci=ci,
        ci_detail=detail,
        checks=checks,
        url=str(obj.get("url")) if obj.get("url") else None,
        head_sha=str(obj.get("headRefOid")) if obj.get("headRefOid") else None,
        merge_sha=str(merge_sha) if merge_sha else None,
        mergeable=str(obj.get("mergeable")) if obj.get("mergeable") else None,
        author=str(author.get("login")) if isinstance(author, dict) else None,
        changes_requested=decision == "CHANGES_REQUESTED",
    )


def with_files(pr: PullRequest, files: Sequence[ChangedFile]) -> PullRequest:
    """``pr`` with its changed files (and line counts) filled in."""
    return replace(
        pr,
        files=tuple(files),
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
    )
