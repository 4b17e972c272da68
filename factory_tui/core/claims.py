"""Claim files: a MEGA claim split into phases, or a standalone ticket claim.

Reading is tolerant and explains itself: every field is validated, a wrong one becomes a
:class:`Problem` naming the file, the field and what was expected, and the claim is kept with that
field treated as absent. Writing is strict: :func:`dump_claim` writes the original object back with
only the changed keys touched, so unknown fields survive a rewrite.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from factory_tui.core.problems import Problem, parse_json
from factory_tui.core.safe import shown_value
from factory_tui.core.timeparse import parse_ts

__all__ = [
    "MAX_PHASE",
    "MAX_PID",
    "ClaimFile",
    "ClaimUnit",
    "claim_from_json",
    "claim_json",
    "claim_set_problems",
    "dump_claim",
    "is_usable_id",
    "parse_claim",
    "parse_claim_with_json",
    "release_fields",
    "update_unit",
]

Kind = Literal["mega", "standalone"]

MAX_PID = 2**31 - 1
"""Above any pid a kernel hands out; 0 and negative pids name process groups, never an agent."""
MAX_PHASE = 999_999
"""plan.md's phase markers read at most six digits; a bigger phase id cannot be one of them."""

# An id names files (``<id>.json``, ``<id>.lock``): one plain path component, nothing else.
_UNUSABLE_ID = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]|\.\.|^\.")


@dataclass(frozen=True, slots=True)
class ClaimUnit:
    """What one owner can hold: a MEGA phase (``phase`` is its id) or a standalone ticket."""

    claim_id: str
    phase: int | None
    name: str
    tickets: tuple[str, ...]
    owner: str | None
    pid: int | None
    claimed_at: str | None
    hostname: str | None
    branch: str | None
    mode: str | None
    deps: tuple[int, ...]
    completed_at: str | None
    key: str = field(init=False, compare=False, repr=False)
    """``CAB-1321``, or ``CAB-1290:2`` for a MEGA's phase: made once (the views, the derive and
    the Claims view ask for it several times a claim each time they go through ten thousand)."""

    def __post_init__(self) -> None:
        key = self.claim_id if self.phase is None else f"{self.claim_id}:{self.phase}"
        object.__setattr__(self, "key", key)

    @property
    def lock_name(self) -> str:
        return (
            f"{self.claim_id}.lock"
            if self.phase is None
            else f"{self.claim_id}-phase-{self.phase}.lock"
        )


@dataclass(frozen=True, slots=True)
class ClaimFile:
    """One claim file as read. It keeps none of the file's JSON object (ten thousand claim files'
    were 5 MB of a warm ``status``'s peak): a writer changes the object it reads under the
    claim's lock (:func:`parse_claim_with_json`)."""

    file: str
    kind: Kind
    claim_id: str
    title: str
    created: str | None
    units: tuple[ClaimUnit, ...]
    declared_id: str
    """The id the file declares (its ``mega`` or ``ticket`` text, stripped), else
    :attr:`claim_id`: what :func:`claim_set_problems` compares across files."""
    component: str | None
    """The file's ``component`` when it is a string (the demo's tickets name it), else None."""


def parse_claim(file: str, data: bytes) -> tuple[ClaimFile | None, list[Problem]]:
    """Read one claim file's bytes. Returns the claim (or ``None``) and what was wrong with it."""
    claim, _raw, problems = parse_claim_with_json(file, data)
    return claim, problems


def parse_claim_with_json(
    file: str, data: bytes
) -> tuple[ClaimFile | None, dict[str, Any], list[Problem]]:
    """:func:`parse_claim`, and the file's JSON object as read (``{}`` when there is no claim):
    what a writer holding the claim's lock changes with :func:`update_unit` and writes back."""
    raw, unreadable = claim_json(file, data)
    if unreadable is not None:
        return None, {}, [unreadable]
    claim, problems = claim_from_json(file, raw)
    return claim, raw if claim is not None else {}, problems


