"""A new user's walk through the cockpit in a real terminal: tmux, at 80x24, 100x30 and 160x45.

    python benchmarks/tmux_walk.py [--out DIR] [--sizes 80x24,100x30,160x45] [--now ISO]

It makes the demo factory (``factory-tui demo --dir DIR/demo --no-ui --seed 7``: live simulated
agents), then for each size starts a tmux server on a socket of its own
(``tmux -L <name> -f /dev/null new-session -d -x W -y H``) running a shell, types
``factory-tui DIR/demo`` into it, and walks every view (1–8) and its main keys: enter, /, ?, o,
j/k, g/G, the actions x/X/u/r/K/C/A (each confirmation cancelled with escape, nothing is ever
confirmed), the log's f/s/]/[. Every screen is saved (``DIR/<W>x<H>/NNN-<view>-<key>.txt``) and
checked mechanically:

- no line wider than the terminal;
- no known long value (the demo's titles, branches, tasks, model names, PR titles, reasons, as
  ``status --json``, ``prs --json`` and ``cost --json`` give them) cut by an edge without an
  ellipsis: a line ending (or meeting a border) part-way through the value, the rest not
  continued on the next line;
- every key changes the screen (or shows a notification, which is a change): nothing silent;
- after ``q``: the pane back at the shell (not in the alternate screen), no process left under
  it, no factory-tui process of this demo other than the demo's own simulated agents (stopped at
  the end, by pid: they are this script's).

Exit status 0 when every check holds, 1 otherwise; ``DIR/report.txt`` lists every finding.
Screens change with the live agents too, so a silent key can hide behind a coincident change
(a false "not silent"); the report lists each key's changed lines to look at.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.cells import cell_len

#: Characters that end a line's text where a pane or a panel has its border.
BORDERS = "┃║│┓┛┐┘╗╝▕"
#: A value shorter than this is never checked (ids and numbers fit everywhere).
MIN_VALUE = 12
#: How long ``q`` may take until the shell is back (seconds): a finding past SOON, the walk
#: stops waiting at WITHIN.
QUIT_SOON, QUIT_WITHIN = 3.0, 30.0
SHELLS = {"sh", "dash", "bash"}
PROMPT = "walk$ "
CURRENT = "#{pane_current_command}"
#: The shortest part of a value taken as the value (shorter prefixes match other text).
MIN_PREFIX = 10


# -- the checks (pure: tested in tests/test_tmux_walk.py) ---------------------------------------


def too_wide(screen: str, width: int) -> list[str]:
    """Lines of ``screen`` wider than ``width`` cells."""
    return [line for line in screen.splitlines() if cell_len(line) > width]


def _text_end(line: str) -> int:
    """Where the line's text ends: before trailing blanks and one right border (a pane's, a
    panel's) and the blanks before it. (One: a dialog drawn over the screen has borders of its
    own, and the text left of it is covered, not cut.)"""
    end = len(line.rstrip())
    if end and line[end - 1] in BORDERS:
        end = len(line[: end - 1].rstrip())
    return end


def _continues(next_line: str, rest: str) -> bool:
    """``next_line`` carries on with ``rest`` (a value wrapped onto the next line)."""
    body = next_line.strip().strip(BORDERS).strip()
    start = rest.strip()[:6]
    return bool(start) and start in body


def _folded(text: str, next_line: str) -> bool:
    """The last word of ``text`` goes on at the start of ``next_line``, in the same column (a
    word too long for its box, folded: a notification's, a detail's)."""
    start = max(text.rfind(" "), *(text.rfind(b) for b in BORDERS + "▌")) + 1
    if start >= len(next_line) or next_line[start].isspace():
        return False
    return start == 0 or next_line[start - 1] in " ▌" + BORDERS


def cut_without_ellipsis(screen: str, values: Iterable[str]) -> list[tuple[str, str]]:
    """``(line, value)`` where ``value`` is cut by the end of the line's text (its edge or a
    border) part-way, mid-word, with no ellipsis, not wrapped onto the next line, and the line
    not ending with another of the values whole (``log:1`` is not ``log:18`` cut)."""
    lines = screen.splitlines()
    known = {v for v in values if len(v) >= MIN_VALUE}
    found: list[tuple[str, str]] = []
    for n, line in enumerate(lines):
        text = line[: _text_end(line)]
        if any(text.endswith(value) for value in known):
            continue
        following = lines[n + 1] if n + 1 < len(lines) else ""
        for value in known:
            for k in range(len(value) - 1, MIN_PREFIX - 1, -1):
                if not text.endswith(value[:k]):
                    continue
                # Only a cut mid-word counts: a text ending where one of the value's words ends
                # may be another text sharing its first words (an id, then other words).
                mid_word = value[k - 1] != " " and value[k] != " "
                wrapped = _continues(following, value[k:]) or _folded(text, following)
                if mid_word and not wrapped:
                    found.append((line, value))
                break
    return found


def changed_lines(before: str, after: str) -> list[str]:
    """The lines of ``after`` that differ from ``before``'s at the same row."""
    old = before.splitlines()
    new = after.splitlines()
    return [line for n, line in enumerate(new) if n >= len(old) or old[n] != line] + [""] * max(
        0, len(old) - len(new)
    )


