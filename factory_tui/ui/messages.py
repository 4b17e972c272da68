"""Messages the background threads post to the app; handlers on the app change what is shown.

Background code (the file watcher, the reader worker) never touches a widget: it posts one of
these and the app's handler, on the event loop, updates widgets by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not the fleet's
    from factory_tui.core.fleet import Fleet

__all__ = ["FilesChanged", "FleetUpdated", "LoadProgress", "ReaderFailed", "StateSummary"]


class FilesChanged(Message):
    """The watcher saw these paths change (added, modified or deleted), coalesced."""

    def __init__(self, paths: frozenset[Path]) -> None:
        super().__init__()
        self.paths = paths


class FleetUpdated(Message):
    """A freshly derived fleet.

    ``changed`` says whether any file read for it had changed (``False`` for a pure re-probe of
    pids on the slow timer); ``log_changed`` whether operations.log grew or was replaced, so the
    log view re-reads its index; ``initial`` marks the first complete load.
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        changed: bool,
        log_changed: bool = False,
        initial: bool = False,
        state: StateSummary | None = None,
    ) -> None:
        super().__init__()
        self.fleet = fleet
        self.changed = changed
        self.log_changed = log_changed
        self.initial = initial
        self.state = state


class LoadProgress(Message):
    """Progress of the first read: ``done`` of ``total`` bytes of ``source`` read."""

    def __init__(self, source: str, done: int, total: int) -> None:
        super().__init__()
        self.source = source
        self.done = done
        self.total = total


class ReaderFailed(Message):
    """Reading or deriving failed unexpectedly (a bug): shown, never a traceback on screen."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


@dataclass(frozen=True, slots=True)
class StateSummary:
    """What plan.md and memory.md hold, in counts, for the state view (built by the reader
    worker right after the reader re-read the state files)."""

    plan_file: str
    plan_exists: bool
    plan_counts: tuple[tuple[str, int], ...]
    memory_file: str
    memory_exists: bool
    memory_sections: tuple[tuple[str, int], ...]
