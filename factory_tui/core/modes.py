"""Ship / Show / Ask (FORMATS.md): a PR's mode, its size class and its Definition of Done.

The mode comes from a label (``ship``, ``show``, ``ask`` or ``mode:<x>``) when the PR has one,
else from its changed files, by the FORMATS.md table:

- **Ship**: ``.claude/`` config, docs and ``.md`` state files, minor dependency bumps;
- **Show**: tests only, refactors, style, isolated bug fixes;
- **Ask**: features, security (auth, RBAC, secrets, crypto), database migrations, infra (k8s,
  Helm, Terraform), breaking API changes, changes across components.

When unsure, Ask. Every verdict carries its reason as one sentence
(``touches alembic/ → migration → Ask``).

Each changed file is put in a *category* by the first path rule that matches it: the rules from
the config's ``[prs.paths]`` table first (in file order), then the built-in ones. A category has a
mode (``migration`` → Ask, ``tests`` → Show, ``docs`` → Ship, ...) or none (``code``: plain source
code, which needs more evidence: a fix or refactor marker in the branch name or title, one
component, a modest size).

Path patterns:

- ``name/`` (ending with a slash): a folder named ``name`` anywhere in the path (``alembic/``
  matches ``backend/alembic/env.py``); several segments are allowed (``.github/workflows/``) and
  a leading ``/`` anchors the folder at the repository's top (``/docs/``);
- ``*.tf`` (no slash): the file's name;
- ``src/auth/**`` (a slash inside): the whole path from the top; ``**`` spans folders.

Matching ignores case. Pure: no I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CATEGORIES",
    "DEFAULT_RULES",
    "MODES",
    "ChangedFile",
    "DodItem",
    "FileClass",
    "Mode",
    "ModeSettings",
    "ModeVerdict",
    "PathRule",
    "SizeClass",
    "classify",
    "classify_file",
    "component_of",
    "definition_of_done",
    "mode_from_labels",
    "settings_from_config",
    "size_class",
]

Mode = Literal["ship", "show", "ask"]
SizeClass = Literal["ideal", "good", "acceptable", "must split"]
MODES: tuple[Mode, ...] = ("ship", "show", "ask")
_STRICTNESS = {"ship": 0, "show": 1, "ask": 2}
_TITLE = {"ship": "Ship", "show": "Show", "ask": "Ask"}

#: category -> (mode, or None for plain code; how the reason names it)
CATEGORIES: dict[str, tuple[Mode | None, str]] = {
    "state": ("ship", ".md state files"),
    "claude": ("ship", ".claude/ config"),
    "docs": ("ship", "docs"),
    "deps": ("ship", "dependency files"),
    "tests": ("show", "tests"),
    "style": ("show", "style config"),
    "migration": ("ask", "migration"),
    "infra": ("ask", "infra"),
    "ci": ("ask", "CI pipeline"),
    "api": ("ask", "API contract"),
    "security": ("ask", "security"),
    "code": (None, "code"),
    # A configured rule may name a mode directly.
    "ship": ("ship", "a Ship path (config)"),
    "show": ("show", "a Show path (config)"),
    "ask": ("ask", "an Ask path (config)"),
}

#: Lock files: their line counts say nothing about the size of a bump.
_LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "pipfile.lock",
        "cargo.lock",
        "go.sum",
        "gemfile.lock",
        "composer.lock",
        "bun.lockb",
        "mix.lock",
    }
)
_CONTAINERS = frozenset(
    {
        "src",
        "lib",
        "libs",
        "app",
        "apps",
        "packages",
        "services",
        "pkg",
        "internal",
        "cmd",
        "modules",
        "components",
        "crates",
    }
)
_SECURITY_WORDS = {
    "auth": "auth",
    "authn": "auth",
    "authz": "auth",
    "authentication": "auth",
    "authorization": "auth",
    "oauth": "auth",
    "oauth2": "auth",
    "oidc": "auth",
    "saml": "auth",
    "login": "auth",
    "jwt": "auth",
    "jwks": "auth",
    "rbac": "RBAC",
    "acl": "RBAC",
    "acls": "RBAC",
    "permission": "RBAC",
    "permissions": "RBAC",
    "roles": "RBAC",
    "secret": "secrets",
    "secrets": "secrets",
    "credential": "secrets",
    "credentials": "secrets",
    "password": "secrets",
    "passwords": "secrets",
    "passwd": "secrets",
    "vault": "secrets",
    "crypto": "crypto",
    "cryptography": "crypto",
    "encryption": "crypto",
    "encrypt": "crypto",
    "decrypt": "crypto",
    "cipher": "crypto",
    "tls": "crypto",
    "ssl": "crypto",
    "cert": "crypto",
    "certs": "crypto",
    "certificate": "crypto",
    "certificates": "crypto",
    "security": "security",
    "sandbox": "security",
}
_SECRET_FILES = ("*.pem", "*.key", "*.p12", "*.pfx", "*.jks", ".env", ".env.*", "id_rsa*")
_WORD_SPLIT = re.compile(r"[/._\-\s]+")


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One file a PR changes. ``status``: A added, M modified, D deleted, R renamed."""

    path: str
    additions: int = 0
    deletions: int = 0
    status: str = "M"
    old_path: str | None = None
    binary: bool = False

    @property
    def changed(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True, slots=True)
