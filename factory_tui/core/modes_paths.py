"""The file side of Ship / Show / Ask: each changed file's category by path rules.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CATEGORIES",
    "DEFAULT_RULES",
    "LOCK_FILES",
    "MODES",
    "ChangedFile",
    "FileClass",
    "Mode",
    "ModeSettings",
    "PathRule",
    "classify_file",
    "component_of",
    "settings_from_config",
]

Mode = Literal["ship", "show", "ask"]
MODES: tuple[Mode, ...] = ("ship", "show", "ask")

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
LOCK_FILES = frozenset(
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


def _rules(category: str, *patterns: str, why: str = "") -> tuple[PathRule, ...]:
    """One built-in rule per pattern, all naming the same category (and label)."""
    return tuple(PathRule(pattern, category, why) for pattern in patterns)


DEFAULT_RULES: tuple[PathRule, ...] = (
    # Ship: the factory's own state and config.
    *_rules("state", "plan.md", "memory.md"),
    *_rules("claude", "CLAUDE.md", ".claude/"),
    # Ask: migrations, infra, CI, API contracts (before tests and docs: a folder wins).
    *_rules("migration", "alembic/", "migrations/", "migrate/"),
    *_rules("infra", "k8s/", "kubernetes/", "kustomize/", why="infra (k8s)"),
    *_rules("infra", "helm/", "charts/", "Chart.yaml", "helmfile*.yaml", why="infra (Helm)"),
    *_rules("infra", "terraform/", "*.tf", "*.tfvars", "*.hcl", why="infra (Terraform)"),
    *_rules("infra", "ansible/", why="infra (Ansible)"),
    *_rules("infra", "infra/"),
    *_rules("infra", "deploy/", why="infra (deploy)"),
    *_rules("infra", "Dockerfile*", "*.dockerfile", why="infra (container image)"),
    *_rules("infra", "docker-compose*.y*ml", "compose*.y*ml", why="infra (compose)"),
    *_rules("ci", ".github/workflows/", ".gitlab-ci.yml", ".circleci/", "Jenkinsfile"),
    *_rules(
        "api",
        "openapi*.yaml",
        "openapi*.yml",
        "openapi*.json",
        "swagger*.y*ml",
        "swagger*.json",
        why="API contract (OpenAPI)",
    ),
    *_rules("api", "*.proto", why="API contract (protobuf)"),
    *_rules("api", "*.graphql", "*.gql", why="API contract (GraphQL)"),
    # Show: tests.
    *_rules(
        "tests",
        "tests/",
        "test/",
        "__tests__/",
        "spec/",
        "testdata/",
        "test_*.py",
        "*_test.py",
        "*_test.go",
        "*.test.*",
        "*.spec.*",
        "conftest.py",
    ),
    # Ship: docs.
    *_rules("docs", "docs/", "doc/", "*.md", "*.rst", "*.adoc", "LICENSE*", "mkdocs.yml"),
    # Ship (when minor): dependency manifests and lock files.
    *_rules(
        "deps",
        "requirements*.txt",
        "requirements/",
        "pyproject.toml",
        "Pipfile",
        "package.json",
        "Cargo.toml",
        "go.mod",
        "Gemfile",
        "composer.json",
    ),
    *_rules("deps", *sorted(LOCK_FILES)),
    # Show: style.
    *_rules(
        "style",
        ".editorconfig",
        ".prettierrc*",
        ".eslintrc*",
        ".stylelintrc*",
        ".flake8",
        "ruff.toml",
        ".ruff.toml",
        ".pre-commit-config.yaml",
        ".clang-format",
    ),
    # Ask: secrets by file type (the word rules for auth, RBAC, crypto come after these).
    *_rules("security", *_SECRET_FILES, why="security (secrets)"),
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