def _showable(text: str) -> bool:
    """Long enough to check, on one line, neither a path nor a timestamp."""
    if len(text) < MIN_VALUE or "\n" in text or text.startswith("/"):
        return False
    return not (text[:4].isdigit() and text[4:5] == "-")


def known_values(documents: Iterable[object]) -> set[str]:
    """Every string of at least ``MIN_VALUE`` characters in the JSON ``documents`` that could
    be shown on one line (no newline, not a path, not a timestamp)."""
    out: set[str] = set()

    def walk(item: object) -> None:
        if isinstance(item, dict):
            for key, value in item.items():
                walk(key)
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)
        elif isinstance(item, str) and _showable(item):
            out.add(item)

    for document in documents:
        walk(document)
    return out


# -- tmux ----------------------------------------------------------------------------------------


@dataclass
class Tmux:
    """One tmux server on a socket of its own, one session, one pane."""

    socket: str
    width: int
    height: int
    env: dict[str, str]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=20,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, shell: str) -> None:
        self.run(
            "new-session", "-d", "-x", str(self.width), "-y", str(self.height), "-s", "walk", shell
        )

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", "walk")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "walk", *(["-l"] if literal else []), *keys)

    def show(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "walk", fmt).strip()

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, "kill-server"],
            capture_output=True,
            env=self.env,
            timeout=20,
        )


def settle(tmux: Tmux, before: str, *, change_within: float, quiet: float = 0.35) -> str:
    """The screen once it changed from ``before`` (or ``change_within`` seconds passed) and
    then stayed the same for ``quiet`` seconds (at most 5)."""
    deadline = time.monotonic() + change_within
    screen = tmux.capture()
    while screen == before and time.monotonic() < deadline:
        time.sleep(0.05)
        screen = tmux.capture()
    if screen == before:
        return screen
    stable_since, limit = time.monotonic(), time.monotonic() + 5
    while time.monotonic() - stable_since < quiet and time.monotonic() < limit:
        time.sleep(0.05)
        again = tmux.capture()
        if again != screen:
            screen, stable_since = again, time.monotonic()
    return screen


# -- the walk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Keys to press (tmux key names) and what they are."""

    keys: tuple[str, ...]
    name: str
    checked: bool = True
    """A key the walk checks is not silent (cleanup keys, escape after a no-op, are not)."""
    literal: bool = False
    noop: str = ""
    """Why this key may rightly change nothing here (listed, not a finding)."""


def press(
    *keys: str, name: str = "", checked: bool = True, literal: bool = False, noop: str = ""
) -> Step:
    return Step(tuple(keys), name or "-".join(keys), checked, literal, noop)


CANCEL = press("Escape", name="escape", checked=False)

