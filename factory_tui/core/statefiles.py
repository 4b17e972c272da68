"""plan.md and memory.md: items, markers, phase owner markers, sections, and the state lint.

Both readers take text and a file label (no IO) and never raise: whatever does not look like an
item is simply not an item. Fenced code blocks and HTML comments are skipped, so a template's
``<!-- move here when DONE -->`` or an example checklist in a code block is not read as state.

The protocol's state lint (:func:`lint_state`):

* no done item under memory.md's ``🔴 IN PROGRESS`` or ``📋 NEXT``, as the real
  ``stop-state-lint.sh`` counts them: ``**DONE**``, ``— DONE``, or a parent whose sub-items
  include a ✅ and no ``[ ]``; under NEXT also ``~~strikethrough~~``. ``(DONE)``, ``[x]``, a bare
  ✅, and a ✅ sub-item under an open parent are not done there (workflow-essentials);
* ``[x]`` in plan.md ↔ under ``✅ DONE`` in memory.md (or, for a sub-item of a ``[~]`` item,
  ✅ under ``🔴 IN PROGRESS`` with its parent);
* ``[~]`` in plan.md ↔ under ``🔴 IN PROGRESS`` in memory.md.

The cross-file rules read only the plan's current cycle when it has cycle headings
(``## Cycle 12 (Mar 3+) — CURRENT``; without a CURRENT one, the highest-numbered): closed cycles,
archives and milestones are history that memory.md has collapsed.

Items are matched across the two files by ticket id when both carry one (and, when either names a
phase, the phase numbers agree), else by normalised text. Text matching is deliberately a little
loose (one side may be a prefix of the other, e.g. memory.md's ``Parser — DONE (PR #42)`` against
plan.md's ``Parser``) for the forward rules, where a miss means a false alarm, and exact for the
reverse rules, where a loose match would raise one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
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
    "lint_state",
    "normalise_text",
    "parse_memory",
    "parse_plan",
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
_STATE_MARK: dict[ItemState, str] = {
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

# --- line grammar -------------------------------------------------------------------------------

_BULLET = re.compile(r"(?P<indent>[ \t]*)(?P<bullet>[-*+]|\d{1,9}[.)])(?:[ \t]+(?P<rest>.*)|$)")
_CHECKBOX = re.compile(r"\[(?P<mark>[ xX~!]?)\](?:[ \t]+|$)")
_HEADING = re.compile(r" {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*)|$)")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_THEMATIC = re.compile(r" {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})")
_TABLE_RULE_CHARS = frozenset(" \t:|-")

_TICKET = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9]+-\d+)(?![A-Za-z0-9_])")
# Look like ticket ids but are not: UTF-8, SHA-256, ISO-8601...
_NOT_TICKETS = frozenset({"UTF", "SHA", "ISO", "UTC", "GMT", "AES", "RSA", "HTTP", "TLS", "SSL"})

_OWNER = re.compile(r"\[[ \t]*owner[ \t]*:(?P<owner>[^\[\]\n]*)\]", re.IGNORECASE)
_NO_OWNER = frozenset(
    {"", "—", "–", "-", "--", "none", "null", "nil", "nobody", "unclaimed", "available", "free"}
)
_PHASE = re.compile(r"\bphases?[ \t]*#?[ \t]*(\d{1,6})", re.IGNORECASE)
_MODE = re.compile(r"\((?P<mode>[^()\n]*)\)")

# --- done markers (memory.md) -------------------------------------------------------------------

_CODE_SPAN = re.compile(r"`+[^`]*`+")
# The markers stop-state-lint.sh greps for, literally and case-sensitive.
_LINT_DASH_DONE = "— DONE"
_LINT_BOLD_DONE = "**DONE**"
_STRIKE_MARK = "~~"
# Done markers in general: stripped from an item's text for matching across the two files.
_DASH_DONE = re.compile(r"(?:^|\s)(?:—|–|--?)[ \t]*(?:\*\*|__)?DONE\b", re.IGNORECASE)
_BOLD_DONE = re.compile(r"(?:\*\*|__)[ \t]*DONE[ \t]*(?:\*\*|__)", re.IGNORECASE)
_PAREN_DONE = re.compile(r"[(\[][ \t]*DONE\b[^()\[\]\n]*[)\]]", re.IGNORECASE)
_BARE_DONE = re.compile(r"^DONE\b|\bDONE[.!]?$")

# --- normalisation for matching -----------------------------------------------------------------

_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\n]*\)")
_PR_REF = re.compile(r"\bPR[ \t]*#?[ \t]*\d+|#\d+", re.IGNORECASE)
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?")
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
_SPACED_DASH = re.compile(r"\s(?:—|–|--?)\s")
_NON_WORD = re.compile(r"[\W_]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_SECTION_WORDS = frozenset(
    {"IN", "PROGRESS", "INPROGRESS", "WIP", "NEXT", "UP", "DONE", "COMPLETED", "COMPLETE"}
    | {"FINISHED", "BLOCKED", "BLOCKERS"}
)
_CYCLE = re.compile(r"(?:cycle|sprint)[ \t]*#?[ \t]*(\d{1,6})(?![\w])", re.IGNORECASE)
_QUOTE_LIMIT = 60
_KEY_WORDS = 64
_KEY_CHARS = 4096
"""Items are matched on their first 64 words (of their first 4 KiB): the index holds every prefix
and run of a key's words, which for a line of a million words would be quadratic."""


