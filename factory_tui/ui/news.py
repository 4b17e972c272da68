"""What the cockpit announces, and when: plain functions (no widgets, no Textual) deciding which
notifications to show and whether to ring, for what newly needs the engineer (the ``n`` items)
and for new budget warnings and alerts. Each thing is announced once; the cockpit screen shows
the :class:`News` (and honours ``notify`` / ``bell`` from the config).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from factory_tui.core.attention import AttentionItem
    from factory_tui.core.cost_report import BudgetState

__all__ = ["News", "Notice", "attention_news", "budget_news"]


@dataclass(frozen=True)
class Notice:
    """One notification (its text is agent-written: shown literally)."""

    message: str
    title: str
    severity: Literal["warning", "error"]
    timeout: float


@dataclass(frozen=True)
class News:
    """The notifications to show, and whether the bell rings (once)."""

    notices: tuple[Notice, ...] = ()
    ring: bool = False


def attention_news(
    items: Iterable[AttentionItem], announced: Collection[str], *, first: bool
) -> News:
    """A notice for each item not ``announced`` yet, and the bell; nothing on the ``first``
    look (what was already there when the cockpit opened is not news)."""
    new = [item for item in items if item.key not in announced]
    if first or not new:
        return News()
    notices = tuple(Notice(item.title, f"Needs you: {item.kind}", "warning", 10) for item in new)
    return News(notices, ring=True)


def budget_news(fresh: Iterable[BudgetState], acknowledged: Collection[str]) -> News:
    """A notice for each newly seen warning (80 %) and alert (100 %) not acknowledged before
    (a restart: it was announced then); the bell if any of them is an alert."""
    notices: list[Notice] = []
    ring = False
    for state in fresh:
        if state.alert_id in acknowledged:
            continue
        alert = state.level == "alert"
        ring = ring or alert
        notices.append(
            Notice(
                state.message,
                "Budget reached" if alert else "Budget warning",
                "error" if alert else "warning",
                15 if alert else 10,
            )
        )
    return News(tuple(notices), ring=ring)
