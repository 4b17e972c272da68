"""``factory-tui cost``: the agents' spend by agent, ticket, model or day, and the budgets.

The parser is built without the cost machinery (every command pays for building it); the
command imports it when it runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO, cast

from factory_tui.cli.common import CliError, factory_options, load, parse_now
from factory_tui.config import parse_duration
from factory_tui.core.safe import dumps_json, printable
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.core.cost_report import Bucket, CostReport, CostView, Grouping

__all__ = [
    "COST_GROUPINGS",
    "add_cost_parser",
    "cmd_cost",
    "parse_since",
    "period_label",
    "render_report",
]

# The groupings of ``factory-tui cost --by`` (core.cost.GROUPINGS; a test keeps them equal).
COST_GROUPINGS = ("agent", "ticket", "model", "day")


def add_cost_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "cost", help="the agents' spend from Claude Code's transcripts, and the budgets"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="from this day (YYYY-MM-DD), time, 'today', a duration back (7d), or 'all' "
        "(default: today, like the cockpit)",
    )
    parser.add_argument("--by", choices=COST_GROUPINGS, default="agent", help="how to group")
    parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    factory_options(parser)


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
    from factory_tui.core.cost_report import format_tokens

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
            f"{key:<{width}}  {b.usd:>10.2f}  {format_tokens(b.input_tokens):>7}  "
            f"{format_tokens(b.output_tokens):>7}  {format_tokens(b.cache_write_tokens):>7}  "
            f"{format_tokens(b.cache_read_tokens):>7}  {b.responses:>6}{flag}\n"
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


def cmd_cost(args: argparse.Namespace) -> int:
    from factory_tui.actions.cost import tracker_for
    from factory_tui.core.pricing import PriceTableError

    config = load(args)
    now = parse_now(args.now)
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
        report = tracker.report(cast("Grouping", args.by), since=since)
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
