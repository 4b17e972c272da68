"""The agents' spend: transcripts found by cwd, read incrementally, counted once, priced,
attributed to instance / ticket / day, summed, and held against the budgets; the cost CLI."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import FixedProbe

from factory_tui.actions.cost import budget_command, fire_budget_command
from factory_tui.adapters import worktrees as worktrees_module
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.prices import default_price_table, package_version
from factory_tui.adapters.transcripts import (
    CostTracker,
    RepoFolders,
    TranscriptReader,
    prices_from_config,
    repo_paths,
    worktree_branches,
)
from factory_tui.cli.cost import add_cost_parser, cmd_cost, parse_since
from factory_tui.config import Config, load_config
from factory_tui.core.cost import CostLedger
from factory_tui.core.cost_attribution import Span
from factory_tui.core.cost_records import Attribution, UsageRecord, parse_transcript_line
from factory_tui.core.cost_report import budget_states, format_tokens
from factory_tui.core.pricing import (
    ModelPrice,
    PriceTableError,
    Usage,
    cost_usd,
    parse_price_table,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"

A1, S1, B1, B2 = 0.001545, 0.002, 0.0915, 0.153


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@dataclass
class Factory:
    root: Path
    wt1: Path
    claude: Path
    config: Config

    def project(self, name: str) -> Path:
        return self.claude / "projects" / name


def install(source: Path, target: Path, root: Path, wt1: Path) -> None:
    for path in source.rglob("*.jsonl"):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text().replace("{ROOT}", str(root)).replace("{WT1}", str(wt1))
        dest.write_text(text)


@pytest.fixture(scope="module")
def git_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("git-template")
    root = base / "repo"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    git("commit", "-q", "--allow-empty", "-m", "init", cwd=root)
    git(
        "worktree", "add", "-q", "-b", "feat/CAB-1350-traceparent", str(base / "repo-wt1"), cwd=root
    )
    return base


@pytest.fixture
def factory(tmp_path: Path, git_template: Path) -> Factory:
    shutil.copytree(git_template, tmp_path, dirs_exist_ok=True, symlinks=True)
    root, wt1 = tmp_path / "repo", tmp_path / "repo-wt1"
    # The worktree's links hold the template's absolute paths; point them here.
    (wt1 / ".git").write_text(f"gitdir: {root}/.git/worktrees/repo-wt1\n")
    (root / ".git" / "worktrees" / "repo-wt1" / "gitdir").write_text(f"{wt1}/.git\n")
    claude = tmp_path / "claude"
    for name in ("main", "wt1", "foreign"):
        install(FIXTURES / name, claude / "projects" / f"folder-{name}", root, wt1)
    (root / "mem").mkdir()
    (root / "mem" / "operations.log").write_text(
        "2026-02-16T14:05 | SESSION-START | task=CAB-1350 branch=feat/CAB-1350-traceparent "
        "instance=t1-aaaa\n"
        "2026-02-16T14:06 | CLAIM | task=CAB-1290 phase=1 instance=t1-aaaa tickets=CAB-1350\n"
        "2026-02-16T15:00 | SESSION-END | task=CAB-1350 status=success\n"
    )
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    mega = {
        "mega": "CAB-1290",
        "title": "Gateway Live-Code MEGA",
        "phases": [
            {
                "id": 1,
                "name": "API + Gateway",
                "tickets": ["CAB-1350"],
                "owner": "t1-aaaa",
                "pid": 99999999,
                "claimed_at": "2026-02-16T14:06",
                "hostname": "elsewhere",
                "branch": "feat/CAB-1350-traceparent",
                "mode": "parallel",
                "deps": [],
                "completed_at": None,
            }
        ],
    }
    (claims / "CAB-1290.json").write_text(json.dumps(mega))
    (root / "factory.toml").write_text(
        'memory = "mem"\nclaude_config_dir = "../claude"\ndaily_budget_usd = 0.1\n'
        "agent_budget_usd = 0.1\n"
    )
    config = load_config(root, flags={}, env={}, user_config=tmp_path / "none.toml")
    return Factory(root, wt1, claude, config)


def tracker(f: Factory, **kwargs: object) -> tuple[CostTracker, FactoryReader]:
    reader = FactoryReader(f.config, hostname="here", probe=FixedProbe())
    reader.refresh_all()
    t = CostTracker(f.config, tz=UTC, **kwargs)  # type: ignore[arg-type]
    t.refresh(reader)
    return t, reader


# -- pricing ---------------------------------------------------------------------------------


def test_price_table_ships_current_models_with_the_cache_multipliers() -> None:
    table = default_price_table()
    assert table.source == (
        f"genai-prices {package_version()} + factory_tui/data/prices.toml of 2026-11-22"
    )
    sonnet = table.lookup("claude-sonnet-4-5")
    assert sonnet is not None
    assert (sonnet.input, sonnet.output) == (3.0, 15.0)
    assert sonnet.cache_write_5m == pytest.approx(3.75)
    assert sonnet.cache_write_1h == pytest.approx(6.0)
    assert sonnet.cache_read == pytest.approx(0.3)
    for model, io in {
        "claude-opus-4": (15, 75),
        "claude-opus-4-1": (15, 75),
        "claude-sonnet-4": (3, 15),
        "claude-haiku-4-5": (1, 5),
        "claude-3-5-haiku": (0.8, 4),
    }.items():
        price = table.lookup(model)
        assert price is not None and (price.input, price.output) == io, model


def test_model_ids_are_matched_by_name_only_never_by_similarity() -> None:
    table = default_price_table()
    assert table.lookup("claude-opus-4-1-20250805") == table.lookup("claude-opus-4-1")
    assert table.lookup("claude-sonnet-4-5@20250929") == table.lookup("claude-sonnet-4-5")
    assert table.lookup("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == table.lookup(
        "claude-sonnet-4-5"
    )
    # Opus 4.5 costs a third of Opus 4: a prefix match would be a costly guess.
    assert table.lookup("claude-opus-4-5").input == 5.0  # type: ignore[union-attr]
    assert table.lookup("claude-opus-4-9") is None
    assert table.lookup("claude-mystery-9") is None
    assert table.lookup("gpt-4o") is None


def test_cost_of_a_usage_record_prices_every_kind_of_token() -> None:
    price = ModelPrice.from_io(3.0, 15.0)
    usage = Usage(
        10, 50, cache_write_5m_tokens=60, cache_write_1h_tokens=40, cache_read_tokens=1000
    )
    assert cost_usd(usage, price) == pytest.approx(A1)


def test_long_prompts_are_priced_at_the_long_rates() -> None:
    sonnet = default_price_table().lookup("claude-sonnet-4-5")
    assert sonnet is not None
    short = Usage(input_tokens=200_000, output_tokens=1000)
    long = Usage(input_tokens=150_000, cache_read_tokens=60_000, output_tokens=1000)
    assert cost_usd(short, sonnet) == pytest.approx((200_000 * 3 + 1000 * 15) / 1e6)
    assert cost_usd(long, sonnet) == pytest.approx((150_000 * 6 + 60_000 * 0.6 + 1000 * 22.5) / 1e6)


def test_config_overrides_and_adds_models(factory: Factory) -> None:
    (factory.root / "factory.toml").write_text(
        'memory = "mem"\n[cost.prices."claude-mystery-9"]\ninput = 2.0\noutput = 8.0\n'
        '[cost.prices."claude-haiku-4-5"]\ninput = 1.5\noutput = 6\ncache_read = 0.2\n'
    )
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    table = prices_from_config(config)
    mystery = table.lookup("claude-mystery-9")
    assert mystery is not None and mystery.cache_write_5m == pytest.approx(2.5)
    haiku = table.lookup("claude-haiku-4-5-20251001")
    assert haiku is not None and (haiku.input, haiku.cache_read) == (1.5, 0.2)
    assert table.overridden == ("claude-mystery-9", "claude-haiku-4-5")


def test_a_wrong_override_says_where_and_what(factory: Factory) -> None:
    (factory.root / "factory.toml").write_text(
        'memory = "mem"\n[cost.prices."claude-x"]\ninput = "cheap"\noutput = 8.0\n'
    )
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    with pytest.raises(PriceTableError) as error:
        prices_from_config(config)
    text = str(error.value)
    assert "factory.toml" in text and 'cost.prices."claude-x"' in text and "input" in text
    (factory.root / "factory.toml").write_text('memory = "mem"\n[cost]\nprice = 3\n')
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    with pytest.raises(PriceTableError, match="unknown key price"):
        prices_from_config(config)
    with pytest.raises(PriceTableError, match="output missing"):
        parse_price_table('[models."m"]\ninput = 1\n', "t.toml")


# -- parsing lines ---------------------------------------------------------------------------


def test_lines_that_do_not_count() -> None:
    assert parse_transcript_line(b'{"type":"user","message":{"content":"x"}}') is None
    assert parse_transcript_line(b'{"type":"summary","summary":"usage notes"}') is None
    synthetic = b'{"type":"assistant","timestamp":"2026-01-01T00:00:00Z","message":{"model":"<synthetic>","usage":{"input_tokens":0}}}'
    assert parse_transcript_line(synthetic) == "synthetic"
    error = b'{"type":"assistant","isApiErrorMessage":true,"timestamp":"2026-01-01T00:00:00Z","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":9}}}'
    assert parse_transcript_line(error) == "api_error"
    assert (
        parse_transcript_line(b'{"type":"assistant","message":{"usage":{"input_tok') == "malformed"
    )
    no_time = b'{"type":"assistant","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":9}}}'
    assert parse_transcript_line(no_time) == "malformed"


def test_a_usage_line_becomes_a_record_in_the_given_zone() -> None:
    line = FIXTURES.joinpath("main", "sess-a.jsonl").read_bytes().splitlines()[3]
    record = parse_transcript_line(line, source="f:4", tz=UTC)
    assert isinstance(record, UsageRecord)
    assert record.key == ("message", "msg_A1")
    assert record.model == "claude-sonnet-4-5-20250929"
    assert record.usage == Usage(10, 50, 60, 40, 1000)
    assert record.at == datetime(2026, 2, 16, 14, 0, 6)
    assert (record.branch, record.session_id, record.source) == ("main", "sess-a", "f:4")
    east = parse_transcript_line(line, tz=timezone(timedelta(hours=2)))
    assert isinstance(east, UsageRecord) and east.at == datetime(2026, 2, 16, 16, 0, 6)


def test_cache_writes_without_the_split_are_five_minute_ones() -> None:
    line = b'{"type":"assistant","timestamp":"2026-01-01T00:00:00Z","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":1,"cache_creation_input_tokens":70,"output_tokens":2}}}'
    record = parse_transcript_line(line, tz=UTC)
    assert isinstance(record, UsageRecord)
    assert (record.usage.cache_write_5m_tokens, record.usage.cache_write_1h_tokens) == (70, 0)


# -- the ledger: dedup, sums ------------------------------------------------------------------


def rec(
    key: str,
    *,
    model: str = "claude-haiku-4-5",
    out: int = 0,
    inp: int = 0,
    at: datetime = datetime(2026, 2, 16, 14, 0),
    cwd: str | None = "/repo",
    branch: str | None = "main",
) -> UsageRecord:
    return UsageRecord((key, "r"), model, Usage(inp, out), at, cwd=cwd, branch=branch)


def test_a_streamed_response_counts_once_from_its_largest_line() -> None:
    ledger = CostLedger(default_price_table())
    assert ledger.add(rec("m", out=10))
    assert ledger.add(rec("m", out=200_000))  # larger: replaces
    assert not ledger.add(rec("m", out=50))  # smaller: ignored
    report = ledger.report("model")
    assert report.total.output_tokens == 200_000
    assert report.total.responses == 1
    assert report.total.usd == pytest.approx(1.0)
    assert ledger.skipped["duplicate"] == 2


def test_unpriced_models_are_flagged_and_left_out_of_the_dollars() -> None:
    ledger = CostLedger(default_price_table())
    ledger.add(rec("a", out=200_000))
    ledger.add(rec("b", model="claude-mystery-9", out=10**6))
    report = ledger.report("model")
    assert report.total.usd == pytest.approx(1.0)
    assert report.unpriced_models == ("claude-mystery-9",)
    assert report.by["claude-mystery-9"].usd == 0
    assert report.by["claude-mystery-9"].unpriced_responses == 1
    assert ledger.view(datetime(2026, 2, 16, 18)).header_text() == "today $1.00+"


def test_spend_per_hour_for_the_sparkline() -> None:
    ledger = CostLedger(default_price_table())
    ledger.add(rec("a", out=200_000, at=datetime(2026, 2, 16, 9, 59)))  # $1
    ledger.add(rec("b", out=400_000, at=datetime(2026, 2, 16, 11, 30)))  # $2
    ledger.add(rec("c", out=200_000, at=datetime(2026, 2, 15, 23, 0)))  # outside the window
    start, hours = ledger.spend_per_hour(datetime(2026, 2, 16, 12, 15), hours=4)
    assert start == datetime(2026, 2, 16, 9)
    assert hours == pytest.approx((1.0, 0.0, 2.0, 0.0))


def test_report_since_and_by_day() -> None:
    ledger = CostLedger(default_price_table())
    ledger.add(rec("a", out=200_000, at=datetime(2026, 2, 15, 23, 59)))
    ledger.add(rec("b", out=400_000, at=datetime(2026, 2, 16, 0, 1)))
    by_day = ledger.report("day")
    assert list(by_day.by) == ["2026-02-15", "2026-02-16"]
    since = ledger.report("day", since=datetime(2026, 2, 16))
    assert list(since.by) == ["2026-02-16"] and since.total.usd == pytest.approx(2.0)
    data = since.to_json()
    assert set(data["by"]["2026-02-16"]) >= {  # type: ignore[index]
        "usd",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
    }


# -- attribution ------------------------------------------------------------------------------


def span(**kw: object) -> Span:
    base: dict[str, object] = dict(
        kind="session",
        instance="t1",
        task="T",
        claim=None,
        phase=None,
        branch=None,
        worktree=None,
        start=datetime(2026, 2, 16, 10),
        end=datetime(2026, 2, 16, 12),
    )
    base.update(kw)
    return Span(**base)  # type: ignore[arg-type]


def test_attribution_by_branch_and_time_prefers_the_claim_for_the_ticket() -> None:
    spans = [
        span(instance="t1", task="old", branch="feat/x", end=datetime(2026, 2, 16, 11)),
        span(instance="t2", task="new", branch="feat/x", start=datetime(2026, 2, 16, 13), end=None),
        span(
            kind="claim",
            instance="t2",
            task="CAB-9",
            claim="CAB-9:2",
            phase=2,
            branch="feat/x",
            start=datetime(2026, 2, 16, 13),
            end=None,
        ),
    ]
    ledger = CostLedger(default_price_table(), spans)
    ledger.add(rec("early", out=200_000, at=datetime(2026, 2, 16, 10, 30), branch="feat/x"))
    ledger.add(rec("late", out=400_000, at=datetime(2026, 2, 16, 15), branch="feat/x"))
    ledger.add(rec("none", out=200_000, at=datetime(2026, 2, 16, 15), branch="fix/CAB-77-y"))
    by_agent = ledger.report("agent").by
    assert by_agent["t1"].usd == pytest.approx(1.0)
    assert by_agent["t2"].usd == pytest.approx(2.0)
    assert by_agent["(repo)"].usd == pytest.approx(1.0)
    by_ticket = ledger.report("ticket").by
    assert set(by_ticket) == {"old", "CAB-9", "CAB-77"}
    attributions = {r.key[0]: a for r, a, _usd in ledger.records()}
    assert attributions["late"] == Attribution("t2", "CAB-9:2", 2, "branch and time of claim")
    assert attributions["none"].how == "ticket id in the branch name"


def test_cost_by_ticket_is_keyed_by_the_ticket_id_with_its_phases_under_it() -> None:
    """One kind of key: a phase's claim (CAB-9:1) and a session's task (CAB-12-gateway-api)
    both count under their ticket id; a phased ticket's phases are listed under it."""
    at = datetime(2026, 2, 16, 9)
    spans = [
        span(kind="claim", instance="t2", task="CAB-9", claim="CAB-9:1", phase=1,
             branch="feat/a", start=at, end=at + timedelta(hours=2)),
        span(kind="claim", instance="t2", task="CAB-9", claim="CAB-9:2", phase=2,
             branch="feat/a", start=at + timedelta(hours=5), end=None),
        span(instance="t3", task="CAB-12-gateway-api", branch="feat/b", start=at, end=None),
    ]  # fmt: skip
    ledger = CostLedger(default_price_table(), spans)
    ledger.add(rec("p1", out=200_000, at=at + timedelta(hours=1), branch="feat/a"))  # $1
    ledger.add(rec("p2", out=400_000, at=at + timedelta(hours=6), branch="feat/a"))  # $2
    ledger.add(rec("s", out=200_000, at=at + timedelta(hours=6), branch="feat/b"))  # $1
    report = ledger.report("ticket")
    assert list(report.by) == ["CAB-9", "CAB-12"]
    assert report.by["CAB-9"].usd == pytest.approx(3.0)
    phases = {phase: bucket.usd for phase, bucket in report.phases["CAB-9"].items()}
    assert phases == {"1": pytest.approx(1.0), "2": pytest.approx(2.0)}
    assert "CAB-12" not in report.phases
    by = report.to_json()["by"]
    assert isinstance(by, dict) and by["CAB-9"]["phases"]["2"]["usd"] == pytest.approx(2.0)
    assert "phases" not in by["CAB-12"]


