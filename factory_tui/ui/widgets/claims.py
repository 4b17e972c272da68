"""Claims: each MEGA as a tree of its phases, standalone tickets alongside, and the evidence of
the highlighted claim below.

Nodes are kept by claim key (``CAB-1290:2``, ``CAB-1321``): an update changes the labels that
changed, adds and removes nodes, and leaves expansion, cursor and scroll alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual import events
from textual._loop import loop_last
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.widgets import Static, Tree
from textual.widgets._tree import _TreeLine
from textual.widgets.tree import TreeNode

from factory_tui.core.fleet import ClaimView, Fleet
from factory_tui.core.locks import LockView

if TYPE_CHECKING:
    from factory_tui.core.launches import LaunchView
    from factory_tui.ui.app import FactoryApp
from factory_tui.ui.widgets.fields import Field, FieldList
from factory_tui.ui.widgets.fleet_view import READING, FleetView, empty_text
from factory_tui.ui.widgets.listkeys import LIST_KEYS
from factory_tui.ui.widgets.quiet import update_if_changed
from factory_tui.ui.widgets.table import FLOOR
from factory_tui.ui.widgets.text import (
    CLAIM_BADGES,
    ago,
    badge,
    lit,
    matches,
    missing_lines,
    short_path,
    styled_text,
)

__all__ = [
    "ClaimDetail",
    "ClaimNode",
    "ClaimTree",
    "ClaimsView",
    "claim_detail",
    "claim_label",
    "mega_group",
]

STANDALONE = "/standalone"
"""The standalone tickets' group key. A group's key has a ``/``, which no claim's key has (a
claim id is a file's name): a ticket named ``standalone`` is not the group."""
MEGA_GROUP = "mega/"
"""A MEGA's group key: this, then the MEGA's id (see :func:`mega_group`)."""
GROUP_DETAIL_MAX = 100
"""A group's detail lists this many of its claims at most (ten thousand standalone tickets
were as many rows, made again at each fleet: the cockpit stopped answering for seconds)."""
BADGE_WIDTH = max(len(word) for word, _style in CLAIM_BADGES.values()) + 1
_AGELESS = frozenset({"available", "blocked", "done"})
"""The states whose label says no age (:func:`claim_label`)."""


@dataclass(frozen=True, slots=True)
class ClaimNode:
    """What a tree node stands for: a group (a MEGA or the standalone tickets) or one claim."""

    key: str
    group: bool
    claim: ClaimView | None = None
    cut: tuple[int, int] | None = None
    """Where the label's title is (start, end): it gives way first when the tree is narrower
    than the label, so the facts after it (owner, pid, what it waits for) stay in view."""
    width: int | None = None
    """The cells of the node's label (None: measured when needed): the tree measures every
    label each time a claim comes or goes (ten thousand: ~0.1 s)."""


def _owner_part(view: ClaimView) -> list[str | tuple[str, str]]:
    unit = view.unit
    if not unit.owner:
        return []
    if view.pid_alive is None:
        return [f"{lit(unit.owner)} on {lit(unit.hostname)}"]
    if unit.pid is None:
        return [f"{lit(unit.owner)} · no pid"]
    alive = ("alive", "$agent-working") if view.pid_alive else ("✗ DEAD", "bold $agent-dead")
    return [f"{lit(unit.owner)} · pid {unit.pid} ", alive]


def _lock_part(locks: Sequence[LockView]) -> list[str | tuple[str, str]]:
    """A lock directory on the claim: a writer at work, or a dead writer's stale lock."""
    if any(lock.stale for lock in locks):
        return [("  🔒 stale lock (its writer died): u to unlock", "bold $warning")]
    if locks:
        return [("  🔒 being written", "$text-muted")]
    return []


def _claim_name(view: ClaimView) -> str:
    unit = view.unit
    if unit.phase is None:
        return f"{lit(unit.claim_id)} {lit(view.title)}"
    return f"phase {unit.phase} {lit(unit.name)}"


def claim_cut(view: ClaimView) -> tuple[int, int]:
    """Where :func:`claim_label` puts the claim's name (after the badge)."""
    return BADGE_WIDTH, BADGE_WIDTH + len(_claim_name(view))


