"""The Council as an action: make the proposal, check the guards, replay or ask, record.

``run_council`` is what a key (``C``), the palette and ``factory-tui council``
(:mod:`factory_tui.cli.council`) all call. It may
take a minute (network), so the cockpit runs it in a thread worker; it never raises for a
persona's failure, only returns a :class:`CouncilOutcome` saying what happened.

Order: the kill switch (``FACTORY_COUNCIL_DISABLE=1``) refuses everything; then a stored verdict
on the same text (sha256) is replayed for free unless ``force``; then the daily cap; then the API
key; then the personas are asked in parallel and one line is appended to council-history.jsonl
(also when a persona failed: the calls were paid for).

Its outcome is also the command's exit code: 0 a verdict (paid or replayed), 1 refused (kill
switch, daily cap, a model without a price) or no verdict (a persona failed), 2 an error (no API
key, a bad ticket, file or PR, a config error).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_tui.actions.base import Outcome
from factory_tui.adapters.gh import Gh, GhError
from factory_tui.adapters.lock import append_line
from factory_tui.adapters.safe_read import read_factory_file
from factory_tui.config import Config
from factory_tui.core.claims import ClaimFile, parse_claim
from factory_tui.core.council import CouncilResult, Proposal, assemble
from factory_tui.core.council_history import (
    HistoryEntry,
    find_replay,
    guard,
    kill_switch,
    parse_history_line,
    replay,
    spent_on,
)
from factory_tui.core.council_settings import CouncilConfigError, CouncilSettings, council_settings
from factory_tui.core.pricing import PriceTable, PriceTableError
from factory_tui.core.problems import Problem
from factory_tui.core.statefiles_parse import parse_plan

if TYPE_CHECKING:
    from factory_tui.adapters.anthropic_client import Timing

__all__ = [
    "CouncilOutcome",
    "ProposalError",
    "proposal_for_file",
    "proposal_for_pr",
    "proposal_for_ticket",
    "read_history",
    "run_council",
    "settings_from_config",
]

MAX_FILE_BYTES = 2 << 20
MAX_HISTORY_BYTES = 64 << 20
"""council-history.jsonl grows a line a run: this is years of runs."""


class ProposalError(Exception):
    """The proposal cannot be made; ``str()`` says what, where and what to do."""


@dataclass(frozen=True)
class CouncilOutcome:
    outcome: Outcome
    message: str
    result: CouncilResult | None = None
    history_line: str | None = None

    @property
    def replayed(self) -> bool:
        return self.result is not None and self.result.replayed_from is not None


def settings_from_config(config: Config) -> CouncilSettings:
    """``[council]`` from config; raises CouncilConfigError naming the file."""
    return council_settings(
        config.extra.get("council"), config.sources.get("extra.council", "config")
    )


# --------------------------------------------------------------------------------------------
# Proposals


def _claims(config: Config) -> list[ClaimFile]:
    out: list[ClaimFile] = []
    try:
        paths = sorted(config.claims_dir.glob("*.json"))
    except OSError:
        return out
    for path in paths:
        data = read_factory_file(path, config.max_file_bytes)  # a FIFO is never opened blocking
        if not isinstance(data, bytes):
            continue
        claim, _problems = parse_claim(str(path), data)
        if claim is not None:
            out.append(claim)
    return out


def proposal_for_ticket(config: Config, ticket: str) -> Proposal:
    """The ticket's claim title (and phases) and its plan.md entry with the items under it."""
    wanted = ticket.strip()
    lines: list[str] = []
    for claim in _claims(config):
        units = [u for u in claim.units if wanted in (claim.claim_id, *u.tickets)]
        if claim.claim_id != wanted and not units:
            continue
        lines.append(f"Ticket {claim.claim_id}: {claim.title}".rstrip(": "))
        if claim.kind == "mega":
            for unit in claim.units:
                tickets = ", ".join(unit.tickets)
                lines.append(
                    f"- Phase {unit.phase}: {unit.name}"
                    + (f" ({tickets})" if tickets else "")
                    + (f", after phase {', '.join(map(str, unit.deps))}" if unit.deps else "")
                )
        break
    plan_data = read_factory_file(config.plan_file, config.max_file_bytes)
    plan_text = (
        plan_data.decode("utf-8", errors="replace") if isinstance(plan_data, bytes) else None
    )
    if plan_text is not None:
        plan = parse_plan(plan_text, str(config.plan_file))
        raw_lines = plan_text.splitlines()
        picked: set[int] = set()
        for item in plan.items:
            if (
                wanted in item.tickets
                or item.mega_id == wanted
                or (item.parent is not None and item.parent in picked)
            ):
                picked.add(item.line)
        if picked:
            lines.append("")
            lines.append(f"plan.md ({config.plan_file.name}):")
            lines.extend(raw_lines[n - 1] for n in sorted(picked) if 0 < n <= len(raw_lines))
    if not lines:
        raise ProposalError(
            f"ticket {wanted}: no claim file in {config.claims_dir} and no plan.md item names it; "
            "check the id, or give --file"
        )
    return Proposal("\n".join(lines).strip(), f"ticket {wanted}", ticket=wanted)


