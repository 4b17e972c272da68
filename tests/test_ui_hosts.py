"""Issue 15: remote agents appear in the Agents view grouped by host (this host first, a line
per host with its agent count and how its pids are checked); one host shows no such line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FixedProbe, config_for
from fakes import use_fake_bin
from test_ui_order import GridApp, agent, focused_id, order
from textual.pilot import Pilot

from factory_tui.adapters.factory import FactoryReader
from factory_tui.core.fleet import Fleet, HostProcs, InstanceStatus, InstanceView
from factory_tui.core.fleet_hosts import host_groups
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane

NOW = datetime(2026, 2, 16, 15, 42, 30)
HOST = "macbook-pro"


def on(host: str | None, instance_id: str, status: InstanceStatus, pid: int | None = None):  # type: ignore[no-untyped-def]
    view = agent(instance_id, status)
    local = host is None or host == HOST
    return replace(view, host=host, local=local, pid=pid)


def fleet(*views: InstanceView, probed: dict[str, HostProcs] | None = None) -> Fleet:
    return Fleet(
        root="/factory",
        generated_at=NOW,
        hostname=HOST,
        instances=tuple(views),
        sessions=(),
        claims=(),
        problems=(),
        host_procs=probed or {},
    )


TWO_HOSTS = fleet(
    on("ci-runner-02.lan", "t5170-babc", "crashed", pid=41100),
    on(HOST, "a-1", "working", pid=10),
    on("build-box", "b-1", "working", pid=7),
    on(None, "a-2", "idle"),
    on("ci-runner-02.lan", "t5171-babc", "working", pid=41101),
    probed={
        "ci-runner-02": HostProcs("ci-runner-02"),
        "build-box": HostProcs("build-box", error="no answer over ssh within 5s"),
    },
)


def test_groups_this_host_first_then_the_others_by_name_with_how_pids_are_checked() -> None:
    groups = host_groups(TWO_HOSTS.instances, HOST, TWO_HOSTS.host_procs)
    assert [(g.name, g.instances, g.checked) for g in groups] == [
        (HOST, ("a-1", "a-2"), "pids checked here"),
        ("build-box", ("b-1",), "pids not checked: no answer over ssh within 5s"),
        ("ci-runner-02.lan", ("t5170-babc", "t5171-babc"), "pids checked over SSH"),
    ]
    unconfigured = host_groups([on("w-9", "c-1", "idle", pid=3)], HOST, {})
    assert unconfigured[1].checked == 'pids not checked: no [hosts."w-9"] ssh argv in the config'
    assert host_groups([on("w-9", "c-1", "idle")], HOST, {})[1].checked == "no pid to check"


async def test_two_hosts_are_two_groups_under_a_line_each_this_host_first() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 60)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(TWO_HOSTS)
        await pilot.pause()
        # The order (the fleet's) applies within each group; this host's group first.
        assert order(grid) == ["a-1", "a-2", "b-1", "t5170-babc", "t5171-babc"]
        assert grid.host_lines() == [
            f"{HOST} (this host) · 2 agents · pids checked here",
            "build-box · 1 agent · pids not checked: no answer over ssh within 5s",
            "ci-runner-02.lan · 2 agents · pids checked over SSH",
        ]
        # Each line sits right above its host's panes.
        laid_out = list(grid.children)
        assert [laid_out.index(grid.panes[key]) for key in ("a-1", "b-1", "t5170-babc")] == [
            1,
            4,
            6,
        ]
        await pilot.press("o")  # by id, still within each group
        assert order(grid) == ["a-1", "a-2", "b-1", "t5170-babc", "t5171-babc"]
        await pilot.press("o")
        assert order(grid) == ["a-1", "a-2", "b-1", "t5170-babc", "t5171-babc"]


async def test_a_filter_shows_the_hosts_it_keeps_with_how_many_of_their_agents() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 60)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(TWO_HOSTS)
        grid.set_filter("t5170")
        await pilot.pause()
        assert order(grid) == ["t5170-babc"]
        assert grid.host_lines() == ["ci-runner-02.lan · 1 of 2 agents · pids checked over SSH"]
        grid.set_filter("")
        await pilot.pause()
        assert len(grid.host_lines()) == 3


async def test_one_host_shows_no_host_line() -> None:
    app = GridApp()
    async with app.run_test(size=(60, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        grid.show_fleet(fleet(on(HOST, "a-1", "working"), on(None, "a-2", "idle")))
        await pilot.pause()
        assert grid.host_lines() == [] and not grid.query(".host-header")
        # All on one other host: still one host, no line.
        grid.show_fleet(fleet(on("w-1", "b-1", "working"), on("w-1.lan", "b-2", "idle")))
        await pilot.pause()
        assert grid.host_lines() == [] and order(grid) == ["b-1", "b-2"]
        # A second host appears, then leaves: the lines come and go with it.
        grid.show_fleet(fleet(on("w-1", "b-1", "working"), on(HOST, "a-1", "idle")))
        await pilot.pause()
        assert [line.split(" ")[0] for line in grid.host_lines()] == [HOST, "w-1"]
        grid.show_fleet(fleet(on("w-1", "b-1", "working")))
        await pilot.pause()
        assert grid.host_lines() == [] and not grid.query(".host-header")


async def test_a_host_name_with_markup_is_shown_literally() -> None:
    app = GridApp()
    async with app.run_test(size=(80, 40)) as pilot:
        grid = app.query_one(AgentGrid)
        evil = "[b]evil[/b]\x1b[31m"
        grid.show_fleet(fleet(on(HOST, "a-1", "working"), on(evil, "b-1", "idle", pid=3)))
        await pilot.pause()
        line = grid.host_lines()[1]
        assert line.startswith("[b]evil[/b]") and "\x1b" not in line
        assert 'no [hosts."[b]evil[/b]' in line


async def _focus(pilot: Pilot[Any], grid: AgentGrid, key: str) -> None:
    grid.panes[key].focus()
    await pilot.pause()


async def test_arrow_keys_cross_the_groups_and_focus_survives_a_refresh() -> None:
    app = GridApp()
    async with app.run_test(size=(120, 60)) as pilot:  # two columns
        grid = app.query_one(AgentGrid)
        grid.show_fleet(TWO_HOSTS)
        await pilot.pause()
        assert grid.columns == 2
        # Rows: [a-1 a-2] / build-box: [b-1] / ci-runner-02.lan: [t5170 t5171]
        assert [[p.view.id for p in row] for row in grid.rows()] == [
            ["a-1", "a-2"],
            ["b-1"],
            ["t5170-babc", "t5171-babc"],
        ]
        # Each host's line starts a row and spans it, even after a short row (a-1 a-2 / b-1).
        left = grid.panes["a-1"].region.x
        right = grid.panes["a-2"].region.right
        for line in grid.query(".host-header"):
            assert (line.region.x, line.region.right) == (left, right)
        assert grid.panes["t5170-babc"].region.x == left
        await _focus(pilot, grid, "a-2")
        await pilot.press("down")  # below a-2 is build-box's only pane
        assert focused_id(pilot) == "b-1"
        await pilot.press("down")
        assert focused_id(pilot) == "t5170-babc"
        await pilot.press("l")
        assert focused_id(pilot) == "t5171-babc"
        await pilot.press("k", "k")  # through build-box's one-pane row: the first column
        assert focused_id(pilot) == "a-1"
        await pilot.press("right", "right")  # left and right walk on across the host line
        assert focused_id(pilot) == "b-1"
        await pilot.press("h")
        assert focused_id(pilot) == "a-2"
        # A refresh where agents change status and a new one joins another host: the focused
        # pane keeps its focus.
        await _focus(pilot, grid, "t5171-babc")
        grid.show_fleet(
            fleet(
                *(
                    replace(view, status="stale") if view.id == "a-1" else view
                    for view in TWO_HOSTS.instances
                ),
                on("build-box", "b-0", "working", pid=8),
                probed=dict(TWO_HOSTS.host_procs),
            )
        )
        await pilot.pause()
        assert focused_id(pilot) == "t5171-babc"
        assert order(grid) == ["a-1", "a-2", "b-1", "b-0", "t5170-babc", "t5171-babc"]
        assert grid.host_lines()[1].startswith("build-box · 2 agents")


# -- through the reader: a claim file whose host is another machine --------------------------------


@pytest.fixture
def remote_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A process of this machine playing an agent on ``worker-1`` (the fake ssh runs ``ps``
    here)."""
    use_fake_bin(tmp_path, monkeypatch)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    threading.Thread(target=proc.wait, daemon=True).start()
    yield proc.pid
    if proc.poll() is None:
        proc.kill()


