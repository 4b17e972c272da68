"""Release a stale claim (``x``), every stale claim (``X``), break a stale lock (``u``)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from factory_tui.actions.base import ActionResult
from factory_tui.actions.release import (
    ReleasePlan,
    plan_release,
    release_all_stale,
    release_all_summary,
    release_claim,
)
from factory_tui.actions.unlock import unlock
from factory_tui.ui.flows.common import act, action_reader, plan_or_report
from factory_tui.ui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from factory_tui.core.locks import LockView
    from factory_tui.ui.app import FactoryApp

__all__ = ["release_all_stale_flow", "release_flow", "unlock_flow"]


async def release_flow(app: FactoryApp, target: str) -> None:
    """The claim ``target``, after a confirmation listing the stale conditions (a claim that is
    not stale: its key typed, then a forced release)."""
    config, now = app.config, app.clock()

    def plan() -> ReleasePlan | ActionResult:
        reader = action_reader(app)
        planned = plan_release(config, target, now=now, reader=reader)
        if isinstance(planned, ReleasePlan) and not planned.releasable:
            planned = plan_release(config, target, now=now, reader=reader, force=True)
        return planned

    planned = await plan_or_report(app, "Release", plan)
    if planned is None:
        return
    force = not planned.releasable
    title = f"Release {target}" + ("" if planned.releasable else " — NOT stale: forced release")
    confirm = ConfirmScreen(
        title, planned.describe(), question="Release this claim?", typed=target if force else None
    )
    if not await app.push_screen_wait(confirm):
        return
    await act(
        app,
        "Release",
        lambda: release_claim(
            config, target, now=app.clock(), reader=action_reader(app), force=force
        ),
    )


PROGRESS_EVERY_S = 0.1
"""How often a long action's progress is shown at most."""


async def release_all_stale_flow(app: FactoryApp, stale: list[tuple[str, str | None, str]]) -> None:
    """Every stale claim (key, owner, why) listed, one confirmation, then each released under
    its own lock with its own re-check and log line."""
    lines = [f"{key} ({owner}): {why}" for key, owner, why in stale]
    lines.append("each is re-checked under its own lock; one that is no longer stale is kept")
    confirm = ConfirmScreen(
        f"Release {len(stale)} stale claim(s)", lines, question="Release them all? (y/n)"
    )
    if not await app.push_screen_wait(confirm):
        return
    if "release all stale" in app.running_actions:  # a second would race the first
        app.notify(
            "The stale claims are being released already.", title="Release all stale", markup=False
        )
        return
    shown = [0.0]

    def show(words: str | None) -> None:
        """The header's words, from the action's thread: at most ten times a second (the
        thread waits for the app each time), and never a failure of the release (the app
        may be quitting: the releases go on)."""
        now = time.monotonic()
        if words is not None and now - shown[0] < PROGRESS_EVERY_S:
            return
        shown[0] = now
        with contextlib.suppress(Exception):
            app.call_from_thread(app.cockpit.show_action_progress, words)

    def release_them() -> ActionResult:
        try:
            return release_all_summary(
                release_all_stale(
                    app.config,
                    now=app.clock(),
                    reader=action_reader(app),
                    progress=lambda done, total: show(f"releasing {done} of {total}"),
                )
            )
        finally:
            show(None)

    app.running_actions.add("release all stale")
    # The fleet is read once, after: not once per claim file and log line beside the releases.
    app.fleet_feed.drain.hold()
    try:
        await act(app, "Release all stale", release_them)
    finally:
        app.fleet_feed.drain.let_go()
        app.running_actions.discard("release all stale")


async def unlock_flow(app: FactoryApp, lock: LockView) -> None:
    """Break ``lock`` after a confirmation naming it and its age; ``unlock`` re-checks its age
    and keeps a lock that is fresh again."""
    config = app.config
    stale_after = config.lock_stale_after.total_seconds()
    lines = [
        f"lock: {config.claims_dir / lock.name} (on {lock.key})",
        f"age: {lock.age_s:.0f}s (stale after {stale_after:.0f}s)",
        "its writer died mid-write; breaking it lets the claim be taken again; logged as UNLOCK",
        "a lock that is fresh again when it is broken (a writer at work) is kept",
    ]
    confirm = ConfirmScreen(f"Unlock {lock.key}", lines, question="Break this lock? (y/n)")
    if not await app.push_screen_wait(confirm):
        return
    await act(app, "Unlock", lambda: unlock(config, lock.name, now=app.clock()))
