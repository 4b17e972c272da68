"""Random cycles of appended log lines (and changed claim files), each derived
partially, against a full derive of the same inputs: the same fleet, field by field and in the
same order, the partial path really taken, and the deriver's indexes consistent afterwards.

Cycles mix: old hidden sessions listed again (several at once, by a step after the newer session
ended, or closed by a recovery), listed again while another is dropped, listed again while new
sessions start, an instance's views moving, claim files edited / added / removed."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from test_superseded_crashes import NOW, at

from factory_tui.core import fold_sessions
from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.fleet import Fleet, ProcInfo, Settings
from factory_tui.core.fleet_derive import FleetDeriver, derive_fleet
from factory_tui.core.fleet_sessions import is_shown
from factory_tui.core.fold import LogFold

SETTINGS = Settings()
PROCS = {101: ProcInfo(101), 102: ProcInfo(102)}
PIDS = [101, 102, 999_001, None]


class World:
    """A fold fed cycle by cycle, its claim files, a deriver kept across cycles."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        # Few tasks and agents (many sessions of one task open at once, one agent on several
        # tasks) or more of them.
        self.tasks = [f"t{n}" for n in range(rng.randint(1, 8))]
        self.instances = [f"i{n}" for n in range(rng.randint(1, 6))]
        self.fold = LogFold()
        self.line = 1
        self.deriver = FleetDeriver()
        self.claims: dict[str, ClaimFile] = {}
        self.cycle_lines: list[str] = []
        self.log: list[str] = []
        self.kinds: dict[str, int] = {}
        # Hours before NOW of the next line: the log is in time order but for a line logged
        # late now and then, with an older time (another machine's clock).
        self.clock = rng.uniform(40, 300)

    def ts(self) -> str:
        """The next line's time: never before the last one's, but one line in twenty, dated up
        to three days before."""
        if self.rng.random() < 0.05:
            return at(self.clock + self.rng.uniform(0.1, 72))
        self.clock = max(0.0, self.clock - self.rng.choice([0, 0, 0.02, 0.2, 1, 3]))
        return at(self.clock)

    def jump(self) -> None:
        if self.rng.random() < 0.2:
            self.clock = max(0.0, self.clock - self.rng.uniform(5, 60))

    # -- inputs -------------------------------------------------------------------------------

    def add(self, line: str) -> None:
        self.cycle_lines.append(line)

    def claim_list(self) -> list[ClaimFile]:
        return [self.claims[f] for f in sorted(self.claims)]

    def _inputs(self) -> dict[str, Any]:
        return {
            "root": "/r",
            "now": NOW,
            "hostname": "h",
            "claims": self.claim_list(),
            "fold": self.fold,
            "procs": PROCS,
            "settings": SETTINGS,
        }

    def derive_partial(self, full: bool = False) -> Fleet:
        return self.deriver.derive(full=full, **self._inputs())

    def derive_full(self) -> Fleet:
        return derive_fleet(**self._inputs())

    def flush(self) -> None:
        lines = self.cycle_lines
        self.cycle_lines = []
        if lines:
            self.fold.feed_lines([x.encode() for x in lines], "operations.log", self.line)
            self.line += len(lines)
            self.log.extend(lines)

    # -- what the fold says now ---------------------------------------------------------------

    def hidden_open(self) -> list[tuple[str, int]]:
        """(task, index in open_by_task[task]) of open sessions a full derive does not list."""
        horizon = NOW - SETTINGS.history
        found = []
        for task, opened in self.fold.open_by_task.items():
            for n, rec in enumerate(opened):
                if not is_shown(rec, self.fold, horizon):
                    found.append((task, n))
        return found

    # -- line makers --------------------------------------------------------------------------

    def start(self, task: str, instance: str | None) -> None:
        who = f" instance={instance}" if instance else ""
        extra = ""
        if self.rng.random() < 0.1:
            extra = " recovered_from=x@operations.log:1" if instance else ""
        self.add(f"{self.ts()} | SESSION-START | task={task} branch=fix/{task}{who}{extra}")

    def end(self, task: str, status: str, by: str | None = None) -> None:
        rec = f" recovered_by={by}" if by else ""
        self.add(f"{self.ts()} | SESSION-END | task={task} status={status}{rec}")

    def step(self, task: str, instance: str | None = None) -> None:
        name = self.rng.choice(["STEP-DONE", "STEP-START"])
        who = f" instance={instance}" if instance else ""
        self.add(f"{self.ts()} | {name} | step=s{self.rng.randint(0, 3)} task={task}{who}")

    def random_line(self) -> None:
        rng = self.rng
        task, instance = rng.choice(self.tasks), rng.choice(self.instances)
        kind = rng.choices(
            [
                "start",
                "start-noinst",
                "end-ok",
                "end-crash",
                "recover",
                "step",
                "step-inst",
                "wait",
                "claim",
                "release",
                "audit-step",
            ],
            weights=[6, 1, 3, 2, 2, 6, 2, 2, 1, 1, 1],
        )[0]
        if kind == "start":
            self.start(task, instance)
        elif kind == "start-noinst":
            self.start(task, None)
        elif kind == "end-ok":
            self.end(task, "success")
        elif kind == "end-crash":
            self.end(task, "crashed")
        elif kind == "recover":
            self.end(task, "crashed", by=rng.choice(["dana", "eve"]))
        elif kind == "step":
            self.step(task)
        elif kind == "step-inst":
            self.step(task, instance)
        elif kind == "wait":
            self.add(f"{self.ts()} | AGENT-WAITING | instance={instance} kind=permission_prompt")
        elif kind == "claim":
            self.add(f"{self.ts()} | CLAIM | task={task} instance={instance}")
        elif kind == "release":
            self.add(f"{self.ts()} | RELEASE | task={task} instance={instance}")
        else:
            self.add(f"{self.ts()} | STEP-DONE | step=s9 task={task} by=factory-tui")

    # -- scenarios: a cycle's worth of lines ---------------------------------------------------

    def relist(self, how: str | None = None) -> bool:
        """Lines that list a hidden open session again; False when there is none."""
        hidden = self.hidden_open()
        if not hidden:
            return False
        task, n = self.rng.choice(hidden)
        opened = self.fold.open_by_task[task]
        how = how or self.rng.choice(["closed", "logging"])
        if how == "closed" and n == 0:
            # A recovery's line closes the oldest open session: the hidden one.
            self.end(task, "crashed", by="dana")
        else:
            # The newer ones end (success closes the newest), then a step lands on it.
            for _ in range(len(opened) - 1 - n):
                self.end(task, "success")
            self.step(task)
        return True

    def hide(self) -> None:
        """Lines that make a listed session hidden: a new start superseding a task's latest that
        is silent (or ended) since before the window."""
        rng = self.rng
        horizon = NOW - SETTINGS.history
        old = [
            task
            for task, rec in self.fold.latest_by_task.items()
            if (rec.ended_at or rec.last_event_at) < f"{horizon:%Y-%m-%dT%H:%M}"
        ]
        self.start(rng.choice(old or self.tasks), rng.choice(self.instances))

    def old_pile(self) -> None:
        """Old sessions superseded long ago: the material of the hidden ones."""
        rng = self.rng
        task = rng.choice(self.tasks)
        for _ in range(rng.randint(1, 3)):
            self.start(task, rng.choice(self.instances))
        self.start(task, rng.choice(self.instances))

    def instance_moves(self) -> None:
        """One instance on several tasks, starting and ending: its views move."""
        rng = self.rng
        instance = rng.choice(self.instances)
        for task in rng.sample(self.tasks, rng.randint(1, min(4, len(self.tasks)))):
            if rng.random() < 0.6:
                self.start(task, instance)
            else:
                self.end(task, rng.choice(["success", "crashed"]))
        if rng.random() < 0.5:
            self.add(f"{self.ts()} | AGENT-WAITING | instance={instance} kind=permission_prompt")

    def claims_change(self) -> None:
        """A claim file edited, added or removed (one or two: few enough for a partial)."""
        rng = self.rng
        for _ in range(rng.randint(1, 2)):
            task = rng.choice([*self.tasks, "m0"])
            file = f"claims/{task}.json"
            if file in self.claims and rng.random() < 0.25:
                del self.claims[file]
                continue
            owner = rng.choice([*self.instances, None])
            unit = {
                "owner": owner,
                "pid": rng.choice(PIDS) if owner else None,
                "claimed_at": self.ts() if owner else None,
                "hostname": rng.choice(["h", "h", "other", None]) if owner else None,
                "completed_at": self.ts() if rng.random() < 0.15 else None,
            }
            raw: dict[str, Any]
            if task == "m0":
                raw = {
                    "mega": "m0",
                    "title": "m",
                    "phases": [
                        {"id": 1, "name": "a", "deps": [], **unit},
                        {
                            "id": 2,
                            "name": "b",
                            "deps": [1],
                            "owner": rng.choice([*self.instances, None]),
                            "pid": rng.choice(PIDS),
                        },
                    ],
                }
                if rng.random() < 0.3:  # a phase more: its units change
                    raw["phases"].append({"id": 3, "name": "c", "deps": [2]})
            else:
                raw = {"ticket": task, "title": f"T {task}", **unit}
            claim, problems = parse_claim(file, json.dumps(raw).encode())
            assert claim is not None, problems
            self.claims[file] = claim

    def cycle(self) -> str:
        rng = self.rng
        self.jump()
        kind = rng.choices(
            [
                "random",
                "relist-many",
                "relist+drop",
                "relist+new",
                "moves",
                "pile",
                "claims",
                "everything",
            ],
            weights=[4, 2, 2, 2, 1, 2, 1, 2],
        )[0]
        if kind == "random":
            for _ in range(rng.randint(1, 6)):
                self.random_line()
        elif kind == "relist-many":
            for _ in range(rng.randint(2, 4)):
                self.relist()
                self.flush_into_fold_for_planning()
        elif kind == "relist+drop":
            self.relist()
            self.flush_into_fold_for_planning()
            self.hide()
        elif kind == "relist+new":
            self.relist()
            self.flush_into_fold_for_planning()
            for _ in range(rng.randint(1, 3)):
                self.start(rng.choice(self.tasks), rng.choice(self.instances))
        elif kind == "moves":
            self.instance_moves()
        elif kind == "pile":
            self.old_pile()
        elif kind == "claims":
            self.claims_change()
            if rng.random() < 0.7:
                self.relist()
        else:
            self.relist()
            self.flush_into_fold_for_planning()
            self.hide()
            self.instance_moves()
            for _ in range(rng.randint(0, 3)):
                self.random_line()
            if rng.random() < 0.5:
                self.claims_change()
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return kind

    def flush_into_fold_for_planning(self) -> None:
        """Feed what the cycle has so far (no derive in between): the next scenario of the same
        cycle plans against the fold as these lines leave it."""
        self.flush()


