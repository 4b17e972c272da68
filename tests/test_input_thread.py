"""The cockpit's input thread (issue 17): it blocks until a key comes or the driver stops it,
where Textual's woke every 0.1 s to look at its stop event (ten wake-ups a second of an idle
cockpit in a real terminal); it still times out a lone ESC into the escape key, and it stops
reading a terminal that ended instead of selecting it for ever. Each test reads a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import selectors
import signal
import sys
import threading
import tty
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from textual import events
from textual._xterm_parser import XTermParser

from factory_tui.adapters.wake import WakeEvent
from factory_tui.ui import driver
from factory_tui.ui.driver import INPUT_POLL_S, cockpit_driver, input_timeout, read_input

WAIT_S = 10

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pty")


class Recorded:
    """Every wait of the input loop's selectors (its timeout, before it blocks), in order."""

    def __init__(self) -> None:
        self.timeouts: queue.Queue[float | None] = queue.Queue()
        self.count = 0

    def shim(self) -> SimpleNamespace:
        recorded = self

        class Selector(selectors.SelectSelector):
            def select(self, timeout: float | None = None) -> Any:
                recorded.count += 1
                recorded.timeouts.put(timeout)
                return super().select(timeout)

        return SimpleNamespace(
            SelectSelector=Selector, EVENT_READ=selectors.EVENT_READ, BaseSelector=None
        )

    def next_blocking(self) -> float | None:
        """The next wait's timeout."""
        return self.timeouts.get(timeout=WAIT_S)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    found = Recorded()
    monkeypatch.setattr(driver, "selectors", found.shim())
    return found


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    """A pty: (the terminal's side, where keys are typed; the side the cockpit reads)."""
    typed, read = os.openpty()
    tty.setraw(read)  # as the driver sets it: each key as it is typed, not a line at a time
    yield typed, read
    for fd in (typed, read):
        with contextlib.suppress(OSError):  # closed by the test
            os.close(fd)


def keys_of(got: queue.Queue[Any]) -> Iterator[str]:
    while True:
        event = got.get(timeout=WAIT_S)
        if isinstance(event, events.Key):
            yield event.key


def reading(
    fileno: int,
    stop: WakeEvent,
    got: queue.Queue[Any],
    ended: threading.Event | None = None,
) -> threading.Thread:
    """:func:`read_input` of ``fileno`` on a thread, started: its events into ``got``, the
    terminal's end setting ``ended``."""
    said_ended = ended.set if ended is not None else lambda: None
    thread = threading.Thread(
        target=read_input, args=(fileno, stop, XTermParser(), got.put, said_ended), daemon=True
    )
    thread.start()
    return thread


def test_the_input_thread_blocks_until_a_key_comes_or_it_is_stopped(
    recorded: Recorded, pty: tuple[int, int]
) -> None:
    typed, fileno = pty
    stop, got = WakeEvent(), queue.Queue[Any]()
    thread = reading(fileno, stop, got)
    assert recorded.next_blocking() is None  # nothing typed: no timeout
    os.write(typed, b"a")
    assert next(keys_of(got)) == "a"
    assert recorded.next_blocking() is None  # the key handled: blocked again
    # A lone ESC may start a sequence: the parser waits for the rest a moment, then says
    # escape (blocked for ever, it never would).
    os.write(typed, b"\x1b")
    assert next(keys_of(got)) == "escape"
    waits = [recorded.timeouts.get(timeout=WAIT_S) for _ in range(2)]
    assert any(t is not None and 0 <= t <= INPUT_POLL_S for t in waits)
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive(), "stop did not wake the input thread"


def test_the_input_thread_starts_again_after_a_stop(
    recorded: Recorded, pty: tuple[int, int]
) -> None:
    """Suspended (ctrl+z) and resumed, the driver stops the thread, clears its event and starts
    another on the same terminal."""
    typed, fileno = pty
    stop, got = WakeEvent(), queue.Queue[Any]()
    first = reading(fileno, stop, got)
    assert recorded.next_blocking() is None
    stop.set()
    first.join(WAIT_S)
    assert not first.is_alive()
    stop.clear()
    second = reading(fileno, stop, got)
    os.write(typed, b"z")
    assert next(keys_of(got)) == "z"
    stop.set()
    second.join(WAIT_S)
    assert not second.is_alive()


