"""The checkpoints folder read again incrementally: whatever changed between two reads (a
rewrite, a same-size rewrite, a touch, a file gone or new, a corrupt file), the second read must
give exactly what a first read gives, and parse again only the newest files that changed."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import config_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters import factory_state
from factory_tui.adapters.factory_state import CheckpointFolder, read_checkpoints
from factory_tui.config import Config

_MTIMES = itertools.count(1_600_000_000)

_DATA = st.one_of(
    st.builds(
        lambda task, pr, steps: json.dumps(
            {"task": task, "timestamp": "2026-02-12T15:00", "pr_number": pr,
             "steps_completed": steps, "context": {"notes": "n"}}
        ).encode(),
        st.sampled_from(["a", "b", "", None]),
        st.sampled_from([None, 3, "#4", "x"]),
        st.lists(st.sampled_from(["code", "ci"]), max_size=2),
    ),
    st.sampled_from([b"", b"{", b"[]", b'{"task": 1, "timestamp": "never"}', b"\xff"]),
)  # fmt: skip
_NAMES = st.sampled_from(
    ["2026-02-12T14-00-a.json", "2026-02-12T15-00-a.json", "2026-02-12T14-00-b.json",
     "2026-02-12T14-30-00Z-c.json", "2026-02-12T14-30-00-c.json", "not-a-time.json"]
)  # fmt: skip
_CHANGE = st.sampled_from(["rewrite", "same-size", "touch", "delete", "corrupt"])


def make_factory(root: Path) -> Config:
    (root / ".factory" / "memory" / "checkpoints").mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    return config_for(root)


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` with an mtime of its own (as a file written a moment later would have)."""
    path.write_bytes(data)
    mtime = next(_MTIMES) * 1_000_000_000
    os.utime(path, ns=(mtime, mtime))


def _change(path: Path, change: str, data: bytes) -> None:
    old = path.read_bytes() if path.exists() else b""
    if change == "delete":
        path.unlink(missing_ok=True)
    elif change == "corrupt":
        _write(path, b"{" + old[:5])
    elif change == "same-size":
        _write(path, old.replace(b"a", b"b") if b"a" in old else old[::-1])
    elif change == "touch":
        _write(path, old)
    else:
        _write(path, data)


@pytest.fixture(autouse=True)
def no_racy_window() -> Iterator[None]:
    """Files changed a moment ago are reused too (each write here has an mtime of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(factory_state, "RACY_NS", 0)
        yield


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.dictionaries(_NAMES, _DATA, max_size=6),
    changes=st.dictionaries(_NAMES, st.tuples(_CHANGE, _DATA), max_size=5),
)
def test_a_second_read_equals_a_first_read_after_any_change(
    tmp_path_factory: pytest.TempPathFactory,
    files: dict[str, bytes],
    changes: dict[str, tuple[str, bytes]],
) -> None:
    config = make_factory(tmp_path_factory.mktemp("f") / "factory")
    for name, data in files.items():
        _write(config.checkpoints_dir / name, data)
    folder = CheckpointFolder(config)
    assert folder.read() == read_checkpoints(config)
    for name, (change, data) in changes.items():
        _change(config.checkpoints_dir / name, change, data)
    assert folder.read() == read_checkpoints(config)
    assert folder.read() == read_checkpoints(config)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the checkpoint files parsed."""
    names: list[str] = []
    parse = factory_state.checkpoint_from_json

    def counted(file: str, raw: Any, *parts: Any) -> Any:
        names.append(Path(file).name)
        return parse(file, raw, *parts)

    monkeypatch.setattr(factory_state, "checkpoint_from_json", counted)
    return names