# --- values -------------------------------------------------------------------------------------


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
        return _STATE_MARK[self.state]

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
    for match in _TICKET.finditer(text):
        ticket = match.group(1)
        if ticket.split("-", 1)[0] not in _NOT_TICKETS:
            seen.setdefault(ticket, None)
    return tuple(seen)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """1-based line numbers as an editor counts them (``\\n`` only; CRLF's ``\\r`` dropped)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def _indent_width(indent: str) -> int:
    return sum(4 - (i % 4) if ch == "\t" else 1 for i, ch in enumerate(indent))


def _heading_text(raw: str | None) -> str:
    """The heading's text without its closing hashes (``## Done ##``): those preceded by
    whitespace, or the whole text."""
    text = (raw or "").rstrip(" \t")
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        text = bare
    return text.strip()


def _strip_comments(line: str) -> str:
    """``line`` without its complete ``<!-- ... -->`` comments (a scan, not a regex: a line of
    many unclosed ``<!--`` stays linear)."""
    if "<!--" not in line:
        return line
    kept: list[str] = []
    pos = 0
    while (start := line.find("<!--", pos)) >= 0 and (end := line.find("-->", start + 4)) >= 0:
        kept.append(line[pos:start])
        pos = end + 3
    kept.append(line[pos:])
    return "".join(kept)


def _table_rule(line: str) -> bool:
    """A table's delimiter row (``|---|:--:|``)."""
    return "|" in line and "-" in line and set(line) <= _TABLE_RULE_CHARS


class _Scanner:
    """Walks lines, skipping fenced code and HTML comments; yields what is left with headings
    (ATX and setext) told apart from content."""

    def __init__(self, text: str) -> None:
        self._lines = list(_lines(text))

    def __iter__(self) -> Iterator[tuple[int, str, int | None, str]]:
        """(line number, line, heading level or None, heading text or the line)."""
        fence: str | None = None
        in_comment = False
        lines = self._lines
        skip_next = False
        for index, (number, line) in enumerate(lines):
            if skip_next:
                skip_next = False
                continue
            if fence is not None:
                stripped = line.strip()
                if stripped.startswith(fence) and set(stripped) <= {fence[0]}:
                    fence = None
                continue
            if in_comment:
                if "-->" in line:
                    in_comment = False
                    line = line.split("-->", 1)[1]
                else:
                    continue
            line = _strip_comments(line)
            if "<!--" in line:
                line, in_comment = line.split("<!--", 1)[0], True
            fenced = _FENCE.match(line)
            if fenced:
                fence = fenced.group("fence")
                continue
            if not line.strip():
                yield number, line, None, ""
                continue
            heading = _HEADING.match(line)
            if heading:
                level = len(heading.group("hashes"))
                yield number, line, level, _heading_text(heading.group("text"))
                continue
            if (
                index + 1 < len(lines)
                and not line.startswith((" " * 4, "\t"))
                and not _BULLET.match(line)
                and not _THEMATIC.match(line)
                and _SETEXT.match(lines[index + 1][1])
                and lines[index + 1][1].strip()
            ):
                level = 1 if lines[index + 1][1].strip().startswith("=") else 2
                skip_next = True
                yield number, line, level, line.strip()
                continue
            yield number, line, None, line


