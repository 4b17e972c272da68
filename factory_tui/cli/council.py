"""``factory-tui council``: score a proposal with the Council (:mod:`factory_tui.actions.council`).

Exit codes: 0 a verdict (paid or replayed), 1 refused or no verdict, 2 an error. The parser is
built without the Council's machinery; the command imports it when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from factory_tui.cli.common import CliError, factory_options, load, parse_now
from factory_tui.core.safe import dumps_json, printable

if TYPE_CHECKING:
    from factory_tui.core.council import CouncilResult

__all__ = ["add_council_parser", "cmd_council", "render_result"]


def add_council_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    factory_options(parser)


def render_result(result: CouncilResult, out: TextIO) -> None:
    """The verdict, each persona's score, reasons and required adjustments, as plain text (the
    model's words and the proposal's names made printable)."""
    score = f"{result.global_score:.2f}" if result.global_score is not None else "—"
    out.write(f"{result.status_text}  (average {score}, {result.source})\n")
    if result.replayed_from:
        out.write(f"  replayed from {printable(str(result.replayed_from), multiline=False)}\n")
    else:
        out.write(
            f"  {result.model}: {result.input_tokens} in, {result.output_tokens} out, "
            f"${result.cost:.4f}, {result.duration_ms} ms\n"
        )
    for verdict in result.verdicts:
        out.write(f"\n{verdict.persona}: {verdict.score}/10\n")
        for reason in verdict.reasons:
            out.write(f"  - {printable(reason)}\n")
        for adjustment in verdict.adjustments:
            out.write(f"  ! {printable(adjustment)}\n")
    for failure in result.failures:
        out.write(f"\n{failure.persona}: no score — {printable(failure.error)}\n")


def cmd_council(args: argparse.Namespace) -> int:
    from factory_tui.actions.base import Outcome
    from factory_tui.actions.council import (
        ProposalError,
        proposal_for_file,
        proposal_for_pr,
        proposal_for_ticket,
        run_council,
    )

    config = load(args)
    try:
        if args.ticket:
            proposal = proposal_for_ticket(config, args.ticket)
        elif args.pr is not None:
            proposal = proposal_for_pr(config, args.pr)
        else:
            proposal = proposal_for_file(Path(args.file))
    except ProposalError as error:
        raise CliError(str(error)) from error
    outcome = run_council(config, proposal, now=parse_now(args.now), force=args.force)
    if args.json:
        payload: dict[str, object] = {
            "outcome": outcome.outcome.name.lower(),
            "message": outcome.message,
            "replayed": outcome.replayed,
            "result": outcome.result.to_json() if outcome.result is not None else None,
        }
        sys.stdout.write(dumps_json(payload) + "\n")
    else:
        stream = sys.stdout if outcome.outcome is Outcome.DONE else sys.stderr
        print(f"factory-tui: {printable(outcome.message, multiline=False)}", file=stream)
        if outcome.result is not None:
            render_result(outcome.result, sys.stdout)
    return int(outcome.outcome)
