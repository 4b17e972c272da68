"""The partial re-derive after appended log lines gives exactly the fleet a full derive gives."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import demo_reader
from hypothesis import given
from hypothesis import strategies as st

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import append_line
from factory_tui.adapters.procs import TableProbe
from factory_tui.core.fleet import ClaimView, Fleet, ProcInfo, Settings
from factory_tui.core.fleet_derive import _places_by, derive_fleet
from factory_tui.core.timeparse import format_ts
from factory_tui.demo import DemoFactory


def assert_same(partial: Fleet, whole: Fleet) -> None:
    assert [s.key for s in partial.sessions] == [s.key for s in whole.sessions]
    assert partial.sessions == whole.sessions
    assert partial.claims == whole.claims
    assert partial.instances == whole.instances
    assert dict(partial.counts) == dict(whole.counts)
    assert partial == whole


def appended(reader: FactoryReader, demo: DemoFactory, line: str) -> None:
    append_line(demo.memory_dir / "operations.log", line)
    assert reader.refresh_log()


@pytest.fixture
def reader(demo: DemoFactory) -> FactoryReader:
    reader = demo_reader(demo)
    reader.refresh_all()
    return reader


def fleet_now(reader: FactoryReader, now: datetime) -> Fleet:
    """What a derive from scratch says, from the same parsed files."""
    settings = Settings(stale_after=reader.config.stale_after, idle_after=reader.config.idle_after)
    whole = derive_fleet(
        root=str(reader.config.root),
        now=now,
        hostname=reader.hostname,
        claims=sorted(reader.claim_files(), key=lambda c: c.file),
        fold=reader.fold,
        checkpoints=list(reader.checkpoints.values()),
        procs=reader.probe.probe(reader.local_pids()),
        settings=settings,
        problems=reader.problems(),
        lint=reader.lint,
    )
    return whole


def test_each_kind_of_appended_line_matches_a_full_derive(
    reader: FactoryReader, demo: DemoFactory
) -> None:
    now = demo.now
    reader.fleet(now)
    instances = sorted(demo.instances)
    crashed = next(i for i, role in demo.instances.items() if role == "crashed")
    working = next(i for i, role in demo.instances.items() if role == "working")
    crashed_task = next(
        s.task for s in reader.fleet(now, full=True).sessions if s.status == "crashed"
    )
    ts = format_ts(now - timedelta(seconds=30))
    claims = reader.fleet(now, full=True).claims
    owned = next(c.unit for c in claims if c.unit.owner and c.unit.phase is not None)
    phase = owned.phase
    free = next(c.unit for c in claims if c.unit.phase is None)
    lines = [
        # a step of the working agent's session
        f"{ts} | STEP-DONE | step=commit task="
        + next(s.task for s in reader.deriver.previous.sessions if s.instance == working)  # type: ignore[union-attr]
        + f" instance={working}",
        # a new session of a new task by an existing instance supersedes its open one
        f"{ts} | SESSION-START | task=NEW-1 branch=feat/NEW-1 instance={working}",
        f"{ts} | STEP-START | step=code task=NEW-1",
        # the crashed session is closed by a recovery from another instance
        f"{ts} | SESSION-END | task={crashed_task} status=crashed recovered_by={instances[0]}",
        f"{ts} | RECOVERY | task={crashed_task} action=resume from_step=code by=dana",
        # a brand-new instance
        f"{ts} | SESSION-START | task=NEW-2 branch=fix/NEW-2 instance=t-brand-new",
        f"{ts} | SESSION-END | task=NEW-2 status=success",
        # a claim event of the crashed instance (its claims' log condition)
        f"{ts} | SESSION-START | task=NEW-3 instance={crashed}",
        f"{ts} | CLAIM | task=NEW-3 phase=- instance={crashed}",
        # the real hooks' lines: a command with unescaped inner quotes, a merge, a conflict
        f'{ts} | BASH-EXEC | cmd="git commit -m "fix: {working}""',
        f'{ts} | PR-MERGED-HOOK | pr=9 cmd="gh pr merge 9 --squash"',
        f"{ts} | CONFLICT | task={owned.claim_id} phase={phase} winner={owned.owner}",
        # factory-tui's audit lines about the crashed agent: not its activity
        f"{ts} | RECOVERY | task={crashed_task} action=resume from_step=code by=dana",
        f"{ts} | ERROR | task={crashed_task} error=x instance={crashed} by=dana",
        # a lost claim: a CLAIM of a unit whose file names someone else; then its owner's CLAIM
        # (the first one overwritten), then the owner's RELEASE the file does not show
        f"{ts} | CLAIM | task={owned.claim_id} phase={phase} instance=t-lost",
        f"{ts} | CLAIM | task={owned.claim_id} phase={phase} instance={owned.owner}",
        f"{ts} | RELEASE | task={owned.claim_id} phase={phase} instance={owned.owner} reason=done",
        # a standalone CLAIM / RELEASE without phase
        f"{ts} | CLAIM | task={free.claim_id} instance=t-standalone",
        f"{ts} | RELEASE | task={free.claim_id} instance=t-standalone reason=done",
    ]
    before = reader.deriver.partial_derives
    seen: list[str] = []
    for line in lines:
        appended(reader, demo, line)
        fleet = reader.fleet(now, reprobe=False)
        assert_same(fleet, fleet_now(reader, now))
        seen += [c.split(" of ")[0] for view in fleet.claims for c in view.conflicts]
    assert reader.deriver.partial_derives == before + len(lines)
    # the claim-conflict lines were each seen by the partial derive
    kinds = {
        "lost claim: t-lost logged CLAIM",
        "lost claim (overwritten): t-lost logged CLAIM",
        f"{owned.owner} logged RELEASE",
    }
    assert kinds <= set(seen)


def test_random_appends_match_a_full_derive(reader: FactoryReader, demo: DemoFactory) -> None:
    rng = random.Random(11)
    now = demo.now
    reader.fleet(now)
    instances = [*sorted(demo.instances), "t-new-a", "t-new-b"]
    tasks = [*sorted({s.task for s in reader.fleet(now, full=True).sessions}), "R-1", "R-2"]
    events = ["STEP-DONE", "STEP-START", "SESSION-START", "SESSION-END", "CHECKPOINT", "ERROR"]
    events += ["CLAIM", "RELEASE", "BASH-EXEC"]
    units = [c.unit for c in reader.fleet(now, full=True).claims]
    before = reader.deriver.partial_derives
    for n in range(120):
        ts = format_ts(now - timedelta(minutes=rng.randint(0, 600)))
        event = rng.choice(events)
        task = rng.choice(tasks)
        fields = f"task={task}"
        if event.startswith("STEP"):
            fields = f"step={rng.choice(['code', 'commit', 'push'])} {fields}"
        if rng.random() < 0.5 or event == "SESSION-START":
            fields += f" instance={rng.choice(instances)}"
        if event == "SESSION-END":
            fields += f" status={rng.choice(['success', 'crashed', 'paused'])}"
        if event == "CHECKPOINT":
            fields += f" file=cp-{n}.json"
        if event in ("CLAIM", "RELEASE"):
            unit = rng.choice(units)
            phase = "" if unit.phase is None else f" phase={unit.phase}"
            who = rng.choice([*instances, unit.owner or "t-new-a"])
            fields = f"task={unit.claim_id}{phase} instance={who}"
            if event == "RELEASE":
                fields += " reason=done"
        if event == "BASH-EXEC":
            fields = f'cmd="echo "{n}" {task}"'
        if rng.random() < 0.1:
            fields += " by=dana"  # factory-tui's audit line
        appended(reader, demo, f"{ts} | {event} | {fields}")
        assert_same(reader.fleet(now, reprobe=False), fleet_now(reader, now))
    assert reader.deriver.partial_derives > before + 100


def test_other_changes_derive_in_full(
    reader: FactoryReader, demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = demo.now
    reader.fleet(now)
    partial = reader.deriver.partial_derives
    # a later clock past the full-derive period
    reader.fleet(now + reader.deriver.full_every, reprobe=False)
    assert reader.deriver.partial_derives == partial
    # a new process table
    reader.fleet(now + reader.deriver.full_every, reprobe=True)
    reader.probe.table.clear()  # type: ignore[attr-defined]
    reader.fleet(now + reader.deriver.full_every, reprobe=True)
    assert reader.deriver.partial_derives == partial + 1  # the unchanged probe was partial
    later = now + reader.deriver.full_every
    # a new claim file with the id of another (two folders' files: the views' order is the files')
    files = reader.claim_folder.sorted_files()
    twin = replace(files[0], file=files[0].file.replace("/claims/", "/claims-too/"))
    with monkeypatch.context() as patched:
        both = sorted([*files, twin], key=lambda c: c.file)
        patched.setattr(reader.claim_folder, "sorted_files", lambda: both)
        patched.setattr(reader, "claim_files", lambda: both)
        assert_same(reader.fleet(later, reprobe=False), fleet_now(reader, later))
        assert reader.deriver.partial_derives == partial + 1
    # many claim files at once (a folder put back)
    raw = json.loads(sorted(demo.claims_dir.glob("*.json"))[0].read_bytes())
    for n in range(9):
        raw.update(ticket=f"CAB-98{n}", mega=f"CAB-98{n}")
        rewrite(demo.claims_dir / f"CAB-98{n}.json", raw)
    assert reader.refresh_claims()
    assert_same(reader.fleet(later, reprobe=False), fleet_now(reader, later))
    assert reader.deriver.partial_derives == partial + 1


def test_claim_files_that_come_and_go_match_a_full_derive(
    reader: FactoryReader, demo: DemoFactory
) -> None:
    """Issue 17: a claim file that comes or goes, or changes its units (a phase more), places
    and indexes the views again and re-derives what its units touch (their owners, whom their
    conflicts are about), not every claim (ten thousand: ~0.25 s a new ticket); the result is
    the fleet a full derive gives, field by field, with log lines in the same cycles."""
    rng = random.Random(1717)
    now = demo.now
    reader.fleet(now)
    templates = [json.loads(path.read_bytes()) for path in sorted(demo.claims_dir.glob("*.json"))]
    agents = sorted(demo.instances)
    owners = [*agents, "t-only-in-a-file"]
    pids = [*sorted(demo.pids.values()), 4_000_000]
    before = reader.deriver.partial_derives
    made: list[Path] = []
    kinds: set[str] = set()
    for n in range(60):
        kind = rng.choice(["add", "add", "remove", "phases", "edit+add"])
        if kind == "remove" and made:
            path = made.pop(rng.randrange(len(made)))
            path.unlink()
        elif kind == "phases" and made:
            path = rng.choice(made)
            raw = json.loads(path.read_bytes())
            if "phases" in raw:
                raw["phases"].append(
                    {"id": 90 + n, "name": "more", "deps": [raw["phases"][0]["id"]]}
                )
            else:
                raw["title"] = f"retitled {n}"  # a ticket: an edit in place
            rewrite(path, raw)
        else:
            kind = "add" if kind != "edit+add" else kind
            raw = json.loads(json.dumps(rng.choice(templates)))
            name = rng.choice([f"NEW-{n}", f"CAB-0{n}", f"ZZZ-{n}"])  # first, among, last
            raw.update(ticket=name, mega=name)
            for unit in raw.get("phases", [raw]):
                if rng.random() < 0.5:
                    _edit(unit, rng, owners, pids)
            path = demo.claims_dir / f"{name}.json"
            rewrite(path, raw)
            made.append(path)
            if kind == "edit+add":  # an old file changed in the same cycle
                old = rng.choice(sorted(demo.claims_dir.glob("CAB-1*.json")))
                was = json.loads(old.read_bytes())
                _edit(rng.choice(was.get("phases", [was])), rng, owners, pids)
                rewrite(old, was)
        kinds.add(kind)
        assert reader.refresh_claims()
        if rng.random() < 0.5:  # a CLAIM in the same cycle: the file may not say it (a conflict)
            ts = format_ts(now - timedelta(minutes=rng.randint(0, 90)))
            task = rng.choice([*(path.stem for path in made[-3:]), "CAB-1290"])
            appended(
                reader,
                demo,
                f"{ts} | CLAIM | task={task} instance={rng.choice(agents)}",
            )
        assert_same(reader.fleet(now, reprobe=False), fleet_now(reader, now))
    assert kinds == {"add", "remove", "phases", "edit+add"}
    # A ticket an agent logged a CLAIM of, its file naming no owner (a lost claim: a conflict
    # the agent's view shows), then the file gone: the agent's view no longer shows it.
    path = demo.claims_dir / "LOST-1.json"
    rewrite(path, {"ticket": "LOST-1", "title": "lost", "owner": None})
    appended(reader, demo, f"{format_ts(now)} | CLAIM | task=LOST-1 instance={agents[0]}")
    assert reader.refresh_claims()
    shown = reader.fleet(now, reprobe=False)
    assert any(agents[0] in view.conflicts_about for view in shown.claims)
    assert any(view.conflicts for view in shown.instances if view.id == agents[0])
    path.unlink()
    assert reader.refresh_claims()
    assert_same(reader.fleet(now, reprobe=False), fleet_now(reader, now))
    assert reader.deriver.partial_derives == before + 62


def rewrite(path: Path, raw: dict[str, Any]) -> None:
    """Replace a claim file as the claim tool does: a temp file renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(raw, indent=2))
    os.replace(tmp, path)


