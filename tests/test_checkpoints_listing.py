"""The checkpoints folder's names kept between runs (under the folder's own stat): a next run
whose folder has the same names lists none of them, and answers as a fresh read does."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_checkpoints_incremental import _CHANGE, _DATA, _NAMES, _change, _write, make_factory

from factory_tui.adapters import factory_state
from factory_tui.adapters.factory_state import CheckpointFolder, read_checkpoints
from factory_tui.adapters.jsonfiles import JsonFiles
from factory_tui.config import Config

_AGES = itertools.count(1_500_000_000)


def _age(folder: Path) -> None:
    """Give the folder an mtime of its own, long ago (as a folder last changed a while before
    the run that lists it)."""
    mtime = next(_AGES) * 1_000_000_000
    os.utime(folder, ns=(mtime, mtime))


def _later() -> int:
    """A clock a few seconds ahead: what was changed just now is past the racy window."""
    return time.time_ns() + 10_000_000_000


def _run(config: Config, cache: Path, clock: Callable[[], int] = _later) -> Any:
    """One status run's read of the checkpoints, with the kept JSON and names."""
    values = JsonFiles(cache)
    values.clock = clock  # type: ignore[method-assign]
    found = CheckpointFolder(config, values=values).read()
    values.save()
    return found


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders listed by factory_state."""
    folders: list[str] = []
    scandir = os.scandir

    def counted(path: Any) -> Any:
        # (a folder opened is listed by its descriptor: its path is the one it was opened by)
        folders.append(os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else str(path))
        return scandir(path)

    monkeypatch.setattr(factory_state.os, "scandir", counted)
    return folders


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.dictionaries(_NAMES, _DATA, max_size=6),
    changes=st.dictionaries(_NAMES, st.tuples(_CHANGE, _DATA), max_size=5),
)
def test_kept_names_answer_as_a_fresh_read_after_any_change(
    tmp_path_factory: pytest.TempPathFactory,
    files: dict[str, bytes],
    changes: dict[str, tuple[str, bytes]],
) -> None:
    root = tmp_path_factory.mktemp("f")
    config = make_factory(root / "factory")
    cache = root / "files.marshal"
    for name, data in files.items():
        _write(config.checkpoints_dir / name, data)
    _age(config.checkpoints_dir)
    assert _run(config, cache) == read_checkpoints(config)
    assert _run(config, cache) == read_checkpoints(config)  # the names kept
    for name, (change, data) in changes.items():
        _change(config.checkpoints_dir / name, change, data)
    _age(config.checkpoints_dir)
    assert _run(config, cache) == read_checkpoints(config)
    assert _run(config, cache) == read_checkpoints(config)


def test_an_unchanged_folder_is_not_listed_again(tmp_path: Path, listed: list[str]) -> None:
    config = make_factory(tmp_path / "factory")
    cps, cache = config.checkpoints_dir, tmp_path / "files.marshal"
    for name in ("2026-02-12T14-00-a.json", "2026-02-12T15-00-a.json", "not-a-time.json"):
        _write(cps / name, json.dumps({"task": name[:5]}).encode())
    _age(cps)
    first = _run(config, cache)
    assert listed == [str(cps)]
    assert first[1] and "not <ISO-timestamp>" in first[1][0].message  # the unnamed one
    assert _run(config, cache) == first == read_checkpoints(config)
    assert listed == [str(cps)] * 2  # the second run listed nothing (the fresh read did)
    _write(cps / "2026-02-12T16-00-a.json", b'{"task": "new"}')
    _age(cps)
    listed.clear()
    again = _run(config, cache)
    assert listed == [str(cps)] and "new" in again[0]
    assert again == read_checkpoints(config)


def test_a_folder_changed_a_moment_ago_is_listed_again(tmp_path: Path, listed: list[str]) -> None:
    """A name added within the file system's timestamp tick could keep the folder's stat: a
    folder changed within the racy window is not kept."""
    config = make_factory(tmp_path / "factory")
    cps, cache = config.checkpoints_dir, tmp_path / "files.marshal"
    _write(cps / "2026-02-12T14-00-a.json", b'{"task": "a"}')
    _run(config, cache, clock=time.time_ns)
    _run(config, cache, clock=time.time_ns)
    assert listed == [str(cps)] * 2


@pytest.mark.parametrize(
    "kept",
    [
        [["../../escape.json"], []],
        [["a/b.json"], []],
        [["x.txt"], []],
        [[7], []],
        [["2026-02-12T14-00-a.json"]],
        {"latest": []},
    ],
)
def test_kept_names_that_are_not_plain_names_are_ignored(
    tmp_path: Path, listed: list[str], kept: Any
) -> None:
    """The cache file is untrusted: a kept name that would leave the folder, or any other
    shape, is not used (the folder is listed)."""
    config = make_factory(tmp_path / "factory")
    cps, cache = config.checkpoints_dir, tmp_path / "files.marshal"
    (tmp_path / "escape.json").write_text('{"task": "outside"}')
    _write(cps / "2026-02-12T14-00-a.json", b'{"task": "a"}')
    _age(cps)
    values = JsonFiles(cache)
    values.put(str(cps), os.stat(cps), kept, read_at_ns=_later(), folder=True)
    values.save()
    assert _run(config, cache) == read_checkpoints(config)
    assert listed == [str(cps)] * 2


@pytest.mark.parametrize("folder", [".", "cps", "./cps"])
def test_a_relative_folder_names_its_files_as_paths_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """A checkpoint's file is named as ``Path`` names it (``./x.json`` is ``x.json``)."""
    config = make_factory(tmp_path / "factory")
    where = tmp_path / "factory" / "cps"
    where.mkdir()
    name = "2026-02-12T14-00-a.json"
    _write(where / name, b'{"task": "a"}')
    _write(where / "bad name.json", b'{"task": "b"}')
    monkeypatch.chdir(where if folder == "." else where.parent)
    relative = dataclasses.replace(config, checkpoints_dir=Path(folder))
    checkpoints, problems = CheckpointFolder(relative).read()
    assert checkpoints["a"].file == str(Path(folder) / name)
    assert [p.file for p in problems] == [os.path.join(os.fspath(Path(folder)), "bad name.json")]
