"""Issue 17: every command and action reads the factory from the warm-start cache of the fold,
not only ``status``: on a million-line log ``prs``, ``agent``, ``cost``, a release or a recovery
cost what was appended since the last run, not the whole history (3.2 s a ``prs`` on the scale
factory, every time). And what reads every session (linking PRs) reads them as columns, the
same answers as the records give."""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from test_fold_packed import _HISTORY, chunk
from test_foldcache import NOW, _write, make_factory, reader

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import CACHE_SWITCH_ENV, FoldCache
from factory_tui.cli import main
from factory_tui.config import Config
from factory_tui.core.fold import LogFold
from factory_tui.core.prs import PullRequest
from factory_tui.core.prs_link import Link, link_pr, link_rows, log_branches
from factory_tui.ui.flows.common import action_reader

# Which sessions are live is pinned by their times (see the fixture).
pytestmark = pytest.mark.usefixtures("ends_in_time_order")


def _big_factory(root: Path) -> Config:
    """A factory whose log is big enough to be cached (over a MiB), one agent in it."""
    config = make_factory(root)
    lines = [
        f"2026-02-12T{n // 600 % 24:02d}:{n % 60:02d} | STEP-DONE | step=s task=t{n % 50} "
        f"component=c{n}".encode()
        for n in range(24_000)
    ]
    old = [  # ended long before the history window: only in the cache's archive once saved
        f"2026-02-01T10:{n // 2 % 60:02d} | SESSION-{'END' if n % 2 else 'START'} | "
        f"task=o{n // 2 % 20} {'status=success' if n % 2 else f'branch=b/o{n // 2 % 20} instance=i2'}".encode()
        for n in range(2400)  # over the 1,000 archived sessions made columns, not records
    ]
    recent = [  # a session that ended today: the old ones are days before the last end
        b"2026-02-12T00:00 | SESSION-START | task=t2 branch=b/t2 instance=i3",
        b"2026-02-12T00:00 | SESSION-END | task=t2 status=success",
    ]
    start = b"2026-02-12T00:00 | SESSION-START | task=t1 branch=b/t1 instance=i1"
    _write(config.log_file, [*old, *recent, start, *lines])
    assert config.log_file.stat().st_size > (1 << 20)
    return config


@pytest.fixture
def saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Config:
    """The big factory after a ``status`` (which saved the fold), and a line appended since."""
    config = _big_factory(tmp_path / "factory")
    assert main(["status", str(config.root), "--json", "--now", "2026-02-12T16:00"]) == 0
    capsys.readouterr()
    with config.log_file.open("ab") as f:
        f.write(b"2026-02-12T15:00 | STEP-DONE | step=t task=t1\n")
    return config


@pytest.mark.parametrize(
    "argv",
    [
        ["agent", "i1", "ROOT", "--now", "2026-02-12T16:00"],
        ["prs", "ROOT", "--source", "local"],
        ["cost", "ROOT"],
    ],
    ids=["agent", "prs", "cost"],
)
def test_commands_read_the_log_from_the_warm_cache(
    saved: Config, resumed: list[int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(saved.root) if arg == "ROOT" else arg for arg in argv])
    capsys.readouterr()
    assert resumed, f"{argv[0]} read the whole log"
    assert resumed[0] == saved.log_file.stat().st_size - len(
        b"2026-02-12T15:00 | STEP-DONE | step=t task=t1\n"
    )


