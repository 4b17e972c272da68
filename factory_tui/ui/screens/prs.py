"""Asking an agent for changes on a PR: what will happen, then a text box for the request.

The lines (the PR's title, branch, note path) hold agent-written text: shown as plain ``Text``
made printable. The request itself goes to ``gh`` as one argv item or into a note file, never
through a shell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

from factory_tui.core.safe import printable
from factory_tui.ui.screens.confirm import plain_lines

__all__ = ["RequestChangesScreen"]


class RequestChangesScreen(ModalScreen[str | None]):
    """``lines`` and a text box; dismisses the text (stripped, never empty) or ``None``."""

    DEFAULT_CSS = """
    RequestChangesScreen { align: center middle; }
    RequestChangesScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    RequestChangesScreen .confirm-title { text-style: bold; padding-bottom: 1; }
    RequestChangesScreen VerticalScroll { height: auto; max-height: 10; }
    RequestChangesScreen .confirm-prompt { padding-top: 1; }
    RequestChangesScreen TextArea { height: 8; }
    RequestChangesScreen Horizontal { height: auto; padding-top: 1; }
    RequestChangesScreen Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", id="changes.send"),
        Binding("escape", "cancel", "Cancel", id="changes.cancel"),
    ]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(printable(self.title_text)), classes="confirm-title")
            with VerticalScroll():
                yield Static(plain_lines(self.lines), id="confirm-lines")
            yield Label(
                Text("What should the agent change? (ctrl+s sends, escape cancels)"),
                classes="confirm-prompt",
            )
            yield TextArea(id="changes-text", soft_wrap=True, show_line_numbers=False)
            with Horizontal():
                yield Button("Send (ctrl+s)", variant="warning", id="changes-send")
                yield Button("Cancel (escape)", variant="primary", id="changes-cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_send(self) -> None:
        text = self.query_one(TextArea).text.strip()
        if not text:
            self.notify(
                "Write what should change: the agent reads it (and it is logged).",
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#changes-send")
    def _send(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#changes-cancel")
    def _cancel(self) -> None:
        self.action_cancel()
