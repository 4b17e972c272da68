"""The command line: parse arguments, build the configuration, run one command.

One module per command group, each with its parsers and its commands: :mod:`.status`
(``status``, ``snapshot``, ``doctor``), :mod:`.actions` (``release``, ``kill``, ``unlock``,
``recover``), :mod:`.prs`, :mod:`.cost`, :mod:`.council`, :mod:`.demo` (``demo``, ``ui``) and
:mod:`.hook` (``hook``, ``hooks``, ``agent``);
what they share is in :mod:`.common`. The decisions are in :mod:`factory_tui.actions`, which
never imports this package. Building the parser imports none of the commands' machinery: each
command imports it when it runs (``status`` should not pay for the PR and cost machinery); and
only the module of the command given is imported (``status`` does not load the hook's, the
cost's or the demo's).
:mod:`.supervise` holds ``send`` and ``launch``.

Exit codes: 0 done, 1 refused or a ``--fail-on`` condition held, 2 error (a one-line message on
stderr saying what, where and what to do).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from factory_tui import __version__
from factory_tui.cli.common import CliError, HelpFormatter, ProcessEnd, exit_fast
from factory_tui.core.safe import printable

__all__ = ["main", "run"]

COMMANDS = (
    "status",
    "doctor",
    "demo",
    "snapshot",
    "ui",
    "release",
    "kill",
    "unlock",
    "recover",
    "prs",
    "approve",
    "request-changes",
    "mark-reviewed",
    "cost",
    "council",
    "hook",
    "hooks",
    "agent",
    "send",
    "launch",
)

#: Commands that never draw the progress line of a long read (:mod:`factory_tui.cli.progress`):
#: the cockpit (and its headless snapshot) shows it in its header; the agents' hooks must stay
#: silent; doctor reads no log.
QUIET_COMMANDS = frozenset({"ui", "demo", "snapshot", "hook", "hooks", "agent", "doctor"})

#: Each command's module (in this package) and function: the module is imported when its command
#: runs or its parser is built (the cockpit's start imports none of the other commands' modules).
HANDLERS: dict[str, tuple[str, str]] = {
    "status": ("status", "cmd_status"),
    "doctor": ("status", "cmd_doctor"),
    "demo": ("demo", "cmd_demo"),
    "release": ("actions", "cmd_release"),
    "kill": ("actions", "cmd_kill"),
    "unlock": ("actions", "cmd_unlock"),
    "ui": ("demo", "cmd_ui"),
    "snapshot": ("status", "cmd_snapshot"),
    "recover": ("actions", "cmd_recover"),
    "prs": ("prs", "cmd_prs"),
    "approve": ("prs", "cmd_approve"),
    "request-changes": ("prs", "cmd_request_changes"),
    "mark-reviewed": ("prs", "cmd_mark_reviewed"),
    "cost": ("cost", "cmd_cost"),
    "council": ("council", "cmd_council"),
    "hook": ("hook", "cmd_hook"),
    "hooks": ("hook", "cmd_hooks"),
    "agent": ("hook", "cmd_agent"),
    "send": ("supervise", "cmd_send"),
    "launch": ("supervise", "cmd_launch"),
}


#: Each command's sub-parser is added by one of these (in this order: ``--help`` lists them so).
_SUB_PARSERS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("status",), "status", "add_status_parser"),
    (("doctor",), "status", "add_doctor_parser"),
    (("release",), "actions", "add_release_parser"),
    (("kill",), "actions", "add_kill_parser"),
    (("unlock",), "actions", "add_unlock_parser"),
    (("demo",), "demo", "add_demo_parser"),
    (("ui",), "demo", "add_ui_parser"),
    (("snapshot",), "status", "add_snapshot_parser"),
    (("recover",), "actions", "add_recover_parser"),
    (("prs", "approve", "request-changes", "mark-reviewed"), "prs", "add_prs_parsers"),
    (("cost",), "cost", "add_cost_parser"),
    (("council",), "council", "add_council_parser"),
    (("hook",), "hook", "add_hook_parser"),
    (("hooks",), "hook", "add_hooks_parser"),
    (("agent",), "hook", "add_agent_parser"),
    (("send",), "supervise", "add_send_parser"),
    (("launch",), "supervise", "add_launch_parser"),
)


def _command_function(module: str, name: str) -> Callable[..., Any]:
    """``name`` in this package's ``module``, imported now."""
    function: Callable[..., Any] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return function


def _saved_sessions_error(error: ValueError) -> bool:
    """Whether ``error`` is the fold's :class:`~factory_tui.core.fold_saved.SavedSessionsError`
    (a bad saved fold: said in one line). Looked up without importing the fold: a command that
    never imported it cannot have raised it."""
    fold_saved = sys.modules.get("factory_tui.core.fold_saved")
    return fold_saved is not None and isinstance(error, fold_saved.SavedSessionsError)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command``, holding only that command's sub-parser
    (the cockpit's start makes one sub-parser, not twenty: 4 ms of its first frame)."""
    parser = argparse.ArgumentParser(
        prog="factory-tui",
        description="A cockpit for one engineer supervising AI coding agents that share files.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"factory-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for commands, module, name in _SUB_PARSERS:
        if command is None or command in commands:
            _command_function(module, name)(sub)
    for each in sub.choices.values():
        each.formatter_class = HelpFormatter
    return parser


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-parser of ``command`` in :func:`build_parser`'s parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    raise KeyError(command)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as a namespace with ``command`` set. ``factory-tui [ROOT] [options]`` is
    the cockpit (``ui``). A command's positionals and options come in any order (``release ID
    --reason TEXT ROOT``): argparse's subparsers would take no positional after an option, so
    the command's own parser reads the rest, and a usage error prints that command's usage."""
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "ui")
    parser = build_parser(args[0] if args[0] in COMMANDS else None)
    if args[0] not in COMMANDS:
        return parser.parse_args(args)  # -h or --version: prints and exits
    namespace = command_parser(parser, args[0]).parse_intermixed_args(args[1:])
    namespace.command = args[0]
    return namespace


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = args.command
    try:
        if command not in HANDLERS:
            raise CliError(f"{command}: not available yet")
        handler = _command_function(*HANDLERS[command])
        if command in QUIET_COMMANDS:
            return int(handler(args))
        from factory_tui.cli.progress import progress_on_terminal

        with progress_on_terminal(sys.stderr):
            return int(handler(args))
    except (CliError, ValueError) as error:
        if not isinstance(error, CliError) and not _saved_sessions_error(error):
            raise
        print(f"factory-tui: {printable(str(error), multiline=False)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def open_closed_standard_streams() -> None:
    """A standard descriptor the command was started without (``status --json >&-``: cron, a
    service unit) is opened on the null device: no file opened later takes its number (a
    write meant for the terminal, or a child's output, would land in that file), and the
    answer is dropped as on a closed pipe while the exit code still says what ``--fail-on``
    found (Python had set the stream to None: the first write was a traceback)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # the lowest free number: fd itself, unless one before it is closed
                os.dup2(null, fd)
                os.close(null)
    # The process's own streams, open until it ends.
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)  # noqa: SIM115


def run() -> NoReturn:
    """The console entry point: :func:`main`, then exit. After a command that built a big fold
    (``status`` on a million-line log) the interpreter's object-by-object teardown costs a
    third of a second; its output is flushed and the process ends at once instead."""
    ProcessEnd.after_command = True
    open_closed_standard_streams()
    code = main()
    if exit_fast:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            pass
        os._exit(code)
    raise SystemExit(code)
