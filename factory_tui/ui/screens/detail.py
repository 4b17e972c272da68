"""Everything known about one agent instance: verdict and evidence, process, work, claims,
sessions, checkpoint and recent log lines. Live: the app hands it every new fleet.

``T`` switches to the agent's terminal: a live capture of its tmux pane, taken on a thread every
``TERMINAL_REFRESH_S`` while the terminal is shown (and only then). ``i`` replies to the agent
and a digit answers a numbered prompt (each confirmed, pane and text, first); ``a`` switches the
engineer's tmux client to the pane.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Static

from factory_tui.adapters.tmux import Tmux, TmuxError
from factory_tui.config import Config
from factory_tui.core.fleet import Fleet, InstanceView
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.agent_lines import process_line
from factory_tui.ui.widgets.claims import claim_detail
from factory_tui.ui.widgets.fields import Field, FieldList, heading
from factory_tui.ui.widgets.footer import KeysFooter
from factory_tui.ui.widgets.sessions import (
    checkpoint_lines,
    order_sessions,
    session_detail,
)
from factory_tui.ui.widgets.terminal import TerminalLooked, TerminalView
from factory_tui.ui.widgets.text import (
    AGENT_BADGES,
    ago,
    badge,
    event_text,
    lit,
    since,
    step_row,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from factory_tui.ui.app import FactoryApp

__all__ = ["TERMINAL_REFRESH_S", "AgentDetailScreen", "activity_fields", "detail_fields"]

#: How often the shown terminal is captured again.
TERMINAL_REFRESH_S = 1.0

BLANK: Field = ("", Content(""))


def activity_fields(view: InstanceView, now: datetime) -> list[Field]:
    """What the agent's Claude Code transcript says (issue 13): its wait and the evidence, its
    current tool call, its last words (whole), todo list, model, context fill and compactions.
    All agent-written text literal. Nothing when no transcript was found and it does not wait."""
    muted = "$text-muted"
    if view.activity is None and view.waiting is None:
        return []
    fields: list[Field] = [BLANK, heading("In Claude Code")]
    if view.waiting is not None:
        wait = view.waiting
        fields.append(
            (
                "waiting",
                Content.assemble(
                    (f"{lit(wait.kind)} since {wait.since:%Y-%m-%d %H:%M:%S}", "bold $warning"),
                    (f" — {lit(wait.evidence)}", muted),
                ),
            )
        )
    act = view.activity
    if act is None:
        fields.append(("", Content.styled("no transcript found for this agent", muted)))
        return fields
    doing = act.activity_line(now)
    fields.append(("doing", Content(doing) if doing else Content.styled("—", muted)))
    text = printable(act.text).splitlines() if act.text else []
    fields.append(("said", Content(text[0]) if text else Content.styled("—", muted)))
    fields.extend(("", Content(line)) for line in text[1:])
    if act.todos:
        done, in_progress, pending = act.todo_counts()
        fields.append(
            ("todo", Content(f"{done} done, {in_progress} in progress, {pending} pending"))
        )
        fields.extend(("", Content(f"{t.mark} {lit(t.content)}")) for t in act.todos)
    fields.append(("model", Content(lit(act.model) or "—")))
    fill = act.fill_text()
    tokens = (
        f" ({act.context_tokens:,} of {act.context_window:,} tokens)"
        if act.context_tokens is not None
        else ""
    )
    fields.append(
        (
            "context",
            Content.assemble(
                (fill or "—", "bold $warning" if act.fill_flagged else ""), (tokens, muted)
            ),
        )
    )
    fields.append(("compactions", Content(str(act.compactions))))
    # The file's name (the session id): its folder encodes the worktree's whole path, which
    # does not fit here; `factory-tui agent ID --json` has the full path.
    name = act.transcript.rsplit("/", 1)[-1]
    fields.append(("transcript", Content.styled(lit(name), muted)))
    return fields


def detail_fields(fleet: Fleet, instance_id: str) -> list[Field]:
    """Everything about one instance, as labelled rows with section headings."""
    view: InstanceView | None = next((i for i in fleet.instances if i.id == instance_id), None)
    now = fleet.generated_at
    muted = "$text-muted"
    if view is None:
        return [
            (
                "",
                Content.assemble(
                    (lit(instance_id), "bold"),
                    " is no longer in the fleet: no claim names it and the log's recent "
                    "history has no event from it.",
                ),
            )
        ]
    fields: list[Field] = [
        ("", Content.assemble(badge(AGENT_BADGES, view.status), "  ", (lit(view.id), "bold"))),
        ("why", Content(lit(view.why))),
    ]
    fields.extend(("⚡ conflict", Content.styled(lit(c), "bold $warning")) for c in view.conflicts)
    fields.extend(
        [
            BLANK,
            heading("Process and work"),
            ("process", process_line(view)),
            ("task", Content(lit(view.task) or "—")),
            ("branch", Content(lit(view.branch) or "—")),
            (
                "step",
                Content.assemble(
                    step_row(view.step, view.step_index, view.step_state),
                    (f" · {since(now, view.step_since)} in step" if view.step_since else "", muted),
                ),
            ),
            (
                "last event",
                Content.assemble(
                    ago(now, view.last_event_at),
                    (f" ({lit(view.last_event_at)})" if view.last_event_at else "", muted),
                ),
            ),
        ]
    )
    fields.extend(activity_fields(view, now))
    fields.extend([BLANK, heading(f"Claims ({len(view.claims)})")])
    owned = [c for key in view.claims for c in fleet.claims if c.key == key]
    for claim in owned:
        fields.extend(claim_detail(claim, ago(now, claim.unit.claimed_at), fleet.root))
    if not owned:
        fields.append(("", Content.styled("owns no claim", muted)))
    fields.extend([BLANK, heading("Sessions")])
    sessions = order_sessions(tuple(s for s in fleet.sessions if s.instance == view.id))
    for n, session in enumerate(sessions):
        if n:
            fields.append(BLANK)
        fields.extend(f for f in session_detail(session, now) if f[0] != "instance")
    if not sessions:
        fields.append(
            ("", Content.styled("no session of this instance in the shown history", muted))
        )
    tasks = {s.task for s in sessions}
    if view.task:
        tasks.add(view.task)
    checkpoints = [cp for cp in fleet.checkpoints if cp.task in tasks]
    if checkpoints and not any(s.checkpoint is not None for s in sessions):
        fields.extend([BLANK, heading("Checkpoint")])
        for cp in checkpoints:
            fields.extend(checkpoint_lines(cp))
    fields.extend([BLANK, heading("Recent log events (newest first)")])
    recent = [("", event_text(e, now, skip=("instance",))) for e in reversed(view.recent)]
    fields.extend(recent or [("", Content.styled("no log events", muted))])
    return fields


class AgentDetailScreen(Screen[None]):
    """The detail screen of one instance; escape goes back to the cockpit."""

    DEFAULT_CSS = """
    AgentDetailScreen > #detail-title {
        dock: top;
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    AgentDetailScreen > #detail-switcher {
        height: 1fr;
    }
    AgentDetailScreen #detail-body {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="detail.back"),
        Binding("backspace", "app.pop_screen", "Back", show=False, id="detail.back2"),
        Binding(
            "T",
            "terminal",
            "Live terminal",
            id="detail.terminal",
            tooltip="the agent's tmux pane, captured every second while shown; T again: details",
        ),
        # As the issue has it: enter shows the live terminal too (and goes back).
        Binding("enter", "terminal", "Live terminal", show=False, id="detail.terminal-enter"),
        Binding("i", "reply", "Reply", id="detail.reply"),
        Binding("a", "attach", "Go to pane", id="detail.attach"),
        *(
            Binding(str(n), f"answer('{n}')", f"Answer {n}", show=False, id=f"detail.answer{n}")
            for n in range(1, 10)
        ),
    ]

    @property
    def capturing(self) -> bool:
        """The agent's pane is being captured (only while its terminal is shown)."""
        return self._timer is not None

    def __init__(self, fleet: Fleet, instance_id: str, *, tmux: Tmux | None = None) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.fleet = fleet
        self.tmux = tmux or Tmux()
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble(
                ("Agent ", "bold"),
                (lit(self.instance_id), "bold"),
                ("  escape: back · T: live terminal", "$text-muted"),
            ),
            id="detail-title",
        )
        with ContentSwitcher(initial="detail-body", id="detail-switcher"):
            yield FieldList(id="detail-body")
            yield TerminalView(id="detail-terminal")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._show_rows()
        self.query_one(FieldList).focus()

    def show_fleet(self, fleet: Fleet) -> None:
        """Update the rows in place (the scroll position stays). A fleet that comes while the
        screen is being pushed (not mounted yet) is kept: mounting shows the newest."""
        self.fleet = fleet
        if self.is_mounted:
            self._show_rows()

    def _show_rows(self) -> None:
        self.query_one(FieldList).show(detail_fields(self.fleet, self.instance_id))

    # -- the terminal --------------------------------------------------------------------------

    @property
    def terminal_shown(self) -> bool:
        return self.query_one(ContentSwitcher).current == "detail-terminal"

    def action_terminal(self) -> None:
        """Switch between the details and the live terminal; the capture runs only while the
        terminal is shown."""
        switcher = self.query_one(ContentSwitcher)
        if self.terminal_shown:
            switcher.current = "detail-body"
            self._stop_looking()
            self.query_one(FieldList).focus()
            return
        switcher.current = "detail-terminal"
        self.look()
        self._timer = self.set_interval(TERMINAL_REFRESH_S, self._tick)

    def _stop_looking(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        if self.terminal_shown and self.is_current:
            self.look()

    def on_screen_suspend(self) -> None:
        self._stop_looking()

    def on_screen_resume(self) -> None:
        if self.terminal_shown and self._timer is None:
            self.look()
            self._timer = self.set_interval(TERMINAL_REFRESH_S, self._tick)

    def look(self) -> None:
        """Find the pane and capture it, on a thread; the result comes back as a message."""
        view = next((i for i in self.fleet.instances if i.id == self.instance_id), None)
        if view is not None:
            self._look(self.app_config, view)

    @work(thread=True, group="terminal", exclusive=True, exit_on_error=False)
    def _look(self, config: Config, view: InstanceView) -> None:
        from factory_tui.actions.send import look_into

        self.post_message(TerminalLooked(look_into(config, view, self.tmux)))

    def on_terminal_looked(self, message: TerminalLooked) -> None:
        self.query_one(TerminalView).show_look(message.look)

    @property
    def app_config(self) -> Config:
        return cast("FactoryApp", self.app).config

    # -- answering -----------------------------------------------------------------------------

    def _flow(self, name: str, flow: Coroutine[Any, Any, None]) -> None:
        self.app.run_worker(flow, name=name, group="flows", exit_on_error=False)

    def _read_only(self) -> bool:
        if self.app_config.read_only:
            self.notify(
                "Read-only mode: answering an agent is disabled (--read-only).",
                severity="warning",
                markup=False,
            )
            return True
        return False

    def action_reply(self) -> None:
        """``i``: type a line for the agent; it is sent after a confirmation."""
        from factory_tui.ui.flows.reply import reply_flow

        if not self._read_only():
            app = cast("FactoryApp", self.app)
            self._flow("reply", reply_flow(app, self.instance_id, self.tmux))

    def action_answer(self, digit: str) -> None:
        """A digit answers a numbered prompt the same way (confirmed first)."""
        from factory_tui.ui.flows.reply import reply_flow

        if not self._read_only():
            app = cast("FactoryApp", self.app)
            self._flow("answer", reply_flow(app, self.instance_id, self.tmux, answer=digit))

    def action_attach(self) -> None:
        """``a``: show the agent's pane in the engineer's tmux client."""
        view = next((i for i in self.fleet.instances if i.id == self.instance_id), None)
        if view is None:
            self.notify(f"{self.instance_id} is no longer in the fleet.", markup=False)
            return
        if not self.tmux.inside():
            self.notify(
                "The cockpit is not running inside tmux ($TMUX is not set): there is no client "
                "to switch. Answer with i here, or attach to the agents' tmux yourself.",
                severity="warning",
                markup=False,
            )
            return
        self._go_to_pane(self.app_config, view)

    @work(thread=True, group="attach", exclusive=True, exit_on_error=False)
    def _go_to_pane(self, config: Config, view: InstanceView) -> None:
        from factory_tui.actions.send import pane_of

        found = pane_of(config, view, self.tmux)
        if found.pane is None:
            self._say(f"No pane to go to: {found.match.how}", "warning")
            return
        try:
            self.tmux.switch_client(found.pane.id)
        except TmuxError as error:
            self._say(str(error), "error")
            return
        self._say(f"Switched to {found.pane.target} ({found.pane.id}).", "information")

    def _say(self, text: str, severity: Any) -> None:
        self.app.call_from_thread(self.notify, text, severity=severity, markup=False)