def test_only_the_newest_files_that_changed_are_parsed_again(
    tmp_path: Path, parsed: list[str]
) -> None:
    config = make_factory(tmp_path / "factory")
    cps = config.checkpoints_dir
    for task in "abc":
        _write(cps / f"2026-02-12T14-00-{task}.json", json.dumps({"task": task}).encode())
    folder = CheckpointFolder(config)
    folder.read()
    assert sorted(parsed) == [f"2026-02-12T14-00-{t}.json" for t in "abc"]
    parsed.clear()
    _write(cps / "2026-02-12T14-00-a.json", b'{"task": "a2"}')
    _write(cps / "2026-02-12T15-00-b.json", b'{"task": "b"}')
    (cps / "2026-02-12T14-00-c.json").unlink()
    checkpoints, _problems = folder.read()
    assert sorted(parsed) == ["2026-02-12T14-00-a.json", "2026-02-12T15-00-b.json"]
    assert sorted(checkpoints) == ["a2", "b"]
    parsed.clear()
    assert folder.read() == (checkpoints, _problems)
    assert parsed == []


def test_a_file_changed_a_moment_ago_is_read_again(
    tmp_path: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite within the file system's timestamp tick can keep the stat: a file changed less
    than RACY_NS ago is parsed again on every read (and a symlink always is)."""
    monkeypatch.setattr(factory_state, "RACY_NS", 3600 * 10**9)
    config = make_factory(tmp_path / "factory")
    path = config.checkpoints_dir / "2026-02-12T14-00-a.json"
    path.write_bytes(b'{"task": "a"}')
    target = tmp_path / "elsewhere.json"
    target.write_bytes(b'{"task": "b"}')
    os.utime(target, ns=(10**18, 10**18))
    (config.checkpoints_dir / "2026-02-12T14-00-b.json").symlink_to(target)
    folder = CheckpointFolder(config)
    folder.read()
    folder.read()
    assert sorted(parsed) == ["2026-02-12T14-00-a.json"] * 2 + ["2026-02-12T14-00-b.json"] * 2


def test_a_read_after_forget_reads_whole_and_gives_the_same(
    tmp_path: Path, parsed: list[str]
) -> None:
    """``status`` reads once, then forgets what a next read would reuse: a next read (there is
    none in ``status``) still gives the same answer, every newest file parsed again."""
    config = make_factory(tmp_path / "factory")
    cps = config.checkpoints_dir
    for name, data in [
        ("2026-02-12T14-00-a.json", b'{"task": "a"}'),
        ("2026-02-12T15-00-a.json", b'{"task": "a", "pr_number": "x"}'),
        ("2026-02-12T14-00-b.json", b"{"),
        ("not-a-time.json", b'{"task": "c"}'),
    ]:
        _write(cps / name, data)
    folder = CheckpointFolder(config)
    first = folder.read()
    assert len(first[1]) >= 3  # the bad pr_number, the garbled file, the odd name
    parsed.clear()
    folder.forget()
    again = folder.read()
    assert sorted(parsed) == ["2026-02-12T15-00-a.json", "not-a-time.json"]
    assert again == first == read_checkpoints(config)


def test_the_problems_come_in_the_same_order_whatever_order_the_folder_lists_its_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system lists a folder in an order of its own: what is made of the names (each
    task's newest, the problems of the files that cannot be read) does not follow it, so
    ``status --json`` says the same from one file system to another."""
    config = make_factory(tmp_path / "f")
    for name, body in (
        ("2026-02-16T10-00-b.json", b"{"),
        ("2026-02-16T10-01-a.json", b"[]"),
        ("not-a-checkpoint-name.json", b"{}"),
        ("2026-02-16T10-02-c.json", b'{"task": "c", "pr_number": "x"}'),
        ("also odd.json", b"{}"),
    ):
        _write(config.checkpoints_dir / name, body)
    listed = CheckpointFolder(config).read()
    scandir = os.scandir

    class Reversed:
        def __init__(self, where: Any) -> None:
            self.entries = list(reversed(list(scandir(where))))

        def __enter__(self) -> list[os.DirEntry[str]]:
            return self.entries

        def __exit__(self, *_exc: object) -> None:
            return None

    monkeypatch.setattr(factory_state.os, "scandir", Reversed)
    backwards = CheckpointFolder(config).read()
    assert [p.file for p in backwards[1]] == [p.file for p in listed[1]]
    assert backwards == listed
    assert len(listed[1]) >= 4
