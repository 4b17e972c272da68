"""Issue 16, untrusted text and outside processes: agent-written strings (instance ids, tasks,
branches, titles, transcript model names) and gh's words never reach the terminal as control
sequences, JSON keeps the data but escapes what a terminal would act on; a hung gh leaves no
process behind; a missing git is said as such.

A real demo factory (git repo and worktrees) with hostile names added, the fake gh of
``tests/fake_gh`` first on PATH, the CLI run in-process (``factory_tui.cli.main``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest
from fakes import FakeGh, gh_pr
from textual.app import App

from factory_tui.cli import main
from factory_tui.core.safe import json_safe, printable
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"
CRASHED = "CAB-1353-span-exporter"  # the demo's crashed session, with a checkpoint

# Clear screen, OSC 52 (write the clipboard), OSC 0 (set the title), C1 CSI, RIGHT-TO-LEFT
# OVERRIDE: no space in it, so it fits any field of the log.
EVIL = "\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]0;title\x07\u009b31m\u202e"
INSTANCE = f"t9-{EVIL}"
TASK = f"CAB-9{EVIL}"
BRANCH = f"feat/{EVIL}"
MODEL = f"claude-{EVIL}"
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e")


def assert_clean(*texts: str) -> None:
    """No ESC, BEL, C1 CSI or bidi override in what was printed (in UTF-8: no 0x1b, 0x07,
    c2 9b, e2 80 ae)."""
    for text in texts:
        data = text.encode("utf-8", errors="surrogateescape")
        for bad in FORBIDDEN:
            assert bad.encode() not in data, f"{bad!r} reached the terminal: {text[:400]!r}"


# -- fixtures ------------------------------------------------------------------------------------


@dataclass
class Hostile:
    demo: DemoFactory
    gh: FakeGh

    @property
    def root(self) -> Path:
        return self.demo.root


@pytest.fixture
def hostile(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    git_demo: DemoFactory,
    git_env: None,
    fake_gh: FakeGh,
) -> Iterator[Hostile]:
    """The demo factory with a hostile session, claim and transcript, and the fake gh."""
    demo = git_demo
    root = demo.root
    host = socket.gethostname()
    with (demo.memory_dir / "operations.log").open("a", encoding="utf-8") as log:
        log.write(
            f"2026-02-16T15:00 | SESSION-START | task={TASK} branch={BRANCH} instance={INSTANCE}\n"
        )
    claim = {
        "ticket": "CAB-9999",
        "title": f"title {EVIL}",
        "owner": INSTANCE,
        "pid": 99999999,
        "claimed_at": "2026-02-16T10:00",
        "hostname": host,
        "branch": BRANCH,
    }
    (demo.claims_dir / "CAB-9999.json").write_text(json.dumps(claim))
    claude = tmp_path / "claude"
    project = claude / "projects" / "folder"
    project.mkdir(parents=True)
    line = {
        "type": "assistant",
        "cwd": str(root),
        "sessionId": "s1",
        "gitBranch": "main",
        "timestamp": "2026-02-16T14:00:00.000Z",
        "message": {
            "id": "msg_evil",
            "role": "assistant",
            "model": MODEL,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    }
    (project / "s1.jsonl").write_text(json.dumps(line) + "\n")
    with (root / "factory.toml").open("a") as toml:
        toml.write(f'claude_config_dir = "{claude}"\n')

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FACTORY_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(tmp_path / "no-user-config.toml"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    yield Hostile(demo, fake_gh)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the one function ----------------------------------------------------------------------------


def test_printable_escapes_c0_c1_del_and_bidi_controls() -> None:
    assert printable(EVIL) == ("\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07\\x1b]0;title\\x07\\x9b31m\\u202e")
    assert printable("a\x7fb\u2066c\u200fd\u061c") == "a\\x7fb\\u2066c\\u200fd\\u061c"
    assert printable("line 1\n\tline 2") == "line 1\n\tline 2"
    assert printable("line 1\n\tline 2\u2028", multiline=False) == "line 1\\n\\tline 2\\u2028"
    assert printable("plain — ünïcode ✓") == "plain — ünïcode ✓"


def test_json_safe_keeps_the_data_and_escapes_what_a_terminal_acts_on() -> None:
    data = {"k\u202e": [EVIL, "a\\\u009bb", "\x7f", "ok ✓"]}
    dumped = json_safe(json.dumps(data, ensure_ascii=False))
    assert_clean(dumped)
    assert "\x7f" not in dumped and "ok ✓" in dumped
    assert json.loads(dumped) == data


def test_json_of_a_path_that_is_not_utf8_is_utf8(tmp_path: Path) -> None:
    """A factory whose folder name holds a byte that is not UTF-8 (a lone surrogate once read):
    ``status --json`` is still UTF-8 (the surrogate escaped), and reads back as the path."""
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/f\xff"))
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    done = subprocess.run(
        [sys.executable, "-m", "factory_tui", "status", os.fsencode(root), "--json"],
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout.decode("utf-8"))["root"] == str(root)


def test_a_lone_surrogate_in_agent_text_is_shown_as_its_escape(tmp_path: Path) -> None:
    """A claim title holding ``\\udcff`` (plain ASCII JSON: ``json.loads`` makes it a lone
    surrogate, which no UTF-8 output can write): the text status on a strict UTF-8 stdout and a
    snapshot show the escape, where both raised UnicodeEncodeError."""
    assert printable("a\udcffb") == "a\\udcffb"
    root = tmp_path / "f"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    (root / ".claude" / "claims" / "CAB-1.json").write_text(
        '{"ticket": "CAB-1", "title": "fix \\udcff here", "owner": null}'
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "FACTORY_TUI_CACHE_DIR": str(tmp_path)}
    snapshot = tmp_path / "claims.txt"
    for argv in (
        ["status", str(root), "--now", NOW_S],
        ["snapshot", str(root), "-o", str(snapshot), "--view", "claims", "--now", NOW_S],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "factory_tui", *argv], capture_output=True, env=env
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        done.stdout.decode("utf-8")
    assert "fix \\udcff here" in snapshot.read_text(encoding="utf-8")


# -- every output path ---------------------------------------------------------------------------


def test_status_text_and_json(hostile: Hostile, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "status", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    assert "t9-\\x1b[2J" in out

    code, out, err = cli(capsys, "status", "--json", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    data = json.loads(out)
    (agent,) = [i for i in data["instances"] if i["id"] == INSTANCE]
    assert (agent["task"], agent["branch"]) == (TASK, BRANCH)
    (claim,) = [c for c in data["claims"] if c["id"] == "CAB-9999"]
    assert claim["title"] == f"title {EVIL}" and claim["owner"] == INSTANCE


def test_cost_text_and_json(hostile: Hostile, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "cost", "--by", "model", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    assert "claude-\\x1b[2J" in out
    (row,) = [line for line in out.splitlines() if line.startswith("claude-")]
    assert row.endswith("1 *")  # the model's row is whole: its name, then its numbers

    code, out, err = cli(
        capsys, "cost", "--json", "--by", "model", str(hostile.root), "--now", NOW_S
    )
    assert code == 0
    assert_clean(out, err)
    data = json.loads(out)
    assert MODEL in data["by"] and data["unpriced_models"] == [MODEL]


def test_prs_with_hostile_titles_and_gh_stderr(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.gh.publish(gh_pr(401, BRANCH, f"feat: {EVIL}", {"src/a.py": (3, 1)}))
    code, out, err = cli(capsys, "prs", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    assert "feat: \\x1b[2J" in out
    code, out, err = cli(capsys, "prs", "--json", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    assert f"feat: {EVIL}" in {row["title"] for row in json.loads(out)}

    hostile.gh.fail({"argv": ["pr", "list"], "exit": 1, "stderr": f"boom {EVIL}"})
    code, out, err = cli(capsys, "prs", str(hostile.root), "--now", NOW_S)
    assert code == 0
    assert_clean(out, err)
    assert "boom \\x1b[2J" in err


def test_approve_with_gh_failing_in_hostile_words(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.gh.publish(gh_pr(401, BRANCH, f"fix: {EVIL}", {"src/a.py": (3, 1)}))
    hostile.gh.fail({"argv": ["pr", "merge"], "exit": 1, "stderr": f"merge refused {EVIL}"})
    code, out, err = cli(capsys, "approve", "401", str(hostile.root), "--yes", "--now", NOW_S)
    assert code != 0
    assert_clean(out, err)
    assert "merge refused \\x1b[2J" in out + err


def test_recover_close_merged_with_gh_failing_in_hostile_words(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    (path,) = (hostile.demo.memory_dir / "checkpoints").glob(f"*{CRASHED}.json")
    raw = json.loads(path.read_text())
    raw["pr_number"] = 77
    path.write_text(json.dumps(raw))
    hostile.gh.fail({"argv": ["pr", "view"], "exit": 1, "stderr": f"gh says {EVIL}"})
    code, out, err = cli(
        capsys, "recover", CRASHED, str(hostile.root), "--close-merged", "--yes", "--now", NOW_S
    )
    assert code == 1
    assert_clean(out, err)
    assert "gh says \\x1b[2J" in out + err


def test_release_kill_and_errors_print_ids_escaped(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "release", "CAB-9999", str(hostile.root), "--now", NOW_S)
    assert_clean(out, err)
    assert "t9-\\x1b[2J" in out + err
    code, out, err = cli(capsys, "kill", INSTANCE, str(hostile.root), "--now", NOW_S)
    assert code != 0
    assert_clean(out, err)
    assert "t9-\\x1b[2J" in err
    code, out, err = cli(capsys, "status", str(hostile.root / EVIL))
    assert code == 2
    assert_clean(out, err)


def test_doctor_text_and_json(hostile: Hostile, capsys: pytest.CaptureFixture[str]) -> None:
    claims = hostile.root / f"claims{EVIL}"
    claims.mkdir()
    code, out, err = cli(capsys, "doctor", str(hostile.root), "--claims", str(claims))
    assert code == 0
    assert_clean(out, err)
    assert f"claims{printable(EVIL)}" in out
    code, out, err = cli(capsys, "doctor", "--json", str(hostile.root), "--claims", str(claims))
    assert code == 0
    assert_clean(out, err)
    assert str(claims) in {line["value"] for line in json.loads(out)}


# -- outside processes ---------------------------------------------------------------------------


HANGING_GH = textwrap.dedent(
    """\
    #!{python} -SE
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-SE", "-c", "import time; time.sleep(60)"])
    with open(os.environ["FAKE_GH_PIDS"] + ".tmp", "w") as out:
        out.write(f"{{os.getpid()}} {{child.pid}}")
    os.replace(os.environ["FAKE_GH_PIDS"] + ".tmp", os.environ["FAKE_GH_PIDS"])
    time.sleep(60)
    """
)


@pytest.fixture
def hanging_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A gh that starts a grandchild, writes both pids to a file, and hangs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(HANGING_GH.format(python=sys.executable))
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_GH_PIDS", str(pids))
    return pids


def assert_gone(pids_file: Path) -> None:
    assert pids_file.exists(), "the fake gh did not start in time (raise the timeout)"
    procs = []
    for pid in map(int, pids_file.read_text().split()):
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:  # reparented and killed, not yet reaped by init: a zombie is gone too
        with contextlib.suppress(psutil.NoSuchProcess):
            assert proc.status() == psutil.STATUS_ZOMBIE, f"pid {proc.pid} is still running"


@pytest.mark.parametrize("which", ["list_prs", "pr_status"])
def test_a_hung_gh_leaves_no_process_behind(which: str, hanging_gh: Path, tmp_path: Path) -> None:
    if which == "list_prs":
        from factory_tui.adapters.gh import Gh, GhError

        with pytest.raises(GhError) as info:
            Gh(tmp_path, timeout=1.0).list_prs()
        assert info.value.kind == "timeout"
    else:
        from factory_tui.adapters.gh import pr_status

        status = pr_status(7, cwd=tmp_path, timeout_s=1.0)
        assert status.merged is None and "no answer" in status.note
    assert_gone(hanging_gh)


def test_a_missing_git_is_said_plainly(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    code = textwrap.dedent(
        f"""\
        from pathlib import Path
        from factory_tui.actions.recovery_info import git_facts
        from factory_tui.adapters.git import GitMissing, GitRepo
        repo = GitRepo(Path({str(tmp_path)!r}))
        try:
            repo.is_repo()
        except GitMissing as error:
            print("missing:", error)
        print("note:", git_facts(repo, "feat/x").note)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_PYTHON")}
    env["PATH"] = str(empty)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError" not in done.stderr and "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("missing: git is not installed or not on PATH")
    assert "GIT_PYTHON_GIT_EXECUTABLE" in lines[0]
    assert lines[1].startswith("note: git is not installed")
    assert "not a git repository" not in lines[1]


