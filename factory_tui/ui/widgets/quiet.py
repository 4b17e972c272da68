"""Updating a widget only when what it shows changed.

``Static.update`` always asks the screen for a new layout, and one layout request reflows the
whole screen (every view, the hidden ones too). A fleet update re-sets dozens of lines that
did not change (the empty-view notes, the detail rows); each one left a layout pass on the way
from a file write to the screen. These helpers compare first, styles included: Textual's
``Content.__eq__`` compares the text only, so a line that changed colour alone would be missed.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.widgets import Static

__all__ = ["same_content", "update_if_changed"]


def same_content(old: object, new: object) -> bool:
    """Whether ``old`` and ``new`` show the same: the same text with the same styles."""
    if old is new:
        return True
    if isinstance(old, Content) and isinstance(new, Content):
        return old.plain == new.plain and old.spans == new.spans
    if isinstance(old, Text) and isinstance(new, Text):
        return (
            old.plain == new.plain
            and old.spans == new.spans
            and old.style == new.style
            and old.justify == new.justify
            and old.no_wrap == new.no_wrap
            and old.overflow == new.overflow
        )
    if isinstance(old, str) and isinstance(new, str):
        return old == new
    return False


def update_if_changed(static: Static, content: Content | Text | str) -> bool:
    """``static.update(content)`` unless it already shows that; True if it was updated."""
    if same_content(static.content, content):
        return False
    static.update(content)
    return True
