"""Survive every input (issue 16): FIFOs, devices, dangling links, huge files, huge lines,
timestamps at the edges of datetime, integers of thousands of digits, ids that are not names,
the same id twice, dependency cycles. Each is a problem, never a hang, a spin or a traceback.

A read that hung on the old code would block a test forever: those reads run in a thread joined
with a generous timeout (a hang guard, not a timing assertion), and the FIFOs are opened for
writing afterwards so a blocked thread can finish.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import DEMO_HOST, DEMO_NOW, FixedProbe, config_for, press_to_quit

from factory_tui.adapters.factory import FactoryReader
from factory_tui.config import ConfigError, load_config
from factory_tui.core.checkpoints import parse_checkpoint
from factory_tui.core.claims import claim_set_problems, parse_claim
from factory_tui.core.prs import pr_from_gh
from factory_tui.core.statefiles_lint import lint_state
from factory_tui.core.statefiles_parse import parse_memory, parse_plan
from factory_tui.core.timeparse import parse_ts
from factory_tui.demo import DemoFactory

T = TypeVar("T")
HANG_GUARD_S = 60.0
HUGE = "9" * 5000


# --- helpers ------------------------------------------------------------------------------------


def _unblock(fifos: Iterable[Path]) -> None:
    """Give a reader blocked on opening one of ``fifos`` a writer (and EOF) so it can go on."""
    for fifo in fifos:
        try:
            fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        except OSError:
            continue
        os.close(fd)


def guarded(fn: Callable[[], T], fifos: Iterable[Path] = ()) -> T:
    """``fn()`` run in a thread; fails (instead of hanging the suite) if it does not return."""
    fifos = list(fifos)
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # re-raised in the test's thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    hung = thread.is_alive()
    for _ in range(50):  # a thread blocked on a FIFO can finish; a spinning one is left behind
        if not thread.is_alive():
            break
        _unblock(fifos)
        thread.join(0.2)
    assert not hung, "the read did not return: it blocked (or spun) on a hostile file"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _factory(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "factory"
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    memory = tmp_path / "claude" / "memory"
    (memory / "checkpoints").mkdir(parents=True)
    return root, memory


def _reader(root: Path, memory: Path, **flags: str) -> FactoryReader:
    config = load_config(
        root,
        flags={"memory": str(memory), **flags},
        env={"CLAUDE_CONFIG_DIR": str(root.parent / "no-claude-config")},
        user_config=root.parent / "no-user-config.toml",
    )
    return FactoryReader(config, hostname=DEMO_HOST, probe=FixedProbe())


def _messages(reader: FactoryReader) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in reader.problems():
        out.setdefault(Path(problem.file).name, []).append(problem.message)
    return out


def _claim(obj: object, name: str) -> tuple[object, list[str]]:
    claim, problems = parse_claim(name, json.dumps(obj).encode())
    return claim, [p.message for p in problems]


# --- timestamps and integers at the limits ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00+14:00",
        "9999-12-31T23:59-14:00",
        "9999-12-31T23:59",
        "0001-01-01T00:00",
        "0001-01-01T00:00:00Z",
    ],
)
def test_timestamps_at_the_limits_of_datetime_are_not_timestamps(text: str) -> None:
    assert parse_ts(text) is None


def test_a_claim_with_a_timestamp_at_the_limit_is_a_problem() -> None:
    claim, messages = _claim(
        {"ticket": "T-1", "claimed_at": "0001-01-01T00:00+14:00", "created": "9999-12-31T23:59"},
        "T-1.json",
    )
    assert claim is not None
    assert any(m.startswith("claimed_at: expected a timestamp") for m in messages)
    assert any(m.startswith("created: expected a timestamp") for m in messages)


def test_a_5000_digit_integer_in_a_claim_is_a_problem() -> None:
    data = b'{"ticket": "T-1", "owner": "t1", "pid": ' + HUGE.encode() + b"}"
    claim, problems = parse_claim("T-1.json", data)
    assert claim is None
    assert [p.message for p in problems] == [
        "not valid JSON: an integer with more than 4300 digits"
    ]


def test_a_5000_digit_string_pid_and_phase_id_are_problems() -> None:
    claim, messages = _claim(
        {"mega": "M-1", "phases": [{"id": HUGE, "name": "x"}, {"id": 2, "pid": HUGE}]}, "M-1.json"
    )
    assert claim is not None
    assert any(
        m.startswith("phases[0].id: expected an integer from 0 to 999999 (a phase id)")
        for m in messages
    )
    assert any(
        m.startswith("phases[1].pid: expected an integer from 1 to 2147483647") for m in messages
    )


@pytest.mark.parametrize("pid", [-1, 0, 2**31, 2**64, "-5"])
def test_a_pid_out_of_range_is_a_problem(pid: object) -> None:
    claim, messages = _claim({"ticket": "T-1", "owner": "t1", "pid": pid}, "T-1.json")
    assert claim is not None and claim.units[0].pid is None  # type: ignore[attr-defined]
    assert any(
        m.startswith("pid: expected an integer from 1 to 2147483647 (a process id)")
        for m in messages
    ), messages


def test_a_phase_id_out_of_range_is_a_problem() -> None:
    claim, messages = _claim(
        {"mega": "M-1", "phases": [{"id": -3}, {"id": 2**40}, {"id": 2, "deps": [2**40]}]},
        "M-1.json",
    )
    assert claim is not None
    assert [u.phase for u in claim.units] == [2]  # type: ignore[attr-defined]
    assert sum("(a phase id)" in m for m in messages) == 2
    assert any("phases[2].deps" in m for m in messages)


def test_a_unicode_digit_is_not_an_integer() -> None:
    claim, messages = _claim({"ticket": "T-1", "pid": "²"}, "T-1.json")
    assert claim is not None and any(m.startswith("pid: expected") for m in messages)


def test_a_checkpoint_with_huge_integers_and_timestamps_is_a_problem() -> None:
    name = "2026-02-16T14-25-task.json"
    cp, problems = parse_checkpoint(name, b'{"task": "t", "pr_number": ' + HUGE.encode() + b"}")
    assert cp is None and "4300 digits" in problems[0].message
    body = {"task": "t", "pr_number": HUGE, "timestamp": "0001-01-01T00:00+14:00"}
    cp, problems = parse_checkpoint(name, json.dumps(body).encode())
    assert cp is not None and cp.pr_number is None and cp.timestamp is None
    messages = [p.message for p in problems]
    assert any(m.startswith("pr_number: expected") for m in messages)
    assert any(m.startswith("timestamp: not a timestamp") for m in messages)


def test_a_gh_created_at_at_the_limit_is_no_traceback_but_a_problem() -> None:
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", HUGE):
        pr = pr_from_gh({"number": 7, "title": "x", "createdAt": value, "mergedAt": value})
        assert pr.created_at is None and pr.merged_at is None
        assert [p.split(" ")[3] for p in pr.problems] == ["createdAt", "mergedAt"]
        assert all("is not a time" in p for p in pr.problems)
    fine = pr_from_gh({"number": 8, "title": "x", "createdAt": "2026-02-16T14:00:00Z"})
    assert fine.created_at is not None and fine.problems == ()


# --- ids ----------------------------------------------------------------------------------------


def test_an_id_that_does_not_match_the_file_name_is_a_problem() -> None:
    claim, messages = _claim({"ticket": "CAB-2", "title": "t"}, "/f/CAB-1.json")
    assert claim is not None and claim.claim_id == "CAB-1"  # type: ignore[attr-defined]
    assert messages == [
        'ticket: "CAB-2" does not match the file name CAB-1.json; '
        "read as CAB-1: rename the file or fix the id"
    ]
    claim, messages = _claim({"mega": "M-2", "phases": []}, "/f/M-1.json")
    assert claim is not None and claim.claim_id == "M-1"  # type: ignore[attr-defined]
    assert any('mega: "M-2" does not match the file name M-1.json' in m for m in messages)


@pytest.mark.parametrize(
    "bad_id", ["/etc/passwd", "../../x", "a/b", "a\\b", "..", "a\x00b", "a\x1bb", "a\nb"]
)
def test_an_unsafe_id_is_a_problem_and_never_used(bad_id: str) -> None:
    claim, messages = _claim({"ticket": bad_id, "owner": "t1"}, "/f/T-1.json")
    assert claim is not None
    assert claim.claim_id == "T-1"  # type: ignore[attr-defined]
    assert [u.lock_name for u in claim.units] == ["T-1.lock"]  # type: ignore[attr-defined]
    assert any(m.startswith("ticket: not a usable id") for m in messages), messages
    claim, messages = _claim({"mega": bad_id, "phases": [{"id": 1}]}, "/f/M-1.json")
    assert claim is not None and claim.claim_id == "M-1"  # type: ignore[attr-defined]
    assert any(m.startswith("mega: not a usable id") for m in messages), messages


def test_the_same_id_in_two_files_is_a_problem_naming_both() -> None:
    one, _ = parse_claim("/f/A.json", b'{"ticket": "A"}')
    two, _ = parse_claim("/f/B.json", b'{"ticket": "A"}')
    three, _ = parse_claim("/g/A.json", b'{"mega": "A", "phases": []}')
    four, _ = parse_claim("/f/C.json", b'{"ticket": "C"}')
    claims = [c for c in (one, two, three, four) if c is not None]
    problems = claim_set_problems(claims)
    also = "id A is also the id of /f/A.json; one claim per id: merge or rename one"
    assert [(p.file, p.message) for p in problems] == [("/f/B.json", also), ("/g/A.json", also)]


def test_a_dependency_cycle_between_phases_is_a_problem() -> None:
    phases = [{"id": 1, "deps": []}, {"id": 2, "deps": [3]}, {"id": 3, "deps": [2]}]
    claim, messages = _claim({"mega": "M", "phases": phases}, "M.json")
    assert claim is not None
    assert any("dependency cycle: phase 2 → 3 → 2" in m for m in messages), messages
    claim, messages = _claim({"mega": "M", "phases": [{"id": 4, "deps": [4]}]}, "M.json")
    assert any("dependency cycle: phase 4 → 4" in m for m in messages), messages
    claim, messages = _claim(
        {"mega": "M", "phases": [{"id": 1}, {"id": 2, "deps": [1]}, {"id": 3, "deps": [1, 2]}]},
        "M.json",
    )
    assert messages == []


# --- files that are not files -------------------------------------------------------------------


def test_fifos_are_problems_never_opened_blocking(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    fifos = [
        root / ".claude" / "claims" / "F-1.json",
        memory / "checkpoints" / "2026-02-16T14-25-task.json",
        root / "plan.md",
        root / "memory.md",
    ]
    for fifo in fifos:
        os.mkfifo(fifo)
    reader = _reader(root, memory)
    guarded(reader.refresh_all, fifos)
    found = _messages(reader)
    for fifo in fifos:
        assert found.get(fifo.name) == ["a FIFO, not a file: not read"], found


def test_a_symlink_to_a_device_is_a_problem(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    (root / ".claude" / "claims" / "Z.json").symlink_to("/dev/zero")
    (root / "plan.md").symlink_to("/dev/zero")
    (memory / "checkpoints" / "2026-02-16T14-25-task.json").symlink_to("/dev/null")
    reader = _reader(root, memory)
    guarded(reader.refresh_all)
    found = _messages(reader)
    assert found["Z.json"] == ["a character device, not a file: not read"]
    assert found["plan.md"] == ["a character device, not a file: not read"]
    assert found["2026-02-16T14-25-task.json"] == ["a character device, not a file: not read"]


def test_a_dangling_symlink_is_a_problem(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    (root / ".claude" / "claims" / "D.json").symlink_to(tmp_path / "gone.json")
    (root / "memory.md").symlink_to(tmp_path / "gone.md")
    reader = _reader(root, memory)
    reader.refresh_all()
    found = _messages(reader)
    assert found["D.json"] == [f"a symlink to {tmp_path / 'gone.json'}, which does not exist"]
    assert found["memory.md"] == [f"a symlink to {tmp_path / 'gone.md'}, which does not exist"]
    assert reader.refresh_claims() is False  # a dangling link is not re-reported as a change


def test_a_symlinked_claim_file_inside_the_repo_is_read(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    (root / "real.json").write_text('{"ticket": "L-1"}')
    (root / ".claude" / "claims" / "L-1.json").symlink_to(root / "real.json")
    reader = _reader(root, memory)
    reader.refresh_all()
    assert [c.claim_id for c in reader.claim_files()] == ["L-1"]
    assert _messages(reader) == {}


def test_files_over_the_size_limit_are_problems(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    (root / ".claude" / "claims" / "B.json").write_text(
        '{"ticket": "B", "x": "' + "a" * 2000 + '"}'
    )
    (root / ".claude" / "claims" / "S.json").write_text('{"ticket": "S"}')
    (root / "plan.md").write_text("- [ ] x\n" * 300)
    reader = _reader(root, memory, max_file_bytes="1KiB")
    reader.refresh_all()
    found = _messages(reader)
    assert found["B.json"] == [
        "2,024 bytes: over the 1,024-byte limit (setting max_file_bytes): not read"
    ]
    assert found["plan.md"] == [
        "2,400 bytes: over the 1,024-byte limit (setting max_file_bytes): not read"
    ]
    assert [c.claim_id for c in reader.claim_files()] == ["S"]


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1.5 KiB", "true"])
def test_max_file_bytes_is_validated(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"max.file.bytes: expected a size"):
        load_config(tmp_path, flags={"max_file_bytes": value}, env={}, user_config=None)


def test_max_file_bytes_accepts_sizes(tmp_path: Path) -> None:
    def size(value: str) -> int:
        return load_config(
            tmp_path, flags={"max_file_bytes": value}, env={}, user_config=None
        ).max_file_bytes

    assert (size("4096"), size("64 KiB"), size("2MiB"), size("1 MB")) == (
        4096,
        64 << 10,
        2 << 20,
        1_000_000,
    )
    assert load_config(tmp_path, env={}, user_config=None).max_file_bytes == 64 << 20


# --- the state files scanner is linear ----------------------------------------------------------

MB = 1 << 20
LONG_LINES = {
    "words": "- [x] " + "word " * (MB // 5),
    "owner markers": "- [~] " + "[owner:" * (MB // 7),
    "html comments": "- [ ] " + "<!--" * (MB // 4),
    "links": "- [x] " + "[a](" * (MB // 4),
    "brackets": "- [x] " + "[" * MB,
    "done parens": "- DONE (DONE " * (MB // 12),
    "table rule": "|" + "-" * MB + "x",
    "heading": "# x" + " " * MB + "y",
    "tickets": "- [x] " + "AB-1 " * (MB // 5),
    "spaced dashes": "- [x] " + "a — " * (MB // 4),
}


def in_child(fn: Callable[[], int], *, memory_limit: int = 2 << 30) -> int:
    """``fn()`` in a forked process under an address-space limit, killed after the hang guard: a
    regex that backtracks holds the GIL, so a thread could not be timed out, and a quadratic
    structure must not take the machine's memory with it."""
    import multiprocessing
    import resource

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        try:
            send.send(("ok", fn()))
        except BaseException as error:
            send.send(("error", f"{type(error).__name__}: {error}"))

    process = context.Process(target=child, daemon=True)
    process.start()
    ready = receive.poll(HANG_GUARD_S)
    outcome = receive.recv() if ready else ("hung", "")
    process.kill()
    process.join()
    assert outcome[0] != "hung", "the scan did not finish: super-linear on a long line"
    assert outcome[0] == "ok", outcome[1]
    return int(outcome[1])


