"""The command line (issue 12, "a new user's first ten minutes"): arguments in any order, a usage
error shows the command's own usage, every option's help and default, ``release --yes``; and the
cockpit never hurts the machine or the terminal: no terminal → refused at once, SIGTERM / SIGHUP
/ SIGINT / ctrl+c → the same clean-up as ``q`` (a real process on a pseudo-terminal)."""

from __future__ import annotations

import argparse
import fcntl
import io
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import psutil
import pytest
from conftest import DEMO_NOW, config_for, demo_reader

from factory_tui.cli import COMMANDS, build_parser, command_parser, main, parse_args
from factory_tui.cli.actions import cmd_release
from factory_tui.cli.demo import QuitOnSignals
from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"
REPO = Path(__file__).resolve().parent.parent
STUB = "factory_tui.demo.agent_stub"
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
ENTER_ALTERNATE_SCREEN = b"\x1b[?1049h"
NO_TERMINAL = "the cockpit needs a terminal"


@pytest.fixture
def factory(git_demo: DemoFactory) -> DemoFactory:
    """The demo factory (on this machine's hostname, at NOW), copied into ``tmp_path``."""
    return git_demo


# -- arguments in any order --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["recover", "T-1", "--abandon", "ROOT"],
            {"task": "T-1", "abandon": True, "root": "ROOT"},
        ),
        (
            ["release", "CAB-1302", "--reason", "gone home", "ROOT"],
            {"target": "CAB-1302", "reason": "gone home", "root": "ROOT"},
        ),
        (
            ["kill", "t1-abcd", "--grace", "1", "ROOT"],
            {"instance": "t1-abcd", "grace": 1.0, "root": "ROOT"},
        ),
        (["approve", "101", "--yes", "ROOT"], {"pr": "101", "yes": True, "root": "ROOT"}),
        (["release", "--yes", "CAB-1290:3", "ROOT"], {"target": "CAB-1290:3", "yes": True}),
        (["status", "--json", "ROOT", "--now", NOW_S], {"root": "ROOT", "json": True}),
        (["prs", "--json", "ROOT"], {"root": "ROOT", "json": True}),
        (["cost", "--by", "day", "ROOT"], {"root": "ROOT", "by": "day"}),
        (["council", "--ticket", "T-1", "ROOT"], {"root": "ROOT", "ticket": "T-1"}),
        (["unlock", "--now", NOW_S, "X.lock", "ROOT"], {"name": "X.lock", "root": "ROOT"}),
    ],
)
def test_positionals_after_options(argv: list[str], expected: dict[str, object]) -> None:
    args = parse_args(argv)
    assert args.command == argv[0]
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"root": None}),
        (["ROOT"], {"root": "ROOT"}),
        (["ROOT", "--read-only"], {"root": "ROOT", "read_only": True}),
        (["--theme", "factory-mono", "ROOT"], {"root": "ROOT", "theme": "factory-mono"}),
    ],
)
def test_the_cockpit_is_the_default_command(argv: list[str], expected: dict[str, object]) -> None:
    args = parse_args(argv)
    assert args.command == "ui"
    assert {key: getattr(args, key) for key in expected} == expected


def test_release_with_root_after_its_options_releases(
    factory: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["release", "CAB-1302", "--reason", "gone home", "--now", NOW_S, "-y"]
    assert main([*argv, str(factory.root)]) == 0
    assert "released CAB-1302" in capsys.readouterr().out
    log = (factory.memory_dir / "operations.log").read_text().splitlines()
    assert "RELEASE | task=CAB-1302" in log[-1] and 'note="gone home"' in log[-1]


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["release"], "usage: factory-tui release "),
        (["kill", "t1", "--grace", "soon"], "usage: factory-tui kill "),
        (["recover", "T-1", "ROOT"], "usage: factory-tui recover "),
        (["approve", "1", "--bogus", "ROOT"], "usage: factory-tui approve "),
        (["status", "A", "B"], "usage: factory-tui status "),
        (["snapshot", "ROOT"], "usage: factory-tui snapshot "),
    ],
)
def test_a_usage_error_prints_the_command_usage(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    assert f"factory-tui {argv[0]}: error: " in err


def test_version_and_top_level_help_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("factory-tui ")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: factory-tui ") and "release" in out


# -- help --------------------------------------------------------------------------------------


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_a_command_parses_with_its_own_sub_parser_alone() -> None:
    """``parse_args`` builds only the command's sub-parser (the cockpit's start): the same
    parser as in the whole command line, its usage and help alike."""
    whole = _command_parsers()
    assert sorted(whole) == sorted(COMMANDS)
    for name in COMMANDS:
        alone = build_parser(name)
        subparsers = next(a for a in alone._actions if isinstance(a, argparse._SubParsersAction))
        assert name in subparsers.choices and len(subparsers.choices) <= 4  # prs adds 4
        assert command_parser(alone, name).format_help() == whole[name].format_help()
    assert parse_args(["/some/factory", "--read-only"]).command == "ui"


def _in_a_required_group(parser: argparse.ArgumentParser, action: argparse.Action) -> bool:
    return any(g.required and action in g._group_actions for g in parser._mutually_exclusive_groups)


def test_every_option_has_help_and_shows_its_default() -> None:
    """Hidden testing flags (``--now``, help=SUPPRESS) may stay hidden; every other argument
    has help, and every one that takes a value and may be left out says what it is then."""
    missing_help: list[str] = []
    missing_default: list[str] = []
    for name, parser in _command_parsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.metavar}"
            if not action.help:
                missing_help.append(label)
                continue
            takes_value = action.nargs != 0
            optional = not action.required and not _in_a_required_group(parser, action)
            if takes_value and optional and action.nargs != argparse.PARSER:
                text = formatter._expand_help(action)
                if "default" not in text:
                    missing_default.append(label)
    assert missing_help == []
    assert missing_default == []


