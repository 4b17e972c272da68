"""Merge the real factory's local store into the fleet derived from the files, by evidence.

Pure: the fleet, the store's snapshot, the log's fold, ``now``, this host's name and the process
facts in; a fleet out. Nothing is silently preferred:

- a claim in both the files and the store is one claim (``origins`` names both); where they
  disagree about its owner, the claim carries a ``conflict`` with both facts (the real claim tool
  releases in its database only: the file still names the owner the store released);
- a claim only in the store is derived like a file's (the same stale rules, its pid checked the
  same way);
- a session or an agent known to both is one; one only in the store is shown from its row (its
  step from its latest milestone, its liveness from the store's ``updated_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from factory_tui.core.claims import ClaimFile, ClaimUnit
from factory_tui.core.fleet import (
    ClaimView,
    Fleet,
    HostProcs,
    InstanceStatus,
    InstanceView,
    ProcInfo,
    SessionView,
    Settings,
    fmt_age,
)
from factory_tui.core.fleet_claims import (
    derive_claim_view,
    instance_alive,
    pid_detail,
    same_host,
)
from factory_tui.core.fleet_instances import instance_order
from factory_tui.core.fold import LogFold
from factory_tui.core.hegemon import StoreClaim, StoreSession, StoreSnapshot
from factory_tui.core.steps import step_index
from factory_tui.core.timeparse import parse_ts

__all__ = ["STORE", "StoreMerger", "merge_store", "store_release"]

STORE = "local store"
"""The ``origins`` name of the real factory's SQLite store."""


def _add(origins: tuple[str, ...], origin: str) -> tuple[str, ...]:
    return origins if origin in origins else (*origins, origin)


def store_release(
    unit: ClaimUnit, store: StoreSnapshot | None, settings: Settings
) -> StoreClaim | None:
    """The store's row of ``unit`` when it shows the unit released (no owner, ``completed_at``
    set) at or after the ``claimed_at`` the file still shows: the real tool released it in its
    database only. ``release`` may then proceed on that evidence, without ``--force``."""
    if store is None or not unit.owner or unit.completed_at:
        return None
    row = next((c for c in store.claims if c.key == unit.key), None)
    if row is None or row.owner or not row.completed_at:
        return None
    released = parse_ts(row.completed_at, settings.tz)
    claimed = parse_ts(unit.claimed_at, settings.tz) if unit.claimed_at else None
    if released is None or claimed is None:
        return None
    return row if released >= claimed.replace(second=0, microsecond=0) else None


def released_in_store(row: StoreClaim, unit: ClaimUnit, file: str, store: StoreSnapshot) -> str:
    return (
        f"{store.label} ({store.path}) released {unit.key} at {row.completed_at} "
        f"(owner null), after its claimed_at {unit.claimed_at}, yet {file} still names "
        f"{unit.owner}"
    )


def _claim_conflicts(
    view: ClaimView, row: StoreClaim, store: StoreSnapshot, settings: Settings
) -> list[tuple[str, str]]:
    """Where the file and the store disagree about one unit, as (instance, sentence)."""
    unit = view.unit
    file = view.file.rsplit("/", 1)[-1]
    out: list[tuple[str, str]] = []
    if unit.owner and row.owner and unit.owner != row.owner:
        sentence = (
            f"{store.label} names {row.owner} as the owner of {unit.key} (claimed_at "
            f"{row.claimed_at}), {file} names {unit.owner} (claimed_at {unit.claimed_at})"
        )
        out += [(unit.owner, sentence), (row.owner, sentence)]
    elif unit.owner and not row.owner and not unit.completed_at:
        if store_release(unit, store, settings) is not None:
            out.append((unit.owner, released_in_store(row, unit, file, store)))
        else:
            when = f" at {row.completed_at}" if row.completed_at else ""
            out.append(
                (
                    unit.owner,
                    f"{store.label} shows {unit.key} with no owner{when}, yet {file} names "
                    f"{unit.owner} (claimed_at {unit.claimed_at})",
                )
            )
    elif row.owner and not unit.owner and not unit.completed_at:
        out.append(
            (
                row.owner,
                f"{store.label} names {row.owner} as the owner of {unit.key} (claimed_at "
                f"{row.claimed_at}), yet {file} shows it free",
            )
        )
    return out


