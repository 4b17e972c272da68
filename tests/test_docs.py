"""The README's picture of the cockpit is the main screen's pinned snapshot, not an old one."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN_SCREEN = ROOT / "tests" / "__snapshots__" / "test_snapshots" / "test_view[agents-160x48].svg"


def test_the_readme_picture_is_the_current_main_screen() -> None:
    """After updating the snapshots (and looking at them), copy the main screen's SVG:
    ``cp 'tests/__snapshots__/test_snapshots/test_view[agents-160x48].svg' docs/cockpit.svg``."""
    shown = (ROOT / "docs" / "cockpit.svg").read_bytes()
    assert shown == MAIN_SCREEN.read_bytes(), (
        "docs/cockpit.svg is not the main screen's snapshot: copy it (see this test's docstring)"
    )
    assert "docs/cockpit.svg" in (ROOT / "README.md").read_text(encoding="utf-8")
