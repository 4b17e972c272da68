"""A long log's cold read on two cores (adapters/split_read.py, adapters/fold_child.py): a real
child process folds the log's tail while the reader folds the rotated log and the head. The
reader then answers as a read on one core does, goes on from where the child stopped, and saves
a cache that starts warm; a child that fails, a log changed under the two reads, a quit while
they run and the switch that turns it off all leave a fold as right as a read on one core."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from test_fold_split import _fields
from test_foldcache import make_factory, reader, starts_warm_as_cold

from factory_tui.adapters import factory_logs, split_read
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.factory_logs import ReadCancelled
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.forked import fork_allowed
from factory_tui.adapters.logindex import LogIndex
from factory_tui.config import Config
from factory_tui.ui.feeds.fleet import FleetFeed
from factory_tui.ui.messages import FleetUpdated, LoadProgress

NOW = datetime(2026, 2, 12, 16, 0)


def _lines(first: int, count: int) -> list[bytes]:
    """Sessions of 8 tasks by 4 instances, some left open (crashed), steps, checkpoints,
    claims and a hook's waits: every part of the fold the merge joins."""
    out: list[bytes] = []
    for n in range(first, first + count):
        task, instance = f"T-{n % 8}", f"i{n % 4}"
        ts = f"2026-02-12T{10 + n % 5:02d}:{n % 60:02d}"
        kind = n % 10
        if kind == 0:
            line = f"SESSION-START | task={task} branch=b-{task} instance={instance}"
        elif kind == 7 and n % 3:
            line = f"SESSION-END | task={task} status={'crashed' if n % 9 == 0 else 'success'}"
        elif kind == 3:
            line = f"CHECKPOINT | task={task} file=cp-{n}.json"
        elif kind == 5:
            line = f"{'CLAIM' if n % 4 else 'RELEASE'} | task={task} phase=1 instance={instance}"
        elif kind == 6:
            line = f"AGENT-WAITING | instance={instance} kind=permission"
        else:
            line = f"STEP-DONE | step=s{n % 6} task={task}"
        out.append(f"{ts} | {line}".encode())
    return out


def _factory(root: Path, history: int = 300, log: int = 3000) -> Config:
    config = make_factory(root)
    config.log_history_file.write_bytes(b"".join(x + b"\n" for x in _lines(0, history)))
    config.log_file.write_bytes(b"".join(x + b"\n" for x in _lines(history, log)))
    return config


@pytest.fixture(autouse=True)
def small_logs_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split_read, "MIN_SPLIT_BYTES", 8 << 10)
    monkeypatch.setattr(split_read, "START_BYTES", 1 << 10)  # to scale with these logs
    monkeypatch.setattr(split_read, "FORK_START_BYTES", 1 << 8)
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 16 << 10)
    monkeypatch.setattr(factory_logs, "EARLY_LEAD_BYTES", 1 << 8)
    monkeypatch.delenv("FACTORY_TUI_SPLIT_FOLD", raising=False)
    monkeypatch.setattr(split_read, "_cpus", lambda: 2)  # a CI machine of one CPU too


def _one_core(config: Config) -> FactoryReader:
    found = FactoryReader(config, hostname="h")
    found.logs.split = False
    found.refresh_log()
    return found


def _on_start(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[split_read.SplitRead], None]
) -> None:
    """``then(split)`` right after each split read starts its child (until undone)."""
    start = split_read.SplitRead.start.__func__  # type: ignore[attr-defined]

    def start_then(cls: type[split_read.SplitRead], *args: Any, **kw: Any) -> object:
        found = start(cls, *args, **kw)
        if found is not None:
            then(found)
        return found

    monkeypatch.setattr(split_read.SplitRead, "start", classmethod(start_then))


def _on_answer(
    monkeypatch: pytest.MonkeyPatch,
    *,
    before: Callable[[split_read.SplitRead], None] = lambda _s: None,
    after: Callable[[split_read.SplitRead], None] = lambda _s: None,
) -> None:
    """``before(split)`` and ``after(split)`` around each wait for the child's answer."""
    answer = split_read.SplitRead.answer

    def around(
        self: split_read.SplitRead, cancel: threading.Event | None, patience: float | None = None
    ) -> object:
        before(self)
        found = answer(self, cancel, patience)
        after(self)
        return found

    monkeypatch.setattr(split_read.SplitRead, "answer", around)