def _with_conflicts(view: ClaimView, found: list[tuple[str, str]], origin: str) -> ClaimView:
    view = replace(view, origins=_add(view.origins, origin))
    if not found:
        return view
    details = tuple(detail for _about, detail in found)
    return replace(
        view,
        conflicts=(*view.conflicts, *details),
        conflicts_about=(*view.conflicts_about, *(about for about, _ in found)),
        why=view.why + "; conflict: " + "; ".join(dict.fromkeys(details)),
    )


def _store_claim_groups(rows: Iterable[StoreClaim]) -> list[tuple[str, tuple[StoreClaim, ...]]]:
    """The store's claims that no file holds, grouped as claim files would be (a MEGA's phases
    together, so that their deps can be checked), by claim id."""
    groups: dict[str, list[StoreClaim]] = {}
    for row in rows:
        groups.setdefault(row.claim_id, []).append(row)
    return [(claim_id, tuple(members)) for claim_id, members in sorted(groups.items())]


def _store_claim_file(
    claim_id: str, members: tuple[StoreClaim, ...], store: StoreSnapshot
) -> ClaimFile:
    """One group of :func:`_store_claim_groups` as the claim file that would hold it."""
    mega = any(r.unit_phase is not None for r in members)
    units = tuple(
        ClaimUnit(
            claim_id=claim_id,
            phase=r.unit_phase,
            name=r.ticket or "" if mega else "",
            tickets=tuple(t for t in (r.ticket or "").split(",") if t) if mega else (),
            owner=r.owner,
            pid=r.pid,
            claimed_at=r.claimed_at,
            hostname=r.host,
            branch=r.branch,
            mode=None,
            deps=r.deps,
            completed_at=r.completed_at,
        )
        for r in sorted(members, key=lambda r: -1 if r.unit_phase is None else r.unit_phase)
    )
    return ClaimFile(
        file=f"{store.path}#claims/{claim_id}",
        kind="mega" if mega else "standalone",
        claim_id=claim_id,
        title=store.ticket_title(claim_id),
        created=None,
        units=units,
        declared_id=claim_id,
        component=None,
    )


def _merge_claims(
    fleet: Fleet,
    store: StoreSnapshot,
    fold: LogFold,
    now: datetime,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    remote: Mapping[str, HostProcs] | None,
    cache: _Cache | None,
) -> list[ClaimView]:
    views = list(fleet.claims)
    place = {view.key: n for n, view in enumerate(views)}
    only_store: list[StoreClaim] = []
    for row in store.claims:
        n = place.get(row.key)
        if n is None:
            only_store.append(row)
            continue
        found = _claim_conflicts(views[n], row, store, settings)
        views[n] = _with_conflicts(views[n], found, store.origin)
    for claim_id, members in _store_claim_groups(only_store):
        key = (claim_id, members, store.ticket_title(claim_id))
        derived = cache.claims.get(key) if cache is not None else None
        if derived is None:
            claim = _store_claim_file(claim_id, members, store)
            done = {u.phase for u in claim.units if u.completed_at}
            derived = tuple(
                replace(
                    derive_claim_view(
                        claim, unit, done, fold, now, fleet.hostname, procs, settings, remote=remote
                    ),
                    origins=(store.origin,),
                )
                for unit in claim.units
            )
        if cache is not None:
            cache.keep_claims[key] = derived
        views.extend(derived)
    views.sort(key=lambda v: (v.unit.claim_id, -1 if v.unit.phase is None else v.unit.phase))
    return views


def _session_view(
    n: int, row: StoreSession, store: StoreSnapshot, now: datetime, settings: Settings
) -> SessionView:
    step = store.latest_step(row.instance_id, row.ticket)
    started = parse_ts(row.started_at, settings.tz) if row.started_at else None
    updated = row.updated_at or row.started_at or ""
    last_step = (step.step if step else None) or row.step
    where = f" on {row.host}" if row.host else ""
    return SessionView(
        task=row.ticket or "(no ticket)",
        instance=row.instance_id,
        branch=row.branch,
        status="running",
        end_status=None,
        started_at=row.started_at or "",
        ended_at=None,
        last_step=last_step,
        last_step_state="done" if last_step else None,
        last_step_at=(step.created_at if step else None) or row.updated_at,
        last_event_at=updated,
        pr=str(row.pr) if row.pr else None,
        checkpoint=None,
        recovered_from=None,
        recovered_by=None,
        last_error=None,
        source=store.path.rsplit("/", 1)[-1],
        start_line=n,
        why=f"open in {store.label}{where}: step {last_step or '?'}, updated {updated}",
        duration=now - started if started is not None else None,
        origins=(store.origin,),
    )


