"""Issue 11: ``factory-tui cost`` against ccusage on the same transcripts, per day, to the cent.

    python benchmarks/compare_ccusage.py [--ccusage PATH] [--keep DIR]

Generates a transcript set in a temporary ``CLAUDE_CONFIG_DIR`` (one day per case, so a
disagreement names its case): streamed duplicates (same ``message.id`` + ``requestId``, the
first line with partial counts), a subagent's replay of its parent's message (same
``message.id``, a new ``requestId``, ``isSidechain``), 5-minute and 1-hour cache writes, fast
mode (``usage.speed == "fast"``), a retired model id, and a long-context request. Runs
``factory-tui cost --json --by day`` and ``ccusage daily --json --offline`` (both in UTC) and
prints a table. ccusage is found by ``--ccusage``, ``$CCUSAGE_BIN``, on PATH, or in
``~/.cache/factory-tui-test/ccusage`` (installed there with npm when missing).

Where they may disagree, and why (``EXPECTED_DIFFERENT``): ccusage prices a long-context
request per kind of token, only the tokens of a kind past 200k at the long rate; Anthropic bills
every token of a request whose prompt (input + cache writes + cache reads) is over 200k at the
long rates (pricing page, "Long context pricing"). A prompt of 150k input + 80k cache reads is
230k: ccusage bills it all at the standard rates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CCUSAGE_VERSION = "20.0.24"
"""Pinned: 20.0.26's linux-x64 binary package was missing from the registry when written."""
CACHE_DIR = Path.home() / ".cache" / "factory-tui-test" / "ccusage"

#: Day → why ccusage's figure is not the price (ours is checked against the price instead).
EXPECTED_DIFFERENT = {
    "2026-03-04": "long context: ccusage prices only tokens past 200k of each kind at the long "
    "rate; the whole request is billed at it when its prompt is over 200k",
}

_MTOK = 1e-6


def _line(
    *,
    at: str,
    message_id: str,
    request_id: str,
    model: str,
    usage: dict[str, Any],
    cwd: str,
    session: str,
    sidechain: bool = False,
) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "timestamp": at,
            "requestId": request_id,
            "isSidechain": sidechain,
            "sessionId": session,
            "cwd": cwd,
            "gitBranch": "main",
            "version": "2.1.80",
            "uuid": f"u-{message_id}-{request_id}-{len(json.dumps(usage))}",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "usage": usage,
                "content": [{"type": "text", "text": "ok"}],
            },
        },
        separators=(",", ":"),  # compact, as Claude Code writes (ccusage looks for the bytes)
    )


def _usage(
    inp: int, out: int, *, w5: int = 0, w1h: int = 0, read: int = 0, speed: str | None = None
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_creation_input_tokens": w5 + w1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h},
    }
    if speed is not None:
        usage["speed"] = speed
    return usage


def expected_usd() -> dict[str, float]:
    """Each day's price from the published prices (US dollars per MTok), by hand."""
    sonnet_cache = 1000 * 3 + 2000 * 15 + 40_000 * 3.75 + 20_000 * 6 + 100_000 * 0.3
    replayed = 500 * 3 + 300 * 15  # the parent's message, counted once
    opus46_fast = 6 * (2000 * 5 + 1000 * 25 + 10_000 * 6.25 + 50_000 * 0.5)
    opus48_fast = 2 * (1000 * 5 + 500 * 25)
    retired = 3000 * 3 + 700 * 15 + 5000 * 3.75 + 8000 * 0.3  # claude-3-5-sonnet-20241022
    long = 150_000 * 6 + 80_000 * 0.6 + 4000 * 22.5  # prompt 230k > 200k: all at long rates
    return {
        "2026-03-01": (sonnet_cache + replayed) * _MTOK,
        "2026-03-02": (opus46_fast + opus48_fast) * _MTOK,
        "2026-03-03": retired * _MTOK,
        "2026-03-04": long * _MTOK,
    }


