"""The engineer's decisions on the command line: ``release``, ``kill``, ``unlock`` and
``recover``. Each shows what it will do, asks on a terminal (``--yes`` skips it; without a
terminal ``--yes`` is required), then calls the action in :mod:`factory_tui.actions`.
Exit 0 done, 1 refused (or declined), 2 error.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from factory_tui.cli.common import (
    CliError,
    ask,
    confirm,
    factory_options,
    load,
    no_terminal,
    parse_now,
    print_result,
)
from factory_tui.core.safe import printable

__all__ = [
    "add_kill_parser",
    "add_recover_parser",
    "add_release_parser",
    "add_unlock_parser",
    "cmd_kill",
    "cmd_recover",
    "cmd_release",
    "cmd_unlock",
]


def add_release_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = sub.add_parser(
        "release", help="release a stale claim (exit 0 released, 1 refused, 2 error)"
    )
    release.add_argument("target", metavar="ID[:PHASE]", help="a standalone ticket, or MEGA:phase")
    factory_options(release)
    release.add_argument(
        "--force", action="store_true", help="release even if not stale (logged as forced)"
    )
    release.add_argument("--reason", metavar="TEXT", help="a note for the log line (default: none)")
    release.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (needed without a terminal)",
    )
    release.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    release.add_argument(
        "--read-only", action="store_true", help="refuse (for testing a read-only setup)"
    )


def add_kill_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kill = sub.add_parser(
        "kill", help="stop a runaway local agent: SIGTERM, then SIGKILL (asks first)"
    )
    kill.add_argument("instance", metavar="INSTANCE", help="the agent's instance id")
    factory_options(kill)
    kill.add_argument(
        "--grace", type=float, default=5.0, metavar="S", help="seconds before SIGKILL"
    )
    kill.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (needed without a terminal)",
    )
    kill.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    kill.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)


def add_unlock_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    unlock = sub.add_parser(
        "unlock",
        help="break a stale claim lock (its writer died); refused while fresh "
        "(exit 0 broken, 1 refused, 2 error)",
    )
    unlock.add_argument("name", metavar="NAME", help="the lock's name, e.g. CAB-1290-phase-2.lock")
    factory_options(unlock)
    unlock.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    unlock.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)


def cmd_release(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Show the claim and the three conditions, ask on a terminal (``--yes`` skips it; without a
    terminal ``--yes`` is required), then release. A release that would be refused anyway (not
    stale, no ``--force``) is not asked about: the refusal says why."""
    from factory_tui.actions.base import ActionResult, read_only_refusal
    from factory_tui.actions.release import plan_release, release_claim

    inp, out = stdin or sys.stdin, stdout or sys.stdout
    config = load(args)
    now = parse_now(args.now)
    refusal = read_only_refusal(config, "releasing a claim")
    if refusal is not None:
        return print_result(refusal, out=out)
    if not args.yes:
        plan = plan_release(config, args.target, now=now, force=args.force)
        if isinstance(plan, ActionResult):
            return print_result(plan, out=out)
        if plan.releasable or args.force:
            declined = confirm(
                plan.describe(),
                f"Release {args.target}?",
                f"release {args.target}",
                yes=False,
                inp=inp,
                out=out,
                declined="declined: nothing was changed",
            )
            if declined is not None:
                return print_result(declined, out=out)
    result = release_claim(config, args.target, now=now, force=args.force, reason=args.reason)
    return print_result(result, out=out)


def cmd_kill(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Show what would be signalled, ask on a terminal (``--yes`` skips it; without a terminal
    ``--yes`` is required), then stop the agent."""
    from factory_tui.actions.base import ActionResult, read_only_refusal
    from factory_tui.actions.stop import plan_stop, stop_agent

    inp, out = stdin or sys.stdin, stdout or sys.stdout

    def finish(result: ActionResult) -> int:
        return print_result(result, out=out)

    config = load(args)
    now = parse_now(args.now)
    refusal = read_only_refusal(config, "stopping an agent")
    if refusal is not None:
        return finish(refusal)
    if not args.yes:
        plan = plan_stop(config, args.instance, now=now)
        if isinstance(plan, ActionResult):
            return finish(plan)
        declined = confirm(
            plan.describe(),
            f"Stop {args.instance} (pid {plan.pid})?",
            f"stop {args.instance}",
            yes=False,
            inp=inp,
            out=out,
            declined="declined: nothing was signalled",
        )
        if declined is not None:
            return finish(declined)
    return finish(stop_agent(config, args.instance, now=now, grace_s=args.grace))


def cmd_unlock(args: argparse.Namespace) -> int:
    from factory_tui.actions.unlock import unlock

    return print_result(unlock(load(args), args.name, now=parse_now(args.now)), logged=True)


def add_recover_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``recover`` command to ``build_parser``'s subparsers."""
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
    factory_options(parser)
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


def cmd_recover(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``recover TASK (--resume | --abandon | --close-merged)``: print what is known about the
    crashed session and what the action will do, ask y/N on a terminal (unless ``--yes``), act."""
    from factory_tui.actions.base import ActionResult, Outcome, actor
    from factory_tui.actions.recover import abandon, close_merged, resume
    from factory_tui.actions.recovery import Action
    from factory_tui.actions.recovery_info import recovery_info
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.git import GitRepo

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
    now = parse_now(args.now)
    action: Action = "resume" if args.resume else "abandon" if args.abandon else "close_merged"
    reader = FactoryReader.warm(config)
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
    if not args.yes and not inp.isatty():
        return finish(no_terminal(f"{action.replace('_', ' ')} {info.task}"))
    interactive = not args.yes
    delete_branch = args.delete_branch
    if interactive:
        if not ask(f"{action.replace('_', ' ').capitalize()} {info.task}?", inp, out):
            return finish(ActionResult(Outcome.REFUSED, "declined: nothing was changed"))
        if (
            delete_branch
            and info.branch_exists
            and not ask(
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