def _merge_sessions(
    fleet: Fleet,
    store: StoreSnapshot,
    now: datetime,
    settings: Settings,
    cache: _Cache | None = None,
) -> list[SessionView]:
    sessions = list(fleet.sessions)
    by_instance: dict[str, list[int]] = {}
    for i, s in enumerate(sessions):
        if s.instance:
            by_instance.setdefault(s.instance, []).append(i)
    for n, row in enumerate(store.sessions, start=1):
        same = [
            i
            for i in by_instance.get(row.instance_id, ())
            if row.ticket is None or sessions[i].task == row.ticket
        ]
        if same:
            for i in same:
                sessions[i] = replace(sessions[i], origins=_add(sessions[i].origins, store.origin))
        else:
            key = (n, row, store.latest_step(row.instance_id, row.ticket))
            view = cache.sessions.get(key) if cache is not None else None
            if view is None:
                view = _session_view(n, row, store, now, settings)
            if cache is not None:
                cache.keep_sessions[key] = view
            sessions.append(view)
    return sessions


def _last_sign(
    instance: str, store: StoreSnapshot, settings: Settings
) -> tuple[datetime | None, str | None]:
    """The latest time the store heard of ``instance`` (its session's ``updated_at`` or its
    latest milestone), and that time as written."""
    best: tuple[datetime | None, str | None] = (None, None)
    for text in store.update_times(instance):
        at = parse_ts(text, settings.tz)
        if at is not None and (best[0] is None or at > best[0]):
            best = (at, text)
    return best


def _store_instance(
    instance: str,
    store: StoreSnapshot,
    owned: list[ClaimView],
    mine: list[SessionView],
    conflicts: list[str],
    hostname: str,
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
) -> InstanceView:
    """An agent only the store knows: alive on the store's evidence (an update within the idle
    threshold), its claims' pids checked like any claim's. ``owned``: the claims it holds;
    ``mine``: its sessions."""
    alive, evidence = instance_alive(owned)
    last, last_raw = _last_sign(instance, store, settings)
    silent = now - last if last is not None else None
    quiet = (
        f"last update in {store.label} {fmt_age(silent)} ago"
        if silent is not None
        else f"no update time in {store.label}"
    )
    stale = [c for c in owned if c.state == "stale"]
    status: InstanceStatus
    if stale and not alive:
        status, why = "stale", f"claim {stale[0].key} is {stale[0].why}"
    elif silent is not None and silent <= settings.idle_after:
        status, why = "working", f"{quiet}: alive on {store.label}'s evidence"
    elif alive or (alive is None and evidence is not None):
        pid_word = (
            f"pid {evidence.unit.pid} alive"
            if alive and evidence is not None
            else f"on host {evidence.unit.hostname if evidence else '?'}: pid not checked"
        )
        status, why = "idle", f"{pid_word}; {quiet} (idle after {fmt_age(settings.idle_after)})"
    elif silent is not None and silent > settings.stale_after:
        detail = f"; {pid_detail(evidence)}" if evidence is not None else ""
        status, why = "stale", f"{quiet}{detail}"
    else:
        status = "idle"
        why = f"{quiet} (idle after {fmt_age(settings.idle_after)})"
    session = mine[-1] if mine else None
    row = store.session_of(instance)
    host = (row.host if row else None) or (evidence.unit.hostname if evidence else None)
    pid = evidence.unit.pid if evidence is not None else None
    info = procs.get(pid) if pid is not None and alive and evidence and evidence.local else None
    step = session.last_step if session else None
    return InstanceView(
        id=instance,
        status=status,
        why=why,
        host=host,
        local=same_host(host, hostname),
        pid=pid,
        alive=alive if evidence is not None else None,
        cpu_percent=info.cpu_percent if info else None,
        rss_bytes=info.rss_bytes if info else None,
        task=session.task if session else None,
        branch=(session.branch if session else None) or (owned[0].unit.branch if owned else None),
        step=step,
        step_state=session.last_step_state if session else None,
        step_index=step_index(step) if step else None,
        step_since=session.last_step_at if session else None,
        last_event_at=last_raw,
        claims=tuple(c.key for c in owned),
        conflicts=tuple(conflicts),
        recent=(),
        session=session,
        origins=(store.origin,),
    )


