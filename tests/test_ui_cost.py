"""The cockpit's cost side (issue 6), driven with Pilot on the demo factory with its agents'
transcripts: the header's spend, each pane's, the Cost view and its groupings, budget warnings
and alerts (shown until acknowledged, never raised twice, the budget command run once), the
Council from the cockpit (the loopback Messages API of test_council), ``snapshot --fail-on
budget``. Every wait is on the app's own signals."""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import DEMO_HOST, DEMO_NOW, asked, config_for, demo_reader
from test_app import RecordingApp
from test_council import FakeAPI, good
from textual.pilot import Pilot
from textual.widgets import Static

from factory_tui.actions.cost import budget_reasons, tracker_for
from factory_tui.adapters.transcripts import CostTracker, TranscriptReader
from factory_tui.cli import main
from factory_tui.config import Config
from factory_tui.core.attention import attention_items
from factory_tui.demo import DemoFactory, generate_demo
from factory_tui.demo.transcripts import write_demo_transcripts
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.screens.council import CouncilScreen, council_lines
from factory_tui.ui.targets import Selection, council_target
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.cost import CostPanel
from factory_tui.ui.widgets.spend import BudgetBanner, spend_segment
from factory_tui.ui.widgets.summary import SummaryBar
from factory_tui.ui.widgets.view_tabs import ViewTabs

SIZE = (120, 40)
#: What the demo's agents spent on DEMO_NOW's day, from their transcripts.
TODAY_USD = "18.12"


def budgets(
    demo: DemoFactory, *, daily: float | None = 30, agent: float | None = 10, extra: str = ""
) -> None:
    """The demo's factory.toml with these budgets (and ``extra`` TOML after them)."""
    lines = ['memory = ".factory/memory"', 'claude_config_dir = ".factory/claude"']
    if daily is not None:
        lines.append(f"daily_budget_usd = {daily}")
    if agent is not None:
        lines.append(f"agent_budget_usd = {agent}")
    (demo.root / "factory.toml").write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture
def spent(demo: DemoFactory) -> DemoFactory:
    """The demo with its local agents' transcripts (budgets: $30 a day, $10 an agent)."""
    write_demo_transcripts(demo.root, hostname=DEMO_HOST)
    return demo


def cockpit(
    demo: DemoFactory, *, environ: dict[str, str] | None = None, **kwargs: Any
) -> RecordingApp:
    app = RecordingApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        refresh_interval=3600,
        theme_dir=demo.root.parent / "no-user-themes",
        environ=environ if environ is not None else {},
        prs=PrsOptions(enabled=False),
        **kwargs,
    )
    app.animation_level = "none"
    return app


async def ready(app: FactoryApp) -> None:
    await app.wait_for_fleet(lambda _fleet: app.loaded)
    await app.wait_for_cost()


async def refreshed(app: FactoryApp, pilot: Pilot[Any]) -> None:
    """One more pass of the cost worker (what its slow timer does), handled."""
    before = app.cost_updates.count
    app.cost_feed.request(post=True)  # post even if nothing moved: a signal to wait on
    await app.wait_for_cost(lambda _s: app.cost_updates.count > before)
    await pilot.pause()


def role(demo: DemoFactory, name: str) -> str:
    return next(i for i, r in demo.instances.items() if r == name)


def pane(app: FactoryApp, instance: str) -> AgentPane:
    return app.query_one(AgentGrid).panes[instance]


def pane_text(app: FactoryApp, instance: str) -> str:
    return pane(app, instance).render().plain


def spend(app: FactoryApp) -> str:
    return app.query_one(SummaryBar).segments["spend"].plain


def table_keys(app: FactoryApp) -> list[str]:
    return app.query_one(CostPanel).table.row_keys


