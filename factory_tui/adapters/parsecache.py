"""The warm-start cache of the parsed claim files and checkpoints: a second run parses only the
files that changed.

Beside the fold cache (same folder, same switch: see :mod:`factory_tui.adapters.foldcache`), one
file per factory, ``files-<hash>.json``: a JSON header line (the cache format, the tool's
version, the claims and checkpoints folders as named, the read size limit, the body's size and
SHA-256), then the body: for each claim file and each checkpoint read whole, its path, its stat
key (device, inode, size, mtime and ctime in ns) and what the parser gave (the value's fields and
its problems). On start every file is still listed and stat'ed; a file is taken from the cache
only when its key is the one saved, else read and parsed as always. Anything that does not
verify (another version or format, other folders, a truncated or garbage file, a field of the
wrong type) and the cache, or that entry, is ignored: never a wrong answer, at worst a cold read.

Only regular files (not symlinks) read whole are kept, and not one changed in the last
:data:`RACY_NS` before its stat (a rewrite within the file system's timestamp tick could keep the
same key). The file is untrusted input: parsed as JSON and checked field by field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from factory_tui import __version__
from factory_tui.adapters.foldcache import _resolved, _write_atomically
from factory_tui.core.checkpoints import Checkpoint
from factory_tui.core.claims import ClaimFile, ClaimUnit
from factory_tui.core.problems import Problem

__all__ = [
    "FORMAT_VERSION",
    "ParsedCache",
    "Saved",
    "StatKey",
    "decode_checkpoint",
    "decode_claim",
    "encode_checkpoint",
    "encode_claim",
    "stat_key",
]

FORMAT_VERSION = 1
RACY_NS = 2_000_000_000
# Below this many files the cache is not written: parsing them costs less than the cache.
MIN_FILES = 200

StatKey = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Saved:
    """One file's saved parse: its stat key, and the parser's value (encoded) and problems."""

    key: StatKey
    value: Any
    problems: list[Problem]


def stat_key(st: os.stat_result, now_ns: int | None = None) -> StatKey | None:
    """The cache key of a file stat'ed without following symlinks: None when it is not a regular
    file or it changed less than :data:`RACY_NS` before ``now_ns`` (default: now)."""
    if not stat.S_ISREG(st.st_mode):
        return None
    now = time.time_ns() if now_ns is None else now_ns
    if max(st.st_mtime_ns, st.st_ctime_ns) > now - RACY_NS:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ParsedCache:
    """The cache file of the factory whose folders are ``claims_dir`` and ``checkpoints_dir``.
    Never raises: a cache that cannot be read or written is a cold read, not an error."""

    def __init__(
        self,
        folder: Path,
        claims_dir: Path,
        checkpoints_dir: Path,
        max_file_bytes: int,
        *,
        version: str = __version__,
        min_files: int | None = None,
    ) -> None:
        self.folder = folder
        self.version = version
        self.min_files = MIN_FILES if min_files is None else min_files
        self.last_miss: str | None = None
        """Why the last :meth:`load` found nothing usable (for benchmarks and debugging)."""
        self._identity = {
            "format": FORMAT_VERSION,
            "tool": version,
            "claims": str(claims_dir),
            "checkpoints": str(checkpoints_dir),
            "max_file_bytes": max_file_bytes,
        }
        named = f"{_resolved(claims_dir)}\0{_resolved(checkpoints_dir)}"
        digest = hashlib.sha256(os.fsencode(named)).hexdigest()[:24]
        self.path = folder / f"files-{digest}.json"

    def load(self) -> tuple[dict[str, Saved], dict[str, Saved]]:
        """The saved claim files and checkpoints by path; both empty when there is no usable
        cache (and :attr:`last_miss` says why)."""
        try:
            with open(self.path, "rb") as f:
                header = json.loads(f.readline())
                body = f.read()
            if not isinstance(header, dict):
                raise ValueError("no header")
            for name, value in self._identity.items():
                if header.get(name) != value:
                    raise ValueError(f"another {name}")
            if header.get("body_bytes") != len(body):
                raise ValueError("the body's size is not what its header says")
            if hashlib.sha256(body).hexdigest() != header.get("body_sha256"):
                raise ValueError("the body does not match its checksum")
            data = json.loads(body)
            if not isinstance(data, dict) or set(data) != {"claims", "checkpoints"}:
                raise ValueError("not a parsed-files body")
            claims, checkpoints = _entries(data["claims"]), _entries(data["checkpoints"])
        except FileNotFoundError:
            self.last_miss = "no cache file"
            return {}, {}
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as error:
            self.last_miss = f"unreadable: {type(error).__name__}: {error}"
            return {}, {}
        self.last_miss = None
        return claims, checkpoints

    def save(self, claims: Mapping[str, Saved], checkpoints: Mapping[str, Saved]) -> bool:
        """Replace the cache with these entries. False when there are too few to be worth it or
        it could not be written (the next start reads the files, nothing else)."""
        if len(claims) + len(checkpoints) < self.min_files:
            return False
        try:
            body = json.dumps(
                {"claims": _encoded(claims), "checkpoints": _encoded(checkpoints)},
                separators=(",", ":"),
            ).encode()
        except (ValueError, TypeError, RecursionError):
            return False
        header = {
            **self._identity,
            "body_bytes": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        try:
            _write_atomically(self.path, [json.dumps(header).encode() + b"\n", body])
        except OSError:
            return False
        return True

    def forget(self) -> None:
        """Remove the cache file (best effort)."""
        with contextlib.suppress(OSError):
            self.path.unlink()


def _encoded(entries: Mapping[str, Saved]) -> dict[str, list[Any]]:
    return {
        path: [list(saved.key), saved.value, [[p.file, p.message, p.line] for p in saved.problems]]
        for path, saved in entries.items()
    }


def _entries(data: object) -> dict[str, Saved]:
    """The body's entries, checked for shape (their values are checked when decoded)."""
    if not isinstance(data, dict):
        raise ValueError("entries are not an object")
    out: dict[str, Saved] = {}
    for path, entry in data.items():
        if not isinstance(entry, list) or len(entry) != 3:
            raise ValueError("an entry is not [key, value, problems]")
        key, value, problems = entry
        if not isinstance(key, list) or len(key) != 5 or any(type(n) is not int for n in key):
            raise ValueError("an entry's key is not 5 integers")
        out[path] = Saved((key[0], key[1], key[2], key[3], key[4]), value, _problems(problems))
    return out


