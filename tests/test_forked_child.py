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
    monkeypatch.setattr(split_read, "fold_tail", lambda job: Answer(str(job["folder"])))
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

    def held(job: dict[str, Any]) -> object:
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
    monkeypatch.setattr(split_read, "fold_tail", lambda job: os.read(gate, 1))
    _no_thread_named(monkeypatch, prefix)
    try:
        assert ForkedChild.start({}, read_bytes=0) is None
    finally:
        os.close(gate)
        os.close(never_written)
    (pid,) = forks
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already


def test_a_whole_answer_is_taken_whatever_the_deadline_once_the_pipe_ended(
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
    monkeypatch.setattr(split_read, "fold_tail", lambda job: ("seed", "fold", 7))
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
    assert answer is not None and pickle.loads(answer) == ("seed", "fold", 7)
    assert child.returncode == 0
