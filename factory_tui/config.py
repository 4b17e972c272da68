"""Where the factory's files are, and the tunables: discovery, config files, environment, flags.

Precedence, most specific first (each value remembers where it came from, for ``doctor``):

1. flags (``--claims DIR``, ``--memory DIR``, ``--log FILE``, ``--checkpoints DIR``, ...);
2. ``FACTORY_TUI_<KEY>`` environment variables (``FACTORY_TUI_CLAIMS``,
   ``FACTORY_TUI_STALE_AFTER``, ...);
3. ``factory.toml`` at ROOT, or the file given by ``--config`` / ``FACTORY_TUI_CONFIG`` instead;
4. the ``[tool.factory-tui]`` table of ROOT's ``pyproject.toml``;
5. the user config file (``platformdirs.user_config_path("factory-tui") / "config.toml"``, or
   ``FACTORY_TUI_USER_CONFIG``);
6. discovered defaults (FORMATS.md): ``ROOT/.claude/claims`` (the main worktree's when ROOT is a
   linked git worktree), Claude Code's per-project memory folder under ``CLAUDE_CONFIG_DIR`` or
   ``~/.claude``.

Relative paths in a config file are relative to that file's folder; in flags and environment
variables, to the current directory. ``~`` is expanded everywhere.

A key set explicitly at any level beats a value derived from another key: ``log`` set in
``factory.toml`` wins over ``--memory DIR``'s ``DIR/operations.log``.

Nothing here starts a process: git's layout is read from the ``.git`` file and ``commondir``.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import platformdirs

__all__ = [
    "CLAUDE_PROJECT_NAME_MAX",
    "ENV_PREFIX",
    "KNOWN_KEYS",
    "Config",
    "ConfigError",
    "encode_project_path",
    "find_root",
    "format_duration",
    "known_env_vars",
    "load_config",
    "main_worktree",
    "missing_inputs",
    "not_found_sentence",
    "parse_duration",
    "project_dir_candidates",
    "user_config_path",
]

ENV_PREFIX = "FACTORY_TUI_"
CLAUDE_PROJECT_NAME_MAX = 200
"""Claude Code truncates an encoded project folder name past this many characters."""


class ConfigError(Exception):
    """A configuration problem the user must fix; ``str()`` is one line saying where, what, how.

    ``file``, ``line`` and ``key`` are kept as attributes for callers that want them separately.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.key = key


@dataclass(frozen=True)
class Config:
    """Every resolved location and tunable, with ``sources[field]`` saying where each came from.

    ``sources`` also holds ``"extra.<key>"`` for each key of ``extra``.
    ``config_files`` lists each config file that was looked for (label → path), found or not,
    so ``doctor`` can show why a file was (not) read.
    """

    root: Path
    claims_dir: Path
    memory_dir: Path
    log_file: Path
    metrics_file: Path
    checkpoints_dir: Path
    plan_file: Path
    memory_file: Path
    council_history: Path
    claude_config_dir: Path
    stale_after: timedelta
    lock_stale_after: timedelta
    idle_after: timedelta
    daily_budget_usd: float | None
    agent_budget_usd: float | None
    theme: str | None
    read_only: bool
    notify: bool
    bell: bool
    agent_command: tuple[str, ...]
    max_file_bytes: int
    """A factory file (claim, checkpoint, plan.md, memory.md) bigger than this is a problem,
    not read."""
    extra: Mapping[str, object]
    sources: Mapping[str, str]
    config_files: Mapping[str, Path] = field(default_factory=lambda: MappingProxyType({}))
    claude_config_dirs: tuple[Path, ...] = ()
    """Every Claude Code config folder (a factory may give each agent pane its own): the
    ``claude_config_dir`` setting's paths with globs expanded, in order; ``claude_config_dir``
    is the first (where the memory folder is looked for). Empty: just ``claude_config_dir``."""
    claude_config_patterns: tuple[str, ...] = ()
    """The ``claude_config_dir`` setting as given (absolute, globs unexpanded), for ``doctor``."""

    @property
    def claude_dirs(self) -> tuple[Path, ...]:
        """The Claude Code config folders whose transcripts are read."""
        return self.claude_config_dirs or (self.claude_config_dir,)

    @property
    def log_history_file(self) -> Path:
        """The rotated history of operations.log: ``operations.log.1`` beside it."""
        return self.log_file.with_name(self.log_file.name + ".1")


