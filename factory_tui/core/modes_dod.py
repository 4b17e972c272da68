"""The binary Definition of Done of a PR, as far as it can be computed (FORMATS.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from factory_tui.core.modes_paths import ChangedFile, ModeSettings, classify_file

__all__ = ["DodItem", "definition_of_done"]


@dataclass(frozen=True, slots=True)
class DodItem:
    """One line of the binary Definition of Done; ``ok`` is ``None`` when it cannot be told."""

    name: str
    ok: bool | None
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


_STATE_FILES = ("plan.md", "memory.md")


def definition_of_done(
    *,
    pr_exists: bool,
    pr_detail: str,
    ci: str,
    ci_detail: str,
    session_detail: str | None,
    files: Sequence[ChangedFile] | None,
    tickets: Sequence[str] = (),
    state_texts: Mapping[str, str] | None = None,
    settings: ModeSettings | None = None,
) -> tuple[DodItem, ...]:
    """The binary Definition of Done as far as it can be computed.

    ``ci``: ``green``, ``red``, ``pending`` or ``none``. ``session_detail``: the SESSION-START
    that names this work (``None`` when the log has none). ``state_texts``: plan.md and
    memory.md as they are on main (name → text), to see whether they mention the tickets.
    """
    items = [DodItem("PR exists", pr_exists, pr_detail)]
    if ci == "green":
        items.append(DodItem("CI green", True, ci_detail))
    elif ci == "none":
        items.append(DodItem("CI green", None, ci_detail))
    else:
        items.append(DodItem("CI green", False, ci_detail))
    items.append(
        DodItem("session logged", True, session_detail)
        if session_detail
        else DodItem("session logged", False, "no SESSION-START names this branch or PR")
    )
    if files is None:
        items.append(DodItem("tests changed", None, "changed files unknown"))
        items.append(DodItem("state files updated", None, "changed files unknown"))
        return tuple(items)
    classes = [classify_file(f.path, settings) for f in files]
    code = [c for c in classes if c.category in ("code", "security", "api", "migration")]
    tests = [c for c in classes if c.category == "tests"]
    if not code:
        items.append(DodItem("tests changed", True, "no code changed"))
    elif tests:
        items.append(
            DodItem(
                "tests changed",
                True,
                f"{len(tests)} test file{'s' if len(tests) > 1 else ''} with "
                f"{len(code)} code file{'s' if len(code) > 1 else ''}",
            )
        )
    else:
        items.append(
            DodItem(
                "tests changed",
                False,
                f"{len(code)} code file{'s' if len(code) > 1 else ''} changed, no test",
            )
        )
    touched = [f.path for f in files if f.path.rsplit("/", 1)[-1].lower() in _STATE_FILES]
    if touched:
        items.append(DodItem("state files updated", True, f"changes {', '.join(touched)}"))
    else:
        mentioned = [
            f"{name} mentions {ticket}"
            for name, text in (state_texts or {}).items()
            for ticket in tickets
            if ticket and ticket in text
        ]
        if mentioned:
            items.append(DodItem("state files updated", True, mentioned[0]))
        elif tickets and state_texts:
            items.append(
                DodItem(
                    "state files updated",
                    False,
                    f"plan.md/memory.md neither changed nor mention {', '.join(tickets)}",
                )
            )
        else:
            items.append(
                DodItem("state files updated", None, "no ticket known to look for in plan.md")
            )
    return tuple(items)
