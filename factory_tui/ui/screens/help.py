"""``?``: every key of the cockpit, by where it applies, read from the bindings themselves (so the
list cannot drift from what the keys do)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "key_lines"]

KeySection = tuple[str, Sequence[BindingType]]


def _describe(binding: Binding) -> str:
    if binding.description:
        return binding.description
    return binding.action.replace("_", " ").replace("app.", "")


def key_lines(sections: Iterable[KeySection], key_display: dict[str, str] | None = None) -> Content:
    """A two-column list (keys, what they do) per section; keys bound to one action are merged."""
    shown = key_display or {}
    lines: list[Content] = []
    for title, bindings in sections:
        merged: dict[tuple[str, str], list[str]] = {}
        for binding in Binding.make_bindings(bindings):
            key = shown.get(binding.key, binding.key_display or binding.key)
            merged.setdefault((binding.action, _describe(binding)), [])
            if key not in merged[(binding.action, _describe(binding))]:
                merged[(binding.action, _describe(binding))].append(key)
        if not merged:
            continue
        if lines:
            lines.append(Content(""))
        lines.append(Content.styled(title, "bold $accent"))
        for (_action, description), keys in merged.items():
            lines.append(Content.assemble((" / ".join(keys).ljust(20), "bold"), " ", description))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """The list of keys; any of escape, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80;
        max-width: 100%;
        height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close"),
    ]

    def __init__(self, sections: Sequence[KeySection]) -> None:
        super().__init__()
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "escape closes"
            yield Static(key_lines(self.sections), id="help-keys")