def test_attribution_by_worktree_when_the_branch_says_nothing() -> None:
    spans = [span(instance="t3", task="T3", branch="feat/a", worktree="/wt/a")]
    ledger = CostLedger(default_price_table(), spans)
    ledger.add(rec("m", out=1, cwd="/wt/a/src", branch="HEAD", at=datetime(2026, 2, 16, 11)))
    ledger.add(rec("n", out=1, cwd="/wt/ab", branch="HEAD", at=datetime(2026, 2, 16, 11)))
    assert set(ledger.report("agent").by) == {"t3", "(ab)"}


def test_new_spans_reattribute_without_double_counting() -> None:
    ledger = CostLedger(default_price_table())
    ledger.add(rec("m", out=200_000, branch="feat/x"))
    assert list(ledger.report("agent").by) == ["(repo)"]
    assert ledger.set_spans([span(instance="t9", branch="feat/x", start=None, end=None)])
    assert not ledger.set_spans([span(instance="t9", branch="feat/x", start=None, end=None)])
    report = ledger.report("agent")
    assert list(report.by) == ["t9"] and report.total.usd == pytest.approx(1.0)


# -- budgets ---------------------------------------------------------------------------------


def test_budgets_warn_at_80_and_alert_at_100_percent() -> None:
    day = date(2026, 2, 16)
    states = budget_states(
        day,
        40.0,
        {"t1": 7.9, "t2": 8.0, "t3": 10.0, "(repo)": 99.0},
        daily_budget_usd=50.0,
        agent_budget_usd=10.0,
    )
    levels = {(s.scope, s.subject): s.level for s in states}
    assert levels == {
        ("daily", "all agents"): "warning",
        ("agent", "t1"): "ok",
        ("agent", "t2"): "warning",
        ("agent", "t3"): "alert",
    }
    assert states[0].subject == "t3"  # worst first
    assert states[0].alert_id == "agent:t3:2026-02-16:alert"
    assert "budget reached" in states[0].message
    daily = budget_states(day, 50.0, {}, daily_budget_usd=50.0, agent_budget_usd=None)
    assert daily[0].level == "alert"
    assert (
        budget_states(day, 39.9, {}, daily_budget_usd=50.0, agent_budget_usd=None)[0].level == "ok"
    )
    assert budget_states(day, 0.0, {}, daily_budget_usd=None, agent_budget_usd=None) == ()