def group_cut(claim_id: str, title: str) -> tuple[int, int]:
    """Where :func:`_group_label` puts the MEGA's title (after its id)."""
    start = len(lit(claim_id)) + 1
    return start, start + len(lit(title))


def fit_label(label: Text, width: int, cut: tuple[int, int] | None = None) -> Text:
    """``label`` in ``width`` cells: as it is when it fits; else the part at ``cut`` (a title)
    is cut with an ellipsis first, down to a few characters, then the end."""
    if width <= 0 or label.cell_len <= width:
        return label
    if cut is not None:
        start, end = cut
        head, middle, tail = label[:start], label[start:end], label[end:]
        room = width - head.cell_len - tail.cell_len
        middle.truncate(max(room, min(FLOOR, middle.cell_len)), overflow="ellipsis")
        label = Text.assemble(head, middle, tail, no_wrap=True, end="")
    if label.cell_len > width:
        label = label.copy()
        label.truncate(width, overflow="ellipsis")
    return label


def _launch_part(launch: LaunchView | None) -> list[str | tuple[str, str]]:
    """An agent launched on the claim that has not claimed it yet (late: a warning)."""
    if launch is None:
        return []
    who = lit(launch.launch.instance or "an agent")
    if launch.state == "late":
        return [(f"  ⚠ launched {who}, not claimed in time", "bold $warning")]
    return [(f"  ▶ launched {who}, not yet claimed", "$accent")]


def claim_label(
    view: ClaimView,
    now_ago: str,
    locks: Sequence[LockView] = (),
    launch: LaunchView | None = None,
) -> Text:
    """One line for a claim: badge, id or phase, name, and the fact that matters for its state."""
    unit = view.unit
    word, style = CLAIM_BADGES.get(view.state, (view.state.upper(), "bold"))
    name = _claim_name(view)
    deps = ""
    if unit.deps:
        deps = " · deps " + ",".join(str(d) for d in unit.deps)
    if view.state == "available" and launch is not None:
        tail: list[str | tuple[str, str]] = [*_launch_part(launch), deps]
    elif view.state == "available":
        tail = [("  ← claimable now", "bold $claim-available"), deps]
    elif view.state == "blocked":
        waits = ", ".join(f"phase {d}" for d in view.unmet_deps)
        tail = [(f"  waits for {waits}", "$claim-blocked")]
    elif view.state == "done":
        tail = [(f"  completed {lit(unit.completed_at)}", "$text-muted")]
    else:
        tail = ["  ", *_owner_part(view), (f" · {now_ago}", "$text-muted")]
        if view.unmet_deps:
            tail.append(("  ⚡ claimed before its deps were done", "$warning"))
    return styled_text((word.ljust(BADGE_WIDTH), style), name, *tail, *_lock_part(locks))


def _group_label(claim_id: str, title: str, units: Sequence[ClaimView]) -> Text:
    done = sum(1 for v in units if v.state == "done")
    parts: list[str | tuple[str, str]] = [
        (lit(claim_id), "bold"),
        " ",
        lit(title),
        (f"  {done}/{len(units)} phases done", "$text-muted"),
    ]
    for state in ("available", "stale", "blocked"):
        n = sum(1 for v in units if v.state == state)
        if n:
            word, style = CLAIM_BADGES[state]
            parts.extend([" · ", (f"{n} {word.split()[-1].lower()}", style)])
    return styled_text(*parts)


def _standalone_label(units: Sequence[ClaimView]) -> Text:
    parts: list[str | tuple[str, str]] = [
        ("Standalone tickets", "bold"),
        (f"  {len(units)}", "$text-muted"),
    ]
    for state in ("available", "stale"):
        n = sum(1 for v in units if v.state == state)
        if n:
            word, style = CLAIM_BADGES[state]
            parts.extend([" · ", (f"{n} {word.split()[-1].lower()}", style)])
    return styled_text(*parts)


def mega_group(claim_id: str) -> str:
    """The tree group key of the MEGA ``claim_id``."""
    return MEGA_GROUP + claim_id


def _group_key(view: ClaimView) -> str:
    """The key of the tree group ``view`` is drawn in."""
    return mega_group(view.unit.claim_id) if view.kind == "mega" else STANDALONE


