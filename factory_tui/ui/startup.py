"""The cyclic collector held off from the cockpit's start to its first frame (issue 17).

Importing Textual and the cockpit and composing the first frame make tens of thousands of
long-lived objects and almost no garbage; the collector's passes over them (a full one among
them) cost about a sixth of the start-up's own work while freeing nothing. ``ui`` holds it off
before importing the app; the app lets it go right after the first frame, the start-up's objects
frozen out of it first (they live as long as the process: no later pass rescans them).
"""

from __future__ import annotations

import gc

__all__ = ["hold_collector", "release_collector"]

_held: list[bool] = []
"""One entry while the collector is held (a list, so that no ``global`` is needed)."""


def hold_collector() -> None:
    """The cyclic collector off until :func:`release_collector` (a no-op if it is off already:
    whoever turned it off turns it on)."""
    if gc.isenabled() and not _held:
        gc.disable()
        _held.append(True)


def release_collector() -> None:
    """What start-up made frozen, and the collector on again if :func:`hold_collector` turned it
    off (else nothing: a cockpit started by a test leaves the collector alone)."""
    if _held:
        _held.clear()
        gc.freeze()
        gc.enable()
