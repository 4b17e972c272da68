"""The terminal driver: Textual's own, with an output that survives the terminal going away.

When the terminal closes (an SSH connection dropped, ``tmux kill-server``, a closed window) the
cockpit gets SIGHUP and quits as ``q`` does. Textual's output thread writes to the terminal; a
write after the terminal is gone fails (EIO), the thread ends, and its queue fills: the quit then
waited forever to restore a terminal that no longer exists (found: a cockpit killed with its tmux
server while starting hung in 4 runs of 6, holding its memory and the demo's agents). Here a write
that fails marks the terminal gone, and what follows is dropped: the quit completes.
"""

from __future__ import annotations

from io import TextIOWrapper
from typing import IO, Any, cast

__all__ = ["TerminalOutput", "cockpit_driver"]


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
    """The driver to run with: Textual's Linux driver with a :class:`TerminalOutput`, or
    ``base`` itself where Textual chose another (Windows, a headless test, ``TEXTUAL_DRIVER``)."""
    if (base.__module__, base.__name__) != ("textual.drivers.linux_driver", "LinuxDriver"):
        return base
    from textual.drivers.linux_driver import LinuxDriver

    class CockpitDriver(LinuxDriver):
        def __init__(self, app: Any, **options: Any) -> None:
            super().__init__(app, **options)
            if self._file is not None:
                self._file = cast("TextIOWrapper", TerminalOutput(self._file))

    return CockpitDriver
