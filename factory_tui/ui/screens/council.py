"""The Council's verdict on screen: the status, each persona's score, reasons and required
adjustments, the personas that gave no score and why, and what the sitting cost.

Everything a persona wrote is model output about agent-written text: shown literally
(printable, never markup). A replayed verdict says so (no call was made); ``f`` asks again,
paid. ``escape`` or ``q`` closes.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from factory_tui.actions.council import CouncilOutcome
from factory_tui.core.council import CouncilResult
from factory_tui.ui.widgets.footer import KeysFooter
from factory_tui.ui.widgets.text import lit

__all__ = ["CouncilScreen", "council_lines"]

_STATUS_STYLE = {
    "go": ("✓ GO", "bold reverse $success"),
    "go_with_adjustments": ("! GO WITH MANDATORY ADJUSTMENTS", "bold reverse $warning"),
    "rejected": ("✗ REJECTED", "bold reverse $error"),
    "incomplete": ("? NO VERDICT", "bold reverse $warning"),
}


def _bar(score: int) -> Content:
    style = "$success" if score >= 8 else "$warning" if score >= 6 else "$error"
    return Content.assemble((("█" * score), style), ("░" * (10 - score), "$text-muted"))


def council_lines(outcome: CouncilOutcome, what: str) -> list[Content]:
    """The screen's lines (also what a test reads)."""
    lines: list[Content] = []
    result = outcome.result
    if result is None:
        return [Content(lit(outcome.message))]
    word, style = _STATUS_STYLE.get(result.status, (result.status.upper(), "bold"))
    score = "—" if result.global_score is None else f"{result.global_score:.2f}"
    lines.append(
        Content.assemble(
            (f" {word} ", style),
            f"  average {score} / 10",
            ("  (≥ 8 go, 6 to 7.9 go with adjustments, < 6 rejected)", "$text-muted"),
        )
    )
    lines.append(_sitting(result))
    if outcome.message and result.status == "incomplete":
        lines.append(Content.styled(lit(outcome.message), "$warning"))
    for verdict in result.verdicts:
        lines.append(Content(""))
        lines.append(
            Content.assemble(
                (lit(verdict.persona).ljust(18), "bold"),
                f"{verdict.score:>2}/10  ",
                _bar(verdict.score),
            )
        )
        for reason in verdict.reasons:
            lines.append(Content.assemble(("  – ", "$text-muted"), lit(reason)))
        if verdict.adjustments:
            lines.append(Content.styled("  required adjustments:", "bold"))
            for adjustment in verdict.adjustments:
                lines.append(Content.assemble(("  ! ", "bold $warning"), lit(adjustment)))
    for failure in result.failures:
        lines.append(Content(""))
        lines.append(
            Content.assemble(
                (lit(failure.persona).ljust(18), "bold"),
                ("✗ no score", "bold $error"),
                "  ",
                lit(failure.error),
            )
        )
    return lines


def _sitting(result: CouncilResult) -> Content:
    if result.replayed_from:
        return Content.assemble(
            ("↺ REPLAYED", "bold $accent"),
            f" — the same text was scored at {lit(result.replayed_from)}; no call made, "
            "nothing paid",
            ("  (f: ask again, paid)", "$text-muted"),
        )
    return Content.styled(
        f"{lit(result.model)} · {result.input_tokens:,} tokens in, {result.output_tokens:,} out"
        f" · ${result.cost:.4f} · {result.duration_ms:,} ms · sha256 {result.sha256[:12]}…",
        "$text-muted",
    )


class CouncilScreen(ModalScreen[bool]):
    """Dismissed with ``True`` when the engineer asks the Council again (``f``)."""

    DEFAULT_CSS = """
    CouncilScreen { align: center middle; }
    CouncilScreen > VerticalScroll {
        width: 100;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    CouncilScreen #council-title { text-style: bold; color: $accent; padding-bottom: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="council.close"),
        Binding("q", "close", "Close", show=False, id="council.quit"),
        Binding("f", "force", "Ask again (paid)", id="council.force"),
    ]

    def __init__(self, outcome: CouncilOutcome, what: str) -> None:
        super().__init__()
        self.outcome = outcome
        self.what = what

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="council-body"):
            yield Static(Content(f"The Council on {lit(self.what)}"), id="council-title")
            yield Static(
                Content("\n").join(council_lines(self.outcome, self.what)), id="council-lines"
            )
        yield KeysFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "force":
            return self.outcome.replayed
        return True

    def action_close(self) -> None:
        self.dismiss(False)

    def action_force(self) -> None:
        self.dismiss(True)