def _claim(root: Path, ticket: str, owner: str, pid: int, host: str) -> None:
    claimed = (datetime.now() - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    data = {
        "ticket": ticket,
        "title": "",
        "owner": owner,
        "pid": pid,
        "hostname": host,
        "claimed_at": claimed,
        "branch": f"feat/{ticket}",
        "completed_at": None,
    }
    (root / ".claude" / "claims" / f"{ticket}.json").write_text(json.dumps(data))


async def test_the_cockpit_groups_a_claim_on_another_host_under_its_host(
    tmp_path: Path, remote_agent: int
) -> None:
    from test_app import SIZE, make_app

    from factory_tui.ui.feeds.prs import PrsOptions

    root = tmp_path / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text(
        'memory = ".factory/memory"\n[hosts."worker-1"]\nssh = ["ssh", "worker-1"]\n'
    )
    _claim(root, "CAB-1", "t-here", 999_999, HOST)
    _claim(root, "CAB-2", "t-there", remote_agent, "worker-1.lan")
    _claim(root, "CAB-3", "t-elsewhere", 4242, "ci-runner-02.lan")
    reader = FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())
    now = datetime.now().replace(microsecond=0)
    app = make_app(root, reader=reader, clock=lambda: now, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(lambda f: any(i.alive for i in f.instances))
        await pilot.pause()
        grid = app.query_one(AgentGrid)
        assert grid.host_lines() == [
            f"{HOST} (this host) · 1 agent · pids checked here",
            "ci-runner-02.lan · 1 agent · pids not checked: "
            'no [hosts."ci-runner-02.lan"] ssh argv in the config',
            "worker-1.lan · 1 agent · pids checked over SSH",
        ]
        assert [pane.view.id for pane in grid.ordered_panes()] == [
            "t-here",
            "t-elsewhere",
            "t-there",
        ]
        there = grid.panes["t-there"]
        assert there.view.alive is True  # the same statuses and evidence as a local agent
        assert isinstance(app.focused, AgentPane)
