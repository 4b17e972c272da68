"""How far a long read is, in words: the cockpit's header and the CLI's progress line say it
the same way (``reading operations.log 12%, about 40 s left…``)."""

from __future__ import annotations

from factory_tui.core.safe import printable

__all__ = ["PROGRESS_SETTLES_S", "progress_words", "time_left"]

PROGRESS_SETTLES_S = 2.0
"""How long a read goes before its time left is told (its rate is not known before)."""


def time_left(done: int, elapsed: float, remaining: int) -> float | None:
    """Seconds left for ``remaining`` more at the rate of ``done`` in ``elapsed`` seconds;
    None until the rate is known (:data:`PROGRESS_SETTLES_S`) or when nothing is left."""
    if elapsed < PROGRESS_SETTLES_S or done <= 0 or remaining <= 0:
        return None
    return remaining * elapsed / done


def progress_words(source: str, done: int, total: int, left: float | None = None) -> str | None:
    """``reading claims 40%…``, ``reading operations.log 12%, about 40 s left…`` (``left``:
    seconds, see :func:`time_left`); ``None`` once the log's indexing is done. ``source`` is
    shown literally (a file's name can hold anything)."""
    percent = 100 if not total else min(100, done * 100 // total)
    if source == "log index" and percent >= 100:
        return None
    what = printable(
        "indexing the log" if source == "log index" else f"reading {source}", multiline=False
    )
    if left is not None and percent < 100:
        when = f"{max(1, round(left))} s" if left < 90 else f"{round(left / 60)} min"
        return f"{what} {percent}%, about {when} left…"
    return f"{what} {percent}%…"
