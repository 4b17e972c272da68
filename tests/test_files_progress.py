"""A first read of many claim files and checkpoints tells its progress as a log's read does: on
the 10x factory (13,000 claim files, 10,000 checkpoints) the cockpit's header said nothing for
the ~0.8 s they took after the log's index, and a slow disk makes that seconds (issue 17)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from test_cli_progress import ERASE, Terminal
from test_fleet_feed_save import RecordingApp, _factory, _feed

from factory_tui.adapters import factory_claims
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.logindex import LogIndex
from factory_tui.cli import main, progress
from factory_tui.config import Config
from factory_tui.ui.messages import FleetUpdated, LoadProgress

CLAIMS, CHECKPOINTS = 2_001, 1_001


def _files(config: Config) -> None:
    """``CLAIMS`` claim files and ``CHECKPOINTS`` checkpoints, each of a task of its own."""
    config.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    for n in range(CLAIMS):
        (config.claims_dir / f"T-{n}.json").write_text(json.dumps({"ticket": f"T-{n}"}))
    for n in range(CHECKPOINTS):
        (config.checkpoints_dir / f"2026-02-12T14-00-t{n}.json").write_text(
            json.dumps({"task": f"t{n}", "step": "code"})
        )


def test_the_claim_files_and_checkpoints_reads_tell_how_far_they_are(tmp_path: Path) -> None:
    config = _factory(tmp_path)
    _files(config)
    told: list[tuple[str, int, int]] = []
    reader = FactoryReader(config, hostname="h", on_progress=lambda *p: told.append(p))
    reader.refresh_claims()
    every = factory_claims.PROGRESS_FILES
    assert told == [
        *(("claim files", done, CLAIMS) for done in range(0, CLAIMS, every)),
        ("claim files", CLAIMS, CLAIMS),
    ]
    told.clear()
    reader.refresh_checkpoints()
    assert told == [
        *(("checkpoints", done, CHECKPOINTS) for done in range(0, CHECKPOINTS, every)),
        ("checkpoints", CHECKPOINTS, CHECKPOINTS),
    ]
    assert len(reader.checkpoints) == CHECKPOINTS and len(reader.claim_folder.files()) == CLAIMS


def test_status_tells_the_claim_files_read_on_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _factory(tmp_path)
    _files(config)
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0)
    monkeypatch.setattr(progress, "EVERY_S", 0)
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["status", str(config.root), "--json", "--no-cache"]) == 0
    said = term.getvalue()
    assert "factory-tui: reading claim files 0%…" in said
    assert "factory-tui: reading checkpoints 99%…" in said and said.endswith(ERASE)
    assert len(json.loads(capsys.readouterr().out)["claims"]) == CLAIMS


class ProgressApp(RecordingApp):
    """Each progress posted too, in order with the fleets."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.messages: list[tuple[str, str, int, int]] = []

    def post_message(self, message: object) -> bool:
        if isinstance(message, LoadProgress):
            self.messages.append(("progress", message.source, message.done, message.total))
        elif isinstance(message, FleetUpdated) and message.initial:
            self.messages.append(("fleet", "", 0, 0))
        return super().post_message(message)


def test_the_cockpits_header_is_told_the_files_read_before_the_first_fleet(
    tmp_path: Path,
) -> None:
    config = _factory(tmp_path)
    _files(config)
    reader = FactoryReader(config, hostname="h")
    with LogIndex(config.log_history_file, config.log_file) as index:
        app = ProgressApp(tmp_path / "no-cache-file", index)
        _feed(config, reader, index, cast(Any, app))._load_everything()
    said = [(source, done) for kind, source, done, _total in app.messages if kind == "progress"]
    fleet_at = [kind for kind, *_rest in app.messages].index("fleet")
    assert ("claim files", 0) in said and ("checkpoints", 0) in said
    ends = [
        app.messages.index(("progress", "claim files", CLAIMS, CLAIMS)),
        app.messages.index(("progress", "checkpoints", CHECKPOINTS, CHECKPOINTS)),
    ]
    assert max(ends) < fleet_at
