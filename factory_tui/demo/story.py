"""The demo's logs: every ``operations.log`` and ``metrics.log`` line the cast's day (and the days
before) leaves, in the order they sort by."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from factory_tui.core.oplog import format_event
from factory_tui.core.timeparse import format_ts, utc_naive
from factory_tui.demo.cast import (
    ABANDONED_TICKET,
    MEGA_ID,
    PHASE_1,
    Agent,
    Flow,
    Plan,
    Ticket,
    mins,
)
from factory_tui.demo.repo import GitFacts

__all__ = ["Story", "checkpoint_name"]

_MODEL = "claude-sonnet-4-5"

# -- the logs ------------------------------------------------------------------------------------


class _Lines:
    """Log lines with the time they sort by; ``ts`` overrides the written timestamp (wild forms)."""

    def __init__(self, tz: tzinfo, *, utc: bool = False) -> None:
        self.items: list[tuple[datetime, int, str]] = []
        self.tz = tz
        """The zone the naive times given to :meth:`add` are in."""
        self.utc = utc
        """metrics.log is written in UTC without a marker (``date -u``), operations.log in local
        time (FORMATS.md)."""

    def add(self, at: datetime, name: str, /, *, ts: str | None = None, **fields: object) -> None:
        if ts is None:
            ts = format_ts(utc_naive(at, self.tz) if self.utc else at)
        line = format_event(ts, name, [(k, str(v)) for k, v in fields.items()])
        self.items.append((at, len(self.items), line))

    def ordered(self) -> list[tuple[datetime, str]]:
        return [(at, line) for at, _, line in sorted(self.items)]


def _wild(at: datetime, form: str) -> str:
    """A timestamp as agents in the wild write it: with seconds, or with a ``Z``."""
    if form == "seconds":
        return format_ts(at.replace(second=(at.minute * 7 + 13) % 60), seconds=True)
    return format_ts(at) + "Z"


def checkpoint_name(at: datetime, task: str) -> str:
    return f"{format_ts(at).replace(':', '-')}-{task}.json"


class Story:
    """Writes every agent's day (and the days before) as operations.log and metrics.log lines."""

    def __init__(self, plan: Plan, git: GitFacts, tz: tzinfo) -> None:
        self.plan = plan
        self.git = git
        self.log = _Lines(tz)
        self.metrics = _Lines(tz, utc=True)
        self._tokens = itertools.cycle(plan.token_draws)
        self.phase1_done: datetime | None = None
        self._days: dict[str, Callable[[Agent], None]] = {
            "working": self._working,
            "idle": self._idle,
            "crashed": self._crashed,
            "stale": self._stale,
            "ended": self._ended,
            "remote": self._remote,
        }

    def spend(self, at: datetime, agent: Agent, task: str) -> None:
        tokens_in = next(self._tokens) * 1000
        tokens_out = next(self._tokens) * 100
        cache_read = next(self._tokens) * 5000
        cost = tokens_in * 3e-6 + tokens_out * 15e-6 + cache_read * 0.3e-6
        self.metrics.add(
            at,
            "TOKEN-SPEND",
            instance=agent.instance,
            task=task,
            model=_MODEL,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
            cost_usd=f"{cost:.2f}",
        )

    def claim(self, at: datetime, agent: Agent, ticket: Ticket, *, again: bool = False) -> None:
        """A CLAIM line; ``again`` for an owner re-claiming (new pid), not a new phase claim."""
        self.log.add(
            at,
            "CLAIM",
            task=ticket.claim_task,
            phase=ticket.phase_field,
            instance=agent.instance,
            tickets=",".join(ticket.ticket_list),
        )
        if ticket.mega is not None and not again:
            self.metrics.add(
                at, "PHASE-CLAIMED", task=ticket.mega, phase=ticket.phase, instance=agent.instance
            )

    def start(self, at: datetime, agent: Agent, ticket: Ticket, **extra: str) -> None:
        self.log.add(
            at,
            "SESSION-START",
            task=ticket.task,
            branch=ticket.branch,
            instance=agent.instance,
            **extra,
        )

    def flow(
        self,
        agent: Agent,
        ticket: Ticket,
        flow: Flow,
        *,
        head: str | None,
        wild: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A ticket from claim to merge and release; ``wild`` = (step, timestamp form) pairs."""
        t = flow.times()
        forms = dict(wild)
        task, log = ticket.task, self.log

        def step(key: str, name: str, step_name: str, **extra: object) -> None:
            form = forms.get(step_name)
            ts = _wild(t[key], form) if form and name == "STEP-DONE" else None
            log.add(t[key], name, ts=ts, step=step_name, task=task, **extra)

        self.start(t["start"], agent, ticket)
        self.claim(t["start"], agent, ticket)
        step("branch", "STEP-DONE", "branch", branch=ticket.branch)
        step("code_start", "STEP-START", "code")
        if flow.crash is not None:
            log.add(
                t["error"],
                "ERROR",
                task=task,
                error="context-exhausted",
                step="code",
                detail="context window exhausted mid-refactor",
            )
            log.add(t["recover"], "RECOVERY", task=task, action="resume", from_step="code")
            self.start(t["recover"], agent, ticket, recovered_from=task)
            log.add(
                t["recover"],
                "SESSION-END",
                task=task,
                status="crashed",
                recovered_by=agent.instance,
            )
            log.add(
                t["recover"], "STEP-START", step="code", task=task, detail="resumed after a crash"
            )
        step("code_done", "STEP-DONE", "code", component=ticket.component)
        step("quality", "STEP-DONE", "quality-gate")
        if head:
            step("commit", "STEP-DONE", "commit", sha=head[:7])
        else:
            step("commit", "STEP-DONE", "commit")
        step("push", "STEP-DONE", "push", branch=ticket.branch)
        step("pr", "STEP-DONE", "pr-created", pr=flow.pr, branch=ticket.branch)
        step("ci_start", "STEP-START", "ci", pr=flow.pr)
        step("ci_done", "STEP-DONE", "ci", pr=flow.pr, duration_s=flow.ci * 60)
        log.add(
            t["checkpoint"], "CHECKPOINT", task=task, file=checkpoint_name(t["checkpoint"], task)
        )
        merge = self.git.merges.get(ticket.id, "")
        step("merged", "STEP-DONE", "merged", pr=flow.pr, sha=merge[:7])
        self.metrics.add(t["merged"], "PR-MERGED", task=task, pr=flow.pr, mode="show")
        step("cd", "STEP-DONE", "cd-verified")
        step("cleanup", "STEP-DONE", "cleanup")
        log.add(
            t["end"],
            "RELEASE",
            task=ticket.claim_task,
            phase=ticket.phase_field,
            instance=agent.instance,
            reason="done",
        )
        if ticket.mega is not None:
            self.metrics.add(
                t["end"],
                "PHASE-COMPLETED",
                task=ticket.mega,
                phase=ticket.phase,
                instance=agent.instance,
            )
        if ticket is PHASE_1:
            self.phase1_done = t["end"]
        self.spend(t["end"], agent, task)
        log.add(t["end"], "SESSION-END", task=task, status="success", pr=flow.pr)

    # -- the days before today (operations.log.1) ---------------------------------------------

    def history(self) -> None:
        plan = self.plan
        for index, (role, ticket, flow) in enumerate(plan.history):
            wild: tuple[tuple[str, str], ...] = ()
            if index == 0:
                wild = (
                    ("branch", "seconds"),
                    ("quality-gate", "seconds"),
                    ("push", "Z"),
                    ("cd-verified", "Z"),
                )
            elif index == 1:
                wild = (("code", "seconds"), ("cleanup", "seconds"))
            self.flow(plan.agent(role), ticket, flow, head=None, wild=wild)
        # The stale agent's earlier ticket: it crashed, and was abandoned the next hour.
        agent, ticket, flow = plan.agent("stale"), ABANDONED_TICKET, plan.abandoned
        t0 = flow.start
        task = ticket.task
        self.start(t0, agent, ticket)
        self.claim(t0, agent, ticket)
        self.log.add(t0 + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        self.log.add(t0 + mins(2), "STEP-START", step="code", task=task)
        crash = t0 + mins(2 + flow.code)
        self.log.add(
            crash,
            "ERROR",
            task=task,
            error="merge-conflict",
            step="code",
            detail="rebase onto main stopped: 41 conflicting files",
        )
        later = crash + mins(55)
        self.log.add(
            later,
            "RECOVERY",
            task=task,
            action="abandon",
            reason="branch diverged from main; start over",
        )
        self.log.add(
            later, "RELEASE", task=ticket.id, phase="-", instance=agent.instance, reason="abandoned"
        )
        self.log.add(later, "SESSION-END", task=task, status="crashed", recovered_by=agent.instance)
        self.spend(later, agent, task)

    # -- today ---------------------------------------------------------------------------------

    def today(self) -> None:
        for agent in self.plan.agents:
            if agent.flow is not None:
                ticket = PHASE_1 if agent.role == "working" else agent.ticket
                self.flow(
                    agent, ticket, agent.flow, head=agent.head if agent.role == "ended" else None
                )
            self._days[agent.role](agent)

    def _working(self, agent: Agent) -> None:
        T, marks, ticket, log = self.plan.now, agent.marks, agent.ticket, self.log
        task = ticket.task
        p0, p1 = marks["paused_start"], marks["paused_end"]
        self.start(p0, agent, ticket)
        self.claim(p0, agent, ticket)
        log.add(p0 + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(p0 + mins(2), "STEP-START", step="code", task=task)
        log.add(
            p1 - mins(2),
            "CONTEXT-COMPACT",
            task=task,
            instance=agent.instance,
            tokens_before=180000 + agent.jitter[3] * 1000,
            tokens_after=41000,
        )
        self.spend(p1 - mins(1), agent, task)
        log.add(p1, "SESSION-END", task=task, status="paused")
        # The current session: with a live stub it starts at the stub's start minute.
        resume = agent.live_start or marks["resume"]
        self.start(resume, agent, ticket)
        self.claim(resume, agent, ticket, again=True)
        log.add(
            resume, "STEP-START", step="code", task=task, detail="resume after context compaction"
        )
        if T - resume >= mins(10):
            log.add(
                resume + (T - resume) * 0.6,
                "STEP-DONE",
                step="code",
                task=task,
                component=ticket.component,
            )
            # Within the demo's 2 m idle threshold (factory.toml): it reads as working.
            log.add(T - mins(1), "STEP-START", step="quality-gate", task=task)

    def _idle(self, agent: Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, last = ticket.task, marks["start"], marks["last"]
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + mins(2), "STEP-START", step="code", task=task)
        log.add(last - mins(4), "STEP-DONE", step="code", task=task, component="portal")
        log.add(
            last,
            "STEP-START",
            step="quality-gate",
            task=task,
            detail="waiting for an answer: which ToS URL, /legal/terms or /tos?",
        )

    def _crashed(self, agent: Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, code_done = ticket.task, marks["start"], marks["code_done"]
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        loser = self.plan.by_role("idle")
        if loser is not None:
            self.metrics.add(
                start,
                "CLAIM-CONFLICT",
                task=MEGA_ID,
                phase=ticket.phase,
                winner=agent.instance,
                loser=loser.instance,
            )
        log.add(start + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + mins(2), "STEP-START", step="code", task=task)
        log.add(code_done, "STEP-DONE", step="code", task=task, component="exporter")
        log.add(code_done + mins(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(code_done + mins(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        at = marks["checkpoint"]
        log.add(at, "CHECKPOINT", task=task, file=checkpoint_name(at, task))
        log.add(
            at + mins(1),
            "STEP-START",
            step="push",
            task=task,
            detail="rebase onto main before the push",
        )
        self.metrics.add(
            at + mins(2),
            "STATE-DRIFT",
            file="memory.md",
            detail="an item marked DONE under IN PROGRESS",
            instance=agent.instance,
        )
        self.spend(at + mins(1), agent, task)

    def _stale(self, agent: Agent) -> None:
        marks, ticket, log = agent.marks, agent.ticket, self.log
        task, start, code_done = ticket.task, marks["start"], marks["code_done"]
        pr = agent.pr
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + mins(2), "STEP-START", step="code", task=task)
        log.add(code_done, "STEP-DONE", step="code", task=task, component="webhooks")
        log.add(code_done + mins(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(code_done + mins(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        log.add(code_done + mins(4), "STEP-DONE", step="push", task=task, branch=ticket.branch)
        log.add(
            code_done + mins(6),
            "STEP-DONE",
            step="pr-created",
            task=task,
            pr=pr,
            branch=ticket.branch,
        )
        log.add(code_done + mins(7), "STEP-START", step="ci", task=task, pr=pr)
        first = code_done + mins(22)
        log.add(
            first,
            "ERROR",
            task=task,
            error="ci-failed",
            step="ci",
            detail="test_webhook_retry timed out",
        )
        self.metrics.add(first + mins(1), "CI-FIX", task=task, pr=pr, attempt=1, result="failed")
        log.add(first + mins(2), "STEP-START", step="ci", task=task, pr=pr, detail="re-run 2/3")
        second = first + mins(17)
        log.add(second, "ERROR", task=task, error="ci-failed", step="ci", detail="timed out again")
        self.metrics.add(second + mins(1), "CI-FIX", task=task, pr=pr, attempt=2, result="failed")
        self.spend(second + mins(1), agent, task)
        log.add(second + mins(2), "SESSION-END", task=task, status="paused", pr=pr)

    def _ended(self, agent: Agent) -> None:
        """Its whole day is the finished flow written by :meth:`today`."""

    def _remote(self, agent: Agent) -> None:
        T, marks, ticket, log = self.plan.now, agent.marks, agent.ticket, self.log
        task, start, paused, resume = (
            ticket.task,
            marks["start"],
            marks["paused_end"],
            marks["resume"],
        )
        pr = agent.pr
        self.start(start, agent, ticket)
        self.claim(start, agent, ticket)
        log.add(start + mins(1), "STEP-DONE", step="branch", task=task, branch=ticket.branch)
        log.add(start + mins(2), "STEP-START", step="code", task=task)
        log.add(paused - mins(5), "STEP-DONE", step="code", task=task, component="deploy")
        self.spend(paused - mins(1), agent, task)
        log.add(paused, "SESSION-END", task=task, status="paused")
        self.start(resume, agent, ticket)
        log.add(resume + mins(2), "STEP-DONE", step="quality-gate", task=task)
        log.add(resume + mins(3), "STEP-DONE", step="commit", task=task, sha=agent.head[:7])
        log.add(resume + mins(4), "STEP-DONE", step="push", task=task, branch=ticket.branch)
        log.add(
            resume + mins(6), "STEP-DONE", step="pr-created", task=task, pr=pr, branch=ticket.branch
        )
        log.add(resume + mins(7), "STEP-START", step="ci", task=task, pr=pr)
        log.add(T - mins(8), "STEP-DONE", step="ci", task=task, pr=pr)
        log.add(
            T - mins(1),  # within the demo's 2 m idle threshold: still working at ``now``
            "STEP-START",
            step="merged",
            task=task,
            pr=pr,
            detail="waiting for review (Ask: infra)",
        )
