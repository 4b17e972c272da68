"""The review queue: each pull request's view (mode, size, CI, what needs a look) and the queues
they fall into (ask, in-flight, show, ship, merged, closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from factory_tui.core.attention import AttentionItem
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import fmt_age
from factory_tui.core.modes import ModeVerdict, SizeClass, classify, size_class
from factory_tui.core.modes_dod import DodItem, definition_of_done
from factory_tui.core.modes_paths import ModeSettings
from factory_tui.core.prs import CiState, PullRequest, QueueName, SessionLike, Source
from factory_tui.core.prs_link import (
    Link,
    link_pr,
    local_ci,
    merged_by_the_log,
)
from factory_tui.core.safe import plain_int, printable
from factory_tui.core.timeparse import format_ts

__all__ = ["PrView", "Queue", "ReviewState", "build_queue", "parse_ref", "view_pr"]


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

    def attention(self) -> list[AttentionItem]:
        """The Ask PRs waiting, for the cockpit's ``n`` and its header count."""
        items = []
        for view in self.ask:
            pr = view.pr
            since = pr.created_at or self.generated_at
            waited = f" for {fmt_age(view.age)}" if view.age is not None else ""
            ci = "" if view.ci in ("green", "none") else f", CI {view.ci}"
            items.append(
                AttentionItem(
                    key=f"pr:{view.review_key}",
                    kind="Ask PR",
                    since=since,
                    view="prs",
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
    return plain_int(digits), text


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
    pr = merged_by_the_log(pr, link)
    branch = pr.branch or link.branch or ""
    mode = classify(pr.files, labels=pr.labels, branch=branch, title=pr.title, settings=settings)
    if pr.source == "local" and pr.ci == "none":
        ci, ci_detail = local_ci(link)  # merged too: the CI it had does not turn into none
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
