"""A PR's diff: the changed files on the left, the highlighted file's diff on the right.

The diff is fetched on a thread (``fetch``: :func:`~factory_tui.actions.prs.pr_diff` bound to
the PR) while a loading indicator shows; the worker posts :class:`DiffLoaded` and the handler
fills the screen. The diff is agent-written text: made printable and drawn by a ``Syntax``
renderable (lexer ``diff``), never parsed as markup. ``]`` / ``[`` move to the next / previous
file, ``o`` pipes the whole diff to the configured pager (``[prs] pager = "delta"``) with the
cockpit suspended (argv, never a shell), ``escape`` goes back.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from factory_tui.core.prs_patch import FileDiff
from factory_tui.core.safe import printable
from factory_tui.ui.widgets.footer import KeysFooter

__all__ = ["MAX_LINES", "DiffLoaded", "DiffScreen", "file_label"]

#: Lines of one file's diff drawn at most (the pager shows everything).
MAX_LINES = 4000
_STATUS = {"A": "added", "D": "deleted", "R": "renamed", "M": "modified"}


class DiffLoaded(Message):
    """The diff arrived (``files``), or could not be read (``error``, one sentence)."""

    def __init__(self, files: list[FileDiff] | None, error: str | None = None) -> None:
        super().__init__()
        self.files = files
        self.error = error


def file_label(diff: FileDiff) -> Text:
    """``M +5 −1 src/a.py`` (a rename as ``old → new``), literal."""
    name = printable(diff.path)
    if diff.old_path and diff.old_path != diff.path:
        name = f"{printable(diff.old_path)} → {name}"
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{diff.status} ", style="bold")
    if diff.binary:
        text.append("binary ", style="dim")
    else:
        text.append(f"+{diff.additions}", style="green")
        text.append(f" −{diff.deletions} ", style="red")
    text.append(name)
    return text


class DiffScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DiffScreen { align: center middle; }
    DiffScreen > #diff-frame {
        width: 100%; height: 100%; background: $surface;
    }
    DiffScreen #diff-title { height: auto; padding: 0 1; text-style: bold; color: $accent; }
    DiffScreen #diff-main { height: 1fr; }
    DiffScreen #diff-files {
        width: 32%; max-width: 60; min-width: 20; height: 1fr;
        border: none; border-right: solid $panel-lighten-2;
    }
    DiffScreen #diff-body { width: 1fr; height: 1fr; padding: 0 1; }
    DiffScreen #diff-status { height: auto; padding: 0 1; color: $text-muted; }
    DiffScreen #diff-status.-error { color: $error; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right_square_bracket", "next_file", "Next file", id="diff.next"),
        Binding("left_square_bracket", "previous_file", "Prev file", id="diff.previous"),
        Binding("o", "pager", "Pager", id="diff.pager"),
        # No pager configured: o says how to set one.
        Binding("o", "no_pager", "Pager", show=False, id="diff.no-pager"),
        Binding("escape", "close", "Back", id="diff.close"),
        Binding("q", "close", "Back", show=False, id="diff.quit"),
    ]

    def __init__(
        self,
        title: str,
        fetch: Callable[[], list[FileDiff]],
        *,
        pager: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.diff_title = title
        self.fetch = fetch
        self.pager = tuple(pager) if pager else None
        self.files: list[FileDiff] | None = None
        self.error: str | None = None
        self.index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="diff-frame"):
            yield Static(Text(printable(self.diff_title)), id="diff-title")
            yield Static(Text("fetching the diff…"), id="diff-status")
            with Horizontal(id="diff-main"):
                yield OptionList(id="diff-files")
                with VerticalScroll(id="diff-body"):
                    yield Static(Text(""), id="diff-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#diff-main").loading = True
        self.run_worker(
            self._fetch, name="fetch diff", group="diff", thread=True, exit_on_error=False
        )

    def _fetch(self) -> None:
        """On the worker thread: fetch, post the result (never touch a widget here)."""
        try:
            message = DiffLoaded(self.fetch())
        except Exception as error:  # PrsError says what to do; anything else is named
            text = str(error) or type(error).__name__
            message = DiffLoaded(None, error=text)
        self.post_message(message)

    # -- showing --------------------------------------------------------------------------------

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        self.query_one("#diff-main").loading = False
        status = self.query_one("#diff-status", Static)
        if message.error is not None or message.files is None:
            self.error = message.error or "the diff could not be read"
            status.update(Text(printable(self.error)))
            status.add_class("-error")
            self.notify(self.error, title="Diff", severity="error", markup=False, timeout=10)
            return
        self.files = message.files
        adds = sum(f.additions for f in self.files)
        dels = sum(f.deletions for f in self.files)
        count = len(self.files)
        status.update(
            Text(
                f"{count} file{'s' if count != 1 else ''} changed, +{adds} −{dels}"
                "   ·   ] next file   [ previous file   ↑↓ pgup pgdn scroll"
                + ("   o pager" if self.pager else "")
            )
        )
        files = self.query_one("#diff-files", OptionList)
        files.add_options([Option(file_label(f)) for f in self.files])
        if not self.files:
            self.query_one("#diff-text", Static).update(Text("no changes", style="dim"))
            return
        self.show_file(0)
        self.query_one("#diff-body").focus()
        self.refresh_bindings()

    def show_file(self, index: int) -> None:
        if not self.files:
            return
        index = max(0, min(index, len(self.files) - 1))
        self.index = index
        files = self.query_one("#diff-files", OptionList)
        if files.highlighted != index:
            files.highlighted = index
        self.query_one("#diff-text", Static).update(self.render_file(self.files[index]))
        self.query_one("#diff-body", VerticalScroll).scroll_home(animate=False)

    @staticmethod
    def render_file(diff: FileDiff) -> Syntax | Text:
        if diff.binary:
            return Text(f"{printable(diff.path)}: a binary file, no text diff", style="dim")
        lines = diff.text.splitlines(keepends=True)
        text = "".join(lines[:MAX_LINES])
        if len(lines) > MAX_LINES:
            text += f"\n… {len(lines) - MAX_LINES} more lines (o opens the pager, if configured)\n"
        return Syntax(printable(text.rstrip("\n")), "diff", theme="ansi_dark", word_wrap=True)

    @property
    def current_path(self) -> str | None:
        return self.files[self.index].path if self.files else None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index != self.index:
            self.show_file(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.show_file(event.option_index)
        self.query_one("#diff-body").focus()

    # -- keys -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_file", "previous_file"):
            return self.files is not None and len(self.files) > 1
        if action == "pager":
            return self.pager is not None and self.files is not None
        if action == "no_pager":
            return self.pager is None
        return True

    def action_next_file(self) -> None:
        if self.files and self.index + 1 < len(self.files):
            self.show_file(self.index + 1)
        else:
            self._no_other_file("last")

    def action_previous_file(self) -> None:
        if self.files and self.index > 0:
            self.show_file(self.index - 1)
        else:
            self._no_other_file("first")

    def _no_other_file(self, end: str) -> None:
        """] past the last file or [ before the first: said, not silent."""
        count = len(self.files or ())
        what = "no file yet" if not count else f"this is the {end} of {count} file(s)"
        self.notify(f"No other file: {what}.", markup=False, timeout=2)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_no_pager(self) -> None:
        self.notify(
            'No pager set: add [prs] pager = "delta" (or "less -R") to factory.toml.',
            title="Pager",
            markup=False,
            timeout=6,
        )

    def action_pager(self) -> None:
        """The whole diff through the configured pager, the cockpit suspended meanwhile."""
        if self.pager is None or self.files is None:
            return
        text = "".join(f.text for f in self.files)
        try:
            with self.app.suspend():
                subprocess.run(
                    list(self.pager),
                    input=text.encode("utf-8", errors="replace"),
                    check=False,
                )
        except SuspendNotSupported:
            self.notify(
                "The pager needs a terminal: this cockpit cannot be suspended here.",
                severity="warning",
                markup=False,
            )
        except OSError as error:
            self.notify(
                f"The pager {self.pager[0]} cannot be run ({error.strerror or error}): check "
                "[prs] pager in factory.toml.",
                title="Pager",
                severity="error",
                markup=False,
            )
