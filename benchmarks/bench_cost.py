"""Issue 6's performance figures: reading Claude Code transcripts for the cost view.

    python benchmarks/bench_cost.py [--dir DIR] [--mb 200] [--appends 50]

Generates (once, in DIR) a repo with 4 worktrees and ``--mb`` megabytes of transcripts in the
shape Claude Code writes: sessions of turns (a user line with a tool result, then a response
streamed as two assistant lines with the same message id and request id), subagent files, and a
foreign project that must not be read. Then prints:

- the first read: wall time, bytes, usage records, peak RSS (target ≤ 10 s for 200 MB);
- one appended response line: the refresh time (median and max of --appends), and the bytes
  it read (must be the appended bytes only);
- the cockpit's questions afterwards: ``view(now)`` and ``report("ticket")``, and a full
  re-attribution after the fleet changed (``set_spans``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from factory_tui.adapters.transcripts import CostTracker
from factory_tui.config import load_config
from factory_tui.core.cost_attribution import Span

START = datetime(2026, 11, 1, 8, 0)
MODELS = ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
FILLER = "".join(chr(97 + (i * 7) % 26) for i in range(40_000))
WORKTREES = 4


def _text(n: int, salt: int) -> str:
    start = (salt * 131) % 20_000
    return FILLER[start : start + n]


def _turn(cwd: str, branch: str, session: str, msg: int, at: datetime, side: bool) -> list[str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    common = {"cwd": cwd, "sessionId": session, "gitBranch": branch, "isSidechain": side}
    user = {
        **common,
        "type": "user",
        "uuid": f"u{msg}",
        "timestamp": stamp,
        "message": {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": f"t{msg}", "content": _text(3000, msg)}
            ],
        },
    }
    usage = {
        "input_tokens": 4 + msg % 50,
        "cache_creation_input_tokens": 500 + msg % 700,
        "cache_read_input_tokens": 20_000 + msg % 5000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500 + msg % 700},
        "output_tokens": 1,
    }
    model = MODELS[msg % len(MODELS)]
    first = {
        **common,
        "type": "assistant",
        "uuid": f"a{msg}",
        "timestamp": stamp,
        "requestId": f"req_{session}_{msg}",
        "message": {
            "id": f"msg_{session}_{msg}",
            "model": model,
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": _text(600, msg + 1)}],
            "usage": usage,
        },
    }
    second = json.loads(json.dumps(first))
    second["uuid"] = f"b{msg}"
    second["message"]["usage"]["output_tokens"] = 150 + msg % 400
    second["message"]["content"] = [
        {"type": "tool_use", "id": f"t{msg + 1}", "name": "Edit", "input": {"x": _text(800, msg)}}
    ]
    return [json.dumps(user), json.dumps(first), json.dumps(second)]


def generate(base: Path, megabytes: int) -> Path:
    root = base / "repo"
    git = root / ".git"
    (git / "worktrees").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    trees = [(root, "main")]
    for n in range(WORKTREES):
        tree = base / f"repo-wt{n}"
        tree.mkdir()
        meta = git / "worktrees" / f"repo-wt{n}"
        meta.mkdir()
        (meta / "gitdir").write_text(f"{tree}/.git\n")
        (meta / "HEAD").write_text(f"ref: refs/heads/feat/CAB-{100 + n}-work\n")
        (meta / "commondir").write_text("../..\n")
        (tree / ".git").write_text(f"gitdir: {meta}\n")
        trees.append((tree, f"feat/CAB-{100 + n}-work"))
    (root / "factory.toml").write_text(f'claude_config_dir = "{base / "claude"}"\n')
    projects = base / "claude" / "projects"
    target = megabytes << 20
    written = 0
    msg = 0
    session_no = 0
    while written < target:
        tree, branch = trees[session_no % len(trees)]
        folder = projects / f"p-{tree.name}"
        session = f"s{session_no:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        at = START + timedelta(minutes=17 * session_no)
        parts: list[str] = []
        for _ in range(220):
            parts.extend(_turn(str(tree), branch, session, msg, at, False))
            msg += 1
            at += timedelta(seconds=20)
        data = "\n".join(parts) + "\n"
        (folder / f"{session}.jsonl").write_text(data)
        written += len(data)
        if session_no % 3 == 0:
            sub = folder / session / "subagents" / f"agent-{session}.jsonl"
            sub.parent.mkdir(parents=True)
            side: list[str] = []
            for _ in range(40):
                side.extend(_turn(str(tree), branch, session, msg, at, True))
                msg += 1
            sub.write_text("\n".join(side) + "\n")
            written += sub.stat().st_size
        session_no += 1
    foreign = projects / "p-elsewhere"
    foreign.mkdir()
    lines = [_turn("/elsewhere", "main", "f", i, START, False) for i in range(3000)]
    (foreign / "f.jsonl").write_text("\n".join(x for t in lines for x in t) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse/generate the transcripts here")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--appends", type=int, default=50)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="factory-cost-"))
    root = base / "repo"
    if not (root / "factory.toml").exists():
        print(f"generating {args.mb} MB of transcripts in {base} …", flush=True)
        t0 = time.perf_counter()
        root = generate(base, args.mb)
        print(f"  done in {time.perf_counter() - t0:.1f}s")
    config = load_config(root, flags={}, env={}, user_config=base / "none.toml")

    tracker = CostTracker(config)
    t0 = time.perf_counter()
    tracker.refresh()
    first = time.perf_counter() - t0
    stats = tracker.reader.stats
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"first read: {first:.2f} s for {stats.bytes_read / 2**20:.0f} MB in {stats.files} files "
        f"({stats.folders_counted} of {stats.folders_seen} project folders), "
        f"{len(tracker.ledger)} responses counted, {tracker.ledger.skipped['duplicate']} "
        f"duplicate lines, peak RSS {rss:.0f} MB (target ≤ 10 s)"
    )

    newest = max(
        (config.claude_config_dir / "projects" / "p-repo").glob("*.jsonl"),
        key=lambda p: p.stat().st_mtime_ns,
    )
    times: list[float] = []
    reads: list[int] = []
    for n in range(args.appends):
        line = _turn(str(root), "main", "append", 10_000_000 + n, datetime(2026, 11, 22, 9), False)
        data = (line[2] + "\n").encode()
        before = stats.bytes_read
        with newest.open("ab") as handle:
            handle.write(data)
        t0 = time.perf_counter()
        changed = tracker.refresh()
        times.append(time.perf_counter() - t0)
        reads.append(stats.bytes_read - before - len(data))
        assert changed
    print(
        f"one appended line ({len(data)} bytes): refresh median "
        f"{statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms; bytes read "
        f"beyond the appended ones: {max(reads)} (a stat per file: {stats.files} files)"
    )

    now = datetime(2026, 11, 22, 9, 30)
    t0 = time.perf_counter()
    view = tracker.view(now)
    t_view = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = tracker.report("ticket")
    t_report = time.perf_counter() - t0
    spans = [
        Span(
            "session",
            f"t{n}-abcd",
            f"CAB-{100 + n}",
            None,
            None,
            f"feat/CAB-{100 + n}-work",
            None,
            START,
            None,
        )
        for n in range(WORKTREES)
    ]
    t0 = time.perf_counter()
    tracker.ledger.set_spans(spans)
    t_spans = time.perf_counter() - t0
    print(
        f"view(now): {t_view * 1000:.1f} ms ({view.header_text()}); report(ticket): "
        f"{t_report * 1000:.1f} ms, total ${report.total.usd:.2f}; re-attribution of "
        f"{len(tracker.ledger)} responses after the fleet changed: {t_spans * 1000:.0f} ms"
    )
    tracker.close()


if __name__ == "__main__":
    main()
