"""A long read's progress line on the terminal (standard error), for the CLI's commands."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from conftest import config_for
from rich.cells import cell_len
from test_foldcache import _write, make_factory

import factory_tui.cli.progress as progress
from factory_tui.adapters import factory_logs
from factory_tui.adapters.factory import FactoryReader, read_progress
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.cli import main
from factory_tui.cli.progress import TerminalProgress

ERASE = "\r\x1b[K"


class Terminal(io.StringIO):
    """What a terminal on standard error was sent."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_comes_after_a_second_is_written_over_and_erased_at_the_end() -> None:
    term, clock = Terminal(), Clock()
    shown = TerminalProgress(term, clock=clock)
    shown("operations.log", 10, 100)
    clock.now += 0.5
    shown("operations.log", 20, 100)
    assert term.getvalue() == ""  # a short read says nothing
    clock.now += 0.6
    shown("operations.log", 40, 100)
    assert term.getvalue() == ERASE + "factory-tui: reading operations.log 40%…"
    clock.now += 0.1
    shown("operations.log", 45, 100)  # too soon after the last
    clock.now += 1.0
    shown("operations.log", 60, 100)  # the rate is known: 50 in 2.2 s
    assert term.getvalue().endswith(
        ERASE + "factory-tui: reading operations.log 60%, about 2 s left…"
    )
    clock.now += 0.5
    shown("operations.log", 100, 100)
    assert term.getvalue().endswith(ERASE)
    before = term.getvalue()
    shown("operations.log", 100, 100)
    shown.erase()
    assert term.getvalue() == before  # nothing shown: nothing erased again


def test_nothing_is_written_where_standard_error_is_no_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    shown = TerminalProgress(out, clock=clock)
    clock.now += 5
    shown("operations.log", 1, 100)
    shown.phase("saving the warm-start cache")
    shown.phase(None)
    shown.erase()
    assert out.getvalue() == "" and not shown.on


def test_a_phase_after_the_read_is_said_then_erased() -> None:
    term, clock = Terminal(), Clock()
    shown = TerminalProgress(term, clock=clock)
    shown.phase("saving the warm-start cache")
    assert term.getvalue() == ""  # the command is young: a save this early is short
    clock.now += 2
    shown.phase("saving the warm-start cache")
    assert term.getvalue() == ERASE + "factory-tui: saving the warm-start cache…"
    shown.phase(None)
    assert term.getvalue().endswith("cache…" + ERASE)


def test_a_source_is_shown_literally_and_cut_to_the_terminals_width() -> None:
    term, clock = Terminal(), Clock()
    shown = TerminalProgress(term, clock=clock, show_after=0)
    shown("ops\x1b]0;pwn\x07" + "x" * 200, 1, 4)
    line = term.getvalue().removeprefix(ERASE)
    assert "\x1b" not in line and "\x07" not in line
    assert line.startswith("factory-tui: reading ops") and len(line) == 79  # 80 columns


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    config = make_factory(tmp_path / "factory")
    _write(
        config.log_file,
        [
            f"2026-02-12T10:{n % 60:02d} | STEP-DONE | step=s task=t{n % 7} n={n}".encode()
            for n in range(300)
        ],
    )
    return config.root


