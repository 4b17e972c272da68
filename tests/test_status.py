"""`factory-tui status` end to end: the CLI, exit codes, and a golden fleet of the demo factory."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import FixedProbe

import factory_tui.adapters.factory as factory_adapter
import factory_tui.cli.demo as cli_demo
import factory_tui.demo.simulate as simulate_module
import factory_tui.ui.app as app_module
from factory_tui.adapters.factory import FactoryReader
from factory_tui.cli import main
from factory_tui.config import Config, load_config
from factory_tui.core.failon import fail_reasons
from factory_tui.core.fleet import ProcInfo
from factory_tui.demo import DemoFactory, generate_demo
from factory_tui.report import render_status
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import PrsOptions
from factory_tui.ui.widgets.summary import SummaryBar

NOW = datetime(2026, 2, 16, 15, 42)
HOST = "demo-host"
GOLDEN = Path(__file__).parent / "golden" / "demo_status.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFactory:
    root = tmp_path_factory.mktemp("demo") / "factory"
    return generate_demo(root, seed=7, agents=6, now=NOW, hostname=HOST, start_processes=False)


def live_probe(demo: DemoFactory) -> FixedProbe:
    """The working and idle agents' pids alive, started just before their claims."""
    reader = FactoryReader(_config(demo.root), hostname=HOST)
    reader.refresh_claims()
    table: dict[int, ProcInfo] = {}
    for claim in reader.claim_files():
        for unit in claim.units:
            if unit.owner in demo.pids and unit.claimed_at:
                started = datetime.fromisoformat(unit.claimed_at) - timedelta(seconds=20)
                table[unit.pid or 0] = ProcInfo(
                    pid=unit.pid or 0, started_at=started, cpu_percent=1.5, rss_bytes=50 << 20
                )
    return FixedProbe(table)


def _config(root: Path):  # type: ignore[no-untyped-def]
    return load_config(root, flags={}, env={}, user_config=root / "no-user-config.toml")


def normalise(data: object, root: str) -> object:
    text = json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False)
    return json.loads(text.replace(root, "<ROOT>"))


def test_golden_fleet_of_the_demo(demo: DemoFactory) -> None:
    reader = FactoryReader(_config(demo.root), hostname=HOST, probe=live_probe(demo))
    reader.refresh_all()
    data = normalise(reader.fleet(NOW).to_json(), str(demo.root))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    assert data == json.loads(GOLDEN.read_text())


def test_golden_roles(demo: DemoFactory) -> None:
    reader = FactoryReader(_config(demo.root), hostname=HOST, probe=live_probe(demo))
    reader.refresh_all()
    fleet = reader.fleet(NOW)
    status = {i.id: i.status for i in fleet.instances}
    expected = {
        "working": "working",
        "idle": "idle",
        "crashed": "crashed",
        "stale": "stale",
        "ended": "ended",
        "remote": "working",
    }
    assert all(status[i] == expected[role] for i, role in demo.instances.items())
    states = {c.key: c.state for c in fleet.claims}
    assert (
        "stale" in states.values()
        and "available" in states.values()
        and "blocked" in states.values()
    )
    crashed = [s for s in fleet.sessions if s.status == "crashed"]
    assert len(crashed) == 1 and crashed[0].checkpoint is not None
    assert len(fleet.lint) == 1
    assert fleet.problems == ()


def run_cli(*args: str) -> tuple[int, str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "factory_tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FACTORY_TUI_USER_CONFIG": ""},
    )
    return out.returncode, out.stdout, out.stderr


def test_status_json_cli(demo: DemoFactory) -> None:
    code, out, err = run_cli("status", str(demo.root), "--json", "--now", "2026-02-16T15:42")
    assert code == 0, err
    data = json.loads(out)
    assert data["root"] == str(demo.root)
    assert data["generated_at"] == "2026-02-16T15:42:00"
    assert {c["state"] for c in data["claims"]} >= {
        "available",
        "blocked",
        "stale",
        "claimed",
        "done",
    }
    assert {i["id"] for i in data["instances"]} == set(demo.instances)


def test_status_table(demo: DemoFactory) -> None:
    reader = FactoryReader(_config(demo.root), hostname=HOST, probe=live_probe(demo))
    reader.refresh_all()
    out = io.StringIO()
    render_status(reader.fleet(NOW), out)
    text = out.getvalue()
    assert "agents: 2 working, 1 idle, 1 stale, 1 crashed" in text
    assert "Agents" in text and "Claims" in text and "STALE" in text and "CRASHED" in text


