"""The approval queue: Ask PRs waiting (oldest first), PRs in flight, Show PRs to review after
the fact, and the record of what merged; the highlighted PR in full below.

Rows are keyed by the PR's review key (``github:#373``, ``local:feat/x``), so a reloaded queue
updates cells in place and keeps the cursor. Titles, branches, reasons and notices are agent or
tool text: made printable and put into ``Text``/``Content`` as plain characters, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from factory_tui.core.fleet import fmt_age
from factory_tui.core.modes_dod import DodItem
from factory_tui.core.prs_queue import PrView, Queue
from factory_tui.ui.widgets.fields import Field, FieldList
from factory_tui.ui.widgets.table import Fit, KeyedTable
from factory_tui.ui.widgets.text import clip, lit, matches, short_path, styled_text

__all__ = [
    "PrTable",
    "PrsView",
    "Section",
    "ask_count_text",
    "ci_cell",
    "dod_summary",
    "pr_detail",
    "queue_rows",
]

Section = Literal["ask", "open", "show", "record"]

COLUMNS = (
    ("queue", "queue"),
    ("PR", "pr"),
    ("title", "title"),
    ("CI", "ci"),
    ("size", "size"),
    ("age", "age"),
    ("mode: why", "mode"),
    ("DoD", "dod"),
    ("task · instance", "task"),
)
TITLE_WIDTH = 72
KEY_WIDTH = 26
REASON_WIDTH = 60
WHERE_WIDTH = 40
#: The columns' widths (see :class:`Fit`): the short ones fixed, the long ones sharing the rest of
#: the width; a refresh never changes them, only the terminal's width does. The widest cell
#: of each fixed column fits (``✓ REVIEWED``, ``… running``, ``1234 ✂ MUST SPLIT``).
FITS = (
    Fit(10),
    Fit(8, 3, KEY_WIDTH, floor=8),
    Fit(20, 4, TITLE_WIDTH),
    Fit(9),
    Fit(16),
    Fit(12),
    Fit(10, 2, REASON_WIDTH),
    Fit(8, 1, 24),
    Fit(10, 2, WHERE_WIDTH),
)
#: Below this width the table leaves out "task · instance" and "mode: why", below
#: ``NO_DOD_BELOW`` the DoD too (the detail under the table has all three); the columns left
#: take narrower fits (``NARROW_FITS``), so that 80 columns hold the queue, the PR, its title, CI,
#: size and age without scrolling sideways.
ALL_COLUMNS_FROM = 130
NO_DOD_BELOW = 100
NARROW_FITS = (
    Fit(10),
    Fit(12, 3, KEY_WIDTH, floor=10),
    Fit(16, 4, TITLE_WIDTH, floor=10),
    Fit(9),
    Fit(11),
    Fit(8),
    None,
    Fit(8, 1, 24),
    None,
)
_DOD_SHORT = {
    "PR exists": "PR",
    "CI green": "CI",
    "session logged": "session",
    "tests changed": "tests",
    "state files updated": "state",
}
_CI = {
    "green": ("✓ green", "$success"),
    "red": ("✗ RED", "bold reverse $error"),
    "pending": ("… running", "bold $warning"),
    "none": ("— none", "$text-muted"),
}


def queue_rows(queue: Queue) -> list[tuple[Section, PrView]]:
    """Every PR once, in the order the engineer needs them: Ask waiting (oldest first), the
    others open (oldest first), Show PRs merged (to review first, oldest first; reviewed after,
    newest first), then the record of the rest merged (newest first)."""
    rows: list[tuple[Section, PrView]] = [("ask", v) for v in queue.ask]
    rows += [("open", v) for v in queue.in_flight]
    shows = [v for v in queue.merged if v.queue == "show"]
    waiting = {v.review_key for v in queue.show}
    rows += [("show", v) for v in queue.show]
    rows += [("show", v) for v in shows if v.review_key not in waiting]
    rows += [("record", v) for v in queue.merged if v.queue != "show"]
    seen: set[str] = set()
    unique: list[tuple[Section, PrView]] = []
    for section, view in rows:
        if view.review_key not in seen:
            seen.add(view.review_key)
            unique.append((section, view))
    return unique


def badge_of(section: Section, view: PrView) -> tuple[str, str]:
    """The queue badge: words (readable without colour) and a style."""
    if section == "ask":
        return "? ASK", "bold reverse $warning"
    if section == "open":
        if view.pr.draft:
            return "◷ DRAFT", "$text-muted"
        if view.pr.changes_requested:
            return "↺ CHANGES", "$accent"
        return f"◷ {view.mode.mode.upper()}", "$text-muted"
    if section == "show":
        if view.reviewed:
            return "✓ REVIEWED", "$text-muted"
        return "◐ SHOW", "bold $accent"
    return ("· SHIP" if view.queue == "ship" else "■ MERGED"), "$text-muted"


def ci_cell(view: PrView) -> tuple[str, str]:
    return _CI.get(view.ci, (view.ci, ""))


def dod_summary(items: Sequence[DodItem]) -> tuple[str, str]:
    """``5/5 ✓``, or ``3/5 ✗ PR, tests ? CI``: how many hold, what fails, what is unknown."""
    ok = sum(1 for item in items if item.ok is True)
    failing = [_DOD_SHORT.get(i.name, i.name) for i in items if i.ok is False]
    unknown = [_DOD_SHORT.get(i.name, i.name) for i in items if i.ok is None]
    text = f"{ok}/{len(items)}"
    if not failing and not unknown:
        return text + " ✓", "$success"
    if failing:
        text += " ✗ " + ", ".join(failing)
    if unknown:
        text += " ? " + ", ".join(unknown)
    return text, "$warning" if failing else "$text-muted"


def _size(view: PrView) -> tuple[str, str]:
    if view.size == "must split":
        return f"{view.changed_lines} ✂ MUST SPLIT", "bold $warning"
    return f"{view.changed_lines} {view.size}", ""


def _where(view: PrView) -> str:
    task, instance = lit(view.link.task), lit(view.link.instance)
    if task and instance:
        return f"{task} · {instance}"
    return task or instance or "—"


def _row(section: Section, view: PrView, new: bool) -> list[Text]:
    age = fmt_age(view.age) if view.age is not None else "—"
    return [
        styled_text(badge_of(section, view)),
        styled_text(clip(lit(view.key), KEY_WIDTH)),
        styled_text(clip(lit(view.pr.title), TITLE_WIDTH)),
        styled_text(ci_cell(view)),
        styled_text(_size(view)),
        styled_text(age, *([(" ● new", "bold $accent")] if new else [])),
        styled_text(clip(lit(view.mode.reason), REASON_WIDTH)),
        styled_text(dod_summary(view.dod)),
        styled_text(clip(_where(view), WHERE_WIDTH)),
    ]


def _mark(ok: bool | None) -> tuple[str, str]:
    if ok is True:
        return "✓", "bold $success"
    if ok is False:
        return "✗", "bold $error"
    return "?", "$text-muted"


def pr_detail(section: Section, view: PrView, root: str, *, new: bool = False) -> list[Field]:
    """The highlighted PR as the engineer needs it to decide."""
    pr, link, muted = view.pr, view.link, "$text-muted"
    word, style = badge_of(section, view)
    fields: list[Field] = [
        (
            "",
            Content.assemble(
                (word, style),
                "  ",
                (lit(view.key), "bold"),
                "  ",
                lit(pr.title) or "(no title)",
                ("  ● new since you last looked" if new else "", "bold $accent"),
            ),
        ),
        (
            "mode",
            Content.assemble(
                (view.mode.mode.capitalize(), "bold"),
                ("  from a label: " if view.mode.source == "label" else "  ", muted),
                lit(view.mode.reason),
            ),
        ),
    ]
    ci_word, ci_style = ci_cell(view)
    fields.append(("CI", Content.assemble((ci_word, ci_style), "  ", lit(view.ci_detail))))
    for check in pr.checks[:8]:
        fields.append(("", Content.assemble(("  · ", muted), lit(check.name), f"  {check.bucket}")))
    size_word, size_style = _size(view)
    fields.append(
        (
            "size",
            Content.assemble(
                (size_word, size_style),
                (f"  (+{pr.additions} −{pr.deletions}"
                 + (f" in {len(pr.files)} file{'s' if len(pr.files) != 1 else ''}"
                    if pr.files is not None else "")
                 + ")", muted),
            ),
        )
    )  # fmt: skip
    if view.size == "must split":
        fields.append(
            ("", Content.styled("over 300 changed lines: it should be split", "$warning"))
        )
    when = "merged" if pr.state == "merged" else "opened"
    age = fmt_age(view.age) + " ago" if view.age is not None else "at an unknown time"
    fields.append(("age", Content(f"{when} {age}")))
    fields.append(("task", Content(lit(link.task) or "—")))
    fields.append(("instance", Content(lit(link.instance) or "—")))
    if link.claim:
        fields.append(("claim", Content(lit(link.claim))))
    branch = lit(view.branch)
    if branch:
        fields.append(("branch", Content(branch)))
    if link.evidence:
        fields.append(("linked by", Content.styled(lit(link.evidence), muted)))
    fields.append(("", Content.styled("Definition of Done", "bold $accent")))
    for item in view.dod:
        fields.append(
            (
                "",
                Content.assemble(
                    _mark(item.ok), " ", (item.name, "bold"), ("  ", muted), lit(item.detail)
                ),
            )
        )
    if pr.draft:
        fields.append(("state", Content.styled("a draft: the agent marks it ready", muted)))
    if pr.changes_requested:
        fields.append(("state", Content.styled("changes requested: the agent's turn", "$accent")))
    if section == "show":
        fields.append(
            (
                "review",
                Content.styled("reviewed ✓", "$success")
                if view.reviewed
                else Content.styled("not reviewed yet: v marks it reviewed", "bold $accent"),
            )
        )
    if pr.worktree:
        dirty = (
            f"  ({len(pr.worktree_dirty)} uncommitted change"
            f"{'s' if len(pr.worktree_dirty) != 1 else ''})"
            if pr.worktree_dirty
            else ""
        )
        fields.append(
            ("worktree", Content.assemble(short_path(pr.worktree, root), (dirty, "$warning")))
        )
    if pr.url:
        fields.append(("url", Content(lit(pr.url))))
    if pr.files:
        shown = ", ".join(lit(f.path) for f in pr.files[:6])
        more = f" and {len(pr.files) - 6} more" if len(pr.files) > 6 else ""
        fields.append(("files", Content(shown + more)))
    return fields


def ask_count_text(queue: Queue | None) -> str:
    """``3 Ask waiting`` (for the tab and tests)."""
    return "… Ask waiting" if queue is None else f"{queue.ask_waiting} Ask waiting"


class PrTable(KeyedTable):
    """The PRs; enter opens the highlighted one's diff. Column widths follow the table's width
    only (``FITS``): a refresh never moves a column."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Diff", id="prs.diff"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, id=id, fits=FITS)

    def fits_for(self, width: int) -> Sequence[Fit | None]:
        """Every column from ``ALL_COLUMNS_FROM`` cells; narrower, the most useful to decide
        on a PR (see ``NARROW_FITS``)."""
        if width >= ALL_COLUMNS_FROM:
            return FITS
        if width >= NO_DOD_BELOW:
            return NARROW_FITS
        return tuple(
            None if label == "DoD" else fit
            for (label, _k), fit in zip(COLUMNS, NARROW_FITS, strict=True)
        )