# --------------------------------------------------------------------------------------------
# Durations


_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def parse_duration(text: str) -> timedelta:
    """``"2h"``, ``"90m"``, ``"7200s"``, ``"1h30m"``, ``"1.5h"`` or a bare number of seconds.

    Raises ``ValueError`` (with the offending text) for anything else, or a negative value.
    """
    raw = text.strip().lower()
    if _NUMBER.fullmatch(raw):
        return timedelta(seconds=float(raw))
    total = 0.0
    pos = 0
    compact = raw.replace(" ", "")
    if not compact:
        raise ValueError(f"empty duration {text!r}")
    for match in _DURATION_PART.finditer(compact):
        if match.start() != pos or match.group(2) not in _UNITS:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The compact form ``parse_duration`` reads back: ``2h``, ``30s``, ``1h30m``, ``0.5s``."""
    seconds = value.total_seconds()
    if seconds < 0:
        return "-" + format_duration(-value)
    whole = int(seconds)
    fraction = round(seconds - whole, 6)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    if whole or fraction or not parts:
        secs = whole + fraction
        parts.append(f"{secs:g}s")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Git layout and Claude Code's project folders


def find_root(start: Path | None = None) -> Path:
    """The git top level of ``start`` (default: the current directory), else ``start`` itself.

    Walks up looking for ``.git`` (a directory, or a file in a linked worktree or submodule), as
    ``git rev-parse --show-toplevel`` would, without starting git. The result is absolute and
    resolved; a ``start`` that is not an existing directory is returned as is (resolved), so the
    caller reports it rather than silently using some parent repository.
    """
    base = (Path.cwd() if start is None else Path(start).expanduser()).resolve()
    if not base.is_dir():
        return base
    for candidate in (base, *base.parents):
        if (candidate / ".git").exists():
            return candidate
    return base


def main_worktree(root: Path) -> Path | None:
    """The main worktree of ``root`` when ``root`` is a LINKED git worktree, else ``None``.

    A linked worktree has a ``.git`` file ``gitdir: <main>/.git/worktrees/<name>``; that folder's
    ``commondir`` file points (usually ``../..``) at the main repository's ``.git``, whose parent is
    the main worktree. A submodule's ``.git`` file has no ``commondir``: not a linked worktree.
    A bare main repository has no main worktree: ``None``.
    """
    dotgit = root / ".git"
    try:
        if not dotgit.is_file():
            return None
        text = dotgit.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    first = text.splitlines()[0].strip() if text.strip() else ""
    if not first.startswith("gitdir:"):
        return None
    gitdir = Path(first.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = root / gitdir
    try:
        common_text = (gitdir / "commondir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not common_text:
        return None
    common = Path(common_text)
    if not common.is_absolute():
        common = gitdir / common
    common = common.resolve()
    if common.name != ".git":
        return None
    main = common.parent
    if not main.is_dir() or main == root.resolve():
        return None
    return main


def _js_hash36(text: str) -> str:
    """A JavaScript-style 32-bit string hash (``h = (h << 5) - h + unit``), ``abs``, base 36."""
    data = text.encode("utf-16-le")
    value = 0
    for index in range(0, len(data), 2):
        value = (value * 31 + (data[index] | data[index + 1] << 8)) & 0xFFFFFFFF
    if value >= 0x80000000:
        value -= 0x100000000
    value = abs(value)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def encode_project_path(path: Path) -> str:
    """Claude Code's folder name for a project: every character not ``[A-Za-z0-9]`` becomes ``-``.

    ``/Users/me/repos/stoa`` → ``-Users-me-repos-stoa``. Claude Code does this with a JavaScript
    regex over UTF-16 code units, so a character outside the BMP (an emoji) becomes ``--``; this
    does the same. Past ``CLAUDE_PROJECT_NAME_MAX`` (200) characters the name is cut at 200 and
    ``-`` plus a short hash of the path is appended. The hash here is a JavaScript-style
    31-multiplier string hash in base 36; the exact hash a given Claude Code build uses may
    differ (native builds may use another one), which is why discovery also scans
    ``<claude>/projects/`` for folders whose name starts with the first 200 characters (see
    ``project_dir_candidates``).
    """
    text = str(path)
    encoded = "".join(
        ch if ch.isascii() and ch.isalnum() else ("--" if ord(ch) > 0xFFFF else "-") for ch in text
    )
    if len(encoded) <= CLAUDE_PROJECT_NAME_MAX:
        return encoded
    return f"{encoded[:CLAUDE_PROJECT_NAME_MAX]}-{_js_hash36(text)}"


def project_dir_candidates(claude_config_dir: Path, path: Path) -> list[Path]:
    """Claude Code project folders that may belong to ``path``, best first.

    The exactly encoded name first; for a long path, then every existing folder under
    ``<claude>/projects/`` named ``<first 200 characters>-<anything>`` (sorted), since the
    hash suffix may not be ours.
    """
    projects = claude_config_dir / "projects"
    encoded = encode_project_path(path)
    found = [projects / encoded]
    if len(encoded) > CLAUDE_PROJECT_NAME_MAX:
        prefix = encoded[:CLAUDE_PROJECT_NAME_MAX] + "-"
        try:
            names = sorted(entry.name for entry in projects.iterdir() if entry.is_dir())
        except OSError:
            names = []
        found.extend(projects / name for name in names if name.startswith(prefix))
    unique: list[Path] = []
    for candidate in found:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def _discover_memory_dir(
    claude_config_dir: Path, root: Path, main: Path | None
) -> tuple[Path, str]:
    """Claude Code's memory folder for ROOT: the first that exists among ROOT's then main's.

    Claude Code keys a project by the folder it started in; since 2.1.63 its auto memory is
    shared by all worktrees of a repository under the main worktree's name. So for a linked
    worktree both are candidates, ROOT's first; when neither exists yet, the main worktree's
    (where a current Claude Code will create it), else ROOT's.
    """
    owners: list[tuple[Path, str]] = [(root, "discovered: Claude Code memory folder")]
    if main is not None:
        owners.append((main, "discovered: Claude Code memory folder of the main worktree"))
    for owner, source in owners:
        for project in project_dir_candidates(claude_config_dir, owner):
            if (project / "memory").is_dir():
                return project / "memory", source
    fallback = main if main is not None else root
    encoded = encode_project_path(fallback)
    return (
        claude_config_dir / "projects" / encoded / "memory",
        "default: Claude Code memory folder, not created yet",
    )


def user_config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The user config file: ``FACTORY_TUI_USER_CONFIG`` if set (empty: none), else platform's."""
    environ = os.environ if env is None else env
    override = environ.get(ENV_PREFIX + "USER_CONFIG")
    if override is not None:
        return _expand(override, Path.cwd(), environ) if override.strip() else None
    return platformdirs.user_config_path("factory-tui") / "config.toml"


