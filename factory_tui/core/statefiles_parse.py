"""Read plan.md and memory.md into :class:`~factory_tui.core.statefiles.Plan` and
:class:`~factory_tui.core.statefiles.Memory`.

Both readers take text and a file label (no IO) and never raise: whatever does not look like an
item is simply not an item. Fenced code blocks and HTML comments are skipped, so a template's
``<!-- move here when DONE -->`` or an example checklist in a code block is not read as state.
"""

from __future__ import annotations

import re

from factory_tui.core.statefiles import (
    CHECKBOX,
    ITEM_STATES,
    NON_WORD,
    OWNER,
    PHASE,
    ItemState,
    Memory,
    MemoryItem,
    MemorySection,
    Plan,
    PlanCycle,
    PlanItem,
    PlanPhase,
    SectionKind,
    done_marker,
    find_tickets,
    section_kind,
)
from factory_tui.core.statefiles_markdown import (
    BULLET,
    THEMATIC,
    Nesting,
    Scanner,
    indent_width,
    table_rule,
)

__all__ = ["parse_memory", "parse_plan"]

_NO_OWNER = frozenset(
    {"", "—", "–", "-", "--", "none", "null", "nil", "nobody", "unclaimed", "available", "free"}
)


_MODE = re.compile(r"\((?P<mode>[^()\n]*)\)")


_SECTION_WORDS = frozenset(
    {"IN", "PROGRESS", "INPROGRESS", "WIP", "NEXT", "UP", "DONE", "COMPLETED", "COMPLETE"}
    | {"FINISHED", "BLOCKED", "BLOCKERS"}
)
_CYCLE = re.compile(r"(?:cycle|sprint)[ \t]*#?[ \t]*(\d{1,6})(?![\w])", re.IGNORECASE)


def _phase_marker(text: str) -> tuple[int | None, str | None, str | None] | None:
    """(phase, mode, owner) when ``text`` carries an ``[owner: ...]`` marker."""
    owner_match = OWNER.search(text)
    if owner_match is None:
        return None
    owner_raw = owner_match.group("owner").strip().strip("`*_ ").strip()
    owner = None if owner_raw.lower() in _NO_OWNER else owner_raw
    before = text[: owner_match.start()]
    phase_match = PHASE.search(before) or PHASE.search(text)
    phase = int(phase_match.group(1)) if phase_match else None
    mode: str | None = None
    if phase_match is not None and phase_match.end() <= len(before):
        mode_match = _MODE.search(before, phase_match.end())
        mode = mode_match.group("mode").strip().lower() if mode_match else None
    return phase, mode or None, owner


def _marked_phase(
    file: str,
    line: int,
    text: str,
    *,
    depth: int,
    heading: str | None,
    mega_id: str | None,
    state: ItemState | None = None,
) -> PlanPhase | None:
    """The phase owner marker on line ``line`` (a heading or an item), if it carries one."""
    marker = _phase_marker(text)
    if marker is None:
        return None
    phase, mode, owner = marker
    return PlanPhase(
        file=file,
        line=line,
        phase=phase,
        mode=mode,
        owner=owner,
        text=text,
        depth=depth,
        heading=heading,
        mega_id=mega_id,
        state=state,
    )


def parse_plan(text: str, file: str) -> Plan:
    """Read plan.md's checkbox items and MEGA phase owner markers. Never raises."""
    items: list[PlanItem] = []
    phases: list[PlanPhase] = []
    heading: str | None = None
    heading_tickets: tuple[str, ...] = ()
    nesting = Nesting()
    tickets_at: dict[int, tuple[str, ...]] = {}
    item_lines: set[int] = set()
    cycles = _CycleTracker(file)
    for number, line, level, content in Scanner(text):
        cycles.last = number
        if level is not None:
            cycles.heading(level, content, number)
            heading, heading_tickets = content, find_tickets(content)
            nesting.reset()
            marked = _marked_phase(
                file,
                number,
                content,
                depth=0,
                heading=heading,
                mega_id=heading_tickets[0] if heading_tickets else None,
            )
            if marked is not None:
                phases.append(marked)
            continue
        if not content:
            continue
        bullet = BULLET.match(line)
        depth = 0
        ancestors: list[int] = []
        body = line.strip()
        if bullet:
            depth, ancestors = nesting.push(indent_width(bullet.group("indent")), number)
            body = (bullet.group("rest") or "").strip()
        elif not line[:1].isspace():
            nesting.reset()
        state: ItemState | None = None
        checkbox = CHECKBOX.match(body) if bullet else None
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
        marked = _marked_phase(
            file,
            number,
            body,
            depth=depth,
            heading=heading,
            mega_id=tickets[0] if tickets else mega_id,
            state=state,
        )
        phase_number: int | None = None
        if marked is not None:
            phase_number = marked.phase
            phases.append(marked)
        elif state is not None:
            phase_match = PHASE.match(body.lstrip("*_ "))
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
        current = "CURRENT" in NON_WORD.sub(" ", title.upper()).split()
        self.cycles.append(PlanCycle(self.file, line, max(end, line), number, title, current))
        self.open = None

    def finish(self) -> tuple[PlanCycle, ...]:
        self._close(self.last)
        return tuple(self.cycles)


def _pseudo_heading(line: str) -> bool:
    """A bare line such as ``**✅ DONE**`` or ``IN PROGRESS:`` used as a section title."""
    words = NON_WORD.sub(" ", line.upper()).split()
    return 0 < len(words) <= 3 and set(words) <= _SECTION_WORDS and section_kind(line) is not None


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
    nesting = Nesting()
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

    for number, line, level, content in Scanner(text):
        if level is not None:
            open_section(level, content, number)
            continue
        if not content or THEMATIC.match(line) or table_rule(line):
            continue
        bullet = BULLET.match(line)
        if not bullet and _pseudo_heading(line):
            open_section(99, line.strip().strip("*_:#").strip(), number)
            continue
        depth = 0
        body = line.strip()
        if bullet:
            depth, _ = nesting.push(indent_width(bullet.group("indent")), number)
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
