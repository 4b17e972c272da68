"""The reply box: one line of text for an agent's pane (``i`` on its detail screen). What was
typed is confirmed on its own screen, with the pane, before anything is sent."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from factory_tui.ui.screens.ask import AskScreen

__all__ = ["ReplyScreen"]


class ReplyScreen(AskScreen):
    """``lines`` (the pane) and an input; dismisses the text as typed, or ``None`` when
    cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reply.cancel"),
    ]

    PROMPT = "One line, typed as it is, then Enter (you confirm it next):"
    WHEN_BLANK = "Type an answer first (escape cancels)."
    PLACEHOLDER = "your answer"
    OK = ("Send…", "primary")
    CANCEL = ("Cancel", "default")
    STRIP = False
