"""The command line: parse arguments, build the configuration, run one command.

Exit codes: 0 done, 1 refused or a ``--fail-on`` condition held, 2 error (a one-line message on
stderr saying what, where and what to do).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from factory_tui import __version__
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.safe import dumps_json, json_safe, printable
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.demo.generator import DemoFactory

__all__ = ["main", "run"]

# Commands after which the process may end without tearing down its objects one by one.
_exit_fast: set[str] = set()

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
)


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

    kill = sub.add_parser(
        "kill", help="stop a runaway local agent: SIGTERM, then SIGKILL (asks first)"
    )
    kill.add_argument("instance", metavar="INSTANCE")
    _factory_options(kill)
    kill.add_argument(
        "--grace", type=float, default=5.0, metavar="S", help="seconds before SIGKILL"
    )
    kill.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    kill.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    kill.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    unlock = sub.add_parser(
        "unlock",
        help="break a stale claim lock (its writer died); refused while fresh "
        "(exit 0 broken, 1 refused, 2 error)",
    )
    unlock.add_argument("name", metavar="NAME", help="the lock's name, e.g. CAB-1290-phase-2.lock")
    _factory_options(unlock)
    unlock.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    unlock.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="make a demo factory (and open the cockpit on it)")
    demo.add_argument("--dir", metavar="PATH", help="where to make it (default: a temp dir)")
    demo.add_argument("--no-ui", action="store_true", help="only write the factory, print its path")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--agents", type=int, default=6)
    demo.add_argument(
        "--now", metavar="ISO", help="the demo's clock (default: now; no live agents)"
    )
    demo.add_argument("--speed", type=float, default=1.0, help="simulator speed (default 1.0)")
    demo.add_argument("--keep", action="store_true", help="keep the demo folder after quitting")
    demo.add_argument("--theme", metavar="NAME")

    ui = sub.add_parser("ui", help="the live cockpit (the default: factory-tui [ROOT])")
    _factory_options(ui)
    ui.add_argument(
        "--theme", metavar="NAME", help="factory-dark (default), factory-light, factory-mono"
    )
    ui.add_argument("--read-only", action="store_true", help="no key changes a file")

    snapshot = sub.add_parser("snapshot", help="render the cockpit headless to .svg or .txt (CI)")
    _factory_options(snapshot)
    snapshot.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="FILE.svg or FILE.txt"
    )
    snapshot.add_argument("--size", default="120x40", metavar="WxH", help="terminal size (120x40)")
    snapshot.add_argument(
        "--view",
        default="agents",
        choices=("agents", "claims", "sessions", "log", "problems", "state", "prs", "cost"),
    )
    snapshot.add_argument("--theme", metavar="NAME")
    snapshot.add_argument("--now", metavar="ISO", help="fix the clock: same files, same picture")
    snapshot.add_argument(
        "--fail-on",
        default="",
        metavar="LIST",
        help="comma list of stale,crashed,problems,ask,budget: exit 1 when any holds",
    )

    from factory_tui.actions.parsers import add_cost_parser, add_council_parser, add_prs_parsers
    from factory_tui.actions.recover_cli import add_recover_parser

    add_recover_parser(sub)
    add_prs_parsers(sub)
    add_cost_parser(sub)
    add_council_parser(sub)

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
        write_json_records(fleet.to_json(), sys.stdout)
    else:
        render_status(fleet, sys.stdout)
    _exit_fast.add("status")  # a million-line fold need not be freed object by object
    return 0


def write_json_records(payload: dict[str, object], out: TextIO) -> None:
    """One JSON object, each item of its top-level lists on a line of its own: readable, grep- and
    diff-friendly, and written by the C encoder (an indented dump is several times slower).
    Agent text in it keeps its data, with what a terminal would act on escaped (:func:`json_safe`:
    one regex search per list when there is nothing to escape)."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out.write("{\n")
    for n, (key, value) in enumerate(payload.items()):
        out.write(f" {json_safe(dumps(key))}: ")
        if isinstance(value, list) and value:
            out.write(json_safe("[\n  " + ",\n  ".join(map(dumps, value)) + "\n ]"))
        else:
            out.write(json_safe(dumps(value)))
        out.write(",\n" if n < len(payload) - 1 else "\n")
    out.write("}\n")


def cmd_doctor(args: argparse.Namespace) -> int:
    from factory_tui.doctor import doctor_json, doctor_report, render_doctor

    config = load(args)
    lines = doctor_report(config)
    if args.json:
        sys.stdout.write(dumps_json(doctor_json(lines)) + "\n")
    else:
        sys.stdout.write(render_doctor(lines))
        if not render_doctor(lines).endswith("\n"):
            sys.stdout.write("\n")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from factory_tui.actions.base import print_result
    from factory_tui.actions.release import release_claim

    config = load(args)
    result = release_claim(
        config, args.target, now=_now(args.now), force=args.force, reason=args.reason
    )
    return print_result(result)


def cmd_kill(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Show what would be signalled, ask on a terminal (``--yes`` skips it; without a terminal
    ``--yes`` is required), then stop the agent."""
    from factory_tui.actions.base import ActionResult, Outcome, print_result, read_only_refusal
    from factory_tui.actions.stop import plan_stop, stop_agent
    from factory_tui.core.safe import printable

    inp, out = stdin or sys.stdin, stdout or sys.stdout

    def finish(result: ActionResult) -> int:
        return print_result(result, out=out)

    config = load(args)
    now = _now(args.now)
    refusal = read_only_refusal(config, "stopping an agent")
    if refusal is not None:
        return finish(refusal)
    if not args.yes:
        plan = plan_stop(config, args.instance, now=now)
        if isinstance(plan, ActionResult):
            return finish(plan)
        for line in plan.describe():
            print(printable(line, multiline=False), file=out)
        if not inp.isatty():
            return finish(
                ActionResult(
                    Outcome.REFUSED,
                    f"not a terminal, so nobody can confirm: pass --yes to stop {args.instance}",
                )
            )
        out.write(f"Stop {printable(args.instance, multiline=False)} (pid {plan.pid})? [y/N] ")
        out.flush()
        if inp.readline().strip().lower() not in ("y", "yes"):
            return finish(ActionResult(Outcome.REFUSED, "declined: nothing was signalled"))
    return finish(stop_agent(config, args.instance, now=now, grace_s=args.grace))


def cmd_unlock(args: argparse.Namespace) -> int:
    from factory_tui.actions.base import print_result
    from factory_tui.actions.unlock import unlock

    return print_result(unlock(load(args), args.name, now=_now(args.now)), logged=True)


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
            transcripts=True,  # the agents' spend in the cockpit (inside the demo folder)
        )
    except ValueError as error:
        raise CliError(str(error)) from error
    if args.no_ui:
        print(factory.root)
        return 0
    return _run_demo(args, factory, target, temporary=args.dir is None)


def _run_demo(
    args: argparse.Namespace, factory: DemoFactory, target: Path, *, temporary: bool
) -> int:
    import gc
    import shutil
    import threading

    from factory_tui.demo.generator import stop_demo_processes
    from factory_tui.demo.simulate import Simulator
    from factory_tui.ui.app import FactoryApp

    root = factory.root
    # The demo's own settings (idle_after = "2m", ...) are in its factory.toml, so `status` on
    # the same folder judges as the cockpit does; only the theme is a flag.
    try:
        config = load_config(root, flags={"theme": args.theme})
    except ConfigError as error:
        raise CliError(str(error)) from error
    stop = threading.Event()
    simulator = Simulator(root, seed=args.seed, speed=args.speed, config=config)
    thread = threading.Thread(
        target=simulator.run, args=(stop,), name="demo-simulator", daemon=True
    )
    thread.start()

    def stop_simulator() -> None:
        stop.set()
        thread.join(10)

    try:
        app = FactoryApp(config, on_quit=stop_simulator)
        gc.freeze()  # as in cmd_ui
        app.run()
    finally:
        stop_simulator()
        stop_demo_processes(factory)  # quitting the demo stops its agents

        if args.keep:
            print(f"factory-tui: the demo factory is kept in {root}")
        elif temporary:
            shutil.rmtree(target, ignore_errors=True)
        else:
            print(f"factory-tui: the demo factory stays in {root} (--dir given)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import gc

    from factory_tui.ui.app import FactoryApp

    app = FactoryApp(load(args))
    # What start-up made (modules, the app) lives as long as the process: the cyclic collector
    # never scans it again. Its first full pass fell just before the first frame (15 ms).
    gc.freeze()
    app.run()
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from factory_tui.core.failon import FAIL_CONDITIONS, fail_reasons
    from factory_tui.ui.snapshot import SnapshotError, parse_size, render_snapshot

    try:
        size = parse_size(args.size)
    except ValueError as error:
        raise CliError(f"--size {error}") from error
    conditions = [c.strip().lower() for c in args.fail_on.split(",") if c.strip()]
    known = (*FAIL_CONDITIONS, "ask", "budget")
    for condition in conditions:
        if condition not in known:
            raise CliError(f"--fail-on {condition!r}: expected a comma list of {', '.join(known)}")
    config = load(args)
    now = _now(args.now)
    try:
        fleet = render_snapshot(
            config,
            output=Path(args.output),
            size=size,
            view=args.view,
            theme=args.theme,
            now=now,
        )
    except SnapshotError as error:
        raise CliError(str(error)) from error
    reasons = fail_reasons(fleet, [c for c in conditions if c not in ("ask", "budget")])
    if "ask" in conditions:
        from factory_tui.actions.prs import ask_waiting

        waiting = ask_waiting(config, fleet)
        if waiting:
            reasons.append(f"{waiting} Ask PR(s) waiting for the engineer")
    if "budget" in conditions:  # issue 6: a budget at 100 % today
        from factory_tui.actions.cost_cli import budget_reasons
        from factory_tui.core.pricing import PriceTableError

        try:
            reasons.extend(budget_reasons(config, now))
        except PriceTableError as error:
            raise CliError(str(error)) from error
    for reason in reasons:
        print(f"factory-tui snapshot: --fail-on holds: {printable(reason)}", file=sys.stderr)
    return 1 if reasons else 0


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command of ``factory_tui.actions.<module>``, imported only when it runs (``status``
    should not pay for the PR and cost machinery)."""

    def handler(args: argparse.Namespace) -> int:
        command = getattr(importlib.import_module(f"factory_tui.actions.{module}"), name)
        return int(command(args, load))

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and not args_list[0].startswith("-")):
        args_list.insert(0, "ui")
    parser = build_parser()
    args = parser.parse_args(args_list)
    handlers = {
        "status": cmd_status,
        "doctor": cmd_doctor,
        "demo": cmd_demo,
        "release": cmd_release,
        "kill": cmd_kill,
        "unlock": cmd_unlock,
        "ui": cmd_ui,
        "snapshot": cmd_snapshot,
        "recover": _lazy("recover_cli", "cmd_recover"),
        "prs": _lazy("prs_cli", "cmd_prs"),
        "approve": _lazy("prs_cli", "cmd_approve"),
        "request-changes": _lazy("prs_cli", "cmd_request_changes"),
        "mark-reviewed": _lazy("prs_cli", "cmd_mark_reviewed"),
        "cost": _lazy("cost_cli", "cmd_cost"),
        "council": _lazy("council_cli", "cmd_council"),
    }
    command = args.command or "ui"
    handler: Callable[[argparse.Namespace], int] | None = handlers.get(command)
    try:
        if handler is None:
            raise CliError(f"{command}: not available yet")
        return handler(args)
    except CliError as error:
        print(f"factory-tui: {printable(str(error), multiline=False)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run() -> NoReturn:
    """The console entry point: :func:`main`, then exit. After a command that built a big fold
    (``status`` on a million-line log) the interpreter's object-by-object teardown costs a
    third of a second; its output is flushed and the process ends at once instead."""
    code = main()
    if _exit_fast:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            pass
        os._exit(code)
    raise SystemExit(code)
