"""Start to first paint (issue 3): the first frame needs only the header, the tabs, the initial
view and the footer. What the other views, the actions, the PR queue and the cost need is
imported and mounted after it, and a key typed ahead of that waits for it."""

from __future__ import annotations

import asyncio
import collections
import gc
import subprocess
import sys
import threading
from typing import Any

import pytest
import textual.css.stylesheet
from conftest import DEMO_HOST, DEMO_NOW, config_for, demo_probe, demo_reader
from textual import events
from textual.color import Color

from factory_tui.adapters.factory import FactoryReader
from factory_tui.core.safe import printable
from factory_tui.demo import DemoFactory
from factory_tui.ui.app import VIEWS, FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.messages import FilesChanged
from factory_tui.ui.screens.cockpit_tabs import ViewPane
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.startup import hold_collector, release_collector
from factory_tui.ui.widgets.agents import AgentGrid
from factory_tui.ui.widgets.claims import ClaimTree
from factory_tui.ui.widgets.log_view import LogView

#: Modules the cockpit's first frame must not import: the actions and their screens, the PR
#: queue, the cost, git, gh, the Anthropic client, the process table, the fleet's derivation.
NOT_FOR_THE_FIRST_FRAME = (
    "factory_tui.actions",
    *(
        f"factory_tui.ui.screens.{name}"
        for name in ("confirm", "council", "detail", "diff", "help", "log_query", "prs", "review")
    ),
    "factory_tui.ui.feeds.prs",
    "factory_tui.ui.feeds.cost",
    "factory_tui.ui.messages",
    "factory_tui.ui.watch",
    "factory_tui.adapters.inotify",
    "factory_tui.adapters.logindex",
    "factory_tui.ui.widgets.cost",
    "factory_tui.ui.widgets.cost_table",
    "factory_tui.ui.widgets.spend",
    "factory_tui.ui.widgets.prs",
    "factory_tui.adapters.factory",
    "factory_tui.adapters.git",
    "factory_tui.adapters.git_formats",
    "factory_tui.adapters.gh",
    "factory_tui.adapters.transcripts",
    "factory_tui.adapters.anthropic_client",
    "factory_tui.core.fleet",
    "factory_tui.core.fleet_claims",
    "factory_tui.core.fleet_sessions",
    "factory_tui.core.fleet_instances",
    "factory_tui.core.fleet_derive",
    "factory_tui.core.prs",
    "factory_tui.core.prs_patch",
    "factory_tui.core.prs_link",
    "factory_tui.core.prs_queue",
    "factory_tui.core.cost",
    "factory_tui.core.cost_records",
    "factory_tui.core.cost_attribution",
    "factory_tui.core.cost_report",
    "factory_tui.core.council",
    "factory_tui.core.council_settings",
    "factory_tui.core.council_history",
    "factory_tui.core.attention",  # the news come with the first fleet (issue 17)
    "factory_tui.ui.news",
    "factory_tui.core.fold_sessions",  # the command line imports only its command's module
    "factory_tui.core.fold_saved",
    *(
        f"factory_tui.cli.{name}"
        for name in ("actions", "cost", "council", "hook", "prs", "status", "supervise")
    ),
    "json",
    "textual.widgets._data_table",
    "textual.widgets._tabbed_content",  # the tab bar is one widget of ours (issue 17)
    "textual.widgets._tabs",  # the tables' views come after the first frame
    "git",
    "anthropic",
    "psutil",
    "pygments",
    "ctypes",
)