def proposal_for_file(path: Path, ticket: str | None = None) -> Proposal:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProposalError(
                f"{path}: {size} bytes, more than {MAX_FILE_BYTES} — give a summary instead"
            )
        data = read_factory_file(path, MAX_FILE_BYTES)
        if isinstance(data, Problem):
            raise ProposalError(f"{path}: {data.message}")
        text = (data or b"").decode("utf-8", errors="replace")
    except IsADirectoryError:
        raise ProposalError(f"{path}: is a directory; give a text file") from None
    except FileNotFoundError:
        raise ProposalError(f"{path}: no such file") from None
    except OSError as error:
        raise ProposalError(f"{path}: cannot read ({error.strerror or error})") from None
    if not text.strip():
        raise ProposalError(f"{path}: empty; the Council needs something to score")
    return Proposal(text, f"file {path.name}", ticket=ticket)


def proposal_for_pr(config: Config, number: int, *, gh: str | None = None) -> Proposal:
    """The PR's diff from ``gh pr diff N`` run in the repo (argv, no shell)."""
    client = Gh(config.root, executable=gh, timeout=60)
    if not client.available:
        raise ProposalError(
            f"--pr {number} needs the GitHub CLI (gh) on PATH to read the diff; install gh, or "
            f"save the diff and give --file (gh pr diff {number} > pr.diff)"
        )
    try:
        text = client.diff(number)
    except GhError as error:
        raise ProposalError(str(error)) from None
    if not text.strip():
        raise ProposalError(f"gh pr diff {number}: the diff is empty")
    return Proposal(text, f"PR #{number}")


# --------------------------------------------------------------------------------------------
# History


def read_history(path: Path) -> tuple[list[HistoryEntry], list[str]]:
    """Every line of council-history.jsonl; problems say which lines were ignored and why."""
    entries: list[HistoryEntry] = []
    problems: list[str] = []
    read = read_factory_file(path, MAX_HISTORY_BYTES)
    if read is None:
        return entries, problems
    if isinstance(read, Problem):
        return entries, [f"{path}: {read.message}"]
    data = read
    for number, line in enumerate(data.split(b"\n"), start=1):
        parsed = parse_history_line(line, f"{path}:{number}")
        if isinstance(parsed, str):
            problems.append(parsed)
        elif parsed is not None:
            entries.append(parsed)
    return entries, problems


# --------------------------------------------------------------------------------------------
# The action


def run_council(
    config: Config,
    proposal: Proposal,
    *,
    now: datetime,
    force: bool = False,
    env: Mapping[str, str] | None = None,
    prices: PriceTable | None = None,
    settings: CouncilSettings | None = None,
    timing: Timing | None = None,
) -> CouncilOutcome:
    """Replay or convene the Council on ``proposal``; see the module docstring for the order.

    ``timing`` (the waits between retries, the clocks) is the real one unless a test gives
    fakes."""
    from factory_tui.adapters.anthropic_client import REAL_TIMING, NoApiKey, ask_council
    from factory_tui.adapters.transcripts import prices_from_config

    environ = os.environ if env is None else env
    try:
        settings = settings or settings_from_config(config)
        prices = prices or prices_from_config(config)
    except (CouncilConfigError, PriceTableError) as error:
        return CouncilOutcome(Outcome.ERROR, str(error))
    entries, _problems = read_history(config.council_history)
    refusal = kill_switch(environ)
    if refusal is not None:
        return CouncilOutcome(Outcome.REFUSED, refusal)
    if not force:
        stored = find_replay(entries, proposal.sha256)
        if stored is not None:
            result = replay(stored, proposal)
            return CouncilOutcome(
                Outcome.DONE,
                f"replayed the verdict of {stored.timestamp} on the same text (sha256 "
                f"{proposal.sha256[:12]}…; no call made, --force to ask again)",
                result,
            )
    refusal = guard(environ, settings, spent_on(entries, now.date()))
    if refusal is not None:
        return CouncilOutcome(Outcome.REFUSED, refusal)
    if prices.lookup(settings.model) is None:
        return CouncilOutcome(
            Outcome.REFUSED,
            f"the Council's model {settings.model} has no price in the table, so its daily cap "
            f'cannot work; add [cost.prices."{settings.model}"] input = ..., output = ... to '
            "factory.toml, or pick a listed model in [council] model",
        )
    try:
        call = ask_council(proposal, settings, prices, env=environ, timing=timing or REAL_TIMING)
    except NoApiKey as error:
        return CouncilOutcome(Outcome.ERROR, str(error))
    result = assemble(
        timestamp=now,
        proposal=proposal,
        outcomes=[c.outcome for c in call.calls],
        model=call.model,
        input_tokens=call.usage.input_tokens
        + call.usage.cache_write_tokens
        + call.usage.cache_read_tokens,
        output_tokens=call.usage.output_tokens,
        cost=call.cost_usd or 0.0,
        duration_ms=call.duration_ms,
    )
    line = result.history_line()
    try:
        append_line(config.council_history, line)
    except OSError as error:
        return CouncilOutcome(
            Outcome.ERROR,
            f"the Council sat but {config.council_history} could not be written "
            f"({error.strerror or error}); the verdict is shown, not recorded",
            result,
        )
    if result.status == "incomplete":
        failed = ", ".join(f.persona for f in result.failures)
        return CouncilOutcome(
            Outcome.REFUSED,
            f"no verdict: {failed} did not answer (see below); recorded, run again to retry",
            result,
            line,
        )
    return CouncilOutcome(Outcome.DONE, f"verdict: {result.status_text}", result, line)
