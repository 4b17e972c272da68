"""The fold cache under hostile hands (issue 17's promise: a cache that does not match the files
costs a cold read, never a wrong answer, never a traceback). Each test is a defect a hostile
review found, older than the review: a log rewritten in place between the read and the save
(the save keyed the old fold by the new bytes: every later run started warm and wrong), and a
sealed header naming absurd sizes (a MemoryError or OverflowError as a traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_foldcache import assert_same, make_factory, reader

from factory_tui.adapters import factory_logs, split_read
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import BLOCK_BYTES, SEAL, FoldCache, sealed
from factory_tui.adapters.tail import LogTail
from factory_tui.cli import main
from factory_tui.cli import status as status_cli


def _lines(tag: str, count: int) -> bytes:
    line = "2026-02-12T14:{:02d} | SESSION-START | task={}{} branch=b instance=i{}\n"
    return b"".join(line.format(n % 60, tag, n, n).encode() for n in range(count))


def _big_log(tag: str) -> bytes:
    """A log of more than a megabyte (cached by status) whose first line names ``tag``."""
    first = f"2026-02-12T14:00 | SESSION-START | task=task-{tag} branch=b instance=i1\n"
    filler = b"2026-02-12T14:01 | STEP-DONE | step=s task=task-x detail=" + b"x" * 90 + b"\n"
    return first.encode() + filler * 11_000


def test_a_log_rewritten_in_place_between_read_and_held_save_is_not_saved(
    tmp_path: Path,
) -> None:
    """status holds its save until the answer is out (hold_saves ... release_saves). The log
    rewritten in place meanwhile (same inode, at least as long: an editor writing in place, a
    copytruncate that regrew) must not be saved as the key of the fold of the old bytes: the
    save keys the fold by the bytes there at save time, and every later run starts warm from
    a fold of bytes that are no longer there."""
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    config.log_file.write_bytes(_lines("old", 40))
    first = FactoryReader(config, hostname="h", fold_cache=cache)
    first.logs.hold_saves()  # as cli/status.py does
    first.refresh_log()
    # the answer is being derived and written: meanwhile the log is rewritten in place
    size = config.log_file.stat().st_size
    new = _lines("new", 40)
    assert len(new) == size
    with config.log_file.open("r+b") as f:
        f.write(new)
    assert first.with_fold(lambda _fold: first.logs.release_saves())  # as status does at its end
    warm = reader(config, cache)
    assert not warm.warm_started, "the fold of the old bytes was saved under the new ones"
    assert_same(warm, reader(config, None))


def test_a_log_rewritten_in_place_before_the_save_at_exit_is_not_saved(tmp_path: Path) -> None:
    """The cockpit saves at exit what it folded since its last save: a log rewritten in place
    after the last read (same size) is keyed by the bytes that read folded, not by the new
    ones."""
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0, resave_bytes=1 << 30)
    config.log_file.write_bytes(_lines("old", 40))
    first = reader(config, cache)  # saved: the first save is due at once
    with config.log_file.open("ab") as f:
        f.write(_lines("more", 5))
    first.refresh_log()  # read, not saved (under resave_bytes)
    rewritten = config.log_file.read_bytes().replace(b"task=old", b"task=new")  # same size
    with config.log_file.open("r+b") as f:
        f.write(rewritten)
    assert first.save_fold_cache()  # at exit
    warm = reader(config, cache)
    assert not warm.warm_started, "the fold of the old bytes was saved under the new ones"
    assert_same(warm, reader(config, None))


@pytest.mark.parametrize("where", ["head", "tail block"])
def test_a_log_rewritten_in_place_during_the_read_is_keyed_by_the_bytes_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A read of several chunks (a cold read on one core: a log too short to split, or a
    cockpit's), and the log rewritten in place between two of them, in a part the read has
    passed: its first block, or the last block before the offset but not its last bytes (the
    tail's own check of a rewrite looks at those). The key was taken from the file after the
    read: the new bytes, and every later run started warm from the fold of the old ones."""
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 8192)
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    old = _lines("old", 3000)
    size = len(old)
    assert size > 2 * BLOCK_BYTES  # the key's first and last blocks apart
    config.log_file.write_bytes(old)
    first = FactoryReader(config, hostname="h", fold_cache=cache)
    rewritten: list[int] = []

    def rewrite(_source: str, done: int, _total: int) -> None:
        if rewritten or done < size - 3 * 8192:
            return
        at = 0 if where == "head" else done - 4096  # read already; not the last bytes read
        with config.log_file.open("r+b") as f:
            f.seek(at)
            f.write(old[at : at + 512].replace(b"task=old", b"task=new"))
        rewritten.append(at)

    first.logs.on_progress = rewrite
    first.refresh_log()
    assert rewritten and first.fold.events == 3000
    first.save_fold_cache()
    warm = reader(config, cache)
    assert not warm.warm_started, "the fold of the old bytes was saved under the new ones"
    assert_same(warm, reader(config, None))


