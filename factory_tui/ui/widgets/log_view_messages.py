"""The messages of the log view (:class:`~factory_tui.ui.widgets.log_view.LogView`).

They are in the ``log_view`` namespace, as if nested in the view: a parent handles them as
``on_log_view_filter_applied`` and so on, and the view exposes them as ``LogView.FilterApplied``.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from textual.message import Message

from factory_tui.adapters.logfilter import FilterSpec

if TYPE_CHECKING:
    from factory_tui.ui.widgets.log_view_base import LogViewBase

__all__ = ["FilterApplied", "FilterProgress", "FilterResult", "FollowChanged", "SearchMoved"]


class FilterProgress(Message, namespace="log_view"):
    """A filter is running: ``done`` of ``total`` lines examined."""

    def __init__(self, log_view: LogViewBase, done: int, total: int, serial: int) -> None:
        super().__init__()
        self.log_view = log_view
        self.done = done
        self.total = total
        self.serial = serial


class FilterApplied(Message, namespace="log_view"):
    """The view now shows ``matches`` lines for ``spec`` (None: the filter was cleared and
    every line shows)."""

    def __init__(self, log_view: LogViewBase, spec: FilterSpec | None, matches: int) -> None:
        super().__init__()
        self.log_view = log_view
        self.spec = spec
        self.matches = matches


class FollowChanged(Message, namespace="log_view"):
    """The view started (``follow`` True) or stopped following the tail."""

    def __init__(self, log_view: LogViewBase, follow: bool) -> None:
        super().__init__()
        self.log_view = log_view
        self.follow = follow


class SearchMoved(Message, namespace="log_view"):
    """A search finished: ``line`` is the logical line now highlighted, None when nothing
    matched."""

    def __init__(self, log_view: LogViewBase, line: int | None, wrapped: bool) -> None:
        super().__init__()
        self.log_view = log_view
        self.line = line
        self.wrapped = wrapped


class FilterResult(Message, namespace="log_view"):
    """A filter worker's rows (the view's own: it stops the message)."""

    def __init__(
        self, serial: int, generation: int, start: int, stop: int, rows: array[int]
    ) -> None:
        super().__init__()
        self.serial = serial
        self.generation = generation
        self.first = start
        self.end = stop
        self.rows = rows


class SearchResult(Message, namespace="log_view"):
    """A search worker's answer (the view's own: it stops the message)."""

    def __init__(self, serial: int, line: int | None, wrapped: bool) -> None:
        super().__init__()
        self.serial = serial
        self.line = line
        self.wrapped = wrapped
