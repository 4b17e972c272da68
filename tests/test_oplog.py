from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_tui.core.fold import LogFold
from factory_tui.core.oplog import Event, format_event, iter_lines, parse_fields, parse_line
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import parse_ts, parse_utc_ts, utc_naive


def test_protocol_line() -> None:
    event = parse_line(
        "2026-02-12T14:05 | CLAIM | task=CAB-1290 phase=1 instance=t48217-a3f2 tickets=CAB-1350,CAB-1351",
        3,
        "operations.log",
    )
    assert isinstance(event, Event)
    assert event.name == "CLAIM"
    assert event.fields == {
        "task": "CAB-1290",
        "phase": "1",
        "instance": "t48217-a3f2",
        "tickets": "CAB-1350,CAB-1351",
    }
    assert event.line == 3
    assert event.at == datetime(2026, 2, 12, 14, 5)


def test_quoted_values_and_bare_words() -> None:
    assert parse_fields("step=code detail=\"two words\" note='single q' oops") == {
        "step": "code",
        "detail": "two words",
        "note": "single q",
        "_": "oops",
    }
    assert parse_fields(r'detail="say \"hi\""') == {"detail": 'say "hi"'}


def test_unknown_events_and_keys_are_kept() -> None:
    event = parse_line("2026-02-12T14:05 | DEPLOY-WAVE | wave=3 region=eu", 1, "log")
    assert isinstance(event, Event)
    assert event.name == "DEPLOY-WAVE"
    assert event.fields == {"wave": "3", "region": "eu"}


def test_timestamps_seen_in_the_wild() -> None:
    base = datetime(2026, 2, 12, 14, 5)
    assert parse_ts("2026-02-12T14:05") == base
    assert parse_ts("2026-02-12 14:05") == base
    assert parse_ts("2026-02-12T14:05:30") == base.replace(second=30)
    utc = parse_ts("2026-02-12T14:05Z")
    offset = parse_ts("2026-02-12T16:05+02:00")
    assert utc is not None and utc == offset
    assert parse_ts("yesterday") is None
    assert parse_ts("") is None


def test_crlf_and_blank_lines() -> None:
    lines = [b"2026-02-12T14:00 | SESSION-START | task=a branch=b\r", b"", b"   \r"]
    out = list(iter_lines(lines, "log"))
    assert len(out) == 1
    assert isinstance(out[0], Event)
    assert out[0].fields["branch"] == "b"


def test_malformed_lines_become_problems_with_line_numbers() -> None:
    lines = [
        b"garbage without pipes",
        b"not-a-time | SESSION-START | task=a",
        b"2026-02-12T14:00 | bad event! | task=a",
        b"\xff\xfe | SESSION-START",
        "2026-02-12T14:00 | STEP-DONE | step=code task=ünïcødé".encode(),
    ]
    out = list(iter_lines(lines, "operations.log", first_line=10))
    problems = [item for item in out if isinstance(item, Problem)]
    assert [p.line for p in problems] == [10, 11, 12, 13]
    assert "TIMESTAMP | EVENT" in problems[0].message
    assert "bad timestamp" in problems[1].message
    assert "not UTF-8" in problems[3].message
    assert isinstance(out[-1], Event) and out[-1].fields["task"] == "ünïcødé"