def test_the_view_for_the_cockpit() -> None:
    ledger = CostLedger(
        default_price_table(), [span(instance="t1", branch="b", start=None, end=None)]
    )
    ledger.add(rec("a", out=800_000, branch="b", at=datetime(2026, 2, 16, 9)))  # $4
    ledger.add(rec("y", out=800_000, branch="b", at=datetime(2026, 2, 15, 9)))  # yesterday
    view = ledger.view(datetime(2026, 2, 16, 10), daily_budget_usd=5.0, agent_budget_usd=4.0)
    assert view.header_text() == "today $4.00 of $5.00"
    assert view.agent_usd("t1") == pytest.approx(4.0) and view.agent_usd("t404") == 0
    assert [(s.scope, s.level) for s in view.alerts] == [("agent", "alert"), ("daily", "warning")]
    assert view.per_hour[-2:] == pytest.approx((4.0, 0.0))
    assert json.loads(json.dumps(view.to_json()))["header"] == "today $4.00 of $5.00"


def test_the_budget_command_runs_once_per_alert(tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    command = (
        sys.executable,
        "-c",
        "import os, sys; open(sys.argv[1], 'a').write(os.environ['FACTORY_BUDGET_SUBJECT'] + '\\n')",
        str(marker),
    )
    states = budget_states(
        date(2026, 2, 16), 60.0, {"t1": 1.0}, daily_budget_usd=50.0, agent_budget_usd=10.0
    )
    fired: set[str] = set()
    procs = fire_budget_command(command, states, fired)
    procs += fire_budget_command(command, states, fired)
    assert len(procs) == 1
    assert procs[0].wait(timeout=30) == 0
    assert marker.read_text() == "all agents\n"


# -- transcripts on disk ---------------------------------------------------------------------


def test_worktrees_are_read_from_gits_files(factory: Factory) -> None:
    trees = worktree_branches(factory.root)
    assert trees == {factory.root: "main", factory.wt1: "feat/CAB-1350-traceparent"}
    assert worktree_branches(factory.wt1) == trees
    paths = repo_paths(factory.wt1)
    assert str(factory.root) in paths and str(factory.wt1) in paths


@pytest.mark.parametrize("from_linked", [False, True])
def test_the_worktrees_are_read_again_only_when_gits_files_changed(
    factory: Factory, monkeypatch: pytest.MonkeyPatch, from_linked: bool
) -> None:
    """Issue 17: every derive and every spend re-read asks for the worktrees; git's files are
    stat'ed, read again only when one changed: a worktree added, moved, removed, or another
    branch checked out is still seen at the next call."""
    reads: list[Path] = []

    def counting(root: Path) -> dict[Path, str | None]:
        reads.append(root)
        return worktree_branches(root)

    monkeypatch.setattr(worktrees_module, "worktree_branches", counting)
    monkeypatch.setattr(worktrees_module, "RACY_NS", 0)  # git's writes here are not racy
    folders = RepoFolders(factory.wt1 if from_linked else factory.root)
    trees = folders.worktrees
    first = folders()
    assert {str(factory.root), str(factory.wt1)} <= set(first)
    assert folders() == first and trees.branches()[factory.root] == "main"
    assert len(reads) == 1
    wt2, moved = factory.root.parent / "repo-wt2", factory.root.parent / "moved-wt2"
    git("worktree", "add", "-q", "-b", "feat/two", str(wt2), cwd=factory.root)
    assert str(wt2) in folders() and len(reads) == 2
    assert str(wt2) in folders() and len(reads) == 2
    git("checkout", "-q", "-b", "feat/three", cwd=wt2)  # its HEAD rewritten
    assert trees.branches()[wt2] == "feat/three"
    git("worktree", "move", str(wt2), str(moved), cwd=factory.root)  # its gitdir rewritten
    paths = folders()
    assert str(moved) in paths and str(wt2) not in paths
    git("worktree", "remove", str(moved), cwd=factory.root)
    assert str(moved) not in folders() and str(factory.wt1) in folders()
    assert trees.branches() == worktree_branches(factory.root)


def test_the_factorys_transcripts_counted_once_and_priced(factory: Factory) -> None:
    t, _reader = tracker(factory)
    report = t.report("model")
    assert report.by["claude-sonnet-4-5-20250929"].usd == pytest.approx(A1)
    assert report.by["claude-sonnet-4-5-20250929"].responses == 1
    assert report.by["claude-haiku-4-5-20251001"].usd == pytest.approx(S1)
    assert report.by["claude-opus-4-1-20250805"].usd == pytest.approx(B1 + B2)
    assert report.total.usd == pytest.approx(A1 + S1 + B1 + B2)
    assert report.unpriced_models == ("claude-mystery-9",)
    assert t.ledger.skipped["synthetic"] == 1
    assert t.ledger.skipped["api_error"] == 1
    assert t.ledger.skipped["malformed"] == 1
    # msg_A1: two more streamed lines, the inline sidechain copy and the subagent's copy.
    assert t.ledger.skipped["duplicate"] == 4
    assert t.reader.stats.folders_counted == 2 and t.reader.stats.folders_seen == 3
    assert t.reader.stats.files == 3
    t.close()


def test_spend_is_attributed_to_instance_claim_phase_and_day(factory: Factory) -> None:
    t, _reader = tracker(factory)
    by_agent = t.report("agent").by
    assert by_agent["t1-aaaa"].usd == pytest.approx(B1 + B2)
    assert by_agent["(repo)"].usd == pytest.approx(A1 + S1)
    by_ticket = t.report("ticket").by
    assert by_ticket["CAB-1290"].usd == pytest.approx(B1 + B2)
    assert t.report("ticket").phases["CAB-1290"]["1"].usd == pytest.approx(B1 + B2)
    assert by_ticket["(no ticket)"].usd == pytest.approx(A1 + S1)
    by_day = t.report("day").by
    assert by_day["2026-02-16"].usd == pytest.approx(A1 + S1 + B1)
    assert by_day["2026-02-17"].usd == pytest.approx(B2)
    view = t.view(datetime(2026, 2, 16, 16))
    assert view.today_usd == pytest.approx(A1 + S1 + B1)
    assert view.daily_budget_usd == 0.1
    assert view.agent_usd("t1-aaaa") == pytest.approx(B1)
    t.close()


def test_the_spans_are_made_once_a_response_wants_them(
    factory: Factory, spans_made: list[int]
) -> None:
    """No transcript yet (the agents run elsewhere), or only the Council's own calls (their
    attribution fixed): the fleet's spans are not made (a 300-day history's took 5 s and
    240 MB). Once a response to attribute is read, they are, and the spend is attributed as
    when they were made first."""
    made = spans_made
    projects = factory.claude / "projects"
    projects.rename(factory.claude / "later")
    factory.config.council_history.write_text(
        json.dumps(
            {"timestamp": "2026-02-16T15:00:00", "ticket": "CAB-1290", "status": "go"}
            | {"model": "claude-sonnet-4-5", "input_tokens": 1000, "output_tokens": 100}
            | {"cost": 0.01, "sha256": "ab" * 32}
        )
        + "\n"
    )
    t, reader = tracker(factory)
    assert made == [] and t.report("agent").total.usd == pytest.approx(0.01)
    (factory.claude / "later").rename(projects)
    t.refresh(reader)
    assert made == [1]
    fresh, _reader = tracker(factory)
    for grouping in ("agent", "ticket", "day"):  # the same sums (added in another order)
        late, first = t.report(grouping), fresh.report(grouping)
        assert list(late.by) == list(first.by) and late.total.usd == pytest.approx(first.total.usd)
        for key, bucket in late.by.items():
            assert bucket.usd == pytest.approx(first.by[key].usd)
            assert bucket.responses == first.by[key].responses
    assert t.report("agent").by["t1-aaaa"].usd == pytest.approx(B1 + B2)
    t.close()
    fresh.close()


def test_a_council_history_that_cannot_be_read_is_said(factory: Factory) -> None:
    """Its problem was put among the tracker's, then replaced by the transcripts' own."""
    factory.config.council_history.mkdir(parents=True)
    t, _reader = tracker(factory)
    assert t.problems[-1:] == [
        f"cannot read {factory.config.council_history}: not a regular file (a directory, pipe "
        "or device?); will retry on the next poll"
    ]
    t.close()


@pytest.mark.parametrize("stamp", ["0500-01-01T12:00:00Z", "0001-01-01T00:00:00Z"])
def test_a_response_dated_outside_the_factorys_years_is_malformed(stamp: str) -> None:
    """As every time in the factory: years 1900..9000 (year 1 in a zone west of UTC raised
    OverflowError out of the transcripts' read)."""
    line = json.dumps(
        {
            "type": "assistant",
            "timestamp": stamp,
            "message": {"id": "m", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1}},
        }
    )
    west = timezone(timedelta(hours=-5))
    assert parse_transcript_line(line, tz=west) == "malformed"
    assert parse_transcript_line(line, tz=UTC) == "malformed"


