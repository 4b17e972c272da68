"""The engineer's own bookkeeping, kept per user and never in the factory's files: reviewed Show
PRs and the last look at the PR queue (``prs-reviews.json``), acknowledged budget alerts and the
alerts ``[cost] on_budget`` ran for (``budget-state.json``).

They live in ``platformdirs.user_state_path("factory-tui")``; ``FACTORY_TUI_STATE_DIR``
overrides it (the tests point it at a temp folder). Each file is one JSON object,
``{"version": 1, "repos": {"<factory root>": {...}}}``, written whole through a temp file and
``os.replace``. A file that cannot be read as such is kept aside as ``<name>.unreadable`` (never
lost) and the state starts afresh, without a traceback. Each write drops the entries of
factories whose root folder no longer exists (a demo's temp folders would pile up otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import platformdirs

from factory_tui.adapters.lock import LockBusy, atomic_write, claim_lock
from factory_tui.config.regular_files import read_regular

__all__ = [
    "STATE_DIR_ENV",
    "prune_gone_roots",
    "read_state",
    "state_dir",
    "state_lock",
    "write_state",
]

STATE_DIR_ENV = "FACTORY_TUI_STATE_DIR"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    override = environ.get(STATE_DIR_ENV, "")
    if override.strip():  # as written, as every configured path (blank: unset)
        return Path(override).expanduser()
    return platformdirs.user_state_path("factory-tui")


STATE_BYTES = 64 << 20
"""A state file bigger than this is not one factory-tui wrote (moved aside, as unreadable)."""


def read_state(path: Path) -> dict[str, Any]:
    """The state in ``path`` (a fresh one when there is none); an unreadable file, or one that
    is not such an object, is moved to ``<name>.unreadable`` first."""
    try:
        data = json.loads(read_regular(path, STATE_BYTES))  # a FIFO there: never waited on
    except FileNotFoundError:
        return {"version": 1, "repos": {}}
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("repos"), dict):
        return data
    with contextlib.suppress(OSError):
        path.replace(path.with_name(path.name + ".unreadable"))
    return {"version": 1, "repos": {}}


def prune_gone_roots(data: dict[str, Any]) -> None:
    """Drop from ``data["repos"]`` the factories whose root folder no longer exists."""
    repos = data.get("repos")
    if not isinstance(repos, dict):
        return
    for root in list(repos):
        if not Path(root).is_dir():
            del repos[root]


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` at once (never a partial file), without the factories
    whose root is gone; raises OSError."""
    prune_gone_roots(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


@contextlib.contextmanager
def state_lock(path: Path, *, retries: int = 40, delay_s: float = 0.05) -> Iterator[bool]:
    """Best effort: hold ``<name>.lock`` (a directory, made atomically; stale after 30 s) next to
    ``path`` for a read-modify-write, so that two cockpits' updates do not interleave. Yields
    False when another holder kept it past the retries: the caller goes ahead unlocked (a slow
    holder must not freeze the cockpit). Raises OSError when the folder cannot be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                claim_lock(path.parent, f"{path.name}.lock", retries=retries, delay_s=delay_s)
            )
            held = True
        except LockBusy:
            held = False
        yield held