def test_status_tells_a_long_reads_progress_on_the_terminal(
    factory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The read's progress on standard error (a terminal), erased before the answer;
    standard output holds the answer alone."""
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 1024)  # a read of many chunks
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    monkeypatch.setattr(progress, "EVERY_S", 0)
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["status", str(factory), "--json", "--no-cache"]) == 0
    said = term.getvalue()
    assert "factory-tui: reading operations.log " in said and said.endswith(ERASE)
    assert json.loads(capsys.readouterr().out)["summary"]["log_events"] == 300
    assert read_progress.get() is None  # only while the command ran


def test_status_says_nothing_of_it_in_a_pipe(
    factory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 1024)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    assert main(["status", str(factory), "--json", "--no-cache"]) == 0
    assert capsys.readouterr().err == ""


def test_a_save_made_by_the_reading_process_is_told_as_a_phase(factory: Path) -> None:
    config = make_factory(factory.parent / "other")
    _write(config.log_file, [b"2026-02-12T10:00 | STEP-DONE | step=s task=t"] * 50)
    said: list[str | None] = []
    reader = FactoryReader(config, fold_cache=FoldCache(factory.parent / "cache", min_log_bytes=0))
    reader.logs.on_phase = said.append
    reader.refresh_log()  # a log over the cache's threshold: saved as it is read
    assert said == ["saving the warm-start cache", None, None]  # the save's end, the read's
    assert reader.save_fold_cache()  # nothing new to save
    assert said == ["saving the warm-start cache", None, None]


class Both:
    """Standard output and a terminal on standard error, writing into one record, in order."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        both = self

        class Out(io.StringIO):
            def write(self, text: str) -> int:
                both.writes.append(("out", text))
                return len(text)

        class Err(Terminal):
            def write(self, text: str) -> int:
                both.writes.append(("err", text))
                return len(text)

        self.out, self.err = Out(), Err()

    def written_over_a_shown_line(self) -> list[str]:
        """What standard output got while a progress line was on the terminal."""
        shown, over = False, []
        for stream, text in self.writes:
            if stream == "err":
                shown = not text.endswith(ERASE)
            elif shown:
                over.append(text)
        return over


@pytest.mark.parametrize("ending", [b"", b"2026-02-12T10:00 | STEP-DONE | step=s task=t"])
def test_the_line_is_erased_before_the_answer_however_the_read_ended(
    factory: Path, monkeypatch: pytest.MonkeyPatch, ending: bytes
) -> None:
    """A log whose last line is still being written ends its read short of 100%: the line is
    erased when the read is over all the same, before the answer (it stayed, and the answer
    was written after it on the same line)."""
    with (factory / ".factory" / "memory" / "operations.log").open("ab") as log:
        log.write(ending)
    monkeypatch.setattr(factory_logs, "LOG_CHUNK_BYTES", 1024)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    monkeypatch.setattr(progress, "EVERY_S", 0)
    both = Both()
    monkeypatch.setattr(sys, "stdout", both.out)
    monkeypatch.setattr(sys, "stderr", both.err)
    assert main(["status", str(factory), "--json", "--no-cache"]) == 0
    assert any("reading operations.log" in text for stream, text in both.writes if stream == "err")
    assert both.writes[-1][0] == "out" and both.written_over_a_shown_line() == []


def test_a_read_again_measures_its_own_rate() -> None:
    """A second read of the same file (an action reads the factory again after its question)
    tells its time left from its own rate, not the first read's."""
    term, clock = Terminal(), Clock()
    shown = TerminalProgress(term, clock=clock, show_after=0, every=0)
    shown("operations.log", 0, 100)
    clock.now += 10
    shown("operations.log", 100, 100)  # 100 in 10 s
    shown.phase(None)
    shown("operations.log", 0, 100)
    clock.now += 3
    shown("operations.log", 50, 100)  # 50 in 3 s: 3 s left, not 5
    assert term.getvalue().endswith("reading operations.log 50%, about 3 s left…")


def test_the_line_is_one_line_within_the_terminals_width_in_cells() -> None:
    term, clock = Terminal(), Clock()
    shown = TerminalProgress(term, clock=clock, show_after=0)
    shown("日志\n" * 30, 1, 4)  # wide characters take two cells each
    line = term.getvalue().removeprefix(ERASE)
    assert "\n" not in line and line.endswith("…")
    assert 70 <= cell_len(line) <= 79


def test_the_cockpits_commands_and_the_hooks_draw_no_progress_line(
    factory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cockpit (and its headless snapshot, whose reads run on its workers) tells its
    progress in its own header; the agents' hooks must stay silent: no line is set up for
    them. ``status`` has one."""
    entered: list[object] = []
    real = progress.progress_on_terminal

    def spy(stream: object) -> object:
        entered.append(stream)
        return real(stream)  # type: ignore[arg-type]

    monkeypatch.setattr(progress, "progress_on_terminal", spy)
    shot = tmp_path / "shot.txt"
    assert main(["snapshot", str(factory), "-o", str(shot), "--now", "2026-02-12T16:00"]) == 0
    assert shot.exists() and entered == []
    assert main(["status", str(factory), "--json", "--no-cache"]) == 0
    assert len(entered) == 1


def test_a_readers_own_progress_replaces_the_terminals_phases_too(factory: Path) -> None:
    """Made where the CLI's line is set up, a reader tells it; one given its own progress (the
    cockpit's header) tells the line nothing more, its phases neither."""
    term = Terminal()
    with progress.progress_on_terminal(term):
        reader = FactoryReader(config_for(factory))
        assert reader.logs.on_phase is not None
        told: list[object] = []
        reader.on_progress = lambda *args: told.append(args)
        assert reader.logs.on_phase is None
