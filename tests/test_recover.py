"""Recovering a crashed session: info from git and the checkpoint, resume (detached and tmux),
abandon (claim, checkpoints, branch), close when merged, and every refusal.

Real git repos with worktrees (the demo factory, generated once and copied per test), a fake
agent, a fake gh and a fake tmux on PATH (tests/fake_bin), no network, no sleeps.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.recover import abandon, close_merged, resume
from factory_tui.actions.recovery import RecoveryInfo, slug
from factory_tui.actions.recovery_brief import new_instance_id, recovery_brief
from factory_tui.actions.recovery_info import recovery_info, review_diffs
from factory_tui.actions.release import history_dir, release_claim
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import pr_status
from factory_tui.adapters.git import GitRepo
from factory_tui.adapters.git_formats import parse_worktree_list
from factory_tui.adapters.launch import Launched, LaunchRequest, launch_agent
from factory_tui.cli.actions import add_recover_parser, cmd_recover
from factory_tui.cli.common import CliError
from factory_tui.config import Config, load_config
from factory_tui.core.fleet import ProcInfo, SessionView
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"
CRASHED = "CAB-1353-span-exporter"  # crashed: dirty worktree, checkpoint, owns CAB-1290:3
CLEAN = "CAB-1321-tos-link"  # idle agent, dead pid here: crashed, clean worktree, owns CAB-1321
RUNNING = "CAB-1352-traceparent"  # the working agent (alive with AliveProbe)
AGENT = ("fake-agent", "--model", "opus")
WHO = "dana@laptop"


# -- fixtures ------------------------------------------------------------------------------------


@dataclass
class Env:
    demo: DemoFactory
    cfg: Config
    tmp: Path

    @property
    def log(self) -> Path:
        return self.demo.memory_dir / "operations.log"

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def instance(self, role: str) -> str:
        return next(i for i, r in self.demo.instances.items() if r == role)

    def worktree(self, role: str) -> Path:
        return self.demo.root / ".worktrees" / self.instance(role)

    def record(self, name: str) -> list[dict[str, object]]:
        path = self.tmp / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def agent_record(self) -> dict[str, object] | None:
        path = self.tmp / "agent.json"
        return json.loads(path.read_text()) if path.exists() else None

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the factory's state (claims, memory), to prove nothing changed."""
        out: dict[str, bytes] = {}
        for folder in (self.demo.claims_dir, self.demo.memory_dir):
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    out[str(path)] = path.read_bytes()
        return out

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd or self.demo.root, capture_output=True, text=True, check=True
        ).stdout

    def gh_fixture(self, prs: dict[str, dict[str, object]]) -> None:
        (self.tmp / "gh.json").write_text(json.dumps(prs))

    def set_pr(self, number: int) -> None:
        (path,) = (self.demo.memory_dir / "checkpoints").glob(f"*{CRASHED}.json")
        raw = json.loads(path.read_text())
        raw["pr_number"] = number
        path.write_text(json.dumps(raw))


@pytest.fixture
def env(git_demo: DemoFactory, fake_bin: Path) -> Env:
    """The demo factory copied into ``tmp_path`` (also where the fakes record)."""
    demo, tmp_path = git_demo, fake_bin
    cfg = load_config(demo.root, flags={}, env={}, user_config=demo.root / "none.toml")
    cfg = dataclasses.replace(cfg, agent_command=AGENT)
    return Env(demo, cfg, tmp_path)


class AliveProbe:
    """A process table in which the given pids are alive (started long ago)."""

    def __init__(self, pids: Iterator[int] | list[int]) -> None:
        self.pids = set(pids)

    def probe(self, pids: object) -> dict[int, ProcInfo]:
        return {pid: ProcInfo(pid=pid) for pid in self.pids}


class Waiting:
    """The real launcher, keeping what it launched so a test can wait for the child."""

    def __init__(self) -> None:
        self.launched: list[Launched] = []

    def __call__(self, request: LaunchRequest) -> Launched:
        launched = launch_agent(request)
        self.launched.append(launched)
        return launched

    def wait(self) -> None:
        for launched in self.launched:
            if launched.process is not None:
                assert launched.process.wait(timeout=20) == 0


def info_of(env: Env, task: str = CRASHED, **kw: object) -> RecoveryInfo:
    info = recovery_info(env.cfg, task, now=NOW, **kw)  # type: ignore[arg-type]
    assert isinstance(info, RecoveryInfo), info
    return info


def session_of(env: Env, task: str, instance: str | None = None) -> SessionView:
    reader = FactoryReader(env.cfg)
    reader.refresh_all()
    found = [
        s
        for s in reader.fleet(NOW).sessions
        if s.task == task and (instance is None or s.instance == instance)
    ]
    assert found, f"no session {task}"
    return found[0]


def owner(env: Env, claim: str, phase: int | None = None) -> object:
    raw = json.loads((env.demo.claims_dir / f"{claim}.json").read_text())
    if phase is None:
        return raw["owner"]
    return next(p for p in raw["phases"] if p["id"] == phase)["owner"]


def no_pwned(*roots: Path) -> None:
    for root in roots:
        assert not list(root.rglob("pwned")), f"a 'pwned' file appeared under {root}"
    assert not (Path.home() / "pwned").exists()
    assert not (Path.cwd() / "pwned").exists()


# -- what is shown before acting -----------------------------------------------------------------


@pytest.mark.parametrize(
    "odd", [pytest.param("\u00b2", id="superscript"), pytest.param("9" * 5000, id="5000 digits")]
)
def test_a_crashed_sessions_odd_pr_is_no_pr(env: Env, odd: str) -> None:
    """The log's ``pr=`` of the crashed session is agent-written: one that looks like a number
    and is not (``int("²")`` raised) is no PR, said as such."""
    with env.cfg.log_file.open("a") as log:
        log.write(f"2026-02-16T14:52 | STEP-DONE | step=push task={CRASHED} pr={odd}\n")
    assert session_of(env, CRASHED).pr == odd
    info = info_of(env)
    assert (info.pr, info.pr_merged, info.pr_note) == (None, None, "no PR yet")