def test_an_append_reads_only_the_appended_bytes(factory: Factory) -> None:
    t, _reader = tracker(factory)
    before = t.reader.stats.bytes_read
    path = factory.project("folder-wt1") / "sess-b.jsonl"
    line = json.dumps(
        {
            "type": "assistant",
            "cwd": str(factory.wt1),
            "gitBranch": "feat/CAB-1350-traceparent",
            "timestamp": "2026-02-16T14:20:00Z",
            "requestId": "req_B3",
            "message": {
                "id": "msg_B3",
                "model": "claude-haiku-4-5",
                "usage": {"output_tokens": 2000},
            },
        }
    ).encode()
    half = len(line) // 2
    with path.open("ab") as handle:  # a line caught half-written: not counted yet
        handle.write(line[:half])
    assert not t.refresh()
    with path.open("ab") as handle:
        handle.write(line[half:] + b"\n")
    assert t.refresh()
    assert t.reader.stats.bytes_read - before == len(line) + 1
    assert t.report("agent").by["t1-aaaa"].usd == pytest.approx(B1 + B2 + 0.01)
    assert not t.refresh()  # nothing new: nothing read
    assert t.reader.stats.bytes_read - before == len(line) + 1
    t.close()


def test_a_new_worktree_project_and_a_new_subagent_file_are_picked_up(factory: Factory) -> None:
    t, _reader = tracker(factory)
    sub = factory.project("folder-wt1") / "sess-b" / "subagents" / "agent-y.jsonl"
    sub.parent.mkdir(parents=True)
    sub.write_text(
        json.dumps(
            {
                "type": "assistant",
                "isSidechain": True,
                "cwd": str(factory.wt1),
                "timestamp": "2026-02-16T14:30:00Z",
                "message": {
                    "id": "msg_Y",
                    "model": "claude-haiku-4-5",
                    "usage": {"input_tokens": 10**6},
                },
            }
        )
        + "\n"
    )
    assert t.refresh()
    assert t.report("model").by["claude-haiku-4-5"].usd == pytest.approx(1.0)
    t.close()


