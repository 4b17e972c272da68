"""The Council: a loopback server that speaks the Messages API, the real anthropic SDK pointed at
it by base_url; validation, verdicts, retries, replay, guards, history, proposals, CLI."""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from factory_tui.actions.base import Outcome
from factory_tui.actions.council import (
    ProposalError,
    proposal_for_file,
    proposal_for_pr,
    proposal_for_ticket,
    read_history,
    run_council,
)
from factory_tui.adapters.anthropic_client import Timing, ask_council
from factory_tui.adapters.prices import default_price_table
from factory_tui.cli.council import add_council_parser, cmd_council
from factory_tui.config import Config, load_config
from factory_tui.core.council import (
    TOOL_NAME,
    PersonaFailure,
    PersonaVerdict,
    Proposal,
    decide,
    validate_answer,
)
from factory_tui.core.council_settings import (
    DEFAULT_ROSTER,
    CouncilConfigError,
    CouncilSettings,
    council_settings,
)

NOW = datetime(2026, 2, 16, 15, 0, 0)
NAMES = [p.name for p in DEFAULT_ROSTER]
FAST = CouncilSettings(timeout_s=5.0, retry_base_s=0.01, max_retries=2)
RETRYING = CouncilSettings(timeout_s=5.0, max_retries=2)  # the default backoff: 0.5 s, 1 s, ...
WALL = 1_771_254_000.0  # epoch seconds, 2026-02-16T15:00Z: the fake wall clock at start


@dataclass
class FakeTiming:
    """The Council's waits and clocks, fake: a sleep returns at once and moves the clocks by what
    it was asked for (and remembers it), so a retry is checked by its wait, never waited for."""

    waits: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.elapsed += seconds
        await asyncio.sleep(0)  # still yield to the other personas, as a real sleep does

    def monotonic(self) -> float:
        return 500.0 + self.elapsed

    def wall(self) -> float:
        return WALL + self.elapsed

    @property
    def timing(self) -> Timing:
        return Timing(sleep=self.sleep, monotonic=self.monotonic, wall=self.wall)


@pytest.fixture
def clock() -> FakeTiming:
    return FakeTiming()


