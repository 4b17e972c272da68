"""The log view in a running app: tail, pause, filter, search, literal text, a big log."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Static
from textual.worker import WorkerCancelled

from factory_tui.adapters.logfilter import FilterSpec
from factory_tui.adapters.logindex import LogIndex
from factory_tui.demo import DemoFactory
from factory_tui.ui.screens.log_query import LogQueryScreen
from factory_tui.ui.themes import THEME_VARIABLE_DEFAULTS, load_themes
from factory_tui.ui.widgets.log_view import LogView

SIZE = (100, 16)


def ev(n: int, event: str = "STEP-DONE", rest: str = "") -> str:
    return f"2026-02-12T14:{n % 60:02d} | {event} | step=code task=T{n}{rest}"


class LogApp(App[None]):
    def __init__(self, index: LogIndex, *, follow: bool = True) -> None:
        super().__init__()
        self.index = index
        self.follow = follow
        self.messages: list[object] = []

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield LogView(self.index, follow=self.follow, id="log")

    def on_mount(self) -> None:
        themes, _ = load_themes(user_dir=Path("/nonexistent"))
        for theme in themes.values():
            self.register_theme(theme)
        self.theme = "factory-dark"
        self.query_one(LogView).focus()

    def on_log_view_filter_applied(self, message: LogView.FilterApplied) -> None:
        self.messages.append(message)

    def on_log_view_search_moved(self, message: LogView.SearchMoved) -> None:
        self.messages.append(message)


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, Path]:
    hist, cur = tmp_path / "operations.log.1", tmp_path / "operations.log"
    hist.write_text("".join(ev(i) + "\n" for i in range(40)))
    lines = [ev(i) for i in range(40, 80)]
    lines[5] = ev(45, "ERROR", " error=boom")
    lines[20] = ev(60, "ERROR", " error=again")
    cur.write_text("".join(line + "\n" for line in lines))
    return hist, cur


def index_of(log: tuple[Path, Path]) -> LogIndex:
    index = LogIndex(*log)
    index.update()
    return index


async def settle(app: App[None], pilot: Pilot[None]) -> None:
    """Wait for the view's workers (a replaced filter's worker ends cancelled) and for the
    messages they posted; a result may start a follow-up worker, hence the loop."""
    for _ in range(10):
        running = [w for w in app.workers if not w.is_finished]
        if not running:
            break
        for worker in running:
            with contextlib.suppress(WorkerCancelled):
                await worker.wait()
        await pilot.pause()
    await pilot.pause()


def screen_lines(view: LogView) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


def append(view: LogView, path: Path, lines: list[str]) -> None:
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))
    view.index.update()
    view.refresh_index()


async def test_tail_follows_appended_lines(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert view.follow
        assert screen_lines(view)[-1] == ev(79)
        append(view, log[1], [ev(80), ev(81)])
        await pilot.pause()
        assert screen_lines(view)[-2:] == [ev(80), ev(81)]
        assert view.scroll_y == view.max_scroll_y
        assert "82 lines" in view.status_text
        assert "following" in str(view.border_subtitle)


async def test_pause_keeps_the_position_and_counts_new_lines(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("f")
        assert not view.follow
        before_y, before = view.scroll_y, screen_lines(view)
        append(view, log[1], [ev(100 + i) for i in range(30)])
        await pilot.pause()
        assert view.scroll_y == before_y
        assert screen_lines(view) == before
        assert "paused — 30 new lines" in str(view.border_subtitle)
        assert view.new_while_paused == 30
        await pilot.press("f")  # follow again: jumps to the tail
        await pilot.pause()
        assert view.follow
        assert screen_lines(view)[-1] == ev(129)
        assert "following" in view.status_text


async def test_scrolling_up_pauses_and_end_follows_again(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("pageup")
        await pilot.pause()
        assert not view.follow
        assert view.scroll_y < view.max_scroll_y
        await pilot.press("home")
        await pilot.pause()
        assert screen_lines(view)[0] == ev(0)
        await pilot.press("end")
        await pilot.pause()
        assert view.follow
        assert screen_lines(view)[-1] == ev(79)


async def test_filter_narrows_and_keeps_up_with_new_lines(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, LogQueryScreen)
        await pilot.press(*"event:ERROR", "enter")
        await settle(app, pilot)
        assert view.filter == FilterSpec(event="ERROR")
        assert view.row_count == 2
        shown = [line for line in screen_lines(view) if line]
        assert shown == [ev(45, "ERROR", " error=boom"), ev(60, "ERROR", " error=again")]
        assert "filter event:ERROR: 2 of 80 lines" in view.status_text
        applied = [m for m in app.messages if isinstance(m, LogView.FilterApplied)]
        assert applied[-1].matches == 2
        # new lines are filtered as they arrive
        append(view, log[1], [ev(90), ev(91, "ERROR", " error=third")])
        await pilot.pause()
        assert view.row_count == 3
        assert [line for line in screen_lines(view) if line][-1].endswith("error=third")
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert view.filter is None
        assert view.row_count == 82


async def test_instance_filter_shows_the_tasks_of_its_sessions(tmp_path: Path) -> None:
    cur = tmp_path / "operations.log"
    cur.write_text(
        "2026-02-12T14:00 | SESSION-START | task=CAB-1 branch=b instance=t1-aaaa\n"
        "2026-02-12T14:01 | SESSION-START | task=CAB-2 branch=b instance=t2-bbbb\n"
        "2026-02-12T14:02 | STEP-DONE | step=code task=CAB-1\n"
        "2026-02-12T14:03 | STEP-DONE | step=code task=CAB-2\n"
        "2026-02-12T14:04 | RELEASE | task=M phase=1 instance=t1-aaaa reason=done\n"
    )
    index = LogIndex(tmp_path / "operations.log.1", cur)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_filter(FilterSpec(instance="t1-aaaa"))
        await settle(app, pilot)
        assert [view.logical_line(r) for r in range(view.row_count)] == [0, 2, 4]


async def test_a_new_filter_replaces_one_still_running(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_filter(FilterSpec(text="T4"))
        view.set_filter(FilterSpec(event="ERROR"))
        await settle(app, pilot)
        assert view.filter == FilterSpec(event="ERROR")
        assert view.row_count == 2


async def test_search_jumps_between_matches(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log), follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        view.scroll_to(y=0, animate=False)
        await pilot.press("s")
        await pilot.press(*"error=", "enter")
        await settle(app, pilot)
        assert view.match_line == 45
        top = round(view.scroll_y)
        assert top <= 45 < top + view.scrollable_content_region.height
        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert view.match_line == 60
        await pilot.press("right_square_bracket")  # wraps to the first
        await settle(app, pilot)
        assert view.match_line == 45
        moved = [m for m in app.messages if isinstance(m, LogView.SearchMoved)]
        assert moved[-1].wrapped
        await pilot.press("left_square_bracket")  # and back, wrapping to the last
        await settle(app, pilot)
        assert view.match_line == 60
        # the match is highlighted on screen
        row = 60 - round(view.scroll_y)
        spans = [seg for seg in view.render_line(row) if "error=" in seg.text.lower()]
        assert spans and all(seg.style and seg.style.bgcolor for seg in spans)
        await pilot.press("escape")  # clears the search, not the (absent) filter
        await pilot.pause()
        assert view.match_line is None


async def test_search_from_a_following_view_finds_the_latest_and_pauses(
    log: tuple[Path, Path],
) -> None:
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        view.set_search(FilterSpec(event="ERROR"))
        await settle(app, pilot)
        assert view.match_line == 60
        assert not view.follow


async def test_search_within_a_filter_and_no_match(log: tuple[Path, Path]) -> None:
    app = LogApp(index_of(log), follow=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_filter(FilterSpec(event="ERROR"))
        await settle(app, pilot)
        view.set_search(FilterSpec(text="again"))
        await settle(app, pilot)
        assert view.match_line == 60
        view.set_search(FilterSpec(text="T12"))  # exists, but not among the filtered lines
        await settle(app, pilot)
        assert view.match_line is None
        assert "no match" in view.status_text


async def test_hostile_text_renders_literally(tmp_path: Path) -> None:
    cur = tmp_path / "operations.log"
    cur.write_bytes(
        b"2026-02-12T14:00 | ERROR | task=[bold]x[/bold] error=\x1b[31mred\x07 "
        b"detail=[link=http://evil]y[/link]\n"
        b"[red]not an event[/red] \x1b]0;title\x07\n"
    )
    index = LogIndex(tmp_path / "operations.log.1", cur)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=(120, 8)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        first, second = screen_lines(view)[:2]
        assert first == (
            "2026-02-12T14:00 | ERROR | task=[bold]x[/bold] error=\\x1b[31mred\\x07 "
            "detail=[link=http://evil]y[/link]"
        )
        assert second == "[red]not an event[/red] \\x1b]0;title\\x07"
        for y in range(2):
            for segment in view.render_line(y):
                assert "\x1b" not in segment.text
                if "x[/bold]" in segment.text:
                    assert not (segment.style or Style()).bold
                assert not (segment.style or Style()).link
        screenshot = app.export_screenshot()
        assert "[bold]x[/bold]" in screenshot
        assert "\\x1b[31mred" in screenshot


async def test_event_kinds_are_styled_and_errors_stand_out(tmp_path: Path) -> None:
    cur = tmp_path / "operations.log"
    cur.write_text(
        "2026-02-12T14:00 | SESSION-END | task=A status=crashed\n"
        "2026-02-12T14:01 | CLAIM | task=A phase=1 instance=t1 tickets=B\n"
        "2026-02-12T14:02 | STEP-START | step=ci task=A\n"
    )
    index = LogIndex(tmp_path / "operations.log.1", cur)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=(80, 6)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()

        def style_of(y: int, text: str) -> Style:
            for segment in view.render_line(y):
                if text in segment.text:
                    return segment.style or Style()
            raise AssertionError(f"{text!r} not on line {y}")

        crashed = style_of(0, "SESSION-END")
        claim = style_of(1, "CLAIM")
        step = style_of(2, "STEP-START")
        assert crashed.bold and crashed.reverse
        assert style_of(0, "2026").bgcolor != style_of(1, "2026").bgcolor  # the line is tinted
        assert len({crashed.color, claim.color, step.color}) == 3
        assert style_of(1, "2026").color != style_of(1, "CLAIM").color  # timestamp dimmed


async def test_a_200k_line_log_mounts_at_its_tail(tmp_path: Path) -> None:
    hist, cur = tmp_path / "operations.log.1", tmp_path / "operations.log"
    hist.write_text("".join(ev(i) + "\n" for i in range(40_000)))
    cur.write_text("".join(ev(i) + "\n" for i in range(40_000, 200_000)))
    index = LogIndex(hist, cur)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert view.row_count == 200_000
        assert view.virtual_size.height == 200_000
        assert screen_lines(view)[-1] == ev(199_999)
        await pilot.press("home")
        await pilot.pause()
        assert screen_lines(view)[0] == ev(0)
        # only what was on screen was read and drawn
        assert view.cached_lines < 100


async def test_rotation_keeps_the_view_and_a_rewrite_refilters(log: tuple[Path, Path]) -> None:
    hist, cur = log
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        view.set_filter(FilterSpec(event="ERROR"))
        await settle(app, pilot)
        data = cur.read_bytes().splitlines(keepends=True)
        with hist.open("ab") as f:
            f.write(b"".join(data[:25]))
        cur.write_bytes(b"".join(data[25:]))  # FORMATS.md rotation: no line changes number
        generation = view.index.generation
        view.index.update()
        view.refresh_index()
        await pilot.pause()
        assert view.index.generation == generation
        assert view.row_count == 2
        assert not view.filtering
        cur.write_text(ev(200, "ERROR", " error=new") + "\n")  # rewritten: numbers change
        view.index.update()
        view.refresh_index()
        assert view.filtering
        await settle(app, pilot)
        assert [line for line in screen_lines(view) if line] == [
            ev(45, "ERROR", " error=boom"),
            ev(60, "ERROR", " error=again"),
            ev(200, "ERROR", " error=new"),
        ]


async def test_k_and_g_pause_and_capital_g_follows_again(log: tuple[Path, Path]) -> None:
    """The list keys of every view (issue 12) in the log: k/j a line, g the first, G the tail."""
    app = LogApp(index_of(log))
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        bottom = view.scroll_y
        await pilot.press("k")
        await pilot.pause()
        assert not view.follow
        assert view.scroll_y == bottom - 1
        await pilot.press("j")
        await pilot.pause()
        assert view.scroll_y == bottom
        await pilot.press("g")
        await pilot.pause()
        assert screen_lines(view)[0] == ev(0)
        await pilot.press("G")
        await pilot.pause()
        assert view.follow
        assert screen_lines(view)[-1] == ev(79)


def test_bindings_have_descriptions_and_leave_n_to_the_app() -> None:
    bindings = [b for b in LogView.BINDINGS if isinstance(b, Binding)]
    keys = {b.key: b for b in bindings}
    assert keys["right_square_bracket"].description == "Next match"
    assert keys["left_square_bracket"].description == "Prev match"
    assert {"f", "slash", "s", "ctrl+f", "escape"} <= set(keys)
    assert not {"n", "N", "shift+n"} & set(keys)
    assert all(b.description and b.id for b in bindings)
    assert "#" not in LogView.DEFAULT_CSS  # theme variables only


async def test_a_line_longer_than_the_view_ends_with_an_ellipsis(tmp_path: Path) -> None:
    """Issue 12: a long line is never cut silently by the view's edge; scrolled sideways, an
    ellipsis on the left says there is more before."""
    cur = tmp_path / "operations.log"
    long = ev(1, rest=" detail=" + "abcdefghij" * 12)
    cur.write_text(ev(0) + "\n" + long + "\n")
    index = LogIndex(tmp_path / "operations.log.1", cur)
    index.update()
    app = LogApp(index)
    async with app.run_test(size=(60, 8)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        seen = view.scrollable_content_region.width
        short, cut = (view.render_line(y).text[:seen] for y in range(2))
        assert short.rstrip() == ev(0) and "…" not in short
        assert cut == long[: seen - 1] + "…"
        view.scroll_to(x=view.max_scroll_x, animate=False, immediate=True)
        await pilot.pause()
        end = view.render_line(1).text[:seen].rstrip()
        assert end.startswith("…") and long.endswith(end[1:]) and not end.endswith("…")


async def test_the_filter_prompt_says_its_hint_once(demo: DemoFactory) -> None:
    """Issue 12 (the walk): the log's filter box showed its hint twice, on its label and as
    the input's placeholder."""
    from test_app import demo_app

    from factory_tui.ui.snapshot import screen_text

    app = demo_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("4", "slash")
        await pilot.pause()
        assert isinstance(app.screen, LogQueryScreen)
        text = screen_text(app)
        line = next(line for line in text.splitlines() if " — " in line)
        hint = line.split(" — ", 1)[1].strip(" │")
        assert hint and text.count(hint[:12]) == 1, (hint, text)