def _scan(text: str) -> int:
    tracemalloc.start()
    try:
        plan = parse_plan(text, "plan.md")
        memory = parse_memory(text, "memory.md")
        lint_state(plan, memory)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("shape", sorted(LONG_LINES))
def test_a_one_megabyte_line_is_scanned_in_bounded_memory(shape: str) -> None:
    line = LONG_LINES[shape]
    text = f"# Plan\n\n## ✅ DONE\n{line}\n- [ ] after\n"
    peak = in_child(lambda: _scan(text))
    assert peak < 40 * MB, f"{peak / MB:.0f} MB for a {len(text) / MB:.1f} MB line"


def test_long_items_still_match_across_the_files() -> None:
    words = " ".join(f"w{n}" for n in range(300))
    plan = parse_plan(f"- [x] {words}\n", "plan.md")
    memory = parse_memory(f"## ✅ DONE\n- {words} — DONE\n", "memory.md")
    assert lint_state(plan, memory) == []
    memory = parse_memory(f"## 📋 NEXT\n- {words}\n", "memory.md")
    assert [f.rule for f in lint_state(plan, memory)] == ["plan-done-not-in-memory"]


# --- the whole tools on a hostile factory -------------------------------------------------------


def _hostile(root: Path, memory: Path) -> list[Path]:
    """FIFOs, a device link, a huge line, a 5000-digit pid: returns the FIFOs."""
    claims = root / ".claude" / "claims"
    fifos = [
        claims / "FIFO-1.json",
        memory / "checkpoints" / "2026-02-16T14-25-fifo.json",
        root / "plan.md",
    ]
    for fifo in fifos:
        if fifo.exists():
            fifo.unlink()
        os.mkfifo(fifo)
    (claims / "DEV-1.json").symlink_to("/dev/zero")
    (claims / "BIG-1.json").write_bytes(b'{"ticket": "BIG-1", "pid": ' + HUGE.encode() + b"}")
    (claims / "NEG-1.json").write_text('{"ticket": "NEG-1", "owner": "t1", "pid": -4}')
    (root / "memory.md").write_text("## ✅ DONE\n- " + "[owner:" * (MB // 7) + "\n")
    return fifos


def test_status_json_on_a_hostile_factory(tmp_path: Path) -> None:
    root, memory = _factory(tmp_path)
    fifos = _hostile(root, memory)
    argv = [sys.executable, "-m", "factory_tui", "status", str(root), "--json"]
    try:
        done = subprocess.run(
            [*argv, "--memory", str(memory)],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            env={**os.environ, "FACTORY_TUI_USER_CONFIG": ""},
        )
    finally:
        _unblock(fifos)
    assert done.returncode == 0, done.stderr
    problems = {Path(p["file"]).name: p["message"] for p in json.loads(done.stdout)["problems"]}
    assert problems["FIFO-1.json"] == "a FIFO, not a file: not read"
    assert problems["2026-02-16T14-25-fifo.json"] == "a FIFO, not a file: not read"
    assert problems["plan.md"] == "a FIFO, not a file: not read"
    assert problems["DEV-1.json"] == "a character device, not a file: not read"
    assert "4300 digits" in problems["BIG-1.json"]
    assert problems["NEG-1.json"].startswith("pid: expected an integer from 1")


def test_the_cockpit_can_always_quit(demo: DemoFactory) -> None:
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.feeds.prs import PrsOptions

    fifos = _hostile(demo.root, demo.memory_dir)
    config = config_for(demo.root)

    async def session() -> bool:
        app = FactoryApp(
            config,
            clock=lambda: DEMO_NOW,
            reader=FactoryReader(config, hostname=DEMO_HOST, probe=FixedProbe()),
            watch=False,
            theme_dir=demo.root.parent / "no-user-themes",
            environ={},
            prs=PrsOptions(enabled=False),
        )
        async with app.run_test(size=(120, 40)):
            await app.wait_for_fleet()
            await press_to_quit(app)
        return app.is_running

    assert guarded(lambda: asyncio.run(session()), fifos) is False


def test_log_timestamps_at_the_limits_are_problems() -> None:
    from factory_tui.core.fold import LogFold

    fold = LogFold()
    fold.feed_block(
        b"9999-12-31T23:59 | SESSION-START | task=a branch=b instance=t1\n"
        b"0001-01-01T00:00 | SESSION-START | task=a branch=b instance=t2\n"
        b"2026-02-16T10:00 | SESSION-START | task=a branch=b instance=t3\n",
        "operations.log",
        1,
    )
    assert [p.line for p in fold.problems] == [1, 2]


def test_gh_answering_a_5000_digit_number_is_a_gh_error(tmp_path: Path) -> None:
    from factory_tui.adapters.gh import Gh, GhError

    fake = tmp_path / "gh"
    fake.write_text(f"#!/bin/sh\necho '[{{\"number\": {HUGE}}}]'\n")
    fake.chmod(0o755)
    with pytest.raises(GhError) as raised:
        Gh(tmp_path, executable=str(fake)).json("pr", "list")
    assert raised.value.kind == "bad-output" and "thousands of digits" in str(raised.value)


def test_a_ticket_with_a_phases_key_or_lock_is_a_problem_naming_both() -> None:
    """A ticket file named like a MEGA's phase (``CAB-1290:2.json``: its key is the phase's,
    and the tree draws one of the two; ``CAB-1290-phase-2.json``: its lock is the phase's, and
    claiming one blocks the other) is a problem, not a claim missing from the cockpit without a
    word."""
    mega, _ = parse_claim(
        "/f/CAB-1290.json", b'{"mega": "CAB-1290", "phases": [{"id": 1}, {"id": 2}]}'
    )
    keyed, _ = parse_claim("/f/CAB-1290:2.json", b'{"ticket": "CAB-1290:2"}')
    locked, _ = parse_claim("/f/CAB-1290-phase-1.json", b'{"ticket": "CAB-1290-phase-1"}')
    plain, _ = parse_claim("/f/CAB-7.json", b'{"ticket": "CAB-7"}')
    claims = [c for c in (mega, keyed, locked, plain) if c is not None]
    found = [(p.file, p.message) for p in claim_set_problems(claims)]
    assert found == [  # on the later file by name, naming the earlier
        (
            "/f/CAB-1290.json",
            "phase 1 of CAB-1290 takes the lock CAB-1290-phase-1.lock, as CAB-1290-phase-1 "
            "does (/f/CAB-1290-phase-1.json): a claim of one blocks the other; rename one",
        ),
        (
            "/f/CAB-1290:2.json",
            "CAB-1290:2 has the key of phase 2 of CAB-1290 (/f/CAB-1290.json): one name for "
            "two claims (the Claims view shows one of them); rename one",
        ),
    ]
    # An id declared twice is said once, as before.
    one, _ = parse_claim("/f/A.json", b'{"ticket": "A"}')
    two, _ = parse_claim("/g/A.json", b'{"ticket": "A"}')
    twice = [p.message for p in claim_set_problems([c for c in (one, two) if c is not None])]
    assert twice == ["id A is also the id of /f/A.json; one claim per id: merge or rename one"]
    # One file name in two folders, declaring two ids: one key, one lock.
    three, _ = parse_claim("/f/B.json", b'{"ticket": "X"}')
    four, _ = parse_claim("/g/B.json", b'{"ticket": "B"}')
    found = [p.message for p in claim_set_problems([c for c in (four, three) if c is not None])]
    assert [m.split(":")[0] for m in found] == [
        "B has the key of B (/f/B.json)",
        "B takes the lock B.lock, as B does (/f/B.json)",
    ]
