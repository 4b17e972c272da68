"""The terminal driver: Textual's own, with an output that survives the terminal going away.

When the terminal closes (an SSH connection dropped, ``tmux kill-server``, a closed window) the
cockpit gets SIGHUP and quits as ``q`` does. Textual's output thread writes to the terminal; a
write after the terminal is gone fails (EIO), the thread ends, and its queue fills: the quit then
waited forever to restore a terminal that no longer exists (found: a cockpit killed with its tmux
server while starting hung in 4 runs of 6, holding its memory and the demo's agents). Here a write
that fails marks the terminal gone, and what follows is dropped: the quit completes.

Its input thread (:func:`read_input`) blocks until a key comes or the driver stops: Textual's
wakes every 0.1 s to look at its stop event, ten wake-ups a second an idle cockpit paid for
nothing (issue 17: a bare Textual app idled at 0.42 % of a core in a real terminal here).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from functools import partial
from io import TextIOWrapper
from typing import IO, Any, cast

from factory_tui.adapters.wake import WakeEvent

__all__ = [
    "HANGUP_EXIT",
    "INPUT_POLL_S",
    "TerminalOutput",
    "cockpit_driver",
    "input_timeout",
    "read_input",
]

#: Textual's input loop wakes this often; ours only while the parser holds a partial sequence,
#: when the parser does not say when it times out.
HANGUP_EXIT = 128 + signal.SIGHUP
"""The exit code of a cockpit whose terminal went away (as a shell reports a SIGHUP)."""
INPUT_POLL_S = 0.1


class TerminalOutput:
    """``file`` (the terminal), whose failed write or flush means the terminal is gone: that
    write and every later one are dropped, never raised."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._file.write(text)
            except OSError:
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def cockpit_driver(base: type[Any]) -> type[Any]:
    """The driver to run with: Textual's Linux driver with a :class:`TerminalOutput` and
    :func:`read_input` as its input thread, or ``base`` itself where Textual chose another
    (Windows, a headless test, ``TEXTUAL_DRIVER``)."""
    if (base.__module__, base.__name__) != ("textual.drivers.linux_driver", "LinuxDriver"):
        return base
    from textual._xterm_parser import XTermParser
    from textual.drivers.linux_driver import LinuxDriver

    class CockpitDriver(LinuxDriver):
        def __init__(self, app: Any, **options: Any) -> None:
            super().__init__(app, **options)
            if self._file is not None:
                self._file = cast("TextIOWrapper", TerminalOutput(self._file))
            self.exit_event = self._stop_input = WakeEvent()  # set to stop it: it wakes it

        def run_input_thread(self) -> None:
            parser = XTermParser(self._debug)
            # A terminal gone is a quit (Textual's loop raised, and the app panicked), with the
            # code of the SIGHUP that comes with it, or after the quit, or never.
            quit_app = partial(self._app.call_later, self._app.exit, None, HANGUP_EXIT)
            read_input(self.fileno, self._stop_input, parser, self.process_message, quit_app)

    return CockpitDriver


def input_timeout(parser: Any, now: Callable[[], float] = time.monotonic) -> float | None:
    """How long the input loop may block: for ever (None) while ``parser`` holds nothing, else
    until its partial sequence times out (a lone ESC becomes the escape key then). Textual 8's
    parser keeps that moment in ``_timeout_time`` (on its clock, monotonic on Linux); a parser
    without it is polled every :data:`INPUT_POLL_S`, as Textual does."""
    pending = getattr(parser, "_timeout_time", "unknown")
    if pending is None:
        return None
    if not isinstance(pending, float | int) or isinstance(pending, bool):
        return INPUT_POLL_S
    return max(0.0, min(INPUT_POLL_S, pending - now()))


def read_input(
    fileno: int,
    stop: WakeEvent,
    parser: Any,
    process: Callable[[Any], None],
    ended: Callable[[], object] = lambda: None,
) -> None:
    """Read the terminal ``fileno`` into ``parser`` and ``process`` each event it makes, until
    ``stop`` is set (Textual's input loop, woken by ``stop``'s pipe instead of every 0.1 s).
    A terminal that reads as ended (EOF, or EIO once it is gone) ends the loop, after
    ``ended()`` (the cockpit quits, as on SIGHUP, which may not come): nothing more can be read,
    and the driver's stop may never come either (a write to the gone terminal can cut it
    short), while this thread, not a daemon, would keep the process alive. Textual's loop
    raised there, or went on selecting a terminal readable for ever."""
    decode = getincrementaldecoder("utf-8")().decode
    try:
        with stop.waking() as wake, selectors.SelectSelector() as selector:
            selector.register(fileno, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not stop.is_set():
                ready = selector.select(input_timeout(parser))
                if any(key.fd == fileno for key, _mask in ready):
                    data: bytes | None
                    try:
                        data = os.read(fileno, 4096)
                    except BlockingIOError:
                        data = None  # ready, and then not (a non-blocking terminal): not its end
                    except OSError:
                        data = b""
                    if data:
                        for event in parser.feed(decode(data)):
                            process(event)
                    elif data is not None:
                        ended()
                        return
                for event in parser.tick():
                    process(event)
    finally:
        with contextlib.suppress(Exception):  # the parser's end: what it held is dropped
            for _event in parser.feed(""):
                pass
