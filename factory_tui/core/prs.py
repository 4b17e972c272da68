"""Pull requests and the approval queue: the model, gh's JSON, links to the factory, the queue.

A :class:`PullRequest` comes from GitHub (``gh``'s JSON, parsed here) or from local git (an agent
branch not merged into main, or a squash commit on main). :func:`build_queue` links each one to
its task, instance and claim through the log's sessions (``pr=N``, ``branch=B``) and the claims'
branches, gives it a mode, a size class and its Definition of Done, and sorts the PRs into what
the engineer must do (Ask, oldest first), may review after the fact (Show merged since the last
look) and the record (Ship). Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import fmt_age
from factory_tui.core.modes import (
    ChangedFile,
    DodItem,
    ModeSettings,
    ModeVerdict,
    SizeClass,
    classify,
    definition_of_done,
    size_class,
)
from factory_tui.core.safe import printable
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "CheckRun",
    "CiState",
    "FileDiff",
    "Link",
    "PrAttention",
    "PrState",
    "PrView",
    "PullRequest",
    "Queue",
    "ReviewState",
    "SessionLike",
    "Source",
    "branch_slug",
    "build_queue",
    "candidate_branches",
    "ci_from_checks",
    "ci_from_rollup",
    "link_pr",
    "parse_ref",
    "pr_from_gh",
    "split_patch",
    "ticket_ids",
    "view_pr",
    "with_files",
]

Source = Literal["github", "local"]
PrState = Literal["open", "merged", "closed"]
CiState = Literal["green", "red", "pending", "none"]
QueueName = Literal["ask", "in-flight", "show", "ship", "merged", "closed"]

_TICKET = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")


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


# -- diffs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file of a PR's diff, for the viewer: its unified diff text, as git wrote it."""

    path: str
    old_path: str | None
    status: str
    additions: int
    deletions: int
    binary: bool
    text: str


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(name: str) -> str:
    """git's C-style quoted path (``"a\\tb"``, octal bytes) back to text."""
    if not (len(name) >= 2 and name[0] == name[-1] == '"'):
        return name
    out = bytearray()
    body = name[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


def _strip_prefix(name: str) -> str:
    name = _unquote(name.strip())
    return name[2:] if name[:2] in ("a/", "b/") else name


def _header_path(rest: str) -> str:
    """``a/P b/P`` (same P both sides) → P; quoted forms unquoted."""
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        if end > 0:
            return _strip_prefix(rest[end + 2 :])
    if len(rest) > 5 and (len(rest) - 5) % 2 == 0:
        half = (len(rest) - 5) // 2
        path = rest[2 : 2 + half]
        if rest == f"a/{path} b/{path}":
            return path
    return _strip_prefix(rest.rsplit(" b/", 1)[-1] if " b/" in rest else rest)


def split_patch(text: str) -> list[FileDiff]:
    """A unified diff (``git diff``, ``gh pr diff``) cut into one :class:`FileDiff` per file."""
    chunks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git "):
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
    out: list[FileDiff] = []
    for chunk in chunks:
        header = chunk[0].rstrip("\n")[len("diff --git ") :]
        path = _header_path(header)
        old_path: str | None = None
        status = "M"
        binary = False
        additions = deletions = 0
        in_hunk = False
        minus: str | None = None
        for line in chunk[1:]:
            bare = line.rstrip("\n")
            if not in_hunk:
                if bare.startswith("new file mode"):
                    status = "A"
                elif bare.startswith("deleted file mode"):
                    status = "D"
                elif bare.startswith("rename from "):
                    old_path, status = _unquote(bare[len("rename from ") :]), "R"
                elif bare.startswith("rename to "):
                    path = _unquote(bare[len("rename to ") :])
                elif bare.startswith("Binary files ") or bare == "GIT binary patch":
                    binary = True
                elif bare.startswith("--- "):
                    minus = bare[4:]
                elif bare.startswith("+++ "):
                    plus = bare[4:]
                    if plus != "/dev/null":
                        path = _strip_prefix(plus)
                    elif minus and minus != "/dev/null":
                        path = _strip_prefix(minus)
                elif bare.startswith("@@"):
                    in_hunk = True
                continue
            if line.startswith("+"):
                additions += 1
            elif line.startswith("-"):
                deletions += 1
        out.append(FileDiff(path, old_path, status, additions, deletions, binary, "".join(chunk)))
    return out


# -- linking ------------------------------------------------------------------------------------


def branch_slug(branch: str) -> str:
    """A branch name as a safe file name part: ``fix/x; rm`` → ``fix-x-rm``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", branch).strip("-.") or "branch"


def ticket_ids(*texts: str | None) -> tuple[str, ...]:
    """Ticket ids (``CAB-1302``) named in branch names, tasks or titles, in order, unique."""
    found: list[str] = []
    for text in texts:
        for match in _TICKET.findall(text or ""):
            if match not in found:
                found.append(match)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Link:
    """Where a PR sits in the factory."""

    task: str | None = None
    instance: str | None = None
    claim: str | None = None
    """The claim unit's key (``CAB-1290:2`` or ``CAB-1302``)."""
    claim_id: str | None = None
    phase: int | None = None
    branch: str | None = None
    number: int | None = None
    """A PR number the log gave (``STEP-DONE step=pr-created pr=N``)."""
    tickets: tuple[str, ...] = ()
    session_started_at: str | None = None
    session_last_step: str | None = None
    session_last_step_state: str | None = None
    session_last_step_at: str | None = None
    session_last_error: str | None = None
    evidence: str = ""
    """How the link was made, in words."""


def link_pr(pr: PullRequest, sessions: Sequence[SessionLike], units: Sequence[ClaimUnit]) -> Link:
    """Link a PR to its session (``pr=N`` first, then ``branch=B``; the latest wins) and claim
    (a unit with the same branch, else one naming a ticket the branch or task names)."""
    number = str(pr.number) if pr.number is not None else None
    session: SessionLike | None = None
    how = ""
    if number is not None:
        for rec in sessions:
            if rec.pr == number:
                session, how = rec, f"the log's pr={number}"
    if session is None and pr.branch:
        for rec in sessions:
            if rec.branch == pr.branch:
                session, how = rec, f"the log's branch={pr.branch}"
    branch = pr.branch or (session.branch if session is not None else None)
    logged: int | None = None
    if session is not None and session.pr and session.pr.isdigit():
        logged = int(session.pr)
    elif pr.source == "local" and branch:
        for rec in sessions:
            if rec.branch == branch and rec.pr and rec.pr.isdigit():
                logged = int(rec.pr)
    task = session.task if session is not None else None
    tickets = ticket_ids(branch, task, pr.title)
    unit: ClaimUnit | None = None
    if branch:
        unit = next((u for u in units if u.branch == branch), None)
    if unit is None and tickets:
        unit = next(
            (u for u in units if u.claim_id in tickets or any(t in tickets for t in u.tickets)),
            None,
        )
    if unit is not None:
        tickets = tuple(dict.fromkeys((*unit.tickets, *tickets)))
        how += (" and " if how else "") + f"claim {unit.key}"
    instance = session.instance if session is not None else None
    if instance is None and unit is not None:
        instance = unit.owner
    return Link(
        task=task,
        instance=instance,
        claim=unit.key if unit is not None else None,
        claim_id=unit.claim_id if unit is not None else None,
        phase=unit.phase if unit is not None else None,
        branch=branch,
        number=logged,
        tickets=tickets,
        session_started_at=session.started_at if session is not None else None,
        session_last_step=session.last_step if session is not None else None,
        session_last_step_state=session.last_step_state if session is not None else None,
        session_last_step_at=session.last_step_at if session is not None else None,
        session_last_error=session.last_error if session is not None else None,
        evidence=how,
    )


def candidate_branches(
    sessions: Iterable[SessionLike],
    units: Iterable[ClaimUnit],
    worktree_branches: Iterable[str] = (),
    *,
    main: str = "main",
) -> list[str]:
    """Agent branches worth a look, first seen first: claims' ``branch``, ``SESSION-START
    branch=``, and the branches checked out in worktrees. ``main`` itself is left out."""
    seen: dict[str, None] = {}
    for unit in units:
        if unit.branch:
            seen.setdefault(unit.branch, None)
    for rec in sessions:
        if rec.branch:
            seen.setdefault(rec.branch, None)
    for name in worktree_branches:
        if name:
            seen.setdefault(name, None)
    seen.pop(main, None)
    return list(seen)


def _reached(link: Link, step: str) -> bool:
    """The linked session logged ``STEP-DONE step=<step>`` or a later step of the usual order."""
    last = link.session_last_step
    index, wanted = (step_index(last) if last else None), step_index(step)
    if index is None or wanted is None:
        return False
    return index > wanted or (index == wanted and link.session_last_step_state == "done")


def _local_ci(link: Link) -> tuple[CiState, str]:
    """Local git has no CI run; the log tells what the agent saw. A step past ci outweighs an
    earlier ci ERROR (the fold keeps a session's last ERROR however old): CI passed since."""
    error = link.session_last_error or ""
    step = link.session_last_step
    if step == "ci" and link.session_last_step_state == "done":
        return "green", "the log: STEP-DONE step=ci"
    if _reached(link, "ci"):
        return "green", f"the log: the agent is past the ci step ({step})"
    if error.startswith("ci") or (
        error and step == "ci" and link.session_last_step_state == "start"
    ):
        return "red", f"the log's last ERROR for {link.task}: {error}"
    return "none", "no CI for a local branch (nor a ci step in the log)"


def _merged_by_the_log(pr: PullRequest, link: Link) -> PullRequest:
    """An open local branch whose session logged ``STEP-DONE step=merged`` (or a later step) was
    merged where local git cannot see it (on GitHub, with gh absent): the log is the evidence.
    It is merged, at that step's time at the latest, under the PR number the log gave."""
    if pr.source != "local" or pr.state != "open" or not _reached(link, "merged"):
        return pr
    at = link.session_last_step_at
    return replace(
        pr,
        state="merged",
        number=pr.number if pr.number is not None else link.number,
        merged_at=parse_ts(at) if at else None,
    )


# -- views and the queue -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewState:
    """What this user did with Show PRs: the keys marked reviewed, and when they last looked."""

    reviewed: frozenset[str] = frozenset()
    last_look: datetime | None = None


@dataclass(frozen=True)
class PrView:
    pr: PullRequest
    mode: ModeVerdict
    size: SizeClass
    link: Link
    dod: tuple[DodItem, ...]
    ci: CiState
    ci_detail: str
    queue: QueueName
    age: timedelta | None
    """Open: since it was created; merged: since it was merged."""
    reviewed: bool = False
    new_since_look: bool = False

    @property
    def key(self) -> str:
        return self.pr.key

    @property
    def review_key(self) -> str:
        """Stable across runs, for the per-user review state."""
        return f"{self.pr.source}:{self.pr.key}"

    @property
    def number(self) -> int | None:
        return self.pr.number if self.pr.number is not None else self.link.number

    @property
    def branch(self) -> str | None:
        return self.pr.branch or self.link.branch

    @property
    def changed_lines(self) -> int:
        return self.pr.changed_lines

    @property
    def done(self) -> bool:
        """Every computable Definition-of-Done item holds."""
        return all(item.ok is not False for item in self.dod)

    @property
    def label(self) -> str:
        """``#373`` or ``branch fix/x``: how a sentence names it (agent text made printable)."""
        if self.pr.source == "github" or self.pr.state != "open":
            return printable(self.key)
        return f"branch {printable(self.key)}"

    def to_json(self) -> dict[str, object]:
        pr = self.pr
        return {
            "key": pr.key,
            "number": self.number,
            "branch": self.branch,
            "title": pr.title,
            "source": pr.source,
            "state": pr.state,
            "draft": pr.draft,
            "queue": self.queue,
            "mode": self.mode.mode,
            "mode_reason": self.mode.reason,
            "mode_source": self.mode.source,
            "changed_lines": pr.changed_lines,
            "additions": pr.additions,
            "deletions": pr.deletions,
            "size": self.size,
            "ci": self.ci,
            "ci_detail": self.ci_detail,
            "task": self.link.task,
            "instance": self.link.instance,
            "claim": self.link.claim,
            "created_at": format_ts(pr.created_at) if pr.created_at else None,
            "merged_at": format_ts(pr.merged_at) if pr.merged_at else None,
            "age": fmt_age(self.age) if self.age is not None else None,
            "labels": list(pr.labels),
            "url": pr.url,
            "files": [f.path for f in pr.files] if pr.files is not None else None,
            "definition_of_done": [item.to_json() for item in self.dod],
            "done": self.done,
            "reviewed": self.reviewed,
            "new_since_look": self.new_since_look,
            "worktree": pr.worktree,
            "worktree_dirty": list(pr.worktree_dirty),
            "merge_sha": pr.merge_sha,
            "changes_requested": pr.changes_requested,
        }


@dataclass(frozen=True, slots=True)
class PrAttention:
    """An Ask PR waiting, for the cockpit's ``n`` and its header count."""

    key: str
    kind: str
    since: datetime
    target: str
    """The PR's :attr:`PrView.key`."""
    title: str
    instance: str | None = None


@dataclass(frozen=True)
class Queue:
    generated_at: datetime
    ask: tuple[PrView, ...] = ()
    """Open Ask PRs waiting for the engineer, oldest first."""
    in_flight: tuple[PrView, ...] = ()
    """Open Show and Ship PRs (they merge on their own) and drafts, oldest first."""
    show: tuple[PrView, ...] = ()
    """Show PRs merged within the horizon and not yet marked reviewed, oldest first."""
    ship: tuple[PrView, ...] = ()
    """Ship PRs merged within the horizon, newest first: the record."""
    merged: tuple[PrView, ...] = ()
    """Every PR merged within the horizon (Ask, Show reviewed or not, Ship), newest first."""
    notices: tuple[str, ...] = ()
    """What the sources said (``gh`` missing or not logged in: what to run), config problems."""
    sources: tuple[Source, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ask_waiting(self) -> int:
        return len(self.ask)

    @property
    def views(self) -> tuple[PrView, ...]:
        """Each PR once: Ask, in flight, then merged (newest first)."""
        seen: dict[str, PrView] = {}
        for view in (*self.ask, *self.in_flight, *self.merged, *self.show, *self.ship):
            seen.setdefault(view.review_key, view)
        return tuple(seen.values())

    def find(self, ref: str) -> PrView | None:
        """``373``, ``#373``, a branch name, or ``sha:abc1234``; open PRs win over merged."""
        number, branch = parse_ref(ref)
        views = self.views
        if number is not None:
            for view in views:
                if view.number == number:
                    return view
        for view in views:
            if view.branch == branch or view.key == ref:
                return view
        return None

    def attention(self) -> list[PrAttention]:
        items = []
        for view in self.ask:
            pr = view.pr
            since = pr.created_at or self.generated_at
            waited = f" for {fmt_age(view.age)}" if view.age is not None else ""
            ci = "" if view.ci in ("green", "none") else f", CI {view.ci}"
            items.append(
                PrAttention(
                    key=f"pr:{view.review_key}",
                    kind="Ask PR",
                    since=since,
                    target=view.key,
                    title=(
                        f"Ask PR {view.label} waiting{waited}: {printable(pr.title)} "
                        f"({view.size}{ci})"
                    ),
                    instance=view.link.instance,
                )
            )
        return items

    def to_json(self) -> list[dict[str, object]]:
        return [view.to_json() for view in self.views]


def parse_ref(ref: str) -> tuple[int | None, str]:
    """``#373`` / ``373`` → (373, ref); anything else → (None, ref)."""
    text = ref.strip()
    digits = text.removeprefix("#")
    return (int(digits), text) if digits.isdigit() else (None, text)


def view_pr(
    pr: PullRequest,
    *,
    now: datetime,
    sessions: Sequence[SessionLike],
    units: Sequence[ClaimUnit],
    settings: ModeSettings | None = None,
    review: ReviewState | None = None,
    state_texts: Mapping[str, str] | None = None,
) -> PrView:
    """One PR with its link, mode, size, CI and Definition of Done (queue left to the caller)."""
    link = link_pr(pr, sessions, units)
    pr = _merged_by_the_log(pr, link)
    branch = pr.branch or link.branch or ""
    mode = classify(pr.files, labels=pr.labels, branch=branch, title=pr.title, settings=settings)
    if pr.source == "local" and pr.ci == "none":
        ci, ci_detail = _local_ci(link)  # merged too: the CI it had does not turn into none
    else:
        ci, ci_detail = pr.ci, pr.ci_detail
    if pr.source == "github":
        exists, exists_detail = True, f"#{pr.number} on GitHub"
    elif link.number is not None or pr.number is not None:
        exists, exists_detail = True, f"pr-created #{link.number or pr.number} in the log"
    else:
        exists, exists_detail = False, "a local branch only: no pr-created in the log"
    session_detail = (
        f"SESSION-START for {link.task} at {link.session_started_at}"
        + (f" ({link.instance})" if link.instance else "")
        if link.task
        else None
    )
    dod = definition_of_done(
        pr_exists=exists,
        pr_detail=exists_detail,
        ci=ci,
        ci_detail=ci_detail,
        session_detail=session_detail,
        files=pr.files,
        tickets=link.tickets,
        state_texts=state_texts,
        settings=settings,
    )
    when = pr.merged_at if pr.state == "merged" else pr.created_at
    review = review or ReviewState()
    review_key = f"{pr.source}:{pr.key}"
    reviewed = review_key in review.reviewed
    new = (
        pr.state == "merged"
        and pr.merged_at is not None
        and (review.last_look is None or pr.merged_at > review.last_look)
    )
    queue: QueueName
    if pr.state == "open":
        waiting = mode.mode == "ask" and not pr.draft and not pr.changes_requested
        queue = "ask" if waiting else "in-flight"
    elif pr.state == "merged":
        queue = "show" if mode.mode == "show" else "ship" if mode.mode == "ship" else "merged"
    else:
        queue = "closed"
    return PrView(
        pr=pr,
        mode=mode,
        size=size_class(pr.changed_lines),
        link=link,
        dod=dod,
        ci=ci,
        ci_detail=ci_detail,
        queue=queue,
        age=now - when if when is not None else None,
        reviewed=reviewed,
        new_since_look=new,
    )


_STATE_ORDER: dict[str, int] = {"open": 0, "closed": 1, "merged": 2}


def _latest_github(prs: Iterable[PullRequest]) -> list[PullRequest]:
    """``prs`` with each GitHub PR number once, in its latest state (merged or closed after
    open), at the place it was first listed."""
    kept: dict[tuple[str, int], PullRequest] = {}
    for index, pr in enumerate(prs):
        key = ("github", pr.number) if pr.source == "github" and pr.number else ("at", index)
        before = kept.get(key)
        if before is None or _STATE_ORDER[pr.state] > _STATE_ORDER[before.state]:
            kept[key] = pr
    return list(kept.values())


def build_queue(
    prs: Iterable[PullRequest],
    *,
    now: datetime,
    sessions: Sequence[SessionLike] = (),
    units: Sequence[ClaimUnit] = (),
    settings: ModeSettings | None = None,
    review: ReviewState | None = None,
    state_texts: Mapping[str, str] | None = None,
    horizon: timedelta = timedelta(days=7),
    notices: Iterable[str] = (),
    sources: Iterable[Source] = (),
) -> Queue:
    """Sort PRs into the queue. The same PR from two sources (GitHub and a local branch) is
    kept once, GitHub's; the same GitHub PR listed twice (it merged between the "open" and the
    "merged" listing) is kept once, in its latest state."""
    prs_list = _latest_github(prs)
    github_branches = {p.branch for p in prs_list if p.source == "github" and p.branch}
    views: list[PrView] = []
    merged_numbers = {
        p.number for p in prs_list if p.source == "local" and p.state == "merged" and p.number
    }
    for pr in prs_list:
        if pr.source == "local" and pr.branch in github_branches:
            continue
        views.append(
            view_pr(
                pr,
                now=now,
                sessions=sessions,
                units=units,
                settings=settings,
                review=review,
                state_texts=state_texts,
            )
        )
    # A local branch whose PR number (from the log) was squash-merged on main is that squash
    # commit (a branch has no merge_sha; a squash commit on main has one): listed once.
    views = [
        v
        for v in views
        if not (v.pr.source == "local" and v.pr.merge_sha is None and v.number in merged_numbers)
    ]
    oldest = datetime.max

    def opened(view: PrView) -> tuple[datetime, str]:
        return (view.pr.created_at or oldest, view.key)

    def merged_at(view: PrView) -> tuple[datetime, str]:
        return (view.pr.merged_at or datetime.min, view.key)

    horizon_start = now - horizon
    recent = [
        v
        for v in views
        if v.pr.state == "merged" and (v.pr.merged_at is None or v.pr.merged_at >= horizon_start)
    ]
    all_notices = list(notices)
    if settings is not None:
        all_notices.extend(settings.problems)
    return Queue(
        generated_at=now,
        ask=tuple(sorted((v for v in views if v.queue == "ask"), key=opened)),
        in_flight=tuple(sorted((v for v in views if v.queue == "in-flight"), key=opened)),
        show=tuple(
            sorted((v for v in recent if v.queue == "show" and not v.reviewed), key=merged_at)
        ),
        ship=tuple(sorted((v for v in recent if v.queue == "ship"), key=merged_at, reverse=True)),
        merged=tuple(sorted(recent, key=merged_at, reverse=True)),
        notices=tuple(dict.fromkeys(all_notices)),
        sources=tuple(dict.fromkeys(sources)),
    )


def with_files(pr: PullRequest, files: Sequence[ChangedFile]) -> PullRequest:
    """``pr`` with its changed files (and line counts) filled in."""
    return replace(
        pr,
        files=tuple(files),
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
    )
