"""The agent's terminal on its detail screen: a live capture of its tmux pane, colours kept and
nothing else a terminal would act on (:func:`~factory_tui.adapters.tmux.capture_text`).

The capture is taken on a thread (:meth:`TerminalView.look`), posted back as
:class:`TerminalLooked`, and shown by its handler; the detail screen calls ``look`` on a timer
only while the terminal is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from factory_tui.adapters.tmux import capture_text
from factory_tui.core.safe import printable

if TYPE_CHECKING:
    from factory_tui.actions.send import Look

__all__ = ["TerminalLooked", "TerminalView", "look_lines"]

HINT = "i: reply · 1-9: answer a numbered prompt · a: go to the pane · T: back to the details"


@dataclass
class TerminalLooked(Message):
    """A look into the pane, from the capture thread."""

    look: Look


def look_lines(look: Look) -> Content:
    """The status line above the capture: which pane and why it is the agent's, or why there is
    none."""
    pane = look.found.pane
    if pane is None or look.raw is None:
        return Content.assemble(
            ("No terminal: ", "bold $warning"), printable(look.why or "", multiline=False)
        )
    return Content.assemble(
        ("pane ", "$text-muted"),
        (printable(f"{pane.target} ({pane.id})", multiline=False), "bold"),
        (printable(f" — {look.found.match.how}", multiline=False), "$text-muted"),
    )


class TerminalView(Vertical):
    """The pane's status line, its capture, and the keys that act on it."""

    DEFAULT_CSS = """
    TerminalView { height: 1fr; }
    TerminalView > #terminal-status { height: auto; padding: 0 1; }
    TerminalView > #terminal-hint { height: 1; padding: 0 1; color: $text-muted; }
    TerminalView > VerticalScroll { height: 1fr; border: round $panel-lighten-2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.last: Look | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content("Looking for the agent's tmux pane…"), id="terminal-status")
        yield Static(Content(HINT), id="terminal-hint")
        with VerticalScroll(id="terminal-scroll"):
            yield Static(Text(""), id="terminal-screen")

    def show_look(self, look: Look) -> None:
        self.last = look
        self.query_one("#terminal-status", Static).update(look_lines(look))
        screen = self.query_one("#terminal-screen", Static)
        screen.update(capture_text(look.raw) if look.raw is not None else Text(""))
        self.query_one("#terminal-scroll", VerticalScroll).scroll_end(animate=False)
