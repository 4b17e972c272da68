"""An agent of the factory, written from FORMATS.md alone (it imports nothing of factory_tui).

    python claimer.py CLAIMS_DIR LOG_FILE JOURNAL SEED ROUNDS [THINK_MS] [LOCK_STALE_S] [STOP]

It stops after ROUNDS rounds, or as soon as the file STOP exists.

Each round: pick a claim file and an available phase (or standalone ticket), take its lock
(``mkdir``; 3 retries; a lock older than LOCK_STALE_S is stale and removed), re-read under the
lock, set owner / pid / claimed_at / hostname / branch, bump the unit's ``seq`` and the file's
version ``v``, write through a temp file and rename, remove the lock, re-read to confirm, then log
``SESSION-START`` and ``CLAIM`` (O_APPEND, one write a line). A held claim is later released
(``abandoned`` or ``done``, with ``SESSION-END``), or the agent "crashes": it walks away without a
word and the next claim is a new instance's.

Like the real protocol, an agent takes only its own phase's lock, so two agents on phases of the
same MEGA file can lose each other's writes: that is the hazard the cockpit must show.

The JOURNAL (one JSON object a line, this process only) is the test's ground truth:
``read`` (t, file, v, units), ``write`` (t0 before the rename, t1 after, file, v, units) where
``units`` maps a unit key to its owner, and ``claim`` / ``release`` / ``lost`` events. Times are
``time.monotonic()`` (one clock for every process of the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HOST = "stress-elsewhere"  # another host: staleness is decided by age and log alone


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M")


class Agent:
    def __init__(self, argv: list[str]) -> None:
        self.claims = Path(argv[1])
        self.log = Path(argv[2])
        self.journal = open(argv[3], "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.rng = random.Random(int(argv[4]))
        self.rounds = int(argv[5])
        self.think = (int(argv[6]) if len(argv) > 6 else 10) / 1000
        self.lock_stale = float(argv[7]) if len(argv) > 7 else 30.0
        self.stop = Path(argv[8]) if len(argv) > 8 else None
        self.instance = self.new_instance()
        self.held: tuple[str, Any] | None = None  # (file name, phase id or None)

    # -- helpers --------------------------------------------------------------------------------

    def new_instance(self) -> str:
        return f"t{int(time.time()) % 100000}-{self.rng.getrandbits(16):04x}"

    def note(self, **event: Any) -> None:
        self.journal.write(json.dumps(event) + "\n")

    def append(self, event: str, fields: str) -> None:
        line = f"{stamp()} | {event} | {fields}\n".encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    @staticmethod
    def units(raw: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(raw.get("phases"), list):
            return [p for p in raw["phases"] if isinstance(p, dict)]
        return [raw]

    @staticmethod
    def key(raw: dict[str, Any], unit: dict[str, Any]) -> str:
        if "phases" in raw:
            return f"{raw.get('mega')}:{unit.get('id')}"
        return str(raw.get("ticket"))

    def owners(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {self.key(raw, u): [u.get("owner"), u.get("seq", 0)] for u in self.units(raw)}

    def read(self, name: str) -> dict[str, Any] | None:
        t = time.monotonic()
        try:
            raw = json.loads((self.claims / name).read_bytes())
        except (OSError, ValueError):
            return None
        if isinstance(raw, dict):
            self.note(kind="read", t=t, file=name, v=raw.get("v"), units=self.owners(raw))
            return raw
        return None

    def write(self, name: str, raw: dict[str, Any]) -> None:
        raw["v"] = uuid.uuid4().hex
        tmp = self.claims / f".{name}.{uuid.uuid4().hex[:6]}.tmp"
        tmp.write_text(json.dumps(raw, indent=2) + "\n")
        t0 = time.monotonic()
        os.replace(tmp, self.claims / name)
        t1 = time.monotonic()
        self.note(kind="write", t0=t0, t1=t1, file=name, v=raw["v"], units=self.owners(raw))

    def lock_name(self, raw: dict[str, Any], unit: dict[str, Any]) -> str:
        if "phases" in raw:
            return f"{raw.get('mega')}-phase-{unit.get('id')}.lock"
        return f"{raw.get('ticket')}.lock"

    def lock(self, name: str) -> bool:
        lock = self.claims / name
        for _attempt in range(4):  # the first try and 3 retries
            try:
                os.mkdir(lock)
                return True
            except FileExistsError:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > self.lock_stale:
                    with contextlib.suppress(OSError):
                        os.rmdir(lock)  # an empty directory: never a recursive removal
                    continue
                time.sleep(0.02)  # 200 ms in the protocol; shortened for the test
        return False

    def unlock(self, name: str) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(self.claims / name)

    @staticmethod
    def find(raw: dict[str, Any], phase: Any) -> dict[str, Any] | None:
        if phase is None:
            return raw if "phases" not in raw else None
        return next((u for u in Agent.units(raw) if u.get("id") == phase), None)

    # -- the agent ------------------------------------------------------------------------------

    def available(self, raw: dict[str, Any], unit: dict[str, Any]) -> bool:
        if unit.get("owner") or unit.get("completed_at"):
            return False
        done = {u.get("id") for u in self.units(raw) if u.get("completed_at")}
        return all(d in done for d in unit.get("deps") or [])

    def try_claim(self) -> None:
        names = sorted(p.name for p in self.claims.glob("*.json"))
        if not names:
            return
        name = self.rng.choice(names)
        raw = self.read(name)
        if raw is None:
            return
        free = [u for u in self.units(raw) if self.available(raw, u)]
        if not free:
            return
        unit = self.rng.choice(free)
        phase = unit.get("id") if "phases" in raw else None
        lock = self.lock_name(raw, unit)
        if not self.lock(lock):
            return
        try:
            raw = self.read(name)
            target = self.find(raw, phase) if raw is not None else None
            if raw is None or target is None or not self.available(raw, target):
                return
            dead_pid = self.short_lived_pid()
            key = self.key(raw, target)
            target.update(
                owner=self.instance,
                pid=dead_pid,
                claimed_at=stamp(),
                hostname=HOST,
                branch=f"feat/{key.replace(':', '-p')}",
            )
            target["seq"] = target.get("seq", 0) + 1
            time.sleep(self.think * self.rng.random())  # a real claim tool is slow (jq, git)
            self.write(name, raw)
        finally:
            self.unlock(lock)
        back = self.read(name)
        mine = self.find(back, phase) if back is not None else None
        if mine is None or mine.get("owner") != self.instance:
            self.note(kind="lost-at-once", file=name, key=key, instance=self.instance)
            return
        self.held = (name, phase)
        task = self.task(raw, target)
        self.append(
            "SESSION-START",
            f"task={task} branch=feat/{key.replace(':', '-p')} instance={self.instance}",
        )
        where = f" phase={phase}" if phase is not None else ""
        claim_id = raw.get("mega") if "phases" in raw else raw.get("ticket")
        tickets = ",".join(target.get("tickets") or [str(claim_id)])
        self.append("CLAIM", f"task={claim_id}{where} instance={self.instance} tickets={tickets}")
        self.note(kind="claim", file=name, key=key, instance=self.instance, t=time.monotonic())

    def task(self, raw: dict[str, Any], unit: dict[str, Any]) -> str:
        tickets = unit.get("tickets") or [raw.get("ticket")]
        return str(tickets[0])

    def short_lived_pid(self) -> int:
        """The real claim tool records its own short-lived pid: a process already gone."""
        child = subprocess.Popen(["true"])
        child.wait()
        return child.pid

    def release(self, reason: str) -> None:
        assert self.held is not None
        name, phase = self.held
        self.held = None
        raw = self.read(name)
        unit = self.find(raw, phase) if raw is not None else None
        if raw is None or unit is None:
            return
        lock = self.lock_name(raw, unit)
        if not self.lock(lock):
            return
        try:
            raw = self.read(name)
            unit = self.find(raw, phase) if raw is not None else None
            if raw is None or unit is None:
                return
            key = self.key(raw, unit)
            if unit.get("owner") != self.instance:
                self.note(kind="lost", file=name, key=key, instance=self.instance)
                return
            unit.update(owner=None, pid=None, claimed_at=None)
            if reason == "done":
                unit["completed_at"] = stamp()
            unit["seq"] = unit.get("seq", 0) + 1
            self.write(name, raw)
        finally:
            self.unlock(lock)
        claim_id = raw.get("mega") if "phases" in raw else raw.get("ticket")
        where = f" phase={phase}" if phase is not None else ""
        self.append("RELEASE", f"task={claim_id}{where} instance={self.instance} reason={reason}")
        self.append("SESSION-END", f"task={self.task(raw, unit)} status=success")
        self.note(kind="release", file=name, key=key, instance=self.instance)
        self.instance = self.new_instance()

    def crash(self) -> None:
        """Walk away: the claim stays, the session stays open, nothing is logged."""
        assert self.held is not None
        self.note(kind="crash", file=self.held[0], instance=self.instance)
        self.held = None
        self.instance = self.new_instance()

    def run(self) -> None:
        for _round in range(self.rounds):
            if self.stop is not None and self.stop.exists():
                return
            time.sleep(self.think * self.rng.random())  # the agent's work between steps
            if self.held is None:
                self.try_claim()
                continue
            roll = self.rng.random()
            if roll < 0.25:
                self.release("abandoned")
            elif roll < 0.30:
                self.release("done")
            elif roll < 0.45:
                self.crash()
            # else: keep working on it


if __name__ == "__main__":
    Agent(sys.argv).run()
