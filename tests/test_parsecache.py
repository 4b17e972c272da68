"""The warm-start cache of the parsed claim files and checkpoints: whatever changed between two
runs (a rewrite, a same-size rewrite, a file gone or new, a corrupt file, a damaged cache file),
the warm reader must give exactly what a cold reader gives, field by field, and parse again only
the files that changed."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import config_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters import factory_claims, factory_state, parsecache
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.parsecache import ParsedCache, stat_key
from factory_tui.config import Config

NOW = datetime(2026, 2, 12, 16, 0)
_MTIMES = itertools.count(1_600_000_000)


def _standalone(owner: str | None, title: str) -> dict[str, Any]:
    return {
        "ticket": "CAB-1",
        "title": title,
        "owner": owner,
        "pid": 4242 if owner else None,
        "claimed_at": "2026-02-12T14:00" if owner else None,
        "hostname": "here",
        "branch": "fix/x",
    }


def _mega(title: str) -> dict[str, Any]:
    return {
        "mega": "MEGA-1",
        "title": title,
        "phases": [
            {"id": 1, "name": "a", "tickets": ["CAB-2"], "owner": "t1-aaaa", "pid": 7},
            {"id": 2, "name": "b", "deps": [1, 9], "owner": None},
            {"id": 2, "name": "dup"},
        ],
    }


_CLAIM = st.one_of(
    st.builds(lambda o, t: json.dumps(_standalone(o, t)).encode(), st.sampled_from([None, "t2"]),
              st.text(max_size=8)),
    st.builds(lambda t: json.dumps(_mega(t)).encode(), st.text(max_size=8)),
    st.sampled_from([b"", b"{not json", b"[1, 2]", b'{"ticket": 5, "pid": "x"}', b"\xff\xfe",
                     b'{"ticket": "CAB-9", "title": NaN, "x": [1e400]}']),
)  # fmt: skip
_CHECKPOINT = st.one_of(
    st.builds(
        lambda task, pr, steps: json.dumps(
            {"task": task, "timestamp": "2026-02-12T15:00", "pr_number": pr,
             "steps_completed": steps, "context": {"notes": "n"}}
        ).encode(),
        st.sampled_from(["a", "b", "", None]),
        st.sampled_from([None, 3, "#4", "x"]),
        st.lists(st.sampled_from(["code", "ci"]), max_size=2),
    ),
    st.sampled_from([b"", b"{", b"[]", b'{"task": 1, "timestamp": "never"}']),
)  # fmt: skip
_CLAIM_NAMES = st.sampled_from(["CAB-1.json", "CAB-2.json", "MEGA-1.json", "x.json", "y.json"])
_CHECKPOINT_NAMES = st.sampled_from(
    ["2026-02-12T14-00-a.json", "2026-02-12T15-00-a.json", "2026-02-12T14-00-b.json",
     "2026-02-12T14-30-00Z-c.json", "not-a-time.json"]
)  # fmt: skip
_CHANGE = st.sampled_from(["rewrite", "same-size", "touch", "delete", "corrupt"])
_DAMAGE = st.sampled_from([None, "truncate", "garbage", "flip", "empty"])


def make_factory(root: Path) -> Config:
    (root / ".factory" / "memory" / "checkpoints").mkdir(parents=True)
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    config = config_for(root)
    config.log_file.write_text("2026-02-12T14:00 | SESSION-START | task=a branch=b instance=t2\n")
    return config


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` with an mtime of its own (as a file written a moment later would have)."""
    path.write_bytes(data)
    mtime = next(_MTIMES) * 1_000_000_000
    os.utime(path, ns=(mtime, mtime))


def _change(path: Path, change: str, data: bytes) -> None:
    old = path.read_bytes() if path.exists() else b""
    if change == "delete":
        path.unlink(missing_ok=True)
    elif change == "corrupt":
        _write(path, b"{" + old[:5])
    elif change == "same-size":
        _write(path, old.replace(b"t", b"u") if b"t" in old else old[::-1])
    elif change == "touch":
        _write(path, old)
    else:
        _write(path, data)


