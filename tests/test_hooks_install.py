"""``factory-tui hooks install|remove``: our hooks merged into .claude/settings.json, every
existing hook and key kept, the diff shown first, nothing written on --dry-run or bad JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from factory_tui.actions.hook import HOOKED_EVENTS, is_ours, merge_hooks, remove_hooks

EXISTING = {
    "env": {"CLAUDE_MAX_HOOK_INSTANCES": "8"},
    "permissions": {"allow": ["Bash(git status)"]},
    "hooks": {
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": 'bash "$CLAUDE_PROJECT_DIR/.claude/hooks/stop-state-lint.sh"',
                    }
                ]
            }
        ],
        "PostToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "bash post-bash-log.sh"}],
            }
        ],
    },
}


def run(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factory_tui", "hooks", *args, str(root)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "FACTORY_TUI_USER_CONFIG": ""},
    )


def settings_file(tmp_path: Path, data: object) -> Path:
    (tmp_path / ".git").mkdir()
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def test_install_keeps_every_existing_hook_and_key(tmp_path: Path) -> None:
    path = settings_file(tmp_path, EXISTING)
    done = run(tmp_path, "install", "--yes", "--command", "/opt/ft/bin/factory-tui hook")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- ")  # the diff first
    data = json.loads(path.read_text())
    assert data["env"] == EXISTING["env"] and data["permissions"] == EXISTING["permissions"]
    assert data["hooks"]["PostToolUse"] == EXISTING["hooks"]["PostToolUse"]
    stop = [h["command"] for g in data["hooks"]["Stop"] for h in g["hooks"]]
    assert stop == [
        'bash "$CLAUDE_PROJECT_DIR/.claude/hooks/stop-state-lint.sh"',
        "/opt/ft/bin/factory-tui hook",
    ]
    for event in HOOKED_EVENTS:
        commands = [h["command"] for g in data["hooks"][event] for h in g["hooks"]]
        assert commands.count("/opt/ft/bin/factory-tui hook") == 1
    again = run(tmp_path, "install", "--yes", "--command", "/opt/ft/bin/factory-tui hook")
    assert again.returncode == 0 and "nothing to change" in again.stdout


def test_remove_takes_out_only_ours(tmp_path: Path) -> None:
    path = settings_file(tmp_path, merge_hooks(EXISTING, "factory-tui hook", "x"))
    done = run(tmp_path, "remove", "--yes")
    assert done.returncode == 0, done.stderr
    assert json.loads(path.read_text()) == EXISTING


def test_dry_run_shows_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = settings_file(tmp_path, EXISTING)
    before = path.read_bytes()
    done = run(tmp_path, "install", "--dry-run", "--command", "factory-tui hook")
    assert done.returncode == 0
    added = [line for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert sum('"command": "factory-tui hook"' in line for line in added) == len(HOOKED_EVENTS)
    assert "--dry-run: nothing written" in done.stdout
    assert path.read_bytes() == before


def test_without_yes_and_no_terminal_nothing_is_written(tmp_path: Path) -> None:
    path = settings_file(tmp_path, EXISTING)
    before = path.read_bytes()
    done = run(tmp_path, "install")
    assert done.returncode == 2 and "--yes" in done.stderr
    assert path.read_bytes() == before


def test_bad_settings_are_reported_with_their_line_and_kept(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{\n  "hooks": {\n    "Stop": [,]\n  }\n}\n')
    before = path.read_bytes()
    done = run(tmp_path, "install", "--yes")
    assert done.returncode == 2
    assert f"{path}:3: not valid JSON" in done.stderr
    assert path.read_bytes() == before
    path.write_text('{"hooks": {"Stop": "not a list"}}')
    done = run(tmp_path, "install", "--yes")
    assert done.returncode == 2 and "hooks.Stop is not a list" in done.stderr


def test_a_missing_settings_file_is_created(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    done = run(tmp_path, "install", "--yes", "--command", "factory-tui hook")
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    assert set(data["hooks"]) == set(HOOKED_EVENTS)
    assert remove_hooks(data, "x") == {}


def test_which_commands_are_ours() -> None:
    assert is_ours("factory-tui hook")
    assert is_ours("/home/me/.venv/bin/factory-tui hook")
    assert is_ours("'/a b/factory-tui' hook")
    assert is_ours("/usr/bin/python3 -m factory_tui hook")
    assert not is_ours("factory-tui hooks install")
    assert not is_ours("bash my-factory-tui-hook.sh")
    assert not is_ours(None)
