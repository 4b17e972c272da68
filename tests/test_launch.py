"""Launching an agent on free work (issue 13): ``plan_launch`` / ``launch`` in a real temp git
repo with the fake agent of tests/fake_bin as the agent command. The worktree, the branch, the
claims link, the LAUNCH line, what the agent was started with; each refusal changing nothing;
the fleet's "launched, not yet claimed" and its problem when the agent is late."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FAKE_BIN
from test_cache_hostile import _returns
from tmuxserver import wait_for

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.launch import LaunchPlan, launch, plan_launch
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.launch import Launched, LaunchError, LaunchRequest, launch_agent
from factory_tui.cli import main
from factory_tui.config import Config, ConfigError, load_config

NOW = datetime(2026, 2, 16, 15, 42)
WHO = "dana@laptop"

MEGA = {
    "mega": "CAB-1290",
    "title": "Gateway Live-Code MEGA",
    "phases": [
        {"id": 1, "name": "API + Gateway", "tickets": ["CAB-1350"], "owner": "t48217-a3f2",
         "pid": None, "claimed_at": "2026-02-16T15:30", "hostname": "elsewhere",
         "branch": "feat/CAB-1350", "deps": [], "completed_at": None},
        {"id": 2, "name": "E2E Tests", "tickets": ["CAB-1352"], "owner": None,
         "claimed_at": None, "hostname": None, "branch": None, "deps": [], "completed_at": None},
        {"id": 3, "name": "Docs", "tickets": ["CAB-1353"], "owner": None, "claimed_at": None,
         "hostname": None, "branch": None, "deps": [1], "completed_at": None},
    ],
}  # fmt: skip
FREE = {"ticket": "CAB-1321", "title": "Portal ToS link fix", "owner": None, "pid": None,
        "hostname": None, "claimed_at": None, "branch": None, "completed_at": None}  # fmt: skip
TAKEN = {"ticket": "CAB-1400", "title": "Taken", "owner": "t48217-a3f2", "pid": None,
         "hostname": "elsewhere", "claimed_at": "2026-02-16T15:30", "branch": "fix/x",
         "completed_at": None}  # fmt: skip


@dataclass
class Repo:
    root: Path
    cfg: Config
    tmp: Path

    @property
    def log(self) -> Path:
        return self.cfg.log_file

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd or self.root, capture_output=True, text=True, check=True
        ).stdout

    def state(self) -> tuple[list[str], list[str], str, list[str]]:
        """The log, the siblings of the repo, the worktrees and the branches: all a refusal must
        leave alone."""
        siblings = sorted(p.name for p in self.root.parent.iterdir())
        return self.lines(), siblings, self.git("worktree", "list"), self.git("branch").split()

    def agent(self) -> dict[str, object]:
        return json.loads((self.tmp / "agent.json").read_text())

    def reader(self) -> FactoryReader:
        reader = FactoryReader(self.cfg, hostname="here")
        reader.refresh_all()
        return reader


@pytest.fixture
def repo(tmp_path: Path, fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repo ``work/tinygate`` with a commit on main, claims (gitignored) and a log."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Dana Engineer")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "dana@example.com")
    root = tmp_path / "work" / "tinygate"
    root.mkdir(parents=True)
    run = lambda *a: subprocess.run(["git", *a], cwd=root, check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    (root / ".gitignore").write_text(".claude/claims\n")
    (root / "README.md").write_text("tinygate\n")
    run("add", "-A")
    run("commit", "-q", "-m", "start")
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    for name, raw in (("CAB-1290", MEGA), ("CAB-1321", FREE), ("CAB-1400", TAKEN)):
        (claims / f"{name}.json").write_text(json.dumps(raw))
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "operations.log").write_text(
        "2026-02-16T15:30 | CLAIM | task=CAB-1290 phase=1 instance=t48217-a3f2\n"
    )
    cfg = load_config(
        root,
        flags={"memory": str(memory)},
        env={"CLAUDE_CONFIG_DIR": str(tmp_path / "no-claude")},
        user_config=tmp_path / "none.toml",
    )
    cfg = dataclasses.replace(cfg, agent_command=(str(FAKE_BIN / "fake-agent"), "--model", "opus"))
    return Repo(root, cfg, fake_bin)


class Waiting:
    """The real detached launcher, keeping the child so the test waits for it to exit."""

    def __init__(self) -> None:
        self.launched: list[Launched] = []

    def __call__(self, request: LaunchRequest) -> Launched:
        launched = launch_agent(request, tmux=False)
        self.launched.append(launched)
        return launched

    def wait(self) -> None:
        for launched in self.launched:
            assert launched.process is not None
            assert launched.process.wait(timeout=20) == 0


def planned(repo: Repo, target: str) -> LaunchPlan:
    plan = plan_launch(repo.cfg, target, now=NOW, reader=repo.reader(), tmux=False)
    assert isinstance(plan, LaunchPlan), plan
    return plan


def launched(repo: Repo, target: str) -> tuple[LaunchPlan, ActionResult]:
    plan = planned(repo, target)
    waiting = Waiting()
    result = launch(repo.cfg, plan, now=NOW, reader=repo.reader(), launcher=waiting, by=WHO)
    waiting.wait()
    return plan, result


def test_launch_a_standalone_ticket(repo: Repo) -> None:
    plan, result = launched(repo, "CAB-1321")
    assert result.outcome is Outcome.DONE, result.message
    tree = repo.root.parent / "tinygate-cab-1321"
    assert plan.worktree == tree and plan.branch == "feat/cab-1321"
    # The worktree, on its new branch from main.
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD", cwd=tree).strip() == "feat/cab-1321"
    assert repo.git("rev-parse", "feat/cab-1321") == repo.git("rev-parse", "main")
    # Its claims folder is the factory's.
    link = tree / ".claude" / "claims"
    assert link.is_symlink() and link.resolve() == repo.cfg.claims_dir.resolve()
    assert sorted(p.name for p in link.iterdir()) == [
        "CAB-1290.json",
        "CAB-1321.json",
        "CAB-1400.json",
    ]
    # The agent: started there with the prompt last and its instance in the environment.
    agent = repo.agent()
    argv = agent["argv"]
    assert isinstance(argv, list) and argv[:2] == ["--model", "opus"]
    prompt = argv[-1]
    for word in ("ticket CAB-1321", "Portal ToS link fix", "Definition of Done", plan.instance,
                 "feat/cab-1321", "claim"):  # fmt: skip
        assert word in prompt
    assert Path(str(agent["cwd"])).resolve() == tree.resolve()
    env = agent["env"]
    assert isinstance(env, dict)
    assert env["FACTORY_INSTANCE"] == plan.instance and env["FACTORY_CLAIM"] == "CAB-1321"
    # One LAUNCH line, with who.
    last = repo.lines()[-1]
    assert last.startswith("2026-02-16T15:42 | LAUNCH | task=CAB-1321 instance=" + plan.instance)
    assert f"branch=feat/cab-1321 worktree={tree} mode=detached" in last
    assert last.endswith(f"by={WHO}")
    assert result.log_lines == (last,)


def test_launch_a_mega_phase(repo: Repo) -> None:
    plan, result = launched(repo, "CAB-1290:2")
    assert result.ok, result.message
    assert plan.branch == "feat/cab-1290-phase-2"
    assert plan.worktree == repo.root.parent / "tinygate-cab-1290-phase-2"
    assert "phase 2 (E2E Tests) of CAB-1290" in plan.prompt
    assert " | LAUNCH | task=CAB-1290 phase=2 instance=" in repo.lines()[-1]


def test_the_fleet_shows_launched_not_yet_claimed_then_late(repo: Repo) -> None:
    plan, result = launched(repo, "CAB-1321")
    assert result.ok
    reader = repo.reader()
    fleet = reader.fleet(NOW + timedelta(minutes=3), full=True)
    view = fleet.launch_of("CAB-1321")
    assert view is not None and view.state == "launched"
    assert view.why == f"{plan.instance} launched 3m ago, not yet claimed"
    assert not [p for p in fleet.problems if "LAUNCH" in p.message]
    late = reader.fleet(NOW + timedelta(minutes=11), full=True)
    view = late.launch_of("CAB-1321")
    assert view is not None and view.state == "late"
    (problem,) = [p for p in late.problems if "LAUNCH" in p.message]
    assert problem.line == len(repo.lines()) and "has not claimed CAB-1321" in problem.message
    assert late.to_json()["launches"] == [view.to_json()]
    # The agent claims it: the launch is settled.
    raw = dict(FREE, owner=plan.instance, claimed_at="2026-02-16T15:50", hostname="here")
    (repo.cfg.claims_dir / "CAB-1321.json").write_text(json.dumps(raw))
    with repo.log.open("a") as out:
        out.write(f"2026-02-16T15:50 | CLAIM | task=CAB-1321 instance={plan.instance}\n")
    reader = repo.reader()
    claimed = reader.fleet(NOW + timedelta(minutes=11), full=True)
    assert claimed.launch_of("CAB-1321") is None
    assert not [p for p in claimed.problems if "LAUNCH" in p.message]


def test_the_incremental_fleet_sees_a_launch(repo: Repo) -> None:
    reader = repo.reader()
    assert reader.fleet(NOW).launches == ()
    before = reader.deriver.partial_derives
    _plan, result = launched(repo, "CAB-1321")
    assert result.ok
    reader.refresh_log()
    fleet = reader.fleet(NOW, reprobe=False)
    assert reader.deriver.partial_derives == before + 1  # only the appended line was derived
    view = fleet.launch_of("CAB-1321")
    assert view is not None and view.state == "launched"


def test_the_configured_wait_decides_late(repo: Repo) -> None:
    repo.cfg = dataclasses.replace(repo.cfg, launch_claim_within=timedelta(minutes=2))
    _plan, result = launched(repo, "CAB-1321")
    assert result.ok
    view = repo.reader().fleet(NOW + timedelta(minutes=3), full=True).launch_of("CAB-1321")
    assert view is not None and view.state == "late"


def _branch(repo: Repo) -> None:
    repo.git("branch", "feat/cab-1321", "main")


def _folder(repo: Repo) -> None:
    (repo.root.parent / "tinygate-cab-1321").mkdir()


def _no_command(repo: Repo) -> None:
    repo.cfg = dataclasses.replace(repo.cfg, agent_command=())


def _not_on_path(repo: Repo) -> None:
    repo.cfg = dataclasses.replace(repo.cfg, agent_command=("no-such-agent-xyz",))


def _read_only(repo: Repo) -> None:
    repo.cfg = dataclasses.replace(repo.cfg, read_only=True)


def _nothing(repo: Repo) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "target", "words"),
    [
        (_nothing, "CAB-1290", "is a MEGA: name a phase, as CAB-1290:N (available: 2)"),
        (_nothing, "CAB-1290:1", "CAB-1290:1 is not available (claimed"),
        (_nothing, "CAB-1290:3", "CAB-1290:3 is not available (blocked"),
        (_nothing, "CAB-1400", "CAB-1400 is not available (claimed"),
        (_branch, "CAB-1321", "branch feat/cab-1321 already exists"),
        (_folder, "CAB-1321", "tinygate-cab-1321 already exists"),
        (_no_command, "CAB-1321", "no agent command is configured"),
        (_not_on_path, "CAB-1321", "no-such-agent-xyz is not on PATH"),
        (_read_only, "CAB-1321", "read-only mode"),
    ],
)
def test_refusals_change_nothing(
    repo: Repo, setup: Callable[[Repo], None], target: str, words: str
) -> None:
    setup(repo)
    before = repo.state()
    result = plan_launch(repo.cfg, target, now=NOW, reader=repo.reader(), tmux=False)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.REFUSED
    assert words in result.message
    assert repo.state() == before
    assert not (repo.tmp / "agent.json").exists()


def test_unknown_units_are_errors(repo: Repo) -> None:
    for target, words in (("CAB-9999", "no claim CAB-9999"), ("CAB-1290:7", "has no phase 7")):
        result = plan_launch(repo.cfg, target, now=NOW, reader=repo.reader(), tmux=False)
        assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR
        assert words in result.message


def test_a_second_launch_is_refused_until_claimed(repo: Repo) -> None:
    _plan, result = launched(repo, "CAB-1321")
    assert result.ok
    repo.git("worktree", "remove", str(repo.root.parent / "tinygate-cab-1321"))
    repo.git("branch", "-D", "feat/cab-1321")
    again = plan_launch(repo.cfg, "CAB-1321", now=NOW, reader=repo.reader(), tmux=False)
    assert isinstance(again, ActionResult) and again.outcome is Outcome.REFUSED
    assert "was already launched" in again.message


def test_a_change_between_plan_and_launch_is_refused(repo: Repo) -> None:
    plan = planned(repo, "CAB-1321")
    _branch(repo)
    before = repo.state()
    result = launch(repo.cfg, plan, now=NOW, reader=repo.reader(), launcher=Waiting(), by=WHO)
    assert result.outcome is Outcome.REFUSED and "already exists" in result.message
    assert repo.state() == before


def test_an_agent_that_cannot_start_leaves_nothing(repo: Repo) -> None:
    plan = planned(repo, "CAB-1321")
    before = repo.state()

    def failing(_request: LaunchRequest) -> Launched:
        raise LaunchError("tmux new-window failed: no server running")

    result = launch(repo.cfg, plan, now=NOW, reader=repo.reader(), launcher=failing, by=WHO)
    assert result.outcome is Outcome.ERROR
    assert "no server running" in result.message and "taken back" in result.message
    assert repo.state() == before


_NOT_PLAIN = {
    # kind: what is put there (the output file, or its launches folder), and what is said
    "fifo": ("file", "not a regular file"),
    "link": ("file", "a symbolic link"),
    "hard link": ("file", "a hard link to another file"),
    "folder link": ("folder", "a symbolic link"),
    "folder dangling link": ("folder", "a symbolic link"),
    "folder a file": ("folder", "not a folder"),
    "folder a fifo": ("folder", "not a folder"),
}


@pytest.mark.parametrize("kind", list(_NOT_PLAIN))
def test_an_output_file_that_is_not_a_plain_file_starts_nothing(
    repo: Repo, tmp_path: Path, kind: str
) -> None:
    """The detached agent's output file (under the factory's memory folder, which agents write)
    is opened without waiting and without following a link: a FIFO put at its name froze the
    launch (nothing reads it), a link had the agent's output appended to the file it names (or
    written into the folder it names), a hard link to the file it shares. Each is refused with
    what is there and what to do (a launches folder that is not one said a bare errno)."""
    plan = planned(repo, "CAB-1321")
    folder = plan.log_file.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("kept\n")
    before_there = sorted(tmp_path.iterdir())
    if kind == "folder link":
        folder.symlink_to(tmp_path, target_is_directory=True)
    elif kind == "folder dangling link":
        folder.symlink_to(tmp_path / "nowhere")
    elif kind == "folder a file":
        folder.write_text("x")
    elif kind == "folder a fifo":
        os.mkfifo(folder)
    else:
        folder.mkdir()
    if kind == "fifo":
        os.mkfifo(plan.log_file)
    elif kind == "link":
        plan.log_file.symlink_to(victim)
    elif kind == "hard link":
        os.link(victim, plan.log_file)
    before = repo.state()
    waiting = Waiting()

    def run() -> ActionResult:
        return launch(repo.cfg, plan, now=NOW, reader=repo.reader(), launcher=waiting, by=WHO)

    result = _returns(run, plan.log_file) if kind == "fifo" else run()
    assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR, result
    where, said = _NOT_PLAIN[kind]
    named = folder if where == "folder" else plan.log_file
    assert f"{named}: {said}; remove it" in result.message and "taken back" in result.message
    assert waiting.launched == [] and repo.state() == before
    assert victim.read_text() == "kept\n"
    assert sorted(tmp_path.iterdir()) == before_there


def test_templates_from_the_config(repo: Repo) -> None:
    repo.cfg = dataclasses.replace(
        repo.cfg,
        launch_worktree="trees/{id}-{phase}",
        launch_branch="agent/{slug}",
        launch_prompt="Do {what} ({title}) as {instance}; tickets {tickets}.",
    )
    (repo.root.parent / "trees").mkdir()
    plan, result = launched(repo, "CAB-1290:2")
    assert result.ok, result.message
    assert plan.worktree == repo.root.parent / "trees" / "cab-1290-2"
    assert plan.branch == "agent/cab-1290-phase-2"
    assert plan.prompt == (
        f"Do phase 2 (E2E Tests) of CAB-1290 (Gateway Live-Code MEGA) as {plan.instance}; "
        "tickets CAB-1352."
    )


def test_hostile_titles_stay_text_in_the_prompt(repo: Repo) -> None:
    raw = dict(FREE, title="\x1b]52;c;aGVsbG8=\x07 $(rm -rf ~) \u202e")
    (repo.cfg.claims_dir / "CAB-1321.json").write_text(json.dumps(raw))
    plan, result = launched(repo, "CAB-1321")
    assert result.ok
    assert "\x1b" not in plan.prompt and "\u202e" not in plan.prompt
    assert "$(rm -rf ~)" in repo.agent()["argv"][-1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("launch_prompt", "Do {nope}", "unknown placeholder {nope}"),
        ("launch_worktree", "{repo}-{title}", "unknown placeholder {title}"),
        ("launch_branch", "feat/{slug!r}", "takes no format"),
        ("launch_prompt", "Do {", "not a template"),
        ("launch_claim_within", "soon", "a duration"),
    ],
)
def test_bad_launch_settings_are_config_errors(
    tmp_path: Path, key: str, value: str, words: str
) -> None:
    (tmp_path / "factory.toml").write_text(f"{key} = {json.dumps(value)}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, flags={}, env={}, user_config=tmp_path / "none.toml")
    assert words in str(caught.value) and key in str(caught.value)


@pytest.mark.parametrize(
    "claim_id", ["../../etc", "..", "-rf", ".hidden", "CAB 1/2", "\x1b]0;x\x07", "", "é" * 100]
)
def test_a_slug_is_one_plain_path_component(claim_id: str) -> None:
    from factory_tui.core.launch_templates import launch_slug, slug

    for made in (slug(claim_id), launch_slug(claim_id, 2)):
        assert made and "/" not in made and ".." not in made
        assert not made.startswith((".", "-")) and len(made) <= 70
        assert made == made.lower() and made.isprintable()


# -- the command line --------------------------------------------------------------------------


class Terminal(io.StringIO):
    """Typed answers on a terminal."""

    def isatty(self) -> bool:
        return True


def cli_repo(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The repo's settings as the CLI reads them (factory.toml, no user files); the factory
    options to pass."""
    command = [str(FAKE_BIN / "fake-agent"), "--model", "opus"]
    (repo.root / "factory.toml").write_text(f"agent_command = {json.dumps(command)}\n")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(repo.tmp / "no-claude"))
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(repo.tmp / "none.toml"))
    return ["--memory", str(repo.cfg.memory_dir), "--now", "2026-02-16T15:42", str(repo.root)]


