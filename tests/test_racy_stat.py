"""A file read again only when its stat changes (the claim files, plan.md and memory.md in a
running cockpit) must not keep an old reading when a rewrite leaves the stat as it was.

The real claim tool rewrites a claim file in place (``write_text``: same inode), often at the
same size (``"phase": "code"`` → ``"test"``). Two such writes within the file system's timestamp
tick keep every time of the stat; a copy that sets the old ``mtime`` back (``cp -p``, an editor
restoring a file) keeps it but for ``ctime``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import config_for

from factory_tui.adapters import factory_claims
from factory_tui.adapters.factory_claims import ClaimFolder
from factory_tui.adapters.factory_state import StateFiles


def _claim(title: str) -> bytes:
    return json.dumps({"ticket": "CAB-1", "title": title, "owner": None}).encode()


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """As ``Path.write_text`` does: the same file truncated and written (its inode kept)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _folder(tmp_path: Path) -> tuple[ClaimFolder, Path]:
    folder = tmp_path / "claims"
    folder.mkdir()
    path = folder / "CAB-1.json"
    path.write_bytes(_claim("aaaa"))
    claims = ClaimFolder(folder, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=30))
    return claims, path


def _titles(claims: ClaimFolder) -> list[str | None]:
    return [claim.title for claim in claims.files()]


def _same_tick(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """From now on the file system reports ``path``'s stat as it is now, whatever is written
    to it (a rewrite within one timestamp tick, at the same size, in place)."""
    frozen = os.stat(path)
    real = factory_claims.file_stat

    def stat_of(name: Path | str) -> os.stat_result | None:
        return frozen if os.fspath(name) == os.fspath(path) else real(name)

    monkeypatch.setattr(factory_claims, "file_stat", stat_of)


def test_a_claim_rewritten_within_its_timestamp_tick_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims, path = _folder(tmp_path)
    assert claims.refresh() and _titles(claims) == ["aaaa"]
    _same_tick(monkeypatch, path)
    _rewrite_in_place(path, _claim("bbbb"))  # the claim tool's next write, same size, same tick
    assert claims.refresh_claim(path)
    assert _titles(claims) == ["bbbb"]
    _rewrite_in_place(path, _claim("cccc"))
    assert claims.refresh()  # the folder's scan reads it again too
    assert _titles(claims) == ["cccc"]


def test_a_claim_whose_mtime_is_set_back_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No racy window here (each read trusts its stat): ``ctime`` tells the change."""
    monkeypatch.setattr(factory_claims, "RACY_NS", 0)
    claims, path = _folder(tmp_path)
    old = os.stat(path)
    assert claims.refresh() and _titles(claims) == ["aaaa"]
    _rewrite_in_place(path, _claim("bbbb"))
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # cp -p: the old mtime set back
    assert os.stat(path).st_mtime_ns == old.st_mtime_ns
    assert claims.refresh_claim(path)
    assert _titles(claims) == ["bbbb"]


def test_a_racy_claim_read_again_unchanged_is_no_change(tmp_path: Path) -> None:
    """Within the racy window each refresh reads the file again; what it says is the same, so
    nothing is reported changed (the fleet is not derived again for it), and the claim read
    first is kept (a derive knows what it derived from it stands)."""
    claims, path = _folder(tmp_path)
    assert claims.refresh()
    generation = claims.generation
    first = claims.files()[0]
    reads: list[Path] = []
    real = factory_claims.read_factory_file_stat

    def counted(name: Path, limit: int) -> object:
        reads.append(name)
        return real(name, limit)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(factory_claims, "read_factory_file_stat", counted)
        assert not claims.refresh_claim(path)
        assert not claims.refresh()
    assert reads == [path, path]  # read again: it had just been written
    assert claims.generation == generation and _titles(claims) == ["aaaa"]
    assert claims.files()[0] is first


def test_a_settled_claim_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    claims, path = _folder(tmp_path)
    monkeypatch.setattr(factory_claims, "RACY_NS", 0)
    assert claims.refresh()
    monkeypatch.setattr(factory_claims, "read_factory_file_stat", _no_read)
    assert not claims.refresh_claim(path) and not claims.refresh()


def _no_read(name: Path, limit: int) -> object:
    raise AssertionError(f"{name} read again")


def _memory(item: str) -> str:
    return f"# Memory\n\n## 🔴 IN PROGRESS\n- CAB-1 {item}\n\n## ✅ DONE\n- CAB-0\n"


def _state_files(tmp_path: Path) -> tuple[StateFiles, Path]:
    root = tmp_path / "factory"
    root.mkdir()
    config = config_for(root)
    memory = config.memory_file
    memory.parent.mkdir(parents=True, exist_ok=True)
    memory.write_text(_memory("**DONE**"))  # a done item under IN PROGRESS: a lint finding
    return StateFiles(config), memory


def test_memory_md_rewritten_within_its_timestamp_tick_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, memory = _state_files(tmp_path)
    assert files.refresh() and len(files.lint) == 1
    _same_tick(monkeypatch, memory)
    _rewrite_in_place(memory, _memory("**done**").encode())  # same size: no longer done
    assert files.refresh()
    assert files.lint == []
    assert not files.refresh()  # read again (still racy), the same: no change


def test_settled_state_files_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.adapters import factory_state

    monkeypatch.setattr(factory_claims, "RACY_NS", 0)
    files, _memory_md = _state_files(tmp_path)
    assert files.refresh()
    monkeypatch.setattr(factory_state, "read_factory_file_stat", _no_read)
    assert not files.refresh()