def test_format_event_round_trips_and_quotes() -> None:
    line = format_event(
        "2026-02-12T14:00", "RECOVERY", [("task", "t"), ("reason", 'two words "q"'), ("x", "a\nb")]
    )
    assert "\n" not in line
    event = parse_line(line, 1, "log")
    assert isinstance(event, Event)
    assert event.fields == {"task": "t", "reason": 'two words "q"', "x": "a b"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_raises_on_bytes(data: bytes) -> None:
    lines = data.split(b"\n")
    items = list(iter_lines(lines, "fuzz"))
    # Every line that is not blank text is an event or a problem, with its own line number.
    expected = [n for n, raw in enumerate(lines, start=1) if not _blank(raw)]
    assert [item.line for item in items] == expected
    for item in items:
        assert isinstance(item, Event | Problem)
        if isinstance(item, Problem):
            assert item.file == "fuzz" and item.message.strip()


def _blank(raw: bytes) -> bool:
    try:
        return not raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_raises_on_text(text: str) -> None:
    bare = parse_line(text, 7, "fuzz")
    if not text.rstrip("\r\n").strip():
        assert bare is None  # a blank line is nothing, not a problem
    else:
        assert isinstance(bare, Event | Problem) and bare.line == 7
    framed = parse_line("2026-02-12T14:00 | X | " + text, 7, "fuzz")
    assert isinstance(framed, Event | Problem) and framed.line == 7
    if isinstance(framed, Problem):
        assert framed.file == "fuzz" and framed.message.strip()


def _fold_summary(fold: LogFold) -> object:
    return (
        [
            (
                s.task,
                s.instance,
                s.branch,
                s.started_at,
                s.ended_at,
                s.end_status,
                s.last_step,
                s.pr,
                s.checkpoint_file,
                s.recovered_by,
                s.last_error,
                s.last_step_state,
                s.last_step_at,
                s.last_event_at,
            )
            for s in fold.sessions
        ],
        dict(fold.agent_signals),
        dict(fold.instance_last_event),
        dict(fold.instance_last_start),
        [(p.file, p.line, p.message) for p in fold.problems],
        fold.events,
        dict(fold.counts),
        fold.recent_events(),
        {key: fold.recent_events(key) for key in fold.instance_recent},
        fold.last_ts,
        dict(fold.claim_events),
        {key: dict(held) for key, held in fold.open_claims.items()},
    )


SAMPLE = [
    b"2026-02-12T14:00 | SESSION-START | task=traceability-system branch=feat/x instance=t48217-a3f2",
    b"2026-02-12T14:05 | CLAIM | task=CAB-1290 phase=1 instance=t48217-a3f2 tickets=CAB-1350,CAB-1351",
    b"2026-02-12T14:15 | STEP-DONE | step=code task=traceability-system",
    b'2026-02-12T14:16 | STEP-START | step=ci task=traceability-system detail="two words" pr=367',
    b"2026-02-12T14:20 | STEP-DONE | step=pr-created task=traceability-system pr=367 branch=feat/x",
    b"2026-02-12 14:21:09Z | ERROR | task=traceability-system error=boom\r",
    b"2026-02-12T14:25 | CHECKPOINT | task=traceability-system file=a.json",
    b"2026-02-12T14:26 | SESSION-END | task=traceability-system status=success pr=367",
    b"2026-02-12T14:27 | SESSION-END | task=nobody status=success",
    b"2026-02-12T14:28 | STEP-DONE | task=x",
    b"2026-02-12T14:29|SESSION-START|task=y branch=b instance=t2",
    b"\xff bad",
    b"junk",
    b"2026-02-12T14:30 | weird name | x=1",
]


def test_fast_feed_equals_the_general_parser() -> None:
    fast, slow = LogFold(), LogFold()
    fast.feed_lines(SAMPLE, "operations.log")
    block = LogFold()
    block.feed_block(b"\n".join(SAMPLE), "operations.log")
    assert _fold_summary(block) == _fold_summary(fast)
    slow.feed_all(iter_lines(SAMPLE, "operations.log"))
    assert _fold_summary(fast) == _fold_summary(slow)
    assert fast.sessions[0].last_step == "pr-created" and fast.sessions[0].pr == "367"
    assert [p.line for p in fast.problems] == [9, 10, 12, 13, 14]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SAMPLE) | st.binary(max_size=80), max_size=30))
def test_fast_feed_never_raises_and_agrees(lines: list[bytes]) -> None:
    fast, slow = LogFold(), LogFold()
    fast.feed_lines(lines, "f")
    slow.feed_all(iter_lines(lines, "f"))
    assert _fold_summary(fast) == _fold_summary(slow)


def _agrees_at_every_cut(lines: list[bytes]) -> LogFold:
    """The fast feed and the general parser fold every prefix of ``lines`` alike; the fast fold
    of all of them."""
    for cut in range(1, len(lines) + 1):
        fast, slow = LogFold(), LogFold()
        fast.feed_lines(lines[:cut], "f")
        slow.feed_all(iter_lines(lines[:cut], "f"))
        assert _fold_summary(fast) == _fold_summary(slow), cut
    return fast


