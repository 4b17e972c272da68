"""Answering an agent in its tmux pane (issue 13): ``plan_send`` / ``send`` against a real tmux
server of the test's own (tests/tmuxserver.py) whose pane runs a stub agent that records what it
reads. The pane found by the agent's pid and by its worktree, the text arriving literally, the
audit line, and each refusal sending nothing."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FixedProbe
from test_app import RecordingApp
from textual.pilot import Pilot
from textual.widgets import Input, Static
from tmuxserver import TmuxServer, reads, until, wait_for

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.send import SendPlan, plan_send, send
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.tmux import Tmux
from factory_tui.cli import main
from factory_tui.config import Config, load_config
from factory_tui.core.fleet import ProcInfo
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.screens.confirm import ConfirmScreen
from factory_tui.ui.screens.detail import AgentDetailScreen
from factory_tui.ui.screens.reply import ReplyScreen
from factory_tui.ui.widgets.terminal import TerminalView

NOW = datetime(2026, 2, 16, 15, 42)
HOST = "here"
WHO = "dana@laptop"
BY_PID = "t1-aaaa"
BY_TREE = "t2-bbbb"


@dataclass
class Factory:
    root: Path
    cfg: Config
    server: TmuxServer
    pane: str
    pid: int
    record: Path
    tree_pane: str
    tree_record: Path

    def reader(self) -> FactoryReader:
        probe = FixedProbe({self.pid: ProcInfo(pid=self.pid, started_at=datetime(2026, 2, 16))})
        return FactoryReader(self.cfg, hostname=HOST, probe=probe)

    def lines(self) -> list[str]:
        return self.cfg.log_file.read_text().splitlines()

    def plan(self, instance: str, text: str) -> SendPlan | ActionResult:
        return plan_send(
            self.cfg, instance, text, now=NOW, reader=self.reader(), tmux=self.server.tmux
        )

    def send(self, plan: SendPlan) -> ActionResult:
        return send(self.cfg, plan, now=NOW, reader=self.reader(), tmux=self.server.tmux, by=WHO)


@pytest.fixture
def factory(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Factory]:
    """Two agents in panes of a private tmux server: t1 found by its claim's pid, t2 (no pid)
    by its branch's worktree."""
    server = TmuxServer(tmp_path_factory.mktemp("tmux"))
    for key in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
        monkeypatch.setenv(key, "1" if key.endswith("NOSYSTEM") else "/dev/null")
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-c", "user.name=Dana", "-c", "user.email=d@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "start"], cwd=root, check=True)
    tree = tmp_path / "repo-x"
    subprocess.run([*git, "worktree", "add", "-q", "-b", "feat/x", str(tree)], cwd=root, check=True)
    try:
        pane, pid = server.new_pane(tmp_path, tmp_path / "t1.jsonl")
        tree_pane, _ = server.new_pane(tree, tmp_path / "t2.jsonl")
        claims = root / ".claude" / "claims"
        claims.mkdir(parents=True)
        claim = {"ticket": "CAB-1", "title": "one", "owner": BY_PID, "pid": pid,
                 "hostname": HOST, "claimed_at": "2026-02-16T15:00", "branch": "feat/one",
                 "completed_at": None}  # fmt: skip
        (claims / "CAB-1.json").write_text(json.dumps(claim))
        memory = tmp_path / "memory"
        memory.mkdir()
        (memory / "operations.log").write_text(
            f"2026-02-16T15:40 | SESSION-START | task=CAB-1 branch=feat/one instance={BY_PID}\n"
            f"2026-02-16T15:41 | SESSION-START | task=CAB-2 branch=feat/x instance={BY_TREE}\n"
        )
        cfg = load_config(
            root,
            flags={"memory": str(memory)},
            env={"CLAUDE_CONFIG_DIR": str(tmp_path / "no-claude")},
            user_config=tmp_path / "none.toml",
        )
        yield Factory(
            root, cfg, server, pane, pid, tmp_path / "t1.jsonl", tree_pane, tmp_path / "t2.jsonl"
        )
    finally:
        server.close()


@pytest.mark.parametrize("text", ["; rm -rf ~", 'yes, "go" $(id) `id` #{pane_id}', "2"])
def test_send_to_the_pane_of_the_agents_pid(factory: Factory, text: str) -> None:
    plan = factory.plan(BY_PID, text)
    assert isinstance(plan, SendPlan), plan
    assert plan.pane.id == factory.pane and plan.how == f"pid {factory.pid} is its process"
    assert f"types, literally, then Enter: {text}" in plan.describe()
    result = factory.send(plan)
    assert result.ok, result.message
    assert wait_for("the stub to read the reply", lambda: reads(factory.record)) == [text]
    assert reads(factory.tree_record) == []
    (line,) = result.log_lines
    assert line == factory.lines()[-1]
    assert line == (
        f"2026-02-16T15:42 | REPLY | instance={BY_PID} pane={factory.pane} target=ft:0.0 "
        f"chars={len(text)} by={WHO}"
    )


