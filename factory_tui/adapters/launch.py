"""Start an agent command in a worktree: in a new tmux window when the cockpit runs inside tmux,
otherwise detached (its own session, no terminal) with its output going to a named file.

Always an argv list, never a shell. tmux expands formats (``#{...}``, ``#(command)``) in a
window's name and start directory, so the name is reduced to plain characters and every ``#`` of
the directory is doubled; the command and the ``-e`` variables are passed literally.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from factory_tui.adapters.tmux import Tmux, TmuxError, TmuxTimeout

__all__ = [
    "LaunchError",
    "LaunchRequest",
    "Launched",
    "checked_folder",
    "inside_tmux",
    "launch_agent",
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class LaunchError(Exception):
    """The agent could not be started; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class LaunchRequest:
    argv: tuple[str, ...]
    """The agent's command line: ``argv[0]`` is looked up on PATH."""
    cwd: Path
    env: Mapping[str, str]
    """Variables added to the agent's environment."""
    name: str
    """A short label: the tmux window's name (reduced to ``[A-Za-z0-9._-]``)."""
    log_file: Path
    """Where a detached agent's stdout and stderr go."""


@dataclass(frozen=True)
class Launched:
    mode: Literal["tmux", "detached"]
    argv: tuple[str, ...]
    cwd: Path
    pid: int | None = None
    window: str | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)
    """The detached child (so a caller may wait for it); ``None`` in tmux."""

    def describe(self) -> str:
        if self.mode == "tmux":
            return f"in tmux window {self.window or '(new)'}, in {self.cwd}"
        return f"detached as pid {self.pid}, in {self.cwd}; its output goes to {self.log_file}"


def inside_tmux(env: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get("TMUX"))


def window_name(name: str) -> str:
    return _UNSAFE_NAME.sub("-", name).strip("-")[:40] or "agent"


def launch_agent(
    request: LaunchRequest, *, tmux: bool | None = None, timeout_s: float = 10.0
) -> Launched:
    """Start ``request.argv``; raises ``LaunchError`` (nothing started) when it cannot."""
    if not request.argv:
        raise LaunchError("the agent command is empty: set agent_command in factory.toml")
    if not request.cwd.is_dir():
        raise LaunchError(f"{request.cwd} is not a directory: the worktree is gone")
    exe = shutil.which(request.argv[0])
    if exe is None:
        raise LaunchError(
            f"{request.argv[0]} is not on PATH: install it, or set agent_command in factory.toml"
        )
    use_tmux = inside_tmux() if tmux is None else tmux
    if use_tmux:
        return _in_tmux(request, timeout_s)
    return _detached(request, exe)


def _in_tmux(request: LaunchRequest, timeout_s: float) -> Launched:
    server = Tmux(timeout_s=timeout_s)
    if server.executable() is None:
        raise LaunchError("$TMUX is set but tmux is not on PATH; nothing was started")
    args = [
        "new-window",
        "-d",
        "-P",
        "-F",
        "#{session_name}:#{window_index}",
        "-c",
        str(request.cwd).replace("#", "##"),
        "-n",
        window_name(request.name),
    ]
    for key, value in request.env.items():
        args += ["-e", f"{key}={value}"]
    # Two or more words after "--" are executed as they are; one would go through a shell.
    command = list(request.argv) if len(request.argv) > 1 else ["env", "--", *request.argv]
    try:
        out = server.run(*args, "--", *command)
    except TmuxTimeout as error:
        raise LaunchError(f"{error}; check the window list") from None
    except TmuxError as error:
        raise LaunchError(str(error)) from error
    return Launched("tmux", tuple(request.argv), request.cwd, window=out.strip() or None)


_OUTPUT_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | os.O_NOFOLLOW
    | os.O_NONBLOCK
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
"""The output file, opened without following a link or waiting for a FIFO's reader."""


def checked_folder(folder: Path) -> None:
    """Make ``folder`` (under the memory folder, which agents write) if it is missing, and
    check that it is a folder, not a link to one (what factory-tui writes there would go where
    the link points); else :class:`LaunchError` that says what is there."""
    os.close(_folder_fd(folder))


def _folder_fd(folder: Path) -> int:
    """A descriptor of ``folder``, made if missing, opened without following a link."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # something else is there: the open below says what
    except OSError as error:
        raise _refused(folder, error, "folder") from None
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise _refused(folder, error, "folder") from None


def _open_output(path: Path) -> BinaryIO:
    """The detached agent's output file, to append to. It lies in the memory folder, which
    agents write: no link is followed, of the file or of its folder (the agent's output would
    go to a file it names, or into a folder it names), and anything but a regular file of its
    own is refused (a FIFO's open waits for a reader that never comes; a hard link shares its
    data with another file)."""
    dir_fd = _folder_fd(path.parent)
    try:
        fd = os.open(path.name, _OUTPUT_FLAGS, 0o644, dir_fd=dir_fd)
    except OSError as error:
        raise _refused(path, error, "output file") from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LaunchError(f"{path}: not a regular file; remove it, nothing was started")
        if st.st_nlink != 1:
            raise LaunchError(
                f"{path}: a hard link to another file; remove it, nothing was started"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def _refused(path: Path, error: OSError, what: str) -> LaunchError:
    """Why the agent's output file or its folder (``what``) at ``path`` could not be
    opened."""
    link = error.errno == errno.ELOOP  # a link, where O_NOFOLLOW opened it
    if link or error.errno == errno.ENOTDIR:  # (of a folder: O_DIRECTORY met the link)
        said = "a symbolic link" if link or path.is_symlink() else "not a folder"
    elif error.errno == errno.EISDIR:
        said = "a folder"
    elif error.errno == errno.ENXIO:  # a FIFO without a reader
        said = "not a regular file"
    else:
        return LaunchError(
            f"cannot open the agent's {what} {path}: {error.strerror}; check it and its "
            "permissions, nothing was started"
        )
    return LaunchError(f"{path}: {said}; remove it, nothing was started")


def _detached(request: LaunchRequest, exe: str) -> Launched:
    env = {**os.environ, **request.env}
    out = _open_output(request.log_file)
    try:
        with out:
            process = subprocess.Popen(
                [exe, *request.argv[1:]],
                cwd=request.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as error:
        raise LaunchError(
            f"{request.argv[0]} could not start: {error.strerror or error}; nothing was started"
        ) from error
    return Launched(
        "detached",
        tuple(request.argv),
        request.cwd,
        pid=process.pid,
        log_file=request.log_file,
        process=process,
    )
