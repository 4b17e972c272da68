"""Claim lock directories as the engineer sees them: which claim each locks, how old, stale or not.

A lock directory (``<ID>-phase-<N>.lock`` or ``<ID>.lock``, FORMATS.md) exists only while a
writer rewrites a claim: a fresh one means a writer is at work; one older than the lock's stale
age (30 s by default) means its writer died mid-write and nobody can claim that phase until it
is broken under the protocol (``factory-tui unlock NAME``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from factory_tui.core.problems import Problem

__all__ = ["LockEntry", "LockView", "lock_problems", "lock_views", "parse_lock_name"]

_PHASE_LOCK = re.compile(r"(?P<claim>.+)-phase-(?P<phase>\d{1,9})\.lock\Z")


@dataclass(frozen=True, slots=True)
class LockEntry:
    """A lock directory as found in the claims folder (the adapter's facts)."""

    name: str
    modified: datetime
    """Its mtime, as naive local time like every ``now``."""


@dataclass(frozen=True, slots=True)
class LockView:
    name: str
    claim: str
    phase: int | None
    age_s: float
    stale: bool

    @property
    def key(self) -> str:
        """The claim unit it locks: ``CAB-1290:2`` or ``CAB-1321``."""
        return self.claim if self.phase is None else f"{self.claim}:{self.phase}"

    def describe(self) -> str:
        age = _age(self.age_s)
        if self.stale:
            return f"lock {self.name} stale ({age} old): its writer died mid-write"
        return f"lock {self.name} held {age}: a writer is at work"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "claim": self.claim,
            "phase": self.phase,
            "age_s": round(self.age_s, 1),
            "stale": self.stale,
        }


def parse_lock_name(name: str) -> tuple[str, int | None] | None:
    """``CAB-1290-phase-2.lock`` → (``CAB-1290``, 2); ``CAB-1321.lock`` → (``CAB-1321``, None);
    ``None`` for a name that is not a lock's."""
    if not name.endswith(".lock") or name.startswith(".") or len(name) <= len(".lock"):
        return None
    found = _PHASE_LOCK.match(name)
    if found is not None:
        return found["claim"], int(found["phase"])
    return name.removesuffix(".lock"), None


def lock_views(
    entries: Iterable[LockEntry], now: datetime, stale_after: timedelta
) -> tuple[LockView, ...]:
    """Every lock directory, sorted by name, with its age at ``now`` and whether it is stale."""
    out = []
    for entry in sorted(entries, key=lambda e: e.name):
        parsed = parse_lock_name(entry.name)
        if parsed is None:
            continue
        age = max((now - entry.modified).total_seconds(), 0.0)
        out.append(
            LockView(entry.name, parsed[0], parsed[1], age, age > stale_after.total_seconds())
        )
    return tuple(out)


def lock_problems(views: Iterable[LockView], folder: str) -> list[Problem]:
    """A stale lock blocks its claim for everyone: a problem, with what to do."""
    return [
        Problem(
            f"{folder}/{view.name}",
            f"stale lock ({_age(view.age_s)} old): its writer died mid-write and nobody can "
            f"claim {view.key} until it is broken: factory-tui unlock {view.name}",
        )
        for view in views
        if view.stale
    ]


def _age(seconds: float) -> str:
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
