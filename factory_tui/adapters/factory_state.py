"""The factory's checkpoints (the latest of each task) and state files (plan.md, memory.md, linted
together), as :class:`~factory_tui.adapters.factory.FactoryReader` reads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from factory_tui.adapters.factory_claims import FileKey, file_key
from factory_tui.adapters.parsecache import Saved, decode_checkpoint, encode_checkpoint, stat_key
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.core.checkpoints import Checkpoint, parse_checkpoint, parse_checkpoint_name
from factory_tui.core.problems import Problem
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan

__all__ = ["StateFiles", "read_checkpoints", "read_checkpoints_warm"]


def read_checkpoints(config: Config) -> tuple[dict[str, Checkpoint], list[Problem]]:
    """The latest checkpoint of each task, and the problems met: names are listed, only the
    newest file per task slug is read (a folder of ten thousand stays cheap)."""
    checkpoints, problems, _saved = read_checkpoints_warm(config, {})
    return checkpoints, problems


def read_checkpoints_warm(
    config: Config, warm: Mapping[str, Saved]
) -> tuple[dict[str, Checkpoint], list[Problem], dict[str, Saved]]:
    """:func:`read_checkpoints`, taking from ``warm`` (saved by an earlier run, see
    :mod:`~factory_tui.adapters.parsecache`) each newest file whose stat key is the saved one;
    also returns what to save for the next run (each newest file read whole)."""
    folder = config.checkpoints_dir
    problems: list[Problem] = []
    latest: dict[str, tuple[datetime, os.DirEntry[str], datetime | None]] = {}
    try:
        names = [e for e in os.scandir(folder) if e.name.endswith(".json")]
    except FileNotFoundError:
        names = []
    except OSError as error:
        problems.append(Problem(str(folder), f"cannot list checkpoints: {error.strerror}"))
        names = []
    for entry in names:
        file_ts, slug = parse_checkpoint_name(entry.name)
        when = file_ts
        if when is None:
            problems.append(
                Problem(entry.path, "checkpoint file name is not <ISO-timestamp>-<task-slug>.json")
            )
            when = datetime.min
        known = latest.get(slug)
        if known is None or (when, entry.name) > (known[0], known[1].name):
            latest[slug] = (when, entry, file_ts)
    checkpoints: dict[str, Checkpoint] = {}
    saved: dict[str, Saved] = {}
    for _slug, (_when, entry, file_ts) in latest.items():
        found = _read_checkpoint(entry, file_ts, config.max_file_bytes, warm, saved)
        if found is None:
            continue
        if isinstance(found, Problem):
            problems.append(found)
            continue
        cp, found_problems = found
        problems.extend(found_problems)
        if cp is not None:
            known_cp = checkpoints.get(cp.task)
            if known_cp is None or (cp.at or datetime.min) >= (known_cp.at or datetime.min):
                checkpoints[cp.task] = cp
    return checkpoints, problems, saved


def _read_checkpoint(
    entry: os.DirEntry[str],
    file_ts: datetime | None,
    limit: int,
    warm: Mapping[str, Saved],
    saved: dict[str, Saved],
) -> tuple[Checkpoint | None, list[Problem]] | Problem | None:
    """One checkpoint file, parsed: from ``warm`` when its key is the saved one, else read (and
    noted in ``saved`` when read whole)."""
    try:
        key = stat_key(entry.stat(follow_symlinks=False))
    except OSError:
        key = None
    known = warm.get(entry.path) if key is not None else None
    if known is not None and known.key == key:
        try:
            cp = decode_checkpoint(known.value, file_ts)
        except (ValueError, TypeError):
            pass
        else:
            saved[entry.path] = known
            return cp, list(known.problems)
    path = Path(entry.path)
    data = read_factory_file(path, limit)
    if data is None or isinstance(data, Problem):
        return data
    cp, problems = parse_checkpoint(str(path), data)
    if key is not None:
        saved[entry.path] = Saved(key, encode_checkpoint(cp), problems)
    return cp, problems


class StateFiles:
    """plan.md and memory.md: their lint findings and read problems, read again only when one of
    the two files' stat changed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lint: list[object] = []
        self.problems: list[Problem] = []
        self._keys: dict[Path, FileKey | None] = {}

    def refresh(self) -> bool:
        """Read both files again if either changed. True if they were read."""
        keys: dict[Path, FileKey | None] = {}
        for path in (self.config.plan_file, self.config.memory_file):
            try:
                keys[path] = file_key(path)
            except OSError:
                keys[path] = None
        if keys == self._keys:
            return False
        self._keys = keys
        problems: list[Problem] = []
        texts: dict[Path, str | None] = {}
        for path in keys:
            data = read_factory_file(path, self.config.max_file_bytes)
            if isinstance(data, Problem):
                problems.append(data)
            texts[path] = (
                data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None
            )
        plan_text = texts[self.config.plan_file]
        memory_text = texts[self.config.memory_file]
        plan = parse_plan(plan_text, str(self.config.plan_file)) if plan_text is not None else None
        memory = (
            parse_memory(memory_text, str(self.config.memory_file))
            if memory_text is not None
            else None
        )
        self.lint = list(lint_state(plan, memory)) if (plan or memory) else []
        self.problems = problems
        return True
