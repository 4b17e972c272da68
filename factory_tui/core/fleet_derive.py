"""Derive the fleet: a pure function of the files' contents (already parsed), the time ``now``,
this machine's host name and a table of process facts. It never reads the clock or the process
table itself.

:func:`derive_fleet` derives it whole; :class:`FleetDeriver` re-derives only what lines appended
to the log, or changed claim files, touched.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, cast

from factory_tui.core import fold_ended
from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.claims import ClaimFile, ClaimUnit
from factory_tui.core.fleet import (
    ClaimView,
    Fleet,
    HostProcs,
    InstanceView,
    ProcInfo,
    SessionView,
    Settings,
    problem_counts,
)
from factory_tui.core.fleet_claims import (
    claim_order,
    conflicts_by_instance,
    derive_claim_view,
    derive_claims,
    instance_alive,
    owned_claims,
    pid_detail,
)
from factory_tui.core.fleet_instances import (
    derive_instances,
    instance_order,
    instance_view,
)
from factory_tui.core.fleet_sessions import (
    derive_sessions,
    ended_since,
    is_shown,
    latest_checkpoints,
    old_ends_on_top,
    open_by_instance,
    picked_sessions,
    rec_key,
    session_view,
)
from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import SessionRec, claim_key
from factory_tui.core.launches import LaunchView, launch_problems, pending_launches
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.problems import Problem

__all__ = ["FleetDeriver", "derive_fleet", "kept_views"]


def derive_fleet(
    *,
    root: str,
    now: datetime,
    hostname: str,
    claims: Sequence[ClaimFile],
    fold: LogFold,
    checkpoints: Sequence[Checkpoint] = (),
    procs: Mapping[int, ProcInfo],
    settings: Settings | None = None,
    problems: Sequence[Problem] = (),
    lint: Sequence[Any] = (),
    remote: Mapping[str, HostProcs] | None = None,
    picked: Sequence[SessionRec] | None = None,
    opened: dict[str, dict[int, SessionRec]] | None = None,
) -> Fleet:
    """``remote``: the other hosts' process facts (their claims' pids are checked there).
    ``picked``: the sessions to show (:func:`picked_sessions`), ``opened`` each instance's open
    ones (:func:`open_by_instance`), when the caller has them."""
    settings = settings or Settings()
    claim_views = derive_claims(
        claims, fold, now=now, hostname=hostname, procs=procs, settings=settings, remote=remote
    )
    latest_checkpoint = latest_checkpoints(checkpoints)

    owned = owned_claims(claim_views)

    sessions = derive_sessions(fold, owned, latest_checkpoint, now, settings, picked, opened)
    instances = derive_instances(fold, owned, claim_views, sessions, procs, now, settings)
    launches = derive_launches(fold, claim_views, now, settings)
    problems = (*problems, *launch_problems(launches))
    counts = _counts(instances, claim_views, sessions, problems, lint, fold)
    return Fleet(
        root=root,
        generated_at=now,
        hostname=hostname,
        instances=tuple(instances),
        sessions=tuple(sessions),
        claims=tuple(claim_views),
        problems=tuple(problems),
        lint=tuple(lint),
        checkpoints=tuple(latest_checkpoint.values()),
        counts=counts,
        launches=launches,
    )


def derive_launches(
    fold: LogFold, claims: Sequence[ClaimView], now: datetime, settings: Settings
) -> tuple[LaunchView, ...]:
    """The launched agents that have not claimed their work yet (see
    :func:`~factory_tui.core.launches.pending_launches`)."""
    if not fold.launches:
        return ()
    claimed: dict[str, str] = {}
    for key in fold.launches:
        task, _sep, phase = key.rpartition(":") if ":" in key else (key, "", "")
        info = fold.claim_events.get(claim_key(task, phase or None))
        if info is not None and info.event == "CLAIM":
            claimed[key] = info.ts
    return pending_launches(
        fold.launches.values(),
        claims,
        now=now,
        within=settings.launch_within,
        history=settings.history,
        claimed_since=claimed,
    )


def _counts(
    instances: list[InstanceView],
    claims: list[ClaimView],
    sessions: list[SessionView],
    problems: Sequence[Problem],
    lint: Sequence[Any],
    fold: LogFold,
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in instances:
        counts[f"agents_{view.status}"] = counts.get(f"agents_{view.status}", 0) + 1
    for claim in claims:
        counts[f"claims_{claim.state}"] = counts.get(f"claims_{claim.state}", 0) + 1
    for session in sessions:
        counts[f"sessions_{session.status}"] = counts.get(f"sessions_{session.status}", 0) + 1
    counts.update(problem_counts(problems, lint))
    counts["log_events"] = fold.events
    base = (
        {f"agents_{s}": 0 for s in ("waiting", "working", "idle", "stale", "crashed", "ended")}
        | {f"claims_{s}": 0 for s in ("available", "blocked", "claimed", "stale", "done")}
        | {f"sessions_{s}": 0 for s in ("running", "crashed", "ended")}
    )
    return base | counts


@dataclass(slots=True)
class _ClaimChanges:
    """What changed among the claim files since the last derive."""

    edited: dict[int, tuple[ClaimFile, ClaimUnit]]
    """Files changed in place, their units the same keys: each new unit with its file, by the
    place of its view in ``Fleet.claims``."""
    gone: set[str]
    """Files whose views go: gone, or changed to other units (then in :attr:`added` too)."""
    added: list[ClaimFile]
    """Files whose views come: new, or changed to other units."""


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a fleet is derived from besides the log and the claim files: the same inputs allow a
    partial re-derive."""

    root: str
    hostname: str
    checkpoints: tuple[int, ...]
    procs: Mapping[int, ProcInfo]
    settings: Settings
    remote: Mapping[str, HostProcs]


