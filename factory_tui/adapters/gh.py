"""The GitHub CLI, optional: is a pull request merged?

``gh pr view N --json state,mergedAt,url`` as an argv list, never through a shell, with a
timeout. When gh is absent, fails or does not answer in time, the answer is "unknown" together
with the reason, never a guess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from factory_tui.adapters.run import run_tool

__all__ = ["PrStatus", "pr_status"]


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
    """Ask ``gh`` (found on PATH) about PR ``number`` of the repository in ``cwd``."""
    exe = shutil.which(gh)
    if exe is None:
        return PrStatus(number, None, note=f"{gh} is not on PATH, so it cannot be asked")
    argv = [exe, "pr", "view", str(number), "--json", "state,mergedAt,url"]
    env = {
        **os.environ,
        "GH_PROMPT_DISABLED": "1",
        "GH_NO_UPDATE_NOTIFIER": "1",
        "NO_COLOR": "1",
        "GH_PAGER": "cat",
    }
    try:
        done = run_tool(argv, cwd=cwd, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return PrStatus(number, None, note=f"gh pr view {number} gave no answer in {timeout_s:g}s")
    except OSError as error:
        return PrStatus(number, None, note=f"gh could not start: {error.strerror or error}")
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        return PrStatus(number, None, note=f"gh pr view {number} failed: {why}")
    try:
        data = json.loads(done.stdout)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return PrStatus(number, None, note=f"gh pr view {number} did not answer with JSON")
    if not isinstance(data, dict):
        return PrStatus(number, None, note=f"gh pr view {number} answered an unexpected shape")
    state = data.get("state") if isinstance(data.get("state"), str) else None
    url = data.get("url") if isinstance(data.get("url"), str) else None
    merged_at = data.get("mergedAt")
    if state is None and merged_at is None:
        return PrStatus(number, None, url=url, note=f"gh pr view {number} gave no state")
    merged = (state or "").upper() == "MERGED" or bool(merged_at)
    return PrStatus(number, merged, state=state, url=url)
