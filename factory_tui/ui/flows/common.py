"""What every action flow shares: a reader of its own, acting on a thread, the report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from factory_tui.actions.base import ActionResult, Outcome

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.ui.app import FactoryApp

__all__ = ["act", "action_reader", "plan_or_report", "report"]

P = TypeVar("P")


def action_reader(app: FactoryApp) -> FactoryReader:
    """A reader of its own for an action's thread (the app's reader belongs to the reader
    worker), with the same host name and process probe; its log starts from the fold cache
    the cockpit keeps (a big factory's action costs the lines appended since, not the
    history)."""
    from factory_tui.adapters.factory import FactoryReader

    return FactoryReader.warm(
        app.config, app.environ, hostname=app.reader.hostname, probe=app.reader.probe
    )


async def plan_or_report(
    app: FactoryApp, name: str, plan: Callable[[], P | ActionResult]
) -> P | None:
    """Make the plan on a thread; a refusal (or an error) is reported and gives None."""
    planned = await asyncio.to_thread(plan)
    if isinstance(planned, ActionResult):
        report(app, name, planned)
        return None
    return planned


async def act(app: FactoryApp, name: str, work: Callable[[], ActionResult]) -> None:
    """Do ``work`` on a thread, then :func:`report` its result under ``name``; an exception
    becomes an error result saying what failed (the cockpit stays alive)."""

    def guarded() -> ActionResult:
        try:
            return work()
        except Exception as error:
            return ActionResult(Outcome.ERROR, f"{name} failed: {type(error).__name__}: {error}")

    report(app, name, await asyncio.to_thread(guarded))


def report(app: FactoryApp, name: str, result: ActionResult) -> None:
    """Notify ``result``'s one sentence; after a change, re-read the files (the watcher would
    see the change too)."""
    severity: SeverityLevel = "information"
    if result.outcome is Outcome.REFUSED:
        severity = "warning"
    elif result.outcome is Outcome.ERROR:
        severity = "error"
    title = name if result.ok else f"{name}: {result.outcome.name.lower()}"
    app.notify(result.message, title=title, severity=severity, markup=False, timeout=10)
    if result.ok:
        app.read_everything()
