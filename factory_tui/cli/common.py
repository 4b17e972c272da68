"""What every command group shares: the factory options, the configuration loader, the clock
flag, the one-line error and the report of an action's result.

Cheap to import: building the parser must not pay for any command's machinery.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.actions.base import ActionResult

__all__ = [
    "THEME_HELP",
    "CliError",
    "HelpFormatter",
    "ProcessEnd",
    "ask",
    "confirm",
    "exit_fast",
    "factory_options",
    "load",
    "no_terminal",
    "parse_now",
    "print_result",
]

# Commands after which the process may end without tearing down its objects one by one.
exit_fast: set[str] = set()


class ProcessEnd:
    """Whether the process ends right after the command: the console entry point
    (:func:`factory_tui.cli.run`) says so; a test calling :func:`~factory_tui.cli.main` does
    not. A command may then leave what it made to the exit instead of freeing it."""

    after_command = False


THEME_HELP = (
    "factory-dark, factory-light, factory-mono or a user theme "
    "(default: factory.toml's, else factory-dark)"
)


class CliError(Exception):
    """A one-line error for the user; exit code 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help shows its default: a value default is appended as ``(default: X)``;
    an option whose default is "not given" says in its own help what happens then."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def factory_options(parser: argparse.ArgumentParser) -> None:
    """``ROOT`` and the options saying where the factory's files are."""
    parser.add_argument(
        "root", nargs="?", metavar="ROOT", help="the factory's repo (default: git top level of .)"
    )
    group = parser.add_argument_group("where the files are")
    group.add_argument(
        "--claims", metavar="DIR", help="claims folder (default: ROOT/.claude/claims)"
    )
    group.add_argument(
        "--memory",
        metavar="DIR",
        help="memory folder: operations.log and checkpoints/ "
        "(default: factory.toml's, else Claude Code's memory folder of ROOT)",
    )
    group.add_argument("--log", metavar="FILE", help="operations.log (default: MEMORY's)")
    group.add_argument(
        "--checkpoints", metavar="DIR", help="checkpoints folder (default: MEMORY's)"
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="a factory.toml to use instead of ROOT's (default: ROOT/factory.toml)",
    )


def parse_now(value: str | None) -> datetime:
    """``--now ISO`` as a timestamp; now (to the second) when not given."""
    if value is None:
        return datetime.now().replace(microsecond=0)
    parsed = parse_ts(value)
    if parsed is None:
        raise CliError(f"--now {value!r}: not a timestamp; use YYYY-MM-DDTHH:MM[:SS]")
    return parsed


def load(args: argparse.Namespace) -> Config:
    """The configuration for a command that reads the factory; checks the paths it was given."""
    root = Path(args.root) if getattr(args, "root", None) else None
    if root is not None and not root.is_dir():
        raise CliError(f"ROOT {root}: no such directory")
    flags: dict[str, str | None] = {
        key: getattr(args, key, None)
        for key in ("claims", "memory", "log", "checkpoints", "config", "theme")
    }
    if getattr(args, "read_only", False):
        flags["read_only"] = "true"
    for key in ("claims", "memory", "checkpoints"):
        value = flags[key]
        if value is not None and Path(value).exists() and not Path(value).is_dir():
            raise CliError(f"--{key} {value}: not a directory")
    if flags["log"] is not None and Path(flags["log"]).is_dir():
        raise CliError(f"--log {flags['log']}: is a directory; give the operations.log file")
    if flags["config"] is not None and not Path(flags["config"]).is_file():
        raise CliError(f"--config {flags['config']}: no such file")
    try:
        return load_config(root, flags=flags)
    except ConfigError as error:
        raise CliError(str(error)) from error


def print_result(
    result: ActionResult,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    logged: bool = False,
) -> int:
    """The CLI's report of an action: its message and details (and with ``logged`` the lines it
    logged), on stdout when done, stderr otherwise, made printable (they quote ids, titles,
    branches and tools' words). Returns the exit code."""
    stream = (out or sys.stdout) if result.ok else (err or sys.stderr)
    print(f"factory-tui: {printable(result.message, multiline=False)}", file=stream)
    for detail in result.details:
        print(f"  {printable(detail, multiline=False)}", file=stream)
    if logged:
        for line in result.log_lines:
            print(f"  logged: {printable(line, multiline=False)}", file=stream)
    return int(result.outcome)


def ask(question: str, inp: TextIO, out: TextIO) -> bool:
    """``question [y/N]`` on ``out``; whether the answer read from ``inp`` is yes."""
    out.write(f"{printable(question, multiline=False)} [y/N] ")
    out.flush()
    return inp.readline().strip().lower() in ("y", "yes")


def no_terminal(what: str) -> ActionResult:
    """The refusal when a command must ask but nobody can answer (``what``: ``stop X``)."""
    from factory_tui.actions.base import ActionResult, Outcome

    return ActionResult(
        Outcome.REFUSED, f"not a terminal, so nobody can confirm: pass --yes to {what}"
    )


def confirm(
    lines: list[str],
    question: str,
    what: str,
    *,
    yes: bool,
    inp: TextIO,
    out: TextIO,
    declined: str = "declined: nothing was done",
) -> ActionResult | None:
    """Print the plan's ``lines``, then ask ``question`` (``--yes``: not asked). None when
    confirmed; else the refusal to report (no terminal, or not yes: ``declined``)."""
    from factory_tui.actions.base import ActionResult, Outcome

    for line in lines:
        print(printable(line, multiline=False), file=out)
    if yes:
        return None
    if not inp.isatty():
        return no_terminal(what)
    if not ask(question, inp, out):
        return ActionResult(Outcome.REFUSED, declined)
    return None
