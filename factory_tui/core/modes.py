"""Ship / Show / Ask (FORMATS.md): a PR's mode, its size class and its Definition of Done.

The mode comes from a label (``ship``, ``show``, ``ask`` or ``mode:<x>``) when the PR has one,
else from its changed files, by the FORMATS.md table:

- **Ship**: ``.claude/`` config, docs and ``.md`` state files, minor dependency bumps;
- **Show**: tests only, refactors, style, isolated bug fixes;
- **Ask**: features, security (auth, RBAC, secrets, crypto), database migrations, infra (k8s,
  Helm, Terraform), breaking API changes, changes across components.

When unsure, Ask. Every verdict carries its reason as one sentence
(``touches alembic/ → migration → Ask``).

Which category each changed file falls in (the path rules) is ``modes_paths``; the binary
Definition of Done is ``modes_dod``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from factory_tui.core.modes_paths import (
    CATEGORIES,
    LOCK_FILES,
    ChangedFile,
    FileClass,
    Mode,
    ModeSettings,
    classify_file,
    component_of,
)

__all__ = [
    "ModeVerdict",
    "SizeClass",
    "classify",
    "mode_from_labels",
    "size_class",
]

SizeClass = Literal["ideal", "good", "acceptable", "must split"]
_STRICTNESS = {"ship": 0, "show": 1, "ask": 2}
_TITLE = {"ship": "Ship", "show": "Show", "ask": "Ask"}


@dataclass(frozen=True, slots=True)
class ModeVerdict:
    mode: Mode
    reason: str
    """One sentence: ``touches alembic/ → migration → Ask``."""
    source: Literal["label", "files"]
    files: tuple[FileClass, ...] = ()


# -- the mode ----------------------------------------------------------------------------------


def mode_from_labels(labels: Iterable[str]) -> ModeVerdict | None:
    """``ship``, ``show``, ``ask`` or ``mode:<x>`` (any case); several: the strictest wins."""
    found: list[tuple[Mode, str]] = []
    for label in labels:
        name = label.strip().lower()
        value = name.removeprefix("mode:").strip() if name.startswith("mode:") else name
        if value in _STRICTNESS:
            found.append((value, label))  # type: ignore[arg-type]
    if not found:
        return None
    mode, label = max(found, key=lambda item: _STRICTNESS[item[0]])
    reason = f"label {label!r} → {_TITLE[mode]}"
    if len({m for m, _ in found}) > 1:
        others = ", ".join(repr(lab) for m, lab in found if m != mode)
        reason += f" (the strictest; also labelled {others})"
    return ModeVerdict(mode, reason, "label")


_CONVENTIONAL = re.compile(r"^\s*([A-Za-z]+)(\([^)]*\))?(!)?\s*:")
_BRANCH_KIND = re.compile(r"^([A-Za-z]+)[/_-]")
_KINDS = {
    "feat": "feature",
    "feature": "feature",
    "fix": "fix",
    "bugfix": "fix",
    "hotfix": "fix",
    "bug": "fix",
    "refactor": "refactor",
    "style": "style",
    "format": "style",
    "lint": "style",
}


def _change_kind(branch: str, title: str) -> tuple[str | None, str, bool]:
    """(kind, where it was read, breaking) from a conventional title, else the branch prefix."""
    match = _CONVENTIONAL.match(title)
    breaking = "BREAKING CHANGE" in title or bool(match and match.group(3))
    if match is not None:
        word = match.group(1).lower()
        return _KINDS.get(word), f"title {match.group(0).strip()!r}", breaking
    match = _BRANCH_KIND.match(branch)
    if match is not None:
        word = match.group(1).lower()
        return _KINDS.get(word), f"{word}/ branch", breaking
    return None, "", breaking


_DEP_VERSION = re.compile(
    r"""["']?(?P<name>[A-Za-z0-9_.@/\-]+)["']?\s*(?:[=<>~^!]=?|:|\s)\s*["']?[\^~>=<v]*(?P<major>\d+)\.\d"""
)


def _major_bumps(patch: str) -> list[str]:
    """``name a → b`` for each dependency whose major version differs between - and + lines."""
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for line in patch.splitlines():
        if line.startswith(("---", "+++")) or line[:1] not in ("-", "+"):
            continue
        match = _DEP_VERSION.search(line[1:])
        if match is None:
            continue
        (old if line[0] == "-" else new)[match.group("name").lower()] = match.group("major")
    return [
        f"{name} {old[name]}.x → {new[name]}.x"
        for name in old
        if name in new and old[name] != new[name]
    ]


def _files_phrase(classes: Sequence[FileClass]) -> str:
    first = classes[0].shown
    more = len({c.path for c in classes}) - 1
    return first if more <= 0 else f"{first} (+{more} more file{'s' if more > 1 else ''})"


def _join(words: Sequence[str]) -> str:
    unique = list(dict.fromkeys(words))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]


def classify(
    files: Sequence[ChangedFile] | None,
    *,
    labels: Iterable[str] = (),
    branch: str = "",
    title: str = "",
    settings: ModeSettings | None = None,
    patches: Mapping[str, str] | None = None,
) -> ModeVerdict:
    """The PR's mode and why. ``patches`` (path → unified diff), when known, lets a dependency
    bump be told minor or major."""
    labelled = mode_from_labels(labels)
    if labelled is not None:
        return labelled
    settings = settings or ModeSettings()
    if not files:
        return ModeVerdict("ask", "no changed files known → unsure → Ask", "files")
    classes = tuple(classify_file(f.path, settings) for f in files)
    by_path = {f.path: f for f in files}

    asks = [c for c in classes if CATEGORIES[c.category][0] == "ask"]
    if asks:
        first = asks[0]
        return ModeVerdict(
            "ask",
            f"touches {_files_phrase([first, *(c for c in asks[1:] if c.path != first.path)])}"
            f" → {first.label} → Ask",
            "files",
            classes,
        )
    code = [c for c in classes if c.category == "code"]
    if code:
        return _classify_code(code, classes, by_path, branch, title, settings)
    _kind, where, breaking = _change_kind(branch, title)
    if breaking:
        return ModeVerdict("ask", f"{where} marks a breaking change → Ask", "files", classes)
    deps = [c for c in classes if c.category == "deps"]
    if deps:
        manifests = [c for c in deps if c.path.rsplit("/", 1)[-1].lower() not in LOCK_FILES]
        lines = sum(by_path[c.path].changed for c in manifests)
        names = _join([c.path for c in deps][:3] + (["…"] if len(deps) > 3 else []))
        bumps: list[str] = []
        for c in manifests:
            patch = (patches or {}).get(c.path)
            if patch:
                bumps.extend(_major_bumps(patch))
        if bumps:
            return ModeVerdict(
                "ask", f"{_join(bumps)} in {names} → major dependency bump → Ask", "files", classes
            )
        if lines > settings.dep_bump_max_lines:
            return ModeVerdict(
                "ask",
                f"{lines} changed lines in {names} (over {settings.dep_bump_max_lines}) "
                "→ more than a minor dependency bump → Ask",
                "files",
                classes,
            )
    shows = [c for c in classes if CATEGORIES[c.category][0] == "show"]
    labels_used = _join([c.label for c in classes])
    count = len(classes)
    files_word = f"{count} file{'s' if count > 1 else ''}"
    if shows:
        return ModeVerdict("show", f"only {labels_used} ({files_word}) → Show", "files", classes)
    if deps and all(c.category == "deps" for c in classes):
        return ModeVerdict(
            "ship",
            f"only dependency files ({_join([c.path for c in deps][:3])}) → minor dependency "
            "bump → Ship",
            "files",
            classes,
        )
    return ModeVerdict("ship", f"only {labels_used} ({files_word}) → Ship", "files", classes)


def _classify_code(
    code: Sequence[FileClass],
    classes: tuple[FileClass, ...],
    by_path: Mapping[str, ChangedFile],
    branch: str,
    title: str,
    settings: ModeSettings,
) -> ModeVerdict:
    components = sorted({component_of(c.path, settings) for c in code})
    if len(components) > 1:
        return ModeVerdict(
            "ask",
            f"changes across components ({', '.join(components)}) → Ask",
            "files",
            classes,
        )
    kind, where, breaking = _change_kind(branch, title)
    lines = sum(by_path[c.path].changed for c in code)
    n = len(code)
    what = f"{n} code file{'s' if n > 1 else ''} in {components[0]}, {lines} lines"
    if breaking:
        return ModeVerdict("ask", f"{where} marks a breaking change → Ask", "files", classes)
    if kind == "feature":
        return ModeVerdict("ask", f"{where} → feature → Ask", "files", classes)
    if kind in ("fix", "refactor", "style"):
        name = {"fix": "isolated bug fix", "refactor": "refactor", "style": "style"}[kind]
        if lines <= settings.fix_max_lines:
            return ModeVerdict("show", f"{where}, {what} → {name} → Show", "files", classes)
        return ModeVerdict(
            "ask",
            f"{where} but {what} (over {settings.fix_max_lines}) → not an {name} → Ask"
            if kind == "fix"
            else f"{where} but {what} (over {settings.fix_max_lines}) → too big to Show → Ask",
            "files",
            classes,
        )
    lead = f"{where}: " if where else ""
    return ModeVerdict(
        "ask",
        f"{lead}{what}, no fix/refactor/style marker → unsure → Ask",
        "files",
        classes,
    )


# -- size -----------------------------------------------------------------------------------------


def size_class(changed_lines: int) -> SizeClass:
    """< 50 ideal, 50–150 good, 150–300 acceptable, > 300 must split (FORMATS.md)."""
    if changed_lines < 50:
        return "ideal"
    if changed_lines <= 150:
        return "good"
    if changed_lines <= 300:
        return "acceptable"
    return "must split"
