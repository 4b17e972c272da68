"""The filter line opened by ``/``: filters the current view as you type; enter keeps the filter,
escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

__all__ = ["FilterBar"]


class FilterBar(Input):
    DEFAULT_CSS = """
    FilterBar {
        dock: bottom;
        display: none;
        border: tall $accent;
        height: 3;
    }
    FilterBar.-open { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_and_close", "Clear filter", id="filter.clear"),
        # The same key with nothing typed: nothing to clear, the footer says what it does.
        Binding("escape", "close_line", "Close", id="filter.close"),
    ]

    class Closed(Message):
        """The filter line closed; ``text`` is the filter that stays (``""``: none)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter this view (enter keeps it, escape clears it)", id=id)
        self.view_name = ""

    def open(self, view_name: str, text: str) -> None:
        self.view_name = view_name
        self.border_title = f"filter {view_name}"
        self.value = text
        self.add_class("-open")
        self.focus()
        self.cursor_position = len(text)

    def close(self) -> None:
        self.remove_class("-open")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_and_close":
            return bool(self.value)
        if action == "close_line":
            return not self.value
        return super().check_action(action, parameters)

    def watch_value(self, _value: str) -> None:
        self.refresh_bindings()

    def action_close_line(self) -> None:
        self.action_clear_and_close()

    def action_clear_and_close(self) -> None:
        self.value = ""
        self.close()
        self.post_message(self.Closed(""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
        self.post_message(self.Closed(self.value))
