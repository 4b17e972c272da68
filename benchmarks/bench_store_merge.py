"""Issue 15: what one shared-server update costs the reader, whole merge against incremental.

    python benchmarks/bench_store_merge.py [--sessions 500] [--hosts 20] [--updates 40]

--sessions remote sessions, each owning a claim, over --hosts hosts, held by the shared
server's reader (no server: the records are applied as its events would be). Each update
changes one session's step; printed, as medians and p95 over --updates updates:
- the reader's snapshot after the event (``RemoteReader._publish``);
- the merge of that snapshot into the files' fleet, whole (``merge_store``) and incremental
  (``StoreMerger``), on the same snapshots, checked equal;
- the whole ``FactoryReader.fleet`` after the update (which uses the incremental merge).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import FixedProbe, config_for

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.hegemon_remote import RemoteError, RemoteReader
from factory_tui.core.fleet import Settings
from factory_tui.core.fleet_store import StoreMerger, merge_store

NOW = datetime(2026, 2, 16, 17, 45)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def figure(name: str, values: list[float]) -> str:
    return f"{name} median {statistics.median(values):.2f} ms p95 {pct(values, 0.95):.2f} ms"


def records(reader: RemoteReader, sessions: int, hosts: int) -> None:
    for n in range(sessions):
        host = f"worker-{n % hosts}"
        session = {
            "id": f"s{n:014d}",
            "instance_id": f"t{n:05d}-beef",
            "project": "stoa",
            "ticket": f"CAB-{n}",
            "step": "coding",
            "host": host,
            "pid": 1000 + n,
            "started_at": "2026-02-16T17:00:00Z",
            "updated_at": "2026-02-16T17:40:00Z",
        }
        claim = {
            "id": f"c{n:014d}",
            "claim_id": f"CAB-{n}",
            "ticket": f"CAB-{n}",
            "owner": f"t{n:05d}-beef",
            "pid": 1000 + n,
            "host": host,
            "claimed_at": "2026-02-16T17:00:00Z",
        }
        reader.records.apply("sessions", {"action": "create", "record": session})
        reader.records.apply("claims", {"action": "create", "record": claim})


def main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-store-merge-"))
    root = base / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    (root / ".factory" / "memory").mkdir(parents=True)
    (root / ".factory" / "memory" / "operations.log").write_text("")
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    factory = FactoryReader(config_for(root), hostname="here", probe=FixedProbe())
    factory.refresh_all()
    server = RemoteReader("http://pb.bench", RemoteError("no server: records applied by hand"))
    records(server, args.sessions, args.hosts)
    server._publish()
    factory.server = server
    factory.fleet(NOW)
    files = factory.deriver.previous
    assert files is not None
    merger = StoreMerger()
    common: dict[str, Any] = {"fold": factory.fold, "now": NOW, "procs": {}, "settings": Settings()}
    assert server.snapshot is not None
    merger.merge(files, server.snapshot, **common)
    publish: list[float] = []
    whole: list[float] = []
    incremental: list[float] = []
    fleet: list[float] = []
    for i in range(args.updates):
        record = dict(server.records.sessions[f"s{(i * 37) % args.sessions:014d}"])
        record["step"] = f"bench-{i}"
        t0 = time.perf_counter()
        server.records.apply("sessions", {"action": "update", "record": record})
        server._publish()
        publish.append((time.perf_counter() - t0) * 1000)
        snapshot = server.snapshot
        assert snapshot is not None
        t0 = time.perf_counter()
        full = merge_store(files, snapshot, **common)
        whole.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        merged = merger.merge(files, snapshot, **common)
        incremental.append((time.perf_counter() - t0) * 1000)
        assert merged == full
        t0 = time.perf_counter()
        factory.fleet(NOW, reprobe=False)
        fleet.append((time.perf_counter() - t0) * 1000)
    print(
        f"{args.sessions} remote sessions and claims over {args.hosts} hosts, {args.updates} "
        f"one-session updates: {figure('publish', publish)}; {figure('whole merge', whole)}; "
        f"{figure('incremental merge', incremental)} (equal results); "
        f"{figure('reader fleet', fleet)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--updates", type=int, default=40)
    main(parser.parse_args())