def _merge_instances(
    fleet: Fleet,
    store: StoreSnapshot,
    claims: list[ClaimView],
    sessions: list[SessionView],
    procs: Mapping[int, ProcInfo],
    now: datetime,
    settings: Settings,
    cache: _Cache | None = None,
) -> list[InstanceView]:
    # The conflicts this merge brought (those of the files' claims are shown already): all of
    # a store-only claim's, the ones added after a file claim's own.
    added: dict[str, list[str]] = {}
    before = {view.key: len(view.conflicts) for view in fleet.claims}
    for view in claims:
        start = before.get(view.key, 0)
        for about, detail in zip(view.conflicts_about[start:], view.conflicts[start:], strict=True):
            added.setdefault(about, []).append(detail)
    known_to_store = {s.instance_id for s in store.sessions}
    known_to_store.update(c.owner for c in store.claims if c.owner)
    instances: list[InstanceView] = []
    for agent in fleet.instances:
        if agent.id in known_to_store or agent.id in added:
            agent = replace(
                agent,
                origins=(
                    _add(agent.origins, store.origin)
                    if agent.id in known_to_store
                    else agent.origins
                ),
                conflicts=(*agent.conflicts, *added.pop(agent.id, ())),
            )
        instances.append(agent)
    shown = {agent.id for agent in instances}
    owned: dict[str, list[ClaimView]] = {}
    for view in claims:
        if view.unit.owner and view.state in ("claimed", "stale"):
            owned.setdefault(view.unit.owner, []).append(view)
    mine: dict[str, list[SessionView]] = {}
    for session in sessions:
        if session.instance:
            mine.setdefault(session.instance, []).append(session)
    for instance in sorted((known_to_store | set(added)) - shown):
        its_claims, its_sessions = owned.get(instance, []), mine.get(instance, [])
        conflicts = added.get(instance, [])
        # The claim and session views are the cache's own objects while their rows are
        # unchanged: their identities say whether this agent's inputs changed.
        key = (
            instance,
            tuple(map(id, its_claims)),
            tuple(map(id, its_sessions)),
            tuple(conflicts),
            tuple(store.update_times(instance)),
            store.session_of(instance),
        )
        found = cache.instances.get(key) if cache is not None else None
        if found is None:
            agent = _store_instance(
                instance,
                store,
                its_claims,
                its_sessions,
                conflicts,
                fleet.hostname,
                procs,
                now,
                settings,
            )
            # The views keyed by identity are kept alive with it: no other can take their ids.
            found = (agent, (*its_claims, *its_sessions))
        if cache is not None:
            cache.keep_instances[key] = found
        instances.append(found[0])
    instances.sort(key=instance_order)
    return instances


def _recount(
    counts: Mapping[str, int],
    instances: list[InstanceView],
    claims: list[ClaimView],
    sessions: list[SessionView],
) -> dict[str, int]:
    out = {k: v for k, v in counts.items() if not k.startswith(("agents_", "claims_", "sessions_"))}
    base = (
        {f"agents_{s}": 0 for s in ("working", "idle", "stale", "crashed", "ended")}
        | {f"claims_{s}": 0 for s in ("available", "blocked", "claimed", "stale", "done")}
        | {f"sessions_{s}": 0 for s in ("running", "crashed", "ended")}
    )
    for kind, states in (
        ("agents", [i.status for i in instances]),
        ("claims", [c.state for c in claims]),
        ("sessions", [s.status for s in sessions]),
    ):
        for state in states:
            base[f"{kind}_{state}"] = base.get(f"{kind}_{state}", 0) + 1
    return base | out


def merge_store(
    fleet: Fleet,
    store: StoreSnapshot,
    *,
    fold: LogFold,
    now: datetime,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    remote: Mapping[str, HostProcs] | None = None,
) -> Fleet:
    """``fleet`` (derived from the files) with what ``store`` knows merged in, by evidence."""
    return _merge(fleet, store, fold, now, procs, settings, remote, None)