# --------------------------------------------------------------------------------------------
# Keys and their converters


class _Bad(Exception):
    """A value of the wrong form; the message says what was expected."""


def _expand(raw: str, base: Path, env: Mapping[str, str]) -> Path:
    text = raw.strip()
    if text == "~" or text.startswith(("~/", "~" + os.sep)):
        home = env.get("HOME") or env.get("USERPROFILE")
        text = (home if home else str(Path.home())) + text[1:]
    else:
        text = os.path.expanduser(text)
    path = Path(text)
    if not path.is_absolute():
        path = base / path
    return Path(os.path.abspath(path))


_Converter = Callable[[object, bool, Path, Mapping[str, str]], object]


def _to_path(value: object, _text: bool, base: Path, env: Mapping[str, str]) -> object:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("a path (a non-empty string)")
    return _expand(value, base, env)


def _to_paths(value: object, _text: bool, base: Path, env: Mapping[str, str]) -> object:
    """One path or a list of them, each may be a glob (``~/.claude-agent-*``): absolute
    patterns, expanded by :func:`expand_claude_dirs`."""
    expected = 'a path or a list of paths, each may be a glob (["~/.claude", "~/.claude-*"])'
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise _Bad(expected)
    return tuple(str(_expand(str(item), base, env)) for item in items)