@dataclass(slots=True)
class _Drawn:
    """A fleet's claims as the tree draws them all: enough to redraw only what changes."""

    claims: tuple[ClaimView, ...]
    locks: tuple[LockView, ...]
    launches: tuple[LaunchView, ...]
    locks_by_key: dict[str, list[LockView]]
    members: dict[str, list[int]]
    """Each group's claims, by their places in :attr:`claims`."""
    aged: set[int]
    """The places of the claims whose label shows an age (it moves with the clock)."""

    @classmethod
    def of(cls, fleet: Fleet, locks: dict[str, list[LockView]]) -> _Drawn | None:
        """What the tree draws of ``fleet``; None when two claims have one key (a ticket's
        file named as a MEGA's phase, ``CAB-1290:2.json``): one node shows them, and only a
        whole redraw says which."""
        if len({view.key for view in fleet.claims}) != len(fleet.claims):
            return None
        members: dict[str, list[int]] = {}
        aged: set[int] = set()
        for n, view in enumerate(fleet.claims):
            members.setdefault(_group_key(view), []).append(n)
            if view.state not in _AGELESS:
                aged.add(n)
        return cls(fleet.claims, fleet.locks, fleet.launches, locks, members, aged)

    def moved_on(self, fleet: Fleet, changed: list[int]) -> None:
        """``fleet`` is drawn now; the claims at ``changed`` are new objects (the same keys)."""
        self.claims = fleet.claims
        for n in changed:
            if fleet.claims[n].state in _AGELESS:
                self.aged.discard(n)
            else:
                self.aged.add(n)


def _megas(drawn: _Drawn) -> list[str]:
    """The MEGAs' groups in the order the tree shows them."""
    return [key for key in drawn.members if key != STANDALONE]


Group = tuple[ClaimNode, Text, list[tuple[Text, ClaimNode]]]
"""A group's node data, its label, and its claims (each one's label and node data)."""


