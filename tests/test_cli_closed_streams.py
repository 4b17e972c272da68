"""A command started with a standard stream closed (``factory-tui status --json >&-``: cron, a
service unit): Python sets ``sys.stdout`` to None and the first write was a traceback. Now the
closed descriptor is opened on the null device: the answer is dropped as on a closed pipe, the
exit code still says what ``--fail-on`` found, and no file opened later takes the number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_foldcache import make_factory

REPO = str(Path(__file__).resolve().parents[1])  # this checkout's code, whatever is installed

CRASHED = "2026-02-12T10:00 | SESSION-START | task=T-1 branch=b instance=i1\n"
"""A session that never ended: crashed six hours later."""


def _closing(*fds: int) -> object:
    def close() -> None:
        for fd in fds:
            os.close(fd)

    return close


def _run(argv: list[str], cwd: Path, *closed: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": REPO, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "factory_tui", *argv],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if 2 in closed else subprocess.PIPE,
        text=True,
        preexec_fn=_closing(*closed),  # type: ignore[arg-type]
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("form", [["--json"], []])
def test_status_with_its_standard_output_closed_drops_the_answer(
    tmp_path: Path, form: list[str]
) -> None:
    config = make_factory(tmp_path / "factory")
    config.log_file.write_text(CRASHED)
    argv = ["status", *form, "--no-cache", "--now", "2026-02-12T16:00", str(tmp_path / "factory")]
    done = _run(argv, tmp_path, 1)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_gate_with_its_standard_output_closed_still_says_what_it_found(tmp_path: Path) -> None:
    config = make_factory(tmp_path / "factory")
    config.log_file.write_text(CRASHED)
    out = str(tmp_path / "snapshot.txt")
    argv = ["snapshot", "--output", out, "--fail-on", "crashed", "--now", "2026-02-12T16:00"]
    done = _run([*argv, str(tmp_path / "factory")], tmp_path, 1)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "--fail-on holds" in done.stderr and Path(out).read_text().strip()
    assert _run([*argv, str(tmp_path / "factory")], tmp_path, 1, 2).returncode == 1


def test_a_closed_standard_descriptor_is_held_by_the_null_device() -> None:
    """No file opened later gets its number: a write meant for the terminal (or a child's
    output) would land in that file."""
    code = (
        "import os, sys\n"
        "from factory_tui.cli import open_closed_standard_streams\n"
        "open_closed_standard_streams()\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "print(fd, os.readlink('/proc/self/fd/1'), sys.stdout is not None, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run(
        [sys.executable, "-c", code, __file__],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_closing(1),  # type: ignore[arg-type]
        timeout=60,
        check=True,
    )
    fd, target, stream = done.stderr.split()
    assert int(fd) > 2 and target == os.devnull and stream == "True"
