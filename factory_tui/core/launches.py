"""Agents the engineer launched on free work (``LAUNCH`` lines), until they claim it.

A launch names the claim unit it is for (``task``, ``phase``), the new agent's instance id, its
branch and worktree. The agent claims the work itself under the protocol; until it does, the
unit is "launched, not yet claimed", and past ``within`` that is a problem (the agent may have
failed to start, or be waiting for an answer). Pure: the log's LAUNCH lines, the claim views and
the time come in as arguments. The names and templates a launch uses are in
:mod:`~factory_tui.core.launch_templates`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from factory_tui.core.fleet import ClaimView, fmt_age
from factory_tui.core.oplog import Event
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import parse_ts

__all__ = ["LaunchRec", "LaunchView", "launch_key", "launch_problems", "pending_launches"]


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
