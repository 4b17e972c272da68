"""Break a stale claim lock: its writer died mid-write, and nobody can claim the phase until it
goes (FORMATS.md, the lock protocol, step 4). A fresh lock (a writer at work) is never broken.

Logged as ``UNLOCK | lock=NAME task=ID phase=N age_s=S by=WHO``.
"""

from __future__ import annotations

from datetime import datetime

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.lock import LockBusy, LockUnsafe, break_stale_lock
from factory_tui.config import Config
from factory_tui.core.locks import parse_lock_name

__all__ = ["unlock"]


def unlock(config: Config, name: str, *, now: datetime, by: str | None = None) -> ActionResult:
    """Break the stale lock directory ``name`` in the claims folder, under the protocol."""
    refusal = read_only_refusal(config, "breaking a lock")
    if refusal is not None:
        return refusal
    parsed = parse_lock_name(name)
    if parsed is None:
        return ActionResult(
            Outcome.ERROR,
            f"{name!r} is not a claim lock's name (ID.lock or ID-phase-N.lock); "
            "`factory-tui status --json` lists the locks",
        )
    stale_s = config.lock_stale_after.total_seconds()
    try:
        age = break_stale_lock(config.claims_dir, name, stale_after_s=stale_s)
    except FileNotFoundError:
        return ActionResult(
            Outcome.REFUSED, f"no lock {name} in {config.claims_dir}: released already"
        )
    except LockBusy as busy:
        return ActionResult(
            Outcome.REFUSED,
            f"{name} is fresh (held {busy.age_s:.0f}s, stale after {stale_s:.0f}s): "
            "a writer is at work; not broken",
        )
    except LockUnsafe as unsafe:
        return ActionResult(Outcome.REFUSED, f"not broken: {unsafe}")
    except OSError as error:
        return ActionResult(
            Outcome.ERROR, f"cannot break {name}: {error.strerror or error}; nothing was changed"
        )
    claim, phase = parsed
    fields = [("lock", name), ("task", claim)]
    if phase is not None:
        fields.append(("phase", str(phase)))
    fields += [("age_s", f"{age:.0f}"), ("by", by or actor())]
    try:
        line = audit(config, now, "UNLOCK", fields)
    except OSError as error:
        return ActionResult(
            Outcome.ERROR,
            f"broke the stale lock {name}, but could not log it to {config.log_file} "
            f"({error.strerror or error})",
        )
    return ActionResult(
        Outcome.DONE,
        f"broke the stale lock {name} ({age:.0f}s old): {claim} can be claimed again",
        log_lines=(line,),
    )
