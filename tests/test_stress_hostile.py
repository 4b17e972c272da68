"""Issue 16: eight agents (tests/stress/claimer.py, written from FORMATS.md alone) claim and
release by the lock protocol while factory-tui releases (``--force``), recovers crashed sessions
(``--abandon``) and reads (``status --json``) in loops, and some factory-tui processes are killed
with SIGKILL at random moments. At the end:

1. every claim file is valid (JSON, and ``parse_claim`` finds no problem);
2. every change factory-tui made to a claim is audited in operations.log;
3. no update was lost because of factory-tui;
4. every claim lost because of the agents (their own protocol hazard) is shown as a conflict.

How each is known (the claimers' journals are the ground truth, see claimer.py):

- Every claimer write sets a new file version ``v`` (an unknown field: factory-tui keeps it) and
  journals the owners it wrote. factory-tui's writes keep ``v``. So any read of a file at version
  ``v`` whose owners differ from what the claimer wrote at ``v`` saw a change factory-tui made
  (reads: every claimer read, ``.history/`` copies, the final files).
- (2) Such a change of unit U from owner X is audited when operations.log has a ``RELEASE`` line
  with ``by=`` for U's task (and phase) and ``instance=X``, **or** (the intent/outcome lines being
  added to the actions) two lines sharing a ``change=K`` value, the first naming U's task and
  ``instance=X``. One line per (U, X) suffices.
- (3) A read at time t that finds version v although a claimer's write C of that file finished
  before t and began after v's write finished: v came back over C. Only factory-tui writes an old
  ``v`` (it read the file before C and wrote after): a lost update caused by the tool.
- (4) A lost claim: an agent's last ``CLAIM`` for U with no ``RELEASE`` of U by that instance
  after it, and the final file not naming it. ``status --json`` must show it as a conflict: some
  string under a ``conflicts`` key, or a claim's ``why``, holding the instance id and the words
  "lost claim" (the wording agreed with the conflict work of issue 16).

The counts are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from factory_tui.core.claims import parse_claim

pytestmark = pytest.mark.stress

CLAIMER = Path(__file__).parent / "stress" / "claimer.py"
AGENTS = 8
TOOL_SECONDS = 12.0  # how long the factory-tui loops run
KILL_CHANCE = 0.3
LOCK_STALE = 5  # seconds; FORMATS.md says 30 (a killed factory-tui leaves its locks behind)
HOST = "stress-elsewhere"


def _json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def make_factory(root: Path) -> dict[str, Any]:
    """Two MEGA files of four phases and six standalone tickets, nobody owning anything."""
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "factory.toml").write_text(
        f'memory = ".factory/memory"\nlock_stale_after = "{LOCK_STALE}s"\n'
    )
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    memory = root / ".factory" / "memory"
    (memory / "checkpoints").mkdir(parents=True)
    (memory / "operations.log").write_text("")
    initial: dict[str, Any] = {}
    for mega in ("CAB-2000", "CAB-3000"):
        n = int(mega[4:])
        raw = {
            "mega": mega,
            "title": "stress",
            "created": "2026-02-16T14:00",
            "v": f"init-{mega}",
            "phases": [
                {
                    "id": p,
                    "name": f"phase {p}",
                    "tickets": [f"CAB-{n + p}"],
                    "owner": None,
                    "claimed_at": None,
                    "deps": [],
                    "completed_at": None,
                }
                for p in range(1, 5)
            ],
        }
        _json(claims / f"{mega}.json", raw)
        initial[raw["v"]] = {f"{mega}:{p}": None for p in range(1, 5)}
    for n in range(6):
        ticket = f"CAB-41{n:02d}"
        _json(
            claims / f"{ticket}.json", {"ticket": ticket, "title": "stress", "v": f"init-{ticket}"}
        )
        initial[f"init-{ticket}"] = {ticket: None}
    return initial


@dataclass
class Tool:
    """The factory-tui side: loops of commands, some killed with SIGKILL at random."""

    root: Path
    env: dict[str, str]
    rng: random.Random
    deadline: float
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: list[str] = field(default_factory=list)

    def run(self, kind: str, args: list[str]) -> tuple[int | None, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "factory_tui", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        with self.lock:
            kill_after = self.rng.uniform(0.05, 0.8) if self.rng.random() < KILL_CHANCE else None
        try:
            out, err = proc.communicate(timeout=kill_after if kill_after is not None else 60)
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL, at a random moment of its work
            proc.communicate()
            with self.lock:
                self.counts[f"{kind} killed"] += 1
            return None, ""
        with self.lock:
            self.counts[f"{kind} exit {proc.returncode}"] += 1
        if b"Traceback" in err:
            with self.lock:
                self.counts[f"{kind} traceback"] += 1
                self.statuses.append(err.decode(errors="replace")[-600:])
        return proc.returncode, out.decode(errors="replace")

    def later(self) -> str:
        """Three hours on: every agent's claim and session looks stale and crashed."""
        return (datetime.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")

    def owned_units(self) -> list[str]:
        found = []
        for path in (self.root / ".claude" / "claims").glob("*.json"):
            try:
                raw = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if "phases" in raw:
                found += [f"{raw['mega']}:{p['id']}" for p in raw["phases"] if p.get("owner")]
            elif raw.get("owner"):
                found.append(str(raw["ticket"]))
        return sorted(found)

    def release_loop(self) -> None:
        while time.monotonic() < self.deadline:
            owned = self.owned_units()
            if owned:
                target = self.rng.choice(owned)
                code, _ = self.run(
                    "release",
                    ["release", target, str(self.root), "--force", "--yes", "--now", self.later()],
                )
                if code == 0:
                    with self.lock:
                        self.counts["releases done"] += 1

    def recover_loop(self) -> None:
        while time.monotonic() < self.deadline:
            code, out = self.run(
                "status", ["status", str(self.root), "--json", "--now", self.later()]
            )
            if code != 0:
                continue
            crashed = [s["task"] for s in json.loads(out)["sessions"] if s["status"] == "crashed"]
            if not crashed:
                continue
            task = self.rng.choice(crashed)
            args = ["recover", task, str(self.root), "--abandon", "--reason", "stress", "--yes"]
            code, _ = self.run("recover", [*args, "--now", self.later()])
            if code == 0:
                with self.lock:
                    self.counts["recoveries done"] += 1

    def status_loop(self) -> None:
        while time.monotonic() < self.deadline:
            code, out = self.run("status", ["status", str(self.root), "--json"])
            if code == 0:
                json.loads(out)  # whole, whatever the moment


def fields_of(line: str) -> tuple[str, dict[str, str]]:
    """``TS | EVENT | k=v k=v`` as (EVENT, fields); quoted values are kept whole."""
    parts = line.split(" | ", 2)
    if len(parts) < 3:
        return "", {}
    out: dict[str, str] = {}
    rest = parts[2]
    while rest:
        rest = rest.lstrip()
        key, sep, rest = rest.partition("=")
        if not sep:
            break
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(" ")
        out[key.strip()] = value
    return parts[1].strip(), out


def unit_of(event: dict[str, str]) -> str:
    phase = event.get("phase")
    return event.get("task", "?") if phase in (None, "-", "") else f"{event.get('task')}:{phase}"


def test_agents_and_a_killed_cockpit(tmp_path: Path) -> None:
    root = tmp_path / "factory"
    initial = make_factory(root)
    claims = root / ".claude" / "claims"
    log = root / ".factory" / "memory" / "operations.log"
    stop = tmp_path / "STOP"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_TUI_", "CLAUDE_"))}
    env.update(
        FACTORY_TUI_USER_CONFIG="",
        FACTORY_TUI_STATE_DIR=str(tmp_path / "state"),
        CLAUDE_CONFIG_DIR=str(tmp_path / "no-claude"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    journals = [tmp_path / f"journal-{n}.jsonl" for n in range(AGENTS)]
    agents = [
        subprocess.Popen(
            [
                sys.executable,
                str(CLAIMER),
                str(claims),
                str(log),
                str(journals[n]),
                str(n),
                "100000",
                "20",
                str(LOCK_STALE),
                str(stop),
            ]
        )
        for n in range(AGENTS)
    ]
    tool = Tool(root, env, random.Random(16), time.monotonic() + TOOL_SECONDS)
    loops = [threading.Thread(target=f) for f in (tool.release_loop, tool.recover_loop)]
    loops.append(threading.Thread(target=tool.status_loop))
    try:
        for loop in loops:
            loop.start()
        for loop in loops:
            loop.join(TOOL_SECONDS + 90)
    finally:
        stop.touch()
        for agent in agents:
            try:
                agent.wait(30)
            except subprocess.TimeoutExpired:
                agent.kill()
    assert all(a.returncode == 0 for a in agents), "a claimer failed (see its stderr above)"

    failures: list[str] = []
    # 1. every claim file valid
    final: dict[str, dict[str, Any]] = {}
    for path in sorted(claims.glob("*.json")):
        data = path.read_bytes()
        try:
            final[path.name] = json.loads(data)
        except ValueError as error:
            failures.append(f"{path.name} is not JSON: {error}")
            continue
        claim, problems = parse_claim(str(path), data)
        if claim is None or problems:
            failures.append(f"{path.name}: {[p.message for p in problems]}")

    # the journals
    written: dict[str, dict[str, Any]] = {v: dict(units) for v, units in initial.items()}
    write_times: dict[str, tuple[float, float]] = {}
    writes_by_file: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    reads: list[tuple[float | None, str, str, dict[str, Any]]] = []
    events: Counter[str] = Counter()
    for journal in journals:
        for line in journal.read_text().splitlines():
            entry = json.loads(line)
            events[entry["kind"]] += 1
            if entry["kind"] == "write":
                owners = {k: o for k, (o, _seq) in entry["units"].items()}
                written[entry["v"]] = owners
                write_times[entry["v"]] = (entry["t0"], entry["t1"])
                writes_by_file[entry["file"]].append((entry["t0"], entry["t1"], entry["v"]))
            elif entry["kind"] == "read":
                owners = {k: o for k, (o, _seq) in entry["units"].items()}
                reads.append((entry["t"], entry["file"], entry["v"], owners))
    history = claims / ".history"
    for copy in sorted(history.glob("*.json")) if history.is_dir() else []:
        raw = json.loads(copy.read_bytes())
        name = copy.name.split(".", 1)[0] + ".json"
        reads.append((None, name, raw.get("v"), _owners(raw)))
    for name, raw in final.items():
        reads.append((None, name, raw.get("v"), _owners(raw)))

    # 2. every change factory-tui made is audited
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    parsed = [fields_of(line) for line in lines]
    audited: set[tuple[str, str]] = set()
    change_lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    for event, f in parsed:
        if event == "RELEASE" and "by" in f:
            audited.add((unit_of(f), f.get("instance", "")))
        if event.endswith("-INTENT") and "by" in f:
            # logged before the write (claim=, owner=): the change is on record even when the
            # writer was killed before its outcome line (then it is a half-done problem, below)
            intent = {"task": f.get("claim", "?"), "phase": f.get("phase", "-")}
            audited.add((unit_of(intent), f.get("owner", "")))
        if "change" in f:
            change_lines[f["change"]].append({**f, "_event": event})
    half_done = sorted(
        change
        for change, group in change_lines.items()
        if len(group) == 1 and group[0]["_event"].endswith("-INTENT")
    )
    for group in change_lines.values():
        if len(group) >= 2:
            first = group[0]
            audited.add((unit_of(first), first.get("instance", "")))
            audited.add((first.get("task", ""), first.get("instance", "")))
    tool_changes: set[tuple[str, str, str | None]] = set()
    for _t, _name, v, owners in reads:
        base = written.get(v)
        if base is None:
            continue
        for key, owner in owners.items():
            if key in base and base[key] != owner and base[key] is not None:
                tool_changes.add((key, base[key], owner))
    unaudited = sorted((k, o) for k, o, _new in tool_changes if (k, o) not in audited)
    for key, owner in unaudited:
        failures.append(
            f"factory-tui changed {key} (owner {owner} -> not {owner}) with no audit line "
            "(RELEASE ... by=, or an intent/outcome pair sharing change=)"
        )

    # 3. no lost update caused by the tool
    lost_updates = []
    for t, name, v, _owners_seen in reads:
        if t is None or (v not in write_times and not str(v).startswith("init-")):
            continue
        v_done = write_times.get(v, (float("-inf"), float("-inf")))[1]
        for t0, t1, other in writes_by_file[name]:
            if t0 > v_done and t1 < t and other != v:
                lost_updates.append(f"{name}: version {v} read again after {other} replaced it")
                break
    if lost_updates:
        failures.append(
            f"{len(lost_updates)} lost update(s) caused by factory-tui, e.g. {lost_updates[:3]}"
        )

    # 4. every claim lost by the agents is shown as a conflict
    last_claim: dict[tuple[str, str], int] = {}
    released: dict[tuple[str, str], int] = {}
    for n, (event, f) in enumerate(parsed):
        pair = (unit_of(f), f.get("instance", ""))
        if event == "CLAIM" and "by" not in f:
            last_claim[pair] = n
        elif event == "RELEASE":
            released[pair] = n
    final_owner = {k: o for raw in final.values() for k, o in _owners(raw).items()}
    lost = sorted(
        pair
        for pair, n in last_claim.items()
        if released.get(pair, -1) < n and final_owner.get(pair[0]) != pair[1]
    )
    status = subprocess.run(
        [sys.executable, "-m", "factory_tui", "status", str(root), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    shown = [text.lower() for text in _conflict_texts(json.loads(status.stdout))]
    not_shown = [
        (key, inst)
        for key, inst in lost
        if not any(inst.lower() in text and "lost claim" in text for text in shown)
    ]
    units = {
        f"{raw.get('mega')}:{p.get('id')}" if "phases" in raw else str(raw.get("ticket")): p
        for raw in final.values()
        for p in (raw["phases"] if isinstance(raw.get("phases"), list) else [raw])
    }
    for key, inst in not_shown:
        history = [line for line in lines if f"task={key.split(':')[0]}" in line][-6:]
        failures.append(
            f"the claim {key} lost by {inst} (agents' hazard) is not shown as a conflict; "
            f"the file now: {units.get(key)}; its last lines: {history}"
        )

    # an intent with no outcome (factory-tui killed between the two lines) is reported
    problems = [p["message"] for p in json.loads(status.stdout)["problems"]]
    for change in half_done:
        if not any(f"half-done change {change}" in message for message in problems):
            failures.append(f"the intent change={change} has no outcome and no problem says so")

    leftovers = [p.name for p in claims.iterdir() if p.name.endswith((".lock", ".tmp"))]
    summary = {
        "claims won": events["claim"],
        "agent releases": events["release"],
        "agent crashes": events["crash"],
        "claims lost at once (re-read)": events["lost-at-once"],
        "lost claims noticed by agents": events["lost"],
        "tool releases done": tool.counts["releases done"],
        "tool recoveries done": tool.counts["recoveries done"],
        "tool processes killed": sum(n for k, n in tool.counts.items() if k.endswith("killed")),
        "tool changes seen": len(tool_changes),
        "tool changes unaudited": len(unaudited),
        "lost updates by the tool": len(lost_updates),
        "lost claims (agents)": len(lost),
        "lost claims not shown": len(not_shown),
        "half-done changes (tool killed mid-change)": len(half_done),
        "locks and temp files left": len(leftovers),
    }
    print("\nstress:", json.dumps(summary, indent=1), "\ncommands:", dict(tool.counts))
    if tool.statuses:
        failures.append(f"factory-tui printed a traceback: {tool.statuses[0]}")
    assert events["claim"] > 0 and tool.counts["releases done"] > 0, summary
    assert not failures, "\n".join(failures[:20]) + f"\n{summary}"


def _owners(raw: dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw.get("phases"), list):
        return {f"{raw.get('mega')}:{p.get('id')}": p.get("owner") for p in raw["phases"]}
    return {str(raw.get("ticket")): raw.get("owner")}


def _conflict_texts(data: object) -> list[str]:
    """Every string under a ``conflicts`` key, and every claim's ``why``, anywhere."""
    found: list[str] = []

    def walk(node: object, inside: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, inside or key == "conflicts")
                if key == "why" and isinstance(value, str):
                    found.append(value)
        elif isinstance(node, list):
            for item in node:
                walk(item, inside)
        elif isinstance(node, str) and inside:
            found.append(node)

    walk(data, False)
    return found
