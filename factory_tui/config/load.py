"""``load_config``: the layers, most specific first, settled key by key into one ``Config``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from factory_tui.config.hegemon import hegemon_settings
from factory_tui.config.keys import DEFAULTS, KNOWN_KEYS
from factory_tui.config.layers import (
    Layer,
    env_layer,
    flags_layer,
    merge_extra,
    project_file_layer,
    pyproject_layer,
    read_toml,
    table_layer,
)
from factory_tui.config.locations import (
    discover_memory_dir,
    expand_claude_dirs,
    expand_path,
    find_root,
    main_worktree,
    user_config_path,
)
from factory_tui.config.model import ENV_PREFIX, Config, ConfigError, shown_path


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
        resolved_root = expand_path(str(root), cwd, environ).resolve()
        sources["root"] = "given ROOT"
    if not resolved_root.exists():
        raise ConfigError(
            f"ROOT {shown_path(resolved_root)} does not exist; give an existing folder"
        )
    if not resolved_root.is_dir():
        raise ConfigError(
            f"ROOT {shown_path(resolved_root)} is not a directory; give the repository's folder"
        )

    # Most specific first.
    layers: list[Layer] = [flags_layer(given_flags, cwd, environ), env_layer(environ, cwd)]
    config_files: dict[str, Path] = {}

    explicit_config = given_flags.get("config")
    explicit_where = "flag --config"
    if explicit_config is None and (environ.get(ENV_PREFIX + "CONFIG") or "").strip():
        explicit_config = environ[ENV_PREFIX + "CONFIG"]
        explicit_where = f"env {ENV_PREFIX}CONFIG"
    project_file: Path | None
    if explicit_config is not None:
        project_file = expand_path(explicit_config, cwd, environ)
        config_files[f"config file ({explicit_where})"] = project_file
        if not project_file.exists():
            raise ConfigError(
                f"config file {project_file} (from {explicit_where}) does not exist; "
                "fix the path or create the file",
                file=project_file,
            )
        layers.append(project_file_layer(project_file, str(project_file), environ))
    else:
        project_file = resolved_root / "factory.toml"
        config_files["factory.toml"] = project_file
        if project_file.exists():
            layers.append(project_file_layer(project_file, str(project_file), environ))

    pyproject = resolved_root / "pyproject.toml"
    config_files["pyproject.toml [tool.factory-tui]"] = pyproject
    if pyproject.exists() and pyproject != project_file:
        layers.append(pyproject_layer(pyproject, environ))

    user_file = user_config if user_config is not None else user_config_path(environ)
    if user_file is not None:
        user_file = expand_path(str(user_file), cwd, environ)
        config_files["user config"] = user_file
        if user_file.exists():
            layers.append(
                table_layer(
                    read_toml(user_file, "user config file"),
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

    for key, default_value in DEFAULTS.items():
        settle(key, fixed(default_value, "default"))

    def claude_dir_default() -> tuple[object, str]:
        raw = environ.get("CLAUDE_CONFIG_DIR", "")
        if raw.strip():  # as written, as every configured path (blank: unset)
            return (str(expand_path(raw, cwd, environ)),), "env CLAUDE_CONFIG_DIR"
        return (str(expand_path("~/.claude", cwd, environ)),), "default"

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
    settle("memory", lambda: discover_memory_dir(claude_dir, resolved_root, main))
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
        merge_extra(extra, layer.extra)
        for key in layer.extra:
            extra_sources[f"extra.{key}"] = layer.extra_source
    sources.update(sorted(extra_sources.items()))
    hegemon = hegemon_settings(extra, sources, root=resolved_root, env=environ)
    sources["hegemon"] = hegemon.db_source

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
        launch_prompt=str(values["launch_prompt"]),
        launch_worktree=str(values["launch_worktree"]),
        launch_branch=str(values["launch_branch"]),
        launch_claim_within=_as_timedelta(values["launch_claim_within"]),
        hegemon=hegemon,
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