# -- the loopback Messages API ---------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer: a tool input (or a raw body), a status, headers; ``hang`` holds it
    until the server closes (the client times out first); ``together`` holds it at the server's
    ``together`` barrier, until the other requests held there have arrived too."""

    tool_input: object = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    hang: bool = False
    together: bool = False
    no_tool: bool = False


def good(score: int) -> Reply:
    return Reply({"score": score, "reasons": [f"reason {score}"], "adjustments": ["split it"]})


def error(status: int, **headers: str) -> Reply:
    kind = "rate_limit_error" if status == 429 else "api_error"
    return Reply(
        status=status,
        headers=headers,
        body={"type": "error", "error": {"type": kind, "message": f"scripted {status}"}},
    )


class FakeAPI:
    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, float, dict[str, Any]]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.together: threading.Barrier | None = None
        self.apart = False
        """A ``together`` reply whose peers never came: the requests were not in parallel."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = json.loads(self.rfile.read(length))
                persona = next(n for n in NAMES if f"You are {n}" in request["system"])
                with api.lock:
                    api.requests.append((persona, time.monotonic(), request))
                    queue = api.script.get(persona, [])
                    reply = queue.pop(0) if queue else good(9)
                if reply.hang:
                    api.release.wait(30)
                if reply.together:
                    api.meet()
                if reply.body is not None:
                    body = reply.body
                else:
                    content: list[dict[str, Any]] = [{"type": "text", "text": "thinking aloud"}]
                    if not reply.no_tool:
                        content.append(
                            {
                                "type": "tool_use",
                                "id": "toolu_1",
                                "name": TOOL_NAME,
                                "input": reply.tool_input,
                            }
                        )
                    body = {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": request["model"],
                        "content": content,
                        "stop_reason": "tool_use" if not reply.no_tool else "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 1000, "output_tokens": 100},
                    }
                data = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (the timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self, **extra: str) -> dict[str, str]:
        return {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": self.url, **extra}

    def meet(self) -> None:
        """Wait (bounded) at the ``together`` barrier; its other parties never coming means
        the requests were made one after the other."""
        assert self.together is not None, "a together reply needs api.together = Barrier(n)"
        try:
            self.together.wait(timeout=10)
        except threading.BrokenBarrierError:
            self.apart = True

    def calls(self, persona: str) -> list[float]:
        return [t for name, t, _r in self.requests if name == persona]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI()
    yield server
    server.close()


PROPOSAL = Proposal("Add a traceparent header to every gateway request.", "file p.md", "CAB-1350")


def ask(
    api: FakeAPI, settings: CouncilSettings = FAST, clock: FakeTiming | None = None
) -> dict[str, Any]:
    timing = (clock or FakeTiming()).timing
    call = ask_council(PROPOSAL, settings, default_price_table(), env=api.env(), timing=timing)
    return {c.persona: c for c in call.calls} | {"_call": call}


@pytest.fixture
def factory(tmp_path: Path) -> Config:
    root = tmp_path / "repo"
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    (root / "mem").mkdir()
    (root / "factory.toml").write_text('memory = "mem"\n')
    (claims / "CAB-1290.json").write_text(
        json.dumps(
            {
                "mega": "CAB-1290",
                "title": "Gateway Live-Code MEGA",
                "phases": [
                    {
                        "id": 1,
                        "name": "API + Gateway",
                        "tickets": ["CAB-1350", "CAB-1351"],
                        "owner": None,
                        "deps": [],
                    },
                    {
                        "id": 2,
                        "name": "E2E Tests",
                        "tickets": ["CAB-1352"],
                        "owner": None,
                        "deps": [1],
                    },
                ],
            }
        )
    )
    (root / "plan.md").write_text(
        "# Plan\n\n- [~] CAB-1290 Gateway live code\n  - [ ] wire traceparent\n  - [ ] tests\n"
        "- [ ] CAB-2000 something else\n"
    )
    return load_config(root, flags={}, env={}, user_config=tmp_path / "none.toml")


# -- validation and verdicts (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_input", "expected"),
    [
        ({"score": 11, "reasons": []}, "invalid score 11"),
        ({"score": 0}, "invalid score 0"),
        ({"score": "8"}, "invalid score '8'"),
        ({"score": 7.5}, "invalid score 7.5"),
        ({"score": 8.0}, "invalid score 8.0"),
        ({"score": True}, "invalid score true"),
        ({"reasons": ["no score"]}, "no score"),
        ("score: 8", "expected an object"),
        ({"score": 8, "reasons": [1, 2]}, "reasons must be a list of strings"),
    ],
)
def test_anything_but_an_integer_from_1_to_10_is_an_error(
    tool_input: object, expected: str
) -> None:
    outcome = validate_answer("Chucky", tool_input)
    assert isinstance(outcome, PersonaFailure)
    assert expected in outcome.error


def test_a_good_answer() -> None:
    outcome = validate_answer("Chucky", {"score": 10, "reasons": "one", "adjustments": []})
    assert outcome == PersonaVerdict("Chucky", 10, ("one",), ())


def test_verdict_thresholds() -> None:
    assert decide([8, 8, 8, 8]) == ("go", 8.0)
    assert decide([10, 9, 8, 7]) == ("go", 8.5)
    assert decide([8, 8, 8, 7]) == ("go_with_adjustments", 7.75)
    assert decide([6, 6, 6, 6]) == ("go_with_adjustments", 6.0)
    assert decide([6, 6, 6, 5]) == ("rejected", 5.75)
    assert decide([9, 9], complete=False) == ("incomplete", 9.0)
    assert decide([]) == ("incomplete", None)


def test_roster_prompts_and_model_from_config() -> None:
    settings = council_settings(
        {
            "model": "claude-sonnet-4-5",
            "daily_cap_usd": "none",
            "roster": [
                "chucky",
                {"name": "Grace", "role": "accessibility", "prompt": "You are Grace."},
            ],
            "prompts": {"Chucky": "You are Chucky, meaner."},
        },
        "factory.toml",
    )
    assert settings.model == "claude-sonnet-4-5" and settings.daily_cap_usd is None
    assert [p.name for p in settings.roster] == ["Chucky", "Grace"]
    assert settings.roster[0].prompt == "You are Chucky, meaner."
    assert len(council_settings(None).roster) == 4
    for bad, message in [
        ({"roster": ["Nobody"]}, "not a default persona"),
        ({"roster": [{"name": "X"}]}, "prompt must be"),
        ({"max_retries": "3"}, "wrong type"),
        ({"modle": "x"}, "unknown key modle"),
        ({"roster": ["Chucky", "chucky"]}, "twice"),
    ]:
        with pytest.raises(CouncilConfigError, match=message) as caught:
            council_settings(bad, "factory.toml")
        assert "factory.toml" in str(caught.value)