class ClaimTree(Tree[ClaimNode]):
    """The claims as a tree; labels are literal text (a title never parses as markup)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details / fold", id="claims.select"),
        *LIST_KEYS,
    ]

    DEFAULT_CSS = """
    ClaimTree {
        height: 1fr;
        background: $surface;
    }
    """

    _laid_out_width = 0
    """The tree's width when last resized (0: not laid out yet)."""
    _rooms = (0, 0)
    """The room a group's label has then, and a claim's (see :meth:`get_label_width`)."""

    def __init__(self, *, id: str | None = None) -> None:
        self._kept_lines: dict[int, _TreeLine[ClaimNode]] = {}
        """The lines of the last build, by node id (see :meth:`_build`): before Textual's
        ``__init__``, which builds them."""
        super().__init__(Text("claims"), id=id)
        self.show_root = False
        self.guide_depth = 3
        self.nodes_by_key: dict[str, TreeNode[ClaimNode]] = {}
        self.filter_text = ""
        self._labels: dict[str, tuple[ClaimView, object, Text, ClaimNode]] = {}
        self._groups: dict[str, tuple[object, ClaimNode, Text]] = {}
        self._drawn: _Drawn | None = None
        """What the tree shows when it shows every claim (no filter) of a fleet drawn whole."""

    def action_first(self, key: str = "") -> None:
        self.action_scroll_home()

    def action_last(self) -> None:
        self.action_scroll_end()

    def render_label(self, node: TreeNode[ClaimNode], base_style: Style, style: Style) -> Text:
        """The label, cut with an ellipsis to the tree's width (its title first): a long title
        never runs off the edge; the detail below has it whole."""
        text = super().render_label(node, base_style, style)
        data = node.data
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth, parent = depth + 1, parent.parent
        # A vertical scrollbar's room always kept, as in the tables: claims that come or go
        # never change where labels are cut.
        # (A scroll view's size includes its scrollbars.)
        room = self.size.width - self.styles.scrollbar_size_vertical - depth * self.guide_depth
        if not self.size.width or room <= 0:
            return text
        label = node.label
        # The fold icon before a group's label.
        icon = len(text) - (len(label) if isinstance(label, Text) else len(Text(label)))
        cut = data.cut if data is not None else None
        if cut is not None:
            cut = (cut[0] + icon, cut[1] + icon)
        return fit_label(text, room, cut)

    def get_label_width(self, node: TreeNode[ClaimNode]) -> int:
        """At most the room :meth:`render_label` cuts a label to, found without rendering it:
        the tree sizes itself from every label's width (rendering 42,000 of them was 2.9 of the
        3.1 s a 10x factory's Claims view took to show). Wider than the label at times: the
        tree's scrollable width is then its own, which it is anyway."""
        width = self._laid_out_width
        label = node.label
        data = node.data
        if data is not None and data.width is not None:
            whole = 2 + data.width  # and its icon
        else:
            whole = 2 + (label.cell_len if isinstance(label, Text) else len(label))
        if not width:
            return whole  # not laid out yet: nothing is cut, nor shown
        if data is not None:
            # A group is on the first level, a claim under its group; the rooms are worked
            # out once a resize (a style and a reactive read a label, for every label each
            # time a claim comes: a third of the tree's rebuild).
            room = self._rooms[0 if data.group else 1]
            return min(room, whole) if room > 0 else whole
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth, parent = depth + 1, parent.parent
        room = width - self.styles.scrollbar_size_vertical - depth * self.guide_depth
        return min(room, whole) if room > 0 else whole

    def _build(self) -> None:
        """Textual's :meth:`Tree._build` (the lines shown, each node's line number, the
        tree's size), with the line of a node whose place (its path and whether it is its
        group's last) did not change kept from the last build, not made again. A claim that
        came made all 13,000 lines of a 10x factory's tree anew, with their paths: ~30,000
        objects a change, and a full pass of the cyclic collector (~70 ms) every other one."""
        lines: list[_TreeLine[ClaimNode]] = []
        kept = self._kept_lines
        made: dict[int, _TreeLine[ClaimNode]] = {}
        add_line = lines.append

        def add_node(
            path: list[TreeNode[ClaimNode]], node: TreeNode[ClaimNode], last: bool
        ) -> None:
            line = kept.get(node._id)
            if (
                line is None
                or line.last is not last
                or line.path[-1] is not node
                or line.path[:-1] != path  # the same nodes (a node equals only itself)
            ):
                line = _TreeLine([*path, node], last)
            made[node._id] = line
            node._line = len(lines)
            add_line(line)
            if node._expanded:
                for child_last, child in loop_last(node._children):
                    add_node(line.path, child, child_last)

        if self.show_root:
            add_node([], self.root, True)
        else:
            for node in self.root._children:
                add_node([], node, True)
        self._tree_lines_cached = lines
        self._kept_lines = made

        guide_depth = self.guide_depth
        show_root = self.show_root
        get_label_width = self.get_label_width
        if lines:
            width = max(
                get_label_width(line.node) + line._get_guide_width(guide_depth, show_root)
                for line in lines
            )
        else:
            width = self.size.width
        self.virtual_size = Size(width, len(lines))
        if self.cursor_line != -1:
            if self.cursor_node is not None:
                self.cursor_line = self.cursor_node._line
            if self.cursor_line >= len(lines):
                self.cursor_line = -1

    def on_resize(self, event: events.Resize) -> None:
        width = self._laid_out_width = event.size.width
        scrollbar = self.styles.scrollbar_size_vertical
        self._rooms = (width - scrollbar, width - scrollbar - self.guide_depth)

    def process_label(self, label: str | Text) -> Text:
        if isinstance(label, str):
            label = Text(label)
        return label.split()[0] if "\n" in label.plain else label

    def _desired(self, fleet: Fleet, locks: Mapping[str, Sequence[LockView]]) -> list[Group]:
        now = fleet.generated_at
        needle = self.filter_text
        groups: dict[str, list[ClaimView]] = {}
        titles: dict[str, str] = {}
        standalone: list[ClaimView] = []
        for view in fleet.claims:
            unit = view.unit
            if needle and not matches(
                needle,
                view.key,
                view.title,
                unit.name,
                unit.owner,
                view.state,
                unit.branch,
                " ".join(unit.tickets),
            ):
                continue
            if view.kind == "mega":
                groups.setdefault(unit.claim_id, []).append(view)
                titles[unit.claim_id] = view.title
            else:
                standalone.append(view)
        launches = {launch.key: launch for launch in reversed(fleet.launches)}
        label = self._label
        self._drawn = None  # made again below, once the tree shows this fleet
        out: list[Group] = []
        for claim_id, units in groups.items():
            out.append(
                (
                    *self._group(claim_id, titles[claim_id], units),
                    [label(v, now, locks, launches) for v in units],
                )
            )
        if standalone:
            out.append(
                (
                    ClaimNode(STANDALONE, True),
                    _standalone_label(standalone),
                    [label(v, now, locks, launches) for v in standalone],
                )
            )
        return out

    def show_fleet(self, fleet: Fleet) -> None:
        """Update nodes by key: relabel what changed, add what is new, drop what is gone."""
        if self._show_changes(fleet):
            return
        keep_cursor = self.cursor_node
        # Each claim's locks found once a fleet, not by a scan of them all for each claim
        # (10,000 claims: most of a redraw).
        locks: dict[str, list[LockView]] = {}
        for lock in fleet.locks:
            locks.setdefault(lock.key, []).append(lock)
        desired = self._desired(fleet, locks)
        wanted: set[str] = set()
        for group_data, _label, units in desired:
            wanted.add(group_data.key)
            wanted.update(data.key for _l, data in units)
        for key in [k for k in self.nodes_by_key if k not in wanted]:
            gone = self.nodes_by_key.pop(key)
            if gone.id in self._tree_nodes:
                gone.remove()
        for index, (group_data, label, units) in enumerate(desired):
            group = self.nodes_by_key.get(group_data.key)
            if group is None:
                group = self.root.add(label, group_data, before=index, expand=True)
                self.nodes_by_key[group_data.key] = group
            else:
                self._relabel(group, label, group_data)
            for position, (unit_label, data) in enumerate(units):
                key = data.key
                node = self.nodes_by_key.get(key)
                if node is not None and node.parent is not group:
                    node.remove()
                    del self.nodes_by_key[key]
                    node = None
                if node is None:
                    self.nodes_by_key[key] = group.add_leaf(unit_label, data, before=position)
                else:
                    self._relabel(node, unit_label, data)
        self._keep_cursor_on(keep_cursor)
        if not self.filter_text:
            self._drawn = _Drawn.of(fleet, locks)
            # What is kept of the claims and MEGAs that are gone is let go.
            for key in self._labels.keys() - wanted:
                del self._labels[key]
            for claim_id in [c for c in self._groups if mega_group(c) not in wanted]:
                del self._groups[claim_id]

    def _show_changes(self, fleet: Fleet) -> bool:
        """Show ``fleet`` by relabelling only the claims that are new objects since the fleet
        drawn last (a re-derive keeps the views it did not touch), the held ones (their age
        moves) and the groups of those that changed; False (nothing done) when only a full
        redraw can show it: claims came, went or moved, a filter is typed, locks or launches
        changed. Ten thousand claims: a redraw of them all took ~0.15 s at each change."""
        drawn = self._drawn
        if (
            drawn is None
            or self.filter_text
            or fleet.locks != drawn.locks
            or fleet.launches != drawn.launches
        ):
            return False
        if len(fleet.claims) > len(drawn.claims):
            return self._show_added(fleet, drawn)
        if len(fleet.claims) != len(drawn.claims):
            return False
        new = fleet.claims
        pairs = enumerate(zip(drawn.claims, new, strict=True))
        changed = [n for n, (was, view) in pairs if was is not view]
        groups: set[str] = set()
        for n in changed:
            was, view = drawn.claims[n], new[n]
            group = _group_key(view)
            if was.key != view.key or _group_key(was) != group:
                return False
            groups.add(group)
        now = fleet.generated_at
        launches = {launch.key: launch for launch in reversed(fleet.launches)}
        for n in sorted({*changed, *drawn.aged}):
            view = new[n]
            node = self.nodes_by_key.get(view.key)
            if node is None:
                return False  # not drawn (cannot be, unfiltered): draw all
            label, data = self._label(view, now, drawn.locks_by_key, launches)
            self._relabel(node, label, data)
        if not self._relabel_groups(groups, new, drawn.members):
            return False
        drawn.moved_on(fleet, changed)
        return True

    def _show_added(self, fleet: Fleet, drawn: _Drawn) -> bool:
        """:meth:`_show_changes` when claims only came (a new claim file: its views inserted
        into their groups, the rest as when claims changed in place); False when only a full
        redraw can show it: a claim went or moved, or a new one opens a group. A new claim
        file in a tree of ten thousand redrew them all (~0.2 s)."""
        old, new = drawn.claims, fleet.claims
        added: list[int] = []
        changed: list[int] = []
        kept = 0
        for n, view in enumerate(new):
            if kept < len(old) and old[kept].key == view.key:
                if old[kept] is not view:
                    if _group_key(old[kept]) != _group_key(view):
                        return False
                    changed.append(n)
                kept += 1
            else:
                added.append(n)
        if kept != len(old) or any(new[n].key in self.nodes_by_key for n in added):
            return False
        again = _Drawn.of(fleet, drawn.locks_by_key)
        groups = {_group_key(new[n]) for n in (*added, *changed)}
        if (
            again is None
            or any(key not in self.nodes_by_key for key in groups)
            or _megas(again) != _megas(drawn)  # their order (the standalone group comes last)
        ):
            return False
        keep_cursor = self.cursor_node
        now = fleet.generated_at
        launches = {launch.key: launch for launch in reversed(fleet.launches)}
        for n in added:  # in order: the claims before each one in its group are in the tree
            view = new[n]
            group = _group_key(view)
            label, data = self._label(view, now, again.locks_by_key, launches)
            place = again.members[group].index(n)
            self.nodes_by_key[view.key] = self.nodes_by_key[group].add_leaf(
                label, data, before=place
            )
        for n in sorted({*changed, *again.aged}.difference(added)):
            view = new[n]
            node = self.nodes_by_key[view.key]
            self._relabel(node, *self._label(view, now, again.locks_by_key, launches))
        self._relabel_groups(groups, new, again.members)
        self._drawn = again
        self._keep_cursor_on(keep_cursor)
        return True

    def _relabel_groups(
        self, groups: set[str], claims: Sequence[ClaimView], members: dict[str, list[int]]
    ) -> bool:
        """Relabel these groups from their claims (False: one is not drawn)."""
        for key in groups:
            node = self.nodes_by_key.get(key)
            if node is None:
                return False
            units = [claims[n] for n in members[key]]
            if key == STANDALONE:
                self._relabel(node, _standalone_label(units), ClaimNode(STANDALONE, True))
                continue
            data, label = self._group(units[0].unit.claim_id, units[-1].title, units)
            self._relabel(node, label, data)
        return True

    def _keep_cursor_on(self, node: TreeNode[ClaimNode] | None) -> None:
        """The cursor back on the claim it was on (nodes came or went above it)."""
        if node is None or node.data is None:
            return
        again = self.nodes_by_key.get(node.data.key)
        if again is not None and self.last_line >= 0 and 0 <= again.line != self.cursor_line:
            self.cursor_line = again.line  # always_update: setting it unchanged re-lays out

    def _label(
        self,
        view: ClaimView,
        now: datetime,
        locks: Mapping[str, Sequence[LockView]],
        launches: Mapping[str, LaunchView],
    ) -> tuple[Text, ClaimNode]:
        """The claim's label and node data, made again only when the claim, its shown age, its
        locks or its launch changed (ten thousand claims re-derived every few seconds must cost
        next to nothing: a claim the derive did not touch is the same object)."""
        key = view.key
        on = locks.get(key, ())
        launch = launches.get(key)
        # The age is shown only while the claim is held.
        age = "" if view.state in _AGELESS else ago(now, view.unit.claimed_at)
        note = (
            age,
            tuple(lock.stale for lock in on) if on else (),
            (launch.launch.instance, launch.state) if launch is not None else None,
        )
        cached = self._labels.get(key)
        if cached is not None and (cached[0] is view or cached[0] == view) and cached[1] == note:
            return cached[2], cached[3]
        label = claim_label(view, age, on, launch)
        made = label, ClaimNode(key, False, view, claim_cut(view), label.cell_len)
        self._labels[key] = (view, note, *made)
        return made

    def _group(
        self, claim_id: str, title: str, units: Sequence[ClaimView]
    ) -> tuple[ClaimNode, Text]:
        """A MEGA's node data and label, made again only when its title or a phase's state
        changed (a thousand MEGAs: their labels were a third of a redraw)."""
        note = (title, tuple(view.state for view in units))
        cached = self._groups.get(claim_id)
        if cached is not None and cached[0] == note:
            return cached[1], cached[2]
        data = ClaimNode(mega_group(claim_id), True, cut=group_cut(claim_id, title))
        label = _group_label(claim_id, title, units)
        self._groups[claim_id] = (note, data, label)
        return data, label

    def restyle(self) -> None:
        """Labels carry resolved colours: forget them after a theme change."""
        self._labels.clear()
        self._groups.clear()
        self._drawn = None

    @staticmethod
    def _relabel(node: TreeNode[ClaimNode], label: Text, data: ClaimNode) -> None:
        node.data = data
        current = node.label
        if current is label:
            return
        if not isinstance(current, Text) or current != label or current.spans != label.spans:
            node.set_label(label)
        else:
            node._label = label  # same text and styles: keep the object for the next identity check

    def select_key(self, key: str) -> bool:
        """Move the cursor to the claim ``key`` (expanding its group)."""
        node = self.nodes_by_key.get(key)
        if node is None:
            return False
        if node.parent is not None:
            node.parent.expand()
        _ = self.last_line
        self.move_cursor(node)
        return True