class _Nesting:
    """List nesting by indentation: depth and the enclosing lines of each bullet."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, int]] = []  # (indent column, line number)

    def reset(self) -> None:
        self.stack.clear()

    def push(self, column: int, line: int) -> tuple[int, list[int]]:
        """The depth of a bullet at ``column`` and its ancestors' lines, innermost first."""
        while self.stack and self.stack[-1][0] >= column:
            self.stack.pop()
        ancestors = [number for _, number in reversed(self.stack)]
        depth = len(self.stack)
        self.stack.append((column, line))
        return depth, ancestors


# --- plan.md ------------------------------------------------------------------------------------


def _phase_marker(text: str) -> tuple[int | None, str | None, str | None] | None:
    """(phase, mode, owner) when ``text`` carries an ``[owner: ...]`` marker."""
    owner_match = _OWNER.search(text)
    if owner_match is None:
        return None
    owner_raw = owner_match.group("owner").strip().strip("`*_ ").strip()
    owner = None if owner_raw.lower() in _NO_OWNER else owner_raw
    before = text[: owner_match.start()]
    phase_match = _PHASE.search(before) or _PHASE.search(text)
    phase = int(phase_match.group(1)) if phase_match else None
    mode: str | None = None
    if phase_match is not None and phase_match.end() <= len(before):
        mode_match = _MODE.search(before, phase_match.end())
        mode = mode_match.group("mode").strip().lower() if mode_match else None
    return phase, mode or None, owner


def parse_plan(text: str, file: str) -> Plan:
    """Read plan.md's checkbox items and MEGA phase owner markers. Never raises."""
    items: list[PlanItem] = []
    phases: list[PlanPhase] = []
    heading: str | None = None
    heading_tickets: tuple[str, ...] = ()
    nesting = _Nesting()
    tickets_at: dict[int, tuple[str, ...]] = {}
    item_lines: set[int] = set()
    cycles = _CycleTracker(file)
    for number, line, level, content in _Scanner(text):
        cycles.last = number
        if level is not None:
            cycles.heading(level, content, number)
            heading, heading_tickets = content, find_tickets(content)
            nesting.reset()
            owner = _phase_marker(content)
            if owner is not None:
                phases.append(
                    PlanPhase(
                        file=file,
                        line=number,
                        phase=owner[0],
                        mode=owner[1],
                        owner=owner[2],
                        text=content,
                        depth=0,
                        heading=heading,
                        mega_id=heading_tickets[0] if heading_tickets else None,
                    )
                )
            continue
        if not content:
            continue
        bullet = _BULLET.match(line)
        depth = 0
        ancestors: list[int] = []
        body = line.strip()
        if bullet:
            depth, ancestors = nesting.push(_indent_width(bullet.group("indent")), number)
            body = (bullet.group("rest") or "").strip()
        elif not line[:1].isspace():
            nesting.reset()
        state: ItemState | None = None
        checkbox = _CHECKBOX.match(body) if bullet else None
        if checkbox:
            state = ITEM_STATES[checkbox.group("mark")]
            body = body[checkbox.end() :].strip()
        tickets = find_tickets(body)
        if bullet:
            tickets_at[number] = tickets
        mega_id = None
        if not tickets:
            above = next((tickets_at[n] for n in ancestors if tickets_at.get(n)), heading_tickets)
            mega_id = above[0] if above else None
        owner = _phase_marker(body)
        phase_number: int | None = None
        if owner is not None:
            phase_number = owner[0]
            phases.append(
                PlanPhase(
                    file=file,
                    line=number,
                    phase=owner[0],
                    mode=owner[1],
                    owner=owner[2],
                    text=body,
                    depth=depth,
                    heading=heading,
                    mega_id=tickets[0] if tickets else mega_id,
                    state=state,
                )
            )
        elif state is not None:
            phase_match = _PHASE.match(body.lstrip("*_ "))
            phase_number = int(phase_match.group(1)) if phase_match else None
        if state is None:
            continue
        parent = next((n for n in ancestors if n in item_lines), None)
        items.append(
            PlanItem(
                file=file,
                line=number,
                state=state,
                text=body,
                depth=depth,
                heading=heading,
                tickets=tickets,
                parent=parent,
                phase=phase_number,
                mega_id=mega_id if phase_number is not None else None,
            )
        )
        item_lines.add(number)
    return Plan(file, tuple(items), tuple(phases), cycles.finish())


