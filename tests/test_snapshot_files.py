"""Every stored snapshot belongs to a test.

syrupy fails a run on a snapshot no test uses, but only in one process: under pytest-xdist (the
default run) it cannot see the other workers' tests and says nothing. This test keeps that check
in the parallel run. (``python -m pytest -n 0 --snapshot-update`` deletes the unused ones.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DESELECTED

SNAPSHOTS = Path(__file__).parent / "__snapshots__"


def test_every_stored_snapshot_belongs_to_a_test(request: pytest.FixtureRequest) -> None:
    collected = [*request.session.items, *request.config.stash.get(DESELECTED, [])]
    names: dict[str, set[str]] = {}
    for item in collected:
        names.setdefault(item.path.stem, set()).add(item.name)
    # A file named with some of its tests (``file.py::test``) has the others neither collected
    # nor deselected: its snapshots cannot be checked in this run.
    partial = {Path(arg.split("::")[0]).stem for arg in request.config.args if "::" in arg}
    checked = 0
    for folder in sorted(p for p in SNAPSHOTS.iterdir() if p.is_dir()):
        if folder.name not in names or folder.name in partial:
            continue  # that test file is not (wholly) part of this run
        for svg in sorted(folder.glob("*.svg")):
            checked += 1
            assert svg.stem in names[folder.name], (
                f"{svg.relative_to(SNAPSHOTS.parent.parent)}: no test {folder.name}.py::{svg.stem}; "
                f"delete it or run `python -m pytest -n 0 tests/{folder.name}.py --snapshot-update`"
            )
    if not checked:
        pytest.skip("no snapshot test file in this run")
