"""The GitHub CLI (``gh``): the one place factory-tui calls it.

- :class:`Gh`: the PR queue (``gh pr list/view/checks``), a PR's diff (also the Council's
  ``gh pr diff``), merge and review; :class:`GhError` says what failed and what to run.
- :func:`pr_status`: is a PR merged? for recovery, never raising: "unknown" and the reason.
- :class:`GhCache` and :class:`PolledGh`: the PR lists asked of gh at most once per interval
  (GitHub's API is rate limited); the cockpit's loader polls through them.

Every call is an argv list (never a shell: titles, branch names and review texts are agent or
user text) with a timeout, run by :func:`~factory_tui.adapters.run.run_tool` (the whole process
group is killed on a timeout) in the repository's folder so ``gh`` finds its GitHub remote.
When ``gh`` is missing, not logged in, or the repository has no GitHub remote, :class:`GhError`
says exactly what to run; the caller falls back to local branches.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from factory_tui.adapters.run import run_tool
from factory_tui.core.prs import CheckRun, CiState, PullRequest, ci_from_checks, pr_from_gh

__all__ = [
    "GH_LIST_FIELDS",
    "GH_VIEW_FIELDS",
    "Gh",
    "GhCache",
    "GhError",
    "PolledGh",
    "PrStatus",
    "pr_status",
]

GH_LIST_FIELDS = (
    "number,title,headRefName,labels,createdAt,mergedAt,state,isDraft,additions,deletions,"
    "files,statusCheckRollup,url,reviewDecision"
)
GH_VIEW_FIELDS = GH_LIST_FIELDS + ",headRefOid,baseRefName,mergeable,mergeCommit,author"
INSTALL_URL = "https://cli.github.com"

GhErrorKind = Literal["missing", "auth", "no-repo", "timeout", "failed", "bad-output"]


class GhError(Exception):
    """``gh`` could not do it; ``str()`` says why and what to run."""

    def __init__(
        self, kind: GhErrorKind, message: str, argv: Sequence[str] = (), stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.argv = tuple(argv)
        self.stderr = stderr
        """gh's own words, when it ran and failed."""


def _command(argv: Sequence[str]) -> str:
    """``gh pr view 12`` for a message (the executable's folder left out)."""
    return " ".join(["gh", *argv[1:4]])


def _classify(argv: Sequence[str], code: int, stderr: str) -> GhError:
    error = _kind_of_failure(argv, code, stderr)
    error.stderr = stderr
    return error


def _kind_of_failure(argv: Sequence[str], code: int, stderr: str) -> GhError:
    text = stderr.strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), f"exit {code}")
    lowered = text.lower()
    # Checked first: gh's no-remote message also mentions `gh auth login`.
    if (
        "none of the git remotes" in lowered
        or "no git remotes" in lowered
        or "not a git repository" in lowered
        or "could not resolve to a repository" in lowered
        or "no default remote" in lowered
        or "set-default" in lowered
    ):
        return GhError(
            "no-repo",
            f"gh finds no GitHub repository here ({first}): local branches are the PRs; to use "
            "GitHub, add its remote (`git remote add origin <url>`) or run `gh repo set-default`",
            argv,
        )
    if (
        "gh auth login" in lowered
        or "not logged in" in lowered
        or "authentication" in lowered
        or "bad credentials" in lowered
        or code == 4
    ):
        return GhError(
            "auth",
            "gh is not logged in to GitHub: run `gh auth login` (then `gh auth status` to check); "
            "local branches are shown meanwhile",
            argv,
        )
    return GhError("failed", f"{_command(argv)} failed: {first}", argv)


