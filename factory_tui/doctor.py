"""``factory-tui doctor``: every resolved path, whether it exists, where each value came from, and
which optional tools are on PATH. Building the lines is separate from rendering them, so the CLI
can print a table or JSON and choose its exit code.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from factory_tui.adapters.hegemon_remote import RemoteError, load_credentials
from factory_tui.adapters.hegemon_store import StoreUnreadable, read_store
from factory_tui.config import Config, format_duration, missing_inputs, not_found_sentence
from factory_tui.core.safe import printable

__all__ = [
    "OPTIONAL_TOOLS",
    "DoctorLine",
    "doctor_json",
    "doctor_report",
    "missing_inputs",
    "not_found_sentence",
    "render_doctor",
]

OPTIONAL_TOOLS: tuple[str, ...] = ("git", "gh", "tmux", "claude")

_KIND_TITLES = {
    "path": "Paths",
    "setting": "Settings",
    "config-file": "Config files",
    "tool": "Tools",
    "extra": "Other config keys",
    "store": "The real factory's store (HEGEMON)",
}


@dataclass(frozen=True)
class DoctorLine:
    """One fact. ``kind``: path, setting, config-file, tool or extra.

    ``exists`` is ``None`` where existence means nothing (a setting). ``note`` adds what a yes/no
    hides: a symlink's target, a folder where a file was expected.
    """

    kind: str
    name: str
    value: str
    exists: bool | None
    source: str
    note: str = ""


def _path_line(name: str, path: Path, source: str, *, want_dir: bool) -> DoctorLine:
    exists = path.exists()
    notes: list[str] = []
    if path.is_symlink():
        try:
            target = path.readlink()
        except OSError:
            target = None
        notes.append(f"symlink to {target}" if target is not None else "symlink")
        if not exists:
            notes.append("broken symlink")
    if exists and want_dir and not path.is_dir():
        notes.append("not a directory")
    if exists and not want_dir and path.is_dir():
        notes.append("a directory, expected a file")
    return DoctorLine("path", name, str(path), exists, source, "; ".join(notes))


def _claude_dir_lines(config: Config) -> list[DoctorLine]:
    """One line per Claude Code config folder (``claude_config_dir``, then ``[2]``, ``[3]``…),
    and one per glob that matches no folder, so a mistyped pattern shows."""
    source = config.sources.get("claude_config_dir", "")
    lines = [
        _path_line(
            "claude_config_dir" if index == 0 else f"claude_config_dir[{index + 1}]",
            path,
            source,
            want_dir=True,
        )
        for index, path in enumerate(config.claude_dirs)
    ]
    for pattern in config.claude_config_patterns:
        if glob.has_magic(pattern) and not glob.glob(pattern):
            lines.append(
                DoctorLine(
                    "path",
                    f"claude_config_dir {pattern}",
                    pattern,
                    False,
                    source,
                    "glob matches no folder",
                )
            )
    return lines


def _setting_value(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return " ".join(str(part) for part in value)
    return str(value)


def doctor_report(
    config: Config, *, which: Callable[[str], str | None] = shutil.which
) -> list[DoctorLine]:
    """Every resolved path (exists?), every setting with its source, the config files looked
    for, the optional tools (git, gh, tmux, claude, and the agent command if it is another one)
    and any extra config keys."""
    src = config.sources
    lines: list[DoctorLine] = [
        _path_line("root", config.root, src.get("root", ""), want_dir=True),
        _path_line("claims_dir", config.claims_dir, src["claims_dir"], want_dir=True),
        _path_line("memory_dir", config.memory_dir, src["memory_dir"], want_dir=True),
        _path_line("log_file", config.log_file, src["log_file"], want_dir=False),
        _path_line("log_history", config.log_history_file, "log_file + .1", want_dir=False),
        _path_line("metrics_file", config.metrics_file, src["metrics_file"], want_dir=False),
        _path_line(
            "checkpoints_dir", config.checkpoints_dir, src["checkpoints_dir"], want_dir=True
        ),
        _path_line("plan_file", config.plan_file, src["plan_file"], want_dir=False),
        _path_line("memory_file", config.memory_file, src["memory_file"], want_dir=False),
        _path_line(
            "council_history", config.council_history, src["council_history"], want_dir=False
        ),
        *_claude_dir_lines(config),
    ]
    for name in (
        "stale_after",
        "lock_stale_after",
        "idle_after",
        "daily_budget_usd",
        "agent_budget_usd",
        "theme",
        "read_only",
        "notify",
        "bell",
        "agent_command",
    ):
        value = _setting_value(getattr(config, name))
        lines.append(DoctorLine("setting", name, value, None, src.get(name, "")))
    for label, path in config.config_files.items():
        probe = _path_line(label, path, "", want_dir=False)
        lines.append(
            DoctorLine(
                "config-file",
                label,
                str(path),
                probe.exists,
                "read" if probe.exists else "not found",
                probe.note,
            )
        )
    tools = list(OPTIONAL_TOOLS)
    if config.agent_command and config.agent_command[0] not in tools:
        tools.append(config.agent_command[0])
    for tool in tools:
        found = which(tool)
        value = found if found else "not on PATH"
        note = _GIT_NEEDED if tool == "git" and not found else ""
        lines.append(DoctorLine("tool", tool, value, found is not None, "PATH", note))
    lines.extend(store_lines(config))
    for key, extra_value in config.extra.items():
        if key in ("hegemon", "hosts"):
            continue  # shown above, without what a URL may hide (a password)
        lines.append(
            DoctorLine("extra", key, _short(repr(extra_value)), None, src.get(f"extra.{key}", ""))
        )
    return lines


def _url_shown(url: str) -> str:
    """Scheme, host and port of a URL: never a user or password written into it."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "(not a URL)"


