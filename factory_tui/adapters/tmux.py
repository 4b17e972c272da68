"""tmux, the agent's terminal: find the pane an agent runs in, capture what it shows, type into
it, and switch the engineer's client to it.

The pane is found from structured facts, never from the text on the screen: the pane whose
process tree contains the agent's pid (the agent is the pane's process or one of its
descendants), else the pane whose current path is the agent's worktree (:func:`pick_pane`, pure).

Every tmux command is an argv list, never a shell; text is sent with ``send-keys -l`` (literal:
no key names, no ``#{...}`` formats). A capture keeps its colours (SGR) and nothing else: every
other escape sequence, C0/C1 control and bidi control is removed by :func:`strip_escapes` before
the text is parsed into styles (:func:`capture_text`), so a pane that prints an OSC 52 clipboard
write, a clear screen or a window title cannot reach the engineer's terminal through ours.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from factory_tui.core.safe import plain_int

__all__ = [
    "Pane",
    "PaneMatch",
    "Tmux",
    "TmuxError",
    "TmuxTimeout",
    "capture_text",
    "parse_panes",
    "pick_pane",
    "process_ancestry",
    "strip_escapes",
]

#: ``list-panes -a -F``: one pane a line, fields split by a tab; the path is last (it may hold
#: a tab itself, the others cannot).
PANE_FORMAT = "#{pane_id}\t#{pane_pid}\t#{session_name}:#{window_index}.#{pane_index}\t" + (
    "#{pane_current_path}"
)

#: How much text one send may carry: a reply, not a file.
MAX_SEND_CHARS = 4000


class TmuxError(Exception):
    """A tmux command failed or tmux is not there; ``str()`` says what and what to do."""


class TmuxTimeout(TmuxError):
    """tmux gave no answer in time (what it was asked may still have been done)."""


@dataclass(frozen=True, slots=True)
class Pane:
    id: str
    """tmux's own pane id (``%3``): stable while the pane lives, the target of every command."""
    pid: int | None
    """The pane's first process (its shell, or the command it was started with)."""
    target: str
    """``session:window.pane``, for people."""
    path: str
    """The pane's current working directory."""


@dataclass(frozen=True, slots=True)
class PaneMatch:
    """The pane found for an agent, or ``None`` with the reason none was."""

    pane: Pane | None
    how: str
    """How it was found (``"pid 4242 runs in it"``), or why no pane fits."""


def parse_panes(text: str) -> list[Pane]:
    """``list-panes -a -F PANE_FORMAT`` output; a line of another shape is skipped."""
    panes: list[Pane] = []
    for line in text.splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4 or not parts[0].startswith("%"):
            continue
        pane_id, pid, target, path = parts
        panes.append(Pane(pane_id, plain_int(pid), target, path))
    return panes


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


def pick_pane(
    panes: Sequence[Pane],
    *,
    pid: int | None,
    ancestry: Sequence[int] = (),
    worktree: str | None = None,
) -> PaneMatch:
    """The agent's pane: the one whose process is ``pid`` or one of its ``ancestry`` (the pid's
    parents, nearest first), else the one whose current path is ``worktree`` (when exactly one
    is; two panes in the same worktree cannot be told apart)."""
    if pid is not None:
        chain = [pid, *ancestry]
        by_pid = {pane.pid: pane for pane in panes if pane.pid is not None}
        for depth, candidate in enumerate(chain):
            pane = by_pid.get(candidate)
            if pane is not None:
                how = (
                    f"pid {pid} is its process"
                    if depth == 0
                    else f"pid {pid} runs in it (under pid {candidate})"
                )
                return PaneMatch(pane, how)
    if worktree:
        there = [pane for pane in panes if pane.path and _same_path(pane.path, worktree)]
        if len(there) == 1:
            return PaneMatch(there[0], f"its current path is the worktree {worktree}")
        if len(there) > 1:
            names = ", ".join(pane.target for pane in there)
            return PaneMatch(
                None, f"{len(there)} panes ({names}) are in the worktree {worktree}: cannot tell"
            )
    pid_part = (
        f"no pane's process tree holds pid {pid}" if pid is not None else "the agent has no pid"
    )
    tree_part = (
        f"no pane is in its worktree {worktree}" if worktree else "its worktree is not known"
    )
    return PaneMatch(None, f"{pid_part}, and {tree_part}")


def process_ancestry(pid: int) -> tuple[int, ...]:
    """``pid``'s parents, nearest first (empty when it is gone or cannot be read)."""
    import psutil

    try:
        return tuple(parent.pid for parent in psutil.Process(pid).parents())
    except (psutil.Error, ValueError):
        return ()


# -- what a capture may show ------------------------------------------------------------------

# An escape sequence as a terminal reads it: CSI (7-bit ``ESC [`` or C1 ``\x9b``) with its
# parameters and final byte; OSC, DCS, SOS, PM, APC strings up to their terminator (BEL or ST,
# or the end of the text when unterminated); any other two-byte ``ESC x``. Kept: SGR alone.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)(?P<params>[\x30-\x3f]*)(?P<inter>[\x20-\x2f]*)(?P<final>[\x40-\x7e])?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])(?:[^\x07\x1b\x9c]|\x1b(?!\\))*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_SGR_PARAMS = re.compile(r"[0-9;:]*")
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _keep_sgr(match: re.Match[str]) -> str:
    text = match.group()
    if (
        text.startswith("\x1b[")
        and match.group("final") == "m"
        and not match.group("inter")
        and _SGR_PARAMS.fullmatch(match.group("params") or "")
    ):
        return text
    return ""