def claim_detail(
    view: ClaimView,
    now_ago: str,
    root: str = "",
    locks: Sequence[LockView] = (),
    launch: LaunchView | None = None,
) -> list[Field]:
    """Everything the claim file and the verdict say about one claim."""
    unit = view.unit
    name = lit(view.title) if unit.phase is None else f"{lit(view.title)} / {lit(unit.name)}"
    fields: list[Field] = [
        (
            "",
            Content.assemble(
                badge(CLAIM_BADGES, view.state), "  ", (lit(view.key), "bold"), "  ", name
            ),
        ),
        ("why", Content(lit(view.why))),
    ]
    for cond in view.conditions:
        mark = ("✓ holds  ", "bold $claim-stale") if cond.holds else ("✗ fails  ", "$text-muted")
        fields.append((f"rule {cond.name}", Content.assemble(mark, lit(cond.detail))))
    facts = [
        ("owner", lit(unit.owner) or "—"),
        ("pid", "—" if unit.pid is None else str(unit.pid)),
        ("host", lit(unit.hostname) or "—"),
        ("claimed", f"{lit(unit.claimed_at)} ({now_ago})" if unit.claimed_at else "—"),
        ("branch", lit(unit.branch) or "—"),
        ("mode", lit(unit.mode) or "—"),
        ("tickets", ", ".join(lit(t) for t in unit.tickets) or "—"),
        ("deps", ", ".join(str(d) for d in unit.deps) or "none"),
        ("file", short_path(view.file, root)),
    ]
    fields.extend((label, Content(value)) for label, value in facts)
    if launch is not None:
        style = "bold $warning" if launch.state == "late" else "$accent"
        fields.append(("launch", Content.styled(lit(launch.why), style)))
    for lock in locks:
        text = lock.describe()
        if lock.stale:
            fields.append(
                ("lock", Content.assemble((text, "bold $warning"), " — ", unlock_hint(lock)))
            )
        else:
            fields.append(("lock", Content(text)))
    return fields


