"""What a simulated agent does to the demo factory's files, one act at a time: its
operations.log and metrics.log lines, its claims taken and completed under the lock protocol (by
:class:`~factory_tui.demo.simulate_claims.ClaimDesk`), its steps, commits, checkpoints, crash and
spend, and its Claude Code side (the transcript it appends to, the permission it asks for).

The :class:`~factory_tui.demo.simulate.Simulator` decides which agent acts when; this module
does the act.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
from collections import deque
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from factory_tui.adapters.lock import append_line, atomic_write
from factory_tui.config import Config
from factory_tui.core.timeparse import format_ts, parse_ts, utc_naive
from factory_tui.demo.agent_git import AgentGit
from factory_tui.demo.live_transcript import LiveTranscript, StepWork
from factory_tui.demo.playbook import (
    ASK_WAIT_TICKS,
    Agent,
    Step,
    Ticket,
    checkpoint_data,
    commit_subject,
    event_line,
    ticket_of,
)
from factory_tui.demo.simulate_claims import ClaimDesk

__all__ = ["AgentActions"]

_MODEL = "claude-sonnet-4-5"


class AgentActions:
    """The acts of the simulator's agents on one factory. ``rng``, ``git``, ``claims`` and
    ``instances`` are the simulator's own (shared, so one seed still decides everything)."""

    def __init__(
        self,
        config: Config,
        *,
        tz: tzinfo,
        hostname: str,
        python: str,
        seed: int,
        rng: random.Random,
        git: AgentGit,
        claims: ClaimDesk,
        instances: set[str],
        claude_dir: Path | None,
    ) -> None:
        self.config = config
        self.root = config.root
        self.tz = tz
        self.hostname = hostname
        self.python = python
        self.seed = seed
        self._rng = rng
        self._git = git
        self._claims = claims
        self._instances = instances
        self._claude_dir = claude_dir
        """Where the agents' transcripts go; None (not inside ROOT): none are written."""
        self.pr = 400
        """The last PR number given out."""

    # -- the Claude Code side ----------------------------------------------------------------------

    def transcript(self, agent: Agent, ticket: Ticket, start: datetime) -> LiveTranscript | None:
        """The transcript of ``agent``'s session on ``ticket`` that started at ``start`` (its
        SESSION-START time), where ``write_demo_transcripts`` puts it; None when the factory's
        Claude folder is not the demo's own."""
        if self._claude_dir is None:
            return None
        root = self.root.resolve()
        cwd = root / ".worktrees" / agent.instance if agent.worktree is not None else root
        return LiveTranscript(
            self._claude_dir,
            instance=agent.instance,
            task=ticket.task,
            branch=ticket.branch,
            start=start,
            cwd=cwd,
            seed=self.seed,
        )

    def converse(self, agent: Agent, step: Step, kind: str, name: str) -> None:
        """The model responses behind the action just logged, appended to the transcript; the
        session's transcript ends with its release."""
        transcript = agent.transcript
        ticket = agent.ticket
        if transcript is None:
            return
        if kind == "release":
            agent.transcript = None
        work = StepWork(
            kind=kind,
            step=name,
            file=ticket.file if ticket is not None else "",
            pr=agent.pr,
            target=str(agent.checkpoint) if kind == "checkpoint" and agent.checkpoint else None,
        )
        transcript.work(agent.last_acted, step.now, work)

    def ask(self, agent: Agent, step: Step) -> None:
        """The agent asks permission for a merge and waits: its transcript gets the tool call
        (no result), and Claude Code's PermissionRequest hook runs the real ``factory-tui hook``,
        which logs ``AGENT-WAITING``. Its next action (after ``ASK_WAIT_TICKS``) ends the wait."""
        command = f"gh pr merge {agent.pr or ''} --squash --delete-branch".replace("  ", " ")
        tool_input = {"command": command, "description": "Squash-merge the PR"}
        if agent.transcript is not None:
            agent.transcript.ask(step.now, "Bash", tool_input)
        cwd = self.root / ".worktrees" / agent.instance
        event = {
            "session_id": agent.transcript.session_id if agent.transcript else "",
            "transcript_path": str(agent.transcript.path) if agent.transcript else "",
            "cwd": str(cwd if cwd.is_dir() else self.root),
            "permission_mode": "default",
            "hook_event_name": "PermissionRequest",
            "tool_name": "Bash",
            "tool_input": tool_input,
        }
        argv = [self.python, "-m", "factory_tui", "hook", str(self.root)]
        argv += ["--instance", agent.instance, "--log", str(self.config.log_file)]
        argv += ["--now", step.now.isoformat(timespec="seconds")]
        try:
            subprocess.run(  # argv, never a shell
                argv, input=json.dumps(event), text=True, capture_output=True, timeout=60
            )
        except (OSError, subprocess.SubprocessError) as error:
            step.said.append(f"{agent.instance}: the hook did not run: {error}")
            return
        step.said.append(
            f"{agent.instance} asks permission to run `{command}` and waits for you "
            f"(the demo answers in {ASK_WAIT_TICKS} ticks)"
        )

    # -- log lines, ownership ----------------------------------------------------------------------

    def task(self, agent: Agent) -> str:
        return agent.ticket.task if agent.ticket is not None else "-"

    def _log(self, at: Step, name: str, /, **fields: object) -> None:
        """One operations.log line, in one O_APPEND write."""
        append_line(self.config.log_file, event_line(at, name, fields))

    def _metric(self, at: Step, name: str, /, **fields: object) -> None:
        """metrics.log is written in UTC without a marker, as the hooks' ``date -u`` does."""
        utc = Step(utc_naive(at.now, self.tz), format_ts(utc_naive(at.now, self.tz)))
        append_line(self.config.metrics_file, event_line(utc, name, fields))

    def still_owner(self, agent: Agent, step: Step) -> bool:
        """Does the claim file still name this agent? If someone released or took it (the
        engineer, say), the agent logs the loss, ends its session and (False) looks for other
        work after a pause the caller gives it."""
        ticket = agent.ticket
        if ticket is None:
            return True
        unit = self._claims.read_unit(ticket)
        if unit is not None and unit.owner == agent.instance:
            return True
        holder = unit.owner if unit is not None else None
        detail = f"{ticket.key} now owned by {holder}" if holder else f"{ticket.key} was released"
        self._log(step, "ERROR", task=ticket.task, error="claim-lost", detail=detail)
        self._log(step, "SESSION-END", task=ticket.task, status="paused")
        step.said.append(f"{agent.instance} lost {ticket.key} ({detail}); it ends its session")
        self._claims.taken.discard(ticket.key)
        agent.ticket = None
        agent.transcript = None
        agent.pr = None
        agent.plan = deque([("next", "")]) if agent.role != "crasher" else deque()
        if not agent.plan:
            agent.stopped = True
        return False

    # -- claims, under the lock protocol -----------------------------------------------------------

    def _claimed_at(self, agent: Agent, step: Step) -> str:
        """Not before the agent's process started (minute precision, as the protocol writes)."""
        when = step.now
        if agent.started is not None and (agent.claims == 0 or agent.started > when):
            when = agent.started
        return format_ts(when)

    def take(self, agent: Agent, step: Step) -> bool:
        owner = {
            "owner": agent.instance,
            "pid": agent.pid,
            "claimed_at": self._claimed_at(agent, step),
            "hostname": self.hostname,
        }
        ticket: Ticket | None = None
        for claim, unit in self._claims.candidates(agent.role):
            candidate = ticket_of(claim, unit, None, None)
            result = self._claims.claim_existing(candidate, {**owner, "branch": candidate.branch})
            if result == "busy":
                step.said.append(f"{agent.instance}: {candidate.lock_name} is held; retries")
                return False
            if result == "ok":
                ticket = candidate
                break
            if result in self._instances:
                self._metric(step, "CLAIM-CONFLICT", task=candidate.claim_id,
                             phase=candidate.phase_field, winner=result,
                             loser=agent.instance)  # fmt: skip
            step.said.append(f"{agent.instance} lost {candidate.key} to {result}")
        if ticket is None:
            made = self._claim_new(agent, owner, step)
            if made is None:
                return False
            ticket = made
        agent.ticket = ticket
        started = parse_ts(step.ts, self.tz)
        agent.transcript = self.transcript(agent, ticket, started or step.now)
        agent.claims += 1
        agent.pr = None
        agent.sha = None
        agent.ci_runs = 0
        self._claims.taken.add(ticket.key)
        self._claims.initially_free.discard(ticket.key)  # freed again later, it is fair game
        self._switch_branch(agent, ticket)
        self._log(step, "SESSION-START", task=ticket.task, branch=ticket.branch,
                  instance=agent.instance)  # fmt: skip
        self._log(step, "CLAIM", task=ticket.claim_id, phase=ticket.phase_field,
                  instance=agent.instance, tickets=",".join(ticket.tickets))  # fmt: skip
        if ticket.phase is not None:
            self._metric(step, "PHASE-CLAIMED", task=ticket.claim_id, phase=ticket.phase,
                         instance=agent.instance)  # fmt: skip
        step.said.append(
            f"{agent.instance} claims {ticket.key} under {ticket.lock_name} "
            f"(pid {agent.pid}) and starts {ticket.task}"
        )
        return True

    def _claim_new(self, agent: Agent, owner: dict[str, Any], step: Step) -> Ticket | None:
        """Create a standalone claim for the next backlog ticket no claim file names yet."""
        ticket, result = self._claims.claim_new(owner)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return None
        if result != "ok":
            step.said.append(f"{agent.instance}: {ticket.claim_id} appeared meanwhile; retries")
            return None
        return ticket

    def release(self, agent: Agent, step: Step) -> bool:
        ticket = agent.ticket
        assert ticket is not None
        result = self._claims.complete(ticket, agent.instance, step.ts)
        if result == "busy":
            step.said.append(f"{agent.instance}: {ticket.lock_name} is held; retries")
            return False
        if result != "ok":
            step.said.append(f"{agent.instance}: completing {ticket.key} did not stick")
            return True
        self._log(step, "RELEASE", task=ticket.claim_id, phase=ticket.phase_field,
                  instance=agent.instance, reason="done")  # fmt: skip
        if ticket.phase is not None:
            self._metric(step, "PHASE-COMPLETED", task=ticket.claim_id, phase=ticket.phase,
                         instance=agent.instance)  # fmt: skip
        self._spend(agent, step)
        fields: dict[str, object] = {"task": ticket.task, "status": "success"}
        if agent.pr is not None:
            fields["pr"] = agent.pr
        self._log(step, "SESSION-END", **fields)
        step.said.append(
            f"{agent.instance} completes {ticket.key} and releases it (reason=done); "
            f"session {ticket.task} ends"
        )
        self._claims.taken.discard(ticket.key)
        agent.ticket = None
        return True

    # -- steps, checkpoints, crashes ---------------------------------------------------------------

    def step_line(self, agent: Agent, step: Step, kind: str, name: str) -> None:
        ticket = agent.ticket
        assert ticket is not None
        event = "STEP-START" if kind == "start" else "STEP-DONE"
        extra: dict[str, object] = {}
        if kind == "done" and name in ("branch", "push"):
            extra["branch"] = ticket.branch
        elif kind == "done" and name == "code":
            extra["component"] = ticket.component
        elif kind == "done" and name == "commit":
            agent.sha = self._commit(agent, step)
            extra["sha"] = agent.sha
        elif name == "pr-created":
            self.pr += self._rng.randint(1, 3)
            agent.pr = self.pr
            extra.update(pr=agent.pr, branch=ticket.branch)
        elif name in ("ci", "merged") and agent.pr is not None:
            extra["pr"] = agent.pr
        if kind == "done" and name == "merged":
            merged = self._git.merge_pr(agent, step.now)
            if merged is not None:
                extra["sha"] = merged
        if kind == "start" and name == "ci":
            agent.ci_runs += 1
            if agent.ci_runs > 1:
                extra["detail"] = f"re-run {agent.ci_runs}/3"
        if kind == "start" and name == "merged":
            extra["detail"] = "gh pr merge --squash --delete-branch"
        self._log(step, event, step=name, task=ticket.task, **extra)
        said = f"{agent.instance} {event} {name} ({ticket.task})"
        if name == "pr-created":
            said = f"{agent.instance} opens PR #{agent.pr} for {ticket.task}"
        if kind == "done" and name == "merged":
            self._metric(step, "PR-MERGED", task=ticket.task, pr=agent.pr, mode="show")
            if agent.checkpoint is not None:
                with contextlib.suppress(FileNotFoundError):
                    agent.checkpoint.unlink()
                said += f", deletes checkpoint {agent.checkpoint.name}"
                agent.checkpoint = None
        step.said.append(said)

    def ci_failed(self, agent: Agent, step: Step) -> None:
        ticket = agent.ticket
        assert ticket is not None
        self._log(step, "ERROR", task=ticket.task, error="ci-failed", step="ci",
                  detail="test_route_reload timed out")  # fmt: skip
        self._metric(step, "CI-FIX", task=ticket.task, pr=agent.pr, attempt=1, result="failed")
        step.said.append(f"{agent.instance}: CI failed on PR #{agent.pr}; re-runs it")

    def checkpoint(self, agent: Agent, step: Step) -> None:
        """Written before the risky step (the merge), as the protocol asks."""
        ticket = agent.ticket
        assert ticket is not None
        data = checkpoint_data(agent, ticket, step)
        folder = self.config.checkpoints_dir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{step.ts.replace(':', '-')}-{ticket.task}.json"
        body = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(folder / name, body)
        agent.checkpoint = folder / name
        self._log(step, "CHECKPOINT", task=ticket.task, file=name)
        step.said.append(f"{agent.instance} writes checkpoint {name} before the merge")

    def crash(self, agent: Agent, step: Step) -> None:
        """The process dies mid-step: no SESSION-END, the checkpoint stays, the claim stays."""
        if agent.process is not None:
            agent.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.process.wait(5)
        agent.stopped = True
        agent.transcript = None
        step.said.append(
            f"{agent.instance} CRASHES during {self.task(agent)}: pid {agent.pid} killed, "
            "no SESSION-END, its checkpoint and claim stay"
        )

    def _spend(self, agent: Agent, step: Step) -> None:
        tokens_in = self._rng.randint(40, 400) * 1000
        tokens_out = self._rng.randint(40, 400) * 100
        cache_read = self._rng.randint(40, 400) * 5000
        cost = tokens_in * 3e-6 + tokens_out * 15e-6 + cache_read * 0.3e-6
        self._metric(step, "TOKEN-SPEND", instance=agent.instance, task=self.task(agent),
                     model=_MODEL, input_tokens=tokens_in, output_tokens=tokens_out,
                     cache_read_tokens=cache_read, cost_usd=f"{cost:.2f}")  # fmt: skip

    # -- git ---------------------------------------------------------------------------------------

    def _switch_branch(self, agent: Agent, ticket: Ticket) -> None:
        if agent.worktree is not None:
            self._git.switch_branch(agent.worktree, ticket.branch)

    def _commit(self, agent: Agent, step: Step) -> str:
        """A real commit in the agent's worktree when there is one; else a made-up sha."""
        ticket = agent.ticket
        assert ticket is not None
        agent.commit_message = commit_subject(ticket)
        fallback = f"{self._rng.getrandbits(28):07x}"
        return self._git.commit_work(agent, ticket, step.now) or fallback