class PrsView(Vertical):
    """The queue; ``a`` / ``c`` / ``v`` are the app's actions on the highlighted PR (shown in
    the footer only where they apply: the app's ``check_action`` decides)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "screen.approve_pr", "Approve", id="prs.approve"),
        Binding("c", "screen.request_changes", "Request changes", id="prs.request-changes"),
        Binding("v", "screen.mark_reviewed", "Mark reviewed", id="prs.mark-reviewed"),
        # Where v does not apply it says why (issue 12).
        Binding("v", "screen.why_not_reviewed", "Mark reviewed", show=False, id="prs.why-not-v"),
    ]

    DEFAULT_CSS = """
    PrsView { height: 1fr; }
    PrsView > #prs-summary { height: auto; padding: 0 1; }
    PrsView > #prs-notices { height: auto; padding: 0 1; color: $warning; }
    PrsView > #prs-empty { color: $text-muted; padding: 1 2; height: auto; }
    PrsView > #pr-detail {
        height: 45%;
        min-height: 4;
        max-height: 22;
        border-top: solid $panel-lighten-2;
    }
    """

    class Selected(Message):
        """enter (or a double click) on a PR: open its diff."""

        def __init__(self, view: PrView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, *, root: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.root = root
        self.queue: Queue | None = None
        self.error: str | None = None
        self.enabled = True
        self.filter_text = ""
        self._by_key: dict[str, tuple[Section, PrView]] = {}
        self._cells: dict[str, tuple[Section, PrView, bool, list[Text]]] = {}
        self._sticky_new: set[str] = set()

    def compose(self) -> ComposeResult:
        # Hidden from the start (not in on_mount: a quit while the view is being mounted can
        # take its children away before on_mount runs).
        summary = Static(Content(""), id="prs-summary")
        notices = Static(Content(""), id="prs-notices")
        summary.display = notices.display = False
        yield summary
        yield notices
        yield Static(Content("Loading the PR queue…"), id="prs-empty")
        yield PrTable(id="prs-table")
        yield FieldList(id="pr-detail")

    @property
    def table(self) -> PrTable:
        return self.query_one(PrTable)

    # -- data -----------------------------------------------------------------------------------

    def is_new(self, view: PrView) -> bool:
        return view.new_since_look or view.review_key in self._sticky_new

    def looked(self) -> None:
        """The engineer opened the view: what is new now stays marked new while they look,
        even after the look is recorded (and the next load no longer calls it new)."""
        if self.queue is not None:
            self._sticky_new = {v.review_key for v in self.queue.merged if v.new_since_look}

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._render_queue()

    def disable(self, why: str) -> None:
        self.enabled = False
        self.error = why
        self._render_queue()

    def show_queue(self, queue: Queue | None, *, error: str | None = None) -> None:
        if queue is not None:
            self.queue = queue
        self.error = error
        self._render_queue()

    def _row(self, key: str, section: Section, view: PrView) -> list[Text]:
        new = self.is_new(view)
        cached = self._cells.get(key)
        if cached is not None and cached[:3] == (section, view, new):
            return cached[3]
        cells = _row(section, view, new)
        self._cells[key] = (section, view, new, cells)
        return cells

    def _render_queue(self) -> None:
        queue = self.queue
        rows = queue_rows(queue) if queue is not None else []
        shown = [
            (section, view)
            for section, view in rows
            if matches(
                self.filter_text,
                view.key,
                view.pr.title,
                view.branch,
                view.link.task,
                view.link.instance,
                view.mode.mode,
                view.mode.reason,
                section,
                view.ci,
                view.size,
            )
        ]
        self._by_key = {view.review_key: (section, view) for section, view in shown}
        self.table.sync([(v.review_key, self._row(v.review_key, s, v)) for s, v in shown])
        self._cells = {k: c for k, c in self._cells.items() if k in self._by_key}
        self._show_summary()
        empty = self.query_one("#prs-empty", Static)
        if not self.enabled:
            empty.update(Content(self.error or "The PR queue is not loaded here."))
        elif self.error is not None and queue is None:
            empty.update(Content(f"The PR queue could not be loaded: {lit(self.error)}"))
        elif queue is None:
            empty.update(Content("Loading the PR queue…"))
        elif not rows:
            empty.update(
                Content(
                    "No PRs: no open agent branch or PR, nothing merged recently"
                    + (" (see the notice above)." if queue.notices else ".")
                )
            )
        else:
            empty.update(Content(f"No PR matches the filter {self.filter_text!r}."))
        empty.display = not shown
        self.table.display = bool(shown)
        self.query_one("#pr-detail", FieldList).display = bool(shown)
        self._show_detail()

    def _show_summary(self) -> None:
        queue = self.queue
        summary = self.query_one("#prs-summary", Static)
        notices = self.query_one("#prs-notices", Static)
        if queue is None:
            summary.display = notices.display = False
            return
        ask = queue.ask_waiting
        oldest = queue.ask[0].age if queue.ask else None
        to_review = len(queue.show)
        parts: list[str | tuple[str, str]] = [
            (f"{ask} Ask waiting", "bold reverse $warning" if ask else "$text-muted"),
        ]
        if oldest is not None:
            parts.append((f" (oldest {fmt_age(oldest)})", "$text-muted"))
        parts += [
            ("  ·  ", "$text-muted"),
            f"{len(queue.in_flight)} open",
            ("  ·  ", "$text-muted"),
            (f"{to_review} Show to review", "bold $accent" if to_review else "$text-muted"),
            ("  ·  ", "$text-muted"),
            f"{len(queue.merged)} merged recently",
            ("  ·  from ", "$text-muted"),
            " + ".join(queue.sources) or "no source",
        ]
        if self.error:
            parts.append((f"  ·  last load failed: {lit(self.error)}", "$error"))
        summary.update(Content.assemble(*parts))
        summary.display = True
        if queue.notices:
            notices.update(Content("\n".join(f"⚠ {lit(n)}" for n in queue.notices)))
        notices.display = bool(queue.notices)

    # -- selection ------------------------------------------------------------------------------

    def shown_views(self) -> list[PrView]:
        """The PRs shown, in the table's order."""
        return [self._by_key[key][1] for key in self.table.row_keys if key in self._by_key]

    def cursor(self) -> tuple[Section, PrView] | None:
        key = self.table.cursor_key()
        return self._by_key.get(key) if key else None

    def cursor_view(self) -> PrView | None:
        found = self.cursor()
        return found[1] if found else None

    def select_pr(self, key: str) -> bool:
        """Put the cursor on the PR named ``key`` (its :attr:`PrView.key` or review key)."""
        for review_key, (_section, view) in self._by_key.items():
            if key in (view.key, review_key):
                found = self.table.select_key(review_key)
                self._show_detail()
                # Rows of the detail still mounting keep what they were composed with: again
                # once they are.
                self.call_after_refresh(self._show_detail)
                return found
        return False

    def _show_detail(self) -> None:
        found = self.cursor()
        if found is None:
            return
        section, view = found
        self.query_one("#pr-detail", FieldList).show(
            pr_detail(section, view, self.root, new=self.is_new(view))
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()
        # Which of a / c / v apply depends on the PR under the cursor.
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        view = self._by_key.get(event.row_key.value or "")
        if view is not None:
            self.post_message(self.Selected(view[1]))

    def restyle(self) -> None:
        self._cells.clear()
        self._render_queue()