def test_fast_feed_edge_shapes_agree() -> None:
    lines = [
        b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
        b"2026-02-12T14:01 | STEP-DONE | step=x step=y task=a",
        b"2026-02-12T14:02 | STEP-DONE | xstep=1 step=z task=a pr=5 branch=other",
        b"2026-02-12T14:03 | STEP-DONE | step=w task=a bare =v",
        b"2026-02-12T14:04 | STEP-START | step= task=a",
        b"2026-02-12T14:05 | STEP-START | step=v task=a instance=i2",
        b"2026-02-12T14:06 | CHECKPOINT | task=a file=one.json",
        b"2026-02-12T14:07 | CHECKPOINT | task=a file=two.json instance=i3",
        b"2026-02-12T14:08 | CHECKPOINT | task=a file=x file=three.json",
        b"2026-02-12T14:09 | CHECKPOINT | file=four.json task=a",
        b"2026-02-12T14:10 | CHECKPOINT | task=a",
        b"2026-02-12T14:11 | CHECKPOINT | task=nobody file=five.json",
        b"2026-02-12T14:12 | CHECKPOINT | task=a file=six.json task=b",
        b"2026-02-12T14:13 | SESSION-END | task=a status=success",
    ]
    _agrees_at_every_cut(lines)


def test_fast_feed_session_and_quoted_shapes_agree() -> None:
    lines = [
        b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
        b'2026-02-12T14:01 | STEP-DONE | step=x task=a detail="see pr=5 branch=z"',
        b'2026-02-12T14:02 | STEP-DONE | step=y task=a detail="two words" pr=7',
        b'2026-02-12T14:03 | STEP-DONE | step=z task=a detail="esc \\" quote"',
        b"2026-02-12T14:04 | STEP-DONE | step=w task=a detail='single quoted'",
        b'2026-02-12T14:05 | STEP-DONE | step=v task=a detail="unterminated',
        b'2026-02-12T14:06 | STEP-DONE | step="q" task=a',
        b'2026-02-12T14:07 | STEP-DONE | step=u task=a note=x"y',
        b"2026-02-12T14:08 | STEP-DONE | step=t\ttask=a",
        b"2026-02-12T14:09 | SESSION-START | task=c branch=d instance=i2 recovered_from=a",
        b"2026-02-12T14:10 | SESSION-START | task=e branch=f",
        b"2026-02-12T14:11 | SESSION-START | task=g branch=h instance=i3 pr=9",
        b"2026-02-12T14:12 | SESSION-START | branch=h task=g2 instance=i4",
        b"2026-02-12T14:13 | SESSION-START | task=k instance=i5",
        b"2026-02-12T14:14 | SESSION-START | task=a branch=b2 instance=i6",
        b"2026-02-12T14:15 | SESSION-END | task=a status=crashed recovered_by=i6",
        b"2026-02-12T14:16 | SESSION-END | task=c status=success pr=11",
        b"2026-02-12T14:17 | SESSION-END | task=e status=paused pr=12 recovered_by=x",
        b"2026-02-12T14:18 | SESSION-END | task=g recovered_by=y status=success",
        b"2026-02-12T14:19 | SESSION-END | task=nobody status=success",
        b"2026-02-12T14:20 | SESSION-END | task=a status=success instance=i9",
        b'2026-02-12T14:21 | SESSION-END | task=k status="success"',
        b"2026-02-12T14:22 | SESSION-END | task=g2 status=",
    ]
    fast = _agrees_at_every_cut(lines)
    assert fast.sessions[0].pr == "7" and fast.sessions[0].end_status == "crashed"


_TOKENS = st.sampled_from(
    ["task=a", "task=b", "step=s", "branch=x", "instance=i1", "instance=i2", "pr=3", "file=f",
     "status=success", "status=crashed", "recovered_by=i2", "recovered_from=a", 'detail="a b"',
     'detail="pr=4"', "detail='q'", 'x="', "bare", "=v", "k=", 'e="\\""', "step=", "task=a\tx=1",
     "by=dana", "phase=1", "phase=-", "reason=done", 'cmd="a "b" c"', "cmd=x y", "models=a=1 b=2"]
)  # fmt: skip
_NAMES = st.sampled_from(
    ["SESSION-START", "SESSION-END", "STEP-DONE", "STEP-START", "CHECKPOINT", "ERROR", "CLAIM",
     "RELEASE", "BASH-EXEC", "PR-MERGED-HOOK", "TOKEN-SPEND"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.lists(_TOKENS, max_size=5)), max_size=25))
