"""The recovery brief: what a resumed agent is told (its new instance id, the session it takes
over, its checkpoint, claim and log), every agent-written text fenced as data."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from factory_tui.actions.recovery import (
    DONE,
    OWNED,
    RELEASED,
    RecoveryInfo,
    strings_of,
    txt,
)
from factory_tui.core.fleet import (
    fmt_age,
)
from factory_tui.core.oplog import format_event
from factory_tui.core.safe import printable
from factory_tui.core.timeparse import format_ts

__all__ = ["new_instance_id", "recovery_brief"]

# -- the brief for the new agent -----------------------------------------------------------------


def new_instance_id(
    now: datetime, taken: Iterable[str] = (), *, hex4: Callable[[], str] | None = None
) -> str:
    """``t<N>-<R>`` (FORMATS.md): N = epoch seconds mod 100000, R = 4 hex characters."""
    used = set(taken)
    number = int(now.timestamp()) % 100000
    draw = hex4 or (lambda: secrets.token_hex(2))
    for _ in range(1000):
        candidate = f"t{number}-{draw()}"
        if candidate not in used:
            return candidate
    raise RuntimeError("no free instance id after 1000 draws")


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def recovery_brief(
    info: RecoveryInfo,
    log_tail: list[str] | tuple[str, ...],
    *,
    new_instance: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> str:
    """The markdown brief a resumed agent reads first: who it is, what it must log, where the
    crashed session stopped (checkpoint and log). Agent-written values are shown as text."""
    me = new_instance or "<your instance id>"
    branch = info.branch or "?"
    start = format_event(
        "YYYY-MM-DDTHH:MM",
        "SESSION-START",
        [("task", info.task), ("branch", branch), ("instance", me), ("recovered_from", info.task)],
    )
    lines = [
        f"# Recovery brief: resume task {txt(info.task)}",
        "",
        f"You are a new session, instance **{txt(me)}**, resuming task `{txt(info.task)}`, whose "
        f"previous session (instance {txt(info.instance or '?')}) crashed "
        f"{fmt_age(info.crashed_since)} before this brief was written.",
    ]
    if by or now:
        lines.append(
            f"Recovery started by {txt(by or '?')}"
            + (f" at {format_ts(now)}." if now is not None else ".")
        )
    fence = _fence(start)
    lines += [
        "",
        "## First",
        "",
        "1. Log the start of your session to operations.log"
        + (f" (`{txt(info.log_file)}`)" if info.log_file else "")
        + ", with the current time:",
        "",
        fence,
        printable(start),
        fence,
        "",
        f"2. Work in `{txt(info.worktree or '?')}` on branch `{txt(branch)}`"
        + (
            f" ({info.ahead} commit(s) ahead of {info.base}, {info.behind} behind)."
            if info.ahead is not None and info.base
            else "."
        ),
        f"3. Resume at step **{txt(info.resume_from)}**.",
        f"4. The claim: {_claim_brief(info)}",
        "",
        "## Where it stopped",
        "",
        f"- last step: {txt(info.last_step or 'none logged')}"
        + (" (started, not done)" if info.session.last_step_state == "start" else ""),
    ]
    if info.session.last_error:
        lines.append(f"- last error: {txt(info.session.last_error)}")
    if info.pr is not None:
        lines.append(f"- PR: #{info.pr}")
    cp = info.checkpoint
    if cp is not None:
        progress = cp.progress or {}
        lines += [
            "",
            f"## Checkpoint {txt(cp.name)}",
            "",
            f"- steps done: {', '.join(txt(s) for s in cp.steps_completed) or '—'}",
            f"- steps remaining: {', '.join(txt(s) for s in cp.steps_remaining) or '—'}",
        ]
        if cp.git_sha:
            lines.append(f"- commit at the checkpoint: {txt(cp.git_sha)}")
        if cp.notes:
            lines.append(f"- notes: {txt(cp.notes)}")
        for key, label in (
            ("files_completed", "files completed"),
            ("files_remaining", "files remaining"),
            ("decisions_made", "decisions made"),
            ("blockers", "blockers"),
        ):
            items = strings_of(progress.get(key))
            lines.append(f"- {label}: " + ("; ".join(txt(x) for x in items) if items else "none"))
        last_commit = progress.get("last_commit_message")
        if isinstance(last_commit, str) and last_commit:
            lines.append(f"- last commit message: {txt(last_commit)}")
    if info.uncommitted:
        lines += ["", "## Uncommitted changes left in the worktree", ""]
        lines += [f"- {txt(path)}" for path in info.uncommitted]
    if log_tail:
        tail = "\n".join(printable(line) for line in log_tail)
        fence = _fence(tail)
        lines += ["", "## The task's last lines in operations.log", "", fence, tail, fence]
    return "\n".join(lines) + "\n"


def _claim_brief(info: RecoveryInfo) -> str:
    if info.claim is None:
        return "none was found for this task; claim it under the lock protocol before working."
    key = txt(info.claim.key)
    if info.claim_state == OWNED:
        return (
            f"{key} is still held by the crashed instance {txt(info.instance)}; it stays. Take it "
            "over under the lock protocol (owner and pid set to yours) so it does not turn stale."
        )
    if info.claim_state == RELEASED:
        return f"{key} was released meanwhile: claim it again under the lock protocol first."
    if info.claim_state == DONE:
        return f"{key} is marked done."
    return f"{key} is {txt(info.claim_state)}: do not take it back; coordinate first."
