"""The fleet as plain readable text (``factory-tui status``), with Rich but no Textual.

Agent-written values are wrapped in ``Text`` objects, so markup in a title stays characters, and
control characters are made visible.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from factory_tui.core.failon import lint_part
from factory_tui.core.fleet import Fleet
from factory_tui.core.safe import printable

__all__ = ["lint_part", "render_status"]


def _t(value: object) -> Text:
    """A cell: agent text made printable, on one line (a newline in an id shows as ``\\n``)."""
    return Text(printable("" if value is None else str(value), multiline=False))


def render_status(fleet: Fleet, out: TextIO, *, width: int | None = None) -> None:
    console = Console(
        file=out, width=width or 140, no_color=True, highlight=False, emoji=False, markup=False
    )
    c = fleet.counts
    console.print(
        _t(
            f"factory {fleet.root} at {fleet.generated_at:%Y-%m-%d %H:%M} — agents: "
            f"{c.get('agents_working', 0)} working, {c.get('agents_idle', 0)} idle, "
            f"{c.get('agents_stale', 0)} stale, {c.get('agents_crashed', 0)} crashed; claims: "
            f"{c.get('claims_available', 0)} available, {c.get('claims_claimed', 0)} claimed, "
            f"{c.get('claims_stale', 0)} stale, {c.get('claims_blocked', 0)} blocked; "
            f"sessions crashed: {c.get('sessions_crashed', 0)}; "
            f"problems: {c.get('problems', 0)}{lint_part(c)}"
        )
    )
    agents = Table(title="Agents", title_justify="left", expand=True)
    for name, widest in (
        ("agent", 14),
        ("status", 8),
        ("host", 14),
        ("pid", 11),
        ("task", 22),
        ("step", 12),
        ("last event", 16),
    ):
        agents.add_column(name, overflow="fold", max_width=widest)
    agents.add_column("why", overflow="fold", ratio=1, min_width=50)
    for i in fleet.instances:
        pid = (
            ""
            if i.pid is None
            else f"{i.pid} {'alive' if i.alive else 'dead' if i.alive is False else '?'}"
        )
        agents.add_row(
            _t(i.id),
            _t(i.status.upper()),
            _t(i.host),
            _t(pid),
            _t(i.task),
            _t(i.step),
            _t(i.last_event_at),
            _t(i.why + ("; " + "; ".join(i.conflicts) if i.conflicts else "")),
        )
    console.print(agents)
    claims = Table(title="Claims", title_justify="left", expand=True)
    for name, widest in (("claim", 14), ("state", 9), ("owner", 14), ("title", 36)):
        claims.add_column(name, overflow="fold", max_width=widest)
    claims.add_column("why", overflow="fold", ratio=1, min_width=50)
    for cl in fleet.claims:
        title = cl.title if cl.unit.phase is None else f"{cl.title} / {cl.unit.name}"
        claims.add_row(_t(cl.key), _t(cl.state.upper()), _t(cl.unit.owner), _t(title), _t(cl.why))
    console.print(claims)
    sessions = [s for s in fleet.sessions if s.status != "ended"]
    if sessions:
        table = Table(title="Open sessions", title_justify="left", expand=True)
        for name in ("task", "instance", "status", "started", "last step"):
            table.add_column(name, overflow="fold")
        table.add_column("why", overflow="fold", ratio=1, min_width=40)
        for s in sessions:
            table.add_row(
                _t(s.task),
                _t(s.instance),
                _t(s.status.upper()),
                _t(s.started_at),
                _t(s.last_step),
                _t(s.why),
            )
        console.print(table)
    if fleet.problems or fleet.lint:
        table = Table(title="Problems", title_justify="left", expand=True)
        table.add_column("where", overflow="fold")
        table.add_column("what", overflow="fold")
        for p in fleet.problems:
            table.add_row(_t(p.where()), _t(p.message))
        for f in fleet.lint:
            table.add_row(_t(f"{f.file}:{f.line}"), _t(f.message))
        console.print(table)