def test_closed_files_are_read_again_without_double_counting(factory: Factory) -> None:
    t, _reader = tracker(factory, max_open=1)
    total = t.report("model").total.usd
    assert t.reader.stats.open_files == 1
    path = factory.project("folder-main") / "sess-a.jsonl"  # not the most recent: closed
    with path.open("a") as handle:
        handle.write('{"type":"user","message":{"content":"more"}}\n')
    t.refresh()
    assert t.reader.stats.rereads >= 1
    assert t.report("model").total.usd == pytest.approx(total)
    t.close()


def test_no_projects_folder_is_no_spend(tmp_path: Path) -> None:
    reader = TranscriptReader(tmp_path / "nothing", lambda: [str(tmp_path)])
    ledger = CostLedger(default_price_table())
    assert reader.refresh(ledger) == 0 and len(ledger) == 0


def test_the_councils_own_calls_count_in_the_days_spend(factory: Factory) -> None:
    factory.config.council_history.write_text(
        json.dumps(
            {
                "timestamp": "2026-02-16T15:00:00",
                "ticket": "CAB-1290",
                "status": "go",
                "global_score": 8.5,
                "scores": {"Chucky": 8},
                "model": "claude-haiku-4-5",
                "input_tokens": 4000,
                "output_tokens": 800,
                "cost": 0.008,
                "duration_ms": 1200,
                "sha256": "ab" * 32,
            }
        )
        + "\n"
    )
    t, _reader = tracker(factory)
    view = t.view(datetime(2026, 2, 16, 16))
    assert view.agent_usd("(council)") == pytest.approx(0.008)
    assert view.today_usd == pytest.approx(A1 + S1 + B1 + 0.008)
    by_ticket = t.report("ticket")  # the Council's calls: on the ticket, in no phase
    phase_1 = by_ticket.phases["CAB-1290"]["1"].usd
    assert by_ticket.by["CAB-1290"].usd - phase_1 == pytest.approx(0.008)
    t.close()


# -- CLI -------------------------------------------------------------------------------------


def cli(argv: list[str]) -> int:

    parser = argparse.ArgumentParser(prog="factory-tui")
    sub = parser.add_subparsers(dest="command")
    add_cost_parser(sub)
    return cmd_cost(parser.parse_args(argv))


