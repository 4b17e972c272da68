"""Recover a crashed session (``r``): what is known about it, then resume, abandon (with a
reason), close (its PR is merged) or cancel."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from factory_tui.actions.base import ActionResult, actor
from factory_tui.actions.recover import abandon, close_merged, resume
from factory_tui.actions.recovery import RecoveryInfo
from factory_tui.actions.recovery_info import ReviewDiffs, recovery_info, review_diffs
from factory_tui.ui.flows.common import act, action_reader, report
from factory_tui.ui.screens.confirm import ConfirmScreen, ReasonScreen, RecoveryScreen

if TYPE_CHECKING:
    from factory_tui.ui.app import FactoryApp

__all__ = ["recover_flow"]


async def recover_flow(app: FactoryApp, task: str) -> None:
    config, now = app.config, app.clock()

    def gather() -> tuple[RecoveryInfo | ActionResult, ReviewDiffs | None]:
        info = recovery_info(config, task, now=now, reader=action_reader(app))
        diffs: ReviewDiffs | None = None
        if isinstance(info, RecoveryInfo):
            try:
                diffs = review_diffs(config, info)
            except Exception as error:
                diffs = ReviewDiffs("", "", f"no diff available: {error}")
        return info, diffs

    info, diffs = await asyncio.to_thread(gather)
    if isinstance(info, ActionResult):
        report(app, "Recover", info)
        return
    choice = await app.push_screen_wait(
        RecoveryScreen(
            f"Recover {task}",
            info.describe(),
            resume_blocked=info.why_not("resume"),
            can_close=info.why_not("close_merged") is None,
            diffs=diffs,
        )
    )
    if choice is None:
        return
    by = actor()
    if choice == "abandon":
        reason = await app.push_screen_wait(
            ReasonScreen(
                f"Abandon {task}",
                info.plan("abandon", by=by),
                prompt="Why abandon it? (logged; enter to confirm, escape to cancel)",
            )
        )
        if not reason:
            return
        await act(
            app,
            "Abandon",
            lambda: abandon(
                config, task, now=app.clock(), reason=reason, reader=action_reader(app), by=by
            ),
        )
        return
    verb = "Resume" if choice == "resume" else "Close"
    confirm = ConfirmScreen(
        f"{verb} {task}", info.plan(choice, by=by), question=f"{verb} this session?"
    )
    if not await app.push_screen_wait(confirm):
        return

    def change() -> ActionResult:
        if choice == "resume":
            return resume(config, task, now=app.clock(), reader=action_reader(app))
        return close_merged(config, task, now=app.clock(), reader=action_reader(app))

    name = "Resume" if choice == "resume" else "Close session"
    await act(app, name, change)
