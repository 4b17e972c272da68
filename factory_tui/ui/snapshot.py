"""Headless snapshots of the cockpit for CI: the same screen, no TTY, as SVG or plain text.

:func:`render_snapshot` runs the app headless at a fixed size with a frozen clock, waits for the
first complete load (and the log index), writes the screen and returns the fleet, so the CLI can
decide ``--fail-on stale,crashed,problems``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import Config
from factory_tui.core.fleet import Fleet

__all__ = [
    "SnapshotError",
    "parse_size",
    "render_snapshot",
    "screen_text",
]

FORMATS = (".svg", ".txt")
LOAD_TIMEOUT = 120.0


class SnapshotError(Exception):
    """The snapshot could not be made; ``str()`` says why and what to do."""


def parse_size(text: str) -> tuple[int, int]:
    """``120x40`` as ``(120, 40)``; raises ``ValueError`` saying what is expected."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit():
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 120x40")
    size = int(width), int(height)
    if size[0] < 40 or size[1] < 10 or size[0] > 1000 or size[1] > 500:
        raise ValueError(f"size {text!r}: width 40-1000 and height 10-500 cells, please")
    return size


def screen_text(app: App[Any]) -> str:
    """The app's current screen as plain text (what an SVG snapshot shows, without styles)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    update = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True
    )
    console.print(update)
    text = console.export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n") + "\n"


def render_snapshot(
    config: Config,
    *,
    output: Path,
    size: tuple[int, int] = (120, 40),
    view: str | None = None,
    theme: str | None = None,
    now: datetime | None = None,
    reader: FactoryReader | None = None,
    theme_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Fleet:
    """Render the cockpit headless into ``output`` (``.svg`` or ``.txt``) and return the fleet.

    ``now`` freezes the clock (default: the time of the call, to the second); ``reader`` lets a
    test pass one with a fixed process probe. Raises :class:`SnapshotError` for a bad output
    name, an unknown view, or a cockpit that did not finish loading.
    """
    from factory_tui.ui.app import VIEWS, FactoryApp
    from factory_tui.ui.feeds.prs import PrsOptions

    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        raise SnapshotError(
            f"--output {output}: unknown format {output.suffix or '(none)'!r}; "
            "end the name in .svg or .txt"
        )
    if view is not None and view not in VIEWS:
        raise SnapshotError(f"--view {view!r}: expected one of {', '.join(VIEWS)}")
    if not output.parent.is_dir():
        raise SnapshotError(f"--output {output}: folder {output.parent} does not exist")
    frozen = (now or datetime.now()).replace(microsecond=0)
    app = FactoryApp(
        config,
        clock=lambda: frozen,
        reader=reader,
        theme=theme,
        watch=False,
        initial_view=view or "agents",
        refresh_interval=3600,
        theme_dir=theme_dir,
        environ=environ,
        # A headless snapshot is nobody looking at the PR queue: no look recorded.
        prs=PrsOptions(record_looks=False),
    )
    app.cost_feed.budget_command_enabled = False  # nor does it run [cost] on_budget
    outcome: dict[str, object] = {}

    async def shoot(pilot: Pilot[Any]) -> None:
        try:
            await app.wait_for_fleet(lambda _f: app.loaded and app.log_ready, timeout=LOAD_TIMEOUT)
            await app.wait_for_prs(timeout=LOAD_TIMEOUT)  # the header's Ask count, the PRs view
            await app.wait_for_cost(timeout=LOAD_TIMEOUT)  # the header's spend, the Cost view
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            if output.suffix.lower() == ".svg":
                text = app.export_screenshot(title=f"factory-tui {config.root.name}")
            else:
                text = screen_text(app)
            # A factory's name that is not UTF-8 (its bytes as surrogates) written as escapes.
            output.write_text(text, encoding="utf-8", errors="backslashreplace")
            outcome["fleet"] = app.fleet
        except TimeoutError:
            outcome["error"] = (
                f"the cockpit did not finish reading the factory in {LOAD_TIMEOUT:.0f} s"
            )
        except OSError as error:
            outcome["error"] = f"--output {output}: cannot write it ({error.strerror or error})"
        finally:
            app.exit()

    app.run(headless=True, size=size, auto_pilot=shoot)
    fleet = outcome.get("fleet")
    if isinstance(fleet, Fleet):
        return fleet
    raise SnapshotError(
        str(outcome.get("error", "the cockpit stopped before the snapshot was taken"))
    )
