"""The agent's activity folded from its Claude Code transcript, and the "waiting for you" verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from factory_tui.core.activity import (
    ActivityFold,
    AgentSignal,
    context_window,
    summarize_tool,
    waiting_verdict,
)

FIXTURE = Path(__file__).parent / "fixtures" / "activity" / "agent-session.jsonl"


def _fold(lines: list[bytes] | None = None) -> ActivityFold:
    fold = ActivityFold(str(FIXTURE), tz=UTC)  # a fixed zone: independent of the machine's
    for line in lines if lines is not None else FIXTURE.read_bytes().splitlines():
        fold.feed_line(line)
    return fold


def _line(**record: object) -> bytes:
    base = {"isSidechain": False, "cwd": "/home/dev/shop-CAB-1350", "sessionId": "sess-w1"}
    return json.dumps(base | record).encode()


def test_the_fixture_folds_into_the_agents_activity() -> None:
    act = _fold().activity()
    assert act.session_id == "sess-w1"
    assert act.model == "claude-opus-4-1-20250805"  # the sidechain's Haiku does not count
    assert act.tool is not None
    assert act.tool.summary == "Bash: pytest -x tests/api"
    assert act.tool.done is False
    assert act.tool.at == datetime(2026, 2, 16, 10, 32)
    assert act.text == "Running the API tests now."
    assert [(t.content, t.status) for t in act.todos] == [
        ("Write the quota model", "completed"),
        ("Add the API endpoint", "in_progress"),
        ("Run the API tests", "pending"),
    ]
    assert act.todo_counts() == (1, 1, 1)
    assert act.compactions == 1
    assert act.context_tokens == 10 + 100 + 125_000
    assert act.context_window == 200_000
    assert act.fill_flagged
    assert act.fill_text() == "ctx 63% of 200k ⚠, 1 compaction"
    assert act.turn_ended_at is None
    assert act.problems == 0


def test_streamed_duplicates_count_once_and_keep_the_largest_usage() -> None:
    lines = FIXTURE.read_bytes().splitlines()
    fold = _fold(lines[:8])  # through the Edit written twice
    act = fold.activity()
    assert act.tool is not None and act.tool.summary == "Edit: src/quota.py"
    assert act.context_tokens == 5 + 500 + 12_000
    partial = _line(
        type="assistant",
        timestamp="2026-02-16T10:01:00.500Z",
        message={
            "id": "msg_02",
            "model": "claude-opus-4-1-20250805",
            "content": [],
            "usage": {"input_tokens": 5, "output_tokens": 2},
        },
    )
    fold.feed_line(partial)
    assert fold.activity().context_tokens == 12_505


def test_the_todo_list_is_the_latest_todowrite_and_the_fill_is_flagged_from_60_percent() -> None:
    lines = FIXTURE.read_bytes().splitlines()
    before = _fold(lines[:9]).activity()
    assert before.todo_counts() == (0, 0, 3)
    assert not before.fill_flagged
    at_compaction = _fold(lines[:11]).activity()
    assert at_compaction.compactions == 1
    assert at_compaction.context_tokens is None  # unknown until the next response
    after = _fold(lines[:12]).activity()
    assert after.todo_counts() == (1, 1, 1)
    assert after.context_tokens == 120_008 and after.fill_flagged


def test_a_result_marks_the_call_done_and_an_ended_turn_is_kept_until_the_user_speaks() -> None:
    fold = _fold()
    fold.feed_line(
        _line(
            type="user",
            timestamp="2026-02-16T10:33:00.000Z",
            message={
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_b1", "is_error": True}],
            },
        )
    )
    act = fold.activity()
    assert act.tool is not None and act.tool.done and act.tool.failed
    fold.feed_line(
        _line(
            type="assistant",
            timestamp="2026-02-16T10:33:30.000Z",
            message={
                "id": "msg_05",
                "model": "claude-opus-4-1-20250805",
                "content": [{"type": "text", "text": "Two tests fail.\nShould I relax the limit?"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 12, "cache_read_input_tokens": 126_000},
            },
        )
    )
    act = fold.activity()
    assert act.turn_ended_at == datetime(2026, 2, 16, 10, 33, 30)
    assert act.text == "Two tests fail.\nShould I relax the limit?"
    prompt = _line(
        type="user",
        timestamp="2026-02-16T10:50:00.000Z",
        message={"role": "user", "content": "yes"},
    )
    fold.feed_line(prompt)
    assert fold.activity().turn_ended_at is None


def test_untrusted_text_stays_literal_in_the_activity_line() -> None:
    fold = ActivityFold()
    fold.feed_line(
        _line(
            type="assistant",
            timestamp="2026-02-16T10:00:00Z",
            message={
                "id": "m",
                "model": "claude-sonnet-4-5",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t",
                        "name": "Bash",
                        "input": {"command": "echo \x1b[31m[bold]red[/bold]\u202e"},
                    }
                ],
            },
        )
    )
    line = fold.activity().activity_line(datetime(2026, 2, 16, 10, 5))
    assert line == "Bash: echo \\x1b[31m[bold]red[/bold]\\u202e … (5m ago)"


def test_bad_lines_are_counted_not_raised() -> None:
    fold = ActivityFold()
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"", b'{"type": "assistant", "message": 3}'):
        fold.feed_line(raw)
    act = fold.activity()
    assert act.problems == 3
    assert act.tool is None and act.context_tokens is None


def test_context_windows() -> None:
    assert context_window("claude-opus-4-1-20250805") == 200_000
    assert context_window("claude-sonnet-4-5-20250929[1m]") == 1_000_000
    assert context_window("claude-sonnet-5") == 1_000_000
    assert context_window(None) == 200_000
    assert context_window("claude-sonnet-4-5", observed=350_000) == 1_000_000


def test_tool_summaries() -> None:
    cwd = "/repo"
    assert summarize_tool("Read", {"file_path": "/repo/a/b.py"}, cwd) == "Read: a/b.py"
    assert summarize_tool("Read", {"file_path": "/etc/hosts"}, cwd) == "Read: /etc/hosts"
    assert summarize_tool("Grep", {"pattern": "quota", "path": "/repo/src"}, cwd) == (
        "Grep: quota in src"
    )
    assert summarize_tool("mcp__linear__get_issue", {"id": "CAB-1"}) == (
        "mcp__linear__get_issue: CAB-1"
    )
    assert summarize_tool("Bash", None) == "Bash"
    long = summarize_tool("Bash", {"command": "x" * 500})
    assert len(long) == 120 and long.endswith("…")


NOW = datetime(2026, 2, 16, 11, 0)
IDLE = timedelta(minutes=15)


def test_a_permission_prompt_waits_until_the_transcript_moves_on() -> None:
    signal = AgentSignal(
        "AGENT-WAITING",
        "2026-02-16T10:32:40",
        "permission_prompt",
        "Claude needs your permission to use Bash",
        "operations.log:7",
    )
    act = _fold().activity()  # last line 10:32:30 (a subagent), before the prompt
    verdict = waiting_verdict(signal, act, NOW, IDLE)
    assert verdict is not None
    assert verdict.kind == "permission_prompt"
    assert verdict.since == datetime(2026, 2, 16, 10, 32, 40)
    assert "operations.log:7" in verdict.evidence and "not answered" in verdict.evidence
    fold = _fold()
    fold.feed_line(
        _line(
            type="user",
            timestamp="2026-02-16T10:40:00Z",
            message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
        )
    )
    assert waiting_verdict(signal, fold.activity(), NOW, IDLE) is None


def test_a_turn_end_waits_only_after_the_idle_threshold() -> None:
    signal = AgentSignal("AGENT-TURN-END", "2026-02-16T10:50:00", where="operations.log:9")
    assert waiting_verdict(signal, None, NOW, IDLE) is None
    later = NOW + timedelta(minutes=10)
    verdict = waiting_verdict(signal, None, later, IDLE)
    assert verdict is not None and verdict.kind == "turn_end"
    assert "no user message for 20m" in verdict.evidence
    resumed = AgentSignal("AGENT-RESUMED", "2026-02-16T10:55:00")
    assert waiting_verdict(resumed, None, later, IDLE) is None


def test_the_transcript_alone_tells_an_ended_turn() -> None:
    fold = _fold()
    fold.feed_line(
        _line(
            type="assistant",
            timestamp="2026-02-16T10:33:30Z",
            message={
                "id": "m5",
                "model": "claude-opus-4-1-20250805",
                "content": [{"type": "text", "text": "Done?"}],
                "stop_reason": "end_turn",
            },
        )
    )
    act = fold.activity()
    assert waiting_verdict(None, act, datetime(2026, 2, 16, 10, 40), IDLE) is None
    verdict = waiting_verdict(None, act, NOW, IDLE)
    assert verdict is not None and verdict.kind == "turn_end"
    assert verdict.evidence.startswith("transcript: turn ended at 2026-02-16T10:33:30")


def test_a_hook_line_of_minute_precision_is_answered_only_by_a_later_minute() -> None:
    signal = AgentSignal("AGENT-WAITING", "2026-02-16T10:32", "permission_prompt")
    act = _fold().activity()  # its last line, 10:32:30, may be before the prompt
    assert act.last_record_at == datetime(2026, 2, 16, 10, 32, 30)
    assert waiting_verdict(signal, act, NOW, IDLE) is not None
    fold = _fold()
    fold.feed_line(
        _line(
            type="user",
            timestamp="2026-02-16T10:33:05Z",
            message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
        )
    )
    assert waiting_verdict(signal, fold.activity(), NOW, IDLE) is None