def test_info_shows_git_checkpoint_claim_and_pr(env: Env) -> None:
    info = info_of(env)
    crashed = env.instance("crashed")
    assert (info.task, info.instance) == (CRASHED, crashed)
    assert info.branch == "feat/CAB-1353-span-exporter" and info.branch_exists
    assert info.worktree == env.worktree("crashed") and not info.worktree_is_main
    assert (info.ahead, info.behind, info.base) == (2, 1, "main")
    assert info.uncommitted == ("src/tinygate/span_exporter.py",)
    assert info.last_step == "push" and info.resume_from == "push"
    assert info.checkpoint is not None
    assert info.checkpoint.steps_completed == ("branch", "code", "quality-gate", "commit")
    assert info.checkpoint.steps_remaining[0] == "push"
    assert info.claim_key == "CAB-1290:3" and info.claim_state == "owned by the crashed instance"
    assert info.crashed_since == timedelta(minutes=50)
    assert (info.pr, info.pr_merged, info.pr_note) == (None, None, "no PR yet")
    assert len(info.checkpoint_files) == 1
    assert any("STEP-START | step=push" in line for line in info.log_tail)
    text = "\n".join(info.describe())
    for expected in (
        "feat/CAB-1353-span-exporter — exists at",
        "2 ahead / 1 behind main",
        "1 uncommitted file: src/tinygate/span_exporter.py",
        "steps remaining: push, pr-created",
        "decision: batch spans by 512",
        "blockers: none",
        "CAB-1290:3 owned by the crashed instance (pid",
        "crashed, last sign of life 50m ago",
    ):
        assert expected in text, expected
    assert info.why_not("resume") is None and info.why_not("abandon") is None
    assert "no PR" in (info.why_not("close_merged") or "")
    plan = "\n".join(info.plan("abandon", by=WHO, reason="start over"))
    assert 'RECOVERY | task=CAB-1353-span-exporter action=abandon reason="start over"' in plan
    assert "releases: CAB-1290:3" in plan and "moves: 1 checkpoint" in plan


def test_review_diffs_show_the_branch_and_the_uncommitted_changes(env: Env) -> None:
    diffs = review_diffs(env.cfg, info_of(env))
    assert "diff --git a/src/tinygate/span_exporter.py" in diffs.branch_diff
    assert "diff --git a/src/tinygate/span_exporter.py" in diffs.uncommitted_diff
    assert diffs.note == ""


def test_pr_merged_shown_through_gh(env: Env) -> None:
    env.set_pr(377)
    env.gh_fixture({"377": {"state": "OPEN", "mergedAt": None, "url": "https://x/pull/377"}})
    info = info_of(env)
    assert (info.pr, info.pr_merged, info.pr_note) == (377, False, "open")
    (call,) = env.record("gh.jsonl")
    assert call["argv"] == ["pr", "view", "377", "--json", "state,mergedAt,url"]
    assert call["cwd"] == str(env.worktree("crashed"))


