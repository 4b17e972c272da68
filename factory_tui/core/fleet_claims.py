"""Derive the claim views: each unit's state, its stale conditions and its conflicts.

Pure: the parsed claim files, the log's fold, ``now``, this machine's host name and a table of
process facts in. It never reads the clock or the process table itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo

from factory_tui.core.claims import ClaimFile, ClaimUnit
from factory_tui.core.fleet import (
    PID_START_GRACE,
    ClaimState,
    ClaimView,
    Condition,
    HostProcs,
    ProcInfo,
    Settings,
    fmt_age,
)
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import ClaimEventInfo, claim_key
from factory_tui.core.timeparse import format_ts, parse_ts

__all__ = ["remote_facts", "same_host"]


def _short_host(name: str) -> str:
    return name.strip().lower().split(".", 1)[0]


def same_host(claim_host: str | None, hostname: str) -> bool:
    """A claim without a host name is taken to be local; ``macbook.local`` matches ``macbook``."""
    if not claim_host:
        return True
    return _short_host(claim_host) == _short_host(hostname)


def remote_facts(
    remote: Mapping[str, HostProcs] | None, claim_host: str | None
) -> HostProcs | None:
    """The probed facts of the configured host a claim's ``hostname`` names (the same short name
    matches: ``worker-1.lan`` is ``worker-1``), or None when that host is not configured."""
    if not remote or not claim_host:
        return None
    found = remote.get(claim_host)
    if found is not None:
        return found
    short = _short_host(claim_host)
    return next((facts for name, facts in remote.items() if _short_host(name) == short), None)


def _pid_alive(
    pid: int | None, claimed_at: datetime | None, procs: Mapping[int, ProcInfo]
) -> tuple[bool, str]:
    if pid is None:
        return False, "no pid recorded"
    info = procs.get(pid)
    if info is None:
        return False, f"pid {pid} is not running"
    if (
        claimed_at is not None
        and info.started_at is not None
        and info.started_at > claimed_at + PID_START_GRACE
    ):
        return False, (
            f"pid {pid} is running but started {format_ts(info.started_at)}, after the claim "
            f"({format_ts(claimed_at)}): a reused pid"
        )
    return True, f"pid {pid} is alive"


def derive_claims(
    claims: Iterable[ClaimFile],
    fold: LogFold,
    *,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    remote: Mapping[str, HostProcs] | None = None,
) -> list[ClaimView]:
    views: list[ClaimView] = []
    for claim in claims:
        done = {u.phase for u in claim.units if u.completed_at}
        for unit in claim.units:
            views.append(
                derive_claim_view(
                    claim, unit, done, fold, now, hostname, procs, settings, remote=remote
                )
            )
    views.sort(key=claim_order)
    return views


def claim_order(view: ClaimView) -> tuple[str, int]:
    """Where a claim's view is among the fleet's: by id, a MEGA's phases in their order."""
    return view.unit.claim_id, -1 if view.unit.phase is None else view.unit.phase


def derive_claim_view(
    claim: ClaimFile,
    unit: ClaimUnit,
    done: set[int | None],
    fold: LogFold,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    *,
    remote: Mapping[str, HostProcs] | None = None,
) -> ClaimView:
    found = claim_conflicts(claim.file, unit, fold, settings.tz)
    if unit.completed_at:
        # An agent whose claim of it was lost may still be working on it: a recent lost claim
        # stays a conflict (an old one is history).
        found = [
            (about, detail)
            for about, detail in found
            if detail.startswith("lost claim") and _recent_claim(fold, unit, about, now, settings)
        ]
    conflicts = tuple(detail for _about, detail in found)
    conditions: tuple[Condition, ...] = ()
    unmet: tuple[int, ...] = ()
    alive: bool | None = None
    state: ClaimState
    if unit.completed_at:
        state, why = "done", f"completed {unit.completed_at}"
    elif unit.owner:
        held, alive = stale_conditions(unit, fold, now, hostname, procs, settings, remote=remote)
        state, why, unmet = _owned_state(unit, done, held)
        conditions = tuple(held)
    else:
        state, why, unmet = _free_state(unit, done)
    if found:
        why += "; conflict: " + "; ".join(conflicts)
    # Positional, in the order of the fields: one view per claim unit (13,000 at 10x).
    return ClaimView(
        unit,
        claim.file,
        claim.kind,
        claim.title,
        state,
        why,
        conditions,
        unmet,
        alive,
        same_host(unit.hostname, hostname),
        conflicts,
        tuple(about for about, _detail in found),
    )


