"""The log's last lines, shown by the log view before the log is indexed (issue 17).

Indexing a big operations.log takes seconds (and the cockpit folds the history first); its last
lines take a millisecond to read backwards from the end
(:func:`~factory_tui.adapters.logtail.read_tail`). Until the index is in, the view shows them
under a first row that says the earlier lines are being indexed: scrolling up does not pretend
the log starts there, and nothing shows a line number, a filter count or a search position that
is not known yet.
"""

from __future__ import annotations

from textual.strip import Strip

from factory_tui.adapters.logtail import LogTail

__all__ = ["NOTE", "TailPreview"]

NOTE = "⋯ earlier lines: indexing the log…"
"""The first row while the tail is all that is shown (unless the tail is the whole log)."""


class TailPreview:
    """Rows of a :class:`LogTail`: the note (unless the tail is the whole log), then its lines,
    oldest first. ``strips`` keeps the drawn rows (the view draws them, with its styles)."""

    def __init__(self, tail: LogTail) -> None:
        self.tail = tail
        self.noted = 0 if tail.whole else 1
        self.strips: dict[int, Strip] = {}

    @property
    def row_count(self) -> int:
        return len(self.tail.lines) + self.noted

    def line_at(self, row: int) -> str | None:
        """The log line shown at ``row``; None for the note's row."""
        return None if row < self.noted else self.tail.lines[row - self.noted]

    def logical_of(self, row: int, total: int) -> int:
        """The logical line that ``row`` shows, once the index holds ``total`` lines (counted
        from the end: lines appended since the tail was read move it down by as many)."""
        lines = len(self.tail.lines)
        k = max(row - self.noted, 0)
        logical = k if self.tail.whole else total - lines + k
        return min(max(logical, 0), max(total - 1, 0))

    @property
    def status(self) -> str:
        count = len(self.tail.lines)
        if self.tail.whole:
            return f"{count:,} line{'s' if count != 1 else ''} · indexing…"
        return f"last {count:,} lines · indexing the log…"