def test_the_agent_command_answers_as_a_cold_read(
    saved: Config, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["agent", "i1", str(saved.root), "--json", "--now", "2026-02-12T16:00"]
    assert main(argv) == 0
    warm = capsys.readouterr().out
    monkeypatch.setenv(CACHE_SWITCH_ENV, "0")
    assert main(argv) == 0
    assert capsys.readouterr().out == warm
    assert '"step_since": "2026-02-12T15:00"' in warm  # the appended line was read


def test_an_action_in_the_cockpit_reads_from_the_warm_cache(
    saved: Config, resumed: list[int], private_cache_dir: Path
) -> None:
    """The reader an action makes on its thread (the app's belongs to the reader worker)
    starts from the cache the cockpit keeps, in the cache folder of the app's environment."""
    app = SimpleNamespace(
        config=saved,
        environ={"FACTORY_TUI_CACHE_DIR": str(private_cache_dir)},
        reader=FactoryReader(saved, hostname="h"),
    )
    found = action_reader(cast(Any, app))
    found.refresh_log()
    assert found.warm_started and resumed
    assert found.hostname == "h" and found.probe is app.reader.probe
    assert found.fold.sessions[-1].last_step == "t"


def test_the_cache_switch_turns_it_off_for_actions_too(saved: Config, resumed: list[int]) -> None:
    found = FactoryReader.warm(saved, {CACHE_SWITCH_ENV: "off"})
    found.refresh_log()
    assert found.fold_cache is None and not found.warm_started and not resumed


def _links(fold: LogFold, prs: list[PullRequest]) -> list[Link]:
    """How each PR links to the fold's sessions, read from every session's record."""
    return [link_pr(pr, list(fold.sessions), []) for pr in prs]


def _prs_of(log: list[bytes]) -> list[PullRequest]:
    """A local and a GitHub PR for each ``pr=`` and ``branch=`` the log names, and one it
    does not name."""
    words = {word for line in log for word in line.decode("utf-8", "replace").split()}
    numbers = sorted({w[3:] for w in words if w.startswith("pr=") and w[3:].isdigit()})
    branches = sorted({w[7:] for w in words if w.startswith("branch=")} | {"nowhere"})
    return [
        *(_pr(int(n), None, "github") for n in numbers),
        *(_pr(None, b, "local") for b in branches),
        *(_pr(int(n), b, "github") for n in numbers for b in branches[:2]),
        _pr(99999, "b/none", "github"),
    ]


def _pr(number: int | None, branch: str | None, source: str) -> PullRequest:
    return PullRequest(source=source, number=number, branch=branch, title="t", state="open")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=_HISTORY)
