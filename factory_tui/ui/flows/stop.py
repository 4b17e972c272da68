"""Stop a live local agent (``K``): SIGTERM, then SIGKILL, after a confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_tui.actions.stop import plan_stop, stop_agent
from factory_tui.ui.flows.common import act, action_reader, plan_or_report
from factory_tui.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from factory_tui.ui.app import FactoryApp

__all__ = ["stop_flow"]


async def stop_flow(app: FactoryApp, target: str) -> None:
    """The agent ``target``, after a confirmation naming its pid, command line and cwd."""
    config, now = app.config, app.clock()
    planned = await plan_or_report(
        app, "Stop agent", lambda: plan_stop(config, target, now=now, reader=action_reader(app))
    )
    if planned is None:
        return
    confirm = ConfirmScreen(f"Stop {target}", planned.describe(), question="Stop this agent?")
    if not await app.push_screen_wait(confirm):
        return
    await act(
        app,
        "Stop agent",
        lambda: stop_agent(config, target, now=app.clock(), reader=action_reader(app)),
    )