def test_gh_absent_or_failing_is_unknown_with_the_reason(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = pr_status(5, cwd=fake_bin, gh="gh-that-is-not-installed")
    assert absent.merged is None and "not on PATH" in absent.note
    monkeypatch.setenv("FAKE_GH_FAIL", "1")
    failing = pr_status(5, cwd=fake_bin)
    assert failing.merged is None and "HTTP 401: Bad credentials" in failing.note
    monkeypatch.delenv("FAKE_GH_FAIL")
    missing = pr_status(5, cwd=fake_bin)
    assert missing.merged is None and "Could not resolve" in missing.note


def test_brief_carries_the_session_start_line_checkpoint_and_log(env: Env) -> None:
    info = info_of(env)
    brief = recovery_brief(info, list(info.log_tail), new_instance="t12345-abcd")
    assert (
        "| SESSION-START | task=CAB-1353-span-exporter branch=feat/CAB-1353-span-exporter "
        "instance=t12345-abcd recovered_from=CAB-1353-span-exporter" in brief
    )
    assert "Resume at step **push**" in brief
    assert "decisions made: batch spans by 512" in brief
    assert "STEP-START | step=push task=CAB-1353-span-exporter" in brief
    assert "CAB-1290:3 is still held by the crashed instance" in brief


def test_new_instance_id_follows_the_protocol() -> None:
    number = int(NOW.timestamp()) % 100000
    assert new_instance_id(NOW, hex4=lambda: "beef") == f"t{number}-beef"
    draws = iter(["aaaa", "aaaa", "bbbb"])
    assert new_instance_id(NOW, {f"t{number}-aaaa"}, hex4=lambda: next(draws)).endswith("-bbbb")
    assert re.fullmatch(r"t\d{1,5}-[0-9a-f]{4}", new_instance_id(NOW))


# -- resume --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder link", "folder a file", "brief link"])
def test_a_recovery_folder_or_brief_that_is_not_plain_is_refused(
    env: Env, tmp_path: Path, kind: str
) -> None:
    """The recovery folder and brief lie in the memory folder, which agents write: a link there
    had the brief (text from the agent's own log) written where it pointed; a file there raised
    a bare errno naming a brief that was never written. Each is refused with what is there and
    what to do, nothing written, logged or removed."""
    folder = env.demo.memory_dir / "recovery"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    assert not folder.exists()
    named = folder
    if kind == "folder link":
        folder.symlink_to(elsewhere, target_is_directory=True)
    elif kind == "folder a file":
        folder.write_text("x")
    else:
        folder.mkdir()
        named = folder / f"{NOW:%Y-%m-%dT%H-%M-%S}-{slug(CRASHED)}-t1-beef.md"
        named.symlink_to(elsewhere / "victim.md")
    lines_before = env.lines()
    launcher = Waiting()
    with mock.patch("factory_tui.actions.recover.new_instance_id", return_value="t1-beef"):
        result = resume(env.cfg, CRASHED, now=NOW, by=WHO, launcher=launcher)
    assert not result.ok and launcher.launched == []
    said = "not a folder" if kind == "folder a file" else "a symbolic link"
    assert f"{named}: {said}; remove it" in result.message, result.message
    assert list(elsewhere.iterdir()) == [] and env.lines() == lines_before
    assert kind != "brief link" or named.is_symlink()


def test_resume_detached_logs_launches_and_closes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AGENT_LOG", str(env.log))
    monkeypatch.setenv("FAKE_AGENT_NOW", NOW_S)
    claims_before = (env.demo.claims_dir / "CAB-1290.json").read_bytes()
    launcher = Waiting()
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO, launcher=launcher)
    launcher.wait()
    assert result.ok, result.message
    record = env.agent_record()
    assert record is not None
    argv = record["argv"]
    assert isinstance(argv, list) and argv[:2] == ["--model", "opus"]
    agent_env = record["env"]
    assert isinstance(agent_env, dict)
    new = agent_env["FACTORY_INSTANCE"]
    assert re.fullmatch(rf"t{int(NOW.timestamp()) % 100000}-[0-9a-f]{{4}}", new)
    assert agent_env["FACTORY_TASK"] == CRASHED
    assert agent_env["FACTORY_RECOVERED_FROM"] == CRASHED
    assert agent_env["FACTORY_BRANCH"] == "feat/CAB-1353-span-exporter"
    brief = Path(agent_env["FACTORY_RECOVERY_BRIEF"])
    assert brief.parent == env.demo.memory_dir / "recovery" and str(brief) in argv[-1]
    assert f"instance={new} recovered_from={CRASHED}" in brief.read_text()
    assert record["cwd"] == str(env.worktree("crashed"))
    (launched,) = launcher.launched
    assert launched.mode == "detached" and launched.log_file is not None
    assert "fake agent ran" in launched.log_file.read_text()
    assert str(launched.log_file) in result.message and new in result.message
    assert "the claim CAB-1290:3 stays with" in result.message
    ours = [line for line in env.lines() if f"by={WHO}" in line or "recovered_by" in line]
    assert ours[-2:] == [
        f"{NOW_S} | RECOVERY | task={CRASHED} action=resume from_step=push by={WHO}",
        f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed recovered_by={new}",
    ]
    assert (env.demo.claims_dir / "CAB-1290.json").read_bytes() == claims_before
    # Re-derived from the files: the crashed session is closed, the new one opened.
    old = session_of(env, CRASHED, env.instance("crashed"))
    assert (old.status, old.end_status, old.recovered_by) == ("ended", "crashed", new)
    fresh = session_of(env, CRASHED, new)
    assert fresh.recovered_from == CRASHED and fresh.status != "ended"
    # Recovered once: what is open for the task now is the new session, running, so there is
    # nothing to recover.
    again = recovery_info(env.cfg, CRASHED, now=NOW)
    assert isinstance(again, ActionResult) and "is running: resumed from" in again.message
    # The claim stays with the crashed instance, so no pid speaks for the new agent: its log
    # does. Running (not a fresh "crash" at once), then crashed once silent past the stale age.
    assert fresh.status == "running" and "resumed from" in fresh.why
    reader = FactoryReader(env.cfg)
    reader.refresh_all()
    agent = next(i for i in reader.fleet(NOW).instances if i.id == new)
    assert agent.status == "working" and agent.session is not None
    later = reader.fleet(NOW + env.cfg.stale_after + timedelta(minutes=1), full=True)
    (silent,) = [s for s in later.sessions if s.instance == new]
    assert silent.status == "crashed" and "silent for" in silent.why


def test_resume_in_tmux_opens_a_window(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,123,0")
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.ok, result.message
    assert "tmux window factory:7" in result.message
    (call,) = env.record("tmux.jsonl")
    argv = call["argv"]
    assert isinstance(argv, list)
    assert argv[:6] == ["new-window", "-d", "-P", "-F", "#{session_name}:#{window_index}", "-c"]
    assert argv[6] == str(env.worktree("crashed"))
    assert argv[7:9] == ["-n", f"recover-{CRASHED}"]
    envs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-e")
    assert envs["FACTORY_TASK"] == CRASHED and envs["FACTORY_INSTANCE"] in result.message
    tail = argv[argv.index("--") + 1 :]
    assert tail[:3] == list(AGENT) and envs["FACTORY_RECOVERY_BRIEF"] in tail[3]
    assert env.agent_record() is None  # tmux (fake) started it, not us
    assert env.lines()[-1].endswith(f"recovered_by={envs['FACTORY_INSTANCE']}")


def test_tmux_failure_changes_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,123,0")
    monkeypatch.setenv("FAKE_TMUX_FAIL", "1")
    before = env.snapshot()
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.ERROR
    assert "no server running" in result.message and "nothing was changed" in result.message
    assert env.snapshot() == before


def test_resume_without_launch_is_recovered_by_the_human(env: Env) -> None:
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False)
    assert result.ok and "no agent was started" in result.message
    assert env.agent_record() is None
    assert env.lines()[-1] == (
        f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed recovered_by={WHO}"
    )
    assert session_of(env, CRASHED).recovered_by == WHO
    again = resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False)
    assert again.outcome is Outcome.REFUSED
    assert again.message.startswith(f"{CRASHED} ended: it was already recovered by {WHO}")


def test_agent_missing_from_path_changes_nothing(env: Env) -> None:
    cfg = dataclasses.replace(env.cfg, agent_command=("no-such-agent-here",))
    before = env.snapshot()
    result = resume(cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.REFUSED and "not on PATH" in result.message  # said before
    assert env.snapshot() == before


def test_claim_taken_by_another_is_said_and_not_taken_back(env: Env) -> None:
    path = env.demo.claims_dir / "CAB-1290.json"
    raw = json.loads(path.read_text())
    next(p for p in raw["phases"] if p["id"] == 3)["owner"] = "t99999-beef"
    path.write_text(json.dumps(raw, indent=2))
    info = info_of(env)
    assert info.claim_state == "taken by t99999-beef"
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False)
    assert result.ok
    assert "taken by t99999-beef — not taken back" in result.message
    assert owner(env, "CAB-1290", 3) == "t99999-beef"


