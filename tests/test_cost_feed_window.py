"""The cockpit's spend while the spans' window moves back (issue 17): the spans start at the
earliest response read; a response from before it, read since, is not shown attributed, nor are
the budgets judged on it, until the spans are made again from its time (it went to the agent
whose session the old window held, and ``[cost] on_budget`` ran for that agent)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import config_for

from factory_tui.adapters.factory import FactoryReader
from factory_tui.ui.feeds.cost import CostFeed, CostWant
from factory_tui.ui.messages import CostSpans, CostUpdated, SpansWanted

DAY = "2026-03-10"


class _App:
    """What the feed posts to, kept."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def post_message(self, message: Any) -> None:
        self.messages.append(message)

    def taken(self, kind: type) -> list[Any]:
        found = [m for m in self.messages if isinstance(m, kind)]
        self.messages = [m for m in self.messages if not isinstance(m, kind)]
        return found


def _response(root: Path, n: int, hhmm: str, output_tokens: int) -> str:
    at = datetime.fromisoformat(f"{DAY}T{hhmm}").astimezone()
    return json.dumps(
        {
            "type": "assistant",
            "cwd": str(root),
            "gitBranch": "feat/x",
            "timestamp": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "requestId": f"req_{n}",
            "message": {
                "id": f"msg_{n}",
                "model": "claude-sonnet-4-5-20250929",
                "usage": {"input_tokens": 10, "output_tokens": output_tokens},
            },
        }
    )


def test_a_response_before_the_spans_window_waits_for_the_spans_made_from_its_time(
    tmp_path: Path,
) -> None:
    root = tmp_path / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    ran = tmp_path / "on_budget.txt"
    record = f"open({str(ran)!r}, 'a').write(__import__('os').environ['FACTORY_BUDGET_SUBJECT'])"
    (root / "factory.toml").write_text(
        'memory = ".factory/memory"\nclaude_config_dir = ".factory/claude"\n'
        "agent_budget_usd = 5.0\n"
        f"[cost]\non_budget = {json.dumps([sys.executable, '-c', record])}\n"
    )
    config = config_for(root)
    config.log_file.write_text(  # i2 on feat/x all day; i1 on feat/x from 08:00 to 08:30
        f"{DAY}T06:00 | SESSION-START | task=T2 branch=feat/x instance=i2\n"
        f"{DAY}T08:00 | SESSION-START | task=T1 branch=feat/x instance=i1\n"
        f"{DAY}T08:30 | SESSION-END | task=T1 status=success\n"
    )
    projects = root / ".factory" / "claude" / "projects" / "p"
    projects.mkdir(parents=True)
    app = _App()
    feed = CostFeed(app, config, clock=lambda: datetime.fromisoformat(f"{DAY}T12:00"))  # type: ignore[arg-type]
    feed.budget_state_dir = tmp_path / "state"
    fleet = FactoryReader(config, hostname="h")
    fleet.refresh_all()

    def spans_made() -> Any:
        """The fleet feed's part: the spans after a read (as SpansWanted asks)."""
        feed._spans_at = float("-inf")  # (not within SPANS_EVERY of the last)
        feed.spans_after_read(fleet)
        (made,) = app.taken(CostSpans)
        return made.spans

    (projects / "a.jsonl").write_text(_response(root, 1, "10:00", 1000) + "\n")
    feed._work(CostWant())
    assert app.taken(SpansWanted)
    feed._work(CostWant(spans=spans_made()))  # the spans from 10:00 on: i2's only
    (first,) = app.taken(CostUpdated)[-1:]
    assert first.snapshot.attributed and dict(first.snapshot.view.agents_today).keys() == {"i2"}
    # A response at 08:15 ($15, i1's) read since: before the spans' window.
    (projects / "b.jsonl").write_text(_response(root, 2, "08:15", 1_000_000) + "\n")
    feed._work(CostWant())
    assert app.taken(SpansWanted)
    (stale,) = app.taken(CostUpdated)
    assert not stale.snapshot.attributed and stale.notes == ()
    assert feed.budget_processes == []  # no budget judged on the old spans
    feed._work(CostWant(spans=spans_made()))  # made again from 08:15 on
    (attributed,) = app.taken(CostUpdated)
    assert attributed.snapshot.attributed
    today = dict(attributed.snapshot.view.agents_today)
    assert today["i1"].usd > 5.0 > today["i2"].usd
    for process in feed.budget_processes:
        process.wait(30)
    assert ran.read_text() == "i1"  # its alert only, once
