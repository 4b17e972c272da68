"""A forked child (the split read's, a cache save's) is a copy of the cockpit: none of the
parent's signal handling runs in it, its answer is not freed object by object before it ends,
and a child whose answer can no longer be read is given up on at the deadline."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factory_tui.adapters import split_read
from factory_tui.adapters.forked import Forked
from factory_tui.adapters.split_read import ForkedChild
from factory_tui.core.fold import LogFold


@pytest.fixture
def cockpit_signals() -> Iterator[None]:
    """The handlers and the wakeup fd Textual's app installs (SIGWINCH, SIGTSTP, SIGCONT)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    numbers = (signal.SIGWINCH, signal.SIGTSTP, signal.SIGCONT)
    before = {number: signal.signal(number, lambda *_a: None) for number in numbers}
    wakeup = signal.set_wakeup_fd(ours.fileno())
    try:
        yield
    finally:
        signal.set_wakeup_fd(wakeup)
        for number, handler in before.items():
            signal.signal(number, handler)
        ours.close()
        theirs.close()


def test_the_parents_handlers_and_wakeup_fd_are_not_the_childs(cockpit_signals: None) -> None:
    def work() -> bool:
        handlers = [signal.getsignal(n) for n in (signal.SIGWINCH, signal.SIGTSTP, signal.SIGCONT)]
        return signal.set_wakeup_fd(-1) == -1 and not any(map(callable, handlers))

    child = Forked.start(work)
    assert child is not None and child.wait(30), child.status


class Answer:
    """An answer that says (a file named by its process) when it is freed."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __del__(self) -> None:
        Path(self.folder, f"freed-{os.getpid()}").touch()


def test_the_childs_answer_is_not_freed_before_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freed object by object after it was pickled, a big answer held the pipe's end and the
    child's exit that this process waits for (0.15 s at 10x)."""
    monkeypatch.setattr(split_read, "fold_tail", lambda job, _store: Answer(str(job["folder"])))
    child = ForkedChild.start({"folder": str(tmp_path)}, read_bytes=0)
    assert child is not None
    answer = child.communicate(None, None)
    assert answer is not None and child.returncode == 0
    assert list(tmp_path.iterdir()) == []
    assert not child._parts  # the answer is held once, by whoever took it


def test_a_child_whose_answer_cannot_be_read_is_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader thread failed (its pipe unreadable) while the child folds on: no whole answer
    can come, so the child is killed at once, not waited for until it ends (its alarm: ten
    minutes)."""
    gate, never_written = os.pipe()

    def held(job: dict[str, Any], _store: object) -> object:
        os.read(gate, 1)
        return None

    monkeypatch.setattr(split_read, "fold_tail", held)
    try:
        child = ForkedChild.start({}, read_bytes=0)
        assert child is not None
        os.close(child._read_fd)  # the reader's next read fails
        child._read_fd = -1  # (closed here: not again by stop())
        child._reader.join(30)
        assert not child._reader.is_alive() and child.forked.running
        assert child.communicate(None, None) is None
        assert child.returncode == -signal.SIGKILL
    finally:
        os.close(gate)
        os.close(never_written)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids forked (os.fork noted)."""
    pids: list[int] = []
    fork = os.fork

    def noting() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", noting)
    return pids