def strip_escapes(raw: str) -> str:
    """``raw`` with only its colour sequences (7-bit SGR, ``ESC [ … m``) left: every other
    escape sequence, control character (tab and newline aside) and bidi control is removed."""
    out: list[str] = []
    at = 0
    for match in _SEQUENCE.finditer(raw):
        out.append(_CONTROL.sub("", raw[at : match.start()]))
        out.append(_keep_sgr(match))
        at = match.end()
    out.append(_CONTROL.sub("", raw[at:]))
    return "".join(out)


def capture_text(raw: str) -> Text:
    """A pane's capture as styled text: colours kept, nothing else a terminal would act on
    (:func:`strip_escapes`, then Rich's SGR decoder; the trailing blank lines dropped)."""
    clean = strip_escapes(raw).rstrip("\n ")
    return Text.from_ansi(clean, end="")


# -- running tmux ------------------------------------------------------------------------------


class Tmux:
    """The tmux server the agents run in: the default one (``$TMUX``'s when inside tmux), or a
    named socket (``socket_name``, tmux's ``-L``)."""

    def __init__(
        self,
        *,
        socket_name: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.socket_name = socket_name
        self.env = os.environ if env is None else env
        self.timeout_s = timeout_s

    def executable(self) -> str | None:
        return shutil.which("tmux", path=self.env.get("PATH"))

    def unavailable(self) -> str | None:
        """Why tmux cannot be used here (one sentence), or ``None`` when it can."""
        if self.executable() is None:
            return "tmux is not installed (not on PATH): the agents' panes cannot be reached"
        return None

    def inside(self) -> bool:
        """The engineer's terminal is a tmux client (``$TMUX`` is set)."""
        return bool(self.env.get("TMUX"))

    def run(self, *args: str) -> str:
        exe = self.executable()
        if exe is None:
            raise TmuxError(
                "tmux is not installed (not on PATH): install it (apt-get install tmux)"
            )
        argv = [exe, *(("-L", self.socket_name) if self.socket_name else ()), *args]
        env = dict(self.env)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise TmuxTimeout(f"tmux {args[0]} gave no answer in {self.timeout_s:g}s") from None
        except OSError as error:
            raise TmuxError(f"tmux could not start: {error.strerror or error}") from error
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise TmuxError(f"tmux {args[0]} failed: {why}")
        return done.stdout.decode("utf-8", errors="replace")

    def panes(self) -> list[Pane]:
        """Every pane of the server; empty when no server runs."""
        try:
            out = self.run("list-panes", "-a", "-F", PANE_FORMAT)
        except TmuxError as error:
            text = str(error)
            if "no server running" in text or "error connecting" in text:
                return []
            raise
        return parse_panes(out)

    def find_pane(
        self,
        pid: int | None,
        worktree: str | Path | None,
        *,
        ancestry: Callable[[int], Iterable[int]] = process_ancestry,
    ) -> PaneMatch:
        """The agent's pane (see :func:`pick_pane`); the reason when there is none."""
        why = self.unavailable()
        if why is not None:
            return PaneMatch(None, why)
        try:
            panes = self.panes()
        except TmuxError as error:
            return PaneMatch(None, str(error))
        if not panes:
            return PaneMatch(None, "no tmux server is running (no pane at all)")
        chain = tuple(ancestry(pid)) if pid is not None else ()
        return pick_pane(
            panes, pid=pid, ancestry=chain, worktree=str(worktree) if worktree else None
        )

    def capture(self, pane_id: str, *, lines: int | None = None) -> str:
        """What the pane shows, raw (with its escape sequences): pass it to :func:`capture_text`
        before it reaches a screen. ``lines``: that many lines of history above it too."""
        extra = ("-S", f"-{lines}") if lines else ()
        return self.run("capture-pane", "-e", "-p", *extra, "-t", pane_id)

    def send_text(self, pane_id: str, text: str) -> None:
        """Type ``text`` into the pane literally, then Enter. One line only: a newline would be
        a second Enter (an answer the engineer did not confirm), so it is refused."""
        check_reply(text)
        self.run("send-keys", "-l", "-t", pane_id, "--", text)
        self.run("send-keys", "-t", pane_id, "Enter")

    def switch_client(self, pane_id: str) -> None:
        """Show the pane in the engineer's tmux client (inside tmux only)."""
        if not self.inside():
            raise TmuxError("not inside tmux ($TMUX is not set): there is no client to switch")
        self.run("switch-client", "-t", pane_id)


def check_reply(text: str) -> None:
    """Refuse what cannot be sent as one literal line (``TmuxError`` saying why)."""
    if not text.strip():
        raise TmuxError("nothing to send: the text is empty")
    if "\n" in text or "\r" in text:
        raise TmuxError(
            "the text holds a line break, which the agent would read as Enter: send one line"
        )
    if _CONTROL.search(text):
        raise TmuxError("the text holds control characters: send plain text")
    if len(text) > MAX_SEND_CHARS:
        raise TmuxError(f"the text is {len(text)} characters long: send at most {MAX_SEND_CHARS}")
