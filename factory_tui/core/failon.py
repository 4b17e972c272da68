"""``--fail-on``: which of the fleet's conditions hold, each as a sentence (``snapshot`` for CI).

Pure: the counts of a derived :class:`~factory_tui.core.fleet.Fleet` in, sentences out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factory_tui.core.fleet import Fleet

__all__ = ["FAIL_CONDITIONS", "fail_reasons", "lint_part"]

#: What ``--fail-on`` accepts from the fleet (``ask`` and ``budget`` are decided elsewhere).
FAIL_CONDITIONS = ("stale", "crashed", "problems")


def lint_part(counts: Mapping[str, int]) -> str:
    """How many of ``counts["problems"]`` are state-lint findings: `` (1 lint finding)``, or
    nothing when none is."""
    n = counts.get("lint", 0)
    return f" ({n} lint finding{'s' if n != 1 else ''})" if n else ""


def fail_reasons(fleet: Fleet, conditions: Iterable[str]) -> list[str]:
    """Which of ``conditions`` hold for ``fleet``, each as a sentence (empty: none holds).

    Raises ``ValueError`` for a condition it does not know.
    """
    c = fleet.counts
    reasons: list[str] = []
    for condition in conditions:
        name = condition.strip().lower()
        if not name:
            continue
        if name == "stale":
            n = c.get("claims_stale", 0)
            if n:
                reasons.append(f"{n} stale claim{'s' if n != 1 else ''}")
        elif name == "crashed":
            n = c.get("sessions_crashed", 0)
            if n:
                reasons.append(f"{n} crashed session{'s' if n != 1 else ''}")
        elif name == "problems":
            n = c.get("problems", 0)
            if n:
                reasons.append(f"{n} problem{'s' if n != 1 else ''}{lint_part(c)}")
        else:
            raise ValueError(
                f"--fail-on {condition!r}: expected a comma list of {', '.join(FAIL_CONDITIONS)}"
            )
    return reasons