@pytest.fixture
def utc_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads transcripts in local time: make local time UTC, like the fixtures."""
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", "")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_cost_cli_json(factory: Factory, capsys: pytest.CaptureFixture[str], utc_cli: None) -> None:
    argv = ["cost", "--json", "--by", "ticket", "--now", "2026-02-16T16:00", "--since", "all"]
    code = cli([*argv, str(factory.root)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["total_usd"] == pytest.approx(A1 + S1 + B1 + B2)
    assert data["by"]["CAB-1290"]["phases"]["1"]["usd"] == pytest.approx(B1 + B2)
    assert data["by"]["CAB-1290"]["phases"]["1"]["cache_read_tokens"] == 10000
    assert data["unpriced_models"] == ["claude-mystery-9"]
    assert data["today"]["today_usd"] == pytest.approx(A1 + S1 + B1)
    assert [(b["scope"], b["level"]) for b in data["budgets"]] == [
        ("daily", "warning"),
        ("agent", "warning"),
    ]


def test_cost_cli_defaults_to_today_and_says_which_period(
    factory: Factory, capsys: pytest.CaptureFixture[str], utc_cli: None
) -> None:
    """Like the cockpit: today's spend unless --since says otherwise, and the period named."""
    now = ["--now", "2026-02-17T12:00", str(factory.root)]
    assert cli(["cost", "--json", *now]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["since"] == "2026-02-17T00:00:00" and data["period"] == "today"
    assert data["total_usd"] == pytest.approx(B2)  # A1, S1 and B1 were spent the day before
    assert cli(["cost", *now]) == 0
    assert "spend by agent, today (since 2026-02-17 00:00)" in capsys.readouterr().out
    assert cli(["cost", "--json", "--since", "all", *now]) == 0
    assert json.loads(capsys.readouterr().out)["total_usd"] == pytest.approx(A1 + S1 + B1 + B2)
    assert cli(["cost", "--since", "all", *now]) == 0
    assert "spend by agent, all time" in capsys.readouterr().out


def test_cost_cli_since_and_text(
    factory: Factory, capsys: pytest.CaptureFixture[str], utc_cli: None
) -> None:
    code = cli(
        [
            "cost",
            "--since",
            "2026-02-17",
            "--by",
            "day",
            "--now",
            "2026-02-17T12:00",
            str(factory.root),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2026-02-16" not in out.split("spend by day")[1].split("total")[0]
    assert "claude-mystery-9" not in out
    assert "today $0.15 of $0.10" in out
    assert "ALERT: today: $0.15 of $0.10" in out


def test_since_accepts_dates_times_and_durations() -> None:
    now = datetime(2026, 2, 16, 15, 30)
    assert parse_since("2026-02-01", now) == datetime(2026, 2, 1)
    assert parse_since("2026-02-01T10:00", now) == datetime(2026, 2, 1, 10)
    assert parse_since("today", now) == datetime(2026, 2, 16)
    assert parse_since("7d", now) == datetime(2026, 2, 9, 15, 30)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_since("last tuesday", now)


def test_budget_command_from_config(factory: Factory) -> None:
    (factory.root / "factory.toml").write_text(
        'memory = "mem"\n[cost]\non_budget = ["pause-agents", "--all"]\n'
    )
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    assert budget_command(config) == ("pause-agents", "--all")
    (factory.root / "factory.toml").write_text('memory = "mem"\n[cost]\non_budget = "rm -rf /"\n')
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    with pytest.raises(PriceTableError, match="list of strings"):
        budget_command(config)


def test_cli_groupings_are_the_cores() -> None:
    from factory_tui.cli.cost import COST_GROUPINGS
    from factory_tui.core.cost_report import GROUPINGS

    assert COST_GROUPINGS == GROUPINGS


def test_the_end_of_a_ticket_is_not_charged_to_the_agents_next_claim() -> None:
    """Responses on ticket A's branch, after A's claim was released, in the minutes before the
    agent claims B: A's session's, not B's (B's claim span reaches back 30 minutes)."""
    spans = [
        span(instance="t1", task="CAB-1", branch="fix/CAB-1", end=datetime(2026, 2, 16, 12)),
        span(
            kind="claim",
            instance="t1",
            task="CAB-2",
            claim="CAB-2",
            branch="fix/CAB-2",
            start=datetime(2026, 2, 16, 12, 5),
            end=None,
        ),
        span(
            kind="claim",
            instance="t1",
            task="CAB-3",
            claim="CAB-3",
            branch=None,
            start=datetime(2026, 2, 16, 12, 6),
            end=None,
        ),
        span(instance="t1", task="CAB-2", branch="fix/CAB-2", start=datetime(2026, 2, 16, 12, 5)),
    ]
    ledger = CostLedger(default_price_table(), spans)
    ledger.add(rec("tail", out=200_000, at=datetime(2026, 2, 16, 11, 58), branch="fix/CAB-1"))
    ledger.add(rec("next", out=200_000, at=datetime(2026, 2, 16, 12, 30), branch="fix/CAB-2"))
    attributions = {r.key[0]: a for r, a, _usd in ledger.records()}
    assert attributions["tail"] == Attribution("t1", "CAB-1", None, "branch and time of session")
    assert attributions["next"] == Attribution("t1", "CAB-2", None, "branch and time of claim")


# -- every token counted once, at its price --------------------------------------------------


def assistant_line(
    message_id: str,
    request_id: str,
    *,
    model: str = "claude-sonnet-4-5",
    out: int = 100,
    sidechain: bool = False,
    speed: str | None = None,
) -> str:
    usage: dict[str, object] = {"input_tokens": 1000, "output_tokens": out}
    if speed is not None:
        usage["speed"] = speed
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": "2026-02-16T14:00:00Z",
            "requestId": request_id,
            "isSidechain": sidechain,
            "cwd": "/repo",
            "message": {"id": message_id, "model": model, "usage": usage},
        }
    )


def ledger_of(*lines: str) -> CostLedger:
    ledger = CostLedger(default_price_table())
    ledger.add_all(
        parse_transcript_line(line, source=f"f:{n}", tz=UTC) for n, line in enumerate(lines, 1)
    )
    return ledger


def test_a_subagents_replay_of_its_parents_message_counts_once() -> None:
    parent = assistant_line("msg_P", "req_1")
    replay = assistant_line("msg_P", "req_2", sidechain=True)  # same message, a new request
    for lines in ((parent, replay), (replay, parent)):
        ledger = ledger_of(*lines)
        report = ledger.report("model")
        assert report.total.responses == 1 and ledger.skipped["duplicate"] == 1
        assert report.total.usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
        # Equal totals: the parent's own line is kept, whichever came first.
        (kept, _attribution, _usd), *_ = ledger.records()
        assert not kept.sidechain


def test_a_replay_keeps_the_line_with_the_largest_total() -> None:
    ledger = ledger_of(
        assistant_line("msg_P", "req_1", out=10),
        assistant_line("msg_P", "req_2", out=500, sidechain=True),
    )
    assert ledger.report("model").total.output_tokens == 500


def test_fast_mode_responses_are_billed_at_the_fast_price() -> None:
    ledger = ledger_of(
        assistant_line("m1", "r1", model="claude-opus-4-6", speed="fast"),
        assistant_line("m2", "r2", model="claude-opus-4-6", speed="standard"),
        assistant_line("m3", "r3", model="claude-opus-4-8-20260528", speed="fast"),
    )
    standard = (1000 * 5 + 100 * 25) / 1e6
    by = ledger.report("model").by
    assert by["claude-opus-4-6 (fast)"].usd == pytest.approx(6 * standard)
    assert by["claude-opus-4-6"].usd == pytest.approx(standard)
    assert by["claude-opus-4-8-20260528 (fast)"].usd == pytest.approx(2 * standard)


def test_fast_mode_on_a_model_without_a_fast_price_is_unpriced_not_standard() -> None:
    ledger = ledger_of(assistant_line("m1", "r1", model="claude-sonnet-4-5", speed="fast"))
    report = ledger.report("model")
    assert report.unpriced_models == ("claude-sonnet-4-5 (fast)",)
    assert report.total.usd == 0 and report.total.unpriced_responses == 1


def test_a_fast_multiple_scales_the_long_context_prices_too() -> None:
    price = ModelPrice.from_io(
        3.0, 15.0, long=(200_000, ModelPrice.from_io(6.0, 22.5)), fast=2.0
    ).fast_mode()
    assert price is not None
    long = Usage(input_tokens=250_000, output_tokens=1000)
    assert cost_usd(long, price) == pytest.approx(2 * (250_000 * 6 + 1000 * 22.5) / 1e6)
    with pytest.raises(PriceTableError, match=r"fast must be .* ≥ 1"):
        parse_price_table('[models."x"]\ninput = 1\noutput = 2\nfast = 0.5\n', "t.toml")


def test_retired_models_are_priced_by_their_exact_snapshot_id() -> None:
    table = default_price_table()
    for model, io in {
        "claude-3-5-sonnet-20241022": (3, 15),
        "claude-3-5-sonnet-20240620": (3, 15),
        "claude-3-5-haiku-20241022": (0.8, 4),
        "claude-3-opus-20240229": (15, 75),
        "claude-3-haiku-20240307": (0.25, 1.25),
        "claude-3-7-sonnet-20250219": (3, 15),
    }.items():
        price = table.lookup(model)
        assert price is not None and (price.input, price.output) == io, model
    # genai-prices lists Sonnet 3.5 as ``claude-3-5-sonnet`` (every snapshot had one price): a
    # dated name of it is that model, as for any listed id. A name that only begins like it is
    # not, though genai-prices' own prefix rule would price it.
    assert table.lookup("claude-3-5-sonnet-20250101") == table.lookup("claude-3-5-sonnet")
    assert table.lookup("claude-3-5-sonnet-foo") is None
    assert table.lookup("claude-3-5-sonnet-v2-20241022") is None


def test_transcripts_are_read_from_every_claude_config_dir(factory: Factory) -> None:
    # A real factory gives each agent pane its own CLAUDE_CONFIG_DIR: the worktree's agent
    # writes under its own, and a replay of a message in both is still counted once.
    pane = factory.root.parent / "claude-agent-2"
    (pane / "projects").mkdir(parents=True)
    factory.project("folder-wt1").rename(pane / "projects" / "folder-wt1")
    shutil.copytree(factory.project("folder-main"), pane / "projects" / "folder-main")
    toml = factory.root / "factory.toml"
    only_first = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    t, _reader = tracker(Factory(factory.root, factory.wt1, factory.claude, only_first))
    assert t.report("model").total.usd == pytest.approx(A1 + S1)
    t.close()
    toml.write_text(
        toml.read_text().replace(
            'claude_config_dir = "../claude"', 'claude_config_dir = ["../claude", "../claude-*"]'
        )
    )
    both = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    assert both.claude_dirs == (factory.claude, pane)
    t, _reader = tracker(Factory(factory.root, factory.wt1, factory.claude, both))
    assert t.report("model").total.usd == pytest.approx(A1 + S1 + B1 + B2)
    assert t.reader.stats.folders_counted == 3
    t.close()


# -- price sources: genai-prices, prices.toml, config -------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "claude-3-5-sonnet-foo",
        "claude-opus-4-6-foo",
        "claude-sonnet-4-5-banana",
        "claude-haiku-4-5-x-20251001",
    ],
)
def test_a_name_genai_prices_matches_by_prefix_is_unpriced(model: str) -> None:
    from genai_prices import Usage as PackageUsage
    from genai_prices import calc_price

    # The package's own matcher prices it (a prefix rule)...
    priced = calc_price(PackageUsage(input_tokens=1000), model, provider_id="anthropic")
    assert priced.total_price > 0
    # ...ours does not: a resemblance is not a name.
    assert default_price_table().lookup(model) is None
    report = ledger_of(assistant_line("m1", "r1", model=model)).report("model")
    assert report.unpriced_models == (model,) and report.total.usd == 0


