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

This ``__init__`` is a facade, the one the package keeps on purpose: the rest of factory-tui
imports ``Config``, ``load_config`` and friends from ``factory_tui.config`` (the layer the
import-linter contract names), not from the rooms below. The rooms:

- ``model``: ``Config``, ``ConfigError`` and the "input missing" sentences;
- ``durations``: ``parse_duration`` / ``format_duration``;
- ``locations``: git's layout, Claude Code's project and memory folders, the user config file;
- ``keys``: the known keys, their converters and defaults;
- ``layers``: one layer of settings per source (flags, environment, config files);
- ``load``: ``load_config``, settling the layers into one ``Config``.
"""

from factory_tui.config.durations import format_duration, parse_duration
from factory_tui.config.keys import KNOWN_KEYS
from factory_tui.config.load import known_env_vars, load_config
from factory_tui.config.locations import (
    CLAUDE_PROJECT_NAME_MAX,
    encode_project_path,
    find_root,
    main_worktree,
    project_dir_candidates,
    user_config_path,
)
from factory_tui.config.model import (
    ENV_PREFIX,
    Config,
    ConfigError,
    missing_inputs,
    not_found_sentence,
)

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