def test_prs_link_to_the_sessions_read_as_columns_as_to_the_records(
    tmp_path_factory: pytest.TempPathFactory, log: list[bytes]
) -> None:
    """Packed as the fold goes, or restored from the cache's archive (and fed more after):
    the sessions found in the columns for the PRs (their ``pr=`` or branch) link every PR as
    all the records do, and the branches read from the column are the records' in order."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache", min_log_bytes=0)
    _write(config.log_file, log)
    with chunk(2):
        first = reader(config, cache)
        prs = _prs_of(log)
        linkable = link_rows(first.fold.sessions, prs)
        assert [link_pr(pr, linkable, []) for pr in prs] == _links(first.fold, prs)
        assert first.save_fold_cache()
        with config.log_file.open("ab") as f:
            f.write(b"".join(line + b"\n" for line in log))
        warm = reader(config, cache)
        assert warm.warm_started
        branches = log_branches(warm.fold.sessions)  # before the records are made
        linkable = link_rows(warm.fold.sessions, prs)
        cold = reader(config, None).fold
        assert branches == list(dict.fromkeys(rec.branch for rec in cold.sessions))
        assert [link_pr(pr, linkable, []) for pr in prs] == _links(cold, prs)
        assert all(rec.pr in {str(p.number) for p in prs} or rec.branch for rec in linkable)


def test_a_prs_link_reads_the_latest_of_each_kind_it_walks_for(tmp_path: Path) -> None:
    """Each of :func:`link_pr`'s walks keeps the last session it meets: the rows found hold,
    for each PR, the latest with its number, the latest on its branch, and the latest on its
    branch with a numeric ``pr=`` (a local PR whose branch's last session logged none still
    shows the number an earlier one did)."""
    config = make_factory(tmp_path / "factory")
    _write(
        config.log_file,
        [
            b"2026-02-12T10:00 | SESSION-START | task=a branch=b/x instance=i1",
            b"2026-02-12T10:01 | SESSION-END | task=a status=success pr=7",
            b"2026-02-12T10:02 | SESSION-START | task=b branch=b/x instance=i2",
            b"2026-02-12T10:03 | SESSION-END | task=b status=success pr=8",
            b"2026-02-12T10:04 | SESSION-START | task=c branch=b/x instance=i3",
            b"2026-02-12T10:05 | SESSION-END | task=c status=crashed",
            b"2026-02-12T10:06 | SESSION-START | task=d branch=b/y instance=i1",
            b"2026-02-12T10:07 | SESSION-END | task=d status=success pr=7",
        ],
    )
    with chunk(2):
        fold = reader(config, None).fold
        prs = [_pr(None, "b/x", "local"), _pr(7, None, "github"), _pr(9, "b/x", "github")]
        rows = link_rows(fold.sessions, prs)
        links = [link_pr(pr, rows, []) for pr in prs]
    assert links == _links(fold, prs)
    assert [rec.task for rec in rows] == ["b", "c", "d"]
    assert [(link.task, link.number) for link in links] == [("c", 8), ("d", 7), ("c", None)]


@pytest.mark.parametrize(
    ("lines", "pr", "linked"),
    [
        pytest.param(  # "²".isdigit() is true, int("²") raises
            ["task=a branch=b/x instance=i1 pr=8", "task=b branch=b/x instance=i2 pr=\u00b2"],
            _pr(None, "b/x", "local"),
            ("b", 8),
            id="a superscript pr",
        ),
        pytest.param(  # int() of a 5,000-digit string raises
            [
                "task=a branch=b/x instance=i1 pr=8",
                f"task=b branch=b/x instance=i2 pr={'9' * 5000}",
            ],
            _pr(None, "b/x", "local"),
            ("b", 8),
            id="a 5,000-digit pr",
        ),
        pytest.param(  # no branch: its session's, whose numbered session is read
            ["task=a branch=b/y instance=i1 pr=8", "task=b branch=b/y instance=i2 pr=-5"],
            _pr(-5, None, "local"),
            ("b", 8),
            id="a negative number",
        ),
    ],
)
def test_an_odd_pr_in_the_log_links_as_from_every_session(
    tmp_path: Path, lines: list[str], pr: PullRequest, linked: tuple[str, int]
) -> None:
    """Agent-written ``pr=`` values that look like numbers and are not: the link is the one
    made from every session, and no error (it raised ValueError on a ``pr=²``)."""
    config = make_factory(tmp_path / "factory")
    _write(
        config.log_file,
        [f"2026-02-12T10:0{n} | SESSION-START | {line}".encode() for n, line in enumerate(lines)],
    )
    fold = reader(config, None).fold
    link = link_pr(pr, link_rows(fold.sessions, [pr]), [])
    assert link == _links(fold, [pr])[0]
    assert (link.task, link.number) == linked


def test_a_prs_queue_from_the_log_makes_only_the_sessions_its_prs_name(
    saved: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prs`` (and ``approve`` and the other CLI actions) link the PRs found to every session
    in the log, read as columns: the sessions handed to the queue are the few a PR's link reads
    (each branch's latest, and its latest with a numeric ``pr=``), not all those it names (a
    branch's hundreds of sessions in a 300-day history: 44,000 records, 1.2 s), nor a row of
    each of its 1.49 million sessions (484 MB, 4 s)."""
    from factory_tui.actions import prs as prs_actions

    handed: list[Any] = []
    real = prs_actions.build_queue

    def spy(prs: Any, **kwargs: Any) -> Any:
        handed.append(list(kwargs["sessions"]))
        return real(prs, **kwargs)

    monkeypatch.setattr(prs_actions, "build_queue", spy)
    found = [_pr(None, "b/o3", "local"), _pr(None, "b/t1", "local")]
    monkeypatch.setattr(
        prs_actions, "_fetch", lambda *a, **k: prs_actions._Fetched(prs=list(found))
    )
    log = FactoryReader.warm(saved)
    log.refresh_log()
    assert log.warm_started and log.fold.sessions.saved > 1000
    queue = prs_actions.load_queue(saved, now=NOW, reader=log)
    [sessions] = handed
    cold = FactoryReader(saved)
    cold.refresh_log()
    every = list(cold.fold.sessions)
    on = {b: [r.seq for r in every if r.branch == b] for b in ("b/o3", "b/t1")}
    numbered = {b: [r.seq for r in every if r.branch == b and (r.pr or "").isdigit()] for b in on}
    assert len(on["b/o3"]) == 60 and len(on["b/t1"]) == 1  # hundreds in a long history
    expected = {max(seqs) for seqs in (*on.values(), *numbered.values()) if seqs}
    assert [s.seq for s in sessions] == sorted(expected)
    assert sorted(view.link.task for view in queue.views) == ["o3", "t1"]


def test_the_spend_attributes_a_warm_folds_history_without_making_its_sessions(
    saved: Config,
) -> None:
    """``cost`` (and the budget check) attribute spend to every session of the history (once a
    response wants it): a warm fold's archived sessions are read as columns for it (they were
    all made records, one by one: 5.5 s of a ``cost`` on the scale factory), and the spans are
    a cold read's."""
    from factory_tui.adapters.transcripts import CostTracker
    from factory_tui.core.cost_attribution import SpanBuilder, build_spans
    from factory_tui.core.cost_records import Usage, UsageRecord

    warm = FactoryReader.warm(saved)
    warm.refresh_all()
    assert warm.warm_started and warm.fold.sessions.saved
    tracker = CostTracker(saved)
    tracker.ledger.add(  # a response to attribute, before every session: all their spans
        UsageRecord(
            ("message", "m1"), "claude-sonnet-4-5", Usage(input_tokens=10), datetime(2000, 1, 1)
        )
    )
    tracker.refresh(warm, procs={})
    assert warm.fold.sessions.saved  # still only in the archive
    cold = FactoryReader(saved)
    cold.refresh_all()
    units = [unit for claim in cold.claim_files() for unit in claim.units]
    spans = SpanBuilder().build(cold.fold.sessions, units, worktrees={}, since=datetime(2000, 1, 1))
    assert len(spans) == len(build_spans(cold.fold.sessions, units)) == len(cold.fold.sessions) > 1
    assert not tracker.ledger.set_spans(spans)  # the same spans: nothing to change


