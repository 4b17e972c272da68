"""Issue 15: a server update re-merges only what it changed (``StoreMerger``), and the result is
the whole merge's (``merge_store``) for any sequence of updates."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.adapters.hegemon_remote import RemoteError, RemoteReader
from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.fleet import Fleet, HostProcs, ProcInfo, Settings
from factory_tui.core.fleet_derive import derive_fleet
from factory_tui.core.fleet_store import StoreMerger, merge_store
from factory_tui.core.fold import LogFold
from factory_tui.core.hegemon import StoreSnapshot, snapshot_from_rows
from factory_tui.core.oplog import Event, parse_line

NOW = datetime(2026, 2, 16, 17, 45)
HOST = "here"
INSTANCES = [f"t{n}-beef" for n in range(6)]
TICKETS = ["CAB-1", "CAB-2", "CAB-3", "MEGA-9"]
HOSTS = [HOST, "worker-1", "worker-1.lan", "worker-2", None]
TIMES = [None, "2026-02-16T17:44:00Z", "2026-02-16T17:20:00Z", "2026-02-16T12:00:00Z"]
SETTINGS = Settings()
PROCS = {4242: ProcInfo(4242, started_at=NOW - timedelta(hours=1))}
REMOTE = {"worker-1": HostProcs("worker-1", {1001: ProcInfo(1001)})}


def _file_claim(ticket: str, owner: str | None) -> ClaimFile:
    data = {
        "ticket": ticket,
        "title": f"{ticket} title",
        "owner": owner,
        "pid": 4242 if owner else None,
        "hostname": HOST if owner else None,
        "claimed_at": "2026-02-16T17:00" if owner else None,
        "branch": f"feat/{ticket}",
        "completed_at": None,
    }
    claim, problems = parse_claim(f"/f/.claude/claims/{ticket}.json", json.dumps(data).encode())
    assert claim is not None, problems
    return claim


def _base() -> tuple[Fleet, LogFold]:
    fold = LogFold()
    line = f"2026-02-16T17:40 | SESSION-START | instance={INSTANCES[0]} task=CAB-1"
    event = parse_line(line, 1, "operations.log")
    assert isinstance(event, Event)
    fold.feed_all([event])
    files = [_file_claim("CAB-1", INSTANCES[0]), _file_claim("CAB-2", None)]
    fleet = derive_fleet(
        root="/f", now=NOW, hostname=HOST, claims=files, fold=fold, procs=PROCS, remote=REMOTE
    )
    return fleet, fold


session_rows = st.fixed_dictionaries(
    {
        "instance_id": st.sampled_from(INSTANCES),
        "ticket": st.sampled_from([*TICKETS, None]),
        "step": st.sampled_from(["claimed", "coding", "pr-created", None]),
        "host": st.sampled_from(HOSTS),
        "pid": st.sampled_from([None, 1001, 1002, 4242]),
        "started_at": st.sampled_from(TIMES),
        "updated_at": st.sampled_from(TIMES),
    }
)
claim_rows = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["CAB-1", "CAB-2", "CAB-3", "MEGA-9-phase-1", "MEGA-9-phase-2"]),
        "owner": st.sampled_from([*INSTANCES, None]),
        "pid": st.sampled_from([None, 1001, 1002, 4242]),
        "host": st.sampled_from(HOSTS),
        "claimed_at": st.sampled_from(TIMES),
        "completed_at": st.sampled_from(TIMES),
        "deps": st.sampled_from([None, "[1]", "[]"]),
    }
)
# One update: a session or a claim record created or changed (by record id), or deleted.
updates = st.one_of(
    st.tuples(st.just("sessions"), st.integers(0, 7), st.none() | session_rows),
    st.tuples(st.just("claims"), st.integers(0, 7), st.none() | claim_rows),
)


def _claim_row(row: dict[str, Any]) -> dict[str, Any]:
    phase = row["id"].rsplit("-", 1)[-1] if "-phase-" in row["id"] else None
    out = {**row, "ticket": row["id"].split("-phase-")[0]}
    if phase is not None:
        out |= {"mega_id": "MEGA-9", "phase": int(phase)}
    return out


def _snapshot(records: dict[str, dict[int, dict[str, Any]]]) -> StoreSnapshot:
    tables = {
        "sessions": list(records["sessions"].values()),
        "claims": [_claim_row(row) for row in records["claims"].values()],
    }
    snapshot = snapshot_from_rows(
        "http://pb.test", schema="PocketBase", counts={}, tables=tables, read_at="now"
    )
    return replace(snapshot, origin="remote")


@settings(max_examples=60, deadline=None)
@given(st.lists(updates, min_size=1, max_size=25))
def test_an_incremental_merge_equals_the_whole_merge_after_any_updates(
    steps: list[tuple[str, int, dict[str, Any] | None]],
) -> None:
    fleet, fold = _base()
    merger = StoreMerger()
    records: dict[str, dict[int, dict[str, Any]]] = {"sessions": {}, "claims": {}}
    for table, record_id, row in steps:
        if row is None:
            records[table].pop(record_id, None)
        else:
            records[table][record_id] = row
        store = _snapshot(records)
        args: dict[str, Any] = {
            "fold": fold,
            "now": NOW,
            "procs": PROCS,
            "settings": SETTINGS,
            "remote": REMOTE,
        }
        assert merger.merge(fleet, store, **args) == merge_store(fleet, store, **args)
    assert merger.full_merges == 1


def _records(count: int) -> dict[str, dict[int, dict[str, Any]]]:
    sessions = {
        n: {
            "instance_id": f"t{n:04d}-cafe",
            "ticket": f"REM-{n}",
            "step": "coding",
            "host": f"worker-{n % 3}",
            "pid": 1000 + n,
            "started_at": "2026-02-16T17:00:00Z",
            "updated_at": "2026-02-16T17:40:00Z",
        }
        for n in range(count)
    }
    claims = {
        n: {
            "id": f"REM-{n}",
            "owner": f"t{n:04d}-cafe",
            "pid": 1000 + n,
            "host": f"worker-{n % 3}",
            "claimed_at": "2026-02-16T17:00:00Z",
        }
        for n in range(count)
    }
    return {"sessions": sessions, "claims": claims}


def test_one_updated_session_re_derives_its_own_views_only() -> None:
    fleet, fold = _base()
    args: dict[str, Any] = {
        "fold": fold,
        "now": NOW,
        "procs": PROCS,
        "settings": SETTINGS,
        "remote": REMOTE,
    }
    merger = StoreMerger()
    records = _records(50)
    before = merger.merge(fleet, _snapshot(records), **args)
    records["sessions"][7] = {**records["sessions"][7], "step": "pr-created"}
    after = merger.merge(fleet, _snapshot(records), **args)
    assert after == merge_store(fleet, _snapshot(records), **args)
    old = {view.id: view for view in before.instances}
    changed = [view.id for view in after.instances if view is not old[view.id]]
    assert changed == ["t0007-cafe"]
    assert next(v for v in after.instances if v.id == "t0007-cafe").step == "pr-created"
    old_sessions = {s.instance: s for s in before.sessions}
    assert [s.instance for s in after.sessions if s is not old_sessions[s.instance]] == [
        "t0007-cafe"
    ]
    assert merger.full_merges == 1


def test_a_new_context_or_a_later_now_merges_afresh() -> None:
    fleet, fold = _base()
    merger = StoreMerger(full_every=timedelta(seconds=15))
    store = _snapshot(_records(5))
    args: dict[str, Any] = {"fold": fold, "procs": PROCS, "settings": SETTINGS, "remote": REMOTE}
    merger.merge(fleet, store, now=NOW, **args)
    merger.merge(fleet, store, now=NOW + timedelta(seconds=10), **args)
    assert merger.full_merges == 1
    later = NOW + timedelta(seconds=16)
    assert merger.merge(fleet, store, now=later, **args) == merge_store(
        fleet, store, now=later, **args
    )
    assert merger.full_merges == 2
    # Other process facts (a pid died): every view is made again.
    gone = {**args, "remote": {"worker-1": HostProcs("worker-1", {})}}
    assert merger.merge(fleet, store, now=later, **gone) == merge_store(
        fleet, store, now=later, **gone
    )
    assert merger.full_merges == 3


# -- the reader: a server event re-parses its own record only ---------------------------------------


def _pb_record(table: str, record_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """A PocketBase record as the server sends it (its own id; a claim's id as ``claim_id``)."""
    if table == "claims":
        row = _claim_row(row)
        row = {**{k: v for k, v in row.items() if k != "id"}, "claim_id": row["id"]}
    return {**row, "id": f"pb{record_id:013d}"}


@settings(max_examples=40, deadline=None)
@given(st.lists(updates, min_size=1, max_size=25))
def test_the_readers_snapshot_is_the_whole_parse_after_any_events(
    steps: list[tuple[str, int, dict[str, Any] | None]],
) -> None:
    reader = RemoteReader("http://pb.test", RemoteError("no credentials in this test"))
    records: dict[str, dict[int, dict[str, Any]]] = {"sessions": {}, "claims": {}}
    for table, record_id, row in steps:
        if row is None:
            if records[table].pop(record_id, None) is None:
                continue
            event = {"action": "delete", "record": {"id": f"pb{record_id:013d}"}}
        else:
            records[table][record_id] = row
            event = {"action": "update", "record": _pb_record(table, record_id, row)}
        assert reader.apply(table, event)
        got = reader.snapshot
        assert got is not None
        expected = _snapshot(records)
        counts = {name: len(records[name]) for name in ("sessions", "claims")}
        assert got == replace(expected, path=got.path, read_at=got.read_at, counts=counts)


def test_an_event_re_parses_only_the_record_it_carries() -> None:
    reader = RemoteReader("http://pb.test", RemoteError("no credentials in this test"))
    records = _records(20)
    for n, row in records["sessions"].items():
        reader.apply("sessions", {"action": "create", "record": _pb_record("sessions", n, row)})
    before = reader.snapshot
    assert before is not None
    changed = {**records["sessions"][3], "step": "pr-created"}
    reader.apply("sessions", {"action": "update", "record": _pb_record("sessions", 3, changed)})
    after = reader.snapshot
    assert after is not None
    same = [a is b for a, b in zip(before.sessions, after.sessions, strict=True)]
    assert same == [n != 3 for n in range(20)]
    assert after.sessions[3].step == "pr-created"
