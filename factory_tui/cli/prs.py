"""The approval queue's commands: ``prs``, ``approve``, ``request-changes``, ``mark-reviewed``.

Exit codes: 0 done, 1 refused, 2 error. The parsers are built without the PR machinery (every
command pays for building the CLI); each command imports it when it runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from factory_tui.cli.common import CliError, ask, factory_options, load, parse_now, print_result
from factory_tui.core.safe import dumps_json, printable

if TYPE_CHECKING:
    from factory_tui.actions.base import ActionResult
    from factory_tui.actions.prs import SourceChoice
    from factory_tui.core.prs_queue import PrView, Queue

__all__ = [
    "SOURCES",
    "add_prs_parsers",
    "cmd_approve",
    "cmd_mark_reviewed",
    "cmd_prs",
    "cmd_request_changes",
    "render_queue",
]

SOURCES = ("auto", "github", "local", "both")


def add_prs_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``prs``, ``approve``, ``request-changes`` and ``mark-reviewed`` to ``sub``."""

    def common(parser: argparse.ArgumentParser) -> None:
        factory_options(parser)
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


def _now(args: argparse.Namespace) -> datetime:
    return parse_now(getattr(args, "now", None))


def _source(args: argparse.Namespace) -> SourceChoice | None:
    value = getattr(args, "source", None)
    return value if value in SOURCES else None


def _report(result: ActionResult) -> int:
    return print_result(result)


# -- prs ----------------------------------------------------------------------------------------

_MARK = {True: "✓", False: "✗", None: "?"}


def _row(view: PrView, out: TextIO) -> None:
    pr, link = view.pr, view.link
    where = " ".join(printable(x, multiline=False) for x in (link.task, link.instance) if x) or "—"
    age = view.to_json()["age"] or "—"
    flags = []
    if pr.draft:
        flags.append("draft")
    if pr.changes_requested:
        flags.append("changes requested")
    if view.new_since_look and pr.state == "merged":
        flags.append("new")
    tail = f"  [{', '.join(flags)}]" if flags else ""
    label, title = printable(view.label, multiline=False), printable(pr.title, multiline=False)
    out.write(
        f"  {label:<10} {title[:60]}\n"
        f"      {view.mode.mode}: {printable(view.mode.reason, multiline=False)}\n"
        f"      {view.size}, {pr.changed_lines} lines · CI {view.ci} · {where} · {age}{tail}\n"
    )
    if pr.state == "open":
        dod = "  ".join(
            f"{_MARK[item.ok]} {printable(item.name, multiline=False)}" for item in view.dod
        )
        out.write(f"      done? {dod}\n")


def render_queue(queue: Queue, out: TextIO) -> None:
    """The queue as text, Ask first (oldest first)."""
    sections = (
        ("Ask — waiting for you", queue.ask),
        ("In flight — Show/Ship merging on their own, drafts, changes requested", queue.in_flight),
        ("Show — merged, to review after the fact", queue.show),
        ("Ship — merged, for the record", queue.ship),
        ("Ask — merged, for the record", tuple(v for v in queue.merged if v.mode.mode == "ask")),
    )
    for title, views in sections:
        out.write(f"{title} ({len(views)})\n")
        for view in views:
            _row(view, out)
    if not queue.sources:
        out.write("(no PR source answered)\n")


def cmd_prs(args: argparse.Namespace) -> int:
    from factory_tui.actions.prs import load_queue

    config = load(args)
    queue = load_queue(config, now=_now(args), source=_source(args))
    for notice in queue.notices:
        print(f"factory-tui: note: {printable(notice, multiline=False)}", file=sys.stderr)
    if args.json:
        sys.stdout.write(dumps_json(queue.to_json()) + "\n")
    else:
        render_queue(queue, sys.stdout)
    return 0


# -- actions -----------------------------------------------------------------------------------


def _confirm(question: str) -> bool:
    return sys.stdin.isatty() and ask(question, sys.stdin, sys.stdout)


def cmd_approve(args: argparse.Namespace) -> int:
    from factory_tui.actions.approve import approve_pr, plan_approve
    from factory_tui.actions.base import ActionResult, Outcome, read_only_refusal
    from factory_tui.actions.prs import load_queue

    config = load(args)
    refusal = read_only_refusal(config, "approving a PR")
    if refusal is not None:
        return _report(refusal)
    now = _now(args)
    queue = load_queue(config, now=now, source=_source(args))
    plan = plan_approve(config, args.pr, now=now, override_ci=args.override_ci, queue=queue)
    if isinstance(plan, ActionResult):
        return _report(plan)
    for line in plan.describe():
        print(printable(line))
    if not args.yes and not _confirm("Merge?"):
        return _report(
            ActionResult(
                Outcome.REFUSED, "not confirmed: nothing was merged (--yes approves without asking)"
            )
        )
    result = approve_pr(
        config, args.pr, now=now, override_ci=args.override_ci, confirmed=plan, queue=queue
    )
    return _report(result)


def cmd_request_changes(args: argparse.Namespace) -> int:
    from factory_tui.actions.prs import load_queue
    from factory_tui.actions.request_changes import request_changes

    config = load(args)
    body = args.body
    if body is None:
        try:
            body = (
                sys.stdin.read()
                if args.body_file == "-"
                else Path(args.body_file).read_text(encoding="utf-8")
            )
        except OSError as error:
            raise CliError(f"--body-file {args.body_file}: {error.strerror or error}") from None
    now = _now(args)
    queue = None
    if not config.read_only and body.strip():
        queue = load_queue(config, now=now, source=_source(args))
    return _report(request_changes(config, args.pr, body, now=now, queue=queue))


def cmd_mark_reviewed(args: argparse.Namespace) -> int:
    from factory_tui.actions.prs import load_queue, mark_reviewed

    config = load(args)
    now = _now(args)
    queue = load_queue(config, now=now, source=_source(args))
    return _report(mark_reviewed(config, args.pr, now=now, queue=queue))
