"""The one text-asking modal: what it is about, line by line, then a box for the engineer's text.

A reason to abandon a session, a reply for an agent's pane, a change request on a PR: each is a
subclass that says its words (prompt, what a blank answer is told, the buttons) and, for the
change request, swaps the one-line input for a text area. The lines hold agent-written text:
shown as plain :class:`rich.text.Text` made printable, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from factory_tui.core.safe import printable

__all__ = ["AskScreen", "plain_lines"]

Variant = Literal["default", "primary", "success", "warning", "error"]


def plain_lines(lines: Sequence[str]) -> Text:
    """The lines as literal text: printable, no markup, no styles taken from the content."""
    return Text("\n".join(printable(line) for line in lines))


class AskScreen(ModalScreen[str | None]):
    """``lines``, ``prompt`` and a text box; dismisses the text (never blank) or ``None``.

    Enter (in the one-line input) or the first button submits; escape or the second cancels
    (each subclass binds escape under its own binding id)."""

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    AskScreen .confirm-title { text-style: bold; padding-bottom: 1; }
    AskScreen VerticalScroll { height: auto; max-height: 12; }
    AskScreen .confirm-prompt { padding-top: 1; }
    AskScreen Horizontal { height: auto; padding-top: 1; }
    AskScreen Button { margin-right: 2; }
    """

    PROMPT: ClassVar[str] = ""
    """The prompt when the caller gives none."""
    WHEN_BLANK: ClassVar[str] = "Type something first (escape cancels)."
    """What a blank answer is told (it is not dismissed)."""
    PLACEHOLDER: ClassVar[str] = ""
    OK: ClassVar[tuple[str, Variant]] = ("OK", "primary")
    CANCEL: ClassVar[tuple[str, Variant]] = ("Cancel", "default")
    STRIP: ClassVar[bool] = True
    """Whether the answer is dismissed stripped (a reply is sent as it was typed)."""

    def __init__(self, title: str, lines: Sequence[str], *, prompt: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.prompt = self.PROMPT if prompt is None else prompt

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(printable(self.title_text)), classes="confirm-title")
            with VerticalScroll():
                yield Static(plain_lines(self.lines), id="confirm-lines")
            yield Label(Text(self.prompt), classes="confirm-prompt")
            yield self.box()
            with Horizontal():
                label, variant = self.OK
                yield Button(label, variant=variant, id="ask-ok")
                label, variant = self.CANCEL
                yield Button(label, variant=variant, id="ask-cancel")

    def box(self) -> Widget:
        """The text box (focused on mount); :meth:`text` reads it."""
        return Input(placeholder=self.PLACEHOLDER, id="ask-text")

    def text(self) -> str:
        return self.query_one("#ask-text", Input).value

    def on_mount(self) -> None:
        self.query_one("#ask-text").focus()

    def action_submit(self) -> None:
        text = self.text()
        if not text.strip():
            self.notify(self.WHEN_BLANK, severity="warning", markup=False)
            return
        self.dismiss(text.strip() if self.STRIP else text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#ask-text")
    def _submitted(self, _event: Input.Submitted) -> None:
        self.action_submit()

    @on(Button.Pressed, "#ask-ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#ask-cancel")
    def _cancel(self) -> None:
        self.action_cancel()
