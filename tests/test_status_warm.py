"""The warm ``status --json`` path (issue 17): the JSON streamed record by record is the whole
document the plain path wrote, and the claim files' and checkpoints' JSON kept between runs
(:class:`~factory_tui.adapters.jsonfiles.JsonFiles`) gives the same answer as reading the files,
never a stale one."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import weakref
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hostile import Spec, build, every_payload

import factory_tui.adapters.factory_claims as factory_claims
import factory_tui.adapters.factory_state as factory_state
import factory_tui.adapters.jsonfiles as jsonfiles
import factory_tui.cli.status as status_module
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.jsonfiles import FORMAT, MISS, JsonFiles
from factory_tui.cli import main
from factory_tui.cli.common import ProcessEnd
from factory_tui.cli.status import write_json_records
from factory_tui.config import Config, load_config
from factory_tui.core.fleet import Fleet
from factory_tui.core.fleet_derive import FleetDeriver
from factory_tui.core.safe import json_safe
from factory_tui.core.timeparse import parse_ts

NOW = "2026-02-16T15:42"
LATER = 10 * 10**9
"""How far ahead of the real clock the tests' :attr:`JsonFiles.clock` runs: files written by the
test count as old enough to keep."""

HOSTILE = Spec(
    mutations=(
        ("empty", "claim"),
        ("binary", "claim"),
        ("deep_json", "claim"),
        ("huge", "claim"),
        ("dir_like_file", "claim"),
        ("dangling_symlink", "claim"),
        ("devnull_symlink", "claim"),
        ("fifo", "claim"),
        ("big_int", "claim"),
        ("ts_limits", "claim"),
        ("id_mismatch", "claim"),
        ("id_duplicate", "claim"),
        ("empty", "checkpoint"),
        ("binary", "checkpoint"),
        ("deep_json", "checkpoint"),
        ("huge", "checkpoint"),
        ("dangling_symlink", "checkpoint"),
        ("fifo", "checkpoint"),
    ),
    payloads=every_payload(),
)


def _whole_document(payload: dict[str, object]) -> str:
    """The plain path: the document built whole, then written (``write_json_records`` before
    it streamed)."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out = ["{\n"]
    for n, (key, value) in enumerate(payload.items()):
        out.append(f" {json_safe(dumps(key))}: ")
        if isinstance(value, list) and value:
            out.append(json_safe("[\n  " + ",\n  ".join(map(dumps, value)) + "\n ]"))
        else:
            out.append(json_safe(dumps(value)))
        out.append(",\n" if n < len(payload) - 1 else "\n")
    out.append("}\n")
    return "".join(out)


def _later_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JsonFiles, "clock", staticmethod(lambda: time.time_ns() + LATER))


def _status(config: Config, json_files: JsonFiles | None) -> str:
    reader = FactoryReader(config, json_files=json_files)
    reader.refresh_all()
    if json_files is not None:
        json_files.save()
    out = io.StringIO()
    now = parse_ts(NOW)
    assert now is not None
    write_json_records(reader.fleet(now).json_items(), out)
    return out.getvalue()


@pytest.fixture
def hostile(tmp_path: Path) -> Config:
    factory = build(tmp_path / "f", HOSTILE)
    # Huge values that still parse: kept, and read back the same.
    (factory.claims / "HUGE-1.json").write_text(
        json.dumps(
            {
                "ticket": "HUGE-1",
                "title": "\u202e" + "t" * 200_000,
                "owner": "t1-x",
                "pid": int("9" * 4000),
                "hostname": "h",
                "claimed_at": "2026-02-16T15:00",
                "nested": [[[[{"x": -0.0, "y": 1e308, "z": "\ud800"}]]]],
            }
        )
    )
    (factory.checkpoints / "2026-02-16T15-01-huge.json").write_text(
        json.dumps({"task": "huge", "steps_completed": ["s" * 100_000] * 3})
    )
    return load_config(tmp_path / "f")


def test_streamed_json_is_the_whole_document_byte_for_byte(hostile: Config) -> None:
    reader = FactoryReader(hostile)
    reader.refresh_all()
    now = parse_ts(NOW)
    assert now is not None
    fleet = reader.fleet(now)
    out = io.StringIO()
    write_json_records(fleet.json_items(), out)
    assert out.getvalue() == _whole_document(fleet.to_json())
    assert json.loads(out.getvalue()) == fleet.to_json()
    assert len(fleet.claims) >= 3 and len(fleet.problems) >= 10  # the hostile files were seen
    assert "\x1b" not in out.getvalue() and "\\u001b" in out.getvalue()