class Gh:
    """One repository's ``gh``; ``executable`` defaults to the ``gh`` found on PATH."""

    def __init__(
        self,
        cwd: Path,
        *,
        executable: str | None = None,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.cwd = cwd
        base = dict(os.environ if env is None else env)
        self.executable = executable or shutil.which("gh", path=base.get("PATH"))
        self.timeout = timeout
        base.update(
            GH_PROMPT_DISABLED="1",
            GH_NO_UPDATE_NOTIFIER="1",
            GH_PAGER="cat",
            NO_COLOR="1",
            CLICOLOR="0",
        )
        self.env = base

    @property
    def available(self) -> bool:
        return self.executable is not None

    def argv(self, *args: str) -> list[str]:
        return [self.executable or "gh", *args]

    def run(self, *args: str, timeout: float | None = None, ok_codes: Sequence[int] = (0,)) -> str:
        argv = self.argv(*args)
        if self.executable is None:
            raise GhError(
                "missing",
                f"gh is not installed: install it from {INSTALL_URL}, then run `gh auth login`; "
                "local branches are shown meanwhile",
                argv,
            )
        limit = timeout or self.timeout
        try:
            done = run_tool(argv, cwd=self.cwd, env=self.env, timeout=limit)
        except FileNotFoundError:
            raise GhError(
                "missing",
                f"gh ({self.executable}) cannot be run: install it from {INSTALL_URL}, "
                "then run `gh auth login`",
                argv,
            ) from None
        except subprocess.TimeoutExpired:
            raise GhError(
                "timeout",
                f"{_command(argv)} did not answer within {limit:g} s: check the network, "
                "or run `gh auth status`",
                argv,
            ) from None
        except OSError as error:
            raise GhError("failed", f"{_command(argv)} cannot be run: {error}", argv) from None
        stdout = done.stdout.decode("utf-8", errors="replace")
        if done.returncode not in ok_codes or (done.returncode != 0 and not stdout.strip()):
            raise _classify(argv, done.returncode, done.stderr.decode("utf-8", errors="replace"))
        return stdout

    def json(self, *args: str, ok_codes: Sequence[int] = (0,)) -> Any:
        out = self.run(*args, ok_codes=ok_codes)
        try:
            return json.loads(out)
        except json.JSONDecodeError as error:
            raise GhError(
                "bad-output",
                f"{_command(self.argv(*args))} answered something that is not JSON "
                f"({error.msg} at line {error.lineno}): {out[:80]!r}",
                self.argv(*args),
            ) from None
        except (ValueError, RecursionError):  # an integer of over 4300 digits, deep nesting
            raise GhError(
                "bad-output",
                f"{_command(self.argv(*args))} answered JSON that cannot be read "
                f"(an integer of thousands of digits, or nested too deeply): {out[:80]!r}",
                self.argv(*args),
            ) from None

    # -- reading ----------------------------------------------------------------------------------

    def list_prs(
        self, state: Literal["open", "merged"] = "open", limit: int = 100
    ) -> list[PullRequest]:
        data = self.json(
            "pr", "list", "--state", state, "--limit", str(limit), "--json", GH_LIST_FIELDS
        )
        if not isinstance(data, list):
            raise GhError("bad-output", f"gh pr list answered {type(data).__name__}, not a list")
        out: list[PullRequest] = []
        for item in data:
            if isinstance(item, dict):
                try:
                    out.append(pr_from_gh(item))
                except ValueError:
                    continue
        return out

    def view(self, number: int) -> PullRequest:
        data = self.json("pr", "view", str(number), "--json", GH_VIEW_FIELDS)
        if not isinstance(data, dict):
            raise GhError("bad-output", f"gh pr view {number} answered no object")
        try:
            return pr_from_gh(data)
        except ValueError as error:
            raise GhError("bad-output", f"gh pr view {number}: {error}") from None

    def checks(self, number: int) -> tuple[CiState, str, tuple[CheckRun, ...]] | None:
        """A fresh CI verdict from ``gh pr checks``; ``None`` when this gh cannot say (an old gh
        without ``--json``): use the PR's ``statusCheckRollup`` then."""
        try:
            # gh exits 1 with failing checks and 8 with pending ones, JSON on stdout all the same.
            data = self.json(
                "pr", "checks", str(number), "--json", "name,bucket,link", ok_codes=(0, 1, 8)
            )
        except GhError as error:
            text = str(error).lower()
            if "no checks reported" in text:
                return "none", "no CI checks reported", ()
            if error.kind in ("failed", "bad-output") and (
                "unknown flag" in text or "unknown json" in text or "not json" in text
            ):
                return None
            raise
        return ci_from_checks(data)

    def diff(self, number: int) -> str:
        return self.run("pr", "diff", str(number), "--color", "never")

    # -- acting -----------------------------------------------------------------------------------

    def merge_argv(self, number: int, head_sha: str | None = None) -> list[str]:
        """``gh pr merge N --squash --delete-branch``; with the head commit the engineer saw, so
        a push after the confirmation makes GitHub refuse instead of merging unseen code."""
        args = ["pr", "merge", str(number), "--squash", "--delete-branch"]
        if head_sha:
            args += ["--match-head-commit", head_sha]
        return self.argv(*args)

    def merge(self, number: int, head_sha: str | None = None) -> str:
        return self.run(*self.merge_argv(number, head_sha)[1:], timeout=max(self.timeout, 60.0))

    def review_argv(self, number: int, body: str) -> list[str]:
        return self.argv("pr", "review", str(number), "--request-changes", "--body", body)

    def request_changes(self, number: int, body: str) -> str:
        return self.run(*self.review_argv(number, body)[1:])


# -- is a PR merged? (recovery) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrStatus:
    number: int
    merged: bool | None
    """``None``: unknown (see ``note``)."""
    state: str | None = None
    url: str | None = None
    note: str = ""

    def describe(self) -> str:
        if self.merged is True:
            return f"PR #{self.number} is merged" + (f" ({self.url})" if self.url else "")
        if self.merged is False:
            state = (self.state or "not merged").lower()
            return f"PR #{self.number} is not merged ({state})"
        return f"PR #{self.number}: merged or not is unknown — {self.note}"


def pr_status(number: int, *, cwd: Path, timeout_s: float = 10.0, gh: str = "gh") -> PrStatus:
    """Ask ``gh`` (found on PATH) about PR ``number`` of the repository in ``cwd``
    (``gh pr view N --json state,mergedAt,url``); never raises: an unknown answer says why."""
    exe = shutil.which(gh)
    if exe is None:
        return PrStatus(number, None, note=f"{gh} is not on PATH, so it cannot be asked")
    client = Gh(cwd, executable=exe, timeout=timeout_s)
    try:
        data = client.json("pr", "view", str(number), "--json", "state,mergedAt,url")
    except GhError as error:
        if error.kind == "timeout":
            note = f"gh pr view {number} gave no answer in {timeout_s:g}s"
        elif error.kind == "bad-output":
            note = f"gh pr view {number} did not answer with JSON"
        elif error.stderr.strip():
            note = f"gh pr view {number} failed: {error.stderr.strip().splitlines()[-1]}"
        else:
            note = str(error)
        return PrStatus(number, None, note=note)
    if not isinstance(data, dict):
        return PrStatus(number, None, note=f"gh pr view {number} answered an unexpected shape")
    state = data.get("state") if isinstance(data.get("state"), str) else None
    url = data.get("url") if isinstance(data.get("url"), str) else None
    merged_at = data.get("mergedAt")
    if state is None and merged_at is None:
        return PrStatus(number, None, url=url, note=f"gh pr view {number} gave no state")
    merged = (state or "").upper() == "MERGED" or bool(merged_at)
    return PrStatus(number, merged, state=state, url=url)


# -- polling: the PR lists asked at most once per interval -----------------------------------------

_Answer = tuple[float, "list[PullRequest] | GhError"]


class GhCache:
    """gh's PR lists (and errors), kept ``interval`` seconds. Thread-safe."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, int], _Answer] = {}
        self.asked = 0
        """How many times gh itself was asked (for tests and the curious)."""

    def get(self, key: tuple[str, int]) -> list[PullRequest] | GhError | None:
        with self._lock:
            hit = self._answers.get(key)
            if hit is None or self.clock() - hit[0] >= self.interval:
                return None
            return hit[1]

    def put(self, key: tuple[str, int], answer: list[PullRequest] | GhError) -> None:
        with self._lock:
            self._answers[key] = (self.clock(), answer)
            self.asked += 1

    def expire(self) -> None:
        with self._lock:
            self._answers.clear()


class PolledGh(Gh):
    """A :class:`Gh` whose PR lists come from ``cache`` while they are fresh; every other call
    (view, checks, diff, merge, review) goes to gh."""

    def __init__(self, cwd: Path, cache: GhCache, *, timeout: float = 30.0) -> None:
        super().__init__(cwd, timeout=timeout)
        self.cache = cache

    def list_prs(
        self, state: Literal["open", "merged"] = "open", limit: int = 100
    ) -> list[PullRequest]:
        key = (state, limit)
        hit = self.cache.get(key)
        if isinstance(hit, GhError):
            raise GhError(hit.kind, str(hit), hit.argv)
        if hit is not None:
            return list(hit)
        try:
            prs = super().list_prs(state, limit)
        except GhError as error:
            self.cache.put(key, error)
            raise
        self.cache.put(key, prs)
        return list(prs)
