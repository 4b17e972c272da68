"""``doctor``: resolved paths with existence and source, settings, config files, tools on PATH."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from factory_tui.config import Config, load_config
from factory_tui.doctor import DoctorLine, doctor_json, doctor_report, render_doctor

TOOLS = {"git": "/usr/bin/git", "tmux": "/opt/bin/tmux"}


def fake_which(name: str) -> str | None:
    return TOOLS.get(name)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    root = tmp_path / "repo"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / "plan.md").write_text("# plan\n", encoding="utf-8")
    (root / "factory.toml").write_text(
        'theme = "nord"\n[prs]\nrepo = "me/repo"\n', encoding="utf-8"
    )
    memory = tmp_path / "mem"
    memory.mkdir()
    (memory / "operations.log").write_text("", encoding="utf-8")
    return load_config(
        root,
        flags={"memory": str(memory)},
        env={"HOME": str(tmp_path / "home"), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")},
        user_config=tmp_path / "user" / "config.toml",
    )


def by_name(lines: list[DoctorLine]) -> dict[str, DoctorLine]:
    return {line.name: line for line in lines}


def test_paths_exist_and_sources(config: Config) -> None:
    lines = by_name(doctor_report(config, which=fake_which))
    assert lines["root"].exists is True
    assert lines["claims_dir"] == DoctorLine(
        "path", "claims_dir", str(config.claims_dir), True, "default"
    )
    assert lines["memory_dir"].source == "flag --memory"
    assert lines["log_file"].exists is True
    assert lines["log_history"].exists is False
    assert lines["log_history"].value.endswith("operations.log.1")
    assert lines["metrics_file"].exists is False
    assert lines["checkpoints_dir"].exists is False
    assert lines["checkpoints_dir"].source == "under memory_dir (flag --memory)"
    assert lines["plan_file"].exists is True
    assert lines["memory_file"].exists is False
    assert lines["council_history"].exists is False
    assert lines["claude_config_dir"].source == "env CLAUDE_CONFIG_DIR"


def test_settings_with_values_and_sources(config: Config) -> None:
    lines = by_name(doctor_report(config, which=fake_which))
    assert lines["stale_after"] == DoctorLine("setting", "stale_after", "2h", None, "default")
    assert lines["lock_stale_after"].value == "30s"
    assert lines["idle_after"].value == "15m"
    assert lines["daily_budget_usd"].value == "(none)"
    assert lines["theme"].value == "nord"
    assert lines["theme"].source == str(config.root / "factory.toml")
    assert lines["read_only"].value == "false"
    assert lines["agent_command"].value == "claude"


def test_tools_with_fake_which(config: Config) -> None:
    lines = by_name(doctor_report(config, which=fake_which))
    assert lines["git"] == DoctorLine("tool", "git", "/usr/bin/git", True, "PATH")
    assert lines["tmux"].exists is True
    assert lines["gh"] == DoctorLine("tool", "gh", "not on PATH", False, "PATH")
    assert lines["claude"].exists is False
    tools = [line.name for line in doctor_report(config, which=fake_which) if line.kind == "tool"]
    assert tools == ["git", "gh", "tmux", "claude"]


def test_a_custom_agent_command_is_checked_too(config: Config) -> None:
    custom = dataclasses.replace(config, agent_command=("my-agent", "--fast"))
    tools = [line.name for line in doctor_report(custom, which=fake_which) if line.kind == "tool"]
    assert tools == ["git", "gh", "tmux", "claude", "my-agent"]


def test_config_files_and_extra_keys(config: Config) -> None:
    lines = doctor_report(config, which=fake_which)
    files = {line.name: line for line in lines if line.kind == "config-file"}
    assert files["factory.toml"].exists is True and files["factory.toml"].source == "read"
    assert files["user config"].exists is False and files["user config"].source == "not found"
    extra = by_name([line for line in lines if line.kind == "extra"])
    assert extra["prs"].value == "{'repo': 'me/repo'}"
    assert extra["prs"].source == str(config.root / "factory.toml")


def test_notes_for_symlinks_and_wrong_kinds(config: Config, tmp_path: Path) -> None:
    target = tmp_path / "real-claims"
    target.mkdir()
    link = tmp_path / "link-claims"
    link.symlink_to(target)
    not_a_dir = tmp_path / "checkpoints-file"
    not_a_dir.write_text("", encoding="utf-8")
    changed = dataclasses.replace(config, claims_dir=link, checkpoints_dir=not_a_dir)
    lines = by_name(doctor_report(changed, which=fake_which))
    assert lines["claims_dir"].note == f"symlink to {target}"
    assert lines["claims_dir"].exists is True
    assert lines["checkpoints_dir"].note == "not a directory"
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "gone")
    lines = by_name(doctor_report(dataclasses.replace(config, claims_dir=broken), which=fake_which))
    assert lines["claims_dir"].exists is False
    assert "broken symlink" in lines["claims_dir"].note


def test_render_is_an_aligned_table(config: Config) -> None:
    lines = doctor_report(config, which=fake_which)
    text = render_doctor(lines)
    rows = text.splitlines()
    header = rows[0]
    assert header.split() == ["NAME", "VALUE", "EXISTS", "SOURCE"]
    for title in ("Paths", "Settings", "Config files", "Tools", "Other config keys"):
        assert title in rows
    value_col = header.index("VALUE")
    exists_col = header.index("EXISTS")
    source_col = header.index("SOURCE")
    git_row = next(row for row in rows if row.startswith("git "))
    assert git_row[value_col:].startswith("/usr/bin/git")
    assert git_row[exists_col:].startswith("yes")
    assert git_row[source_col:].startswith("PATH")
    gh_row = next(row for row in rows if row.startswith("gh "))
    assert gh_row[exists_col:].startswith("no")
    stale_row = next(row for row in rows if row.startswith("stale_after "))
    assert stale_row[exists_col:].startswith("-")
    assert stale_row[source_col:].startswith("default")
    assert text.endswith("\n")


def test_render_shows_notes_column_only_when_needed(tmp_path: Path) -> None:
    plain = [DoctorLine("tool", "git", "/usr/bin/git", True, "PATH")]
    assert "NOTE" not in render_doctor(plain)
    noted = [*plain, DoctorLine("path", "claims_dir", "/x", True, "default", "symlink to /y")]
    text = render_doctor(noted)
    assert "NOTE" in text and "symlink to /y" in text


def test_render_escapes_control_characters() -> None:
    line = DoctorLine("path", "claims_dir", "/tmp/evil\x1b[31mred", False, "flag --claims")
    text = render_doctor([line])
    assert "\x1b" not in text
    assert "\\x1b[31mred" in text


def test_doctor_json(config: Config) -> None:
    lines = doctor_report(config, which=fake_which)
    data = doctor_json(lines)
    assert len(data) == len(lines)
    assert set(data[0]) == {"kind", "name", "value", "exists", "source", "note"}
    git = next(item for item in data if item["name"] == "git")
    assert git == {
        "kind": "tool",
        "name": "git",
        "value": "/usr/bin/git",
        "exists": True,
        "source": "PATH",
        "note": "",
    }
    stale = next(item for item in data if item["name"] == "stale_after")
    assert stale["exists"] is None
    json.dumps(data)


def test_every_claude_config_dir_is_listed_with_whether_it_exists(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "pane-a").mkdir()
    (root / "factory.toml").write_text(
        f'claude_config_dir = ["{tmp_path}/missing", "{tmp_path}/pane-*", "{tmp_path}/nope-*"]\n'
    )
    config = load_config(root, flags={}, env={"HOME": str(tmp_path)}, user_config=tmp_path / "u")
    lines = by_name(doctor_report(config, which=fake_which))
    assert lines["claude_config_dir"].value == str(tmp_path / "missing")
    assert lines["claude_config_dir"].exists is False
    assert lines["claude_config_dir[2]"].value == str(tmp_path / "pane-a")
    assert lines["claude_config_dir[2]"].exists is True
    nothing = lines[f"claude_config_dir {tmp_path}/nope-*"]
    assert nothing.exists is False and nothing.note == "glob matches no folder"
