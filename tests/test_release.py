"""Releasing a stale claim: lock, re-check, history, atomic write, verify, audit line."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_cache_hostile import _returns

from factory_tui.actions import base
from factory_tui.actions.base import ActionResult, Outcome
from factory_tui.actions.release import (
    history_dir,
    plan_release,
    release_all_stale,
    release_all_summary,
    release_claim,
)
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.lock import LockBusy, atomic_write, claim_lock
from factory_tui.cli import main
from factory_tui.config import Config, load_config
from factory_tui.core.claims import parse_claim
from factory_tui.demo import DemoFactory

NOW = datetime(2026, 2, 16, 15, 42)
NOW_S = "2026-02-16T15:42"


@pytest.fixture
def demo(git_demo: DemoFactory) -> DemoFactory:
    """The demo factory (on this machine's hostname, at NOW), copied into ``tmp_path``."""
    return git_demo


def config(demo: DemoFactory, **flags: str) -> Config:
    return load_config(demo.root, flags=flags, env={}, user_config=demo.root / "none.toml")


def owner_of(path: Path, phase: int | None = None) -> str | None:
    claim, _ = parse_claim(str(path), path.read_bytes())
    assert claim is not None
    return next(u.owner for u in claim.units if u.phase == phase)


def log_lines(demo: DemoFactory) -> list[str]:
    return (demo.memory_dir / "operations.log").read_text().splitlines()


def test_release_a_stale_claim(demo: DemoFactory, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    before = path.read_bytes()
    raw = json.loads(before)
    raw["x-unknown"] = {"kept": True}
    path.write_text(json.dumps(raw, indent=2))
    old_owner = raw["owner"]
    assert main(["release", "CAB-1302", str(demo.root), "--now", NOW_S, "--yes"]) == 0
    assert "released CAB-1302" in capsys.readouterr().out
    after = json.loads(path.read_text())
    assert (after["owner"], after["claimed_at"], after["pid"]) == (None, None, None)
    assert after["x-unknown"] == {"kept": True} and after["branch"] == raw["branch"]
    kept = list(history_dir(config(demo)).iterdir())
    assert len(kept) == 1 and json.loads(kept[0].read_text())["owner"] == old_owner
    last = log_lines(demo)[-1]
    assert last.startswith(
        f"{NOW_S} | RELEASE | task=CAB-1302 phase=- instance={old_owner} reason=stale by="
    )
    assert not list(demo.claims_dir.glob("*.lock"))


def test_not_stale_is_refused_with_the_failing_condition(
    demo: DemoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = demo.claims_dir / "CAB-1290.json"
    before = path.read_bytes()
    lines = len(log_lines(demo))
    assert main(["release", "CAB-1290:3", str(demo.root), "--now", NOW_S]) == 1
    err = capsys.readouterr().err
    assert "CAB-1290:3 is not stale: claimed 1h33m ago" in err and "--force" in err
    assert path.read_bytes() == before
    assert len(log_lines(demo)) == lines
    assert not history_dir(config(demo)).exists()


def test_force_is_logged_as_forced(demo: DemoFactory) -> None:
    result = release_claim(
        config(demo), "CAB-1290:3", now=NOW, force=True, reason="agent stuck", by="me"
    )
    assert result.ok, result.message
    assert owner_of(demo.claims_dir / "CAB-1290.json", 3) is None
    assert ' reason=forced by=me note="agent stuck" change=' in log_lines(demo)[-1]


def test_plan_describes_conditions_and_the_line(demo: DemoFactory) -> None:
    plan = plan_release(config(demo), "CAB-1302", now=NOW, by="me")
    assert not isinstance(plan, type(None))
    text = "\n".join(plan.describe())  # type: ignore[union-attr]
    assert "✓ age: claimed 5h15m ago" in text and "✓ pid:" in text
    assert "RELEASE | task=CAB-1302 phase=- instance=" in text


def test_lock_held_is_refused_and_stale_lock_is_taken(demo: DemoFactory) -> None:
    cfg = config(demo)
    lock = demo.claims_dir / "CAB-1302.lock"
    lock.mkdir()
    result = release_claim(cfg, "CAB-1302", now=NOW)
    assert result.outcome is Outcome.REFUSED and "writing CAB-1302 right now" in result.message
    assert owner_of(demo.claims_dir / "CAB-1302.json") is not None
    old = time.time() - 120
    os.utime(lock, (old, old))
    assert release_claim(cfg, "CAB-1302", now=NOW).ok
    assert not lock.exists()


def test_read_only_refuses(demo: DemoFactory) -> None:
    assert main(["release", "CAB-1302", str(demo.root), "--now", NOW_S, "--read-only"]) == 1
    assert owner_of(demo.claims_dir / "CAB-1302.json") is not None


def test_unknown_claim_is_an_error(demo: DemoFactory) -> None:
    assert main(["release", "NOPE-1", str(demo.root), "--now", NOW_S]) == 2
    assert release_claim(config(demo), "CAB-1290", now=NOW).outcome is Outcome.ERROR


def test_recheck_under_the_lock(demo: DemoFactory) -> None:
    """The agent came back and re-claimed between the look and the release: refused."""
    path = demo.claims_dir / "CAB-1302.json"
    raw = json.loads(path.read_text())
    raw["claimed_at"] = "2026-02-16T15:40"
    atomic_write(path, json.dumps(raw).encode())
    result = release_claim(config(demo), "CAB-1302", now=NOW)
    assert result.outcome is Outcome.REFUSED and "claimed 2m ago" in result.message


def test_release_all_stale(demo: DemoFactory) -> None:
    results = release_all_stale(config(demo), now=NOW, by="me")
    assert [key for key, _ in results] == ["CAB-1302"]
    assert all(r.ok for _, r in results)


def test_a_release_reads_only_the_file_named_after_its_claim(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim's id is its file's name: the folder is not listed and sorted to find it
    (releasing 200 stale claims of a thousand did it 200 times)."""

    def no_listing(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the claims folder was listed")

    monkeypatch.setattr(Path, "glob", no_listing)
    monkeypatch.setattr(os, "listdir", no_listing)
    assert release_claim(config(demo), "CAB-1302", now=NOW).ok
    assert owner_of(demo.claims_dir / "CAB-1302.json") is None


def test_a_claim_is_only_its_own_names_file(demo: DemoFactory) -> None:
    """A file of another name holding ``"ticket": "CAB-1302"`` is that other claim (read as
    its name, with a problem); a target that is a path reads nothing outside the folder."""
    folder = demo.claims_dir
    (folder / "CAB-1302.json").rename(folder / "zz-moved.json")
    missing = release_claim(config(demo), "CAB-1302", now=NOW)
    assert missing.outcome is Outcome.ERROR
    assert missing.message == f"no claim CAB-1302 in {folder}"
    (demo.root / "outside.json").write_text(json.dumps({"ticket": "outside", "owner": "x"}))
    for target in ("../../outside", "../outside:1", "a/b"):
        refused = release_claim(config(demo), target, now=NOW)
        assert refused.outcome is Outcome.ERROR and "a claim id is one file name" in refused.message


def test_a_stale_claim_whose_file_name_holds_two_dots_is_released(demo: DemoFactory) -> None:
    """``CAB..1302.json`` is the claim ``CAB..1302`` (its name is its id): the cockpit shows it
    stale, and it is released, one by one or with the others (750e62e refused it as not a
    usable id)."""
    folder = demo.claims_dir
    raw = json.loads((folder / "CAB-1302.json").read_text())
    raw.pop("ticket", None)
    (folder / "CAB-1302.json").unlink()
    (folder / "CAB..1302.json").write_text(json.dumps(raw))
    reader = FactoryReader.warm(config(demo))
    reader.refresh_all()
    assert [v.key for v in reader.fleet(NOW, full=True).claims if v.state == "stale"] == [
        "CAB..1302"
    ]
    results = release_all_stale(config(demo), now=NOW, by="me")
    assert [(key, r.ok) for key, r in results] == [("CAB..1302", True)], results
    assert owner_of(folder / "CAB..1302.json") is None


# -- stress: agents running the lock protocol while the cockpit releases --


def _agent_loop(claims_dir: str, me: str, rounds: int, enough: Any = None) -> int:
    """The agent side: mkdir lock, rewrite, rmdir, re-read and check. Returns rounds won.
    With ``enough`` (an event), it goes on after ``rounds`` until the event is set (at most 100x
    the rounds): the releases it races with must have happened (on a loaded machine the agents
    could finish before the first release did)."""
    won = 0
    folder = Path(claims_dir)
    path = folder / "CAB-1290.json"
    for i in range(rounds * 100):
        if i >= rounds and (enough is None or enough.is_set()):
            break
        try:
            with claim_lock(folder, "CAB-1290-phase-5.lock", sleep=lambda s: time.sleep(0.001)):
                raw = json.loads(path.read_text())
                phase = next(p for p in raw["phases"] if p["id"] == 5)
                phase.update(
                    owner=me, pid=os.getpid(), claimed_at="2026-02-16T09:00", hostname="elsewhere"
                )
                atomic_write(path, json.dumps(raw, indent=2).encode())
            raw = json.loads(path.read_text())
            won += 1
        except Exception:
            pass
        del i
    return won


@pytest.mark.stress
def test_stress_agents_and_releases(demo: DemoFactory) -> None:
    cfg = config(demo)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(8) as pool:
        enough = manager.Event()
        pending = [
            pool.apply_async(_agent_loop, (str(demo.claims_dir), f"t{i}-agent", 60, enough))
            for i in range(8)
        ]
        releases = 0
        while not all(p.ready() for p in pending):
            result = release_claim(cfg, "CAB-1290:5", now=NOW, by="stress")
            releases += result.ok
            if releases >= 2:
                enough.set()
            json.loads((demo.claims_dir / "CAB-1290.json").read_text())  # always whole
        won = sum(p.get() for p in pending)
    assert won > 0 and releases > 0
    final = json.loads((demo.claims_dir / "CAB-1290.json").read_text())
    assert [p["id"] for p in final["phases"]] == [1, 2, 3, 4, 5]
    release_lines = [
        line for line in log_lines(demo) if " RELEASE " in line and "by=stress" in line
    ]
    assert len(release_lines) == releases
    kept = list(history_dir(cfg).iterdir())
    assert len(kept) == releases
    replaced = []
    for copy in kept:
        raw = json.loads(copy.read_text())
        replaced.append(next(p for p in raw["phases"] if p["id"] == 5)["owner"])
    # Each release replaced exactly the version it logged: no agent's win was lost in between.
    logged = [line.split("instance=")[1].split()[0] for line in release_lines]
    assert Counter(replaced) == Counter(logged)
    assert not list(demo.claims_dir.glob("*.lock"))


def _phase_agent(claims_dir: str, me: str, rounds: int) -> int:
    """An agent claiming phase 4 of the MEGA again and again, by the protocol, bumping the
    phase's ``seq`` (an unknown field, which every rewrite keeps) each time it wins."""
    won = 0
    folder = Path(claims_dir)
    path = folder / "CAB-1290.json"
    for _ in range(rounds):
        try:
            with claim_lock(folder, "CAB-1290-phase-4.lock", sleep=lambda s: time.sleep(0.001)):
                raw = json.loads(path.read_text())
                phase = next(p for p in raw["phases"] if p["id"] == 4)
                phase.update(owner=me, pid=os.getpid(), hostname="elsewhere")
                phase["seq"] = phase.get("seq", 0) + 1
                atomic_write(path, json.dumps(raw, indent=2).encode())
            won += 1
        except Exception:
            pass
    return won


@pytest.mark.stress
def test_stress_another_phase_of_the_same_file(demo: DemoFactory) -> None:
    """Agents write phase 4 of the MEGA while factory-tui abandons the crashed session (its claim
    is phase 3 of the same file) and releases phase 5 again and again: factory-tui rewrites the
    whole file, so it must hold every phase's lock, or an agent's phase-4 win written between its
    read and its write would be lost. Each phase-4 win bumps ``seq``: none may go missing."""
    from factory_tui.actions.recover import abandon
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.lock import claim_locks

    cfg = config(demo)
    path = demo.claims_dir / "CAB-1290.json"
    crashed = next(i for i, role in demo.instances.items() if role == "crashed")
    reader = FactoryReader(cfg)
    reader.refresh_all()
    (task,) = {
        s.task
        for s in reader.fleet(NOW).sessions
        if s.instance == crashed and s.status == "crashed"
    }
    locks = [f"CAB-1290-phase-{n}.lock" for n in range(1, 6)]

    def stale_owner_takes_phase_5() -> None:
        while True:
            try:
                with claim_locks(demo.claims_dir, locks, sleep=lambda s: time.sleep(0.001)):
                    raw = json.loads(path.read_text())
                    phase = next(p for p in raw["phases"] if p["id"] == 5)
                    phase.update(
                        owner="t1-gone", pid=1, claimed_at="2026-02-16T09:00", hostname="gone"
                    )
                    atomic_write(path, json.dumps(raw, indent=2).encode())
                    return
            except LockBusy:
                continue

    def slow_write() -> None:
        time.sleep(0.01)  # widens the read-to-write window; not a synchronisation

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        pending = [
            pool.apply_async(_phase_agent, (str(demo.claims_dir), f"t4{i}-x", 40)) for i in range(8)
        ]
        abandoned = abandon(cfg, task, now=NOW, reason="stress", by="stress")
        releases = 0
        while not all(p.ready() for p in pending):
            stale_owner_takes_phase_5()
            result = release_claim(cfg, "CAB-1290:5", now=NOW, by="stress", before_write=slow_write)
            releases += result.ok
            json.loads(path.read_text())  # always whole
        won = sum(p.get() for p in pending)
    assert abandoned.ok, abandoned.message
    assert won > 0 and releases > 0
    final = {p["id"]: p for p in json.loads(path.read_text())["phases"]}
    assert final[4]["seq"] == won, "an agent's phase-4 win was overwritten"
    assert final[3]["owner"] is None
    ours = [line for line in log_lines(demo) if "by=stress" in line and " RELEASE " in line]
    assert len([line for line in ours if "phase=5" in line]) == releases
    assert len([line for line in ours if "phase=3 " in line and "reason=abandoned" in line]) == 1
    assert len(list(history_dir(cfg).iterdir())) == releases + 1
    assert not list(demo.claims_dir.glob("*.lock"))


# -- safety: writes stay inside the factory, the lock is exclusive, every change is audited ----


def _evil_claim(demo: DemoFactory, file_name: str, ticket: str) -> Path:
    """A copy of the stale CAB-1302 claim under another file name, with ``ticket`` inside."""
    raw = json.loads((demo.claims_dir / "CAB-1302.json").read_text())
    raw["ticket"] = ticket
    path = demo.claims_dir / file_name
    path.write_text(json.dumps(raw, indent=2))
    return path


def _stale_dir_with_a_file(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "precious.txt").write_text("keep me")
    old = time.time() - 3600
    os.utime(path, (old, old))


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_an_id_that_is_a_path_never_reaches_outside(
    demo: DemoFactory, tmp_path: Path, kind: str
) -> None:
    """``{"ticket": "/…/victim"}`` made release take ``/…/victim.lock`` for a stale lock and
    delete it with its contents; ``../../trav`` made ``ROOT/trav.lock``. The lock is named from
    the file's name, inside the claims folder."""
    if kind == "absolute":
        outside = tmp_path / "x" / "victim.lock"
        ticket = str(tmp_path / "x" / "victim")
    else:
        outside = demo.claims_dir.parent.parent / "trav.lock"
        ticket = "../../trav"
    _stale_dir_with_a_file(outside)
    path = _evil_claim(demo, "victim.json", ticket)
    result = release_claim(config(demo), ticket, now=NOW, force=True, by="me")
    assert (outside / "precious.txt").read_text() == "keep me"
    if result.ok:  # the id may also be refused as a problem of the file: both are safe
        assert owner_of(path) is None
    assert not list(demo.claims_dir.glob("*.lock"))


def test_the_lock_is_named_from_the_file_not_the_id(demo: DemoFactory) -> None:
    _evil_claim(demo, "victim.json", "../../trav")
    (demo.claims_dir / "victim.lock").mkdir()  # an agent writing victim.json right now
    # The id inside is not a usable id: the claim is known by its file's name only (a problem
    # says so), and its lock is named from the file either way.
    by_bad_id = release_claim(config(demo), "../../trav", now=NOW, force=True, by="me")
    assert not by_bad_id.ok
    result = release_claim(config(demo), "victim", now=NOW, force=True, by="me")
    assert result.outcome is Outcome.REFUSED and "victim.lock held" in result.message
    assert not (demo.root / "trav.lock").exists()
    assert not (demo.root.parent / "trav.lock").exists()


def test_a_file_named_like_the_lock_is_refused_quickly(demo: DemoFactory) -> None:
    """A regular file ``CAB-1302.lock`` made release spin at 100 % CPU forever."""
    junk = demo.claims_dir / "CAB-1302.lock"
    junk.write_text("junk")
    old = time.time() - 3600  # "stale": the old code's rmtree could not remove it, and retried
    os.utime(junk, (old, old))
    before = (demo.claims_dir / "CAB-1302.json").read_bytes()
    code = (
        "import sys; from factory_tui.cli import main; "
        f"sys.exit(main(['release', 'CAB-1302', {str(demo.root)!r}, '--now', {NOW_S!r}, '-y']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == int(Outcome.REFUSED), done.stderr
    assert "CAB-1302.lock" in done.stderr and "not a directory" in done.stderr
    assert (demo.claims_dir / "CAB-1302.json").read_bytes() == before
    assert (demo.claims_dir / "CAB-1302.lock").read_text() == "junk"


def test_a_rewritten_claim_keeps_its_mode(demo: DemoFactory) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    path.chmod(0o664)
    assert release_claim(config(demo), "CAB-1302", now=NOW, by="me").ok
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    (kept,) = history_dir(config(demo)).iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o664


def test_a_symlinked_claim_is_written_through_inside_the_folder(demo: DemoFactory) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    real = demo.claims_dir / "CAB-1302.real"
    path.rename(real)
    path.symlink_to(real.name)
    assert release_claim(config(demo), "CAB-1302", now=NOW, by="me").ok
    assert path.is_symlink() and owner_of(real) is None


def test_a_symlinked_claim_pointing_outside_is_refused(demo: DemoFactory, tmp_path: Path) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    real = tmp_path / "elsewhere.json"
    path.rename(real)
    path.symlink_to(real)
    before = real.read_bytes()
    result = release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    assert result.outcome is Outcome.REFUSED and "outside the claims folder" in result.message
    assert real.read_bytes() == before and path.is_symlink()


def test_a_leftover_temp_file_is_reported_then_cleaned_under_the_lock(demo: DemoFactory) -> None:
    leftover = demo.claims_dir / ".CAB-1302.json.k1ll.tmp"
    leftover.write_text('{"half')
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    (problem,) = [p for p in reader.problems() if p.file == str(leftover)]
    assert "interrupted write of CAB-1302.json" in problem.message
    result = release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    assert result.ok, result.message
    assert not leftover.exists()
    assert any(".CAB-1302.json.k1ll.tmp" in d for d in result.details)


def _failing_append(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[str], bool], error: BaseException
) -> None:
    real = base.append_line

    def append(path: Path, line: str) -> None:
        if when(line):
            raise error
        real(path, line)

    monkeypatch.setattr(base, "append_line", append)


def test_a_full_disk_before_the_intent_changes_nothing(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    before, lines = path.read_bytes(), log_lines(demo)
    _failing_append(monkeypatch, lambda line: True, OSError(errno.ENOSPC, "No space left"))
    result = release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    assert result.outcome is Outcome.ERROR and "nothing was changed" in result.message
    assert path.read_bytes() == before and log_lines(demo) == lines
    assert not history_dir(config(demo)).exists()


def test_a_full_disk_at_the_outcome_puts_the_file_back(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Released on disk but the RELEASE line could not be appended: it said "nothing was
    changed" while the claim stayed released with no line."""
    path = demo.claims_dir / "CAB-1302.json"
    before = path.read_bytes()
    _failing_append(
        monkeypatch, lambda line: "| RELEASE |" in line, OSError(errno.ENOSPC, "No space left")
    )
    result = release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    assert result.outcome is Outcome.ERROR
    assert "put back as it was" in result.message and "still owned by" in result.message
    assert path.read_bytes() == before
    intent, undone = log_lines(demo)[-2:]
    assert "| RELEASE-INTENT |" in intent and "| RELEASE-UNDONE |" in undone
    change = intent.rsplit(" change=", 1)[1].split()[0]
    assert f" change={change} " in undone
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    assert not [p for p in reader.problems() if "half-done" in p.message]


class _Killed(BaseException):
    """Stands for a kill -9 between the claim write and the outcome line."""


def killed_before_write(demo: DemoFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release of CAB-1302 killed (kill -9) after its intent line, before the claim write."""
    import factory_tui.actions.release as release_module

    def killed(path: Path, data: bytes, **_: object) -> None:
        raise _Killed()

    monkeypatch.setattr(release_module, "atomic_write", killed)
    with pytest.raises(_Killed):
        release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    monkeypatch.undo()


def killed_after_write(demo: DemoFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release of CAB-1302 killed after the claim write, before its RELEASE line."""
    _failing_append(monkeypatch, lambda line: "| RELEASE |" in line, _Killed())
    with pytest.raises(_Killed):
        release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    monkeypatch.undo()


def test_a_kill_between_write_and_outcome_is_reported_on_the_next_start(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = demo.claims_dir / "CAB-1302.json"
    killed_after_write(demo, monkeypatch)
    assert owner_of(path) is None  # written, never logged
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    (problem,) = [p for p in reader.problems() if "half-done" in p.message]
    assert "RELEASE-INTENT for CAB-1302" in problem.message
    assert "shows it released, with no RELEASE line" in problem.message
    assert problem.line == len(log_lines(demo))


def test_an_intent_whose_write_did_not_happen_says_so(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed_before_write(demo, monkeypatch)
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    (problem,) = [p for p in reader.problems() if "half-done" in p.message]
    assert "still shows it owned by" in problem.message
    assert "the change did not happen" in problem.message


def _open_changes(demo: DemoFactory) -> dict[str, object]:
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    return dict(reader.fold.open_changes)


def test_a_change_killed_after_its_write_is_completed_with_its_outcome(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written, never logged (kill -9): finishing it logs the missing RELEASE, with the intent's
    change id, and the half-done problem goes."""
    from factory_tui.actions.interrupted import finish_interrupted

    path = demo.claims_dir / "CAB-1302.json"
    killed_after_write(demo, monkeypatch)
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    (change,) = reader.fold.open_changes
    (done,) = finish_interrupted(config(demo), reader.fold.open_changes, now=NOW, by="you")
    assert done.outcome == "completed" and done.change == change
    last = log_lines(demo)[-1]
    assert "| RELEASE | task=CAB-1302 phase=- instance=" in last
    assert f"change={change}" in last and "by=me" in last and "completed_by=you" in last
    assert owner_of(path) is None
    assert _open_changes(demo) == {}
    fresh = FactoryReader(config(demo))
    fresh.refresh_all()
    assert not [p for p in fresh.problems() if "half-done" in p.message]


def test_a_change_killed_before_its_write_is_closed_as_undone(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory_tui.actions.interrupted import finish_interrupted

    path = demo.claims_dir / "CAB-1302.json"
    before = path.read_bytes()
    killed_before_write(demo, monkeypatch)
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    (done,) = finish_interrupted(config(demo), reader.fold.open_changes, now=NOW, by="you")
    assert done.outcome == "undone"
    assert "| RELEASE-UNDONE | claim=CAB-1302" in log_lines(demo)[-1]
    assert path.read_bytes() == before
    assert _open_changes(demo) == {}


def test_the_next_release_of_that_file_finishes_it_first(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factory-tui release` on a file with a half-done change closes it, then acts."""
    killed_before_write(demo, monkeypatch)
    result = release_claim(config(demo), "CAB-1302", now=NOW, by="me")
    assert result.ok, result.message
    assert any("interrupted change" in d and "did not happen" in d for d in result.details)
    lines = log_lines(demo)
    assert any("| RELEASE-UNDONE |" in line for line in lines)
    assert "| RELEASE | task=CAB-1302" in lines[-1]
    assert _open_changes(demo) == {}


def test_read_only_finishes_nothing(demo: DemoFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace as dc_replace

    from factory_tui.actions.interrupted import finish_interrupted

    killed_after_write(demo, monkeypatch)
    lines = log_lines(demo)
    reader = FactoryReader(config(demo))
    reader.refresh_all()
    ro = dc_replace(config(demo), read_only=True)
    assert finish_interrupted(ro, reader.fold.open_changes, now=NOW) == []
    assert log_lines(demo) == lines


def test_release_all_summary_says_what_was_kept_and_why() -> None:
    done, kept = ActionResult(Outcome.DONE, "released"), ActionResult(Outcome.REFUSED, "busy")
    assert release_all_summary([("A:1", done), ("B:2", done)]) == ActionResult(
        Outcome.DONE, "released 2 of 2 stale claims"
    )
    assert release_all_summary([("A:1", done), ("B:2", kept)]) == ActionResult(
        Outcome.REFUSED, "released 1 of 2 stale claims; not released: B:2: busy"
    )
    assert release_all_summary([]) == ActionResult(Outcome.REFUSED, "released 0 of 0 stale claims")


# --- a FIFO where a claim file, its history copy or the log is (none is ever waited on) ----------


def test_a_claim_swapped_for_a_fifo_under_the_lock_is_not_released(demo: DemoFactory) -> None:
    """The claim file is copied into the history folder before it is replaced: a FIFO put there
    since it was read was waited on for a writer."""
    path = demo.claims_dir / "CAB-1302.json"

    def swap() -> None:
        path.unlink()
        os.mkfifo(path)

    def release() -> ActionResult:
        return release_claim(config(demo), "CAB-1302", now=NOW, by="me", before_write=swap)

    result = _returns(release, path)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR
    assert result.message == (
        "cannot write CAB-1302.json (not a regular file): CAB-1302 was not released; "
        "nothing was changed"
    )
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and not history_dir(config(demo)).exists()
    intent, undone = log_lines(demo)[-2:]
    assert "| RELEASE-INTENT |" in intent and "| RELEASE-UNDONE |" in undone


def test_a_claim_swapped_for_a_fifo_after_its_write_is_said(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The written claim is read again to check the release is there."""
    import factory_tui.actions.release as release_module

    path = demo.claims_dir / "CAB-1302.json"
    before = path.read_bytes()
    write = release_module.atomic_write

    def write_then_swap(target: Path, data: bytes, **kwargs: Any) -> None:
        write(target, data, **kwargs)
        target.unlink()
        os.mkfifo(target)

    monkeypatch.setattr(release_module, "atomic_write", write_then_swap)
    result = _returns(lambda: release_claim(config(demo), "CAB-1302", now=NOW, by="me"), path)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR
    (kept,) = history_dir(config(demo)).iterdir()
    assert result.message == (
        "wrote CAB-1302.json but re-reading it does not show CAB-1302 released; the previous "
        f"version is in {kept}"
    )
    assert kept.read_bytes() == before
    assert "| RELEASE-UNDONE |" in log_lines(demo)[-1]
    assert "re-read does not show it released" in log_lines(demo)[-1]


def test_a_history_copy_swapped_for_a_fifo_is_said_when_putting_it_back(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RELEASE line could not be logged, so the history copy is put back: it is a FIFO."""
    import factory_tui.actions.release as release_module

    path = demo.claims_dir / "CAB-1302.json"
    keep = release_module.keep_history
    kept = history_dir(config(demo)) / f"CAB-1302.{NOW:%Y-%m-%dT%H-%M-%S.%f}.json"

    def keep_then_swap(*args: Any, **kwargs: Any) -> Path | None:
        copy = keep(*args, **kwargs)
        assert copy == kept
        kept.unlink()
        os.mkfifo(kept)
        return copy

    monkeypatch.setattr(release_module, "keep_history", keep_then_swap)
    _failing_append(
        monkeypatch, lambda line: "| RELEASE |" in line, OSError(errno.ENOSPC, "No space left")
    )
    result = _returns(lambda: release_claim(config(demo), "CAB-1302", now=NOW, by="me"), kept)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR
    assert result.message.startswith("released CAB-1302 in CAB-1302.json but could not log it")
    assert "nor put the previous file back ([Errno 22] not a regular file: " in result.message
    assert owner_of(path) is None  # as the message says: shown released, with no RELEASE line


def test_a_fifo_for_the_log_is_said_and_nothing_released(demo: DemoFactory) -> None:
    """The intent line is appended first: to a FIFO, that waited for a reader."""
    path = demo.claims_dir / "CAB-1302.json"
    before = path.read_bytes()
    log = demo.memory_dir / "operations.log"
    log.unlink()
    os.mkfifo(log)
    result = _returns(lambda: release_claim(config(demo), "CAB-1302", now=NOW, by="me"), log)
    assert isinstance(result, ActionResult) and result.outcome is Outcome.ERROR
    assert result.message == (
        f"cannot log to {log} (not a regular file): CAB-1302 was not released; nothing was changed"
    )
    assert path.read_bytes() == before and not history_dir(config(demo)).exists()