def _owned_state(
    unit: ClaimUnit, done: set[int | None], conditions: list[Condition]
) -> tuple[ClaimState, str, tuple[int, ...]]:
    """An owned unit not done: stale when all its ``conditions`` hold, else claimed; with why,
    and the phases it depends on that are not done."""
    if all(c.holds for c in conditions):
        why = "stale: " + "; ".join(c.detail for c in conditions)
        state: ClaimState = "stale"
    else:
        failing = [c.detail for c in conditions if not c.holds]
        why = f"claimed by {unit.owner}; not stale: " + "; ".join(failing)
        state = "claimed"
    unmet = tuple(d for d in unit.deps if d not in done)
    if unmet:
        why += f" (claimed although phase {', '.join(map(str, unmet))} is not done)"
    return state, why, unmet


def _free_state(unit: ClaimUnit, done: set[int | None]) -> tuple[ClaimState, str, tuple[int, ...]]:
    """A unit with no owner: blocked by the phases it waits for, else available."""
    unmet = tuple(d for d in unit.deps if d not in done)
    if unmet:
        names = ", ".join(f"phase {d}" for d in unmet)
        return "blocked", f"waits for {names}", unmet
    return "available", "free: no owner, every dep done", unmet


def _recent_claim(
    fold: LogFold, unit: ClaimUnit, instance: str, now: datetime, settings: Settings
) -> bool:
    """``instance``'s open CLAIM of ``unit`` is younger than the stale age."""
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    claimed = fold.open_claims.get(key, {}).get(instance)
    at = parse_ts(claimed.ts, settings.tz) if claimed is not None else None
    return at is not None and now - at <= settings.stale_after


def claim_conflicts(
    file: str, unit: ClaimUnit, fold: LogFold, tz: tzinfo | None = None
) -> list[tuple[str, str]]:
    """Where operations.log and the claim file disagree about a unit that is not done, as
    (instance it is about, sentence with both facts).

    - A **lost claim**: an instance logged a CLAIM of the unit and no RELEASE of it since, yet
      the file does not name it (the protocol writes the file, then logs: another agent's rewrite
      of the whole MEGA file dropped it, or another agent claimed it over it). Whatever other
      agents did with the unit afterwards, that agent still believes it holds it.
    - A **logged release**: the last line is a RELEASE by the owner the file still names, later
      than its ``claimed_at`` (the real claim tool releases only in its own database).

    No grace period: the file is written before the CLAIM line, so reading the log after the file
    sees both; a reader that read the file just before an agent's write sees that write on the
    next watch cycle (the file changed), and the conflict goes.
    """
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    last = fold.claim_events.get(key)
    if last is None:
        return []
    where = file.rsplit("/", 1)[-1]
    owner = unit.owner
    names = f"names {owner} (claimed_at {unit.claimed_at})" if owner else "names no owner"
    out: list[tuple[str, str]] = []
    held = fold.open_claims.get(key, {})
    for instance, claimed in sorted(held.items(), key=lambda item: (item[1].ts, item[1].line)):
        if instance == owner:
            continue
        if last.event == "CLAIM" and last.instance != instance:
            sentence = (
                f"lost claim (overwritten): {instance} logged CLAIM of {unit.key} at "
                f"{claimed.ts} ({claimed.where}), then {last.instance} claimed it at {last.ts} "
                f"({last.where}) with no RELEASE by {instance} between; {where} {names}"
            )
        else:
            sentence = (
                f"lost claim: {instance} logged CLAIM of {unit.key} at {claimed.ts} "
                f"({claimed.where}) and no RELEASE since, but {where} {names}"
            )
        out.append((instance, sentence))
    if (
        last.event == "RELEASE"
        and owner
        and last.instance == owner
        and _released_after_claim(last, unit, tz)
    ):
        out.append((owner, released_in_log(last, unit, where)))
    return out


def _released_after_claim(release: ClaimEventInfo, unit: ClaimUnit, tz: tzinfo | None) -> bool:
    """The RELEASE line is at or after the unit's ``claimed_at`` (log times have minutes only)."""
    released = parse_ts(release.ts, tz)
    claimed = parse_ts(unit.claimed_at, tz) if unit.claimed_at else None
    if released is None or claimed is None:
        return False
    return released >= claimed.replace(second=0, microsecond=0)


def released_in_log(release: ClaimEventInfo, unit: ClaimUnit, file: str) -> str:
    reason = f", reason={release.reason}" if release.reason else ""
    return (
        f"{unit.owner} logged RELEASE of {unit.key} at {release.ts} ({release.where}{reason}), "
        f"after its claimed_at {unit.claimed_at}, yet {file} still names {unit.owner}"
    )


