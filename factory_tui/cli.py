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
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from factory_tui import __version__
from factory_tui.config import Config, ConfigError, load_config
from factory_tui.core.safe import dumps_json, json_safe, printable
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from textual.app import App

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


def _factory_options(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory-tui",
        description="A cockpit for one engineer supervising AI coding agents that share files.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"factory-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = sub.add_parser("status", help="the fleet as a table, or JSON with --json")
    _factory_options(status)
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.add_argument(
        "--now", metavar="ISO", help="fix the clock, for CI and tests (default: now)"
    )

    doctor = sub.add_parser(
        "doctor", help="every resolved path, where it came from, and the tools on PATH"
    )
    _factory_options(doctor)
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")

    release = sub.add_parser(
        "release", help="release a stale claim (exit 0 released, 1 refused, 2 error)"
    )
    release.add_argument("target", metavar="ID[:PHASE]", help="a standalone ticket, or MEGA:phase")
    _factory_options(release)
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

    kill = sub.add_parser(
        "kill", help="stop a runaway local agent: SIGTERM, then SIGKILL (asks first)"
    )
    kill.add_argument("instance", metavar="INSTANCE", help="the agent's instance id")
    _factory_options(kill)
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
    demo.add_argument(
        "--seed", type=int, default=7, metavar="N", help="the same seed makes the same factory"
    )
    demo.add_argument("--agents", type=int, default=6, metavar="N", help="how many (at least 4)")
    demo.add_argument(
        "--now", metavar="ISO", help="the demo's clock (default: now; no live agents)"
    )
    demo.add_argument("--speed", type=float, default=1.0, metavar="X", help="simulator speed")
    demo.add_argument("--keep", action="store_true", help="keep the demo folder after quitting")
    demo.add_argument("--theme", metavar="NAME", help=THEME_HELP)

    ui = sub.add_parser("ui", help="the live cockpit (the default: factory-tui [ROOT])")
    _factory_options(ui)
    ui.add_argument("--theme", metavar="NAME", help=THEME_HELP)
    ui.add_argument("--read-only", action="store_true", help="no key changes a file")

    snapshot = sub.add_parser("snapshot", help="render the cockpit headless to .svg or .txt (CI)")
    _factory_options(snapshot)
    snapshot.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="FILE.svg or FILE.txt"
    )
    snapshot.add_argument("--size", default="120x40", metavar="WxH", help="terminal size")
    snapshot.add_argument(
        "--view",
        default="agents",
        choices=("agents", "claims", "sessions", "log", "problems", "state", "prs", "cost"),
        help="the view to render",
    )
    snapshot.add_argument("--theme", metavar="NAME", help=THEME_HELP)
    snapshot.add_argument(
        "--now", metavar="ISO", help="fix the clock: same files, same picture (default: now)"
    )
    snapshot.add_argument(
        "--fail-on",
        default="",
        metavar="LIST",
        help="comma list of stale,crashed,problems,ask,budget,missing (no claims folder or "
        "operations.log): exit 1 when any holds (default: none)",
    )

    from factory_tui.actions.parsers import add_cost_parser, add_council_parser, add_prs_parsers
    from factory_tui.actions.recover_cli import add_recover_parser

    add_recover_parser(sub)
    add_prs_parsers(sub)
    add_cost_parser(sub)
    add_council_parser(sub)

    for command in sub.choices.values():
        command.formatter_class = HelpFormatter
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
    parser = build_parser()
    if args[0] not in COMMANDS:
        return parser.parse_args(args)  # -h or --version: prints and exits
    namespace = command_parser(parser, args[0]).parse_intermixed_args(args[1:])
    namespace.command = args[0]
    return namespace


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
    _warn_missing(config, "status")
    reader = FactoryReader(config)
    reader.refresh_all()
    fleet = reader.fleet(now)
    if args.json:
        write_json_records(fleet.to_json(), sys.stdout)
    else:
        render_status(fleet, sys.stdout)
    _exit_fast.add("status")  # a million-line fold need not be freed object by object
    return 0


