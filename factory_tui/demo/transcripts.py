"""Claude Code transcripts for the demo factory, so its cockpit shows what each agent spends.

``write_demo_transcripts(root, hostname=...)`` reads the demo's operations log and claims and
writes, for every session of an agent running on this host, the transcript Claude Code would have
written: ``<root>/.factory/claude/projects/<encoded worktree>/<session>.jsonl`` (plus one
subagent's file), one model response every minute or so of the session, as Claude Code writes
them (UTC timestamps, the worktree as ``cwd``, the branch as ``gitBranch``, some responses
streamed as two lines with the same ids). It then points ``claude_config_dir`` at that folder in
the demo's ``factory.toml`` and sets a daily and a per-agent budget, so the demo never reads
``~/.claude``.

The output is a function of the log, the claims, ``hostname`` and ``root`` (the transcripts name
their worktree by its absolute path, as Claude Code does): no clock, no global random. A remote
agent's transcripts live on its own machine, so it has none here.

The live side (the simulator's agents appending to their session's file as they work) is
:mod:`factory_tui.demo.live_transcript`; the lines themselves are written by
:mod:`factory_tui.demo.transcript_writer`.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from factory_tui.config import Config, encode_project_path, load_config
from factory_tui.core.claims import parse_claim
from factory_tui.core.fleet_claims import same_host
from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo.transcript_writer import (
    MODEL,
    SUBAGENT_MODEL,
    DemoSession,
    TranscriptWriter,
    demo_session_id,
    short_hash,
    todos,
)

__all__ = [
    "DEMO_AGENT_BUDGET_USD",
    "DEMO_CLAUDE_DIR",
    "DEMO_DAILY_BUDGET_USD",
    "demo_sessions",
    "write_demo_transcripts",
]

DEMO_CLAUDE_DIR = ".factory/claude"
DEMO_DAILY_BUDGET_USD = 30.0
DEMO_AGENT_BUDGET_USD = 10.0
#: One model response about every this many seconds of a session.
RESPONSE_EVERY_S = 50

_TOML_ADDITION = f"""\
# Claude Code's transcripts of the demo's agents (the cost view reads them) are inside the demo
# too, and the budgets are the demo's.
claude_config_dir = "{DEMO_CLAUDE_DIR}"
daily_budget_usd = {DEMO_DAILY_BUDGET_USD:.0f}
agent_budget_usd = {DEMO_AGENT_BUDGET_USD:.0f}
"""


def _events(path: Path) -> list[Event]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[Event] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parsed = parse_line(line, number, path.name)
        if isinstance(parsed, Event):
            out.append(parsed)
    return out


def _config(root: Path) -> Config:
    return load_config(root, flags={}, env={}, user_config=root / ".no-user-config.toml")


def _claim_hosts(root: Path) -> dict[str, set[str | None]]:
    """The hosts each agent's claims name, by agent (an agent with no claim is not there)."""
    hosts: dict[str, set[str | None]] = {}
    for path in sorted(_config(root).claims_dir.glob("*.json")):
        claim, _problems = parse_claim(str(path), path.read_bytes())
        for unit in claim.units if claim is not None else ():
            if unit.owner:
                hosts.setdefault(unit.owner, set()).add(unit.hostname)
    return hosts


def demo_sessions(root: Path, hostname: str) -> list[DemoSession]:
    """The sessions of the demo's log whose agent runs on ``hostname`` (an agent whose claims
    all name another host runs there), oldest first."""
    config = _config(root)
    fold = LogFold()
    fold.feed_all(_events(config.log_history_file))
    fold.feed_all(_events(config.log_file))
    hosts = _claim_hosts(root)
    out: list[DemoSession] = []
    for rec in fold.sessions:
        if rec.instance is None:
            continue
        seen = hosts.get(rec.instance)
        if seen and not any(same_host(host, hostname) for host in seen):
            continue
        start = parse_ts(rec.started_at)
        end = parse_ts(rec.ended_at or rec.last_event_at or rec.started_at)
        if start is None or end is None or end <= start:
            continue
        out.append(DemoSession(rec.instance, rec.task, rec.branch, start, end))
    out.sort(key=lambda s: (s.start, s.instance))
    return out


#: How much a closed session's context grows over it (tokens); it ends near 62 % of 200k.
_GROWTH = 110_000
#: The most recently active agent's current session: it ends near 70 %, past the ⚠ mark (60 %).
_GROWTH_FULL = 126_000
#: The other agents' current sessions: they end between about 28 % and 45 %, below the mark.
_GROWTH_LOW = (36_000, 70_000)


