"""The cockpit's actions (issue 4) driven with Pilot on the demo factory: ``x`` releases the stale
claim after a confirmation, ``r`` recovers the crashed session, ``K`` stops an agent (refused for
a dead pid), read-only hides and refuses them all. Every wait is on the app's own signals."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import DEMO_NOW, asked, config_for, demo_reader
from test_app import SIZE, RecordingApp, demo_app, role
from textual.pilot import Pilot

from factory_tui.core.fleet import Fleet
from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.messages import FilesChanged
from factory_tui.ui.screens.confirm import (
    ConfirmScreen,
    ReasonScreen,
    RecoveryScreen,
    plain_lines,
)
from factory_tui.ui.screens.review import ReviewScreen
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.agents import AgentGrid
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.sessions import SessionsView

STALE = "CAB-1302"
CRASHED_TASK = "CAB-1353-span-exporter"


def log_text(demo: DemoFactory) -> str:
    return (demo.memory_dir / "operations.log").read_text()


def owner_of(demo: DemoFactory, claim_id: str) -> object:
    return json.loads((demo.claims_dir / f"{claim_id}.json").read_bytes())["owner"]


def make_lock(demo: DemoFactory, name: str, age_s: float) -> Path:
    """A claim lock directory ``age_s`` old at the app's clock (DEMO_NOW) and on the real clock,
    which ``unlock`` reads (whichever is later is the one that counts)."""
    lock = demo.claims_dir / name
    lock.mkdir()
    stamp = min(time.mktime((DEMO_NOW - timedelta(seconds=age_s)).timetuple()), time.time() - age_s)
    os.utime(lock, (stamp, stamp))
    return lock


async def select_claim(app: FactoryApp, key: str) -> None:
    """The claim under the cursor in the Claims view, as the cockpit sees it (a relabel or a
    fleet update may land between; select again after each refresh until it holds)."""
    await app.wait_for_fleet()
    app.cockpit.action_show_view("claims")
    tree = app.query_one(ClaimTree)
    for _ in range(20):
        assert tree.select_key(key)
        tree.focus()
        await tree.wait_for_refresh()
        claim = app.cockpit.selection().claim
        if claim is not None and claim.key == key:
            return
    raise AssertionError(f"the Claims view does not hold {key} under its cursor")


def test_lines_are_literal_text() -> None:
    text = plain_lines(["owner: [bold]x[/bold]", "title \x1b[31mred"])
    assert text.plain.startswith("owner: [bold]x[/bold]\ntitle ")
    assert "\x1b" not in text.plain
    assert not text.spans


async def test_x_on_the_stale_claim_confirms_then_releases(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await select_claim(app, STALE)
        await pilot.pause()
        assert "x" in app.active_bindings
        owner = owner_of(demo, STALE)
        assert owner
        await pilot.press("x")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.typed is None
        shown = "\n".join(screen.lines)
        for condition in ("age", "log", "pid"):
            assert f"✓ {condition}:" in shown
        assert f"{STALE}.json" in shown and "RELEASE | task=CAB-1302" in shown
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await app.wait_for_fleet(
            lambda f: all(c.key != STALE or not c.unit.owner for c in f.claims)
        )
        assert owner_of(demo, STALE) is None
        assert f"RELEASE | task={STALE} phase=- instance={owner} reason=stale" in log_text(demo)
        assert any(title == "Release" for title, _ in app.notes)


async def test_n_changes_nothing(demo: DemoFactory) -> None:
    app = demo_app(demo)
    before = (demo.claims_dir / f"{STALE}.json").read_bytes()
    log_before = log_text(demo)
    async with app.run_test(size=SIZE) as pilot:
        await select_claim(app, STALE)
        await pilot.press("x")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not isinstance(app.screen, ConfirmScreen)
    assert (demo.claims_dir / f"{STALE}.json").read_bytes() == before
    assert log_text(demo) == log_before


async def test_a_claim_that_is_not_stale_needs_its_key_typed(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        fleet = await app.wait_for_fleet()
        claimed = next(c for c in fleet.claims if c.state == "claimed" and c.unit.owner)
        await select_claim(app, claimed.key)
        await pilot.press("x")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.typed == claimed.key
        assert any(line.startswith("✗") for line in screen.lines)
        await pilot.press("y", "enter")  # "y" is typed into the input: not the key
        await pilot.pause()
        assert app.screen is screen
        assert "reason=forced" not in log_text(demo)
        screen.query_one("#confirm-typed").value = claimed.key  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert f"instance={claimed.unit.owner} reason=forced" in log_text(demo)


async def test_read_only_hides_and_refuses_every_action(demo: DemoFactory) -> None:
    config = replace(config_for(demo.root), read_only=True)
    app = RecordingApp(
        config,
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
    )
    before = (demo.claims_dir / f"{STALE}.json").read_bytes()
    lock = make_lock(demo, f"{STALE}.lock", 600)
    async with app.run_test(size=SIZE) as pilot:
        await select_claim(app, STALE)
        await pilot.pause()
        assert [lock.stale for lock in app.fleet.locks_of(STALE)] == [True]
        # x is not Release here: it says why (read-only) instead (issue 12).
        assert app.active_bindings["x"].binding.action == "why_not('release')"
        assert "u" not in app.active_bindings
        assert app.cockpit.check_action("release", ()) is False
        assert app.cockpit.check_action("unlock", ()) is False
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        app.cockpit.action_release()  # as the command palette would: refused, with the reason
        assert any("Read-only" in message for _title, message in app.notes)
        names = [name for name, _cb, _help in app.cockpit.palette_commands()]
        assert "Release claim" not in names and "Stop agent" not in names
        assert "Unlock claim" not in names
    assert (demo.claims_dir / f"{STALE}.json").read_bytes() == before
    assert lock.is_dir()


async def test_u_breaks_the_stale_lock_on_the_claim_after_a_confirmation(
    demo: DemoFactory,
) -> None:
    """Issue 11: a lock whose writer died blocks its claim; ``u`` on the claim says which lock,
    how old and what breaking it does, then breaks it and logs UNLOCK."""
    lock = make_lock(demo, f"{STALE}.lock", 600)
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await select_claim(app, STALE)
        await pilot.pause()
        assert "u" in app.active_bindings
        await pilot.press("u")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.typed is None
        shown = "\n".join(screen.lines)
        assert f"{demo.claims_dir / STALE}.lock" in shown and "age: 600s" in shown
        assert "its writer died mid-write; breaking it lets the claim be taken again" in shown
        assert "logged as UNLOCK" in shown
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not lock.exists()
        assert f"UNLOCK | lock={STALE}.lock task={STALE} age_s=" in log_text(demo)
        assert any(t == "Unlock" and "broke the stale lock" in m for t, m in app.notes), app.notes
        await app.wait_for_fleet(lambda f: not f.locks_of(STALE))
        await pilot.pause()
        assert "u" not in app.active_bindings


async def test_u_is_refused_when_the_lock_is_fresh_again_by_then(demo: DemoFactory) -> None:
    """Between the confirmation and the break a writer took the lock again: it is kept, and
    the notification says why."""
    lock = make_lock(demo, f"{STALE}.lock", 600)
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await select_claim(app, STALE)
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        log_before = log_text(demo)
        os.utime(lock)  # a writer at work: fresh on the clock unlock reads
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert lock.is_dir()
        assert log_text(demo) == log_before
        refusals = [m for title, m in app.notes if title == "Unlock: refused"]
        assert refusals and "fresh" in refusals[0] and "a writer is at work" in refusals[0]


async def test_u_does_nothing_on_a_claim_without_a_stale_lock(demo: DemoFactory) -> None:
    """No key on a claim whose lock is fresh (a writer at work) or that has none; asked for
    anyway (the command palette), it only says what to select."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        fleet = await app.wait_for_fleet()
        claimed = next(c for c in fleet.claims if c.state == "claimed" and ":" in c.key)
        ticket, phase = claimed.key.split(":")
        # Fresh at the app's clock, years old on the real one: breaking it would succeed.
        lock = make_lock(demo, f"{ticket}-phase-{phase}.lock", 5)
        app.read_everything()
        await app.wait_for_fleet(lambda f: bool(f.locks_of(claimed.key)))
        assert [lock.stale for lock in app.fleet.locks_of(claimed.key)] == [False]
        log_before = log_text(demo)
        for key in (claimed.key, STALE):
            await select_claim(app, key)
            await pilot.pause()
            assert "u" not in app.active_bindings
            assert app.cockpit.check_action("unlock", ()) is False
            await pilot.press("u")
            await pilot.pause()
            await app.workers.wait_for_complete()
            assert not isinstance(app.screen, ConfirmScreen)
        app.cockpit.action_unlock()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Select a claim with a stale lock" in m for _t, m in app.notes), app.notes
        assert lock.is_dir()
        assert log_text(demo) == log_before