class PathRule:
    pattern: str
    category: str
    why: str = ""
    """How the reason names it (``infra (Helm)``); defaults to the category's name."""
    origin: str = "built-in"

    @property
    def label(self) -> str:
        return self.why or CATEGORIES[self.category][1]


@dataclass(frozen=True, slots=True)
class FileClass:
    path: str
    category: str
    label: str
    """How the reason names the category: ``migration``, ``infra (Helm)``, ``security (auth)``."""
    shown: str
    """What matched, for the reason: ``alembic/`` or the file's path."""


@dataclass(frozen=True, slots=True)
class ModeVerdict:
    mode: Mode
    reason: str
    """One sentence: ``touches alembic/ → migration → Ask``."""
    source: Literal["label", "files"]
    files: tuple[FileClass, ...] = ()


@dataclass(frozen=True)
class ModeSettings:
    """The path rules (configured ones first), components and thresholds."""

    rules: tuple[PathRule, ...] = ()
    components: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(component name, path prefixes), from ``[prs.components]``."""
    dep_bump_max_lines: int = 20
    """Changed lines in dependency manifests (lock files not counted) a minor bump may have."""
    fix_max_lines: int = 150
    """Changed lines an isolated fix or a refactor may have and still be Show."""
    problems: tuple[str, ...] = field(default=())


def _r(pattern: str, category: str, why: str = "") -> PathRule:
    return PathRule(pattern, category, why)


DEFAULT_RULES: tuple[PathRule, ...] = (
    # Ship: the factory's own state and config.
    _r("plan.md", "state"),
    _r("memory.md", "state"),
    _r("CLAUDE.md", "claude"),
    _r(".claude/", "claude"),
    # Ask: migrations, infra, CI, API contracts (before tests and docs: a folder wins).
    _r("alembic/", "migration"),
    _r("migrations/", "migration"),
    _r("migrate/", "migration"),
    _r("k8s/", "infra", "infra (k8s)"),
    _r("kubernetes/", "infra", "infra (k8s)"),
    _r("kustomize/", "infra", "infra (k8s)"),
    _r("helm/", "infra", "infra (Helm)"),
    _r("charts/", "infra", "infra (Helm)"),
    _r("Chart.yaml", "infra", "infra (Helm)"),
    _r("helmfile*.yaml", "infra", "infra (Helm)"),
    _r("terraform/", "infra", "infra (Terraform)"),
    _r("*.tf", "infra", "infra (Terraform)"),
    _r("*.tfvars", "infra", "infra (Terraform)"),
    _r("*.hcl", "infra", "infra (Terraform)"),
    _r("ansible/", "infra", "infra (Ansible)"),
    _r("infra/", "infra"),
    _r("deploy/", "infra", "infra (deploy)"),
    _r("Dockerfile*", "infra", "infra (container image)"),
    _r("*.dockerfile", "infra", "infra (container image)"),
    _r("docker-compose*.y*ml", "infra", "infra (compose)"),
    _r("compose*.y*ml", "infra", "infra (compose)"),
    _r(".github/workflows/", "ci"),
    _r(".gitlab-ci.yml", "ci"),
    _r(".circleci/", "ci"),
    _r("Jenkinsfile", "ci"),
    _r("openapi*.yaml", "api", "API contract (OpenAPI)"),
    _r("openapi*.yml", "api", "API contract (OpenAPI)"),
    _r("openapi*.json", "api", "API contract (OpenAPI)"),
    _r("swagger*.y*ml", "api", "API contract (OpenAPI)"),
    _r("swagger*.json", "api", "API contract (OpenAPI)"),
    _r("*.proto", "api", "API contract (protobuf)"),
    _r("*.graphql", "api", "API contract (GraphQL)"),
    _r("*.gql", "api", "API contract (GraphQL)"),
    # Show: tests.
    _r("tests/", "tests"),
    _r("test/", "tests"),
    _r("__tests__/", "tests"),
    _r("spec/", "tests"),
    _r("testdata/", "tests"),
    _r("test_*.py", "tests"),
    _r("*_test.py", "tests"),
    _r("*_test.go", "tests"),
    _r("*.test.*", "tests"),
    _r("*.spec.*", "tests"),
    _r("conftest.py", "tests"),
    # Ship: docs.
    _r("docs/", "docs"),
    _r("doc/", "docs"),
    _r("*.md", "docs"),
    _r("*.rst", "docs"),
    _r("*.adoc", "docs"),
    _r("LICENSE*", "docs"),
    _r("mkdocs.yml", "docs"),
    # Ship (when minor): dependency manifests and lock files.
    _r("requirements*.txt", "deps"),
    _r("requirements/", "deps"),
    _r("pyproject.toml", "deps"),
    _r("Pipfile", "deps"),
    _r("package.json", "deps"),
    _r("Cargo.toml", "deps"),
    _r("go.mod", "deps"),
    _r("Gemfile", "deps"),
    _r("composer.json", "deps"),
    *(_r(name, "deps") for name in sorted(_LOCK_FILES)),
    # Show: style.
    _r(".editorconfig", "style"),
    _r(".prettierrc*", "style"),
    _r(".eslintrc*", "style"),
    _r(".stylelintrc*", "style"),
    _r(".flake8", "style"),
    _r("ruff.toml", "style"),
    _r(".ruff.toml", "style"),
    _r(".pre-commit-config.yaml", "style"),
    _r(".clang-format", "style"),
    # Ask: secrets by file type (the word rules for auth, RBAC, crypto come after these).
    *(_r(pattern, "security", "security (secrets)") for pattern in _SECRET_FILES),
)


# -- path matching --------------------------------------------------------------------------------


def _segments_match(pattern: Sequence[str], path: Sequence[str]) -> bool:
    """``pattern`` segments (``**`` spans any number of folders) against ``path`` segments."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _segments_match(rest, path[1:])


