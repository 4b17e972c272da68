"""Review before deciding: a crashed session's branch diff and its uncommitted changes.

The diff is agent-written text: it goes through :func:`printable` and a ``Syntax`` renderable
(never markup), in a scrollable view; ``escape`` or ``q`` closes it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from factory_tui.actions.recovery_info import ReviewDiffs
from factory_tui.core.safe import printable

__all__ = ["ReviewScreen"]


class ReviewScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ReviewScreen { align: center middle; }
    ReviewScreen > VerticalScroll {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    ReviewScreen .review-heading { text-style: bold; color: $accent; margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="review.close"),
        Binding("q", "dismiss", "Close", show=False, id="review.quit"),
    ]

    def __init__(self, title: str, diffs: ReviewDiffs) -> None:
        super().__init__()
        self.review_title = title
        self.diffs = diffs

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="review-body"):
            yield Static(Text(printable(self.review_title)), classes="review-heading")
            if self.diffs.note:
                yield Static(Text(printable(self.diffs.note)))
            yield Static(Text("Branch against its base"), classes="review-heading")
            yield Static(self._diff(self.diffs.branch_diff, "no commits on the branch"))
            yield Static(Text("Uncommitted changes in the worktree"), classes="review-heading")
            yield Static(self._diff(self.diffs.uncommitted_diff, "nothing uncommitted"))
        yield Footer()

    @staticmethod
    def _diff(text: str, empty: str) -> Syntax | Text:
        if not text.strip():
            return Text(empty, style="dim")
        return Syntax(printable(text), "diff", word_wrap=True, theme="ansi_dark")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
