"""Theme files: the shipped three, NO_COLOR, fallbacks, and users' (possibly broken) themes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.design import ColorSystem
from textual.theme import BUILTIN_THEMES, Theme
from textual.widgets import Static

from factory_tui.ui import themes as theme_module
from factory_tui.ui.themes import (
    DEFAULT_THEME,
    MONO_THEME,
    THEME_VARIABLE_DEFAULTS,
    builtin_theme_dir,
    load_theme_file,
    load_themes,
    pick_theme,
    user_theme_dir,
)

SHIPPED = ("factory-dark", "factory-light", "factory-mono")
NO_USER_DIR = Path("/nonexistent/factory-tui-themes")


class ThemedApp(App[None]):
    CSS = """
    #stale { color: $claim-stale; }
    #dead { color: $agent-dead; background: $log-error 10%; }
    """

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield Static("stale", id="stale")
        yield Static("dead", id="dead")


def test_the_shipped_themes_load_cleanly() -> None:
    themes, warnings = load_themes(user_dir=NO_USER_DIR)
    assert warnings == []
    assert set(SHIPPED) <= set(themes)
    assert {p.stem for p in builtin_theme_dir().glob("*.toml")} >= set(SHIPPED)
    assert themes["factory-dark"].dark and themes["factory-mono"].dark
    assert not themes["factory-light"].dark
    for name in SHIPPED:
        theme = themes[name]
        assert set(THEME_VARIABLE_DEFAULTS) <= set(theme.variables), name
        for field in ("primary", "secondary", "accent", "foreground", "background", "surface"):
            assert getattr(theme, field), (name, field)
        for field in ("panel", "success", "warning", "error"):
            assert getattr(theme, field), (name, field)


def test_only_the_users_themes_are_built_when_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped themes are checked here (see the next tests), not at every start."""
    built: list[str] = []
    to_color_system = Theme.to_color_system

    def counting(theme: Theme) -> ColorSystem:
        built.append(theme.name)
        return to_color_system(theme)

    monkeypatch.setattr(Theme, "to_color_system", counting)
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#5B9BD5"\n')
    themes, warnings = load_themes(user_dir=tmp_path)
    assert warnings == [] and set(SHIPPED) | {"mine"} <= set(themes)
    assert built == ["mine"]


def _grey(value: str) -> bool:
    colour = Color.parse(value.split()[0])
    return max(colour.r, colour.g, colour.b) - min(colour.r, colour.g, colour.b) <= 2


def test_the_mono_theme_is_black_white_and_grey_only() -> None:
    themes, _ = load_themes(user_dir=NO_USER_DIR)
    mono = themes[MONO_THEME]
    declared = [getattr(mono, f) for f in ("primary", "secondary", "accent", "foreground")]
    declared += [getattr(mono, f) for f in ("background", "surface", "panel", "success")]
    declared += [mono.warning, mono.error, *mono.variables.values()]
    assert all(value is not None and _grey(value) for value in declared)
    generated = mono.to_color_system().generate()
    colours = {}
    for key, value in generated.items():
        try:
            colours[key] = Color.parse(value.split()[0])
        except Exception:
            continue  # "auto 87%", "ansi_default", text styles...
    assert colours
    assert all(_grey(c.hex) for c in colours.values()), {
        k: c.hex for k, c in colours.items() if not _grey(c.hex)
    }


async def test_every_theme_registers_and_defines_the_semantic_variables() -> None:
    themes, _ = load_themes(user_dir=NO_USER_DIR)
    app = ThemedApp()
    async with app.run_test(size=(40, 5)) as pilot:
        for theme in themes.values():
            app.register_theme(theme)
        for name in SHIPPED:
            app.theme = name
            await pilot.pause()
            variables = app.get_css_variables()
            assert variables["claim-stale"] == themes[name].variables["claim-stale"]
            colour = app.query_one("#stale").styles.color
            assert colour == Color.parse(themes[name].variables["claim-stale"])
        app.theme = "nord"  # a Textual theme without our variables falls back to the defaults
        await pilot.pause()
        assert app.get_css_variables()["agent-dead"] == THEME_VARIABLE_DEFAULTS["agent-dead"]


async def test_builtin_textual_themes_are_never_touched() -> None:
    before = copy.deepcopy(BUILTIN_THEMES)
    themes, _ = load_themes(user_dir=NO_USER_DIR)
    app = ThemedApp()
    async with app.run_test(size=(40, 5)):
        for theme in themes.values():
            app.register_theme(theme)
        app.theme = MONO_THEME
    assert not set(SHIPPED) & set(BUILTIN_THEMES)
    assert before == BUILTIN_THEMES