def _damage(path: Path, how: str | None) -> None:
    if how is None or not path.exists():
        return
    data = path.read_bytes()
    damaged = {
        "truncate": data[: len(data) // 2],
        "garbage": b"\x00garbage\n" + data[9:],
        "flip": data[:-3] + bytes([data[-3] ^ 1]) + data[-2:],
        "empty": b"",
    }[how]
    path.write_bytes(damaged)


@pytest.fixture(autouse=True)
def cache_everything() -> Iterator[None]:
    """Cache however few files there are, and files changed a moment ago (each test's writes
    have mtimes of their own, see :func:`_write`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsecache, "MIN_FILES", 0)
        patch.setattr(parsecache, "RACY_NS", 0)
        yield


def reader(config: Config, cache: FoldCache | None) -> FactoryReader:
    read = FactoryReader(config, hostname="here", transcripts=False, fold_cache=cache)
    read.refresh_all()
    return read


def view(read: FactoryReader) -> dict[str, Any]:
    """What a reader read (each claim file's parse and problems, the checkpoints and theirs)
    and the fleet and problems derived from it."""
    fleet = read.fleet(NOW, reprobe=False)
    return {
        "claims": {path: (claim, problems) for path, (_k, claim, problems) in
                   sorted(read.claim_folder.claims.items())},
        "checkpoints": read.checkpoints,
        "checkpoint_problems": read.checkpoint_problems,
        "problems": read.problems(),
        "fleet": json.dumps(fleet.to_json(), sort_keys=True, default=str),
    }  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    claims=st.dictionaries(_CLAIM_NAMES, _CLAIM, max_size=5),
    checkpoints=st.dictionaries(_CHECKPOINT_NAMES, _CHECKPOINT, max_size=5),
    claim_changes=st.dictionaries(_CLAIM_NAMES, st.tuples(_CHANGE, _CLAIM), max_size=4),
    checkpoint_changes=st.dictionaries(
        _CHECKPOINT_NAMES, st.tuples(_CHANGE, _CHECKPOINT), max_size=4
    ),
    damage=_DAMAGE,
)
def test_warm_equals_cold_after_any_change(
    tmp_path_factory: pytest.TempPathFactory,
    claims: dict[str, bytes],
    checkpoints: dict[str, bytes],
    claim_changes: dict[str, tuple[str, bytes]],
    checkpoint_changes: dict[str, tuple[str, bytes]],
    damage: str | None,
) -> None:
    """Read and save; change files (a changed name that was not there is added); maybe damage
    the cache file: a warm reader then equals a cold one field by field, fleet for fleet."""
    root = tmp_path_factory.mktemp("f") / "factory"
    config = make_factory(root)
    cache = FoldCache(root.parent / "cache")
    for name, data in claims.items():
        _write(config.claims_dir / name, data)
    for name, data in checkpoints.items():
        _write(config.checkpoints_dir / name, data)
    first = reader(config, cache)
    assert first.parsed_cache is not None
    assert view(first) == view(reader(config, None))
    for name, (change, data) in claim_changes.items():
        _change(config.claims_dir / name, change, data)
    for name, (change, data) in checkpoint_changes.items():
        _change(config.checkpoints_dir / name, change, data)
    _damage(first.parsed_cache.path, damage)
    warm = reader(config, cache)
    assert view(warm) == view(reader(config, None))
    # The next start (after the warm one saved what it read) is still the same.
    assert view(reader(config, cache)) == view(reader(config, None))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many claim files and checkpoints get parsed."""
    counts = {"claims": 0, "checkpoints": 0}
    parse_claim, parse_checkpoint = factory_claims.parse_claim, factory_state.parse_checkpoint

    def claim(*args: Any) -> Any:
        counts["claims"] += 1
        return parse_claim(*args)

    def checkpoint(*args: Any) -> Any:
        counts["checkpoints"] += 1
        return parse_checkpoint(*args)

    monkeypatch.setattr(factory_claims, "parse_claim", claim)
    monkeypatch.setattr(factory_state, "parse_checkpoint", checkpoint)
    return counts


def test_a_warm_start_parses_only_the_files_that_changed(
    tmp_path: Path, counted: dict[str, int]
) -> None:
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache")
    for n in range(4):
        _write(config.claims_dir / f"CAB-{n}.json", json.dumps(_standalone(None, "t")).encode())
        _write(config.checkpoints_dir / f"2026-02-12T14-00-t{n}.json", b'{"task": "x"}')
    reader(config, cache)
    assert counted == {"claims": 4, "checkpoints": 4}
    _write(config.claims_dir / "CAB-0.json", json.dumps(_standalone("t2", "t")).encode())
    _write(config.claims_dir / "CAB-9.json", b"{}")
    (config.claims_dir / "CAB-1.json").unlink()
    _write(config.checkpoints_dir / "2026-02-12T14-00-t0.json", b'{"task": "y"}')
    warm = reader(config, cache)
    assert counted == {"claims": 6, "checkpoints": 5}
    assert sorted(p.name for p in warm.claim_folder.claims) == [
        "CAB-0.json",
        "CAB-2.json",
        "CAB-3.json",
        "CAB-9.json",
    ]
    reader(config, cache)
    assert counted == {"claims": 6, "checkpoints": 5}, "the warm start saved what it read"


@pytest.mark.parametrize(
    "header",
    [
        {"tool": "0.0.0-other"},
        {"format": 99},
        {"claims": "/elsewhere"},
        {"max_file_bytes": 1},
        {"body_sha256": "0" * 64},
    ],
)
def test_a_cache_of_another_version_or_factory_is_ignored(
    tmp_path: Path, counted: dict[str, int], header: dict[str, Any]
) -> None:
    config = make_factory(tmp_path / "factory")
    cache = FoldCache(tmp_path / "cache")
    _write(config.claims_dir / "CAB-1.json", json.dumps(_standalone(None, "t")).encode())
    first = reader(config, cache)
    assert first.parsed_cache is not None
    path = first.parsed_cache.path
    head, body = path.read_bytes().split(b"\n", 1)
    path.write_bytes(json.dumps({**json.loads(head), **header}).encode() + b"\n" + body)
    warm = reader(config, cache)
    assert counted["claims"] == 2
    again = reader(config, cache)
    assert again.parsed_cache is not None and again.parsed_cache.last_miss is None, "saved again"
    assert counted["claims"] == 2
    assert view(warm) == view(again) == view(reader(config, None))


def test_a_well_formed_entry_of_the_wrong_shape_is_read_again(
    tmp_path: Path, counted: dict[str, int]
) -> None:
    """An entry whose checksum matches but whose value does not decode (a bug, a hand edit):
    that file is read again, never shown wrong."""
    config = make_factory(tmp_path / "factory")
    _write(config.claims_dir / "CAB-1.json", json.dumps(_standalone("t2", "t")).encode())
    cache = ParsedCache(tmp_path / "cache", config.claims_dir, config.checkpoints_dir,
                        config.max_file_bytes)  # fmt: skip
    first = reader(config, FoldCache(tmp_path / "cache"))
    entries = first.claim_folder.cache_entries()
    (path,) = entries
    entries[path] = parsecache.Saved(entries[path].key, ["not", "a", "claim"], [])
    assert cache.save(entries, {})
    warm = reader(config, FoldCache(tmp_path / "cache"))
    assert counted["claims"] == 2
    assert view(warm) == view(reader(config, None))


def test_a_file_changed_a_moment_ago_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite within the file system's timestamp tick could keep the stat key: a file changed
    less than RACY_NS before its stat is never taken from the cache (nor a symlink)."""
    monkeypatch.setattr(parsecache, "RACY_NS", 2_000_000_000)
    path = tmp_path / "f.json"
    path.write_bytes(b"{}")
    st = os.lstat(path)
    assert stat_key(st, now_ns=st.st_ctime_ns + 1) is None
    assert stat_key(st, now_ns=st.st_ctime_ns + 1_999_999_999) is None
    assert stat_key(st) is None
    (tmp_path / "link.json").symlink_to(path)
    assert stat_key(os.lstat(tmp_path / "link.json"), now_ns=2**62) is None
    assert stat_key(st, now_ns=st.st_ctime_ns + 2_000_000_000) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                          st.st_ctime_ns)  # fmt: skip


def test_no_cache_no_file(tmp_path: Path) -> None:
    config = make_factory(tmp_path / "factory")
    _write(config.claims_dir / "CAB-1.json", b"{}")
    assert reader(config, None).parsed_cache is None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsecache, "MIN_FILES", 2)
        read = reader(config, FoldCache(tmp_path / "cache"))
        assert read.parsed_cache is not None and not read.parsed_cache.path.exists()