# -- the SDK against the loopback server -----------------------------------------------------


def test_personas_answer_in_parallel_through_a_forced_tool(api: FakeAPI) -> None:
    api.script = {
        "Chucky": [Reply(together=True, tool_input={"score": 8})],
        "OSS Killer": [Reply(together=True, tool_input={"score": 8})],
    }
    api.together = threading.Barrier(2)
    result = ask(api)
    assert {n: result[n].outcome.score for n in NAMES} == {
        n: s for n, s in zip(NAMES, [8, 8, 9, 9], strict=True)
    }
    call = result["_call"]
    assert call.usage.input_tokens == 4000 and call.usage.output_tokens == 400
    assert call.cost_usd == pytest.approx((4000 * 1 + 400 * 5) / 1e6)
    request = api.requests[0][2]
    assert request["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert request["tools"][0]["input_schema"]["properties"]["score"]["type"] == "integer"
    assert request["model"] == "claude-haiku-4-5"
    # In parallel: each of the two held answers waited for the other's request, and both came.
    assert not api.apart


def test_a_malformed_answer_is_that_personas_error_only(api: FakeAPI) -> None:
    api.script = {
        "Chucky": [Reply({"score": 11})],
        "OSS Killer": [Reply({"score": "8"})],
        "Archi 50x50": [Reply({"score": 7.5})],
        "Better Call Saul": [Reply(no_tool=True)],
    }
    result = ask(api)
    errors = {n: result[n].outcome.error for n in NAMES}
    assert "invalid score 11" in errors["Chucky"]
    assert "invalid score '8'" in errors["OSS Killer"]
    assert "invalid score 7.5" in errors["Archi 50x50"]
    assert "no submit_verdict tool call" in errors["Better Call Saul"]
    assert all(result[n].attempts == 1 for n in NAMES)  # a bad answer is not retried
    assert result["_call"].usage.input_tokens == 4000  # but it was paid for


def test_429_honours_retry_after_then_succeeds(api: FakeAPI, clock: FakeTiming) -> None:
    api.script = {"Chucky": [error(429, **{"retry-after": "0.3"}), good(7)]}
    result = ask(api, RETRYING, clock)
    assert result["Chucky"].outcome.score == 7
    assert result["Chucky"].attempts == 2
    assert len(api.calls("Chucky")) == 2
    assert clock.waits == [0.3]  # the API's wait, not the backoff's 0.5 s
    assert result["_call"].duration_ms == 300  # the sitting is timed by the same clock


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the milliseconds win
        ({"retry-after": email.utils.formatdate(WALL + 2, usegmt=True)}, 2.0),  # by the wall clock
    ],
)
def test_429_retry_after_in_milliseconds_or_as_a_date(
    api: FakeAPI, clock: FakeTiming, headers: dict[str, str], wait: float
) -> None:
    api.script = {"Chucky": [error(429, **headers), good(7)]}
    result = ask(api, RETRYING, clock)
    assert result["Chucky"].outcome.score == 7 and clock.waits == [wait]


def test_a_retry_after_beyond_reason_is_reported_not_waited_for(api: FakeAPI) -> None:
    api.script = {"Chucky": [error(429, **{"retry-after": "3600"})]}
    result = ask(api)
    failure = result["Chucky"].outcome
    assert isinstance(failure, PersonaFailure)
    assert "HTTP 429" in failure.error and "3600 s" in failure.error
    assert len(api.calls("Chucky")) == 1
    assert isinstance(result["OSS Killer"].outcome, PersonaVerdict)


