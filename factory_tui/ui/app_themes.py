"""The cockpit app's themes: the shipped ones and the user's registered, the one it starts with,
the ``t`` key's cycle, and the CSS refreshed for a theme only once something is styled.

:class:`ThemedApp` is :class:`~factory_tui.ui.app.FactoryApp`'s base; the theme files are read
by :mod:`factory_tui.ui.themes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from textual.app import App
from textual.theme import Theme

from factory_tui.ui.themes import THEME_VARIABLE_DEFAULTS, load_themes, pick_theme

__all__ = ["ThemedApp"]


class ThemedApp(App[None]):
    """An app with the cockpit's themes (see :meth:`set_up_themes`)."""

    factory_themes: dict[str, Theme]
    """The shipped and the user's themes, by name."""

    def set_up_themes(
        self, theme: str | None, theme_dir: Path | None, environ: Mapping[str, str]
    ) -> list[str]:
        """Register the shipped themes and the user's (from ``theme_dir``, default the user
        config dir's ``themes/``) and start with ``theme`` (see :func:`pick_theme`); returns
        what was wrong with the theme files or the name."""
        self.factory_themes, warnings = load_themes(theme_dir)
        for item in self.factory_themes.values():
            self.register_theme(item)
        name, warning = pick_theme(theme, self.factory_themes, environ)
        if warning:
            warnings.append(warning)
        self.theme = name
        return warnings

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def refresh_css(self, animate: bool = True) -> None:
        """Before the first screen nothing is styled: the theme set at start only sets the CSS
        variables. (Textual re-parsed the app's CSS for it, then parsed it all again for the first
        screen: 4 ms of the first frame, issue 17.)"""
        if self.screen_stack:
            super().refresh_css(animate)
        else:
            self.stylesheet.set_variables(self.get_css_variables())

    def theme_names(self) -> list[str]:
        return sorted(self.factory_themes) or [self.theme]

    def action_cycle_theme(self) -> None:
        names = self.theme_names()
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"Theme {self.theme}", markup=False, timeout=2)

    def action_set_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name
