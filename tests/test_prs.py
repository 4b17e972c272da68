"""The approval queue: PR sources (fake gh, real temp git repos), links, queue, actions, CLI."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    HELM,
    SPANS,
    TOS,
    TRACE,
    WEBHOOK,
    FakeGh,
    copy_factory,
    gh_pr,
    open_github_prs,
)

from factory_tui.actions.approve import ApprovePlan, _checkpoint_data, approve_pr, plan_approve
from factory_tui.actions.base import Outcome
from factory_tui.actions.prs import (
    REVIEWS_FILE,
    ask_waiting,
    load_queue,
    mark_reviewed,
    pr_diff,
    record_look,
    review_note_for,
)
from factory_tui.actions.request_changes import request_changes
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import GH_LIST_FIELDS, Gh, GhError
from factory_tui.cli.common import CliError
from factory_tui.cli.prs import (
    add_prs_parsers,
    cmd_approve,
    cmd_mark_reviewed,
    cmd_prs,
    cmd_request_changes,
)
from factory_tui.config import Config, load_config
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.modes_paths import ChangedFile
from factory_tui.core.prs import (
    PullRequest,
    SessionLike,
    ci_from_checks,
    ci_from_rollup,
    pr_from_gh,
)
from factory_tui.core.prs_link import candidate_branches, link_inputs
from factory_tui.core.prs_patch import split_patch
from factory_tui.core.prs_queue import ReviewState, build_queue
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"
EVIL = "x;touch${IFS}pwned"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def full_git() -> None:
    """Asked for by a GitHub test that needs the local git source as well."""


@pytest.fixture
def demo(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    git_demo_template: DemoFactory,
    git_env: None,
    no_real_gh: None,
    request: pytest.FixtureRequest,
) -> DemoFactory:
    """A fresh copy of the demo factory per test: the real git repo with its worktrees, or for
    a test of the GitHub source (one using ``fake_gh`` without ``full_git``) only its files."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FACTORY_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(tmp_path / "no-user-config.toml"))
    names = request.fixturenames
    github_only = "fake_gh" in names and "full_git" not in names
    return copy_factory(git_demo_template, tmp_path / "factory", with_git=not github_only)


def config_of(demo: DemoFactory, **flags: str) -> Config:
    return load_config(demo.root, flags=flags, env={}, user_config=demo.root / "none.toml")


def github_factory(fake: FakeGh) -> None:
    fake.publish(
        *open_github_prs(),
        gh_pr(381, "chore/CAB-1400-db", "chore: index", {"migrations/0007.sql": (3, 0)},
              labels=("mode:ship",), created="2026-02-16T12:00:00Z"),
        gh_pr(370, "feat/CAB-1350-gateway-api", "feat: API + gateway routes",
              {"tests/test_api.py": (30, 0)}, state="MERGED", merged="2026-02-16T10:40:00Z",
              labels=("show",)),
        gh_pr(369, "docs/runbook", "docs: runbook", {"docs/runbook.md": (12, 0)},
              state="MERGED", merged="2026-02-16T09:00:00Z"),
    )  # fmt: skip


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="factory-tui")
    sub = parser.add_subparsers(dest="command")
    add_prs_parsers(sub)
    args = parser.parse_args(list(argv))
    handlers = {
        "prs": cmd_prs,
        "approve": cmd_approve,
        "request-changes": cmd_request_changes,
        "mark-reviewed": cmd_mark_reviewed,
    }
    try:
        return handlers[args.command](args)
    except CliError as error:
        print(f"factory-tui: {error}", file=sys.stderr)
        return 2


def log_lines(demo: DemoFactory) -> list[str]:
    return (demo.memory_dir / "operations.log").read_text().splitlines()