def test_500_then_success(api: FakeAPI, clock: FakeTiming) -> None:
    api.script = {"Archi 50x50": [error(500), error(529), good(6)]}
    result = ask(api, RETRYING, clock)
    assert result["Archi 50x50"].outcome.score == 6
    assert result["Archi 50x50"].attempts == 3
    assert clock.waits == [0.5, 1.0]  # retry_base_s x 2^n


def test_500_until_giving_up(api: FakeAPI, clock: FakeTiming) -> None:
    api.script = {"Archi 50x50": [error(500)] * 5}
    result = ask(api, RETRYING, clock)
    failure = result["Archi 50x50"].outcome
    assert isinstance(failure, PersonaFailure)
    assert "HTTP 500" in failure.error and "gave up after 3 attempts" in failure.error
    assert len(api.calls("Archi 50x50")) == 3
    assert clock.waits == [0.5, 1.0]  # no wait after the last attempt


def test_the_backoff_is_capped_at_8_s(api: FakeAPI, clock: FakeTiming) -> None:
    api.script = {"Chucky": [error(503)] * 7}
    settings = CouncilSettings(timeout_s=5.0, max_retries=6, retry_base_s=1.0)
    failure = ask(api, settings, clock)["Chucky"].outcome
    assert isinstance(failure, PersonaFailure) and "gave up after 7 attempts" in failure.error
    assert clock.waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_client_error_is_not_retried(api: FakeAPI, clock: FakeTiming) -> None:
    api.script = {"Chucky": [error(404)]}
    failure = ask(api, RETRYING, clock)["Chucky"].outcome
    assert isinstance(failure, PersonaFailure) and "HTTP 404" in failure.error
    assert len(api.calls("Chucky")) == 1 and clock.waits == []


def test_a_timeout_is_reported(api: FakeAPI) -> None:
    """The timeout is the SDK's own (httpx's clock, not ours), so this one waits for real: a
    short one, and the persona alone, so that a slow machine cannot time out an answer."""
    api.script = {"Better Call Saul": [Reply({"score": 9}, hang=True)]}
    saul = next(p for p in DEFAULT_ROSTER if p.name == "Better Call Saul")
    settings = CouncilSettings(timeout_s=0.05, max_retries=0, roster=(saul,))
    result = ask(api, settings)
    failure = result["Better Call Saul"].outcome
    assert isinstance(failure, PersonaFailure)
    assert "timed out after 0.05 s" in failure.error and "1 attempt" in failure.error


def test_an_unreachable_api_is_reported() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    call = ask_council(PROPOSAL, CouncilSettings(max_retries=0), default_price_table(), env=env)
    assert all("cannot reach the API" in c.outcome.error for c in call.calls)  # type: ignore[union-attr]


# -- the action: history, replay, guards -----------------------------------------------------


def test_a_sitting_appends_one_history_line(api: FakeAPI, factory: Config) -> None:
    api.script = {
        "Chucky": [good(8)],
        "OSS Killer": [good(8)],
        "Archi 50x50": [good(9)],
        "Better Call Saul": [good(9)],
    }
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert outcome.outcome is Outcome.DONE and outcome.result is not None
    assert outcome.result.status == "go" and outcome.result.global_score == 8.5
    lines = factory.council_history.read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert {
        "timestamp",
        "ticket",
        "status",
        "global_score",
        "scores",
        "model",
        "input_tokens",
        "output_tokens",
        "cost",
        "duration_ms",
        "sha256",
    } <= set(line)
    assert line["timestamp"] == "2026-02-16T15:00:00" and line["ticket"] == "CAB-1350"
    assert line["scores"] == {"Chucky": 8, "OSS Killer": 8, "Archi 50x50": 9, "Better Call Saul": 9}
    assert line["sha256"] == PROPOSAL.sha256
    assert line["input_tokens"] == 4000 and line["cost"] == pytest.approx(0.006)
    assert line["personas"]["Chucky"]["adjustments"] == ["split it"]