def _merge(
    fleet: Fleet,
    store: StoreSnapshot,
    fold: LogFold,
    now: datetime,
    procs: Mapping[int, ProcInfo],
    settings: Settings,
    remote: Mapping[str, HostProcs] | None,
    cache: _Cache | None,
) -> Fleet:
    claims = _merge_claims(fleet, store, fold, now, procs, settings, remote, cache)
    sessions = _merge_sessions(fleet, store, now, settings, cache)
    instances = _merge_instances(fleet, store, claims, sessions, procs, now, settings, cache)
    merged = replace(
        fleet,
        claims=tuple(claims),
        sessions=tuple(sessions),
        instances=tuple(instances),
        counts=_recount(fleet.counts, instances, claims, sessions),
    )
    if store.origin == STORE:
        return replace(merged, store=store)
    return replace(merged, remote=store)


@dataclass
class _Cache:
    """The views made from the store's rows by the last merge, by what they were made from
    (within one context: see :class:`StoreMerger`); ``keep_*``: the ones this merge used, which
    become the cache for the next (the others are dropped)."""

    claims: dict[tuple[object, ...], tuple[ClaimView, ...]] = field(default_factory=dict)
    sessions: dict[tuple[object, ...], SessionView] = field(default_factory=dict)
    instances: dict[tuple[object, ...], tuple[InstanceView, tuple[object, ...]]] = field(
        default_factory=dict
    )
    keep_claims: dict[tuple[object, ...], tuple[ClaimView, ...]] = field(default_factory=dict)
    keep_sessions: dict[tuple[object, ...], SessionView] = field(default_factory=dict)
    keep_instances: dict[tuple[object, ...], tuple[InstanceView, tuple[object, ...]]] = field(
        default_factory=dict
    )

    def turn(self) -> None:
        """What this merge used is what the next one may reuse."""
        self.claims, self.keep_claims = self.keep_claims, {}
        self.sessions, self.keep_sessions = self.keep_sessions, {}
        self.instances, self.keep_instances = self.keep_instances, {}


class StoreMerger:
    """:func:`merge_store`, re-deriving only the store's rows that changed since the last merge.

    A shared server updates one session or claim at a time; a whole merge re-derives every
    store-only claim, session and agent (tens of milliseconds for 500). Each of those views is
    kept by the rows it was made from (an agent's by its claims' and sessions' views, its
    conflicts and its rows), and made again only when they changed. What is left of a merge
    is the files' own views and the sort, O(rows) with a small constant.

    For the same ``now`` the result equals :func:`merge_store`'s. The kept views depend on
    the context too (the fold, the process facts, this host, the settings, the store's name):
    any change of it, or a ``now`` ``full_every`` past the last full merge, starts afresh (as
    :class:`~factory_tui.core.fleet_derive.FleetDeriver`, a view left alone keeps the ages it
    had until then)."""

    def __init__(self, full_every: timedelta = timedelta(seconds=15)) -> None:
        self.full_every = full_every
        self.full_merges = 0
        self._cache = _Cache()
        self._context: tuple[object, ...] | None = None
        self._full_at = datetime.min

    def merge(
        self,
        fleet: Fleet,
        store: StoreSnapshot,
        *,
        fold: LogFold,
        now: datetime,
        procs: Mapping[int, ProcInfo],
        settings: Settings,
        remote: Mapping[str, HostProcs] | None = None,
    ) -> Fleet:
        context = (
            fleet.hostname,
            settings,
            id(fold),
            fold.events,
            dict(procs),
            dict(remote or {}),
            store.path,
            store.origin,
        )
        if context != self._context or not self._full_at <= now < self._full_at + self.full_every:
            self._cache = _Cache()
            self._context = context
            self._full_at = now
            self.full_merges += 1
        merged = _merge(fleet, store, fold, now, procs, settings, remote, self._cache)
        self._cache.turn()
        return merged


def store_pids(store: StoreSnapshot | None, hostname: str) -> set[int]:
    """The pids of the store's owned claims on this host (probed like the files' claims)."""
    if store is None:
        return set()
    return {c.pid for c in store.claims if c.owner and c.pid and same_host(c.host, hostname)}
