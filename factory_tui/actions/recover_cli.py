"""``factory-tui recover TASK (--resume | --abandon | --close-merged) [...] [ROOT]``.

Prints what is known about the crashed session and what the action will do, asks y/N when
stdin is a terminal (unless ``--yes``), then acts. Exit 0 done, 1 refused (or declined), 2 error.
``cli.py`` wires it in with ``add_recover_parser(sub)`` and ``"recover": lambda a:
cmd_recover(a, load)``; ``factory_tui.cli`` is imported lazily here (it imports this module).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from factory_tui.config import Config
from factory_tui.core.safe import printable

__all__ = ["add_recover_parser", "cmd_recover"]


def add_recover_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``recover`` command to ``build_parser``'s subparsers."""
    from factory_tui.cli import _factory_options

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "recover",
        help="recover a crashed session: resume, abandon, or close it when its PR is merged",
        description=(
            "Show a crashed session (branch, worktree, checkpoint, claim, PR), then resume it "
            "(start the agent again with a recovery brief), abandon it (release its claim, "
            "archive its checkpoints) or close it because its PR is already merged. "
            "Exit 0 done, 1 refused, 2 error."
        ),
    )
    parser.add_argument("task", metavar="TASK", help="the crashed session's task")
    _factory_options(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--resume", action="store_true", help="start the agent again in the branch's worktree"
    )
    action.add_argument(
        "--abandon",
        action="store_true",
        help="release the claim, archive the checkpoints, close the session (needs --reason)",
    )
    action.add_argument(
        "--close-merged",
        action="store_true",
        help="close the session without resuming: its checkpoint's PR is merged (asks gh)",
    )
    parser.add_argument(
        "--reason", metavar="TEXT", help="why, logged; required by --abandon (default: none)"
    )
    parser.add_argument(
        "--no-launch",
        action="store_true",
        help="--resume: log the recovery but start no agent (start one yourself)",
    )
    parser.add_argument(
        "--delete-branch",
        action="store_true",
        help="--abandon: also delete the branch (and its clean worktree); asks again",
    )
    parser.add_argument(
        "-y", "--yes", action="store_true", help="do not ask for confirmation on a terminal"
    )
    parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    parser.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)
    return parser


def _ask(question: str, stdin: TextIO, stdout: TextIO) -> bool:
    stdout.write(f"{printable(question, multiline=False)} [y/N] ")
    stdout.flush()
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_recover(
    args: argparse.Namespace,
    load: Callable[[argparse.Namespace], Config],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    from factory_tui.actions.base import ActionResult, Outcome, actor, print_result
    from factory_tui.actions.recover import (
        Action,
        abandon,
        close_merged,
        recovery_info,
        resume,
    )
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.git import GitRepo
    from factory_tui.cli import CliError, _now

    inp, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    if args.abandon and not (args.reason or "").strip():
        raise CliError(
            "--abandon needs --reason TEXT: it is logged for the agents and the next person"
        )
    if args.delete_branch and not args.abandon:
        raise CliError("--delete-branch goes with --abandon")
    if args.no_launch and not args.resume:
        raise CliError("--no-launch goes with --resume")
    config = load(args)
    now = _now(args.now)
    action: Action = "resume" if args.resume else "abandon" if args.abandon else "close_merged"
    reader = FactoryReader(config)
    git = GitRepo(config.root)

    def finish(result: ActionResult) -> int:
        return print_result(result, out=out, err=err, logged=True)

    info = recovery_info(config, args.task, now=now, reader=reader, git=git)
    if isinstance(info, ActionResult):
        return finish(info)
    for line in info.describe():
        print(printable(line), file=out)
    who = actor()
    launch = not args.no_launch
    print("", file=out)
    print(f"{action.replace('_', ' ')}:", file=out)
    for line in info.plan(
        action,
        by=who,
        reason=args.reason or "",
        launch=launch,
        delete_branch=args.delete_branch,
    ):
        print(f"  {printable(line)}", file=out)
    why = info.why_not(action, launch=launch)
    if why is not None:
        return finish(ActionResult(Outcome.REFUSED, why))
    interactive = not args.yes and inp.isatty()
    delete_branch = args.delete_branch
    if interactive:
        if not _ask(f"{action.replace('_', ' ').capitalize()} {info.task}?", inp, out):
            return finish(ActionResult(Outcome.REFUSED, "declined: nothing was changed"))
        if (
            delete_branch
            and info.branch_exists
            and not _ask(
                f"Delete branch {info.branch} for good (at {(info.branch_sha or '')[:12]})?",
                inp,
                out,
            )
        ):
            delete_branch = False
            print("the branch stays", file=out)
    if action == "resume":
        result = resume(config, args.task, now=now, reader=reader, launch=launch, by=who, git=git)
    elif action == "abandon":
        result = abandon(
            config,
            args.task,
            now=now,
            reason=args.reason,
            reader=reader,
            delete_branch=delete_branch,
            by=who,
            git=git,
        )
    else:
        result = close_merged(config, args.task, now=now, reader=reader, by=who, git=git)
    return finish(result)
