"""Agents the engineer launched on free work (``LAUNCH`` lines), until they claim it.

A launch names the claim unit it is for (``task``, ``phase``), the new agent's instance id, its
branch and worktree. The agent claims the work itself under the protocol; until it does, the
unit is "launched, not yet claimed", and past ``within`` that is a problem (the agent may have
failed to start, or be waiting for an answer). Pure: the log's LAUNCH lines, the claim views and
the time come in as arguments.

Also here: the names a launch builds from a claim (:func:`launch_slug`, always a plain path
component) and the templates of ``factory.toml`` (``launch_prompt``, ``launch_worktree``,
``launch_branch``) with the placeholders each may use.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from factory_tui.core.fleet import ClaimView, fmt_age
from factory_tui.core.oplog import Event
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "DEFAULT_LAUNCH_BRANCH",
    "DEFAULT_LAUNCH_PROMPT",
    "DEFAULT_LAUNCH_WORKTREE",
    "PATH_FIELDS",
    "PROMPT_FIELDS",
    "LaunchRec",
    "LaunchView",
    "launch_key",
    "launch_problems",
    "launch_slug",
    "pending_launches",
    "render",
    "slug",
    "template_problem",
]

#: What ``launch_prompt`` may name.
PROMPT_FIELDS = (
    "what",
    "id",
    "phase",
    "name",
    "title",
    "tickets",
    "branch",
    "worktree",
    "instance",
)
#: What ``launch_worktree`` and ``launch_branch`` may name (plain path components only).
PATH_FIELDS = ("repo", "slug", "id", "phase")

DEFAULT_LAUNCH_PROMPT = (
    "You are a factory agent, instance {instance}, in the worktree {worktree} on branch "
    "{branch}. Your work: {what} — {title} (tickets: {tickets}). First claim it under the "
    "protocol (the lock, the claim file in .claude/claims, a CLAIM line in operations.log) and "
    "log SESSION-START. Then carry it to the Definition of Done: the code and its tests green, "
    "the quality gate passed, a PR opened in its Ship/Show/Ask mode, plan.md and memory.md "
    "updated, a checkpoint before each risky step, and SESSION-END logged."
)
DEFAULT_LAUNCH_WORKTREE = "{repo}-{slug}"
"""Beside the main worktree, as the real factory lays them out (``stoa`` → ``stoa-cab-1350``)."""
DEFAULT_LAUNCH_BRANCH = "feat/{slug}"

_NOT_SLUG = re.compile(r"[^a-z0-9._]+")


def slug(text: str) -> str:
    """``text`` as a plain lowercase path component: letters, digits, ``.``, ``_`` and ``-``,
    never empty, never starting with a dot or a dash, never ``..``."""
    out = _NOT_SLUG.sub("-", text.lower()).replace("..", "-").strip("-.")
    return out[:60].strip("-.") or "x"


def launch_slug(claim_id: str, phase: int | None) -> str:
    """``cab-1290-phase-2`` for a MEGA phase, ``cab-1321`` for a standalone ticket."""
    return slug(claim_id) if phase is None else f"{slug(claim_id)}-phase-{phase}"


def template_problem(template: str, allowed: Iterable[str]) -> str | None:
    """Why ``template`` cannot be rendered with ``allowed`` placeholders, or ``None``."""
    names = tuple(allowed)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a template ({error}); write a literal brace as {{{{ or }}}}"
    for _text, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in names:
            return f"unknown placeholder {{{field}}}; known: " + ", ".join(
                f"{{{n}}}" for n in names
            )
        if spec or conversion:
            return f"{{{field}}} takes no format or conversion"
    return None


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled (checked by :func:`template_problem` first)."""
    return template.format_map(dict(values))


def launch_key(task: str, phase: str | None) -> str:
    """The claim key a LAUNCH line is about: ``CAB-1290:2`` or ``CAB-1321``."""
    phase = (phase or "").strip()
    return f"{task}:{phase}" if phase.isdigit() else task


@dataclass(frozen=True, slots=True)
class LaunchRec:
    """One LAUNCH line."""

    key: str
    instance: str | None
    at: str
    branch: str | None
    worktree: str | None
    where: str
    """``operations.log:LINE``."""
    source: str
    line: int

    @classmethod
    def from_event(cls, event: Event) -> LaunchRec | None:
        get = event.fields.get
        task = get("task")
        if event.name != "LAUNCH" or not task:
            return None
        return cls(
            key=launch_key(task, get("phase")),
            instance=get("instance") or None,
            at=event.ts,
            branch=get("branch") or None,
            worktree=get("worktree") or None,
            where=f"{event.source}:{event.line}",
            source=event.source,
            line=event.line,
        )


LaunchState = Literal["launched", "late"]


@dataclass(frozen=True, slots=True)
class LaunchView:
    launch: LaunchRec
    state: LaunchState
    why: str

    @property
    def key(self) -> str:
        return self.launch.key

    def to_json(self) -> dict[str, object]:
        rec = self.launch
        return {
            "key": rec.key,
            "instance": rec.instance,
            "launched_at": rec.at,
            "branch": rec.branch,
            "worktree": rec.worktree,
            "state": self.state,
            "why": self.why,
            "log": rec.where,
        }


def pending_launches(
    launches: Iterable[LaunchRec],
    claims: Sequence[ClaimView],
    *,
    now: datetime,
    within: timedelta,
    history: timedelta,
    claimed_since: Mapping[str, str] | None = None,
) -> tuple[LaunchView, ...]:
    """The launches whose unit is still available (nobody claimed it since): "launched, not yet
    claimed", or "late" once older than ``within``. A launch older than ``history``, or whose
    unit is gone, claimed or done, is settled and not shown. ``claimed_since``: claim key → the
    time of its last CLAIM line (a CLAIM logged after the launch settles it even before the
    file shows the owner)."""
    states = {view.key: view for view in claims}
    out: list[LaunchView] = []
    for rec in launches:
        view = states.get(rec.key)
        at = parse_ts(rec.at)
        if view is None or view.state != "available" or at is None:
            continue
        claimed_at = (claimed_since or {}).get(rec.key)
        claimed = parse_ts(claimed_at) if claimed_at else None
        if claimed is not None and claimed >= at:
            continue
        age = now - at
        if age > history:
            continue
        who = rec.instance or "an agent"
        if age > within:
            why = (
                f"{who} was launched {fmt_age(age)} ago ({rec.where}) and has not claimed "
                f"{rec.key} (expected within {fmt_age(within)}): look at its pane or its output, "
                "or launch again"
            )
            out.append(LaunchView(rec, "late", why))
        else:
            why = f"{who} launched {fmt_age(age)} ago, not yet claimed"
            out.append(LaunchView(rec, "launched", why))
    out.sort(key=lambda view: view.launch.at)
    return tuple(out)


def launch_problems(views: Iterable[LaunchView]) -> list[Problem]:
    """A late launch is a problem of the log line that launched it."""
    return [
        Problem(view.launch.source, f"LAUNCH {view.key}: {view.why}", view.launch.line)
        for view in views
        if view.state == "late"
    ]