def _growths(sessions: list[DemoSession], claimers: set[str]) -> dict[DemoSession, int]:
    """How much the context grows over the current (last) session of each agent in
    ``claimers`` (those holding a claim: their panes show the fill): the most recently active
    one's nears 70 % (so the demo shows what the ⚠ mark means), the others' stay well below
    the mark. Every other session keeps ``_GROWTH`` (and so its spend)."""
    current: dict[str, DemoSession] = {}
    for session in sessions:  # oldest first: the last one of each agent stays
        if session.instance in claimers:
            current[session.instance] = session
    ranked = sorted(current.values(), key=lambda s: (s.end, s.start, s.instance), reverse=True)
    out: dict[DemoSession, int] = {}
    for n, session in enumerate(ranked):
        rng = random.Random(f"growth|{session.instance}|{session.start.isoformat()}")
        out[session] = _GROWTH_FULL if n == 0 else rng.randint(*_GROWTH_LOW)
    return out


def _session_lines(
    session: DemoSession,
    cwd: Path,
    session_id: str,
    *,
    sidechain: bool = False,
    growth: int = _GROWTH,
) -> list[str]:
    """The transcript of ``session``: its context grows by about ``growth`` tokens over it."""
    rng = random.Random(f"{session.instance}|{session.task}|{session.start.isoformat()}")
    writer = TranscriptWriter(session, cwd, session_id, sidechain)
    span = (session.end - session.start).total_seconds()
    count = max(2, int(span // RESPONSE_EVERY_S))
    model = SUBAGENT_MODEL if sidechain else MODEL
    # A subagent's file carries its parent's sessionId; its own responses have their own ids.
    tag = "sub-" if sidechain else ""
    writer.user(
        session.start, f"{tag}prompt", f"Work on {session.task}: read the claim, then code."
    )
    for n in range(count):
        at = session.start + timedelta(seconds=span * (n + 0.5) / count)
        at = at.replace(microsecond=rng.randrange(0, 1000) * 1000)
        usage = {
            "input": rng.randint(3, 40),
            "cache_write": 14_000 if n == 0 else rng.randint(600, 4_000),
            "cache_read": 0 if n == 0 else 14_000 + n * growth // count + rng.randint(0, 6_000),
            "output": rng.randint(90, 1_600),
        }
        tool = ("TodoWrite", {"todos": todos(0)}) if n == 0 and not sidechain else None
        tool_id = writer.response(at, f"{tag}r{n}", model, usage, streamed=n % 5 == 2, tool=tool)
        if n + 1 < count:
            writer.result(at + timedelta(seconds=3), f"{tag}t{n}", tool_id)
    return writer.lines


def write_demo_transcripts(root: Path, *, hostname: str) -> Path:
    """Write the transcripts of the demo at ``root`` and point its config at them; returns the
    Claude config folder written (``<root>/.factory/claude``)."""
    root = Path(root).resolve()
    claude = root / DEMO_CLAUDE_DIR
    projects = claude / "projects"
    projects.mkdir(parents=True, exist_ok=True)
    subagent_done = False
    sessions = demo_sessions(root, hostname)
    growths = _growths(sessions, set(_claim_hosts(root)))
    for session in sessions:
        tree = root / ".worktrees" / session.instance
        cwd = tree if tree.is_dir() else root
        session_id = demo_session_id(session.instance, session.task, session.start)
        folder = projects / encode_project_path(cwd)
        folder.mkdir(exist_ok=True)
        lines = _session_lines(session, cwd, session_id, growth=growths.get(session, _GROWTH))
        (folder / f"{session_id}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if not subagent_done and session.end - session.start >= timedelta(minutes=20):
            # One session delegated a search to a subagent: its own file, under the session.
            subagent_done = True
            helper = DemoSession(
                session.instance,
                session.task,
                session.branch,
                session.start + timedelta(minutes=5),
                session.start + timedelta(minutes=11),
            )
            sub = folder / session_id / "subagents"
            sub.mkdir(parents=True, exist_ok=True)
            sub_lines = _session_lines(helper, cwd, session_id, sidechain=True)
            name = f"agent-{short_hash(session_id, 'subagent', n=8)}.jsonl"
            (sub / name).write_text("\n".join(sub_lines) + "\n", encoding="utf-8")
    toml = root / "factory.toml"
    text = toml.read_text(encoding="utf-8") if toml.exists() else ""
    if "claude_config_dir" not in text:
        toml.write_text(text + ("\n" if text and not text.endswith("\n") else "") + _TOML_ADDITION)
    return claude
