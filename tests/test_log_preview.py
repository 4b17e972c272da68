"""The log's tail on screen before the index is in (issue 17): the last lines first, nothing
that pretends to know line numbers, then the same lines, numbered, once the index arrives."""

from __future__ import annotations

from pathlib import Path

from test_log_view import SIZE, LogApp, ev, screen_lines, settle

from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logindex import LogIndex
from factory_tui.ui.widgets.log_preview import NOTE
from factory_tui.ui.widgets.log_view import LogView

LINES = 3_000


def big_log(tmp_path: Path) -> tuple[Path, Path]:
    hist, cur = tmp_path / "operations.log.1", tmp_path / "operations.log"
    hist.write_text("".join(ev(i) + "\n" for i in range(1_000)))
    lines = [ev(i) for i in range(1_000, LINES)]
    lines[-7] = ev(LINES - 7, "ERROR", " error=late")
    cur.write_text("".join(line + "\n" for line in lines))
    return hist, cur


def index_in(view: LogView) -> None:
    """What the cockpit does once the history is folded: index, then tell the view."""
    view.index.update()
    view.refresh_index()


async def test_the_tail_shows_before_the_index_then_the_same_lines_numbered(
    tmp_path: Path,
) -> None:
    index = LogIndex(*big_log(tmp_path))  # not indexed yet
    app = LogApp(index)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert view.previewing and len(index) == 0
        before = screen_lines(view)
        assert before[-1] == ev(LINES - 1)  # the last line, on screen
        assert "indexing" in view.status_text and "following" in view.status_text
        assert f"{LINES:,}" not in view.status_text  # no count it cannot know
        index_in(view)
        await pilot.pause()
        assert not view.previewing
        assert screen_lines(view) == before  # the same lines, in the same place
        assert view.row_count == LINES
        bottom = view.row_count - 1
        assert index.line(view.logical_line(bottom)) == ev(LINES - 1)
        assert f"{LINES:,} lines" in view.status_text


async def test_scrolling_up_the_tail_meets_the_note_not_the_logs_start(tmp_path: Path) -> None:
    app = LogApp(LogIndex(*big_log(tmp_path)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("g")  # to the top of what is known
        await pilot.pause()
        assert not view.follow
        top = screen_lines(view)
        assert top[0] == NOTE
        assert top[1] != ev(0)  # the log's first line is not known yet, and not pretended
        shown = top[1]
        index_in(view)
        await pilot.pause()
        # Paused: the same line stays at the top, now with its true number.
        assert screen_lines(view)[0] == shown
        row = round(view.scroll_y)
        assert view.index.line(view.logical_line(row)) == shown
        assert view.new_while_paused == 0
        await pilot.press("g")
        await pilot.pause()
        assert screen_lines(view)[0] == ev(0)


async def test_a_search_and_a_filter_wait_for_the_index(tmp_path: Path) -> None:
    app = LogApp(LogIndex(*big_log(tmp_path)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        view.set_search(FilterSpec.parse("error=late"))
        await settle(app, pilot)
        assert view.match_line is None
        assert "waits for the index" in view.status_text
        assert "line " not in view.status_text  # no line number it cannot know
        index_in(view)
        await settle(app, pilot)
        assert view.match_line == LINES - 7
        assert f"line {LINES - 6:,}" in view.status_text
        view.set_search(None)
        view.set_filter(FilterSpec.parse("event:ERROR"))
        await settle(app, pilot)
        assert view.row_count == 1


async def test_a_filter_set_before_the_index_applies_when_it_arrives(tmp_path: Path) -> None:
    app = LogApp(LogIndex(*big_log(tmp_path)))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        view.set_filter(FilterSpec.parse("event:ERROR"))
        await settle(app, pilot)
        assert view.row_count == 0  # not the unfiltered tail under a filter's name
        assert "waits for the index" in view.status_text
        index_in(view)
        await settle(app, pilot)
        assert view.row_count == 1
        assert screen_lines(view)[0] == ev(LINES - 7, "ERROR", " error=late")


async def test_an_indexed_or_empty_log_has_no_preview(tmp_path: Path) -> None:
    hist, cur = tmp_path / "operations.log.1", tmp_path / "operations.log"
    indexed = LogIndex(*big_log(tmp_path))
    indexed.update()
    app = LogApp(indexed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.query_one(LogView).previewing
    hist.unlink()
    cur.write_text("")
    app = LogApp(LogIndex(hist, cur))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.query_one(LogView).previewing


async def test_a_following_tail_reads_the_log_again_a_paused_one_stays(tmp_path: Path) -> None:
    hist, cur = big_log(tmp_path)
    app = LogApp(LogIndex(hist, cur))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        with cur.open("a") as f:
            f.write(ev(LINES) + "\n")
        view.refresh_preview()
        await pilot.pause()
        assert view.previewing and screen_lines(view)[-1] == ev(LINES)
        await pilot.press("k")  # paused: what is read stays put
        await pilot.pause()
        before = screen_lines(view)
        with cur.open("a") as f:
            f.write(ev(LINES + 1) + "\n")
        view.refresh_preview()
        await pilot.pause()
        assert screen_lines(view) == before
        await pilot.press("G")  # the tail again: read again
        await pilot.pause()
        assert screen_lines(view)[-1] == ev(LINES + 1)
