"""A FIFO where one of the small files factory-tui reads whole should be (its settings, the
engineer's state files, git's files in the factory): said or ignored, never waited on for a
writer (the cockpit reads its budget state on the UI thread: its start froze)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import config_for
from test_cache_hostile import _returns

from factory_tui.actions.budget_state import load_budget_memory
from factory_tui.actions.prs import load_review_state
from factory_tui.adapters.worktrees import worktree_branches
from factory_tui.cli import main
from factory_tui.config import main_worktree
from factory_tui.config.regular_files import read_regular


def _factory(root: Path) -> Path:
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    return root


def _raised(work: Callable[[], object]) -> BaseException | None:
    try:
        work()
    except BaseException as error:
        return error
    return None


def test_read_regular_refuses_a_fifo_and_reads_a_file_up_to_its_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    error = _returns(lambda: _raised(lambda: read_regular(fifo, 100)), fifo)
    assert isinstance(error, OSError) and "not a regular file" in str(error)
    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * 10)
    assert read_regular(plain, 10) == b"x" * 10
    assert read_regular(plain, 4, whole=False) == b"xxxx"
    with pytest.raises(OSError, match="bigger than 4 bytes"):
        read_regular(plain, 4)


def test_a_fifo_for_the_state_files_is_no_state(tmp_path: Path) -> None:
    """The budget's and the reviews' state files: a FIFO is set aside (``.unreadable``) or
    ignored, as an unreadable file is."""
    root = _factory(tmp_path / "f")
    state = tmp_path / "state"
    state.mkdir()
    for name in ("budget-state.json", "prs-reviews.json"):
        os.mkfifo(state / name)
    memory = _returns(lambda: load_budget_memory(root, folder=state), state / "budget-state.json")
    assert memory.acknowledged == frozenset()
    config = config_for(root)
    found = _returns(lambda: load_review_state(config, folder=state), state / "prs-reviews.json")
    assert found.reviewed == frozenset()


def test_a_fifo_for_the_settings_file_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _factory(tmp_path / "f")
    (root / "factory.toml").unlink()
    os.mkfifo(root / "factory.toml")
    code = _returns(lambda: main(["status", str(root), "--json"]), root / "factory.toml")
    assert code == 2
    err = capsys.readouterr().err
    assert "factory.toml: config file is not a regular file (a FIFO or a device?)" in err


def test_a_fifo_among_gits_files_is_no_branch(tmp_path: Path) -> None:
    """The main worktree's HEAD, and a linked worktree's ``commondir`` (read to find its main
    worktree), as FIFOs: no branch, no main worktree."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    head = repo / ".git" / "HEAD"
    head.unlink()
    os.mkfifo(head)
    assert _returns(lambda: worktree_branches(repo), head) == {repo: None}
    linked, gitdir = tmp_path / "linked", tmp_path / "gitdir"
    linked.mkdir()
    gitdir.mkdir()
    (linked / ".git").write_text(f"gitdir: {gitdir}\n")
    os.mkfifo(gitdir / "commondir")
    assert _returns(lambda: main_worktree(linked), gitdir / "commondir") is None


@pytest.mark.parametrize("kind", ["fifo", "not utf-8"])
def test_a_review_note_that_cannot_be_read_is_said_and_left(tmp_path: Path, kind: str) -> None:
    """A request for changes appends to the branch's note: a FIFO there, or a note that is not
    UTF-8 text, is refused (the action says so; nothing is sent), and the note left as it is."""
    from factory_tui.actions import request_changes

    note = tmp_path / "reviews" / "review-b.md"
    note.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(note)
    else:
        note.write_bytes(b"# notes\n\xff\xfe kept\n")

    def write() -> BaseException | None:
        return _raised(
            lambda: request_changes._write_note(note, None, "fix it", "dana", None)  # type: ignore[arg-type]
        )

    error = _returns(write, note)
    assert isinstance(error, OSError)
    if kind != "fifo":
        assert note.read_bytes() == b"# notes\n\xff\xfe kept\n"