def test_fast_feed_agrees_on_protocol_shaped_lines(events: list[tuple[str, list[str]]]) -> None:
    lines = [
        f"2026-02-12T14:{n % 60:02d} | {name} | {' '.join(tokens)}".encode()
        for n, (name, tokens) in enumerate(events)
    ]
    fast, slow = LogFold(), LogFold()
    fast.feed_lines(lines, "f")
    slow.feed_all(iter_lines(lines, "f"))
    assert _fold_summary(fast) == _fold_summary(slow)


def test_a_big_history_shares_its_repeated_strings() -> None:
    """Memory on a million-line log: times and names that repeat are kept once."""
    lines = [
        b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
        b"2026-02-12T14:00 | SESSION-START | task=c branch=b instance=i1",
        b"2026-02-12T14:01 | STEP-DONE | step=code task=a",
        b"2026-02-12T14:01 | STEP-DONE | step=code task=c",
        b"2026-02-12T14:02 | SESSION-END | task=a status=success",
        b"2026-02-12T14:03 | SESSION-START | task=a branch=b instance=i1",
        b"2026-02-12T14:02 | SESSION-END | task=c status=success",
    ]
    fold = LogFold()
    fold.feed_block(b"\n".join(lines), "operations.log")
    first, second, third = fold.sessions
    assert first.started_at is second.started_at
    assert first.last_step_at is second.last_step_at
    assert first.last_step is second.last_step
    assert first.branch is second.branch and first.instance is third.instance
    assert first.task is third.task
    assert first.end_status is second.end_status


def test_a_session_keeps_its_checkpoint_until_it_ends_well() -> None:
    lines = [
        b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
        b"2026-02-12T14:00 | SESSION-START | task=c branch=b instance=i2",
        b"2026-02-12T14:01 | CHECKPOINT | task=a file=one.json",
        b"2026-02-12T14:01 | CHECKPOINT | task=c file=two.json",
        b"2026-02-12T14:02 | SESSION-END | task=a status=success",
        b"2026-02-12T14:02 | SESSION-END | task=c status=paused",
    ]
    fold = LogFold()
    fold.feed_block(b"\n".join(lines), "operations.log")
    assert [s.checkpoint_file for s in fold.sessions] == [None, "two.json"]


# -- the real hooks' shapes (issue #11) ------------------------------------------------------------


def test_standalone_claim_and_release_without_phase_are_valid() -> None:
    lines = [
        b"2026-02-12T14:05 | CLAIM | task=CAB-1321 instance=t48217-a3f2 tickets=CAB-1321",
        b"2026-02-12T14:50 | RELEASE | task=CAB-1321 instance=t48217-a3f2 reason=done",
    ]
    fold = LogFold()
    fold.feed_lines(lines, "operations.log")
    assert fold.problems == []
    assert fold.claim_events[("CAB-1321", "")].event == "RELEASE"
    assert fold.instance_last_event["t48217-a3f2"] == "2026-02-12T14:50"


def test_bash_exec_keeps_the_whole_command_with_inner_quotes() -> None:
    # The hook writes cmd="$CMD_SHORT" without escaping the command's own quotes.
    line = '2026-02-12T14:05 | BASH-EXEC | cmd="git commit -m "fix: a | b" --author=\'x y\'"'
    event = parse_line(line, 1, "operations.log")
    assert isinstance(event, Event)
    assert event.fields == {"cmd": "git commit -m \"fix: a | b\" --author='x y'"}
    merged = parse_line(
        '2026-02-12T14:06 | PR-MERGED-HOOK | pr=412 cmd="gh pr merge 412 --squash -b "done""',
        2,
        "operations.log",
    )
    assert isinstance(merged, Event)
    assert merged.fields == {"pr": "412", "cmd": 'gh pr merge 412 --squash -b "done"'}
    # written back (the fold's general path re-formats a line) it reads the same
    again = parse_line(format_event(event.ts, event.name, event.fields.items()), 1, "x")
    assert isinstance(again, Event) and again.fields == event.fields


