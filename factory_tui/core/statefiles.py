"""plan.md and memory.md: what they hold (items, markers, phase owner markers, sections).

The values the readers (:mod:`~factory_tui.core.statefiles_parse`) build and the state lint
(:mod:`~factory_tui.core.statefiles_lint`) compares, with the marker shapes both share. The
markdown scanning the readers share is :mod:`~factory_tui.core.statefiles_markdown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ITEM_STATES",
    "SECTION_TITLES",
    "ItemState",
    "LintFinding",
    "Memory",
    "MemoryItem",
    "MemorySection",
    "Plan",
    "PlanCycle",
    "PlanItem",
    "PlanPhase",
    "SectionKind",
    "done_marker",
    "find_tickets",
    "section_kind",
]

ItemState = Literal["pending", "in_progress", "done", "blocked"]
SectionKind = Literal["in_progress", "next", "done", "blocked"]

ITEM_STATES: dict[str, ItemState] = {
    " ": "pending",
    "": "pending",
    "~": "in_progress",
    "x": "done",
    "X": "done",
    "!": "blocked",
}
STATE_MARK: dict[ItemState, str] = {
    "pending": "[ ]",
    "in_progress": "[~]",
    "done": "[x]",
    "blocked": "[!]",
}
SECTION_TITLES: dict[SectionKind, str] = {
    "in_progress": "🔴 IN PROGRESS",
    "next": "📋 NEXT",
    "done": "✅ DONE",
    "blocked": "🚫 BLOCKED",
}
_EMOJI_KINDS: tuple[tuple[str, SectionKind], ...] = (
    ("🔴", "in_progress"),
    ("📋", "next"),
    ("✅", "done"),
    ("🚫", "blocked"),
)


CHECKBOX = re.compile(r"\[(?P<mark>[ xX~!]?)\](?:[ \t]+|$)")


TICKET = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9]+-\d+)(?![A-Za-z0-9_])")
# Look like ticket ids but are not: UTF-8, SHA-256, ISO-8601...
_NOT_TICKETS = frozenset({"UTF", "SHA", "ISO", "UTC", "GMT", "AES", "RSA", "HTTP", "TLS", "SSL"})

OWNER = re.compile(r"\[[ \t]*owner[ \t]*:(?P<owner>[^\[\]\n]*)\]", re.IGNORECASE)


PHASE = re.compile(r"\bphases?[ \t]*#?[ \t]*(\d{1,6})", re.IGNORECASE)


_CODE_SPAN = re.compile(r"`+[^`]*`+")
# The markers stop-state-lint.sh greps for, literally and case-sensitive.
_LINT_DASH_DONE = "— DONE"
_LINT_BOLD_DONE = "**DONE**"
_STRIKE_MARK = "~~"


NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One checkbox item of plan.md: ``- [ ]``, ``- [~]``, ``- [x]`` or ``- [!]``."""

    file: str
    line: int
    state: ItemState
    text: str
    depth: int
    heading: str | None
    tickets: tuple[str, ...]
    parent: int | None = None
    """Line of the enclosing checkbox item, when nested under one."""
    phase: int | None = None
    """The phase number when the item is a MEGA phase line (``- [x] **Phase 2** ...``)."""
    mega_id: str | None = None
    """For a phase line without a ticket of its own: the ticket of the item or heading above."""

    @property
    def mark(self) -> str:
        return STATE_MARK[self.state]

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class PlanPhase:
    """A MEGA phase owner marker: ``- **Phase 1** (parallel) [owner: t4821]``.

    ``owner`` is None when the marker says the phase is free (``—``, ``-``, ``none``); whether it
    is *available* also depends on its deps, which live in the claim file, not here.
    """

    file: str
    line: int
    phase: int | None
    mode: str | None
    owner: str | None
    text: str
    depth: int
    heading: str | None
    mega_id: str | None
    state: ItemState | None = None
    """The checkbox state when the phase line is also a checkbox item."""

    @property
    def claimed(self) -> bool:
        return self.owner is not None

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class PlanCycle:
    """A cycle section of plan.md: ``## Cycle 12 (Mar 3+) — CURRENT`` (or ``Sprint 3``) up to the
    next heading of the same or a higher level."""

    file: str
    line: int
    end: int
    """Its last line."""
    number: int
    title: str
    current: bool
    """The heading says CURRENT."""

    def holds(self, line: int) -> bool:
        return self.line < line <= self.end

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Plan:
    file: str
    items: tuple[PlanItem, ...] = ()
    phases: tuple[PlanPhase, ...] = ()
    cycles: tuple[PlanCycle, ...] = ()

    def by_state(self, state: ItemState) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if item.state == state)

    def current_cycle(self) -> PlanCycle | None:
        """The cycle marked CURRENT, else the highest-numbered one (the later on a tie); None
        when the plan has no cycle headings."""
        marked = [cycle for cycle in self.cycles if cycle.current] or list(self.cycles)
        if not marked:
            return None
        return max(reversed(marked), key=lambda cycle: cycle.number)

    def item_at(self, line: int) -> PlanItem | None:
        return next((item for item in self.items if item.line == line), None)


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One non-blank line of memory.md outside headings, code blocks and comments."""

    file: str
    line: int
    text: str
    """The line without its bullet (a checkbox, if any, is kept: ``[x] parser``)."""
    section: str
    """The heading it is under, as written (``""`` before the first heading)."""
    kind: SectionKind | None
    """The protocol section it belongs to (inherited through sub-headings), None if unknown."""
    depth: int
    bullet: bool
    tickets: tuple[str, ...]
    done_marker: str | None
    """How the item says it is done (``"— DONE"``, ``"**DONE**"``, ``"~~strikethrough~~"``), see
    :func:`done_marker`; the lint counts a strikethrough only under 📋 NEXT."""

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class MemorySection:
    name: str
    """The heading text as written; ``""`` for lines before the first heading."""
    kind: SectionKind | None
    line: int | None
    level: int
    items: tuple[MemoryItem, ...]


@dataclass(frozen=True, slots=True)
class Memory:
    file: str
    sections: tuple[MemorySection, ...] = ()
    items: tuple[MemoryItem, ...] = ()

    def items_in(self, kind: SectionKind) -> tuple[MemoryItem, ...]:
        return tuple(item for item in self.items if item.kind == kind)

    def section(self, kind: SectionKind) -> MemorySection | None:
        """The first section of that kind (a file may repeat one; :meth:`items_in` sees all)."""
        return next((section for section in self.sections if section.kind == kind), None)


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One break of the protocol's state rules, with what to do about it."""

    file: str
    line: int
    rule: str
    message: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "rule": self.rule, "message": self.message}


