"""What the agents spend, outside the Cost view: the :class:`CostSnapshot` the cost worker hands
the UI, the header's ``spend`` segment, each agent pane's spend line, a budget in words, and the
budget banner. Plain functions of the snapshot (no file is read here); group keys and models come
from agents' files and are shown literally (:func:`~factory_tui.ui.widgets.text.lit`). The Cost
view itself is :mod:`factory_tui.ui.widgets.cost`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from factory_tui.core.cost_records import Period
from factory_tui.core.cost_report import BudgetState, CostReport, CostView, Grouping
from factory_tui.core.fleet import InstanceView
from factory_tui.ui.widgets.text import lit

__all__ = [
    "BudgetBanner",
    "CostSnapshot",
    "agent_spend_line",
    "budget_words",
    "spend_segment",
    "unpriced_advice",
]


@dataclass(frozen=True)
class CostSnapshot:
    """What the cost worker hands the UI (frozen: the tracker stays on its thread)."""

    view: CostView
    report: CostReport
    grouping: Grouping
    period: Period
    projects_dir: str
    files: int
    folders: int
    problems: tuple[str, ...] = ()
    attributed: bool = False
    """The fleet's spans were applied: each agent's spend is known (not only the total)."""


# -- words and numbers --------------------------------------------------------------------------


def _percent(state: BudgetState) -> str:
    return "∞ %" if math.isinf(state.fraction) else f"{state.fraction * 100:.0f} %"


def budget_words(state: BudgetState) -> tuple[str, str]:
    """How far a budget is used, in words that read in the monochrome theme too (``65 %``,
    ``! 85 %``, ``✗ 104 % REACHED``), and a style."""
    if state.level == "alert":
        return f"✗ {_percent(state)} REACHED", "bold reverse $error"
    if state.level == "warning":
        return f"! {_percent(state)}", "bold $warning"
    return _percent(state), "$text-muted"


def unpriced_advice(model: str) -> str:
    """What to do about a model the price table does not list (config.py's ``[cost.prices]``)."""
    return (
        f"model {lit(model)} is not in the price table, so its tokens are left out of the "
        f'dollars: add [cost.prices."{lit(model)}"] input = …, output = … (US dollars per '
        "million tokens) to factory.toml"
    )


def spend_segment(
    snapshot: CostSnapshot | None,
    *,
    reading: bool,
    error: str | None = None,
    percent: int | None = None,
) -> Content:
    """The header's ``spend`` segment: ``SPEND $12.40 / $50.00 today``, in the warning style
    from 80 % of the daily budget and the alarm style from 100 %, with words for both."""
    label: tuple[str, str] = ("SPEND", "bold")
    if error is not None and snapshot is None:
        return Content.assemble(label, " ", ("✗ see the Cost view", "bold $error"))
    if snapshot is None:
        done = f" {percent}%" if percent is not None else ""
        what = f"reading transcripts{done}…" if reading else "…"
        return Content.assemble(label, " ", (what, "$text-muted"))
    view = snapshot.view
    amount = f"${view.today_usd:.2f}" + ("+" if view.unpriced_models else "")
    if view.daily_budget_usd is not None:
        amount += f" / ${view.daily_budget_usd:.2f}"
    parts: list[str | tuple[str, str] | Content] = [label, " "]
    daily = next((s for s in view.budgets if s.scope == "daily"), None)
    if daily is not None and daily.level == "alert":
        parts.extend([(f"{amount} today", "bold reverse $error"), " ", ("✗ BUDGET", "bold $error")])
    elif daily is not None and daily.level == "warning":
        parts.extend(
            [(f"{amount} today", "bold $warning"), " ", (f"! {_percent(daily)}", "$warning")]
        )
    else:
        parts.append(f"{amount} today")
    over = [s for s in view.budgets if s.scope == "agent" and s.level == "alert"]
    near = [s for s in view.budgets if s.scope == "agent" and s.level == "warning"]
    if over:
        parts.extend(
            [" ", (f"✗ {len(over)} agent{'s' if len(over) > 1 else ''} over", "bold $error")]
        )
    elif near:
        parts.extend([" ", (f"! {len(near)} agent{'s' if len(near) > 1 else ''} near", "$warning")])
    return Content.assemble(*parts)


def agent_spend_line(snapshot: CostSnapshot, agent: InstanceView) -> Content:
    """One pane's spend line, short enough for the narrowest pane: ``spend  $4.40 today · 44 %
    of $10.00 budget`` (``! 88 %`` past 80 %, ``✗ OVER BUDGET: 139 %`` past 100 %). An agent on
    another host has its transcripts there."""
    view = snapshot.view
    usd = view.agent_usd(agent.id)
    label = ("spend  ", "$text-muted")
    if not agent.local and not usd:
        return Content.assemble(
            label, ("— runs on another host (transcripts there)", "$text-muted")
        )
    parts: list[str | tuple[str, str]] = [
        label,
        (f"${usd:.2f} today", "" if usd else "$text-muted"),
    ]
    state = next((s for s in view.budgets if s.scope == "agent" and s.subject == agent.id), None)
    if state is not None:
        parts.append((" · ", "$text-muted"))
        if state.level == "alert":
            parts.extend(
                [
                    ("✗ OVER BUDGET", "bold reverse $error"),
                    (f": {_percent(state)} of ${state.limit_usd:.2f}", "bold $error"),
                ]
            )
        elif state.level == "warning":
            parts.extend(
                [
                    (f"! {_percent(state)}", "bold $warning"),
                    (f" of ${state.limit_usd:.2f} budget", "$warning"),
                ]
            )
        else:
            parts.append((f"{_percent(state)} of ${state.limit_usd:.2f} budget", "$text-muted"))
    elif view.agent_budget_usd is not None:
        parts.append((f" · 0 % of ${view.agent_budget_usd:.2f} budget", "$text-muted"))
    return Content.assemble(*parts)


# -- the budget banner ---------------------------------------------------------------------------


class BudgetBanner(Static):
    """Budgets at 100 % not yet acknowledged: stays on screen until ``A`` is pressed."""

    DEFAULT_CSS = """
    BudgetBanner {
        height: auto;
        padding: 0 1;
        background: $error 25%;
        color: $foreground;
        display: none;
    }
    BudgetBanner.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.alerts: tuple[BudgetState, ...] = ()

    def show_alerts(self, alerts: Sequence[BudgetState]) -> None:
        alerts = tuple(alerts)
        if alerts == self.alerts:
            return
        self.alerts = alerts
        self.set_class(bool(alerts), "-shown")
        lines = [
            Content.assemble(
                ("✗ BUDGET REACHED", "bold reverse $error"),
                "  ",
                lit(state.message),
                ("   A: acknowledge", "$text-muted"),
            )
            for state in alerts
        ]
        self.update(Content("\n").join(lines))