def test_abandon_leaves_a_claim_taken_by_another_alone(env: Env) -> None:
    path = env.demo.claims_dir / "CAB-1290.json"
    raw = json.loads(path.read_text())
    next(p for p in raw["phases"] if p["id"] == 3)["owner"] = "t99999-beef"
    path.write_text(json.dumps(raw, indent=2))
    before = path.read_bytes()
    result = abandon(env.cfg, CRASHED, now=NOW, reason="x", by=WHO)
    assert result.ok, result.message
    assert "the claim CAB-1290:3 is taken by t99999-beef: left alone" in result.message
    assert path.read_bytes() == before
    assert not any("| RELEASE |" in line for line in env.lines()[-2:])
    assert "| RECOVERY | task=CAB-1353-span-exporter action=abandon" in env.lines()[-2]


def test_branch_gone_is_refused(env: Env) -> None:
    tree = env.worktree("crashed")
    env.git("worktree", "remove", "--force", str(tree))
    env.git("branch", "-D", "feat/CAB-1353-span-exporter")
    info = info_of(env)
    assert not info.branch_exists and info.worktree is None
    before = env.snapshot()
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.REFUSED
    assert result.message.startswith("branch feat/CAB-1353-span-exporter is gone")
    assert resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False).outcome is Outcome.REFUSED
    assert env.snapshot() == before


def test_running_session_is_refused(env: Env) -> None:
    pid = env.demo.pids[env.instance("working")]
    reader = FactoryReader(env.cfg, probe=AliveProbe([pid]))  # type: ignore[arg-type]
    before = env.snapshot()
    result = resume(env.cfg, RUNNING, now=NOW, reader=reader, by=WHO)
    assert result.outcome is Outcome.REFUSED
    assert result.message == f"{RUNNING} is running: pid {pid} alive"
    result = abandon(env.cfg, RUNNING, now=NOW, reader=reader, reason="x", by=WHO)
    assert result.outcome is Outcome.REFUSED
    assert env.snapshot() == before


def test_ended_session_and_unknown_task(env: Env) -> None:
    ended = resume(env.cfg, "CAB-1350-gateway-api", now=NOW, by=WHO)
    assert ended.outcome is Outcome.REFUSED and "ended (SESSION-END status=success" in ended.message
    unknown = resume(env.cfg, "NOPE-1", now=NOW, by=WHO)
    assert unknown.outcome is Outcome.ERROR and "no session of task NOPE-1" in unknown.message


def test_read_only_refuses_every_action(env: Env) -> None:
    cfg = dataclasses.replace(env.cfg, read_only=True)
    env.set_pr(377)
    env.gh_fixture({"377": {"state": "MERGED", "mergedAt": "2026-02-16T15:00:00Z"}})
    before = env.snapshot()
    for result in (
        resume(cfg, CRASHED, now=NOW, by=WHO),
        abandon(cfg, CRASHED, now=NOW, reason="x", by=WHO, delete_branch=True),
        close_merged(cfg, CRASHED, now=NOW, by=WHO),
    ):
        assert result.outcome is Outcome.REFUSED and "read-only" in result.message
    assert env.snapshot() == before
    assert env.agent_record() is None and env.git("branch", "--list", "feat/CAB-1353*")


def test_someone_else_recovering_is_refused(env: Env) -> None:
    (env.demo.memory_dir / f".recover-{CRASHED}.lock").mkdir()
    before = env.snapshot()
    result = resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False)
    assert result.outcome is Outcome.REFUSED
    assert result.message == f"someone else is recovering {CRASHED} right now — try again"
    assert env.snapshot() == before


# -- abandon -------------------------------------------------------------------------------------


def test_abandon_releases_archives_and_closes(env: Env) -> None:
    crashed = env.instance("crashed")
    (checkpoint,) = (env.demo.memory_dir / "checkpoints").glob("*.json")
    content = checkpoint.read_bytes()
    result = abandon(env.cfg, CRASHED, now=NOW, reason="diverged; start over", by=WHO)
    assert result.ok, result.message
    assert owner(env, "CAB-1290", 3) is None
    kept = list(history_dir(env.cfg).iterdir())
    assert len(kept) == 1 and crashed in kept[0].read_text()
    assert not checkpoint.exists()
    archived = env.demo.memory_dir / "checkpoints" / "archive" / checkpoint.name
    assert archived.read_bytes() == content
    # The release's intent line comes before it; its outcome carries the same change id.
    intent, release = (line for line in env.lines() if "| RELEASE" in line and WHO in line)
    assert "| RELEASE-INTENT | claim=CAB-1290 phase=3 " in intent
    change = intent.rsplit(" change=", 1)[1].split()[0]
    assert release.endswith(f" change={change}")
    shown = [re.sub(r" change=\w+", "", line) for line in env.lines() if line != intent]
    assert shown[-3:] == [
        f'{NOW_S} | RECOVERY | task={CRASHED} action=abandon reason="diverged; start over" '
        f"by={WHO}",
        f"{NOW_S} | RELEASE | task=CAB-1290 phase=3 instance={crashed} reason=abandoned by={WHO}",
        f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed recovered_by={WHO}",
    ]
    assert env.git("branch", "--list", "feat/CAB-1353-span-exporter").strip()
    old = session_of(env, CRASHED)
    assert (old.status, old.end_status, old.recovered_by) == ("ended", "crashed", WHO)


