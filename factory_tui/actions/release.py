"""Release a stale claim (FORMATS.md: stale claims; the lock protocol).

lock → re-read the claim file → re-derive the three stale conditions (log and pid facts fresh)
→ append the intent ``RELEASE-INTENT | claim=ID phase=N owner=OLD reason=R file=F change=C
by=WHO`` → keep the old file in the history folder → write the released claim atomically →
re-read to verify → append the outcome ``RELEASE | task=ID phase=N instance=OLD reason=stale
by=WHO change=C``.

A change and its audit line stand or fall together: if the intent cannot be logged nothing is
written; if the outcome cannot be logged the previous file is put back from the history copy
(and ``RELEASE-UNDONE`` logged when the log takes it). A process killed in between leaves an
intent without an outcome: :mod:`factory_tui.adapters.factory` reports it as a half-done change
with what the claim file shows. Anything that fails says what state the files are in.

The locks are named from the claim *file*'s name (``CAB-1290.json`` → ``CAB-1290-phase-2.lock``),
never from the id inside the JSON, and checked to be directly inside the claims folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from factory_tui.actions.base import ActionResult, Outcome, actor, audit, read_only_refusal
from factory_tui.adapters.clock import local_zone
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import (
    LockBusy,
    LockUnsafe,
    atomic_write,
    claim_locks,
    keep_history,
    lock_path,
    temp_name_matches,
)
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.config.regular_files import read_regular
from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
    dump_claim,
    parse_claim,
    parse_claim_with_json,
    release_fields,
    update_unit,
)
from factory_tui.core.fleet import Condition, Settings
from factory_tui.core.fleet_claims import logged_release, released_in_log, stale_conditions
from factory_tui.core.fleet_store import released_in_store, store_release
from factory_tui.core.safe import plain_int

__all__ = [
    "ReleasePlan",
    "history_dir",
    "lock_names",
    "parse_target",
    "plan_release",
    "release_all_stale",
    "release_all_summary",
    "release_claim",
]


def history_dir(config: Config) -> Path:
    """Where replaced claim files are kept (never deleted by us): next to the claims."""
    return config.claims_dir / ".history"


def parse_target(target: str) -> tuple[str, int | None]:
    """``CAB-1290:2`` → (``CAB-1290``, 2); ``CAB-1321`` → (``CAB-1321``, None)."""
    claim_id, sep, phase = target.rpartition(":")
    if sep and (number := plain_int(phase.strip())) is not None:
        return claim_id, number
    return target, None


@dataclass(frozen=True)
class ReleasePlan:
    """What a release would do, for the confirmation: the file, the unit, the conditions."""

    file: Path
    unit: ClaimUnit
    conditions: tuple[Condition, ...]
    stale: bool
    log_line: str
    logged: str | None = None
    """Not stale, but the owner logged its RELEASE after ``claimed_at``, or the real factory's
    store shows it released after then (its claim tool releases only in its database):
    evidence enough to release without ``--force``."""
    logged_in: str = "the log"
    """Where ``logged`` was seen: ``the log`` or ``the local store``."""

    @property
    def releasable(self) -> bool:
        """Released without ``--force``: stale, or released by its owner in the log."""
        return self.stale or self.logged is not None

    def describe(self) -> list[str]:
        lines = [
            f"file: {self.file}",
            f"owner: {self.unit.owner} (pid {self.unit.pid}, host {self.unit.hostname})",
        ]
        for c in self.conditions:
            lines.append(f"{'✓' if c.holds else '✗'} {c.name}: {c.detail}")
        if self.logged is not None:
            lines.append(f"✓ released in {self.logged_in}: {self.logged}")
        lines.append(
            "writes: owner, claimed_at and pid set to null (the old file is kept in .history/)"
        )
        lines.append(f"logs: {self.log_line}")
        return lines


@dataclass(frozen=True)
class _Extra:
    """What another action (abandon) adds to a release: see ``release_claim``."""

    reason_word: str | None = None
    expected_owner: str | None = None
    before_write: Callable[[], None] | None = None
    check_under_lock: Callable[[ClaimUnit], str | None] | None = None


def lock_names(path: Path, claim: ClaimFile) -> list[str]:
    """The lock of every unit of the claim file at ``path``, named from the file's own name
    (agents name the file by its id, so for a sound file this is the protocol's name)."""
    stem = path.name.removesuffix(".json")
    return [
        f"{stem}.lock" if unit.phase is None else f"{stem}-phase-{unit.phase}.lock"
        for unit in claim.units
    ]


def _write_target(config: Config, path: Path) -> tuple[Path, str | None]:
    """Where writing ``path`` lands, or why it must not be written. A symlinked claim file is
    written through to its target only when that target is a regular file directly inside the
    claims folder (where agents lock it by its own name too); anything else is refused."""
    if not path.is_symlink():
        return path, None
    target = Path(os.path.realpath(path))
    folder = Path(os.path.realpath(config.claims_dir))
    if target.parent != folder or not target.is_file():
        return target, (
            f"{path.name} is a symlink to {target}, outside the claims folder {folder}: "
            "factory-tui does not write there; nothing was changed"
        )
    return target, None


def _find(
    config: Config, claim_id: str, phase: int | None
) -> tuple[Path, ClaimFile, ClaimUnit] | str:
    """The claim file holding ``claim_id`` and its unit ``phase``, or why there is none. A
    claim is read from its own name's file only (FORMATS.md: a claim file is named after its
    id, and its id is its name): the folder was listed and sorted to find it, 13 ms a release
    of a thousand claims, 200 times over when every stale one is released."""
    if not _one_name(claim_id):  # never a path out of the claims folder
        return f"no claim {claim_id!r}: a claim id is one file name in {config.claims_dir}"
    found = _unit_in(config, config.claims_dir / f"{claim_id}.json", claim_id, phase)
    return found if found is not None else f"no claim {claim_id} in {config.claims_dir}"


def _one_name(claim_id: str) -> bool:
    """Whether ``<claim_id>.json`` is a file the claims folder lists (as the reader does: no
    separator or NUL, not hidden). Any other name a claim file has is its id, ``..`` inside
    or not (``CAB..1302.json`` is the claim ``CAB..1302``, shown stale, released)."""
    return (
        bool(claim_id)
        and not claim_id.startswith(".")
        and "/" not in claim_id
        and os.sep not in claim_id
        and "\0" not in claim_id
    )


def _unit_in(
    config: Config, path: Path, claim_id: str, phase: int | None
) -> tuple[Path, ClaimFile, ClaimUnit] | str | None:
    """``claim_id``'s unit ``phase`` in the claim file ``path`` (or why it has none); None when
    the file does not hold that claim (or cannot be read)."""
    data = read_factory_file(path, config.max_file_bytes)
    if not isinstance(data, bytes):
        return None  # a FIFO, a device, too big: never opened blocking (a problem in status)
    claim, _problems = parse_claim(str(path), data)
    if claim is None or claim.claim_id != claim_id:
        return None
    units = [u for u in claim.units if u.phase == phase]
    if not units:
        if phase is None and claim.kind == "mega":
            example = f"{claim_id}:{claim.units[0].phase}"
            return f"{claim_id} is a MEGA claim: name a phase, e.g. {example}"
        return f"{claim_id} has no phase {phase}"
    return path, claim, units[0]


def _released_elsewhere(
    reader: FactoryReader, unit: ClaimUnit, file: str
) -> tuple[str, str, str] | None:
    """(the release's reason, the sentence with both facts, where) when the owner's RELEASE line
    or the real factory's store shows ``unit`` released after the ``claimed_at`` its file still
    shows."""
    released = logged_release(unit, reader.fold, local_zone())
    if released is not None:
        return released.reason or "done", released_in_log(released, unit, file), "the log"
    reader.refresh_server()
    for store in (
        reader.store.snapshot if reader.store is not None else None,
        reader.server.snapshot if reader.server is not None else None,
    ):
        row = store_release(unit, store, Settings(tz=local_zone()))
        if row is not None and store is not None:
            return "done", released_in_store(row, unit, file, store), store.label
    return None


def _conditions(
    reader: FactoryReader, unit: ClaimUnit, now: datetime
) -> tuple[list[Condition], bool | None]:
    reader.refresh_log()
    reader.refresh_store()
    procs = reader.probe.probe([unit.pid] if unit.pid else [])
    settings = Settings(
        stale_after=reader.config.stale_after, idle_after=reader.config.idle_after, tz=local_zone()
    )
    # Another host's pid is asked there, now (a cached answer may be seconds old).
    remote = (
        {h: reader.remote.probe_host(h, [unit.pid])}
        if reader.remote is not None
        and unit.pid
        and (h := reader.remote.host_of(unit.hostname)) is not None
        else None
    )
    return stale_conditions(unit, reader.fold, now, reader.hostname, procs, settings, remote=remote)


def _phase_value(unit: ClaimUnit) -> str:
    return "-" if unit.phase is None else str(unit.phase)


def plan_release(
    config: Config,
    target: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    force: bool = False,
    by: str | None = None,
) -> ReleasePlan | ActionResult:
    """What releasing ``target`` would do now, without the lock (for the confirmation)."""
    claim_id, phase = parse_target(target)
    found = _find(config, claim_id, phase)
    if isinstance(found, str):
        return ActionResult(Outcome.ERROR, found)
    path, _claim, unit = found
    if not unit.owner:
        return ActionResult(Outcome.REFUSED, f"{unit.key} has no owner: nothing to release")
    reader = reader or FactoryReader.warm(config)
    conditions, _alive = _conditions(reader, unit, now)
    stale = all(c.holds for c in conditions)
    released = None if stale else _released_elsewhere(reader, unit, path.name)
    if stale or not force:
        reason = "stale" if stale or released is None else released[0]
    else:
        reason = "forced"
    line = (
        f"RELEASE | task={claim_id} phase={_phase_value(unit)} instance={unit.owner} "
        f"reason={reason} by={by or actor()}"
    )
    if released is None:
        return ReleasePlan(path, unit, tuple(conditions), stale, line)
    return ReleasePlan(path, unit, tuple(conditions), stale, line, released[1], released[2])


def release_claim(
    config: Config,
    target: str,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    force: bool = False,
    reason: str | None = None,
    by: str | None = None,
    reason_word: str | None = None,
    expected_owner: str | None = None,
    before_write: Callable[[], None] | None = None,
    check_under_lock: Callable[[ClaimUnit], str | None] | None = None,
) -> ActionResult:
    """Release one stale phase (``ID:N``) or standalone ticket (``ID``).

    Another action may release for its own reason: ``reason_word`` (e.g. ``abandoned``) is the
    log's ``reason=`` then, ``expected_owner`` must still own the claim under the lock, and
    ``before_write`` runs under the lock once every check passed, just before the write (to log
    that action's own line first).

    ``check_under_lock(unit)`` runs under the lock with the unit as re-read there: a sentence it
    returns refuses the release (abandon re-checks the owner's liveness this way).
    """
    refusal = read_only_refusal(config, "releasing a claim")
    if refusal is not None:
        return refusal
    claim_id, phase = parse_target(target)
    found = _find(config, claim_id, phase)
    if isinstance(found, str):
        return ActionResult(Outcome.ERROR, found)
    path, claim, unit = found
    target_path, refused = _write_target(config, path)
    if refused is not None:
        return ActionResult(Outcome.REFUSED, refused)
    names = lock_names(path, claim)
    if target_path != path:
        names += lock_names(target_path, claim)
    reader = reader or FactoryReader.warm(config)
    reader.refresh_log()  # the bulk of the log is read before the lock is taken
    who = by or actor()
    finished = _finish_interrupted(config, reader, now, who, path.name)
    try:
        for name in names:
            lock_path(config.claims_dir, name)
        # The whole file is rewritten: every phase's lock, not only this one's.
        with claim_locks(
            config.claims_dir,
            names,
            stale_after_s=config.lock_stale_after.total_seconds(),
        ):
            result = _release_locked(
                config,
                path,
                claim_id,
                phase,
                now,
                reader,
                force,
                reason,
                who,
                _Extra(reason_word, expected_owner, before_write, check_under_lock),
            )
            return replace(result, details=finished + result.details) if finished else result
    except LockBusy as busy:
        owner = unit.owner or "an agent"
        return ActionResult(
            Outcome.REFUSED,
            f"{owner} is writing {unit.key} right now ({busy.lock.name} held) — try again",
        )
    except LockUnsafe as unsafe:
        return ActionResult(
            Outcome.REFUSED, f"cannot lock {unit.key} ({path.name}): {unsafe}; nothing was changed"
        )
    except OSError as error:
        return ActionResult(
            Outcome.ERROR, f"cannot release {unit.key}: {error}; nothing was changed"
        )


def _finish_interrupted(
    config: Config, reader: FactoryReader, now: datetime, who: str, file: str
) -> tuple[str, ...]:
    """Before acting on a claim file, close the changes an interrupted factory-tui left half
    done on it (see ``actions.interrupted``); what was done, for the result's details."""
    if not any(intent.get("file") == file for intent in reader.fold.open_changes.values()):
        return ()
    from factory_tui.actions.interrupted import finish_interrupted

    done = finish_interrupted(config, reader.fold.open_changes, now=now, by=who, only_file=file)
    reader.refresh_log()
    return tuple(f"interrupted change {f.change}: {f.message}" for f in done)


def _release_locked(
    config: Config,
    path: Path,
    claim_id: str,
    phase: int | None,
    now: datetime,
    reader: FactoryReader,
    force: bool,
    reason: str | None,
    who: str,
    extra: _Extra | None = None,
) -> ActionResult:
    extra = extra or _Extra()
    cleaned = _clean_leftovers(config, Path(os.path.realpath(path)))
    data = read_factory_file(path, config.max_file_bytes)
    if not isinstance(data, bytes):
        why = data.message if data is not None else "it is gone"
        return ActionResult(
            Outcome.ERROR, f"{path.name} cannot be read ({why}); nothing was changed"
        )
    claim, raw, problems = parse_claim_with_json(str(path), data)
    if claim is None:
        why = problems[0].message if problems else "unreadable"
        return ActionResult(
            Outcome.ERROR, f"{path.name} cannot be read ({why}); nothing was changed"
        )
    unit = next((u for u in claim.units if u.phase == phase), None)
    if unit is None:
        return ActionResult(
            Outcome.ERROR, f"{claim_id} no longer has phase {phase}; nothing was changed"
        )
    if not unit.owner:
        return ActionResult(
            Outcome.REFUSED, f"{unit.key} has no owner any more: someone released it already"
        )
    if extra.expected_owner is not None and unit.owner != extra.expected_owner:
        return ActionResult(
            Outcome.REFUSED,
            f"{unit.key} now belongs to {unit.owner}, not {extra.expected_owner}: not released",
        )
    if unit.completed_at:
        return ActionResult(
            Outcome.REFUSED, f"{unit.key} is done (completed {unit.completed_at}): not released"
        )
    if extra.check_under_lock is not None:
        why_not = extra.check_under_lock(unit)
        if why_not is not None:
            return ActionResult(Outcome.REFUSED, f"{unit.key} not released: {why_not}")
    conditions, _alive = _conditions(reader, unit, now)
    failing = [c for c in conditions if not c.holds]
    # The owner's own RELEASE line, or the store's release, later than claimed_at, is evidence
    # enough (issues #11, #15).
    released = _released_elsewhere(reader, unit, path.name) if failing else None
    if failing and not force and released is None:
        return ActionResult(
            Outcome.REFUSED,
            f"{unit.key} is not stale: {failing[0].detail} — "
            "use --force (logged as forced) to override",
            details=tuple(c.detail for c in conditions),
        )
    try:
        new_raw = update_unit(raw, phase, release_fields())
    except KeyError:
        return ActionResult(
            Outcome.ERROR, f"{claim_id} phase {phase} vanished; nothing was changed"
        )
    why = extra.reason_word or ("stale" if not failing else released[0] if released else "forced")
    if extra.before_write is not None:
        extra.before_write()
    change = secrets.token_hex(6)
    base = [("phase", _phase_value(unit))]
    try:
        audit(
            config,
            now,
            INTENT,
            [
                ("claim", claim_id),
                *base,
                ("owner", unit.owner),
                ("reason", why),
                ("file", path.name),
                ("change", change),
                ("by", who),
            ],
        )
    except OSError as error:
        return ActionResult(
            Outcome.ERROR,
            f"cannot log to {config.log_file} ({error.strerror or error}): {unit.key} was not "
            "released; nothing was changed",
        )
    try:
        kept = keep_history(path, history_dir(config), limit=config.max_file_bytes, now=now)
        atomic_write(path, dump_claim(new_raw))
    except OSError as error:
        _log_undone(config, now, claim_id, base, change, who, f"write failed: {error}")
        return ActionResult(
            Outcome.ERROR,
            f"cannot write {path.name} ({error.strerror or error}): {unit.key} was not released; "
            "nothing was changed",
        )
    try:
        back, _ = parse_claim(str(path), read_regular(path, config.max_file_bytes))
    except OSError:  # gone, or something else there (a FIFO is never waited on)
        back = None
    after = next((u for u in back.units if u.phase == phase), None) if back is not None else None
    if after is None or after.owner is not None:
        _log_undone(config, now, claim_id, base, change, who, "re-read does not show it released")
        return ActionResult(
            Outcome.ERROR,
            f"wrote {path.name} but re-reading it does not show {unit.key} released; the previous "
            f"version is in {kept}",
        )
    fields = [
        ("task", claim_id),
        *base,
        ("instance", unit.owner),
        ("reason", why),
        ("by", who),
    ]
    if reason:
        fields.append(("note", reason))
    fields.append(("change", change))
    try:
        line = audit(config, now, "RELEASE", fields)
    except OSError as error:
        return _roll_back(config, now, path, kept, unit, claim_id, base, change, who, error)
    message = f"released {unit.key} from {unit.owner} ({why}); the previous file is kept in {kept}"
    return ActionResult(
        Outcome.DONE,
        message,
        details=tuple(c.detail for c in conditions) + cleaned,
        log_lines=(line,),
    )


INTENT = "RELEASE-INTENT"
"""Logged before the claim file is written; the outcome line carries the same ``change=``."""
UNDONE = "RELEASE-UNDONE"
"""The outcome of an intent whose write did not happen or was rolled back."""


def _log_undone(
    config: Config,
    now: datetime,
    claim_id: str,
    base: list[tuple[str, str]],
    change: str,
    who: str,
    detail: str,
) -> bool:
    """Close an intent whose change did not stand. False when even that cannot be logged (the
    intent then stays open and is reported as half-done, with what the claim file shows)."""
    fields = [("claim", claim_id), *base, ("change", change), ("detail", detail), ("by", who)]
    try:
        audit(config, now, UNDONE, fields)
    except OSError:
        return False
    return True


def _roll_back(
    config: Config,
    now: datetime,
    path: Path,
    kept: Path | None,
    unit: ClaimUnit,
    claim_id: str,
    base: list[tuple[str, str]],
    change: str,
    who: str,
    error: OSError,
) -> ActionResult:
    """The claim was released on disk but its RELEASE line could not be logged: put the
    previous file back, so that the change and its audit line fall together."""
    why = error.strerror or str(error)
    try:
        if kept is None:
            raise FileNotFoundError("no history copy")
        atomic_write(path, read_regular(kept, config.max_file_bytes))
    except OSError as undo:
        return ActionResult(
            Outcome.ERROR,
            f"released {unit.key} in {path.name} but could not log it to {config.log_file} "
            f"({why}) nor put the previous file back ({undo}): {path.name} shows it released "
            f"with no RELEASE line; the previous version is in {kept} — restore it, or add the "
            "RELEASE line by hand",
        )
    logged = _log_undone(config, now, claim_id, base, change, who, f"log failed: {why}")
    note = "" if logged else " (operations.log shows a release intent without its outcome)"
    return ActionResult(
        Outcome.ERROR,
        f"could not log the release of {unit.key} to {config.log_file} ({why}): {path.name} "
        f"was put back as it was, {unit.key} is still owned by {unit.owner}{note}",
    )


def _clean_leftovers(config: Config, path: Path) -> tuple[str, ...]:
    """Under the claim's locks: remove the temp files a killed writer of this claim file left
    (regular files named like :func:`atomic_write`'s, older than the lock's stale age)."""
    removed: list[str] = []
    limit = time.time() - config.lock_stale_after.total_seconds()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return ()
    for entry in entries:
        if not temp_name_matches(path.name, entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < limit:
                os.unlink(entry.path)
                removed.append(
                    f"removed a leftover temp file of an interrupted write: {entry.name}"
                )
    return tuple(removed)


def release_all_stale(
    config: Config,
    *,
    now: datetime,
    reader: FactoryReader | None = None,
    by: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[str, ActionResult]]:
    """Every stale claim, each with its own lock, re-check and log line; ``progress(done,
    total)`` is told before the first and after each."""
    reader = reader or FactoryReader.warm(config)
    reader.refresh_all()
    fleet = reader.fleet(now, full=True)
    stale = [view.key for view in fleet.claims if view.state == "stale"]
    results: list[tuple[str, ActionResult]] = []
    for key in stale:
        if progress is not None:
            progress(len(results), len(stale))
        results.append((key, release_claim(config, key, now=now, reader=reader, by=by)))
    if progress is not None and stale:
        progress(len(stale), len(stale))
    return results


def release_all_summary(results: Sequence[tuple[str, ActionResult]]) -> ActionResult:
    """What :func:`release_all_stale` did, as one result: how many were released and why each
    other was not; done only when every stale claim was released (none found: refused)."""
    done = [key for key, r in results if r.ok]
    kept = [f"{key}: {r.message}" for key, r in results if not r.ok]
    message = f"released {len(done)} of {len(results)} stale claims" + (
        f"; not released: {'; '.join(kept)}" if kept else ""
    )
    outcome = Outcome.DONE if done and not kept else Outcome.REFUSED
    return ActionResult(outcome if results else Outcome.REFUSED, message)