def store_lines(config: Config) -> list[DoctorLine]:
    """The local store (path, schema, row counts), whether a server is configured, and the
    hosts reached over SSH."""
    hegemon = config.hegemon
    if hegemon is None:
        return []
    db = hegemon.db
    lines = [_path_line("store", db, hegemon.db_source, want_dir=False)]
    lines[0] = replace(lines[0], kind="store")
    if db.is_file():
        try:
            snapshot = read_store(db)
        except StoreUnreadable as error:
            lines.append(DoctorLine("store", "store schema", "unreadable", False, "", str(error)))
        else:
            lines.append(DoctorLine("store", "store schema", snapshot.schema, None, str(db)))
            counts = ", ".join(f"{table} {n}" for table, n in snapshot.counts.items())
            lines.append(DoctorLine("store", "store rows", counts or "(no tables)", None, str(db)))
    remote = hegemon.remote_url
    lines.append(
        DoctorLine(
            "store",
            "remote",
            _url_shown(remote) if remote else "not configured",
            None,
            hegemon.remote_source or "[hegemon] remote_url or HEGEMON_REMOTE_URL",
        )
    )
    if remote:
        creds = load_credentials(hegemon, os.environ)
        where = (
            f"file {hegemon.credentials_file}"
            if hegemon.credentials_file is not None
            else "env HEGEMON_REMOTE_EMAIL / HEGEMON_REMOTE_PASSWORD"
        )
        found = not isinstance(creds, RemoteError)
        lines.append(
            DoctorLine(
                "store",
                "remote credentials",
                "found (not shown)" if found else "missing",
                found,
                where,
                "" if found else str(creds),
            )
        )
    for name, argv in hegemon.hosts.items():
        lines.append(DoctorLine("store", f"host {name}", " ".join(argv), None, "[hosts] in config"))
    return lines


_GIT_NEEDED = (
    "recovery and local PRs need it: install git (apt-get install git) or set "
    "GIT_PYTHON_GIT_EXECUTABLE"
)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _printable(text: str) -> str:
    """Control characters (a path can hold an ESC) become visible escapes, never terminal codes;
    a newline would break the table's row."""
    return printable(text, multiline=False)


def _exists_cell(line: DoctorLine) -> str:
    if line.exists is None:
        return "-"
    return "yes" if line.exists else "no"


def render_doctor(lines: Iterable[DoctorLine]) -> str:
    """A plain aligned text table, one section per kind: NAME, VALUE, EXISTS, SOURCE (+ NOTE)."""
    rows = list(lines)
    header = ("NAME", "VALUE", "EXISTS", "SOURCE", "NOTE")
    cells = [
        (
            _printable(line.name),
            _printable(line.value),
            _exists_cell(line),
            _printable(line.source),
            _printable(line.note),
        )
        for line in rows
    ]
    with_note = any(cell[4] for cell in cells)
    width = len(header) if with_note else len(header) - 1
    widths = [max([len(header[i])] + [len(cell[i]) for cell in cells]) for i in range(width)]

    def fmt(parts: tuple[str, ...]) -> str:
        return "  ".join(part.ljust(widths[i]) for i, part in enumerate(parts[:width])).rstrip()

    out: list[str] = [fmt(header)]
    current_kind: str | None = None
    for line, cell in zip(rows, cells, strict=True):
        if line.kind != current_kind:
            current_kind = line.kind
            out.append("")
            out.append(_KIND_TITLES.get(line.kind, line.kind.capitalize()))
        out.append(fmt(cell))
    return "\n".join(out) + "\n"


def doctor_json(lines: Iterable[DoctorLine]) -> list[dict[str, object]]:
    """The lines as JSON-ready dicts: kind, name, value, exists (true/false/null), source, note."""
    return [asdict(line) for line in lines]
