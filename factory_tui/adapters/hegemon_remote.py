"""The real factory's shared server (PocketBase, ``HEGEMON_REMOTE_URL``): its ``sessions`` and
``claims`` collections, read over REST and kept live through its realtime subscription (SSE),
polling with backoff while the subscription is down.

The client is the standard library's (``urllib`` for REST, ``http.client`` for the event
stream): two endpoints and a line-oriented stream need no SDK, and no dependency can log a
request with its credentials. Both authentications are tried: newer servers' superusers
(``/api/collections/_superusers/auth-with-password``, PocketBase ≥ 0.23) and the older admin
endpoint the real claim tool uses (``/api/admins/auth-with-password``).

The credentials come from ``HEGEMON_REMOTE_EMAIL`` / ``HEGEMON_REMOTE_PASSWORD`` or from the
TOML file ``[hegemon] remote_credentials`` names (``email``, ``password``); never from a flag.
The password is in no ``repr``, message, log line, snapshot or error: errors name the server by
its scheme, host and port only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from factory_tui.config.hegemon import HegemonSettings
from factory_tui.config.regular_files import read_regular
from factory_tui.core.hegemon import (
    StoreClaim,
    StoreSession,
    StoreSnapshot,
    claim_from_row,
    session_from_row,
)

__all__ = [
    "Credentials",
    "PocketBase",
    "RemoteError",
    "RemoteReader",
    "load_credentials",
    "shown_url",
]

TIMEOUT_S = 5.0
#: A realtime stream silent this long is reconnected (PocketBase drops idle clients itself).
STREAM_IDLE_S = 120.0
#: The polling fallback's waits: doubled after each failure, up to the last.
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
PER_PAGE = 500
CREDENTIALS_BYTES = 1 << 20
"""A credentials file bigger than this is not one (said so, as an unreadable file is)."""
COLLECTIONS = ("sessions", "claims")
AUTH_PATHS = (
    "/api/collections/_superusers/auth-with-password",
    "/api/admins/auth-with-password",
)


def shown_url(url: str) -> str:
    """Scheme, host and port: what a message may say about the server (never a user or a
    password written into the URL)."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


class RemoteError(Exception):
    """The server could not be read: ``str()`` says what and where, never a secret."""


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str = field(repr=False)


def load_credentials(
    settings: HegemonSettings, env: Mapping[str, str]
) -> Credentials | RemoteError:
    """From the file the config names, else from the environment."""
    path = settings.credentials_file
    if path is not None:
        try:
            data = tomllib.loads(read_regular(path, CREDENTIALS_BYTES).decode("utf-8"))
        except OSError as error:  # a FIFO there too: never waited on
            return RemoteError(
                f"cannot read the server's credentials file {path} ({error.strerror}); "
                "fix [hegemon] remote_credentials"
            )
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return RemoteError(
                f"{path}: the server's credentials file is not TOML with email and password"
            )
        email, password = data.get("email"), data.get("password")
        if isinstance(email, str) and isinstance(password, str) and email and password:
            return Credentials(email, password)
        return RemoteError(f"{path}: email and password must both be set (strings)")
    email = env.get("HEGEMON_REMOTE_EMAIL", "").strip()
    password = env.get("HEGEMON_REMOTE_PASSWORD", "")
    if email and password:
        return Credentials(email, password)
    return RemoteError(
        "no credentials for the shared server: set HEGEMON_REMOTE_EMAIL and "
        "HEGEMON_REMOTE_PASSWORD, or [hegemon] remote_credentials = FILE"
    )


