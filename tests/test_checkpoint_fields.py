"""A checkpoint's fields as :func:`checkpoint_from_json` reads them: each wrong field is a
problem, in the order of the fields, and the checkpoint is kept with it treated as absent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from factory_tui.core.checkpoints import Checkpoint, checkpoint_from_json

FILE = "/f/.factory/memory/checkpoints/2026-02-16T15-01-my-task.json"


def test_every_wrong_field_is_a_problem_in_field_order() -> None:
    raw: dict[str, Any] = {
        "pr_number": "#x",
        "task": ["t"],
        "timestamp": "yesterday",
        "branch": {"b": 1},
        "git_sha": 1.5,
        "steps_completed": ["a", 2],
        "steps_remaining": "merge",
        "context": [],
        "progress": "half",
        "claimed_phase": 3,
    }
    cp, problems = checkpoint_from_json(FILE, raw)
    assert [p.message for p in problems] == [
        'pr_number: expected an integer from 1 to 2147483647, found "#x"',
        'task: expected a string, found ["t"]',
        "task: missing; using the file name's slug",
        "timestamp: not a timestamp: 'yesterday'",
        'branch: expected a string, found {"b": 1}',
        "git_sha: expected a string, found 1.5",
        "steps_completed: expected an array of step names",
        "steps_remaining: expected an array of step names",
        "context: expected an object",
        "progress: expected an object",
        "claimed_phase: expected an object",
    ]
    assert {p.file for p in problems} == {FILE}
    assert cp == Checkpoint(
        file=FILE,
        name="2026-02-16T15-01-my-task.json",
        file_ts=datetime(2026, 2, 16, 15, 1),
        slug="my-task",
        task="my-task",
        timestamp=None,
        branch=None,
        git_sha=None,
        pr_number=None,
        steps_completed=(),
        steps_remaining=(),
    )


def test_good_fields_are_kept_as_written() -> None:
    raw: dict[str, Any] = {
        "task": "CAB-7",
        "timestamp": "2026-02-16T15:01:30",
        "branch": "fix/CAB-7",
        "git_sha": 1234567,  # a number is its text
        "pr_number": "#42",
        "steps_completed": ["branch", "code"],
        "steps_remaining": [],
        "context": {"notes": "n"},
        "progress": {"blockers": ["b"]},
        "claimed_phase": None,
    }
    cp, problems = checkpoint_from_json(FILE, raw)
    assert problems == []
    assert cp is not None
    assert (cp.task, cp.timestamp, cp.branch, cp.git_sha, cp.pr_number) == (
        "CAB-7",
        "2026-02-16T15:01:30",
        "fix/CAB-7",
        "1234567",
        42,
    )
    assert (cp.steps_completed, cp.steps_remaining) == (("branch", "code"), ())
    assert (cp.notes, cp.blockers, cp.claimed_phase) == ("n", ("b",), None)
    assert cp.at == datetime(2026, 2, 16, 15, 1, 30)


def test_not_an_object_is_no_checkpoint() -> None:
    assert checkpoint_from_json(FILE, ["x"]) == (
        None,
        [checkpoint_from_json(FILE, 1)[1][0]],
    )
    assert checkpoint_from_json(FILE, 1)[1][0].message == "a checkpoint holds a JSON object"
