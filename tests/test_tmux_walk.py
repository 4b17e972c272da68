"""The tmux walk's mechanical checks (benchmarks/tmux_walk.py), on screens written here: what
counts as a value cut by an edge without an ellipsis, what as wrapped or cut properly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "tmux_walk.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tmux_walk", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tmux_walk"] = module
    spec.loader.exec_module(module)
    return module


walk = load()
TITLE = "Migrate config loader to pydantic v2"
BRANCH = "refactor/CAB-1297-pydantic-v2-config"


def test_a_value_run_off_the_edge_or_into_a_border_is_found() -> None:
    screen = f"├─ ★ AVAILABLE CAB-1297 {TITLE[:20]}\n┃ branch {BRANCH[:18]}  ┃\n"
    found = walk.cut_without_ellipsis(screen, [TITLE, BRANCH])
    assert sorted(value for _line, value in found) == [TITLE, BRANCH]


def test_an_ellipsis_a_wrap_or_a_whole_value_is_not_a_cut() -> None:
    ellipsis = f"├─ ★ AVAILABLE CAB-1297 {TITLE[:20]}…  ← claimable now\n"
    wrapped = f" why   {TITLE[:16]}\n       {TITLE[16:]}\n"
    folded = f" branch {BRANCH[:20]}\n        {BRANCH[20:]}\n"
    whole = f"┃ {TITLE} ┃\n"
    for screen in (ellipsis, wrapped, folded, whole):
        assert walk.cut_without_ellipsis(screen, [TITLE, BRANCH]) == [], screen


def test_another_text_sharing_the_first_words_is_not_a_cut() -> None:
    screen = " instance    t18352-0bec\n"
    assert walk.cut_without_ellipsis(screen, ["t18352-0bec today: $3.27 of $10.00"]) == []


def test_lines_wider_than_the_terminal_are_found_by_cells() -> None:
    assert walk.too_wide("abc\n" + "🔒" * 3 + "\n", 5) == ["🔒" * 3]
    assert walk.too_wide("abcde\n", 5) == []


def test_known_values_are_the_long_one_line_strings() -> None:
    documents = [
        {"claims": [{"title": TITLE, "file": "/tmp/x/claims/CAB-1297.json", "id": "CAB-1297"}]},
        ["2026-02-16T15:42:30", "two\nlines here, long enough"],
    ]
    assert walk.known_values(documents) == {TITLE}


def test_changed_lines_are_those_that_differ_at_their_row() -> None:
    assert walk.changed_lines("a\nb\nc\n", "a\nB\nc\n") == ["B"]
    assert walk.changed_lines("a\nb\n", "a\nb\n") == []


def test_text_covered_by_a_dialog_or_ending_with_another_value_is_not_a_cut() -> None:
    covered = f"checkpoint  {TITLE[:14]}│                    │\n"
    assert walk.cut_without_ellipsis(covered, [TITLE]) == []
    other = " log         operations.log.1:1\n"
    values = ["operations.log.1:18", "operations.log.1:1"]
    assert walk.cut_without_ellipsis(other, values) == []