def test_a_model_unknown_to_genai_prices_and_prices_toml_stays_unpriced() -> None:
    table = default_price_table()
    for model in ("claude-sonnet-9", "claude-opus-4-9", "gpt-4o"):
        assert table.lookup(model) is None, model


def test_genai_prices_prices_models_prices_toml_does_not_list() -> None:
    shipped = (Path(__file__).parent.parent / "factory_tui" / "data" / "prices.toml").read_text()
    table = default_price_table()
    for model, (io, fast) in {
        # Published after the hand-kept table was written: it had them unpriced.
        "claude-fable-5-2": ((8.0, 40.0), 2.0),
        "claude-mythos-5-2-20261101": ((8.0, 40.0), 2.0),
        "claude-haiku-4-5-20251001": ((1.0, 5.0), None),
    }.items():
        assert model.removesuffix("-20261101").removesuffix("-20251001") not in shipped
        price = table.lookup(model)
        assert price is not None and (price.input, price.output) == io, model
        assert price.fast == fast, model
    fable = table.lookup("claude-fable-5-2")
    assert fable is not None and fable.cache_read == pytest.approx(0.2)  # 0.025x, not 0.1x
    # Opus 5.5's fast mode ($8/$40, 2x): the hand-kept table had none (fast responses unpriced).
    ledger = ledger_of(assistant_line("m1", "r1", model="claude-opus-5-5", speed="fast"))
    assert ledger.report("model").total.usd == pytest.approx(2 * (1000 * 4 + 100 * 20) / 1e6)
    # Haiku 5.5's 100k-token tier comes from the package too.
    haiku = table.lookup("claude-haiku-5-5")
    assert haiku is not None and haiku.long is not None
    assert (haiku.long[0], haiku.long[1].input, haiku.long[1].output) == (100_000, 0.5, 2.5)


def test_prices_toml_supplies_only_what_genai_prices_lacks() -> None:
    from factory_tui.adapters.prices import package_prices
    from factory_tui.core.pricing import parse_price_extras

    shipped_text = (
        Path(__file__).parent.parent / "factory_tui" / "data" / "prices.toml"
    ).read_text()
    package = package_prices(datetime.now(UTC))
    shipped = parse_price_table(shipped_text, "prices.toml")
    extras = parse_price_extras(shipped_text, "prices.toml")
    # Models: the package lists none of them (else delete them from prices.toml).
    assert sorted(shipped.models) == ["claude-mythos-5", "claude-mythos-5-1"]
    assert not set(shipped.models) & set(package)
    # Extras: the package lists the model and lacks exactly that part.
    assert sorted(extras) == [
        "claude-opus-4-6",
        "claude-opus-4-7",
        "claude-sonnet-4",
        "claude-sonnet-4-0",
    ]
    for name, extra in extras.items():
        assert name in package, name
        if extra.fast is not None:
            assert package[name].fast is None, f"{name}: genai-prices has fast now"
        if extra.long is not None:
            assert package[name].long is None, f"{name}: genai-prices has long now"
    # And the table has them.
    table = default_price_table()
    mythos = table.lookup("claude-mythos-5-1")
    assert mythos is not None and (mythos.input, mythos.output, mythos.cache_read) == (
        10.0,
        50.0,
        0.25,
    )
    opus = table.lookup("claude-opus-4-7-20261001")
    assert opus is not None and opus.fast == 6.0
    sonnet = table.lookup("claude-sonnet-4-20250514")
    assert sonnet is not None and sonnet.long is not None
    assert (sonnet.long[0], sonnet.long[1].input, sonnet.long[1].output) == (200_000, 6.0, 22.5)