def check_indexes(deriver: FleetDeriver, fleet: Fleet) -> None:
    keys = [view.key for view in fleet.sessions]
    assert len(set(keys)) == len(keys)
    assert deriver._place == {key: n for n, key in enumerate(keys)}
    assert set(deriver._recs) == set(keys)
    seqs = [deriver._recs[key].seq for key in keys]
    assert seqs == sorted(seqs)
    by_instance: dict[str, set[str]] = {}
    for view in fleet.sessions:
        if view.instance:
            by_instance.setdefault(view.instance, set()).add(view.key)
    assert {i: s for i, s in deriver._by_instance.items() if s} == by_instance
    by_task = {key for shown in deriver._by_task.values() for key in shown}
    assert by_task == set(keys)
    for task, shown in deriver._by_task.items():
        assert all(rec.task == task for rec in shown.values())


def first_difference(partial: Fleet, whole: Fleet) -> str:
    lines = []
    pk = [s.key for s in partial.sessions]
    wk = [s.key for s in whole.sessions]
    if pk != wk:
        lines.append(f"session keys partial={pk}\n                 full   ={wk}")
    for p, w in zip(partial.sessions, whole.sessions, strict=False):
        if p != w:
            for field in p.__dataclass_fields__:
                if getattr(p, field) != getattr(w, field):
                    lines.append(f"{p.key}.{field}: {getattr(p, field)!r} != {getattr(w, field)!r}")
    for pi, wi in zip(partial.instances, whole.instances, strict=False):
        if pi != wi:
            for field in pi.__dataclass_fields__:
                if getattr(pi, field) != getattr(wi, field):
                    lines.append(
                        f"inst {pi.id}.{field}: {getattr(pi, field)!r} != {getattr(wi, field)!r}"
                    )
    if [i.id for i in partial.instances] != [i.id for i in whole.instances]:
        lines.append(
            f"instances {[i.id for i in partial.instances]} != {[i.id for i in whole.instances]}"
        )
    if partial.claims != whole.claims:
        lines.append("claims differ")
    if dict(partial.counts) != dict(whole.counts):
        lines.append(f"counts {dict(partial.counts)} != {dict(whole.counts)}")
    return "\n".join(lines) or "(other fields)"