class HiddenLogApp(LogApp):
    """The log view behind another pane, as the cockpit's Log tab while another view shows."""

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="other"):
            yield Static("another view", id="other")
            yield LogView(self.index, follow=self.follow, id="log")


@pytest.mark.parametrize("follow", [True, False])
async def test_lines_appended_while_hidden_are_shown_when_the_view_shows(
    log: tuple[Path, Path], follow: bool
) -> None:
    """A hidden view does not resize for each append (a hidden widget's size is looked up in a
    layout of the whole screen made again for it, issue 17); it shows them when it shows."""
    app = HiddenLogApp(index_of(log), follow=follow)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        size = view.virtual_size
        for n in range(3):
            append(view, log[1], [ev(80 + 10 * n + i) for i in range(10)])
            await pilot.pause()
        assert view.virtual_size == size  # nothing done for the screen while hidden
        assert view.new_while_paused == (0 if follow else 30)
        app.query_one(ContentSwitcher).current = "log"
        await pilot.pause()
        await pilot.pause()
        assert view.virtual_size.height == 110
        assert "110 lines" in str(view.border_subtitle)
        if follow:
            assert view.scroll_y == view.max_scroll_y
            assert screen_lines(view)[-1] == ev(109)
        else:
            assert "paused — 30 new lines" in str(view.border_subtitle)
