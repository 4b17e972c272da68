from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import record_calls
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.core.claims import (
    ClaimFile,
    ClaimUnit,
    dump_claim,
    parse_claim,
    parse_claim_with_json,
    release_fields,
    update_unit,
)
from factory_tui.core.problems import Problem

MEGA = {
    "mega": "CAB-1290",
    "title": "Gateway Live-Code MEGA",
    "created": "2026-02-16T14:00",
    "x-custom": {"keep": [1, 2]},
    "phases": [
        {
            "id": 1,
            "name": "API + Gateway",
            "tickets": ["CAB-1350", "CAB-1351"],
            "owner": "t48217-a3f2",
            "pid": 12345,
            "claimed_at": "2026-02-16T14:05",
            "hostname": "macbook-pro.local",
            "branch": "feat/CAB-1350-traceparent",
            "mode": "parallel",
            "deps": [],
            "completed_at": None,
            "extra_phase_field": "kept",
        },
        {
            "id": 2,
            "name": "E2E Tests",
            "tickets": ["CAB-1352"],
            "owner": None,
            "claimed_at": None,
            "hostname": None,
            "branch": None,
            "mode": "sequential",
            "deps": [1],
            "completed_at": None,
        },
    ],
}
STANDALONE = {
    "ticket": "CAB-1321",
    "title": "Portal ToS link fix",
    "owner": "t48217-a3f2",
    "pid": 12345,
    "hostname": "macbook-pro.local",
    "claimed_at": "2026-02-16T14:10",
    "branch": "fix/CAB-1321-tos-link",
    "completed_at": None,
}


def _parse(obj: object, name: str = "CAB-1290.json"):  # type: ignore[no-untyped-def]
    return parse_claim(name, json.dumps(obj).encode())


def test_mega_claim() -> None:
    claim, problems = _parse(MEGA)
    assert problems == []
    assert claim is not None and claim.kind == "mega" and claim.claim_id == "CAB-1290"
    one, two = claim.units
    assert (one.key, one.owner, one.pid, one.tickets) == (
        "CAB-1290:1",
        "t48217-a3f2",
        12345,
        ("CAB-1350", "CAB-1351"),
    )
    assert two.deps == (1,) and two.owner is None
    assert one.lock_name == "CAB-1290-phase-1.lock"


def test_standalone_claim() -> None:
    claim, problems = _parse(STANDALONE, "CAB-1321.json")
    assert problems == []
    assert claim is not None and claim.kind == "standalone"
    (unit,) = claim.units
    assert unit.key == "CAB-1321" and unit.phase is None and unit.lock_name == "CAB-1321.lock"


def test_wrong_field_types_name_file_and_field() -> None:
    bad = json.loads(json.dumps(MEGA))
    bad["phases"][0]["pid"] = "not-a-pid"
    bad["phases"][0]["deps"] = "1"
    bad["phases"][1]["owner"] = ["x"]
    claim, problems = _parse(bad)
    assert claim is not None
    messages = [p.message for p in problems]
    assert any(m.startswith("phases[0].pid: expected an integer") for m in messages)
    assert any(m.startswith("phases[0].deps: expected an array") for m in messages)
    assert any(m.startswith("phases[1].owner: expected a string") for m in messages)
    assert all(p.file == "CAB-1290.json" for p in problems)
    assert claim.units[0].pid is None


def test_tolerant_numbers_as_strings() -> None:
    loose = dict(STANDALONE, pid="12345")
    claim, problems = _parse(loose, "CAB-1321.json")
    assert problems == [] and claim is not None and claim.units[0].pid == 12345


def test_empty_list_invalid_json() -> None:
    assert parse_claim("a.json", b"")[1][0].message.startswith("empty file")
    claim, problems = parse_claim("a.json", b"[1, 2]")
    assert claim is None and "found array" in problems[0].message
    claim, problems = parse_claim("a.json", b'{"mega": "X", "phases": [')
    assert (
        claim is None and problems[0].message.startswith("not valid JSON") and problems[0].line == 1
    )
    claim, problems = parse_claim("a.json", b"\xff\xfe{}")
    assert claim is None


def test_missing_dep_and_duplicate_phase() -> None:
    bad = json.loads(json.dumps(MEGA))
    bad["phases"][1]["deps"] = [7]
    bad["phases"].append(dict(bad["phases"][0]))
    _claim, problems = _parse(bad)
    messages = " | ".join(p.message for p in problems)
    assert "depends on phase 7, which does not exist" in messages
    assert "appears twice" in messages


def test_unknown_fields_survive_a_rewrite() -> None:
    claim, raw, _ = parse_claim_with_json("CAB-1290.json", json.dumps(MEGA).encode())
    assert claim is not None
    new = update_unit(raw, 1, release_fields())
    back = json.loads(dump_claim(new))
    assert back["x-custom"] == {"keep": [1, 2]}
    assert back["phases"][0]["extra_phase_field"] == "kept"
    assert back["phases"][0]["owner"] is None and back["phases"][0]["pid"] is None
    assert back["phases"][0]["branch"] == "feat/CAB-1350-traceparent"
    assert raw["phases"][0]["owner"] == "t48217-a3f2"  # the original is untouched


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_claim_reader_never_raises_on_bytes(data: bytes) -> None:
    assert_claim_or_problem(parse_claim("fuzz.json", data))