def unlock_hint(lock: LockView) -> str:
    return f"break it: factory-tui unlock {lit(lock.name)}"


def group_detail(fleet: Fleet, key: str) -> list[Field]:
    """A MEGA (or the standalone tickets): each phase's state in one line."""
    muted = "$text-muted"
    if key == STANDALONE:
        units = [v for v in fleet.claims if v.kind == "standalone"]
        head = Content.assemble(("Standalone tickets", "bold"), (f"  {len(units)} claims", muted))
    else:
        claim_id = key.removeprefix(MEGA_GROUP)
        units = [v for v in fleet.claims if v.kind == "mega" and v.unit.claim_id == claim_id]
        title = units[0].title if units else ""
        file = short_path(units[0].file, fleet.root) if units else ""
        head = Content.assemble(
            (lit(claim_id), "bold"), " ", lit(title), (f"  {len(units)} phases · {file}", muted)
        )
    fields: list[Field] = [("", head)]
    for view in units[:GROUP_DETAIL_MAX]:
        name = f"phase {view.unit.phase}" if view.unit.phase is not None else lit(view.key)
        fields.append(
            (
                name,
                Content.assemble(badge(CLAIM_BADGES, view.state, width=BADGE_WIDTH), lit(view.why)),
            )
        )
    if len(units) > GROUP_DETAIL_MAX:
        more = len(units) - GROUP_DETAIL_MAX
        fields.append(("", Content.styled(f"… and {more:,} more: / filters the tree", muted)))
    return fields