async def test_r_on_the_crashed_session_abandons_with_a_reason(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        fleet: Fleet = await app.wait_for_fleet()
        session = next(s for s in fleet.sessions if s.status == "crashed")
        assert session.task == CRASHED_TASK
        app.cockpit.action_show_view("sessions")
        view = app.query_one(SessionsView)
        assert view.select_key(session.key)
        view.table.focus()
        await pilot.pause()
        assert "r" in app.active_bindings
        await pilot.press("r")
        await asked(pilot, RecoveryScreen)
        await pilot.pause()
        assert isinstance(app.screen, RecoveryScreen)
        assert any(line.startswith("task: " + CRASHED_TASK) for line in app.screen.lines)
        await pilot.press("d")  # review the branch before deciding
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        shown = screen_text(app)
        assert "Branch against its base" in shown and "Uncommitted changes" in shown
        assert "diff --git" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RecoveryScreen)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press("enter")  # no reason: not accepted
        await pilot.pause()
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"superseded", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        log = log_text(demo)
        assert f"RECOVERY | task={CRASHED_TASK} action=abandon reason=superseded" in log
        assert any(title == "Abandon" for title, _ in app.notes), app.notes


async def test_k_on_an_agent_with_a_dead_pid_is_refused(demo: DemoFactory) -> None:
    app = demo_app(demo)
    crashed = role(demo, "crashed")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.query_one(AgentGrid).focus_instance(crashed)
        await pilot.pause()
        assert "K" in app.active_bindings
        log_before = log_text(demo)
        await pilot.press("K")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        refusals = [m for title, m in app.notes if title == "Stop agent: refused"]
        assert refusals and "nothing to stop" in refusals[0]
        assert log_text(demo) == log_before


