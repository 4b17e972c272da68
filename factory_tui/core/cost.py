"""What the agents spend: usage records from Claude Code's transcripts, counted once, priced,
attributed to an instance, a ticket and a day, summed, and held against the budgets.

FORMATS.md, Cost: only ``type: "assistant"`` lines with ``message.usage`` count; a streamed
response is written as several lines with the same ``message.id`` + ``requestId`` (the early ones
with partial counts), so it is counted once, from the line with the largest token total; model
``<synthetic>`` (and API-error lines, ``isApiErrorMessage``) are skipped. Dedup is by
``message.id`` alone (an API message id names one response), global across every file: a
subagent's replay of its parent's message (same ``message.id``, a new ``requestId``,
``isSidechain``) or a resumed session's copy is not counted twice. A fast-mode response
(``message.usage.speed == "fast"``) is priced at its model's fast price and summed under
``<model> (fast)``.

Attribution uses what the fleet knows: sessions (instance, task, branch, start and end) and claims
(owner, claim and phase, branch, claimed_at to completed_at), and the worktrees (path → branch).
A response goes to the span whose time contains it and whose branch (``gitBranch``) or worktree
(``cwd``) matches it, preferring both, then the latest start. See :class:`Attributor`.

:class:`CostLedger` keeps the records and running sums per (agent, ticket, model, hour), so that
an appended line costs one record of work, and a report or the cockpit's view is a sum over
cells, not over every record. Everything here is pure: times come in as arguments.

The pieces: the transcript lines are parsed in :mod:`~factory_tui.core.cost_records`, attributed
in :mod:`~factory_tui.core.cost_attribution`, summed into what the faces show in
:mod:`~factory_tui.core.cost_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType

from factory_tui.core.cost_attribution import (
    Attributor,
    Span,
)
from factory_tui.core.cost_records import (
    SKIP_REASONS,
    Attribution,
    SkipReason,
    UsageRecord,
)
from factory_tui.core.cost_report import (
    GROUPINGS,
    Bucket,
    CostReport,
    CostView,
    Grouping,
    budget_states,
    group_key,
    split_phase,
)
from factory_tui.core.cost_spans import SpanTable
from factory_tui.core.pricing import PriceTable, Usage, cost_usd

__all__ = ["CostLedger"]


class _Acc:
    """A mutable :class:`Bucket`, for running sums."""

    __slots__ = ("cr", "cw", "inp", "n", "out", "unpriced", "usd")

    def __init__(self) -> None:
        self.usd = 0.0
        self.inp = self.out = self.cw = self.cr = self.n = self.unpriced = 0

    def add(self, usage: Usage, usd: float | None, sign: int = 1) -> None:
        self.usd += sign * (usd or 0.0)
        self.inp += sign * usage.input_tokens
        self.out += sign * usage.output_tokens
        self.cw += sign * usage.cache_write_tokens
        self.cr += sign * usage.cache_read_tokens
        self.n += sign
        if usd is None:
            self.unpriced += sign

    def merge(self, other: _Acc) -> None:
        self.usd += other.usd
        self.inp += other.inp
        self.out += other.out
        self.cw += other.cw
        self.cr += other.cr
        self.n += other.n
        self.unpriced += other.unpriced

    def freeze(self) -> Bucket:
        # Removing a replaced line leaves float dust: anything under a nano-dollar is zero.
        usd = self.usd if abs(self.usd) > 1e-9 else 0.0
        return Bucket(usd, self.inp, self.out, self.cw, self.cr, self.n, self.unpriced)


_Cell = tuple[str, str, str, datetime]  # agent, ticket, model, hour


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class _Entry:
    __slots__ = ("attribution", "cell", "record", "usd")

    def __init__(
        self, record: UsageRecord, attribution: Attribution, usd: float | None, cell: _Cell
    ) -> None:
        self.record = record
        self.attribution = attribution
        self.usd = usd
        self.cell = cell


class CostLedger:
    """Every counted response, deduplicated, priced, attributed, and summed by cell.

    Feed it records in any order (:meth:`add`), the spans whenever the fleet changes
    (:meth:`set_spans`: re-attributes only when they differ), and ask for a :meth:`report` or the
    cockpit's :meth:`view`. Adding a record costs O(1) plus the spans it is compared with.
    """

    def __init__(self, prices: PriceTable, spans: Sequence[Span] = ()) -> None:
        self._prices = prices
        self._attributor = Attributor(spans)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._cells: dict[_Cell, _Acc] = {}
        self.skipped: dict[str, int] = {reason: 0 for reason in SKIP_REASONS}
        self.skipped["duplicate"] = 0
        self.wants_spans = False
        """Whether a record counted is attributed by the spans (not the Council's own, whose
        attribution is fixed): until then the fleet's spans are not worth making (a 300-day
        history's took 5 s and 240 MB of a cockpit whose agents run elsewhere)."""
        self.earliest: datetime | None = None
        """The time of the earliest record attributed by the spans: no session that ended
        before it (less the grace after one) can be a record's (see SpanBuilder.build)."""

    # -- feeding ------------------------------------------------------------------------------

    @property
    def prices(self) -> PriceTable:
        return self._prices

    def __len__(self) -> int:
        return len(self._entries)

    def skip(self, reason: str) -> None:
        """Count a line that was not counted (``synthetic``, ``api_error``, ``malformed``)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, record: UsageRecord) -> bool:
        """Count a response once: a line with the same key replaces the kept one only when its
        token total is larger (or equal, the kept one a sidechain's replay and this one the
        parent's own line, whose attribution is the better). True when the sums changed."""
        known = self._entries.get(record.key)
        if known is not None:
            self.skipped["duplicate"] += 1
            new, old = record.usage.total, known.record.usage.total
            if new < old or (new == old and (record.sidechain or not known.record.sidechain)):
                return False
            self._unsum(known)
        entry = self._entry(record)
        self._entries[record.key] = entry
        self._sum(entry)
        if record.fixed is None:
            self.wants_spans = True
            if self.earliest is None or record.at < self.earliest:
                self.earliest = record.at
        return True

    def add_all(self, items: Iterable[UsageRecord | SkipReason | None]) -> int:
        """Feed parsed lines (records, skip reasons, Nones); returns how many records changed
        the sums."""
        changed = 0
        for item in items:
            if item is None:
                continue
            if isinstance(item, str):
                self.skip(item)
            elif self.add(item):
                changed += 1
        return changed

    def set_spans(self, spans: Sequence[Span]) -> bool:
        """Use new spans from the fleet; every record is attributed again if they changed."""
        table = SpanTable.of(spans)
        if table == self._attributor.spans and table.since == self._attributor.spans.since:
            return False
        self._attributor = Attributor(table)
        self._reattribute()
        return True

    @property
    def spans_cover(self) -> bool:
        """Whether the spans in hand hold every session a record may be: made from every
        session, or from a time no later than the earliest record's (a record read since from
        before it was attributed without the sessions it may be, until new spans come)."""
        since = self._attributor.spans.since
        return since is None or self.earliest is None or since <= self.earliest

    def set_prices(self, prices: PriceTable) -> None:
        self._prices = prices
        self._reattribute()

    def _reattribute(self) -> None:
        self._cells.clear()
        for key, entry in self._entries.items():
            fresh = self._entry(entry.record)
            self._entries[key] = fresh
            self._sum(fresh)

    def _entry(self, record: UsageRecord) -> _Entry:
        attribution = record.fixed or self._attributor.attribute(
            record.cwd, record.branch, record.at
        )
        usd = record.usd
        if usd is None:
            price = self._prices.lookup(record.model)
            if price is not None and record.fast:
                price = price.fast_mode()
            usd = cost_usd(record.usage, price) if price is not None else None
        cell = (
            group_key("agent", attribution, record),
            group_key("ticket", attribution, record),
            record.model_key,
            _hour(record.at),
        )
        return _Entry(record, attribution, usd, cell)

    def _sum(self, entry: _Entry) -> None:
        acc = self._cells.get(entry.cell)
        if acc is None:
            acc = self._cells[entry.cell] = _Acc()
        acc.add(entry.record.usage, entry.usd)

    def _unsum(self, entry: _Entry) -> None:
        acc = self._cells[entry.cell]
        acc.add(entry.record.usage, entry.usd, -1)
        if acc.n == 0:
            del self._cells[entry.cell]

    # -- reading ------------------------------------------------------------------------------

    def records(self) -> list[tuple[UsageRecord, Attribution, float | None]]:
        """Every counted response with its attribution and price (None: unpriced)."""
        return [(e.record, e.attribution, e.usd) for e in self._entries.values()]

    def _cells_in(
        self, since: datetime | None, until: datetime | None
    ) -> Iterable[tuple[_Cell, _Acc]]:
        low = _hour(since) if since is not None else None
        for cell, acc in self._cells.items():
            hour = cell[3]
            if low is not None and hour < low:
                continue
            if until is not None and hour >= until:
                continue
            yield cell, acc

    def report(
        self,
        grouping: Grouping,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> CostReport:
        """Spend grouped by agent, ticket, model or day, from ``since`` (rounded down to its
        hour) to ``until`` (exclusive). Groups are ordered by spend, largest first (days by
        date)."""
        if grouping not in GROUPINGS:
            raise ValueError(f"grouping {grouping!r}: use one of {', '.join(GROUPINGS)}")
        total = _Acc()
        groups: dict[str, _Acc] = {}
        phases: dict[str, dict[str, _Acc]] = {}
        unpriced: set[str] = set()
        for cell, acc in self._cells_in(since, until):
            agent, ticket, model, hour = cell
            ticket, phase = split_phase(ticket)
            if grouping == "ticket" and phase is not None:
                phases.setdefault(ticket, {}).setdefault(phase, _Acc()).merge(acc)
            key = {
                "agent": agent,
                "ticket": ticket,
                "model": model,
                "day": hour.date().isoformat(),
            }[grouping]
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Acc()
            group.merge(acc)
            total.merge(acc)
            if acc.unpriced:
                unpriced.add(model)
        if grouping == "day":
            ordered = sorted(groups.items())
        else:
            ordered = sorted(groups.items(), key=lambda item: (-item[1].usd, item[0]))
        table = self._prices
        label = table.source + (f" (as of {table.as_of})" if table.as_of else "")
        return CostReport(
            grouping=grouping,
            total=total.freeze(),
            by=MappingProxyType({key: acc.freeze() for key, acc in ordered}),
            unpriced_models=tuple(sorted(unpriced)),
            since=since,
            until=until,
            skipped=MappingProxyType(dict(self.skipped)),
            price_table=label,
            phases=MappingProxyType(
                {
                    key: MappingProxyType(
                        {n: phases[key][n].freeze() for n in sorted(phases[key], key=int)}
                    )
                    for key, _acc in ordered
                    if key in phases
                }
            ),
        )

    def spend_per_hour(self, now: datetime, hours: int = 24) -> tuple[datetime, tuple[float, ...]]:
        """US dollars spent in each of the last ``hours`` hours, the current one last, and the
        start of the first."""
        if hours < 1:
            raise ValueError(f"hours must be at least 1, got {hours}")
        first = _hour(now) - timedelta(hours=hours - 1)
        values = [0.0] * hours
        for cell, acc in self._cells_in(first, None):
            index = int((cell[3] - first).total_seconds() // 3600)
            if 0 <= index < hours:
                values[index] += acc.usd
        return first, tuple(v if abs(v) > 1e-9 else 0.0 for v in values)

    def view(
        self,
        now: datetime,
        *,
        daily_budget_usd: float | None = None,
        agent_budget_usd: float | None = None,
        hours: int = 24,
    ) -> CostView:
        """The cockpit's numbers for ``now`` (naive, in the ledger's zone)."""
        midnight = datetime.combine(now.date(), datetime.min.time())
        today = self.report("agent", since=midnight, until=midnight + timedelta(days=1))
        start, per_hour = self.spend_per_hour(now, hours)
        agents = {key: bucket.usd for key, bucket in today.by.items()}
        return CostView(
            now=now,
            day=now.date(),
            today=today.total,
            agents_today=today.by,
            daily_budget_usd=daily_budget_usd,
            agent_budget_usd=agent_budget_usd,
            per_hour=per_hour,
            per_hour_start=start,
            budgets=budget_states(
                now.date(),
                today.total.usd,
                agents,
                daily_budget_usd=daily_budget_usd,
                agent_budget_usd=agent_budget_usd,
            ),
            unpriced_models=today.unpriced_models,
        )