def test_hook_and_metrics_events_are_known_with_their_fields() -> None:
    lines = [
        b"2026-02-12T14:05 | LINEAR-CLOSE | ticket=CAB-1350 pr=412 hook=stop-linear-close",
        b"2026-02-12T14:06 | MCP-CALL | service=linear action=update_issue id=CAB-1350",
        b"2026-02-12T14:07 | CONFLICT | task=CAB-1290 phase=2 winner=t1-aaaa",
        b"2026-02-12T14:08 | CONFLICT | task=CAB-1290 winner=t1-aaaa",
    ]
    fold = LogFold()
    fold.feed_lines(lines, "operations.log")
    assert [(p.line, p.message) for p in fold.problems] == [(4, "CONFLICT without phase")]
    spend = parse_line(
        "2026-02-12T23:55 | TOKEN-SPEND | date=2026-02-12 tokens_total=1200 cost_usd=3.10 "
        "sessions=2 messages=40 models=opus-4=1000 sonnet-4=200",
        1,
        "metrics.log",
    )
    assert isinstance(spend, Event)
    assert spend.fields["models"] == "opus-4=1000 sonnet-4=200"
    assert spend.fields["cost_usd"] == "3.10" and "sonnet-4" not in spend.fields


def test_metrics_times_are_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """metrics.log is written by ``date -u``: 14:05 there is 09:05 in New York (EST)."""
    parse_ts.cache_clear()
    parse_utc_ts.cache_clear()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        lines = [b"2026-02-12T14:05 | COST-ALERT | threshold=50 actual=61.20 date=2026-02-12"]
        (event,) = iter_lines(lines, "metrics.log", utc=True)
        assert isinstance(event, Event)
        assert event.at == datetime(2026, 2, 12, 9, 5)
        fold = LogFold(utc=True)
        fold.feed_lines(lines, "metrics.log")
        assert [e.at for e in fold.recent_events()] == [datetime(2026, 2, 12, 9, 5)]
        # operations.log stays local; a marked zone is read as marked either way
        (local,) = iter_lines(lines, "operations.log")
        assert isinstance(local, Event) and local.at == datetime(2026, 2, 12, 14, 5)
        assert parse_utc_ts("2026-02-12T14:05:00Z") == datetime(2026, 2, 12, 9, 5)
        assert parse_utc_ts("2026-02-12T16:05+02:00") == datetime(2026, 2, 12, 9, 5)
    finally:
        monkeypatch.undo()
        time.tzset()
        parse_ts.cache_clear()
        parse_utc_ts.cache_clear()


def test_a_zone_passed_explicitly_decides_the_conversion() -> None:
    """The zone is an argument, not the process's: the same text gives each zone its own time
    (the cache keys on the zone), and metrics.log's UTC round-trips through ``utc_naive``."""
    ny, kolkata = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
    assert parse_ts("2026-02-12T14:05Z", ny) == datetime(2026, 2, 12, 9, 5)
    assert parse_ts("2026-02-12T14:05Z", kolkata) == datetime(2026, 2, 12, 19, 35)
    assert parse_ts("2026-07-12T14:05Z", ny) == datetime(2026, 7, 12, 10, 5)  # summer time
    assert parse_ts("2026-02-12T14:05", ny) == datetime(2026, 2, 12, 14, 5)  # naive: as written
    assert parse_utc_ts("2026-02-12T14:05", kolkata) == datetime(2026, 2, 12, 19, 35)
    assert utc_naive(datetime(2026, 2, 12, 19, 35), kolkata) == datetime(2026, 2, 12, 14, 5)