def test_release_for_another_action_checks_the_owner_under_the_lock(env: Env) -> None:
    before = env.snapshot()
    result = release_claim(
        env.cfg,
        "CAB-1290:3",
        now=NOW,
        force=True,
        reason_word="abandoned",
        expected_owner="t00000-gone",
        before_write=lambda: pytest.fail("must not run when a check fails"),
    )
    assert result.outcome is Outcome.REFUSED
    assert result.message.startswith("CAB-1290:3 now belongs to t")
    assert env.snapshot() == before


def test_abandon_with_the_claim_lock_busy_changes_nothing(env: Env) -> None:
    (env.demo.claims_dir / "CAB-1290-phase-3.lock").mkdir()
    before = env.snapshot()
    result = abandon(env.cfg, CRASHED, now=NOW, reason="x", by=WHO)
    assert result.outcome is Outcome.REFUSED
    assert "was not abandoned" in result.message and "right now" in result.message
    (env.demo.claims_dir / "CAB-1290-phase-3.lock").rmdir()
    assert env.snapshot() == before


def test_delete_branch_refused_on_a_dirty_worktree(env: Env) -> None:
    before = env.snapshot()
    result = abandon(env.cfg, CRASHED, now=NOW, reason="x", by=WHO, delete_branch=True)
    assert result.outcome is Outcome.REFUSED
    assert "1 uncommitted file (src/tinygate/span_exporter.py)" in result.message
    assert "nothing was changed" in result.message
    assert env.snapshot() == before
    assert env.worktree("crashed").is_dir()
    assert env.git("branch", "--list", "feat/CAB-1353-span-exporter").strip()


def test_delete_branch_removes_the_clean_worktree_and_the_branch(env: Env) -> None:
    sha = env.git("rev-parse", "refs/heads/fix/CAB-1321-tos-link").strip()
    result = abandon(env.cfg, CLEAN, now=NOW, reason="not needed", by=WHO, delete_branch=True)
    assert result.ok, result.message
    assert "deleted branch fix/CAB-1321-tos-link" in result.message
    assert not env.git("branch", "--list", "fix/CAB-1321-tos-link").strip()
    assert not env.worktree("idle").exists()
    assert owner(env, "CAB-1321") is None
    deleted = next(line for line in env.lines() if "BRANCH-DELETED" in line)
    assert f"branch=fix/CAB-1321-tos-link sha={sha}" in deleted
    assert env.lines()[-1].endswith(f"SESSION-END | task={CLEAN} status=crashed recovered_by={WHO}")
    # The commits stay reachable by the logged sha.
    assert env.git("cat-file", "-t", sha).strip() == "commit"


# -- close when merged ---------------------------------------------------------------------------


