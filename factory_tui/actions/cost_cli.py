"""``factory-tui cost``: the agents' spend by agent, ticket, model or day, and the budgets.

Also the budget command: ``[cost] on_budget = ["cmd", "arg", ...]`` in config is run once per
budget alert (the caller keeps which alerts already fired: the cockpit, across restarts, in
:mod:`factory_tui.actions.budget_state`; ``factory-tui cost`` only reports), e.g. to pause the
agents; it gets ``FACTORY_BUDGET_SCOPE``, ``FACTORY_BUDGET_SUBJECT``,
``FACTORY_BUDGET_SPENT_USD``, ``FACTORY_BUDGET_LIMIT_USD`` and ``FACTORY_BUDGET_MESSAGE`` in its
environment, and argv only (never a shell).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO, cast

from factory_tui.actions.parsers import add_cost_parser
from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.transcripts import CostTracker
from factory_tui.config import Config, parse_duration
from factory_tui.core.cost import (
    Bucket,
    BudgetState,
    CostReport,
    CostView,
    Grouping,
    naive_local,
)
from factory_tui.core.pricing import PriceTableError
from factory_tui.core.safe import dumps_json, printable
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "add_cost_parser",
    "budget_command",
    "budget_reasons",
    "cmd_cost",
    "fire_budget_command",
    "parse_since",
    "period_label",
    "render_report",
    "tracker_for",
]


def parse_since(text: str, now: datetime) -> datetime:
    """``2026-11-01`` (from midnight), ``2026-11-01T14:00``, ``today``, or a duration back from
    ``now`` (``24h``, ``7d``). Raises ValueError saying what is accepted."""
    raw = text.strip()
    if raw.lower() == "today":
        return datetime.combine(now.date(), datetime.min.time())
    if len(raw) == 10:
        parsed = parse_ts(raw + "T00:00")
        if parsed is not None:
            return parsed
    parsed = parse_ts(raw)
    if parsed is not None:
        return parsed
    try:
        return now - parse_duration(raw)
    except ValueError:
        pass
    raise ValueError(
        f"--since {text!r}: not a date; use YYYY-MM-DD, YYYY-MM-DDTHH:MM, today, or a "
        "duration back from now such as 24h or 7d"
    )


def tracker_for(config: Config, factory: FactoryReader | None = None) -> CostTracker:
    """A refreshed CostTracker, attributing with the fleet of ``factory`` (read here if None).

    Raises PriceTableError for a wrong ``[cost]`` table."""
    if factory is None:
        factory = FactoryReader(config)
        factory.refresh_all()
    procs = factory.probe.probe(factory.local_pids())
    tracker = CostTracker(config)
    tracker.refresh(factory, procs=procs)
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


def _tokens(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1_000_000:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return str(n)


def period_label(period: str, since: datetime | None) -> str:
    """Which spend a report shows: ``today (since 2026-02-16 00:00)``, ``all time``, or
    ``since 2026-02-01 00:00``."""
    if since is None:
        return "all time"
    start = f"since {since:%Y-%m-%d %H:%M}"
    return f"today ({start})" if period == "today" else start


def render_report(
    report: CostReport, view: CostView, out: TextIO, *, period: str = "today"
) -> None:
    """The report as an aligned table; keys (instance ids, tickets, transcript model names) are
    agent text, each made printable on one line."""
    out.write(f"spend by {report.grouping}, {period_label(period, report.since)}\n")
    rows: list[tuple[str, Bucket]] = []
    for key, bucket in report.by.items():
        rows.append((printable(key, multiline=False), bucket))
        rows += [(f"  phase {n}", b) for n, b in report.phases.get(key, {}).items()]
    width = max([len(report.grouping), 5, *(len(key) for key, _ in rows)])
    header = f"{report.grouping.upper():<{width}}  {'USD':>10}  {'IN':>7}  {'OUT':>7}  "
    out.write(header + f"{'CACHE W':>7}  {'CACHE R':>7}  {'RESP':>6}\n")
    for key, b in [*rows, ("total", report.total)]:
        flag = " *" if b.unpriced_responses else ""
        out.write(
            f"{key:<{width}}  {b.usd:>10.2f}  {_tokens(b.input_tokens):>7}  "
            f"{_tokens(b.output_tokens):>7}  {_tokens(b.cache_write_tokens):>7}  "
            f"{_tokens(b.cache_read_tokens):>7}  {b.responses:>6}{flag}\n"
        )
    if report.unpriced_models:
        names = printable(", ".join(report.unpriced_models), multiline=False)
        out.write(
            f"* unpriced models, left out of the dollars: {names}; add "
            f'[cost.prices."{printable(report.unpriced_models[0], multiline=False)}"] '
            "input = ..., output = ... to factory.toml\n"
        )
    out.write(f"{printable(view.header_text(), multiline=False)}\n")
    for state in view.budgets:
        if state.level != "ok":
            out.write(f"{state.level.upper()}: {printable(state.message, multiline=False)}\n")
    out.write(f"prices: {printable(report.price_table, multiline=False)}\n")


def cmd_cost(args: argparse.Namespace, load: Callable[[argparse.Namespace], Config]) -> int:
    from factory_tui.cli import CliError, _now

    config = load(args)
    now = _now(args.now)
    period = (args.since or "today").strip()
    if period.lower() in ("today", "all"):
        period = period.lower()
    try:
        since = None if period == "all" else parse_since(period, now)
    except ValueError as error:
        raise CliError(str(error)) from error
    try:
        tracker = tracker_for(config)
    except PriceTableError as error:
        raise CliError(str(error)) from error
    try:
        report = tracker.report(cast(Grouping, args.by), since=since)
        view = tracker.view(now)
    finally:
        tracker.close()
    if args.json:
        payload = report.to_json()
        payload["period"] = period
        payload["today"] = view.to_json()
        payload["budgets"] = [state.to_json() for state in view.budgets]
        stats = tracker.reader.stats
        payload["transcripts"] = {
            "projects_dir": str(tracker.reader.projects_dir),
            "projects_dirs": [str(path) for path in tracker.reader.projects_dirs],
            "folders": stats.folders_counted,
            "files": stats.files,
            "bytes_read": stats.bytes_read,
        }
        payload["problems"] = list(tracker.problems)
        sys.stdout.write(dumps_json(payload) + "\n")
    else:
        render_report(report, view, sys.stdout, period=period)
        for problem in tracker.problems:
            print(f"factory-tui: {printable(problem, multiline=False)}", file=sys.stderr)
    return 0


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
