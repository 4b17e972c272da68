"""The log index's scan of appended bytes: the C-level passes (line starts summed from the
lines' lengths, the hooks' SESSION-START lines found in one regex pass) give exactly what the
line-by-line scan gave, on any bytes: odd lines, CRLF, bad UTF-8, blank lines, quotes, keys
repeated, a rotated operations.log.1."""

from __future__ import annotations

import re
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_tui.adapters import logindex_files
from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logindex_files import (
    _PLAIN_SESSION,
    _line_starts,
    _sessions,
    _sessions_by_line,
)


def line_starts_by_line(body: bytes, pos: int, typecode: str) -> array[int]:
    """The line starts as the index found them before: one match per newline."""
    last = body.rfind(b"\n")
    offsets = array(typecode, [pos])
    offsets.extend(pos + m.end() for m in re.finditer(b"\n", body[:last]))
    return offsets


_VALUES = st.sampled_from(
    [b"CAB-1", b"CAB-2", b"t1-0f24", b"t2-aa", b"\xff\xfe", "é-ü".encode(), b"a=b", b"x\ry",
     b"", b"SESSION-START", b'"q q"', b"'q'", b"v\tw", b"\x0bz"]
)  # fmt: skip
_KEYS = st.sampled_from([b"task", b"instance", b"branch", b"xtask", b"tasks", b"instance"])
_TOKEN = st.builds(lambda k, v: k + b"=" + v, _KEYS, _VALUES) | st.sampled_from(
    [b"bare", b'detail="a b"', b"", b"|", b"task=", b"instance="]
)
_SEP = st.sampled_from([b" ", b" ", b"  ", b"\t"])
_HEAD = st.sampled_from(
    [b"2026-02-12T14:00 | SESSION-START | ", b"2026-02-12T14:00 | SESSION-START |",
     b"2026-02-12T14:00 |SESSION-START| ", b"2026-02-12T14:00 | \tSESSION-START\t | ",
     b"x | y | SESSION-START | ", b"| SESSION-START | a | SESSION-START | ",
     b"2026-02-12T14:00 | STEP-DONE | ", b"", b"2026-02-12T14:00 | SESSION-START-X | "]
)  # fmt: skip
_END = st.sampled_from([b"", b"\r", b" ", b" \r", b"\t"])


@st.composite
def _odd_line(draw: st.DrawFn) -> bytes:
    tokens = draw(st.lists(_TOKEN, max_size=5))
    rest = b"".join(draw(_SEP) + token for token in tokens).lstrip(b" \t")
    head = draw(st.just(b"2026-02-12T14:00 | SESSION-START | ") | _HEAD)  # the hooks' half the time
    return head + rest + draw(_END)


@st.composite
def _hooks_line(draw: st.DrawFn) -> bytes:
    """A SESSION-START line the way the hooks write it (the fast path's shape)."""
    task = b"task=" + draw(st.sampled_from([b"CAB-1", b"CAB-2", "é".encode(), b"a=b"]))
    instance = b"instance=" + draw(st.sampled_from([b"t1-0f24", b"t2-aa", b"t3"]))
    first, second = (task, instance) if draw(st.booleans()) else (instance, task)
    middle = draw(st.sampled_from([b" ", b" branch=fix/x ", b"\tn=1\t"]))
    return b"2026-02-12T14:00 | SESSION-START | " + first + middle + second + draw(_END)


_PLAIN_LINE = st.sampled_from(
    [b"2026-02-12T14:01 | STEP-DONE | step=code task=CAB-1", b"", b"junk", b"\xff\xfe bytes"]
)
_LINES = st.lists(st.one_of(_hooks_line(), _odd_line(), _PLAIN_LINE), max_size=25)
_HOOKS_LINES = st.lists(st.one_of(_hooks_line(), _PLAIN_LINE), min_size=1, max_size=25)