class PocketBase:
    """A few calls of PocketBase's REST API, authenticated as a superuser (or an admin)."""

    def __init__(self, url: str, credentials: Credentials, *, timeout_s: float = TIMEOUT_S):
        self.url = url.rstrip("/")
        self.shown = shown_url(url)
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.token: str | None = None
        self._stream: http.client.HTTPConnection | None = None
        self.auth_path: str | None = None
        """The endpoint that authenticated (which kind of server this is)."""

    def _request(self, method: str, path: str, body: object = None, *, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if auth and self.token:
            headers["Authorization"] = self.token
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _HttpStatus(error.code) from None
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise RemoteError(f"{self.shown} is unreachable ({reason})") from None
        except ValueError:
            raise RemoteError(f"{self.shown} answered {path} with something not JSON") from None

    def authenticate(self) -> None:
        body = {"identity": self.credentials.email, "password": self.credentials.password}
        refused: list[str] = []
        for path in AUTH_PATHS:
            try:
                answer = self._request("POST", path, body, auth=False)
            except _HttpStatus as status:
                refused.append(f"{path}: HTTP {status.code}")
                continue
            token = answer.get("token") if isinstance(answer, dict) else None
            if isinstance(token, str) and token:
                self.token, self.auth_path = token, path
                return
            refused.append(f"{path}: no token in the answer")
        raise RemoteError(
            f"{self.shown} refused the credentials ({'; '.join(refused)}); check "
            "HEGEMON_REMOTE_EMAIL / HEGEMON_REMOTE_PASSWORD or the credentials file"
        )

    def call(self, method: str, path: str, body: object = None) -> Any:
        """An authenticated call; authenticates first, and again once on a 401/403."""
        if self.token is None:
            self.authenticate()
        try:
            return self._request(method, path, body)
        except _HttpStatus as status:
            if status.code not in (401, 403):
                raise RemoteError(f"{self.shown} answered {path} with HTTP {status.code}") from None
        self.authenticate()
        try:
            return self._request(method, path, body)
        except _HttpStatus as status:
            raise RemoteError(f"{self.shown} answered {path} with HTTP {status.code}") from None

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every record of ``collection``, page by page."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call(
                "GET", f"/api/collections/{collection}/records?perPage={PER_PAGE}&page={page}"
            )
            items = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise RemoteError(f"{self.shown}: {collection} answered without items")
            out.extend(item for item in items if isinstance(item, dict))
            pages = answer.get("totalPages")
            if not isinstance(pages, int) or page >= pages or not items:
                return out
            page += 1

    def events(self, topics: tuple[str, ...], stop: threading.Event) -> Iterator[tuple[str, Any]]:
        """The realtime stream: ``("connected", None)`` once subscribed, then
        ``(topic, {"action": …, "record": {…}})`` for each change. Ends (returns) when the
        stream closes or stays silent :data:`STREAM_IDLE_S`; raises :class:`RemoteError` when
        it cannot be opened."""
        if self.token is None:
            self.authenticate()
        parts = urllib.parse.urlsplit(self.url)
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(parts.hostname or "", parts.port, timeout=self.timeout_s)
        self._stream = conn
        try:
            try:
                conn.request("GET", parts.path + "/api/realtime", headers=_SSE_HEADERS)
                response = conn.getresponse()
            except OSError as error:
                raise RemoteError(f"{self.shown} is unreachable ({error})") from None
            if response.status != 200:
                raise RemoteError(f"{self.shown}: realtime answered HTTP {response.status}")
            if conn.sock is not None:
                conn.sock.settimeout(STREAM_IDLE_S)
            for name, data in _sse(response, stop):
                if name == "PB_CONNECT":
                    client = data.get("clientId") if isinstance(data, dict) else None
                    self.call(
                        "POST", "/api/realtime", {"clientId": client, "subscriptions": list(topics)}
                    )
                    yield "connected", None
                elif name in topics:
                    yield name, data
        finally:
            self._stream = None
            conn.close()

    def abort(self) -> None:
        """Unblock a thread waiting on the realtime stream (it then ends)."""
        conn = self._stream
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)


_SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}


class _HttpStatus(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _sse(response: http.client.HTTPResponse, stop: threading.Event) -> Iterator[tuple[str, Any]]:
    """Server-sent events as (event name, parsed data)."""
    name = ""
    data: list[str] = []
    while not stop.is_set():
        try:
            raw = response.readline(1 << 20)
        except (OSError, TimeoutError):
            return
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                try:
                    parsed = json.loads("\n".join(data))
                except ValueError:
                    parsed = None
                yield name or "message", parsed
            name, data = "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


# -- the records as the store's values ------------------------------------------------------------


def _session_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in _SESSION_KEYS}


def _claim_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = {key: record.get(key) for key in _CLAIM_KEYS}
    row["id"] = record.get("claim_id")  # the record's own id is PocketBase's
    return row


_SESSION_KEYS = (
    "instance_id",
    "project",
    "role",
    "ticket",
    "branch",
    "step",
    "pr",
    "host",
    "source",
    "pid",
    "started_at",
    "updated_at",
)
_CLAIM_KEYS = (
    "ticket",
    "phase",
    "mega_id",
    "owner",
    "pid",
    "host",
    "branch",
    "deps",
    "claimed_at",
    "completed_at",
)