def claim_json(file: str, data: bytes) -> tuple[Any, Problem | None]:
    """A claim file's bytes as JSON, or the problem that says why they are not."""
    if not data.strip():
        return None, Problem(file, "empty file: a claim file holds one JSON object")
    return parse_json(file, data)


def claim_from_json(file: str, raw: Any) -> tuple[ClaimFile | None, list[Problem]]:
    """:func:`parse_claim` from the file's JSON value (read now, or kept since it was read)."""
    problems: list[Problem] = []
    stem = file.rsplit("/", 1)[-1].removesuffix(".json")
    if not isinstance(raw, dict):
        found = type(raw).__name__.replace("dict", "object").replace("list", "array")
        return None, [Problem(file, f"a claim file holds a JSON object, found {found}")]
    check = _Checker(file, problems)
    if "phases" in raw:
        claim_id = check.claim_id(raw, "mega", stem)
        phases = raw["phases"]
        units: list[ClaimUnit] = []
        if not isinstance(phases, list):
            check.bad("phases", "an array of phase objects", phases)
            phases = []
        seen: set[int] = set()
        for index, item in enumerate(phases):
            where = f"phases[{index}]"
            if not isinstance(item, dict):
                check.bad(where, "a phase object", item)
                continue
            phase_id = check.integer(item, "id", where, low=0, high=MAX_PHASE, noun="a phase id")
            if phase_id is None:
                continue
            if phase_id in seen:
                problems.append(Problem(file, f"{where}.id: phase {phase_id} appears twice"))
                continue
            seen.add(phase_id)
            units.append(_unit(check, item, claim_id, phase_id, where))
        known = {unit.phase for unit in units}
        for unit in units:
            for dep in unit.deps:
                if dep not in known:
                    problems.append(
                        Problem(
                            file, f"phase {unit.phase} depends on phase {dep}, which does not exist"
                        )
                    )
        problems.extend(
            Problem(
                file,
                f"dependency cycle: phase {' → '.join(map(str, cycle))}: "
                "none of these phases can ever start; fix their deps",
            )
            for cycle in _dependency_cycles(units)
        )
        kind: Kind = "mega"
    else:
        claim_id = check.claim_id(raw, "ticket", stem)
        units = [_unit(check, raw, claim_id, None, "")]
        kind = "standalone"
    declared = raw.get("mega" if kind == "mega" else "ticket")
    declared = declared.strip() if isinstance(declared, str) else None
    component = raw.get("component")
    claim = ClaimFile(
        file=file,
        kind=kind,
        claim_id=claim_id,
        title=check.text(raw, "title") or "",
        created=check.timestamp(raw, "created", ""),
        units=tuple(units),
        # The claim id's own string when they are equal (as they nearly always are).
        declared_id=claim_id if not declared or declared == claim_id else declared,
        component=component if isinstance(component, str) else None,
    )
    return claim, problems


def _unit(
    check: _Checker, obj: dict[str, Any], claim_id: str, phase: int | None, where: str
) -> ClaimUnit:
    deps = check.int_list(obj, "deps", where) if phase is not None else ()
    tickets = check.str_list(obj, "tickets", where) if phase is not None else (claim_id,)
    text = check.text
    # Positional, in the order of the fields (and of the problems they may add): ten thousand
    # claim files at a warm start.
    return ClaimUnit(
        claim_id,
        phase,
        text(obj, "name", where)
        or (obj.get("title") if isinstance(obj.get("title"), str) else "")
        or "",
        tickets,
        text(obj, "owner", where),
        check.integer(obj, "pid", where, low=1, high=MAX_PID, noun="a process id"),
        check.timestamp(obj, "claimed_at", where),
        text(obj, "hostname", where),
        text(obj, "branch", where),
        text(obj, "mode", where),
        deps,
        check.completed(obj, where),
    )


