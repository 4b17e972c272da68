"""Themes as files: the three shipped in ``themes/`` and any the user drops in their config dir.

A theme file is TOML with Textual's theme fields at the top level (``name``, ``primary``, ...,
``dark``) and a ``[variables]`` table holding the cockpit's semantic colours (``claim-stale``,
``agent-dead``, ``log-error``, ...; see :data:`THEME_VARIABLE_DEFAULTS`) and, optionally,
Textual's own variables (``footer-key-foreground``, ...). ``themes/factory-dark.toml`` is the
commented example.

A user's broken theme file never stops the cockpit: :func:`load_themes` skips what it cannot use
and says what was wrong, in which file and under which key. Textual's ``BUILTIN_THEMES`` is never
touched: the app registers these themes with ``App.register_theme``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
from textual.color import Color, ColorParseError
from textual.theme import Theme

from factory_tui.config.regular_files import read_regular

__all__ = [
    "DEFAULT_THEME",
    "MONO_THEME",
    "THEME_VARIABLE_DEFAULTS",
    "builtin_theme_dir",
    "load_theme_file",
    "load_themes",
    "pick_theme",
    "user_theme_dir",
]

DEFAULT_THEME = "factory-dark"
MONO_THEME = "factory-mono"

THEME_VARIABLE_DEFAULTS: dict[str, str] = {
    "claim-stale": "#E07B24",
    "claim-available": "#3FA34D",
    "claim-blocked": "#8A8F98",
    "claim-claimed": "#3D85C6",
    "claim-done": "#8A8F98",
    "agent-working": "#3FA34D",
    "agent-idle": "#6A8CB5",
    "agent-stale": "#E07B24",
    "agent-crashed": "#D64541",
    "agent-dead": "#B0417F",
    "agent-ended": "#8A8F98",
    "log-error": "#D64541",
    "log-claim": "#9A6AB5",
    "log-step": "#2E9E9E",
    "log-session": "#3D85C6",
}
"""The cockpit's semantic colour variables with mid-tone fallbacks, readable on dark and light
backgrounds alike: return them from ``App.get_theme_variable_defaults()`` so that any theme (a
Textual built-in one too) defines every ``$claim-*``, ``$agent-*`` and ``$log-*`` the TCSS uses."""

_COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
_FLOAT_KEYS = ("luminosity_spread", "text_alpha")
_KNOWN_KEYS = frozenset((*_COLOUR_KEYS, *_FLOAT_KEYS, "name", "dark", "variables"))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_PERCENT = re.compile(r"\d+(\.\d+)?%\Z")
THEME_BYTES = 1 << 20
"""A theme file bigger than this is not one (skipped, as an unreadable file is)."""


def builtin_theme_dir() -> Path:
    """Where the shipped theme files are: the installed package's ``factory_tui/themes`` when
    it has one (a wheel), else the repository's top-level ``themes/``. (The package's folder
    from ``__file__``: ``importlib.resources`` would say the same and costs the cockpit's first
    frame 2 ms to import.)"""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "themes"
    if packaged.is_dir():
        return packaged
    return package.parent / "themes"


def user_theme_dir() -> Path:
    """Where a user drops their own ``*.toml`` themes (platformdirs' config dir)."""
    return platformdirs.user_config_path("factory-tui") / "themes"


def load_themes(user_dir: Path | None = None) -> tuple[dict[str, Theme], list[str]]:
    """The shipped themes, then the user's (``user_dir``, default :func:`user_theme_dir`),
    by name, and a warning for each file or key that could not be used.

    A user theme with the name of a shipped one replaces it. Never raises for a bad file."""
    themes: dict[str, Theme] = {}
    warnings: list[str] = []
    shipped = builtin_theme_dir()
    for folder in (shipped, user_theme_dir() if user_dir is None else user_dir):
        if not folder.is_dir():
            continue
        try:
            files = sorted(folder.glob("*.toml"))
        except OSError as exc:
            warnings.append(f"theme folder {folder}: cannot list it ({exc.strerror or exc})")
            continue
        for path in files:
            theme, problems = load_theme_file(path, check_colours=folder != shipped)
            warnings.extend(problems)
            if theme is not None:
                themes[theme.name] = theme
    return themes, warnings


def load_theme_file(path: Path, *, check_colours: bool = True) -> tuple[Theme | None, list[str]]:
    """One theme file as a Textual theme (None when it cannot be used) and what was wrong.

    Unknown keys and bad optional values are dropped with a warning; the theme is skipped when
    the file is not TOML or ``primary`` is missing or not a colour, or (``check_colours``) when
    Textual cannot build its colours. The shipped themes are not checked so at every start
    (half of reading them, 1.5 ms of the first frame, issue 17): their tests build each one.
    """
    try:
        data = tomllib.loads(read_regular(path, THEME_BYTES).decode("utf-8"))
    except OSError as exc:  # a FIFO there too: never waited on
        return None, [f"theme {path}: cannot read it ({exc.strerror or exc}); skipped"]
    except UnicodeDecodeError as exc:
        return None, [f"theme {path}: not UTF-8 text (byte {exc.start}); skipped"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"theme {path}: not valid TOML: {exc}; skipped"]
    warnings: list[str] = []

    def warn(key: str, message: str) -> None:
        warnings.append(f"theme {path}: key {key!r}: {message}")

    for key in sorted(set(data) - _KNOWN_KEYS):
        warn(key, "unknown key, ignored (expected one of " + ", ".join(sorted(_KNOWN_KEYS)) + ")")

    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        warn("name", f"{name!r} is not a theme name (letters, digits, '-', '_', '.'); skipped")
        return None, warnings

    fields: dict[str, Any] = {}
    for key in _COLOUR_KEYS:
        if key not in data:
            continue
        value = data[key]
        if _is_colour(value):
            fields[key] = value
        elif key == "primary":
            warn(key, f'{value!r} is not a colour (e.g. "#5B9BD5" or "blue"); skipped')
            return None, warnings
        else:
            warn(key, f'{value!r} is not a colour (e.g. "#5B9BD5"); ignored')
    if "primary" not in fields:
        warn("primary", "missing: every theme needs a primary colour; skipped")
        return None, warnings
    dark = data.get("dark", True)
    if isinstance(dark, bool):
        fields["dark"] = dark
    else:
        warn("dark", f"{dark!r} is not true or false; using true")
    for key in _FLOAT_KEYS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            fields[key] = float(value)
        else:
            warn(key, f"{value!r} is not a number from 0 to 1; ignored")
    fields["variables"] = _variables(data.get("variables", {}), warn)

    theme = Theme(name=name, **fields)
    if not check_colours:
        return theme, warnings
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # Textual's colour maths rejected a combination
        warn("variables", f"Textual cannot build colours from this theme ({exc}); skipped")
        return None, warnings
    return theme, warnings


def _variables(raw: object, warn: Callable[[str, str], None]) -> dict[str, str]:
    if not isinstance(raw, dict):
        warn("variables", 'must be a table of "name" = "value"; ignored')
        return {}
    variables: dict[str, str] = {}
    for key, value in raw.items():
        where = f"variables.{key}"
        if not isinstance(value, str):
            warn(where, f"{value!r} is not a string; ignored")
        elif key in THEME_VARIABLE_DEFAULTS and not _is_colour(value):
            warn(where, f'{value!r} is not a colour (e.g. "#E07B24" or "#E07B24 50%"); ignored')
        else:
            variables[key] = value
    return variables


def _is_colour(value: object) -> bool:
    """A colour as TCSS takes it: a colour, optionally followed by an alpha percentage."""
    if not isinstance(value, str) or not value.strip():
        return False
    colour, _, alpha = value.strip().partition(" ")
    if alpha and not _PERCENT.match(alpha.strip()):
        return False
    try:
        Color.parse(colour)
    except ColorParseError:
        return False
    return True


def pick_theme(
    requested: str | None, available: Iterable[str], env: Mapping[str, str]
) -> tuple[str, str | None]:
    """The theme to start with, and a polite message when the requested one does not exist.

    Nothing requested: ``factory-mono`` when ``NO_COLOR`` is set (and not empty, as
    no-color.org says), else ``factory-dark``. An unknown name falls back the same way. Pass the
    environment as it was before Textual starts (``App()`` reads ``NO_COLOR`` itself).
    """
    names = list(available)
    if env.get("NO_COLOR") and MONO_THEME in names:
        fallback = MONO_THEME
    elif DEFAULT_THEME in names:
        fallback = DEFAULT_THEME
    else:
        fallback = names[0] if names else "textual-dark"
    wanted = (requested or "").strip()
    if not wanted:
        return fallback, None
    if wanted in names:
        return wanted, None
    choices = ", ".join(sorted(names)) or "none"
    return fallback, f"There is no theme named {wanted!r}; using {fallback!r}. Themes: {choices}."
