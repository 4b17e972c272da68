"""Launch an agent on an available phase or ticket (``L`` in the Claims view): what will be
created and started, a confirmation, the launch, the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_tui.actions.launch import launch, plan_launch
from factory_tui.ui.flows.common import act, action_reader, plan_or_report
from factory_tui.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from factory_tui.ui.app import FactoryApp

__all__ = ["launch_flow"]


async def launch_flow(app: FactoryApp, target: str) -> None:
    config = app.config
    planned = await plan_or_report(
        app,
        "Launch",
        lambda: plan_launch(config, target, now=app.clock(), reader=action_reader(app)),
    )
    if planned is None:
        return
    confirm = ConfirmScreen(
        f"Launch an agent on {planned.key}", planned.describe(), question="Launch it?"
    )
    if not await app.push_screen_wait(confirm):
        return
    await act(
        app,
        "Launch",
        lambda: launch(config, planned, now=app.clock(), reader=action_reader(app)),
    )