def _edit(unit: dict[str, Any], rng: random.Random, owners: list[str], pids: list[int]) -> None:
    """One change an agent or the claim tool makes to a unit (or a hand edit)."""
    now = "2026-02-12T15:40"
    match rng.choice(["claim", "release", "complete", "pid", "host", "age", "reopen"]):
        case "claim":
            unit.update(owner=rng.choice(owners), pid=rng.choice(pids), claimed_at=now)
        case "release":
            unit.update(owner=None, pid=None, claimed_at=None)
        case "complete":
            unit["completed_at"] = now
        case "pid":
            unit["pid"] = rng.choice(pids)
        case "host":
            unit["hostname"] = rng.choice(["h", "ci-runner-02.lan", None])
        case "age":
            unit["claimed_at"] = rng.choice(["2026-02-11T09:00", "2026-02-12T15:30", None])
        case "reopen":
            unit["completed_at"] = None


def test_random_claim_edits_match_a_full_derive(reader: FactoryReader, demo: DemoFactory) -> None:
    """Issue 17: a changed claim file re-derives only what depends on it (its units' views, the
    instances that own or owned them or that their conflicts name, those instances' sessions),
    and the result is the fleet a full derive gives, field by field."""
    rng = random.Random(17)
    now = demo.now
    reader.fleet(now)
    files = sorted(demo.claims_dir.glob("*.json"))
    agents = sorted(demo.instances)
    owners = [*agents, "t-only-in-a-file", "t-new-claimer"]  # neither ever logs
    pids = [*sorted(demo.pids.values()), 4_000_000]
    before = reader.deriver.partial_derives
    for n in range(80):
        path = rng.choice(files)
        raw = json.loads(path.read_bytes())
        was = json.loads(path.read_bytes())
        for _ in range(rng.randint(1, 3)):
            _edit(rng.choice(raw.get("phases", [raw])), rng, owners, pids)
        if rng.random() < 0.2:
            raw["title"] = f"Retitled {n}"
        rewrite(path, raw)
        # A rewrite that says the same (a release of a free unit) is no change.
        assert reader.refresh_claim(path) == (raw != was)
        if rng.random() < 0.3:  # a log line in the same cycle
            ts = format_ts(now - timedelta(minutes=rng.randint(0, 90)))
            appended(
                reader,
                demo,
                f"{ts} | STEP-DONE | step=code task=R-{n % 3} instance={rng.choice(agents)}",
            )
        assert_same(reader.fleet(now, reprobe=False), fleet_now(reader, now))
    assert reader.deriver.partial_derives == before + 80


