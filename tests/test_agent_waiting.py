"""Issue 13, first half: each agent's activity from its transcript, "waiting for you" from the
hook lines, through the real CLI (``hook``, ``status --json``, ``agent``) and the attention list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import DEMO_NOW, config_for, demo_reader

from factory_tui.adapters.agent_transcripts import AgentTranscripts, newest_transcript
from factory_tui.config import encode_project_path
from factory_tui.core.attention import attention_items
from factory_tui.core.fleet import Fleet
from factory_tui.core.fold import LogFold
from factory_tui.demo import DemoFactory

FIXTURE = Path(__file__).parent / "fixtures" / "activity" / "agent-session.jsonl"
NOW_ARG = DEMO_NOW.isoformat(timespec="seconds")


def working(demo: DemoFactory) -> str:
    return sorted(i for i, role in demo.instances.items() if role == "working")[0]


def claude_dir(demo: DemoFactory) -> Path:
    return demo.root.parent / "no-claude-config"  # config_for's CLAUDE_CONFIG_DIR


def put_transcript(demo: DemoFactory, instance: str, *, mtime: datetime = DEMO_NOW) -> Path:
    """The fixture transcript as the agent's live one: under Claude Code's project folder of its
    worktree, written at ``mtime``."""
    tree = demo.root / ".worktrees" / instance
    folder = claude_dir(demo) / "projects" / encode_project_path(tree)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sess-w1.jsonl"
    shutil.copyfile(FIXTURE, path)
    stamp = mtime.timestamp()
    os.utime(path, (stamp, stamp))
    return path


def run_cli(
    demo: DemoFactory, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACTORY_TUI_USER_CONFIG": "",
        "CLAUDE_CONFIG_DIR": str(claude_dir(demo)),
    }
    for var in ("FACTORY_TUI_INSTANCE", "STOA_INSTANCE_ID"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "factory_tui", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=cwd or demo.root,
    )


def payload(demo: DemoFactory, instance: str, event: str, **fields: object) -> str:
    return json.dumps(
        {
            "session_id": "sess-w1",
            "transcript_path": "/x/sess-w1.jsonl",
            "cwd": str(demo.root / ".worktrees" / instance),
            "permission_mode": "default",
            "hook_event_name": event,
            **fields,
        }
    )


def log_lines(demo: DemoFactory) -> list[str]:
    return (demo.memory_dir / "operations.log").read_text().splitlines()


# -- the fleet --------------------------------------------------------------------------------


def test_an_agents_transcript_is_found_from_its_worktree_and_read_incrementally(
    demo: DemoFactory,
) -> None:
    agent = working(demo)
    path = put_transcript(demo, agent)
    reader = demo_reader(demo)
    reader.refresh_all()
    view = next(i for i in reader.fleet(DEMO_NOW).instances if i.id == agent)
    assert view.activity is not None
    assert view.activity.transcript == str(path)
    assert view.activity.tool is not None
    assert view.activity.tool.summary == "Bash: pytest -x tests/api"
    assert view.activity.todo_counts() == (1, 1, 1)
    assert view.activity.compactions == 1
    records = view.activity.records
    with path.open("a") as handle:
        handle.write(
            json.dumps(
                {
                    "type": "assistant",
                    "cwd": str(demo.root / ".worktrees" / agent),
                    "timestamp": "2026-02-16T10:40:00Z",
                    "message": {
                        "id": "msg_09",
                        "model": "claude-opus-4-1-20250805",
                        "content": [
                            {
                                "type": "tool_use",
                                "id": "t9",
                                "name": "Read",
                                "input": {
                                    "file_path": str(demo.root / ".worktrees" / agent / "x.py")
                                },
                            }
                        ],
                    },
                }
            )
            + "\n"
        )
    view = next(i for i in reader.fleet(DEMO_NOW).instances if i.id == agent)
    assert view.activity is not None and view.activity.tool is not None
    assert view.activity.tool.summary == "Read: x.py"
    assert view.activity.records == records + 1  # one more line read, not the file again


def test_a_transcript_older_than_the_session_is_not_the_agents(demo: DemoFactory) -> None:
    agent = working(demo)
    put_transcript(demo, agent, mtime=datetime(2026, 2, 1, 9, 0))
    reader = demo_reader(demo)
    reader.refresh_all()
    view = next(i for i in reader.fleet(DEMO_NOW).instances if i.id == agent)
    assert view.activity is None


def test_newest_transcript_skips_fifos_and_folders(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "real.jsonl").write_text("{}\n")
    assert newest_transcript([tmp_path, tmp_path / "missing"], None) == tmp_path / "real.jsonl"


def test_a_huge_line_is_skipped_not_parsed(tmp_path: Path, demo: DemoFactory) -> None:
    agent = working(demo)
    path = put_transcript(demo, agent)
    with path.open("a") as handle:
        handle.write('{"type": "user", "pad": "' + "x" * 5000 + '"}\n')
    reader = demo_reader(demo)
    reader.refresh_all()
    fleet = reader.fleet(DEMO_NOW)
    agents = AgentTranscripts((claude_dir(demo),), demo.root, max_line_bytes=4096)
    activity = agents.refresh(fleet.instances)[agent]
    assert activity.problems == 1 and activity.tool is not None


def test_a_permission_prompt_makes_the_agent_waiting_in_status_json_and_first_for_n(
    demo: DemoFactory,
) -> None:
    agent = working(demo)
    put_transcript(demo, agent, mtime=DEMO_NOW - timedelta(minutes=5))
    event = payload(
        demo,
        agent,
        "Notification",
        message="Claude needs your permission to use Bash",
        notification_type="permission_prompt",
    )
    hooked = run_cli(demo, "hook", stdin=event)
    assert hooked.returncode == 0, hooked.stderr
    # The hook names the agent from its cwd: the claim whose branch is checked out there.
    assert hooked.stderr == ""
    last = log_lines(demo)[-1]
    assert " | AGENT-WAITING | " in last
    assert f"instance={agent}" in last and "kind=permission_prompt" in last
    # The hook wrote the real time; the test's clock is the minute after it.
    when = datetime.fromisoformat(last.split(" | ")[0])
    done = run_cli(demo, "status", "--json", "--now", (when + timedelta(minutes=1)).isoformat())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    view = next(i for i in data["instances"] if i["id"] == agent)
    assert view["status"] == "waiting"
    assert view["waiting"]["kind"] == "permission_prompt"
    assert "not answered" in view["waiting"]["evidence"]
    assert view["activity"]["tool"]["summary"] == "Bash: pytest -x tests/api"
    assert data["summary"]["agents_waiting"] == 1
    assert data["instances"][0]["id"] == agent  # the fleet's order: waiting first

    reader = demo_reader(demo)
    reader.refresh_all()
    fleet = reader.fleet(when + timedelta(minutes=1))
    items = attention_items(fleet)
    assert [i.kind for i in items][:1] == ["waiting for you"]
    assert items[0].target == agent and items[0].view == "agents"
    assert any(i.kind == "crashed session" for i in items[1:])  # older, yet after the wait


def test_the_user_answering_ends_the_wait(demo: DemoFactory) -> None:
    agent = working(demo)
    for event in (
        payload(
            demo,
            agent,
            "PermissionRequest",
            tool_name="Bash",
            tool_input={"command": "rm -rf build"},
        ),
        payload(demo, agent, "UserPromptSubmit", prompt="go ahead"),
    ):
        assert run_cli(demo, "hook", stdin=event).returncode == 0
    waiting, resumed = log_lines(demo)[-2:]
    assert (
        "kind=permission_request tool=Bash" in waiting and 'detail="Bash: rm -rf build"' in waiting
    )
    assert "AGENT-RESUMED" in resumed and "kind=prompt" in resumed
    when = datetime.fromisoformat(resumed.split(" | ")[0]) + timedelta(minutes=1)
    data = json.loads(run_cli(demo, "status", "--json", "--now", when.isoformat()).stdout)
    assert next(i for i in data["instances"] if i["id"] == agent)["status"] == "working"


def test_a_turn_end_waits_after_the_idle_threshold(demo: DemoFactory) -> None:
    agent = working(demo)
    hooked = run_cli(
        demo,
        "hook",
        "--instance",
        agent,
        stdin=payload(demo, agent, "Stop", stop_hook_active=False),
    )
    assert hooked.returncode == 0 and "AGENT-TURN-END" in log_lines(demo)[-1]
    when = datetime.fromisoformat(log_lines(demo)[-1].split(" | ")[0])
    idle = config_for(demo.root).idle_after
    soon = json.loads(run_cli(demo, "status", "--json", "--now", when.isoformat()).stdout)
    assert next(i for i in soon["instances"] if i["id"] == agent)["status"] == "working"
    later = (when + idle + timedelta(minutes=1)).isoformat()
    data = json.loads(run_cli(demo, "status", "--json", "--now", later).stdout)
    view = next(i for i in data["instances"] if i["id"] == agent)
    assert view["status"] == "waiting" and view["waiting"]["kind"] == "turn_end"


def test_the_log_fold_keeps_a_wait_until_the_agent_logs_anything_else() -> None:
    fold = LogFold()
    fold.feed_lines(
        [
            b"2026-02-16T10:00 | SESSION-START | task=T branch=b instance=t1-aaaa",
            b"2026-02-16T10:05:10 | AGENT-WAITING | instance=t1-aaaa kind=idle_prompt",
        ],
        "operations.log",
    )
    signal = fold.agent_signals["t1-aaaa"]
    assert (signal.event, signal.kind, signal.where) == (
        "AGENT-WAITING",
        "idle_prompt",
        "operations.log:2",
    )
    fold.feed_lines([b"2026-02-16T10:07 | STEP-DONE | step=code task=T"], "operations.log", 3)
    assert "t1-aaaa" not in fold.agent_signals


# -- the hook never fails the agent -------------------------------------------------------------


@pytest.mark.parametrize(
    "stdin",
    ["{not json", "[1, 2]", "", json.dumps({"hook_event_name": "Stop", "cwd": 3})],
)
def test_the_hook_exits_0_whatever_it_is_given(demo: DemoFactory, stdin: str) -> None:
    before = log_lines(demo)
    done = run_cli(demo, "hook", stdin=stdin)
    assert done.returncode == 0
    if stdin.startswith('{"hook'):
        assert "AGENT-TURN-END" in log_lines(demo)[-1]  # logged, without an instance
        assert "logged without an instance" in done.stderr
    else:
        assert log_lines(demo) == before
        assert done.stderr.startswith("factory-tui hook: nothing logged: ")
        assert len(done.stderr.splitlines()) == 1


def test_the_hook_cannot_write_says_so_and_exits_0(demo: DemoFactory) -> None:
    agent = working(demo)
    log = demo.memory_dir / "operations.log"
    log.unlink()
    log.mkdir()  # an operations.log that cannot be appended to
    done = run_cli(demo, "hook", stdin=payload(demo, agent, "Stop"))
    assert done.returncode == 0
    assert done.stderr.startswith("factory-tui hook: nothing logged: ")


def test_hook_text_stays_literal(demo: DemoFactory) -> None:
    agent = working(demo)
    hostile = "Claude needs\x1b[2J your [bold]permission[/bold]\nrm -rf / \u202e"
    event = payload(
        demo, agent, "Notification", message=hostile, notification_type="permission_prompt"
    )
    assert run_cli(demo, "hook", stdin=event).returncode == 0
    last = log_lines(demo)[-1]
    assert "\x1b" not in last and "\u202e" not in last and "\\x1b[2J" in last
    when = datetime.fromisoformat(last.split(" | ")[0]) + timedelta(minutes=1)
    out = run_cli(demo, "agent", agent, "--now", when.isoformat()).stdout
    assert "\x1b" not in out and "WAITING FOR YOU" in out
    data = json.loads(run_cli(demo, "agent", agent, "--json", "--now", when.isoformat()).stdout)
    assert data["status"] == "waiting" and "[bold]permission[/bold]" in data["why"]


def test_agent_command(demo: DemoFactory) -> None:
    agent = working(demo)
    put_transcript(demo, agent)
    done = run_cli(demo, "agent", agent, "--now", NOW_ARG)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "doing" not in out  # the CLI says "activity:"
    assert "activity:   Bash: pytest -x tests/api" in out
    assert "todo:       1 done, 1 in progress, 1 pending" in out
    assert "▶ Add the API endpoint" in out
    assert "context:    ctx 63% of 200k ⚠, 1 compaction" in out
    assert "model:      claude-opus-4-1-20250805" in out
    data = json.loads(run_cli(demo, "agent", agent, "--json", "--now", NOW_ARG).stdout)
    assert data["activity"]["context_flagged"] is True
    assert data["activity"]["todos"][1] == {
        "content": "Add the API endpoint",
        "status": "in_progress",
    }
    missing = run_cli(demo, "agent", "t0-none", "--now", NOW_ARG)
    assert missing.returncode == 2 and "no agent 't0-none'" in missing.stderr


# -- the screen -------------------------------------------------------------------------------


def _fleet_with_transcript(demo: DemoFactory) -> tuple[str, Fleet]:
    agent = working(demo)
    path = put_transcript(demo, agent)
    with path.open("a") as handle:
        handle.write(
            json.dumps(
                {
                    "type": "assistant",
                    "timestamp": "2026-02-16T10:33:00Z",
                    "message": {
                        "id": "msg_10",
                        "model": "claude-opus-4-1-20250805",
                        "content": [
                            {
                                "type": "text",
                                "text": "Tests [bold]pass[/bold]\x1b[31m.\nShould I open the PR?",
                            }
                        ],
                        "usage": {"input_tokens": 10, "cache_read_input_tokens": 125_100},
                    },
                }
            )
            + "\n"
        )
    reader = demo_reader(demo)
    reader.refresh_all()
    return agent, reader.fleet(DEMO_NOW)


def test_the_agent_pane_shows_the_activity_and_context_fill(demo: DemoFactory) -> None:
    from factory_tui.ui.widgets.agent_lines import pane_lines

    agent, fleet = _fleet_with_transcript(demo)
    view = next(i for i in fleet.instances if i.id == agent)
    plain = [line.plain for line in pane_lines(view, DEMO_NOW, 100)]
    assert "doing  Bash: pytest -x tests/api … (5h10m ago)" in plain
    assert "ctx 63% of 200k ⚠, 1 compaction  todo 1✓ 1▶ 1·" in plain


def test_the_detail_screen_shows_todos_last_words_whole_and_literal(demo: DemoFactory) -> None:
    from factory_tui.ui.screens.detail import detail_fields

    agent, fleet = _fleet_with_transcript(demo)
    rows = [(label, content.plain) for label, content in detail_fields(fleet, agent)]
    assert ("said", "Tests [bold]pass[/bold]\\x1b[31m.") in rows
    assert ("", "Should I open the PR?") in rows
    assert ("todo", "1 done, 1 in progress, 1 pending") in rows
    assert ("", "✓ Write the quota model") in rows and ("", "▶ Add the API endpoint") in rows
    assert ("model", "claude-opus-4-1-20250805") in rows
    assert ("context", "ctx 63% of 200k ⚠, 1 compaction (125,110 of 200,000 tokens)") in rows
    assert ("compactions", "1") in rows


def test_a_long_transcript_is_read_a_budget_at_a_time_and_growth_is_noticed(
    demo: DemoFactory,
) -> None:
    agent = working(demo)
    path = put_transcript(demo, agent)
    reader = demo_reader(demo)
    reader.refresh_all()
    fleet = reader.fleet(DEMO_NOW)
    size = path.stat().st_size
    agents = AgentTranscripts(
        (claude_dir(demo),), demo.root, chunk_bytes=1024, budget_bytes=size // 3
    )
    assert not agents.changed()  # nothing followed yet
    first = agents.refresh(fleet.instances)[agent]
    assert first.records < 15 and agents.changed()  # more to read
    for _ in range(5):
        if not agents.changed():
            break
        last = agents.refresh(fleet.instances)[agent]
    assert not agents.changed()
    assert last.records == 15 and last.tool is not None
    assert last.tool.summary == "Bash: pytest -x tests/api"
    with path.open("a") as handle:
        handle.write('{"type": "user", "message": {"role": "user", "content": "go on"}}\n')
    assert agents.changed()
    assert agents.refresh(fleet.instances)[agent].records == 16
    assert not agents.changed()


def test_the_cockpit_feed_sees_a_grown_transcript_on_its_tick(demo: DemoFactory) -> None:
    from factory_tui.ui.feeds.fleet import shown_facts

    agent = working(demo)
    path = put_transcript(demo, agent)
    reader = demo_reader(demo)
    reader.refresh_all()
    before = reader.fleet(DEMO_NOW)
    assert not reader.transcripts_changed()
    with path.open("a") as handle:
        handle.write(
            json.dumps(
                {
                    "type": "assistant",
                    "timestamp": "2026-02-16T10:41:00Z",
                    "message": {
                        "id": "m11",
                        "model": "claude-opus-4-1-20250805",
                        "content": [
                            {
                                "type": "tool_use",
                                "id": "t11",
                                "name": "Glob",
                                "input": {"pattern": "**/*.py"},
                            }
                        ],
                    },
                }
            )
            + "\n"
        )
    assert reader.transcripts_changed()
    after = reader.fleet(DEMO_NOW)
    assert shown_facts(after) != shown_facts(before)  # so the tick posts the new fleet


def test_transcript_text_is_escaped_in_status_json(demo: DemoFactory) -> None:
    agent = working(demo)
    path = put_transcript(demo, agent)
    hostile = "done \u202e[red]x[/red]\x1b]0;title\x07 \u2028next"
    with path.open("a") as handle:
        handle.write(
            json.dumps(
                {
                    "type": "assistant",
                    "timestamp": "2026-02-16T10:41:00Z",
                    "message": {
                        "id": "m12",
                        "model": "claude-opus-4-1-20250805",
                        "content": [{"type": "text", "text": hostile}],
                    },
                }
            )
            + "\n"
        )
    done = run_cli(demo, "status", "--json", "--now", NOW_ARG)
    assert done.returncode == 0, done.stderr
    for raw in ("\u202e", "\x1b", "\x07", "\u2028"):
        assert raw not in done.stdout
    view = next(i for i in json.loads(done.stdout)["instances"] if i["id"] == agent)
    assert view["activity"]["text"] == hostile  # the data is kept, only escaped


def test_a_waiting_line_without_its_kind_is_a_problem() -> None:
    fold = LogFold()
    fold.feed_lines([b"2026-02-16T10:05 | AGENT-WAITING | instance=t1-aaaa"], "operations.log")
    assert [p.message for p in fold.problems] == ["AGENT-WAITING without kind"]
    assert fold.agent_signals["t1-aaaa"].kind is None  # still a wait, of an unknown kind


def test_a_hook_run_in_an_agents_worktree_logs_to_the_factorys_log(demo: DemoFactory) -> None:
    agent = working(demo)
    tree = demo.root / ".worktrees" / agent
    event = json.dumps({"session_id": "s", "hook_event_name": "Stop"})  # no cwd in the event
    done = run_cli(demo, "hook", stdin=event, cwd=tree)
    assert done.returncode == 0 and done.stderr == ""  # named from the claim of its branch
    assert log_lines(demo)[-1].endswith(f"AGENT-TURN-END | instance={agent} session=s")


async def test_n_puts_the_cursor_on_the_waiting_agent(demo: DemoFactory) -> None:
    """Issue 13: `n` visits a waiting agent first, and the Agents view's focus lands on it."""
    from test_app import demo_app

    from factory_tui.ui.widgets.agents import AgentGrid, AgentPane

    agent = working(demo)
    put_transcript(demo, agent, mtime=DEMO_NOW - timedelta(minutes=5))
    with (demo.memory_dir / "operations.log").open("a") as log:
        log.write(
            f"{DEMO_NOW:%Y-%m-%dT%H:%M} | AGENT-WAITING | instance={agent} kind=permission_prompt\n"
        )
    app = demo_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        panes = app.query_one(AgentGrid).ordered_panes()
        panes[-1].focus()  # another agent under the cursor, in the Agents view
        await pilot.pause()
        assert app.focused is panes[-1] and panes[-1].view.id != agent
        await pilot.press("n")
        await pilot.pause()
        await pilot.pause()
        assert app.cockpit.current_view == "agents"
        assert isinstance(app.focused, AgentPane) and app.focused.view.id == agent
