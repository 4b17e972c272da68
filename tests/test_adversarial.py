"""Issue 16, "Safe in a hostile world": hostile factories through ``status``, ``status --json``
and ``snapshot``, as subprocesses with a time and a memory limit.

Every case asserts the same four things: no exception (no traceback, the documented exit code),
no hang (killed at the time limit), no file changed (type, mode, bytes or link target of every
entry under the factory), and no raw control character in any output (stdout, stderr, the
snapshot file). A failure names the hostile kinds (``kind@site``), the output and what went wrong.

- ``test_hostile_factories`` draws combinations of kinds with hypothesis (deterministic).
- ``test_each_hostile_kind`` runs each kind at each site alone, so a failure says exactly which.
- The explicit cases cover what is too slow to draw: a 256 KB plan.md line under a memory limit,
  and the cockpit (``snapshot``) on FIFOs and ``/dev/zero``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hostile import (
    ALL_CASES,
    KINDS,
    NOW,
    PAYLOADS,
    SINGLE_FILE_SITES,
    TEXT_SITES,
    Run,
    Spec,
    build,
    changes,
    cli_env,
    every_payload,
    fingerprint,
    raw_controls,
    report,
    run_cli,
    run_problems,
    specs,
)
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.adversarial

#: A tiny factory's status takes 0.2 s; a loaded 2-core machine may take a few seconds to start
#: Python. Past this, it hangs.
STATUS_TIMEOUT = 6.0
SNAPSHOT_TIMEOUT = 30.0


def status_problems(tmp: Path, spec: Spec, *, json_only: bool = False) -> list[str]:
    """Build ``spec``'s factory in ``tmp``, run status (and --json), return what went wrong."""
    factory = build(tmp / "factory", spec)
    env = cli_env(tmp)
    before = fingerprint(factory.root)
    problems: list[str] = []
    runs: list[Run] = []
    if not json_only:
        runs.append(
            run_cli(["status", str(factory.root), "--now", NOW], env, timeout=STATUS_TIMEOUT)
        )
    runs.append(
        run_cli(["status", str(factory.root), "--json", "--now", NOW], env, timeout=STATUS_TIMEOUT)
    )
    for run in runs:
        problems += run_problems(run)
    last = runs[-1]
    if last.code == 0:
        try:
            data = json.loads(last.out)
        except ValueError as error:
            problems.append(f"`status --json` is not JSON: {error}")
        else:
            if not isinstance(data, dict) or "claims" not in data:
                problems.append("`status --json` has no claims list")
    changed = changes(before, fingerprint(factory.root))
    if changed:
        problems.append(f"files changed by a read-only command:\n    {changed}")
    return problems


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    # A failing case may be a hang at the time limit: shrinking would repeat it many times.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs())
def test_hostile_factories(spec: Spec, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        problems = status_problems(Path(tmp), spec)
    assert not problems, report(spec, problems)


@pytest.mark.parametrize("kind,site", ALL_CASES, ids=[f"{k}@{s}" for k, s in ALL_CASES])
def test_each_hostile_kind(kind: str, site: str, tmp_path: Path) -> None:
    """One kind at one site (no hostile text): ``status --json`` survives it."""
    spec = Spec(((kind, site),))
    problems = status_problems(tmp_path, spec, json_only=True)
    assert not problems, report(spec, problems)


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if p != "ok"], ids=ascii)
def test_each_payload_in_every_text_field(payload: str, tmp_path: Path) -> None:
    """One untrusted text in every text field (titles, owners, branches, hosts, log values,
    checkpoint, plan.md, memory.md, transcript model): neither output shows it raw."""
    spec = Spec((), tuple((site, payload) for site in TEXT_SITES))
    problems = status_problems(tmp_path, spec)
    assert not problems, report(spec, problems)


def test_every_kind_at_once(tmp_path: Path) -> None:
    """All the kinds together (one site each for the single-file sites)."""
    taken: set[str] = set()
    mutations = []
    for kind, site in ALL_CASES:
        if site in SINGLE_FILE_SITES:
            if site in taken:
                continue
            taken.add(site)
        mutations.append((kind, site))
    spec = Spec(tuple(mutations), every_payload())
    problems = status_problems(tmp_path, spec)
    assert not problems, report(spec, problems)


def test_a_256_kb_plan_line_stays_linear(tmp_path: Path) -> None:
    """plan.md (and memory.md) as one 256 KB line: status answers within the time limit, in
    well under the memory limit (a quadratic scanner took 1.6 GB for 189 KB)."""
    spec = Spec((("long_line", "plan.md"),), plan_line_bytes=256 << 10)
    factory = build(tmp_path / "factory", spec)
    (factory.root / "memory.md").write_bytes((factory.root / "plan.md").read_bytes())
    before = fingerprint(factory.root)
    run = run_cli(
        ["status", str(factory.root), "--json", "--now", NOW],
        cli_env(tmp_path),
        timeout=30.0,
        memory=1 << 30,
    )
    problems = run_problems(run)
    changed = changes(before, fingerprint(factory.root))
    if changed:
        problems.append(f"files changed:\n    {changed}")
    assert not problems, report(spec, problems)


@pytest.mark.parametrize(
    "output,view",
    [("shot.svg", "problems"), ("shot.txt", "state")],
)
def test_snapshot_on_fifos_and_dev_zero(tmp_path: Path, output: str, view: str) -> None:
    """The cockpit, headless, on FIFOs and /dev/zero links at every site: it renders (no hang,
    no endless read), writes only its output, and the output holds no raw control character."""
    mutations = [(kind, site) for kind, site in ALL_CASES if kind == "fifo"]
    mutations += [("devzero_symlink", "claim"), ("devzero_symlink", "checkpoint")]
    mutations += [("devzero_symlink", "transcript")]
    spec = Spec(tuple(mutations), every_payload())
    factory = build(tmp_path / "factory", spec)
    before = fingerprint(factory.root)
    shot = tmp_path / output
    run = run_cli(
        ["snapshot", str(factory.root), "--output", str(shot), "--view", view, "--now", NOW],
        cli_env(tmp_path),
        timeout=SNAPSHOT_TIMEOUT,
    )
    problems = run_problems(run)
    if run.code == 0:
        if not shot.is_file():
            problems.append(f"`snapshot` exit 0 but wrote no {output}")
        else:
            for hit in raw_controls(shot.read_text(encoding="utf-8")):
                problems.append(f"{output} (view {view}): raw control character {hit}")
    changed = changes(before, fingerprint(factory.root))
    if changed:
        problems.append(f"files changed by a read-only command:\n    {changed}")
    assert not problems, report(spec, problems)


def test_the_kind_list_covers_the_issue() -> None:
    """Every kind the issue names has a mutation (a guard against the generator drifting)."""
    named = {
        "id_absolute",
        "id_slash",
        "id_nul",
        "id_mismatch",
        "id_duplicate",
        "dangling_symlink",
        "devzero_symlink",
        "devnull_symlink",
        "fifo",
        "lock_file",
        "temp_leftover",
        "huge",
        "long_line",
        "ts_limits",
        "big_int",
        "negative_pid",
        "dep_cycle",
        "binary",
        "deep_json",
        "empty",
        "dir_like_file",
    }
    assert set(KINDS) == named