class ClaimDetail(FieldList):
    DEFAULT_CSS = """
    ClaimDetail {
        height: 40%;
        min-height: 4;
        max-height: 16;
        border-top: solid $panel-lighten-2;
    }
    """

    def on_mount(self) -> None:
        self.show([("", Content.styled("Highlight a claim to see its evidence.", "$text-muted"))])


class ClaimsView(FleetView):
    """The claim tree and the evidence of the highlighted claim; ``L`` launches an agent on the
    highlighted available phase or ticket."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("L", "launch", "Launch agent", id="claims.launch"),
    ]

    DEFAULT_CSS = """
    ClaimsView { height: 1fr; }
    ClaimsView > #claims-empty { color: $text-muted; padding: 1 2; height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Content(READING), id="claims-empty")
        yield ClaimTree(id="claim-tree")
        yield ClaimDetail(id="claim-detail")

    @property
    def claim_tree(self) -> ClaimTree:
        return self.query_one(ClaimTree)

    def set_filter(self, text: str) -> None:
        self.claim_tree.filter_text = text
        super().set_filter(text)

    def show_fleet(self, fleet: Fleet, *, loaded: bool = True) -> None:
        self._fleet, self._loaded = fleet, loaded
        tree = self.claim_tree
        tree.show_fleet(fleet)
        empty = self.query_one("#claims-empty", Static)
        update_if_changed(
            empty,
            empty_text(
                loaded=loaded,
                found=bool(fleet.claims),
                noun="claim",
                filter_text=tree.filter_text,
                missing=missing_lines(fleet.missing, "claims"),
                missing_intro="No claim files: ",
                nothing="No claim files. Agents write them to the claims folder "
                "(.claude/claims/*.json by default).",
            ),
        )
        empty.display = not tree.nodes_by_key
        if tree.cursor_line < 0 and tree.nodes_by_key:
            tree.cursor_line = 0
        self._show_detail()

    def _show_detail(self) -> None:
        node = self.claim_tree.cursor_node
        detail = self.query_one(ClaimDetail)
        if node is None or node.data is None or self._fleet is None:
            return
        view = node.data.claim
        if view is None:
            detail.show(group_detail(self._fleet, node.data.key))
            return
        fleet = self._fleet
        detail.show(
            claim_detail(
                view,
                ago(fleet.generated_at, view.unit.claimed_at),
                fleet.root,
                fleet.locks_of(view.key),
                fleet.launch_of(view.key),
            )
        )

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[ClaimNode]) -> None:
        event.stop()
        self._show_detail()
        self.refresh_bindings()

    # -- launching an agent on free work (issue 13) --------------------------------------------

    def _highlighted(self) -> ClaimView | None:
        node = self.claim_tree.cursor_node
        return node.data.claim if node is not None and node.data is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "launch":
            view = self._highlighted()
            return view is not None and view.state == "available"
        return True

    def action_launch(self) -> None:
        """``L`` on an available phase or ticket: what will be created and started, a
        confirmation, then the launch (:mod:`factory_tui.ui.flows.launch`)."""
        from factory_tui.ui.flows.launch import launch_flow

        app = cast("FactoryApp", self.app)
        view = self._highlighted()
        if view is None or view.state != "available":
            self.notify("Highlight an available phase or ticket to launch an agent on it.")
            return
        if app.config.read_only:
            self.notify(
                "Read-only mode: launching an agent is disabled (--read-only).",
                severity="warning",
                markup=False,
            )
            return
        flow = launch_flow(app, view.key)
        app.run_worker(flow, name="launch", group="flows", exit_on_error=False)

    def restyle(self) -> None:
        """Re-draw labels after a theme change (their colours are resolved when built)."""
        self.claim_tree.restyle()
        super().restyle()
