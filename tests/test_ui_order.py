"""Issue 12: agent panes keep their place. A new status does not move the pane under the cursor;
``o`` switches the grid between "needs me first" and "by id" (and says which one it is in)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from conftest import press_to_quit
from test_app import SIZE, demo_app
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from factory_tui.core.fleet import Fleet, InstanceStatus, InstanceView
from factory_tui.demo import DemoFactory
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane, id_order
from factory_tui.ui.widgets.footer import KeysFooter

NOW = datetime(2026, 2, 16, 15, 42, 30)
#: The core's "needs me first" order (crashed, stale, working, idle, ended), as the fleet has it.
RANK = {"crashed": 0, "stale": 1, "working": 2, "idle": 3, "ended": 4}


def agent(instance_id: str, status: InstanceStatus) -> InstanceView:
    return InstanceView(
        id=instance_id,
        status=status,
        why=f"{instance_id} is {status}",
        host=None,
        local=True,
        pid=None,
        alive=None,
        cpu_percent=None,
        rss_bytes=None,
        task=None,
        branch=None,
        step=None,
        step_state=None,
        step_index=None,
        step_since=None,
        last_event_at=None,
        claims=(),
        conflicts=(),
        recent=(),
        session=None,
    )


def fleet(**statuses: InstanceStatus) -> Fleet:
    """A fleet of ``id=status`` agents, in the core's order (as ``derive_fleet`` sorts them)."""
    views = sorted(
        (agent(key.replace("_", "-"), status) for key, status in statuses.items()),
        key=lambda view: (RANK[view.status], view.id),
    )
    return Fleet(
        root="/factory",
        generated_at=NOW,
        hostname="here",
        instances=tuple(views),
        sessions=(),
        claims=(),
        problems=(),
    )


class GridApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AgentGrid(id="agent-grid")
        yield KeysFooter()


def order(grid: AgentGrid) -> list[str]:
    return [pane.view.id for pane in grid.ordered_panes()]


def focused_id(pilot: Pilot[Any]) -> str:
    focused = pilot.app.focused
    assert isinstance(focused, AgentPane), focused
    return focused.view.id


def footer_text(app: App[Any]) -> str:
    return " ".join(
        f"{binding.key} {binding.description}"
        for binding, _enabled, _tip in app.query_one(KeysFooter).fitted()[0]
    )


async def test_the_focused_pane_stays_put_when_another_agent_changes_status() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(a_1="working", a_2="working", a_3="idle"))
        await pilot.pause()
        assert order(grid) == ["a-1", "a-2", "a-3"]
        grid.panes["a-2"].focus()
        await pilot.pause()
        region = grid.panes["a-2"].region
        # a-3 crashes: the core now puts it first, the grid keeps it where it was.
        crashed = fleet(a_1="working", a_2="working", a_3="crashed")
        assert [view.id for view in crashed.instances] == ["a-3", "a-1", "a-2"]
        grid.show_fleet(crashed)
        await pilot.pause()
        assert order(grid) == ["a-1", "a-2", "a-3"]
        assert grid.panes["a-3"].view.status == "crashed"  # shown, not moved
        assert focused_id(pilot) == "a-2"
        assert grid.panes["a-2"].region == region
        # The focused agent's own status changing does not move it either.
        grid.show_fleet(fleet(a_1="working", a_2="stale", a_3="crashed"))
        await pilot.pause()
        assert order(grid) == ["a-1", "a-2", "a-3"]
        assert grid.panes["a-2"].region == region
        # The cursor moves from where it is.
        await pilot.press("down")
        assert focused_id(pilot) == "a-3"


async def test_a_new_agent_joins_after_the_others_and_a_gone_one_leaves_no_gap() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(b="working", c="idle"))
        await pilot.pause()
        grid.panes["c"].focus()
        grid.show_fleet(fleet(a="crashed", b="working", c="idle"))
        await pilot.pause()
        assert order(grid) == ["b", "c", "a"]
        assert focused_id(pilot) == "c"
        grid.show_fleet(fleet(a="crashed", c="idle", d="stale"))
        await pilot.pause()
        assert order(grid) == ["c", "a", "d"]


async def test_while_the_factory_is_read_the_order_follows_the_fleet() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(a="working", b="working"), loaded=False)
        grid.show_fleet(fleet(a="working", b="crashed"))  # the first full read
        await pilot.pause()
        assert order(grid) == ["b", "a"]


