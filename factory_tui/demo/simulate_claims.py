"""The claims folder as the simulator's agents use it: units read, taken, created and completed
under the lock protocol of FORMATS.md (``mkdir`` the lock, re-read, write atomically, remove the
lock, re-read to verify), and which units the simulator has already handed out.

The :class:`~factory_tui.demo.simulate.Simulator` decides who takes what and logs it; this
module only touches the claim files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from factory_tui.adapters.lock import LockBusy, atomic_write, claim_lock
from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
    dump_claim,
    parse_claim_with_json,
    release_fields,
    update_unit,
)
from factory_tui.demo.playbook import BACKLOG, Backlog, Ticket, is_available, unit_of

__all__ = ["ClaimDesk"]


class ClaimDesk:
    """The claim files in ``claims_dir``; ``sleep`` is what the lock's retries wait with."""

    def __init__(self, claims_dir: Path, *, sleep: Callable[[float], None]) -> None:
        self.claims_dir = claims_dir
        self._sleep = sleep
        self.taken: set[str] = set()
        """Unit keys an agent of the simulator holds, or that it skips."""
        self.initially_free: set[str] = set()
        """Unit keys free when the simulator started: only the crasher takes them (the demo keeps
        them visible as free) until one is taken and freed again."""

    def read(self, path: Path) -> ClaimFile | None:
        return self.read_with_json(path)[0]

    def read_with_json(self, path: Path) -> tuple[ClaimFile | None, dict[str, Any]]:
        """The claim file at ``path`` and its JSON object as read (None and ``{}``: gone or
        unreadable)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, {}
        claim, raw, _problems = parse_claim_with_json(str(path), data)
        return claim, raw

    def read_unit(self, ticket: Ticket) -> ClaimUnit | None:
        claim = self.read(self.claims_dir / f"{ticket.claim_id}.json")
        if claim is None:
            return None
        return next((u for u in claim.units if u.phase == ticket.phase), None)

    def candidates(self, role: str) -> list[tuple[ClaimFile, ClaimUnit]]:
        """Free units worth taking: for the crasher any, for the others only those freed since
        the simulator started (the demo keeps its initially free claims visible as free)."""
        found: list[tuple[ClaimFile, ClaimUnit]] = []
        for path in sorted(self.claims_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            claim = self.read(path)
            if claim is None:
                continue
            for unit in claim.units:
                if not is_available(claim, unit) or unit.key in self.taken:
                    continue
                if role == "crasher" or unit.key not in self.initially_free:
                    found.append((claim, unit))
        return found

    def locked_write(
        self,
        ticket: Ticket,
        change: Callable[[ClaimFile | None, dict[str, Any]], dict[str, Any] | str],
    ) -> str:
        """The protocol: mkdir the lock, re-read, write atomically, remove the lock. ``change``
        gets the claim and its JSON object as read under the lock and returns the new JSON
        object, or a reason not to write. Returns ``"ok"``, ``"busy"`` or that reason."""
        path = self.claims_dir / f"{ticket.claim_id}.json"
        try:
            with claim_lock(self.claims_dir, ticket.lock_name, sleep=self._sleep):
                decided = change(*self.read_with_json(path))
                if isinstance(decided, str):
                    return decided
                atomic_write(path, dump_claim(decided))
        except LockBusy:
            return "busy"
        return "ok"

    def claim_existing(self, ticket: Ticket, owner: dict[str, Any]) -> str:
        """Take a free unit; returns ``"ok"``, ``"busy"`` or the instance that holds it."""

        def change(claim: ClaimFile | None, raw: dict[str, Any]) -> dict[str, Any] | str:
            unit = unit_of(claim, ticket.phase)
            if claim is None or unit is None:
                return "nobody (the claim file is gone)"
            if not is_available(claim, unit):
                return unit.owner or "nobody (no longer free)"
            return update_unit(raw, ticket.phase, owner)

        result = self.locked_write(ticket, change)
        if result != "ok":
            return result
        return "ok" if self.verify(ticket, owner["owner"], owner["pid"]) else "someone else"

    def verify(self, ticket: Ticket, instance: str, pid: int) -> bool:
        """Step 3 of the protocol, after the lock is gone: re-read, check our owner and pid."""
        unit = self.read_unit(ticket)
        return unit is not None and unit.owner == instance and unit.pid == pid

    def claim_new(self, owner: dict[str, Any]) -> tuple[Ticket, str]:
        """Create a standalone claim for the next backlog ticket no claim file names yet:
        the ticket and ``"ok"``, ``"busy"`` or why not (it appeared meanwhile: then it is
        skipped next time)."""
        existing = {p.stem for p in self.claims_dir.glob("*.json")} | {
            key.split(":", 1)[0] for key in self.taken
        }
        pick = next((b for b in BACKLOG if b.id not in existing), None)
        if pick is None:
            n = 1
            while f"CAB-{1500 + n}" in existing:
                n += 1
            pick = Backlog(f"CAB-{1500 + n}", f"Backlog item {n}", "chore", f"backlog-{n}",
                            f"docs/backlog/item_{n}.md", "docs")  # fmt: skip
        branch = f"{pick.kind}/{pick.id}-{pick.slug}"
        ticket = Ticket(pick.id, None, f"{pick.id}-{pick.slug}", branch, (pick.id,), pick.title,
                         pick.file, pick.component)  # fmt: skip
        data: dict[str, Any] = {
            "ticket": pick.id,
            "title": pick.title,
            **owner,
            "branch": branch,
            "completed_at": None,
        }

        def change(claim: ClaimFile | None, _raw: dict[str, Any]) -> dict[str, Any] | str:
            return "exists" if claim is not None else data

        result = self.locked_write(ticket, change)
        if result == "ok" and not self.verify(ticket, owner["owner"], owner["pid"]):
            result = "someone else"
        if result not in ("ok", "busy"):
            self.taken.add(ticket.key)  # skip it next time
        return ticket, result

    def complete(self, ticket: Ticket, instance: str, ts: str) -> str:
        """Mark ``instance``'s unit completed at ``ts`` and free it: ``"ok"``, ``"busy"``, or
        ``"lost"`` when it is no longer ``instance``'s or the write did not stick."""
        done = {**release_fields(), "completed_at": ts}

        def change(claim: ClaimFile | None, raw: dict[str, Any]) -> dict[str, Any] | str:
            unit = unit_of(claim, ticket.phase)
            if claim is None or unit is None or unit.owner != instance:
                return "lost"
            return update_unit(raw, ticket.phase, done)

        result = self.locked_write(ticket, change)
        if result == "busy":
            return result
        unit = self.read_unit(ticket)
        if result != "ok" or unit is None or unit.completed_at != ts or unit.owner:
            return "lost"
        return "ok"