def logged_release(
    unit: ClaimUnit, fold: LogFold, tz: tzinfo | None = None
) -> ClaimEventInfo | None:
    """The owner's RELEASE line of ``unit`` when it is the unit's last claim event and later than
    its ``claimed_at``: the agent released it, only its file was not updated. ``release`` may
    then proceed on that evidence, without ``--force``."""
    if not unit.owner or unit.completed_at:
        return None
    key = claim_key(unit.claim_id, None if unit.phase is None else str(unit.phase))
    last = fold.claim_events.get(key)
    if (
        last is not None
        and last.event == "RELEASE"
        and last.instance == unit.owner
        and _released_after_claim(last, unit, tz)
    ):
        return last
    return None


def stale_conditions(
    unit: ClaimUnit,
    fold: LogFold,
    now: datetime,
    hostname: str,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    *,
    remote: Mapping[str, HostProcs] | None = None,
) -> tuple[list[Condition], bool | None]:
    """The three stale rules of FORMATS.md for one owned unit, and whether its pid is alive.

    On another host the pid is checked in ``remote``'s facts of that host (its batched ``ps``)
    exactly like a local one; a host not configured, or not reachable, leaves it "not checked"
    with the reason (never "dead"), and rules 1 and 2 alone decide."""
    limit = settings.stale_after
    owner = unit.owner or ""
    claimed = parse_ts(unit.claimed_at, settings.tz) if unit.claimed_at else None
    if claimed is None:
        age = Condition("age", False, "claimed_at unknown: the claim's age cannot be established")
    else:
        old = now - claimed > limit
        age = Condition(
            "age",
            old,
            f"claimed {fmt_age(now - claimed)} ago ({unit.claimed_at})"
            + ("" if old else f", under {fmt_age(limit)}"),
        )
    # Rule 2: any line the agent wrote (for its instance or task); never an audit line (by=).
    last_raw = fold.instance_last_event.get(owner)
    last = parse_ts(last_raw, settings.tz) if last_raw else None
    if last is None:
        log = Condition("log", True, f"no event by {owner} in the log")
    elif now - last > limit:
        log = Condition(
            "log", True, f"last event by {owner} {fmt_age(now - last)} ago ({last_raw})"
        )
    else:
        log = Condition("log", False, f"event by {owner} {fmt_age(now - last)} ago ({last_raw})")
    alive: bool | None
    if same_host(unit.hostname, hostname):
        alive, detail = _pid_alive(unit.pid, claimed, procs)
        pid = Condition("pid", not alive, detail)
    elif (facts := remote_facts(remote, unit.hostname)) is not None and facts.error is None:
        alive, detail = _pid_alive(unit.pid, claimed, facts.procs)
        pid = Condition("pid", not alive, f"on host {unit.hostname}: {detail}")
    else:
        alive = None
        why = f" ({facts.error})" if facts is not None else ""
        pid = Condition("pid", True, f"on host {unit.hostname}: pid not checked{why}")
    return [age, log, pid], alive


def owned_claims(views: Iterable[ClaimView]) -> dict[str, list[ClaimView]]:
    """By instance, the claims it holds (claimed or stale): whose pid speaks for it."""
    owned: dict[str, list[ClaimView]] = {}
    for view in views:
        if view.unit.owner and view.state in ("claimed", "stale"):
            owned.setdefault(view.unit.owner, []).append(view)
    return owned


def instance_alive(views: list[ClaimView]) -> tuple[bool | None, ClaimView | None]:
    """Alive if a local owned claim's pid is alive; ``None`` when only remote claims speak."""
    remote: ClaimView | None = None
    dead: ClaimView | None = None
    for view in views:
        if view.pid_alive:
            return True, view
        if view.pid_alive is None:
            remote = remote or view
        else:
            dead = dead or view
    if dead is not None:
        return False, dead
    if remote is not None:
        return None, remote
    return False, None


def pid_detail(evidence: ClaimView) -> str:
    """What the pid check said for a claim (``pid 100 is not running``)."""
    return next((c.detail for c in evidence.conditions if c.name == "pid"), "pid dead")


def conflicts_by_instance(views: Iterable[ClaimView]) -> dict[str, list[str]]:
    """The claims' conflicts, by the instance each one is about."""
    out: dict[str, list[str]] = {}
    for view in views:
        for about, detail in zip(view.conflicts_about, view.conflicts, strict=True):
            out.setdefault(about, []).append(detail)
    return out
