"""A stand-in for an agent process in the demo factory.

The demo's working and idle agents need a real, local, live pid for their claims to carry. This
process is that pid and nothing more: it sleeps in short waits and exits as soon as the demo
factory's folder is gone, or after ``--max-seconds`` (6 hours by default), so a demo never leaves
processes behind for long.

    python -m factory_tui.demo.agent_stub --root PATH [--max-seconds N] [PROMPT]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["DEFAULT_MAX_SECONDS", "main", "run"]

DEFAULT_MAX_SECONDS = 6 * 3600.0
_WAIT_SECONDS = 2.0


def run(
    root: Path,
    max_seconds: float,
    *,
    wait: float = _WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Wait while ``root`` exists, at most ``max_seconds``; returns the exit code (0)."""
    deadline = time.monotonic() + max_seconds
    while root.exists():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sleep(min(wait, left))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m factory_tui.demo.agent_stub",
        description="A demo agent process: lives while ROOT exists, at most --max-seconds.",
    )
    parser.add_argument("--root", required=True, type=Path, help="the demo factory's folder")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help=f"exit after this long whatever happens (default {DEFAULT_MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "prompt",
        nargs="?",
        help="what a real agent would be told (Resume passes the recovery prompt); ignored",
    )
    args = parser.parse_args(argv)
    if args.max_seconds < 0:
        parser.error(f"--max-seconds {args.max_seconds}: must be 0 or more")
    return run(args.root, args.max_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