def test_a_terminal_that_ended_ends_the_loop_and_says_so(
    recorded: Recorded, pty: tuple[int, int]
) -> None:
    """The terminal's side closed (a hang-up): the read fails (EIO); the loop says so (the
    cockpit quits) and ends without waiting for its stop, which may never come (a write to the
    gone terminal can cut the driver's stop short), nor spinning on a terminal readable for
    ever: the thread is not a daemon, and the process would never end."""
    typed, fileno = pty
    stop, got, ended = WakeEvent(), queue.Queue[Any](), threading.Event()
    thread = reading(fileno, stop, got, ended)
    assert recorded.next_blocking() is None
    os.close(typed)
    thread.join(WAIT_S)
    assert not thread.is_alive() and ended.is_set() and not stop.is_set()
    assert recorded.count == 1  # its one wait, which the hang-up woke: no other


def test_a_read_that_would_block_is_not_the_terminals_end(
    recorded: Recorded, pty: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ready, then nothing to read (EAGAIN: a terminal left non-blocking): the loop waits again,
    and reads the key when it is there; only EOF or another error is the terminal's end."""
    typed, fileno = pty
    real_read, refused = os.read, []

    def read_once_refused(fd: int, size: int) -> bytes:
        if fd == fileno and not refused:
            refused.append(fd)
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_read(fd, size)

    monkeypatch.setattr(driver.os, "read", read_once_refused)
    stop, got, ended = WakeEvent(), queue.Queue[Any](), threading.Event()
    thread = reading(fileno, stop, got, ended)
    os.write(typed, b"k")
    assert next(keys_of(got)) == "k"
    assert refused == [fileno] and not ended.is_set()
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()


def test_the_wait_follows_the_parsers_pending_sequence() -> None:
    parser = XTermParser()
    assert input_timeout(parser) is None
    list(parser.feed("\x1b"))
    pending = input_timeout(parser)
    assert pending is not None and 0 < pending <= INPUT_POLL_S
    assert input_timeout(parser, now=lambda: float("inf")) == 0  # its moment has passed
    # A parser that does not say when it times out (another Textual): polled, as Textual does.
    assert input_timeout(object()) == INPUT_POLL_S
    assert input_timeout(SimpleNamespace(_timeout_time="soon")) == INPUT_POLL_S


async def test_the_cockpits_driver_reads_with_this_loop(
    recorded: Recorded, pty: tuple[int, int]
) -> None:
    """Textual's Linux driver, as the cockpit runs it, reads its input with :func:`read_input`
    and stops it with its exit event."""
    from textual.drivers.linux_driver import LinuxDriver

    # The driver handles ctrl+z (SIGTSTP, SIGCONT) as it is made: the test's are put back.
    saved = {number: signal.getsignal(number) for number in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        quits: list[object] = []
        app = SimpleNamespace(call_later=lambda *call: quits.append(call), exit=object())
        made = cockpit_driver(LinuxDriver)(app)
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
    typed, fileno = pty
    made.fileno = fileno
    got: queue.Queue[Any] = queue.Queue()
    made.process_message = got.put
    thread = threading.Thread(target=made.run_input_thread, daemon=True)
    thread.start()
    assert await asyncio.to_thread(recorded.next_blocking) is None
    os.write(typed, b"q")
    assert await asyncio.to_thread(lambda: next(keys_of(got))) == "q"
    made.exit_event.set()
    await asyncio.to_thread(thread.join, WAIT_S)
    assert not thread.is_alive() and quits == []
    # Its terminal gone, the app is asked to quit (and the thread ends by itself).
    thread = threading.Thread(target=made.run_input_thread, daemon=True)
    made.exit_event.clear()
    thread.start()
    os.close(typed)
    await asyncio.to_thread(thread.join, WAIT_S)
    assert not thread.is_alive() and quits == [(app.exit, None, 128 + signal.SIGHUP)]
