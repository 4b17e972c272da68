"""Issue 13's latency figure: a line appended to an agent's transcript → the pane showing it,
beside a log line's write → shown, in one run.

    python benchmarks/bench_transcripts.py [--writes 40]

The cockpit runs on the demo factory (10 agents, their transcripts written) with the real
watcher and the re-probe tick an hour away, so only the watcher brings either change. Both
writes change the same agent's pane: the log line starts another step of its task (the step
shown moves), the transcript line is a tool call (the activity shown moves). The two kinds of
write alternate, so that a noisy moment of a shared machine hits both alike. A third write, a
log line that changes nothing shown (bench_cockpit.py's), is the floor: watcher, re-read and
derive, and next to nothing to draw. "Shown"
is as in bench_cockpit.py: the end of the first screen refresh after the fleet holding the
change reached the app. Prints each median and p95 and the ratio of the medians (target: the
transcript within 1.5x the log line).

First paint with and without a big folder of old transcripts: ``first_paint.py
--old-transcripts 200``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cockpit import idle_demo, pct, shown

from factory_tui.core.fleet import Fleet


def tool_line(pattern: str) -> str:
    """A model response calling Glob on ``pattern``, as Claude Code writes it."""
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": "2026-02-16T15:41:00Z",
            "message": {
                "id": f"msg_{pattern}",
                "model": "claude-sonnet-4-5-20250929",
                "content": [
                    {"type": "tool_use", "id": "t", "name": "Glob", "input": {"pattern": pattern}}
                ],
            },
        }
    )


def tool_of(fleet: Fleet, agent: str) -> str | None:
    view = next((i for i in fleet.instances if i.id == agent), None)
    if view is None or view.activity is None or view.activity.tool is None:
        return None
    return view.activity.tool.summary


def step_of(fleet: Fleet, agent: str) -> str | None:
    return next((i.step for i in fleet.instances if i.id == agent), None)


async def main(args: argparse.Namespace) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-transcripts-"))
    # Only the watcher brings a change (no re-probe meanwhile).
    demo, app = idle_demo(base, transcripts=True, refresh_interval=3600)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.wait_for_fleet(lambda f: app.loaded and app.log_ready)
        await pilot.pause()
        followed = [i for i in app.fleet.instances if i.activity is not None and i.task]
        if not followed:
            raise SystemExit("no agent's transcript was found: nothing to measure")
        agent, task = followed[0].id, followed[0].task
        transcript = Path(followed[0].activity.transcript)  # type: ignore[union-attr]
        armed = app.targets.transcripts.armed
        if not await asyncio.to_thread(armed.wait, 30):
            raise SystemExit("the watcher never armed on the transcripts")
        log = demo.memory_dir / "operations.log"
        log_lat: list[float] = []
        transcript_lat: list[float] = []
        quiet_lat: list[float] = []  # a log line that changes nothing shown
        for i in range(args.writes):
            step = ("code", "quality-gate")[i % 2]
            if step_of(app.fleet, agent) == step:  # the demo's own last step: take the other
                step = ("code", "quality-gate")[(i + 1) % 2]
            t0 = time.perf_counter()
            with log.open("a") as handle:
                handle.write(f"2026-02-16T15:42 | STEP-START | step={step} task={task}\n")
            await app.wait_for_fleet(lambda f, s=step: step_of(f, agent) == s)
            log_lat.append((await shown(app) - t0) * 1000)
            await pilot.pause()  # let the background work the change set off settle

            pattern = f"bench/{i}/**/*.py"
            t0 = time.perf_counter()
            with transcript.open("a") as handle:
                handle.write(tool_line(pattern) + "\n")
            await app.wait_for_fleet(lambda f, p=pattern: tool_of(f, agent) == f"Glob: {p}")
            transcript_lat.append((await shown(app) - t0) * 1000)
            await pilot.pause()

            n = app.fleet.counts["log_events"]
            t0 = time.perf_counter()
            with log.open("a") as handle:
                handle.write(f"2026-02-16T15:42 | STEP-DONE | step=code task=bench n={i}\n")
            await app.wait_for_fleet(lambda f, n=n: f.counts["log_events"] > n)
            quiet_lat.append((await shown(app) - t0) * 1000)
            await pilot.pause()
    log_median = statistics.median(log_lat)
    transcript_median = statistics.median(transcript_lat)
    print(
        f"write → shown over {args.writes} writes each (10 agents, re-probe tick off): "
        f"log line (the agent's step) median {log_median:.1f} ms p95 {pct(log_lat, 0.95):.1f} ms; "
        f"transcript line (its activity) median {transcript_median:.1f} ms "
        f"p95 {pct(transcript_lat, 0.95):.1f} ms; "
        f"ratio transcript/log {transcript_median / log_median:.2f}x (target ≤ 1.5x)"
    )
    print(
        f"  floor: a log line that changes nothing shown, median "
        f"{statistics.median(quiet_lat):.1f} ms p95 {pct(quiet_lat, 0.95):.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=40)
    asyncio.run(main(parser.parse_args()))
