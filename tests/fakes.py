"""The outside world the tests fake, shared by every test file: the gh on PATH (none, or the fake
of ``tests/fake_gh``), the fakes of ``tests/fake_bin`` (gh, tmux, agent), a git without the user's
config, and copies of a generated demo factory whose worktrees point at the copy.

The fixtures that use these are in ``conftest.py``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from factory_tui.demo import DemoFactory

TESTS = Path(__file__).parent
FAKE_GH = TESTS / "fake_gh" / "gh"
"""The fake gh that answers from a folder of JSON fixtures (``FAKE_GH_DIR``)."""
FAKE_BIN = TESTS / "fake_bin"
"""The fake gh (one fixture file, ``FAKE_GH_FIXTURE``), tmux and agent of the recovery tests."""

# The demo factory's agent branches.
HELM = "chore/CAB-1340-helm-limits"
TRACE = "feat/CAB-1352-traceparent"
SPANS = "feat/CAB-1353-span-exporter"
WEBHOOK = "fix/CAB-1302-webhook-retry-flake"
TOS = "fix/CAB-1321-tos-link"


# -- gh --------------------------------------------------------------------------------------------


def path_without_gh(path: str) -> str:
    """``path`` (a PATH value) without the folders that hold a ``gh``: a real gh would reach
    GitHub."""
    return os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "gh").exists())


def hide_real_gh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No gh on PATH."""
    monkeypatch.setenv("PATH", path_without_gh(os.environ.get("PATH", "")))


@dataclass
class FakeGh:
    """The fake gh's fixtures folder and the log of its calls."""

    folder: Path
    log: Path

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def write(self, name: str, data: Any) -> None:
        (self.folder / name).write_text(json.dumps(data) if not isinstance(data, str) else data)

    def read(self, number: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / f"pr-{number}.json").read_text())
        return data

    def fail(self, *rules: dict[str, Any]) -> None:
        self.write("fail.json", list(rules))

    def publish(self, *prs: dict[str, Any]) -> None:
        """These PRs listed (open and merged) and each one viewable."""
        for state in ("OPEN", "MERGED"):
            self.write(f"pr-list-{state.lower()}.json", [p for p in prs if p["state"] == state])
        for pr in prs:
            self.write(f"pr-{pr['number']}.json", pr)


def install_fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    """``tests/fake_gh/gh`` first on PATH, its fixtures and call log in ``tmp_path``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = FAKE_GH.read_text().splitlines()
    script[0] = f"#!{sys.executable} -SE"  # no site: a fast start
    target = bin_dir / "gh"
    target.write_text("\n".join(script) + "\n")
    target.chmod(0o755)
    folder = tmp_path / "gh-fixtures"
    folder.mkdir()
    log = tmp_path / "gh-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GH_DIR", str(folder))
    monkeypatch.setenv("FAKE_GH_LOG", str(log))
    return FakeGh(folder, log)


def gh_pr(
    number: int,
    branch: str,
    title: str,
    files: dict[str, tuple[int, int]],
    *,
    labels: tuple[str, ...] = (),
    created: str = "2026-02-16T14:00:00Z",
    state: str = "OPEN",
    merged: str | None = None,
    conclusion: str = "SUCCESS",
    draft: bool = False,
    mergeable: str = "MERGEABLE",
) -> dict[str, Any]:
    """A PR as ``gh pr list/view --json`` gives it."""
    return {
        "number": number,
        "title": title,
        "headRefName": branch,
        "labels": [{"name": label} for label in labels],
        "createdAt": created,
        "mergedAt": merged,
        "state": state,
        "isDraft": draft,
        "additions": sum(a for a, _ in files.values()),
        "deletions": sum(d for _, d in files.values()),
        "files": [{"path": p, "additions": a, "deletions": d} for p, (a, d) in files.items()],
        "statusCheckRollup": [
            {
                "__typename": "CheckRun",
                "name": "test",
                "status": "COMPLETED",
                "conclusion": conclusion,
            }
        ],
        "url": f"https://github.com/acme/tinygate/pull/{number}",
        "headRefOid": hashlib.sha1(f"head {number}".encode()).hexdigest(),
        "baseRefName": "main",
        "mergeable": mergeable,
        "mergeCommit": None,
        "author": {"login": "agent"},
        "reviewDecision": "",
    }


def open_github_prs(jwks_additions: int = 120) -> list[dict[str, Any]]:
    """Three open PRs on GitHub: #373 green on a demo branch, #372 red on another, #380 on a
    branch of no session (``jwks_additions`` lines added to its biggest file)."""
    return [
        gh_pr(373, HELM, "chore: helm limits (CAB-1340)", {"deploy/helm/values.yaml": (5, 1)},
              created="2026-02-16T15:07:00Z"),
        gh_pr(372, WEBHOOK, "fix: flaky webhook test", {"tests/test_webhooks.py": (6, 2)},
              conclusion="FAILURE", created="2026-02-16T11:02:00Z"),
        gh_pr(380, "feat/CAB-1361-jwks-cache", "feat: cache JWKS keys",
              {"src/tinygate/keys_cache.py": (jwks_additions, 4), "tests/test_keys.py": (40, 0)},
              created="2026-02-16T13:00:00Z"),
    ]  # fmt: skip


def use_fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tests/fake_bin`` (gh, tmux, agent) first on PATH, each recording into ``tmp_path``
    (gh answering from ``tmp_path/gh.json``, no PR yet); not inside tmux."""
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setenv("FAKE_GH_RECORD", str(tmp_path / "gh.jsonl"))
    monkeypatch.setenv("FAKE_GH_FIXTURE", str(tmp_path / "gh.json"))
    monkeypatch.setenv("FAKE_TMUX_RECORD", str(tmp_path / "tmux.jsonl"))
    monkeypatch.setenv("FAKE_AGENT_RECORD", str(tmp_path / "agent.json"))
    monkeypatch.delenv("FAKE_GH_FAIL", raising=False)
    monkeypatch.delenv("FAKE_TMUX_FAIL", raising=False)
    (tmp_path / "gh.json").write_text("{}")
    return tmp_path


# -- git and the demo factory ----------------------------------------------------------------------


def isolate_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """git reads no system or user config, and commits as Dana."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Dana Engineer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "dana@example.com")


def relink_worktrees(template: Path, copy: Path) -> None:
    """Point the copy's linked worktrees at the copy. Not ``git worktree repair``: it follows the
    copied links and rewrites the template's admin files instead (the next copy of the template
    would then point at this one). Does nothing when already done, or without worktrees."""
    admin = copy / ".git" / "worktrees"
    trees = copy / ".worktrees"
    files = [*admin.glob("*/gitdir"), *(p / ".git" for p in trees.glob("*") if p.is_dir())]
    for path in files:
        path.write_text(path.read_text().replace(str(template), str(copy)))


def copy_factory(template: DemoFactory, target: Path, *, with_git: bool = True) -> DemoFactory:
    """A private copy of a generated demo factory, in ``target``: its git repo and worktrees
    pointing at the copy, or (``with_git=False``) only its files, as a factory whose PRs come
    from GitHub."""
    if with_git:
        shutil.copytree(template.root, target, symlinks=True)
        relink_worktrees(template.root, target)
    else:
        shutil.copytree(template.root, target, ignore=shutil.ignore_patterns(".git", ".worktrees"))
    return replace(
        template,
        root=target,
        memory_dir=target / template.memory_dir.relative_to(template.root),
        claims_dir=target / template.claims_dir.relative_to(template.root),
        instances=dict(template.instances),
        pids=dict(template.pids),
    )