def _cycle_number(title: str) -> int | None:
    """The number of a cycle heading (``Cycle 12 (Mar 3+) — CURRENT``, ``🔄 Sprint 3``): the word
    cycle or sprint and a number must be the first words."""
    start = next((i for i, ch in enumerate(title) if ch.isalnum()), len(title))
    match = _CYCLE.match(title, start)
    return int(match.group(1)) if match else None


class _CycleTracker:
    """Collects plan.md's cycle sections while its headings go by."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.cycles: list[PlanCycle] = []
        self.open: tuple[int, int, int, str] | None = None  # (level, line, number, title)
        self.last = 0

    def heading(self, level: int, title: str, line: int) -> None:
        if self.open is not None and level <= self.open[0]:
            self._close(line - 1)
        if self.open is None:
            number = _cycle_number(title)
            if number is not None:
                self.open = (level, line, number, title)

    def _close(self, end: int) -> None:
        if self.open is None:
            return
        _, line, number, title = self.open
        current = "CURRENT" in _NON_WORD.sub(" ", title.upper()).split()
        self.cycles.append(PlanCycle(self.file, line, max(end, line), number, title, current))
        self.open = None

    def finish(self) -> tuple[PlanCycle, ...]:
        self._close(self.last)
        return tuple(self.cycles)


# --- memory.md ----------------------------------------------------------------------------------


def section_kind(name: str) -> SectionKind | None:
    """Which protocol section a heading names: by its emoji, else by its words (any case)."""
    found = [(name.find(emoji), kind) for emoji, kind in _EMOJI_KINDS if emoji in name]
    if found:
        return min(found)[1]
    words = f" {' '.join(_NON_WORD.sub(' ', name.upper()).split())} "
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


def _pseudo_heading(line: str) -> bool:
    """A bare line such as ``**✅ DONE**`` or ``IN PROGRESS:`` used as a section title."""
    words = _NON_WORD.sub(" ", line.upper()).split()
    return 0 < len(words) <= 3 and set(words) <= _SECTION_WORDS and section_kind(line) is not None


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


def parse_memory(text: str, file: str) -> Memory:
    """Read memory.md's sections and the items under each. Never raises."""
    # Open sections: (level, name, own kind, line, items); headings nest by level.
    sections: list[tuple[int, str, SectionKind | None, int | None, list[MemoryItem]]] = []
    result: list[MemorySection] = []
    headings: list[tuple[int, SectionKind | None]] = []
    preamble: list[MemoryItem] = []
    current: list[MemoryItem] = preamble
    name = ""
    kind: SectionKind | None = None
    nesting = _Nesting()
    everything: list[MemoryItem] = []

    def open_section(level: int, title: str, line: int) -> None:
        nonlocal current, name, kind
        while headings and headings[-1][0] >= level:
            headings.pop()
        headings.append((level, section_kind(title)))
        kind = next((k for _, k in reversed(headings) if k is not None), None)
        name = title
        current = []
        sections.append((level, title, kind, line, current))
        nesting.reset()

    for number, line, level, content in _Scanner(text):
        if level is not None:
            open_section(level, content, number)
            continue
        if not content or _THEMATIC.match(line) or _table_rule(line):
            continue
        bullet = _BULLET.match(line)
        if not bullet and _pseudo_heading(line):
            open_section(99, line.strip().strip("*_:#").strip(), number)
            continue
        depth = 0
        body = line.strip()
        if bullet:
            depth, _ = nesting.push(_indent_width(bullet.group("indent")), number)
            body = (bullet.group("rest") or "").strip()
            if not body:
                continue
        elif not line[:1].isspace():
            nesting.reset()
        item = MemoryItem(
            file=file,
            line=number,
            text=body,
            section=name,
            kind=kind,
            depth=depth,
            bullet=bullet is not None,
            tickets=find_tickets(body),
            done_marker=done_marker(body),
        )
        current.append(item)
        everything.append(item)
    if preamble:
        result.append(MemorySection("", None, None, 0, tuple(preamble)))
    for level, title, section_kind_, line_number, section_items in sections:
        result.append(MemorySection(title, section_kind_, line_number, level, tuple(section_items)))
    return Memory(file, tuple(result), tuple(everything))