def test_help_shows_a_value_default() -> None:
    kill = _command_parsers()["kill"].format_help()
    assert "seconds before SIGKILL (default: 5.0)" in kill
    assert "-y, --yes" in _command_parsers()["release"].format_help()
    assert "-y, --yes" in _command_parsers()["approve"].format_help()


# -- release asks, like kill, recover and approve ----------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _release(factory: DemoFactory, *options: str, stdin: io.StringIO) -> tuple[int, str]:
    out = io.StringIO()
    args = parse_args(["release", "CAB-1302", str(factory.root), "--now", NOW_S, *options])
    return cmd_release(args, stdin=stdin, stdout=out), out.getvalue()


def _owner(factory: DemoFactory) -> object:
    import json

    return json.loads((factory.claims_dir / "CAB-1302.json").read_text())["owner"]


def test_release_without_a_terminal_needs_yes(
    factory: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = _owner(factory)
    code, out = _release(factory, stdin=io.StringIO(""))
    assert code == 1
    assert "✓ age" in out  # what would be released is shown
    assert "not a terminal, so nobody can confirm: pass --yes" in capsys.readouterr().err
    assert _owner(factory) == owner
    code, _ = _release(factory, "--yes", stdin=io.StringIO(""))
    assert code == 0 and _owner(factory) is None


def test_release_asks_on_a_terminal(
    factory: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = _owner(factory)
    code, out = _release(factory, stdin=Tty("n\n"))
    assert code == 1 and out.rstrip().endswith("Release CAB-1302? [y/N]")
    assert "declined: nothing was changed" in capsys.readouterr().err
    assert _owner(factory) == owner
    code, out = _release(factory, stdin=Tty("y\n"))
    assert code == 0 and "released CAB-1302" in out
    assert _owner(factory) is None


def test_release_that_would_be_refused_is_not_asked(
    factory: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    args = parse_args(["release", "CAB-1290:3", str(factory.root), "--now", NOW_S])
    assert cmd_release(args, stdin=Tty(""), stdout=out) == 1
    assert "[y/N]" not in out.getvalue()
    assert "is not stale" in capsys.readouterr().err


# -- ctrl+c quits ------------------------------------------------------------------------------


async def test_ctrl_c_quits_even_from_the_filter(demo: DemoFactory) -> None:
    app = FactoryApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("slash")  # the filter's input, where ctrl+c would copy
        await pilot.pause()
        assert app.return_code is None
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.return_code == 0


# -- signals, in this process ------------------------------------------------------------------


def test_a_signal_before_the_app_runs_unwinds_and_during_the_clean_up_is_noted() -> None:
    """Before the app runs a signal unwinds (through the demo's ``finally``); once the app is
    done, one that comes while the agents are being stopped must not cut that short."""
    before = signal.getsignal(signal.SIGTERM)
    # What this process had, not Python's default: a run started in the background (nohup, `&`)
    # begins with SIGINT ignored.
    before_int = signal.getsignal(signal.SIGINT)
    quit_on_signals = QuitOnSignals()
    with pytest.raises(KeyboardInterrupt), quit_on_signals:
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before  # given back
    quit_on_signals.finished()
    with quit_on_signals:
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGINT)
    assert quit_on_signals.received == [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
    assert quit_on_signals.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGINT) is before_int  # given back


# -- no terminal -------------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    """No user files; the temp folder is ``tmp_path/tmp`` (the demo makes its own in it)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TERM": "xterm-256color", "TMPDIR": str(tmp_path / "tmp")}
    env["FACTORY_TUI_STATE_DIR"] = str(tmp_path / "state")
    env["FACTORY_TUI_USER_CONFIG"] = ""
    env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "claude")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture
def no_stub_left(tmp_path: Path) -> Iterator[None]:
    """Whatever happens, no agent process of a demo under ``tmp_path`` outlives the test."""
    yield
    for process in _stubs(tmp_path):
        process.kill()


@pytest.mark.parametrize("argv", [["ROOT"], ["ui", "ROOT"], ["demo"]])
@pytest.mark.usefixtures("no_stub_left")
def test_without_a_terminal_the_cockpit_refuses_at_once(
    factory: DemoFactory, tmp_path: Path, argv: list[str]
) -> None:
    """``factory-tui ROOT </dev/null >out`` spun a core for ever."""
    argv = [str(factory.root) if a == "ROOT" else a for a in argv]
    out = tmp_path / "out"
    with out.open("wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "factory_tui", *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
            timeout=20,
            check=False,
        )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.startswith(f"factory-tui: {NO_TERMINAL} (stdin and stdout)")
    assert "`factory-tui status` or `factory-tui snapshot`" in err
    assert out.read_bytes() == b""
    assert list((tmp_path / "tmp").iterdir()) == []  # the demo made no folder


def test_the_cockpit_refuses_each_stream_that_is_not_a_terminal(
    factory: DemoFactory, tmp_path: Path
) -> None:
    """Textual draws on stderr: a redirected stderr is refused too (on a pty otherwise)."""
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "factory_tui", str(factory.root)],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
            timeout=20,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 2
    assert NO_TERMINAL in done.stderr.decode() and "stderr is not one" in done.stderr.decode()


