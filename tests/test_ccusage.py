"""``factory-tui cost`` against ccusage (the most used Claude Code cost reporter) on the same
generated transcripts: per day, to the cent, except where ccusage is wrong (then ours is checked
against the published price). The transcript set and the runners are
``benchmarks/compare_ccusage.py``'s; ccusage is a test-only tool installed with npm."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "compare_ccusage.py"


def _compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_ccusage", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = _compare()


@pytest.fixture(scope="session")
def ccusage() -> Path:
    found = compare.find_ccusage(install=True)
    if found is None:
        pytest.skip(
            "ccusage not found ($CCUSAGE_BIN, PATH, ~/.cache/factory-tui-test/ccusage)"
            " and npm could not install it (offline?)"
        )
    return Path(found)


@pytest.mark.skipif(
    shutil.which("npm") is None and compare.find_ccusage(install=False) is None,
    reason="needs ccusage: npm is absent and no ccusage is installed ($CCUSAGE_BIN)",
)
def test_cost_agrees_with_ccusage_per_day_to_the_cent(ccusage: Path, tmp_path: Path) -> None:
    root, claude = compare.generate(tmp_path)
    ours = compare.ours(root, claude)
    theirs = compare.theirs(ccusage, claude)
    price = compare.expected_usd()
    assert sorted(ours) == sorted(theirs) == sorted(price)
    for day, usd in price.items():
        # Ours is the published price, every day.
        assert ours[day] == pytest.approx(usd, abs=1e-6), day
        if day in compare.EXPECTED_DIFFERENT:
            # ccusage is wrong here (see EXPECTED_DIFFERENT): it bills a long-context request
            # at the standard rates because no single kind of token passes 200k.
            assert abs(theirs[day] - usd) >= 0.005, f"{day}: ccusage now agrees; drop the note"
        else:
            assert abs(ours[day] - theirs[day]) < 0.005, (day, ours[day], theirs[day])
