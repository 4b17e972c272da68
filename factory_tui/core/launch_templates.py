"""The names a launch builds from a claim and the templates of ``factory.toml`` that shape it
(``launch_prompt``, ``launch_worktree``, ``launch_branch``), with the placeholders each may use.

Whatever comes from a claim file goes into a path or a branch only as a :func:`slug`: one plain
lowercase path component. Imported by the configuration (it checks the templates when it
loads), so it stays small.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_LAUNCH_BRANCH",
    "DEFAULT_LAUNCH_PROMPT",
    "DEFAULT_LAUNCH_WORKTREE",
    "PATH_FIELDS",
    "PROMPT_FIELDS",
    "launch_slug",
    "render",
    "slug",
    "template_problem",
]

#: What ``launch_prompt`` may name.
PROMPT_FIELDS = (
    "what",
    "id",
    "phase",
    "name",
    "title",
    "tickets",
    "branch",
    "worktree",
    "instance",
)
#: What ``launch_worktree`` and ``launch_branch`` may name (plain path components only).
PATH_FIELDS = ("repo", "slug", "id", "phase")

DEFAULT_LAUNCH_PROMPT = (
    "You are a factory agent, instance {instance}, in the worktree {worktree} on branch "
    "{branch}. Your work: {what} — {title} (tickets: {tickets}). First claim it under the "
    "protocol (the lock, the claim file in .claude/claims, a CLAIM line in operations.log) and "
    "log SESSION-START. Then carry it to the Definition of Done: the code and its tests green, "
    "the quality gate passed, a PR opened in its Ship/Show/Ask mode, plan.md and memory.md "
    "updated, a checkpoint before each risky step, and SESSION-END logged."
)
DEFAULT_LAUNCH_WORKTREE = "{repo}-{slug}"
"""Beside the main worktree, as the real factory lays them out (``stoa`` → ``stoa-cab-1350``)."""
DEFAULT_LAUNCH_BRANCH = "feat/{slug}"

_NOT_SLUG = re.compile(r"[^a-z0-9._]+")


def slug(text: str) -> str:
    """``text`` as a plain lowercase path component: letters, digits, ``.``, ``_`` and ``-``,
    never empty, never starting with a dot or a dash, never ``..``."""
    out = _NOT_SLUG.sub("-", text.lower()).replace("..", "-").strip("-.")
    return out[:60].strip("-.") or "x"


def launch_slug(claim_id: str, phase: int | None) -> str:
    """``cab-1290-phase-2`` for a MEGA phase, ``cab-1321`` for a standalone ticket."""
    return slug(claim_id) if phase is None else f"{slug(claim_id)}-phase-{phase}"


def template_problem(template: str, allowed: Iterable[str]) -> str | None:
    """Why ``template`` cannot be rendered with ``allowed`` placeholders, or ``None``."""
    names = tuple(allowed)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a template ({error}); write a literal brace as {{{{ or }}}}"
    for _text, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in names:
            return f"unknown placeholder {{{field}}}; known: " + ", ".join(
                f"{{{n}}}" for n in names
            )
        if spec or conversion:
            return f"{{{field}}} takes no format or conversion"
    return None


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled (checked by :func:`template_problem` first)."""
    return template.format_map(dict(values))
