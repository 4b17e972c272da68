"""The approval queue's commands: ``prs``, ``approve``, ``request-changes``, ``mark-reviewed``.

``cli.py`` wires them in with :func:`add_prs_parsers` and dispatches to ``cmd_*(args, load)``,
where ``load(args) -> Config`` is its own loader. Exit codes: 0 done, 1 refused, 2 error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from factory_tui.actions.base import ActionResult, Outcome, print_result, read_only_refusal
from factory_tui.actions.parsers import SOURCES, add_prs_parsers
from factory_tui.actions.prs import (
    SourceChoice,
    approve_pr,
    ask_waiting,
    load_queue,
    mark_reviewed,
    plan_approve,
    request_changes,
)
from factory_tui.config import Config
from factory_tui.core.prs import PrView, Queue
from factory_tui.core.safe import dumps_json, printable

__all__ = [
    "add_prs_parsers",
    "ask_waiting",
    "cmd_approve",
    "cmd_mark_reviewed",
    "cmd_prs",
    "cmd_request_changes",
    "render_queue",
]

Loader = Callable[[argparse.Namespace], Config]


def _now(args: argparse.Namespace) -> datetime:
    from factory_tui.cli import _now as parse_now

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


def cmd_prs(args: argparse.Namespace, load: Loader) -> int:
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
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_approve(args: argparse.Namespace, load: Loader) -> int:
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
    if not args.yes and not _confirm("Merge? [y/N] "):
        return _report(
            ActionResult(
                Outcome.REFUSED, "not confirmed: nothing was merged (--yes approves without asking)"
            )
        )
    result = approve_pr(
        config, args.pr, now=now, override_ci=args.override_ci, confirmed=plan, queue=queue
    )
    return _report(result)


def cmd_request_changes(args: argparse.Namespace, load: Loader) -> int:
    from factory_tui.cli import CliError

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


def cmd_mark_reviewed(args: argparse.Namespace, load: Loader) -> int:
    config = load(args)
    now = _now(args)
    queue = load_queue(config, now=now, source=_source(args))
    return _report(mark_reviewed(config, args.pr, now=now, queue=queue))
