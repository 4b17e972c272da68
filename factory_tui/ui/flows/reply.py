"""Answer an agent from its detail screen (``i``, or a digit for a numbered prompt): find its
pane, take the text, confirm pane and text, send, report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.send import find_agent_pane, plan_send, send
from factory_tui.ui.flows.common import act, action_reader, plan_or_report, report
from factory_tui.ui.screens.confirm import ConfirmScreen
from factory_tui.ui.screens.reply import ReplyScreen

if TYPE_CHECKING:
    from factory_tui.adapters.tmux import Tmux
    from factory_tui.ui.app import FactoryApp

__all__ = ["reply_flow"]


async def reply_flow(app: FactoryApp, instance: str, tmux: Tmux, answer: str | None = None) -> None:
    """Send ``answer`` (a digit), or what the engineer types in the reply box, to
    ``instance``'s pane after a confirmation showing the pane and the text."""
    config = app.config
    if answer is None:
        found = await plan_or_report(
            app,
            "Reply",
            lambda: find_agent_pane(
                config, instance, now=app.clock(), reader=action_reader(app), tmux=tmux
            ),
        )
        if found is None:
            return
        if found.pane is None:
            report(app, "Reply", ActionResult(Outcome.REFUSED, found.describe()[0]))
            return
        answer = await app.push_screen_wait(ReplyScreen(f"Reply to {instance}", found.describe()))
        if not answer:
            return
    text = answer
    planned = await plan_or_report(
        app,
        "Reply",
        lambda: plan_send(
            config, instance, text, now=app.clock(), reader=action_reader(app), tmux=tmux
        ),
    )
    if planned is None:
        return
    confirm = ConfirmScreen(
        f"Send to {instance} in {planned.pane.target}", planned.describe(), question="Send it?"
    )
    if not await app.push_screen_wait(confirm):
        return
    await act(
        app,
        "Reply",
        lambda: send(config, planned, now=app.clock(), reader=action_reader(app), tmux=tmux),
    )