def run(seed: int, cycles: int) -> World:
    rng = random.Random(seed)
    world = World(rng)
    # A first history, derived in full.
    for _ in range(rng.randint(0, 4)):
        world.old_pile()
    for _ in range(rng.randint(0, 8)):
        world.random_line()
    world.flush()
    world.derive_partial()
    for n in range(cycles):
        kind = world.cycle()
        world.flush()
        if rng.random() < 0.05:  # a full derive between: the indexes made again
            assert world.derive_partial(full=True) == world.derive_full()
            assert world.deriver.previous is not None
            check_indexes(world.deriver, world.deriver.previous)
        before = world.deriver.partial_derives
        shown_before = set(world.deriver._place)
        sessions_before = world.deriver._sessions
        partial = world.derive_partial()
        whole = world.derive_full()
        assert partial == whole, (
            f"seed {seed} cycle {n} ({kind}):\n{first_difference(partial, whole)}\n"
            + "\n".join(world.log)
        )
        assert world.deriver.partial_derives == before + 1, f"seed {seed} cycle {n} ({kind})"
        check_indexes(world.deriver, partial)
        came = [k for k in world.deriver._place if k not in shown_before]
        old = sum(world.deriver._recs[k].seq < sessions_before for k in came)
        world.kinds["listed-again"] = world.kinds.get("listed-again", 0) + old
        world.kinds["listed-again-many"] = world.kinds.get("listed-again-many", 0) + (old > 1)
        world.kinds["listed-again+dropped"] = world.kinds.get("listed-again+dropped", 0) + (
            old > 0 and bool(shown_before - set(world.deriver._place))
        )
        world.kinds["listed-again+new"] = world.kinds.get("listed-again+new", 0) + (
            old > 0 and len(came) > old
        )
    return world


@pytest.mark.parametrize("chunk", [None, 3])
def test_random_cycles_derive_as_a_full_derive_does(
    chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:
        monkeypatch.setattr(fold_sessions, "CHUNK", chunk)  # packing in play
    totals: dict[str, int] = {}
    for seed in range(60):
        world = run(seed + 1000 * (chunk or 0), 60)
        for kind, count in world.kinds.items():
            totals[kind] = totals.get(kind, 0) + count
    assert totals["listed-again-many"] > 15
    assert totals["listed-again+dropped"] > 15
    assert totals["listed-again+new"] > 15