def test_send_to_the_pane_in_the_agents_worktree(factory: Factory) -> None:
    plan = factory.plan(BY_TREE, "1")
    assert isinstance(plan, SendPlan), plan
    assert plan.pane.id == factory.tree_pane
    assert plan.how.startswith("its current path is the worktree")
    assert factory.send(plan).ok
    assert wait_for("the stub to read", lambda: reads(factory.tree_record)) == ["1"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("two\nlines", "line break"),
        ("", "nothing to send"),
        ("\x1b]52;c;aGVsbG8=\x07", "control characters"),
    ],
)
def test_text_that_is_not_one_plain_line_is_refused(
    factory: Factory, text: str, words: str
) -> None:
    before = factory.lines()
    result = factory.plan(BY_PID, text)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.REFUSED
    assert words in result.message and "nothing was sent" in result.message
    assert factory.lines() == before


def test_read_only_refuses(factory: Factory) -> None:
    factory.cfg = dataclasses.replace(factory.cfg, read_only=True)
    result = factory.plan(BY_PID, "yes")
    assert isinstance(result, ActionResult) and result.outcome is Outcome.REFUSED
    assert "read-only" in result.message


def test_without_tmux_says_so(factory: Factory) -> None:
    result = plan_send(
        factory.cfg, BY_PID, "yes", now=NOW, reader=factory.reader(),
        tmux=Tmux(env={"PATH": "/nonexistent"}),
    )  # fmt: skip
    assert isinstance(result, ActionResult) and result.outcome is Outcome.REFUSED
    assert "tmux is not installed" in result.message


def test_no_pane_found_says_why(factory: Factory) -> None:
    with factory.cfg.log_file.open("a") as out:
        out.write(
            "2026-02-16T15:41 | SESSION-START | task=CAB-3 branch=feat/gone instance=t3-cccc\n"
        )
    result = factory.plan("t3-cccc", "yes")
    assert isinstance(result, ActionResult) and result.outcome is Outcome.REFUSED
    assert result.message == (
        "nothing was sent: no pane found for t3-cccc: the agent has no pid, and its worktree "
        "is not known"
    )
    unknown = factory.plan("t9-zzzz", "yes")
    assert isinstance(unknown, ActionResult) and unknown.outcome is Outcome.ERROR


def test_a_pane_gone_since_the_confirmation_gets_nothing(factory: Factory) -> None:
    plan = factory.plan(BY_TREE, "yes")
    assert isinstance(plan, SendPlan)
    factory.server.run("kill-pane", "-t", factory.tree_pane)
    wait_for(
        "the pane to go",
        lambda: all(p.id != factory.tree_pane for p in factory.server.tmux.panes()),
    )
    before = factory.lines()
    result = factory.send(plan)
    assert result.outcome is Outcome.REFUSED and "changed since you confirmed" in result.message
    assert factory.lines() == before


# -- the command line --------------------------------------------------------------------------