@contextlib.contextmanager
def held_forked_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A forked child held before its fold on a pipe never written: it can only be killed (a
    small tail is otherwise folded before a test's kill lands)."""
    gate, never_written = os.pipe()
    fold_tail = split_read.fold_tail

    def held(job: dict[str, Any], store: Any = None) -> object:
        os.read(gate, 1)
        return fold_tail(job, store)

    monkeypatch.setattr(split_read, "fold_tail", held)
    try:
        yield
    finally:
        os.close(gate)
        os.close(never_written)


def _assert_as_one_core(split: FactoryReader, config: Config) -> None:
    cold = _one_core(config)
    assert _fields(split.fold) == _fields(cold.fold)
    assert split.fleet(NOW, procs={}).to_json() == cold.fleet(NOW, procs={}).to_json()


def _assert_read_whole_here(config: Config) -> None:
    """A read of ``config``'s log whose split was not taken answers as one read on one core."""
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert not found.logs.split_merged
    _assert_as_one_core(found, config)


@pytest.fixture(params=["fork", "spawn"])
def child_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The child a fork of this process (where it can be: Linux), or a new interpreter."""
    kind = cast(str, request.param)
    if kind == "fork" and not fork_allowed():
        pytest.skip("no fork here")
    monkeypatch.setattr(split_read, "_forks", lambda: kind == "fork")
    return kind


def _kind(split: split_read.SplitRead) -> str:
    return "fork" if isinstance(split.child, split_read.ForkedChild) else "spawn"


def test_a_long_logs_cold_read_takes_the_childs_tail_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_kind: str
) -> None:
    config = _factory(tmp_path / "factory")
    started: list[split_read.SplitRead] = []
    _on_start(monkeypatch, started.append)
    split = FactoryReader(config, hostname="h")
    split.refresh_log()
    assert split.logs.split_merged
    assert [_kind(s) for s in started] == [child_kind]
    assert split.fold.open_by_task and split.fold.claim_events and split.fold.agent_signals
    _assert_as_one_core(split, config)
    with config.log_file.open("ab") as f:  # the log's tail follows from where the child stopped
        f.write(b"".join(x + b"\n" for x in _lines(3300, 40)))
    assert split.refresh_log()
    _assert_as_one_core(split, config)


def test_a_split_reads_fold_is_saved_and_starts_warm(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    first = FactoryReader(config, hostname="h", fold_cache=cache)
    first.refresh_log()
    assert first.logs.split_merged and first.save_fold_cache()
    starts_warm_as_cold(config, cache)


def _fails(_job: object, _store: object = None) -> object:
    raise OSError("the disk is gone")


def test_a_child_that_fails_costs_the_tail_not_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_kind: str
) -> None:
    config = _factory(tmp_path / "factory")
    monkeypatch.setattr(split_read, "CHILD_MODULE", "factory_tui.no_such_module")
    monkeypatch.setattr(split_read, "fold_tail", _fails)  # in a forked child
    started: list[split_read.SplitRead] = []
    _on_start(monkeypatch, started.append)
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert len(started) == 1 and started[0].child.returncode not in (None, 0)
    assert not found.logs.split_merged
    _assert_as_one_core(found, config)


def test_a_log_changed_under_the_two_reads_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is rewritten (a rotation keeps its newest lines) while the child works: the
    two reads are of the old file, so the reader starts again from the files as they are."""
    config = _factory(tmp_path / "factory")

    def rotate(_split: split_read.SplitRead) -> None:
        rest = config.log_file.with_name("operations.log.new")
        rest.write_bytes(b"".join(x + b"\n" for x in _lines(5000, 2500)))
        os.replace(rest, config.log_file)

    _on_answer(monkeypatch, after=rotate)
    _assert_read_whole_here(config)


def test_quitting_during_a_split_read_stops_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_kind: str
) -> None:
    config = _factory(tmp_path / "factory", log=6000)
    started: list[split_read.SplitRead] = []
    close = split_read.SplitRead.close

    def close_and_keep(self: split_read.SplitRead) -> None:
        started.append(self)
        close(self)

    monkeypatch.setattr(split_read.SplitRead, "close", close_and_keep)
    found = FactoryReader(config, hostname="h")
    found.on_progress = lambda source, done, total: cancel.set()
    cancel = found.logs.cancel = threading.Event()
    held = held_forked_child(monkeypatch) if child_kind == "fork" else contextlib.nullcontext()
    with held, pytest.raises(ReadCancelled):
        found.refresh_log()
    assert started and started[0].child.returncode is not None  # stopped and waited for
    if child_kind == "fork":  # held until killed: it cannot have ended on its own
        assert started[0].child.returncode == -signal.SIGKILL
    assert not found.logs.split_merged