def _warn_missing(config: Config, command: str) -> list[str]:
    """Say on stderr which of the claims folder and operations.log do not exist (an empty fleet
    would look healthy); returns those sentences."""
    from factory_tui.doctor import missing_inputs

    missing = missing_inputs(config)
    for sentence in missing:
        print(f"factory-tui {command}: warning: {printable(sentence)}", file=sys.stderr)
    return missing


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


def cmd_release(
    args: argparse.Namespace, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    """Show the claim and the three conditions, ask on a terminal (``--yes`` skips it; without a
    terminal ``--yes`` is required), then release. A release that would be refused anyway (not
    stale, no ``--force``) is not asked about: the refusal says why."""
    from factory_tui.actions.base import ActionResult, Outcome, print_result, read_only_refusal
    from factory_tui.actions.release import plan_release, release_claim

    inp, out = stdin or sys.stdin, stdout or sys.stdout
    config = load(args)
    now = _now(args.now)
    refusal = read_only_refusal(config, "releasing a claim")
    if refusal is not None:
        return print_result(refusal, out=out)
    if not args.yes:
        plan = plan_release(config, args.target, now=now, force=args.force)
        if isinstance(plan, ActionResult):
            return print_result(plan, out=out)
        if plan.releasable or args.force:
            for line in plan.describe():
                print(printable(line, multiline=False), file=out)
            if not inp.isatty():
                return print_result(
                    ActionResult(
                        Outcome.REFUSED,
                        "not a terminal, so nobody can confirm: "
                        f"pass --yes to release {args.target}",
                    ),
                    out=out,
                )
            out.write(f"Release {printable(args.target, multiline=False)}? [y/N] ")
            out.flush()
            if inp.readline().strip().lower() not in ("y", "yes"):
                return print_result(
                    ActionResult(Outcome.REFUSED, "declined: nothing was changed"), out=out
                )
    result = release_claim(config, args.target, now=now, force=args.force, reason=args.reason)
    return print_result(result, out=out)


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
    if not args.no_ui:
        require_terminal()
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
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def stop_simulator() -> None:
        stop.set()
        for thread in threads:
            thread.join(10)

    quit_on_signals = QuitOnSignals()
    code = 0
    try:
        with quit_on_signals:  # from here on a signal leads through the clean-up below
            # The demo's own settings (idle_after = "2m", ...) are in its factory.toml, so
            # `status` on the same folder judges as the cockpit does; only the theme is a flag.
            try:
                config = load_config(root, flags={"theme": args.theme})
            except ConfigError as error:
                raise CliError(str(error)) from error
            simulator = Simulator(root, seed=args.seed, speed=args.speed, config=config)
            threads.append(
                threading.Thread(
                    target=simulator.run, args=(stop,), name="demo-simulator", daemon=True
                )
            )
            threads[0].start()
            app = FactoryApp(config, on_quit=stop_simulator)
            gc.freeze()  # as in cmd_ui
            quit_on_signals.run(app)
            code = quit_on_signals.exit_code
    finally:
        # Also after a signal or an error: a signal while the agents are stopped is only noted.
        quit_on_signals.finished()
        with quit_on_signals:
            stop_simulator()
            stop_demo_processes(factory)  # quitting the demo stops its agents
            if args.keep:
                _say(f"factory-tui: the demo factory is kept in {root}")
            elif temporary:
                shutil.rmtree(target, ignore_errors=True)
            else:
                _say(f"factory-tui: the demo factory stays in {root} (--dir given)")
    return code


def _say(line: str) -> None:
    """Print ``line`` if the terminal is still there: after SIGHUP (the window closed) writing
    fails with EIO, and what is left to do must still be done, with no traceback."""
    try:
        print(line, flush=True)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush fails no more
        os.close(devnull)


def require_terminal() -> None:
    """Refuse at once unless stdin, stdout and stderr (where Textual draws) are terminals:
    without one the cockpit could never be seen nor quit, and spun a core waiting for keys."""
    missing = [
        name
        for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
        if not _isatty(stream)
    ]
    if missing:
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        raise CliError(
            f"the cockpit needs a terminal (stdin and stdout), and {names} "
            f"{'is not one' if len(missing) == 1 else 'are not'}; "
            "for scripts use `factory-tui status` or `factory-tui snapshot`"
        )


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed
        return False


class QuitOnSignals:
    """SIGTERM, SIGHUP (the terminal closed, ``tmux kill-session``) and SIGINT end the cockpit
    as ``q`` does, so that what follows ``app.run()`` (the demo's clean-up) runs and Textual
    restores the terminal. Their default action would end the process at once: the terminal
    left in the alternate screen, the demo's agents and folder left behind.

    Used as a context manager around the app's whole life: while the app's event loop runs, a
    signal asks the app to exit (the handler runs on the loop's own thread, between two of its
    steps, so it hands ``app.exit`` to the loop); outside the loop, before the app runs, it
    unwinds like ctrl+c (``KeyboardInterrupt``, exit 130); after :meth:`finished`, during the
    clean-up, it is only noted."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._app: App[Any] | None = None
        self._state = "before"  # "running", then "after"
        self._previous: dict[int, object] = {}

    def __enter__(self) -> QuitOnSignals:
        import signal  # here, not at the top: `status` need not import it

        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_exc: object) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def run(self, app: App[Any]) -> None:
        self._app, self._state = app, "running"
        try:
            app.run()
        finally:
            self.finished()

    def finished(self) -> None:
        """From now on a signal is only noted (the clean-up after the app is not cut short)."""
        self._state = "after"

    @property
    def exit_code(self) -> int:
        """0 after ``q``; 128 + the signal's number after a signal, as a shell reports it."""
        return 128 + self.received[0] if self.received else 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if self._state == "before":
            raise KeyboardInterrupt
        if self._state == "running" and self._app is not None:
            import asyncio  # already imported by Textual

            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # the app's loop is not running yet, or no more:
                raise KeyboardInterrupt from None  # nothing on the screen to give back
            loop.call_soon_threadsafe(self._app.exit)


def cmd_ui(args: argparse.Namespace) -> int:
    import gc

    from factory_tui.ui.app import FactoryApp

    require_terminal()
    quit_on_signals = QuitOnSignals()
    with quit_on_signals:
        app = FactoryApp(load(args))
        # What start-up made (modules, the app) lives as long as the process: the cyclic
        # collector never scans it again. Its first full pass fell just before the first frame.
        gc.freeze()
        quit_on_signals.run(app)
    return quit_on_signals.exit_code


def cmd_snapshot(args: argparse.Namespace) -> int:
    from factory_tui.core.failon import FAIL_CONDITIONS, fail_reasons
    from factory_tui.ui.snapshot import SnapshotError, parse_size, render_snapshot

    try:
        size = parse_size(args.size)
    except ValueError as error:
        raise CliError(f"--size {error}") from error
    conditions = [c.strip().lower() for c in args.fail_on.split(",") if c.strip()]
    known = (*FAIL_CONDITIONS, "ask", "budget", "missing")
    for condition in conditions:
        if condition not in known:
            raise CliError(f"--fail-on {condition!r}: expected a comma list of {', '.join(known)}")
    config = load(args)
    now = _now(args.now)
    if "missing" not in conditions:  # with it, the same sentences are the failure's reasons
        _warn_missing(config, "snapshot")
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
    reasons = fail_reasons(fleet, [c for c in conditions if c in FAIL_CONDITIONS])
    if "missing" in conditions:
        from factory_tui.doctor import missing_inputs

        reasons.extend(missing_inputs(config))
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
    args = parse_args(sys.argv[1:] if argv is None else argv)
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
    command = args.command
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