#: Keys every list view gets: the cursor and the list's ends, the filter, the help.
LIST = (
    press("j"),
    press("k"),
    press("G"),
    press("g"),
    press("End", name="end"),
    press("Home", name="home"),
)
#: The demo's Problems and State have one finding each: nowhere to move.
ONE_ROW = tuple(
    Step(step.keys, step.name, step.checked, step.literal, "a one-row list") for step in LIST
)
COMMON = (
    press("/", name="slash"),
    press("CAB", name="type-CAB", literal=True),
    press("Enter", name="keep-filter"),
    press("Escape", name="clear-filter", checked=False),
    press("?", name="help"),
    press("End", name="help-end"),
    CANCEL,
    press("y", name="copy"),
)
ACTIONS = tuple(
    step for key in ("x", "X", "u", "r", "K", "C", "A") for step in (press(key), CANCEL)
)
VIEWS: dict[str, tuple[str, tuple[Step, ...]]] = {
    "agents": (
        "1",
        (
            press("o", name="order"),
            press("o", name="order-back"),
            *LIST,
            press("Enter", name="details"),
            CANCEL,
            *COMMON,
            *ACTIONS,
        ),
    ),
    "claims": ("2", (*LIST, press("Enter", name="enter"), CANCEL, *COMMON, *ACTIONS)),
    "sessions": ("3", (*LIST, press("Enter", name="details"), CANCEL, *COMMON, *ACTIONS)),
    "log": (
        "4",
        (
            *LIST,
            press("f", name="follow"),
            press("f", name="follow-again"),
            press("s", name="search"),
            press("push", name="type-push", literal=True),
            press("Enter", name="run-search"),
            press("]", name="next-match"),
            press("[", name="previous-match"),
            CANCEL,
            *COMMON,
        ),
    ),
    "problems": ("5", (*ONE_ROW, press("Enter", name="enter"), *COMMON)),
    "state": ("6", (*ONE_ROW, press("Enter", name="enter"), *COMMON)),
    "prs": (
        "7",
        (*LIST, press("Enter", name="diff"), press("]"), press("o"), CANCEL, *COMMON, *ACTIONS),
    ),
    "cost": (
        "8",
        (
            press("j"),
            press("G"),
            press("Home", name="home"),
            press("g", name="group-by"),
            press("g", name="group-by-2"),
            press("p", name="period"),
            *COMMON,
            press("A"),
        ),
    ),
}


@dataclass
class Findings:
    lines: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.lines.append(f"{where}: {what}")


@dataclass
class Walk:
    root: Path
    out: Path
    width: int
    height: int
    values: set[str]
    findings: Findings
    log: list[str] = field(default_factory=list)
    count: int = 0

    def save(self, tmux: Tmux, name: str, screen: str) -> str:
        self.count += 1
        path = self.out / f"{self.count:03d}-{name}.txt"
        path.write_text(screen)
        where = f"{self.width}x{self.height} {path.name}"
        for line in too_wide(screen, self.width):
            self.findings.add(where, f"line wider than {self.width}: {line!r}")
        for line, value in cut_without_ellipsis(screen, self.values):
            self.findings.add(where, f"cut without an ellipsis: {value!r} in {line.strip()!r}")
        return where

    def step(self, tmux: Tmux, view: str, step: Step) -> str:
        before = tmux.capture()
        tmux.keys(*step.keys, literal=step.literal)
        after = settle(tmux, before, change_within=1.5)
        where = self.save(tmux, f"{view}-{step.name}", after)
        changed = changed_lines(before, after)
        self.log.append(f"{where}: {len(changed)} lines changed")
        self.log.extend(f"    | {line.rstrip()}" for line in changed[:4])
        if step.checked and after == before:
            if step.noop:
                self.log.append(f"{where}: {step.name!r} changed nothing ({step.noop})")
            else:
                self.findings.add(where, f"{step.name!r} in {view}: nothing changed (silent)")
        return after