def test_a_one_shot_derive_is_the_full_derive(hostile: Config) -> None:
    now = parse_ts(NOW)
    assert now is not None
    fleets = []
    for deriver in (FleetDeriver(), FleetDeriver(one_shot=True)):
        reader = FactoryReader(hostile)
        reader.deriver = deriver
        reader.refresh_all()
        fleets.append(reader.fleet(now).to_json())
        assert reader.fleet(now).to_json() == fleets[-1]  # and again: still whole
    assert fleets[0] == fleets[1]


def test_empty_lists_stream_as_the_plain_path_writes_them() -> None:
    payload: dict[str, object] = {"a": [], "b": [{"x": "\u202e"}], "c": {"n": 1}, "d": "\x9b"}
    out = io.StringIO()
    write_json_records(
        [(k, iter(v) if isinstance(v, list) else v) for k, v in payload.items()], out
    )
    assert out.getvalue() == _whole_document(payload)


def test_kept_json_gives_what_reading_the_files_gives(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _later_clock(monkeypatch)
    plain = _status(hostile, None)
    kept = tmp_path / "cache" / "files.marshal"
    first = _status(hostile, JsonFiles(kept))
    assert kept.exists()
    read: list[str] = []
    monkeypatch.setattr(factory_claims, "read_factory_file_stat", _recording(read, factory_claims))
    monkeypatch.setattr(factory_state, "read_factory_file_stat", _recording(read, factory_state))
    warm = _status(hostile, JsonFiles(kept))
    assert plain == first == warm
    # The good claim files and checkpoint came from the kept JSON; the bad ones were read again.
    assert not [p for p in read if p.endswith(("CAB-1400.json", "traceability.json"))]
    assert not [p for p in read if p.endswith(("HUGE-1.json", "huge.json"))]
    assert any("HOSTILE-binary" in p for p in read)


def test_a_commands_reader_reads_the_kept_json_and_keeps_nothing(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader of every command and action (``FactoryReader.warm``) reads the claim files
    and checkpoints whose stat is the one ``status`` kept their JSON under from there (at 10x,
    1.4 s of each action's read of 10,000 of each), a changed one from its file; it gives
    the same fleet as reading the files, and writes nothing (``status`` and the cockpit keep
    the file up to date)."""
    _later_clock(monkeypatch)
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["status", str(hostile.root), "--json", "--now", NOW]) == 0
    (kept,) = (tmp_path / "cache").glob("files-*.marshal")
    saved = kept.read_bytes()
    _claim(hostile, "changed since")
    read: list[str] = []
    monkeypatch.setattr(factory_claims, "read_factory_file_stat", _recording(read, factory_claims))
    monkeypatch.setattr(factory_state, "read_factory_file_stat", _recording(read, factory_state))
    reader = FactoryReader.warm(hostile)
    reader.refresh_all()
    assert reader.json_files is not None and reader.json_files.read_only
    assert not [p for p in read if p.endswith(("CAB-1400.json", "traceability.json", "huge.json"))]
    assert [p for p in read if p.endswith("CAB-7.json")] == [str(hostile.claims_dir / "CAB-7.json")]
    out = io.StringIO()
    now = parse_ts(NOW)
    assert now is not None
    write_json_records(reader.fleet(now).json_items(), out)
    assert out.getvalue() == _status(hostile, None)
    assert _titles(out.getvalue()) == {"changed since"}
    reader.keep_files()
    assert kept.read_bytes() == saved


def test_a_read_only_files_json_gives_each_value_once_and_saves_nothing(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read only: a value is given once (its reader keeps what it made of it, by stat: the
    loaded values are let go as they are used), nothing read is kept, nothing is saved."""
    kept, path, before = _kept_old_title(hostile, tmp_path, monkeypatch)
    files = JsonFiles(kept, read_only=True)
    assert files.get(str(path), before)["title"] == "old title"
    assert files.get(str(path), before) is MISS
    other = hostile.claims_dir / "CAB-1400.json"
    files.put(str(other), os.stat(other), {"x": 1}, read_at_ns=time.time_ns() + LATER)
    assert not files.changed and not files.save()
    assert JsonFiles(kept).get(str(path), before)["title"] == "old title"  # the file as it was


@pytest.mark.parametrize("error", [MemoryError, RecursionError])
@pytest.mark.parametrize("part", ["the cache file", "one file's value"])
def test_a_kept_json_that_cannot_be_unmarshalled_is_read_from_the_files(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type, part: str
) -> None:
    """A kept file made (its hash recomputed) to declare a length past what memory holds, or
    values nested past Python's depth: the files are read, the same answer given, nothing
    raised out of a command's read (a MemoryError escaped every command and action)."""
    _later_clock(monkeypatch)
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["status", str(hostile.root), "--json", "--now", NOW]) == 0
    loads = jsonfiles.marshal.loads
    calls: list[int] = []

    def refused(data: bytes) -> object:
        calls.append(1)
        if part == "the cache file" or len(calls) > 1:
            raise error("crafted")
        return loads(data)

    reader = FactoryReader.warm(hostile)
    monkeypatch.setattr(jsonfiles.marshal, "loads", refused)
    reader.refresh_all()
    monkeypatch.setattr(jsonfiles.marshal, "loads", loads)
    out = io.StringIO()
    now = parse_ts(NOW)
    assert now is not None
    write_json_records(reader.fleet(now).json_items(), out)
    assert out.getvalue() == _status(hostile, None)
    files = reader.json_files
    assert files is not None
    if part == "the cache file":
        assert files.skipped == f"ignored: {error.__name__}: crafted" and len(calls) == 1
    else:
        assert files.skipped is None and len(calls) > 1  # each value refused in turn


def _recording(read: list[str], module: Any) -> Callable[[Path, int], object]:
    real = module.read_factory_file_stat

    def recorded(path: Path, limit: int) -> object:
        read.append(str(path))
        return real(path, limit)

    return recorded


def test_status_cli_keeps_the_files_json_and_answers_the_same(
    hostile: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _later_clock(monkeypatch)
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["status", str(hostile.root), "--json", "--now", NOW]
    outs = []
    for extra in (["--no-cache"], [], []):
        assert main([*argv, *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]
    assert list((tmp_path / "cache").glob("files-*.marshal"))


def test_status_imports_no_ctypes_nor_thread_pool_nor_other_commands(
    hostile: Config, tmp_path: Path
) -> None:
    """A fresh interpreter's ``status --json`` imports neither ctypes (only the cockpit gives
    memory back with malloc_trim) nor concurrent.futures (only several hosts are probed at
    once) nor the other commands' modules, nor sqlite and the store's model and merger when
    there is no store, nor the SSH probe without other hosts: a few ms of a warm status each."""
    code = (
        "import contextlib, io, sys\n"
        "from factory_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['status', {str(hostile.root)!r}, '--json', '--now', {NOW!r}])\n"
        "others = [f'factory_tui.cli.{m}' for m in\n"
        "    ('actions', 'cost', 'council', 'demo', 'hook', 'prs', 'supervise')]\n"
        "others += ['factory_tui.core.hegemon', 'factory_tui.core.fleet_store',\n"
        "    'factory_tui.adapters.remote_procs']\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "    ('ctypes', 'concurrent', 'logging', 'sqlite3') or n in others)))\n"
    )
    env = dict(
        os.environ,
        FACTORY_TUI_CACHE_DIR=str(tmp_path / "cache"),
        HEGEMON_STATE_DB=str(tmp_path / "no-store.db"),
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""


def _claim(config: Config, title: str) -> Path:
    path = config.claims_dir / "CAB-7.json"
    path.write_text(json.dumps({"ticket": "CAB-7", "title": title, "owner": None}))
    return path


def _titles(out: str) -> set[str]:
    return {c["title"] for c in json.loads(out)["claims"] if c["id"] == "CAB-7"}


def _kept_old_title(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, os.stat_result]:
    """A claim titled "old title", read once and kept (under a clock past the racy window): the
    kept file, the claim's path and its stat then."""
    _later_clock(monkeypatch)
    kept = tmp_path / "files.marshal"
    path = _claim(config, "old title")
    before = os.stat(path)
    assert _titles(_status(config, JsonFiles(kept))) == {"old title"}
    return kept, path, before


def _restore_mtime(path: Path, st: os.stat_result) -> None:
    """Put back the old mtime until the ctime shows the change (a change within one tick of
    the file system's clock keeps the ctime: wait for the tick, on the file's own stat)."""
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    while os.stat(path).st_ctime_ns == st.st_ctime_ns:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_claim_rewritten_in_place_with_the_same_size_and_mtime_is_read_again(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, path, before = _kept_old_title(hostile, tmp_path, monkeypatch)
    with path.open("r+b") as f:  # same inode, same size
        f.write(path.read_bytes().replace(b"old title", b"new title"))
    _restore_mtime(path, before)
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert _titles(_status(hostile, JsonFiles(kept))) == {"new title"}


def test_a_claim_replaced_by_another_inode_with_the_same_size_and_mtime_is_read_again(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, path, before = _kept_old_title(hostile, tmp_path, monkeypatch)
    tmp = path.with_name(".CAB-7.json.tmp")
    tmp.write_bytes(path.read_bytes().replace(b"old title", b"new title"))
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(tmp, path)
    after = os.stat(path)
    assert after.st_ino != before.st_ino
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert _titles(_status(hostile, JsonFiles(kept))) == {"new title"}


def test_a_file_changed_just_before_it_was_read_is_not_kept(
    hostile: Config, tmp_path: Path
) -> None:
    kept = tmp_path / "files.marshal"
    path = _claim(hostile, "fresh")  # the real clock: written this instant
    _status(hostile, JsonFiles(kept))
    assert JsonFiles(kept).get(str(path), os.stat(path)) is MISS


@pytest.mark.parametrize("damage", ["flip", "truncate", "header", "garbage"])
def test_a_damaged_cache_file_is_ignored(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    _later_clock(monkeypatch)
    kept = tmp_path / "files.marshal"
    plain = _status(hostile, None)
    _status(hostile, JsonFiles(kept))
    data = kept.read_bytes()
    if damage == "flip":
        data = data[:-20] + bytes([data[-20] ^ 0x40]) + data[-19:]
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "header":
        data = data.replace(b"json files %d " % FORMAT, b"json files %d " % (FORMAT + 1), 1)
    else:
        data = os.urandom(len(data))
    kept.write_bytes(data)
    files = JsonFiles(kept)
    assert _status(hostile, files) == plain
    assert files.skipped is not None
    assert _status(hostile, JsonFiles(kept)) == plain  # saved again, whole


def test_claim_files_are_named_as_a_path_names_them_even_in_the_folder_dot(
    hostile: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claims folder keys its files by text, not by a Path made per file: the same names a
    Path gives (a folder "." loses its "./"), and a claim refreshed by its Path is the one
    the scan read."""
    monkeypatch.chdir(hostile.claims_dir)
    for folder in (Path("."), hostile.claims_dir, Path("..") / hostile.claims_dir.name):
        claims = factory_claims.ClaimFolder(
            folder, max_file_bytes=hostile.max_file_bytes, lock_stale_after=hostile.lock_stale_after
        )
        assert claims.refresh()
        named = {
            str(Path(e.path))
            for e in os.scandir(folder)
            if e.name.endswith(".json") and not e.name.startswith(".")
        }
        files = [c.file for c in claims.files()]
        assert files and set(files) <= named
        assert set(claims.claims) == named
        generation = claims.generation
        for name in ("CAB-1400.json", "CAB-1321.json"):
            assert not claims.refresh_claim(folder / name)  # the entry the scan made
        assert claims.generation == generation
        assert not claims.refresh()


def test_claim_file_problems_come_by_file_name_whatever_the_order_they_were_met_in(
    tmp_path: Path,
) -> None:
    """A reader kept alive (the cockpit's) met the file added later last, and a fresh read
    meets them in the folder's order (a file system's own): ``status --json`` listed the same
    problems in another order from one file system to another, and the cockpit in another
    than ``status`` (found by the warm/cold differential, tests/test_warm_differential.py)."""
    folder = tmp_path / "claims"
    folder.mkdir()
    claims = factory_claims.ClaimFolder(
        folder, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=5)
    )
    (folder / "zz.json").write_text("[]")
    claims.refresh()
    (folder / "aa.json").write_text("{")
    claims.refresh()
    (folder / "mm.json").write_text('{"ticket": "mm", "pid": "x"}')
    claims.refresh()
    met = [Path(problem.file).name for problem in claims.problems()]
    assert met == ["aa.json", "mm.json", "zz.json"]
    fresh = factory_claims.ClaimFolder(
        folder, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=5)
    )
    fresh.refresh()
    assert fresh.problems() == claims.problems()


def _claim_objects(n: int, notes: bool) -> list[tuple[str, dict[str, Any]]]:
    """``n`` claim files' names and JSON objects, half MEGAs of four phases; ``notes``: each with
    a text of its own in a field the reader does not read."""
    out = []
    for i in range(n):
        claim_id = f"CAB-{i}"
        obj: dict[str, Any]
        if i % 2:
            phases = [
                {"id": p, "name": f"Phase {p}", "tickets": [f"{claim_id}-{p}"], "deps": [p - 1]}
                for p in range(1, 5)
            ]
            phases[0]["deps"] = []
            phases[0].update(owner=f"t{i}-aaaa", pid=100 + i, claimed_at="2026-02-16T15:00")
            obj = {"mega": claim_id, "title": f"Mega {i}", "component": "gw", "phases": phases}
        else:
            obj = {"ticket": claim_id, "title": f"Ticket {i}", "owner": f"t{i}-bbbb", "pid": i + 1}
        if notes:
            obj["notes"] = f"{i:04d}" + "n" * 996
        out.append((f"{claim_id}.json", obj))
    return out


def test_the_claims_read_hold_none_of_the_files_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claims folder keeps each claim as parsed, not the file's JSON object (a warm
    ``status`` of ten thousand claim files held 9 MB of them), whether the files were read or
    their JSON came from :class:`JsonFiles`: a thousand claim files with a 1,000-character field
    of their own each add nothing to what the folder holds after a refresh."""
    _later_clock(monkeypatch)
    n = 1000
    read: list[str] = []
    monkeypatch.setattr(factory_claims, "read_factory_file_stat", _recording(read, factory_claims))
    for notes in (False, True):
        folder = tmp_path / ("noted" if notes else "bare")
        folder.mkdir()
        for name, obj in _claim_objects(n, notes):
            (folder / name).write_text(json.dumps(obj, indent=2))
    held: dict[tuple[str, str], int] = {}
    # The folder without notes twice, the second time measured: what a first read makes once
    # in a process (the interned strings' table grown) is not counted against either.
    for run, name in enumerate(("bare", "noted", "bare")):
        kept = tmp_path / f"files-{run}.marshal"
        for how in ("read", "fresh", "kept"):
            files = None if how == "read" else JsonFiles(kept)
            claims = factory_claims.ClaimFolder(
                tmp_path / name,
                max_file_bytes=1 << 20,
                lock_stale_after=timedelta(minutes=5),
                values=files,
            )
            read.clear()
            gc.collect()
            tracemalloc.start()
            try:
                assert claims.refresh()
                if files is not None:
                    assert files.save() == (how == "fresh")
                claims.values = files = None  # the cache's marshalled values are not the claims'
                gc.collect()
                with_claims = tracemalloc.get_traced_memory()[0]
                assert len(read) == (0 if how == "kept" else n)  # "kept": from the cache
                parsed = claims.files()
                assert len(parsed) == n and not claims.problems()
                for claim in parsed:
                    for holder in (claim, *claim.units):
                        assert not [
                            o for o in gc.get_referents(holder) if isinstance(o, dict | list)
                        ]
                # What the folder holds is what dropping it frees: a table the process keeps
                # that grew meanwhile (the interned strings', which pathlib and JsonFiles add
                # to; when it grows depends on the tests run before) is in both readings.
                claims = parsed = claim = holder = None  # type: ignore[assignment]
                gc.collect()
                held[how, name] = with_claims - tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
    for how in ("read", "fresh", "kept"):
        # Were the objects held, the notes alone would be n * 1,049 bytes more.
        assert held[how, "noted"] - held[how, "bare"] < n * 100, (how, held)


class _CountingOut(io.StringIO):
    """A text stream that counts its writes (an unbuffered stdout makes each one a system
    call)."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_many_records_are_written_in_chunks_as_the_plain_path_writes_them() -> None:
    records = [
        {"n": n, "why": "x" * (n % 97), "odd": "\u202e\x9b" if n % 1000 == 0 else ""}
        for n in range(20_000)
    ]
    payload: dict[str, object] = {"a": records, "b": [], "c": [{"only": 1}]}
    out = _CountingOut()
    write_json_records([(k, iter(v)) for k, v in payload.items()], out)
    assert out.getvalue() == _whole_document(payload)
    assert json.loads(out.getvalue()) == payload
    assert out.writes < 100  # not one per record


def test_status_reads_every_part_refresh_all_reads(
    hostile: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``status`` reads the parts one by one (to free the small files' kept JSON before the
    log's fold is loaded): the same parts as :meth:`FactoryReader.refresh_all`, each once."""
    called: list[str] = []
    for name in vars(FactoryReader):
        if name.startswith("refresh_") and name != "refresh_all":
            real = getattr(FactoryReader, name)

            def recorded(self: FactoryReader, *args: Any, _n: str = name, _r: Any = real) -> Any:
                called.append(_n)
                return _r(self, *args)

            monkeypatch.setattr(FactoryReader, name, recorded)
    FactoryReader(hostile).refresh_all()
    every = list(called)
    called.clear()
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["status", str(hostile.root), "--json", "--now", NOW]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]
    assert len(every) >= 6 and sorted(called) == sorted(every)


@pytest.mark.parametrize("process_ends", [True, False])
def test_status_leaves_what_it_made_to_the_exit_only_when_the_process_ends(
    hostile: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    process_ends: bool,
) -> None:
    """Run from the console (the process ends right after, without a teardown), ``status``
    neither frees its fold, claims and views object by object nor has the collector walk them
    (frozen); called in a longer process (a test), it holds nothing."""
    made: list[weakref.ref[Fleet]] = []
    real = FactoryReader.fleet

    def recorded(self: FactoryReader, *args: Any, **kwargs: Any) -> Fleet:
        fleet = real(self, *args, **kwargs)
        made.append(weakref.ref(fleet))
        return fleet

    monkeypatch.setattr(FactoryReader, "fleet", recorded)
    monkeypatch.setattr(ProcessEnd, "after_command", process_ends)
    monkeypatch.setenv("FACTORY_TUI_CACHE_DIR", str(tmp_path / "cache"))
    # The freeze count is the process's: a test that ran `demo` or the cockpit here (their
    # gc.freeze()) left objects frozen before this one. Only what status freezes counts.
    gc.unfreeze()
    try:
        assert main(["status", str(hostile.root), "--json", "--now", NOW]) == 0
        frozen = gc.get_freeze_count()
        held = made[0]() is not None
    finally:
        gc.unfreeze()
        status_module._held.clear()
    assert capsys.readouterr().out.count('\n "claims": [') == 1
    if process_ends:
        assert frozen > 0 and held
    else:
        gc.collect()
        assert frozen == 0 and made[0]() is None


async def test_the_cockpit_keeps_the_files_json_for_its_next_start(
    hostile: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cockpit's first read keeps the claim files' and checkpoints' JSON as ``status`` does
    (at 10x its warm start read 10,000 claim files and 10,000 checkpoints in 2.2 s): the next start
    reads only the files it could not keep, and shows the same claims and sessions."""
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.feeds.prs import PrsOptions

    _later_clock(monkeypatch)
    now = parse_ts(NOW)
    environ = {"FACTORY_TUI_CACHE_DIR": str(tmp_path / "cache")}
    shown: list[str] = []
    read: list[str] = []
    for start in ("first", "next"):
        if start == "next":
            monkeypatch.setattr(
                factory_claims, "read_factory_file_stat", _recording(read, factory_claims)
            )
            monkeypatch.setattr(
                factory_state, "read_factory_file_stat", _recording(read, factory_state)
            )
        app = FactoryApp(
            hostile,
            clock=lambda: now,
            watch=False,
            environ=environ,
            theme_dir=tmp_path / "no-themes",
            prs=PrsOptions(enabled=False),
        )
        async with app.run_test():
            fleet = await app.wait_for_fleet(lambda _fleet, app=app: app.loaded and app.log_ready)
            items = dict(fleet.json_items())
            shown.append(json.dumps([list(items["claims"]), list(items["sessions"])]))  # type: ignore[call-overload]
            await app.workers.wait_for_complete()  # the first load's end: after the log shown
            assert app.reader.json_files is None  # saved, then the files themselves
        if start == "first":
            assert list((tmp_path / "cache").glob("files-*.marshal"))
    assert shown[0] == shown[1]
    assert not [
        p for p in read if p.endswith(("CAB-1400.json", "traceability.json", "HUGE-1.json"))
    ]
    assert any("HOSTILE-binary" in p for p in read)  # not JSON: never kept, read each time
