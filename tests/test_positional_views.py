"""The records made positionally for speed (issue 17: ten thousand claims and tens of thousands
of sessions at 10x) get each value in its own field. A field added or moved in one of these
dataclasses without its construction site would swap two values of the same type silently: here
every input is distinct, and each field is checked by name."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

from conftest import config_for

from factory_tui.adapters.factory import FactoryReader
from factory_tui.core.checkpoints import Checkpoint, checkpoint_from_json
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.fleet import ClaimView, SessionView

NOW = datetime(2026, 2, 12, 16, 0)
CHECKPOINT = "2026-02-12T10-02-t-open.json"


def _factory(root: Path) -> FactoryReader:
    (root / ".claude" / "claims").mkdir(parents=True)
    memory = root / ".factory" / "memory"
    (memory / "checkpoints").mkdir(parents=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    mega = {
        "mega": "MEGA-1",
        "title": "The mega title",
        "phases": [
            {"id": 1, "name": "first", "tickets": ["T-A"], "owner": None, "deps": [],
             "completed_at": "2026-02-11T09:00", "mode": "sequential"},
            {"id": 2, "name": "second phase", "tickets": ["T-B", "T-C"], "owner": "i-owner",
             "pid": 4242, "claimed_at": "2026-02-12T08:00", "hostname": "elsewhere.example",
             "branch": "feat/the-branch", "mode": "parallel", "deps": [1], "completed_at": None},
        ],
    }  # fmt: skip
    (root / ".claude" / "claims" / "MEGA-1.json").write_text(json.dumps(mega))
    (memory / "checkpoints" / CHECKPOINT).write_text(
        json.dumps({"task": "t-open", "steps_completed": ["code"], "steps_remaining": ["ci"]})
    )
    (memory / "operations.log").write_text(
        "2026-02-12T10:00 | SESSION-START | task=t-ended branch=b-ended instance=i-ended"
        " recovered_from=r-from\n"
        "2026-02-12T10:01 | SESSION-START | task=t-open branch=b-open instance=i-open\n"
        "2026-02-12T10:02 | CHECKPOINT | task=t-open file=" + CHECKPOINT + "\n"
        "2026-02-12T10:03 | STEP-DONE | step=s-ended task=t-ended pr=77\n"
        "2026-02-12T10:04 | STEP-START | step=s-open task=t-open\n"
        "2026-02-12T10:05 | ERROR | task=t-ended error=e-ended\n"
        "2026-02-12T10:06 | ERROR | task=t-open error=e-open\n"
        "2026-02-12T10:07 | SESSION-END | task=t-ended status=success recovered_by=r-by\n"
    )
    reader = FactoryReader(config_for(root), hostname="here")
    reader.refresh_all()
    return reader


def _as_dict(view: object) -> dict[str, object]:
    return {f.name: getattr(view, f.name) for f in fields(view)}  # type: ignore[arg-type]


def test_a_checkpoints_fields_each_hold_their_own_value() -> None:
    raw = {
        "task": "the-task",
        "timestamp": "2026-02-12T14:30:00",
        "branch": "the-branch",
        "git_sha": "abc1234",
        "pr_number": 367,
        "steps_completed": ["branch"],
        "steps_remaining": ["merge"],
        "context": {"c": 1},
        "progress": {"p": 2},
        "claimed_phase": {"id": 3},
    }
    cp, problems = checkpoint_from_json("/f/2026-02-12T14-30-the-slug.json", raw)
    assert problems == []
    assert _as_dict(cp) == {
        "file": "/f/2026-02-12T14-30-the-slug.json",
        "name": "2026-02-12T14-30-the-slug.json",
        "file_ts": datetime(2026, 2, 12, 14, 30),
        "slug": "the-slug",
        "task": "the-task",
        "timestamp": "2026-02-12T14:30:00",
        "branch": "the-branch",
        "git_sha": "abc1234",
        "pr_number": 367,
        "steps_completed": ("branch",),
        "steps_remaining": ("merge",),
        "context": {"c": 1},
        "progress": {"p": 2},
        "claimed_phase": {"id": 3},
    }
    assert [f.name for f in fields(Checkpoint)] == list(_as_dict(cp))


def test_a_claim_units_and_its_views_fields_each_hold_their_own_value(tmp_path: Path) -> None:
    fleet = _factory(tmp_path).fleet(NOW, procs={})
    views = {view.key: view for view in fleet.claims}
    claimed = views["MEGA-1:2"]
    assert _as_dict(claimed.unit) == {
        "claim_id": "MEGA-1",
        "phase": 2,
        "name": "second phase",
        "tickets": ("T-B", "T-C"),
        "owner": "i-owner",
        "pid": 4242,
        "claimed_at": "2026-02-12T08:00",
        "hostname": "elsewhere.example",
        "branch": "feat/the-branch",
        "mode": "parallel",
        "deps": (1,),
        "completed_at": None,
        "key": "MEGA-1:2",
    }
    assert views["MEGA-1:1"].unit.completed_at == "2026-02-11T09:00"
    assert views["MEGA-1:1"].unit.mode == "sequential"
    assert [f.name for f in fields(ClaimUnit)] == list(_as_dict(claimed.unit))
    view = _as_dict(claimed)
    assert view["unit"] is claimed.unit
    assert str(view["file"]).endswith("/.claude/claims/MEGA-1.json")
    assert (view["kind"], view["title"]) == ("mega", "The mega title")
    assert view["state"] == "stale" and str(view["why"]).startswith("stale: ")
    assert [c.holds for c in claimed.conditions] == [True, True, True]
    assert (view["unmet_deps"], view["pid_alive"], view["local"]) == ((), None, False)
    assert (view["conflicts"], view["conflicts_about"], view["origins"]) == ((), (), ("file",))
    assert [f.name for f in fields(ClaimView)] == list(view)


def test_a_sessions_view_fields_each_hold_their_own_value(tmp_path: Path) -> None:
    fleet = _factory(tmp_path).fleet(NOW, procs={})
    sessions = {view.task: view for view in fleet.sessions}
    ended = _as_dict(sessions["t-ended"])
    assert ended.pop("why")
    assert ended == {
        "task": "t-ended",
        "instance": "i-ended",
        "branch": "b-ended",
        "status": "ended",
        "end_status": "success",
        "started_at": "2026-02-12T10:00",
        "ended_at": "2026-02-12T10:07",
        "last_step": "s-ended",
        "last_step_state": "done",
        "last_step_at": "2026-02-12T10:03",
        "last_event_at": "2026-02-12T10:07",
        "pr": "77",
        "checkpoint": None,
        "recovered_from": "r-from",
        "recovered_by": "r-by",
        "last_error": "e-ended",
        "source": "operations.log",
        "start_line": 1,
        "duration": timedelta(minutes=7),
        "origins": ("file",),
    }
    crashed = sessions["t-open"]
    opened = _as_dict(crashed)
    assert opened.pop("why") and opened.pop("duration")
    assert isinstance(opened.pop("checkpoint"), Checkpoint)
    assert crashed.checkpoint is not None and crashed.checkpoint.name == CHECKPOINT
    assert opened == {
        "task": "t-open",
        "instance": "i-open",
        "branch": "b-open",
        "status": "crashed",
        "end_status": None,
        "started_at": "2026-02-12T10:01",
        "ended_at": None,
        "last_step": "s-open",
        "last_step_state": "start",
        "last_step_at": "2026-02-12T10:04",
        "last_event_at": "2026-02-12T10:06",
        "pr": None,
        "recovered_from": None,
        "recovered_by": None,
        "last_error": "e-open",
        "source": "operations.log",
        "start_line": 2,
        "origins": ("file",),
    }
    assert [f.name for f in fields(SessionView)] == list(_as_dict(crashed))