# --- matching -----------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Text for matching: lowercase words only, without checkbox, done and owner markers,
    emphasis, links' targets, ticket ids, PR references, dates and punctuation."""
    return " ".join(_words(text))


def _words(text: str) -> tuple[str, ...]:
    text = text.strip()
    checkbox = _CHECKBOX.match(text)
    if checkbox:
        text = text[checkbox.end() :]
    text = _LINK.sub(r"\1", text)
    text = _OWNER.sub(" ", text)
    dash_done = _DASH_DONE.search(text)
    if dash_done:
        text = text[: dash_done.start()]
    for pattern in (_BOLD_DONE, _PAREN_DONE, _TICKET, _PR_REF, _DATE, _TIME):
        text = pattern.sub(" ", text)
    text = _BARE_DONE.sub(" ", text.strip())
    return tuple(_NON_WORD.sub(" ", text.lower()).split())


@dataclass(frozen=True, slots=True)
class _Key:
    tickets: frozenset[str]
    phases: frozenset[int]
    texts: tuple[tuple[str, ...], ...]
    """The words of the text before a spaced dash (its name), then of the whole text."""

    @classmethod
    def of(cls, text: str, tickets: Iterable[str], phase: int | None = None) -> _Key:
        text = text[:_KEY_CHARS]
        phases = {int(match.group(1)) for match in _PHASE.finditer(text)}
        if phase is not None:
            phases.add(phase)
        whole = _words(text)[:_KEY_WORDS]
        head = _words(_SPACED_DASH.split(text, maxsplit=1)[0])[:_KEY_WORDS]
        texts = tuple(t for t in dict.fromkeys((head, whole)) if t)
        return cls(frozenset(tickets), frozenset(phases), texts)


def _plan_key(item: PlanItem) -> _Key:
    tickets = item.tickets or ((item.mega_id,) if item.mega_id and item.phase is not None else ())
    return _Key.of(item.text, tickets, item.phase)


def _memory_key(item: MemoryItem) -> _Key:
    return _Key.of(item.text, item.tickets)


def _loosely_equal(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if long[: len(short)] == short and (len(short) >= 2 or len(short[0]) >= 8):
        return True
    if len(short) >= 3:
        return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))
    return False


def _matches(a: _Key, b: _Key, *, loose: bool) -> bool:
    if a.tickets and b.tickets:
        if not a.tickets & b.tickets:
            return False
        # Loose (plan side ``a``): a MEGA item without a phase is listed through any of its
        # phases. Exact: the phases named must be the same.
        if loose:
            return not a.phases or bool(a.phases & b.phases)
        return a.phases == b.phases
    compare = _loosely_equal if loose else tuple.__eq__
    return any(compare(x, y) for x in a.texts for y in b.texts)


