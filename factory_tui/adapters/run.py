"""Running an outside tool (``gh``) with a time limit, and leaving nothing behind.

``subprocess.run(timeout=...)`` kills only the child it started: ``gh`` may have started helpers
(a credential helper, a git, a pager) that keep running, holding its pipes open. Here the tool
gets a session (and so a process group) of its own, and on a timeout the whole group is killed
and the child reaped before the caller hears of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["run_tool"]


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (never through a shell), stdin closed, stdout and stderr captured as bytes.

    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds, once every process of the
    tool's group is killed; ``OSError`` (``FileNotFoundError`` included) when it cannot start.
    """
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:  # the timeout, or ctrl-c while waiting: nothing may outlive us
            _kill_group(process)
            raise
    return subprocess.CompletedProcess(list(argv), process.returncode, out, err)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the tool's process group (its id is the tool's pid), then reap the tool."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
