"""A FIFO where one of the small files factory-tui reads whole should be (its settings, the
engineer's state files, git's files in the factory): said or ignored, never waited on for a
writer (the cockpit reads its budget state on the UI thread: its start froze)."""

from __future__ import annotations

import os
import stat
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


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Refused by its size, not read up to the limit first (a cache file of the limit's size
    cost twice that in memory before it was refused: 2 GB at the JSON cache's 1 GB)."""
    import tracemalloc

    big = tmp_path / "big"
    with big.open("wb") as f:
        f.truncate(9 << 20)  # sparse: nothing written
    tracemalloc.start()
    try:
        with pytest.raises(OSError, match="bigger than"):
            read_regular(big, 8 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert len(read_regular(big, 8 << 20, whole=False)) == 8 << 20  # its head, when asked


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


@pytest.mark.parametrize("kind", ["fifo", "too big"])
def test_a_theme_file_that_cannot_be_read_is_skipped_with_a_warning(
    tmp_path: Path, kind: str
) -> None:
    """The cockpit reads the user's themes at its start: a FIFO among them froze it."""
    from factory_tui.ui.themes import load_themes

    path = tmp_path / "mine.toml"
    if kind == "fifo":
        os.mkfifo(path)
        why = "not a regular file"
    else:
        path.write_bytes(b"#" * (1 << 20) + b'\nname = "mine"\nprimary = "#FFFFFF"\n')
        why = "bigger than 1,048,576 bytes"
    found = _returns(lambda: load_themes(user_dir=tmp_path), path)
    assert isinstance(found, tuple)
    themes, warnings = found
    assert warnings == [f"theme {path}: cannot read it ({why}); skipped"]
    assert "mine" not in themes and "factory-dark" in themes


def test_a_fifo_for_the_servers_credentials_file_is_said(tmp_path: Path) -> None:
    from factory_tui.adapters.hegemon_remote import RemoteError, load_credentials
    from factory_tui.config.hegemon import HegemonSettings

    path = tmp_path / "credentials.toml"
    os.mkfifo(path)
    settings = HegemonSettings(
        tmp_path / "state.db", "test", "https://state.example", "test", credentials_file=path
    )
    env = {"HEGEMON_REMOTE_EMAIL": "a@example.com", "HEGEMON_REMOTE_PASSWORD": "secret"}
    found = _returns(lambda: load_credentials(settings, env), path)
    assert isinstance(found, RemoteError)
    assert str(found) == (
        f"cannot read the server's credentials file {path} (not a regular file); "
        "fix [hegemon] remote_credentials"
    )


def test_a_fifo_for_the_log_gives_a_recovery_no_log_tail(tmp_path: Path) -> None:
    """The recovery screen's lines of the task from the end of operations.log."""
    from factory_tui.actions.recovery_info import task_log_tail

    config = config_for(_factory(tmp_path / "f"))
    lines = [f"2026-02-16T15:4{n} | STEP-START | task=CAB-1 step=s{n}" for n in range(10)]
    config.log_file.write_text("".join(f"{line}\n" for line in lines))
    width = len(lines[0]) + 1
    # The last 2 lines and 3 bytes of the one before: that one is cut, so not shown.
    assert task_log_tail(config, "CAB-1", None, max_bytes=2 * width + 3) == tuple(lines[-2:])
    config.log_file.unlink()
    os.mkfifo(config.log_file)
    assert _returns(lambda: task_log_tail(config, "CAB-1", None), config.log_file) == ()


def test_a_fifo_for_a_config_file_with_a_bad_value_is_said_without_its_line(
    tmp_path: Path,
) -> None:
    """The config file is read again to say the bad key's line: a FIFO put there since."""
    from factory_tui.config import ConfigError
    from factory_tui.config.layers import table_layer

    path = tmp_path / "factory.toml"
    os.mkfifo(path)

    def convert() -> BaseException | None:
        return _raised(
            lambda: table_layer({"stale_after": "soon"}, path=path, source="x", prefix="", env={})
        )

    error = _returns(convert, path)
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"{path}: key stale_after expected ")
    assert str(error).endswith("got 'soon'; fix it there")


def test_a_transcript_swapped_for_a_fifo_is_not_peeked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project folder's cwd is read from its newest transcripts, listed as regular files: one
    may be a FIFO by the time it is opened."""
    from factory_tui.adapters.transcripts import _peek_cwd

    folder = tmp_path / "-work-a"
    folder.mkdir()
    (folder / "old.jsonl").write_text('{"cwd": "/work/a"}\n')
    newest = folder / "new.jsonl"
    newest.write_text('{"cwd": "/work/b"}\n')
    listed = os.scandir

    def listed_then_swapped(path: object) -> object:
        entries = list(listed(path))  # type: ignore[call-overload]
        if os.fspath(path) == os.fspath(folder):  # type: ignore[call-overload]
            newest.unlink()
            os.mkfifo(newest)
        return iter(entries)

    monkeypatch.setattr(os, "scandir", listed_then_swapped)
    assert _returns(lambda: _peek_cwd(folder), newest) == "/work/a"


@pytest.mark.parametrize("kind", ["fifo", "not utf-8", "too big"])
def test_a_claude_settings_file_that_cannot_be_read_is_said_and_left(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hooks install`` reads .claude/settings.json: a FIFO put there after it was seen to be a
    file was waited on; a file that is not UTF-8 raised UnicodeDecodeError."""
    from factory_tui.cli import hook

    (tmp_path / ".git").mkdir()
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path)
        seen = Path.is_file
        monkeypatch.setattr(Path, "is_file", lambda p: p == path or seen(p))
        why = f"{path}: not a regular file;"
    elif kind == "not utf-8":
        path.write_bytes(b'{\n  "env": {"NAME": "\xff"}\n}\n')
        why = f"{path}:2: not UTF-8 text; fix it first,"
    else:
        path.write_text('{"env": {}}\n')
        monkeypatch.setattr(hook, "SETTINGS_BYTES", 10)
        why = f"{path}: cannot read it (bigger than 10 bytes);"
    before = os.lstat(path)
    args = ["hooks", "install", "--yes", "--command", "factory-tui hook", str(tmp_path)]
    assert _returns(lambda: main(args), path) == 2
    assert f"factory-tui: {why} nothing changed\n" in capsys.readouterr().err
    after = os.lstat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_fifo_for_a_locks_marker_is_not_waited_on(tmp_path: Path) -> None:
    """A lock is removed only when its marker is still ours: one replaced by a FIFO (the lock
    broken as stale and taken again meanwhile, by a writer that did so) is left alone."""
    from factory_tui.adapters.lock import MARKER, claim_lock

    marker = tmp_path / "CAB-1.lock" / MARKER

    def hold() -> bool:
        with claim_lock(tmp_path, "CAB-1.lock"):
            marker.unlink()
            os.mkfifo(marker)
        return True

    assert _returns(hold, marker) is True
    assert stat.S_ISFIFO(os.lstat(marker).st_mode)


