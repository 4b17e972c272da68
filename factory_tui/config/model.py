"""The resolved configuration (``Config``), the error a user must fix (``ConfigError``), and
the sentences that say a factory input is missing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factory_tui.config.hegemon import HegemonSettings

from factory_tui.core.launch_templates import (
    DEFAULT_LAUNCH_BRANCH,
    DEFAULT_LAUNCH_PROMPT,
    DEFAULT_LAUNCH_WORKTREE,
)

ENV_PREFIX = "FACTORY_TUI_"


class ConfigError(Exception):
    """A configuration problem the user must fix; ``str()`` is one line saying where, what, how.

    ``file``, ``line`` and ``key`` are kept as attributes for callers that want them separately.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key


@dataclass(frozen=True)
class Config:
    """Every resolved location and tunable, with ``sources[field]`` saying where each came from.

    ``sources`` also holds ``"extra.<key>"`` for each key of ``extra``.
    ``config_files`` lists each config file that was looked for (label → path), found or not,
    so ``doctor`` can show why a file was (not) read.
    """

    root: Path
    claims_dir: Path
    memory_dir: Path
    log_file: Path
    metrics_file: Path
    checkpoints_dir: Path
    plan_file: Path
    memory_file: Path
    council_history: Path
    claude_config_dir: Path
    stale_after: timedelta
    lock_stale_after: timedelta
    idle_after: timedelta
    daily_budget_usd: float | None
    agent_budget_usd: float | None
    theme: str | None
    read_only: bool
    notify: bool
    bell: bool
    agent_command: tuple[str, ...]
    max_file_bytes: int
    """A factory file (claim, checkpoint, plan.md, memory.md) bigger than this is a problem,
    not read."""
    extra: Mapping[str, object]
    sources: Mapping[str, str]
    config_files: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    claude_config_dirs: tuple[Path, ...] = ()
    """Every Claude Code config folder (a factory may give each agent pane its own): the
    ``claude_config_dir`` setting's paths with globs expanded, in order; ``claude_config_dir``
    is the first (where the memory folder is looked for). Empty: just ``claude_config_dir``."""
    claude_config_patterns: tuple[str, ...] = ()
    """The ``claude_config_dir`` setting as given (absolute, globs unexpanded), for ``doctor``."""
    launch_prompt: str = DEFAULT_LAUNCH_PROMPT
    """What a launched agent is told (placeholders: ``core.launches.PROMPT_FIELDS``)."""
    launch_worktree: str = DEFAULT_LAUNCH_WORKTREE
    """A launched agent's worktree, beside the main worktree (placeholders: ``PATH_FIELDS``)."""
    launch_branch: str = DEFAULT_LAUNCH_BRANCH
    """A launched agent's new branch (placeholders: ``PATH_FIELDS``)."""
    launch_claim_within: timedelta = timedelta(minutes=10)
    """A launched agent that has not claimed its work after this long is a problem."""
    hegemon: HegemonSettings | None = None
    """The real factory's store and the other hosts (``[hegemon]``, ``[hosts."NAME"]``); None
    only in a ``Config`` not made by ``load_config`` (no store, no hosts)."""

    @property
    def claude_dirs(self) -> tuple[Path, ...]:
        """The Claude Code config folders whose transcripts are read."""
        return self.claude_config_dirs or (self.claude_config_dir,)

    @property
    def log_history_file(self) -> Path:
        """The rotated history of operations.log: ``operations.log.1`` beside it."""
        return self.log_file.with_name(self.log_file.name + ".1")


#: How to point the cockpit at another claims folder or log, per input.
_POINT_ELSEWHERE = {
    "claims": 'point elsewhere with --claims DIR or claims = "DIR" in factory.toml',
    "log": 'point elsewhere with --memory DIR (or --log FILE) or memory = "DIR" in factory.toml',
}
_WHAT = {"claims": "claims folder", "log": "operations.log"}


def shown_path(path: Path | str) -> str:
    """``path`` for a message: quoted, and said so, when a name in it starts or ends with
    white space (a configured path is taken as written: a stray space is otherwise unseen)."""
    text = str(path)
    if all(part == part.strip() for part in Path(text).parts):
        return text
    return f"{text!r} (a name in it starts or ends with a space)"


def not_found_sentence(kind: str, path: Path) -> str:
    """``no claims folder at <path>; point elsewhere with …`` for ``kind`` "claims" or "log":
    what was looked for, where, and how to change it."""
    return (
        f"no {_WHAT[kind]} at {shown_path(path)}; {_POINT_ELSEWHERE[kind]} "
        "(`factory-tui doctor` lists every path it resolved)"
    )


def missing_inputs(config: Config) -> list[str]:
    """The factory's two inputs that do not exist (the claims folder, operations.log), each as
    :func:`not_found_sentence`: empty when both are there. A fresh ``git init``, or a mistyped
    path, gives an empty fleet that looks healthy; ``status`` and ``snapshot`` warn of it and
    ``snapshot --fail-on missing`` fails on it."""
    found: list[str] = []
    if not config.claims_dir.is_dir():
        found.append(not_found_sentence("claims", config.claims_dir))
    if not config.log_file.is_file():
        found.append(not_found_sentence("log", config.log_file))
    return found