def test_audit_lines_are_not_an_agents_activity() -> None:
    lines = [
        b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
        b"2026-02-12T14:01 | STEP-DONE | step=code task=a",
        b"2026-02-12T15:00 | RECOVERY | task=a action=resume from_step=code by=dana",
        b"2026-02-12T15:00 | STEP-DONE | step=merged task=a pr=5 by=dana",
        b"2026-02-12T15:01 | RELEASE | task=C phase=1 instance=i1 reason=stale by=dana",
        b"2026-02-12T15:02 | SESSION-START | task=z branch=b instance=i1 by=dana",
        b"2026-02-12T15:03 | SESSION-END | task=a status=crashed recovered_by=i2 by=dana",
    ]
    fold = _agrees_at_every_cut(lines)
    assert fold.instance_last_event == {"i1": "2026-02-12T14:01"}
    assert fold.instance_last_start == {"i1": "2026-02-12T14:00"}
    first = fold.sessions[0]
    assert (first.last_step, first.pr) == ("merged", "5")  # facts still recorded
    assert fold.claim_events[("C", "1")].event == "RELEASE"
    assert len(fold.recent_events("i1")) == len(lines)  # shown among its lines


HOOK_LINES = [
    b'2026-02-12T14:00 | BASH-EXEC | cmd="git commit -m "a b""',
    b"2026-02-12T14:00 | BASH-EXEC | cmd=git push",
    b"2026-02-12T14:00 | BASH-EXEC | cmd=",
    b'2026-02-12T14:00 | PR-MERGED-HOOK | pr=5 cmd="gh pr merge 5 --squash"',
    b"2026-02-12T14:00 | TOKEN-SPEND | date=d cost_usd=1 models=a=1 b=2",
    b"2026-02-12T14:01 | CLAIM | task=M phase=1 instance=i1",
    b"2026-02-12T14:02 | CLAIM | task=M phase=1 instance=i2",
    b"2026-02-12T14:03 | RELEASE | task=S phase=- instance=i1 reason=stale by=dana",
    b"2026-02-12T14:04 | STEP-DONE | step=x task=a by=dana",
    b"2026-02-12T14:05 | CHECKPOINT | task=a file=f.json by=dana",
]


RUN_LINES = [
    b"2026-02-12T14:00 | SESSION-START | task=a branch=b instance=i1",
    b"2026-02-12T14:00 | SESSION-START | task=c branch=b instance=i2",
    b"2026-02-12T14:01 | STEP-DONE | step=code task=a",
    b"2026-02-12T14:01 | STEP-START | step=test task=a pr=7",
    b"2026-02-12T14:02 | CHECKPOINT | task=a file=a.json",
    b"2026-02-12T14:02 | STEP-DONE | step=code task=c",
    b"2026-02-12T14:03 | AGENT-WAITING | instance=i1 kind=permission",
    b"2026-02-12T14:03 | AGENT-TURN-END | instance=i2",
    b"2026-02-12T14:04 | SESSION-END | task=a status=success",
    b"2026-02-12T14:04 | SESSION-START | task=a branch=b instance=i3",
    b"2026-02-12T14:05 | STEP-DONE | step=x task=a by=dana",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(RUN_LINES), max_size=30))
def test_fast_feed_agrees_on_runs_of_one_tasks_lines(lines: list[bytes]) -> None:
    """A run of one task's steps and checkpoints looks its session up once: a wait signal,
    a session closed or opened between them is seen all the same."""
    fast, slow = LogFold(), LogFold()
    fast.feed_lines(lines, "f")
    slow.feed_all(iter_lines(lines, "f"))
    assert _fold_summary(fast) == _fold_summary(slow)
    block = LogFold()
    block.feed_block(b"\n".join(lines), "f")
    assert _fold_summary(block) == _fold_summary(slow)


def test_a_step_after_a_wait_in_a_run_clears_the_wait() -> None:
    fold = LogFold()
    fold.feed_block(b"\n".join([RUN_LINES[0], RUN_LINES[2], RUN_LINES[6], RUN_LINES[3]]), "f")
    assert fold.agent_signals == {}
    assert fold.sessions[0].last_step == "test" and fold.sessions[0].pr == "7"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SAMPLE + HOOK_LINES), max_size=25))
def test_fast_feed_agrees_on_hook_and_audit_lines(lines: list[bytes]) -> None:
    fast, slow = LogFold(), LogFold()
    fast.feed_lines(lines, "f")
    slow.feed_all(iter_lines(lines, "f"))
    assert _fold_summary(fast) == _fold_summary(slow)
    assert fast.claim_events == slow.claim_events
    assert fast.open_claims == slow.open_claims