def test_demo_no_ui_needs_no_terminal(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "factory_tui", "demo", "--no-ui", "--now", NOW_S],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**_env(tmp_path), "TMPDIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_dir()


# -- signals on a real terminal ----------------------------------------------------------------


@dataclass
class Cockpit:
    """``factory-tui demo`` running on a pseudo-terminal, and what it wrote."""

    process: subprocess.Popen[bytes]
    master: int
    seen: bytes = b""

    def read_until(self, marker: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} after {timeout} s: {self.seen[-400:]!r}"
            if self._ready(left) and not self._read():
                raise AssertionError(f"ended before {marker!r}: {self.seen[-400:]!r}")

    def read_to_the_end(self, timeout: float = 30) -> int:
        """Everything until the process ends; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready(deadline - time.monotonic()) and not self._read():
                break
        return self.process.wait(timeout=max(1.0, deadline - time.monotonic()))

    def _ready(self, seconds: float) -> bool:
        """Whether the terminal has something to read within ``seconds``: ``poll``, not
        ``select`` (which refuses a descriptor past 1,024: the tests before may have left that
        many files open until the collector runs, each reader's log)."""
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        return bool(poller.poll(max(0, int(seconds * 1000))))

    def _read(self) -> bool:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every holder of the terminal's other end is gone
            return False
        self.seen += data
        return bool(data)


def test_the_terminal_is_read_past_a_thousand_open_files() -> None:
    """A worker that ran many tests before may hold over 1,024 files open (each reader's log,
    until the collector runs): the cockpit's terminal is still read (``select`` refused it:
    these tests failed after the warm-start cache's in one worker)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"at most {hard} open files here")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held: list[int] = []
    master = slave = -1
    try:
        held.extend(os.open(os.devnull, os.O_RDONLY) for _ in range(1100))
        master, slave = os.openpty()
        assert master > 1024
        cockpit = Cockpit(cast(Any, None), master)
        assert not cockpit._ready(0)
        os.write(slave, b"x")
        assert cockpit._ready(5) and cockpit._read() and cockpit.seen == b"x"
    finally:
        for fd in (*held, master, slave):
            if fd >= 0:
                os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[list[Cockpit]]:
    """Start ``factory-tui demo`` on a 120x40 pty; afterwards, kill whatever is left of it."""
    started: list[Cockpit] = []
    yield started
    for cockpit in started:
        if cockpit.process.poll() is None:
            os.killpg(cockpit.process.pid, signal.SIGKILL)
            cockpit.process.wait()
        os.close(cockpit.master)
    for process in _stubs(tmp_path):  # the agents are in sessions of their own
        process.kill()


def _start(started: list[Cockpit], tmp_path: Path, *options: str) -> Cockpit:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "factory_tui", "demo", "--seed", "7", *options],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(tmp_path),
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(slave)
    cockpit = Cockpit(process, master)
    started.append(cockpit)
    cockpit.read_until(b"factory-tui")  # the first frame's title: the app runs
    return cockpit


def _stubs(under: Path) -> list[psutil.Process]:
    """The demo's agent processes: ``agent_stub --root <a folder under tmp_path>``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if STUB in cmdline and any(arg.startswith(str(under.resolve())) for arg in cmdline):
            found.append(process)
    return found


def _assert_cleaned_up(cockpit: Cockpit, tmp_path: Path, stubs: list[psutil.Process]) -> None:
    assert stubs, "the demo started no agent processes"
    for stub in stubs:
        assert not stub.is_running(), f"agent process {stub.pid} left running"
    assert _stubs(tmp_path) == []
    # The terminal is given back: the alternate screen left after it was last entered.
    assert cockpit.seen.rfind(LEAVE_ALTERNATE_SCREEN) > cockpit.seen.rfind(ENTER_ALTERNATE_SCREEN)
    assert b"Traceback" not in cockpit.seen


@pytest.mark.parametrize(
    ("how", "code"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM),
        (signal.SIGHUP, 128 + signal.SIGHUP),
        (signal.SIGINT, 128 + signal.SIGINT),
        ("ctrl+c", 0),
    ],
)
def test_a_signal_or_ctrl_c_cleans_up_as_q_does(
    run_demo: list[Cockpit], tmp_path: Path, how: signal.Signals | str, code: int
) -> None:
    """The demo in a temp folder (under our TMPDIR): its agents stopped, the folder removed,
    the terminal restored. Before, a signal ended the process there and then."""
    cockpit = _start(run_demo, tmp_path)
    folders = list((tmp_path / "tmp").glob("factory-demo-*"))
    assert len(folders) == 1
    stubs = _stubs(folders[0])
    if how == "ctrl+c":
        os.write(cockpit.master, b"\x03")
    else:
        assert isinstance(how, signal.Signals)
        cockpit.process.send_signal(how)
    assert cockpit.read_to_the_end() == code
    _assert_cleaned_up(cockpit, tmp_path, stubs)
    assert list((tmp_path / "tmp").glob("factory-demo-*")) == []