def test_the_claims_problems_are_kept_until_a_claim_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every derive lists the problems; those across the claim files (an id declared twice)
    are not looked for again when only the log grew (1.5 ms of each re-derive of the scale
    factory), and are the fresh answer once a claim file comes, changes or goes."""
    import factory_tui.adapters.factory_claims as factory_claims

    config = make_factory(tmp_path / "factory")
    claims = config.claims_dir
    (claims / "A.json").write_text('{"ticket": "A"}')
    (claims / "B.json").write_text('{"ticket": "B"}')
    looked = 0
    real = factory_claims.claim_set_problems

    def counted(files: Any) -> Any:
        nonlocal looked
        looked += 1
        return real(files)

    monkeypatch.setattr(factory_claims, "claim_set_problems", counted)
    found = FactoryReader(config, hostname="h")
    found.refresh_all()

    def twice() -> list[str]:
        return [p.message for p in found.problems() if "also the id" in p.message]

    assert twice() == [] and looked == 1
    with config.log_file.open("a") as f:
        f.write("2026-02-12T15:00 | STEP-DONE | step=t task=A\n")
    found.refresh_log()
    assert twice() == [] and looked == 1  # only the log changed
    (claims / "B.json").write_text('{"ticket": "A"}')
    found.refresh_claims()
    assert twice() == [
        f"id A is also the id of {claims / 'A.json'}; one claim per id: merge or rename one"
    ]
    assert looked == 2
    (claims / "B.json").unlink()
    found.refresh_claims()
    assert twice() == [] and looked == 3


def test_status_answers_before_it_saves_the_warm_start_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first read makes the cache's save due: the answer is written (and flushed) first; the
    save is for the next run (4.7 s before the 300-day history's answer)."""
    import factory_tui.cli.status as status

    config = _big_factory(tmp_path / "factory")
    done: list[str] = []
    real_save, real_write = FoldCache.save, status.write_json_records

    def save(self: FoldCache, *args: Any, **kwargs: Any) -> bool:
        done.append("save")
        return real_save(self, *args, **kwargs)

    def write(*args: Any, **kwargs: Any) -> None:
        real_write(*args, **kwargs)
        done.append("answer")

    monkeypatch.setattr(FoldCache, "save", save)
    monkeypatch.setattr(status, "write_json_records", write)
    assert main(["status", str(config.root), "--json", "--now", "2026-02-12T16:00"]) == 0
    assert done == ["answer", "save"]
    assert json.loads(capsys.readouterr().out)["summary"]["log_events"] > 24_000
    warm = FactoryReader.warm(config)
    warm.refresh_log()
    assert warm.warm_started  # saved all the same


def test_status_in_a_closed_pipe_still_saves_the_warm_start_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``status --json | head -1``: nobody reads the rest, the next run still starts warm."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return 1

    config = _big_factory(tmp_path / "factory")
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr(os, "dup2", lambda *args: None)  # main's answer to a closed pipe
    assert main(["status", str(config.root), "--json", "--now", "2026-02-12T16:00"]) == 0
    warm = FactoryReader.warm(config)
    warm.refresh_log()
    assert warm.warm_started


@pytest.mark.parametrize(
    ("failure", "saved"),
    [(RuntimeError("a bug in the derive"), True), (KeyboardInterrupt(), False)],
    ids=["an error after the read", "ctrl-c"],
)
def test_status_that_fails_after_its_read_still_saves_unless_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, saved: bool
) -> None:
    """The read was whole: an error after it still leaves the cache for the next run (held
    back for the answer, it was dropped: a bug in the derive cost every run a cold read);
    Ctrl-C does not wait for a save (the engineer wants out; the next run reads cold)."""
    config = _big_factory(tmp_path / "factory")

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(FactoryReader, "fleet", fails)
    argv = ["status", str(config.root), "--json", "--now", "2026-02-12T16:00"]
    if isinstance(failure, KeyboardInterrupt):
        assert main(argv) == 130
    else:
        with pytest.raises(type(failure)):
            main(argv)
    warm = FactoryReader.warm(config)
    warm.refresh_log()
    assert warm.warm_started is saved
