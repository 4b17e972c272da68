"""``demo`` and ``ui``: a demo factory (and the cockpit on it), and the live cockpit; both end
cleanly on a signal (:class:`QuitOnSignals`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from factory_tui.cli.common import THEME_HELP, CliError, factory_options, load, parse_now
from factory_tui.config import ConfigError, load_config

if TYPE_CHECKING:
    from textual.app import App

    from factory_tui.demo.generator import DemoFactory

__all__ = [
    "QuitOnSignals",
    "add_demo_parser",
    "add_ui_parser",
    "cmd_demo",
    "cmd_ui",
    "require_terminal",
]


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def add_ui_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ui = sub.add_parser("ui", help="the live cockpit (the default: factory-tui [ROOT])")
    factory_options(ui)
    ui.add_argument("--theme", metavar="NAME", help=THEME_HELP)
    ui.add_argument("--read-only", action="store_true", help="no key changes a file")


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
            now=parse_now(args.now),
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
            app = FactoryApp(config, on_quit=stop_simulator, freeze_read=True)
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
        """0 after ``q``; 128 + the signal's number after a signal, as a shell reports it; the
        app's own code otherwise (129 when its terminal went away before the SIGHUP came)."""
        if self.received:
            return 128 + self.received[0]
        return (self._app.return_code or 0) if self._app is not None else 0

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

    from factory_tui.ui.startup import hold_collector

    require_terminal()
    hold_collector()  # until the first frame (the app lets it go): see ui/startup.py
    from factory_tui.ui.app import FactoryApp

    quit_on_signals = QuitOnSignals()
    with quit_on_signals:
        app = FactoryApp(load(args), freeze_read=True)  # the process is the cockpit's
        # What start-up made (modules, the app) lives as long as the process: the cyclic
        # collector never scans it again. Its first full pass fell just before the first frame.
        gc.freeze()
        quit_on_signals.run(app)
    return quit_on_signals.exit_code