def _sessions(tag: str, count: int) -> bytes:
    line = "2026-02-12T14:{:02d} | SESSION-START | task={}{} branch=b instance=i{}\n"
    return b"".join(line.format(n % 60, tag, n, n).encode() for n in range(count))


@pytest.mark.parametrize("path", ["warm from the rotated log's fold", "split cold read"])
def test_the_rotated_log_rewritten_right_after_its_resumed_check_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The rotated log's rest is folded after a resumed tail's check (a warm start from its
    own fold; a split read whose child folded its tail). Rewritten in place right after that
    check, the log's save took the rotated log's key from the file after it, the new bytes:
    every later run started warm from the fold of the old ones (a hostile review's find)."""
    config = make_factory(tmp_path / "factory")
    history = config.log_history_file
    if path == "split cold read":
        monkeypatch.setattr(split_read, "MIN_SPLIT_BYTES", 8 << 10)
        monkeypatch.setattr(split_read, "START_BYTES", 1 << 10)
        monkeypatch.setattr(split_read, "FORK_START_BYTES", 1 << 8)
        monkeypatch.setattr(split_read, "_cpus", lambda: 2)
        monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 16 << 10)
        cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
        history.write_bytes(_sessions("old", 4000))
        config.log_file.write_bytes(_sessions("log", 500))
    else:
        cache = FoldCache(tmp_path / "cache", min_log_bytes=20_000)
        history.write_bytes(_sessions("old", 2000))
        config.log_file.write_bytes(_sessions("log", 10))  # too short: the rotated log's fold
        reader(config, cache).logs.wait_saves()  # alone is saved
        with config.log_file.open("ab") as f:
            f.write(_sessions("more", 400))  # worth saving now
    real = LogTail.resume

    def resume(self: LogTail, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        if self.path == history:  # right after its check
            head = history.read_bytes()[:2000]
            with history.open("r+b") as f:
                f.write(head.replace(b"task=old", b"task=NEW"))

    monkeypatch.setattr(LogTail, "resume", resume)
    first = reader(config, cache)
    monkeypatch.setattr(LogTail, "resume", real)
    assert path != "split cold read" or first.logs.split_merged
    first.logs.save_fold_cache()
    first.logs.wait_saves()
    assert_same(reader(config, cache), reader(config, None))


def test_status_a_log_rewritten_while_the_answer_is_written_reads_cold_next_time(
    tmp_path: Path,
    private_cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same through ``status --json`` (a log of more than a megabyte, so that it is
    cached): the log rewritten in place while the answer is written (a writer racing the
    run). The run after prints what the old bytes said, not what ``--no-cache`` prints."""
    config = make_factory(tmp_path / "factory")
    old = _big_log("old")
    assert len(old) > 1 << 20
    config.log_file.write_bytes(old)
    real = status_cli.write_json_records

    def racing(*args: Any, **kwargs: Any) -> Any:
        with config.log_file.open("r+b") as f:  # same inode, same size, other bytes
            f.write(_big_log("new"))
        return real(*args, **kwargs)

    def status(*extra: str) -> str:
        argv = ["status", str(config.root), "--json", "--now", "2026-02-12T16:00", *extra]
        assert main(argv) == 0
        return capsys.readouterr().out

    monkeypatch.setattr(status_cli, "write_json_records", racing)
    status()
    monkeypatch.setattr(status_cli, "write_json_records", real)
    assert list(private_cache_dir.glob("fold-*.json"))  # saved, keyed by the bytes it read
    warm, cold = status(), status("--no-cache")
    assert "task-new" in cold
    same = warm == cold  # (not compared by pytest's diff: megabytes)
    assert same, "a warm run shows the log's old bytes"


def _reseal(path: Path, **changes: object) -> None:
    """The cache file's header with ``changes``, sealed again (as anyone who can write the
    cache folder can: the seal is a plain SHA-256 of the header)."""
    header, _, rest = path.read_bytes().partition(b"\n")
    fields = json.loads(header) | changes
    fields.pop(SEAL)
    path.write_bytes(json.dumps(sealed(fields)).encode() + b"\n" + rest)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"body_bytes": 2**62}, id="body_bytes 2**62: MemoryError"),
        pytest.param({"body_bytes": 2**70}, id="body_bytes 2**70: OverflowError"),
        pytest.param({"arrays": {"ended": 2**61, "live": 0}}, id="array count: MemoryError"),
        pytest.param({"arrays": {"ended": 2**70, "live": 0}}, id="array count: OverflowError"),
    ],
)
def test_a_sealed_header_claiming_huge_sizes_reads_cold(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    """A cache file whose header claims a body or arrays of absurd size (its seal made again,
    as anyone who can write the cache folder can) reads cold: the sizes are taken at their
    word only within what the file holds (``f.read(2**62)`` raised MemoryError,
    ``array.fromfile`` of 2**70 OverflowError: a traceback)."""
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache", min_log_bytes=0)
    config.log_file.write_bytes(_lines("a", 40))
    assert reader(config, cache).save_fold_cache()
    _reseal(cache.path_for(config.log_file), **changes)
    found = reader(config, cache)  # raised here
    assert not found.warm_started
    assert_same(found, reader(config, None))