def test_close_merged_when_gh_says_merged(env: Env) -> None:
    env.set_pr(377)
    env.gh_fixture({"377": {"state": "MERGED", "mergedAt": "2026-02-16T15:00:00Z", "url": "u"}})
    info = info_of(env)
    assert info.pr_merged is True and info.why_not("close_merged") is None
    result = close_merged(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.ok, result.message
    assert env.lines()[-1] == (
        f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed recovered_by={WHO} pr=377"
    )
    assert session_of(env, CRASHED).recovered_by == WHO


def test_close_merged_refused_when_open_or_unknown(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.set_pr(377)
    env.gh_fixture({"377": {"state": "OPEN", "mergedAt": None}})
    before = env.snapshot()
    result = close_merged(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.REFUSED and "PR #377 is not merged" in result.message
    monkeypatch.setenv("FAKE_GH_FAIL", "1")
    result = close_merged(env.cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.REFUSED
    assert "cannot tell whether PR #377 is merged" in result.message and "401" in result.message
    assert env.snapshot() == before


# -- hostile names -------------------------------------------------------------------------------


HOSTILE_TASK = "x; rm -rf ~ $(touch pwned)"
HOSTILE_BRANCH = "feat/$(touch${IFS}pwned);`touch${IFS}pwned`"
GONE_TASK = "$(touch pwned)"


def _hostile(env: Env) -> Path:
    tree = env.demo.root / ".worktrees" / "hostile#(touch pwned)"
    env.git("worktree", "add", "-q", "-b", HOSTILE_BRANCH, str(tree), "main")
    with env.log.open("a") as log:
        log.write(
            f'2026-02-16T15:00 | SESSION-START | task="{HOSTILE_TASK}" '
            f"branch={HOSTILE_BRANCH} instance=t11111-dead\n"
            f'2026-02-16T15:01 | SESSION-START | task="{GONE_TASK}" '
            f'branch="$(touch pwned)" instance=t22222-dead\n'
        )
    return tree


def test_hostile_names_are_only_names(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _hostile(env)
    info = info_of(env, HOSTILE_TASK)
    assert info.branch == HOSTILE_BRANCH and info.branch_exists and info.worktree == tree
    launcher = Waiting()
    assert resume(env.cfg, HOSTILE_TASK, now=NOW, by=WHO, launcher=launcher).ok
    launcher.wait()
    record = env.agent_record()
    assert record is not None and isinstance(record["env"], dict)
    assert record["env"]["FACTORY_TASK"] == HOSTILE_TASK
    assert record["env"]["FACTORY_BRANCH"] == HOSTILE_BRANCH
    assert record["cwd"] == str(tree)
    argv = record["argv"]
    assert isinstance(argv, list) and HOSTILE_TASK in argv[-1]
    assert f"recovered_by={record['env']['FACTORY_INSTANCE']}" in env.lines()[-1]
    assert env.lines()[-1].startswith(f'{NOW_S} | SESSION-END | task="{HOSTILE_TASK}"')

    gone = resume(env.cfg, GONE_TASK, now=NOW, by=WHO)
    assert gone.outcome is Outcome.REFUSED and "$(touch pwned) is gone" in gone.message
    assert abandon(env.cfg, GONE_TASK, now=NOW, reason="$(touch pwned)", by=WHO).ok
    assert env.lines()[-1] == (
        f'{NOW_S} | SESSION-END | task="{GONE_TASK}" status=crashed recovered_by={WHO}'
    )
    no_pwned(env.tmp)


def test_hostile_names_in_tmux(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _hostile(env)
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,123,0")
    assert resume(env.cfg, HOSTILE_TASK, now=NOW, by=WHO).ok
    (call,) = env.record("tmux.jsonl")
    argv = call["argv"]
    assert isinstance(argv, list)
    # tmux expands #(...) in a window's name and start directory: "#" is doubled, the name plain.
    assert argv[argv.index("-c") + 1] == str(tree).replace("#", "##")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", argv[argv.index("-n") + 1])
    assert f"FACTORY_TASK={HOSTILE_TASK}" in argv
    no_pwned(env.tmp)


def test_abandon_deletes_a_hostile_branch_literally(env: Env) -> None:
    tree = _hostile(env)
    result = abandon(env.cfg, HOSTILE_TASK, now=NOW, reason="r", by=WHO, delete_branch=True)
    assert result.ok, result.message
    assert not tree.exists()
    assert HOSTILE_BRANCH not in env.git("branch", "--list")
    assert env.git("branch", "--list", "main").strip()
    no_pwned(env.tmp)


# -- adapters ------------------------------------------------------------------------------------


def test_parse_worktree_list() -> None:
    text = (
        "worktree /r\0HEAD abc\0branch refs/heads/main\0\0"
        "worktree /r/.worktrees/a b\0HEAD def\0detached\0locked reason\0\0"
        "worktree /r/.worktrees/c\0HEAD 123\0branch refs/heads/feat/x\0prunable gitdir gone\0\0"
    )
    main, detached, gone = parse_worktree_list(text)
    assert (main.path, main.branch, main.is_main) == (Path("/r"), "main", True)
    assert (detached.path, detached.branch, detached.locked) == (
        Path("/r/.worktrees/a b"),
        None,
        True,
    )
    assert (gone.branch, gone.prunable, gone.is_main) == ("feat/x", True, False)


def test_git_outside_a_repository(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    assert not repo.is_repo() and repo.branch_sha("main") is None


def test_launch_wraps_a_one_word_command_so_tmux_uses_no_shell(fake_bin: Path) -> None:
    request = LaunchRequest(("fake-agent",), fake_bin, {}, "x", fake_bin / "out.log")
    launched = launch_agent(request, tmux=True)
    assert launched.window == "factory:7"
    (line,) = (fake_bin / "tmux.jsonl").read_text().splitlines()
    argv = json.loads(line)["argv"]
    assert isinstance(argv, list) and argv[argv.index("--") + 1 :] == ["env", "--", "fake-agent"]


# -- the CLI -------------------------------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_cli(argv: list[str], stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="factory-tui")
    add_recover_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    try:
        code = cmd_recover(args, stdin=stdin or io.StringIO(""), stdout=out, stderr=err)
    except CliError as error:
        return 2, out.getvalue(), str(error)
    return code, out.getvalue(), err.getvalue()


def test_cli_refuses_without_a_tty_unless_yes(env: Env) -> None:
    """Like release, kill and approve: nobody at a terminal, nobody can confirm."""
    root = str(env.demo.root)
    before = env.snapshot()
    code, _out, err = run_cli(
        ["recover", CRASHED, root, "--abandon", "--now", NOW_S, "--reason", "r"]
    )
    assert code == 1 and "pass --yes" in err
    assert env.snapshot() == before


def test_cli_resume_no_launch_without_a_tty(env: Env) -> None:
    root = str(env.demo.root)
    code, out, err = run_cli(
        ["recover", CRASHED, root, "--resume", "--no-launch", "--yes", "--now", NOW_S]
    )
    assert code == 0, err
    assert "2 ahead / 1 behind main" in out and "logs: RECOVERY | task=" in out
    assert "no agent was started" in out
    assert env.lines()[-1].startswith(f"{NOW_S} | SESSION-END | task={CRASHED} status=crashed")


def test_cli_asks_on_a_tty_and_no_changes_nothing(env: Env) -> None:
    root = str(env.demo.root)
    before = env.snapshot()
    args = ["recover", CRASHED, root, "--abandon", "--reason", "r", "--now", NOW_S]
    code, out, err = run_cli(args, Tty("n\n"))
    assert code == 1 and "[y/N]" in out and "declined" in err
    assert env.snapshot() == before
    code, out, err = run_cli(args, Tty("y\n"))
    assert code == 0, err
    assert owner(env, "CAB-1290", 3) is None


def test_cli_second_confirmation_for_the_branch(env: Env) -> None:
    root = str(env.demo.root)
    args = ["recover", CLEAN, root, "--abandon", "--reason", "r", "--delete-branch", "--now", NOW_S]
    code, out, _err = run_cli(args, Tty("y\nn\n"))
    assert code == 0 and "Delete branch fix/CAB-1321-tos-link" in out and "the branch stays" in out
    assert env.git("branch", "--list", "fix/CAB-1321-tos-link").strip()


def test_cli_exit_codes(env: Env) -> None:
    root = str(env.demo.root)
    assert run_cli(["recover", CRASHED, root, "--abandon", "--now", NOW_S])[0] == 2
    code, _out, err = run_cli(["recover", "CAB-1350-gateway-api", root, "--resume", "--yes"])
    assert code == 1 and "ended" in err
    code, _out, err = run_cli(["recover", "NOPE", root, "--resume", "--now", NOW_S])
    assert code == 2 and "no session of task NOPE" in err
    code, _out, err = run_cli(["recover", CRASHED, root, "--close-merged", "--yes", "--now", NOW_S])
    assert code == 1 and "no PR" in err
    code, _out, err = run_cli(
        ["recover", CRASHED, root, "--resume", "--read-only", "--yes", "--now", NOW_S]
    )
    assert code == 1 and "read-only" in err
    with pytest.raises(SystemExit):
        run_cli(["recover", CRASHED, root, "--resume", "--abandon"])


# -- recovery acts only on a dead agent's crashed session (issue 16) -----------------------------


def _append(env: Env, *lines: str) -> None:
    with env.log.open("a") as handle:
        handle.writelines(line + "\n" for line in lines)


def test_a_live_agent_that_moved_on_is_not_crashed_nor_abandoned(env: Env) -> None:
    """The working agent starts another task without ending its session: that session is
    superseded, but its pid is alive, so it is not crashed and its claim is not freed."""
    working = env.instance("working")
    pid = env.demo.pids[working]
    _append(
        env,
        f"2026-02-16T15:40 | SESSION-START | task=CAB-1400-next branch=feat/next instance={working}",
    )
    reader = FactoryReader(env.cfg, probe=AliveProbe([pid]))  # type: ignore[arg-type]
    reader.refresh_all()
    (earlier,) = [s for s in reader.fleet(NOW).sessions if s.task == RUNNING and not s.ended_at]
    assert earlier.status == "running" and "moved on to a later session" in earlier.why
    before = env.snapshot()
    result = abandon(env.cfg, RUNNING, now=NOW, reader=reader, reason="x", by=WHO)
    assert result.outcome is Outcome.REFUSED and f"pid {pid}" in result.message, result.message
    assert owner(env, "CAB-1290", 2) == working
    assert env.snapshot() == before
    # With its pid dead it is a crashed, superseded session again.
    reader = FactoryReader(env.cfg)
    reader.refresh_all()
    (dead,) = [s for s in reader.fleet(NOW).sessions if s.task == RUNNING and not s.ended_at]
    assert dead.status == "crashed" and "a later session" in dead.why


def test_an_agent_that_logged_lately_is_alive_whatever_its_pid(env: Env) -> None:
    crashed = env.instance("crashed")
    # Within the demo's idle threshold (2m): its own line is evidence that it runs.
    _append(env, f"2026-02-16T15:41 | STEP-DONE | step=push task={CRASHED}")
    before = env.snapshot()
    for result in (
        abandon(env.cfg, CRASHED, now=NOW, reason="x", by=WHO),
        resume(env.cfg, CRASHED, now=NOW, by=WHO, launch=False),
    ):
        assert result.outcome is Outcome.REFUSED
        # The fleet itself calls the session running on that evidence (FORMATS.md, change 4).
        assert f"{crashed} logged 1m ago" in result.message, result.message
    assert owner(env, "CAB-1290", 3) == crashed
    assert env.snapshot() == before


def test_an_audit_line_is_no_sign_of_life(env: Env) -> None:
    crashed = env.instance("crashed")
    _append(
        env,
        f"2026-02-16T15:41 | AGENT-STOP | task={CRASHED} instance={crashed} pid=1 "
        "signal=SIGTERM by=someone",
    )
    result = abandon(env.cfg, CRASHED, now=NOW, reason="x", by=WHO)
    assert result.ok, result.message
    assert owner(env, "CAB-1290", 3) is None


class AliveUnderLock:
    """A process table in which ``pid`` runs only while ``lock`` (a claim lock) is held: the
    agent came back to life between the look and the write."""

    def __init__(self, pid: int, lock: Path) -> None:
        self.pid, self.lock = pid, lock

    def probe(self, pids: object) -> dict[int, ProcInfo]:
        return {self.pid: ProcInfo(pid=self.pid)} if self.lock.is_dir() else {}


def test_liveness_is_rechecked_under_the_claim_lock(env: Env) -> None:
    crashed = env.instance("crashed")
    raw = json.loads((env.demo.claims_dir / "CAB-1290.json").read_text())
    pid = next(p for p in raw["phases"] if p["id"] == 3)["pid"]
    probe = AliveUnderLock(pid, env.demo.claims_dir / "CAB-1290-phase-3.lock")
    reader = FactoryReader(env.cfg, probe=probe)  # type: ignore[arg-type]
    before = env.snapshot()
    result = abandon(env.cfg, CRASHED, now=NOW, reader=reader, reason="x", by=WHO)
    assert result.outcome is Outcome.REFUSED, result.message
    assert f"{crashed} is alive: pid {pid} running (CAB-1290:3)" in result.message
    assert owner(env, "CAB-1290", 3) == crashed
    assert env.snapshot() == before


def test_abandon_frees_only_the_claim_of_the_session_task(env: Env) -> None:
    """The idle agent (dead pid) left its session for a new task that has no claim: abandoning
    the new task must not free the claim of the earlier one (CAB-1321)."""
    idle = env.instance("idle")
    _append(
        env, f"2026-02-16T15:12 | SESSION-START | task=CAB-1500-other branch=feat/o instance={idle}"
    )
    result = abandon(env.cfg, "CAB-1500-other", now=NOW, reason="x", by=WHO)
    assert result.ok, result.message
    assert "no claim was found" in result.message
    assert owner(env, "CAB-1321") == idle
    assert not any("| RELEASE |" in line for line in env.lines()[-3:])


def _start_a_conflicting_rebase(env: Env, tree: Path, branch: str) -> None:
    """A real ``git rebase`` of ``branch`` onto main in ``tree`` that stops on a conflict,
    leaving the worktree on a detached HEAD."""
    who = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    (tree / "clash.txt").write_text("the branch's line\n")
    env.git("add", "clash.txt", cwd=tree)
    env.git(*who, "commit", "-q", "-m", "branch side", cwd=tree)
    main_tree = env.demo.root
    assert env.git("branch", "--show-current", cwd=main_tree).strip() == "main"
    (main_tree / "clash.txt").write_text("main's line\n")
    env.git("add", "clash.txt", cwd=main_tree)
    env.git(*who, "commit", "-q", "-m", "main side", cwd=main_tree)
    rebase = subprocess.run(
        ["git", *who, "rebase", "main"], cwd=tree, capture_output=True, text=True
    )
    assert rebase.returncode != 0, rebase.stdout
    assert env.git("branch", "--show-current", cwd=tree).strip() == ""  # detached
    assert (
        (Path(env.git("rev-parse", "--absolute-git-dir", cwd=tree).strip()))
        / "rebase-merge"
        / "head-name"
    ).read_text().strip() == f"refs/heads/{branch}"


def test_delete_branch_refused_while_it_is_being_rebased(env: Env) -> None:
    branch = "fix/CAB-1321-tos-link"
    tree = env.worktree("idle")
    _start_a_conflicting_rebase(env, tree, branch)
    sha = env.git("rev-parse", f"refs/heads/{branch}").strip()
    git = GitRepo(env.demo.root)
    using = git.worktree_using(branch)
    assert using is not None and using[1] == "being rebased"
    assert using[0].path.resolve() == tree.resolve()
    before = env.snapshot()
    result = abandon(env.cfg, CLEAN, now=NOW, reason="x", by=WHO, delete_branch=True)
    assert result.outcome is Outcome.REFUSED, result.message
    assert f"branch {branch} is being rebased in the worktree {using[0].path}" in result.message
    assert "git rebase --abort" in result.message
    assert env.git("rev-parse", f"refs/heads/{branch}").strip() == sha
    assert env.snapshot() == before
    assert tree.is_dir()


_WHO = ("-c", "user.name=t", "-c", "user.email=t@example.com")


def _commit(env: Env, tree: Path, name: str, text: str) -> None:
    (tree / name).write_text(text)
    env.git("add", name, cwd=tree)
    env.git(*_WHO, "commit", "-q", "-m", f"{name}: {text.strip()}", cwd=tree)


def _git_dir(env: Env, tree: Path) -> Path:
    return Path(env.git("rev-parse", "--absolute-git-dir", cwd=tree).strip())


@pytest.mark.parametrize("where", ["a-merger", "z-merger"])
def test_delete_branch_refused_while_another_worktree_merges_it(env: Env, where: str) -> None:
    """A real ``git merge`` of the branch stopped on a conflict in another worktree: its
    ``MERGE_HEAD`` is the branch's tip, and deleting the branch would pull the commit out from
    under the merge. The merging worktree is listed before (``a-…``) or after (``z-…``) the
    branch's own clean worktree, which the deletion would remove."""
    branch = "fix/CAB-1321-tos-link"
    merger = env.tmp / where
    env.git("worktree", "add", "-q", "-b", f"merge-{where}", str(merger), "main")
    _commit(env, env.worktree("idle"), "clash.txt", "the branch's line\n")
    _commit(env, merger, "clash.txt", "the merger's line\n")
    merge = subprocess.run(
        ["git", *_WHO, "merge", branch], cwd=merger, capture_output=True, text=True
    )
    assert merge.returncode != 0 and "CONFLICT" in merge.stdout, merge.stdout
    sha = env.git("rev-parse", f"refs/heads/{branch}").strip()
    assert (_git_dir(env, merger) / "MERGE_HEAD").read_text().split() == [sha]
    before = env.snapshot()
    result = abandon(env.cfg, CLEAN, now=NOW, reason="x", by=WHO, delete_branch=True)
    assert result.outcome is Outcome.REFUSED, result.message
    assert f"branch {branch} is being merged in the worktree {merger}" in result.message
    assert "git merge --abort" in result.message and "nothing was changed" in result.message
    assert env.git("rev-parse", f"refs/heads/{branch}").strip() == sha
    assert env.worktree("idle").is_dir()
    assert env.snapshot() == before


@pytest.mark.parametrize("start", [("main",), ()], ids=["at-a-midpoint", "on-the-branch"])
def test_delete_branch_refused_while_its_worktree_bisects(env: Env, start: tuple[str, ...]) -> None:
    """A real ``git bisect start`` in the branch's own (clean) worktree: with a good commit the
    worktree is on a detached midpoint; without, still on the branch. Either way removing the
    worktree and deleting the branch would end the bisect and lose where it returns to."""
    branch = "fix/CAB-1321-tos-link"
    tree = env.worktree("idle")
    for n in range(3):
        _commit(env, tree, f"step{n}.txt", f"step {n}\n")
    sha = env.git("rev-parse", f"refs/heads/{branch}").strip()
    env.git("bisect", "start", branch, *start, cwd=tree)
    assert (_git_dir(env, tree) / "BISECT_START").read_text().strip() == branch
    detached = env.git("branch", "--show-current", cwd=tree).strip() == ""
    assert detached is bool(start)
    before = env.snapshot()
    result = abandon(env.cfg, CLEAN, now=NOW, reason="x", by=WHO, delete_branch=True)
    assert result.outcome is Outcome.REFUSED, result.message
    assert f"branch {branch} is being bisected in the worktree {tree}" in result.message
    assert "git bisect reset" in result.message and "nothing was changed" in result.message
    assert env.git("rev-parse", f"refs/heads/{branch}").strip() == sha
    assert tree.is_dir() and (_git_dir(env, tree) / "BISECT_START").is_file()
    assert env.snapshot() == before


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ((), "no agent command is configured: set agent_command in factory.toml"),
        (("no-such-agent-here",), "the agent command no-such-agent-here is not on PATH"),
    ],
)
def test_resume_is_offered_only_when_its_agent_can_start(
    env: Env, command: tuple[str, ...], said: str
) -> None:
    """Before confirming, the recovery says which agent will run, or why none can and how to set
    one; without launching, resume needs no agent."""
    cfg = dataclasses.replace(env.cfg, agent_command=command)
    info = recovery_info(cfg, CRASHED, now=NOW)
    assert isinstance(info, RecoveryInfo)
    why = info.why_not("resume")
    assert why is not None and said in why and "--no-launch" in why
    assert info.why_not("resume", launch=False) is None
    before = env.snapshot()
    result = resume(cfg, CRASHED, now=NOW, by=WHO)
    assert result.outcome is Outcome.REFUSED and said in result.message
    assert env.snapshot() == before
    found = recovery_info(env.cfg, CRASHED, now=NOW)
    assert isinstance(found, RecoveryInfo) and found.why_not("resume") is None
    assert any("starts: fake-agent --model opus" in line for line in found.plan("resume", by=WHO))
