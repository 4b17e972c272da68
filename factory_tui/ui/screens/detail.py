"""Everything known about one agent instance: verdict and evidence, process, work, claims,
sessions, checkpoint and recent log lines. Live: the app hands it every new fleet."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from factory_tui.core.fleet import Fleet, InstanceView
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.agents import process_line
from factory_tui.ui.widgets.claims import claim_detail
from factory_tui.ui.widgets.fields import Field, FieldList, heading
from factory_tui.ui.widgets.sessions import (
    checkpoint_lines,
    order_sessions,
    session_detail,
)
from factory_tui.ui.widgets.text import (
    AGENT_BADGES,
    ago,
    badge,
    event_text,
    lit,
    since,
    step_row,
)

__all__ = ["AgentDetailScreen", "activity_fields", "detail_fields"]

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
    fields.append(("transcript", Content.styled(lit(act.transcript), muted)))
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
    AgentDetailScreen > #detail-body {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="detail.back"),
        Binding("backspace", "app.pop_screen", "Back", show=False, id="detail.back2"),
    ]

    def __init__(self, fleet: Fleet, instance_id: str) -> None:
        super().__init__()
        self.instance_id = instance_id
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble(
                ("Agent ", "bold"),
                (lit(self.instance_id), "bold"),
                ("  escape: back", "$text-muted"),
            ),
            id="detail-title",
        )
        yield FieldList(id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.show_fleet(self.fleet)
        self.query_one(FieldList).focus()

    def show_fleet(self, fleet: Fleet) -> None:
        """Update the rows in place (the scroll position stays)."""
        self.fleet = fleet
        self.query_one(FieldList).show(detail_fields(fleet, self.instance_id))
