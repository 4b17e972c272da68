"""One layer of settings per source (flags, environment, a config file, pyproject.toml's
``[tool.factory-tui]``): converted known values, raw extra keys, and where each came from.
A value of the wrong form is a ``ConfigError`` that names the file and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from factory_tui.config.keys import FLAG_ONLY, KNOWN_KEYS, BadValue
from factory_tui.config.model import ENV_PREFIX, ConfigError
from factory_tui.config.regular_files import NotRegularFile, read_regular


@dataclass
class Layer:
    """One source of settings: converted known values, raw extra keys, where each came from."""

    values: dict[str, object] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    extra_source: str = ""


def _convert(key: str, raw: object, *, text: bool, base: Path, env: Mapping[str, str]) -> object:
    return KNOWN_KEYS[key].convert(raw, text, base, env)


def _flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def flags_layer(flags: Mapping[str, str | None], cwd: Path, env: Mapping[str, str]) -> Layer:
    layer = Layer()
    for key, raw in flags.items():
        if raw is None or key in FLAG_ONLY:
            continue
        if key not in KNOWN_KEYS:
            raise ValueError(f"load_config: unknown flag key {key!r}; known: {sorted(KNOWN_KEYS)}")
        where = f"flag {_flag_name(key)}"
        try:
            layer.values[key] = _convert(key, raw, text=True, base=cwd, env=env)
        except BadValue as bad:
            raise ConfigError(
                f"{where}: expected {bad}, got {raw!r}; fix the command line", key=key
            ) from None
        layer.sources[key] = where
    return layer


def env_layer(env: Mapping[str, str], cwd: Path) -> Layer:
    layer = Layer()
    for key in KNOWN_KEYS:
        name = ENV_PREFIX + key.upper()
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            layer.values[key] = _convert(key, raw, text=True, base=cwd, env=env)
        except BadValue as bad:
            raise ConfigError(
                f"environment variable {name}: key {key} expected {bad}, got {raw!r}; "
                f"fix or unset {name}",
                key=key,
            ) from None
        layer.sources[key] = f"env {name}"
    return layer


CONFIG_BYTES = 16 << 20
"""A settings file bigger than this is not one (said so, as an unreadable file is)."""


def read_toml(path: Path, what: str) -> dict[str, object]:
    try:
        data = read_regular(path, CONFIG_BYTES)
    except NotRegularFile:
        found = (
            "is a directory, not a TOML file; give a file"
            if path.is_dir()
            else "is not a regular file (a FIFO or a device?); give a TOML file"
        )
        raise ConfigError(f"{path}: {what} {found}", file=path) from None
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


def table_layer(
    table: Mapping[str, object],
    *,
    path: Path,
    source: str,
    prefix: str,
    env: Mapping[str, str],
    header: str | None = None,
) -> Layer:
    """Convert one config table; ``prefix`` is how a key is written in the file (for errors),
    ``header`` the TOML table it sits under (``None``: top level)."""
    layer = Layer(extra_source=source)
    base = path.parent
    for key, raw in table.items():
        if key not in KNOWN_KEYS:
            layer.extra[key] = raw
            continue
        try:
            layer.values[key] = _convert(key, raw, text=False, base=base, env=env)
        except BadValue as bad:
            try:
                text = read_regular(path, CONFIG_BYTES).decode("utf-8")
                line = _key_line(text, key, header)
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


def project_file_layer(path: Path, source: str, env: Mapping[str, str]) -> Layer:
    if path.name == "pyproject.toml":
        return pyproject_layer(path, env)
    return table_layer(read_toml(path, "config file"), path=path, source=source, prefix="", env=env)


def pyproject_layer(path: Path, env: Mapping[str, str]) -> Layer:
    data = read_toml(path, "pyproject.toml")
    tool = data.get("tool")
    table = tool.get("factory-tui") if isinstance(tool, dict) else None
    if table is None:
        return Layer()
    if not isinstance(table, dict):
        raise ConfigError(
            f"{path}: tool.factory-tui must be a table ([tool.factory-tui]), got {_show(table)}; "
            "fix it there",
            file=path,
            key="tool.factory-tui",
        )
    return table_layer(
        table,
        path=path,
        source=f"{path} [tool.factory-tui]",
        prefix="tool.factory-tui.",
        env=env,
        header="tool.factory-tui",
    )


def merge_extra(into: dict[str, object], more: Mapping[str, object]) -> None:
    """Deep-merge TOML tables: ``more`` (more specific) wins key by key."""
    for key, value in more.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            merge_extra(merged, value)
            into[key] = merged
        else:
            into[key] = value