def git(cwd: Path, *args: str) -> str:
    argv = ["git", "-c", "user.name=Dana Engineer", "-c", "user.email=dana@example.com", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def checkpoints(demo: DemoFactory) -> set[str]:
    return {p.name for p in (demo.memory_dir / "checkpoints").iterdir()}


def assert_harmless(demo: DemoFactory) -> None:
    home = Path(os.environ["HOME"])
    assert (home / "canary").read_text() == "still here"
    assert not list(demo.root.parent.rglob("pwned*")) and not list(home.rglob("pwned*"))


# -- core: gh JSON, CI, diffs, the queue --------------------------------------------------------


def test_pr_from_gh_reads_every_field() -> None:
    raw = gh_pr(5, "fix/a", "fix: a", {"src/a.py": (3, 1)}, labels=("ask",), draft=True)
    raw["statusCheckRollup"] = [
        {"__typename": "CheckRun", "name": "unit", "status": "COMPLETED", "conclusion": "SUCCESS"},
        {"__typename": "StatusContext", "context": "ci/lint", "state": "PENDING"},
    ]
    pr = pr_from_gh(raw)
    assert (pr.source, pr.number, pr.branch, pr.state, pr.draft) == (
        "github",
        5,
        "fix/a",
        "open",
        True,
    )
    assert pr.labels == ("ask",) and pr.changed_lines == 4
    assert pr.files == (ChangedFile("src/a.py", 3, 1),)
    assert pr.ci == "pending" and pr.ci_detail == "1 of 2 checks running: ci/lint"
    assert pr.created_at == parse_ts("2026-02-16T14:00:00Z")  # UTC, made local time
    with pytest.raises(ValueError, match="without a number"):
        pr_from_gh({"title": "no number"})


def test_ci_verdicts() -> None:
    red = [
        {"name": "a", "status": "COMPLETED", "conclusion": "SUCCESS"},
        {"name": "b", "status": "COMPLETED", "conclusion": "TIMED_OUT"},
        {"context": "c", "state": "ERROR"},
    ]
    assert ci_from_rollup(red)[:2] == ("red", "2 of 3 checks failing: b, c")
    assert (
        ci_from_rollup([{"name": "s", "status": "COMPLETED", "conclusion": "SKIPPED"}])[0] == "none"
    )
    assert ci_from_rollup(None)[:2] == ("none", "no CI checks reported")
    assert (
        ci_from_checks([{"name": "x", "bucket": "pass"}, {"name": "y", "bucket": "cancel"}])[0]
        == "red"
    )
    assert ci_from_checks([{"name": "x", "bucket": "pass"}])[:2] == ("green", "1 check passed")


def test_split_patch_cuts_per_file() -> None:
    patch = (
        "diff --git a/src/a.py b/src/a.py\n"
        "index 1..2 100644\n--- a/src/a.py\n+++ b/src/a.py\n"
        "@@ -1,2 +1,2 @@\n-old\n+new\n+more\n context\n"
        "diff --git a/old name.txt b/new name.txt\n"
        "similarity index 90%\nrename from old name.txt\nrename to new name.txt\n"
        "diff --git a/logo.png b/logo.png\nnew file mode 100644\n"
        "Binary files /dev/null and b/logo.png differ\n"
        'diff --git "a/tab\\there.py" "b/tab\\there.py"\n'
        "deleted file mode 100644\n"
        '--- "a/tab\\there.py"\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n'
        "diff --git a/--- b/---\n--- a/---\n+++ b/---\n@@ -1 +1 @@\n---x\n+++x\n"
    )
    files = split_patch(patch)
    assert [(f.path, f.status, f.additions, f.deletions, f.binary) for f in files] == [
        ("src/a.py", "M", 2, 1, False),
        ("new name.txt", "R", 0, 0, False),
        ("logo.png", "A", 0, 0, True),
        ("tab\there.py", "D", 0, 1, False),
        ("---", "M", 1, 1, False),
    ]
    assert files[1].old_path == "old name.txt"
    assert files[0].text.startswith("diff --git a/src/a.py") and files[0].text.endswith(
        " context\n"
    )


def _pr(**kw: Any) -> PullRequest:
    base: dict[str, Any] = {
        "source": "github",
        "number": 1,
        "branch": "feat/a",
        "title": "feat: a",
        "state": "open",
        "files": (ChangedFile("src/a.py", 10, 0),),
        "additions": 10,
        "created_at": NOW - timedelta(hours=1),
    }
    base.update(kw)
    return PullRequest(**base)


def test_build_queue_sorts_and_dedups() -> None:
    prs = [
        _pr(number=1, created_at=NOW - timedelta(hours=1), title="feat: \x1b[31mred[/]"),
        _pr(number=2, branch="feat/b", created_at=NOW - timedelta(hours=3)),
        _pr(number=3, branch="feat/c", draft=True),
        _pr(number=4, branch="feat/d", changes_requested=True),
        _pr(source="local", number=None, branch="feat/a"),  # the same branch as #1
        _pr(number=5, branch="t/1", state="merged", files=(ChangedFile("tests/t.py", 1, 0),),
            merged_at=NOW - timedelta(hours=2)),
        _pr(number=6, branch="t/2", state="merged", files=(ChangedFile("tests/u.py", 1, 0),),
            merged_at=NOW - timedelta(hours=1)),
        _pr(number=7, branch="d/1", state="merged", files=(ChangedFile("docs/a.md", 1, 0),),
            merged_at=NOW - timedelta(hours=5)),
        _pr(number=8, branch="d/2", state="merged", files=(ChangedFile("docs/b.md", 1, 0),),
            merged_at=NOW - timedelta(hours=4)),
        _pr(number=9, branch="t/old", state="merged", files=(ChangedFile("tests/v.py", 1, 0),),
            merged_at=NOW - timedelta(days=30)),
    ]  # fmt: skip
    queue = build_queue(prs, now=NOW, review=ReviewState(reviewed=frozenset({"github:#6"})))
    assert [v.key for v in queue.ask] == ["#2", "#1"]
    assert queue.ask_waiting == 2
    assert [v.key for v in queue.in_flight] == ["#3", "#4"]
    assert [v.key for v in queue.show] == ["#5"]  # #6 reviewed, #9 past the horizon
    assert [v.key for v in queue.ship] == ["#8", "#7"]
    assert all(v.pr.source == "github" for v in queue.views)
    items = queue.attention()
    assert [i.target for i in items] == ["#2", "#1"]
    assert "\x1b" not in items[1].title and "\\x1b[31mred[/]" in items[1].title
    assert queue.find("2") is queue.ask[0] and queue.find("#2") is queue.ask[0]
    assert queue.find("feat/c") is queue.in_flight[0] and queue.find("nope") is None


def test_a_pr_merged_between_the_open_and_merged_listings_is_listed_once_merged() -> None:
    merged = _pr(number=1, state="merged", merged_at=NOW - timedelta(minutes=1))
    for prs in ([_pr(number=1), merged], [merged, _pr(number=1)]):
        queue = build_queue(prs, now=NOW)
        assert [(v.key, v.pr.state) for v in queue.views] == [("#1", "merged")]
        assert queue.ask == () and queue.in_flight == ()


@dataclass(frozen=True)
class Sess:
    """A session as linking reads it (the fold's SessionRec and the fleet's SessionView fit)."""

    task: str
    branch: str | None
    instance: str | None = "t1"
    pr: str | None = None
    started_at: str = "2026-02-16T14:00"
    last_step: str | None = None
    last_step_state: str | None = None
    last_step_at: str | None = None
    last_error: str | None = None


def _local(branch: str, **kw: Any) -> PullRequest:
    return _pr(source="local", number=None, branch=branch, ci="none", **kw)


def test_a_branch_whose_session_logged_merged_is_merged_once_with_its_ci() -> None:
    """No squash commit on main (merged on GitHub, gh absent): the log is the evidence. The PR
    leaves Ask / in flight, is listed once among the merged, and its CI stays green."""
    merged_at = "2026-02-16T15:30"
    sessions = [
        Sess("CAB-1-a", "feat/a", pr="401", last_step="merged", last_step_state="done",
             last_step_at=merged_at),
        Sess("CAB-2-b", "feat/b", pr="402", last_step="cleanup", last_step_state="done",
             last_step_at=merged_at, last_error="ci-failed"),
        Sess("CAB-3-c", "feat/c", pr="403", last_step="merged", last_step_state="start",
             last_step_at=merged_at),
    ]  # fmt: skip
    prs = [_local("feat/a"), _local("feat/b"), _local("feat/c")]
    queue = build_queue(prs, now=NOW, sessions=sessions)
    open_keys = [v.key for v in (*queue.ask, *queue.in_flight)]
    assert open_keys == ["feat/c"]  # STEP-START merged (waiting for review) is still open
    merged = {v.key: v for v in queue.merged}
    assert set(merged) == {"#401", "#402"}
    for view in merged.values():
        assert view.pr.state == "merged" and view.ci == "green", view.ci_detail
        assert view.pr.merged_at == parse_ts(merged_at)
    assert [v.key for v in queue.views].count("#401") == 1
    assert queue.find("401") is merged["#401"] and queue.find("feat/a") is merged["#401"]


def test_a_squash_merged_pr_is_listed_once_and_keeps_its_green_ci() -> None:
    """The branch and its squash commit on main (``... (#401)``) are one PR: merged, CI green
    as the log told it before the merge (not ``none``)."""
    sessions = [Sess("CAB-1-a", "feat/a", pr="401", last_step="cleanup", last_step_state="done",
                     last_step_at="2026-02-16T15:35")]  # fmt: skip
    squash = _pr(source="local", number=401, branch=None, state="merged", merge_sha="a" * 40,
                 merged_at=NOW - timedelta(minutes=12), ci="none")  # fmt: skip
    queue = build_queue([_local("feat/a"), squash], now=NOW, sessions=sessions)
    assert [v.key for v in queue.views] == ["#401"]
    [view] = queue.views
    assert view.pr.merge_sha == "a" * 40 and view.queue != "ask"
    assert view.ci == "green" and "past the ci step" in view.ci_detail


def test_ci_that_passed_after_a_failure_is_green() -> None:
    """ERROR ci-failed, then a re-run and STEP-DONE step=ci: the last word is green."""
    sessions = [Sess("CAB-1-a", "feat/a", last_step="ci", last_step_state="done",
                     last_error="ci-failed")]  # fmt: skip
    [view] = build_queue([_local("feat/a")], now=NOW, sessions=sessions).views
    assert (view.ci, view.ci_detail) == ("green", "the log: STEP-DONE step=ci")
    failing = [Sess("CAB-1-a", "feat/a", last_step="ci", last_step_state="start",
                    last_error="ci-failed")]  # fmt: skip
    [view] = build_queue([_local("feat/a")], now=NOW, sessions=failing).views
    assert view.ci == "red"


def test_candidate_branches_from_claims_sessions_worktrees() -> None:
    unit = ClaimUnit("CAB-1", None, "", (), "t1", 1, None, None, "fix/a", None, (), None)
    got = candidate_branches(["feat/b", "fix/a", None], [unit], ["main", "wt/c", "feat/b"])
    assert got == ["fix/a", "feat/b", "wt/c"]


def test_link_inputs_change_with_everything_linking_reads() -> None:
    """The cockpit reloads its queue on a factory change only if these differ: each field of
    a session that linking reads changes them, and so does each field of a claim unit that
    linking reads; a unit's other fields (its title, pid, times) do not, and link alike."""
    read = {name for name, value in vars(SessionLike).items() if isinstance(value, property)}
    assert read == set(Sess.__dataclass_fields__)
    sess = Sess("CAB-1-a", "feat/a", pr="7", last_step="ci", last_step_state="done",
                last_step_at=NOW_S, last_error="x")  # fmt: skip
    unit = ClaimUnit("CAB-1", 2, "title", ("CAB-1",), "t1", 1, NOW_S, "h", "feat/a", None, (), None)
    base = link_inputs([sess], [unit])
    for name in sorted(read):
        assert link_inputs([replace(sess, **{name: "other"})], [unit]) != base, name
    for name, value in [("claim_id", "CAB-2"), ("phase", 3), ("branch", "feat/b"),
                        ("owner", "t2"), ("tickets", ("CAB-9",))]:  # fmt: skip
        assert link_inputs([sess], [replace(unit, **{name: value})]) != base, name
    other = replace(unit, name="new title", pid=2, claimed_at=None, hostname="g", mode="ask",
                    deps=(1,), completed_at=NOW_S)  # fmt: skip
    assert link_inputs([sess], [other]) == base
    prs = [_local("feat/a"), _pr(number=7, branch="feat/x")]
    assert (build_queue(prs, now=NOW, sessions=[sess], units=[other])
            == build_queue(prs, now=NOW, sessions=[sess], units=[unit]))  # fmt: skip


# -- GitHub through the fake gh ------------------------------------------------------------------


def test_github_queue_as_json(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    github_factory(fake_gh)
    assert run("prs", str(demo.root), "--json", "--now", NOW_S) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {row["number"]: row for row in rows}
    helm = by[373]
    assert helm["source"] == "github" and helm["state"] == "open" and helm["queue"] == "ask"
    assert helm["mode"] == "ask"
    assert helm["mode_reason"] == "touches deploy/helm/ → infra (Helm) → Ask"
    assert (helm["changed_lines"], helm["size"], helm["ci"]) == (6, "ideal", "green")
    remote = next(i for i, role in demo.instances.items() if role == "remote")
    assert (helm["task"], helm["instance"], helm["claim"]) == (
        "CAB-1340-helm-limits",
        remote,
        "CAB-1340",
    )
    assert [r["number"] for r in rows if r["queue"] == "ask"] == [380, 373]  # oldest first
    assert (
        by[380]["size"] == "acceptable"
        and by[380]["mode_reason"] == "title 'feat:' → feature → Ask"
    )
    assert (by[372]["queue"], by[372]["ci"]) == ("in-flight", "red")
    assert by[381]["mode"] == "ship" and by[381]["mode_reason"] == "label 'mode:ship' → Ship"
    assert (by[370]["queue"], by[369]["queue"]) == ("show", "ship")
    assert fake_gh.calls()[0] == [
        "pr", "list", "--state", "open", "--limit", "100", "--json", GH_LIST_FIELDS
    ]  # fmt: skip


def test_text_output(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    github_factory(fake_gh)
    assert run("prs", str(demo.root), "--now", NOW_S) == 0
    out = capsys.readouterr().out
    assert out.startswith("Ask — waiting for you (2)\n  #380")
    assert "touches deploy/helm/ → infra (Helm) → Ask" in out


def test_gh_missing_says_what_to_run_and_local_still_works(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shutil.which("gh") is None
    assert run("prs", str(demo.root), "--json", "--now", NOW_S) == 0
    captured = capsys.readouterr()
    assert "gh is not installed" in captured.err and "gh auth login" in captured.err
    rows = json.loads(captured.out)
    assert {r["source"] for r in rows} == {"local"}
    assert HELM in {r["branch"] for r in rows}


def test_gh_not_logged_in_says_gh_auth_login(
    demo: DemoFactory, fake_gh: FakeGh, full_git: None, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gh.fail(
        {
            "argv": [],
            "exit": 4,
            "stderr": "To get started with GitHub CLI, please run:  gh auth login",
        }
    )
    assert run("prs", str(demo.root), "--json", "--now", NOW_S) == 0
    captured = capsys.readouterr()
    assert "gh is not logged in to GitHub: run `gh auth login`" in captured.err
    assert {r["source"] for r in json.loads(captured.out)} == {"local"}


def test_no_github_remote_says_so(demo: DemoFactory, fake_gh: FakeGh) -> None:
    fake_gh.fail(
        {"argv": [], "stderr": "none of the git remotes configured for this repository point "
         "to a known GitHub host. To tell gh about a new GitHub host, please use `gh auth login`"}
    )  # fmt: skip
    with pytest.raises(GhError) as info:
        Gh(demo.root).list_prs()
    assert info.value.kind == "no-repo" and "gh repo set-default" in str(info.value)


def test_gh_timeout_is_a_clear_error(demo: DemoFactory, fake_gh: FakeGh) -> None:
    fake_gh.fail({"argv": ["pr", "list"], "sleep": 10})
    with pytest.raises(GhError, match=r"gh pr list --state did not answer within 0.3 s") as info:
        Gh(demo.root, timeout=0.3).list_prs()
    assert info.value.kind == "timeout"


def test_approve_github_per_protocol(
    demo: DemoFactory, fake_gh: FakeGh, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_factory(fake_gh)
    before = checkpoints(demo)
    seen: dict[str, Any] = {}
    original = Gh.merge

    def spy(self: Gh, number: int, head_sha: str | None = None) -> str:
        new = checkpoints(demo) - before
        seen["checkpoint"] = json.loads((demo.memory_dir / "checkpoints" / new.pop()).read_text())
        seen["log"] = log_lines(demo)[-1]
        return original(self, number, head_sha)

    monkeypatch.setattr(Gh, "merge", spy)
    assert run("approve", "373", str(demo.root), "--yes", "--now", NOW_S) == 0
    head = hashlib.sha1(b"head 373").hexdigest()
    assert [
        "pr", "merge", "373", "--squash", "--delete-branch", "--match-head-commit", head
    ] in fake_gh.calls()  # fmt: skip
    checkpoint = seen["checkpoint"]
    assert checkpoint["task"] == "CAB-1340-helm-limits" and checkpoint["pr_number"] == 373
    assert checkpoint["branch"] == HELM and checkpoint["steps_remaining"][0] == "merged"
    name = "2026-02-16T15-42-00-CAB-1340-helm-limits.json"
    assert seen["log"] == f"{NOW_S} | CHECKPOINT | task=CAB-1340-helm-limits file={name}"
    sha = hashlib.sha1(b"merge 373").hexdigest()[:7]
    assert log_lines(demo)[-1].startswith(
        f"{NOW_S} | STEP-DONE | step=merged task=CAB-1340-helm-limits pr=373 sha={sha} "
        f"branch={HELM} mode=ask by="
    )
    assert checkpoints(demo) == before
    metrics = (demo.memory_dir / "metrics.log").read_text().splitlines()[-1]
    assert metrics.startswith(f"{NOW_S} | PR-MERGED | task=CAB-1340-helm-limits pr=373 mode=ask")


def test_red_ci_is_refused_unless_overridden(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    github_factory(fake_gh)
    lines = len(log_lines(demo))
    assert run("approve", "#372", str(demo.root), "--yes", "--now", NOW_S) == 1
    assert "CI is red for #372 (1 of 1 checks failing: test)" in capsys.readouterr().err
    assert not [c for c in fake_gh.calls() if c[:2] == ["pr", "merge"]]
    assert len(log_lines(demo)) == lines
    assert run("approve", "#372", str(demo.root), "--yes", "--override-ci", "--now", NOW_S) == 0
    assert "ci=red-overridden" in log_lines(demo)[-1]


def test_fresh_checks_decide_over_the_listing(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    fake_gh.write("pr-373-checks.json", [{"name": "e2e", "bucket": "pending"}])
    result = approve_pr(config_of(demo), "373", now=NOW)
    assert result.outcome is Outcome.REFUSED and "still running" in result.message


def test_gh_merge_failure_leaves_nothing_half_done(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    github_factory(fake_gh)
    fake_gh.fail({"argv": ["pr", "merge"], "stderr": "GraphQL: Base branch was modified"})
    before = checkpoints(demo)
    assert run("approve", "373", str(demo.root), "--yes", "--now", NOW_S) == 2
    err = capsys.readouterr().err
    assert "#373 was not merged: gh pr merge 373 failed: GraphQL: Base branch was modified" in err
    tail = log_lines(demo)[-2:]
    assert tail[0].startswith(f"{NOW_S} | CHECKPOINT | task=CAB-1340-helm-limits")
    assert tail[1].startswith(
        f"{NOW_S} | ERROR | task=CAB-1340-helm-limits error=merge-failed step=merged pr=373"
    )
    assert checkpoints(demo) == before
    assert fake_gh.read(373)["state"] == "OPEN"


def test_merge_done_but_branch_delete_failed_is_a_merge(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    fake_gh.fail(
        {"argv": ["pr", "merge"], "then": "merge",
         "stderr": "failed to delete local branch: used by worktree"}
    )  # fmt: skip
    result = approve_pr(config_of(demo), "373", now=NOW, by="dana@test")
    assert result.ok and "gh said" in result.message
    assert "step=merged" in log_lines(demo)[-1]


def test_conflicting_and_draft_prs_are_refused(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    pr = fake_gh.read(373)
    fake_gh.write("pr-373.json", {**pr, "mergeable": "CONFLICTING"})
    result = approve_pr(config_of(demo), "373", now=NOW)
    assert result.outcome is Outcome.REFUSED and "conflicts with main" in result.message
    fake_gh.write("pr-373.json", {**pr, "isDraft": True})
    result = approve_pr(config_of(demo), "373", now=NOW)
    assert result.outcome is Outcome.REFUSED and "draft" in result.message
    assert not [c for c in fake_gh.calls() if c[:2] == ["pr", "merge"]]


def test_plan_states_exactly_what_will_run(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    plan = plan_approve(config_of(demo), "373", now=NOW, by="dana@test")
    assert isinstance(plan, ApprovePlan), plan
    text = "\n".join(plan.describe())
    head = hashlib.sha1(b"head 373").hexdigest()
    assert f"runs: gh pr merge 373 --squash --delete-branch --match-head-commit {head}" in text
    assert "2. logs <now> | CHECKPOINT | task=CAB-1340-helm-limits file=" in text
    assert "4. logs <now> | STEP-DONE | step=merged task=CAB-1340-helm-limits pr=373" in text


def test_a_head_that_moved_after_confirmation_is_refused(
    demo: DemoFactory, fake_gh: FakeGh
) -> None:
    github_factory(fake_gh)
    plan = plan_approve(config_of(demo), "373", now=NOW)
    assert isinstance(plan, ApprovePlan)
    fake_gh.write("pr-373.json", {**fake_gh.read(373), "headRefOid": "f" * 40})
    result = approve_pr(config_of(demo), "373", now=NOW, confirmed=plan)
    assert result.outcome is Outcome.REFUSED and "changed since you confirmed" in result.message


def test_request_changes_on_github_passes_the_text_as_one_argument(
    demo: DemoFactory, fake_gh: FakeGh
) -> None:
    github_factory(fake_gh)
    body = "$(touch pwned) `touch pwned2`; rm -rf ~ \n second line"
    assert run("request-changes", "373", str(demo.root), "--body", body, "--now", NOW_S) == 0
    assert fake_gh.calls()[-1] == ["pr", "review", "373", "--request-changes", "--body", body]
    line = log_lines(demo)[-1]
    assert line.startswith(
        f"{NOW_S} | REVIEW | task=CAB-1340-helm-limits pr=373 branch={HELM} "
        "action=request-changes by="
    )
    assert 'detail="$(touch pwned) `touch pwned2`; rm -rf ~"' in line
    assert_harmless(demo)
    # The agent's turn now: out of the Ask queue.
    queue = load_queue(config_of(demo), now=NOW)
    assert [v.key for v in queue.ask] == ["#380"]


def test_a_hostile_github_branch_name_stays_a_name(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_gh.publish(gh_pr(390, "x; rm -rf ~", "feat: [link=x]evil\x1b[2J", {"src/evil.py": (3, 0)}))
    assert run("prs", str(demo.root), "--json", "--now", NOW_S) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["branch"] == "x; rm -rf ~" and row["title"] == "feat: [link=x]evil\x1b[2J"
    assert run("approve", "390", str(demo.root), "--yes", "--now", NOW_S) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert 'task="x; rm -rf ~"' in log_lines(demo)[-1]
    assert log_lines(demo)[-2].endswith("file=2026-02-16T15-42-00-x-rm--rf.json")
    assert_harmless(demo)


def test_read_only_refuses_without_asking_gh(
    demo: DemoFactory, fake_gh: FakeGh, capsys: pytest.CaptureFixture[str]
) -> None:
    github_factory(fake_gh)
    assert run("approve", "373", str(demo.root), "--yes", "--read-only") == 1
    assert run("request-changes", "373", str(demo.root), "--body", "x", "--read-only") == 1
    assert "read-only mode" in capsys.readouterr().err
    assert fake_gh.calls() == []
    config = config_of(demo, read_only="true")
    assert approve_pr(config, "373", now=NOW).outcome is Outcome.REFUSED


def test_not_confirmed_merges_nothing(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    assert run("approve", "373", str(demo.root), "--now", NOW_S) == 1  # stdin is not a terminal
    assert not [c for c in fake_gh.calls() if c[:2] == ["pr", "merge"]]


def test_github_diff_for_the_viewer(demo: DemoFactory, fake_gh: FakeGh) -> None:
    github_factory(fake_gh)
    fake_gh.write(
        "pr-373.diff",
        "diff --git a/deploy/helm/values.yaml b/deploy/helm/values.yaml\n--- a/deploy/helm/values.yaml\n"
        "+++ b/deploy/helm/values.yaml\n@@ -1 +1,2 @@\n-a\n+b\n+c\n",
    )
    view = load_queue(config_of(demo), now=NOW).find("373")
    assert view is not None
    files = pr_diff(config_of(demo), view)
    assert [(f.path, f.additions, f.deletions) for f in files] == [
        ("deploy/helm/values.yaml", 2, 1)
    ]
    assert ["pr", "diff", "373", "--color", "never"] in fake_gh.calls()


# -- local git ---------------------------------------------------------------------------------


def test_local_queue_from_the_demo(demo: DemoFactory) -> None:
    config = config_of(demo)
    queue = load_queue(config, now=NOW, source="local")
    assert queue.sources == ("local",)
    opened = {v.key for v in (*queue.ask, *queue.in_flight)}
    assert opened == {HELM, TRACE, SPANS, WEBHOOK, TOS}  # feat/CAB-1350 is squash-merged
    assert [v.key for v in queue.ask] == [TRACE, SPANS, HELM]
    helm = queue.find(HELM)
    assert helm is not None and helm.number == 373 and queue.find("373") is helm
    remote = next(i for i, role in demo.instances.items() if role == "remote")
    assert (helm.link.task, helm.link.instance, helm.link.claim) == (
        "CAB-1340-helm-limits",
        remote,
        "CAB-1340",
    )
    assert helm.ci == "green"  # the log: the agent is past its ci step
    webhook = queue.find(WEBHOOK)
    assert webhook is not None and webhook.ci == "red" and webhook.mode.mode == "show"
    trace = queue.find(TRACE)
    assert trace is not None and trace.link.claim == "CAB-1290:2" and trace.pr.worktree_dirty
    merged = queue.find("370")
    assert merged is not None and merged.pr.state == "merged"
    assert (
        merged.branch == "feat/CAB-1350-gateway-api" and merged.link.task == "CAB-1350-gateway-api"
    )
    reader = FactoryReader(config)
    reader.refresh_all()
    assert ask_waiting(config, reader.fleet(NOW)) == 3


def test_approve_local_squash_merges_into_main(demo: DemoFactory) -> None:
    root = demo.root
    main_before = git(root, "rev-parse", "main")
    branch_before = git(root, "rev-parse", HELM)
    branch_file = git(root, "show", f"{HELM}:deploy/helm/values.yaml")
    before = checkpoints(demo)
    assert run("approve", "373", str(root), "--yes", "--source", "local", "--now", NOW_S) == 0
    main_after = git(root, "rev-parse", "main")
    assert git(root, "rev-parse", "main^") == main_before
    assert git(root, "rev-parse", HELM) == branch_before
    assert (root / "deploy/helm/values.yaml").read_text().rstrip("\n") == branch_file
    assert git(root, "status", "--porcelain") == ""
    message = git(root, "log", "-1", "--format=%B", "main")
    assert message.startswith("chore: helm chart: gateway resource limits (CAB-1340) (#373)")
    assert f"Factory-Branch: {HELM}" in message and f"Factory-Head: {branch_before}" in message
    assert git(root, "log", "-1", "--format=%an|%cn", "main").startswith("Claude (")
    tail = log_lines(demo)[-2:]
    assert tail[0] == (
        f"{NOW_S} | CHECKPOINT | task=CAB-1340-helm-limits "
        "file=2026-02-16T15-42-00-CAB-1340-helm-limits.json"
    )
    assert tail[1].startswith(
        f"{NOW_S} | STEP-DONE | step=merged task=CAB-1340-helm-limits pr=373 "
        f"sha={main_after[:7]} branch={HELM} mode=ask by="
    )
    assert checkpoints(demo) == before
    queue = load_queue(config_of(demo), now=NOW, source="local")
    assert queue.find(HELM) is None or queue.find(HELM).pr.state == "merged"  # type: ignore[union-attr]
    assert [v.key for v in queue.ask] == [TRACE, SPANS]
    merged = queue.find("373")
    assert merged is not None and merged.pr.state == "merged" and merged.pr.merge_sha == main_after


def test_a_dirty_main_is_refused(demo: DemoFactory, capsys: pytest.CaptureFixture[str]) -> None:
    (demo.root / "README.md").write_text("local edit\n")
    main_before = git(demo.root, "rev-parse", "main")
    lines, before = len(log_lines(demo)), checkpoints(demo)
    assert run("approve", HELM, str(demo.root), "--yes", "--source", "local", "--now", NOW_S) == 1
    err = capsys.readouterr().err
    assert "(main's worktree) has uncommitted changes ( M README.md)" in err
    assert "nothing was merged" in err
    assert git(demo.root, "rev-parse", "main") == main_before
    assert (len(log_lines(demo)), checkpoints(demo)) == (lines, before)
    assert (demo.root / "README.md").read_text() == "local edit\n"


def test_a_conflict_is_refused_and_touches_nothing(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = demo.root
    (root / "deploy/helm/values.yaml").write_text("replicaCount: 9\n")
    git(root, "commit", "-qam", "ops: scale up")
    main_before, branch_before = git(root, "rev-parse", "main"), git(root, "rev-parse", HELM)
    lines, before = len(log_lines(demo)), checkpoints(demo)
    assert run("approve", HELM, str(root), "--yes", "--source", "local", "--now", NOW_S) == 1
    err = capsys.readouterr().err
    assert f"branch {HELM} conflicts with main in deploy/helm/values.yaml" in err
    assert "the branch is untouched" in err
    assert git(root, "rev-parse", "main") == main_before
    assert git(root, "rev-parse", HELM) == branch_before
    assert git(root, "status", "--porcelain") == ""
    assert (len(log_lines(demo)), checkpoints(demo)) == (lines, before)


def test_the_checkpoint_names_the_claimed_phase(demo: DemoFactory) -> None:
    config = config_of(demo)
    plan = plan_approve(config, TRACE, now=NOW, queue=load_queue(config, now=NOW, source="local"))
    assert isinstance(plan, ApprovePlan), plan
    data = _checkpoint_data(plan, NOW, config.claims_dir, config.root)
    assert data["claimed_phase"] == {
        "mega_id": "CAB-1290", "phase_id": 2, "claim_file": ".claude/claims/CAB-1290.json"
    }  # fmt: skip
    assert (data["task"], data["branch"], data["pr_number"]) == (
        "CAB-1352-traceparent",
        TRACE,
        None,
    )
    assert data["steps_completed"][-1] == "ci" and data["steps_remaining"][0] == "merged"
    text = "\n".join(plan.describe())
    assert f"git -C {demo.root} merge --ff-only <commit>  (main's worktree is clean)" in text
    assert "has uncommitted changes (2): they are not part of this merge" in text


def test_local_red_ci_needs_the_override(demo: DemoFactory) -> None:
    config = config_of(demo)
    refused = approve_pr(config, "372", now=NOW, queue=load_queue(config, now=NOW, source="local"))
    assert refused.outcome is Outcome.REFUSED
    assert "CI is red" in refused.message and "ci-failed" in refused.message
    done = approve_pr(
        config, "372", now=NOW, override_ci=True, queue=load_queue(config, now=NOW, source="local")
    )
    assert done.ok, done.message
    assert "ci=red-overridden" in log_lines(demo)[-1]


def test_request_changes_on_a_local_pr_leaves_a_note(demo: DemoFactory) -> None:
    config = config_of(demo)
    before = load_queue(config, now=NOW, source="local")
    first = request_changes(
        config, TRACE, "Add a test for the header.", now=NOW, by="dana@test", queue=before
    )
    assert first.ok, first.message
    worktree = next(
        Path(line.split(" ", 1)[1])
        for line in git(demo.root, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
        and (Path(line.split(" ", 1)[1]) / "src").exists()
        and git(Path(line.split(" ", 1)[1]), "branch", "--show-current") == TRACE
    )
    # Beside the claims folder, never in the agent's worktree (Recover would count it as the
    # agent's uncommitted work)
    note = config.claims_dir.parent / "reviews" / "review-feat-CAB-1352-traceparent.md"
    assert "Add a test for the header." in note.read_text()
    assert not (worktree / ".claude" / "review-feat-CAB-1352-traceparent.md").exists()
    status = git(worktree, "status", "--porcelain", "--untracked-files=all")
    assert "review" not in status  # the agent's own uncommitted files only
    view = before.find(TRACE)
    assert view is not None and review_note_for(config, view) == note  # what the cockpit shows
    nowhere = replace(view, pr=replace(view.pr, worktree=None))
    assert review_note_for(config, nowhere) == note
    line = log_lines(demo)[-1]
    assert line.startswith(
        f"{NOW_S} | REVIEW | task=CAB-1352-traceparent branch={TRACE} action=request-changes "
        f"file={note} by=dana@test"
    )
    second = request_changes(
        config, TRACE, "And update memory.md.", now=NOW, by="dana@test", queue=before
    )
    assert second.ok
    text = note.read_text()
    assert text.count("## 2026-02-16T15:42 — dana@test") == 2 and "Add a test" in text
    queue = load_queue(config, now=NOW, source="local")
    view = queue.find(TRACE)
    assert view is not None and view.pr.changes_requested and view.queue == "in-flight"
    assert request_changes(config, TRACE, "  ", now=NOW, queue=queue).outcome is Outcome.REFUSED


def test_a_hostile_local_branch_name_stays_a_name(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    root = demo.root
    tree = root / ".worktrees" / "evil"
    git(root, "worktree", "add", "-q", "-b", EVIL, str(tree), "main")
    (tree / "tests").mkdir(exist_ok=True)
    (tree / "tests" / "test_evil.py").write_text("def test_evil() -> None:\n    assert True\n")
    git(tree, "add", "tests/test_evil.py")
    git(tree, "-c", "user.name=Agent", "-c", "user.email=a@x", "commit", "-qm", "test: evil")
    claim = {"ticket": "EVIL-1", "title": "$(touch pwned)", "owner": "t1-0000", "pid": None,
             "hostname": None, "claimed_at": NOW_S, "branch": EVIL, "completed_at": None}  # fmt: skip
    (demo.claims_dir / "EVIL-1.json").write_text(json.dumps(claim))
    bad = {**claim, "ticket": "EVIL-2", "branch": "x; rm -rf ~"}
    (demo.claims_dir / "EVIL-2.json").write_text(json.dumps(bad))
    with (demo.memory_dir / "operations.log").open("a") as log:
        log.write(f'{NOW_S} | SESSION-START | task=EVIL-1 branch="{EVIL}" instance=t1-0000\n')
    assert run("prs", str(root), "--json", "--source", "local", "--now", NOW_S) == 0
    rows = {r["branch"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[EVIL]["task"] == "EVIL-1" and rows[EVIL]["mode"] == "show"
    assert "x; rm -rf ~" not in rows  # not a git branch at all: nothing to show, nothing run
    assert run("request-changes", EVIL, str(root), "--body", "no", "--source", "local") == 0
    assert (demo.claims_dir.parent / "reviews" / "review-x-touch-IFS-pwned.md").exists()
    assert run("approve", EVIL, str(root), "--yes", "--source", "local", "--now", NOW_S) == 0
    assert git(root, "show", "main:tests/test_evil.py").startswith("def test_evil")
    assert f"branch={EVIL}" in log_lines(demo)[-1]
    assert_harmless(demo)


def test_local_diff_for_the_viewer(demo: DemoFactory) -> None:
    config = config_of(demo)
    queue = load_queue(config, now=NOW, source="local")
    view = queue.find(SPANS)
    assert view is not None
    files = pr_diff(config, view)
    assert [f.path for f in files] == ["src/tinygate/span_exporter.py"]
    assert files[0].additions == view.pr.additions and files[0].text.startswith("diff --git ")
    merged = queue.find("370")
    assert merged is not None
    assert {f.path for f in pr_diff(config, merged)} == {
        "src/tinygate/api.py",
        "src/tinygate/gateway.py",
    }


def test_mark_a_show_pr_reviewed(demo: DemoFactory, tmp_path: Path) -> None:
    root = demo.root
    (root / "tests" / "test_retry.py").write_text("def test_retry() -> None:\n    pass\n")
    git(root, "add", "tests/test_retry.py")
    git(root, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qm", "test: retries (#399)")
    config = config_of(demo)
    now = datetime.now().replace(microsecond=0)
    queue = load_queue(config, now=now, source="local")
    assert [v.key for v in queue.show] == ["#399"] and queue.show[0].new_since_look
    read_only = mark_reviewed(config_of(demo, read_only="true"), "#399", now=now, queue=queue)
    assert read_only.outcome is Outcome.REFUSED
    assert mark_reviewed(config, "#399", now=now, queue=queue).ok
    state = json.loads((tmp_path / "state" / REVIEWS_FILE).read_text())
    assert "local:#399" in state["repos"][str(root)]["reviewed"]
    again = load_queue(config, now=now, source="local")
    assert again.show == () and again.find("399").reviewed  # type: ignore[union-attr]
    record_look(config, now + timedelta(seconds=1))
    assert not any(v.new_since_look for v in load_queue(config, now=now, source="local").merged)
    refused = mark_reviewed(config, TRACE, now=now, queue=again)
    assert refused.outcome is Outcome.REFUSED and "not merged" in refused.message


# -- adapters: git ---------------------------------------------------------------------------------


def test_a_worktree_rename_is_one_status_entry(tmp_path: Path) -> None:
    """``git status -z`` puts a rename's source path after it as its own field, also for a
    rename in the worktree column (an intent-to-add file): it is not an entry of its own (the
    local PR queue's old parser took ``a.txt`` below for a second changed file)."""
    from factory_tui.adapters.git import GitRepo

    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("hello, a file long enough to be seen renamed\n")
    (tmp_path / "c.txt").write_text("c\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    (tmp_path / "c.txt").write_text("changed\n")
    git(tmp_path, "add", "-N", "b.txt")
    repo = GitRepo(tmp_path)
    assert repo.status(tmp_path, untracked="no") == (" R b.txt", " M c.txt")
    assert repo.uncommitted(tmp_path) == ("b.txt", "c.txt")


def test_a_fresh_repo_queue_says_where_it_looked_for_agent_branches(tmp_path: Path) -> None:
    """No claims folder, no operations.log: the PR view's notices name them and how to point
    elsewhere, instead of a bare "No PRs"."""
    root = tmp_path / "fresh"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    config = load_config(
        root, flags={}, env={"CLAUDE_CONFIG_DIR": str(tmp_path / "none")},
        user_config=tmp_path / "none.toml",
    )  # fmt: skip
    queue = load_queue(config, now=NOW, source="local")
    notices = "\n".join(queue.notices)
    assert f"no claims folder at {config.claims_dir}" in notices
    assert f"no operations.log at {config.log_file}" in notices
    assert "factory-tui doctor" in notices


def test_a_gh_time_that_is_not_a_time_is_a_notice_of_the_queue(
    demo: DemoFactory, fake_gh: FakeGh
) -> None:
    """gh answering a createdAt at the edge of datetime: the PR stays in the queue, its age
    unknown, and the queue's notices say so (issue 16: a problem, not a traceback)."""
    fake_gh.publish(
        gh_pr(391, "feat/CAB-1362-x", "feat: x", {"src/x.py": (3, 0)},
              created="0001-01-01T00:00:00+14:00"),
    )  # fmt: skip
    queue = load_queue(config_of(demo), now=NOW)
    assert "#391" in [v.key for v in queue.views]
    assert any("PR #391: gh's createdAt" in notice for notice in queue.notices), queue.notices