def test_the_switch_reads_on_one_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _factory(tmp_path / "factory")
    monkeypatch.setenv("FACTORY_TUI_SPLIT_FOLD", "0")
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert not found.logs.split_merged
    monkeypatch.delenv("FACTORY_TUI_SPLIT_FOLD")
    _assert_as_one_core(found, config)


def test_a_short_log_is_read_on_one_core(tmp_path: Path) -> None:
    config = _factory(tmp_path / "factory", history=10, log=40)
    _assert_read_whole_here(config)


def test_a_split_reads_progress_is_of_this_process_and_ends_at_100(tmp_path: Path) -> None:
    """The child's part ends about when this process's does: the progress told is of what
    this process reads (the rotated log and the head), one source, rising to the whole."""
    config = _factory(tmp_path / "factory")
    told: list[tuple[str, int, int]] = []
    found = FactoryReader(config, hostname="h", on_progress=lambda *p: told.append(p))
    found.refresh_log()
    assert found.logs.split_merged
    assert {source for source, _, _ in told} == {config.log_file.name}
    done = [d * 100 // t for _, d, t in told]
    assert done == sorted(done) and done[-1] == 100 and len(set(done)) > 3


def test_one_cpu_reads_on_one_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _factory(tmp_path / "factory")
    monkeypatch.setattr(split_read, "_cpus", lambda: 1)
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert not found.logs.split_merged
    assert split_read.split_allowed({}) is False
    monkeypatch.setattr(split_read, "_cpus", lambda: 2)
    assert split_read.split_allowed({})
    assert not split_read.split_allowed({"FACTORY_TUI_SPLIT_FOLD": "off"})


def test_a_fifo_for_a_log_is_not_waited_on(tmp_path: Path) -> None:
    """Opening a FIFO to read waits for a writer: the split read's own opening must not (the
    reader says what the log is, as it does on one core)."""
    config = _factory(tmp_path / "factory")
    config.log_file.unlink()
    os.mkfifo(config.log_file)
    started: list[object] = []
    opening = threading.Thread(
        target=lambda: started.append(
            split_read.SplitRead.start(config.log_history_file, config.log_file)
        ),
        daemon=True,  # left blocked in open() if it waits: the test fails, it does not hang
    )
    opening.start()
    opening.join(10)
    assert started == [None]


class _Posts:
    """What the fleet feed posts: each message, with how many lines the log index held."""

    def __init__(self, index: LogIndex) -> None:
        self.index = index
        self.posted: list[tuple[str, int]] = []

    def post_message(self, message: object) -> bool:
        if isinstance(message, FleetUpdated):
            kind = "initial" if message.initial else "fleet"
            self.posted.append((kind + (" + log" if message.log_changed else ""), len(self.index)))
        elif isinstance(message, LoadProgress):
            self.posted.append((message.source, len(self.index)))
        return True


def test_the_cockpit_indexes_the_log_while_the_child_folds_its_tail(tmp_path: Path) -> None:
    """On the first load of a long log the index is built while the child works, before the
    fleet is posted (it was built after: on the critical path of 'fully loaded'), and the
    fleet and the log are posted as one (a second message waited for the first's frame)."""
    config = _factory(tmp_path / "factory")
    lines = sum(1 for _ in config.log_file.open("rb")) + sum(
        1 for _ in config.log_history_file.open("rb")
    )
    reader = FactoryReader(config, hostname="h")
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = _Posts(index)
        feed = FleetFeed(
            cast(Any, app), config, reader, index, clock=lambda: NOW, after_read=lambda _r: None
        )
        feed.log_shown.set()  # this app shows a fleet as it is posted
        feed._load_everything()
        assert reader.logs.split_merged and reader.logs.beside == []
        kinds = [kind for kind, _ in app.posted]
        assert "log index" in kinds and kinds.index("log index") < kinds.index("initial + log")
        # The whole log indexed when the fleet came, the Log view told with it, nothing after.
        assert app.posted[-1] == ("initial + log", lines)
    _assert_as_one_core(reader, config)


def test_a_rotating_factorys_history_is_split_and_its_fold_saved(tmp_path: Path) -> None:
    """The hooks rotate the log at 500 lines: the history is in operations.log.1. Its tail
    is the child's; this process folds its head, then the short log, and saves the rotated
    log's fold on its own, which starts warm after the next rotation."""
    config = _factory(tmp_path / "factory", history=3000, log=40)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    split = FactoryReader(config, hostname="h", fold_cache=cache)
    split.refresh_log()
    assert split.logs.split_merged
    _assert_as_one_core(split, config)
    history_saved = cache.path_for(config.log_file).with_suffix(".history.json")
    assert history_saved.exists()
    with config.log_history_file.open("ab") as f:  # a rotation: the log's lines move over
        f.write(config.log_file.read_bytes())
    config.log_file.write_bytes(b"".join(x + b"\n" for x in _lines(3040, 20)))
    starts_warm_as_cold(config, cache)


def test_a_history_changed_under_the_two_reads_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _factory(tmp_path / "factory", history=3000, log=40)

    def rewrite(_split: split_read.SplitRead) -> None:
        config.log_history_file.write_bytes(b"".join(x + b"\n" for x in _lines(7000, 2800)))

    _on_answer(monkeypatch, after=rewrite)
    _assert_read_whole_here(config)


def test_the_split_point_ends_both_parts_together() -> None:
    """This process's bytes (before the point, and after the answer) against the child's
    (its scan of all before the point, its start, and the rest)."""
    mb = 1 << 20
    for before, size, after, start in (
        (15 * mb, 74 * mb, 0, 4 * mb),
        (0, 88 * mb, 0, 4 * mb),
        (15 * mb, 74 * mb, 14 * mb, 4 * mb),
        (15 * mb, 74 * mb, 14 * mb, mb),
    ):
        x = split_read._split_point(before, size, after, start)
        mine = before + x + after
        childs = (
            split_read.SEED_COST * (before + x) + (1 + split_read.ANSWER_COST) * (size - x) + start
        )
        assert 0 < x < size and abs(mine - childs) < 4
    whole = split_read._split_point(0, 88 * mb, 0, 4 * mb)
    assert split_read._split_point(0, 88 * mb, 10 * mb, 4 * mb) < whole  # more work after
    assert split_read._split_point(0, 88 * mb, 0, mb) < whole  # a child that starts sooner


def test_a_log_truncated_under_the_two_reads_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut short in place (copy-truncate) once the child started: this process's read of the
    head comes short, and everything is read again from the files as they are."""
    config = _factory(tmp_path / "factory")

    def truncate(_split: split_read.SplitRead) -> None:
        with config.log_file.open("r+b") as f:
            f.truncate(4000)

    _on_start(monkeypatch, truncate)
    _assert_read_whole_here(config)


def test_a_child_killed_mid_fold_costs_the_tail_not_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_kind: str
) -> None:
    config = _factory(tmp_path / "factory")

    def kill(split: split_read.SplitRead) -> None:
        os.kill(split.child.pid, signal.SIGKILL)  # as the OOM killer would

    _on_start(monkeypatch, kill)
    with held_forked_child(monkeypatch):
        _assert_read_whole_here(config)


def test_a_stuck_child_is_stopped_and_the_tail_folded_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forked child that does not answer (stuck on a lock a thread of this process held at
    the fork, say) is killed once this process has waited :data:`split_read.PATIENCE` past its
    own part, and the tail is folded here."""
    config = _factory(tmp_path / "factory")
    monkeypatch.setattr(split_read, "_forks", lambda: True)
    monkeypatch.setattr(split_read, "PATIENCE", (0.0, 0.5))
    # In the child:
    monkeypatch.setattr(split_read, "fold_tail", lambda _job, _store: time.sleep(30))
    started: list[split_read.SplitRead] = []
    _on_start(monkeypatch, started.append)
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert not found.logs.split_merged
    assert started[0].child.returncode == -signal.SIGKILL
    _assert_as_one_core(found, config)


def test_a_forked_childs_answer_is_read_as_it_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child pickles and writes its answer while this process still folds: it has ended
    before this process folds its own part (on a full pipe nobody read until then, it waited:
    0.4 s of the 10x factory's cold read)."""
    config = _factory(tmp_path / "factory")
    monkeypatch.setattr(split_read, "_forks", lambda: True)
    ended: list[bool] = []

    def wait_for_child(split: split_read.SplitRead) -> None:
        assert isinstance(split.child, split_read.ForkedChild)
        ended.append(split.child.forked.wait(timeout=20))

    _on_start(monkeypatch, wait_for_child)
    found = FactoryReader(config, hostname="h")
    found.refresh_log()
    assert ended == [True] and found.logs.split_merged
    _assert_as_one_core(found, config)


def _child(config: Config, parent: int) -> subprocess.CompletedProcess[bytes]:
    with config.log_file.open("rb") as log:
        fd = log.fileno()
        end = config.log_file.stat().st_size
        job = {"seed": [[fd, end // 2, "operations.log"]], "tail": [fd, 0, end, "x"]}
        job["parent"] = parent
        return subprocess.run(
            [sys.executable, "-m", split_read.CHILD_MODULE, json.dumps(job)],
            pass_fds=(fd,),
            capture_output=True,
            timeout=60,
            check=False,
        )


def test_a_child_whose_parent_is_gone_stops(tmp_path: Path) -> None:
    """Its parent killed (kill -9: nothing stops the child), it stops at its next megabyte
    instead of folding a long tail for no one."""
    config = _factory(tmp_path / "factory")
    orphan = _child(config, parent=os.getpid() + 10**6)  # not its parent: as if re-parented
    assert orphan.returncode == 1 and orphan.stdout == b""
    assert b"is gone" in orphan.stderr
    assert _child(config, parent=os.getpid()).returncode == 0


def _with_small_files(config: Config) -> tuple[int, int]:
    """Claim files and checkpoints in ``config``'s factory: how many of each."""
    for n in range(3):
        (config.claims_dir / f"T-{n}.json").write_text(
            json.dumps({"ticket": f"T-{n}", "title": f"task {n}", "owner": f"i{n}"})
        )
    config.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    for n in range(5):
        (config.checkpoints_dir / f"2026-02-12T10-0{n}-T-{n}.json").write_text(
            json.dumps({"task": f"T-{n}", "step": "code", "timestamp": f"2026-02-12T10:0{n}"})
        )
    return 3, 5


def test_the_claims_and_checkpoints_are_read_while_the_child_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold read of a long log reads the claim files and checkpoints after its head, while
    the child folds the tail (they were read first: 0.13 s on the critical path of the scale
    factory's ``status``), and the split point counts their time."""
    config = _factory(tmp_path / "factory")
    claims, checkpoints = _with_small_files(config)
    split = FactoryReader(config, hostname="h")
    seen: list[tuple[str, int, int]] = []
    start = split_read.SplitRead.start.__func__  # type: ignore[attr-defined]

    def start_noting(cls: type[split_read.SplitRead], *args: Any, **kw: Any) -> object:
        seen.append(("start", len(split.claim_folder.claims), kw.get("work_bytes", 0)))
        return start(cls, *args, **kw)

    monkeypatch.setattr(split_read.SplitRead, "start", classmethod(start_noting))
    _on_answer(
        monkeypatch, before=lambda _s: seen.append(("answer", len(split.claim_folder.claims), 0))
    )
    split.refresh_all()
    cost = claims * factory_logs.CLAIM_FILE_COST + checkpoints * factory_logs.CHECKPOINT_FILE_COST
    assert seen == [("start", 0, cost), ("answer", claims, 0)]
    assert split.logs.split_merged and len(split.checkpoints) == checkpoints
    one_core = FactoryReader(config, hostname="h")
    one_core.logs.split = False
    one_core.refresh_all()
    assert split.fleet(NOW, procs={}).to_json() == one_core.fleet(NOW, procs={}).to_json()


def test_a_read_likely_warm_reads_the_claims_and_checkpoints_first(tmp_path: Path) -> None:
    """With a fold saved for the log, the small files are read (and what ``then`` frees
    freed) before the fold is loaded: the peak memory holds one of the two."""
    config = _factory(tmp_path / "factory")
    _with_small_files(config)
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    reader(config, cache).logs.save_fold_cache()
    order: list[str] = []

    class Noting(FactoryReader):
        def refresh_claims(self) -> bool:
            order.append("claims")
            return super().refresh_claims()

        def refresh_log(self) -> bool:
            order.append("log")
            return super().refresh_log()

    warm = Noting(config, hostname="h", fold_cache=cache)
    warm.refresh_all(then=lambda: order.append("then"))
    assert warm.warm_started and order == ["claims", "then", "log"]
    cold = Noting(config, hostname="h")
    order.clear()
    cold.refresh_all(then=lambda: order.append("then"))
    assert order == ["log", "claims", "then"]


def test_an_error_beside_the_childs_fold_is_raised_once_the_read_is_whole(
    tmp_path: Path,
) -> None:
    """Work beside the child's fold that fails does not cut the read short: the fold is whole
    (raised where the work was, it held the head only, and the next read went on from the
    log's start), then the error is raised."""
    config = _factory(tmp_path / "factory")
    split = FactoryReader(config, hostname="h")
    ran: list[bool] = []

    def fails() -> None:
        ran.append(True)
        raise RuntimeError("beside failed")

    split.logs.beside.append(factory_logs.Beside(fails, lambda _n: 0))
    with pytest.raises(RuntimeError, match="beside failed"):
        split.refresh_log()
    assert ran == [True] and split.logs.split_merged and split.logs.beside == []
    split.refresh_log()  # nothing new, nothing raised again
    _assert_as_one_core(split, config)
