"""Configuration and discovery: precedence, paths, durations, errors, worktrees, Claude's folders.

Every test passes its own ``env`` and a temp ``user_config`` so the machine's real configuration
never leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.user_state import state_dir
from factory_tui.config import (
    Config,
    ConfigError,
    encode_project_path,
    find_root,
    format_duration,
    load_config,
    main_worktree,
    missing_inputs,
    parse_duration,
    project_dir_candidates,
    user_config_path,
)

Loader = Callable[..., Config]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    folder = tmp_path / "userconf"
    folder.mkdir()
    return folder / "config.toml"


@pytest.fixture
def load(home: Path, user_file: Path, cwd: Path) -> Loader:
    """``load_config`` with a fake HOME, no real environment and a temp user config."""

    def run(
        root: Path | None,
        *,
        flags: Mapping[str, str | None] | None = None,
        env: Mapping[str, str] | None = None,
        user_config: Path | None = None,
    ) -> Config:
        environ = {"HOME": str(home)}
        environ.update(env or {})
        return load_config(root, flags=flags, env=environ, user_config=user_config or user_file)

    return run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# defaults


def test_defaults_for_a_plain_folder(load: Loader, root: Path, home: Path) -> None:
    config = load(root)
    assert config.root == root.resolve()
    assert config.claims_dir == root / ".claude" / "claims"
    encoded = encode_project_path(root.resolve())
    assert config.claude_config_dir == home / ".claude"
    assert config.memory_dir == home / ".claude" / "projects" / encoded / "memory"
    assert config.log_file == config.memory_dir / "operations.log"
    assert config.log_history_file == config.memory_dir / "operations.log.1"
    assert config.metrics_file == config.memory_dir / "metrics.log"
    assert config.checkpoints_dir == config.memory_dir / "checkpoints"
    assert config.plan_file == root / "plan.md"
    assert config.memory_file == root / "memory.md"
    assert config.council_history == root / "council-history.jsonl"
    assert config.stale_after == timedelta(hours=2)
    assert config.lock_stale_after == timedelta(seconds=30)
    assert config.idle_after == timedelta(minutes=15)
    assert config.daily_budget_usd is None and config.agent_budget_usd is None
    assert config.theme is None
    assert (config.read_only, config.notify, config.bell) == (False, True, True)
    assert config.agent_command == ("claude",)
    assert dict(config.extra) == {}
    assert config.sources["root"] == "given ROOT"
    assert config.sources["claims_dir"] == "default"
    assert config.sources["stale_after"] == "default"
    assert config.sources["claude_config_dir"] == "default"
    assert config.sources["memory_dir"].startswith("default")
    assert config.sources["log_file"] == "under memory_dir"
    for name in Config.__dataclass_fields__:
        if name not in {"extra", "sources", "config_files"}:
            assert name in config.sources, name


def test_root_defaults_to_git_top_level_of_cwd(
    load: Loader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "gitrepo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(repo / "a" / "b")
    config = load(None)
    assert config.root == repo.resolve()
    assert config.sources["root"] == "discovered: git top level of the current directory"


def test_root_defaults_to_cwd_outside_git(load: Loader, cwd: Path) -> None:
    config = load(None)
    assert config.root == cwd.resolve()
    assert config.sources["root"] == "current directory"


def test_root_that_does_not_exist_or_is_a_file(load: Loader, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope")
    afile = write(tmp_path / "file.txt", "x")
    with pytest.raises(ConfigError, match="not a directory"):
        load(afile)


# --------------------------------------------------------------------------------------------
# precedence

LEVELS = ["flag", "env", "factory.toml", "pyproject", "user", "default"]


def _setup_levels(
    key: str,
    values: dict[str, str],
    root: Path,
    user_file: Path,
    upto: int,
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Set ``key`` at every level from ``LEVELS[upto]`` down (less specific ones too)."""
    flags: dict[str, str | None] = {}
    env: dict[str, str] = {}
    present = LEVELS[upto:]
    if "flag" in present:
        flags[key] = values["flag"]
    if "env" in present:
        env["FACTORY_TUI_" + key.upper()] = values["env"]
    if "factory.toml" in present:
        write(root / "factory.toml", f'{key} = "{values["factory.toml"]}"\n')
    if "pyproject" in present:
        write(
            root / "pyproject.toml",
            f'[project]\nname = "x"\n\n[tool.factory-tui]\n{key} = "{values["pyproject"]}"\n',
        )
    if "user" in present:
        write(user_file, f'{key} = "{values["user"]}"\n')
    return flags, env