class _Checker:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def bad(self, field: str, expected: str, value: object) -> None:
        shown = shown_value(value)
        self.problems.append(Problem(self.file, f"{field}: expected {expected}, found {shown}"))

    @staticmethod
    def _name(where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def text(self, obj: dict[str, Any], key: str, where: str = "") -> str | None:
        value = obj.get(key)
        if type(value) is str:  # the common case first
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.bad(self._name(where, key), "a string or null", value)
        return None

    def integer(
        self,
        obj: dict[str, Any],
        key: str,
        where: str,
        *,
        low: int,
        high: int,
        noun: str,
    ) -> int | None:
        """An integer from ``low`` to ``high`` (also written as a string of digits), or None."""
        value = obj.get(key)
        if value is None:
            return None
        number = _as_int(value)
        if number is not None and low <= number <= high:
            return number
        self.bad(self._name(where, key), f"an integer from {low} to {high} ({noun}) or null", value)
        return None

    def claim_id(self, raw: dict[str, Any], key: str, stem: str) -> str:
        """The claim's id: the file name's stem, which the id inside must equal (FORMATS.md: a
        claim file is named after its id). An id that could not be a file name, or a different
        one, is reported and never used: locks and actions go by the file's own name."""
        inside = self.text(raw, key)
        if inside is None:
            return stem
        if not is_usable_id(inside):
            shown = json.dumps(inside[:40], ensure_ascii=True)
            self.problems.append(
                Problem(
                    self.file,
                    f"{key}: not a usable id {shown}: an id is one file name (no /, \\, .., "
                    f"control characters); read as {stem}",
                )
            )
            return stem
        if inside != stem:
            self.problems.append(
                Problem(
                    self.file,
                    f"{key}: {json.dumps(inside, ensure_ascii=False)} does not match the file "
                    f"name {stem}.json; read as {stem}: rename the file or fix the id",
                )
            )
            return stem
        return inside

    def timestamp(self, obj: dict[str, Any], key: str, where: str) -> str | None:
        value = self.text(obj, key, where)
        if value is not None and parse_ts(value) is None:
            self.bad(self._name(where, key), "a timestamp YYYY-MM-DDTHH:MM", value)
            return None
        return value

    def completed(self, obj: dict[str, Any], where: str) -> str | None:
        """Any non-null ``completed_at`` means done; a non-timestamp value is also reported."""
        value = obj.get("completed_at")
        if value is None or value is False or value == "":
            return None
        if isinstance(value, str) and parse_ts(value) is not None:
            return value
        self.bad(self._name(where, "completed_at"), "a timestamp or null", value)
        return str(value)

    def int_list(self, obj: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad(self._name(where, key), "an array of phase ids", value)
            return ()
        out: list[int] = []
        for item in value:
            number = _as_int(item) if not isinstance(item, float) else None
            if number is not None and 0 <= number <= MAX_PHASE:
                out.append(number)
            else:
                self.bad(self._name(where, key), "an array of phase ids", value)
                return tuple(out)
        return tuple(out)

    def str_list(self, obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.bad(self._name(where, key), "an array of ticket ids", value)
            return ()
        return tuple(value)


def _as_int(value: object) -> int | None:
    """An int, an integral float, or a string of at most 18 ASCII digits (``int()`` of a
    5,000-digit string raises, and ``"²".isdigit()`` is true); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= 18 and text.isascii() and text.isdigit():
            return int(text)
    return None


def is_usable_id(claim_id: str) -> bool:
    """True when ``claim_id`` can name a file in the claims folder: one path component, no
    ``..``, no leading dot, no control characters."""
    return bool(claim_id) and _UNUSABLE_ID.search(claim_id) is None


def _dependency_cycles(units: Iterable[ClaimUnit]) -> list[tuple[int, ...]]:
    """Each cycle among the phases' deps once, as the phases along it, first one repeated at the
    end (``(2, 3, 2)``), starting from its smallest phase."""
    deps = {unit.phase: unit.deps for unit in units if unit.phase is not None}
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    found: dict[frozenset[int], tuple[int, ...]] = {}
    for start in sorted(deps):
        if state.get(start):
            continue
        path: list[int] = [start]
        stack: list[Iterator[int]] = [iter(deps[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if nxt not in deps or state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                ring = path[path.index(nxt) :]
                low = ring.index(min(ring))
                ring = ring[low:] + ring[:low]
                found.setdefault(frozenset(ring), (*ring, ring[0]))
                continue
            state[nxt] = 1
            path.append(nxt)
            stack.append(iter(deps[nxt]))
    return list(found.values())


def claim_set_problems(claims: Iterable[ClaimFile]) -> list[Problem]:
    """What is wrong across claim files (each later file, by path, names the first): the same
    id declared in two files; else a claim with another file's claim's key (a ticket named
    ``CAB-1290:2``: the cockpit can show one of the two) or lock (``CAB-1290-phase-2``: a
    claim of one blocks the other)."""
    claims = sorted(claims, key=lambda c: c.file)
    first: dict[str, str] = {}
    keys: dict[str, tuple[ClaimUnit, str]] = {}
    locks: dict[str, tuple[ClaimUnit, str]] = {}
    problems: list[Problem] = []
    # Two claims' keys or locks can be one only with one id (two folders' files, say) or a
    # ticket's id like a phase's key or lock: else their keys are not made (ten thousand
    # claims: 15 ms of 17).
    look = len({claim.claim_id for claim in claims}) < len(claims) or any(
        ":" in claim.claim_id or "-phase-" in claim.claim_id
        for claim in claims
        if claim.kind == "standalone"
    )
    for claim in claims:
        claim_id, file = claim.declared_id, claim.file
        if claim_id in first:
            problems.append(
                Problem(
                    file,
                    f"id {claim_id} is also the id of {first[claim_id]}; "
                    "one claim per id: merge or rename one",
                )
            )
            continue  # said: its keys are that id's too
        first[claim_id] = file
        for unit in claim.units if look else ():
            for taken, name, says in (
                (keys, unit.key, _KEY_TAKEN),
                (locks, unit.lock_name, _LOCK_TAKEN),
            ):
                other, other_file = taken.setdefault(name, (unit, file))
                if other_file != file:
                    found = says.format(
                        unit=_unit_name(unit), other=_unit_name(other), file=other_file, lock=name
                    )
                    problems.append(Problem(file, found))
    return problems


_KEY_TAKEN = (
    "{unit} has the key of {other} ({file}): one name for two claims (the Claims view shows one "
    "of them); rename one"
)
_LOCK_TAKEN = (
    "{unit} takes the lock {lock}, as {other} does ({file}): a claim of one blocks the other; "
    "rename one"
)


def _unit_name(unit: ClaimUnit) -> str:
    return unit.claim_id if unit.phase is None else f"phase {unit.phase} of {unit.claim_id}"


# -- strict writing -------------------------------------------------------------------------------


def release_fields() -> dict[str, None]:
    """What releasing a claim writes: owner, claimed_at and pid cleared."""
    return {"owner": None, "claimed_at": None, "pid": None}


def update_unit(raw: dict[str, Any], phase: int | None, changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``raw`` with ``changes`` applied to one phase (or the standalone ticket).

    Every other key, known or not, is left exactly as it was. Raises ``KeyError`` when the phase
    is not in the file.
    """
    new = copy.deepcopy(raw)
    target: dict[str, Any] | None
    if phase is None:
        target = new
    else:
        target = next(
            (
                item
                for item in new.get("phases", [])
                if isinstance(item, dict) and str(item.get("id")) == str(phase)
            ),
            None,
        )
        if target is None:
            raise KeyError(f"phase {phase}")
    target.update(changes)
    return new


def dump_claim(raw: dict[str, Any]) -> bytes:
    """The strict form written back: indented JSON, UTF-8, one trailing newline."""
    return (json.dumps(raw, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
