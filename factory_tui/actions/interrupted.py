"""Finish what an interrupted factory-tui left half done (README "Safety").

A release logs ``RELEASE-INTENT … change=K`` before it writes the claim file, and the protocol's
``RELEASE … change=K`` after. A factory-tui killed between the two leaves an intent with no
outcome: the claim file may or may not show the change. ``status`` only reports it (it never
writes); the cockpit on start, and ``factory-tui release`` before it acts, finish it here under
the claim's locks, by what the file shows:

- released (no owner, or another owner now): the change happened — log its missing outcome,
  ``RELEASE … change=K``, with ``completed_by=`` who finished the record;
- still owned by the intent's owner: the change did not happen — log ``RELEASE-UNDONE …
  change=K detail=…`` (nothing to roll back: the file is as it was);
- the file or its unit gone, or unreadable: left open, and still reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import actor, audit
from factory_tui.actions.release import UNDONE, lock_names
from factory_tui.adapters.lock import LockBusy, LockUnsafe, claim_locks, lock_path
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.core.claims import parse_claim
from factory_tui.core.oplog import Event

__all__ = ["Finished", "finish_interrupted"]


@dataclass(frozen=True)
class Finished:
    change: str
    key: str
    outcome: str
    """``completed`` (its RELEASE logged), ``undone`` (RELEASE-UNDONE logged) or ``left`` (still
    open: why is in ``message``)."""
    message: str


def finish_interrupted(
    config: Config,
    open_changes: dict[str, Event],
    *,
    now: datetime,
    by: str | None = None,
    only_file: str | None = None,
) -> list[Finished]:
    """Close every open release intent (or those of the claim file ``only_file``)."""
    if config.read_only:
        return []
    who = by or actor()
    out = []
    for change, intent in list(open_changes.items()):
        if not intent.name.endswith("-INTENT"):
            continue
        file = intent.get("file") or ""
        if only_file is not None and file != only_file:
            continue
        out.append(_finish(config, change, intent, now, who))
    return out


def _finish(config: Config, change: str, intent: Event, now: datetime, who: str) -> Finished:
    claim_id = intent.get("claim") or "?"
    phase = intent.get("phase") or "-"
    owner = intent.get("owner") or ""
    key = claim_id if phase == "-" else f"{claim_id}:{phase}"
    file = intent.get("file") or ""
    try:
        path = lock_path(config.claims_dir, file)  # one plain name inside the claims folder
    except LockUnsafe:
        return Finished(change, key, "left", f"the intent names no usable file ({file!r})")
    data = read_factory_file(path, config.max_file_bytes)
    if not isinstance(data, bytes):
        return Finished(change, key, "left", f"{file} is gone or unreadable: check by hand")
    claim, _problems = parse_claim(str(path), data)
    if claim is None:
        return Finished(change, key, "left", f"{file} cannot be read: check by hand")
    try:
        with claim_locks(
            config.claims_dir,
            lock_names(path, claim),
            stale_after_s=config.lock_stale_after.total_seconds(),
        ):
            return _finish_locked(config, change, intent, path, key, owner, now, who)
    except (LockBusy, LockUnsafe) as busy:
        return Finished(change, key, "left", f"{file} is being written ({busy}): next time")
    except OSError as error:
        return Finished(change, key, "left", f"cannot finish it: {error.strerror or error}")


def _finish_locked(
    config: Config,
    change: str,
    intent: Event,
    path: Path,
    key: str,
    owner: str,
    now: datetime,
    who: str,
) -> Finished:
    data = read_factory_file(path, config.max_file_bytes)
    claim = parse_claim(str(path), data)[0] if isinstance(data, bytes) else None
    phase = intent.get("phase") or "-"
    unit = None
    if claim is not None:
        unit = next(
            (u for u in claim.units if ("-" if u.phase is None else str(u.phase)) == phase), None
        )
    if unit is None:
        return Finished(change, key, "left", f"{path.name} has no {key} now: check by hand")
    claim_id = intent.get("claim") or "?"
    if unit.owner == owner:
        audit(
            config,
            now,
            UNDONE,
            [
                ("claim", claim_id),
                ("phase", phase),
                ("change", change),
                ("detail", f"interrupted before the write: {path.name} still names {owner}"),
                ("by", who),
            ],
        )
        return Finished(
            change, key, "undone", f"{key}: the release did not happen ({owner} owns it)"
        )
    now_owner = f"now owned by {unit.owner}" if unit.owner else "released"
    fields = [
        ("task", claim_id),
        ("phase", phase),
        ("instance", owner),
        ("reason", intent.get("reason") or "stale"),
        ("by", intent.get("by") or who),
        ("completed_by", who),
        ("note", f"outcome logged after an interruption; {path.name} shows it {now_owner}"),
        ("change", change),
    ]
    audit(config, now, "RELEASE", fields)
    return Finished(change, key, "completed", f"{key}: the release of {owner} happened; logged now")
