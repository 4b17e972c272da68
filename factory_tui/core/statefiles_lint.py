"""The protocol's state lint (:func:`lint_state`):

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

from factory_tui.core.statefiles import (
    CHECKBOX,
    ITEM_STATES,
    NON_WORD,
    OWNER,
    PHASE,
    SECTION_TITLES,
    STATE_MARK,
    TICKET,
    LintFinding,
    Memory,
    MemoryItem,
    Plan,
    PlanItem,
    SectionKind,
)

__all__ = ["lint_state", "normalise_text"]

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


_QUOTE_LIMIT = 60
_KEY_WORDS = 64
_KEY_CHARS = 4096
"""Items are matched on their first 64 words (of their first 4 KiB): the index holds every prefix
and run of a key's words, which for a line of a million words would be quadratic."""


def normalise_text(text: str) -> str:
    """Text for matching: lowercase words only, without checkbox, done and owner markers,
    emphasis, links' targets, ticket ids, PR references, dates and punctuation."""
    return " ".join(_words(text))


def _words(text: str) -> tuple[str, ...]:
    text = text.strip()
    checkbox = CHECKBOX.match(text)
    if checkbox:
        text = text[checkbox.end() :]
    text = _LINK.sub(r"\1", text)
    text = OWNER.sub(" ", text)
    dash_done = _DASH_DONE.search(text)
    if dash_done:
        text = text[: dash_done.start()]
    for pattern in (_BOLD_DONE, _PAREN_DONE, TICKET, _PR_REF, _DATE, _TIME):
        text = pattern.sub(" ", text)
    text = _BARE_DONE.sub(" ", text.strip())
    return tuple(NON_WORD.sub(" ", text.lower()).split())


@dataclass(frozen=True, slots=True)
class _Key:
    tickets: frozenset[str]
    phases: frozenset[int]
    texts: tuple[tuple[str, ...], ...]
    """The words of the text before a spaced dash (its name), then of the whole text."""

    @classmethod
    def of(cls, text: str, tickets: Iterable[str], phase: int | None = None) -> _Key:
        text = text[:_KEY_CHARS]
        phases = {int(match.group(1)) for match in PHASE.finditer(text)}
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
    mark = STATE_MARK[state]
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
    box = CHECKBOX.match(text)
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
