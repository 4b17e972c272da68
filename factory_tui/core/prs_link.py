"""Link a pull request to the fleet: the session and the claim that made it (by branch and ticket
id), and what the log says of it (local CI, merged).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import compress, count
from operator import or_

from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_saved import CodedColumn, codes_of_each
from factory_tui.core.fold_sessions import SessionTable
from factory_tui.core.prs import CiState, PullRequest, SessionLike
from factory_tui.core.safe import plain_int
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "Link",
    "branch_slug",
    "candidate_branches",
    "link_inputs",
    "link_pr",
    "link_rows",
    "log_branches",
    "ticket_ids",
]

_TICKET = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b")


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


def log_branches(sessions: SessionTable) -> list[str | None]:
    """Each branch the log's sessions name, once, first seen first: what
    :func:`candidate_branches` reads of them, from the branch column (no session made)."""
    seen: dict[str | None, None] = {}
    with sessions.archive_held():
        coded = sessions.coded_columns(["branch"])
        if coded is not None:  # each code once, first seen first; then its text
            column = coded[0]
            seen.update(dict.fromkeys(map(column.text, dict.fromkeys(column.codes))))
        for part in sessions.column_parts("branch", restored=coded is None):
            seen.update(dict.fromkeys(part))
    return list(seen)


def link_rows(sessions: SessionTable, prs: Iterable[PullRequest]) -> list[SessionRec]:
    """The log's sessions that :func:`link_pr` reads for ``prs``, in order: for each PR, the
    latest session whose ``pr=`` is its number, the latest on its branch, and the latest on its
    branch with a numeric ``pr=`` (for a PR without a branch, on its session's). Each of its
    walks keeps the last session it meets, so it reads no other (the same links as from every
    session). Found in the ``pr`` and ``branch`` columns; only those sessions are made: every
    session the PRs named, made, took 44,000 records and 1.2 s of ``factory-tui prs`` on a
    300-day history (a branch's hundreds of sessions), and a row of every session before that
    484 MB and 4 s."""
    prs = list(prs)
    numbers = {str(pr.number) for pr in prs if pr.number is not None}
    branches = {pr.branch for pr in prs if pr.branch}
    if not (numbers or branches):
        return []
    with sessions.archive_held():
        # Only these two columns of a restored fold's archive are kept, then only the rows
        # found: a 300-day history's every column was 150 MB of ``factory-tui prs``.
        coded = sessions.coded_columns(["pr", "branch"])
        by_number, found = _latest(sessions, coded, numbers, branches)
        # A PR without a branch takes its session's, whose numbered sessions link_pr may read.
        taken = {
            by_number[str(pr.number)][1]
            for pr in prs
            if not pr.branch and str(pr.number) in by_number
        }
        if more := {branch for branch in taken if branch} - branches:
            found |= _latest(sessions, coded, set(), more)[1]
        del coded
        return sessions.made(sorted(found))


def _latest(
    sessions: SessionTable,
    coded: list[CodedColumn] | None,
    numbers: set[str],
    branches: set[str],
) -> tuple[dict[str, tuple[int, str | None]], set[int]]:
    """For :func:`link_rows`: the latest session with each of ``numbers`` as its ``pr=`` (its
    ``seq`` and branch), and the ``seq`` of those, of the latest on each of ``branches`` and of
    the latest there with a numeric ``pr=``."""
    by_number: dict[str, tuple[int, str | None]] = {}
    by_branch: dict[str, int] = {}
    numbered_on: dict[str, int] = {}
    for seq, pr, branch in _named(sessions, coded, numbers, branches):
        if pr in numbers:
            by_number[pr] = (seq, branch)
        if branch in branches:
            by_branch[branch] = seq
            if pr and plain_int(pr) is not None:
                numbered_on[branch] = seq
    seqs = {seq for seq, _branch in by_number.values()}
    return by_number, seqs | set(by_branch.values()) | set(numbered_on.values())


def _named(
    sessions: SessionTable,
    coded: list[CodedColumn] | None,
    numbers: set[str],
    branches: set[str],
) -> Iterator[tuple[int, str | None, str | None]]:
    """Each session whose ``pr=`` is one of ``numbers`` or whose branch is one of
    ``branches``, in ``seq`` order: its ``seq``, ``pr`` and branch. A restored fold's
    sessions are found by their codes (see :meth:`SessionTable.coded_column`), the others in
    their columns a part at a time. ``coded``: its ``pr`` and ``branch`` columns so (see
    :meth:`SessionTable.coded_columns`), or None."""
    first = 0
    if coded is not None:
        prs, on = coded
        pr_codes, branch_codes = codes_of_each(coded, [numbers, branches])
        named = map(
            or_, map(pr_codes.__contains__, prs.codes), map(branch_codes.__contains__, on.codes)
        )
        for seq in compress(count(), named):
            yield seq, prs.text(prs.codes[seq]), on.text(on.codes[seq])
        first = len(prs.codes)
    restored = coded is None
    for pr_part, branch_part in zip(
        sessions.column_parts("pr", restored=restored),
        sessions.column_parts("branch", restored=restored),
        strict=True,
    ):
        named = map(
            or_, map(numbers.__contains__, pr_part), map(branches.__contains__, branch_part)
        )
        for at in compress(count(), named):
            yield first + at, pr_part[at], branch_part[at]
        first += len(pr_part)


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
    if session is not None and session.pr and plain_int(session.pr) is not None:
        logged = plain_int(session.pr)
    elif pr.source == "local" and branch:
        for rec in sessions:
            if rec.branch == branch and rec.pr and (numbered := plain_int(rec.pr)) is not None:
                logged = numbered
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


def link_inputs(
    sessions: Iterable[SessionLike], units: Iterable[ClaimUnit]
) -> tuple[tuple[object, ...], ...]:
    """Everything :func:`link_pr` and :func:`candidate_branches` read of the sessions and the
    claim units, in their order (the latest session wins): two fleets with equal answers link
    every PR alike, so a queue loaded for one is the other's too (a claim's title, a session's
    status or a log line on a task with no session change nothing here)."""
    return (
        tuple(
            (
                s.task,
                s.instance,
                s.branch,
                s.pr,
                s.started_at,
                s.last_step,
                s.last_step_state,
                s.last_step_at,
                s.last_error,
            )
            for s in sessions
        ),
        tuple((u.claim_id, u.phase, u.branch, u.owner, u.tickets) for u in units),
    )


def candidate_branches(
    session_branches: Iterable[str | None],
    units: Iterable[ClaimUnit],
    worktree_branches: Iterable[str] = (),
    *,
    main: str = "main",
) -> list[str]:
    """Agent branches worth a look, first seen first: claims' ``branch``, the sessions'
    (``SESSION-START branch=``, in their order), and the branches checked out in worktrees.
    ``main`` itself is left out."""
    seen: dict[str, None] = {}
    for unit in units:
        if unit.branch:
            seen.setdefault(unit.branch, None)
    for branch in session_branches:
        if branch:
            seen.setdefault(branch, None)
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


def local_ci(link: Link) -> tuple[CiState, str]:
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


def merged_by_the_log(pr: PullRequest, link: Link) -> PullRequest:
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
