"""The reply box: one line of text for an agent's pane (``i`` on its detail screen). What was
typed is confirmed on its own screen, with the pane, before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from factory_tui.core.safe import printable
from factory_tui.ui.screens.confirm import plain_lines

__all__ = ["ReplyScreen"]


class ReplyScreen(ModalScreen[str | None]):
    """``lines`` (the pane) and an input; dismisses the text, or ``None`` when cancelled."""

    DEFAULT_CSS = """
    ReplyScreen { align: center middle; }
    ReplyScreen > Vertical {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    ReplyScreen .reply-title { text-style: bold; padding-bottom: 1; }
    ReplyScreen VerticalScroll { height: auto; max-height: 12; }
    ReplyScreen .reply-prompt { padding-top: 1; }
    ReplyScreen Horizontal { height: auto; padding-top: 1; }
    ReplyScreen Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reply.cancel"),
    ]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(printable(self.title_text)), classes="reply-title")
            with VerticalScroll():
                yield Static(plain_lines(self.lines), id="reply-lines")
            yield Label(
                Text("One line, typed as it is, then Enter (you confirm it next):"),
                classes="reply-prompt",
            )
            yield Input(placeholder="your answer", id="reply-text")
            with Horizontal():
                yield Button("Send…", variant="primary", id="reply-ok")
                yield Button("Cancel", id="reply-cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        text = self.query_one(Input).value
        if not text.strip():
            self.notify("Type an answer first (escape cancels).", severity="warning", markup=False)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#reply-text")
    def _submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    @on(Button.Pressed, "#reply-ok")
    def _ok(self) -> None:
        self._submit()

    @on(Button.Pressed, "#reply-cancel")
    def _cancel(self) -> None:
        self.action_cancel()