class _Index:
    """Keys indexed by ticket, text, text prefix and word run, so that a lookup touches only
    real candidates instead of every item (plans of thousands of items stay fast)."""

    def __init__(self, keys: list[_Key]) -> None:
        self.keys = keys
        self.by_ticket: dict[str, list[int]] = {}
        self.by_text: dict[tuple[str, ...], list[int]] = {}
        self.by_prefix: dict[tuple[str, ...], list[int]] = {}
        self.by_run: dict[tuple[str, ...], list[int]] = {}
        for index, key in enumerate(keys):
            for ticket in key.tickets:
                self.by_ticket.setdefault(ticket, []).append(index)
            for text in key.texts:
                self.by_text.setdefault(text, []).append(index)
                for prefix in _prefixes(text):
                    self.by_prefix.setdefault(prefix, []).append(index)
                for run in _runs(text):
                    self.by_run.setdefault(run, []).append(index)

    def find(self, query: _Key, *, loose: bool, query_is_plan: bool) -> list[int]:
        """Indices of the keys matching ``query``, in order (``_matches`` has the last word)."""
        found: set[int] = set()
        for ticket in query.tickets:
            found.update(self.by_ticket.get(ticket, ()))
        for text in query.texts:
            found.update(self.by_text.get(text, ()))
            if not loose:
                continue
            found.update(self.by_prefix.get(text, ()))
            found.update(self.by_run.get(text, ()))
            for part in (*_prefixes(text), *_runs(text)):
                found.update(self.by_text.get(part, ()))
        hits = []
        for index in sorted(found):
            key = self.keys[index]
            plan_key, memory_key = (query, key) if query_is_plan else (key, query)
            if _matches(plan_key, memory_key, loose=loose):
                hits.append(index)
        return hits