def _match(pattern: str, path: str) -> str | None:
    """What of ``path`` the pattern matched (for the reason), or ``None``."""
    pat = pattern.lower()
    parts = path.lower().split("/")
    if pat.endswith("/"):
        anchored = pat.startswith("/")
        want = [p for p in pat.strip("/").split("/") if p]
        folders = parts[:-1]
        starts = [0] if anchored else range(len(folders) - len(want) + 1)
        for start in starts:
            window = folders[start : start + len(want)]
            if len(window) == len(want) and all(
                fnmatch.fnmatchcase(seg, w) for seg, w in zip(window, want, strict=True)
            ):
                return "/".join(path.split("/")[: start + len(want)]) + "/"
        return None
    if "/" not in pat:
        return path if fnmatch.fnmatchcase(parts[-1], pat) else None
    return path if _segments_match([p for p in pat.split("/") if p], parts) else None


def _security_word(path: str) -> str | None:
    """The security topic a path's words name (``auth``, ``RBAC``, ``secrets``, ``crypto``)."""
    for word in _WORD_SPLIT.split(path.lower()):
        topic = _SECURITY_WORDS.get(word)
        if topic is not None:
            return topic
    return None


def classify_file(path: str, settings: ModeSettings | None = None) -> FileClass:
    """The category of one changed file, by the first rule that matches."""
    rules = (settings.rules if settings is not None else ()) + DEFAULT_RULES
    for rule in rules:
        shown = _match(rule.pattern, path)
        if shown is not None:
            return FileClass(path, rule.category, rule.label, shown)
    topic = _security_word(path)
    if topic is not None:
        return FileClass(path, "security", f"security ({topic})", path)
    return FileClass(path, "code", "code", path)