def static_text(app: FactoryApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


# -- the header, the panes --------------------------------------------------------------------


def column_labels(app: FactoryApp) -> list[str]:
    return [column.label.plain for column in app.query_one(CostPanel).table.columns.values()]


async def test_the_header_says_the_transcripts_are_being_read_and_the_cockpit_answers(
    spent: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_refresh = CostTracker.refresh

    def slow_refresh(self: CostTracker, *args: Any, **kwargs: Any) -> bool:
        release.wait(10)
        return real_refresh(self, *args, **kwargs)

    monkeypatch.setattr(CostTracker, "refresh", slow_refresh)
    app = cockpit(spent)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda _fleet: app.loaded)
        assert spend(app) == "SPEND reading transcripts…"
        assert "Reading Claude Code's transcripts" in str(app.query_one("#cost-summary").render())
        await pilot.press("2")  # the cockpit is not waiting for the transcripts
        assert app.cockpit.current_view == "claims"
        release.set()
        await app.wait_for_cost()
        assert spend(app).startswith(f"SPEND ${TODAY_USD}")


async def test_the_header_says_how_far_the_first_read_of_the_transcripts_is(
    spent: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big transcripts folder takes seconds the first time: the header counts the files."""
    release = threading.Event()
    real_refresh = TranscriptReader.refresh
    reads: list[int] = []

    def refresh_held(
        self: TranscriptReader, ledger: Any, progress: Callable[[int, int], None] | None = None
    ) -> int:
        def held(done: int, total: int) -> None:
            reads.append(done)
            if progress is not None:
                progress(done, total)
            if done == 1:
                release.wait(10)  # hold the read after its first file

        return real_refresh(self, ledger, None if progress is None else held)

    monkeypatch.setattr(TranscriptReader, "refresh", refresh_held)
    app = cockpit(spent)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda _fleet: app.loaded)
        for _ in range(500):  # the worker's progress message, processed by the app
            if "%" in spend(app):
                break
            await pilot.pause()
        shown = re.fullmatch(r"SPEND reading transcripts (\d+)%…", spend(app))
        assert shown is not None and 0 < int(shown[1]) < 100, spend(app)
        assert len(reads) == 1
        release.set()
        await app.wait_for_cost()
        assert spend(app).startswith(f"SPEND ${TODAY_USD}")


async def test_a_factory_without_transcripts_spends_nothing(demo: DemoFactory) -> None:
    (demo.root / "factory.toml").write_text(
        'memory = ".factory/memory"\nclaude_config_dir = ".factory/claude"\n'
    )
    app = cockpit(demo)
    async with app.run_test(size=SIZE):
        await ready(app)
        assert spend(app) == "SPEND $0.00 today"
        assert "spend  $0.00 today" in pane_text(app, role(demo, "working"))
        summary = static_text(app, "#cost-summary")
        assert "No Claude Code transcript of this repo" in summary
        assert "factory-tui doctor" in summary  # where to look further


async def test_the_spans_are_made_once_a_response_wants_them(
    demo: DemoFactory, spans_made: list[int]
) -> None:
    """No transcript at the start (the agents run elsewhere): the fleet's spans are not made
    (a 300-day history's took 5 s and 240 MB of the cockpit), the spend is $0 and said so in
    each pane. Transcripts written since: once the cost worker has read them, the spans are
    made, and the spend is each agent's."""
    (demo.root / "factory.toml").write_text(
        'memory = ".factory/memory"\nclaude_config_dir = ".factory/claude"\n'
    )
    made = spans_made
    app = cockpit(demo)
    working = role(demo, "working")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        assert made == [] and spend(app) == "SPEND $0.00 today"
        assert "spend  $0.00 today" in pane_text(app, working)
        write_demo_transcripts(demo.root, hostname=DEMO_HOST)
        await refreshed(app, pilot)
        await app.wait_for_cost(lambda snapshot: snapshot.attributed and snapshot.view.today_usd)
        await pilot.pause()
        assert made and spend(app).startswith(f"SPEND ${TODAY_USD}")
        assert "spend  $4.54 today" in pane_text(app, working)  # its own, attributed


# -- the Cost view ------------------------------------------------------------------------------


def add_unpriced_response(demo: DemoFactory) -> None:
    """A response today from a model the price table does not list."""
    folder = next((demo.root / ".factory" / "claude" / "projects").iterdir())
    line = {
        "type": "assistant",
        "cwd": str(demo.root),
        "gitBranch": "main",
        "timestamp": "2026-02-16T15:00:00.000Z",
        "requestId": "req_x",
        "message": {
            "id": "msg_x",
            "model": "claude-nonesuch-9",
            "usage": {"input_tokens": 1000, "output_tokens": 10},
        },
    }
    (folder / "extra.jsonl").write_text(json.dumps(line) + "\n")


async def test_the_header_and_the_cost_view_by_agent_ticket_model_day(spent: DemoFactory) -> None:
    add_unpriced_response(spent)
    app = cockpit(spent)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        # The header: today's spend (``+``: an unpriced model is left out) and the budget.
        assert spend(app) == f"SPEND ${TODAY_USD}+ / $30.00 today"
        await pilot.press("8")
        assert app.cockpit.current_view == "cost"
        keys = table_keys(app)
        assert keys[0] == role(spent, "ended") and keys[-1] == "\x00total"
        assert set(keys[:-1]) == {i for i, r in spent.instances.items() if r != "remote"} | {
            "(tinygate)"
        }
        notes = static_text(app, "#cost-notes")
        assert "Tokens input" in notes and "cache write" in notes and "cache read" in notes
        assert "model claude-nonesuch-9 is not in the price table" in notes
        assert '[cost.prices."claude-nonesuch-9"] input = …, output = …' in notes

        async def cycle(key: str, grouping: str, period: str = "today") -> list[str]:
            await pilot.press(key)
            await app.wait_for_cost(
                lambda s: s is not None and (s.grouping, s.period) == (grouping, period)
            )
            await pilot.pause()
            return table_keys(app)

        sonnet, haiku, nonesuch = (
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5-20251001",
            "claude-nonesuch-9",
        )
        # A budget applies per agent: only that table has the BUDGET column.
        assert "BUDGET" in column_labels(app)
        # Today by ticket, then 7 days by model and by day (the subagent ran days ago).
        tickets = await cycle("g", "ticket")
        assert "CAB-1350" in tickets  # the ticket id, not a session's task
        assert "CAB-1290\x00phase 2" in tickets  # a phase under its ticket
        assert tickets.index("CAB-1290\x00phase 2") == tickets.index("CAB-1290") + 1
        assert "BUDGET" not in column_labels(app) and "USD" in column_labels(app)
        assert "CAB-1297" not in table_keys(app)
        assert "CAB-1297" in await cycle("p", "ticket", "7 days")
        assert await cycle("g", "model", "7 days") == [sonnet, haiku, nonesuch, "\x00total"]
        assert "BUDGET" not in column_labels(app)
        days = await cycle("g", "day", "7 days")
        assert "BUDGET" not in column_labels(app)
        assert days == ["2026-02-13", "2026-02-14", "2026-02-15", "2026-02-16", "\x00total"]
        await pilot.press("slash")
        await pilot.press(*"02-16", "enter")
        assert table_keys(app) == ["2026-02-16", "\x00total"]


async def test_a_wrong_cost_table_is_shown_not_raised(spent: DemoFactory) -> None:
    budgets(spent, extra='[cost]\nprices = "cheap"\n')
    app = cockpit(spent)
    async with app.run_test(size=SIZE):
        await ready(app)
        assert app.cost is None and app.cost_error is not None
        assert "[cost.prices] must be a table" in app.cost_error
        assert spend(app) == "SPEND ✗ see the Cost view"
        assert ("Cost", app.cost_error) in app.notes


# -- budgets ------------------------------------------------------------------------------------


async def test_budgets_warn_once_alert_until_acknowledged_and_run_the_command_once(
    spent: DemoFactory, tmp_path: Path
) -> None:
    out = tmp_path / "fired.txt"
    script = (
        "import os; open(os.environ['OUT'], 'a').write("
        "os.environ['FACTORY_BUDGET_SCOPE'] + ' ' + os.environ['FACTORY_BUDGET_SUBJECT'] + '\\n')"
    )
    budgets(
        spent,
        daily=15,
        agent=5,
        extra=f"[cost]\non_budget = {json.dumps([sys.executable, '-c', script])}\n",
    )
    working, ended = role(spent, "working"), role(spent, "ended")
    app = cockpit(spent, environ={"OUT": str(out)})
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.pause()
        # The header: the day's spend in the alarm style, with words.
        assert spend(app) == f"SPEND ${TODAY_USD} / $15.00 today ✗ BUDGET ✗ 1 agent over"
        styles = " ".join(
            str(span.style) for span in app.query_one(SummaryBar).segments["spend"].spans
        )
        assert "reverse $error" in styles
        # The panes: each agent's spend against the per-agent budget.
        assert "spend  $4.54 today · ! 91 % of $5.00 budget" in pane_text(app, working)
        assert "spend  $6.95 today · ✗ OVER BUDGET: 139 % of $5.00" in pane_text(app, ended)
        assert "— runs on another host" in pane_text(app, role(spent, "remote"))
        # Notified once each (the warning at 80 %, the alerts at 100 %), the bell once.
        assert [n for n in app.notes if n[0] == "Budget warning"] == [
            ("Budget warning", f"{working} today: $4.54 of $5.00 (91 %) — past 80 % of the budget")
        ]
        assert [n[0] for n in app.notes].count("Budget reached") == 2
        assert app.bells == 1
        # The alerts stay on screen, and `n` goes to them.
        banner = app.query_one(BudgetBanner)
        assert banner.has_class("-shown") and banner.display
        shown = str(banner.render())
        assert "✗ BUDGET REACHED  today: $18.12 of $15.00 (121 %)" in shown
        assert f"✗ BUDGET REACHED  {ended} today: $6.95 of $5.00 (139 %)" in shown
        assert app.query_one(ViewTabs).label("cost").plain.endswith("!2")
        items = attention_items(
            app.fleet,
            budgets=[(s, app.budget_seen[s.alert_id]) for s in app.unacknowledged_budget_alerts()],
        )
        assert [i.kind for i in items].count("budget reached") == 2
        for _ in items:
            await pilot.press("n")
            if app.cockpit.current_view == "cost":
                break
        assert app.cockpit.current_view == "cost"
        # Another read: nothing raised again, the command not run again.
        await refreshed(app, pilot)
        assert banner.has_class("-shown")
        assert len(app.cost_feed.budget_processes) == 2
        for process in app.cost_feed.budget_processes:
            assert process.wait(timeout=20) == 0
        assert sorted(out.read_text().splitlines()) == sorted(
            ["daily all agents", f"agent {ended}"]
        )
        assert [n[0] for n in app.notes].count("Budget command") == 2
        # `A` acknowledges: the banner goes and does not come back for these alerts.
        assert app.cockpit.check_action("acknowledge_budget", ()) is True
        await pilot.press("A")
        assert not banner.has_class("-shown") and not banner.display
        assert app.cockpit.check_action("acknowledge_budget", ()) is False
        await refreshed(app, pilot)
        assert not banner.has_class("-shown")
        assert [n[0] for n in app.notes].count("Budget reached") == 2
        assert [n[0] for n in app.notes].count("Budget warning") == 1
        assert app.bells == 1 and len(app.cost_feed.budget_processes) == 2
        assert not [
            i
            for i in attention_items(
                app.fleet, budgets=[(s, DEMO_NOW) for s in app.unacknowledged_budget_alerts()]
            )
            if i.kind == "budget reached"
        ]
        # The header's warning style, for a day past 80 % of its budget (the same spend).
        await app.workers.wait_for_complete()
        assert app.cost is not None and app.cost_feed.tracker is not None
        view = app.cost_feed.tracker.ledger.view(DEMO_NOW, daily_budget_usd=22)
        segment = spend_segment(replace(app.cost, view=view), reading=False)
        assert segment.plain == f"SPEND ${TODAY_USD} / $22.00 today ! 82 %"
        styles = " ".join(str(span.style) for span in segment.spans)
        assert "$warning" in styles and "$error" not in styles


def test_snapshot_fail_on_budget(spent: DemoFactory, tmp_path: Path) -> None:
    now = datetime(2026, 2, 16, 15, 42, 30)
    assert budget_reasons(config_for(spent.root), now) == []
    budgets(spent, daily=15, agent=None)
    assert budget_reasons(config_for(spent.root), now) == [
        "budget reached: today: $18.12 of $15.00 (121 %) — budget reached"
    ]
    out = tmp_path / "shot.txt"
    argv = ["snapshot", str(spent.root), "-o", str(out), "--now", "2026-02-16T15:42:30"]
    assert main([*argv, "--view", "cost", "--fail-on", "budget"]) == 1
    assert "SPEND $18.12 / $15.00 today" in out.read_text()
    assert "✗ BUDGET REACHED" in out.read_text()
    assert main([*argv, "--fail-on", "nonsense"]) == 2


# -- budgets remembered across restarts, per user and per factory root ---------------------------

#: ``[cost] on_budget``: a command that appends its budget to the file named by $OUT.
FIRED_SCRIPT = (
    "import os; open(os.environ['OUT'], 'a').write("
    "os.environ['FACTORY_BUDGET_SCOPE'] + ' ' + os.environ['FACTORY_BUDGET_SUBJECT'] + '\\n')"
)


def with_budget_command(demo: DemoFactory) -> DemoFactory:
    """$15 a day, $5 an agent (the demo's day and one agent are over), on_budget FIRED_SCRIPT."""
    budgets(
        demo,
        daily=15,
        agent=5,
        extra=f"[cost]\non_budget = {json.dumps([sys.executable, '-c', FIRED_SCRIPT])}\n",
    )
    return demo


@dataclass
class Run:
    """What one cockpit run showed: the budget banner before (and after) ``A``, notifications,
    bells, the on_budget processes it started."""

    banner: bool
    banner_after: bool | None
    notes: list[tuple[str, str]]
    bells: int
    processes: int


async def run_cockpit(demo: DemoFactory, out: Path, *, acknowledge: bool = False) -> Run:
    """Start the cockpit on ``demo``, let it judge the budgets (and run on_budget), press ``A``
    if asked, quit once every worker (the state writes too) is done."""
    app = cockpit(demo, environ={"OUT": str(out)})
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.pause()
        banner = app.query_one(BudgetBanner)
        shown = banner.has_class("-shown")
        assert shown == app.cockpit.check_action("acknowledge_budget", ())
        after = None
        if acknowledge:
            await pilot.press("A")
            after = banner.has_class("-shown")
        await app.workers.wait_for_complete()
        for process in app.cost_feed.budget_processes:
            assert process.wait(timeout=20) == 0
    return Run(shown, after, list(app.notes), app.bells, len(app.cost_feed.budget_processes))


def fired_lines(out: Path) -> list[str]:
    return sorted(out.read_text().splitlines()) if out.exists() else []


async def test_an_acknowledged_alert_stays_acknowledged_after_a_restart(
    spent: DemoFactory, tmp_path: Path
) -> None:
    with_budget_command(spent)
    first = await run_cockpit(spent, tmp_path / "fired.txt", acknowledge=True)
    assert first.banner and first.banner_after is False
    assert [n[0] for n in first.notes].count("Budget reached") == 2 and first.bells == 1
    second = await run_cockpit(spent, tmp_path / "fired.txt")
    # Neither the banner, nor the notification and the bell, for the alerts acknowledged.
    assert not second.banner
    assert "Budget reached" not in [n[0] for n in second.notes]
    assert second.bells == 0


async def test_the_budget_command_runs_once_across_restarts(
    spent: DemoFactory, tmp_path: Path
) -> None:
    with_budget_command(spent)
    out = tmp_path / "fired.txt"
    ended = role(spent, "ended")
    first = await run_cockpit(spent, out)
    assert first.processes == 2
    assert fired_lines(out) == sorted(["daily all agents", f"agent {ended}"])
    second = await run_cockpit(spent, out)
    assert second.processes == 0 and "Budget command" not in [n[0] for n in second.notes]
    assert fired_lines(out) == sorted(["daily all agents", f"agent {ended}"])
    # Not acknowledged: the alerts are still on screen.
    assert second.banner


async def test_an_unreadable_budget_state_is_kept_aside_and_the_cockpit_starts_afresh(
    spent: DemoFactory, tmp_path: Path, private_state_dir: Path
) -> None:
    with_budget_command(spent)
    state = private_state_dir / "budget-state.json"
    garbage = b'{"version": 1, "repos": {"/x": {"acknowledged": {"daily:all'
    state.write_bytes(garbage)
    run = await run_cockpit(spent, tmp_path / "fired.txt", acknowledge=True)
    # A fresh start, and nothing said about the file.
    assert run.banner and run.processes == 2
    said = [text for title, text in run.notes if title not in ("Budget warning", "Budget reached")]
    assert len(said) == 3
    assert all(text.startswith(("ran [cost] on_budget", "Acknowledged: ")) for text in said)
    assert (private_state_dir / "budget-state.json.unreadable").read_bytes() == garbage
    entry = json.loads(state.read_bytes())["repos"][str(spent.root)]
    assert len(entry["acknowledged"]) == 2 and len(entry["fired"]) == 2


async def test_budgets_are_remembered_per_factory_root(demo: DemoFactory, tmp_path: Path) -> None:
    other_root = tmp_path / "elsewhere" / "tinygate"
    shutil.copytree(demo.root, other_root, symlinks=True)
    other = replace(
        demo,
        root=other_root,
        memory_dir=other_root / demo.memory_dir.relative_to(demo.root),
        claims_dir=other_root / demo.claims_dir.relative_to(demo.root),
    )
    for factory in (demo, other):
        write_demo_transcripts(factory.root, hostname=DEMO_HOST)
        with_budget_command(factory)
    here, there = tmp_path / "fired-here.txt", tmp_path / "fired-there.txt"
    first = await run_cockpit(demo, here, acknowledge=True)
    assert first.banner and first.processes == 2
    # The same alert ids on another factory: its own banner and its own on_budget runs.
    elsewhere = await run_cockpit(other, there)
    assert elsewhere.banner and elsewhere.processes == 2 and len(fired_lines(there)) == 2
    # Back on the first: still acknowledged, still run for.
    again = await run_cockpit(demo, here)
    assert not again.banner and again.processes == 0 and len(fired_lines(here)) == 2


# -- the Council ------------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI()
    yield server
    server.close()


def history(config: Config) -> list[dict[str, Any]]:
    path = config.council_history
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def council_screen(app: FactoryApp, pilot: Pilot[Any]) -> CouncilScreen:
    await asked(pilot, CouncilScreen)
    await pilot.pause()
    assert isinstance(app.screen, CouncilScreen), app.screen
    return app.screen


def screen_lines(screen: CouncilScreen) -> str:
    return "\n".join(line.plain for line in council_lines(screen.outcome, screen.what))


async def test_council_on_a_claim_shows_the_verdict_then_replays_it(
    spent: DemoFactory, api: FakeAPI
) -> None:
    api.script["Chucky"] = [good(7)]
    app = cockpit(spent, environ=api.env())
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("2")
        app.query_one(ClaimTree).select_key("CAB-1290:2")
        await pilot.pause()
        assert app.cockpit.check_action("council", ()) is True
        await pilot.press("C")
        assert ("", "Council running on ticket CAB-1352…") in app.notes
        screen = await council_screen(app, pilot)
        assert "council" not in app.query_one(SummaryBar).segments
        text = screen_lines(screen)
        assert "✓ GO   average 8.50 / 10" in text
        assert "Chucky             7/10" in text and "reason 7" in text and "! split it" in text
        assert "claude-haiku-4-5 · 4,000 tokens in, 400 out" in text
        assert "REPLAYED" not in text
        assert screen.check_action("force", ()) is False  # nothing replayed: nothing to force
        assert len(api.requests) == 4
        assert [h["ticket"] for h in history(app.config)] == ["CAB-1352"]
        # The same proposal again: replayed, no call; `f` asks again, paid.
        await pilot.press("escape")
        await pilot.press("C")
        screen = await council_screen(app, pilot)
        text = screen_lines(screen)
        assert "↺ REPLAYED" in text and "no call made" in text
        assert len(api.requests) == 4
        await pilot.press("f")
        screen = await council_screen(app, pilot)
        assert not screen.outcome.replayed
        assert len(api.requests) == 8 and len(history(app.config)) == 2
        # The Council's calls count in today's spend.
        await app.wait_for_cost(lambda s: s is not None and "(council)" in s.view.agents_today)
        # An agent's ticket, from the agents view; a persona's error is shown as its own.
        await pilot.press("escape")
        await pilot.press("1")
        app.query_one(AgentGrid).focus_instance(role(spent, "crashed"))
        api.script["OSS Killer"] = [good(11)]
        await pilot.press("C")
        screen = await council_screen(app, pilot)
        text = screen_lines(screen)
        assert screen.what == "ticket CAB-1353"
        assert "? NO VERDICT" in text
        assert "OSS Killer" in text and "✗ no score" in text and "invalid score 11" in text


async def test_council_kill_switch_or_no_key_says_so_and_its_targets(
    spent: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"FACTORY_COUNCIL_DISABLE": "1", "ANTHROPIC_API_KEY": "sk-x"}
    app = cockpit(spent, environ=environ)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.query_one(AgentGrid).focus_instance(role(spent, "working"))
        for named in ("FACTORY_COUNCIL_DISABLE", "ANTHROPIC_API_KEY"):
            await pilot.press("C")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert not isinstance(app.screen, CouncilScreen)
            title, message = app.notes[-1]
            assert title.startswith("Council on ticket CAB-1352: ") and named in message
            assert app.council_running is None
            environ.clear()  # next: no kill switch, but no API key either
        assert not history(app.config)
        # A PR in the PRs view: its diff (gh pr diff N, or git for a PR known locally only).
        on_github = SimpleNamespace(pr=SimpleNamespace(source="github", number=12), label="PR #12")
        local = SimpleNamespace(pr=SimpleNamespace(source="local", number=None), label="fix/x")
        for pr, expected in (
            (on_github, ("github", "PR #12", 12)),
            (local, ("local", "fix/x", None)),
        ):
            selection = Selection("prs", pr=("open", pr))  # type: ignore[arg-type]
            target = council_target(selection, app.fleet, lambda _text: ())
            assert target is not None
            assert (target.kind, target.label, target.number) == expected
        # Read-only: the Council writes council-history.jsonl, so `C` is off.
        app.config = replace(app.config, read_only=True)
        assert app.cockpit.check_action("council", ()) is False
        await pilot.press("C")
        assert app.council_running is None


# -- the demo's transcripts -----------------------------------------------------------------------


def transcripts(root: Path) -> list[str]:
    """Every transcript file's text, with the demo's folder written as ROOT."""
    folder = root / ".factory" / "claude" / "projects"
    return sorted(p.read_text().replace(str(root), "ROOT") for p in folder.rglob("*.jsonl"))


def test_the_demo_writes_its_transcripts_inside_itself_the_same_each_time(
    spent: DemoFactory, tmp_path: Path
) -> None:
    made = generate_demo(
        tmp_path / "fresh" / "tinygate",
        now=DEMO_NOW,
        hostname=DEMO_HOST,
        start_processes=False,
        transcripts=True,
    )
    toml = tomllib.loads((made.root / "factory.toml").read_text())
    assert toml["claude_config_dir"] == ".factory/claude"
    assert (toml["daily_budget_usd"], toml["agent_budget_usd"]) == (30, 10)
    config = config_for(made.root)
    assert config.claude_config_dir == made.root / ".factory" / "claude"  # never ~/.claude
    texts = transcripts(made.root)
    assert len(texts) == 13 and texts == transcripts(spent.root)
    subagents = list((config.claude_config_dir / "projects").glob("*/*/subagents/*.jsonl"))
    assert len(subagents) == 1
    # Every local agent spent today; the remote one's transcripts are on its own host.
    view = tracker_for(config).view(DEMO_NOW)
    assert f"{view.today_usd:.2f}" == TODAY_USD
    local = {i for i, r in made.instances.items() if r != "remote"}
    assert {a for a in view.agents_today if not a.startswith("(")} == local
    assert all(view.agent_usd(i) > 0 for i in local)
