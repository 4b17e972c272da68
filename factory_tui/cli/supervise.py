"""Supervising agents from the command line: ``send`` (answer an agent in its tmux pane) and
``launch`` (start an agent on an available phase or ticket). Each shows what it will do, asks
on a terminal (``--yes`` skips it; without a terminal ``--yes`` is required), then calls the
action in :mod:`factory_tui.actions`. Exit 0 done, 1 refused (or declined), 2 error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

from factory_tui.cli.common import confirm, factory_options, load, parse_now, print_result

if TYPE_CHECKING:
    from factory_tui.actions.base import ActionResult
    from factory_tui.config import Config

__all__ = ["add_launch_parser", "add_send_parser", "cmd_launch", "cmd_send"]


def _common(parser: argparse.ArgumentParser, what: str) -> None:
    factory_options(parser)
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help=f"{what} without asking (needed without a terminal)",
    )
    parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    parser.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)


def add_send_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = sub.add_parser(
        "send",
        help="type one line into an agent's tmux pane, then Enter (asks first)",
        description=(
            "Find the agent's tmux pane (the pane whose process tree holds its pid, else the "
            "pane in its worktree), show it and the text, then type the text literally and "
            "press Enter. One line of plain text. Exit 0 sent, 1 refused, 2 error."
        ),
    )
    send.add_argument("instance", metavar="INSTANCE", help="the agent's instance id")
    send.add_argument("text", metavar="TEXT", help="what to type (one line)")
    _common(send, "send")


def add_launch_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    launch = sub.add_parser(
        "launch",
        help="start an agent on an available phase or ticket (asks first)",
        description=(
            "Create a worktree on a new branch for an available MEGA phase or standalone "
            "ticket, link its claims folder, and start agent_command there with launch_prompt "
            "(in a new tmux window inside tmux, else detached). The agent claims the work "
            "itself. Exit 0 launched, 1 refused, 2 error."
        ),
    )
    launch.add_argument(
        "target", metavar="ID[:PHASE]", help="a standalone ticket, or MEGA:phase (CAB-1290:2)"
    )
    _common(launch, "launch")


def cmd_send(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """``send INSTANCE TEXT``: the pane and the text, a question, then the text and Enter."""
    from factory_tui.actions.send import plan_send, send

    return _plan_ask_act(
        args,
        lambda config, now: plan_send(config, args.instance, args.text, now=now),
        lambda plan: f"Send this to {args.instance} in {plan.pane.target}?",
        f"send to {args.instance}",
        send,
        stdin=stdin,
        stdout=stdout,
    )


def cmd_launch(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """``launch ID[:PHASE]``: what will be created and started, a question, then the launch."""
    from factory_tui.actions.launch import launch, plan_launch

    return _plan_ask_act(
        args,
        lambda config, now: plan_launch(config, args.target, now=now),
        lambda plan: f"Launch an agent on {plan.key}?",
        f"launch {args.target}",
        launch,
        stdin=stdin,
        stdout=stdout,
    )


class _Plan(Protocol):
    def describe(self) -> list[str]: ...


P = TypeVar("P", bound=_Plan)


def _plan_ask_act(
    args: argparse.Namespace,
    make_plan: Callable[[Config, datetime], P | ActionResult],
    question: Callable[[P], str],
    what: str,
    act: Callable[..., ActionResult],
    *,
    stdin: TextIO | None,
    stdout: TextIO | None,
) -> int:
    """Plan, print the plan and ask (``--yes`` skips it), then ``act(config, plan, now=, by=)``
    and report it with the lines it logged."""
    from factory_tui.actions.base import ActionResult, actor

    inp, out = stdin or sys.stdin, stdout or sys.stdout
    config = load(args)
    now = parse_now(args.now)
    plan = make_plan(config, now)
    if isinstance(plan, ActionResult):
        return print_result(plan, out=out)
    declined = confirm(plan.describe(), question(plan), what, yes=args.yes, inp=inp, out=out)
    if declined is not None:
        return print_result(declined, out=out)
    return print_result(act(config, plan, now=now, by=actor()), out=out, logged=True)
