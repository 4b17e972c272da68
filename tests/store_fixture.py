"""A HEGEMON store (the real factory's SQLite database) written the way its claim tool writes one:
the tables and columns of its schema v1, WAL mode, UTC timestamps with ``Z``. Our own fixture,
built from the schema's shape (FORMATS.md, "The real system's own store").

Also runnable as a script: ``python store_fixture.py WRITER DB N`` is a concurrent writer that
commits N times (a session update and a milestone each), printing ``ready`` after its first
commit and ``done`` at the end.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

DDL = """
CREATE TABLE sessions (
    instance_id TEXT PRIMARY KEY, project TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'interactive',
    ticket TEXT, branch TEXT, step TEXT NOT NULL DEFAULT 'claimed', pr INTEGER, host TEXT,
    source TEXT NOT NULL DEFAULT 'local', pid INTEGER, started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE milestones (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket TEXT NOT NULL, step TEXT NOT NULL,
    instance_id TEXT NOT NULL, project TEXT NOT NULL, pr INTEGER, sha TEXT, detail TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE claims (
    id TEXT PRIMARY KEY, ticket TEXT NOT NULL, phase INTEGER, mega_id TEXT, owner TEXT,
    pid INTEGER, host TEXT, branch TEXT, deps TEXT, claimed_at TEXT, completed_at TEXT
);
CREATE TABLE tickets (
    id TEXT PRIMARY KEY, title TEXT, status TEXT, estimate INTEGER, priority INTEGER,
    component TEXT, summary TEXT, dod_items TEXT, parent_id TEXT, cycle TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE council_cache (
    ticket_id TEXT PRIMARY KEY, score REAL, verdict TEXT, personas TEXT, ticket_hash TEXT,
    evaluated_at TEXT NOT NULL
);
CREATE TABLE queue_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT NOT NULL, title TEXT DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 2, role TEXT, status TEXT NOT NULL DEFAULT 'pending',
    assigned_to TEXT, dispatched_at TEXT, completed_at TEXT, created_at TEXT NOT NULL,
    error TEXT, council_score REAL, estimate INTEGER, mode TEXT DEFAULT 'ask',
    source TEXT DEFAULT 'manual', description TEXT DEFAULT ''
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """A writer's connection, as the claim tool opens one (WAL, a long busy timeout)."""
    conn = sqlite3.connect(str(path), timeout=15)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def create_store(path: Path, *, wal: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path) if wal else sqlite3.connect(str(path))
    conn.executescript(DDL)
    conn.commit()
    conn.close()
    return path


def insert(path: Path, table: str, **row: Any) -> None:
    conn = connect(path)
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))
    conn.commit()
    conn.close()


def session(path: Path, instance: str, ticket: str | None, **more: Any) -> None:
    row: dict[str, Any] = {
        "instance_id": instance,
        "project": "stoa",
        "role": "backend",
        "ticket": ticket,
        "branch": f"feat/{ticket}",
        "step": "claimed",
        "host": "macbook-pro",
        "source": "local",
        "pid": 4242,
        "started_at": "2026-02-16T17:00:00Z",
        "updated_at": "2026-02-16T17:00:00Z",
    }
    row.update(more)
    insert(path, "sessions", **row)


def claim(path: Path, ident: str, owner: str | None, **more: Any) -> None:
    row: dict[str, Any] = {
        "id": ident,
        "ticket": ident,
        "owner": owner,
        "pid": 4242 if owner else None,
        "host": "macbook-pro",
        "branch": f"feat/{ident}",
        "claimed_at": "2026-02-16T17:00:42Z",
    }
    row.update(more)
    insert(path, "claims", **row)


def milestone(path: Path, ticket: str, step: str, instance: str, at: str, **more: Any) -> None:
    insert(
        path,
        "milestones",
        ticket=ticket,
        step=step,
        instance_id=instance,
        project="stoa",
        created_at=at,
        **more,
    )


def write_many(path: Path, count: int) -> None:
    """The concurrent writer: ``count`` short transactions, like agents' hooks."""
    conn = connect(path)
    for n in range(count):
        at = f"2026-02-16T17:{n % 60:02d}:00Z"
        conn.execute(
            "INSERT OR REPLACE INTO sessions (instance_id, project, role, ticket, branch, step, "
            "host, source, pid, started_at, updated_at) VALUES "
            "('t9-beef', 'stoa', 'backend', 'CAB-9', 'feat/CAB-9', 'coding', 'worker-1', "
            "'local', 77, '2026-02-16T17:00:00Z', ?)",
            (at,),
        )
        conn.execute(
            "INSERT INTO milestones (ticket, step, instance_id, project, detail, created_at) "
            "VALUES ('CAB-9', 'coding', 't9-beef', 'stoa', ?, ?)",
            (f"write {n}", at),
        )
        conn.commit()
        if n == 0:
            print("ready", flush=True)
    conn.close()
    print("done", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "WRITER":
        write_many(Path(sys.argv[2]), int(sys.argv[3]))