def expand_claude_dirs(patterns: Sequence[str]) -> tuple[Path, ...]:
    """The folders the patterns name, in order, without repeats: a glob gives the existing
    folders it matches (sorted), a plain path itself (existing or not)."""
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            paths = [Path(p) for p in sorted(glob.glob(pattern)) if os.path.isdir(p)]
        else:
            paths = [Path(pattern)]
        found.extend(path for path in paths if path not in found)
    return tuple(found)


def _to_duration(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'a duration such as "2h", "90m", "7200s" or a number of seconds, above zero'
    if isinstance(value, bool):
        raise _Bad(expected)
    if isinstance(value, int | float):
        result = timedelta(seconds=float(value))
    elif isinstance(value, str):
        try:
            result = parse_duration(value)
        except ValueError:
            raise _Bad(expected) from None
    else:
        raise _Bad(expected)
    if result <= timedelta(0):
        raise _Bad(expected)
    return result


def _to_money(value: object, text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'an amount in US dollars (a number ≥ 0, e.g. 50 or 12.5), or "none"'
    if isinstance(value, bool):
        raise _Bad(expected)
    if isinstance(value, str):
        if value.strip().lower() in {"none", "off"}:
            return None
        try:
            value = float(value.strip().lstrip("$"))
        except ValueError:
            raise _Bad(expected) from None
    if not isinstance(value, int | float) or value != value or value < 0:
        raise _Bad(expected)
    return float(value)


_SIZE = re.compile(r"(?P<number>\d{1,15})[ \t]*(?P<unit>[KMG]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def _to_size(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = 'a size in bytes above zero: a number, or "64 MiB", "512 KiB", "1 GB"'
    if isinstance(value, bool):
        raise _Bad(expected)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        number = int(match.group("number")) * _SIZE_UNITS[(match.group("unit") or "").lower()]
    else:
        raise _Bad(expected)
    if number <= 0:
        raise _Bad(expected)
    return number


def _to_text(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("a non-empty string")
    return value.strip()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _to_bool(value: object, text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _Bad("true or false (1/0, yes/no, on/off)")
    raise _Bad("true or false")


def _to_command(value: object, _text: bool, _base: Path, _env: Mapping[str, str]) -> object:
    expected = (
        'a command: a list of strings (["claude", "--flag"]) or one string split like a shell'
    )
    if isinstance(value, str):
        try:
            parts = shlex.split(value)
        except ValueError as exc:
            raise _Bad(f"{expected} ({exc})") from None
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = list(value)
    else:
        raise _Bad(expected)
    if not parts or not parts[0].strip():
        raise _Bad(expected + ", not empty")
    return tuple(parts)


@dataclass(frozen=True)
class _Key:
    field: str
    convert: _Converter
    is_path: bool = False


KNOWN_KEYS: Mapping[str, _Key] = MappingProxyType(
    {
        "claims": _Key("claims_dir", _to_path, True),
        "memory": _Key("memory_dir", _to_path, True),
        "log": _Key("log_file", _to_path, True),
        "metrics": _Key("metrics_file", _to_path, True),
        "checkpoints": _Key("checkpoints_dir", _to_path, True),
        "plan": _Key("plan_file", _to_path, True),
        "memory_md": _Key("memory_file", _to_path, True),
        "council_history": _Key("council_history", _to_path, True),
        "claude_config_dir": _Key("claude_config_dir", _to_paths, True),
        "stale_after": _Key("stale_after", _to_duration),
        "lock_stale_after": _Key("lock_stale_after", _to_duration),
        "idle_after": _Key("idle_after", _to_duration),
        "daily_budget_usd": _Key("daily_budget_usd", _to_money),
        "agent_budget_usd": _Key("agent_budget_usd", _to_money),
        "theme": _Key("theme", _to_text),
        "read_only": _Key("read_only", _to_bool),
        "notify": _Key("notify", _to_bool),
        "bell": _Key("bell", _to_bool),
        "agent_command": _Key("agent_command", _to_command),
        "max_file_bytes": _Key("max_file_bytes", _to_size),
    }
)
"""Config keys (as written in factory.toml, flags and ``FACTORY_TUI_<KEY>``) → Config field."""

_FLAG_ONLY = {"config"}

_DEFAULTS: dict[str, object] = {
    "stale_after": timedelta(hours=2),
    "lock_stale_after": timedelta(seconds=30),
    "idle_after": timedelta(minutes=15),
    "daily_budget_usd": None,
    "agent_budget_usd": None,
    "theme": None,
    "read_only": False,
    "notify": True,
    "bell": True,
    "agent_command": ("claude",),
    "max_file_bytes": 64 << 20,
}


# --------------------------------------------------------------------------------------------
# Layers


@dataclass
class _Layer:
    """One source of settings: converted known values, raw extra keys, where each came from."""

    values: dict[str, object] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    extra_source: str = ""


def _convert(key: str, raw: object, *, text: bool, base: Path, env: Mapping[str, str]) -> object:
    return KNOWN_KEYS[key].convert(raw, text, base, env)


def _flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _flags_layer(flags: Mapping[str, str | None], cwd: Path, env: Mapping[str, str]) -> _Layer:
    layer = _Layer()
    for key, raw in flags.items():
        if raw is None or key in _FLAG_ONLY:
            continue
        if key not in KNOWN_KEYS:
            raise ValueError(f"load_config: unknown flag key {key!r}; known: {sorted(KNOWN_KEYS)}")
        where = f"flag {_flag_name(key)}"
        try:
            layer.values[key] = _convert(key, raw, text=True, base=cwd, env=env)
        except _Bad as bad:
            raise ConfigError(
                f"{where}: expected {bad}, got {raw!r}; fix the command line", key=key
            ) from None
        layer.sources[key] = where
    return layer


def _env_layer(env: Mapping[str, str], cwd: Path) -> _Layer:
    layer = _Layer()
    for key in KNOWN_KEYS:
        name = ENV_PREFIX + key.upper()
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            layer.values[key] = _convert(key, raw, text=True, base=cwd, env=env)
        except _Bad as bad:
            raise ConfigError(
                f"environment variable {name}: key {key} expected {bad}, got {raw!r}; "
                f"fix or unset {name}",
                key=key,
            ) from None
        layer.sources[key] = f"env {name}"
    return layer


def _read_toml(path: Path, what: str) -> dict[str, object]:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: {what} is a directory, not a TOML file; give a file", file=path
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read {what} ({exc.strerror or exc}); check its permissions", file=path
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line: int | None = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: {what} is not UTF-8 text; save it as UTF-8", file=path, line=line
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = None
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            line = int(match.group(1))
            message = message[: match.start()].rstrip() + f" (column {match.group(2)})"
        elif "(at end of document)" in message:
            line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
            message = message.replace("(at end of document)", "(at end of file)")
        location = f"{path}:{line}" if line is not None else str(path)
        raise ConfigError(
            f"{location}: {what} is not valid TOML: {message}; fix the syntax there",
            file=path,
            line=line,
        ) from None


def _key_line(text: str, key: str, table: str | None) -> int | None:
    """Best-effort line of ``key = ...`` (after ``[table]`` when given) in a TOML text.

    tomllib reports no positions for values, only for syntax errors.
    """
    start = 0
    if table is not None:
        header = re.search(rf"^\s*\[\s*{re.escape(table)}\s*\]", text, re.MULTILINE)
        if header is None:
            return None
        start = header.end()
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=", re.MULTILINE)
    match = pattern.search(text, start)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _table_layer(
    table: Mapping[str, object],
    *,
    path: Path,
    source: str,
    prefix: str,
    env: Mapping[str, str],
    header: str | None = None,
) -> _Layer:
    """Convert one config table; ``prefix`` is how a key is written in the file (for errors),
    ``header`` the TOML table it sits under (``None``: top level)."""
    layer = _Layer(extra_source=source)
    base = path.parent
    for key, raw in table.items():
        if key not in KNOWN_KEYS:
            layer.extra[key] = raw
            continue
        try:
            layer.values[key] = _convert(key, raw, text=False, base=base, env=env)
        except _Bad as bad:
            try:
                line = _key_line(path.read_text(encoding="utf-8"), key, header)
            except (OSError, UnicodeDecodeError):
                line = None
            location = f"{path}:{line}" if line is not None else str(path)
            raise ConfigError(
                f"{location}: key {prefix}{key} expected {bad}, got {_show(raw)}; fix it there",
                file=path,
                line=line,
                key=key,
            ) from None
        layer.sources[key] = source
    return layer


def _show(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _project_file_layer(path: Path, source: str, env: Mapping[str, str]) -> _Layer:
    if path.name == "pyproject.toml":
        return _pyproject_layer(path, env)
    return _table_layer(
        _read_toml(path, "config file"), path=path, source=source, prefix="", env=env
    )


def _pyproject_layer(path: Path, env: Mapping[str, str]) -> _Layer:
    data = _read_toml(path, "pyproject.toml")
    tool = data.get("tool")
    table = tool.get("factory-tui") if isinstance(tool, dict) else None
    if table is None:
        return _Layer()
    if not isinstance(table, dict):
        raise ConfigError(
            f"{path}: tool.factory-tui must be a table ([tool.factory-tui]), got {_show(table)}; "
            "fix it there",
            file=path,
            key="tool.factory-tui",
        )
    return _table_layer(
        table,
        path=path,
        source=f"{path} [tool.factory-tui]",
        prefix="tool.factory-tui.",
        env=env,
        header="tool.factory-tui",
    )


def _merge_extra(into: dict[str, object], more: Mapping[str, object]) -> None:
    """Deep-merge TOML tables: ``more`` (more specific) wins key by key."""
    for key, value in more.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            _merge_extra(merged, value)
            into[key] = merged
        else:
            into[key] = value


# --------------------------------------------------------------------------------------------
# load_config


def load_config(
    root: Path | None = None,
    *,
    flags: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> Config:
    """Resolve every location and tunable for ROOT (default: ``find_root(None)``).

    ``flags`` keys are config keys (``claims``, ``memory``, ``log``, ``checkpoints``, ``theme``,
    ``read_only``, ...; see ``KNOWN_KEYS``) plus ``config`` (a config file replacing the
    ``factory.toml`` lookup); ``None`` values are ignored and an unknown key is a ``ValueError``
    (a programming error). ``env`` defaults to ``os.environ``. ``user_config`` defaults to
    ``user_config_path(env)``. Raises ``ConfigError`` for anything the user must fix.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    given_flags: Mapping[str, str | None] = flags or {}
    try:
        cwd = Path.cwd()
    except FileNotFoundError:
        raise ConfigError(
            "the current directory no longer exists; cd to an existing folder"
        ) from None

    sources: dict[str, str] = {}
    if root is None:
        resolved_root = find_root(None)
        sources["root"] = (
            "discovered: git top level of the current directory"
            if (resolved_root / ".git").exists()
            else "current directory"
        )
    else:
        resolved_root = _expand(str(root), cwd, environ).resolve()
        sources["root"] = "given ROOT"
    if not resolved_root.exists():
        raise ConfigError(f"ROOT {resolved_root} does not exist; give an existing folder")
    if not resolved_root.is_dir():
        raise ConfigError(f"ROOT {resolved_root} is not a directory; give the repository's folder")

    # Most specific first.
    layers: list[_Layer] = [_flags_layer(given_flags, cwd, environ), _env_layer(environ, cwd)]
    config_files: dict[str, Path] = {}

    explicit_config = given_flags.get("config")
    explicit_where = "flag --config"
    if explicit_config is None and (environ.get(ENV_PREFIX + "CONFIG") or "").strip():
        explicit_config = environ[ENV_PREFIX + "CONFIG"]
        explicit_where = f"env {ENV_PREFIX}CONFIG"
    project_file: Path | None
    if explicit_config is not None:
        project_file = _expand(explicit_config, cwd, environ)
        config_files[f"config file ({explicit_where})"] = project_file
        if not project_file.exists():
            raise ConfigError(
                f"config file {project_file} (from {explicit_where}) does not exist; "
                "fix the path or create the file",
                file=project_file,
            )
        layers.append(_project_file_layer(project_file, str(project_file), environ))
    else:
        project_file = resolved_root / "factory.toml"
        config_files["factory.toml"] = project_file
        if project_file.exists():
            layers.append(_project_file_layer(project_file, str(project_file), environ))

    pyproject = resolved_root / "pyproject.toml"
    config_files["pyproject.toml [tool.factory-tui]"] = pyproject
    if pyproject.exists() and pyproject != project_file:
        layers.append(_pyproject_layer(pyproject, environ))

    user_file = user_config if user_config is not None else user_config_path(environ)
    if user_file is not None:
        user_file = _expand(str(user_file), cwd, environ)
        config_files["user config"] = user_file
        if user_file.exists():
            layers.append(
                _table_layer(
                    _read_toml(user_file, "user config file"),
                    path=user_file,
                    source=f"user config {user_file}",
                    prefix="",
                    env=environ,
                )
            )

    def pick(key: str) -> tuple[object, str] | None:
        for layer in layers:
            if key in layer.values:
                return layer.values[key], layer.sources[key]
        return None

    values: dict[str, object] = {}

    def settle(key: str, default: Callable[[], tuple[object, str]]) -> None:
        found = pick(key)
        value, source = found if found is not None else default()
        values[KNOWN_KEYS[key].field] = value
        sources[KNOWN_KEYS[key].field] = source

    def fixed(value: object, source: str) -> Callable[[], tuple[object, str]]:
        return lambda: (value, source)

    for key, default_value in _DEFAULTS.items():
        settle(key, fixed(default_value, "default"))

    def claude_dir_default() -> tuple[object, str]:
        raw = environ.get("CLAUDE_CONFIG_DIR", "").strip()
        if raw:
            return (str(_expand(raw, cwd, environ)),), "env CLAUDE_CONFIG_DIR"
        return (str(_expand("~/.claude", cwd, environ)),), "default"

    settle("claude_config_dir", claude_dir_default)
    claude_patterns = tuple(str(p) for p in _as_tuple(values["claude_config_dir"]))
    claude_dirs = expand_claude_dirs(claude_patterns)
    claude_dir = claude_dirs[0] if claude_dirs else Path(claude_patterns[0])
    sources["claude_config_dirs"] = sources["claude_config_patterns"] = sources["claude_config_dir"]
    main = main_worktree(resolved_root)

    def claims_default() -> tuple[object, str]:
        own = resolved_root / ".claude" / "claims"
        if main is None or own.exists():
            return own, "default"
        return main / ".claude" / "claims", "discovered: main worktree's claims folder"

    settle("claims", claims_default)
    settle("memory", lambda: _discover_memory_dir(claude_dir, resolved_root, main))
    memory_dir = _as_path(values["memory_dir"])
    memory_source = sources["memory_dir"]
    under_memory = (
        "under memory_dir"
        if memory_source.startswith("default")
        else f"under memory_dir ({memory_source})"
    )
    settle("log", fixed(memory_dir / "operations.log", under_memory))
    settle("metrics", fixed(memory_dir / "metrics.log", under_memory))
    settle("checkpoints", fixed(memory_dir / "checkpoints", under_memory))
    settle("plan", fixed(resolved_root / "plan.md", "default"))
    settle("memory_md", fixed(resolved_root / "memory.md", "default"))
    settle("council_history", fixed(resolved_root / "council-history.jsonl", "default"))

    extra: dict[str, object] = {}
    extra_sources: dict[str, str] = {}
    for layer in reversed(layers):
        _merge_extra(extra, layer.extra)
        for key in layer.extra:
            extra_sources[f"extra.{key}"] = layer.extra_source
    sources.update(sorted(extra_sources.items()))

    return Config(
        root=resolved_root,
        claims_dir=_as_path(values["claims_dir"]),
        memory_dir=_as_path(values["memory_dir"]),
        log_file=_as_path(values["log_file"]),
        metrics_file=_as_path(values["metrics_file"]),
        checkpoints_dir=_as_path(values["checkpoints_dir"]),
        plan_file=_as_path(values["plan_file"]),
        memory_file=_as_path(values["memory_file"]),
        council_history=_as_path(values["council_history"]),
        claude_config_dir=claude_dir,
        stale_after=_as_timedelta(values["stale_after"]),
        lock_stale_after=_as_timedelta(values["lock_stale_after"]),
        idle_after=_as_timedelta(values["idle_after"]),
        daily_budget_usd=_as_money(values["daily_budget_usd"]),
        agent_budget_usd=_as_money(values["agent_budget_usd"]),
        theme=_as_optional_str(values["theme"]),
        read_only=bool(values["read_only"]),
        notify=bool(values["notify"]),
        bell=bool(values["bell"]),
        agent_command=_as_command(values["agent_command"]),
        max_file_bytes=_as_int(values["max_file_bytes"]),
        extra=MappingProxyType(extra),
        sources=MappingProxyType(sources),
        config_files=MappingProxyType(config_files),
        claude_config_dirs=claude_dirs,
        claude_config_patterns=claude_patterns,
    )


def _as_path(value: object) -> Path:
    assert isinstance(value, Path)
    return value


def _as_tuple(value: object) -> tuple[object, ...]:
    assert isinstance(value, tuple)
    return value


def _as_timedelta(value: object) -> timedelta:
    assert isinstance(value, timedelta)
    return value


def _as_int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _as_money(value: object) -> float | None:
    assert value is None or isinstance(value, float)
    return value


def _as_optional_str(value: object) -> str | None:
    assert value is None or isinstance(value, str)
    return value


def _as_command(value: object) -> tuple[str, ...]:
    assert isinstance(value, tuple)
    return tuple(str(part) for part in value)


def known_env_vars(keys: Iterable[str] = KNOWN_KEYS) -> list[str]:
    """The ``FACTORY_TUI_*`` variables ``load_config`` reads (for help texts and the README)."""
    return [ENV_PREFIX + key.upper() for key in keys] + [
        ENV_PREFIX + "CONFIG",
        ENV_PREFIX + "USER_CONFIG",
    ]


#: How to point the cockpit at another claims folder or log, per input.
_POINT_ELSEWHERE = {
    "claims": 'point elsewhere with --claims DIR or claims = "DIR" in factory.toml',
    "log": 'point elsewhere with --memory DIR (or --log FILE) or memory = "DIR" in factory.toml',
}
_WHAT = {"claims": "claims folder", "log": "operations.log"}


def not_found_sentence(kind: str, path: Path) -> str:
    """``no claims folder at <path>; point elsewhere with …`` for ``kind`` "claims" or "log":
    what was looked for, where, and how to change it."""
    return (
        f"no {_WHAT[kind]} at {path}; {_POINT_ELSEWHERE[kind]} "
        "(`factory-tui doctor` lists every path it resolved)"
    )


def missing_inputs(config: Config) -> list[str]:
    """The factory's two inputs that do not exist (the claims folder, operations.log), each as
    :func:`not_found_sentence`: empty when both are there. A fresh ``git init``, or a mistyped
    path, gives an empty fleet that looks healthy; ``status`` and ``snapshot`` warn of it and
    ``snapshot --fail-on missing`` fails on it."""
    found: list[str] = []
    if not config.claims_dir.is_dir():
        found.append(not_found_sentence("claims", config.claims_dir))
    if not config.log_file.is_file():
        found.append(not_found_sentence("log", config.log_file))
    return found
