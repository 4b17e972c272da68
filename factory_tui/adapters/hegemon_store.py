"""The real factory's local store (``~/.hegemon/state.db``), read strictly read-only.

Agents write that database all the time (WAL mode, a busy timeout of their own). The cockpit
must never slow them down nor change a byte: it opens the file with ``mode=ro`` and
``query_only``, reads every table in one short deferred transaction (a WAL reader takes no lock a
writer waits on), and closes at once. A read that finds the database busy is retried a few
times, then the last snapshot stays on screen with a note saying since when; the user never
sees SQLite's "database is locked".

As any reader of a WAL database, SQLite creates the empty ``-wal`` and ``-shm`` files beside it
when they are absent (the shared index readers and writers coordinate through); the database
file itself is never written, and nothing is ever checkpointed by this connection.
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from factory_tui.adapters.jsonfiles import RACY_NS

if TYPE_CHECKING:
    import sqlite3

    from factory_tui.core.hegemon import StoreSnapshot

__all__ = ["BUSY_TIMEOUT_S", "StoreReader", "StoreUnreadable", "read_store", "wal_path"]

#: How long one statement waits for a writer before SQLite gives up (WAL readers rarely wait).
BUSY_TIMEOUT_S = 0.25
#: Reads tried before a busy store is reported (the last snapshot stays shown meanwhile).
BUSY_TRIES = 4
#: A read that failed is tried again this long after (ns), at the next refresh, if the store
#: did not change meanwhile.
RETRY_NS = 1_000_000_000
#: The most rows read from one table: a store is small; a huge one must not stall the cockpit.
ROW_LIMIT = 20_000

_QUERIES = {
    "sessions": "SELECT * FROM sessions ORDER BY updated_at, instance_id LIMIT ?",
    # The latest milestone of each (ticket, instance): what the agent's step is now.
    "milestones": (
        "SELECT * FROM milestones WHERE id IN "
        "(SELECT MAX(id) FROM milestones GROUP BY ticket, instance_id) ORDER BY id LIMIT ?"
    ),
    "claims": "SELECT * FROM claims ORDER BY id LIMIT ?",
    "tickets": "SELECT * FROM tickets ORDER BY id LIMIT ?",
    "council_cache": "SELECT * FROM council_cache ORDER BY ticket_id LIMIT ?",
    "queue_jobs": (
        "SELECT * FROM queue_jobs WHERE status IN ('pending', 'dispatched', 'running') "
        "ORDER BY priority, id LIMIT ?"
    ),
}


class StoreUnreadable(Exception):
    """The store exists but could not be read: ``str()`` says what, where and what to do."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"