def assert_claim_or_problem(parsed: tuple[ClaimFile | None, list[Problem]]) -> None:
    """What the reader returns is a claim of that file, or at least one problem with it (never
    nothing at all), and each problem names the file and says something."""
    claim, problems = parsed
    assert claim is not None or problems, "neither a claim nor a problem"
    if claim is not None:
        assert isinstance(claim, ClaimFile) and claim.file == "fuzz.json"
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.file == "fuzz.json" and problem.message.strip()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "mega",
                "ticket",
                "phases",
                "owner",
                "pid",
                "deps",
                "id",
                "claimed_at",
                "completed_at",
                "tickets",
            ]
        ),
        json_values,
        max_size=8,
    )
)
def test_claim_reader_never_raises_on_odd_json(obj: dict[str, object]) -> None:
    assert_claim_or_problem(parse_claim("fuzz.json", json.dumps(obj).encode()))
    mega = json.dumps({"mega": "M", "phases": [obj, obj]}).encode()
    assert_claim_or_problem(parse_claim("fuzz.json", mega))


def test_the_claims_folder_finds_ids_declared_twice_again_only_when_an_id_can_have_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a claim file written again under the same id (the claim tool's every write)
    neither sorts the folder's names again nor looks for ids declared twice (ten thousand
    files: ~4 ms of each change's re-derive); a file that comes, goes or declares another id
    does, and the problems are what a fresh read of the folder finds."""
    from datetime import timedelta

    from factory_tui.adapters import factory_claims

    def write(name: str, ticket: str, title: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"ticket": ticket, "title": title, "owner": None}))
        return path

    for n in range(5):
        write(f"CAB-{n}.json", f"CAB-{n}", "t")

    folder = _folder(tmp_path, factory_claims, timedelta)
    looked = record_calls(monkeypatch, factory_claims, "claim_set_problems")

    def fresh() -> list[Problem]:
        """What a new read of the folder finds (its own look not counted)."""
        count = len(looked)
        found = _folder(tmp_path, factory_claims, timedelta).all_problems()
        del looked[count:]
        return found

    assert folder.all_problems() == [] and len(looked) == 1
    path = write("CAB-1.json", "CAB-1", "retitled, a longer title")
    assert folder.refresh_claim(path)
    assert folder.all_problems() == [] and len(looked) == 1  # the same id: not looked for
    assert [c.title for c in folder.sorted_files()][1] == "retitled, a longer title"
    path = write("CAB-3.json", "CAB-2", "now CAB-2's id")  # declares another id
    assert folder.refresh_claim(path)
    found = folder.all_problems()
    assert len(looked) == 2 and [p.message for p in found] == [p.message for p in fresh()]
    assert any("id CAB-2 is also the id of" in p.message for p in found)
    path.unlink()  # a file gone
    assert folder.refresh()
    assert folder.all_problems() == [] == fresh() and len(looked) == 3
    write("CAB-0b.json", "CAB-0", "a second CAB-0")  # a file come
    assert folder.refresh()
    assert [c.file for c in folder.sorted_files()] == sorted(str(p) for p in tmp_path.iterdir())
    assert [p.message for p in folder.all_problems()] == [p.message for p in fresh()] != []


def test_the_claims_folder_looks_across_files_again_when_a_mega_gains_a_phase(
    tmp_path: Path,
) -> None:
    """A MEGA written again under its id, with a phase more, can take a ticket's key: the
    problem shows at once, as a fresh read of the folder finds it."""
    from datetime import timedelta

    from factory_tui.adapters import factory_claims

    mega = tmp_path / "M.json"
    mega.write_text(json.dumps({"mega": "M", "phases": [{"id": 1}]}))
    (tmp_path / "M:2.json").write_text(json.dumps({"ticket": "M:2", "owner": None}))
    folder = _folder(tmp_path, factory_claims, timedelta)
    assert folder.all_problems() == []
    mega.write_text(json.dumps({"mega": "M", "phases": [{"id": 1}, {"id": 2, "deps": [1]}]}))
    assert folder.refresh_claim(mega)
    found = [p.message for p in folder.all_problems()]
    assert found == [p.message for p in _folder(tmp_path, factory_claims, timedelta).all_problems()]
    assert found and "has the key of phase 2 of M" in found[0]


def _folder(root: Path, module: Any, timedelta: Any) -> Any:
    folder = module.ClaimFolder(root, max_file_bytes=1 << 20, lock_stale_after=timedelta(minutes=5))
    folder.refresh()
    return folder


def test_a_units_key_is_made_with_it_and_follows_a_replace() -> None:
    """The key is made once, at construction (the Claims view and the derive ask for it several
    times a claim); a unit made again with another phase or id has its own."""
    unit = ClaimUnit("CAB-1290", 2, "n", (), None, None, None, None, None, None, (), None)
    assert unit.key == "CAB-1290:2"
    assert replace(unit, phase=None).key == "CAB-1290"
    assert replace(unit, claim_id="MEGA-9").key == "MEGA-9:2"
    assert unit == replace(unit) and hash(unit) == hash(replace(unit))
    assert pickle.loads(pickle.dumps(unit)).key == "CAB-1290:2"
