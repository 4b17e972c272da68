"""The usual order of an agent's steps (FORMATS.md), to place a current step on it."""

from __future__ import annotations

STEP_ORDER: tuple[str, ...] = (
    "branch",
    "code",
    "quality-gate",
    "commit",
    "push",
    "pr-created",
    "ci",
    "merged",
    "cd-verified",
    "cleanup",
)

_ALIASES = {
    "pr": "pr-created",
    "merge": "merged",
    "verify-cd": "cd-verified",
    "quality": "quality-gate",
}


def step_index(step: str) -> int | None:
    """Position of ``step`` in :data:`STEP_ORDER` (aliases accepted); ``None`` if unknown."""
    name = _ALIASES.get(step, step)
    try:
        return STEP_ORDER.index(name)
    except ValueError:
        return None
