"""The demo's shared state files: the claims, the crashed agent's checkpoint, plan.md and
memory.md, consistent with the story (but for one state-lint finding)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from factory_tui.core.timeparse import format_ts
from factory_tui.demo.cast import (
    ABANDONED_TICKET,
    IDLE_TICKET,
    KEPT_DONE,
    MEGA_ID,
    MEGA_TITLE,
    PHASE_1,
    PHASE_2,
    PHASE_3,
    PHASE_4,
    PHASE_5,
    REMOTE_TICKET,
    STALE_TICKET,
    Agent,
    Plan,
    Ticket,
)
from factory_tui.demo.story import checkpoint_name

__all__ = ["crashed_checkpoint", "demo_claims", "state_files"]

# -- claims, checkpoint, state files -------------------------------------------------------------


def _claimed_at(agent: Agent) -> datetime:
    marks = agent.marks
    if agent.live_start is not None:
        return agent.live_start
    if agent.role == "working":
        return marks["resume"]
    return marks["start"]


def _owner_fields(agent: Agent) -> dict[str, Any]:
    return {
        "owner": agent.instance,
        "pid": agent.pid,
        "claimed_at": format_ts(_claimed_at(agent)),
        "hostname": agent.host,
    }


def _free_fields(host: str | None) -> dict[str, Any]:
    return {"owner": None, "pid": None, "claimed_at": None, "hostname": host}


def demo_claims(plan: Plan, phase1_done: datetime) -> dict[str, dict[str, Any]]:
    working, crashed = plan.agent("working"), plan.agent("crashed")

    def phase(
        ticket: Ticket, holder: dict[str, Any], mode: str, deps: list[int], done: str | None
    ) -> dict[str, Any]:
        return {
            "id": ticket.phase,
            "name": ticket.title,
            "tickets": list(ticket.ticket_list),
            "owner": holder["owner"],
            "pid": holder["pid"],
            "claimed_at": holder["claimed_at"],
            "hostname": holder["hostname"],
            "branch": ticket.branch if holder["hostname"] else None,
            "mode": mode,
            "deps": deps,
            "completed_at": done,
        }

    claims: dict[str, dict[str, Any]] = {
        MEGA_ID: {
            "mega": MEGA_ID,
            "title": MEGA_TITLE,
            "created": format_ts(plan.mega_created),
            "component": "gateway",
            "phases": [
                phase(PHASE_1, _free_fields(plan.hostname), "parallel", [], format_ts(phase1_done)),
                phase(PHASE_2, _owner_fields(working), "parallel", [1], None),
                phase(PHASE_3, _owner_fields(crashed), "parallel", [1], None),
                {**phase(PHASE_4, _free_fields(None), "sequential", [2, 3], None), "estimate_h": 6},
                phase(PHASE_5, _free_fields(None), "parallel", [1], None),
            ],
        }
    }

    def standalone(ticket: Ticket, holder: dict[str, Any], done: str | None, **extra: Any) -> None:
        claims[ticket.id] = {
            "ticket": ticket.id,
            "title": ticket.title,
            **holder,
            "branch": ticket.branch,
            "completed_at": done,
            **extra,
        }

    for agent in plan.agents:
        if agent.role in ("idle", "stale", "remote") or (
            agent.role == "working" and agent.ticket is not PHASE_2
        ):
            extra = {"priority": "P2"} if agent.role == "idle" else {}
            standalone(agent.ticket, _owner_fields(agent), None, **extra)
        elif agent.role == "ended" and agent.ticket is not PHASE_1 and agent.flow is not None:
            done = format_ts(agent.flow.times()["end"])
            standalone(agent.ticket, _free_fields(agent.host), done)
    for role, ticket, flow in plan.history:
        if ticket.id == KEPT_DONE:
            standalone(ticket, _free_fields(plan.agent(role).host), format_ts(flow.times()["end"]))
    standalone(ABANDONED_TICKET, _free_fields(plan.hostname), None)
    return claims


def crashed_checkpoint(plan: Plan) -> tuple[str, dict[str, Any]]:
    agent = plan.agent("crashed")
    ticket = agent.ticket
    at = agent.marks["checkpoint"]
    data = {
        "task": ticket.task,
        "timestamp": format_ts(at, seconds=True),
        "branch": ticket.branch,
        "git_sha": agent.head[:7],
        "pr_number": None,
        "steps_completed": ["branch", "code", "quality-gate", "commit"],
        "steps_remaining": ["push", "pr-created", "ci", "merged", "cd-verified", "cleanup"],
        "context": {
            "component": "exporter",
            "files_modified": [ticket.file],
            "notes": "Phase 1 merged meanwhile: rebase onto main before the first push",
        },
        "progress": {
            "files_completed": [ticket.file],
            "files_remaining": ["tests/test_span_exporter.py", "docs/tracing.md"],
            "last_commit_message": f"{ticket.kind}: {ticket.title.lower()} ({ticket.id})",
            "decisions_made": [
                "batch spans by 512 or 5 s, whichever comes first",
                "on overflow drop the oldest spans and count the drops",
            ],
            "blockers": [],
        },
        "claimed_phase": {
            "mega_id": MEGA_ID,
            "phase_id": ticket.phase,
            "claim_file": f".claude/claims/{MEGA_ID}.json",
        },
    }
    return checkpoint_name(at, ticket.task), data


def state_files(plan: Plan, prs: Mapping[str, int]) -> tuple[str, str]:
    """plan.md and memory.md: consistent with the claims, but for one lint finding."""
    working, crashed = plan.agent("working"), plan.agent("crashed")
    stale, idle, remote = plan.agent("stale"), plan.agent("idle"), plan.by_role("remote")
    plan_lines = [
        "# Plan — tinygate",
        "",
        "Agents keep the markers current; `.claude/claims/` says who holds what.",
        "",
        f"## {MEGA_ID} — {MEGA_TITLE}",
        "",
        f"- [~] **{MEGA_ID}** {MEGA_TITLE}",
        f"  - [x] **Phase 1** (parallel) [owner: —] {PHASE_1.title} — CAB-1350, CAB-1351",
        f"  - [~] **Phase 2** (parallel) [owner: {working.instance}] {PHASE_2.title} — CAB-1352",
        f"  - [~] **Phase 3** (parallel) [owner: {crashed.instance}] {PHASE_3.title} — CAB-1353",
        f"  - [!] **Phase 4** (sequential) [owner: —] {PHASE_4.title} — CAB-1355, CAB-1356"
        " (after 2 and 3)",
        f"  - [ ] **Phase 5** (parallel) [owner: —] {PHASE_5.title} — CAB-1357",
        "",
        "## Standalone tickets",
        "",
    ]
    in_progress = [
        f"- CAB-1352 {PHASE_2.title} ({MEGA_ID} phase 2) — {working.instance} on {PHASE_2.branch}",
        f"- CAB-1353 {PHASE_3.title} ({MEGA_ID} phase 3) — {crashed.instance} on {PHASE_3.branch}",
        "  - Exporter retry budget — DONE",
    ]
    done = [
        f"- CAB-1350, CAB-1351 {PHASE_1.title} ({MEGA_ID} phase 1) — PR #{prs[PHASE_1.id]} merged",
    ]
    standalone: list[tuple[str, Ticket, str]] = []
    for _role, ticket, _flow in plan.history:
        if ticket.id == KEPT_DONE:
            standalone.append(("x", ticket, f"PR #{prs[ticket.id]} merged"))
    standalone.append(("~", STALE_TICKET, f"{stale.instance}, PR #{stale.pr}: CI red twice"))
    standalone.append(("~", IDLE_TICKET, f"{idle.instance} on {IDLE_TICKET.branch}"))
    if remote is not None:
        standalone.append(("~", REMOTE_TICKET, f"{remote.instance} on {plan.remote_host}"))
    for agent in plan.agents:
        if agent.role == "working" and agent.ticket is not PHASE_2:
            standalone.append(("~", agent.ticket, f"{agent.instance} on {agent.ticket.branch}"))
        elif agent.role == "ended" and agent.ticket is not PHASE_1:
            standalone.append(("x", agent.ticket, f"PR #{prs[agent.ticket.id]} merged"))
    standalone.append((" ", ABANDONED_TICKET, "abandoned once, start from main"))
    for mark, ticket, note in standalone:
        plan_lines.append(f"- [{mark}] {ticket.id} {ticket.title}")
        entry = f"- {ticket.id} {ticket.title} — {note}"
        if mark == "x":
            done.append(entry)
        elif mark == "~":
            in_progress.append(entry)
    memory_lines = [
        "# Memory — tinygate",
        "",
        "Shared state between sessions, kept short: what is on, what is next, what is finished.",
        "",
        "## 🔴 IN PROGRESS",
        "",
        *in_progress,
        "",
        "## 📋 NEXT",
        "",
        f"- CAB-1357 {PHASE_5.title} ({MEGA_ID} phase 5) — free, deps done",
        f"- {ABANDONED_TICKET.id} {ABANDONED_TICKET.title} — abandoned once, start from main",
        "",
        "## ✅ DONE",
        "",
        *done,
        "",
        "## 🚫 BLOCKED",
        "",
        f"- CAB-1355, CAB-1356 {PHASE_4.title} ({MEGA_ID} phase 4) — waits for phases 2 and 3",
        "",
    ]
    return "\n".join(plan_lines) + "\n", "\n".join(memory_lines)