def cockpit_processes(root: Path, exclude: set[int]) -> list[psutil.Process]:
    """Processes whose command line names the demo's folder (the cockpit, its children)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid in exclude or proc.pid == os.getpid():
            continue
        cmdline = proc.info.get("cmdline") or []
        if any(str(root) in part for part in cmdline) and any(
            "factory" in part for part in cmdline
        ):
            found.append(proc)
    return found


def walk_size(
    root: Path,
    out: Path,
    size: tuple[int, int],
    values: set[str],
    stubs: set[int],
    views: Sequence[str] = tuple(VIEWS),
) -> tuple[Findings, list[str]]:
    width, height = size
    folder = out / f"{width}x{height}"
    folder.mkdir(parents=True, exist_ok=True)
    findings = Findings()
    env = {k: v for k, v in os.environ.items() if k not in {"TMUX", "ANTHROPIC_API_KEY"}}
    tmux = Tmux(f"factory-walk-{os.getpid()}-{width}x{height}", width, height, env)
    walk = Walk(root, folder, width, height, values, findings)
    # The shell's prompt set on its command line (a new session does not take PS1 from tmux's
    # environment), no rc file to change it.
    tmux.start(f"env PS1={shlex.quote(PROMPT)} bash --norc --noprofile")
    try:
        blank = settle(tmux, "", change_within=5)
        command = f"{shlex.quote(sys.executable)} -m factory_tui {shlex.quote(str(root))}"
        tmux.keys(command, literal=True)
        tmux.keys("Enter")
        first = settle(tmux, blank, change_within=20, quiet=1.5)
        walk.save(tmux, "first-screen", first)
        for n, view in enumerate(views):
            digit, steps = VIEWS[view]
            shown = n == 0 and view == "agents"
            walk.step(tmux, view, press(digit, name="view", noop="shown first" if shown else ""))
            for step in steps:
                walk.step(tmux, view, step)
            # Leave nothing open for the next view (a help screen, a filter, a dialog).
            tmux.keys("Escape")
            settle(tmux, tmux.capture(), change_within=0.3)
        before = tmux.capture()
        tmux.keys("q")
        asked = time.monotonic()
        while time.monotonic() - asked < QUIT_WITHIN and tmux.show(CURRENT) not in SHELLS:
            time.sleep(0.1)
        took = time.monotonic() - asked
        after = settle(tmux, before, change_within=1)
        walk.save(tmux, "after-q", after)
        where = f"{width}x{height} after q"
        walk.log.append(f"{where}: the shell is back after {took:.1f} s")
        if took > QUIT_SOON:
            findings.add(where, f"the cockpit took {took:.1f} s to quit (over {QUIT_SOON} s)")
        if tmux.show("#{alternate_on}") != "0":
            findings.add(where, "the pane is still in the alternate screen")
        current = tmux.show(CURRENT)
        if current not in SHELLS:
            findings.add(where, f"the pane runs {current!r}, not the shell")
        pane_pid = int(tmux.show("#{pane_pid}"))
        children = psutil.Process(pane_pid).children(recursive=True)
        if children:
            names = ", ".join(f"{p.pid} {' '.join(p.cmdline())}" for p in children)
            findings.add(where, f"processes left under the shell: {names}")
        left = cockpit_processes(root, stubs)
        if left:
            names = ", ".join(f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in left)
            findings.add(where, f"factory-tui processes left running: {names}")
        if PROMPT not in after:
            findings.add(where, "the shell's prompt is not back on the screen")
    finally:
        tmux.kill()
    return findings, walk.log


def json_of(argv: Sequence[str]) -> object:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def demo_values(root: Path) -> set[str]:
    """The demo's long values, as the headless commands give them."""
    cli = [sys.executable, "-m", "factory_tui"]
    documents = [
        json_of([*cli, "status", str(root), "--json"]),
        json_of([*cli, "prs", str(root), "--json"]),
        json_of([*cli, "cost", str(root), "--json", "--by", "model"]),
        json_of([*cli, "cost", str(root), "--json", "--by", "ticket"]),
    ]
    return known_values(documents)


def make_demo(root: Path, now: str | None) -> set[int]:
    """The demo factory; the pids of the simulated agents it left running."""
    before = {p.pid for p in psutil.process_iter()}
    argv = [sys.executable, "-m", "factory_tui", "demo", "--dir", str(root), "--no-ui"]
    argv += ["--seed", "7", *(["--now", now] if now else [])]
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return {p.pid for p in cockpit_processes(root, set()) if p.pid not in before}


def stop(pids: Iterable[int]) -> None:
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=5)


def sizes(text: str) -> Iterator[tuple[int, int]]:
    for part in text.split(","):
        width, height = part.lower().split("x")
        yield int(width), int(height)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the captures go (default: a temp dir)")
    parser.add_argument("--sizes", default="80x24,100x30,160x45")
    parser.add_argument("--now", help="the demo's clock (no live agents)")
    parser.add_argument("--views", default=",".join(VIEWS), help="the views to walk, in order")
    args = parser.parse_args(argv)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="factory-walk-"))
    out.mkdir(parents=True, exist_ok=True)
    root = out / "demo"
    stubs = make_demo(root, args.now)
    report: list[str] = []
    failed = False
    try:
        values = demo_values(root)
        for size in sizes(args.sizes):
            views = args.views.split(",")
            findings, log = walk_size(root, out, size, values, stubs, views)
            failed = failed or bool(findings.lines)
            report.append(f"== {size[0]}x{size[1]}: {len(findings.lines)} findings")
            report.extend(findings.lines)
            (out / f"{size[0]}x{size[1]}" / "keys.txt").write_text("\n".join(log) + "\n")
    finally:
        stop(stubs)
    (out / "report.txt").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(f"captures and report in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