def test_status_table_cli(demo: DemoFactory, capsys: pytest.CaptureFixture[str]) -> None:
    """Through main(), with this machine's host name: the demo's claims name "demo-host", so
    they are another host's and their pids are not checked."""
    assert main(["status", str(demo.root), "--now", "2026-02-16T15:42"]) == 0
    out = capsys.readouterr().out
    assert "on host demo-host" in out


def test_status_exit_2_on_unusable_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no such directory" in err and err.count("\n") == 1
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert main(["status", str(tmp_path), "--claims", str(a_file)]) == 2
    assert main(["status", str(tmp_path), "--now", "yesterday"]) == 2


def test_status_on_broken_files_is_exit_0_with_problems(tmp_path: Path) -> None:
    claims = tmp_path / ".claude" / "claims"
    memory = tmp_path / "mem"
    (memory / "checkpoints").mkdir(parents=True)
    claims.mkdir(parents=True)
    (claims / "EMPTY.json").write_bytes(b"")
    (claims / "LIST.json").write_text("[1, 2]")
    (claims / "BAD.json").write_text('{"ticket": "X", "pid": "abc", "owner": 5}')
    (claims / "DIR.json").mkdir()
    (claims / "CAB-1.lock").mkdir()
    (claims / "CRLF.json").write_bytes(b'{"ticket": "C", "title": "\xc3\xbc"}\r\n')
    (memory / "operations.log").write_bytes(
        b"2026-02-16T10:00 | SESSION-START | task=a branch=b instance=t1\r\n\xff\xfe\ngarbage\n"
    )
    (memory / "checkpoints" / "nonsense.json").write_text("{")
    code, out, err = run_cli("status", str(tmp_path), "--memory", str(memory), "--json")
    assert code == 0, err
    data = json.loads(out)
    where = {(Path(p["file"]).name, p["line"]) for p in data["problems"]}
    assert {
        ("EMPTY.json", None),
        ("LIST.json", None),
        ("DIR.json", None),
        ("operations.log", 2),
        ("operations.log", 3),
    } <= where
    assert any("pid: expected an integer" in p["message"] for p in data["problems"])
    assert not any(Path(p["file"]).name == "CAB-1.lock" for p in data["problems"])
    # A claim file is named after its id: one that holds another id is read under its name.
    assert {c["id"] for c in data["claims"]} == {"BAD", "CRLF"}
    assert any(
        'ticket: "X" does not match the file name BAD.json' in p["message"]
        for p in data["problems"]
    )


def test_symlinked_claims_folder(tmp_path: Path, demo: DemoFactory) -> None:
    root = tmp_path / "wt"
    root.mkdir()
    (root / ".claude").mkdir()
    (root / ".claude" / "claims").symlink_to(demo.claims_dir)
    code, out, err = run_cli(
        "status", str(root), "--memory", str(demo.memory_dir), "--json", "--now", "2026-02-16T15:42"
    )
    assert code == 0, err
    assert len(json.loads(out)["claims"]) >= 8


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file")
def test_unreadable_claim_file(tmp_path: Path) -> None:
    claims = tmp_path / ".claude" / "claims"
    claims.mkdir(parents=True)
    locked = claims / "X.json"
    locked.write_text("{}")
    locked.chmod(0)
    code, out, _ = run_cli("status", str(tmp_path), "--memory", str(tmp_path / "m"), "--json")
    assert code == 0
    assert any("cannot read" in p["message"] for p in json.loads(out)["problems"])


# -- one truth, whatever shows it (issue 11) ------------------------------------------------------


def _numbers(text: str) -> dict[str, int]:
    """``AGENTS 2 working 1 idle 0 CRASHED`` → ``{"working": 2, "idle": 1, "crashed": 0}``."""
    return {word.lower(): int(n) for n, word in re.findall(r"(\d+) (\w+)", text)}


