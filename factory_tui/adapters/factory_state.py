"""The factory's checkpoints (the latest of each task) and state files (plan.md, memory.md, linted
together), as :class:`~factory_tui.adapters.factory.FactoryReader` reads them."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from factory_tui.adapters.factory_claims import FileKey, file_key
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.core.checkpoints import Checkpoint, parse_checkpoint, parse_checkpoint_name
from factory_tui.core.problems import Problem
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan

__all__ = ["StateFiles", "read_checkpoints"]


def read_checkpoints(config: Config) -> tuple[dict[str, Checkpoint], list[Problem]]:
    """The latest checkpoint of each task, and the problems met: names are listed, only the
    newest file per task slug is read (a folder of ten thousand stays cheap)."""
    folder = config.checkpoints_dir
    problems: list[Problem] = []
    latest: dict[str, tuple[datetime, Path]] = {}
    try:
        names = [e for e in os.scandir(folder) if e.name.endswith(".json")]
    except FileNotFoundError:
        names = []
    except OSError as error:
        problems.append(Problem(str(folder), f"cannot list checkpoints: {error.strerror}"))
        names = []
    for entry in names:
        when, slug = parse_checkpoint_name(entry.name)
        if when is None:
            problems.append(
                Problem(entry.path, "checkpoint file name is not <ISO-timestamp>-<task-slug>.json")
            )
            when = datetime.min
        known = latest.get(slug)
        if known is None or (when, entry.name) > (known[0], known[1].name):
            latest[slug] = (when, Path(entry.path))
    checkpoints: dict[str, Checkpoint] = {}
    for _slug, (_when, path) in latest.items():
        data = read_factory_file(path, config.max_file_bytes)
        if data is None:
            continue
        if isinstance(data, Problem):
            problems.append(data)
            continue
        cp, found = parse_checkpoint(str(path), data)
        problems.extend(found)
        if cp is not None:
            known_cp = checkpoints.get(cp.task)
            if known_cp is None or (cp.at or datetime.min) >= (known_cp.at or datetime.min):
                checkpoints[cp.task] = cp
    return checkpoints, problems


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