def component_of(path: str, settings: ModeSettings | None = None) -> str:
    """The component a path belongs to: a configured prefix's name, else the first folder that
    is not a generic container (``src/``, ``packages/``, ...), else ``(top level)``."""
    lowered = path.lower()
    for name, prefixes in settings.components if settings is not None else ():
        if any(lowered.startswith(prefix.lower()) for prefix in prefixes):
            return name
    parts = path.split("/")[:-1]
    for index, part in enumerate(parts):
        if part.lower() not in _CONTAINERS or index == len(parts) - 1:
            return part
    return "(top level)"


# -- settings from the config ---------------------------------------------------------------------


def settings_from_config(extra: Mapping[str, object], where: str = "config") -> ModeSettings:
    """Read ``[prs.paths]``, ``[prs.components]`` and the thresholds from ``Config.extra``.

    A wrong entry is skipped and named in ``problems`` (with ``where``, the config file).
    """
    table = extra.get("prs")
    if table is None:
        return ModeSettings()
    problems: list[str] = []
    if not isinstance(table, Mapping):
        return ModeSettings(problems=(f"{where}: [prs] must be a table; ignored",))
    rules: list[PathRule] = []
    paths = table.get("paths", {})
    if not isinstance(paths, Mapping):
        problems.append(f"{where}: [prs.paths] must be a table of pattern = category; ignored")
        paths = {}
    for pattern, value in paths.items():
        category = value.lower() if isinstance(value, str) else None
        if category not in CATEGORIES:
            known = ", ".join(sorted(CATEGORIES))
            problems.append(
                f"{where}: [prs.paths] {pattern!r} = {value!r}: not a category or mode; "
                f"use one of {known}"
            )
            continue
        assert category is not None
        rules.append(PathRule(str(pattern), category, "", origin=where))
    components: list[tuple[str, tuple[str, ...]]] = []
    comps = table.get("components", {})
    if not isinstance(comps, Mapping):
        problems.append(f"{where}: [prs.components] must be a table of name = [prefixes]; ignored")
        comps = {}
    for name, prefixes in comps.items():
        if isinstance(prefixes, str):
            prefixes = [prefixes]
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            problems.append(
                f"{where}: [prs.components] {name!r} must be a list of path prefixes; ignored"
            )
            continue
        components.append((str(name), tuple(prefixes)))

    def number(key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        problems.append(f"{where}: [prs] {key} must be a whole number ≥ 0; using {default}")
        return default

    return ModeSettings(
        rules=tuple(rules),
        components=tuple(components),
        dep_bump_max_lines=number("dep_bump_max_lines", 20),
        fix_max_lines=number("fix_max_lines", 150),
        problems=tuple(problems),
    )


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
        manifests = [c for c in deps if c.path.rsplit("/", 1)[-1].lower() not in _LOCK_FILES]
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


# -- Definition of Done --------------------------------------------------------------------------


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