def test_the_cockpit_module_imports_only_what_the_first_frame_needs() -> None:
    code = (
        "import sys, factory_tui.cli, factory_tui.ui.app\n"
        f"banned = {NOT_FOR_THE_FIRST_FRAME!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules "
        "if any(m == b or m.startswith(b + '.') for b in banned))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def cockpit(app_class: type[FactoryApp], demo: DemoFactory) -> Any:
    app = app_class(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    app.animation_level = "none"
    return app


class HeldApp(FactoryApp):
    """The cockpit with what follows its first frame held until ``go`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.go = asyncio.Event()
        self.key_arrived = asyncio.Event()

    async def after_first_frame(self) -> None:
        await self.go.wait()
        await super().after_first_frame()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.key_arrived.set()
        await super().on_event(event)


async def test_the_first_frame_has_the_initial_view_only_and_a_key_waits_for_the_rest(
    demo: DemoFactory,
) -> None:
    app = cockpit(HeldApp, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "factory-tui" in text and "reading the factory" in text
        assert "Agents" in text and "Cost" in text  # every tab is there
        assert app.query_one(AgentGrid).is_mounted
        assert [v for v in VIEWS if app.query_one(f"#{v}", ViewPane).children] == ["agents"]
        assert not app.query("#budget-banner") and not app.query("#filter-bar")
        assert [w.group for w in app.workers] == ["start"]  # nothing is read yet
        assert not {"log_index", "cost_feed"} & set(vars(app))  # made after the first frame
        # "2" before the rest is mounted: held (the claims view is not there to show yet).
        app.simulate_key("2")
        await asyncio.wait_for(app.key_arrived.wait(), 5)
        assert app.cockpit.current_view == "agents"
        app.go.set()
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.cockpit.current_view == "claims"
        assert app.focused is app.query_one(ClaimTree)
        assert all(app.query_one(f"#{v}", ViewPane).children for v in VIEWS)
        assert app.query("#budget-banner") and app.query("#filter-bar")


class FocusLogApp(HeldApp):
    """The held cockpit, noting every widget that takes the focus."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.focus_log: list[str] = []

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.focus_log.append(type(event.widget).__name__)


async def test_nothing_takes_the_focus_before_the_first_fleet(demo: DemoFactory) -> None:
    """Textual's auto focus gave it to the tab bar at start, which lost it to the (empty) view
    at once: two restyles of the tabs before the first frame (issue 17)."""
    app = cockpit(FocusLogApp, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "Agents" in screen_text(app)  # the first frame is there
        assert app.focused is None and app.focus_log == []
        app.go.set()
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.focus_log == ["AgentPane"]  # the first agent's pane, once the fleet is read


class TypedAheadApp(FactoryApp):
    def on_mount(self) -> None:  # before the app's own on_mount, ahead of the first frame
        self.simulate_key("2")
        self.simulate_key("3")


async def test_keys_typed_ahead_of_the_first_frame_are_handled_in_order(
    demo: DemoFactory,
) -> None:
    app = cockpit(TypedAheadApp, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()  # a key waiting in the app's queue must not stop the start
        await asyncio.wait_for(app.input_released.wait(), 10)
        await pilot.pause()
        assert app.cockpit.current_view == "sessions"
        assert app.focused is app.query_one("#sessions-table")


class GatedReader(FactoryReader):
    """A reader whose first complete read waits for ``gate`` (a big factory's fold, held)."""

    def __init__(self, *args: Any, gate: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    def refresh_all(self) -> None:
        self.gate.wait(10)
        super().refresh_all()


class LogKeyApp(FactoryApp):
    def on_mount(self) -> None:  # the Log view's key, typed ahead of the first frame
        self.simulate_key("4")


async def shown(app: FactoryApp, pilot: Any, text: str, frames: int = 50) -> bool:
    """Whether ``text`` is on screen within ``frames`` of the app's idle points (each pause
    waits for its messages to be handled: no sleep)."""
    for _ in range(frames):
        if text in screen_text(app):
            return True
        await pilot.pause()
    return text in screen_text(app)


async def test_the_log_view_shows_the_logs_tail_before_the_factory_is_read(
    demo: DemoFactory,
) -> None:
    gate = threading.Event()
    config = config_for(demo.root)
    reader = GatedReader(config, hostname=DEMO_HOST, probe=demo_probe(demo), gate=gate)
    last = config.log_file.read_text().splitlines()[-1]
    app = LogKeyApp(
        config,
        clock=lambda: DEMO_NOW,
        reader=reader,
        watch=False,
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    try:
        async with app.run_test(size=(200, 40)) as pilot:
            await asyncio.wait_for(app.input_released.wait(), 10)
            await pilot.pause()
            view = app.query_one(LogView)
            assert app.cockpit.current_view == "log" and not app.loaded
            assert view.previewing  # the fold is held: the tail came first
            # Scrolled to its end after the next refresh: under load a frame or two later (a
            # CI run looked after one pause and saw the view not yet scrolled).
            assert await shown(app, pilot, printable(last)[:80])
            # A line appended while the history is folded: the tail follows the file.
            added = "2026-02-12T15:00 | STEP-DONE | step=code task=CAB-tail-first"
            with config.log_file.open("a") as log:
                log.write(added + "\n")
            app.post_message(FilesChanged(frozenset({config.log_file})))
            assert view.previewing and await shown(app, pilot, added)
            gate.set()
            await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready)
            await pilot.pause()
            assert not view.previewing
            assert view.index.line(view.logical_line(view.row_count - 1)) == added
            assert added in screen_text(app)
    finally:
        gate.set()


async def test_the_collector_is_held_from_the_start_to_the_first_frame(demo: DemoFactory) -> None:
    """``ui`` holds the cyclic collector off before importing the cockpit (ui/startup.py); the
    cockpit lets it go once its first frame is drawn, the start-up's objects frozen."""
    app = cockpit(HeldApp, demo)
    hold_collector()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert "factory-tui" in screen_text(app)
            assert not gc.isenabled()  # the first frame is drawn; the rest waits for "go"
            app.go.set()
            await app.wait_for_fleet()
            assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        release_collector()
        gc.enable()
        gc.unfreeze()


def test_the_collector_is_let_go_only_by_whoever_held_it() -> None:
    gc.disable()  # turned off by someone else (a test, a big read): the cockpit leaves it off
    try:
        hold_collector()
        release_collector()
        assert not gc.isenabled()
    finally:
        gc.enable()
    release_collector()  # nothing held: nothing to do
    assert gc.isenabled()


async def test_the_first_reads_objects_leave_the_collector_in_the_cockpits_own_process(
    demo: DemoFactory,
) -> None:
    """Issue 17: in ``ui`` and ``demo`` (``freeze_read``) the first read runs with the collector
    off, and the fold and the files are frozen after it: the collector's full passes walked them
    all and freed nothing (~250 ms a pass with 10,000 claims). A cockpit started by a test
    leaves the collector alone."""
    for freeze in (False, True):
        app = cockpit(FactoryApp, demo)
        app.freeze_read = freeze
        reader = app._given_reader
        assert reader is not None
        collecting: list[bool] = []
        read = reader.refresh_all

        def noted(*args: Any, read: Any = read, collecting: list[bool] = collecting) -> None:
            collecting.append(gc.isenabled())
            read(*args)

        reader.refresh_all = noted  # type: ignore[method-assign]
        try:
            async with app.run_test(size=(120, 40)):
                await app.wait_for_fleet(lambda _f, app=app: app.loaded)
                record = app.reader.fold.sessions[-1]
                claim = app.reader.claim_files()[0]
                walked = {id(o) for o in gc.get_objects()}  # the frozen are not walked
                assert (id(record) in walked, id(claim) in walked) == (not freeze, not freeze)
                assert collecting == [not freeze] and gc.isenabled()
        finally:
            gc.unfreeze()


async def test_the_first_read_freezes_no_unreachable_cycle(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen cycle is never freed: what the app's own thread dropped while the collector was
    held off through the first read (its strips, as it drew) is collected before the freeze
    (a hostile review found a thousand such objects frozen on the demo)."""
    unreachable: list[int] = []
    kinds: list[collections.Counter[str]] = []
    real = gc.freeze

    def freeze() -> None:
        gc.set_debug(gc.DEBUG_SAVEALL)  # what is unreachable now is kept in gc.garbage
        try:
            unreachable.append(gc.collect())
            kinds.append(collections.Counter(type(o).__name__ for o in gc.garbage))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        real()

    monkeypatch.setattr(gc, "freeze", freeze)
    app = cockpit(FactoryApp, demo)
    app.freeze_read = True
    async with app.run_test(size=(120, 40)):
        await app.wait_for_fleet(lambda _f: app.loaded)
    assert unreachable == [0], kinds[0].most_common(6)


def test_ui_tells_the_cockpit_its_process_is_its_own(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.cli import build_parser
    from factory_tui.cli import demo as demo_cli
    from factory_tui.ui import app as app_module

    made: list[dict[str, Any]] = []

    class Made(Exception):
        pass

    def recording(*_args: Any, **kwargs: Any) -> None:
        made.append(kwargs)
        raise Made

    monkeypatch.setattr(app_module, "FactoryApp", recording)
    monkeypatch.setattr(demo_cli, "require_terminal", lambda: None)
    args = build_parser().parse_args(["ui", str(demo.root)])
    try:
        with pytest.raises(Made):
            demo_cli.cmd_ui(args)
    finally:
        release_collector()  # cmd_ui held it until a first frame that never comes
    assert made == [{"freeze_read": True}]


async def test_the_css_is_parsed_once_before_the_first_frame_with_the_chosen_theme(
    demo: DemoFactory, monkeypatch: Any
) -> None:
    """The theme set at start only sets the CSS variables: no source is parsed twice before
    the first frame (Textual re-parsed the app's CSS for the theme, then again for the first
    screen). The first frame has the chosen theme; a later change of theme restyles."""
    parsed: collections.Counter[object] = collections.Counter()
    parse = textual.css.stylesheet.parse

    def counting_parse(scope: str, css: str, read_from: object, **kwargs: Any) -> Any:
        parsed[read_from, kwargs.get("tie_breaker"), scope] += 1  # Textual's cache key
        return parse(scope, css, read_from, **kwargs)

    monkeypatch.setattr(textual.css.stylesheet, "parse", counting_parse)
    app = HeldApp(
        config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        theme="factory-light",
        theme_dir=demo.root.parent / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert parsed and max(parsed.values()) == 1, parsed
        light = app.factory_themes["factory-light"]
        assert app.screen.styles.background == Color.parse(light.background or "")
        assert app.has_class("-light-mode", "-theme-factory-light")
        app.go.set()
        await app.wait_for_fleet()
        app.theme = "factory-dark"
        await pilot.pause()
        dark = app.factory_themes["factory-dark"]
        assert app.screen.styles.background == Color.parse(dark.background or "")
        assert app.has_class("-dark-mode") and not app.has_class("-light-mode")
