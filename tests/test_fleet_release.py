"""A RELEASE in the log that the claim file does not show (the real claim tool releases only in its
own database): the claim shows the conflict, and ``release`` proceeds on that evidence."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import FixedProbe, config_for

from factory_tui.actions.base import Outcome
from factory_tui.actions.release import release_claim
from factory_tui.adapters.factory import FactoryReader

NOW = datetime(2026, 2, 16, 17, 45)
HOST = "macbook-pro"


def factory(tmp_path: Path, *log: str) -> FactoryReader:
    root = tmp_path / "factory"
    claims = root / ".claude" / "claims"
    memory = root / ".factory" / "memory"
    claims.mkdir(parents=True)
    memory.mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\nclaims = ".claude/claims"\n')
    # The claim tool's shape: UTC with Z and seconds, empty title, its own short-lived pid.
    claim = {
        "ticket": "CAB-1321",
        "title": "",
        "owner": "t1-aaaa",
        "pid": 4242,
        "hostname": HOST,
        "claimed_at": "2026-02-16T17:00:42Z",
        "branch": "fix/CAB-1321",
        "completed_at": None,
    }
    (claims / "CAB-1321.json").write_text(json.dumps(claim, indent=2) + "\n")
    (memory / "operations.log").write_text("".join(line + "\n" for line in log))
    return FactoryReader(config_for(root), hostname=HOST, probe=FixedProbe())


CLAIM = "2026-02-16T17:00 | CLAIM | task=CAB-1321 instance=t1-aaaa tickets=CAB-1321"
RELEASE = "2026-02-16T17:40 | RELEASE | task=CAB-1321 instance=t1-aaaa reason=done"


def test_a_logged_release_is_a_conflict_and_release_proceeds_without_force(
    tmp_path: Path,
) -> None:
    reader = factory(tmp_path, CLAIM, RELEASE)
    reader.refresh_all()
    (view,) = reader.fleet(NOW).claims
    assert view.state == "claimed"  # 45 minutes old: not stale
    (conflict,) = view.conflicts
    assert "logged RELEASE of CAB-1321 at 2026-02-16T17:40" in conflict
    result = release_claim(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert result.outcome is Outcome.DONE, result.message
    path = reader.config.claims_dir / "CAB-1321.json"
    assert json.loads(path.read_text())["owner"] is None
    last = (reader.config.log_file).read_text().splitlines()[-1]
    assert "| RELEASE | task=CAB-1321 phase=- instance=t1-aaaa reason=done by=dana" in last


def test_without_the_logged_release_it_is_refused(tmp_path: Path) -> None:
    reader = factory(tmp_path, CLAIM)
    result = release_claim(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert result.outcome is Outcome.REFUSED and "not stale" in result.message


def test_the_confirmation_shows_the_logged_release_and_the_cli_asks_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A release on that evidence is a real release: the plan says why it may go ahead, and the
    CLI asks (without a terminal it needs --yes) instead of releasing unasked."""
    from factory_tui.actions.release import ReleasePlan, plan_release
    from factory_tui.cli import main

    reader = factory(tmp_path, CLAIM, RELEASE)
    plan = plan_release(reader.config, "CAB-1321", now=NOW, reader=reader, by="dana")
    assert isinstance(plan, ReleasePlan)
    assert not plan.stale and plan.releasable
    assert any(
        line.startswith("✓ released in the log: t1-aaaa logged RELEASE") for line in plan.describe()
    )
    assert "reason=done" in plan.log_line
    root = str(reader.config.root)
    path = reader.config.claims_dir / "CAB-1321.json"
    # pytest's stdin is not a terminal: refused, nothing written
    assert main(["release", "CAB-1321", root, "--now", "2026-02-16T17:45"]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert json.loads(path.read_text())["owner"] == "t1-aaaa"
    assert main(["release", "CAB-1321", root, "--yes", "--now", "2026-02-16T17:45"]) == 0
    assert json.loads(path.read_text())["owner"] is None