class CountingProbe(TableProbe):
    """A probe that counts its calls."""

    def __init__(self) -> None:
        super().__init__({})
        self.calls = 0

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        self.calls += 1
        return super().probe(pids)


def test_given_process_facts_are_used_instead_of_a_probe(
    reader: FactoryReader, demo: DemoFactory
) -> None:
    """Issue 14: the cockpit's slow timer probes once and hands the facts to ``fleet(procs=)``
    (it used to swap the reader's probe, which an action's thread could pick up meanwhile)."""
    probed = reader.probe.probe(reader.local_pids())
    assert probed  # the demo's live agents
    counting = CountingProbe()
    reader.probe = counting
    fleet = reader.fleet(demo.now, procs=probed)
    assert counting.calls == 0
    assert all(i.alive for i in fleet.instances if i.pid in probed)
    # The given facts stand for the next derive that does not re-probe.
    assert reader.fleet(demo.now, reprobe=False) == fleet
    assert counting.calls == 0
    dead = reader.fleet(demo.now)  # a re-probe: the counting probe sees no process
    assert counting.calls == 1
    assert not any(i.alive for i in dead.instances if i.pid in probed)


def test_a_full_derive_keeps_the_views_that_did_not_change(
    reader: FactoryReader, demo: DemoFactory
) -> None:
    """A full derive (the clock past its period, a new process table) makes every claim view
    anew; those equal to the last fleet's are that fleet's objects, so the claims tree redraws
    only the new ones. The fleet is the one a derive from scratch gives all the same."""
    now = demo.now
    first = reader.fleet(now)
    claim = demo.claims_dir / "CAB-1297.json"
    raw = json.loads(claim.read_bytes())
    raw["title"] = "retitled"
    rewrite(claim, raw)
    assert reader.refresh_claims()
    later = now + reader.deriver.full_every
    fleet = reader.fleet(later, reprobe=False)
    assert_same(fleet, fleet_now(reader, later))
    kept = {view.key for view, was in zip(fleet.claims, first.claims, strict=True) if view is was}
    new = {view.key for view in fleet.claims} - kept
    assert "CAB-1297" in new and len(kept) > len(new)
    for view in fleet.claims:
        if view.key in new:
            assert view != next(w for w in first.claims if w.key == view.key)


@given(st.lists(st.sampled_from("abcd"), max_size=30))
def test_the_places_by_id_and_file_are_every_view_of_each_key_in_order(keys: list[str]) -> None:
    """The claims' places by id and by file (tuples made from runs of one key, for the
    collector's sake) are what a list per key, appended to in order, holds; a key in two runs
    (two files of one id) has both."""
    expected: dict[str, list[int]] = {}
    for n, key in enumerate(keys):
        expected.setdefault(key, []).append(n)
    views = cast(list[ClaimView], keys)
    found = _places_by(views, lambda view: cast(str, view))
    assert found == {key: tuple(places) for key, places in expected.items()}
    assert all(type(places) is tuple for places in found.values())
