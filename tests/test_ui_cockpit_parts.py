"""The cockpit's plain parts, without a screen: the tab labels (fitted to the width), the
header's segments, and what is announced (once, and not on the first look)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from factory_tui.core.attention import AttentionItem
from factory_tui.core.cost_report import BudgetLevel, BudgetState
from factory_tui.core.fleet import Fleet
from factory_tui.ui.news import News, Notice, attention_news, budget_news
from factory_tui.ui.screens.cockpit_tabs import VIEWS, tab_labels
from factory_tui.ui.widgets.summary import (
    progress_segment,
    queue_segment,
    time_left,
    title_segment,
)

NOW = datetime(2026, 2, 16, 15, 42, 30)


def fleet(**counts: int) -> Fleet:
    return Fleet(
        root="/factory",
        generated_at=NOW,
        hostname="here",
        instances=(),
        sessions=(),
        claims=(),
        problems=(),
        counts=counts,
    )


def plain(labels: Mapping[str, object]) -> str:
    return " | ".join(str(labels[view]) for view in VIEWS)


def test_tab_labels_drop_totals_then_alarm_numbers_as_the_width_shrinks() -> None:
    shown = fleet(problems=3, claims_stale=0)
    filters = dict.fromkeys(VIEWS, "") | {"claims": "cab"}
    wide = tab_labels(shown, None, budget_alerts=2, filters=filters, width=200, loaded=True)
    assert plain(wide) == (
        "Agents 0 | Claims 0 ⧩ | Sessions 0 | Log | Problems 3 !3 | State 0 | PRs | Cost !2"
    )
    assert tab_labels(shown, None, budget_alerts=2, filters=filters, width=77, loaded=True) == wide
    narrower = tab_labels(shown, None, budget_alerts=2, filters=filters, width=70, loaded=True)
    assert (
        plain(narrower)
        == "Agents | Claims ⧩ | Sessions | Log | Problems !3 | State | PRs | Cost !2"
    )
    narrow = tab_labels(shown, None, budget_alerts=2, filters=filters, width=20, loaded=True)
    assert plain(narrow) == "Agents | Claims⧩ | Sessions | Log | Problems! | State | PRs | Cost!"


def test_tab_labels_before_the_first_fleet_give_only_what_is_known() -> None:
    """The empty fleet the cockpit holds while it reads is no total: titles alone; the spend's
    budget alerts are known already, and stay."""
    filters = dict.fromkeys(VIEWS, "")
    labels = tab_labels(
        fleet(problems=3), None, budget_alerts=1, filters=filters, width=200, loaded=False
    )
    assert plain(labels) == "Agents | Claims | Sessions | Log | Problems | State | PRs | Cost !1"


def test_progress_segment_says_what_is_read_and_goes_when_the_log_is_indexed() -> None:
    assert str(progress_segment("claims", 1, 4)) == "reading claims 25%…"
    assert str(progress_segment("claims", 0, 0)) == "reading claims 100%…"
    assert str(progress_segment("log index", 5, 10)) == "indexing the log 50%…"
    assert progress_segment("log index", 10, 10) is None
    assert str(progress_segment("a\x1b[2Jb", 0, 1)) == "reading a\\x1b[2Jb 0%…"


def test_progress_segment_tells_the_time_left_once_the_rate_is_known() -> None:
    assert time_left(done=50, elapsed=1.0, remaining=50) is None  # too soon to tell
    assert time_left(done=0, elapsed=9.0, remaining=50) is None
    assert time_left(done=50, elapsed=9.0, remaining=0) is None
    assert time_left(done=10, elapsed=4.0, remaining=100) == 40.0
    log = "operations.log"
    assert str(progress_segment(log, 12, 100, 40.2)) == f"reading {log} 12%, about 40 s left…"
    assert str(progress_segment(log, 12, 100, 0.2)) == f"reading {log} 12%, about 1 s left…"
    assert str(progress_segment(log, 1, 100, 610.0)) == f"reading {log} 1%, about 10 min left…"
    assert str(progress_segment(log, 100, 100, 5.0)) == f"reading {log} 100%…"
    assert progress_segment("log index", 10, 10, 5.0) is None


def test_title_and_queue_segments() -> None:
    assert str(title_segment(Path("/srv/cab"), read_only=False)) == "factory-tui cab"
    assert str(title_segment(Path("/srv/cab"), read_only=True, short=True)) == "cab read-only"
    assert str(queue_segment(None, short=True)) == "PRS ?"


def item(key: str) -> AttentionItem:
    return AttentionItem(key, "crashed agent", NOW, "agents", key, f"{key} crashed")


def test_attention_news_once_and_never_on_the_first_look() -> None:
    items = [item("a-1"), item("a-2")]
    assert attention_news(items, set(), first=True) == News()
    assert attention_news(items, {"a-1", "a-2"}, first=False) == News()
    news = attention_news(items, {"a-1"}, first=False)
    assert news == News((Notice("a-2 crashed", "Needs you: crashed agent", "warning", 10),), True)


def budget(level: BudgetLevel, subject: str = "all agents") -> BudgetState:
    spent = 10.0 if level == "alert" else 8.5
    scope: Literal["daily", "agent"] = "daily" if subject == "all agents" else "agent"
    return BudgetState(scope, subject, date(2026, 2, 16), spent, 10.0, level)


def test_budget_news_rings_for_alerts_only_and_skips_what_was_acknowledged() -> None:
    warning, alert, other = budget("warning"), budget("alert"), budget("alert", "a-1")
    assert budget_news([warning], ()) == News(
        (Notice(warning.message, "Budget warning", "warning", 10),), ring=False
    )
    news = budget_news([warning, alert, other], {other.alert_id})
    assert [n.title for n in news.notices] == ["Budget warning", "Budget reached"]
    assert news.notices[1].severity == "error" and news.notices[1].timeout == 15
    assert news.ring
    assert budget_news([other], {other.alert_id}) == News()