@pytest.mark.parametrize("sighup", [True, False], ids=["then-sighup", "no-sighup"])
def test_a_closed_terminal_cleans_up_and_exits_as_a_hangup(
    run_demo: list[Cockpit], tmp_path: Path, sighup: bool
) -> None:
    """The terminal window closed: nobody reads the output any more, then SIGHUP, or none (or
    not yet): the cockpit reads the terminal's end and quits. Either way it stops the agents
    and exits as a SIGHUP would have it (129), not as ``q`` (0). With --dir the folder stays."""
    target = tmp_path / "demo"
    cockpit = _start(run_demo, tmp_path, "--dir", str(target))
    stubs = _stubs(target)
    assert stubs
    os.close(cockpit.master)
    cockpit.master = os.open(os.devnull, os.O_RDONLY)  # closed by the fixture
    if sighup:
        cockpit.process.send_signal(signal.SIGHUP)
    assert cockpit.process.wait(timeout=30) == 128 + signal.SIGHUP
    for stub in stubs:
        assert not stub.is_running()
    assert _stubs(tmp_path) == []
    assert (target / "factory.toml").is_file()


def test_keep_keeps_the_temp_folder_after_sigterm(run_demo: list[Cockpit], tmp_path: Path) -> None:
    cockpit = _start(run_demo, tmp_path, "--keep")
    folders = list((tmp_path / "tmp").glob("factory-demo-*"))
    stubs = _stubs(folders[0])
    cockpit.process.send_signal(signal.SIGTERM)
    assert cockpit.read_to_the_end() == 128 + signal.SIGTERM
    _assert_cleaned_up(cockpit, tmp_path, stubs)
    assert [f for f in folders if f.is_dir()] == folders
    assert b"the demo factory is kept in" in cockpit.seen


def test_a_bad_saved_fold_is_one_line_on_stderr_and_other_errors_are_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line imports only the command's module, and recognises the fold's error
    without importing the fold; any other ValueError is a bug, shown as one."""
    import factory_tui.cli.status as status_module
    from factory_tui.core.fold_sessions import SavedSessionsError

    def saved_error(_args: argparse.Namespace) -> int:
        raise SavedSessionsError("saved sessions: a restored session without its archive")

    monkeypatch.setattr(status_module, "cmd_status", saved_error)
    assert main(["status", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "factory-tui: saved sessions: a restored session without its archive\n"
    )

    def bug(_args: argparse.Namespace) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(status_module, "cmd_status", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["status", str(tmp_path)])
