"""What the cockpit remembers of the budgets (issue 6) across restarts, per user and per factory
root: the alerts the engineer acknowledged (``A``) and the alerts ``[cost] on_budget`` ran for.

``budget-state.json`` in the user state folder (:mod:`factory_tui.adapters.user_state`)::

    {"version": 1,
     "repos": {"/path/to/repo": {"acknowledged": {"daily:all agents:2026-02-16:alert": "<when>"},
                                 "fired": {"agent:t48217-a3f2:2026-02-16:alert": "<when>"}}}}

An alert id names its day (:attr:`~factory_tui.core.cost.BudgetState.alert_id`), so no entry is
needed for long: those older than KEEP_DAYS are dropped on each write. Two cockpits on one
factory update the file under a best-effort lock, re-reading it first: neither loses the other's
entries, and :func:`claim_fired` lets one of them only run on_budget for an alert (both may when
the lock could not be had within about two seconds, a race accepted rather than freezing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.user_state import read_state, state_dir, state_lock, write_state
from factory_tui.core.cost_records import naive_local
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = [
    "BUDGET_FILE",
    "KEEP_DAYS",
    "BudgetMemory",
    "budget_state_path",
    "claim_fired",
    "load_budget_memory",
    "remember_acknowledged",
]

BUDGET_FILE = "budget-state.json"
KEEP_DAYS = 3
Kind = Literal["acknowledged", "fired"]
KINDS: tuple[Kind, ...] = ("acknowledged", "fired")


@dataclass(frozen=True)
class BudgetMemory:
    """The alert ids remembered for one factory."""

    acknowledged: frozenset[str] = frozenset()
    fired: frozenset[str] = frozenset()


def budget_state_path(folder: Path | None = None) -> Path:
    return (folder or state_dir()) / BUDGET_FILE


def _ids(entry: object, kind: Kind) -> frozenset[str]:
    table = entry.get(kind) if isinstance(entry, dict) else None
    return (
        frozenset(key for key in table if isinstance(key, str))
        if isinstance(table, dict)
        else frozenset()
    )


def load_budget_memory(root: Path, *, folder: Path | None = None) -> BudgetMemory:
    """What is remembered for the factory at ``root``. Never raises: an unreadable file is kept
    aside (``.unreadable``) and nothing is remembered."""
    entry = read_state(budget_state_path(folder))["repos"].get(str(root))
    return BudgetMemory(_ids(entry, "acknowledged"), _ids(entry, "fired"))


def _prune(data: dict[str, Any], now: datetime) -> None:
    """Drop the entries recorded more than KEEP_DAYS before ``now``, and the repos left empty."""
    horizon = now - timedelta(days=KEEP_DAYS)
    repos: dict[str, Any] = data["repos"]
    for root, entry in list(repos.items()):
        if not isinstance(entry, dict):
            del repos[root]
            continue
        for kind in KINDS:
            table = entry.get(kind)
            if not isinstance(table, dict):
                entry.pop(kind, None)
                continue
            for alert_id, at in list(table.items()):
                when = parse_ts(at) if isinstance(at, str) else None
                if when is None or when < horizon:
                    del table[alert_id]
            if not table:
                del entry[kind]
        if not entry:
            del repos[root]


def _remember(
    root: Path, kind: Kind, alert_ids: Iterable[str], now: datetime, folder: Path | None
) -> tuple[str, ...]:
    """Under the lock: re-read, add those of ``alert_ids`` not there yet (returned), prune,
    write. Raises OSError when the file cannot be written. An aware ``now`` is recorded as wall
    time in the local zone (:func:`~factory_tui.adapters.clock.local_zone`), like the ledger's."""
    now = naive_local(now, local_zone())
    path = budget_state_path(folder)
    with state_lock(path):
        data = read_state(path)
        repos: dict[str, Any] = data["repos"]
        entry = repos.get(str(root))
        if not isinstance(entry, dict):
            entry = repos[str(root)] = {}
        table = entry.get(kind)
        if not isinstance(table, dict):
            table = entry[kind] = {}
        added = tuple(a for a in dict.fromkeys(alert_ids) if a not in table)
        if not added:
            return ()
        stamp = format_ts(now, seconds=True)
        table.update(dict.fromkeys(added, stamp))
        _prune(data, now)
        write_state(path, data)
    return added


def remember_acknowledged(
    root: Path, alert_ids: Iterable[str], now: datetime, *, folder: Path | None = None
) -> None:
    """The engineer acknowledged these alerts of the factory at ``root``. Raises OSError."""
    _remember(root, "acknowledged", alert_ids, now, folder)


def claim_fired(
    root: Path, alert_ids: Iterable[str], now: datetime, *, folder: Path | None = None
) -> tuple[str, ...]:
    """Record that ``[cost] on_budget`` runs for these alerts; returns the ones it had not run
    for yet (by this or another cockpit): the caller runs it for exactly those. Recorded before
    the command starts, so a command that fails to start is not retried. Raises OSError."""
    return _remember(root, "fired", alert_ids, now, folder)
