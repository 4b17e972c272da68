"""Issue 14, the house: the feeds' one coalescing worker, the keys built from the bindings (help,
palette, user keymaps), and what each key acts on as plain functions of the selection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import config_for, demo_reader
from test_app import RecordingApp, demo_app, role
from textual.app import App
from textual.binding import Binding

from factory_tui.core.fleet import Fleet
from factory_tui.demo import DemoFactory
from factory_tui.ui.feeds.base import Drain, Updates
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.keys import binding_ids, key_sections, keymap_from_config
from factory_tui.ui.screens.cockpit import CockpitScreen
from factory_tui.ui.screens.help import HelpScreen
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.targets import (
    Selection,
    action_target,
    copy_target,
    selected_instance,
    why_not,
)

SIZE = (120, 40)


# -- one coalescing worker ------------------------------------------------------------------------


def _list_drain(app: App[None], work: Callable[[list[int]], None]) -> Drain[list[int]]:
    """A drain whose wants are lists, folded by concatenation."""
    return Drain(
        app,
        name="test",
        group="test",
        work=work,
        failed=lambda error: None,
        merge=lambda old, new: [*old, *new],
    )


async def test_requests_made_while_the_worker_runs_fold_into_one_more_pass() -> None:
    """The drain runs one worker: five requests made while it works become one more pass
    (merged), never five threads."""
    entered, release = threading.Event(), threading.Event()
    passes: list[list[int]] = []

    def work(want: list[int]) -> None:
        passes.append(want)
        if len(passes) == 1:
            entered.set()
            release.wait(10)

    app: App[None] = App()
    async with app.run_test():
        drain = _list_drain(app, work)
        drain.request([0])
        assert await asyncio.to_thread(entered.wait, 10)
        for n in range(1, 6):
            drain.request([n])
        assert drain.running and drain.pending
        release.set()
        await app.workers.wait_for_complete()
        assert passes == [[0], [1, 2, 3, 4, 5]]
        assert not drain.running and not drain.pending


async def test_a_held_drain_works_nothing_until_let_go_then_once() -> None:
    """An action's batch of changes is read once, after it: what is asked while the drain is
    held (by the app, or on the ticker's thread) waits, folded into one pass."""
    passes: list[list[int]] = []
    app: App[None] = App()
    async with app.run_test():
        drain = _list_drain(app, passes.append)
        drain.hold()
        drain.hold()  # held twice: let go twice
        drain.request([1])
        await asyncio.to_thread(drain.work_here, [2])
        drain.request([3])
        await app.workers.wait_for_complete()
        assert passes == [] and drain.pending and not drain.running
        drain.let_go()
        await app.workers.wait_for_complete()
        assert passes == []
        drain.let_go()
        await app.workers.wait_for_complete()
        assert passes == [[1, 2, 3]] and not drain.pending
        drain.request([4])
        await app.workers.wait_for_complete()
        assert passes == [[1, 2, 3], [4]]


async def test_a_failing_pass_is_reported_and_the_drain_goes_on() -> None:
    errors: list[str] = []
    done: list[int] = []

    def work(want: int) -> None:
        if want == 1:
            raise RuntimeError("a bug")
        done.append(want)

    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = Drain(
            app, name="t", group="t", work=work, failed=lambda e: errors.append(str(e))
        )
        drain.request(1)
        await app.workers.wait_for_complete()
        drain.request(2)
        await app.workers.wait_for_complete()
    assert errors == ["a bug"] and done == [2]


async def test_closing_runs_the_close_once_and_drops_what_is_pending() -> None:
    closed: list[bool] = []
    app: App[None] = App()
    async with app.run_test():
        drain: Drain[int] = Drain(
            app,
            name="t",
            group="t",
            work=lambda _w: None,
            failed=lambda _e: None,
            on_close=lambda: closed.append(True),
        )
        drain.close()
        drain.close()
        drain.request(1)  # after close: nothing runs
        await app.workers.wait_for_complete()
        assert not drain.running and not drain.pending
    assert closed == [True]


async def test_waiting_for_an_update_wakes_on_the_update_and_times_out_otherwise() -> None:
    updates = Updates()
    state = {"n": 0}
    app: App[None] = App()
    async with app.run_test():

        def bump() -> None:
            state["n"] += 1
            updates.changed()

        app.call_later(bump)
        await updates.wait_until(lambda: state["n"] == 1, timeout=5)
        with pytest.raises(TimeoutError):
            await updates.wait_until(lambda: state["n"] == 2, timeout=0.05)


# -- what a key acts on ---------------------------------------------------------------------------


def test_targets_follow_the_selection(demo: DemoFactory) -> None:
    reader = demo_reader(demo)
    reader.refresh_all()
    fleet: Fleet = reader.fleet(demo.now)
    stale = next(c for c in fleet.claims if c.state == "stale")
    owner = stale.unit.owner
    on_owner = Selection("agents", instance=owner)
    assert action_target("release", on_owner, fleet) == stale.key
    assert selected_instance(on_owner) == owner and copy_target(on_owner) == owner
    on_claim = Selection("claims", claim=stale)
    assert action_target("release", on_claim, fleet) == stale.key
    assert selected_instance(on_claim) == owner
    assert action_target("release", Selection("log"), fleet) is None
    assert action_target("stop_agent", Selection("claims", claim=stale), fleet) is None
    crashed = next(s for s in fleet.sessions if s.status == "crashed")
    assert action_target("recover", Selection("sessions", session=crashed), fleet) == crashed.task
    working = role(demo, "working")
    assert why_not("release", Selection("agents", instance=working), read_only=False, loaded=True)
    assert "read-only" in why_not("release", on_owner, read_only=True, loaded=True)


# -- keys: one list, the help and the palette built from it, user keymaps ------------------------


def test_a_keymap_names_binding_ids_and_unknown_ones_are_said(demo: DemoFactory) -> None:
    (demo.root / "factory.toml").write_text(
        (demo.root / "factory.toml").read_text()
        + '\n[keys]\n"action.release" = "z"\n"no.such.binding" = "w"\n"help" = 3\n'
    )
    keymap, warnings = keymap_from_config(config_for(demo.root))
    assert keymap == {"action.release": "z"}
    assert any("'no.such.binding' is not a binding id" in w for w in warnings)
    assert any("help = 3" in w for w in warnings)


async def test_a_remapped_key_acts_and_the_help_shows_it(demo: DemoFactory) -> None:
    (demo.root / "factory.toml").write_text(
        (demo.root / "factory.toml").read_text() + '\n[keys]\n"attention.next" = "N"\n'
    )
    app = demo_app(demo)
    async with app.run_test(size=(100, 60)) as pilot:
        await app.wait_for_fleet()
        before = len(app.notes)
        await pilot.press("n")  # no longer bound
        await pilot.pause()
        assert len(app.notes) == before
        await pilot.press("N")
        await pilot.pause()
        assert any(title == "Needs you" for title, _m in app.notes[before:])
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = screen_text(app)
        assert "N" in help_text.split("Next needing you")[0].splitlines()[-1]


def test_every_binding_id_is_unique_per_meaning() -> None:
    """One list: an id names one action (the same id twice would be remapped together)."""
    ids: dict[str, str] = {}
    for _title, bindings in key_sections(_KeysOnly()):  # type: ignore[arg-type]
        for binding in bindings:
            if isinstance(binding, Binding) and binding.id:
                assert ids.setdefault(binding.id, binding.action) == binding.action, binding.id
    assert set(ids) <= binding_ids()


class _KeysOnly:
    """What key_sections needs of the app: its bindings and keymap."""

    from factory_tui.ui.app import FactoryApp

    BINDINGS = FactoryApp.BINDINGS
    keymap: dict[str, str] = {}  # noqa: RUF012


async def test_the_palette_offers_every_shown_key_of_the_cockpit(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        names = {name for name, _cb, _help in app.cockpit.palette_commands()}
        for binding in CockpitScreen.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.show:
                assert any(binding.description in name for name in names), binding.description
        # A palette command runs the binding's own action.
        run = dict((n, cb) for n, cb, _h in app.cockpit.palette_commands())["View: Claims"]
        await run()
        await pilot.pause()
        assert app.cockpit.current_view == "claims"


def _quiet_app(demo: DemoFactory, **kwargs: Any) -> RecordingApp:
    return demo_app(demo, prs=PrsOptions(enabled=False), **kwargs)


async def test_a_feed_message_after_quitting_is_dropped(demo: DemoFactory) -> None:
    """The handlers drop what comes once the app quits (no view left to update), without
    Textual's private message pump being overridden."""
    app = _quiet_app(demo)
    async with app.run_test(size=SIZE):
        fleet = await app.wait_for_fleet()
        app.exit()
        assert not app.live
        from factory_tui.ui.messages import FleetUpdated

        count = app.fleet_updates.count
        app.on_fleet_updated(FleetUpdated(fleet, changed=True))
        assert app.fleet_updates.count == count


def test_k_applies_to_an_agent_on_a_host_reached_over_ssh(demo: DemoFactory) -> None:
    """Issue 15: an agent on another host is stoppable only when that host has an ssh argv."""
    reader = demo_reader(demo)
    reader.refresh_all()
    fleet = reader.fleet(demo.now)
    remote = next(i for i in fleet.instances if not i.local and i.pid is not None)
    on_it = Selection("agents", instance=remote.id)
    assert action_target("stop_agent", on_it, fleet) is None
    assert action_target("stop_agent", on_it, fleet, ssh_hosts={remote.host or ""}) == remote.id
    assert action_target("stop_agent", on_it, fleet, ssh_hosts={"elsewhere"}) is None


def test_the_council_is_called_on_the_mega_of_a_selected_group(demo: DemoFactory) -> None:
    """A MEGA's group in the claims tree (key ``mega/ID``) is that MEGA's ticket; the
    standalone tickets' group is none."""
    from factory_tui.ui.targets import council_target
    from factory_tui.ui.widgets.claims import STANDALONE, mega_group

    reader = demo_reader(demo)
    reader.refresh_all()
    fleet: Fleet = reader.fleet(demo.now)
    on_mega = Selection("claims", group=mega_group("CAB-1290"))
    target = council_target(on_mega, fleet, lambda _task: [])
    assert target is not None and target.ticket == "CAB-1290"
    assert council_target(Selection("claims", group=STANDALONE), fleet, lambda _t: []) is None