@contextlib.contextmanager
def _connection(path: Path, busy_timeout_s: float) -> Iterator[sqlite3.Connection]:
    import sqlite3

    conn = sqlite3.connect(
        _uri(path), uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=True
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        yield conn
    finally:
        conn.close()


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def read_store(
    path: Path, *, read_at: str = "", busy_timeout_s: float = BUSY_TIMEOUT_S
) -> StoreSnapshot:
    """One read of every table, in one read transaction (a consistent snapshot).

    Raises :class:`StoreUnreadable` (``busy`` set when a writer held it too long)."""
    # Imported here: a factory whose store does not exist (most) never loads sqlite or the
    # store's model (a few milliseconds of every status).
    import sqlite3

    from factory_tui.core.hegemon import STORE_TABLES, snapshot_from_rows

    try:
        with _connection(path, busy_timeout_s) as conn:
            conn.execute("BEGIN")  # deferred: a read transaction, no lock a WAL writer waits on
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                present = {
                    str(row[0])
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                counts: dict[str, int] = {}
                tables: dict[str, list[dict[str, object]]] = {}
                for table in STORE_TABLES:
                    if table not in present:
                        continue
                    counts[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                    rows = conn.execute(_QUERIES[table], (ROW_LIMIT,)).fetchall()
                    tables[table] = [dict(row) for row in rows]
            finally:
                conn.execute("COMMIT")
    except sqlite3.Error as error:
        busy = _is_busy(error)
        what = "busy (a writer held it past the busy timeout)" if busy else f"unreadable ({error})"
        raise StoreUnreadable(
            f"the local store {path} is {what}; "
            + (
                "it is read again on its next change"
                if busy
                else "check it with sqlite3, or set [hegemon] db in factory.toml"
            ),
            busy=busy,
        ) from None
    missing = [t for t in STORE_TABLES if t not in present]
    schema = f"user_version {version}" + (f" (no {', '.join(missing)})" if missing else "")
    return snapshot_from_rows(
        str(path), schema=schema, counts=counts, tables=tables, read_at=read_at
    )


_Stamp = tuple[tuple[int, int, int] | None, ...]


def _stamp(path: Path) -> _Stamp:
    """The stat of the database and its WAL: a commit changes one of them (its mtime: after a
    checkpoint SQLite rewrites the WAL from its start, in place, at the same size). Not
    ``ctime``: as root SQLite ``fchown``s the WAL at each open, our own reads moved it (and the
    watcher, told of an attribute change, asked for a read again: 150 reads a second)."""
    out: list[tuple[int, int, int] | None] = []
    # A symlinked database's WAL is beside its target (SQLite resolves the link), not beside
    # the link: stamped there, a commit that stayed in the WAL was never seen.
    for p in (path, wal_path(Path(os.path.realpath(path)))):
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def _recheck_at(stamp: _Stamp, now: int) -> int | None:
    """When (ns) a read made at ``now`` under ``stamp`` must be made again though the stamp
    is the same (a commit within the same timestamp tick as the last one keeps it), or None:
    the last commit was long enough before. A file dated further ahead of ``now`` than
    :data:`RACY_NS` (the clock stepped back, a copy from a host ahead) is left out: its next
    commit, dated now, moves its stamp (counted, it held back the re-read of the other file's
    same-tick commit until that date). One dated a little ahead was changed since the clock
    was read, racily."""
    times = [key[0] for key in stamp if key is not None and key[0] <= now + RACY_NS]
    at = max(times, default=0) + RACY_NS
    return at if at > now else None


class StoreReader:
    """The store as last read: :meth:`refresh` reads it again when the database or its WAL
    changed. ``snapshot`` is None when there is no store (no file at ``path``)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = datetime.now,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        tries: int = BUSY_TRIES,
        pause: Callable[[float], None] = time.sleep,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.clock = clock
        self.now_ns = now_ns
        """The clock the files' times are compared with (ns since the epoch)."""
        self.busy_timeout_s = busy_timeout_s
        self.tries = tries
        self.pause = pause
        self.snapshot: StoreSnapshot | None = None
        self.error: str | None = None
        """Why the last read failed (the snapshot, if any, is older), or None."""
        self._stamp: _Stamp | None = None
        self._recheck_at: int | None = None
        """When (ns) the store is read again though its stamp is the same (the last read was
        made within :data:`RACY_NS` of its last commit); None: only when the stamp changes.
        A time, not every refresh meanwhile: each read, as root, tells the watcher of a
        change (see :func:`_stamp`)."""

    def refresh(self, *, force: bool = False) -> bool:
        """Read the store again if it changed (or ``force``). True if what is known changed."""
        now = self.now_ns()  # before the stats it judges
        stamp = _stamp(self.path)
        recheck = self._recheck_at
        if not force and stamp == self._stamp and (recheck is None or now < recheck):
            return False
        if stamp[0] is None or not self.path.is_file():
            changed = self.snapshot is not None or self.error is not None
            self.snapshot, self.error, self._stamp, self._recheck_at = None, None, stamp, None
            return changed
        read_at = self.clock().strftime("%Y-%m-%dT%H:%M:%S")
        for attempt in range(max(1, self.tries)):
            try:
                snapshot = read_store(
                    self.path, read_at=read_at, busy_timeout_s=self.busy_timeout_s
                )
            except StoreUnreadable as error:
                if error.busy and attempt + 1 < self.tries:
                    self.pause(0.02 * (attempt + 1))
                    continue
                return self._failed(str(error), busy=error.busy, stamp=stamp, now=now)
            # Changed lately: read again once the tick is surely past (a read that finds the
            # same is no change). Changed during the read (a symlinked store re-pointed, say):
            # read again at the next refresh, never kept under a stamp of other files.
            if _stamp(self.path) == stamp:
                self._stamp, self._recheck_at = stamp, _recheck_at(stamp, now)
            else:
                self._stamp, self._recheck_at = None, None
            known, failed = self.snapshot, self.error is not None
            self.snapshot, self.error = snapshot, None
            return failed or known is None or replace(known, read_at=snapshot.read_at) != snapshot
        return False  # pragma: no cover - the loop always returns

    def _failed(self, message: str, *, busy: bool, stamp: _Stamp, now: int) -> bool:
        """Keep the last snapshot, marked as such; the store is read again at its next change,
        or at the next refresh :data:`RETRY_NS` from now (not at once: as root each try moves
        the WAL's times, which the watcher reports, see :func:`_stamp`)."""
        self._stamp, self._recheck_at = stamp, now + RETRY_NS
        if busy and self.snapshot is not None:
            note = f"the store was busy; showing what was read at {self.snapshot.read_at}"
            if self.snapshot.note == note:
                return False
            self.snapshot = replace(self.snapshot, note=note)
            return True
        if busy:
            message = f"the local store {self.path} was busy; it is read again on its next change"
        changed = self.error != message
        self.error = message
        return changed
