"""The argument parsers of the PR, cost and Council commands, apart from the commands themselves
so that building the CLI (every command pays for it) imports none of their machinery."""

from __future__ import annotations

import argparse

__all__ = ["COST_GROUPINGS", "SOURCES", "add_cost_parser", "add_council_parser", "add_prs_parsers"]

# The groupings of ``factory-tui cost --by`` (core.cost.GROUPINGS; a test keeps them equal).
COST_GROUPINGS = ("agent", "ticket", "model", "day")
SOURCES = ("auto", "github", "local", "both")


def add_cost_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from factory_tui.cli import _factory_options

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
    _factory_options(parser)


def add_council_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from factory_tui.cli import _factory_options

    parser = sub.add_parser(
        "council",
        help="score a proposal with the Council (exit 0 verdict, 1 refused/no verdict, 2 error)",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--ticket", metavar="ID", help="a ticket: its claim title and plan.md entry")
    what.add_argument("--pr", metavar="N", type=int, help="a PR's diff (needs gh)")
    what.add_argument("--file", metavar="PATH", help="a file holding the proposal")
    parser.add_argument("--force", action="store_true", help="ask again even if already scored")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    _factory_options(parser)


def add_prs_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``prs``, ``approve``, ``request-changes`` and ``mark-reviewed`` to ``sub``."""
    from factory_tui.cli import _factory_options

    def common(parser: argparse.ArgumentParser) -> None:
        _factory_options(parser)
        parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
        parser.add_argument(
            "--source",
            choices=SOURCES,
            help="where PRs come from (default: [prs] source, else auto: gh, else local git)",
        )

    prs = sub.add_parser(
        "prs", help="the approval queue: Ask PRs waiting, Show PRs to review, Ship record"
    )
    common(prs)
    prs.add_argument("--json", action="store_true", help="a JSON list of PRs on stdout")

    approve = sub.add_parser(
        "approve", help="approve a PR: checkpoint, squash merge, log (0 merged, 1 refused, 2 error)"
    )
    approve.add_argument("pr", metavar="PR", help="#N or N (a PR number), or a local branch")
    common(approve)
    approve.add_argument(
        "--override-ci", action="store_true", help="merge even if CI is red or running (logged)"
    )
    approve.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (needed without a terminal)",
    )
    approve.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    changes = sub.add_parser(
        "request-changes", help="ask the agent for changes on a PR (GitHub review or a note)"
    )
    changes.add_argument("pr", metavar="PR", help="#N or N, or a local branch")
    common(changes)
    text = changes.add_mutually_exclusive_group(required=True)
    text.add_argument("--body", metavar="TEXT", help="what to change")
    text.add_argument("--body-file", metavar="FILE", help="read the text from FILE (- for stdin)")
    changes.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    reviewed = sub.add_parser("mark-reviewed", help="mark a merged Show PR reviewed (per user)")
    reviewed.add_argument("pr", metavar="PR", help="#N or N, or sha:<short> for a local merge")
    common(reviewed)