class FleetDeriver:
    """Derive fleets; when only lines were appended to the log, or claim files changed in place,
    since the last one, re-derive just what those touched and keep every other view.

    A full derive is O(shown sessions + claims): tens of milliseconds on a big factory. After a
    few appended lines the work is O(what they touch): the sessions of the tasks they name, the
    instances of those sessions with their other open sessions (a new SESSION-START supersedes
    them), and the claims those instances own. After a changed claim file it is O(that file):
    its units' views, the instances that owned or own them or that their conflicts are about,
    and those instances' shown sessions (their status reads the claims they own). After a claim
    file came or went (or changed its units) it is that plus O(claims) to place and index the
    views again (~15 ms with ten thousand claims, against ~0.25 s in full). For the same ``now``
    the result equals a full derive. With a later ``now`` the views left alone keep the ages they
    had; a full derive runs at least every ``full_every`` and whenever many claim files changed at
    once, a new one has another's id (their views' order is the files'), or checkpoints,
    processes or settings change.
    """

    def __init__(
        self, full_every: timedelta = timedelta(seconds=15), *, one_shot: bool = False
    ) -> None:
        self.full_every = full_every
        self.one_shot = one_shot
        """Derive in full, keeping nothing for a next derive (``status``: there is none; the
        indexes of every shown session and claim would cost time and memory for nothing)."""
        self.partial_derives = 0
        self.previous: Fleet | None = None
        self._inputs: _Inputs | None = None
        self._full_at = datetime.min
        self._events = 0
        self._sessions = 0
        self._ended = 0
        # Of the shown sessions: task -> key -> record, key -> place in Fleet.sessions,
        # instance -> keys.
        self._by_task: dict[str, dict[str, SessionRec]] = {}
        self._place: dict[str, int] = {}
        self._by_instance: dict[str, set[str]] = {}
        self._by_file: dict[str, ClaimFile] = {}
        self._recs: dict[str, SessionRec] = {}
        self._claims_by_owner: dict[str, list[int]] = {}
        self._claims_by_id: dict[str, tuple[int, ...]] = {}
        self._claims_by_file: dict[str, tuple[int, ...]] = {}
        # Places in Fleet.claims of the views that have conflicts.
        self._conflicts_at: dict[int, ClaimView] = {}
        self._owned: dict[str, list[ClaimView]] = {}
        self._checkpoint_by_task: dict[str, Checkpoint] = {}
        # instance -> seq -> its open sessions, listed or not (latest_open_of_instances, kept
        # up to date from the touched records: every session opened or closed is one).
        self._open_by_instance: dict[str, dict[int, SessionRec]] = {}
        # The seqs of the ended sessions the last derive's walk back through the ends found
        # (fleet_sessions.ended_walk): an ended session that is not its task's latest is shown
        # only if found (LATE_ENDS old ends logged late in a row stop the walk).
        self._walked: set[int] = set()
        self._old_on_top = 0  # fleet_sessions.old_ends_on_top at the last derive

    def derive(
        self,
        *,
        root: str,
        now: datetime,
        hostname: str,
        claims: Sequence[ClaimFile],
        fold: LogFold,
        checkpoints: Sequence[Checkpoint] = (),
        procs: Mapping[int, ProcInfo],
        settings: Settings | None = None,
        problems: Sequence[Problem] = (),
        lint: Sequence[Any] = (),
        full: bool = False,
        remote: Mapping[str, HostProcs] | None = None,
    ) -> Fleet:
        settings = settings or Settings()
        inputs = _Inputs(
            root=root,
            hostname=hostname,
            checkpoints=tuple(map(id, checkpoints)),
            procs=dict(procs),
            settings=settings,
            remote=dict(remote or {}),
        )
        appended = fold.events - self._events
        previous = self.previous
        changed: _ClaimChanges | None = None
        if not (
            full
            or previous is None
            or inputs != self._inputs
            or not self._full_at <= now < self._full_at + self.full_every
            or not 0 <= appended <= len(fold.recent)
            or len(fold.sessions) < self._sessions
        ):
            changed = self._changed_claims(claims, previous)
        partial = None
        if previous is not None and changed is not None:
            partial = self._update(previous, appended, changed, now, fold, procs, settings)
        if partial is None:
            walked: set[int] = set()
            picked = picked_sessions(fold, now, settings, walked)
            opened = open_by_instance(fold)
            fleet = derive_fleet(
                root=root,
                now=now,
                hostname=hostname,
                claims=claims,
                fold=fold,
                checkpoints=checkpoints,
                procs=procs,
                settings=settings,
                problems=problems,
                lint=lint,
                remote=remote,
                picked=picked,
                opened=opened,
            )
            if self.one_shot:
                return fleet
            if previous is not None:
                fleet = replace(fleet, claims=kept_views(fleet.claims, previous.claims))
            self._full_at = now
            self._walked = walked
            self._old_on_top = old_ends_on_top(fold, now - settings.history)
            self._index(fleet, picked)
            self._open_by_instance = opened
            self._by_file = {claim.file: claim for claim in claims}
            self._checkpoint_by_task = latest_checkpoints(checkpoints)
        else:
            fleet = partial
            launches = derive_launches(fold, fleet.claims, now, settings)
            problems = (*problems, *launch_problems(launches))
            fleet = replace(
                fleet,
                problems=tuple(problems),
                lint=tuple(lint),
                counts={**fleet.counts, **problem_counts(problems, lint)},
                launches=launches,
            )
            self.partial_derives += 1
        self.previous = fleet
        self._inputs = inputs
        self._events = fold.events
        self._sessions = len(fold.sessions)
        self._ended = len(fold.ended)
        return fleet

    def _index(self, fleet: Fleet, picked: Iterable[SessionRec]) -> None:
        self._by_task = {}
        self._recs = {}
        for rec in picked:
            key = rec_key(rec)
            self._by_task.setdefault(rec.task, {})[key] = rec
            self._recs[key] = rec
        self._index_claims(fleet.claims)
        self._owned = owned_claims(fleet.claims)
        self._place = {}
        self._by_instance = {}
        for n, view in enumerate(fleet.sessions):
            key = view.key
            self._place[key] = n
            if view.instance:
                self._by_instance.setdefault(view.instance, set()).add(key)

    def _index_claims(self, views: Sequence[ClaimView]) -> None:
        """Where each claim view is in ``views`` (``Fleet.claims``): by owner, id and file, and
        those with conflicts.

        The places by id and by file are tuples: made again at each claim file that comes or
        goes, ten thousand lists each time outlived the collector's young passes and brought a
        full pass (~65 ms at 13,000 claims) every few claims; tuples of numbers are let go by
        the collector at their first pass."""
        self._claims_by_owner = {}
        self._conflicts_at = {}
        for n, claim_view in enumerate(views):
            if claim_view.unit.owner:
                self._claims_by_owner.setdefault(claim_view.unit.owner, []).append(n)
            if claim_view.conflicts:
                self._conflicts_at[n] = claim_view
        self._claims_by_id = _places_by(views, lambda view: view.unit.claim_id)
        self._claims_by_file = _places_by(views, lambda view: view.file)

    def _changed_claims(self, claims: Sequence[ClaimFile], previous: Fleet) -> _ClaimChanges | None:
        """The claim files that changed since the last derive (a new :class:`ClaimFile` for the
        same file), came or went. None when only a full derive sorts the views: a file came with
        the id of another (their views' order is the files'), or many files changed."""
        known = self._by_file
        edited: dict[int, tuple[ClaimFile, ClaimUnit]] = {}
        gone: set[str] = set()
        added: list[ClaimFile] = []
        in_place: list[ClaimFile] = []
        seen = 0
        for claim in claims:
            old = known.get(claim.file)
            if old is claim:
                seen += 1
                continue
            if old is None:
                added.append(claim)
                continue
            seen += 1
            if self._edited_in_place(claim, previous, edited):
                in_place.append(claim)
            else:
                gone.add(claim.file)  # other units: its views go, and come again
                added.append(claim)
        if seen != len(known):
            gone.update(set(known).difference(claim.file for claim in claims))
        if not (gone or added):
            for claim in in_place:
                known[claim.file] = claim
            return _ClaimChanges(edited, gone, added)
        if len(gone) + len(added) > max(8, len(known) // 8):
            return None  # a folder replaced, say: as fast in full
        # The places move: a file edited in place goes and comes too.
        gone.update(claim.file for claim in in_place)
        added.extend(in_place)
        ids = [claim.claim_id for claim in added]
        staying = {view.unit.claim_id for view in previous.claims if view.file not in gone}
        if len(set(ids)) < len(ids) or not staying.isdisjoint(ids):
            return None
        return _ClaimChanges({}, gone, added)

    def _edited_in_place(
        self,
        claim: ClaimFile,
        previous: Fleet,
        edited: dict[int, tuple[ClaimFile, ClaimUnit]],
    ) -> bool:
        """Note ``claim``'s new units in ``edited`` by their views' places; False (nothing
        noted) when its units are not the same keys (claim id and phase) as before."""
        places = self._claims_by_file.get(claim.file, ())
        units = {(unit.claim_id, unit.phase): unit for unit in claim.units}
        if len(units) != len(claim.units) or len(places) != len(units):
            return False
        found: dict[int, tuple[ClaimFile, ClaimUnit]] = {}
        for n in places:
            was = previous.claims[n].unit
            unit = units.pop((was.claim_id, was.phase), None)
            if unit is None:
                return False
            found[n] = (claim, unit)
        edited.update(found)
        return True

    def _regroup(
        self,
        views: list[ClaimView],
        changes: _ClaimChanges,
        counts: dict[str, int],
        owners: set[str],
        instances: set[str],
        derive: Callable[[ClaimFile, ClaimUnit, set[int | None]], ClaimView],
    ) -> list[ClaimView]:
        """``views`` without those of the files gone and with those of the files added, in the
        order a full derive gives, the indexes of their places made again; the owners and the
        instances their conflicts are about, of both, noted."""
        kept: list[ClaimView] = []
        came: list[ClaimView] = []
        for view in views:
            if view.file in changes.gone:
                _recount(counts, "claims", view.state, None)
                if view.unit.owner:
                    owners.add(view.unit.owner)
                instances.update(view.conflicts_about)
            else:
                kept.append(view)
        for claim in changes.added:
            done = {u.phase for u in claim.units if u.completed_at}
            for unit in claim.units:
                view = derive(claim, unit, done)
                _recount(counts, "claims", None, view.state)
                if unit.owner:
                    owners.add(unit.owner)
                instances.update(view.conflicts_about)
                came.append(view)
        for file in changes.gone:
            del self._by_file[file]
        for claim in changes.added:
            self._by_file[claim.file] = claim
        merged = sorted([*kept, *came], key=claim_order)  # runs already in order: ~linear
        self._index_claims(merged)
        return merged

    def _replace_sessions(
        self,
        sessions: list[SessionView | None],
        first_dropped: int | None,
        moved: Sequence[tuple[int, SessionView]],
    ) -> list[SessionView]:
        """``sessions`` without the dropped views (None, the first at ``first_dropped``) and with
        the ``moved`` ones (by seq) put in their places in the order of :attr:`SessionRec.seq`;
        the places from the first that changed on made again (O(views after it): an old session
        listed again goes early in the list, but re-sorting all ~5,000 views of the scale
        factory took ~10 ms)."""
        if first_dropped is None and not moved:
            return cast("list[SessionView]", sessions)  # no None in it
        listed = [view for view in sessions if view is not None]
        first = len(listed) if first_dropped is None else first_dropped
        recs = self._recs
        for seq, view in moved:
            at = bisect_left(listed, seq, key=lambda other: recs[other.key].seq)
            listed.insert(at, view)
            first = min(first, at)
        place = self._place
        for n in range(first, len(listed)):
            place[listed[n].key] = n
        return listed

    def _move_owner(self, place: int, old: str | None, new: str | None) -> None:
        """The claim view at ``place`` now names ``new`` as owner (it named ``old``)."""
        if old == new:
            return
        if old:
            places = self._claims_by_owner[old]
            places.remove(place)
            if not places:
                del self._claims_by_owner[old]
        if new:
            insort(self._claims_by_owner.setdefault(new, []), place)

    def _touched(
        self, fold: LogFold, appended: int
    ) -> tuple[dict[int, SessionRec], set[str], set[str]]:
        """The session records the appended lines may have changed, the instances involved, and
        the claims (ids) whose CLAIM / RELEASE lines were appended."""
        tasks: set[str] = set()
        instances: set[str] = set()
        claim_ids: set[str] = set()
        for text, line, source in islice(reversed(fold.recent), appended):
            event = parse_line(text, line, source)
            if isinstance(event, Event):
                if task := event.fields.get("task"):
                    tasks.add(task)
                    if event.name in ("CLAIM", "RELEASE"):
                        claim_ids.add(task)
                if instance := event.fields.get("instance"):
                    instances.add(instance)
        recs: dict[int, SessionRec] = {}
        for rec in (*fold.sessions[self._sessions :], *fold.ended[self._ended :]):
            recs[rec.seq] = rec
            tasks.add(rec.task)
        for task in tasks:
            for rec in fold.open_by_task.get(task, ()):
                recs[rec.seq] = rec
            if (latest := fold.latest_by_task.get(task)) is not None:
                recs[latest.seq] = latest
            for rec in self._by_task.get(task, {}).values():
                recs[rec.seq] = rec
        instances.update(rec.instance for rec in recs.values() if rec.instance)
        # An instance's open sessions supersede one another: all of them may change. (Every
        # open session shown is indexed here; the task's others were added above.)
        for instance in instances:
            for key in self._by_instance.get(instance, ()):
                rec = self._recs[key]
                if rec.is_open:
                    recs[rec.seq] = rec
        return recs, instances, claim_ids

    def _update(
        self,
        previous: Fleet,
        appended: int,
        changes: _ClaimChanges,
        now: datetime,
        fold: LogFold,
        procs: Mapping[int, ProcInfo],
        settings: Settings,
    ) -> Fleet | None:
        """The fleet re-derived where the appended lines and the changed claims touched it;
        None when only a full derive can tell (an end appended that ended before the window:
        it may stop the walk back through the ends short of sessions shown, untouched)."""
        horizon = now - settings.history
        # The ends appended, each on top of the walk back through the ends (ended_walk): one
        # after the window is found first, and the walk goes on as before; one before it
        # makes the run of such ends on top one longer, and the walk stops sooner only when
        # that run reaches LATE_ENDS (then what it still finds, only a full derive tells).
        late_ends = fold_ended.LATE_ENDS
        on_top = self._old_on_top
        found: list[int] = []
        for rec in fold.ended[self._ended :]:
            if ended_since(rec, horizon):
                found.append(rec.seq)
                on_top = 0
            elif on_top < late_ends:
                on_top += 1
                if on_top == late_ends:
                    return None
        self._walked.update(found)
        self._old_on_top = on_top
        recs, instances, claim_ids = self._touched(fold, appended)
        counts = dict(previous.counts)
        counts["log_events"] = fold.events
        remote = self._inputs.remote if self._inputs is not None else None

        def derive(claim: ClaimFile, unit: ClaimUnit, done: set[int | None]) -> ClaimView:
            return derive_claim_view(
                claim, unit, done, fold, now, previous.hostname, procs, settings, remote=remote
            )

        # The log speaks to a claim through its owner's last event, and through the CLAIM and
        # RELEASE lines of its id (conflicts); a changed claim file through its units; a file
        # that came or went through its units' owners and whom their conflicts are about.
        claim_views = list(previous.claims)
        owned = self._owned
        owners: set[str] = set()
        changed = changes.edited
        if changes.gone or changes.added:
            claim_views = self._regroup(claim_views, changes, counts, owners, instances, derive)
        redo: set[int] = set(changed)
        for owner in instances:
            redo.update(self._claims_by_owner.get(owner, ()))
        for claim_id in claim_ids:
            redo.update(self._claims_by_id.get(claim_id, ()))
        for index in sorted(redo):
            claim_view = claim_views[index]
            claim, unit = changed.get(index) or (
                self._by_file.get(claim_view.file),
                claim_view.unit,
            )
            if claim is None:
                continue
            done = {u.phase for u in claim.units if u.completed_at}
            new_claim = derive(claim, unit, done)
            _recount(counts, "claims", claim_view.state, new_claim.state)
            claim_views[index] = new_claim
            self._move_owner(index, claim_view.unit.owner, unit.owner)
            owners.update(owner for owner in (claim_view.unit.owner, unit.owner) if owner)
            # The instances a conflict is about show it too.
            instances.update(claim_view.conflicts_about, new_claim.conflicts_about)
            if new_claim.conflicts:
                self._conflicts_at[index] = new_claim
            else:
                self._conflicts_at.pop(index, None)
        for owner in owners:
            places = self._claims_by_owner.get(owner, [])
            owns = [claim_views[n] for n in places if claim_views[n].state in ("claimed", "stale")]
            was = owned.get(owner, [])
            if owns:
                owned[owner] = owns
            else:
                owned.pop(owner, None)
            # Its sessions' status reads what the claims it owns say of it: when that changed,
            # re-derive them (all its open sessions among them).
            if _session_facts(owns) != _session_facts(was):
                for key in self._by_instance.get(owner, ()):
                    rec = self._recs[key]
                    recs[rec.seq] = rec
        instances.update(owners)
        conflicts = conflicts_by_instance(self._conflicts_at[n] for n in sorted(self._conflicts_at))
        open_now = self._open_by_instance
        for rec in recs.values():
            if rec.instance:
                opened = open_now.setdefault(rec.instance, {})
                if rec.is_open:
                    opened[rec.seq] = rec
                else:
                    opened.pop(rec.seq, None)
        latest_open = {
            instance: mine[max(mine)]
            for instance in {rec.instance for rec in recs.values() if rec.instance}
            if (mine := open_now.get(instance))
        }
        # Sessions: replace the touched views in place, drop those no longer shown, append new.
        checkpoint_by_task = self._checkpoint_by_task
        sessions: list[SessionView | None] = list(previous.sessions)
        first_dropped: int | None = None  # the first place whose view is no longer shown
        moved: list[tuple[int, SessionView]] = []  # old sessions listed again, by seq
        for seq in sorted(recs):
            rec = recs[seq]
            key = rec_key(rec)
            shown = self._by_task.setdefault(rec.task, {})
            place = self._place.get(key)
            listed_before = sessions[place] if place is not None else None
            if not is_shown(rec, fold, horizon, self._walked):
                if place is not None and listed_before is not None:
                    _recount(counts, "sessions", listed_before.status, None)
                    del shown[key]
                    del self._place[key]
                    del self._recs[key]
                    if listed_before.instance:
                        self._by_instance.get(listed_before.instance, set()).discard(key)
                    sessions[place] = None
                    if first_dropped is None or place < first_dropped:
                        first_dropped = place
                continue
            view = session_view(rec, fold, owned, checkpoint_by_task, latest_open, now, settings)
            if place is not None and listed_before is not None:
                _recount(counts, "sessions", listed_before.status, view.status)
                sessions[place] = view
                continue
            _recount(counts, "sessions", None, view.status)
            shown[key] = rec
            self._recs[key] = rec
            if view.instance:
                self._by_instance.setdefault(view.instance, set()).add(key)
            if rec.seq < self._sessions:
                # An old session listed again (a hidden crash closed, or logging again): its
                # place is among the others, in the order they started, as in a full derive.
                moved.append((rec.seq, view))
            else:
                self._place[key] = len(sessions)
                sessions.append(view)
        listed = self._replace_sessions(sessions, first_dropped, moved)
        # Instances: re-derive the involved ones against the new claims and sessions; drop those
        # nothing speaks of any more (a full derive would not list them).
        wanted = {
            i
            for i in instances
            if i in owned
            or i in fold.instance_sessions
            or i in fold.instance_last_event
            or i in conflicts
        }
        fresh: dict[str, InstanceView] = {}
        for i in wanted:
            places = sorted(self._place[key] for key in self._by_instance.get(i, ()))
            fresh[i] = instance_view(
                i,
                fold,
                owned.get(i, []),
                [listed[n] for n in places],
                procs,
                now,
                settings,
                conflicts.get(i, ()),
            )
        instance_views: list[InstanceView] = []
        for old in previous.instances:
            if old.id in instances and old.id not in wanted:
                _recount(counts, "agents", old.status, None)
                continue
            new = fresh.pop(old.id, old)
            _recount(counts, "agents", old.status, new.status)
            instance_views.append(new)
        for new in fresh.values():
            _recount(counts, "agents", None, new.status)
            instance_views.append(new)
        instance_views.sort(key=instance_order)
        return Fleet(
            root=previous.root,
            generated_at=now,
            hostname=previous.hostname,
            instances=tuple(instance_views),
            sessions=tuple(listed),
            claims=tuple(claim_views),
            problems=previous.problems,
            lint=previous.lint,
            checkpoints=previous.checkpoints,
            counts=counts,
        )


def _places_by(
    views: Sequence[ClaimView], key: Callable[[ClaimView], str]
) -> dict[str, tuple[int, ...]]:
    """The places of ``views`` by ``key``, each a tuple: a run of views with one key (one
    file's, one claim id's: they come together in a fleet's order) makes one tuple, and no
    list on the way."""
    places: dict[str, tuple[int, ...]] = {}

    def add(run: str, start: int, end: int) -> None:
        was = places.get(run)
        found = tuple(range(start, end))
        places[run] = found if was is None else was + found  # two runs: one id, two files

    start = 0
    run = ""
    for n, view in enumerate(views):
        now = key(view)
        if n and now != run:
            add(run, start, n)
            start = n
        run = now
    if views:
        add(run, start, len(views))
    return places


def kept_views(
    views: tuple[ClaimView, ...], before: tuple[ClaimView, ...]
) -> tuple[ClaimView, ...]:
    """``views`` with each one equal to the view of its key ``before`` replaced by that one:
    what draws them (the claims tree) redraws only the views that are new objects. A full
    derive makes every view anew (~12 ms to compare ten thousand; the tree relabelled all of
    them, ~0.1 s)."""
    known = {view.key: view for view in before}
    return tuple(
        was if (was := known.get(view.key)) is not None and was == view else view for view in views
    )


def _session_facts(owns: Sequence[ClaimView]) -> tuple[object, ...]:
    """What :func:`~factory_tui.core.fleet_sessions.session_view` reads of the claims an
    instance owns: whether there are any, whether a pid is alive, and the evidence's unit, state
    and pid check."""
    alive, evidence = instance_alive(list(owns))
    if evidence is None:
        return bool(owns), alive
    unit, detail = evidence.unit, pid_detail(evidence)
    return bool(owns), alive, unit.key, unit.pid, unit.hostname, evidence.state, detail


def _recount(counts: dict[str, int], kind: str, old: str | None, new: str | None) -> None:
    """Move one view from ``kind_old`` to ``kind_new`` in the fleet's counts."""
    if old == new:
        return
    if old is not None:
        counts[f"{kind}_{old}"] -= 1
    if new is not None:
        counts[f"{kind}_{new}"] = counts.get(f"{kind}_{new}", 0) + 1
