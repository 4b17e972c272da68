"""An agent's pane gets its status's class without the stylesheet being applied to it before it
is mounted (it is applied as it is mounted: twice cost ~0.5 ms a pane, 50 ms of the first
fleet's frame of the scale factory's hundred agents); a change of status applies it once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from conftest import DEMO_NOW
from test_app import demo_app

from factory_tui.demo import DemoFactory
from factory_tui.ui.widgets.agents import AgentPane
from factory_tui.ui.widgets.text import AGENT_BADGES


async def test_a_pane_is_styled_once_made_and_once_a_status_changes(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    styled: list[AgentPane] = []
    update = AgentPane.update_node_styles

    def noting(self: AgentPane, animate: bool = True) -> None:
        styled.append(self)
        update(self, animate)

    monkeypatch.setattr(AgentPane, "update_node_styles", noting)
    app = demo_app(demo)
    async with app.run_test(size=(120, 40)):
        fleet = await app.wait_for_fleet()
        view = fleet.instances[0]
        styled.clear()
        pane = AgentPane(view, DEMO_NOW)
        assert styled == [] and pane.has_class(f"-{view.status}")
        other = next(status for status in AGENT_BADGES if status != view.status)
        pane.show(replace(view, status=other), DEMO_NOW)
        assert styled == [pane]
        assert pane.has_class(f"-{other}") and not pane.has_class(f"-{view.status}")
        shown: Any = pane.border_subtitle
        assert AGENT_BADGES[other][0] in str(shown)
