"""The log's last lines read backwards from the end (issue 17): the same lines the index gives."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.adapters.logindex import LogIndex
from factory_tui.adapters.logtail import read_tail


def files(tmp: Path, history: bytes, current: bytes) -> tuple[Path, Path]:
    hist, cur = tmp / "operations.log.1", tmp / "operations.log"
    hist.write_bytes(history)
    cur.write_bytes(current)
    return hist, cur


def test_the_last_lines_of_the_current_file(tmp_path: Path) -> None:
    hist, cur = files(tmp_path, b"h0\nh1\n", b"".join(b"line %d\n" % i for i in range(100)))
    tail = read_tail(hist, cur, max_lines=3)
    assert tail.lines == ("line 97", "line 98", "line 99")
    assert not tail.whole and tail.error is None


def test_a_short_current_file_is_preceded_by_the_history(tmp_path: Path) -> None:
    hist, cur = files(tmp_path, b"h0\nh1\nh2\n", b"c0\nc1\n")
    assert read_tail(hist, cur, max_lines=3).lines == ("h2", "c0", "c1")
    whole = read_tail(hist, cur, max_lines=10)
    assert whole.lines == ("h0", "h1", "h2", "c0", "c1") and whole.whole


def test_a_line_still_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    hist, cur = files(tmp_path, b"", b"a\nb\r\nhalf-writ")
    assert read_tail(hist, cur).lines == ("a", "b")


def test_the_read_is_bounded_and_a_cut_line_is_dropped(tmp_path: Path) -> None:
    body = b"".join(b"%06d %s\n" % (i, b"x" * 90) for i in range(20_000))  # ~2 MB
    hist, cur = files(tmp_path, b"", body)
    tail = read_tail(hist, cur, max_lines=100_000, max_bytes=200_000)
    assert not tail.whole
    assert 1_000 < len(tail.lines) < 3_000  # a few 64 KiB blocks, not the file
    assert all(len(line) == 97 for line in tail.lines)  # whole lines only
    assert tail.lines[-1].startswith("019999")


def test_missing_files_are_an_empty_log(tmp_path: Path) -> None:
    tail = read_tail(tmp_path / "none.1", tmp_path / "none")
    assert tail.lines == () and tail.whole and tail.error is None


# Any bytes but the line break (undecodable ones too: agents write what they write).
lines = st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b" ")), max_size=60)


@settings(max_examples=60, deadline=None)
@given(history=lines, current=lines, wanted=st.integers(1, 80), partial=st.booleans())
def test_the_tail_is_the_end_of_what_the_index_reads(
    history: list[bytes], current: list[bytes], wanted: int, partial: bool
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        hist, cur = files(
            tmp,
            b"".join(line + b"\n" for line in history),
            b"".join(line + b"\n" for line in current) + (b"tail" if partial else b""),
        )
        tail = read_tail(hist, cur, max_lines=wanted)
        with LogIndex(hist, cur) as index:
            index.update()
            n = len(index)
            assert list(tail.lines) == index.lines(max(n - wanted, 0), n)
            assert tail.whole == (n <= wanted)


def test_a_line_longer_than_the_bound_gives_no_fragment(tmp_path: Path) -> None:
    long = b"x" * 400_000
    hist, cur = files(tmp_path, b"", b"first\n" + long + b"\n" + long)  # ends mid-line
    tail = read_tail(hist, cur, max_bytes=200_000)
    assert tail.lines == () and not tail.whole
    hist, cur = files(tmp_path, b"", b"first\n" + long + b"\nlast\n")
    assert read_tail(hist, cur, max_bytes=200_000).lines == ("last",)