@pytest.mark.parametrize(
    ("requested", "env", "expected", "warns"),
    [
        (None, {}, DEFAULT_THEME, False),
        (None, {"NO_COLOR": "1"}, MONO_THEME, False),
        ("", {"NO_COLOR": "yes"}, MONO_THEME, False),
        (None, {"NO_COLOR": ""}, DEFAULT_THEME, False),  # no-color.org: empty means unset
        ("factory-light", {"NO_COLOR": "1"}, "factory-light", False),  # asked for wins
        ("solarized-ish", {}, DEFAULT_THEME, True),
        ("solarized-ish", {"NO_COLOR": "1"}, MONO_THEME, True),
    ],
)
def test_pick_theme(requested: str | None, env: dict[str, str], expected: str, warns: bool) -> None:
    name, warning = pick_theme(requested, [*SHIPPED, "nord"], env)
    assert name == expected
    if warns:
        assert warning is not None
        assert "'solarized-ish'" in warning and expected in warning and "nord" in warning
    else:
        assert warning is None


def test_pick_theme_without_our_themes_still_answers() -> None:
    assert pick_theme(None, ["nord"], {}) == ("nord", None)
    assert pick_theme(None, [], {}) == ("textual-dark", None)


def test_a_user_theme_is_found_and_can_replace_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "sunset.toml").write_text(
        'name = "sunset"\nprimary = "#FF7F50"\ndark = false\n'
        '[variables]\n"claim-stale" = "#AA0000"\n"footer-key-foreground" = "#123456"\n'
    )
    (tmp_path / "override.toml").write_text('name = "factory-dark"\nprimary = "#00FF00"\n')
    (tmp_path / "notes.txt").write_text("not a theme")
    themes, warnings = load_themes(user_dir=tmp_path)
    assert warnings == []
    assert themes["sunset"].primary == "#FF7F50"
    assert not themes["sunset"].dark
    assert themes["sunset"].variables["claim-stale"] == "#AA0000"
    assert themes["factory-dark"].primary == "#00FF00"
    assert set(SHIPPED) <= set(themes)


def test_a_theme_without_a_name_is_named_after_its_file(tmp_path: Path) -> None:
    (tmp_path / "plain.toml").write_text('primary = "blue"\n')
    theme, warnings = load_theme_file(tmp_path / "plain.toml")
    assert theme is not None and theme.name == "plain"
    assert warnings == []


@pytest.mark.parametrize(
    ("content", "key", "loads"),
    [
        ('name = "x"\nprimary = "#12345"\n', "primary", False),
        ('name = "x"\n', "primary", False),
        ('name = "x"\nprimary = "#FFFFFF"\nsurface = 12\n', "surface", True),
        ('name = "x"\nprimary = "#FFFFFF"\ndark = "yes"\n', "dark", True),
        ('name = "x"\nprimary = "#FFFFFF"\ntext_alpha = 3\n', "text_alpha", True),
        ('name = "x"\nprimary = "#FFFFFF"\ncolour = "red"\n', "colour", True),
        ('name = "x"\nprimary = "#FFFFFF"\nvariables = 3\n', "variables", True),
        (
            'name = "x"\nprimary = "#FFF"\n[variables]\n"claim-stale" = "reddish"\n',
            "claim-stale",
            True,
        ),
        ('name = "x"\nprimary = "#FFF"\n[variables]\n"agent-dead" = 5\n', "agent-dead", True),
        ('name = "two words"\nprimary = "#FFFFFF"\n', "name", False),
    ],
)
def test_a_bad_theme_value_is_a_warning_naming_file_and_key(
    tmp_path: Path, content: str, key: str, loads: bool
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(content)
    themes, warnings = load_themes(user_dir=tmp_path)
    assert len(warnings) == 1
    assert str(path) in warnings[0] and repr(key) in warnings[0].replace("variables.", "")
    assert ("x" in themes) is loads
    assert set(SHIPPED) <= set(themes)


@pytest.mark.parametrize(
    "content",
    [b'name = "x"\nprimary = \n', b"\xff\xfe not text", b"[[[", b'primary = "#FFF"\n[x]]\n'],
)
def test_a_broken_theme_file_is_a_warning_not_a_crash(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    themes, warnings = load_themes(user_dir=tmp_path)
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert "skipped" in warnings[0]
    assert set(SHIPPED) <= set(themes)


def test_the_user_theme_dir_is_on_the_platform_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_theme_dir().parts[-2:] == ("factory-tui", "themes")
    asked: list[bool] = []

    def fake_user_dir() -> Path:
        asked.append(True)
        return NO_USER_DIR

    monkeypatch.setattr(theme_module, "user_theme_dir", fake_user_dir)
    load_themes()
    assert asked == [True]
