"""The confirmations in front of every action: what will happen, line by line, then y / n.

The lines come from the actions' own ``describe()`` / ``plan()`` and hold agent-written text
(titles, instance ids, branches): they are shown as plain :class:`rich.text.Text` made printable,
never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from factory_tui.actions.recovery_info import ReviewDiffs
from factory_tui.core.safe import printable
from factory_tui.ui.screens.ask import AskScreen, plain_lines
from factory_tui.ui.screens.review import ReviewScreen
from factory_tui.ui.widgets.footer import KeysFooter

__all__ = ["ConfirmScreen", "ReasonScreen", "RecoveryChoice", "RecoveryScreen"]

RecoveryChoice = Literal["resume", "abandon", "close_merged"]

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 100;
    max-width: 100%;
    height: auto;
    max-height: 90%;
    border: round $warning;
    background: $surface;
    padding: 0 1;
}}
{name} .confirm-title {{ text-style: bold; padding-bottom: 1; }}
{name} VerticalScroll {{ height: auto; max-height: 24; }}
{name} .confirm-prompt {{ padding-top: 1; }}
{name} Horizontal {{ height: auto; padding-top: 1; }}
{name} Button {{ margin-right: 2; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """``lines`` and a yes / no question; dismisses ``True`` only on yes.

    ``typed``: when given, yes needs that exact text typed in the input first (the forced
    release: a claim that is not stale is only released on purpose).
    """

    DEFAULT_CSS = _CSS.format(name="ConfirmScreen")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n,escape", "cancel", "No", id="confirm.no"),
    ]

    def __init__(
        self, title: str, lines: Sequence[str], *, question: str, typed: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.question = question
        self.typed = typed

    @property
    def prompt(self) -> str:
        """The question with its keys, said once ("Release them all? (y/n)", never twice)."""
        question = self.question.removesuffix("(y/n)").rstrip()
        return f"{question} (y/n)"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(printable(self.title_text)), classes="confirm-title")
            with VerticalScroll():
                yield Static(plain_lines(self.lines), id="confirm-lines")
            if self.typed is not None:
                yield Label(
                    Text(f"Type {printable(self.typed)} and press enter to confirm:"),
                    classes="confirm-prompt",
                )
                yield Input(placeholder=printable(self.typed), id="confirm-typed")
            else:
                yield Label(Text(self.prompt), classes="confirm-prompt")
            with Horizontal():
                yield Button("Yes", variant="error", id="confirm-yes")
                yield Button("No", variant="primary", id="confirm-no")
        if self.typed is None:  # typed: y and n go to the input (the label says what to do)
            yield KeysFooter()

    def on_mount(self) -> None:
        if self.typed is not None:
            self.query_one(Input).focus()
        else:
            self.query_one("#confirm-no", Button).focus()

    def action_confirm(self) -> None:
        if self.typed is not None:
            value = self.query_one(Input).value.strip()
            if value != self.typed:
                self.notify(
                    f"Type {printable(self.typed)} exactly to confirm (or n / escape to cancel).",
                    severity="warning",
                    markup=False,
                )
                return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-typed")
    def _typed(self, _event: Input.Submitted) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.action_cancel()


class ReasonScreen(AskScreen):
    """``lines`` and a reason to type (abandoning a session needs one: it is logged);
    dismisses the reason, or ``None`` when cancelled."""

    DEFAULT_CSS = """
    ReasonScreen > Vertical { border: round $warning; }
    ReasonScreen VerticalScroll { max-height: 24; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reason.cancel"),
    ]

    WHEN_BLANK = "Give a reason: it is logged for the agents and the next person."
    PLACEHOLDER = "reason"
    OK = ("Confirm", "error")
    CANCEL = ("Cancel", "primary")


class RecoveryScreen(ModalScreen[RecoveryChoice | None]):
    """A crashed session described, and what can be done: resume (when ``resume_blocked`` is
    ``None``), abandon, close (only when ``can_close``: its PR is merged), or cancel."""

    DEFAULT_CSS = _CSS.format(name="RecoveryScreen")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('resume')", "Resume", id="recovery.resume"),
        Binding("a", "choose('abandon')", "Abandon", id="recovery.abandon"),
        Binding("c", "choose('close_merged')", "Close (PR merged)", id="recovery.close"),
        Binding("d", "review", "Review diff", id="recovery.review"),
        Binding("n,escape", "cancel", "Cancel", id="recovery.cancel"),
    ]

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        resume_blocked: str | None,
        can_close: bool,
        diffs: ReviewDiffs | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.resume_blocked = resume_blocked
        self.can_close = can_close
        self.diffs = diffs

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(printable(self.title_text)), classes="confirm-title")
            with VerticalScroll():
                yield Static(plain_lines(self.lines), id="confirm-lines")
            if self.resume_blocked is not None:
                yield Label(
                    Text(f"resume: not possible — {printable(self.resume_blocked)}"),
                    classes="confirm-prompt",
                )
            with Horizontal():
                yield Button(
                    "Resume (r)",
                    variant="success",
                    id="recovery-resume",
                    disabled=self.resume_blocked is not None,
                )
                yield Button("Abandon (a)", variant="error", id="recovery-abandon")
                if self.diffs is not None:
                    yield Button("Review diff (d)", id="recovery-review")
                if self.can_close:
                    yield Button("Close (c)", variant="warning", id="recovery-close")
                yield Button("Cancel (n)", variant="primary", id="recovery-cancel")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#recovery-cancel", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters:
            return self._allowed(str(parameters[0]))
        if action == "review":
            return self.diffs is not None
        return True

    def action_review(self) -> None:
        """The branch's diff and the uncommitted changes, before deciding."""
        if self.diffs is not None:
            self.app.push_screen(ReviewScreen(self.title_text, self.diffs))

    def _allowed(self, choice: str) -> bool:
        if choice == "resume":
            return self.resume_blocked is None
        if choice == "close_merged":
            return self.can_close
        return choice == "abandon"

    def action_choose(self, choice: str) -> None:
        if choice == "resume" and self._allowed(choice):
            self.dismiss("resume")
        elif choice == "abandon":
            self.dismiss("abandon")
        elif choice == "close_merged" and self._allowed(choice):
            self.dismiss("close_merged")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choices: dict[str, RecoveryChoice] = {
            "recovery-resume": "resume",
            "recovery-abandon": "abandon",
            "recovery-close": "close_merged",
        }
        if event.button.id == "recovery-review":
            self.action_review()
            return
        choice = choices.get(event.button.id or "")
        if choice is None:
            self.action_cancel()
        else:
            self.action_choose(choice)
