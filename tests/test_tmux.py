"""The agent's terminal through a real tmux server (tests/tmuxserver.py): finding its pane from
its pid or its worktree, capturing it with colours but no other escape, sending a reply
literally, switching a client. Skipped, saying why, only when tmux is not installed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmuxserver import TmuxServer, reads, wait_for

from factory_tui.adapters.tmux import (
    Pane,
    TmuxError,
    capture_text,
    pick_pane,
    strip_escapes,
)

HOSTILE_SCREEN = (
    "\x1b[31mred\x1b[0m plain"
    "\x1b]52;c;aGVsbG8=\x07"  # OSC 52: write the clipboard
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;pwned\x07"  # set the window title
    "\u009b31mC1"  # C1 CSI
    "\u202eevil"  # bidi override
    "\x1b]8;;http://example.com\x1b\\link\x1b]8;;\x1b\\"  # hyperlink
    "\x1bPq#0\x1b\\"  # DCS (sixel)
    "\x1b[?1049h"  # alternate screen
    "\r\x07\x08 done"
)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TmuxServer]:
    tmux = TmuxServer(tmp_path_factory.mktemp("tmux"))
    yield tmux
    tmux.close()


# -- the filter, pure ------------------------------------------------------------------------


def test_strip_escapes_keeps_colours_only() -> None:
    clean = strip_escapes(HOSTILE_SCREEN)
    assert clean == "\x1b[31mred\x1b[0m plainC1evillink done"
    text = capture_text(HOSTILE_SCREEN)
    assert text.plain == "red plainC1evillink done"
    assert [(s.start, s.end, str(s.style)) for s in text.spans] == [(0, 3, "color(1)")]


@pytest.mark.parametrize(
    "raw",
    [
        "\x1b[31",  # an unterminated CSI
        "\x1b]52;c;aGVsbG8=",  # an unterminated OSC
        "\x1b",
        "\x9b",
        "\x1b[1;31;4:3m",
    ],
)
def test_strip_escapes_leaves_no_escape_but_sgr(raw: str) -> None:
    clean = strip_escapes("a" + raw)  # at the end of a capture: nothing terminates it
    rest = clean.removeprefix("a").replace("\x1b[1;31;4:3m", "")
    assert clean.startswith("a")
    assert rest == ""


# -- finding the pane, pure ------------------------------------------------------------------


PANES = [
    Pane("%1", 100, "s:0.0", "/repo"),
    Pane("%2", 200, "s:1.0", "/repo-cab-1"),
    Pane("%3", 300, "s:2.0", "/repo-cab-2"),
    Pane("%4", 400, "s:3.0", "/repo-cab-2"),
]


def test_pick_pane_by_the_process_tree_first() -> None:
    match = pick_pane(PANES, pid=4242, ancestry=(4200, 200, 1), worktree="/repo-cab-2")
    assert match.pane == PANES[1]
    assert "under pid 200" in match.how


def test_pick_pane_by_the_worktree_when_the_pid_is_in_no_pane() -> None:
    match = pick_pane(PANES, pid=4242, ancestry=(1,), worktree="/repo-cab-1/")
    assert match.pane == PANES[1]
    assert "worktree" in match.how


def test_pick_pane_refuses_to_guess() -> None:
    two = pick_pane(PANES, pid=None, worktree="/repo-cab-2")
    assert two.pane is None and "cannot tell" in two.how
    none = pick_pane(PANES, pid=9, ancestry=(1,), worktree="/elsewhere")
    assert none.pane is None
    assert (
        none.how == "no pane's process tree holds pid 9, and no pane is in its worktree /elsewhere"
    )


# -- a real server ---------------------------------------------------------------------------


def test_find_pane_by_pid_and_by_worktree(server: TmuxServer, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pane_a, pid_a = server.new_pane(tmp_path / "a", tmp_path / "a.jsonl")
    pane_b, _pid_b = server.new_pane(tmp_path / "b", tmp_path / "b.jsonl")
    # A child of the pane's process, as an agent under its shell would be.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = server.tmux.find_pane(child.pid, None, ancestry=lambda _pid: (pid_a, 1))
        assert found.pane is not None and found.pane.id == pane_a
        by_path = server.tmux.find_pane(None, tmp_path / "b")
        assert by_path.pane is not None and by_path.pane.id == pane_b
        real = server.tmux.find_pane(pid_a, None)
        assert real.pane is not None and real.pane.id == pane_a
    finally:
        child.kill()
        child.wait()


def test_no_server_says_so(tmp_path_factory: pytest.TempPathFactory) -> None:
    idle = TmuxServer(tmp_path_factory.mktemp("idle"))  # never started
    found = idle.tmux.find_pane(1234, "/somewhere")
    assert found.pane is None
    assert found.how == "no tmux server is running (no pane at all)"


def test_without_tmux_on_path_says_so(server: TmuxServer) -> None:
    from factory_tui.adapters.tmux import Tmux

    bare = Tmux(env={"PATH": "/nonexistent"})
    assert bare.find_pane(1, "/x").how.startswith("tmux is not installed")


HOSTILE_REPLIES = [
    "; rm -rf ~",
    'it\'s "quoted" $(whoami) `id` #{pane_id} ~ * \\',
    "Enter",  # a key name: must be typed as the word
    "C-c",
    "  2",
    "é ✓ 漢字",
]


@pytest.mark.parametrize("text", HOSTILE_REPLIES)
def test_send_text_reaches_the_stub_literally(
    server: TmuxServer, tmp_path: Path, text: str
) -> None:
    record = tmp_path / "read.jsonl"
    pane, _pid = server.new_pane(tmp_path, record)
    server.tmux.send_text(pane, text)
    got = wait_for("the stub to read the reply", lambda: reads(record))
    assert got == [text]
    assert list(tmp_path.iterdir()) == [record]  # nothing ran in a shell


@pytest.mark.parametrize("text", ["two\nlines", "cr\r", "", "   ", "\x1b[2J", "x" * 4001])
def test_send_text_refuses_what_is_not_one_line(
    server: TmuxServer, tmp_path: Path, text: str
) -> None:
    record = tmp_path / "read.jsonl"
    pane, _pid = server.new_pane(tmp_path, record)
    with pytest.raises(TmuxError):
        server.tmux.send_text(pane, text)
    server.tmux.send_text(pane, "after")  # the pane still works, and got nothing before
    assert wait_for("the stub to read", lambda: reads(record)) == ["after"]


#: What a pane may print that tmux keeps on its screen (a clear screen or the alternate screen
#: would wipe the rest: tmux acts on those itself).
PANE_BANNER = (
    "\x1b[31mred\x1b[0m plain"
    "\x1b]52;c;aGVsbG8=\x07"
    "\x1b]0;pwned\x07"
    " \u202eevil"
    "\x1b]8;;http://example.com\x1b\\link\x1b]8;;\x1b\\ end\n"
)


def test_capture_strips_hostile_escapes(server: TmuxServer, tmp_path: Path) -> None:
    record = tmp_path / "read.jsonl"
    pane, _pid = server.new_pane(tmp_path, record, banner=PANE_BANNER)
    raw = server.tmux.capture(pane)
    text = capture_text(raw)
    assert "Allow this edit?" in text.plain
    assert "red plain" in text.plain
    for bad in ("\x1b", "\x9b", "\u202e", "\x07", "pwned", "aGVsbG8"):
        assert bad not in text.plain
    assert any(str(span.style) == "color(1)" for span in text.spans)


def test_switch_client_needs_tmux(server: TmuxServer) -> None:
    with pytest.raises(TmuxError, match="not inside tmux"):
        server.tmux.switch_client("%0")


def test_switch_client_moves_the_engineers_client(server: TmuxServer, tmp_path: Path) -> None:
    """A real client attached on a pseudo-terminal (the engineer's), inside tmux ($TMUX names
    the server): switching shows the agent's pane in it."""
    first, _ = server.new_pane(tmp_path, tmp_path / "a.jsonl")
    agent, _ = server.new_pane(tmp_path, tmp_path / "b.jsonl")
    with server.attached_client() as inside:
        assert server.client_pane() == first
        inside.switch_client(agent)
        assert wait_for("the client to show the agent", lambda: server.client_pane() == agent)
