"""The approval queue's actions on the PR under the cursor: approve (``a``), request changes
(``c``), mark reviewed (``v``). Each reloads the queue once done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_tui.actions.approve import approve_pr, plan_approve
from factory_tui.actions.base import ActionResult, actor
from factory_tui.actions.prs import mark_reviewed
from factory_tui.actions.request_changes import request_changes
from factory_tui.ui.flows.common import act, plan_or_report
from factory_tui.ui.screens.confirm import ConfirmScreen
from factory_tui.ui.screens.prs import RequestChangesScreen

if TYPE_CHECKING:
    from factory_tui.config import Config
    from factory_tui.core.prs_queue import PrView
    from factory_tui.ui.app import FactoryApp

__all__ = ["approve_flow", "mark_reviewed_flow", "request_changes_flow", "request_lines"]


async def approve_flow(app: FactoryApp, view: PrView) -> None:
    """Approve (squash merge per the protocol) after a confirmation saying exactly what will
    run; red or running CI needs ``override`` typed."""
    config, now, queue, by = app.config, app.clock(), app.queue, actor()
    planned = await plan_or_report(
        app,
        "Approve",
        lambda: plan_approve(config, view.key, now=now, override_ci=True, queue=queue, by=by),
    )
    if planned is None:
        return
    override = planned.override_ci
    title = f"Approve {view.label}"
    if override:
        word = "RED" if planned.ci == "red" else "STILL RUNNING"
        title += f" — CI is {word}: merging overrides it (logged)"
    confirm = ConfirmScreen(
        title,
        planned.describe(),
        question="Approve and squash merge?",
        typed="override" if override else None,
    )
    if not await app.push_screen_wait(confirm):
        return

    def approve() -> ActionResult:
        result = approve_pr(
            config,
            view.key,
            now=app.clock(),
            override_ci=override,
            confirmed=planned,
            queue=queue,
            by=planned.by,
        )
        app.call_from_thread(app.reload_prs)
        return result

    await act(app, "Approve", approve)


def request_lines(config: Config, view: PrView) -> list[str]:
    """What requesting changes on ``view`` will do, for the text box's screen."""
    from factory_tui.actions.prs import review_note_for

    pr, task = view.pr, view.link.task or view.branch or "?"
    lines = [
        f"{view.mode.mode.capitalize()} PR {view.label}: {pr.title}",
        f"task {task}" + (f", instance {view.link.instance}" if view.link.instance else ""),
    ]
    if pr.source == "github" and pr.number is not None:
        lines.append(
            f"runs: gh pr review {pr.number} --request-changes --body <your text> "
            "(the text as one argument, no shell)"
        )
    else:
        note = review_note_for(config, view)
        lines.append(f"adds your text to {note}, where the agent's worktree sees it")
    lines.append("logs a REVIEW line (action=request-changes) in operations.log")
    return lines


async def request_changes_flow(app: FactoryApp, view: PrView) -> None:
    """Ask the agent for changes on the open PR ``view`` (a text box)."""
    config, queue, by = app.config, app.queue, actor()
    text = await app.push_screen_wait(
        RequestChangesScreen(f"Request changes on {view.label}", request_lines(config, view))
    )
    if not text:
        return

    def ask() -> ActionResult:
        result = request_changes(config, view.key, text, now=app.clock(), queue=queue, by=by)
        app.call_from_thread(app.reload_prs)
        return result

    await act(app, "Request changes", ask)


async def mark_reviewed_flow(app: FactoryApp, view: PrView) -> None:
    """Remember that the merged Show PR ``view`` was reviewed (per user)."""
    config, folder = app.config, app.prs_options.reviews_dir

    def remember() -> ActionResult:
        result = mark_reviewed(config, view, now=app.clock(), reviews_dir=folder)
        app.call_from_thread(app.reload_prs, fresh=False)
        return result

    await act(app, "Mark reviewed", remember)
