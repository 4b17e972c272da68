"""The command line: parse arguments, build the configuration, run one command.

Exit codes: 0 done, 1 refused or a ``--fail-on`` condition held, 2 error (a one-line message on
stderr saying what, where and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from factory_tui import __version__
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.timeparse import parse_ts

__all__ = ["main"]

COMMANDS = ("status", "doctor", "demo", "snapshot", "ui", "release", "kill")


class CliError(Exception):
    """A one-line error for the user; exit code 2."""


def _factory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root", nargs="?", metavar="ROOT", help="the factory's repo (default: git top level of .)"
    )
    group = parser.add_argument_group("where the files are")
    group.add_argument(
        "--claims", metavar="DIR", help="claims folder (default ROOT/.claude/claims)"
    )
    group.add_argument(
        "--memory", metavar="DIR", help="memory folder: operations.log and checkpoints/"
    )
    group.add_argument("--log", metavar="FILE", help="operations.log")
    group.add_argument("--checkpoints", metavar="DIR", help="checkpoints folder")
    group.add_argument("--config", metavar="FILE", help="a factory.toml to use instead of ROOT's")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory-tui",
        description="A cockpit for one engineer supervising AI coding agents that share files.",
    )
    parser.add_argument("--version", action="version", version=f"factory-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = sub.add_parser("status", help="the fleet as a table, or JSON with --json")
    _factory_options(status)
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.add_argument("--now", metavar="ISO", help="fix the clock (for CI and tests)")

    doctor = sub.add_parser(
        "doctor", help="every resolved path, where it came from, and the tools on PATH"
    )
    _factory_options(doctor)
    doctor.add_argument("--json", action="store_true")

    release = sub.add_parser(
        "release", help="release a stale claim (exit 0 released, 1 refused, 2 error)"
    )
    release.add_argument("target", metavar="ID[:PHASE]", help="a standalone ticket, or MEGA:phase")
    _factory_options(release)
    release.add_argument(
        "--force", action="store_true", help="release even if not stale (logged as forced)"
    )
    release.add_argument("--reason", metavar="TEXT", help="a note for the log line")
    release.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    release.add_argument(
        "--read-only", action="store_true", help="refuse (for testing a read-only setup)"
    )

    kill = sub.add_parser("kill", help="stop a runaway local agent: SIGTERM, then SIGKILL")
    kill.add_argument("instance", metavar="INSTANCE")
    _factory_options(kill)
    kill.add_argument(
        "--grace", type=float, default=5.0, metavar="S", help="seconds before SIGKILL"
    )
    kill.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    kill.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="make a demo factory (and open the cockpit on it)")
    demo.add_argument("--dir", metavar="PATH", help="where to make it (default: a temp dir)")
    demo.add_argument("--no-ui", action="store_true", help="only write the factory, print its path")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--agents", type=int, default=6)
    demo.add_argument("--now", metavar="ISO", help="the demo's clock (default: now)")

    return parser


def _now(value: str | None) -> datetime:
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


def cmd_status(args: argparse.Namespace) -> int:
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.report import render_status

    config = load(args)
    now = _now(args.now)
    reader = FactoryReader(config)
    reader.refresh_all()
    fleet = reader.fleet(now)
    if args.json:
        json.dump(fleet.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        render_status(fleet, sys.stdout)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from factory_tui.doctor import doctor_json, doctor_report, render_doctor

    config = load(args)
    lines = doctor_report(config)
    if args.json:
        json.dump(doctor_json(lines), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_doctor(lines))
        if not render_doctor(lines).endswith("\n"):
            sys.stdout.write("\n")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from factory_tui.actions.release import release_claim

    config = load(args)
    result = release_claim(
        config, args.target, now=_now(args.now), force=args.force, reason=args.reason
    )
    stream = sys.stdout if result.ok else sys.stderr
    print(f"factory-tui: {result.message}", file=stream)
    for detail in result.details:
        print(f"  {detail}", file=stream)
    return int(result.outcome)


def cmd_kill(args: argparse.Namespace) -> int:
    from factory_tui.actions.stop import stop_agent

    config = load(args)
    result = stop_agent(config, args.instance, now=_now(args.now), grace_s=args.grace)
    print(f"factory-tui: {result.message}", file=sys.stdout if result.ok else sys.stderr)
    return int(result.outcome)


def cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from factory_tui.adapters.procs import local_hostname
    from factory_tui.demo.generator import generate_demo

    if args.agents < 4:
        raise CliError(f"--agents {args.agents}: the demo needs at least 4 agents")
    target = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="factory-demo-"))
    if target.exists() and any(target.iterdir()):
        raise CliError(f"--dir {target}: not empty; give a new or empty folder")
    target.mkdir(parents=True, exist_ok=True)
    # A fixed clock makes a reproducible factory: its agents' pids are then dead ones, since a
    # live process cannot have started at a made-up time.
    try:
        factory = generate_demo(
            target,
            seed=args.seed,
            agents=args.agents,
            now=_now(args.now),
            hostname=local_hostname(),
            start_processes=args.now is None,
        )
    except ValueError as error:
        raise CliError(str(error)) from error
    if args.no_ui:
        print(factory.root)
        return 0
    raise CliError(
        "the cockpit is not built yet; run with --no-ui and then `factory-tui status ROOT`"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in COMMANDS and not args_list[0].startswith("-"):
        args_list.insert(0, "ui")
    parser = build_parser()
    args = parser.parse_args(args_list)
    handlers = {
        "status": cmd_status,
        "doctor": cmd_doctor,
        "demo": cmd_demo,
        "release": cmd_release,
        "kill": cmd_kill,
    }
    command = args.command or "ui"
    handler = handlers.get(command)
    try:
        if handler is None:
            raise CliError(f"{command}: not available yet")
        return handler(args)
    except CliError as error:
        print(f"factory-tui: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
