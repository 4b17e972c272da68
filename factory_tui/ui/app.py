"""The cockpit: a live full-screen view of the fleet.

Data flows one way. One watcher thread (:mod:`factory_tui.ui.watch`) posts
:class:`FilesChanged`; the handler queues what to re-read and makes sure ONE reader worker (a
thread, group ``reader``) is draining the queue; the worker calls only the matching
``FactoryReader.refresh_*``, derives a new :class:`Fleet` and posts :class:`FleetUpdated`; the
handler updates every view by key. A slow timer re-probes pids and re-derives ages the same way.
The first paint comes before anything is read, and with as little as it needs (issue 3): the
header, the tabs, the initial view (empty) and the footer. Right after it,
``FactoryApp._after_first_frame`` imports and mounts the other views, then starts the watcher and
the workers; a key pressed before that waits for it. The actions, screens, PR queue and cost
machinery are imported when first used. The header shows the progress of the first load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TabPane, Tree
from textual.worker import Worker, WorkerState

from factory_tui.config import Config
from factory_tui.core.attention import AttentionItem, attention_items
from factory_tui.core.safe import printable
from factory_tui.ui.messages import (
    WORKER_MESSAGES,
    CostFailed,
    CostProgress,
    CostSpans,
    CostUpdated,
    FilesChanged,
    FleetUpdated,
    LoadProgress,
    PrsLoaded,
    ReaderFailed,
    StateSummary,
)
from factory_tui.ui.themes import THEME_VARIABLE_DEFAULTS, load_themes, pick_theme
from factory_tui.ui.watch import RefreshPlan, WatchTargets, watch_files
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.filterbar import FilterBar
from factory_tui.ui.widgets.footer import KeysFooter
from factory_tui.ui.widgets.summary import (
    SummaryBar,
    ask_segment,
    changed_segment,
    changed_short_segment,
    fleet_segments,
    fleet_short_segments,
    waiting_segments,
)
from factory_tui.ui.widgets.text import missing_lines

# The first frame needs only what is imported above (issue 3: start to first paint). The other
# views' modules are imported right after it (``FactoryApp._after_first_frame``); the actions,
# screens, PR queue and cost machinery where they are first used.
if TYPE_CHECKING:
    import subprocess

    from rich.console import RenderableType
    from textual.notifications import SeverityLevel
    from textual.screen import Screen
    from textual.widgets import DataTable

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.logindex import LogIndex
    from factory_tui.adapters.transcripts import CostTracker
    from factory_tui.core.claims import ClaimUnit
    from factory_tui.core.cost_attribution import Span
    from factory_tui.core.cost_report import BudgetState, CostView, Grouping
    from factory_tui.core.council import Proposal
    from factory_tui.core.fleet import Fleet, InstanceView, ProcInfo
    from factory_tui.core.prs_queue import PrView, Queue
    from factory_tui.ui.prs_loader import PrsOptions, QueueLoader
    from factory_tui.ui.screens.help import KeySection
    from factory_tui.ui.widgets.claims import ClaimNode, ClaimsView, ClaimTree
    from factory_tui.ui.widgets.cost import BudgetBanner, CostPanel, CostSnapshot, Period
    from factory_tui.ui.widgets.log_view import LogView
    from factory_tui.ui.widgets.problems import ProblemsView
    from factory_tui.ui.widgets.prs import PrsView
    from factory_tui.ui.widgets.sessions import SessionsView
    from factory_tui.ui.widgets.state import StateView

__all__ = ["VIEWS", "AttentionItem", "FactoryApp", "attention_items", "empty_fleet"]

VIEWS: tuple[str, ...] = (
    "agents",
    "claims",
    "sessions",
    "log",
    "problems",
    "state",
    "prs",
    "cost",
)
DETAIL_VIEWS = ("agents", "claims", "sessions")
VIEW_TITLES = {
    "agents": "Agents",
    "claims": "Claims",
    "sessions": "Sessions",
    "log": "Log",
    "problems": "Problems",
    "state": "State",
    "prs": "PRs",
    "cost": "Cost",
}
#: Seconds between re-probes of the pids (and re-derived ages) when nothing changes.
DEFAULT_REFRESH_SECONDS = 5.0
#: The engineer's actions (issue 4): hidden where they do not apply and in read-only mode.
_ACTIONS = ("release", "recover", "stop_agent", "release_all_stale", "unlock")
#: The approval queue's actions (issue 5): on the PR under the cursor in the PRs view.
_PR_ACTIONS = ("approve_pr", "request_changes", "mark_reviewed")
#: Actions on something the reader found: none applies before the first load.
_ACT_ON_WHAT_IS_READ = frozenset((*_ACTIONS, *_PR_ACTIONS, "council"))
#: Seconds between re-reads of the transcripts (issue 6: their folders are not watched).
COST_REFRESH_SECONDS = 10.0
#: The reader's thread works out the cost attribution's spans at most this often.
SPANS_EVERY = 2.0


#: The handlers of the messages the app's workers post (reader, watcher, PR queue, cost).
_WORKER_HANDLERS = frozenset(message.handler_name for message in WORKER_MESSAGES)


def empty_fleet(root: str, now: datetime, hostname: str = "") -> Fleet:
    """The fleet before anything is read."""
    from factory_tui.core.fleet import Fleet

    return Fleet(
        root=root,
        generated_at=now,
        hostname=hostname,
        instances=(),
        sessions=(),
        claims=(),
        problems=(),
    )


def state_summary(config: Config) -> StateSummary:
    """plan.md and memory.md in counts (two small files; read after the reader saw them change)."""
    from factory_tui.adapters.safe_read import read_factory_file
    from factory_tui.core.statefiles_parse import parse_memory, parse_plan

    def read(path: Path) -> str | None:
        data = read_factory_file(path, config.max_file_bytes)  # a FIFO must not block
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None

    plan_text = read(config.plan_file)
    memory_text = read(config.memory_file)
    plan_counts: tuple[tuple[str, int], ...] = ()
    sections: tuple[tuple[str, int], ...] = ()
    if plan_text is not None:
        plan = parse_plan(plan_text, str(config.plan_file))
        counts: dict[str, int] = {}
        for item in plan.items:
            counts[item.state] = counts.get(item.state, 0) + 1
        plan_counts = tuple(
            (state, counts[state])
            for state in ("in_progress", "pending", "blocked", "done")
            if state in counts
        )
    if memory_text is not None:
        memory = parse_memory(memory_text, str(config.memory_file))
        sections = tuple((s.name, len(s.items)) for s in memory.sections if s.kind is not None)
    return StateSummary(
        plan_file=str(config.plan_file),
        plan_exists=plan_text is not None,
        plan_counts=plan_counts,
        memory_file=str(config.memory_file),
        memory_exists=memory_text is not None,
        memory_sections=sections,
    )


# -- the command palette -------------------------------------------------------------------------


class FactoryCommands(Provider):
    """Every cockpit action in the command palette (ctrl+p)."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        if not isinstance(app, FactoryApp):
            return []
        return app.palette_commands()

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)


# -- the app -------------------------------------------------------------------------------------