def agent_started(repo: Repo) -> dict[str, object]:
    path = repo.tmp / "agent.json"
    wait_for("the fake agent to start", lambda: path.exists() and path.read_text().endswith("}"))
    return repo.agent()


def test_cli_launch_with_yes_in_any_order(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = cli_repo(repo, monkeypatch)
    root = where.pop()
    assert main(["launch", "--yes", *where, "CAB-1290:2", root]) == 0
    out = capsys.readouterr().out
    assert "new branch feat/cab-1290-phase-2 from main" in out
    assert "factory-tui: launched t" in out and "logged: 2026-02-16T15:42 | LAUNCH" in out
    assert "phase 2 (E2E Tests) of CAB-1290" in str(agent_started(repo)["argv"])
    assert (repo.root.parent / "tinygate-cab-1290-phase-2" / ".claude" / "claims").is_symlink()


def test_cli_launch_needs_yes_without_a_terminal(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = cli_repo(repo, monkeypatch)
    before = repo.state()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["launch", "CAB-1321", *where]) == 1  # ROOT last, options between
    assert "pass --yes to launch CAB-1321" in capsys.readouterr().err
    assert repo.state() == before


def test_cli_launch_asks_on_a_terminal(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from factory_tui.cli import parse_args
    from factory_tui.cli.supervise import cmd_launch

    where = cli_repo(repo, monkeypatch)
    before = repo.state()
    out = io.StringIO()
    args = parse_args(["launch", "CAB-1321", *where])
    assert cmd_launch(args, stdin=Terminal("n\n"), stdout=out) == 1
    assert "Launch an agent on CAB-1321? [y/N]" in out.getvalue()
    assert repo.state() == before
    assert cmd_launch(args, stdin=Terminal("y\n"), stdout=out) == 0
    assert agent_started(repo)["cwd"]


def test_cli_launch_refusal_and_usage(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = cli_repo(repo, monkeypatch)
    assert main(["launch", "CAB-1400", "--yes", *where]) == 1
    assert "CAB-1400 is not available" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["launch", "--yes"])
    assert usage.value.code == 2
    assert "usage: factory-tui launch" in capsys.readouterr().err


# -- the Claims view: L on an available phase or ticket ------------------------------------------


def cockpit(repo: Repo) -> Any:
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.feeds.prs import PrsOptions

    app = FactoryApp(
        repo.cfg,
        clock=lambda: NOW,
        reader=repo.reader(),
        watch=False,
        initial_view="claims",
        refresh_interval=3600,
        theme_dir=repo.tmp / "no-user-themes",
        environ={},
        prs=PrsOptions(source="local", record_looks=False, min_gap=0),
    )
    app.animation_level = "none"
    return app


async def on_claim(pilot: Any, key: str) -> Any:
    from factory_tui.ui.widgets.claims import ClaimTree

    app = pilot.app
    await app.wait_for_fleet(lambda _fleet: app.loaded)
    await pilot.pause()
    tree = app.query_one(ClaimTree)
    tree.focus()
    assert tree.select_key(key)
    await pilot.pause()
    return tree


async def test_L_launches_on_the_highlighted_available_claim(repo: Repo) -> None:
    from tmuxserver import until

    from factory_tui.ui.screens.confirm import ConfirmScreen

    app = cockpit(repo)
    async with app.run_test(size=(140, 40)) as pilot:
        tree = await on_claim(pilot, "CAB-1321")
        assert app.screen.active_bindings["L"].enabled
        await pilot.press("L")
        await until(pilot, "the confirmation", lambda: isinstance(app.screen, ConfirmScreen))
        lines = str(app.screen.query_one("#confirm-lines").render())
        assert "new branch feat/cab-1321 from main" in lines
        await pilot.press("y")
        await until(pilot, "the LAUNCH line", lambda: "| LAUNCH |" in repo.lines()[-1])
        await until(pilot, "the fake agent", lambda: (repo.tmp / "agent.json").exists())
        await app.wait_for_fleet(lambda fleet: fleet.launch_of("CAB-1321") is not None)
        await pilot.pause()
        label = tree.nodes_by_key["CAB-1321"].label.plain
        assert "launched t" in label and "not yet claimed" in label


async def test_L_is_not_offered_on_a_claimed_unit(repo: Repo) -> None:
    app = cockpit(repo)
    async with app.run_test(size=(140, 40)) as pilot:
        await on_claim(pilot, "CAB-1400")
        assert "L" not in app.screen.active_bindings
        before = repo.state()
        await pilot.press("L")
        await pilot.pause()
        assert repo.state() == before
