"""Where things are without being told: git's layout (the top level, the main worktree of a
linked one), Claude Code's project and memory folders, the user config file.

Nothing here starts a process: git's layout is read from the ``.git`` file and ``commondir``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

from factory_tui.config.model import ENV_PREFIX
from factory_tui.config.regular_files import GIT_FILE_BYTES, read_regular

CLAUDE_PROJECT_NAME_MAX = 200
"""Claude Code truncates an encoded project folder name past this many characters."""


def find_root(start: Path | None = None) -> Path:
    """The git top level of ``start`` (default: the current directory), else ``start`` itself.

    Walks up looking for ``.git`` (a directory, or a file in a linked worktree or submodule), as
    ``git rev-parse --show-toplevel`` would, without starting git. The result is absolute and
    resolved; a ``start`` that is not an existing directory is returned as is (resolved), so the
    caller reports it rather than silently using some parent repository.
    """
    base = (Path.cwd() if start is None else Path(start).expanduser()).resolve()
    if not base.is_dir():
        return base
    for candidate in (base, *base.parents):
        if (candidate / ".git").exists():
            return candidate
    return base


def main_worktree(root: Path) -> Path | None:
    """The main worktree of ``root`` when ``root`` is a LINKED git worktree, else ``None``.

    A linked worktree has a ``.git`` file ``gitdir: <main>/.git/worktrees/<name>``; that folder's
    ``commondir`` file points (usually ``../..``) at the main repository's ``.git``, whose parent is
    the main worktree. A submodule's ``.git`` file has no ``commondir``: not a linked worktree.
    A bare main repository has no main worktree: ``None``.
    """
    dotgit = root / ".git"
    try:
        if not dotgit.is_file():
            return None
        text = read_regular(dotgit, GIT_FILE_BYTES, whole=False).decode(errors="replace")
    except OSError:
        return None
    first = text.splitlines()[0].strip() if text.strip() else ""
    if not first.startswith("gitdir:"):
        return None
    gitdir = Path(first.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = root / gitdir
    try:
        raw = read_regular(gitdir / "commondir", GIT_FILE_BYTES, whole=False)
        common_text = raw.decode(errors="replace").strip()
    except OSError:
        return None
    if not common_text:
        return None
    common = Path(common_text)
    if not common.is_absolute():
        common = gitdir / common
    common = common.resolve()
    if common.name != ".git":
        return None
    main = common.parent
    if not main.is_dir() or main == root.resolve():
        return None
    return main


def _js_hash36(text: str) -> str:
    """A JavaScript-style 32-bit string hash (``h = (h << 5) - h + unit``), ``abs``, base 36."""
    data = text.encode("utf-16-le")
    value = 0
    for index in range(0, len(data), 2):
        value = (value * 31 + (data[index] | data[index + 1] << 8)) & 0xFFFFFFFF
    if value >= 0x80000000:
        value -= 0x100000000
    value = abs(value)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def encode_project_path(path: Path) -> str:
    """Claude Code's folder name for a project: every character not ``[A-Za-z0-9]`` becomes ``-``.

    ``/Users/me/repos/stoa`` → ``-Users-me-repos-stoa``. Claude Code does this with a JavaScript
    regex over UTF-16 code units, so a character outside the BMP (an emoji) becomes ``--``; this
    does the same. Past ``CLAUDE_PROJECT_NAME_MAX`` (200) characters the name is cut at 200 and
    ``-`` plus a short hash of the path is appended. The hash here is a JavaScript-style
    31-multiplier string hash in base 36; the exact hash a given Claude Code build uses may
    differ (native builds may use another one), which is why discovery also scans
    ``<claude>/projects/`` for folders whose name starts with the first 200 characters (see
    ``project_dir_candidates``).
    """
    text = str(path)
    encoded = "".join(
        ch if ch.isascii() and ch.isalnum() else ("--" if ord(ch) > 0xFFFF else "-") for ch in text
    )
    if len(encoded) <= CLAUDE_PROJECT_NAME_MAX:
        return encoded
    return f"{encoded[:CLAUDE_PROJECT_NAME_MAX]}-{_js_hash36(text)}"


def project_dir_candidates(claude_config_dir: Path, path: Path) -> list[Path]:
    """Claude Code project folders that may belong to ``path``, best first.

    The exactly encoded name first; for a long path, then every existing folder under
    ``<claude>/projects/`` named ``<first 200 characters>-<anything>`` (sorted), since the
    hash suffix may not be ours.
    """
    projects = claude_config_dir / "projects"
    encoded = encode_project_path(path)
    found = [projects / encoded]
    if len(encoded) > CLAUDE_PROJECT_NAME_MAX:
        prefix = encoded[:CLAUDE_PROJECT_NAME_MAX] + "-"
        try:
            names = sorted(entry.name for entry in projects.iterdir() if entry.is_dir())
        except OSError:
            names = []
        found.extend(projects / name for name in names if name.startswith(prefix))
    unique: list[Path] = []
    for candidate in found:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def discover_memory_dir(claude_config_dir: Path, root: Path, main: Path | None) -> tuple[Path, str]:
    """Claude Code's memory folder for ROOT: the first that exists among ROOT's then main's.

    Claude Code keys a project by the folder it started in; since 2.1.63 its auto memory is
    shared by all worktrees of a repository under the main worktree's name. So for a linked
    worktree both are candidates, ROOT's first; when neither exists yet, the main worktree's
    (where a current Claude Code will create it), else ROOT's.
    """
    owners: list[tuple[Path, str]] = [(root, "discovered: Claude Code memory folder")]
    if main is not None:
        owners.append((main, "discovered: Claude Code memory folder of the main worktree"))
    for owner, source in owners:
        for project in project_dir_candidates(claude_config_dir, owner):
            if (project / "memory").is_dir():
                return project / "memory", source
    fallback = main if main is not None else root
    encoded = encode_project_path(fallback)
    return (
        claude_config_dir / "projects" / encoded / "memory",
        "default: Claude Code memory folder, not created yet",
    )


def user_config_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The user config file: ``FACTORY_TUI_USER_CONFIG`` if set (empty: none), else platform's."""
    environ = os.environ if env is None else env
    override = environ.get(ENV_PREFIX + "USER_CONFIG")
    if override is not None:
        return expand_path(override, Path.cwd(), environ) if override.strip() else None
    return platformdirs.user_config_path("factory-tui") / "config.toml"


def expand_path(raw: str, base: Path, env: Mapping[str, str]) -> Path:
    """``raw`` as an absolute path: ``~`` is ``env``'s HOME; a relative path is below ``base``.
    Taken as written: a name may start or end with a space (trimmed, it named another folder)."""
    text = raw
    if text == "~" or text.startswith(("~/", "~" + os.sep)):
        home = env.get("HOME") or env.get("USERPROFILE")
        text = (home if home else str(Path.home())) + text[1:]
    else:
        text = os.path.expanduser(text)
    path = Path(text)
    if not path.is_absolute():
        path = base / path
    return Path(os.path.abspath(path))


def expand_claude_dirs(patterns: Sequence[str]) -> tuple[Path, ...]:
    """The folders the patterns name, in order, without repeats: a glob gives the existing
    folders it matches (sorted), a plain path itself (existing or not)."""
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            paths = [Path(p) for p in sorted(glob.glob(pattern)) if os.path.isdir(p)]
        else:
            paths = [Path(pattern)]
        found.extend(path for path in paths if path not in found)
    return tuple(found)
