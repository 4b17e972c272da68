"""The Council (``C``): it scores a proposal on a thread (the cockpit never waits for it), then
its verdict on a screen; ``f`` there asks again, paid."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.content import Content

from factory_tui.actions.base import Outcome
from factory_tui.actions.council import CouncilOutcome, ProposalError, run_council
from factory_tui.actions.prs import PrsError
from factory_tui.core.cost_records import naive_local
from factory_tui.core.safe import printable
from factory_tui.ui.screens.council import CouncilScreen
from factory_tui.ui.widgets.summary import SummaryBar

if TYPE_CHECKING:
    from factory_tui.core.council import Proposal
    from factory_tui.ui.app import FactoryApp

__all__ = ["council_flow"]


async def council_flow(app: FactoryApp, what: str, make: Callable[[], Proposal]) -> None:
    """The Council on ``what`` (``make`` builds the proposal, on the thread); again, forced,
    for as long as the engineer asks from the verdict's screen."""
    force = False
    while True:
        outcome = await _sitting(app, what, make, force=force)
        if outcome.result is None:
            app.notify(
                outcome.message,
                title=f"Council on {what}: {outcome.outcome.name.lower()}",
                severity="error" if outcome.outcome is Outcome.ERROR else "warning",
                markup=False,
                timeout=20,
            )
            return
        if not await app.push_screen_wait(CouncilScreen(outcome, what)):
            return
        force = True


async def _sitting(
    app: FactoryApp, what: str, make: Callable[[], Proposal], *, force: bool
) -> CouncilOutcome:
    """One sitting, shown in the header while it lasts."""
    app.council_running = what
    summary = app.query_one(SummaryBar)
    summary.set_segment(
        "council",
        Content.assemble(("COUNCIL", "bold"), " ", (f"running on {printable(what)}…", "$accent")),
    )
    app.notify(f"Council running on {what}…", markup=False, timeout=4)
    config, now, environ = app.config, naive_local(app.clock()), app.environ

    def sit() -> CouncilOutcome:
        try:
            return run_council(config, make(), now=now, force=force, env=environ)
        except (ProposalError, PrsError) as error:
            return CouncilOutcome(Outcome.ERROR, str(error))
        except Exception as error:  # keep the cockpit alive; say what failed
            return CouncilOutcome(
                Outcome.ERROR, f"the Council failed: {type(error).__name__}: {error}"
            )

    try:
        return await asyncio.to_thread(sit)
    finally:
        app.council_running = None
        summary.set_segment("council", None)
        app.cost_feed.request()  # a paid sitting counts in today's spend