def _body(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


@settings(max_examples=400, deadline=None)
@given(lines=_LINES, pos=st.sampled_from([0, 7, (1 << 32) - 3]))
def test_the_scan_equals_the_line_by_line_scan(lines: list[bytes], pos: int) -> None:
    body = _body(lines) or b"\n"
    typecode = "I" if pos + len(body) <= 1 << 32 else "Q"
    assert _line_starts(body, pos, typecode) == line_starts_by_line(body, pos, typecode)
    assert _sessions(body) == _sessions_by_line(body)


@pytest.mark.parametrize(
    "kv",
    [b"task=a instance=x", b"instance=x task=a", b"task=a task= instance=x",
     b"task=a instance=x instance=", b"task=a task=b instance=x", b"task=a instance=x task=b",
     b"task='q' instance=x", b'task=a instance="x"', b"task=a instance=x detail='y'",
     b"task=a\x0binstance=x", b"task=a instance=x\r", b"task=a instance=x \r",
     b"task=a\rinstance=x", b"task=a  instance=x | SESSION-START | task=b instance=y",
     b"task=\xff instance=\xfe", "task=é instance=ü".encode(), b"xtask=a instance=x",
     b"tasks=a task=b instance=x", b"task=a=b instance=c=d", b"note=SESSION-START task=a instance=x"],
)  # fmt: skip
def test_lines_where_the_one_pass_could_go_wrong(kv: bytes) -> None:
    for body in (b"2026-02-12T14:00 | SESSION-START | " + kv + b"\n", b"\n" + kv + b"\n"):
        assert _sessions(body) == _sessions_by_line(body)


@settings(max_examples=200, deadline=None)
@given(lines=_HOOKS_LINES)
def test_the_hooks_lines_take_the_one_pass(lines: list[bytes]) -> None:
    """Not a vacuous equality: the hooks' lines are read by the one regex pass."""
    body = _body(lines)
    assert len(_PLAIN_SESSION.findall(body)) == body.count(b"SESSION-START")
    assert _sessions(body) == _sessions_by_line(body)


def _index_state(index: LogIndex) -> object:
    hist, cur = index._hist, index._cur
    return (
        [(f.starts(), f.offsets.itemsize, f.end, f.crc, f.anchor) for f in (hist, cur)],
        index._instance_tasks,
        index.lines(0, len(index)),
        index.generation,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.none() | _LINES,
    log=_LINES,
    tail=st.sampled_from([b"", b"2026-02-12T14:09 | SESSION-START | task=w instance=t9"]),
    rotate=st.none() | st.integers(0, 10),
    chunk=st.sampled_from([64, 1 << 20]),
)
def test_the_index_equals_the_one_built_line_by_line(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    history: list[bytes] | None,
    log: list[bytes],
    tail: bytes,
    rotate: int | None,
    chunk: int,
) -> None:
    """The rotated log and the log (a last line without its newline left for later), indexed,
    then rotated as the hooks do and indexed again: the same offsets, CRCs, task map and lines
    as with the line-by-line scan."""
    root = tmp_path_factory.mktemp("logs")
    states = []
    for scan in ("new", "old"):
        folder = root / scan
        folder.mkdir()
        hist_path, log_path = folder / "operations.log.1", folder / "operations.log"
        if history is not None:
            hist_path.write_bytes(_body(history))
        log_path.write_bytes(_body(log) + tail)
        with monkeypatch.context() as patch:
            if scan == "old":
                patch.setattr(logindex_files, "_sessions", _sessions_by_line)
                patch.setattr(logindex_files, "_line_starts", line_starts_by_line)
            with LogIndex(hist_path, log_path) as index:
                for _ in index.update_in_chunks(chunk):
                    pass
                first = _index_state(index)
                if rotate is not None:
                    _rotate(hist_path, log_path, log[:rotate], log[rotate:], tail)
                    for _ in index.update_in_chunks(chunk):
                        pass
                states.append((first, _index_state(index)))
    assert states[0] == states[1]


def _rotate(hist: Path, log: Path, moved: list[bytes], kept: list[bytes], tail: bytes) -> None:
    """The hooks' rotation: the oldest lines appended to operations.log.1, the log replaced."""
    with hist.open("ab") as f:
        f.write(_body(moved))
    fresh = log.with_name("operations.log.tmp")
    fresh.write_bytes(_body(kept) + tail)
    fresh.replace(log)
