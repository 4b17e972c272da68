"""``?``: every key of the cockpit, by where it applies, read from the bindings themselves (so the
list cannot drift from what the keys do)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Label, Static

__all__ = ["HelpScreen", "key_name", "key_rows"]

KeySection = tuple[str, Sequence[BindingType]]


#: Keys written as people write them where Textual's names are not (``/``, ``?`` and ``]``
#: come from Textual's own table).
KEY_NAMES = {
    "enter": "enter",
    "escape": "esc",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "space": "space",
    "tab": "tab",
    "shift+tab": "shift+tab",
}


def key_name(key: str) -> str:
    """``slash`` → ``/``, ``question_mark`` → ``?``, ``pageup`` → ``PgUp``, ``ctrl+f`` as is."""
    return KEY_NAMES.get(key) or format_key(key)


def _describe(binding: Binding) -> str:
    if binding.description:
        return binding.description
    return binding.action.replace("_", " ").replace("app.", "")


def key_rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) rows: keys bound to one action share a row; a key bound to two
    actions (the second applying where the first does not) is listed once, with both meanings."""
    rows: dict[tuple[str, str], list[str]] = {}
    owner: dict[str, tuple[str, str]] = {}
    extra: dict[tuple[str, str], list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        key = binding.key_display or key_name(binding.key)
        group = (binding.action, _describe(binding))
        if key in owner and owner[key] != group:
            meanings = extra.setdefault(owner[key], [])
            if group[1] not in meanings and group[1] != owner[key][1]:
                meanings.append(group[1])
            continue
        owner[key] = group
        keys = rows.setdefault(group, [])
        if key not in keys:
            keys.append(key)
    result = []
    for group, keys in rows.items():
        meanings = [group[1], *extra.get(group, [])]
        result.append((" ".join(keys), "; otherwise ".join(meanings)))
    return result


def key_table(rows: Sequence[tuple[str, str]], key_width: int) -> Table:
    """Two columns; a long description wraps in its own column."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, width=key_width, style="bold")
    table.add_column(ratio=1)
    for keys, description in rows:
        table.add_row(Text(keys), Text(description))
    return table


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
    HelpScreen .help-title { text-style: bold; color: $accent; margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close"),
    ]

    def __init__(self, sections: Sequence[KeySection]) -> None:
        super().__init__()
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        sections = [(title, key_rows(bindings)) for title, bindings in self.sections]
        sections = [(title, rows) for title, rows in sections if rows]
        key_width = max((len(keys) for _, rows in sections for keys, _ in rows), default=1)
        with VerticalScroll(id="help-keys") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "↑ ↓ PgUp PgDn Home End scroll · esc closes"
            for title, rows in sections:
                yield Label(title, classes="help-title", markup=False)
                yield Static(key_table(rows, key_width), classes="help-rows")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
