"""Generate the scale factory of issue 2: 100 agents, 1,000 claim files, 1,000,000
operations.log lines plus a rotated .1 (200,000 more), 10,000 checkpoints.

    python benchmarks/scale_factory.py DIR [--agents 100] [--claims 1000] [--lines 1000000]
        [--checkpoints 10000]

Deterministic (seeded); writes ``DIR/factory.toml`` so the memory folder is ``DIR/.factory/memory``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

STEPS = ("branch", "code", "quality-gate", "commit", "push", "pr-created", "ci", "merged")
NOW = datetime(2026, 11, 22, 12, 0)


def generate(
    root: Path,
    *,
    agents: int = 100,
    claims: int = 1000,
    lines: int = 1_000_000,
    history: int = 200_000,
    checkpoints: int = 10_000,
    seed: int = 1,
    now: datetime = NOW,
    days: int = 30,
) -> None:
    """Write the factory. ``days``: how long the log's history spans (its lines spread evenly
    over it): a factory whose history is 10x longer at the same pace is 10x the lines and
    10x the days, with as many sessions in the last 24 hours as the 1x one."""
    rng = random.Random(seed)
    memory = root / ".factory" / "memory"
    claims_dir = root / ".claude" / "claims"
    cp_dir = memory / "checkpoints"
    for folder in (memory, claims_dir, cp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (root / "factory.toml").write_text('memory = ".factory/memory"\n')
    instances = [f"t{10000 + i}-{rng.randrange(16**4):04x}" for i in range(agents)]

    # Claim files: 1 in 10 a MEGA with 4 phases, the rest standalone.
    for n in range(claims):
        owner = instances[n % agents] if n < agents * 2 else None
        claimed = (now - timedelta(minutes=rng.randrange(10, 600))).strftime("%Y-%m-%dT%H:%M")
        if n % 10 == 0:
            phases = []
            for p in range(1, 5):
                phases.append(
                    {
                        "id": p,
                        "name": f"Phase {p}",
                        "tickets": [f"CAB-{n * 10 + p}"],
                        "owner": owner if p == 1 else None,
                        "pid": 10_000_000 + n if p == 1 else None,
                        "claimed_at": claimed if p == 1 and owner else None,
                        "hostname": "scale-host",
                        "branch": f"feat/CAB-{n * 10 + p}",
                        "mode": "parallel",
                        "deps": [] if p == 1 else [p - 1],
                        "completed_at": None,
                    }
                )
            obj: dict[str, object] = {
                "mega": f"MEGA-{n}",
                "title": f"Mega {n}",
                "created": claimed,
                "phases": phases,
            }
            name = f"MEGA-{n}.json"
        else:
            obj = {
                "ticket": f"CAB-{n}",
                "title": f"Ticket {n}",
                "owner": owner,
                "pid": 10_000_000 + n if owner else None,
                "hostname": "scale-host",
                "claimed_at": claimed if owner else None,
                "branch": f"fix/CAB-{n}",
                "completed_at": None,
            }
            name = f"CAB-{n}.json"
        (claims_dir / name).write_text(json.dumps(obj, indent=2))

    # The log: sessions of ~10 lines each, round-robin over agents, time-ordered.
    start = now - timedelta(days=days)
    total = lines + history
    step_s = (days * 86400) / total
    out: list[str] = []
    i = 0
    session = 0
    while i < total:
        inst = instances[session % agents]
        task = f"CAB-{rng.randrange(claims)}"
        t = start + timedelta(seconds=i * step_s)
        ts = t.strftime("%Y-%m-%dT%H:%M")
        out.append(f"{ts} | SESSION-START | task={task} branch=fix/{task} instance={inst}")
        for step in STEPS[: rng.randrange(3, len(STEPS))]:
            # About one line in twenty carries a quoted value, as in the wild.
            detail = (
                f' detail="step {step} ok"' if rng.random() < 0.05 else f" component=c{session % 7}"
            )
            out.append(f"{ts} | STEP-DONE | step={step} task={task}{detail}")
        out.append(f"{ts} | CHECKPOINT | task={task} file={ts}-{task}.json")
        if session % 97 != 0:  # a few crash
            out.append(f"{ts} | SESSION-END | task={task} status=success pr={session}")
        i = len(out)
        session += 1
    out = out[:total]
    (memory / "operations.log.1").write_text("\n".join(out[:history]) + "\n")
    (memory / "operations.log").write_text("\n".join(out[history:]) + "\n")
    (memory / "metrics.log").write_text(
        "".join(f"{now:%Y-%m-%dT%H:%M} | PR-MERGED | task=CAB-{k} pr={k}\n" for k in range(1000))
    )
    for k in range(checkpoints):
        t = start + timedelta(minutes=k * 4)
        task = f"CAB-{k % claims}"
        cp = {
            "task": task,
            "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S"),
            "branch": f"fix/{task}",
            "git_sha": "abc1234",
            "pr_number": k,
            "steps_completed": ["branch", "code"],
            "steps_remaining": ["merge"],
        }
        (cp_dir / f"{t:%Y-%m-%dT%H-%M}-{task}.json").write_text(json.dumps(cp))


def run_on_a_warm_copy(factory: Path, tree: Path, script: str, *args: str) -> str:
    """``python -c script COPY *args`` with ``tree``'s package first on the path, on a fresh
    copy (COPY) of ``factory`` whose fold cache a ``status`` run made first, in a cache folder
    of its own (``FACTORY_TUI_CACHE_DIR``): what a cockpit started before would have. Its
    standard output; the copy is removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as folder:
        copy = Path(folder) / "factory"
        shutil.copytree(factory, copy, symlinks=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "FACTORY_TUI_CACHE_DIR": str(Path(folder) / "cache"),
        }
        status = [sys.executable, "-m", "factory_tui", "status", "--json", str(copy)]
        subprocess.run(status, check=True, capture_output=True, env=env, cwd=folder)
        timed = [sys.executable, "-c", script, str(copy), *args]
        done = subprocess.run(
            timed, check=True, capture_output=True, text=True, env=env, cwd=folder
        )
        return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30, help="how long the history spans")
    args = parser.parse_args()
    started = time.perf_counter()
    generate(
        args.dir,
        agents=args.agents,
        claims=args.claims,
        lines=args.lines,
        checkpoints=args.checkpoints,
        days=args.days,
    )
    print(f"scale factory written to {args.dir} in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
