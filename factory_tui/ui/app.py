"""The cockpit: a live full-screen view of the fleet.

Data flows one way. One watcher thread (:mod:`factory_tui.ui.watch`) posts
:class:`FilesChanged`; the handler queues what to re-read and makes sure ONE reader worker (a
thread, group ``reader``) is draining the queue; the worker calls only the matching
``FactoryReader.refresh_*``, derives a new :class:`Fleet` and posts :class:`FleetUpdated`; the
handler updates every view by key. A slow timer re-probes pids and re-derives ages the same way.
The first paint happens before anything is read: the views compose empty and the header shows
the progress of the first load.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane, Tree
from textual.worker import Worker, WorkerState

from factory_tui.actions.base import ActionResult, Outcome, actor
from factory_tui.actions.recover import (
    RecoveryInfo,
    ReviewDiffs,
    abandon,
    close_merged,
    recovery_info,
    resume,
    review_diffs,
)
from factory_tui.actions.release import ReleasePlan, plan_release, release_all_stale, release_claim
from factory_tui.actions.stop import StopPlan, plan_stop, stop_agent
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.logindex import FilterSpec, LogIndex
from factory_tui.adapters.procs import ProcessProbe
from factory_tui.config import Config
from factory_tui.core.fleet import Fleet, InstanceView, ProcInfo
from factory_tui.core.safe import printable
from factory_tui.core.statefiles import parse_memory, parse_plan
from factory_tui.core.timeparse import parse_ts
from factory_tui.ui.messages import (
    FilesChanged,
    FleetUpdated,
    LoadProgress,
    ReaderFailed,
    StateSummary,
)
from factory_tui.ui.screens.confirm import (
    ConfirmScreen,
    ReasonScreen,
    RecoveryChoice,
    RecoveryScreen,
)
from factory_tui.ui.screens.detail import AgentDetailScreen
from factory_tui.ui.screens.help import HelpScreen, KeySection
from factory_tui.ui.themes import THEME_VARIABLE_DEFAULTS, load_themes, pick_theme
from factory_tui.ui.watch import RefreshPlan, WatchTargets, watch_files
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.claims import ClaimNode, ClaimsView, ClaimTree
from factory_tui.ui.widgets.filterbar import FilterBar
from factory_tui.ui.widgets.log_view import LogView
from factory_tui.ui.widgets.problems import ProblemsView
from factory_tui.ui.widgets.sessions import SessionsView
from factory_tui.ui.widgets.state import StateView
from factory_tui.ui.widgets.summary import SummaryBar, changed_segment, fleet_segments

__all__ = ["VIEWS", "AttentionItem", "FactoryApp", "attention_items", "empty_fleet"]

VIEWS: tuple[str, ...] = ("agents", "claims", "sessions", "log", "problems", "state")
DETAIL_VIEWS = ("agents", "claims", "sessions")
VIEW_TITLES = {
    "agents": "Agents",
    "claims": "Claims",
    "sessions": "Sessions",
    "log": "Log",
    "problems": "Problems",
    "state": "State",
}
#: Seconds between re-probes of the pids (and re-derived ages) when nothing changes.
DEFAULT_REFRESH_SECONDS = 5.0
#: The engineer's actions (issue 4): hidden where they do not apply and in read-only mode.
_ACTIONS = ("release", "recover", "stop_agent", "release_all_stale")
_PROGRESS_EVERY = 0.1


# -- what needs the engineer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttentionItem:
    """Something that needs the engineer, where it is shown, and since when.

    ``key`` is stable across updates (it decides "already announced"); ``view`` and ``target``
    say where ``n`` jumps (a view name and the row or node key in it).
    """

    key: str
    kind: str
    since: datetime
    view: str
    target: str
    title: str
    instance: str | None = None


def attention_items(fleet: Fleet) -> list[AttentionItem]:
    """Everything that needs the engineer now, oldest first. Later features (Ask PRs, budgets)
    add their kinds here."""
    items: list[AttentionItem] = []
    for session in fleet.sessions:
        if session.status != "crashed":
            continue
        since = parse_ts(session.last_event_at) or parse_ts(session.started_at) or datetime.min
        who = f" ({printable(session.instance)})" if session.instance else ""
        items.append(
            AttentionItem(
                key=f"session:{session.key}",
                kind="crashed session",
                since=since,
                view="sessions",
                target=session.key,
                title=f"session {printable(session.task)}{who} crashed",
                instance=session.instance,
            )
        )
    for claim in fleet.claims:
        if claim.state != "stale":
            continue
        since = (parse_ts(claim.unit.claimed_at) if claim.unit.claimed_at else None) or (
            datetime.min
        )
        owner = f" (owner {printable(claim.unit.owner)})" if claim.unit.owner else ""
        items.append(
            AttentionItem(
                key=f"claim:{claim.key}",
                kind="stale claim",
                since=since,
                view="claims",
                target=claim.key,
                title=f"claim {printable(claim.key)} is stale{owner}",
                instance=claim.unit.owner,
            )
        )
    items.sort(key=lambda item: (item.since, item.key))
    return items


def empty_fleet(root: str, now: datetime, hostname: str = "") -> Fleet:
    """The fleet before anything is read: the first paint shows this."""
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

    def read(path: Path) -> str | None:
        try:
            return path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None

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
        Binding("enter", "details", "Details", id="details"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("n", "next_attention", "Next needing you", id="attention.next"),
        Binding("t", "cycle_theme", "Theme", id="theme.cycle"),
        Binding("x", "release", "Release claim", id="action.release"),
        Binding("X", "release_all_stale", "Release all stale", id="action.release_all"),
        Binding("r", "recover", "Recover", id="action.recover"),
        Binding("K", "stop_agent", "Stop agent", id="action.stop"),
        # ``r`` refreshes where there is nothing to recover (a disabled binding falls through).
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        Binding("question_mark", "help", "Keys", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
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
    ) -> None:
        super().__init__()
        if initial_view not in VIEWS:
            raise ValueError(f"view {initial_view!r}: expected one of {', '.join(VIEWS)}")
        self.config = config
        self.clock: Callable[[], datetime] = clock or (
            lambda: datetime.now().replace(microsecond=0)
        )
        self.reader = reader or FactoryReader(config)
        self.watching = watch
        self.on_quit = on_quit
        self.initial_view = initial_view
        self.refresh_interval = refresh_interval or _config_refresh(config)
        self.fleet: Fleet = empty_fleet(str(config.root), self.clock(), self.reader.hostname)
        self.loaded = False
        self.log_ready = False
        self.last_change: datetime | None = None
        self.fleet_updates = 0
        self.filters: dict[str, str] = dict.fromkeys(VIEWS, "")
        self.announced: set[str] = set()
        self._attention_cursor: str | None = None
        self.log_index = LogIndex(config.log_history_file, config.log_file)
        self.targets = WatchTargets.from_config(config)
        self._stop = threading.Event()
        self._queue_lock = threading.Lock()
        self._pending = RefreshPlan()
        self._pending_initial = False
        self._pending_tick = False
        self._reader_running = False
        self._progress_at = 0.0
        self._last_shown: object = None
        self._last_probe: object = None
        self._fleet_event: asyncio.Event | None = None
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

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        with TabbedContent(initial=self.initial_view, id="views"):
            with TabPane(VIEW_TITLES["agents"], id="agents"):
                yield AgentGrid(id="agent-grid")
            with TabPane(VIEW_TITLES["claims"], id="claims"):
                yield ClaimsView(id="claims-view")
            with TabPane(VIEW_TITLES["sessions"], id="sessions"):
                yield SessionsView(id="sessions-view")
            with TabPane(VIEW_TITLES["log"], id="log"):
                yield LogView(self.log_index, follow=True, id="log-view")
            with TabPane(VIEW_TITLES["problems"], id="problems"):
                yield ProblemsView(id="problems-view")
            with TabPane(VIEW_TITLES["state"], id="state"):
                yield StateView(id="state-view")
        yield FilterBar(id="filter-bar")
        yield Footer()

    def on_mount(self) -> None:
        summary = self.query_one(SummaryBar)
        summary.set_segment("title", self._title_segment())
        summary.set_segments(fleet_segments(self.fleet, loaded=False))
        summary.set_segment("loading", Content.styled("reading the factory…", "$text-muted"))
        for warning in self._theme_warnings:
            self.notify(warning, title="Theme", severity="warning", markup=False, timeout=10)
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
        self.call_after_refresh(self._focus_if_nothing_is)

    def on_unmount(self) -> None:
        self._stop.set()
        self.log_index.close()
        if self.on_quit is not None:
            self.on_quit()

    def _title_segment(self) -> Content:
        parts: list[str | tuple[str, str]] = [
            ("factory-tui", "bold $accent"),
            " ",
            printable(self.config.root.name or str(self.config.root)),
        ]
        if self.config.read_only:
            parts.append(("  read-only", "$text-muted"))
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
            except Exception as error:  # a bug, not a bad file: keep the cockpit alive
                self.post_message(ReaderFailed(f"{type(error).__name__}: {error}"))

    def _progress(self, source: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._progress_at >= _PROGRESS_EVERY or done >= total:
            self._progress_at = now
            self.post_message(LoadProgress(source, done, total))

    def _load_everything(self) -> None:
        reader = self.reader
        reader.on_progress = self._progress
        try:
            reader.refresh_all()
        finally:
            reader.on_progress = None
        fleet = reader.fleet(self.clock())
        self._last_shown = _shown_facts(fleet)
        self.post_message(
            FleetUpdated(fleet, changed=True, initial=True, state=state_summary(self.config))
        )
        for step in self.log_index.update_in_chunks():
            self._progress("log index", step.bytes_done, step.bytes_total)
        self.post_message(FleetUpdated(fleet, changed=False, log_changed=True))

    def _refresh(self, plan: RefreshPlan, tick: bool) -> None:
        reader = self.reader
        changed = False
        for path in sorted(plan.claim_paths):
            changed |= reader.refresh_claim(path)
        if plan.rescan_claims:
            changed |= reader.refresh_claims()
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
            real_probe = reader.probe
            reader.probe = _Probed(procs)
            try:
                fleet = reader.fleet(now)
            finally:
                reader.probe = real_probe
        else:
            fleet = reader.fleet(now)
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

    def on_fleet_updated(self, message: FleetUpdated) -> None:
        fleet = message.fleet
        self.fleet = fleet
        if message.initial:
            self.loaded = True
        elif message.changed:
            self.last_change = self.clock()
        with self.batch_update():
            summary = self.query_one(SummaryBar)
            summary.set_segments(fleet_segments(fleet, loaded=self.loaded))
            summary.set_segment("changed", changed_segment(self.last_change))
            if message.initial:
                summary.set_segment("loading", None)
            self.query_one(AgentGrid).show_fleet(fleet, loaded=self.loaded)
            self.query_one(ClaimsView).show_fleet(fleet, loaded=self.loaded)
            self.query_one(SessionsView).show_fleet(fleet, loaded=self.loaded)
            self.query_one(ProblemsView).show_fleet(fleet, loaded=self.loaded)
            self.query_one(StateView).show_fleet(fleet, message.state)
            if message.log_changed:
                self.query_one(LogView).refresh_index()
                self.log_ready = self.log_ready or self.loaded
            self._update_tab_labels(fleet)
            for screen in self.screen_stack:
                if isinstance(screen, AgentDetailScreen):
                    screen.show_fleet(fleet)
        # Which action keys apply depends on the fleet (a stale claim to release, ...).
        self.refresh_bindings()
        if message.initial and self.focused is None:
            self.call_after_refresh(self._focus_if_nothing_is)
        self._announce(fleet, first=message.initial)
        self.fleet_updates += 1
        if self._fleet_event is not None:
            self._fleet_event.set()

    def _update_tab_labels(self, fleet: Fleet) -> None:
        tabs = self.query_one(TabbedContent)
        counts = {
            "agents": len(fleet.instances),
            "claims": len(fleet.claims),
            "sessions": len(fleet.sessions),
            "problems": len(fleet.problems) + len(fleet.lint),
            "state": len(fleet.lint),
        }
        alarms = {
            "agents": fleet.counts.get("agents_crashed", 0) + fleet.counts.get("agents_stale", 0),
            "claims": fleet.counts.get("claims_stale", 0),
            "sessions": fleet.counts.get("sessions_crashed", 0),
            "problems": counts["problems"],
            "state": counts["state"],
        }
        for view in VIEWS:
            parts: list[str | tuple[str, str]] = [VIEW_TITLES[view]]
            if view in counts:
                parts.append(f" {counts[view]}")
            if alarms.get(view):
                parts.append((f" !{alarms[view]}", "bold $warning"))
            if self.filters[view]:
                parts.append((" ⧩", "$accent"))
            label = Content.assemble(*parts)
            tab = tabs.get_tab(view)
            if tab.label != label or tab.label.spans != label.spans:
                tab.label = label

    def _announce(self, fleet: Fleet, *, first: bool) -> None:
        """Notify (and ring) once for each new thing needing the engineer; not for what was
        already there when the cockpit opened."""
        items = attention_items(fleet)
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
            while not check(self.fleet):
                self._fleet_event.clear()
                await self._fleet_event.wait()
            return self.fleet

        return await asyncio.wait_for(wait(), timeout)

    def _on_theme_changed(self, _theme: object) -> None:
        self.query_one(ClaimsView).restyle()
        self.query_one(SessionsView).restyle()
        self.query_one(ProblemsView).restyle()
        self.query_one(StateView).restyle()

    # -- views, focus, keys ---------------------------------------------------------------------

    @property
    def current_view(self) -> str:
        return self.query_one(TabbedContent).active or self.initial_view

    def _view_widget(self, view: str) -> Widget:
        widgets: dict[str, str] = {
            "agents": "#agent-grid",
            "claims": "#claim-tree",
            "sessions": "#sessions-table",
            "log": "#log-view",
            "problems": "#problems-table",
            "state": "#state-table",
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
        self.query_one(FilterBar).close()
        self._focus_view()
        self.refresh_bindings()

    def _on_main_screen(self) -> bool:
        return len(self.screen_stack) == 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        main_only = {
            "next_view",
            "previous_view",
            "show_view",
            "filter",
            "details",
        }
        if action in main_only and not self._on_main_screen():
            return False
        if action in ("next_view", "previous_view") and isinstance(self.focused, Input):
            return False
        if action in _ACTIONS:
            return self._action_target(action) is not None
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

    def _selected_instance(self) -> str | None:
        view = self.current_view
        if view == "agents":
            focused = self.focused
            if isinstance(focused, AgentPane):
                return focused.view.id
            panes = self.query_one(AgentGrid).ordered_panes()
            return panes[0].view.id if panes else None
        if view == "claims":
            node = self.query_one(ClaimTree).cursor_node
            if node is not None and node.data is not None and node.data.claim is not None:
                return node.data.claim.unit.owner
            return None
        if view == "sessions":
            key = self.query_one(SessionsView).table.cursor_key()
            session = next((s for s in self.fleet.sessions if s.key == key), None)
            return session.instance if session else None
        return None

    def open_detail(self, instance_id: str) -> None:
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

    @on(DataTable.RowSelected, "#sessions-table")
    def _session_selected(self, event: DataTable.RowSelected) -> None:
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
            log_view = self.query_one(LogView)
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
            self.query_one(ClaimsView).set_filter(text)
        elif view == "sessions":
            self.query_one(SessionsView).set_filter(text)
        elif view == "problems":
            self.query_one(ProblemsView).set_filter(text)
        elif view == "state":
            self.query_one(StateView).set_filter(text)
        elif view == "log":
            self.query_one(LogView).set_filter(FilterSpec.parse(text) if text.strip() else None)
        self._update_tab_labels(self.fleet)

    # attention

    def action_next_attention(self) -> None:
        """Jump to the next thing needing the engineer (oldest first, wrapping around)."""
        items = attention_items(self.fleet)
        if not items:
            self.notify("Nothing needs you: no crashed session, no stale claim.", markup=False)
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
            view = self.query_one(SessionsView)
            view.select_key(item.target)
            view.table.focus()
        elif item.view == "claims":
            tree = self.query_one(ClaimTree)
            tree.select_key(item.target)
            tree.focus()

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
        return None

    def _release_target(self) -> str | None:
        """Claims view: the selected claim if someone owns it (a claim that is not stale needs a
        typed confirmation); agents view: the selected agent's first stale claim."""
        view = self.current_view
        if view == "claims":
            node = self.query_one(ClaimTree).cursor_node
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

    def _recover_target(self) -> str | None:
        """The task of the selected crashed session (sessions view) or crashed agent."""
        view = self.current_view
        if view == "sessions":
            key = self.query_one(SessionsView).table.cursor_key()
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

    def _action_reader(self) -> FactoryReader:
        """A reader of its own for an action's thread (the app's reader belongs to the reader
        worker), with the same host name and process probe."""
        return FactoryReader(self.config, hostname=self.reader.hostname, probe=self.reader.probe)

    def _in_thread(self, name: str, work: Callable[[], None]) -> None:
        self.run_worker(work, name=name, group="actions", thread=True, exit_on_error=False)

    def _run_action(self, name: str, act: Callable[[], ActionResult]) -> None:
        """Do ``act`` on a thread; notify its one-sentence result; re-read the files (the
        watcher would see the change too)."""

        def work() -> None:
            try:
                result = act()
            except Exception as error:  # keep the cockpit alive; say what failed
                result = ActionResult(
                    Outcome.ERROR, f"{name} failed: {type(error).__name__}: {error}"
                )
            self.call_from_thread(self._action_done, name, result)

        self._in_thread(name, work)

    def _action_done(self, name: str, result: ActionResult) -> None:
        severity: SeverityLevel = "information"
        if result.outcome is Outcome.REFUSED:
            severity = "warning"
        elif result.outcome is Outcome.ERROR:
            severity = "error"
        title = name if result.ok else f"{name}: {result.outcome.name.lower()}"
        self.notify(result.message, title=title, severity=severity, markup=False, timeout=10)
        if result.ok:
            self.action_refresh()

    def action_release_all_stale(self) -> None:
        """``X``: every stale claim listed with its evidence, one confirmation, then each released
        under its own lock with its own re-check and log line."""
        if self._refuse_read_only():
            return
        stale = [c for c in self.fleet.claims if c.state == "stale"]
        if not stale:
            self.notify("No stale claim to release.", markup=False)
            return
        lines = [f"{c.key} ({c.unit.owner}): {c.why}" for c in stale]
        lines.append("each is re-checked under its own lock; one that is no longer stale is kept")

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            def act() -> ActionResult:
                results = release_all_stale(
                    self.config, now=self.clock(), reader=self._action_reader()
                )
                done = [key for key, r in results if r.ok]
                kept = [f"{key}: {r.message}" for key, r in results if not r.ok]
                message = f"released {len(done)} of {len(results)} stale claims" + (
                    f"; not released: {'; '.join(kept)}" if kept else ""
                )
                outcome = Outcome.DONE if done and not kept else Outcome.REFUSED
                return ActionResult(outcome if results else Outcome.REFUSED, message)

            self._run_action("Release all stale", act)

        self.push_screen(
            ConfirmScreen(
                f"Release {len(stale)} stale claim(s)",
                lines,
                question="Release them all? (y/n)",
            ),
            confirmed,
        )

    def action_release(self) -> None:
        """``x``: release the selected stale claim, after a confirmation listing the stale
        conditions (a claim that is not stale: typed confirmation, ``force=True``)."""
        if self._refuse_read_only():
            return
        target = self._release_target()
        if target is None:
            self.notify("Select an owned claim, or an agent with a stale claim.", markup=False)
            return
        now = self.clock()

        def plan() -> None:
            reader = self._action_reader()
            planned = plan_release(self.config, target, now=now, reader=reader)
            if isinstance(planned, ReleasePlan) and not planned.stale:
                planned = plan_release(self.config, target, now=now, reader=reader, force=True)
            self.call_from_thread(self._confirm_release, target, planned)

        self._in_thread("plan release", plan)

    def _confirm_release(self, target: str, planned: ReleasePlan | ActionResult) -> None:
        if isinstance(planned, ActionResult):
            self._action_done("Release", planned)
            return
        force = not planned.stale
        title = f"Release {target}" + ("" if planned.stale else " — NOT stale: forced release")

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._run_action(
                    "Release",
                    lambda: release_claim(
                        self.config,
                        target,
                        now=self.clock(),
                        reader=self._action_reader(),
                        force=force,
                    ),
                )

        self.push_screen(
            ConfirmScreen(
                title,
                planned.describe(),
                question="Release this claim?",
                typed=target if force else None,
            ),
            done,
        )

    def action_stop_agent(self) -> None:
        """``K``: stop the selected live local agent (SIGTERM, then SIGKILL), after a
        confirmation naming its pid, command line and cwd."""
        if self._refuse_read_only():
            return
        target = self._stop_target()
        if target is None:
            self.notify("Select an agent running on this host.", markup=False)
            return
        now = self.clock()

        def plan() -> None:
            planned = plan_stop(self.config, target, now=now, reader=self._action_reader())
            self.call_from_thread(self._confirm_stop, target, planned)

        self._in_thread("plan stop", plan)

    def _confirm_stop(self, target: str, planned: StopPlan | ActionResult) -> None:
        if isinstance(planned, ActionResult):
            self._action_done("Stop agent", planned)
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._run_action(
                    "Stop agent",
                    lambda: stop_agent(
                        self.config, target, now=self.clock(), reader=self._action_reader()
                    ),
                )

        self.push_screen(
            ConfirmScreen(f"Stop {target}", planned.describe(), question="Stop this agent?"),
            done,
        )

    def action_recover(self) -> None:
        """``r`` on a crashed session or agent: what is known about it, then resume, abandon
        (with a reason), close (its PR is merged) or cancel."""
        if self._refuse_read_only():
            return
        task = self._recover_target()
        if task is None:
            self.notify("Select a crashed session or agent.", markup=False)
            return
        now = self.clock()

        def gather() -> None:
            info = recovery_info(self.config, task, now=now, reader=self._action_reader())
            diffs: ReviewDiffs | None = None
            if isinstance(info, RecoveryInfo):
                try:
                    diffs = review_diffs(self.config, info)
                except Exception as error:
                    diffs = ReviewDiffs("", "", f"no diff available: {error}")
            self.call_from_thread(self._show_recovery, task, info, diffs)

        self._in_thread("recovery info", gather)

    def _show_recovery(
        self, task: str, info: RecoveryInfo | ActionResult, diffs: ReviewDiffs | None = None
    ) -> None:
        if isinstance(info, ActionResult):
            self._action_done("Recover", info)
            return

        def chosen(choice: RecoveryChoice | None) -> None:
            if choice is not None:
                self._recovery_step(task, info, choice)

        self.push_screen(
            RecoveryScreen(
                f"Recover {task}",
                info.describe(),
                resume_blocked=info.why_not("resume"),
                can_close=info.why_not("close_merged") is None,
                diffs=diffs,
            ),
            chosen,
        )

    def _recovery_step(self, task: str, info: RecoveryInfo, choice: RecoveryChoice) -> None:
        by = actor()
        if choice == "abandon":

            def reason_given(reason: str | None) -> None:
                if reason:
                    self._run_action(
                        "Abandon",
                        lambda: abandon(
                            self.config,
                            task,
                            now=self.clock(),
                            reason=reason,
                            reader=self._action_reader(),
                            by=by,
                        ),
                    )

            self.push_screen(
                ReasonScreen(
                    f"Abandon {task}",
                    info.plan("abandon", by=by),
                    prompt="Why abandon it? (logged; enter to confirm, escape to cancel)",
                ),
                reason_given,
            )
            return

        def act() -> ActionResult:
            if choice == "resume":
                return resume(self.config, task, now=self.clock(), reader=self._action_reader())
            return close_merged(self.config, task, now=self.clock(), reader=self._action_reader())

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run_action("Resume" if choice == "resume" else "Close session", act)

        verb = "Resume" if choice == "resume" else "Close"
        self.push_screen(
            ConfirmScreen(
                f"{verb} {task}", info.plan(choice, by=by), question=f"{verb} this session?"
            ),
            confirmed,
        )

    @on(Tree.NodeHighlighted, "#claim-tree")
    @on(DataTable.RowHighlighted, "#sessions-table")
    def _selection_moved(self) -> None:
        """The footer shows only the actions that apply to what is selected."""
        self.refresh_bindings()

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
        return [
            ("Everywhere", self.BINDINGS),
            ("Agents view", [*AgentGrid.BINDINGS, *AgentPane.BINDINGS]),
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
            ("Filter line", [*FilterBar.BINDINGS, Binding("enter", "keep", "Keep the filter")]),
            ("Agent detail", list(AgentDetailScreen.BINDINGS)),
            (
                "Mouse",
                [
                    Binding("click", "tab", "A tab: show that view; a row or claim: select it"),
                    Binding("double-click", "pane", "An agent pane: its details"),
                ],
            ),
        ]

    def action_help(self) -> None:
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
                    "jump to the next crashed session or stale claim, oldest first",
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
        return commands


class _Probed(ProcessProbe):
    """A process probe that answers from a table just probed (so one tick probes once)."""

    def __init__(self, table: dict[int, ProcInfo]) -> None:
        super().__init__()
        self.table = table

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        return {pid: self.table[pid] for pid in pids if pid in self.table}


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