def test_the_same_proposal_replays_the_stored_verdict_unless_forced(
    api: FakeAPI, factory: Config
) -> None:
    first = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    asked = len(api.requests)
    again = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert len(api.requests) == asked  # no call made
    assert again.replayed and again.result is not None and first.result is not None
    assert again.result.status == first.result.status and again.result.scores == first.result.scores
    assert again.result.verdicts[0].reasons == ("reason 9",)
    assert again.result.cost == 0
    assert len(factory.council_history.read_text().splitlines()) == 1
    forced = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST, force=True)
    assert not forced.replayed and len(api.requests) == asked + 4
    other = Proposal(PROPOSAL.text + " And metrics.", "file p.md")
    assert not run_council(factory, other, now=NOW, env=api.env(), settings=FAST).replayed


def test_an_incomplete_sitting_is_recorded_but_not_replayed(api: FakeAPI, factory: Config) -> None:
    api.script = {"Chucky": [Reply({"score": 11})]}
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert outcome.outcome is Outcome.REFUSED and "Chucky did not answer" in outcome.message
    assert outcome.result is not None and outcome.result.status == "incomplete"
    entries, _ = read_history(factory.council_history)
    assert entries[0].status == "incomplete" and "Chucky" in entries[0].raw["errors"]
    again = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert not again.replayed and again.outcome is Outcome.DONE


def test_the_kill_switch(api: FakeAPI, factory: Config) -> None:
    outcome = run_council(
        factory, PROPOSAL, now=NOW, env=api.env(FACTORY_COUNCIL_DISABLE="1"), settings=FAST
    )
    assert outcome.outcome is Outcome.REFUSED and "FACTORY_COUNCIL_DISABLE" in outcome.message
    assert api.requests == [] and not factory.council_history.exists()


def test_the_daily_cap(api: FakeAPI, factory: Config) -> None:
    spent = {"timestamp": "2026-02-16T09:00:00", "status": "go", "cost": 1.5, "sha256": "aa"}
    yesterday = {"timestamp": "2026-02-15T09:00:00", "status": "go", "cost": 9.0, "sha256": "bb"}
    factory.council_history.write_text(json.dumps(yesterday) + "\n" + json.dumps(spent) + "\n")
    capped = CouncilSettings(daily_cap_usd=1.5, retry_base_s=0.01)
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=capped)
    assert outcome.outcome is Outcome.REFUSED and "daily cap" in outcome.message
    assert api.requests == []
    roomy = CouncilSettings(daily_cap_usd=1.6, retry_base_s=0.01)
    assert (
        run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=roomy).outcome
        is Outcome.DONE
    )


def test_no_api_key_names_the_variable(api: FakeAPI, factory: Config) -> None:
    outcome = run_council(
        factory, PROPOSAL, now=NOW, env={"ANTHROPIC_BASE_URL": api.url}, settings=FAST
    )
    assert outcome.outcome is Outcome.ERROR and "ANTHROPIC_API_KEY" in outcome.message
    assert api.requests == []


def test_a_model_without_a_price_is_refused(api: FakeAPI, factory: Config) -> None:
    settings = CouncilSettings(model="claude-mystery-9")
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=settings)
    assert (
        outcome.outcome is Outcome.REFUSED and 'cost.prices."claude-mystery-9"' in outcome.message
    )
    assert api.requests == []


# -- proposals -------------------------------------------------------------------------------


def test_a_ticket_proposal_has_its_title_phases_and_plan_entry(factory: Config) -> None:
    proposal = proposal_for_ticket(factory, "CAB-1290")
    assert "Ticket CAB-1290: Gateway Live-Code MEGA" in proposal.text
    assert "Phase 2: E2E Tests (CAB-1352), after phase 1" in proposal.text
    assert "- [~] CAB-1290 Gateway live code" in proposal.text
    assert "  - [ ] wire traceparent" in proposal.text
    assert "CAB-2000" not in proposal.text
    assert proposal.ticket == "CAB-1290"
    assert "Gateway Live-Code MEGA" in proposal_for_ticket(factory, "CAB-1351").text
    with pytest.raises(ProposalError, match="CAB-404: no claim file"):
        proposal_for_ticket(factory, "CAB-404")