# --- shared helpers -----------------------------------------------------------------------------


def find_tickets(text: str) -> tuple[str, ...]:
    """Ticket ids (``CAB-1290``) in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in TICKET.finditer(text):
        ticket = match.group(1)
        if ticket.split("-", 1)[0] not in _NOT_TICKETS:
            seen.setdefault(ticket, None)
    return tuple(seen)


def section_kind(name: str) -> SectionKind | None:
    """Which protocol section a heading names: by its emoji, else by its words (any case)."""
    found = [(name.find(emoji), kind) for emoji, kind in _EMOJI_KINDS if emoji in name]
    if found:
        return min(found)[1]
    words = f" {' '.join(NON_WORD.sub(' ', name.upper()).split())} "
    if " IN PROGRESS " in words or " INPROGRESS " in words or " WIP " in words:
        return "in_progress"
    if " BLOCKED " in words or " BLOCKERS " in words:
        return "blocked"
    if " NEXT " in words:
        return "next"
    if " NOT DONE " in words:
        return None
    if any(f" {word} " in words for word in ("DONE", "COMPLETED", "COMPLETE", "FINISHED")):
        return "done"
    return None


def done_marker(text: str) -> str | None:
    """How an item's text says it is done, as the real state lint reads it, or None:
    ``**DONE**``, ``— DONE`` (em dash) or ``~~strikethrough~~``, literally and case-sensitive.
    ``(DONE)``, ``- DONE``, ``[x]`` and ``✅`` are not done markers there. Code spans do not
    count (an item quoting the marker is not marked)."""
    stripped = _CODE_SPAN.sub(" ", text) if "`" in text else text
    if _LINT_DASH_DONE in stripped:
        return "— DONE"
    if _LINT_BOLD_DONE in stripped:
        return "**DONE**"
    first = stripped.find(_STRIKE_MARK)
    if first >= 0 and stripped.find(_STRIKE_MARK, first + 2) >= 0:
        return "~~strikethrough~~"
    return None