def generate(base: Path) -> tuple[Path, Path]:
    """A repo (ROOT, with factory.toml) and a Claude config folder holding its transcripts."""
    root = base / "repo"
    claude = base / "claude"
    root.mkdir(parents=True)
    (root / "factory.toml").write_text(f'claude_config_dir = "{claude}"\n', encoding="utf-8")
    project = claude / "projects" / "-repo"
    sub = project / "s1" / "subagents"
    sub.mkdir(parents=True)
    cwd = str(root)

    def line(**kwargs: Any) -> str:
        return _line(cwd=cwd, session="s1", **kwargs)

    sonnet = "claude-sonnet-4-5-20250929"
    main = [
        # Day 1: a streamed response (partial line first), 5 m and 1 h cache writes.
        line(at="2026-03-01T10:00:00.000Z", message_id="msg_1", request_id="req_1",
             model=sonnet, usage=_usage(1000, 3, w5=40_000, w1h=20_000, read=100_000)),
        line(at="2026-03-01T10:00:05.000Z", message_id="msg_1", request_id="req_1",
             model=sonnet, usage=_usage(1000, 2000, w5=40_000, w1h=20_000, read=100_000)),
        line(at="2026-03-01T11:00:00.000Z", message_id="msg_2", request_id="req_2",
             model=sonnet, usage=_usage(500, 300)),
        # Day 2: fast mode.
        line(at="2026-03-02T10:00:00.000Z", message_id="msg_3", request_id="req_3",
             model="claude-opus-4-6",
             usage=_usage(2000, 1000, w5=10_000, read=50_000, speed="fast")),
        line(at="2026-03-02T11:00:00.000Z", message_id="msg_4", request_id="req_4",
             model="claude-opus-4-8", usage=_usage(1000, 500, speed="fast")),
        # Day 3: a retired model.
        line(at="2026-03-03T10:00:00.000Z", message_id="msg_5", request_id="req_5",
             model="claude-3-5-sonnet-20241022", usage=_usage(3000, 700, w5=5000, read=8000)),
        # Day 4: a long-context request (150k input + 80k cache reads = 230k > 200k).
        line(at="2026-03-04T10:00:00.000Z", message_id="msg_6", request_id="req_6",
             model=sonnet, usage=_usage(150_000, 4000, read=80_000)),
    ]  # fmt: skip
    (project / "s1.jsonl").write_text("\n".join(main) + "\n", encoding="utf-8")
    # The subagent replays its parent's msg_2 under a new request id.
    replay = line(
        at="2026-03-01T11:00:01.000Z",
        message_id="msg_2",
        request_id="req_2b",
        model=sonnet,
        usage=_usage(500, 300),
        sidechain=True,
    )
    (sub / "agent-a.jsonl").write_text(replay + "\n", encoding="utf-8")
    return root, claude


def _utc_env(claude: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TZ": "UTC", "CLAUDE_CONFIG_DIR": str(claude), "FACTORY_TUI_USER_CONFIG": ""})
    return env


OURS = [sys.executable, "-m", "factory_tui", "cost", "--json", "--by", "day", "--since", "all"]


def ours(root: Path, claude: Path) -> dict[str, float]:
    """``factory-tui cost --json --by day --since all``: US dollars per day."""
    result = subprocess.run(
        [*OURS, str(root)],
        capture_output=True,
        text=True,
        env=_utc_env(claude),
        check=True,
        timeout=120,
    )
    payload = json.loads(result.stdout)
    return {day: float(bucket["usd"]) for day, bucket in payload["by"].items()}


def theirs(ccusage: Path, claude: Path) -> dict[str, float]:
    """``ccusage daily --json --offline``: US dollars per day."""
    result = subprocess.run(
        [str(ccusage), "daily", "--json", "--offline", "--timezone", "UTC"],
        capture_output=True,
        text=True,
        env=_utc_env(claude),
        check=True,
        timeout=120,
    )
    payload = json.loads(result.stdout)
    return {
        str(row.get("date") or row["period"]): float(row["totalCost"]) for row in payload["daily"]
    }


def find_ccusage(install: bool = True) -> Path | None:
    """ccusage: ``$CCUSAGE_BIN``, on PATH, in the test cache, or installed there with npm
    (None when npm is missing or the install fails, e.g. offline)."""
    given = os.environ.get("CCUSAGE_BIN")
    if given:
        return Path(given)
    local = CACHE_DIR / "node_modules" / ".bin" / "ccusage"
    for candidate in (local, shutil.which("ccusage")):
        if candidate and _runs(Path(candidate)):
            return Path(candidate)
    npm = shutil.which("npm")
    if not install or npm is None:
        return None
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(CACHE_DIR), f"ccusage@{CCUSAGE_VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return local if done.returncode == 0 and _runs(local) else None


def _runs(path: Path) -> bool:
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return done.returncode == 0


def table(mine: dict[str, float], other: dict[str, float], price: dict[str, float]) -> str:
    rows = ["day          factory-tui     ccusage         price           agree  note"]
    for day in sorted(set(mine) | set(other) | set(price)):
        a, b, p = mine.get(day, 0.0), other.get(day, 0.0), price.get(day, 0.0)
        agree = "yes" if abs(a - b) < 0.005 else "no"
        rows.append(
            f"{day}   ${a:>10.6f}   ${b:>10.6f}   ${p:>10.6f}   {agree:<5}  "
            + EXPECTED_DIFFERENT.get(day, "")
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ccusage", type=Path, help="the ccusage executable")
    parser.add_argument("--keep", type=Path, help="generate the transcripts here and keep them")
    args = parser.parse_args()
    ccusage = args.ccusage or find_ccusage()
    if ccusage is None:
        print("ccusage not found and could not be installed (npm missing or offline)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        root, claude = generate(base)
        print(table(ours(root, claude), theirs(ccusage, claude), expected_usd()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