async def test_status_json_and_the_cockpit_show_the_same_counts(
    demo: DemoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`status --json` and the cockpit header on the same demo at the same time: every count of
    the header is the summary's, problems included (lint findings named apart)."""
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(tmp_path / "no-user-config.toml"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    probe = live_probe(demo)

    def pinned(config: Config, **_: object) -> FactoryReader:
        return FactoryReader(config, hostname=HOST, probe=probe)

    monkeypatch.setattr(factory_adapter, "FactoryReader", pinned)
    assert main(["status", str(demo.root), "--json", "--now", "2026-02-16T15:42"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    monkeypatch.undo()

    config = _config(demo.root)
    app = FactoryApp(
        config,
        clock=lambda: NOW,
        reader=FactoryReader(config, hostname=HOST, probe=probe),
        watch=False,
        theme_dir=tmp_path / "no-user-themes",
        environ={},
        prs=PrsOptions(enabled=False),
    )
    async with app.run_test(size=(160, 40)) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        header = {k: v.plain for k, v in app.query_one(SummaryBar).segments.items()}
    assert _numbers(header["agents"]) == {
        "working": summary["agents_working"],
        "idle": summary["agents_idle"],
        "crashed": summary["agents_crashed"],
        "stale": summary["agents_stale"],
    }
    assert _numbers(header["claims"]) == {
        "available": summary["claims_available"],
        "claimed": summary["claims_claimed"],
        "stale": summary["claims_stale"],
    }
    assert _numbers(header["sessions"]) == {"crashed": summary["sessions_crashed"]}
    assert _numbers(header["problems"]) == {"found": summary["problems"], "lint": summary["lint"]}
    # The demo holds one state-lint finding and no unreadable file.
    assert (summary["problems"], summary["lint"]) == (1, 1)
    assert summary["agents_working"] == 2 and summary["agents_idle"] == 1


def test_summary_problems_is_what_fail_on_problems_fails_on(demo: DemoFactory) -> None:
    reader = FactoryReader(_config(demo.root), hostname=HOST, probe=live_probe(demo))
    reader.refresh_all()
    fleet = reader.fleet(NOW)
    summary = fleet.to_json()["summary"]
    assert isinstance(summary, dict)
    assert len(fleet.lint) == 1 and fleet.problems == ()
    assert (summary["problems"], summary["lint"]) == (1, 1)
    assert fail_reasons(fleet, ["problems"]) == ["1 problem (1 lint finding)"]
    out = io.StringIO()
    render_status(fleet, out)
    assert "problems: 1 (1 lint finding)" in out.getvalue()


def test_the_demo_cockpit_reads_the_config_status_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factory-tui demo` opens the cockpit with the demo's own factory.toml (its 2 m idle
    threshold), not with settings of its own that `status` on the same folder would not see."""
    seen: list[Config] = []

    class NoApp:
        return_code = None  # as a Textual app's until it exits

        def __init__(self, config: Config, **_: object) -> None:
            seen.append(config)

        def run(self) -> None:
            return None

    class NoSimulator:
        def __init__(self, root: Path, **_: object) -> None:
            pass

        def run(self, stop: threading.Event) -> None:
            return None

    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", str(tmp_path / "no-user-config.toml"))
    monkeypatch.setattr(app_module, "FactoryApp", NoApp)
    monkeypatch.setattr(simulate_module, "Simulator", NoSimulator)
    monkeypatch.setattr(cli_demo, "require_terminal", lambda: None)  # pytest's are not
    root = tmp_path / "demo"
    argv = ["demo", "--dir", str(root), "--now", "2026-02-16T15:42", "--theme", "factory-mono"]
    assert main(argv) == 0
    [config] = seen
    status_config = load_config(root, flags={})
    assert config.idle_after == status_config.idle_after == timedelta(minutes=2)
    assert config.stale_after == status_config.stale_after
    assert config.theme == "factory-mono"


def _fresh_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``git init``: no claims folder, no operations.log (and no Claude Code folder)."""
    root = tmp_path / "fresh"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", "")
    return root


def test_status_warns_when_the_claims_folder_and_log_do_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _fresh_repo(tmp_path, monkeypatch)
    assert main(["status", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays the JSON document
    claims = root / ".claude" / "claims"
    assert f"warning: no claims folder at {claims}" in captured.err
    assert "no operations.log at " in captured.err
    assert "--claims" in captured.err and "--memory" in captured.err
    assert "factory-tui doctor" in captured.err
    claims.mkdir(parents=True)
    assert main(["status", str(root), "--claims", str(claims), "--json"]) == 0
    assert "no claims folder" not in capsys.readouterr().err


def test_snapshot_fail_on_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _fresh_repo(tmp_path, monkeypatch)
    argv = ["snapshot", str(root), "-o", str(tmp_path / "s.svg"), "--now", "2026-02-16T15:42"]
    assert main(argv) == 0  # a warning, not a failure, unless asked
    assert "warning: no claims folder at" in capsys.readouterr().err
    assert main([*argv, "--fail-on", "missing"]) == 1
    err = capsys.readouterr().err
    assert "--fail-on holds: no claims folder at" in err
    assert "--fail-on holds: no operations.log at" in err