def test_file_and_pr_proposals(
    tmp_path: Path, factory: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.md"
    path.write_text("Do the thing")
    assert proposal_for_file(path).text == "Do the thing"
    with pytest.raises(ProposalError, match="no such file"):
        proposal_for_file(tmp_path / "missing.md")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ProposalError, match="needs the GitHub CLI"):
        proposal_for_pr(factory, 12)
    gh = tmp_path / "bin" / "gh"
    gh.parent.mkdir()
    gh.write_text('#!/bin/sh\nprintf "diff --git a/x b/x\\n+$3\\n"\n')
    gh.chmod(0o755)
    monkeypatch.setenv("PATH", str(gh.parent))
    proposal = proposal_for_pr(factory, 12)
    assert proposal.text == "diff --git a/x b/x\n+12\n" and proposal.source == "PR #12"


# -- CLI -------------------------------------------------------------------------------------


def council_cli(argv: list[str]) -> int:

    parser = argparse.ArgumentParser(prog="factory-tui")
    sub = parser.add_subparsers(dest="command")
    add_council_parser(sub)
    return cmd_council(parser.parse_args(argv))


def test_council_cli(
    api: FakeAPI,
    factory: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in api.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FACTORY_TUI_USER_CONFIG", "")
    monkeypatch.delenv("FACTORY_COUNCIL_DISABLE", raising=False)
    (factory.root / "factory.toml").write_text('memory = "mem"\n[council]\nretry_base_s = 0.01\n')
    api.script = {
        "Chucky": [good(5)],
        "OSS Killer": [good(5)],
        "Archi 50x50": [good(5)],
        "Better Call Saul": [good(5)],
    }
    root = str(factory.root)
    assert council_cli(["council", "--ticket", "CAB-1290", "--now", "2026-02-16T15:00", root]) == 0
    out = capsys.readouterr().out
    assert "Rejected  (average 5.00, ticket CAB-1290)" in out
    assert "Chucky: 5/10" in out and "  ! split it" in out
    assert council_cli(["council", "--ticket", "CAB-1290", "--json", root]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["replayed"] is True and data["result"]["status"] == "rejected"
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    assert council_cli(["council", "--ticket", "CAB-1290", "--force", root]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


# -- the real Council script's history shape -------------------------------------------------

# Lines as the real Council script (scripts/council-review.sh) appends them, written from its
# docs' "JSONL History Schema": cost_eur (not cost), diff_sha (not sha256), status APPROVED /
# REWORK / error / BYPASSED, axes_evaluated and db_fresh instead of per-persona scores.
REAL_APPROVED = {
    "timestamp": "2026-02-16T08:30:00Z",
    "ticket": "CAB-1350",
    "status": "APPROVED",
    "global_score": 8.75,
    "axes_evaluated": 4,
    "db_fresh": True,
    "model": "claude-sonnet-4-5",
    "tokens": 14230,
    "input_tokens": 12100,
    "output_tokens": 2130,
    "cost_eur": 0.062724,
    "diff_lines": 412,
    "diff_truncated": False,
    "duration_ms": 4821,
    "diff_sha": PROPOSAL.sha256.upper(),
}
REAL_REWORK = {
    **REAL_APPROVED,
    "timestamp": "2026-02-16T09:10:00Z",
    "status": "REWORK",
    "global_score": 5.5,
    "axes_evaluated": 3,
    "db_fresh": False,
    "cost_eur": 0.92,
    "diff_sha": "ab" * 32,
}
REAL_ERROR = {
    **REAL_APPROVED,
    "timestamp": "2026-02-16T09:20:00Z",
    "status": "error",
    "global_score": 0,
    "cost_eur": 0.46,
    "diff_sha": "cd" * 32,
}
REAL_BYPASSED = {
    "timestamp": "2026-02-16T09:30:00Z",
    "ticket": "CAB-1351",
    "status": "BYPASSED",
    "global_score": 0,
    "axes_evaluated": 0,
    "tokens": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_eur": 0,
    "diff_sha": "ef" * 32,
}


def write_real_history(config: Config, *lines: dict[str, Any]) -> None:
    config.council_history.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_real_history_lines_are_read_in_dollars_with_their_diff_sha(factory: Config) -> None:
    write_real_history(factory, REAL_APPROVED, REAL_REWORK, REAL_ERROR, REAL_BYPASSED)
    entries, problems = read_history(factory.council_history)
    assert problems == []
    approved, rework, failed, bypassed = entries
    assert approved.sha256 == PROPOSAL.sha256 and approved.cost_eur == 0.062724
    # The script's euros are Sonnet 4.5's dollar list price times 0.92 (€2.76 for $3 a MTok).
    assert approved.cost == pytest.approx(0.062724 / 0.92)
    assert approved.input_tokens == 12100 and approved.output_tokens == 2130
    assert [e.complete for e in entries] == [True, True, False, False]
    assert rework.cost == pytest.approx(1.0) and bypassed.cost == 0.0
    assert failed.status == "error" and failed.cost == pytest.approx(0.5)


def test_a_real_approved_line_is_replayed_as_a_go(api: FakeAPI, factory: Config) -> None:
    write_real_history(factory, REAL_APPROVED)
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert api.requests == []
    assert outcome.replayed and outcome.result is not None
    assert outcome.result.status == "go" and outcome.result.global_score == 8.75
    assert outcome.result.cost == 0


@pytest.mark.parametrize(("score", "status"), [(7.0, "go_with_adjustments"), (5.5, "rejected")])
def test_a_real_rework_line_is_replayed_by_its_score(
    api: FakeAPI, factory: Config, score: float, status: str
) -> None:
    write_real_history(factory, {**REAL_REWORK, "global_score": score, "diff_sha": PROPOSAL.sha256})
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert api.requests == [] and outcome.result is not None
    assert outcome.replayed and outcome.result.status == status


@pytest.mark.parametrize("line", [REAL_ERROR, REAL_BYPASSED])
def test_a_real_error_or_bypass_is_not_replayed(
    api: FakeAPI, factory: Config, line: dict[str, Any]
) -> None:
    write_real_history(factory, {**line, "diff_sha": PROPOSAL.sha256})
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=FAST)
    assert not outcome.replayed and len(api.requests) == 4


def test_real_lines_count_toward_the_daily_cap(api: FakeAPI, factory: Config) -> None:
    # $1.00 (REWORK) + $0.50 (error: the script paid for the axes that did answer) = $1.50.
    write_real_history(factory, REAL_REWORK, REAL_ERROR, REAL_BYPASSED)
    capped = CouncilSettings(daily_cap_usd=1.5, retry_base_s=0.01)
    outcome = run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=capped)
    assert outcome.outcome is Outcome.REFUSED and "daily cap" in outcome.message
    assert "$1.5000" in outcome.message and api.requests == []
    roomy = CouncilSettings(daily_cap_usd=1.51, retry_base_s=0.01)
    assert (
        run_council(factory, PROPOSAL, now=NOW, env=api.env(), settings=roomy).outcome
        is Outcome.DONE
    )


def test_fifos_never_block_a_proposal_or_the_history(tmp_path: Path, factory: Config) -> None:
    """A FIFO as the proposal file, as a claim file, as plan.md and as the history: each is
    said or skipped, never opened blocking (the call would hang forever)."""
    import os

    fifo = tmp_path / "proposal.md"
    os.mkfifo(fifo)
    with pytest.raises(ProposalError, match="FIFO"):
        proposal_for_file(fifo)
    history = tmp_path / "council-history.jsonl"
    os.mkfifo(history)
    entries, problems = read_history(history)
    assert entries == [] and problems and "FIFO" in problems[0]
    os.mkfifo(factory.claims_dir / "ZZZ-1.json")
    factory.plan_file.unlink(missing_ok=True)
    os.mkfifo(factory.plan_file)
    with pytest.raises(ProposalError):
        proposal_for_ticket(factory, "ZZZ-1")


def test_a_history_line_with_huge_numbers_is_read_without_them(tmp_path: Path) -> None:
    """The history is written by the real Council script: a number too big for a float
    (``math.isfinite`` raised OverflowError on it) counts as no number, the line is kept."""
    history = tmp_path / "council-history.jsonl"
    huge = 10**400
    history.write_text(
        f'{{"timestamp": "2026-02-16T15:00", "ticket": "CAB-1", "cost": {huge}, '
        f'"input_tokens": {huge}, "global_score": {huge}}}\n'
    )
    entries, problems = read_history(history)
    assert problems == [] and [e.ticket for e in entries] == ["CAB-1"]
    assert (entries[0].cost, entries[0].input_tokens, entries[0].global_score) == (0.0, 0, None)
