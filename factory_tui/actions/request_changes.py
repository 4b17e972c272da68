"""Request changes on a PR: on GitHub (``gh pr review N --request-changes --body TEXT``) or, for
a local PR, in a note file beside the claims folder (``.claude/reviews/review-<branch>.md``,
never in the agent's worktree; :func:`~factory_tui.actions.prs.review_note_for`); both are
logged as ``REVIEW`` lines."""

from __future__ import annotations

import errno
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.actions.prs import (
    gh_client,
    prs_config,
    queued_pr,
    review_note_for,
    task_for,
)
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.gh import Gh, GhError
from factory_tui.adapters.git import GitRepo
from factory_tui.adapters.lock import atomic_write
from factory_tui.config import Config
from factory_tui.config.regular_files import read_regular
from factory_tui.core.prs_queue import PrView, Queue
from factory_tui.core.timeparse import format_ts

__all__ = ["request_changes"]


def request_changes(
    config: Config,
    ref: str,
    body: str,
    *,
    now: datetime,
    queue: Queue | None = None,
    gh: Gh | None = None,
    git: GitRepo | None = None,
    reader: FactoryReader | None = None,
    by: str | None = None,
) -> ActionResult:
    """Ask the agent for changes: a GitHub review, or a note in the factory's ``reviews/``
    folder (:func:`review_note_for`)."""
    refusal = read_only_refusal(config, "requesting changes")
    if refusal is not None:
        return refusal
    if not body.strip():
        return ActionResult(Outcome.REFUSED, "a request for changes needs a text (--body TEXT)")
    pcfg = prs_config(config)
    view = queued_pr(config, ref, now=now, queue=queue, reader=reader, gh=gh, git=git)
    if isinstance(view, ActionResult):
        return view
    if view.pr.state != "open":
        return ActionResult(Outcome.REFUSED, f"{view.label} is {view.pr.state}: nothing to review")
    who = by or actor()
    task = task_for(view)
    fields: list[tuple[str, str]] = [("task", task)]
    if view.number is not None:
        fields.append(("pr", str(view.number)))
    if view.branch:
        fields.append(("branch", view.branch))
    fields.append(("action", "request-changes"))
    if view.pr.source == "github" and view.pr.number is not None:
        try:
            gh_client(config, pcfg, gh).request_changes(view.pr.number, body)
        except GhError as error:
            return ActionResult(Outcome.ERROR, f"changes not requested on {view.label}: {error}")
        where = f"on GitHub ({view.pr.url or view.label})"
    else:
        note = review_note_for(config, view)
        try:
            _write_note(note, view, body, who, now)
        except OSError as error:
            return ActionResult(
                Outcome.ERROR, f"cannot write the review note {note} ({error}); nothing was sent"
            )
        fields.append(("file", str(note)))
        where = f"in {note}"
    first = body.strip().splitlines()[0].strip()
    fields += [("by", who), ("detail", first[:100])]
    line = audit(config, now, "REVIEW", fields)
    return ActionResult(
        Outcome.DONE, f"changes requested on {view.label} {where}", log_lines=(line,)
    )


NOTE_BYTES = 16 << 20
"""A review note bigger than this is not one factory-tui wrote: refused (said), never cut."""


def _write_note(note: Path, view: PrView, body: str, who: str, now: datetime) -> None:
    """Append a section to the note (earlier requests stay), written atomically."""
    note.parent.mkdir(parents=True, exist_ok=True)
    try:  # a FIFO there is refused (OSError, said), never waited on
        before = read_regular(note, NOTE_BYTES).decode("utf-8")
    except FileNotFoundError:
        before = ""
    except UnicodeDecodeError as error:  # said, and the note left as it is
        raise OSError(errno.EILSEQ, f"not UTF-8 text (byte {error.start})") from None
    if not before:
        before = (
            f"# Changes requested on branch {view.branch}\n\n"
            "The engineer reviewed this branch in factory-tui and asks for the changes below "
            "before it is merged. Make them, commit, and log the step as usual.\n"
        )
    section = f"\n## {format_ts(now)} — {who}\n\n{body.rstrip()}\n"
    atomic_write(note, (before.rstrip("\n") + "\n" + section).encode("utf-8"))