def _problems(data: object) -> list[Problem]:
    if not isinstance(data, list):
        raise ValueError("problems are not an array")
    out = []
    for item in data:
        if not isinstance(item, list) or len(item) != 3:
            raise ValueError("a problem is not [file, message, line]")
        file, message, line = item
        if type(file) is not str or type(message) is not str:
            raise ValueError("a problem's file or message is not text")
        if line is not None and type(line) is not int:
            raise ValueError("a problem's line is not an integer")
        out.append(Problem(file, message, line))
    return out


# -- values: each dataclass as the list of its fields (tuples as arrays) ----------------------


def _opt(kind: type) -> Callable[[object], bool]:
    return lambda v: v is None or type(v) is kind


def _tuple_of(kind: type) -> Callable[[object], bool]:
    return lambda v: isinstance(v, list) and all(type(x) is kind for x in v)


_STR = _opt(str)
_UNIT: dict[str, Callable[[object], bool]] = {
    "claim_id": lambda v: type(v) is str,
    "phase": _opt(int),
    "name": lambda v: type(v) is str,
    "tickets": _tuple_of(str),
    "owner": _STR,
    "pid": _opt(int),
    "claimed_at": _STR,
    "hostname": _STR,
    "branch": _STR,
    "mode": _STR,
    "deps": _tuple_of(int),
    "completed_at": _STR,
}
_CLAIM: dict[str, Callable[[object], bool]] = {
    "file": lambda v: type(v) is str,
    "kind": lambda v: v in ("mega", "standalone"),
    "claim_id": lambda v: type(v) is str,
    "title": lambda v: type(v) is str,
    "created": _STR,
    "units": lambda v: isinstance(v, list),
    "raw": lambda v: isinstance(v, dict),
}
_CHECKPOINT: dict[str, Callable[[object], bool]] = {
    "file": lambda v: type(v) is str,
    "name": lambda v: type(v) is str,
    "slug": lambda v: type(v) is str,
    "task": lambda v: type(v) is str,
    "timestamp": _STR,
    "branch": _STR,
    "git_sha": _STR,
    "pr_number": _opt(int),
    "steps_completed": _tuple_of(str),
    "steps_remaining": _tuple_of(str),
    "context": lambda v: v is None or isinstance(v, dict),
    "progress": lambda v: v is None or isinstance(v, dict),
    "claimed_phase": lambda v: v is None or isinstance(v, dict),
    "raw": lambda v: isinstance(v, dict),
}
assert list(_UNIT) == [f.name for f in fields(ClaimUnit)]
assert list(_CLAIM) == [f.name for f in fields(ClaimFile)]
assert list(_CHECKPOINT) == [f.name for f in fields(Checkpoint) if f.name != "file_ts"]


def _values(data: object, checks: dict[str, Callable[[object], bool]]) -> dict[str, Any]:
    """``data`` (a list of field values) as keyword arguments, each checked; arrays as tuples
    (raises ``ValueError`` when one does not fit)."""
    if not isinstance(data, list) or len(data) != len(checks):
        raise ValueError("a saved value has the wrong number of fields")
    out: dict[str, Any] = {}
    for (name, check), value in zip(checks.items(), data, strict=True):
        if not check(value):
            raise ValueError(f"a saved {name} has the wrong type")
        out[name] = tuple(value) if isinstance(value, list) and name != "units" else value
    return out


def encode_claim(claim: ClaimFile | None) -> Any:
    if claim is None:
        return None
    units = [[getattr(unit, name) for name in _UNIT] for unit in claim.units]
    return [units if name == "units" else getattr(claim, name) for name in _CLAIM]


def decode_claim(data: object) -> ClaimFile | None:
    """A claim saved by :func:`encode_claim`; raises ``ValueError`` when it is not one."""
    if data is None:
        return None
    values = _values(data, _CLAIM)
    values["units"] = tuple(ClaimUnit(**_values(unit, _UNIT)) for unit in values["units"])
    return ClaimFile(**values)


def encode_checkpoint(checkpoint: Checkpoint | None) -> Any:
    """A checkpoint but the time in its file name (that is parsed from the name again)."""
    if checkpoint is None:
        return None
    return [getattr(checkpoint, name) for name in _CHECKPOINT]


def decode_checkpoint(data: object, file_ts: datetime | None) -> Checkpoint | None:
    """A checkpoint saved by :func:`encode_checkpoint`, with ``file_ts`` (its name's time);
    raises ``ValueError`` when it is not one."""
    if data is None:
        return None
    return Checkpoint(file_ts=file_ts, **_values(data, _CHECKPOINT))
