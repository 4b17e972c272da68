"""The spend as the engineer's tools see it: a refreshed cost tracker, and the budgets' alerts.

The budget command: ``[cost] on_budget = ["cmd", "arg", ...]`` in config is run once per
budget alert (the caller keeps which alerts already fired: the cockpit, across restarts, in
:mod:`factory_tui.actions.budget_state`; ``factory-tui cost`` only reports), e.g. to pause the
agents; it gets ``FACTORY_BUDGET_SCOPE``, ``FACTORY_BUDGET_SUBJECT``,
``FACTORY_BUDGET_SPENT_USD``, ``FACTORY_BUDGET_LIMIT_USD`` and ``FACTORY_BUDGET_MESSAGE`` in its
environment, and argv only (never a shell).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import datetime

from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.factory import FactoryReader, read_progress
from factory_tui.adapters.transcripts import CostTracker
from factory_tui.config import Config
from factory_tui.core.cost_records import naive_local
from factory_tui.core.cost_report import BudgetState
from factory_tui.core.pricing import PriceTableError

__all__ = ["budget_command", "budget_reasons", "fire_budget_command", "tracker_for"]


def tracker_for(config: Config, factory: FactoryReader | None = None) -> CostTracker:
    """A refreshed CostTracker, attributing with the fleet of ``factory`` (read here if None).

    Raises PriceTableError for a wrong ``[cost]`` table."""
    if factory is None:
        factory = FactoryReader.warm(config)
        factory.refresh_all()
    procs = factory.probe.probe(factory.local_pids())
    tracker = CostTracker(config)
    told = read_progress.get()  # a first read of many transcripts takes seconds
    tracker.refresh(
        factory,
        procs=procs,
        progress=None if told is None else lambda done, files: told("transcripts", done, files),
    )
    return tracker


def budget_command(config: Config) -> tuple[str, ...] | None:
    """``[cost] on_budget`` as argv, or None; raises PriceTableError when it is malformed."""
    cost = config.extra.get("cost")
    raw = cost.get("on_budget") if isinstance(cost, dict) else None
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a for a in raw):
        where = config.sources.get("extra.cost", "config")
        raise PriceTableError(
            f'{where}: [cost] on_budget must be a command as a list of strings (["cmd", "arg"]), '
            f"got {raw!r}"
        )
    return tuple(raw)


def fire_budget_command(
    command: tuple[str, ...],
    states: tuple[BudgetState, ...],
    fired: set[str],
    *,
    env: Mapping[str, str] | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start ``command`` once for each alert (a budget at 100 %) not in ``fired``, which is
    updated. Not waited for; its output is discarded. Returns the started processes."""
    started: list[subprocess.Popen[bytes]] = []
    for state in states:
        if state.level != "alert" or state.alert_id in fired:
            continue
        fired.add(state.alert_id)
        environ = dict(os.environ if env is None else env)
        environ.update(
            FACTORY_BUDGET_SCOPE=state.scope,
            FACTORY_BUDGET_SUBJECT=state.subject,
            FACTORY_BUDGET_SPENT_USD=f"{state.spent_usd:.2f}",
            FACTORY_BUDGET_LIMIT_USD=f"{state.limit_usd:.2f}",
            FACTORY_BUDGET_MESSAGE=state.message,
        )
        started.append(
            subprocess.Popen(
                list(command),
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return started


def budget_reasons(config: Config, now: datetime) -> list[str]:
    """``snapshot --fail-on budget`` (issue 6): each budget at 100 % at ``now``, read from Claude
    Code's transcripts, as a sentence (empty: none). Raises
    :class:`~factory_tui.core.pricing.PriceTableError` for a wrong ``[cost]`` table in config."""
    tracker = tracker_for(config)
    try:
        view = tracker.view(naive_local(now, local_zone()))
    finally:
        tracker.close()
    return [f"budget reached: {state.message}" for state in view.budgets if state.level == "alert"]