def _prefixes(text: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The proper prefixes of ``text`` that :func:`_loosely_equal` accepts as a match."""
    for size in range(1, len(text)):
        if size >= 2 or len(text[0]) >= 8:
            yield text[:size]


def _runs(text: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The runs of 3+ consecutive words inside ``text`` (first 40 words)."""
    words = text[:40]
    for size in range(3, len(words)):
        for start in range(len(words) - size + 1):
            yield words[start : start + size]


# --- the lint -----------------------------------------------------------------------------------


def _quote(text: str) -> str:
    flat = " ".join(_CONTROL.sub("?", text).split())
    if len(flat) > _QUOTE_LIMIT:
        flat = flat[: _QUOTE_LIMIT - 1].rstrip() + "…"
    return f'"{flat}"'


def _label(file: str) -> str:
    return file.replace("\\", "/").rsplit("/", 1)[-1] or file


def _section_label(item: MemoryItem) -> str:
    return f'"{item.section}"' if item.section else "no section (before the first heading)"


def lint_state(plan: Plan | None, memory: Memory | None) -> list[LintFinding]:
    """The protocol's state lint, as findings sorted by file and line. Never raises.

    With only memory.md, only ``done-outside-done`` can be checked; with only plan.md, nothing.
    """
    findings: list[LintFinding] = []
    if memory is not None:
        findings.extend(_done_outside_done(memory))
    if plan is not None and memory is not None:
        plan = _current_part(plan)
        findings.extend(_plan_vs_memory(plan, memory, "done", "plan-done-not-in-memory"))
        findings.extend(
            _plan_vs_memory(plan, memory, "in_progress", "plan-in-progress-not-in-memory")
        )
        findings.extend(_memory_vs_plan(plan, memory))
    findings.sort(key=lambda f: (f.file, f.line, f.rule))
    return findings


def _current_part(plan: Plan) -> Plan:
    """plan.md as far as the cross-file rules read it: its current cycle's items and phases, or
    all of it when it has no cycle headings."""
    cycle = plan.current_cycle()
    if cycle is None:
        return plan
    return Plan(
        plan.file,
        tuple(item for item in plan.items if cycle.holds(item.line)),
        tuple(phase for phase in plan.phases if cycle.holds(phase.line)),
        (cycle,),
    )


_LINTED_SECTIONS: tuple[SectionKind, ...] = ("in_progress", "next")


def _done_outside_done(memory: Memory) -> Iterator[LintFinding]:
    """Done items under 🔴 IN PROGRESS and 📋 NEXT, as stop-state-lint.sh finds them: a line with
    ``**DONE**`` or ``— DONE`` (under NEXT also ``~~…~~``), and a top-level item whose sub-items
    hold a ✅ and no ``[ ]`` (an open parent's ✅ sub-items are allowed)."""
    mem = _label(memory.file)
    for item, marker in _done_in_active_sections(memory):
        yield LintFinding(
            memory.file,
            item.line,
            "done-outside-done",
            f"{_quote(item.text)} is marked done ({marker}) but sits under "
            f"{_section_label(item)} in {mem}, not ✅ DONE. Move it to the ✅ DONE section, "
            "or remove the done marker if it is not finished.",
        )


def _done_in_active_sections(memory: Memory) -> Iterator[tuple[MemoryItem, str]]:
    block: list[MemoryItem] = []  # a top-level item and the sub-items after it

    def implicit() -> Iterator[tuple[MemoryItem, str]]:
        if not block or _explicitly_done(block[0]):
            return
        subs = [item.text for item in block[1:]]
        if any(t.startswith("✅") for t in subs) and not any(t.startswith("[ ]") for t in subs):
            yield block[0], "all its sub-items ✅"

    for item in memory.items:
        if item.kind not in _LINTED_SECTIONS:
            yield from implicit()
            block = []
            continue
        if block and item.section != block[0].section:
            yield from implicit()
            block = []
        if _explicitly_done(item):
            yield item, item.done_marker or ""
        if item.bullet and item.depth == 0:
            yield from implicit()
            block = [item]
        elif item.bullet and block:
            block.append(item)
    yield from implicit()


def _explicitly_done(item: MemoryItem) -> bool:
    if item.done_marker == "~~strikethrough~~":
        return item.kind == "next"
    return item.done_marker is not None


def _plan_vs_memory(
    plan: Plan, memory: Memory, state: Literal["done", "in_progress"], rule: str
) -> Iterator[LintFinding]:
    """plan.md items in ``state`` that memory.md does not list in the matching section.

    An item counts as listed when it, a same-state ancestor or a same-state descendant matches
    (a MEGA in progress is listed through its phase); only the outermost unlisted one is reported.
    """
    candidates = plan.by_state(state)
    if not candidates:
        return
    wanted = memory.items_in(state)
    wanted_index = _Index([_memory_key(item) for item in wanted])
    keys = {item.line: _plan_key(item) for item in candidates}
    listed = {
        item.line
        for item in candidates
        if wanted_index.find(keys[item.line], loose=True, query_is_plan=True)
    }
    if state == "done":
        listed |= _done_under_open_parents(plan, memory, keys)
    by_line = {item.line: item for item in plan.items}

    def same_state_ancestors(item: PlanItem) -> Iterator[PlanItem]:
        seen: set[int] = set()
        parent = by_line.get(item.parent) if item.parent is not None else None
        while parent is not None and parent.line not in seen:
            seen.add(parent.line)
            if parent.state == state:
                yield parent
            parent = by_line.get(parent.parent) if parent.parent is not None else None

    covered = set(listed)
    for item in candidates:
        for ancestor in same_state_ancestors(item):
            if item.line in listed:
                covered.add(ancestor.line)
            if ancestor.line in listed:
                covered.add(item.line)
    unlisted = [item for item in candidates if item.line not in covered]
    unlisted_lines = {item.line for item in unlisted}
    title = SECTION_TITLES[state]
    mark = _STATE_MARK[state]
    plan_label, mem = _label(plan.file), _label(memory.file)
    elsewhere_items = [item for item in memory.items if item.kind != state]
    elsewhere_index = _Index([_memory_key(item) for item in elsewhere_items])
    for item in unlisted:
        if any(a.line in unlisted_lines for a in same_state_ancestors(item)):
            continue
        key = keys[item.line]
        hits = elsewhere_index.find(key, loose=True, query_is_plan=True)
        other = elsewhere_items[hits[0]] if hits else None
        verb = "ticked [x]" if state == "done" else "marked [~]"
        message = f"{_quote(item.text)} is {verb} in {plan_label} but is not under {title} in {mem}"
        if other is not None:
            message += f"; {mem}:{other.line} lists it under {_section_label(other)}. "
            if state == "done":
                message += (
                    f"Move that entry to {title}, or untick the item in {plan_label} "
                    "if it is not finished."
                )
            else:
                message += (
                    f"Move that entry to {title}, or change the marker in {plan_label} "
                    "([x] done, [!] blocked, [ ] not started) to match."
                )
        elif state == "done":
            message += (
                f". Add it to {title} in {mem}, or untick it in {plan_label} if it is not finished."
            )
        else:
            message += (
                f". Add it to {title} in {mem}, or change its {mark} marker in {plan_label} "
                "if nobody is working on it."
            )
        yield LintFinding(plan.file, item.line, rule, message)


def _done_under_open_parents(plan: Plan, memory: Memory, keys: dict[int, _Key]) -> set[int]:
    """Lines of plan.md's ``[x]`` items under a ``[~]`` one that memory.md lists as ✅ (or
    ``[x]``) under 🔴 IN PROGRESS: a done sub-item of an open parent may stay there with it
    (workflow-essentials), so it is listed where it belongs."""
    checked = [item for item in memory.items_in("in_progress") if _checked(item.text)]
    if not checked:
        return set()
    index = _Index([_memory_key(item) for item in checked])
    state_at = {item.line: item.state for item in plan.items}
    open_above: dict[int, bool] = {}  # parents come before their children
    for item in plan.items:
        parent = item.parent
        open_above[item.line] = parent is not None and (
            state_at.get(parent) == "in_progress" or open_above.get(parent, False)
        )
    return {
        line
        for line, key in keys.items()
        if open_above.get(line) and index.find(key, loose=True, query_is_plan=True)
    }


def _not_started(text: str) -> bool:
    box = _CHECKBOX.match(text)
    return box is not None and ITEM_STATES[box.group("mark")] in ("pending", "blocked")


def _checked(text: str) -> bool:
    return text.startswith(("✅", "[x]", "[X]"))


def _memory_vs_plan(plan: Plan, memory: Memory) -> Iterator[LintFinding]:
    """memory.md's DONE / IN PROGRESS entries whose plan.md item is still ``[ ]`` or ``[!]``.

    The other mismatches (``[x]`` or ``[~]`` in the wrong memory.md section) are reported by the
    plan-side rules; matching here is exact to keep a loose match from raising a false alarm.
    """
    open_items = [item for item in plan.items if item.state in ("pending", "blocked")]
    if not open_items:
        return
    open_index = _Index([_plan_key(item) for item in open_items])
    settled = [item for item in plan.items if item.state in ("done", "in_progress")]
    settled_index = _Index([_plan_key(item) for item in settled])
    plan_label, mem = _label(plan.file), _label(memory.file)
    reported: set[tuple[str, int]] = set()
    rules: tuple[tuple[SectionKind, str], ...] = (
        ("done", "memory-done-plan-open"),
        ("in_progress", "memory-in-progress-plan-open"),
    )
    for kind, rule in rules:
        for entry in memory.items_in(kind):
            if kind == "in_progress" and _not_started(entry.text):
                continue  # an open parent's sub-item that says itself it is not started
            key = _memory_key(entry)
            if settled_index.find(key, loose=False, query_is_plan=False):
                continue
            for hit in open_index.find(key, loose=False, query_is_plan=False):
                item = open_items[hit]
                if (rule, item.line) in reported:
                    continue
                reported.add((rule, item.line))
                shown = "[ ] (not started)" if item.state == "pending" else "[!] (blocked)"
                want = "[x]" if kind == "done" else "[~]"
                yield LintFinding(
                    plan.file,
                    item.line,
                    rule,
                    f"{_quote(item.text)} is {shown} in {plan_label}, but {mem}:{entry.line} "
                    f"lists it under {SECTION_TITLES[kind]}. Mark it {want} in {plan_label}, "
                    f"or move the {mem} entry out of {SECTION_TITLES[kind]} if that is wrong.",
                )