async def test_release_all_stale_lists_them_and_releases_each(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.cockpit.check_action("release_all_stale", ()) is True
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert any(line.startswith(f"{STALE} (") for line in app.screen.lines)
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert json.loads((demo.claims_dir / f"{STALE}.json").read_text())["owner"] is None
        assert f"RELEASE | task={STALE} phase=- " in log_text(demo)
        assert any(title == "Release all stale" for title, _ in app.notes), app.notes


def _held_releases(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event, list[int]]:
    """Each release of a claim waits for ``gate`` (``entered`` set when the first does; a 1 in
    ``calls`` for each)."""
    from factory_tui.actions import release

    entered, gate = threading.Event(), threading.Event()
    calls: list[int] = []
    real = release.release_claim

    def held(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        entered.set()
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(release, "release_claim", held)
    return entered, gate, calls


async def test_release_all_stale_shows_how_far_it_is_and_runs_once(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hundred stale claims take seconds to release one by one under their locks: the
    header says how far it is, and the words go when it is done. ``X`` again meanwhile (the
    claims are still listed stale) is told so, not a second run racing the first (whose end
    took the header's words away from the one still running)."""
    entered, gate, calls = _held_releases(monkeypatch)
    app = demo_app(demo)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app.wait_for_fleet()
            await pilot.press("X")
            await pilot.pause()
            await pilot.press("y")
            assert await asyncio.to_thread(entered.wait, 10)
            await pilot.pause()
            assert "releasing 0 of 1…" in screen_text(app)
            await pilot.press("X")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await pilot.pause()
            assert ("Release all stale", "The stale claims are being released already.") in (
                app.notes
            )
            assert "releasing 0 of 1…" in screen_text(app)
            # The fleet is not read beside the releases (a claim file changed meanwhile): once,
            # after them.
            shown = app.fleet_updates.count
            (demo.claims_dir / "CAB-0001.json").write_text(
                json.dumps({"ticket": "CAB-0001", "title": "new", "owner": None})
            )
            app.post_message(FilesChanged(frozenset({demo.claims_dir / "CAB-0001.json"})))
            await pilot.pause()
            drain = app.fleet_feed.drain
            assert drain.pending and not drain.running  # asked, held
            assert app.fleet_updates.count == shown
            gate.set()
            await app.workers.wait_for_complete()
            await app.wait_for_fleet(lambda _f: app.fleet_updates.count > shown)
            await pilot.pause()
            assert len(calls) == 1 and "releasing" not in screen_text(app)
            assert json.loads((demo.claims_dir / f"{STALE}.json").read_text())["owner"] is None
            states = {view.key: view.state for view in app.fleet.claims}
            assert "CAB-0001" in states and states[STALE] != "stale"
    finally:
        gate.set()


# -- resume and close from the recovery screen -----------------------------------------------------


def recovery_app(demo: DemoFactory) -> RecordingApp:
    config = replace(config_for(demo.root), agent_command=("fake-agent", "--model", "opus"))
    app = RecordingApp(
        config,
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
    )
    app.animation_level = "none"
    return app


async def open_recovery(app: FactoryApp, pilot: Pilot[None]) -> None:
    fleet: Fleet = await app.wait_for_fleet()
    session = next(s for s in fleet.sessions if s.status == "crashed")
    app.cockpit.action_show_view("sessions")
    view = app.query_one(SessionsView)
    assert view.select_key(session.key)
    view.table.focus()
    await pilot.pause()
    await pilot.press("r")
    await asked(pilot, RecoveryScreen)
    await pilot.pause()
    assert isinstance(app.screen, RecoveryScreen)


async def test_resume_from_the_recovery_screen_launches_the_agent(
    demo: DemoFactory, fake_bin: Path
) -> None:
    app = recovery_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await open_recovery(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        plan = "\n".join(app.screen.lines)
        assert "fake-agent --model opus" in plan and "RECOVERY" in plan
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    # The detached agent: wait for it (only it: other tests may leave helpers such as
    # multiprocessing's resource tracker running for the rest of the session).
    for child in psutil.Process().children(recursive=True):
        try:
            launched = any("fake-agent" in part for part in child.cmdline())
        except psutil.Error:
            continue  # gone already
        if launched:
            child.wait(timeout=30)
    log = log_text(demo)
    assert f"RECOVERY | task={CRASHED_TASK} action=resume" in log
    assert f"SESSION-END | task={CRASHED_TASK} status=crashed recovered_by=t" in log
    record = json.loads((fake_bin / "agent.json").read_text())
    assert record["argv"][:2] == ["--model", "opus"]
    assert record["env"]["FACTORY_TASK"] == CRASHED_TASK
    message = next(text for title, text in app.notes if title == "Resume")
    assert "output" in message or ".log" in message, message


async def test_close_from_the_recovery_screen_when_the_pr_is_merged(
    demo: DemoFactory, fake_bin: Path
) -> None:
    (checkpoint,) = (demo.memory_dir / "checkpoints").glob(f"*{CRASHED_TASK}.json")
    raw = json.loads(checkpoint.read_text())
    raw["pr_number"] = 377
    checkpoint.write_text(json.dumps(raw))
    (fake_bin / "gh.json").write_text(
        json.dumps({"377": {"state": "MERGED", "mergedAt": "2026-02-16T15:00:00Z", "url": "u"}})
    )
    app = recovery_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await open_recovery(app, pilot)
        assert "c" in app.active_bindings  # offered: the PR is merged
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    last = log_text(demo).splitlines()[-1]
    assert last.startswith(f"{DEMO_NOW:%Y-%m-%dT%H:%M} | SESSION-END | task={CRASHED_TASK} ")
    assert "status=crashed" in last and "pr=377" in last
    assert not (fake_bin / "agent.json").exists()  # no agent launched


async def test_on_start_the_cockpit_finishes_an_interrupted_release(demo: DemoFactory) -> None:
    """A factory-tui killed between its release intent and the write: on the next start the
    cockpit sees the intent with no outcome, finds the file unchanged, logs RELEASE-UNDONE for
    that change and says so."""
    from factory_tui.actions.release import INTENT

    change = "abc123def456"
    owner = owner_of(demo, STALE)
    with (demo.memory_dir / "operations.log").open("a") as log:
        log.write(
            f"2026-02-16T15:40 | {INTENT} | claim={STALE} phase=- owner={owner} reason=stale "
            f"file={STALE}.json change={change} by=someone@elsewhere\n"
        )
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert any(title == f"Interrupted change {change}" for title, _ in app.notes), app.notes
    last = log_text(demo).splitlines()[-1]
    assert f"| RELEASE-UNDONE | claim={STALE} phase=- change={change}" in last
    assert owner_of(demo, STALE) == owner
    assert not any("half-done" in p.message for p in app.fleet.problems)


async def test_read_only_cockpit_only_reports_an_interrupted_release(demo: DemoFactory) -> None:
    from factory_tui.actions.release import INTENT

    with (demo.memory_dir / "operations.log").open("a") as log:
        log.write(
            f"2026-02-16T15:40 | {INTENT} | claim={STALE} phase=- owner=x reason=stale "
            f"file={STALE}.json change=c0ffee by=someone\n"
        )
    before = log_text(demo)
    app = RecordingApp(
        replace(config_for(demo.root), read_only=True),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
    )
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert any("half-done change c0ffee" in p.message for p in app.fleet.problems)
    assert log_text(demo) == before


def test_a_confirmation_says_its_keys_once() -> None:
    """ "Release them all? (y/n) (y/n)" was shown: the keys are said once, however the question
    is written."""
    assert ConfirmScreen("t", [], question="Release them all? (y/n)").prompt == (
        "Release them all? (y/n)"
    )
    assert ConfirmScreen("t", [], question="Stop this agent?").prompt == "Stop this agent? (y/n)"