@pytest.mark.parametrize("upto", range(len(LEVELS)))
def test_precedence_of_a_path(
    load: Loader, root: Path, user_file: Path, cwd: Path, upto: int
) -> None:
    values = {level: f"/claims-from-{level}" for level in LEVELS}
    flags, env = _setup_levels("claims", values, root, user_file, upto)
    config = load(root, flags=flags, env=env)
    expected_source = {
        "flag": "flag --claims",
        "env": "env FACTORY_TUI_CLAIMS",
        "factory.toml": str(root / "factory.toml"),
        "pyproject": f"{root / 'pyproject.toml'} [tool.factory-tui]",
        "user": f"user config {user_file}",
        "default": "default",
    }[LEVELS[upto]]
    expected = (
        root / ".claude" / "claims" if LEVELS[upto] == "default" else Path(values[LEVELS[upto]])
    )
    assert config.claims_dir == expected
    assert config.sources["claims_dir"] == expected_source


@pytest.mark.parametrize("upto", range(len(LEVELS)))
def test_precedence_of_a_tunable(load: Loader, root: Path, user_file: Path, upto: int) -> None:
    values = {"flag": "1m", "env": "2m", "factory.toml": "3m", "pyproject": "4m", "user": "5m"}
    flags, env = _setup_levels("stale_after", values, root, user_file, upto)
    config = load(root, flags=flags, env=env)
    level = LEVELS[upto]
    assert config.stale_after == (
        timedelta(hours=2) if level == "default" else timedelta(minutes=upto + 1)
    )
    assert config.sources["stale_after"].startswith(
        {
            "flag": "flag --stale-after",
            "env": "env FACTORY_TUI_STALE_AFTER",
            "factory.toml": str(root / "factory.toml"),
            "pyproject": str(root / "pyproject.toml"),
            "user": "user config",
            "default": "default",
        }[level]
    )


def test_config_flag_replaces_factory_toml_but_not_pyproject(
    load: Loader, root: Path, tmp_path: Path
) -> None:
    write(root / "factory.toml", 'theme = "from-root"\nbell = false\n')
    write(root / "pyproject.toml", '[tool.factory-tui]\nnotify = false\ntheme = "from-pyproject"\n')
    other = write(tmp_path / "elsewhere" / "my.toml", 'theme = "from-flag-file"\n')
    config = load(root, flags={"config": str(other)})
    assert config.theme == "from-flag-file"
    assert config.sources["theme"] == str(other)
    assert config.bell is True  # ROOT's factory.toml was not read
    assert config.notify is False  # pyproject still was
    assert config.config_files["config file (flag --config)"] == other


def test_config_env_var_and_flag(load: Loader, root: Path, tmp_path: Path) -> None:
    by_env = write(tmp_path / "env.toml", 'theme = "env-file"\n')
    by_flag = write(tmp_path / "flag.toml", 'theme = "flag-file"\n')
    assert load(root, env={"FACTORY_TUI_CONFIG": str(by_env)}).theme == "env-file"
    config = load(root, flags={"config": str(by_flag)}, env={"FACTORY_TUI_CONFIG": str(by_env)})
    assert config.theme == "flag-file"