def test_config_overrides_go_on_top_of_the_package_and_prices_toml(factory: Factory) -> None:
    (factory.root / "factory.toml").write_text(
        'memory = "mem"\n'
        '[cost.prices."claude-fable-5-2"]\ninput = 1.0\noutput = 2.0\n'
        '[cost.prices."claude-mythos-5-1"]\ninput = 3.0\noutput = 4.0\n'
    )
    config = load_config(factory.root, flags={}, env={}, user_config=factory.root / "none")
    table = prices_from_config(config)
    fable = table.lookup("claude-fable-5-2-20261101")
    assert fable is not None and (fable.input, fable.output, fable.fast) == (1.0, 2.0, None)
    mythos = table.lookup("claude-mythos-5-1")
    assert mythos is not None and (mythos.input, mythos.cache_read) == (3.0, pytest.approx(0.3))
    untouched = table.lookup("claude-opus-4-6")
    assert untouched is not None and (untouched.input, untouched.fast) == (5.0, 6.0)


def test_layering_keeps_the_package_price_and_fills_only_what_it_lacks() -> None:
    from factory_tui.core.pricing import PriceExtras, layered

    package = {
        "a": ModelPrice.from_io(1.0, 2.0, fast=3.0),
        "b": ModelPrice.from_io(1.0, 2.0),
    }
    long = (1000, ModelPrice.from_io(2.0, 4.0))
    table = layered(
        package,
        {"a": ModelPrice.from_io(9.0, 9.0), "c": ModelPrice.from_io(5.0, 6.0)},
        {
            "a": PriceExtras(fast=6.0, long=long),
            "b": PriceExtras(fast=2.0),
            "z": PriceExtras(fast=2.0),
        },
        source="s",
    )
    assert table.models["a"] == ModelPrice.from_io(1.0, 2.0, fast=3.0, long=long)
    assert table.models["b"].fast == 2.0
    assert table.models["c"].input == 5.0
    assert "z" not in table.models


def test_a_wrong_extra_in_a_price_file_says_where_and_what() -> None:
    from factory_tui.core.pricing import parse_price_extras

    with pytest.raises(PriceTableError, match=r'p.toml \[extras."m"\]: unknown key input'):
        parse_price_extras('[extras."m"]\ninput = 1\n', "p.toml")
    with pytest.raises(PriceTableError, match=r"fast must be"):
        parse_price_extras('[extras."m"]\nfast = "x"\n', "p.toml")


@pytest.fixture
def package_data() -> Iterator[list[object]]:
    """genai-prices with only the Anthropic models a test puts in the list."""
    from genai_prices import data_snapshot, types

    models: list[object] = []
    provider = types.Provider(id="anthropic", name="Anthropic", api_pattern="x", models=models)  # type: ignore[arg-type]
    data_snapshot.set_custom_snapshot(
        data_snapshot.DataSnapshot(providers=[provider], from_auto_update=False)
    )
    yield models
    data_snapshot.set_custom_snapshot(None)


def test_package_models_are_listed_under_exact_names_only(package_data: list[object]) -> None:
    from decimal import Decimal as D

    from genai_prices import types as t

    from factory_tui.adapters.prices import package_prices

    def price(i: str, o: str, **more: object) -> t.ModelPrice:
        return t.ModelPrice(input_mtok=D(i), output_mtok=D(o), **more)  # type: ignore[arg-type]

    package_data += [
        t.ModelInfo(
            id="claude-x-latest",
            match=t.ClauseOr(
                [
                    t.ClauseStartsWith("claude-x"),
                    t.ClauseEquals("claude-x-1"),
                    t.ClauseRegex(r"^claude-x-\d{8}$"),
                ]
            ),
            prices=price("1", "2"),
        ),
        # Claims claude-x-1 too, at another price: the name is nobody's.
        t.ModelInfo(id="claude-y", match=t.ClauseEquals("claude-x-1"), prices=price("3", "4")),
        # Tiers at two thresholds: not a price we can say; unpriced, not mispriced.
        t.ModelInfo(
            id="claude-z",
            match=t.ClauseEquals("claude-z"),
            prices=t.ModelPrice(
                input_mtok=t.TieredPrices(D("1"), [t.Tier(1000, D("2"))]),
                output_mtok=t.TieredPrices(D("1"), [t.Tier(2000, D("2"))]),
            ),
        ),
    ]
    found = package_prices(datetime(2026, 12, 1, tzinfo=UTC))
    assert sorted(found) == ["claude-x", "claude-x-latest", "claude-y"]
    assert found["claude-x"].input == 1.0 and found["claude-y"].input == 3.0


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (950, "950"),
        (1_234, "1.2k"),
        (12_345, "12k"),
        (4_560_000, "4.56M"),
        (12_000_000, "12.00M"),
        (1_230_000_000, "1.23G"),
    ],
)
def test_token_counts_read_the_same_in_the_cli_and_the_cockpit(count: int, text: str) -> None:
    """One formatter for both faces (the CLI used to print ``1234`` and ``12M`` where the
    cockpit showed ``1.2k`` and ``12.00M``)."""
    assert format_tokens(count) == text


def test_another_reader_gets_its_spans_even_at_the_same_generation(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader's generation counts its own reads: two readers of two histories can stand at
    the same count. The spend is attributed again with the spans of the reader given."""
    t, first = tracker(factory)
    second = FactoryReader(factory.config, hostname="here", probe=FixedProbe())
    second.refresh_all()
    assert second.generation == first.generation
    attributed: list[object] = []
    real_set_spans = t.ledger.set_spans

    def set_spans(spans: object) -> bool:
        attributed.append(spans)
        return real_set_spans(spans)

    monkeypatch.setattr(t.ledger, "set_spans", set_spans)
    t.refresh(first)
    assert attributed == []  # the same reader, nothing new: nothing to attribute again
    t.refresh(second)
    assert len(attributed) == 1
    t.close()


def test_the_cost_cli_tells_how_far_its_read_of_the_transcripts_is_on_a_terminal(
    factory: Factory,
    capsys: pytest.CaptureFixture[str],
    utc_cli: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first read of many transcripts takes seconds: on a terminal, its progress is told as
    a factory read's is, and erased before the report."""
    import io

    import factory_tui.cli.progress as progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    monkeypatch.setattr(progress, "EVERY_S", 0)
    term = Terminal()
    with progress.progress_on_terminal(term):
        assert cli(["cost", "--json", "--now", "2026-02-16T16:00", str(factory.root)]) == 0
    assert "factory-tui: reading transcripts " in term.getvalue()
    assert term.getvalue().endswith("\r\x1b[K")
    assert json.loads(capsys.readouterr().out)["total_usd"] > 0
