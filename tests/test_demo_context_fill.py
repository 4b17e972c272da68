"""Issue 13: the demo's agents do not all sit near the ⚠ context mark, so it means something."""

from __future__ import annotations

from conftest import DEMO_HOST, DEMO_NOW, demo_reader

from factory_tui.core.activity import CONTEXT_FLAG
from factory_tui.demo import DemoFactory
from factory_tui.demo.transcripts import write_demo_transcripts


def test_one_demo_agent_nears_70_percent_context_and_the_others_stay_well_below(
    demo: DemoFactory,
) -> None:
    write_demo_transcripts(demo.root, hostname=DEMO_HOST)
    reader = demo_reader(demo)
    reader.refresh_all()
    fleet = reader.fleet(DEMO_NOW)
    fills = {
        i.id: i.activity.fill
        for i in fleet.instances
        if i.activity is not None and i.activity.fill is not None
    }
    assert len(fills) >= 3  # the demo's local agents with a transcript
    flagged = [agent for agent, fill in fills.items() if fill >= CONTEXT_FLAG]
    assert len(flagged) == 1
    assert 0.66 <= fills[flagged[0]] <= 0.74
    working = {i.id for i in fleet.instances if i.status == "working"}
    assert flagged[0] in working  # the most recently active agent
    assert all(fill <= 0.5 for agent, fill in fills.items() if agent != flagged[0])