def test_a_warm_start_resumes_no_fifo_for_the_log(tmp_path: Path) -> None:
    """A warm start resumes the log's tail at the cached offset: a FIFO at the path by then."""
    from factory_tui.adapters.tail import LogTail

    log = tmp_path / "operations.log"
    os.mkfifo(log)
    error = _returns(lambda: _raised(lambda: LogTail(log).resume(0, 0)), log)
    assert isinstance(error, OSError) and "not a regular file" in str(error)


def _looked_regular(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.stat(path)`` answers as for a regular file, whatever is there (it was one when
    looked at): then a FIFO is put there."""
    plain = path.with_name("plain")
    plain.write_text("a line\n")
    looked, stat_of = os.stat(plain), os.stat

    def as_it_was(at: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(at) == os.fspath(path):  # type: ignore[call-overload]
            return looked
        return stat_of(at, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", as_it_was)
    os.mkfifo(path)


def test_the_logs_tail_opens_no_fifo_put_there_since_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.adapters.tail import LogTail

    log = tmp_path / "operations.log"
    _looked_regular(log, monkeypatch)
    tail = LogTail(log)
    assert _returns(tail.poll, log) is None
    assert tail.last_error is not None and "not a regular file" in tail.last_error


def test_the_logs_index_opens_no_fifo_put_there_since_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.adapters.logindex import LogIndex

    log = tmp_path / "operations.log"
    _looked_regular(log, monkeypatch)
    index = LogIndex(tmp_path / "operations.log.1", log)
    assert _returns(index.update, log) == 0
    assert index.last_error is not None and "not a regular file" in index.last_error


def test_a_fifo_for_an_append_only_log_is_said_not_waited_on(tmp_path: Path) -> None:
    """operations.log, metrics.log, the Council's history: a line appended to a FIFO waited
    for a reader (every action's audit line, every hook of every agent); a link to /dev/null
    lost it."""
    from factory_tui.adapters.lock import append_line

    log = tmp_path / "operations.log"
    os.mkfifo(log)
    error = _returns(lambda: _raised(lambda: append_line(log, "a line")), log)
    assert isinstance(error, OSError) and "not a regular file" in str(error)
    reader = os.open(log, os.O_RDONLY | os.O_NONBLOCK)  # someone reading it: refused as well
    try:
        error = _returns(lambda: _raised(lambda: append_line(log, "a line")), log)
        assert isinstance(error, OSError) and "not a regular file" in str(error)
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)
    void = tmp_path / "metrics.log"
    void.symlink_to(os.devnull)
    with pytest.raises(OSError, match="not a regular file"):
        append_line(void, "a line")
    plain = tmp_path / "council-history.jsonl"
    append_line(plain, "one")
    append_line(plain, "two\n")
    assert plain.read_text() == "one\ntwo\n"
