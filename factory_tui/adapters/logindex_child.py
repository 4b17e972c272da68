"""The log index of a big log built in a child process, beside the cockpit's fold of that log.

The cockpit's first load folds the log, then indexes it: both are Python work on one thread
(threads share the GIL), and the index took a tenth of the scale factory's cold load. A child
process scans the two files on another core while the fold runs (:class:`IndexBuild`); the
parent then takes its offsets (:meth:`~factory_tui.adapters.logindex.LogIndex.adopt`) only if
each file is still the one the child scanned (the same device and inode, at least as long, the
same last bytes before where the child stopped: the check every incremental update makes), and
only if nothing was indexed yet. The lines appended since are indexed by the next update as
usual. A child that fails, answers garbage or is not done in time costs nothing but its time:
the parent builds the index itself, as it did before.

The child writes one JSON line (per file: device, inode, the end of the last complete line,
the CRC and last bytes up to there, the offsets' type code and count; the task → instance
pairs of its SESSION-START lines), then each file's offsets as raw bytes (the same machine: the
native byte order).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_tui.adapters.logindex_files import FileIndex, apply_chunk, scan_lines

__all__ = ["MIN_CHILD_BYTES", "BuiltFile", "BuiltIndex", "IndexBuild", "take_file"]

#: Below this many bytes of log (both files) the index is built in-process: a child's start
#: (~0.1 s of another core) would not pay off.
MIN_CHILD_BYTES = 16 << 20
#: Seconds the parent waits for the child once it needs the index; then it builds it itself.
WAIT_SECONDS = 120.0
#: How the child is run, after the interpreter (a test swaps in a child that fails).
CHILD_ARGS: tuple[str, ...] = ("-m", "factory_tui.adapters.logindex_child")
_SCAN_BYTES = 1 << 20


@dataclass(frozen=True)
class BuiltFile:
    """One file as the child indexed it."""

    device: int
    inode: int
    end: int
    crc: int
    anchor: bytes
    offsets: array[int]


@dataclass(frozen=True)
class BuiltIndex:
    """Both files (None: the file was missing) and the SESSION-START pairs."""

    history: BuiltFile | None
    current: BuiltFile | None
    sessions: list[tuple[str, str]]


class IndexBuild:
    """A child process building the index of ``history`` + ``current``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, history: Path, current: Path) -> IndexBuild | None:
        """The child started, or None: the log is small, there is one core, or it could not
        be started."""
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        if cores < 2 or _size(history) + _size(current) < MIN_CHILD_BYTES:
            return None
        try:
            proc = subprocess.Popen(
                [sys.executable, *CHILD_ARGS, str(history), str(current)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": _package_path()},
            )
        except OSError:
            return None
        return cls(proc)

    def result(self, timeout: float = WAIT_SECONDS) -> BuiltIndex | None:
        """What the child built, or None: it failed, answered garbage or took too long."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            self.stop()
            return None
        if self.proc.returncode != 0:
            return None
        return parse(out)

    def stop(self) -> None:
        """Stop the child if it still runs (the cockpit quit, or the index was built without
        it), and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError):
            self.proc.communicate(timeout=5)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _package_path() -> str:
    """The folder holding this ``factory_tui`` first on the child's path (then the caller's)."""
    here = str(Path(__file__).resolve().parent.parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return here if not rest else here + os.pathsep + rest


def take_file(target: FileIndex, built: BuiltFile) -> bool:
    """Open ``target``'s path into it with what the child built, if the file there is still
    the one the child scanned (the check each update makes: same file, at least as long, the
    same last bytes). False (nothing kept open): it is not."""
    try:
        fd = os.open(target.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        anchor = built.anchor
        same = (
            stat.S_ISREG(st.st_mode)
            and (st.st_dev, st.st_ino) == (built.device, built.inode)
            and st.st_size >= built.end
            and os.pread(fd, len(anchor), built.end - len(anchor)) == anchor
        )
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return False
    target.fd = fd
    target.offsets = built.offsets
    target.end, target.crc, target.anchor = built.end, built.crc, built.anchor
    return True


# -- the child's side ---------------------------------------------------------------------------


def _scan(path: Path, sessions: list[tuple[str, str]]) -> tuple[dict[str, Any] | None, bytes]:
    """One file indexed as :meth:`LogIndex.update` would: its header entry and offsets."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None, b""
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path}: not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        f = FileIndex(path, 0)
        for chunk in scan_lines(fd, 0, st.st_size, _SCAN_BYTES, 0, b""):
            apply_chunk(f, chunk)
            sessions.extend(chunk.sessions)
    finally:
        os.close(fd)
    entry = {
        "device": st.st_dev,
        "inode": st.st_ino,
        "end": f.end,
        "crc": f.crc,
        "anchor": f.anchor.hex(),
        "typecode": f.offsets.typecode,
        "count": len(f.offsets),
    }
    return entry, f.offsets.tobytes()


def main(argv: list[str]) -> int:
    """``logindex_child HISTORY CURRENT``: the index of both, on stdout."""
    if len(argv) != 2:
        print(
            "usage: python -m factory_tui.adapters.logindex_child HISTORY CURRENT", file=sys.stderr
        )
        return 2
    sessions: list[tuple[str, str]] = []
    files, blobs = [], []
    for name in argv:
        entry, blob = _scan(Path(name), sessions)
        files.append(entry)
        blobs.append(blob)
    header = json.dumps({"files": files, "sessions": sessions}).encode() + b"\n"
    out = sys.stdout.buffer
    out.write(header)
    for blob in blobs:
        out.write(blob)
    out.flush()
    return 0


# -- the parent's reading of it -----------------------------------------------------------------


def parse(out: bytes) -> BuiltIndex | None:
    """The child's answer, checked field by field; None if anything is off."""
    line, newline, rest = out.partition(b"\n")
    try:
        header = json.loads(line) if newline else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    files, sessions = header.get("files"), header.get("sessions")
    if not (isinstance(files, list) and len(files) == 2 and isinstance(sessions, list)):
        return None
    pairs: list[tuple[str, str]] = []
    for pair in sessions:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)
        ):
            return None
        pairs.append((pair[0], pair[1]))
    built: list[BuiltFile | None] = []
    at = 0
    for entry in files:
        if entry is None:
            built.append(None)
            continue
        found = _built_file(entry, rest, at)
        if found is None:
            return None
        built.append(found)
        at += len(found.offsets) * found.offsets.itemsize
    if at != len(rest):
        return None
    return BuiltIndex(built[0], built[1], pairs)


def _built_file(entry: object, blob: bytes, at: int) -> BuiltFile | None:
    if not isinstance(entry, dict):
        return None
    ints = [entry.get(k) for k in ("device", "inode", "end", "crc", "count")]
    typecode, anchor = entry.get("typecode"), entry.get("anchor")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
        return None
    if typecode not in ("I", "Q") or not isinstance(anchor, str):
        return None
    device, inode, end, crc, count = (int(v) for v in ints if isinstance(v, int))
    offsets = array(typecode)
    size = count * offsets.itemsize
    if at + size > len(blob):
        return None
    try:
        offsets.frombytes(blob[at : at + size])
        anchor_bytes = bytes.fromhex(anchor)
    except ValueError:
        return None
    if len(anchor_bytes) > end or (count == 0) != (end == 0):
        return None
    return BuiltFile(device, inode, end, crc, anchor_bytes, offsets)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
