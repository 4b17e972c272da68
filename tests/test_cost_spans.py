"""The spans as a compact table (issue 17): the table reads back the spans it was given, and the
Attributor working on its rows attributes every response as the one over Span objects did."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.core.cost_attribution import Attributor, _worktree_of
from factory_tui.core.cost_records import Attribution
from factory_tui.core.cost_spans import Span, SpanTable
from factory_tui.core.statefiles import find_tickets

_BASE = datetime(2026, 2, 16, 8)
_TIMES = st.one_of(st.none(), st.integers(0, 48).map(lambda n: _BASE + timedelta(minutes=15 * n)))
_SPAN = st.builds(
    Span,
    kind=st.sampled_from(["session", "claim"]),
    instance=st.sampled_from([None, "", "t1", "t2", "t3"]),
    task=st.sampled_from([None, "", "T1", "CAB-9"]),
    claim=st.sampled_from([None, "CAB-9:1", "CAB-9:2"]),
    phase=st.sampled_from([None, 1, 2]),
    branch=st.sampled_from([None, "", "feat/x", "feat/y", "fix/CAB-7-z"]),
    worktree=st.sampled_from([None, "/w/x", "/w/y", "/"]),
    start=_TIMES,
    end=_TIMES,
)
_QUERY = st.tuples(
    st.sampled_from([None, "", "/w/x", "/w/x/src", "/w/y", "/w/xy", "/elsewhere"]),
    st.sampled_from([None, "", "feat/x", "feat/y", "fix/CAB-7-z", "HEAD"]),
    st.integers(-8, 60).map(lambda n: _BASE + timedelta(minutes=15 * n + n % 3)),
)


class _SpanAttributor:
    """The Attributor as it was before the table (over Span objects), the reference."""

    def __init__(self, spans: list[Span]) -> None:
        self._by_branch: dict[str, list[Span]] = {}
        self._by_tree: dict[str, list[Span]] = {}
        self._claims_of: dict[str, list[Span]] = {}
        for span in spans:
            if span.kind == "claim" and span.instance:
                self._claims_of.setdefault(span.instance, []).append(span)
            if span.branch:
                self._by_branch.setdefault(span.branch, []).append(span)
            if span.worktree:
                self._by_tree.setdefault(span.worktree, []).append(span)
        self._trees = sorted(self._by_tree)

    def _scored(self, cwd: str | None, branch: str | None) -> list[tuple[int, Span]]:
        tree = _worktree_of(cwd, self._trees)
        scores: dict[int, tuple[int, Span]] = {}
        for span in self._by_branch.get(branch or "", ()):
            scores[id(span)] = (2, span)
        for span in self._by_tree.get(tree or "", ()):
            score, _ = scores.get(id(span), (0, span))
            scores[id(span)] = (score + 1, span)
        return sorted(
            scores.values(),
            key=lambda item: (item[0], item[1].start or datetime.min),
            reverse=True,
        )

    def _own_claim(self, agent_span: Span, at: datetime) -> Span | None:
        fits = [
            span
            for span in self._claims_of.get(agent_span.instance or "", ())
            if span.holds(at)
            and not (span.branch and agent_span.branch and span.branch != agent_span.branch)
        ]
        started = [span for span in fits if span.start is None or span.start <= at]
        if started:
            return max(started, key=lambda span: span.start or datetime.min)
        if agent_span.kind == "session" and agent_span.task:
            return None
        return fits[0] if fits else None

    def attribute(self, cwd: str | None, branch: str | None, at: datetime) -> Attribution:
        scored = [(score, span) for score, span in self._scored(cwd, branch) if span.holds(at)]
        agent_span = next((span for _s, span in scored if span.instance), None)
        claim_span = next((span for _s, span in scored if span.kind == "claim"), None)
        if claim_span is None and agent_span is not None and agent_span.instance:
            claim_span = self._own_claim(agent_span, at)
        matched = "branch" if branch and agent_span and agent_span.branch == branch else "worktree"
        if claim_span is not None:
            agent = agent_span.instance if agent_span else claim_span.instance
            return Attribution(
                agent, claim_span.claim, claim_span.phase, f"{matched} and time of claim"
            )
        if agent_span is not None:
            return Attribution(
                agent_span.instance, agent_span.task, None, f"{matched} and time of session"
            )
        named = find_tickets(branch or "")
        if named:
            return Attribution(None, named[0], None, "ticket id in the branch name")
        return Attribution(None, None, None, "no session or claim matches")


@settings(max_examples=300, deadline=None)
@given(st.lists(_SPAN, max_size=12), st.lists(_QUERY, min_size=1, max_size=12))
def test_the_attribution_over_the_table_equals_the_one_over_span_objects(
    spans: list[Span], queries: list[tuple[str | None, str | None, datetime]]
) -> None:
    compact, reference = Attributor(spans), _SpanAttributor(spans)
    for cwd, branch, at in queries:
        assert compact.attribute(cwd, branch, at) == reference.attribute(cwd, branch, at)


@settings(max_examples=200, deadline=None)
@given(st.lists(_SPAN, max_size=12), st.integers(0, 12), _SPAN)
def test_a_table_reads_back_its_spans_and_a_head_copy_never_changes_it(
    spans: list[Span], rows: int, other: Span
) -> None:
    table = SpanTable.of(spans)
    assert list(table) == spans and table == spans and table == tuple(spans)
    assert table[-1:] == tuple(spans[-1:]) and SpanTable.of(table) is table
    head = table.head(rows)
    assert list(head) == spans[:rows]
    head.append(other)
    if head:
        head.set_row(0, other)
    assert list(table) == spans  # the copy's rows are its own
    assert (head == table) == (list(head) == spans)


def test_tables_of_one_string_table_compare_by_columns() -> None:
    at = datetime(2026, 2, 16, 9, 30, 0, 5)
    one = SpanTable.of([Span("session", "t1", "T", None, None, "b", None, at, None)])
    two = one.head(1)
    assert two == one and two.strings is one.strings
    two.set_row(0, Span("session", "t1", "T", None, None, "b", None, at, at))
    assert two != one and two[0].end == at and one[0].end is None
    two.set_row(0, Span("claim", "t1", "T", "T:1", 1, "b", None, at, None))
    assert two != one and two[0].claim == "T:1" and two[0].phase == 1