class FactoryApp(App[None]):
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
      (default ``refresh_seconds`` from the config's extra keys, else 5).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "factory-tui"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = App.COMMANDS | {
        FactoryCommands
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_view", "Next view", priority=True, id="view.next"),
        Binding(
            "shift+tab",
            "previous_view",
            "Previous view",
            priority=True,
            show=False,
            id="view.previous",
        ),
        Binding("1", "show_view('agents')", "Agents", show=False, id="view.agents"),
        Binding("2", "show_view('claims')", "Claims", show=False, id="view.claims"),
        Binding("3", "show_view('sessions')", "Sessions", show=False, id="view.sessions"),
        Binding("4", "show_view('log')", "Log", show=False, id="view.log"),
        Binding("5", "show_view('problems')", "Problems", show=False, id="view.problems"),
        Binding("6", "show_view('state')", "State", show=False, id="view.state"),
        Binding("7", "show_view('prs')", "PRs", show=False, id="view.prs"),
        Binding("8", "show_view('cost')", "Cost", show=False, id="view.cost"),
        Binding("enter", "details", "Details", id="details"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("n", "next_attention", "Next needing you", id="attention.next"),
        Binding("t", "cycle_theme", "Theme", id="theme.cycle"),
        Binding("y", "copy", "Copy id", show=False, id="copy"),
        Binding("x", "release", "Release claim", id="action.release"),
        Binding("X", "release_all_stale", "Release all stale", id="action.release_all"),
        Binding("u", "unlock", "Unlock", id="action.unlock"),
        Binding("r", "recover", "Recover", id="action.recover"),
        Binding("K", "stop_agent", "Stop agent", id="action.stop"),
        Binding("C", "council", "Council", id="action.council"),
        Binding("A", "acknowledge_budget", "Acknowledge budget", id="budget.acknowledge"),
        # ``r`` refreshes where there is nothing to recover (a disabled binding falls through).
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        # Where x, X or A does not apply, the key says why instead of doing nothing.
        Binding("x", "why_not('release')", "Release claim", show=False, id="why.release"),
        Binding("X", "why_not('release_all_stale')", "Release all stale", show=False, id="why.X"),
        Binding("A", "why_not('acknowledge_budget')", "Acknowledge budget", show=False, id="why.A"),
        Binding("question_mark", "help", "Keys", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
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
    ) -> None:
        super().__init__()
        if initial_view not in VIEWS:
            raise ValueError(f"view {initial_view!r}: expected one of {', '.join(VIEWS)}")
        self.config = config
        self.closing = False
        self.clock: Callable[[], datetime] = clock or (
            lambda: datetime.now().replace(microsecond=0)
        )
        # The reader and the empty fleet are made right after the first frame.
        self.reader: FactoryReader
        self._given_reader = reader
        self.fleet: Fleet
        self.watching = watch
        self.on_quit = on_quit
        self.initial_view = initial_view
        self.refresh_interval = refresh_interval or _config_refresh(config)
        self.loaded = False
        self._binding_keys: tuple[tuple[str, str, bool], ...] = ()
        self.log_ready = False
        self.last_change: datetime | None = None
        self.fleet_updates = 0
        self.filters: dict[str, str] = dict.fromkeys(VIEWS, "")
        self.announced: set[str] = set()
        self._attention_cursor: str | None = None
        self.targets = WatchTargets.from_config(config)
        self._stop = threading.Event()
        self._queue_lock = threading.Lock()
        self._pending = RefreshPlan()
        self._pending_initial = False
        self._pending_tick = False
        self._reader_running = False
        self._last_shown: object = None
        self._last_probe: object = None
        self._fleet_event: asyncio.Event | None = None
        self._started = asyncio.Event()
        """Set once the views are all mounted and the workers started."""
        self._held_input: list[events.InputEvent] | None = []
        self.input_released = asyncio.Event()
        """Set once the input typed ahead of the first frame has been handled (tests wait on it)."""
        """Keys and clicks that came before that (None once they are handled)."""
        # The approval queue (issue 5): loaded on a thread after the first fleet.
        self.prs_options: PrsOptions
        self.prs_loader: QueueLoader
        """Both made right after the first frame."""
        self._given_prs = prs
        self.queue: Queue | None = None
        self.prs_error: str | None = None
        self._prs_event: asyncio.Event | None = None
        # Spend, budgets and the Council (issue 6): the transcripts read on a thread.
        self._cost_init(environ)
        self.factory_themes, self._theme_warnings = load_themes(theme_dir)
        for item in self.factory_themes.values():
            self.register_theme(item)
        name, warning = pick_theme(
            theme or config.theme,
            self.factory_themes,
            os.environ if environ is None else environ,
        )
        if warning:
            self._theme_warnings.append(warning)
        self.theme = name

    # -- layout ---------------------------------------------------------------------------------

    @cached_property
    def log_index(self) -> LogIndex:
        """operations.log's index, made when first needed (the log view, the reader), on the
        event loop (the log view is mounted before the reader starts)."""
        from factory_tui.adapters.logindex import LogIndex

        return LogIndex(self.config.log_history_file, self.config.log_file)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

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

    def compose(self) -> ComposeResult:
        # The first frame: the header, the tabs, the initial view, the footer. The other views'
        # panes stay empty until _after_first_frame fills them; it also mounts the budget banner
        # and the filter line (both hidden until needed).
        yield SummaryBar(id="summary")
        with TabbedContent(initial=self.initial_view, id="views"):
            for view in VIEWS:
                with TabPane(VIEW_TITLES[view], id=view):
                    if view == self.initial_view:
                        yield self._view_content(view)
        yield KeysFooter()

    def _view_content(self, view: str) -> Widget:
        """What the pane of ``view`` holds (its module imported when first asked for)."""
        root = str(self.config.root)
        if view == "agents":
            return AgentGrid(id="agent-grid")
        if view == "claims":
            from factory_tui.ui.widgets.claims import ClaimsView

            return ClaimsView(id="claims-view")
        if view == "sessions":
            from factory_tui.ui.widgets.sessions import SessionsView

            return SessionsView(id="sessions-view")
        if view == "log":
            from factory_tui.ui.widgets.log_view import LogView

            return LogView(self.log_index, follow=True, id="log-view")
        if view == "problems":
            from factory_tui.ui.widgets.problems import ProblemsView

            return ProblemsView(id="problems-view")
        if view == "state":
            from factory_tui.ui.widgets.state import StateView

            return StateView(id="state-view")
        if view == "prs":
            from factory_tui.ui.widgets.prs import PrsView

            return PrsView(root=root, id="prs-view")
        from factory_tui.ui.widgets.cost import CostPanel

        return CostPanel(root=root, id="cost-view")

    def on_mount(self) -> None:
        summary = self.query_one(SummaryBar)
        summary.set_segment("title", self._title_segment(), self._title_segment(short=True))
        summary.set_segments(waiting_segments())
        summary.set_segment("loading", Content.styled("reading the factory…", "$text-muted"))
        for warning in self._theme_warnings:
            self.notify(warning, title="Theme", severity="warning", markup=False, timeout=10)
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_refreshed)
        # The rest right after the first frame, as a task of its own: no message pump waits for
        # it but the input (see on_event).
        self.call_after_refresh(
            self.run_worker,
            self._after_first_frame,
            name="after first frame",
            group="start",
            exit_on_error=False,
        )

    async def _after_first_frame(self) -> None:
        """Right after the first frame: mount the other views, the budget banner and the filter
        line, then start the watcher, the reader, the timers, the PR queue and the cost worker.
        Every worker starts after the views are mounted, so that each message finds what it
        updates."""
        from factory_tui.adapters.factory import FactoryReader
        from factory_tui.ui.prs_loader import PrsOptions, QueueLoader
        from factory_tui.ui.widgets.cost import BudgetBanner

        try:
            mounts = [
                self.query_one(f"#{view}", TabPane).mount(self._view_content(view))
                for view in VIEWS
                if view != self.initial_view
            ]
            mounts.append(self.mount(BudgetBanner(id="budget-banner"), after="#summary"))
            mounts.append(self.mount(FilterBar(id="filter-bar"), after="#views"))
            for mounted in mounts:
                await mounted
            self.reader = self._given_reader or FactoryReader(self.config)
            self.fleet = empty_fleet(str(self.config.root), self.clock(), self.reader.hostname)
            self.prs_options = self._given_prs or PrsOptions()
            self.prs_loader = QueueLoader(
                self, self.config, clock=self.clock, options=self.prs_options
            )
            if self.current_view == "prs":
                self._prs_looked()  # the cockpit opened on the queue: the engineer looks at it
            self.theme_changed_signal.subscribe(self, self._on_theme_changed)
            if self.watching:
                self.run_worker(
                    partial(watch_files, self.targets, self._post_files_changed, self._stop),
                    name="watch files",
                    group="watch",
                    thread=True,
                    exit_on_error=False,
                )
            self._enqueue(initial=True)
            self.set_interval(self.refresh_interval, self._on_tick)
            self._prs_mount()
            self._cost_mount()
        finally:
            self._started.set()
            self.call_later(self._release_input)
        self.refresh_bindings()
        self._focus_if_nothing_is()

    async def on_event(self, event: events.Event) -> None:
        # A key or a click that comes before _after_first_frame is done (typed ahead of the first
        # frame) is held, and handled once it is done: whatever it does then finds every view.
        if isinstance(event, events.InputEvent) and self._held_input is not None:
            self._held_input.append(event)
            return
        await super().on_event(event)

    async def _release_input(self) -> None:
        """The input held until the views were mounted, handled in order. This runs from the
        app's queue, so that input queued before it is held too and comes first."""
        held, self._held_input = self._held_input or [], None
        tabs = self.query_one(TabbedContent)
        for event in held:
            await super().on_event(event)
            if self.closing or not self.is_running:
                break  # a quit key: nothing after it matters, and nothing may hold up the exit
            # A view key sets the tabs' active tab, and the tabs answer with a message that sets
            # it again: let that settle before the next key, or "2" then "3" can end on "2".
            # Bounded: this runs on the app's own queue, which the exit needs too.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tabs.wait_for_refresh(), 0.5)
        self.input_released.set()

    def exit(
        self,
        result: None = None,
        return_code: int = 0,
        message: RenderableType | None = None,
    ) -> None:
        """Quitting (``q``, ctrl+c, a signal): from now on a worker's message is dropped (see
        ``_on_message``): the views it would update may already be gone."""
        self.closing = True
        super().exit(result, return_code, message)

    async def _shutdown(self) -> None:
        # From here on, a worker's message finds no widgets (see _on_message).
        self.closing = True
        await super()._shutdown()

    async def _on_message(self, message: Message) -> None:
        # A worker's message can arrive while the app closes, after its screens are gone:
        # dropped, so that quitting never ends in a traceback.
        if self.closing and message.handler_name in _WORKER_HANDLERS:
            return
        await super()._on_message(message)

    def on_unmount(self) -> None:
        self._stop.set()
        self.log_index.close()
        self._cost_close()
        if self.on_quit is not None:
            self.on_quit()

    def _title_segment(self, *, short: bool = False) -> Content:
        """``factory-tui ROOT``; the short form is the root's name in the accent."""
        name = printable(self.config.root.name or str(self.config.root))
        parts: list[str | tuple[str, str]] = (
            [(name, "bold $accent")] if short else [("factory-tui", "bold $accent"), " ", name]
        )
        if self.config.read_only:
            parts.append((" read-only" if short else "  read-only", "$text-muted"))
        return Content.assemble(*parts)

    # -- background: watcher and reader -------------------------------------------------------

    def _post_files_changed(self, paths: frozenset[Path]) -> None:
        """Called on the watcher thread."""
        self.post_message(FilesChanged(paths))

    def on_files_changed(self, message: FilesChanged) -> None:
        plan = self.targets.classify(message.paths)
        if plan:
            self._enqueue(plan=plan)

    def _on_tick(self) -> None:
        if self.loaded:
            self._enqueue(tick=True)

    def _enqueue(
        self, *, plan: RefreshPlan | None = None, initial: bool = False, tick: bool = False
    ) -> None:
        with self._queue_lock:
            if plan is not None:
                self._pending.merge(plan)
            self._pending_initial |= initial
            self._pending_tick |= tick
            if self._reader_running:
                return
            self._reader_running = True
        self.run_worker(
            self._drain,
            name="read factory",
            group="reader",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _drain(self) -> None:
        """The reader worker: take what is queued, read it, post the fleet; until nothing is."""
        while True:
            with self._queue_lock:
                plan, initial, tick = self._pending, self._pending_initial, self._pending_tick
                self._pending, self._pending_initial, self._pending_tick = (
                    RefreshPlan(),
                    False,
                    False,
                )
                if not (plan or initial or tick):
                    self._reader_running = False
                    return
            try:
                if initial:
                    self._load_everything()
                if plan or tick:
                    self._refresh(plan, tick)
                self._cost_after_read()  # issue 6: new spans for the spend's attribution
            except Exception as error:  # a bug, not a bad file: keep the cockpit alive
                self.post_message(ReaderFailed(f"{type(error).__name__}: {error}"))

    def _progress(self, source: str, done: int, total: int) -> None:
        self.post_message(LoadProgress(source, done, total))  # a burst coalesces

    def _load_everything(self) -> None:
        from factory_tui.adapters.memory import release_free_memory

        reader = self.reader
        reader.on_progress = self._progress
        try:
            reader.refresh_all()
        finally:
            reader.on_progress = None
        self._finish_interrupted(reader)
        fleet = reader.fleet(self.clock())
        self._last_shown = _shown_facts(fleet)
        self.post_message(
            FleetUpdated(fleet, changed=True, initial=True, state=state_summary(self.config))
        )
        self._cost_after_read()  # issue 6: the spend's attribution, before the log index
        for step in self.log_index.update_in_chunks():
            self._progress("log index", step.bytes_done, step.bytes_total)
        release_free_memory()  # the read's buffers are gone: their pages go back to the system
        self.post_message(FleetUpdated(fleet, changed=False, log_changed=True))

    def _refresh(self, plan: RefreshPlan, tick: bool) -> None:
        reader = self.reader
        changed = False
        for path in sorted(plan.claim_paths):
            changed |= reader.refresh_claim(path)
        if plan.rescan_claims:
            changed |= reader.refresh_claims()
        elif plan.locks:
            changed |= reader.refresh_locks()
        log_changed = False
        if plan.log:
            log_changed = reader.refresh_log()
            generation = self.log_index.generation
            log_changed |= self.log_index.update() > 0 or self.log_index.generation != generation
        if plan.checkpoints:
            changed |= reader.refresh_checkpoints()
        state: StateSummary | None = None
        if plan.state and reader.refresh_state_files():
            changed = True
            state = state_summary(self.config)
        # Only lines appended to the log: the fleet is re-derived where they touch, with the
        # process facts of the last probe (the tick re-probes).
        log_only = log_changed and not changed and not tick
        changed |= log_changed
        if not (changed or tick):
            return
        now = self.clock()
        if not changed:
            # Only the clock and the process table can have moved: probe once, and derive a
            # fleet only if what is shown could differ (a big factory derives in ~0.1 s).
            procs = reader.probe.probe(reader.local_pids())
            minute = now.replace(second=0, microsecond=0)
            facts = (minute, _proc_facts(procs))
            if facts == self._last_probe:
                return
            self._last_probe = facts
            fleet = reader.fleet(now, procs=procs)
        else:
            fleet = reader.fleet(now, reprobe=not log_only)
        shown = _shown_facts(fleet)
        if changed or shown != self._last_shown:
            self._last_shown = shown
            self.post_message(
                FleetUpdated(fleet, changed=changed, log_changed=log_changed, state=state)
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            if event.worker.group == "reader":
                with self._queue_lock:
                    self._reader_running = False
            if event.worker.group == "prs":
                self.prs_loader.failed()
            self._show_error(f"{event.worker.name}: {type(error).__name__}: {error}")

    def on_reader_failed(self, message: ReaderFailed) -> None:
        self._show_error(message.error)

    def _show_error(self, text: str) -> None:
        self.notify(
            text + " — the cockpit keeps running; please report this.",
            title="Internal error",
            severity="error",
            markup=False,
            timeout=15,
        )

    def on_load_progress(self, message: LoadProgress) -> None:
        if self.loaded and message.source != "log index":
            return
        percent = 100 if not message.total else min(100, message.done * 100 // message.total)
        what = "indexing the log" if message.source == "log index" else f"reading {message.source}"
        if message.source == "log index" and percent >= 100:
            self.query_one(SummaryBar).set_segment("loading", None)
            return
        self.query_one(SummaryBar).set_segment(
            "loading", Content.styled(f"{printable(what)} {percent}%…", "$text-muted")
        )

    # -- showing a fleet ------------------------------------------------------------------------

    def _finish_interrupted(self, reader: FactoryReader) -> None:
        """On start, on the reader's thread: close the changes an interrupted factory-tui left
        half done (an intent logged, no outcome), by what the claim files show; say so."""
        if self.config.read_only or not reader.fold.open_changes:
            return
        from factory_tui.actions.interrupted import finish_interrupted

        done = finish_interrupted(self.config, reader.fold.open_changes, now=self.clock())
        reader.refresh_log()
        for item in done:
            self.call_from_thread(
                self.notify,
                item.message,
                title=f"Interrupted change {item.change}",
                severity="information" if item.outcome != "left" else "warning",
            )

    def on_fleet_updated(self, message: FleetUpdated) -> None:
        from factory_tui.ui.screens.detail import AgentDetailScreen

        fleet = message.fleet
        self.fleet = fleet
        if message.initial:
            self.loaded = True
        elif message.changed:
            self.last_change = self.clock()
        with self.batch_update():
            summary = self.query_one(SummaryBar)
            summary.set_segments(
                fleet_segments(fleet, loaded=self.loaded),
                fleet_short_segments(fleet, loaded=self.loaded),
            )
            summary.set_segment(
                "changed",
                changed_segment(self.last_change),
                changed_short_segment(self.last_change),
            )
            if message.initial:
                summary.set_segment("loading", None)
            self.query_one(AgentGrid).show_fleet(fleet, loaded=self.loaded)
            self._claims_view.show_fleet(fleet, loaded=self.loaded)
            self._sessions_view.show_fleet(fleet, loaded=self.loaded)
            self._problems_view.show_fleet(fleet, loaded=self.loaded)
            self._state_view.show_fleet(fleet, message.state)
            self._log_view.show_missing(missing_lines(fleet.missing, "log"))
            if message.log_changed:
                self._log_view.refresh_index()
                self.log_ready = self.log_ready or self.loaded
            self._update_tab_labels(fleet)
            for screen in self.screen_stack:
                if isinstance(screen, AgentDetailScreen):
                    screen.show_fleet(fleet)
        # Which action keys apply depends on the fleet (a stale claim to release, ...).
        self._refresh_bindings_if_changed()
        if message.initial and self.focused is None:
            self.call_after_refresh(self._focus_if_nothing_is)
        self._announce(fleet, first=message.initial)
        self._prs_on_fleet(message)
        self.fleet_updates += 1
        if self._fleet_event is not None:
            self._fleet_event.set()

    def _update_tab_labels(self, fleet: Fleet) -> None:
        tabs = self.query_one(TabbedContent)
        counts = {
            "agents": len(fleet.instances),
            "claims": len(fleet.claims),
            "sessions": len(fleet.sessions),
            "problems": fleet.counts.get("problems", 0),
            "state": len(fleet.lint),
            **({"prs": len(self.queue.views)} if self.queue is not None else {}),
        }
        alarms = {
            "agents": fleet.counts.get("agents_crashed", 0) + fleet.counts.get("agents_stale", 0),
            "claims": fleet.counts.get("claims_stale", 0),
            "sessions": fleet.counts.get("sessions_crashed", 0),
            "problems": counts["problems"],
            "state": counts["state"],
            "prs": self.queue.ask_waiting if self.queue is not None else 0,
            "cost": len(self.unacknowledged_budget_alerts()),
        }
        labels = {view: self._tab_label(view, counts, alarms, short=False) for view in VIEWS}
        # Every tab named at once: past the width, the totals go (the alarms stay).
        if sum(label.cell_length + 2 for label in labels.values()) > self.size.width:
            labels = {view: self._tab_label(view, counts, alarms, short=True) for view in VIEWS}
        for view, label in labels.items():
            tab = tabs.get_tab(view)
            if tab.label != label or tab.label.spans != label.spans:
                tab.label = label

    def _tab_label(
        self, view: str, counts: dict[str, int], alarms: dict[str, int], *, short: bool
    ) -> Content:
        """``Claims 10 !5 ⧩``: the title, the total (not when ``short``), the number needing the
        engineer, the filter mark."""
        parts: list[str | tuple[str, str]] = [VIEW_TITLES[view]]
        if view in counts and not short:
            parts.append(f" {counts[view]}")
        if alarms.get(view):
            parts.append((f" !{alarms[view]}", "bold $warning"))
        if self.filters[view]:
            parts.append((" ⧩", "$accent"))
        return Content.assemble(*parts)

    def on_resize(self, event: events.Resize) -> None:
        if self.loaded:
            self._update_tab_labels(self.fleet)

    def _announce(self, fleet: Fleet, *, first: bool) -> None:
        """Notify (and ring) once for each new thing needing the engineer; not for what was
        already there when the cockpit opened."""
        items = attention_items(fleet, self.queue)
        new = [item for item in items if item.key not in self.announced]
        self.announced.update(item.key for item in items)
        if first or not new:
            return
        if self.config.notify:
            for item in new:
                self.notify(
                    item.title,
                    title=f"Needs you: {item.kind}",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )
        if self.config.bell:
            self.bell()

    async def wait_for_fleet(
        self, predicate: Callable[[Fleet], bool] | None = None, *, timeout: float = 10.0
    ) -> Fleet:
        """Wait (bounded) until a FleetUpdated has been handled whose fleet satisfies
        ``predicate`` (default: the first complete load). For tests and snapshots."""
        check = predicate or (lambda _fleet: self.loaded)
        if self._fleet_event is None:
            self._fleet_event = asyncio.Event()

        async def wait() -> Fleet:
            assert self._fleet_event is not None
            await self._started.wait()  # the fleet exists from then on
            while not check(self.fleet):
                self._fleet_event.clear()
                await self._fleet_event.wait()
            return self.fleet

        return await asyncio.wait_for(wait(), timeout)

    def _on_theme_changed(self, _theme: object) -> None:
        self._claims_view.restyle()
        self._sessions_view.restyle()
        self._problems_view.restyle()
        self._state_view.restyle()
        self._prs_view.restyle()
        self._cost_panel.restyle()

    # -- views, focus, keys ---------------------------------------------------------------------

    @property
    def current_view(self) -> str:
        return self.query_one(TabbedContent).active or self.initial_view

    # The views' widgets, looked up by id: their modules are imported with the views (see
    # ``_view_content``), not with this one.

    @property
    def _claims_view(self) -> ClaimsView:
        return cast("ClaimsView", self.query_one("#claims-view"))

    @property
    def _claim_tree(self) -> ClaimTree:
        return cast("ClaimTree", self.query_one("#claim-tree"))

    @property
    def _sessions_view(self) -> SessionsView:
        return cast("SessionsView", self.query_one("#sessions-view"))

    @property
    def _log_view(self) -> LogView:
        return cast("LogView", self.query_one("#log-view"))

    @property
    def _problems_view(self) -> ProblemsView:
        return cast("ProblemsView", self.query_one("#problems-view"))

    @property
    def _state_view(self) -> StateView:
        return cast("StateView", self.query_one("#state-view"))

    @property
    def _prs_view(self) -> PrsView:
        return cast("PrsView", self.query_one("#prs-view"))

    @property
    def _cost_panel(self) -> CostPanel:
        return cast("CostPanel", self.query_one("#cost-view"))

    @property
    def _budget_banner(self) -> BudgetBanner:
        return cast("BudgetBanner", self.query_one("#budget-banner"))

    def _view_widget(self, view: str) -> Widget:
        widgets: dict[str, str] = {
            "agents": "#agent-grid",
            "claims": "#claim-tree",
            "sessions": "#sessions-table",
            "log": "#log-view",
            "problems": "#problems-table",
            "state": "#state-table",
            "prs": "#prs-table",
            "cost": "#cost-view KeyedTable.-active",
        }
        return self.query_one(widgets[view])

    def _focus_view(self) -> None:
        """Give the current view's main widget the focus, at once.

        At once matters: when the old view hides, Textual moves a focus left inside it to a
        *sibling* of the focused widget (another agent pane), and the tabs follow that focus
        back to the old view.
        """
        if not self._on_main_screen():
            return
        view = self.current_view
        target: Widget | None
        if view == "agents":
            focused = self.focused
            grid = self.query_one(AgentGrid)
            if isinstance(focused, AgentPane) and focused.parent is grid:
                return
            panes = grid.ordered_panes()
            target = panes[0] if panes else None
        else:
            target = self._view_widget(view)
        if target is None or not target.focusable:
            self.screen.set_focus(None)
        else:
            self.screen.set_focus(target, scroll_visible=False)

    def _focus_if_nothing_is(self) -> None:
        """The first focus (after mount, after the first load) unless the engineer already put
        it somewhere (a key pressed meanwhile wins)."""
        if self.focused is None:
            self._focus_view()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Before _after_first_frame is done: the initial view, activated as it mounts (no filter
        # line yet; _after_first_frame records a first look at the PRs).
        started = self._started.is_set()
        if started:
            self.query_one(FilterBar).close()
        self._focus_view()
        self.refresh_bindings()
        if started and self.current_view == "prs":
            self._prs_looked()

    def _on_main_screen(self) -> bool:
        return len(self.screen_stack) == 1

    @staticmethod
    def _keys_that_apply(screen: Screen[Any]) -> tuple[tuple[str, str, bool], ...]:
        active = screen.active_bindings
        return tuple((key, b.binding.action, b.enabled) for key, b in active.items())

    def _refresh_bindings_if_changed(self) -> None:
        """Refresh the footer only when the keys that apply changed: it rebuilds every key widget
        when told to, which under a steady stream of log lines cost more than the views."""
        keys = self._keys_that_apply(self.screen)
        if keys != self._binding_keys:
            self._binding_keys = keys
            self.refresh_bindings()

    def _bindings_refreshed(self, screen: Screen[Any]) -> None:
        """The main screen's footer was refreshed, whoever asked (a focus change, a handler): it
        shows the keys that apply now."""
        self._binding_keys = self._keys_that_apply(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        main_only = {
            "next_view",
            "previous_view",
            "show_view",
            "filter",
            "details",
            "copy",
        }
        if action in main_only and not self._on_main_screen():
            return False
        if action in ("next_view", "previous_view") and isinstance(self.focused, Input):
            return False
        if action in _ACT_ON_WHAT_IS_READ and not self.loaded:
            return False  # nothing read yet (the first frame has no fleet): nothing to act on
        if action in _ACTIONS:
            return self._action_target(action) is not None
        if action in _PR_ACTIONS:
            return self._pr_target(action) is not None
        if action == "council":  # issue 6: where there is something to put to the Council
            return (
                not self.config.read_only
                and self._on_main_screen()
                and self._council_target() is not None
            )
        if action == "acknowledge_budget":
            return bool(self.unacknowledged_budget_alerts())
        if action in ("why_not", "why_not_reviewed"):
            return self._on_main_screen()
        return not (action == "details" and self.current_view not in DETAIL_VIEWS)

    def action_show_view(self, view: str) -> None:
        if view in VIEWS and view != self.current_view:
            self.query_one(TabbedContent).active = view
            self._focus_view()

    def action_next_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index + 1) % len(VIEWS)])

    def action_previous_view(self) -> None:
        index = VIEWS.index(self.current_view)
        self.action_show_view(VIEWS[(index - 1) % len(VIEWS)])

    def action_details(self) -> None:
        """Open the detail screen of the agent behind what is selected in the current view."""
        instance = self._selected_instance()
        if instance is None:
            self.notify("Select an agent, a claimed claim or a session first.", markup=False)
            return
        self.open_detail(instance)

    def _copy_target(self) -> str | None:
        """What ``y`` copies: the selected agent's id, claim's key, session's key or PR's
        branch (its label when it has none)."""
        view = self.current_view
        if view == "agents":
            return self._selected_instance()
        if view == "claims":
            node = self._claim_tree.cursor_node
            claim = node.data.claim if node is not None and node.data is not None else None
            return claim.key if claim is not None else None
        if view == "sessions":
            return self._sessions_view.table.cursor_key()
        if view == "prs":
            found = self._prs_view.cursor()
            return None if found is None else (found[1].pr.branch or found[1].label)
        return None

    def action_copy(self) -> None:
        """Copy the selection's id to the clipboard (the terminal's, through OSC 52)."""
        text = self._copy_target() if self.loaded else None
        if not text:
            self.notify("Nothing selected to copy here.", markup=False, timeout=3)
            return
        self.copy_to_clipboard(text)
        self.notify(f"Copied {text}", markup=False, timeout=3)

    def _selected_instance(self) -> str | None:
        view = self.current_view
        if view == "agents":
            focused = self.focused
            if isinstance(focused, AgentPane):
                return focused.view.id
            panes = self.query_one(AgentGrid).ordered_panes()
            return panes[0].view.id if panes else None
        if view == "claims":
            node = self._claim_tree.cursor_node
            if node is not None and node.data is not None and node.data.claim is not None:
                return node.data.claim.unit.owner
            return None
        if view == "sessions":
            key = self._sessions_view.table.cursor_key()
            session = next((s for s in self.fleet.sessions if s.key == key), None)
            return session.instance if session else None
        return None

    def open_detail(self, instance_id: str) -> None:
        from factory_tui.ui.screens.detail import AgentDetailScreen

        if any(
            isinstance(s, AgentDetailScreen) and s.instance_id == instance_id
            for s in self.screen_stack
        ):
            return
        while len(self.screen_stack) > 1 and isinstance(self.screen, AgentDetailScreen):
            self.pop_screen()
        self.push_screen(AgentDetailScreen(self.fleet, instance_id))

    def on_agent_pane_selected(self, message: AgentPane.Selected) -> None:
        self.open_detail(message.instance_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # By name, not ``@on(DataTable.RowSelected, ...)``: this module does not import DataTable
        # (the first frame has none).
        if event.control.id != "sessions-table":
            return
        session = next((s for s in self.fleet.sessions if s.key == event.row_key.value), None)
        if session is not None and session.instance:
            self.open_detail(session.instance)

    @on(Tree.NodeSelected, "#claim-tree")
    def _claim_selected(self, event: Tree.NodeSelected[ClaimNode]) -> None:
        data = event.node.data
        if data is not None and data.claim is not None and data.claim.unit.owner:
            self.open_detail(data.claim.unit.owner)

    # filter

    def action_filter(self) -> None:
        view = self.current_view
        if view == "log":
            log_view = self._log_view
            log_view.focus()
            log_view.action_filter()
            return
        self.query_one(FilterBar).open(VIEW_TITLES[view].lower(), self.filters[view])

    @on(Input.Changed, "#filter-bar")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(self.current_view, event.value)

    def on_filter_bar_closed(self, message: FilterBar.Closed) -> None:
        self.apply_filter(self.current_view, message.text)
        self._focus_view()

    def on_log_view_filter_applied(self, message: LogView.FilterApplied) -> None:
        self.filters["log"] = message.spec.describe() if message.spec is not None else ""
        self._update_tab_labels(self.fleet)

    def apply_filter(self, view: str, text: str) -> None:
        self.filters[view] = text
        if view == "agents":
            self.query_one(AgentGrid).set_filter(text)
        elif view == "claims":
            self._claims_view.set_filter(text)
        elif view == "sessions":
            self._sessions_view.set_filter(text)
        elif view == "problems":
            self._problems_view.set_filter(text)
        elif view == "state":
            self._state_view.set_filter(text)
        elif view == "prs":
            self._prs_view.set_filter(text)
        elif view == "cost":
            self._cost_panel.set_filter(text)
        elif view == "log":
            from factory_tui.adapters.logfilter import FilterSpec

            self._log_view.set_filter(FilterSpec.parse(text) if text.strip() else None)
        self._update_tab_labels(self.fleet)

    # attention

    def action_next_attention(self) -> None:
        """Jump to the next thing needing the engineer (oldest first, wrapping around)."""
        items = attention_items(
            self.fleet,
            self.queue,
            budgets=[
                (state, self.budget_seen.get(state.alert_id, self.clock()))
                for state in self.unacknowledged_budget_alerts()
            ],
        )
        if not items:
            self.notify(
                "Nothing needs you: no crashed session, no stale claim, no Ask PR waiting.",
                markup=False,
            )
            return
        keys = [item.key for item in items]
        index = 0
        if self._attention_cursor in keys:
            index = (keys.index(self._attention_cursor) + 1) % len(items)
        item = items[index]
        self._attention_cursor = item.key
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.filters[item.view]:
            self.apply_filter(item.view, "")
        self.action_show_view(item.view)
        self.call_after_refresh(self._select_target, item)
        self.notify(
            f"{index + 1}/{len(items)}: {item.title}",
            title="Needs you",
            markup=False,
            timeout=4,
        )

    def _select_target(self, item: AttentionItem) -> None:
        if item.view == "sessions":
            view = self._sessions_view
            view.select_key(item.target)
            view.table.focus()
        elif item.view == "claims":
            tree = self._claim_tree
            tree.select_key(item.target)
            tree.focus()
        elif item.view == "prs":
            prs = self._prs_view
            prs.select_pr(item.target)
            prs.table.focus()
        elif item.view == "cost":
            table = self._cost_panel.table
            table.select_key(item.target)
            table.focus()

    # actions: release, recover, stop (each planned and done on a thread, group "actions")

    def _action_target(self, action: str) -> str | None:
        """What ``action`` would act on now (a claim key, a task, an instance id), or ``None``
        when it does not apply: read-only mode, another screen on top, nothing fitting selected."""
        if self.config.read_only or not self._on_main_screen():
            return None
        if action == "release":
            return self._release_target()
        if action == "recover":
            return self._recover_target()
        if action == "stop_agent":
            return self._stop_target()
        if action == "release_all_stale":
            stale = [c.key for c in self.fleet.claims if c.state == "stale"]
            return ",".join(stale) if stale else None
        if action == "unlock":
            return self._unlock_target()
        return None

    def _release_target(self) -> str | None:
        """Claims view: the selected claim if someone owns it (a claim that is not stale needs a
        typed confirmation); agents view: the selected agent's first stale claim."""
        view = self.current_view
        if view == "claims":
            node = self._claim_tree.cursor_node
            claim = node.data.claim if node is not None and node.data is not None else None
            if claim is not None and claim.unit.owner and claim.state in ("stale", "claimed"):
                return claim.key
            return None
        if view == "agents":
            instance = self._selected_instance()
            stale = [
                c.key for c in self.fleet.claims if c.state == "stale" and c.unit.owner == instance
            ]
            return stale[0] if instance is not None and stale else None
        return None

    def _unlock_target(self) -> str | None:
        """Claims view: the name of the selected claim's stale lock (its writer died)."""
        if self.current_view != "claims":
            return None
        node = self._claim_tree.cursor_node
        claim = node.data.claim if node is not None and node.data is not None else None
        if claim is None:
            return None
        stale = [lock.name for lock in self.fleet.locks_of(claim.key) if lock.stale]
        return stale[0] if stale else None

    def _recover_target(self) -> str | None:
        """The task of the selected crashed session (sessions view) or crashed agent."""
        view = self.current_view
        if view == "sessions":
            key = self._sessions_view.table.cursor_key()
            session = next((s for s in self.fleet.sessions if s.key == key), None)
            return session.task if session is not None and session.status == "crashed" else None
        if view == "agents":
            instance = self._instance_view(self._selected_instance())
            if instance is None or instance.status != "crashed":
                return None
            return instance.session.task if instance.session is not None else instance.task
        return None

    def _stop_target(self) -> str | None:
        """The selected agent (agents view) when it runs here under a known pid; whether that
        pid is still its process is for ``plan_stop`` to say (it refuses, saying why)."""
        if self.current_view != "agents":
            return None
        instance = self._instance_view(self._selected_instance())
        if instance is None or not instance.local or instance.pid is None:
            return None
        return instance.id

    def _instance_view(self, instance_id: str | None) -> InstanceView | None:
        return next((i for i in self.fleet.instances if i.id == instance_id), None)

    def _refuse_read_only(self) -> bool:
        if self.config.read_only:
            self.notify(
                "Read-only mode: actions are disabled (--read-only).",
                severity="warning",
                markup=False,
            )
        return self.config.read_only

    def _in_thread(self, name: str, work: Callable[[], None]) -> None:
        self.run_worker(work, name=name, group="actions", thread=True, exit_on_error=False)

    def _start_flow(self, name: str, flow: Coroutine[Any, Any, None]) -> None:
        """Run an action's flow (:mod:`factory_tui.ui.flows`) as a worker of its own."""
        self.run_worker(flow, name=name, group="flows", exit_on_error=False)

    def action_release_all_stale(self) -> None:
        """``X``: every stale claim listed with its evidence, one confirmation, then each released
        under its own lock with its own re-check and log line."""
        from factory_tui.ui.flows.release import release_all_stale_flow

        if self._refuse_read_only():
            return
        stale = [(c.key, c.unit.owner, c.why) for c in self.fleet.claims if c.state == "stale"]
        if not stale:
            self.notify("No stale claim to release.", markup=False)
            return
        self._start_flow("release all stale", release_all_stale_flow(self, stale))

    def action_release(self) -> None:
        """``x``: release the selected stale claim, after a confirmation listing the stale
        conditions (a claim that is not stale: typed confirmation, ``force=True``)."""
        from factory_tui.ui.flows.release import release_flow

        if self._refuse_read_only():
            return
        target = self._release_target()
        if target is None:
            self.notify("Select an owned claim, or an agent with a stale claim.", markup=False)
            return
        self._start_flow("release", release_flow(self, target))

    def action_unlock(self) -> None:
        """``u``: break the selected claim's stale lock, after a confirmation naming it and its
        age; ``unlock`` re-checks its age and refuses a lock that is fresh again."""
        from factory_tui.ui.flows.release import unlock_flow

        if self._refuse_read_only():
            return
        name = self._unlock_target()
        lock = next((lock for lock in self.fleet.locks if lock.name == name), None)
        if lock is None:
            self.notify("Select a claim with a stale lock (🔒) in the Claims view.", markup=False)
            return
        self._start_flow("unlock", unlock_flow(self, lock))

    def action_stop_agent(self) -> None:
        """``K``: stop the selected live local agent (SIGTERM, then SIGKILL), after a
        confirmation naming its pid, command line and cwd."""
        from factory_tui.ui.flows.stop import stop_flow

        if self._refuse_read_only():
            return
        target = self._stop_target()
        if target is None:
            self.notify("Select an agent running on this host.", markup=False)
            return
        self._start_flow("stop agent", stop_flow(self, target))

    def action_recover(self) -> None:
        """``r`` on a crashed session or agent: what is known about it, then resume, abandon
        (with a reason), close (its PR is merged) or cancel."""
        from factory_tui.ui.flows.recover import recover_flow

        if self._refuse_read_only():
            return
        task = self._recover_target()
        if task is None:
            self.notify("Select a crashed session or agent.", markup=False)
            return
        self._start_flow("recover", recover_flow(self, task))

    # -- the approval queue (issue 5): loading, the PRs view, approve / request changes / reviewed

    def _prs_mount(self) -> None:
        summary = self.query_one(SummaryBar)
        if not self.prs_options.enabled:
            self._prs_view.disable("The PR queue is not loaded in this cockpit.")
            return
        summary.set_segment("ask", ask_segment(None))
        self.set_interval(self.prs_loader.poll_interval, self._prs_poll, name="prs poll")

    def _prs_poll(self) -> None:
        """The slow timer: gh asked again (at most every ``[prs] poll_seconds``, ≥ 30 s)."""
        if self.loaded:
            self.prs_loader.request(self.fleet, fresh=True)

    def _prs_on_fleet(self, message: FleetUpdated) -> None:
        """The first fleet loads the queue; a changed factory (a log line, a claim) reloads it
        (coalesced, at most one load per ``min_gap``; gh's lists reused until the next poll)."""
        if message.initial or message.changed:
            self.prs_loader.request(self.fleet)

    def reload_prs(self, *, fresh: bool = True) -> None:
        """Load the queue now (``fresh``: ask gh again too)."""
        self.prs_loader.request(self.fleet, fresh=fresh, urgent=True)

    def on_prs_loaded(self, message: PrsLoaded) -> None:
        first = self.queue is None and message.queue is not None
        if message.queue is not None:
            self.queue = message.queue
        self.prs_error = message.error
        queue = self.queue
        with self.batch_update():
            self._prs_view.show_queue(message.queue, error=message.error)
            # No source answered (or the load itself failed): the count would be a guess.
            failed = queue is None or (not queue.sources and bool(queue.notices))
            waiting = queue.ask_waiting if queue is not None else None
            show = len(queue.show) if queue is not None else 0
            self.query_one(SummaryBar).set_segment(
                "ask",
                ask_segment(waiting, show, failed=failed),
                ask_segment(waiting, show, failed=failed, short=True),
            )
            self._update_tab_labels(self.fleet)
        if message.error is not None:
            self._show_error(f"loading the PR queue: {message.error}")
        if first and self.current_view == "prs":
            self._prs_looked()
            if self.focused is None:
                self.call_after_refresh(self._focus_if_nothing_is)
        # Ask PRs already waiting when the cockpit opened are not news; later ones are.
        self._announce(self.fleet, first=first)
        self.refresh_bindings()
        self.prs_loader.loaded()
        if self._prs_event is not None:
            self._prs_event.set()

    async def wait_for_prs(
        self, predicate: Callable[[Queue], bool] | None = None, *, timeout: float = 10.0
    ) -> Queue:
        """Wait (bounded) until a loaded queue satisfies ``predicate`` (default: any queue) and
        no load is running or waiting. For tests and snapshots."""
        await asyncio.wait_for(self._started.wait(), timeout)  # the options are set from then on
        if not self.prs_options.enabled:
            raise RuntimeError("the PR queue is not loaded in this cockpit (PrsOptions.enabled)")
        check = predicate or (lambda _queue: True)
        if self._prs_event is None:
            self._prs_event = asyncio.Event()

        def ready() -> bool:
            return (
                self.queue is not None
                and not self.prs_loader.running
                and not self.prs_loader.pending
                and check(self.queue)
            )

        async def wait() -> Queue:
            assert self._prs_event is not None
            while not ready():
                self._prs_event.clear()
                await self._prs_event.wait()
            assert self.queue is not None
            return self.queue

        return await asyncio.wait_for(wait(), timeout)

    def _prs_looked(self) -> None:
        """The engineer looks at the queue: Show PRs merged before now are no longer new (they
        stay marked while this look lasts)."""
        from factory_tui.actions.prs import record_look

        self._prs_view.looked()
        if not self.prs_options.enabled or not self.prs_options.record_looks:
            return
        now, folder = self.clock(), self.prs_options.reviews_dir

        def record() -> None:
            # The engineer's own bookkeeping: a read-only home is no reason to shout.
            with contextlib.suppress(OSError):
                record_look(self.config, now, folder=folder)

        self._in_thread("record PR look", record)

    def _pr_target(self, action: str) -> PrView | None:
        """The PR ``action`` would act on: the one under the cursor in the PRs view, when the
        action applies to it (approve: open, not a draft; request changes: open; mark
        reviewed: a merged Show PR not reviewed yet)."""
        if self.config.read_only or not self._on_main_screen() or self.current_view != "prs":
            return None
        found = self._prs_view.cursor()
        if found is None:
            return None
        section, view = found
        if action == "approve_pr":
            return view if view.pr.state == "open" and not view.pr.draft else None
        if action == "request_changes":
            return view if view.pr.state == "open" else None
        if action == "mark_reviewed":
            return view if section == "show" and not view.reviewed else None
        return None

    def action_approve_pr(self) -> None:
        """``a``: approve the selected PR (squash merge per the protocol), after a confirmation
        saying exactly what will run; red or running CI needs ``override`` typed."""
        from factory_tui.ui.flows.prs import approve_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("approve_pr")
        if view is None:
            self.notify("Select an open PR in the PRs view.", markup=False)
            return
        self._start_flow("approve", approve_flow(self, view))

    def action_request_changes(self) -> None:
        """``c``: ask the agent for changes on the selected open PR (a text box)."""
        from factory_tui.ui.flows.prs import request_changes_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("request_changes")
        if view is None:
            self.notify("Select an open PR in the PRs view.", markup=False)
            return
        self._start_flow("request changes", request_changes_flow(self, view))

    def action_mark_reviewed(self) -> None:
        """``v``: remember that the selected merged Show PR was reviewed (per user)."""
        from factory_tui.ui.flows.prs import mark_reviewed_flow

        if self._refuse_read_only():
            return
        view = self._pr_target("mark_reviewed")
        if view is None:
            self.notify("Select a merged Show PR not reviewed yet.", markup=False)
            return
        self._start_flow("mark reviewed", mark_reviewed_flow(self, view))

    def on_prs_view_selected(self, message: PrsView.Selected) -> None:
        self.open_diff(message.view)

    def action_pr_diff(self) -> None:
        """The diff of the PR under the cursor in the PRs view."""
        view = self._prs_view.cursor_view() if self.current_view == "prs" else None
        if view is None:
            self.notify("Select a PR in the PRs view (7).", markup=False)
            return
        self.open_diff(view)

    def open_diff(self, view: PrView) -> None:
        """The PR's diff in the viewer (fetched on a thread; ``o`` opens the pager if one is
        configured with ``[prs] pager``)."""
        from factory_tui.actions.prs import diff_pager, pr_diff
        from factory_tui.ui.screens.diff import DiffScreen

        title = f"{view.label}  {view.pr.title}"
        self.push_screen(
            DiffScreen(title, partial(pr_diff, self.config, view), pager=diff_pager(self.config))
        )

    @on(Tree.NodeHighlighted, "#claim-tree")
    def _selection_moved(self) -> None:
        """The footer shows only the actions that apply to what is selected."""
        self.refresh_bindings()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.control.id == "sessions-table":
            self._selection_moved()

    # theme, refresh, help

    def theme_names(self) -> list[str]:
        return sorted(self.factory_themes) or [self.theme]

    def action_cycle_theme(self) -> None:
        names = self.theme_names()
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"Theme {self.theme}", markup=False, timeout=2)

    def action_set_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name

    def action_refresh(self) -> None:
        """Re-read every file now (nothing should need it; the watcher sees changes)."""
        self._enqueue(plan=self.targets.classify(self.targets.everything()), tick=True)

    def key_sections(self) -> list[KeySection]:
        from factory_tui.ui.screens.council import CouncilScreen
        from factory_tui.ui.screens.detail import AgentDetailScreen
        from factory_tui.ui.screens.diff import DiffScreen
        from factory_tui.ui.widgets.cost import CostPanel
        from factory_tui.ui.widgets.log_view import LogView
        from factory_tui.ui.widgets.prs import PrsView, PrTable

        return [
            ("Everywhere", self.BINDINGS),
            ("Agents view", [*AgentGrid.BINDINGS, *AgentPane.BINDINGS]),
            (
                "Every list and table",
                [
                    Binding("j,k", "move", "Down / up"),
                    Binding("g,home", "first", "First (in the Cost view g groups by)"),
                    Binding("G,end", "last", "Last"),
                    Binding("pageup,pagedown", "page", "A page up / down"),
                ],
            ),
            (
                "Claims view",
                [
                    Binding("up,down", "move", "Move between claims"),
                    Binding(
                        "enter,space",
                        "select",
                        "Expand / collapse; enter on a claim: owner's details",
                    ),
                ],
            ),
            (
                "Sessions and problems views",
                [
                    Binding("up,down,pageup,pagedown", "move", "Move between rows"),
                    Binding("enter", "select", "The session's agent in detail"),
                ],
            ),
            ("Log view", list(LogView.BINDINGS)),
            ("Filter line", [*FilterBar.BINDINGS[:1], Binding("enter", "keep", "Keep the filter")]),
            ("Agent detail", list(AgentDetailScreen.BINDINGS)),
            (
                "PRs view",
                [
                    Binding("up,down,pageup,pagedown", "move", "Move between PRs"),
                    *PrTable.BINDINGS,
                    *PrsView.BINDINGS,
                ],
            ),
            ("PR diff", list(DiffScreen.BINDINGS)),
            ("Cost view", list(CostPanel.BINDINGS)),
            ("Council verdict", list(CouncilScreen.BINDINGS)),
            (
                "Mouse",
                [
                    Binding("click", "tab", "A tab: show that view; a row or claim: select it"),
                    Binding("double-click", "pane", "An agent pane: its details"),
                ],
            ),
        ]

    def action_help(self) -> None:
        from factory_tui.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.key_sections()))

    def palette_commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        commands: list[tuple[str, Callable[[], Any], str]] = [
            (f"View: {VIEW_TITLES[v]}", partial(self.action_show_view, v), f"show the {v} view")
            for v in VIEWS
        ]
        commands.extend(
            [
                (
                    "Next needing you",
                    self.action_next_attention,
                    "jump to the next crashed session, stale claim or Ask PR, oldest first",
                ),
                ("Filter this view", self.action_filter, "filter what the current view shows"),
                *(
                    command
                    for command in (
                        (
                            "Release claim",
                            self.action_release,
                            "release the selected stale claim (x)",
                        ),
                        (
                            "Release all stale claims",
                            self.action_release_all_stale,
                            "every stale claim, one confirmation, each released on its own (X)",
                        ),
                        (
                            "Unlock claim",
                            self.action_unlock,
                            "break the selected claim's stale lock: its writer died (u)",
                        ),
                        (
                            "Recover session",
                            self.action_recover,
                            "resume, abandon or close the selected crashed session (r)",
                        ),
                        (
                            "Stop agent",
                            self.action_stop_agent,
                            "stop the selected agent running on this host (K)",
                        ),
                    )
                    if not self.config.read_only
                ),
                ("Agent details", self.action_details, "everything about the selected agent"),
                ("Refresh", self.action_refresh, "re-read every file now"),
                ("Cycle theme", self.action_cycle_theme, "switch to the next theme"),
                ("Keys", self.action_help, "list every key"),
                ("Quit", self.action_quit, "leave the cockpit"),
            ]
        )
        commands.extend(
            (f"Theme: {name}", partial(self.action_set_theme, name), f"switch to the {name} theme")
            for name in self.theme_names()
        )
        # The approval queue (issue 5).
        commands.append(("Reload PRs", self.reload_prs, "ask gh and git for the PR queue now"))
        commands.append(("PR diff", self.action_pr_diff, "the selected PR's diff (enter)"))
        if not self.config.read_only:
            commands.extend(
                [
                    (
                        "Approve PR",
                        self.action_approve_pr,
                        "approve and squash merge the selected PR, after a confirmation (a)",
                    ),
                    (
                        "Request changes on PR",
                        self.action_request_changes,
                        "ask the agent for changes on the selected PR (c)",
                    ),
                    (
                        "Mark PR reviewed",
                        self.action_mark_reviewed,
                        "remember that the selected merged Show PR was reviewed (v)",
                    ),
                ]
            )
        commands.extend(self._cost_palette())  # cost and the Council (issue 6)
        return commands

    # -- cost, budgets and the Council (issue 6) --------------------------------------------------
    #
    # The transcripts are read by ONE thread worker (group "cost") that owns the CostTracker: it
    # drains what is queued (a slow timer, new spans from the reader's thread, another grouping
    # asked for, a Council sitting) and posts a frozen CostSnapshot. Transcript folders are not
    # watched (they are found as they appear, anywhere under the Claude config dir): a timer
    # every COST_REFRESH_SECONDS asks for a re-read, which costs a stat per transcript file.

    def _cost_init(self, environ: Mapping[str, str] | None) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.cost_tracker: CostTracker | None = None
        """Owned by the cost worker's thread."""
        self.cost: CostSnapshot | None = None
        self.cost_error: str | None = None
        self.cost_updates = 0
        self._cost_event: asyncio.Event | None = None
        self._cost_lock = threading.Lock()
        self._cost_wanted = False
        self._cost_running = False
        self._cost_spans: tuple[Span, ...] | None = None
        self._cost_choice: tuple[Grouping, Period] = ("agent", "today")
        self._cost_generation: int | None = None
        self._cost_spans_at = 0.0
        self._cost_last: object = None
        self._cost_closing = False
        self._cost_attributed = False
        self.budget_seen: dict[str, datetime] = {}
        """alert_id → when the cockpit first saw that budget state (warning or alert)."""
        self.budget_acknowledged: set[str] = set()
        self.budget_fired: set[str] = set()
        """Alerts the ``[cost] on_budget`` command ran for (the cost worker's thread only)."""
        self.budget_state_dir: Path | None = None
        """Where acknowledgements and on_budget runs are remembered across restarts, per user
        and per factory root (None: the user state folder)."""
        self.budget_processes: list[subprocess.Popen[bytes]] = []
        self.budget_command_enabled = True
        """False: ``[cost] on_budget`` is never run (a headless snapshot acts on nothing)."""
        self.council_running: str | None = None

    def _cost_mount(self) -> None:
        from factory_tui.actions.budget_state import load_budget_memory
        from factory_tui.ui.widgets.cost import spend_segment

        self.query_one(SummaryBar).set_segment("spend", spend_segment(None, reading=True))
        # A few hundred bytes, read before the cost worker starts (it then owns budget_fired).
        memory = load_budget_memory(self.config.root, folder=self.budget_state_dir)
        self.budget_acknowledged |= memory.acknowledged
        self.budget_fired |= memory.fired
        self.request_cost_read()
        self.set_interval(COST_REFRESH_SECONDS, self.request_cost_read, name="cost refresh")

    def _cost_close(self) -> None:
        """The app is closing: the tracker's files are closed (by the worker if it runs)."""
        with self._cost_lock:
            self._cost_closing = True
            if self._cost_running or self.cost_tracker is None:
                return
        self.cost_tracker.close()

    def request_cost_read(self, *, spans: tuple[Span, ...] | None = None) -> None:
        """Ask the cost worker for a re-read (on the event loop)."""
        with self._cost_lock:
            if self._cost_closing:
                return
            if spans is not None:
                self._cost_spans = spans
            self._cost_wanted = True
            if self._cost_running:
                return
            self._cost_running = True
        self.run_worker(
            self._cost_drain,
            name="read transcripts",
            group="cost",
            thread=True,
            exit_on_error=False,
        )

    def _cost_after_read(self) -> None:
        """On the reader's thread, after a read that changed the factory: the spans (who worked
        on what, where, when) the spend is attributed with; at most every SPANS_EVERY seconds
        (a later tick catches up)."""
        from factory_tui.adapters.transcripts import spans_from_reader, worktree_branches

        reader = self.reader
        if reader.generation == self._cost_generation:
            return
        moment = time.monotonic()
        if self._cost_generation is not None and moment - self._cost_spans_at < SPANS_EVERY:
            return
        self._cost_generation = reader.generation
        self._cost_spans_at = moment
        spans = spans_from_reader(reader, worktree_branches(self.config.root))
        self.post_message(CostSpans(spans))

    def on_cost_spans(self, message: CostSpans) -> None:
        self.request_cost_read(spans=message.spans)

    def _cost_drain(self) -> None:
        """The cost worker: read what was appended, recompute with the app's clock, post."""
        from factory_tui.core.pricing import PriceTableError

        while True:
            with self._cost_lock:
                if not self._cost_wanted or self._cost_closing:
                    self._cost_running = False
                    if self._cost_closing and self.cost_tracker is not None:
                        self.cost_tracker.close()
                    return
                self._cost_wanted = False
                spans, self._cost_spans = self._cost_spans, None
                grouping, period = self._cost_choice
            try:
                self._cost_work(spans, grouping, period)
            except PriceTableError as error:  # a wrong [cost] table: the user's to fix
                self.post_message(CostFailed(str(error)))
            except Exception as error:  # a bug: keep the cockpit alive, say what failed
                self.post_message(CostFailed(f"{type(error).__name__}: {error}"))

    def _cost_progress(self, done: int, total: int) -> None:
        """On the cost worker: post how far the first read is (a burst coalesces)."""
        self.post_message(CostProgress(done, total))

    def on_cost_progress(self, message: CostProgress) -> None:
        from factory_tui.ui.widgets.cost import spend_segment

        if self.cost is None and self.cost_error is None and message.total:
            percent = min(100, message.done * 100 // message.total)
            self.query_one(SummaryBar).set_segment(
                "spend", spend_segment(None, reading=True, percent=percent)
            )

    def _cost_work(
        self, spans: tuple[Span, ...] | None, grouping: Grouping, period: Period
    ) -> None:
        from factory_tui.adapters.transcripts import CostTracker
        from factory_tui.ui.widgets.cost import CostSnapshot, naive_local, period_since

        tracker = self.cost_tracker
        if tracker is None:
            tracker = self.cost_tracker = CostTracker(self.config)
        changed = False
        if spans is not None:
            changed = tracker.ledger.set_spans(spans)
            self._cost_attributed = True
        # The first read of a big transcripts folder takes seconds: the header says how far.
        changed |= tracker.refresh(progress=self._cost_progress if self.cost is None else None)
        now = naive_local(self.clock())
        view = tracker.view(now)
        report = tracker.report(grouping, since=period_since(period, now))
        stats = tracker.reader.stats
        snapshot = CostSnapshot(
            view=view,
            report=report,
            grouping=grouping,
            period=period,
            projects_dir=str(tracker.reader.projects_dir),
            files=stats.files,
            folders=stats.folders_counted,
            problems=tuple(tracker.problems),
            attributed=self._cost_attributed,
        )
        # Budgets are judged once the spend is attributed (per-agent budgets need it).
        notes = self._budget_command(view, now) if self._cost_attributed else ()
        facts = (
            view.day,
            view.per_hour_start,
            view.per_hour,
            view.today,
            tuple(view.agents_today.items()),
            view.budgets,
            view.unpriced_models,
            grouping,
            period,
            report.total,
            tuple(report.by.items()),
            report.unpriced_models,
            stats.files,
            snapshot.problems,
            snapshot.attributed,
        )
        if changed or notes or facts != self._cost_last:
            self._cost_last = facts
            self.post_message(CostUpdated(snapshot, changed=changed, notes=notes))

    def _budget_command(
        self, view: CostView, now: datetime
    ) -> tuple[tuple[str, SeverityLevel], ...]:
        """On the cost worker: run ``[cost] on_budget`` once per new alert (argv, no shell),
        once across restarts and cockpits on this factory too (the user state file says which
        alerts it ran for); what happened, to be notified."""
        from factory_tui.actions.budget_state import claim_fired
        from factory_tui.actions.cost import budget_command, fire_budget_command
        from factory_tui.core.pricing import PriceTableError

        for process in self.budget_processes:
            process.poll()  # reap the ones that ended
        fresh = [
            s for s in view.budgets if s.level == "alert" and s.alert_id not in self.budget_fired
        ]
        if not fresh or not self.budget_command_enabled:
            return ()
        try:
            command = budget_command(self.config)
        except PriceTableError as error:
            self.budget_fired.update(s.alert_id for s in fresh)
            return ((f"[cost] on_budget was not run: {error}", "error"),)
        if command is None:
            return ()
        notes: list[tuple[str, SeverityLevel]] = []
        ids = [s.alert_id for s in fresh]
        try:
            mine = set(claim_fired(self.config.root, ids, now, folder=self.budget_state_dir))
        except OSError as error:
            mine = set(ids)
            notes.append(
                (
                    f"cannot remember the [cost] on_budget runs ({error}): "
                    "a restart may run it again for the same budget",
                    "warning",
                )
            )
        # Already run for by another cockpit on this factory (since this one read the state).
        self.budget_fired.update(set(ids) - mine)
        for state in fresh:
            if state.alert_id not in mine:
                continue
            try:
                started = fire_budget_command(
                    command, (state,), self.budget_fired, env=self.environ
                )
            except OSError as error:
                self.budget_fired.add(state.alert_id)
                notes.append(
                    (
                        f"[cost] on_budget {command[0]} could not start: "
                        f"{error.strerror or error}; fix the command in factory.toml",
                        "error",
                    )
                )
                continue
            self.budget_processes.extend(started)
            pids = ", ".join(str(p.pid) for p in started)
            notes.append(
                (f"ran [cost] on_budget ({command[0]}, pid {pids}) for {state.message}", "warning")
            )
        return tuple(notes)

    def on_cost_updated(self, message: CostUpdated) -> None:
        from factory_tui.ui.widgets.cost import agent_spend_line, spend_segment

        snapshot = message.snapshot
        first = self.cost is None
        self.cost, self.cost_error = snapshot, None
        with self.batch_update():
            self.query_one(SummaryBar).set_segment("spend", spend_segment(snapshot, reading=False))
            self._cost_panel.show_snapshot(snapshot)
            self.query_one(AgentGrid).show_spend(
                partial(agent_spend_line, snapshot) if snapshot.attributed else None
            )
            if snapshot.attributed:
                self._budget_alerts(snapshot.view)
            self._update_tab_labels(self.fleet)
        for text, severity in message.notes:
            self.notify(text, title="Budget command", severity=severity, markup=False, timeout=15)
        if first:
            self.refresh_bindings()
        self.cost_updates += 1
        if self._cost_event is not None:
            self._cost_event.set()

    def on_cost_failed(self, message: CostFailed) -> None:
        from factory_tui.ui.widgets.cost import spend_segment

        first = self.cost_error != message.error
        self.cost_error = message.error
        self.query_one(SummaryBar).set_segment(
            "spend", spend_segment(self.cost, reading=False, error=message.error)
        )
        self._cost_panel.show_error(message.error)
        if first:
            self.notify(message.error, title="Cost", severity="error", markup=False, timeout=15)
        self.cost_updates += 1
        if self._cost_event is not None:
            self._cost_event.set()

    def on_cost_panel_changed(self, message: CostPanel.Changed) -> None:
        with self._cost_lock:
            self._cost_choice = (message.grouping, message.period)
        self.request_cost_read()

    async def wait_for_cost(
        self,
        predicate: Callable[[CostSnapshot | None], bool] | None = None,
        *,
        timeout: float = 10.0,
    ) -> CostSnapshot | None:
        """Wait (bounded) until the cost worker posted a snapshot satisfying ``predicate``
        (default: the first one attributed with the fleet's spans, or a failure). For tests and
        snapshots."""
        check = predicate or (
            lambda snapshot: (
                (snapshot is not None and snapshot.attributed) or self.cost_error is not None
            )
        )
        if self._cost_event is None:
            self._cost_event = asyncio.Event()

        async def wait() -> CostSnapshot | None:
            assert self._cost_event is not None
            while not check(self.cost):
                self._cost_event.clear()
                await self._cost_event.wait()
            return self.cost

        return await asyncio.wait_for(wait(), timeout)

    # budgets

    def unacknowledged_budget_alerts(self) -> tuple[BudgetState, ...]:
        """Budgets at 100 % today the engineer has not acknowledged (``A``)."""
        if self.cost is None:
            return ()
        return tuple(
            state
            for state in self.cost.view.budgets
            if state.level == "alert" and state.alert_id not in self.budget_acknowledged
        )

    def _budget_alerts(self, view: CostView) -> None:
        """A notification for each new warning (80 %) and alert (100 %), once; the bell once for
        new alerts; the banner shows the alerts not acknowledged."""
        ring = False
        for state in view.alerts:
            if state.alert_id in self.budget_seen:
                continue
            self.budget_seen[state.alert_id] = self.clock()
            if state.alert_id in self.budget_acknowledged:
                continue  # acknowledged before a restart: announced then
            if state.level == "alert":
                ring = True
            if self.config.notify:
                self.notify(
                    state.message,
                    title="Budget reached" if state.level == "alert" else "Budget warning",
                    severity="error" if state.level == "alert" else "warning",
                    markup=False,
                    timeout=15 if state.level == "alert" else 10,
                )
        if ring and self.config.bell:
            self.bell()
        self._budget_banner.show_alerts(self.unacknowledged_budget_alerts())
        self.refresh_bindings()

    def action_why_not(self, action: str) -> None:
        """A key whose action does not apply now: say why, in a short notification."""
        self.notify(self._why_not(action), title="Nothing to do", markup=False, timeout=4)

    def action_why_not_reviewed(self) -> None:
        """``v`` where it does not apply: only a merged Show PR not reviewed yet is marked."""
        found = self._prs_view.cursor() if self.current_view == "prs" else None
        if self.config.read_only:
            why = "read-only: the cockpit changes nothing (factory.toml's read_only)."
        elif found is None:
            why = "Select a PR first."
        elif found[0] != "show":
            why = f"{found[1].label} is not a merged Show PR: v marks those reviewed."
        else:
            why = f"{found[1].label} is already marked reviewed."
        self.notify(why, title="Nothing to do", markup=False, timeout=4)

    def _why_not(self, action: str) -> str:
        if self.config.read_only and action != "acknowledge_budget":
            return "read-only: the cockpit changes nothing (factory.toml's read_only)."
        if not self.loaded:
            return "The factory is still being read."
        if action == "release_all_stale":
            return "Nothing is stale: no claim to release."
        if action == "acknowledge_budget":
            return "No budget alert to acknowledge."
        view = self.current_view
        if view == "agents":
            instance = self._selected_instance()
            if instance is None:
                return "Select an agent first."
            return f"not stale: {instance} holds no stale claim (x releases a stale claim)."
        if view == "claims":
            return "Select a claimed or stale claim to release (x)."
        return f"x releases a claim from the Agents or Claims view, not from {view}."

    def action_acknowledge_budget(self) -> None:
        """``A``: the budget alerts on screen are seen; the banner goes (a new alert, another
        budget or tomorrow's, shows again)."""
        alerts = self.unacknowledged_budget_alerts()
        if not alerts:
            self.notify("No budget alert to acknowledge.", markup=False)
            return
        self.budget_acknowledged.update(state.alert_id for state in alerts)
        self._remember_acknowledged(tuple(state.alert_id for state in alerts))
        self._budget_banner.show_alerts(self.unacknowledged_budget_alerts())
        self._update_tab_labels(self.fleet)
        self.refresh_bindings()
        self.notify(
            f"Acknowledged: {'; '.join(state.message for state in alerts)}",
            title="Budget",
            markup=False,
            timeout=5,
        )

    def _remember_acknowledged(self, alert_ids: tuple[str, ...]) -> None:
        """Write the acknowledgement to the user state file, on a thread, so that a restart (or
        another cockpit started on this factory) does not raise these alerts again."""
        from factory_tui.actions.budget_state import remember_acknowledged
        from factory_tui.ui.widgets.cost import naive_local

        root, now, folder = self.config.root, naive_local(self.clock()), self.budget_state_dir

        def remember() -> None:
            try:
                remember_acknowledged(root, alert_ids, now, folder=folder)
            except OSError as error:
                self.call_from_thread(
                    self.notify,
                    f"The acknowledgement is not remembered ({error}): the alert shows again "
                    "after a restart.",
                    title="Budget",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )

        self._in_thread("remember budget acknowledgement", remember)

    # the Council

    def _council_ticket(self, unit: ClaimUnit) -> str:
        """The ticket a claim unit stands for: a MEGA phase's first ticket, else its claim."""
        return unit.tickets[0] if unit.phase is not None and unit.tickets else unit.claim_id

    def _council_target(self) -> tuple[str, Callable[[], Proposal]] | None:
        """What ``C`` would put before the Council, and how to make the proposal (on a thread):
        the selected claim or MEGA (claims view), the selected agent's ticket (agents view) or
        the selected PR (PRs view)."""
        from factory_tui.actions.council import proposal_for_pr, proposal_for_ticket
        from factory_tui.core.statefiles import find_tickets

        try:
            view = self.current_view
        except NoMatches:  # not composed yet
            return None
        ticket: str | None = None
        if view == "claims":
            node = self._claim_tree.cursor_node
            data = node.data if node is not None else None
            if data is not None and data.claim is not None:
                ticket = self._council_ticket(data.claim.unit)
            elif data is not None and data.key.startswith("mega:"):
                ticket = data.key.removeprefix("mega:")
        elif view == "agents":
            instance = self._instance_view(self._selected_instance())
            if instance is not None:
                units = [c.unit for c in self.fleet.claims if c.key in instance.claims]
                if units:
                    ticket = self._council_ticket(units[0])
                else:
                    named = find_tickets(instance.task or "")
                    ticket = named[0] if named else None
        elif view == "prs":
            pr = self._prs_view.cursor_view()
            if pr is None:
                return None
            number = pr.pr.number
            if pr.pr.source == "github" and number is not None:
                return f"PR #{number}", partial(proposal_for_pr, self.config, number)
            return f"{pr.label}", partial(self._council_local_pr, pr)
        if not ticket:
            return None
        return f"ticket {ticket}", partial(proposal_for_ticket, self.config, ticket)

    def _council_local_pr(self, view: PrView) -> Proposal:
        """A PR known from git only: its diff as the proposal (on the Council's thread)."""
        from factory_tui.actions.council import ProposalError
        from factory_tui.actions.prs import pr_diff
        from factory_tui.core.council import Proposal

        text = "".join(diff.text for diff in pr_diff(self.config, view))
        if not text.strip():
            raise ProposalError(f"{view.label}: the diff is empty; nothing to score")
        return Proposal(text, view.label)

    def action_council(self) -> None:
        """``C``: the Council scores the selected claim / ticket, agent's ticket or PR, on a
        thread (the cockpit never waits for it); then its verdict on a screen."""
        if self.council_running is not None:
            self.notify(f"The Council is already sitting on {self.council_running}.", markup=False)
            return
        if self._refuse_read_only():
            return
        target = self._council_target()
        if target is None:
            self.notify(
                "Select a claim or MEGA (Claims view), an agent holding a ticket, or a PR.",
                markup=False,
            )
            return
        from factory_tui.ui.flows.council import council_flow

        self._start_flow("council", council_flow(self, *target))

    def _cost_palette(self) -> list[tuple[str, Callable[[], Any], str]]:
        commands: list[tuple[str, Callable[[], Any], str]] = [
            (
                "Cost: group by next",
                self._cost_cycle_grouping,
                "spend by agent, ticket, model or day in the Cost view (g)",
            ),
            (
                "Acknowledge budget alert",
                self.action_acknowledge_budget,
                "the budget alerts on screen are seen (A)",
            ),
        ]
        if not self.config.read_only:
            commands.append(
                (
                    "Council",
                    self.action_council,
                    "score the selected claim, agent's ticket or PR with the Council (C)",
                )
            )
        return commands

    def _cost_cycle_grouping(self) -> None:
        self.action_show_view("cost")
        self._cost_panel.action_cycle_grouping()


def _proc_facts(procs: dict[int, ProcInfo]) -> object:
    """The process table as the panes show it (cpu to 0.1 %, memory to the MiB)."""
    return tuple(
        sorted(
            (
                pid,
                info.started_at,
                None if info.cpu_percent is None else round(info.cpu_percent, 1),
                None if info.rss_bytes is None else info.rss_bytes >> 20,
            )
            for pid, info in procs.items()
        )
    )


def _shown_facts(fleet: Fleet) -> object:
    """What a re-derived fleet can show differently when no file changed: the minute (ages are
    shown to the minute), verdicts, and each process's facts as displayed. The slow timer posts
    a new fleet only when these differ, so an idle cockpit does next to nothing."""
    return (
        fleet.generated_at.replace(second=0, microsecond=0),
        tuple(
            (
                i.id,
                i.status,
                i.alive,
                None if i.cpu_percent is None else round(i.cpu_percent, 1),
                None if i.rss_bytes is None else i.rss_bytes >> 20,
            )
            for i in fleet.instances
        ),
        tuple((c.key, c.state) for c in fleet.claims),
        tuple((s.key, s.status) for s in fleet.sessions),
    )


def _config_refresh(config: Config) -> float:
    value = config.extra.get("refresh_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_REFRESH_SECONDS