@dataclass
class _Records:
    """The collections as last known: PocketBase id → record."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, topic: str, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        record, action = event.get("record"), event.get("action")
        table = self.sessions if topic == "sessions" else self.claims
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            return False
        if action == "delete":
            return table.pop(record["id"], None) is not None
        table[record["id"]] = record
        return True


class RemoteReader:
    """The shared server's sessions and claims as a :class:`StoreSnapshot` (origin ``remote``).

    :meth:`refresh` reads them once (``status``, actions); :meth:`run` keeps them live on a
    thread of its own until ``stop`` is set, calling ``on_change()`` after each change: the
    realtime subscription first, polling with backoff while it is down. ``snapshot`` is
    replaced whole (a reader on another thread sees one or the other)."""

    def __init__(
        self,
        url: str,
        credentials: Credentials | RemoteError,
        *,
        clock: Callable[[], datetime] = datetime.now,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.shown = shown_url(url)
        self.client = (
            PocketBase(url, credentials, timeout_s=timeout_s)
            if isinstance(credentials, Credentials)
            else None
        )
        self.setup_error = credentials if isinstance(credentials, RemoteError) else None
        self.clock = clock
        self.records = _Records()
        self._parsed: dict[tuple[str, str], tuple[object, StoreSession | StoreClaim | None]] = {}
        """Each record's value by (collection, record id), with the record it was parsed from."""
        self.snapshot: StoreSnapshot | None = None
        self.error: str | None = str(self.setup_error) if self.setup_error else None
        self.unreachable_since: str | None = None
        self.live = False
        """True while the realtime subscription is up (else: polling)."""
        self.backoff = BACKOFF_S

    def _now(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%S")

    def _publish(self) -> None:
        records = self.records
        parsed: dict[tuple[str, str], tuple[object, StoreSession | StoreClaim | None]] = {}
        sessions = self._values("sessions", records.sessions, parsed)
        claims = self._values("claims", records.claims, parsed)
        self._parsed = parsed
        self.snapshot = StoreSnapshot(
            path=self.shown,
            schema="PocketBase",
            counts={"sessions": len(records.sessions), "claims": len(records.claims)},
            sessions=tuple(v for v in sessions if isinstance(v, StoreSession)),
            claims=tuple(v for v in claims if isinstance(v, StoreClaim)),
            read_at=self._now(),
            origin="remote",
        )

    def _values(
        self,
        topic: str,
        table: Mapping[str, Mapping[str, Any]],
        parsed: dict[tuple[str, str], tuple[object, StoreSession | StoreClaim | None]],
    ) -> list[StoreSession | StoreClaim | None]:
        """Each record of ``table`` as a value, parsed again only when its record changed (an
        event replaces the record: the one kept with its value is then another object)."""
        out: list[StoreSession | StoreClaim | None] = []
        for record_id, record in table.items():
            kept = self._parsed.get((topic, record_id))
            if kept is not None and kept[0] is record:
                value = kept[1]
            elif topic == "sessions":
                value = session_from_row(_session_row(record))
            else:
                value = claim_from_row(_claim_row(record))
            parsed[(topic, record_id)] = (record, value)
            out.append(value)
        return out

    def apply(self, topic: str, event: Any) -> bool:
        """Apply one realtime event (``topic`` is its collection) and publish the snapshot it
        makes. True when it changed what is known."""
        if not self.records.apply(topic, event):
            return False
        self._publish()
        return True

    def _failed(self, error: RemoteError) -> None:
        self.live = False
        self.error = str(error)
        if self.unreachable_since is None:
            self.unreachable_since = self._now()
        if self.snapshot is None:
            self._publish()  # nothing known yet: an empty snapshot that says so
            assert self.snapshot is not None
            self.snapshot = replace(self.snapshot, read_at="")
        known = (
            f"last known (read at {self.snapshot.read_at})"
            if self.snapshot.read_at
            else "nothing known yet"
        )
        self.snapshot = replace(
            self.snapshot,
            note=f"{self.shown} unreachable since {self.unreachable_since}: {known}",
            unreachable_since=self.unreachable_since,
        )

    def _fetch(self) -> None:
        assert self.client is not None
        records = _Records()
        for item in self.client.records("sessions"):
            records.apply("sessions", {"action": "create", "record": item})
        for item in self.client.records("claims"):
            records.apply("claims", {"action": "create", "record": item})
        self.records = records
        self.error = None
        self.unreachable_since = None
        self._publish()

    def refresh(self) -> bool:
        """Read both collections once. True when what is known changed."""
        if self.client is None:
            return False
        before = self.snapshot
        try:
            self._fetch()
        except RemoteError as error:
            self._failed(error)
        return self.snapshot is not before

    def stop(self) -> None:
        """Unblock :meth:`run` once its ``stop`` event is set."""
        if self.client is not None:
            self.client.abort()

    def run(self, stop: threading.Event, on_change: Callable[[], None]) -> None:
        """Stay live until ``stop``: subscribe, read everything, apply each event. When the
        stream drops or cannot be had, read everything over REST (polling) and try the stream
        again after 1, 2, 4 … 30 s; a success resets the wait."""
        if self.client is None:
            return
        failures = 0
        while not stop.is_set():
            try:
                for topic, event in self.client.events(COLLECTIONS, stop):
                    if topic == "connected":
                        self._fetch()  # after subscribing: no change falls between
                        self.live = True
                        failures = 0
                        on_change()
                    elif self.apply(topic, event):
                        on_change()
                if stop.is_set():
                    return
                raise RemoteError(f"{self.shown}: the realtime stream closed")
            except RemoteError:
                self.live = False
                try:
                    self._fetch()
                except RemoteError as error:
                    self._failed(error)
                on_change()
            if stop.wait(self.backoff[min(failures, len(self.backoff) - 1)]):
                return
            failures += 1


def remote_reader(settings: HegemonSettings | None, env: Mapping[str, str]) -> RemoteReader | None:
    """The shared server's reader when a URL is configured, else None."""
    if settings is None or not settings.remote_url:
        return None
    return RemoteReader(settings.remote_url, load_credentials(settings, env))
