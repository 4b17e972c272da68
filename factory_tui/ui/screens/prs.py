"""Asking an agent for changes on a PR: what will happen, then a text box for the request.

The lines (the PR's title, branch, note path) hold agent-written text: shown as plain ``Text``
made printable. The request itself goes to ``gh`` as one argv item or into a note file, never
through a shell.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import TextArea

from factory_tui.ui.screens.ask import AskScreen

__all__ = ["RequestChangesScreen"]


class RequestChangesScreen(AskScreen):
    """``lines`` and a text area; dismisses the text (stripped, never empty) or ``None``."""

    DEFAULT_CSS = """
    RequestChangesScreen VerticalScroll { max-height: 10; }
    RequestChangesScreen TextArea { height: 8; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Send", id="changes.send"),
        Binding("escape", "cancel", "Cancel", id="changes.cancel"),
    ]

    PROMPT = "What should the agent change? (ctrl+s sends, escape cancels)"
    WHEN_BLANK = "Write what should change: the agent reads it (and it is logged)."
    OK = ("Send (ctrl+s)", "warning")
    CANCEL = ("Cancel (escape)", "primary")

    def box(self) -> Widget:
        return TextArea(id="ask-text", soft_wrap=True, show_line_numbers=False)

    def text(self) -> str:
        return self.query_one("#ask-text", TextArea).text