async def test_o_switches_between_needs_me_first_and_by_id_both_ways() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(a_10="idle", a_2="working", a_9="working"))
        await pilot.pause()
        assert order(grid) == ["a-2", "a-9", "a-10"]
        grid.panes["a-9"].focus()
        await pilot.pause()
        assert "o Order: needs me first" in footer_text(app)
        # Statuses change; the order is kept until asked for.
        grid.show_fleet(fleet(a_10="crashed", a_2="idle", a_9="working"))
        await pilot.pause()
        assert order(grid) == ["a-2", "a-9", "a-10"]
        assert not grid.query("#agents-order")
        await pilot.press("o")
        assert grid.order == "id"
        assert order(grid) == ["a-2", "a-9", "a-10"]  # a-2 before a-10: numbers as numbers
        assert "o Order: by id" in footer_text(app)
        assert "needs me first" not in footer_text(app)
        # Not the default order: a line above the panes says so (the footer may have no room).
        line = grid.query_one("#agents-order", Static)
        assert "ordered by id" in str(line.render())
        assert grid.children[0] is line
        assert focused_id(pilot) == "a-9"
        await pilot.press("o")
        assert grid.order == "attention"
        assert order(grid) == ["a-10", "a-9", "a-2"]  # sorted afresh: crashed, working, idle
        await pilot.pause()
        assert not grid.query("#agents-order")
        assert "o Order: needs me first" in footer_text(app)
        assert focused_id(pilot) == "a-9"
        # By id, a new agent takes its place by id.
        await pilot.press("o")
        grid.show_fleet(fleet(a_10="crashed", a_2="idle", a_9="working", a_3="stale"))
        await pilot.pause()
        assert order(grid) == ["a-2", "a-3", "a-9", "a-10"]


async def test_a_filter_keeps_the_order_of_what_it_shows() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(x_1="working", y_1="working", x_2="idle"))
        await pilot.pause()
        grid.show_fleet(fleet(x_1="working", y_1="working", x_2="crashed"))
        grid.set_filter("x-")
        await pilot.pause()
        assert order(grid) == ["x-1", "x-2"]
        grid.set_filter("")
        await pilot.pause()
        assert order(grid) == ["x-1", "y-1", "x-2"]


def test_id_order_compares_numbers_as_numbers() -> None:
    ids = ["t10", "t9", "b", "a-1", "t100", "a-01x"]
    assert sorted(ids, key=id_order) == ["a-1", "a-01x", "b", "t9", "t10", "t100"]


async def test_the_cockpit_switches_the_order_with_o_and_lists_it_in_the_help(
    demo: DemoFactory,
) -> None:
    from factory_tui.ui.screens.help import key_rows

    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        grid = app.query_one(AgentGrid)
        ranked = order(grid)
        assert isinstance(app.focused, AgentPane)
        await pilot.press("o")
        # The demo has an agent on another host: each host's group is ordered by id (issue 15).
        assert order(grid) == sorted(
            ranked, key=lambda key: (not grid.panes[key].view.local, id_order(key))
        )
        await pilot.press("o")
        assert order(grid) == ranked
        rows = dict(key_rows(app.cockpit.key_sections()[1][1]))
        assert "needs me first" in rows["o"] and "by id" in rows["o"]
        await press_to_quit(app)


async def test_the_order_key_gives_way_first_in_a_narrow_footer(demo: DemoFactory) -> None:
    """At 80 columns the footer has no room for every key: the order key goes before the
    cockpit's actions (n stays)."""
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert isinstance(app.focused, AgentPane)
        shown = footer_text(app)
        assert "n Next needing you" in shown and "Order" not in shown
        await press_to_quit(app)


async def test_a_pane_is_drawn_again_only_when_its_lines_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new view of an agent that shows the same (what it is known from is not shown) draws
    nothing; a new sentence of the same height repaints the pane alone; a taller pane lays the
    screen out again."""
    app = GridApp()
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        first = fleet(a_1="working")
        grid.show_fleet(first)
        await pilot.pause()
        pane = grid.panes["a-1"]
        drawn: list[bool] = []
        refresh = pane.refresh

        def counted(*regions: Any, layout: bool = False, **kwargs: Any) -> Any:
            drawn.append(layout)
            return refresh(*regions, layout=layout, **kwargs)

        monkeypatch.setattr(pane, "refresh", counted)
        view = first.instances[0]

        def show(new: InstanceView) -> None:
            grid.show_fleet(replace(first, instances=(new,)))

        show(replace(view, origins=("file", "remote")))
        assert drawn == [] and pane.view.origins == ("file", "remote")
        show(replace(view, why="a-1 is busy"))
        assert drawn == [False]
        await pilot.pause()
        assert "a-1 is busy" in pane.render().plain
        show(replace(view, why="a-1 is busy", conflicts=("two pids",)))
        assert drawn == [False, True]
        await pilot.pause()
        assert "conflicting evidence: two pids" in pane.render().plain


async def test_a_panes_lines_are_worked_out_once_for_its_height_and_its_drawing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Laying the grid out asks each pane its height (twice a layout, in Textual) and draws
    the panes on screen: a pane's lines are worked out once a width, not at each ask (the
    scale factory's hundred panes cost 0.05 s of its first fleet's frame, on the GIL the
    log's fold needed, and 0.3 s more once the spend came)."""
    import factory_tui.ui.widgets.agents as agents

    made: dict[str, list[int]] = {}
    real = agents.pane_lines

    def counted(view: InstanceView, now: datetime, width: int, *args: Any) -> Any:
        made.setdefault(view.id, []).append(width)
        return real(view, now, width, *args)

    monkeypatch.setattr(agents, "pane_lines", counted)
    app = GridApp()
    async with app.run_test(size=(120, 30)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(**{f"a_{n}": "working" for n in range(30)}))
        await pilot.pause()
        await pilot.pause()
        assert len(made) == 30
        assert all(len(widths) == len(set(widths)) for widths in made.values()), made