def test_config_flag_to_a_missing_file_or_a_folder(
    load: Loader, root: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml.*flag --config.*does not exist"):
        load(root, flags={"config": str(tmp_path / "missing.toml")})
    with pytest.raises(ConfigError, match="is a directory"):
        load(root, flags={"config": str(tmp_path)})


def test_config_flag_may_name_a_pyproject(load: Loader, root: Path, tmp_path: Path) -> None:
    other = write(tmp_path / "other" / "pyproject.toml", '[tool.factory-tui]\ntheme = "pp"\n')
    config = load(root, flags={"config": str(other)})
    assert config.theme == "pp"
    assert config.sources["theme"] == f"{other} [tool.factory-tui]"


def test_user_config_from_env_var_and_argument(
    home: Path, root: Path, tmp_path: Path, cwd: Path
) -> None:
    by_env = write(tmp_path / "u-env.toml", 'theme = "u-env"\n')
    by_arg = write(tmp_path / "u-arg.toml", 'theme = "u-arg"\n')
    env = {"HOME": str(home), "FACTORY_TUI_USER_CONFIG": str(by_env)}
    assert load_config(root, env=env).theme == "u-env"
    assert load_config(root, env=env, user_config=by_arg).theme == "u-arg"
    assert user_config_path({"FACTORY_TUI_USER_CONFIG": ""}) is None
    assert load_config(root, env={"HOME": str(home), "FACTORY_TUI_USER_CONFIG": ""}).theme is None
    assert user_config_path({}) is not None


def test_missing_user_config_is_fine(load: Loader, root: Path, tmp_path: Path) -> None:
    config = load(root, user_config=tmp_path / "none" / "config.toml")
    assert config.theme is None
    assert config.config_files["user config"] == tmp_path / "none" / "config.toml"


def test_empty_env_value_is_unset(load: Loader, root: Path) -> None:
    config = load(root, env={"FACTORY_TUI_THEME": "  ", "FACTORY_TUI_CLAIMS": ""})
    assert config.theme is None
    assert config.sources["claims_dir"] == "default"


def test_flags_none_ignored_unknown_rejected(load: Loader, root: Path) -> None:
    config = load(root, flags={"claims": None, "memory": None, "config": None, "theme": "t"})
    assert config.sources["claims_dir"] == "default"
    assert config.theme == "t"
    with pytest.raises(ValueError, match="unknown flag key"):
        load(root, flags={"claimz": "x"})


def test_read_only_flag(load: Loader, root: Path) -> None:
    for raw, expected in (("1", True), ("true", True), ("0", False), ("off", False)):
        config = load(root, flags={"read_only": raw})
        assert config.read_only is expected
        assert config.sources["read_only"] == "flag --read-only"
    assert load(root, env={"FACTORY_TUI_READ_ONLY": "yes"}).read_only is True


# --------------------------------------------------------------------------------------------
# paths


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(
    load: Loader, root: Path, user_file: Path
) -> None:
    write(root / "factory.toml", 'claims = "shared/claims"\nplan = "../plan.md"\n')
    write(user_file, 'memory = "mem"\n')
    config = load(root)
    assert config.claims_dir == root / "shared" / "claims"
    assert config.plan_file == root.parent / "plan.md"
    assert config.memory_dir == user_file.parent / "mem"
    assert config.log_file == user_file.parent / "mem" / "operations.log"


def test_relative_paths_in_flags_and_env_are_relative_to_cwd(
    load: Loader, root: Path, cwd: Path
) -> None:
    config = load(root, flags={"claims": "c"}, env={"FACTORY_TUI_MEMORY": "m/n"})
    assert config.claims_dir == cwd / "c"
    assert config.memory_dir == cwd / "m" / "n"


def test_a_path_is_taken_as_written_spaces_and_all(load: Loader, tmp_path: Path) -> None:
    """A folder whose name ends or starts with a space is that folder, not its trimmed
    namesake: the trimmed one was read instead (another factory), or the given one refused."""
    plain, spaced = tmp_path / "proj", tmp_path / "proj "
    plain.mkdir()
    spaced.mkdir()
    write(spaced / "factory.toml", 'memory = " mem"\n')
    config = load(spaced, flags={"claims": "c "}, env={"FACTORY_TUI_CHECKPOINTS": " cp"})
    assert config.root == spaced.resolve()
    assert config.memory_dir == spaced.resolve() / " mem"
    assert config.claims_dir.name == "c " and config.checkpoints_dir.name == " cp"
    alone = tmp_path / " lone"
    alone.mkdir()
    assert load(alone).root == alone.resolve()
    # The folders given by the environment alone too (blank: unset).
    claude = load(plain, env={"CLAUDE_CONFIG_DIR": str(tmp_path / "claude ")})
    assert claude.claude_config_dir == tmp_path / "claude "
    assert FoldCache.from_env({"FACTORY_TUI_CACHE_DIR": f"{tmp_path}/c "}).folder.name == "c "
    assert state_dir({"FACTORY_TUI_STATE_DIR": f"{tmp_path}/s "}).name == "s "
    assert state_dir({"FACTORY_TUI_STATE_DIR": " "}) == state_dir({})
    # A stray space, unseen in a message, is shown.
    with pytest.raises(ConfigError, match=r"ROOT '.*/proj  ' \(a name in it starts or ends"):
        load(tmp_path / "proj  ")
    said = missing_inputs(load(plain, flags={"log": f"{tmp_path}/ops.log "}))[-1]
    assert f"no operations.log at '{tmp_path}/ops.log ' (a name in it" in said


def test_tilde_is_expanded_with_home(load: Loader, root: Path, home: Path) -> None:
    write(root / "factory.toml", 'council_history = "~/council.jsonl"\n')
    config = load(root, flags={"checkpoints": "~/cp"})
    assert config.council_history == home / "council.jsonl"
    assert config.checkpoints_dir == home / "cp"


def test_memory_flag_moves_log_metrics_and_checkpoints(
    load: Loader, root: Path, tmp_path: Path
) -> None:
    config = load(root, flags={"memory": str(tmp_path / "mem")})
    assert config.memory_dir == tmp_path / "mem"
    assert config.log_file == tmp_path / "mem" / "operations.log"
    assert config.metrics_file == tmp_path / "mem" / "metrics.log"
    assert config.checkpoints_dir == tmp_path / "mem" / "checkpoints"
    assert config.sources["log_file"] == "under memory_dir (flag --memory)"


def test_explicit_log_beats_derived_from_memory(load: Loader, root: Path, tmp_path: Path) -> None:
    write(root / "factory.toml", 'log = "logs/ops.log"\n')
    config = load(root, flags={"memory": str(tmp_path / "mem"), "log": None})
    assert config.log_file == root / "logs" / "ops.log"
    assert config.log_history_file == root / "logs" / "ops.log.1"
    assert config.checkpoints_dir == tmp_path / "mem" / "checkpoints"


# --------------------------------------------------------------------------------------------
# durations and other tunables


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("90m", 5400),
        ("7200s", 7200),
        ("7200", 7200),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("1h 30m 10s", 5410),
        (" 45 S ", 45),
        ("500ms", 0.5),
        ("2 hours", 7200),
        ("1d", 86400),
        ("15min", 900),
        ("0.25", 0.25),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "2x", "-5", "1h-", "two hours", "1h30", "1..5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [30, 900, 5400, 7200, 86400 + 61, 0.5, 0])
def test_format_duration_round_trips(seconds: float) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_format_duration_examples() -> None:
    assert format_duration(timedelta(hours=2)) == "2h"
    assert format_duration(timedelta(seconds=30)) == "30s"
    assert format_duration(timedelta(minutes=90)) == "1h30m"


def test_tunables_from_toml(load: Loader, root: Path) -> None:
    write(
        root / "factory.toml",
        "stale_after = 3600\n"
        'lock_stale_after = "45s"\n'
        "idle_after = 600.5\n"
        "daily_budget_usd = 80\n"
        "agent_budget_usd = 12.5\n"
        'theme = "nord"\n'
        "read_only = true\n"
        "notify = false\n"
        "bell = false\n"
        'agent_command = ["claude", "--model", "opus"]\n',
    )
    config = load(root)
    assert config.stale_after == timedelta(hours=1)
    assert config.lock_stale_after == timedelta(seconds=45)
    assert config.idle_after == timedelta(seconds=600.5)
    assert config.daily_budget_usd == 80.0 and isinstance(config.daily_budget_usd, float)
    assert config.agent_budget_usd == 12.5
    assert config.theme == "nord"
    assert (config.read_only, config.notify, config.bell) == (True, False, False)
    assert config.agent_command == ("claude", "--model", "opus")


def test_tunables_from_env_text(load: Loader, root: Path) -> None:
    config = load(
        root,
        env={
            "FACTORY_TUI_IDLE_AFTER": "20m",
            "FACTORY_TUI_DAILY_BUDGET_USD": "50",
            "FACTORY_TUI_AGENT_COMMAND": "claude --append-system-prompt 'two words'",
            "FACTORY_TUI_BELL": "off",
        },
    )
    assert config.idle_after == timedelta(minutes=20)
    assert config.daily_budget_usd == 50.0
    assert config.agent_command == ("claude", "--append-system-prompt", "two words")
    assert config.bell is False


def test_budget_none_in_env_unsets_a_file_value(load: Loader, root: Path) -> None:
    write(root / "factory.toml", "daily_budget_usd = 10\n")
    config = load(root, env={"FACTORY_TUI_DAILY_BUDGET_USD": "none"})
    assert config.daily_budget_usd is None
    assert config.sources["daily_budget_usd"] == "env FACTORY_TUI_DAILY_BUDGET_USD"


# --------------------------------------------------------------------------------------------
# errors


def test_bad_toml_names_file_and_line(load: Loader, root: Path) -> None:
    path = write(root / "factory.toml", 'theme = "ok"\nstale_after = \n')
    with pytest.raises(ConfigError) as info:
        load(root)
    message = str(info.value)
    assert message.startswith(f"{path}:2: ")
    assert "not valid TOML" in message and "\n" not in message
    assert info.value.file == path and info.value.line == 2


def test_bad_toml_at_end_of_file(load: Loader, root: Path) -> None:
    path = write(root / "factory.toml", 'theme = "ok"\nx = [1,\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2: .*end of file"):
        load(root)


def test_bad_toml_in_user_config_and_pyproject(load: Loader, root: Path, user_file: Path) -> None:
    write(user_file, "a = = 1\n")
    with pytest.raises(ConfigError, match=rf"^{user_file}:1: "):
        load(root)
    user_file.unlink()
    py = write(root / "pyproject.toml", "[project\n")
    with pytest.raises(ConfigError, match=rf"^{py}:1: "):
        load(root)


def test_non_utf8_config(load: Loader, root: Path) -> None:
    path = root / "factory.toml"
    path.write_bytes(b'theme = "a"\ntheme2 = "\xff"\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2: .*UTF-8"):
        load(root)


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("stale_after = true", "stale_after", "duration"),
        ('stale_after = "soon"', "stale_after", "duration"),
        ("lock_stale_after = 0", "lock_stale_after", "above zero"),
        ("claims = 3", "claims", "path"),
        ('read_only = "yes"', "read_only", "true or false"),
        ("daily_budget_usd = -1", "daily_budget_usd", "US dollars"),
        ("agent_command = []", "agent_command", "command"),
        ("agent_command = [1, 2]", "agent_command", "command"),
        ("theme = 7", "theme", "string"),
        ("memory = { a = 1 }", "memory", "path"),
    ],
)
def test_wrong_type_names_key_file_and_line(
    load: Loader, root: Path, line: str, key: str, expected: str
) -> None:
    path = write(root / "factory.toml", f"# comment\n{line}\nbell = true\n")
    with pytest.raises(ConfigError) as info:
        load(root)
    message = str(info.value)
    assert message.startswith(f"{path}:2: key {key} expected ")
    assert expected in message
    assert "\n" not in message
    assert info.value.key == key


def test_wrong_type_in_pyproject_names_the_table_key(load: Loader, root: Path) -> None:
    path = write(
        root / "pyproject.toml",
        "[tool.other]\nidle_after = 1\n\n[tool.factory-tui]\nidle_after = false\n",
    )
    with pytest.raises(ConfigError, match=rf"^{path}:5: key tool\.factory-tui\.idle_after"):
        load(root)
    write(root / "pyproject.toml", '[tool]\nfactory-tui = "x"\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load(root)


def test_wrong_value_in_env_names_the_variable(load: Loader, root: Path) -> None:
    with pytest.raises(ConfigError, match=r"FACTORY_TUI_STALE_AFTER.*stale_after.*duration"):
        load(root, env={"FACTORY_TUI_STALE_AFTER": "later"})


def test_wrong_value_in_a_flag_names_the_flag(load: Loader, root: Path) -> None:
    with pytest.raises(ConfigError, match="flag --read-only: expected true or false"):
        load(root, flags={"read_only": "maybe"})


def test_wrong_value_is_an_error_even_when_overridden(load: Loader, root: Path) -> None:
    write(root / "factory.toml", "stale_after = true\n")
    with pytest.raises(ConfigError, match="stale_after"):
        load(root, flags={"stale_after": "1h"})


def test_pyproject_without_our_table_is_ignored(load: Loader, root: Path) -> None:
    write(root / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 100\n')
    assert load(root).sources["theme"] == "default"


# --------------------------------------------------------------------------------------------
# extra keys


def test_extra_keys_kept_and_tables_merged(load: Loader, root: Path, user_file: Path) -> None:
    write(user_file, "surprise = 1\n[cost]\ncap = 5\n[cost.prices]\nopus = 15\nsonnet = 3\n")
    write(root / "factory.toml", '[cost]\ncap = 9\n[cost.prices]\nopus = 20\n[prs]\nrepo = "a/b"\n')
    config = load(root)
    assert config.extra["surprise"] == 1
    assert config.extra["cost"] == {"cap": 9, "prices": {"opus": 20, "sonnet": 3}}
    assert config.extra["prs"] == {"repo": "a/b"}
    assert config.sources["extra.prs"] == str(root / "factory.toml")
    assert config.sources["extra.surprise"] == f"user config {user_file}"


# --------------------------------------------------------------------------------------------
# Claude Code folders


def test_encode_project_path_examples() -> None:
    assert encode_project_path(Path("/Users/me/repos/stoa")) == "-Users-me-repos-stoa"
    assert encode_project_path(Path("/home/u/my.app_dev/x y")) == "-home-u-my-app-dev-x-y"
    assert encode_project_path(Path("/tmp/café")) == "-tmp-caf-"
    # Claude Code's JavaScript regex works on UTF-16 units: an emoji is two of them.
    assert encode_project_path(Path("/tmp/a😀b")) == "-tmp-a--b"


def test_encode_long_path_truncates_and_hashes() -> None:
    long_path = Path("/" + "a" * 250)
    encoded = encode_project_path(long_path)
    assert encoded == "-" + "a" * 199 + "-feo44x"  # same as the JavaScript hash (checked in node)
    other = encode_project_path(Path("/" + "a" * 251))
    assert other[:201] == encoded[:201] and other != encoded
    assert encode_project_path(Path("/" + "a" * 199)) == "-" + "a" * 199  # exactly 200: kept


def test_long_path_discovery_scans_projects_by_prefix(tmp_path: Path) -> None:
    claude = tmp_path / "claude"
    long_root = tmp_path / ("d" * 120) / ("e" * 120)
    encoded = encode_project_path(long_root)
    assert len(encoded) > 200
    other = claude / "projects" / (encoded[:200] + "-somehash")
    (other / "memory").mkdir(parents=True)
    (claude / "projects" / (encoded[:200] + "x-not-ours")).mkdir()
    candidates = project_dir_candidates(claude, long_root)
    assert candidates == [claude / "projects" / encoded, other]


def test_long_root_memory_found_by_prefix(load: Loader, tmp_path: Path) -> None:
    claude = tmp_path / "claude"
    long_root = tmp_path / ("d" * 120) / ("e" * 120)
    long_root.mkdir(parents=True)
    encoded = encode_project_path(long_root.resolve())
    other = claude / "projects" / (encoded[:200] + "-bunhash")
    (other / "memory").mkdir(parents=True)
    config = load(long_root, env={"CLAUDE_CONFIG_DIR": str(claude)})
    assert config.memory_dir == other / "memory"
    assert config.sources["memory_dir"] == "discovered: Claude Code memory folder"


def test_claude_config_dir_env(load: Loader, root: Path, tmp_path: Path) -> None:
    claude = tmp_path / "claude-home"
    config = load(root, env={"CLAUDE_CONFIG_DIR": str(claude)})
    assert config.claude_config_dir == claude
    assert config.sources["claude_config_dir"] == "env CLAUDE_CONFIG_DIR"
    encoded = encode_project_path(root.resolve())
    assert config.memory_dir == claude / "projects" / encoded / "memory"


def test_factory_claude_config_dir_beats_claude_config_dir(
    load: Loader, root: Path, tmp_path: Path
) -> None:
    write(root / "factory.toml", 'claude_config_dir = "cc"\n')
    config = load(root, env={"CLAUDE_CONFIG_DIR": str(tmp_path / "x")})
    assert config.claude_config_dir == root / "cc"
    config = load(
        root,
        env={
            "CLAUDE_CONFIG_DIR": str(tmp_path / "x"),
            "FACTORY_TUI_CLAUDE_CONFIG_DIR": str(tmp_path / "y"),
        },
    )
    assert config.claude_config_dir == tmp_path / "y"


def test_existing_memory_folder_is_discovered(load: Loader, root: Path, tmp_path: Path) -> None:
    claude = tmp_path / "claude"
    memory = claude / "projects" / encode_project_path(root.resolve()) / "memory"
    memory.mkdir(parents=True)
    config = load(root, env={"CLAUDE_CONFIG_DIR": str(claude)})
    assert config.memory_dir == memory
    assert config.sources["memory_dir"] == "discovered: Claude Code memory folder"
    assert config.sources["log_file"] == (
        "under memory_dir (discovered: Claude Code memory folder)"
    )


# --------------------------------------------------------------------------------------------
# git: find_root, linked worktrees


def test_find_root(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / ".git").mkdir(parents=True)
    (repo / "x" / "y").mkdir(parents=True)
    assert find_root(repo / "x" / "y") == repo.resolve()
    assert find_root(repo) == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find_root(plain) == plain.resolve()
    assert find_root(repo / "missing") == (repo / "missing").resolve()
    worktree = tmp_path / "wt"
    (worktree / "sub").mkdir(parents=True)
    write(worktree / ".git", "gitdir: /somewhere/.git/worktrees/wt\n")
    assert find_root(worktree / "sub") == worktree.resolve()


def _fake_linked_worktree(tmp_path: Path, *, relative: bool) -> tuple[Path, Path]:
    main = tmp_path / "main"
    gitdir = main / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    write(gitdir / "commondir", "../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    pointer = os.path.relpath(gitdir, worktree) if relative else str(gitdir)
    write(worktree / ".git", f"gitdir: {pointer}\n")
    return main.resolve(), worktree


@pytest.mark.parametrize("relative", [False, True])
def test_main_worktree_from_files(tmp_path: Path, relative: bool) -> None:
    main, worktree = _fake_linked_worktree(tmp_path, relative=relative)
    assert main_worktree(worktree) == main
    assert main_worktree(main) is None


def test_submodule_git_file_is_not_a_linked_worktree(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    (tmp_path / "super" / ".git" / "modules" / "sub").mkdir(parents=True)
    write(sub / ".git", "gitdir: ../super/.git/modules/sub\n")
    assert main_worktree(sub) is None
    write(sub / ".git", "garbage\n")
    assert main_worktree(sub) is None


def _git(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture
def real_worktree(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    main = tmp_path / "main"
    main.mkdir()
    _git("-c", "init.defaultBranch=main", "init", "-q", cwd=main)
    _git("commit", "-q", "--allow-empty", "-m", "init", cwd=main)
    worktree = tmp_path / "agent-1"
    _git("worktree", "add", "-q", "-b", "feat/x", str(worktree), cwd=main)
    return main.resolve(), worktree.resolve()


def test_linked_worktree_uses_main_claims_folder(
    load: Loader, real_worktree: tuple[Path, Path], tmp_path: Path
) -> None:
    main, worktree = real_worktree
    assert main_worktree(worktree) == main
    assert find_root(worktree) == worktree
    config = load(worktree)
    assert config.root == worktree
    assert config.claims_dir == main / ".claude" / "claims"
    assert config.sources["claims_dir"] == "discovered: main worktree's claims folder"
    assert config.plan_file == worktree / "plan.md"
    main_config = load(main)
    assert main_config.claims_dir == main / ".claude" / "claims"
    assert main_config.sources["claims_dir"] == "default"


def test_linked_worktree_prefers_its_own_claims_symlink(
    load: Loader, real_worktree: tuple[Path, Path]
) -> None:
    main, worktree = real_worktree
    (main / ".claude" / "claims").mkdir(parents=True)
    (worktree / ".claude").mkdir()
    (worktree / ".claude" / "claims").symlink_to(main / ".claude" / "claims")
    config = load(worktree)
    assert config.claims_dir == worktree / ".claude" / "claims"
    assert config.sources["claims_dir"] == "default"


def test_linked_worktree_memory_folder_order(
    load: Loader, real_worktree: tuple[Path, Path], tmp_path: Path
) -> None:
    main, worktree = real_worktree
    claude = tmp_path / "claude"
    env = {"CLAUDE_CONFIG_DIR": str(claude)}
    main_memory = claude / "projects" / encode_project_path(main) / "memory"
    own_memory = claude / "projects" / encode_project_path(worktree) / "memory"

    # Neither exists yet: the main worktree's, where Claude Code shares auto memory.
    config = load(worktree, env=env)
    assert config.memory_dir == main_memory
    assert config.sources["memory_dir"].startswith("default")

    main_memory.mkdir(parents=True)
    config = load(worktree, env=env)
    assert config.memory_dir == main_memory
    assert config.sources["memory_dir"] == (
        "discovered: Claude Code memory folder of the main worktree"
    )

    own_memory.mkdir(parents=True)
    config = load(worktree, env=env)
    assert config.memory_dir == own_memory
    assert config.sources["memory_dir"] == "discovered: Claude Code memory folder"


def test_config_error_is_one_line(load: Loader, root: Path) -> None:
    write(root / "factory.toml", "bell = 3\n")
    with pytest.raises(ConfigError) as info:
        load(root)
    assert "\n" not in str(info.value)
    assert "fix it there" in str(info.value)


def test_sources_cover_every_field(load: Loader, root: Path) -> None:
    config = load(root)
    fields: dict[str, Any] = dict(Config.__dataclass_fields__)
    for name in fields:
        if name in {"extra", "sources", "config_files"}:
            continue
        assert config.sources[name], name


def test_claude_config_dir_takes_a_list_and_globs(load: Loader, root: Path, tmp_path: Path) -> None:
    main = tmp_path / "main-claude"
    panes = [tmp_path / f".claude-agent-{n}" for n in (2, 1)]
    for folder in panes:
        folder.mkdir()
    (tmp_path / ".claude-agent-notes").write_text("a file, not a folder")
    (root / "factory.toml").write_text(
        f'claude_config_dir = ["{main}", "{tmp_path}/.claude-agent-*", "{panes[0]}"]\n'
    )
    config = load(root)
    # In order, globs sorted, no repeats; the first is where memory is looked for.
    assert config.claude_dirs == (main, tmp_path / ".claude-agent-1", tmp_path / ".claude-agent-2")
    assert config.claude_config_dir == main
    assert config.claude_config_patterns[1] == f"{tmp_path}/.claude-agent-*"


def test_a_single_claude_config_dir_is_still_one_folder(
    load: Loader, root: Path, tmp_path: Path
) -> None:
    (root / "factory.toml").write_text(f'claude_config_dir = "{tmp_path}/c"\n')
    config = load(root)
    assert config.claude_dirs == (tmp_path / "c",) and config.claude_config_dir == tmp_path / "c"
    (root / "factory.toml").write_text("claude_config_dir = []\n")
    with pytest.raises(ConfigError, match="a path or a list of paths"):
        load(root)
