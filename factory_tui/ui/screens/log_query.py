"""The log's one-line prompt for a filter or a search query (``/`` and ``s`` in the log view)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["LogQueryScreen"]


class LogQueryScreen(ModalScreen[str | None]):
    """A one-line prompt at the bottom of the screen: the filter or search query. Dismisses
    with the text (enter) or None (escape)."""

    DEFAULT_CSS = """
    LogQueryScreen {
        align: center bottom;
        background: $background 20%;
    }
    LogQueryScreen > Vertical {
        height: auto;
        width: 100%;
        background: $surface;
        border: tall $accent;
        padding: 0 1;
    }
    LogQueryScreen Label { color: $text-muted; }
    /* The id and :focus outweigh Input's own focused border (tall: two rows, which left
       a one-row input no text row). */
    LogQueryScreen #log-query-input,
    LogQueryScreen #log-query-input:focus { border: none; height: 1; padding: 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="log-query.cancel")
    ]

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self._title = title
        self._hint = hint
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(f"{self._title} — {self._hint}"))
            yield Input(value=self._value, id="log-query-input")  # the hint is on the label

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
