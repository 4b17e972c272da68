"""SVG snapshots of the cockpit's cost side on the deterministic demo factory with its agents'
transcripts (frozen clock, fixed process table, pinned pids, PR queue off): the Cost view, the
agents view with budgets reached (banner, header, panes), the Council's verdict screen.

Update after an intended change with ``pytest tests/test_snapshots_cost.py --snapshot-update``
and look at the SVGs in ``tests/__snapshots__/test_snapshots_cost/`` before committing them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conftest import DEMO_HOST, DEMO_NOW, config_for, demo_reader
from textual.pilot import Pilot

from factory_tui.actions.base import Outcome
from factory_tui.actions.council import CouncilOutcome
from factory_tui.core.council import PersonaFailure, PersonaVerdict, Proposal, assemble
from factory_tui.demo import DemoFactory
from factory_tui.demo.transcripts import write_demo_transcripts
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.screens.council import CouncilScreen

SnapCompare = Any


def cockpit(demo: DemoFactory, *, view: str = "agents") -> FactoryApp:
    app = FactoryApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        initial_view=view,
        refresh_interval=3600,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    app.animation_level = "none"
    return app


async def loaded(pilot: Pilot[Any]) -> None:
    """The first load, the log index and the transcripts read and attributed; no toasts."""
    app = pilot.app
    assert isinstance(app, FactoryApp)
    await app.wait_for_fleet(lambda _fleet: app.loaded and app.log_ready)
    await app.wait_for_cost()
    await pilot.pause()
    app.clear_notifications()
    await pilot.pause()


def spent(demo: DemoFactory, budgets: str = "") -> DemoFactory:
    write_demo_transcripts(demo.root, hostname=DEMO_HOST)
    if budgets:
        (demo.root / "factory.toml").write_text(
            'memory = ".factory/memory"\nclaude_config_dir = ".factory/claude"\n' + budgets
        )
    return demo


def test_cost_view(demo: DemoFactory, snap_compare: SnapCompare) -> None:
    app = cockpit(spent(demo), view="cost")
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


def test_agents_with_budgets_reached(demo: DemoFactory, snap_compare: SnapCompare) -> None:
    app = cockpit(spent(demo, "daily_budget_usd = 15\nagent_budget_usd = 5\n"))
    assert snap_compare(app, terminal_size=(120, 40), run_before=loaded)


def verdict() -> CouncilOutcome:
    result = assemble(
        timestamp=datetime(2026, 2, 16, 15, 40, 2),
        proposal=Proposal("Add a traceparent header to every request.", "ticket CAB-1352"),
        outcomes=[
            PersonaVerdict(
                "Chucky",
                6,
                ("The retry path drops the header on the second attempt.",),
                ("Cover the retry path with a test.", "Roll out behind a flag."),
            ),
            PersonaVerdict("OSS Killer", 8, ("Tracing is table stakes; cheap to build.",)),
            PersonaVerdict(
                "Archi 50x50",
                9,
                ("One middleware, one place: boring in the good way.",),
            ),
            PersonaFailure("Better Call Saul", "HTTP 529 overloaded after 3 attempts"),
        ],
        model="claude-haiku-4-5",
        input_tokens=5123,
        output_tokens=612,
        cost=0.008183,
        duration_ms=2310,
    )
    return CouncilOutcome(Outcome.REFUSED, "no verdict: Better Call Saul did not answer", result)


def test_council_screen(demo: DemoFactory, snap_compare: SnapCompare) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.app.push_screen(CouncilScreen(verdict(), "ticket CAB-1352"))
        await pilot.pause()

    app = cockpit(spent(demo))
    assert snap_compare(app, terminal_size=(110, 36), run_before=show)