def _no_thread_named(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Threads named ``prefix…`` cannot be started (a process at its thread limit)."""
    start = threading.Thread.start

    def refusing(self: threading.Thread) -> None:
        if self.name.startswith(prefix):
            raise RuntimeError("can't start new thread")
        start(self)

    monkeypatch.setattr(threading.Thread, "start", refusing)


@pytest.mark.parametrize("prefix", ["reap ", "answer "])
def test_a_child_with_no_thread_to_serve_it_is_ended_and_reaped(
    monkeypatch: pytest.MonkeyPatch, forks: list[int], prefix: str
) -> None:
    """No thread to reap it or to read its answer: the child is killed and reaped (no zombie,
    no child folding for no one) and the caller reads without it."""
    gate, never_written = os.pipe()
    monkeypatch.setattr(split_read, "fold_tail", lambda job, _store: os.read(gate, 1))
    _no_thread_named(monkeypatch, prefix)
    try:
        assert ForkedChild.start({}, read_bytes=0) is None
    finally:
        os.close(gate)
        os.close(never_written)
    (pid,) = forks
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already


def test_a_whole_answer_is_taken_whatever_the_deadline_once_the_child_said_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child closed its pipe (its answer whole) but has not ended yet when the deadline
    passes: the answer is taken, not thrown away with a kill (the tail folded again here)."""
    gate, release = os.pipe()
    exit_now = os._exit

    def held_exit(code: int) -> None:  # in the child: its exit waits for the test
        os.read(gate, 1)
        exit_now(code)

    monkeypatch.setattr(os, "_exit", held_exit)
    monkeypatch.setattr(split_read, "fold_tail", lambda job, _store: ("seed", "fold", 7))
    try:
        child = ForkedChild.start({}, read_bytes=0)
        assert child is not None
        child._reader.join(30)  # the pipe ended: the answer is whole
        assert not child._reader.is_alive() and child.forked.running
        threading.Timer(0.5, os.write, (release, b"x")).start()  # after the deadline
        answer = child.communicate(None, time.monotonic() - 1)
    finally:
        os.close(gate)
        os.close(release)
    assert answer is not None and pickle.load(answer) == ("seed", "fold", 7)
    assert child.returncode == 0


def test_the_answer_is_read_from_a_file_never_held_here_as_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child writes its answer to a file this process unpickles from as it reads: read
    from a pipe, the 10x factory's 26 MB answer was held here whole (then twice, joined) beside
    the child's memory and the records made of it. The file is in the folder given (the user's
    cache, on disk) and has no name there: nothing is left behind, however the child ends."""
    import tracemalloc

    from factory_tui.adapters.split_read import SplitRead

    ballast = [os.urandom(4096) for _ in range(2048)]  # 8 MB, as a fold's packed chunks
    gate, release = os.pipe()

    def answer(_job: dict[str, Any], _store: object) -> object:
        os.read(gate, 1)
        return {"x": ballast}, LogFold(), 7

    monkeypatch.setattr(split_read, "fold_tail", answer)
    spool = tmp_path / "cache"
    tracemalloc.start()
    try:
        child = ForkedChild.start({}, read_bytes=0, spool=spool)
        assert child is not None
        assert child._answer is not None and child._answer.file is not None
        where = Path(f"/proc/self/fd/{child._answer.file.fileno()}").readlink()
        assert where.parent == spool and list(spool.iterdir()) == []
        os.write(release, b"x")
        child._reader.join(30)  # the child said its answer is whole
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        taken = SplitRead(child, [], -1, False, 0, 0, None).answer(None)  # type: ignore[arg-type]
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        os.close(gate)
        os.close(release)
    assert taken is not None and taken.seed == {"x": ballast} and taken.next_line == 7
    made = after - before  # the records (the ballast's copy)
    assert made > 8_000_000
    assert peak - after < made / 4, f"{peak - after} bytes more than what was made, at the peak"
    assert list(spool.iterdir()) == []


def test_an_answer_cut_short_is_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child wrote part of its answer and died (killed, out of disk): not a whole answer,
    whatever the file holds; the caller folds the tail itself."""
    from factory_tui.adapters.split_read import SplitRead

    def half_written(_job: dict[str, Any], _store: object) -> object:
        os.kill(os.getpid(), signal.SIGKILL)  # as if killed while it wrote
        return None

    monkeypatch.setattr(split_read, "fold_tail", half_written)
    child = ForkedChild.start({}, read_bytes=0)
    assert child is not None
    assert child._answer is not None and child._answer.file is not None
    child._answer.file.write(pickle.dumps(("seed", "fold", 7))[:-3])  # what it had written
    child._answer.file.flush()
    assert SplitRead(child, [], -1, False, 0, 0, None).answer(None) is None  # type: ignore[arg-type]
    assert child.returncode == -signal.SIGKILL
