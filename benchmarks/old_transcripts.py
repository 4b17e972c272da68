"""Many old Claude Code transcripts under a Claude config folder, for the benchmarks.

    python benchmarks/old_transcripts.py CLAUDE_DIR [--mb 200] [--worktree PATH ...]

A long-used ``~/.claude`` holds months of sessions: hundreds of ``*.jsonl`` files, hundreds of
MB. They are written here a month old, a tenth of them in the project folders of the given
worktrees (where the cockpit looks for each agent's live transcript, so it must pass them over),
the rest in other projects' folders. Each line is a model response as Claude Code writes it
(usage, text, a tool call), about 1.5 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from factory_tui.config import encode_project_path

FILE_BYTES = 512 << 10
AGE_S = 30 * 86_400


def _blob(session: str, cwd: str) -> bytes:
    """About FILE_BYTES of transcript lines of one old session."""
    lines: list[str] = []
    size = 0
    n = 0
    while size < FILE_BYTES:
        line = json.dumps(
            {
                "parentUuid": f"{session}-{n - 1}" if n else None,
                "isSidechain": False,
                "userType": "external",
                "cwd": cwd,
                "sessionId": session,
                "version": "2.0.31",
                "gitBranch": "main",
                "type": "assistant",
                "uuid": f"{session}-{n}",
                "timestamp": "2026-01-10T10:00:00.000Z",
                "message": {
                    "id": f"msg_{session}_{n}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [
                        {"type": "text", "text": "Looking at the failing test. " * 20},
                        {
                            "type": "tool_use",
                            "id": f"toolu_{n}",
                            "name": "Bash",
                            "input": {"command": "pytest -x -q tests/", "description": "tests"},
                        },
                    ],
                    "stop_reason": "tool_use",
                    "usage": {
                        "input_tokens": 12,
                        "cache_creation_input_tokens": 1800,
                        "cache_read_input_tokens": 60_000 + n * 10,
                        "output_tokens": 420,
                    },
                },
            },
            separators=(",", ":"),
        )
        lines.append(line)
        size += len(line) + 1
        n += 1
    return ("\n".join(lines) + "\n").encode()


def write_old_transcripts(claude: Path, worktrees: list[Path], mb: int) -> tuple[int, int]:
    """Write about ``mb`` MB of old transcripts under ``claude/projects``; (files, bytes)."""
    projects = claude / "projects"
    count = max(1, (mb << 20) // FILE_BYTES)
    mine = count // 10 if worktrees else 0
    old = time.time() - AGE_S
    written = 0
    blob_cache: dict[str, bytes] = {}
    for k in range(count):
        if k < mine:
            tree = worktrees[k % len(worktrees)]
        else:
            tree = Path(f"/home/dev/old-project-{k % 40}")
        folder = projects / encode_project_path(tree)
        folder.mkdir(parents=True, exist_ok=True)
        session = f"0ld{k:05d}-0000-4000-8000-000000000000"
        cwd = str(tree)
        blob = blob_cache.get(cwd)
        if blob is None:
            blob = blob_cache[cwd] = _blob("0ld", cwd)
        path = folder / f"{session}.jsonl"
        path.write_bytes(blob)
        stamp = old - k * 600
        os.utime(path, (stamp, stamp))
        written += len(blob)
    return count, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("claude_dir", type=Path)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--worktree", type=Path, action="append", default=[])
    args = parser.parse_args()
    files, size = write_old_transcripts(args.claude_dir, args.worktree, args.mb)
    print(f"{files} old transcripts, {size / 2**20:.0f} MB, under {args.claude_dir}")


if __name__ == "__main__":
    main()
