"""Messages the background workers post; handlers on the event loop change what is shown.

Background code (the file watcher, the reader, the PR queue's loader, the cost worker) never
touches a widget: it posts one of these and a handler updates widgets by key. Each is a small
dataclass; progress messages coalesce (``can_replace``): a burst collapses into the newest, so
the workers post every step and no one throttles by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not what the messages carry
    from collections.abc import Sequence

    from textual.notifications import SeverityLevel

    from factory_tui.core.cost_attribution import Span
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import Queue
    from factory_tui.ui.widgets.spend import CostSnapshot

__all__ = [
    "CostFailed",
    "CostProgress",
    "CostSpans",
    "CostUpdated",
    "FilesChanged",
    "FleetUpdated",
    "LoadProgress",
    "PrsLoaded",
    "ReaderFailed",
    "SpansWanted",
    "StateSummary",
]


@dataclass
class FilesChanged(Message):
    """The watcher saw these paths change (added, modified or deleted), coalesced."""

    paths: frozenset[Path]


@dataclass
class FleetUpdated(Message):
    """A freshly derived fleet.

    ``changed`` says whether any file read for it had changed (``False`` for a pure re-probe of
    pids on the slow timer); ``log_changed`` whether operations.log grew or was replaced, so the
    log view re-reads its index; ``initial`` marks the first complete load.
    """

    fleet: Fleet
    changed: bool
    log_changed: bool = False
    initial: bool = False
    state: StateSummary | None = None
    seq: int | None = None
    """Its number among the feed's fleets (None: not counted, drawn whatever follows)."""


@dataclass
class LoadProgress(Message):
    """Progress of the first read: ``done`` of ``total`` bytes of ``source`` read."""

    source: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgress) and message.source == self.source


@dataclass
class ReaderFailed(Message):
    """Reading or deriving failed unexpectedly (a bug): shown, never a traceback on screen."""

    error: str


@dataclass
class PrsLoaded(Message):
    """A freshly loaded PR queue (``None`` with ``error`` when loading failed unexpectedly)."""

    queue: Queue | None
    error: str | None = None
    asked: int = 0
    """The number of the newest request this load answers (the loader's bookkeeping)."""


@dataclass
class CostUpdated(Message):
    """A fresh cost snapshot from the cost worker; ``changed``: a sum moved since the last;
    ``notes``: what the budget command did, to be notified (text, severity)."""

    snapshot: CostSnapshot
    changed: bool
    notes: tuple[tuple[str, SeverityLevel], ...] = ()


@dataclass
class CostSpans(Message):
    """The reader's thread worked out who worked on what, when (the attribution's spans)."""

    spans: Sequence[Span]


class SpansWanted(Message):
    """The cost worker read its first record to attribute: the fleet feed makes the spans
    (until then it does not: see :attr:`CostLedger.wants_spans`)."""


@dataclass
class CostProgress(Message):
    """How far the cost worker's first read of the transcripts is (files read, files)."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CostProgress)


@dataclass
class CostFailed(Message):
    """The cost worker could not work (a wrong ``[cost]`` table, a bug): shown, not raised."""

    error: str


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
