"""The shared server (issue #15): a real PocketBase on loopback, fed as the claim tool feeds it,
seen in ``status --json`` and in the cockpit, live through its realtime subscription, survived
when killed and restarted (last known shown, then live again); the credentials never shown."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import FixedProbe, config_for
from pocketbase_server import EMAIL, PASSWORD, Server, wait_until

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.hegemon_remote import (
    Credentials,
    PocketBase,
    RemoteError,
    RemoteReader,
)

NOW = datetime(2026, 2, 16, 17, 45)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    pb = Server(tmp_path / "pb_data")
    pb.start()
    pb.create_collections()
    yield pb
    if pb.process is not None and pb.process.poll() is None:
        pb.kill()


@pytest.fixture
def root(tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text(
        f'memory = ".factory/memory"\n[hegemon]\nremote_url = "{server.url}"\n'
    )
    monkeypatch.setenv("HEGEMON_REMOTE_EMAIL", EMAIL)
    monkeypatch.setenv("HEGEMON_REMOTE_PASSWORD", PASSWORD)
    return root


def test_status_json_shows_the_servers_sessions_and_claims(
    root: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from factory_tui.cli import main

    server.session("t7-cafe", "CAB-7", step="pr-created", pr=42)
    server.claim("CAB-7", "t7-cafe")
    assert main(["status", str(root), "--json", "--now", "2026-02-16T17:45"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    (agent,) = data["instances"]
    assert (agent["id"], agent["source"], agent["host"]) == ("t7-cafe", "remote", "worker-1")
    (session,) = data["sessions"]
    assert session["source"] == "remote" and session["pr"] == "42"
    (claim,) = data["claims"]
    assert (claim["id"], claim["owner"], claim["source"]) == ("CAB-7", "t7-cafe", "remote")
    assert data["remote"]["path"] == server.url and data["remote"]["unreachable_since"] is None
    assert PASSWORD not in out


def test_a_claim_file_and_the_server_agree_or_show_the_conflict(root: Path, server: Server) -> None:
    claim = {
        "ticket": "CAB-7",
        "title": "",
        "owner": "t7-cafe",
        "pid": 4242,
        "hostname": "worker-1",
        "claimed_at": "2026-02-16T17:00:42Z",
        "branch": "feat/CAB-7",
        "completed_at": None,
    }
    (root / ".claude" / "claims" / "CAB-7.json").write_text(json.dumps(claim))
    server.claim("CAB-7", "t7-cafe")
    reader = FactoryReader(config_for(root), hostname="here", probe=FixedProbe())
    reader.refresh_all()
    (view,) = reader.fleet(NOW).claims
    assert view.origins == ("file", "remote") and not view.conflicts
    # The claim tool's release: owner "" and completed_at, on the server only.
    server.claim("CAB-7", "", pid=0, completed_at="2026-02-16T17:40:00Z")
    reader.refresh_server()
    (view,) = reader.fleet(NOW).claims
    (conflict,) = view.conflicts
    assert conflict.startswith(f"the shared server ({server.url}) released CAB-7")


def test_wrong_credentials_say_so_without_the_password(
    root: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEGEMON_REMOTE_PASSWORD", "wrong-" + PASSWORD)
    reader = FactoryReader(config_for(root), hostname="here", probe=FixedProbe())
    reader.refresh_all()
    fleet = reader.fleet(NOW)
    (problem,) = [p for p in fleet.problems if p.file == server.url]
    assert "refused the credentials" in problem.message
    assert PASSWORD not in json.dumps(fleet.to_json()) and PASSWORD not in problem.message
    assert "wrong-" not in repr(Credentials(EMAIL, "wrong-x"))


def test_the_subscription_keeps_it_live_and_a_restart_is_survived(server: Server) -> None:
    reader = RemoteReader(server.url, Credentials(EMAIL, PASSWORD))
    stop = threading.Event()
    changes: list[int] = []
    thread = threading.Thread(
        target=reader.run, args=(stop, lambda: changes.append(1)), daemon=True
    )
    reader.backoff = (0.1, 0.2)
    thread.start()
    try:
        wait_until(lambda: reader.live)
        server.session("t7-cafe", "CAB-7", step="coding")
        wait_until(lambda: reader.snapshot is not None and len(reader.snapshot.sessions) == 1)
        server.session("t7-cafe", "CAB-7", step="ci-green")
        wait_until(
            lambda: reader.snapshot is not None and reader.snapshot.sessions[0].step == "ci-green"
        )
        server.kill()
        wait_until(lambda: reader.snapshot is not None and reader.snapshot.unreachable_since)
        assert reader.snapshot is not None
        assert reader.snapshot.sessions[0].step == "ci-green"  # last known
        assert "unreachable since" in (reader.snapshot.note or "")
        server.start()
        wait_until(lambda: reader.live and reader.snapshot is not None)
        assert reader.snapshot is not None and reader.snapshot.unreachable_since is None
        server.session("t7-cafe", "CAB-7", step="merged")
        wait_until(
            lambda: reader.snapshot is not None and reader.snapshot.sessions[0].step == "merged"
        )
    finally:
        stop.set()
        reader.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


async def test_an_update_on_the_server_reaches_the_screen(root: Path, server: Server) -> None:
    """Through the subscription; then the server is killed (the header says so, the agent stays
    as last known) and restarted (live again: the next update arrives)."""
    from test_app import SIZE, make_app

    from factory_tui.core.fleet import Fleet
    from factory_tui.ui.feeds.prs import PrsOptions
    from factory_tui.ui.snapshot import screen_text

    def step_is(step: str) -> Callable[[Fleet], bool]:
        def check(fleet: Fleet) -> bool:
            return any(i.id == "t7-cafe" and i.step == step for i in fleet.instances)

        return check

    def unreachable(fleet: Fleet) -> bool:
        return fleet.remote is not None and fleet.remote.unreachable_since is not None

    server.session("t7-cafe", "CAB-7", step="coding")
    app = make_app(root, watch=False, clock=lambda: NOW, prs=PrsOptions(enabled=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet(step_is("coding"))
        server.session("t7-cafe", "CAB-7", step="pr-created", updated_at="2026-02-16T17:44:00Z")
        await app.wait_for_fleet(step_is("pr-created"))
        server.kill()
        await app.wait_for_fleet(unreachable)
        await pilot.pause()
        assert "REMOTE unreachable since" in screen_text(app)
        assert any(i.id == "t7-cafe" for i in app.fleet.instances)  # last known, still shown
        server.start()
        await app.wait_for_fleet(lambda f: not unreachable(f))
        server.session("t7-cafe", "CAB-7", step="merged", updated_at="2026-02-16T17:44:30Z")
        await app.wait_for_fleet(step_is("merged"))
        await pilot.pause()
        assert "REMOTE unreachable" not in screen_text(app)
    for thread in threading.enumerate():  # the app's close stops the server's thread
        if thread.name == "hegemon server":
            thread.join(timeout=10)
            assert not thread.is_alive()


class _OldServer(http.server.BaseHTTPRequestHandler):
    """An older PocketBase's auth: only the admins endpoint exists."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/admins/auth-with-password" and body["password"] == PASSWORD:
            self._answer(200, {"token": "old-token", "admin": {"email": body["identity"]}})
        else:
            self._answer(404, {"message": "not found"})

    def _answer(self, code: int, data: object) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_args: object) -> None:
        pass


def test_an_older_server_authenticates_through_the_admins_endpoint() -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OldServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        client = PocketBase(url, Credentials(EMAIL, PASSWORD))
        client.authenticate()
        assert client.auth_path == "/api/admins/auth-with-password"
        assert client.token == "old-token"
        with pytest.raises(RemoteError) as refused:
            PocketBase(url, Credentials(EMAIL, "nope")).authenticate()
        assert "nope" not in str(refused.value) and "HTTP 404" in str(refused.value)
    finally:
        httpd.shutdown()
        httpd.server_close()
