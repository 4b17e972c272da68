"""The text of an agent's pane, as plain functions of one :class:`InstanceView` and ``now``
(no widgets): its lines at a width (:func:`pane_lines`), the process line the detail screen
shows too, what its transcript says, and the line above each host's panes. The widgets that
show them are in :mod:`factory_tui.ui.widgets.agents`.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import TYPE_CHECKING

from textual.content import Content

from factory_tui.ui.widgets.text import (
    AGENT_BADGES,
    ago,
    badge,
    clip,
    event_text,
    lit,
    since,
    step_row,
)

if TYPE_CHECKING:  # the cockpit's first frame imports this module, not the fleet's
    from factory_tui.core.activity import AgentActivity
    from factory_tui.core.fleet import InstanceView
    from factory_tui.core.fleet_hosts import HostGroup
    from factory_tui.core.oplog import Event

__all__ = ["activity_lines", "host_header", "pane_lines", "process_line"]

RECENT_EVENTS = 3
WHY_LINES = 3


def _mib(rss: int | None) -> str:
    return "mem —" if rss is None else f"mem {rss / (1 << 20):.0f} MiB"


def process_line(view: InstanceView) -> Content:
    host = lit(view.host) if view.host else "this host"
    parts: list[str | tuple[str, str] | Content] = [("host ", "$text-muted"), host, "  "]
    if view.pid is None:
        parts.append(
            ("no pid: owns no claim" if not view.claims else "no pid recorded", "$text-muted")
        )
    elif view.alive is None:
        parts.extend([f"pid {view.pid} ", ("? on another host: not checked", "$text-muted")])
    elif view.alive:
        cpu = "cpu —" if view.cpu_percent is None else f"cpu {view.cpu_percent:.1f}%"
        parts.extend(
            [
                f"pid {view.pid} ",
                ("alive", "bold $agent-working"),
                (f"  {cpu}  {_mib(view.rss_bytes)}", "$text-muted"),
            ]
        )
    else:
        parts.extend([f"pid {view.pid} ", ("✗ DEAD", "bold reverse $agent-dead")])
    return Content.assemble(*parts)


def _wrap(label: str, text: str, width: int, lines: int, style: str = "") -> list[Content]:
    """``label`` then ``text`` wrapped under itself, at most ``lines`` lines."""
    room = max(10, width - len(label))
    chunks = textwrap.wrap(text, room) or [""]
    if len(chunks) > lines:
        chunks = [*chunks[: lines - 1], clip(" ".join(chunks[lines - 1 :]), room)]
    out = [Content.assemble(label, (chunks[0], style))]
    out.extend(Content.assemble(" " * len(label), (chunk, style)) for chunk in chunks[1:])
    return out


def _skipped(event: Event, view: InstanceView) -> tuple[str, ...]:
    """Fields a pane need not repeat: the instance (it is the pane's) and its current task."""
    if event.fields.get("task") == view.task:
        return ("instance", "task")
    return ("instance",)


def activity_lines(activity: AgentActivity, now: datetime) -> list[Content]:
    """What the agent's transcript says (issue 13): its current tool call and age (else its last
    words), then its context fill (flagged from 60 %) and todo list counts. Literal text."""
    lines: list[Content] = []
    doing = activity.activity_line(now)
    if doing:
        lines.append(Content.assemble(("doing  ", "$text-muted"), doing))
    fill = activity.fill_text()
    parts: list[str | tuple[str, str]] = []
    if fill:
        parts.append((fill, "bold $warning") if activity.fill_flagged else fill)
    if activity.todos:
        done, in_progress, pending = activity.todo_counts()
        todo = f"todo {done}✓ {in_progress}▶ {pending}·"
        parts.append(f"  {todo}" if parts else todo)
    if parts:
        lines.append(Content.assemble(*parts))
    return lines


def pane_lines(
    view: InstanceView, now: datetime, width: int, spend: Content | None = None
) -> list[Content]:
    """The lines of one agent's pane at ``width`` cells (without the border); ``spend``: the
    agent's spend line (issue 6), once the transcripts are read."""
    width = max(20, width)
    word, _style = AGENT_BADGES.get(view.status, (view.status.upper(), ""))
    lines: list[Content] = []
    room = WHY_LINES + 1 if view.status in ("crashed", "stale", "waiting") else WHY_LINES - 1
    why_lines = _wrap(" " * (len(word) + 2), lit(view.why), width, room)
    lines.append(
        Content.assemble(badge(AGENT_BADGES, view.status), "  ", why_lines[0].plain.lstrip())
    )
    lines.extend(why_lines[1:])
    for conflict in view.conflicts:
        lines.extend(_wrap("⚡ ", "conflicting evidence: " + lit(conflict), width, 2, "$warning"))
    lines.append(process_line(view))
    if spend is not None:
        lines.append(spend)
    if view.activity is not None:
        lines.extend(activity_lines(view.activity, now))
    lines.append(
        Content.assemble(
            ("task   ", "$text-muted"),
            lit(view.task) if view.task else ("—", "$text-muted"),
        )
    )
    lines.append(
        Content.assemble(
            ("branch ", "$text-muted"),
            lit(view.branch) if view.branch else ("—", "$text-muted"),
        )
    )
    step = Content.assemble(
        ("step   ", "$text-muted"), step_row(view.step, view.step_index, view.step_state)
    )
    if view.step_since:
        step = Content.assemble(step, (f" · {since(now, view.step_since)} in step", "$text-muted"))
    lines.append(step)
    claims = ", ".join(lit(c) for c in view.claims) or "none"
    lines.append(
        Content.assemble(
            ("claims ", "$text-muted"),
            claims,
            ("  last activity ", "$text-muted"),
            ago(now, view.last_event_at),
        )
    )
    recent = list(view.recent)[-RECENT_EVENTS:]
    if recent:
        lines.extend(
            event_text(event, now, skip=_skipped(event, view)) for event in reversed(recent)
        )
    else:
        lines.append(Content.styled("no log events for this instance", "$text-muted"))
    return [line.truncate(width, ellipsis=True) for line in lines]


def host_header(group: HostGroup, shown: int) -> Content:
    """The line above one host's panes: its name (literal), how many agents, how its pids are
    checked."""
    total = len(group.instances)
    count = f"{shown} of {total}" if shown != total else str(total)
    return Content.assemble(
        (lit(group.name) or "?", "bold"),
        (" (this host)" if group.local else "", "$text-muted"),
        f" · {count} agent{'' if total == 1 else 's'}",
        (f" · {lit(group.checked)}", "$text-muted"),
    )
