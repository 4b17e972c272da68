"""A list of labelled values (``why``, ``owner``, ``steps done``...) whose long values wrap under
themselves, not under the label. Rows are reused on update, so showing another record keeps the
scroll position and costs no remounting."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from factory_tui.ui.widgets.quiet import same_content

__all__ = ["Field", "FieldList", "FieldRow", "heading"]

Field = tuple[str, Content]
"""A label (may be empty: a heading or a continuation) and its value."""


def heading(text: str) -> Field:
    return ("", Content.styled(text, "bold $accent"))


class FieldRow(Widget):
    DEFAULT_CSS = """
    FieldRow {
        layout: horizontal;
        height: auto;
    }
    FieldRow > .field-label {
        width: 12;
        color: $text-muted;
    }
    FieldRow > .field-value {
        width: 1fr;
    }
    FieldRow.-wide > .field-label { display: none; }
    """

    def __init__(self, label: str, value: Content) -> None:
        super().__init__()
        self._label = label
        self._value = value
        self.set_class(not label, "-wide")
        # Kept, not queried: a set() can come between compose and the children's mount, when
        # a query finds nothing yet (seen with the PR queue loading at start).
        self._label_static: Static | None = None
        self._value_static: Static | None = None

    def compose(self) -> ComposeResult:
        self._label_static = Static(Content(self._label), classes="field-label")
        self._value_static = Static(self._value, classes="field-value")
        yield self._label_static
        yield self._value_static

    def set(self, label: str, value: Content) -> None:
        if label != self._label:
            self._label = label
            self.set_class(not label, "-wide")
            if self._label_static is not None:
                self._label_static.update(Content(label))
        if not same_content(self._value, value):
            self._value = value
            if self._value_static is not None:
                self._value_static.update(value)

    @property
    def text(self) -> str:
        return f"{self._label} {self._value.plain}".strip()


class FieldList(VerticalScroll):
    DEFAULT_CSS = """
    FieldList {
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, fields: list[Field]) -> None:
        rows = [child for child in self.children if isinstance(child, FieldRow)]
        for row, (label, value) in zip(rows, fields, strict=False):
            row.set(label, value)
        if len(fields) > len(rows):
            self.mount_all([FieldRow(label, value) for label, value in fields[len(rows) :]])
        for row in rows[len(fields) :]:
            row.remove()

    @property
    def text(self) -> str:
        """What the list says, one row a line (for tests)."""
        return "\n".join(child.text for child in self.children if isinstance(child, FieldRow))