def cli_env(factory: Factory, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The CLI's tmux is the test's server ($TMUX names its socket); no user files."""
    server = factory.server
    socket = server.folder / f"tmux-{os.getuid()}" / server.name
    monkeypatch.setenv("TMUX", f"{socket},1,0")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(factory.root.parent / "no-claude"))
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(factory.root.parent / "none.toml"))
    return ["--memory", str(factory.cfg.memory_dir), "--now", "2026-02-16T15:42"]


def test_cli_send_with_yes(
    factory: Factory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = cli_env(factory, monkeypatch)
    code = main(["send", "--yes", BY_TREE, "; rm -rf ~", *options, str(factory.root)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"pane ft:1.0 ({factory.tree_pane})" in out
    assert "types, literally, then Enter: ; rm -rf ~" in out
    assert wait_for("the stub to read", lambda: reads(factory.tree_record)) == ["; rm -rf ~"]
    assert f"logged: 2026-02-16T15:42 | REPLY | instance={BY_TREE}" in out


def test_cli_send_needs_yes_without_a_terminal(
    factory: Factory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = cli_env(factory, monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    before = factory.lines()
    assert main(["send", BY_TREE, "yes", *options, str(factory.root)]) == 1
    assert f"pass --yes to send to {BY_TREE}" in capsys.readouterr().err
    assert factory.lines() == before
    factory.server.tmux.send_text(factory.tree_pane, "marker")
    assert wait_for("the stub to read", lambda: reads(factory.tree_record)) == ["marker"]


def test_cli_send_without_a_pane_says_why(
    factory: Factory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    options = cli_env(factory, monkeypatch)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["send", "--yes", BY_TREE, "yes", *options, str(factory.root)]) == 1
    assert "tmux is not installed" in capsys.readouterr().err


# -- the detail screen: the terminal, the reply box, the digits, the client switch -------------


def cockpit(factory: Factory) -> RecordingApp:
    from factory_tui.ui.feeds.prs import PrsOptions

    app = RecordingApp(
        factory.cfg,
        clock=lambda: NOW,
        reader=factory.reader(),
        watch=False,
        refresh_interval=3600,
        theme_dir=factory.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(source="local", record_looks=False, min_gap=0),
    )
    app.animation_level = "none"
    return app


async def detail(pilot: Pilot[Any], instance: str, tmux: Tmux) -> AgentDetailScreen:
    app = pilot.app
    assert isinstance(app, FactoryApp)
    await app.wait_for_fleet(lambda _fleet: app.loaded)
    screen = AgentDetailScreen(app.fleet, instance, tmux=tmux)
    await app.push_screen(screen)
    await pilot.pause()
    return screen


def shown_capture(screen: AgentDetailScreen) -> str:
    return str(screen.query_one("#terminal-screen", Static).render())


async def test_the_terminal_shows_the_pane_live_and_only_while_shown(factory: Factory) -> None:
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await detail(pilot, BY_PID, factory.server.tmux)
        assert not screen.capturing  # nothing captured while the details are shown
        await pilot.press("T")
        view = screen.query_one(TerminalView)
        await until(pilot, "the capture", lambda: view.last and "2) no" in shown_capture(screen))
        assert f"pane ft:0.0 ({factory.pane})" in str(
            screen.query_one("#terminal-status", Static).render()
        )
        # Live: what the pane prints next appears.
        factory.server.tmux.send_text(factory.pane, "hello")
        await until(pilot, "the echo", lambda: "hello" in shown_capture(screen))
        await pilot.press("T")
        assert not screen.terminal_shown and not screen.capturing


async def test_the_terminal_says_why_there_is_none(factory: Factory) -> None:
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await detail(pilot, BY_PID, Tmux(env={"PATH": "/nonexistent"}))
        await pilot.press("T")
        view = screen.query_one(TerminalView)
        await until(pilot, "the look", lambda: view.last)
        status = str(screen.query_one("#terminal-status", Static).render())
        assert "No terminal: no pane found: tmux is not installed" in status
        await pilot.press("a")  # not inside tmux: says so
        await pilot.pause()
        assert any("not running inside tmux" in message for _title, message in app.notes)


async def test_reply_box_confirms_pane_and_text_then_sends(factory: Factory) -> None:
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await detail(pilot, BY_PID, factory.server.tmux)
        await pilot.press("i")
        reply = await until(pilot, "the reply box", lambda: isinstance(app.screen, ReplyScreen))
        assert reply
        lines = str(app.screen.query_one("#confirm-lines", Static).render())
        assert f"pane ft:0.0 ({factory.pane})" in lines
        app.screen.query_one(Input).value = "; rm -rf ~"
        await pilot.press("enter")
        await until(pilot, "the confirmation", lambda: isinstance(app.screen, ConfirmScreen))
        confirm = str(app.screen.query_one("#confirm-lines", Static).render())
        assert f"pane ft:0.0 ({factory.pane})" in confirm
        assert "types, literally, then Enter: ; rm -rf ~" in confirm
        await pilot.press("y")
        got = await until(pilot, "the stub to read", lambda: reads(factory.record))
        assert got == ["; rm -rf ~"]
        await until(pilot, "the audit line", lambda: "| REPLY |" in factory.lines()[-1])


async def test_a_digit_answers_after_a_confirmation(factory: Factory) -> None:
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        await detail(pilot, BY_TREE, factory.server.tmux)
        await pilot.press("2")
        await until(pilot, "the confirmation", lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: nothing sent
        await pilot.press("2")
        await until(pilot, "the confirmation", lambda: isinstance(app.screen, ConfirmScreen))
        assert "then Enter: 2" in str(app.screen.query_one("#confirm-lines", Static).render())
        await pilot.press("y")
        assert await until(pilot, "the stub", lambda: reads(factory.tree_record)) == ["2"]
        await app.workers.wait_for_complete()
        assert reads(factory.record) == []


async def test_read_only_cockpit_does_not_answer(factory: Factory) -> None:
    factory.cfg = dataclasses.replace(factory.cfg, read_only=True)
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await detail(pilot, BY_TREE, factory.server.tmux)
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is screen
        assert any("Read-only mode" in message for _title, message in app.notes)


async def test_a_switches_the_engineers_client_to_the_agents_pane(factory: Factory) -> None:
    server = factory.server
    with server.attached_client() as inside:
        assert server.client_pane() == factory.pane
        app = cockpit(factory)
        async with app.run_test(size=(120, 40)) as pilot:
            await detail(pilot, BY_TREE, inside)
            await pilot.press("a")
            await until(
                pilot, "the client to switch", lambda: server.client_pane() == factory.tree_pane
            )
            await until(
                pilot,
                "the notice",
                lambda: any("Switched to" in message for _title, message in app.notes),
            )


async def test_enter_on_the_detail_screen_shows_the_live_terminal(factory: Factory) -> None:
    """Issue 13: enter on the agent's detail screen shows its terminal (T does too)."""
    app = cockpit(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await detail(pilot, BY_PID, factory.server.tmux)
        await pilot.press("enter")
        view = screen.query_one(TerminalView)
        await until(pilot, "the capture", lambda: view.last and "2) no" in shown_capture(screen))
        assert screen.terminal_shown and screen.capturing
        await pilot.press("enter")
        assert not screen.terminal_shown and not screen.capturing
