"""The cockpit app: the data the views show, the feeds that bring it, the first frame.

Data flows one way. Three feeds (:mod:`factory_tui.ui.feeds`) each read on one thread and post
a message: the fleet (the factory's files, watched), the PR queue (gh and git, polled), the
spend (the transcripts, on a slow timer). Only the app's handlers set the data (``fleet``,
``queue``, ``cost``) and hand it to the main screen (``CockpitScreen``: the views, their keys
and the actions). The first paint comes before anything is read (issue 3): the header, the
tabs, the initial view (empty), the footer. Right after it ``after_first_frame`` mounts the
other views and makes the feeds; a key pressed before that waits for it, and the feeds start
once what that key shows is drawn (the Log view's tail comes before the factory's read: issue
17); the PR queue and the spend once the fleet and the log index are shown. The actions,
screens, PR queue and cost machinery are imported when first used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.driver import Driver
from textual.worker import Worker, WorkerState

from factory_tui.adapters.wake import WakeEvent
from factory_tui.config import Config
from factory_tui.core.safe import printable
from factory_tui.ui import keys
from factory_tui.ui.app_themes import ThemedApp
from factory_tui.ui.app_waits import Waits
from factory_tui.ui.driver import cockpit_driver
from factory_tui.ui.feeds.base import MINUTE_SLACK, Ticker, Updates, refresh_seconds
from factory_tui.ui.screens.cockpit import VIEWS, CockpitScreen
from factory_tui.ui.startup import release_collector

if TYPE_CHECKING:
    from rich.console import RenderableType
    from textual.notifications import SeverityLevel

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.logindex import LogIndex
    from factory_tui.core.cost_report import BudgetState
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import Queue
    from factory_tui.ui.feeds.cost import CostFeed
    from factory_tui.ui.feeds.fleet import FleetFeed
    from factory_tui.ui.feeds.prs import PrsOptions, QueueLoader
    from factory_tui.ui.messages import (
        CostFailed,
        CostProgress,
        CostSpans,
        CostUpdated,
        FilesChanged,
        FleetUpdated,
        LoadProgress,
        PrsLoaded,
        ReaderFailed,
        SpansWanted,
    )
    from factory_tui.ui.watch import WatchTargets
    from factory_tui.ui.widgets.cost import CostPanel
    from factory_tui.ui.widgets.spend import CostSnapshot

__all__ = ["VIEWS", "FactoryApp"]


class FactoryApp(ThemedApp, Waits):
    """The cockpit.

    - ``clock``: the time (default: ``datetime.now`` to the second); tests and snapshots freeze it.
    - ``reader``: a ``FactoryReader`` (default: one for ``config`` with the real host name and
      process probe); tests pass one with a fixed probe.
    - ``theme``: a theme name, else ``config.theme``, else factory-dark (factory-mono when
      ``NO_COLOR`` is set in ``environ``, default ``os.environ``); user themes come from
      ``theme_dir`` (default: the user config dir's ``themes/``).
    - ``watch``: watch the files (False: the first load and the slow timer only).
    - ``on_quit``: called once when the app closes (the demo stops its simulator there).
    - ``initial_view``: one of :data:`VIEWS`; ``refresh_interval``: seconds between pid re-probes
      while a process runs (default ``refresh_seconds`` from the config's extra keys, else 5;
      see :meth:`tick_interval`).
    - ``prs``: how the PR queue is loaded (default :class:`PrsOptions`).

    Keys can be remapped by binding id in factory.toml's ``[keys]`` table (``"action.release" =
    "z"``), as Textual's keymaps do.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "factory-tui"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = App.COMMANDS | {
        keys.FactoryCommands
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "next_attention",
            "Next needing you",
            id="attention.next",
            tooltip="jump to the next crashed session, stale claim or Ask PR, oldest first",
        ),
        Binding("t", "cycle_theme", "Theme", id="theme.cycle", tooltip="the next theme"),
        Binding("question_mark", "help", "Keys", id="help", tooltip="every key, by where it works"),
        Binding("q", "quit", "Quit", id="quit", tooltip="leave the cockpit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit.ctrl_c"),
    ]

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        reader: FactoryReader | None = None,
        theme: str | None = None,
        watch: bool = True,
        on_quit: Callable[[], None] | None = None,
        initial_view: str = "agents",
        refresh_interval: float | None = None,
        theme_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        prs: PrsOptions | None = None,
        freeze_read: bool = False,
    ) -> None:
        """``freeze_read``: the process is the cockpit's own (``ui``, ``demo``): what the first
        read makes is frozen out of the cyclic collector (see :class:`FleetFeed`)."""
        super().__init__()
        self.freeze_read = freeze_read
        self.cockpit = CockpitScreen(initial_view=initial_view)
        self.config = config
        self.closing = False
        """Set when the app starts to quit: a feed's message after that is dropped (the views
        it would update may be gone)."""
        self.clock: Callable[[], datetime] = clock or (
            lambda: datetime.now().replace(microsecond=0)
        )
        self.watching = watch
        self.on_quit = on_quit
        self.refresh_interval = refresh_interval or refresh_seconds(config)
        self.targets: WatchTargets
        """Made right after the first frame, as the watcher, the feeds and the messages they post
        (the first frame imports none of them)."""
        self.watch_stop = WakeEvent()
        """Set when the app closes: the watcher thread stops."""
        self.ticker = Ticker(name="re-probe")
        """The periodic re-probe of the pids and re-read of the spend (from the feeds' start)."""
        self._ticks_fast = False
        """The ticker was last rescheduled for a running process (see :meth:`tick_interval`)."""
        self._given_reader = reader
        self._given_prs = prs
        self._started = asyncio.Event()
        """Set once the views are all mounted and the feeds started."""
        self._held_input: list[events.InputEvent] | None = []
        """Keys and clicks that came before that (None once they are handled)."""
        self.input_released = asyncio.Event()
        """Set once the input typed ahead of the first frame has been handled (tests wait on it)."""
        # The data the views show: set only by the message handlers below.
        self.reader: FactoryReader
        self.fleet: Fleet
        """Both made right after the first frame."""
        self.loaded = False
        self.log_ready = False
        self.loading_the_rest = False
        """The PR queue and the spend were asked for (after the first load)."""
        self.last_change: datetime | None = None
        self.queue: Queue | None = None
        self.prs_error: str | None = None
        self.cost: CostSnapshot | None = None
        self.cost_error: str | None = None
        self._held_fleet: FleetUpdated | None = None
        self.running_actions: set[str] = set()
        """Actions that must not run twice at once, while one runs (``release all stale``)."""
        self.budget_seen: dict[str, datetime] = {}
        """alert_id → when the cockpit first saw that budget state (warning or alert)."""
        self.budget_acknowledged: set[str] = set()
        self.council_running: str | None = None
        # The feeds, and how to wait for what each brought.
        self.fleet_feed: FleetFeed
        self.prs_options: PrsOptions
        self.prs_loader: QueueLoader
        """Made right after the first frame."""
        self._environ = os.environ if environ is None else environ
        self.fleet_updates = Updates()
        self.prs_updates = Updates()
        self.cost_updates = Updates()
        # Themes and keys.
        theme_warnings = self.set_up_themes(theme or config.theme, theme_dir, self._environ)
        self.keymap, keymap_warnings = keys.keymap_from_config(config)
        self.warnings = [
            *(("Theme", text) for text in theme_warnings),
            *(("Keys", text) for text in keymap_warnings),
        ]
        if self.keymap:
            self.set_keymap(self.keymap)

    @property
    def live(self) -> bool:
        """Not quitting: a feed's message still finds the views it updates (once the app
        quits, ``q`` or the end of a test, its handlers drop what comes)."""
        return self.is_running and not self.closing

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment the budget command and the Council run in."""
        return self._environ

    @cached_property
    def cost_feed(self) -> CostFeed:
        """The spend's feed, made when first needed (right after the first frame)."""
        from factory_tui.ui.feeds.cost import CostFeed

        return CostFeed(self, self.config, clock=self.clock, environ=self._environ)

    # -- the first frame, held input, quitting --------------------------------------------------

    def get_default_screen(self) -> CockpitScreen:
        return self.cockpit

    @cached_property
    def log_index(self) -> LogIndex:
        """operations.log's index, made when first needed (the log view, the reader), on the
        event loop (the log view is mounted before the reader starts)."""
        from factory_tui.adapters.logindex import LogIndex

        return LogIndex(self.config.log_history_file, self.config.log_file)

    def get_driver_class(self) -> type[Driver]:
        """Textual's, whose output survives the terminal closing (ui/driver.py)."""
        return cockpit_driver(super().get_driver_class())

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast made printable: results and errors quote ids, titles, branches and tools'
        words (a release's owner, gh's stderr), which must not reach the terminal raw."""
        super().notify(
            printable(message),
            title=printable(title, multiline=False),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def on_mount(self) -> None:
        for title, warning in self.warnings:
            self.notify(warning, title=title, severity="warning", markup=False, timeout=10)
        # The rest right after the first frame, as a task of its own: no message pump waits for
        # it but the input (see on_event).
        self.call_after_refresh(
            self.run_worker,
            self.after_first_frame,
            name="after first frame",
            group="start",
            exit_on_error=False,
        )

    async def after_first_frame(self) -> None:
        """Right after the first frame: mount the other views, make the feeds, handle the input
        typed ahead; the feeds start after its frame (:meth:`_start_feeds`, issue 17)."""
        from factory_tui.adapters.factory import FactoryReader
        from factory_tui.adapters.foldcache import FoldCache
        from factory_tui.ui.feeds.fleet import FleetFeed, empty_fleet
        from factory_tui.ui.feeds.prs import PrsOptions, QueueLoader
        from factory_tui.ui.watch import WatchTargets

        release_collector()  # held off since the start (ui/startup.py)
        try:
            self.targets = WatchTargets.from_config(self.config)
            self.prs_options = self._given_prs or PrsOptions()
            self.reader = self._given_reader or FactoryReader.with_caches(
                self.config, FoldCache.from_env(self.environ)
            )
            self.fleet = empty_fleet(str(self.config.root), self.clock(), self.reader.hostname)
            self.fleet_feed = FleetFeed(
                self,
                self.config,
                self.reader,
                self.log_index,
                clock=self.clock,
                after_read=self.cost_feed.spans_after_read,
                targets=self.targets,
                freeze_read=self.freeze_read,
            )
            # A long log read cold: its tail's child folds while the views are mounted.
            self.fleet_feed.start_early()
            await self.cockpit.mount_the_rest()
            if not self.live:
                return  # quit while the views were being mounted: nothing to start
            self.prs_loader = QueueLoader(
                self, self.config, clock=self.clock, options=self.prs_options
            )
        finally:
            self._started.set()
            self.call_later(self._release_input)
        self.cockpit.refresh_bindings()
        self.cockpit.focus_if_nothing_is()

    def _start_feeds(self) -> None:
        """After the first frame that shows the input typed ahead: watch the files, read the
        factory (the PR queue and the spend follow its first load)."""
        from factory_tui.actions.budget_state import load_budget_memory
        from factory_tui.ui.feeds.cost import COST_REFRESH_SECONDS
        from factory_tui.ui.watch import REARM_MS, watch_files

        if not self.live or not hasattr(self, "fleet_feed"):
            return  # quitting, or the start failed before the feeds were made (it said why)
        if self.watching:
            self.run_worker(
                partial(
                    watch_files,
                    self.targets,
                    self._post_files_changed,
                    self.watch_stop,
                    # Its check for replaced folders at the ticks' pace (see tick_interval).
                    pace=lambda: self.tick_interval(REARM_MS / 1000),
                ),
                name="watch files",
                group="watch",
                thread=True,
                exit_on_error=False,
            )
        self.fleet_feed.request(initial=True)
        # The periodic work on a thread of its own: an idle tick wakes no other thread.
        # Fast while a process runs, else once a minute (see tick_interval).
        spend_every = COST_REFRESH_SECONDS
        self.ticker.every(lambda: self.tick_interval(self.refresh_interval), self._on_tick)
        self.ticker.every(
            lambda: self.tick_interval(spend_every),
            self.cost_feed.refresh_here,  # closed: a no-op
        )
        self.ticker.start()
        if self.prs_options.enabled:
            self.set_interval(self.prs_loader.poll_interval, self.poll_prs, name="prs poll")
        self.cockpit.show_spend_reading()
        # A few hundred bytes, read before the cost feed starts (it then owns budget_fired).
        memory = load_budget_memory(self.config.root, folder=self.cost_feed.budget_state_dir)
        self.budget_acknowledged |= memory.acknowledged
        self.cost_feed.budget_fired |= memory.fired

    async def on_event(self, event: events.Event) -> None:
        # A key or a click that comes before after_first_frame is done (typed ahead of the first
        # frame) is held, and handled once it is done: whatever it does then finds every view.
        if isinstance(event, events.InputEvent) and self._held_input is not None:
            self._held_input.append(event)
            return
        await super().on_event(event)

    async def _release_input(self) -> None:
        """The input held until the views were mounted, handled in order. This runs from the
        app's queue, so that input queued before it is held too and comes first."""
        held, self._held_input = self._held_input or [], None
        if not self.live:
            self.input_released.set()
            return
        tabs = self.cockpit.query_one("#view-tabs")
        try:
            for event in held:
                await super().on_event(event)
                if self.closing or not self.is_running:
                    break  # a quit key: nothing after it matters, nor may hold up the exit
                # A view key shows its view, and a message that moves the focus into it follows:
                # let that settle (the tab bar redrawn) before the next key, so that "2" then
                # "3" ends on "3" with its focus. Bounded: this runs on the app's own queue,
                # which the exit needs too.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tabs.wait_for_refresh(), 0.5)
        finally:
            # The feeds start once what this input shows is drawn.
            self.call_after_refresh(self._start_feeds)
        self.input_released.set()

    def exit(
        self,
        result: None = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None:
        """Quitting (``q``, ctrl+c, a signal): from now on a feed's message is dropped by its
        handler (the views it would update may already be gone)."""
        self.closing = True
        super().exit(result, return_code, message)

    def on_unmount(self) -> None:
        self.closing = True
        self.watch_stop.set()
        self.ticker.stop()
        with contextlib.suppress(AttributeError):  # closed before the feeds started
            self.fleet_feed.close()
            self.prs_loader.stop()
        self.log_index.close()
        if "cost_feed" in self.__dict__:  # made (see cost_feed)
            self.cost_feed.close()
        if self.on_quit is not None:
            self.on_quit()

    # -- the fleet feed ---------------------------------------------------------------------------

    def _post_files_changed(self, paths: frozenset[Path]) -> None:
        """Called on the watcher thread."""
        from factory_tui.ui.messages import FilesChanged

        self.post_message(FilesChanged(paths))

    def on_files_changed(self, message: FilesChanged) -> None:
        plan = self.targets.classify(message.paths)
        if plan and self.live:
            if plan.log and not self.log_ready:  # still folding: the Log view's tail follows
                from factory_tui.ui.widgets.log_view import LogView

                for view in self.cockpit.query("#log-view").results(LogView):
                    view.refresh_preview()
            self.fleet_feed.request(plan=plan)

    def tick_interval(self, fast: float) -> float:
        """Seconds from now to a periodic tick's next (asked on the ticker's thread after each
        tick): ``fast`` while the last probe found a process running (its CPU and memory are
        shown, its death no file says), while the files are not watched (then the ticks are
        what reads the store and the transcripts) or when ``fast`` is a minute or more; else
        just after the clock's next minute, when the ages shown (to the minute) and the
        spend's last hour move. Each wake-up of an idle cockpit cost 8 to 45 ms of CPU on a
        nested VM, for 0.1 ms of work (issue 17); a finished fleet left open overnight now
        wakes once a minute, not every five seconds (the watcher's check for replaced folders
        keeps the same pace)."""
        feed = self.__dict__.get("fleet_feed")
        if fast >= 60 or not self.watching or feed is None or feed.reader.probed_running:
            return fast
        now = self.clock()
        return max(1.0, 60 - now.second - now.microsecond / 1e6 + MINUTE_SLACK)

    def _on_tick(self) -> None:
        """On the ticker's thread (once the first load is shown)."""
        if self.loaded and self.live:
            self.fleet_feed.tick_here()

    def read_everything(self) -> None:
        """Re-read every file now (nothing should need it; the watcher sees changes)."""
        self.fleet_feed.request(plan=self.targets.classify(self.targets.everything()), tick=True)

    def on_load_progress(self, message: LoadProgress) -> None:
        if not self.live or (self.loaded and message.source != "log index"):
            return
        self.cockpit.show_progress(message.source, message.done, message.total)

    def on_fleet_updated(self, message: FleetUpdated) -> None:
        from factory_tui.ui.screens.detail import AgentDetailScreen

        if not self.live:
            return
        latest = self._latest_fleet(message)
        if latest is None:
            return  # a newer fleet is on its way: drawn with this one's news
        message = latest
        self.fleet = message.fleet
        running = self.fleet_feed.reader.probed_running
        if running != self._ticks_fast:  # a process started (or the last one ended)
            self._ticks_fast = running
            self.ticker.reschedule()
        if message.initial:
            self.loaded = True
        elif message.changed:
            self.last_change = self.clock()
        if message.log_changed:
            self.log_ready = self.log_ready or self.loaded
        self.cockpit.show_fleet(message)
        if self.log_ready:
            self.fleet_feed.log_shown.set()  # (the feed's spans for the spend wait for it)
        for screen in self.screen_stack:
            if isinstance(screen, AgentDetailScreen):
                screen.show_fleet(message.fleet)
        # The PR queue and the spend load once the fleet and the log index are shown (looked at
        # first: they took ~0.3 s of the scale factory's 2 s load). Then a changed factory
        # reloads the queue if its sessions or claims link the PRs otherwise, or its plan or
        # memory changed (coalesced, at most one load per ``min_gap``; gh's lists and git's
        # branches read again by the slow timer).
        if self.loading_the_rest and message.changed:
            self.prs_loader.request(self.fleet, if_relinked=message.state is None)
        elif self.log_ready:
            self._load_the_rest()
        self.fleet_updates.changed()

    def _latest_fleet(self, message: FleetUpdated) -> FleetUpdated | None:
        """``message``, with the news of the fleets passed over before it; None when a newer
        fleet was posted since (its news kept for that one): under a burst of writes the feed
        can derive faster than a long claims tree is drawn, and each fleet was drawn in turn,
        behind the last."""
        from factory_tui.ui.messages import FleetUpdated

        feed = getattr(self, "fleet_feed", None)
        held = self._held_fleet
        if held is not None:
            message = FleetUpdated(
                message.fleet,
                changed=message.changed or held.changed,
                log_changed=message.log_changed or held.log_changed,
                initial=message.initial or held.initial,
                state=message.state if message.state is not None else held.state,
                seq=message.seq,
            )
        seq = message.seq
        newer = seq is not None and feed is not None and feed.posted > seq
        if newer and not message.initial:
            self._held_fleet = message
            return None
        self._held_fleet = None
        return message

    def _load_the_rest(self) -> None:
        """Once: the PR queue and the spend, after the first load (or when it failed)."""
        if not self.loading_the_rest:
            self.loading_the_rest = True
            self.prs_loader.request(self.fleet)
            self.cost_feed.request()

    def on_reader_failed(self, message: ReaderFailed) -> None:
        if self.live:
            self._show_error(message.error)
            self._load_the_rest()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died (a bug the worker machinery caught): said, and its feed can start
        again."""
        if event.state != WorkerState.ERROR or event.worker.error is None or not self.live:
            return
        error = event.worker.error
        if event.worker.group == "reader":
            self.fleet_feed.drain.worker_died()
            self._load_the_rest()  # if the first load died
        elif event.worker.group == "prs":
            self.prs_loader.worker_died()
        elif event.worker.group == "cost":
            self.cost_feed.drain.worker_died()
        self._show_error(f"{event.worker.name}: {type(error).__name__}: {error}")

    def _show_error(self, text: str) -> None:
        self.notify(
            text + " — the cockpit keeps running; please report this.",
            title="Internal error",
            severity="error",
            markup=False,
            timeout=15,
        )

    # -- the PR feed (issue 5) ------------------------------------------------------------------

    def poll_prs(self) -> None:
        """The slow timer: gh asked again (at most every ``[prs] poll_seconds``, ≥ 30 s)."""
        if self.loaded:
            self.prs_loader.request(self.fleet, fresh=True)

    def reload_prs(self, *, fresh: bool = True) -> None:
        """Load the queue now (``fresh``: ask gh again too)."""
        self.prs_loader.request(self.fleet, fresh=fresh, urgent=True)

    def on_prs_loaded(self, message: PrsLoaded) -> None:
        if not self.live:
            return
        first = self.queue is None and message.queue is not None
        if message.queue is not None:
            self.queue = message.queue
        self.prs_error = message.error
        self.cockpit.show_queue(message, first=first)
        if message.error is not None:
            self._show_error(f"loading the PR queue: {message.error}")
        self.prs_loader.loaded(message)
        self.prs_updates.changed()

    # -- the cost feed (issue 6) ----------------------------------------------------------------

    def on_cost_spans(self, message: CostSpans) -> None:
        if self.live:
            self.cost_feed.request(spans=message.spans)

    def on_spans_wanted(self, _message: SpansWanted) -> None:
        """A record to attribute: the fleet feed makes the spans after a read (the first
        load's, if it is still going)."""
        if self.live and self.loaded:
            self.fleet_feed.request(tick=True)

    def on_cost_panel_changed(self, message: CostPanel.Changed) -> None:
        """The Cost view shows another grouping or period: the cost feed reads for it."""
        self.cost_feed.choose(message.grouping, message.period)

    def on_cost_progress(self, message: CostProgress) -> None:
        if not self.live or self.cost is not None or self.cost_error is not None:
            return
        if message.total:
            self.cockpit.show_spend_reading(min(100, message.done * 100 // message.total))

    def on_cost_updated(self, message: CostUpdated) -> None:
        if not self.live:
            return
        first = self.cost is None
        self.cost, self.cost_error = message.snapshot, None
        self.cockpit.show_cost(message.snapshot, first=first)
        for text, severity in message.notes:
            self.notify(text, title="Budget command", severity=severity, markup=False, timeout=15)
        self.cost_updates.changed()

    def on_cost_failed(self, message: CostFailed) -> None:
        if not self.live:
            return
        first = self.cost_error != message.error
        self.cost_error = message.error
        self.cockpit.show_cost_failed(message.error)
        if first:
            self.notify(message.error, title="Cost", severity="error", markup=False, timeout=15)
        self.cost_updates.changed()

    def unacknowledged_budget_alerts(self) -> tuple[BudgetState, ...]:
        """Budgets at 100 % today the engineer has not acknowledged (``A``)."""
        if self.cost is None:
            return ()
        return tuple(
            state
            for state in self.cost.view.budgets
            if state.level == "alert" and state.alert_id not in self.budget_acknowledged
        )

    # -- keys that work everywhere: help, next needing you (themes: ThemedApp) ---------------

    def action_next_attention(self) -> None:
        self.cockpit.action_next_attention()

    def action_help(self) -> None:
        from factory_tui.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.cockpit.key_sections()))

    def key_display(self, binding: Binding) -> str:
        """The keys of ``binding`` as the help and the palette show them (a user keymap
        applied)."""
        keys = self.keymap.get(binding.id or "", binding.key)
        return ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
