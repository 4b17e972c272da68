"""The keys that move in every list and table (issue 12): j/k down/up, g/G and Home/End to the
first/last item; PgUp/PgDn come with Textual's DataTable and Tree. Hidden from the footer (it
shows only what is specific to a view); the help screen lists them."""

from __future__ import annotations

from textual.binding import Binding

__all__ = ["LIST_KEYS"]

LIST_KEYS: list[Binding] = [
    Binding("j", "cursor_down", "Down", show=False, id="list.down"),
    Binding("k", "cursor_up", "Up", show=False, id="list.up"),
    Binding("g", "first('g')", "First", show=False, id="list.first"),
    Binding("G", "last", "Last", show=False, id="list.last"),
    Binding("home", "first", "First", show=False, id="list.home"),
    Binding("end", "last", "Last", show=False, id="list.end"),
]