async def test_cockpit_toasts_are_printable(hostile: Hostile) -> None:
    from conftest import FixedProbe, config_for

    from factory_tui.actions.base import ActionResult, Outcome
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.feeds.prs import PrsOptions
    from factory_tui.ui.flows.common import report

    class Shown(App[None]):
        """Between FactoryApp and Textual's App: what reaches Textual's toasts."""

        toasts: ClassVar[list[tuple[str, str]]] = []

        def notify(self, message: str, *, title: str = "", **kwargs: Any) -> None:
            self.toasts.append((title, message))
            super().notify(message, title=title, **kwargs)

    class ShownApp(FactoryApp, Shown):
        pass

    config = config_for(hostile.root)
    reader = FactoryReader(config, hostname=socket.gethostname(), probe=FixedProbe())
    app = ShownApp(
        config,
        reader=reader,
        clock=lambda: NOW,
        watch=False,
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()
        # How the cockpit reports an action: its message quotes the owner, an agent's text.
        report(app, "release", ActionResult(Outcome.REFUSED, f"owned by {INSTANCE}"))
        await pilot.pause()
        toasts = list(Shown.toasts)
        assert toasts, "no toast"
        for title, message in toasts:
            assert_clean(message, title)
        assert any("owned by t9-\\x1b[2J" in message for _title, message in toasts)
