"""Claude Code's transcripts for the factory's repo and every worktree of it, read incrementally.

Where: ``<claude_config_dir>/projects/<folder>/*.jsonl`` (one file per session) and
``<folder>/<session>/subagents/*.jsonl`` (a subagent's own file), in every Claude Code config
folder the config names (a factory may give each agent pane its own ``CLAUDE_CONFIG_DIR``).
Which folders: those whose transcripts say (the ``cwd`` field of their lines) they ran in the
repo or one of its worktrees, or below one. The folder's name is never decoded: Claude Code's
encoding is lossy (``/a-b`` and ``/a/b`` give the same name) and truncated past 200 characters.

How: one :class:`~factory_tui.adapters.tail.LogTail` per file, polled only when the file's stat
changed, so a refresh costs a ``stat`` per file plus the bytes appended. Tails keep their file
open; past ``max_open`` the least recently changed ones are closed, and if such a file changes
again it is read again from its start (the ledger's dedup makes that harmless; it is counted in
``stats.rereads``).

Worktrees are found from git's own files (``.git/worktrees/*/gitdir`` and ``HEAD``) without
starting git. A worktree removed with ``git worktree remove`` is no longer listed: its folder
stays counted while this reader lives, and ``[cost] projects = ["/path", ...]`` in config names
extra folders to count.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.memory import gc_paused
from factory_tui.adapters.prices import default_price_table
from factory_tui.adapters.tail import LogTail
from factory_tui.adapters.worktrees import Worktrees, worktree_branches
from factory_tui.config import Config
from factory_tui.config.regular_files import read_regular
from factory_tui.core.claims import ClaimUnit
from factory_tui.core.cost import CostLedger
from factory_tui.core.cost_attribution import Span, SpanBuilder
from factory_tui.core.cost_records import Attribution, UsageRecord, parse_transcript_line
from factory_tui.core.cost_report import COUNCIL_AGENT, CostReport, CostView, Grouping
from factory_tui.core.council_history import parse_history_line
from factory_tui.core.fleet import ProcInfo
from factory_tui.core.pricing import PriceTable, PriceTableError, Usage

__all__ = [
    "COST_KEYS",
    "CostTracker",
    "ReadStats",
    "RepoFolders",
    "TranscriptReader",
    "instance_cwds",
    "prices_from_config",
    "repo_paths",
    "spans_from_reader",
    "worktree_branches",
]

COST_KEYS = ("on_budget", "prices", "projects")
"""Keys of the ``[cost]`` config table."""

_CWD = re.compile(rb'"cwd"\s*:\s*("(?:[^"\\]|\\.)*")')
_PEEK_BYTES = 256 << 10
_PEEK_FILES = 4


# --------------------------------------------------------------------------------------------
# Git layout


def repo_paths(root: Path, extra: Sequence[Path] = ()) -> list[str]:
    """The folders whose transcripts count: the repo, each worktree, ``extra``; each as given and
    resolved (a symlinked checkout is seen under both names)."""
    return _forms_of([*worktree_branches(root), *extra])


def _forms_of(paths: Sequence[Path]) -> list[str]:
    """Each path as given and resolved, once."""
    found: dict[str, None] = {}
    for path in paths:
        for form in (os.path.abspath(path), os.path.realpath(path)):
            found.setdefault(form.rstrip("/") or "/", None)
    return list(found)


class RepoFolders:
    """:func:`repo_paths` for every refresh of a reader, worked out again only when git's
    worktrees changed (:class:`~factory_tui.adapters.worktrees.Worktrees`: a ``stat`` per file
    git keeps them in), not by reading two files and two ``realpath`` walks per worktree on
    every re-read of the spend (every 10 s, issue 17). A symlink in a worktree's path
    re-pointed alone is seen at the next change of the worktrees."""

    def __init__(self, root: Path, extra: Sequence[Path] = ()) -> None:
        self.worktrees = Worktrees(root)
        self.extra = tuple(extra)
        self._generation = -1
        self._paths: list[str] = []

    def __call__(self) -> list[str]:
        trees = self.worktrees.branches()
        if self.worktrees.generation != self._generation:
            self._generation = self.worktrees.generation
            self._paths = _forms_of([*trees, *self.extra])
        return list(self._paths)


def _inside(cwd: str, folders: Sequence[str]) -> bool:
    cwd = cwd.rstrip("/") or "/"
    return any(cwd == f or cwd.startswith(f if f == "/" else f + "/") for f in folders)


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class ReadStats:
    """What the reader has done, for ``doctor``-style reports and the benchmark."""

    folders_seen: int = 0
    folders_counted: int = 0
    files: int = 0
    open_files: int = 0
    bytes_read: int = 0
    lines_read: int = 0
    records: int = 0
    rereads: int = 0
    problems: list[str] = field(default_factory=list)


class _File:
    __slots__ = ("key", "stamp", "tail")

    def __init__(self) -> None:
        self.tail: LogTail | None = None
        self.key: tuple[int, int, int] | None = None
        self.stamp = 0


def _peek_cwd(folder: Path) -> str | None:
    """The ``cwd`` a project folder's transcripts ran in: the first one found in the first bytes
    of its newest files."""
    try:
        files = [e for e in os.scandir(folder) if e.name.endswith(".jsonl") and e.is_file()]
    except OSError:
        return None
    files.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
    for entry in files[:_PEEK_FILES]:
        try:  # it may be another file since it was listed: a FIFO is never waited on
            head = read_regular(entry.path, _PEEK_BYTES, whole=False)
        except OSError:
            continue
        match = _CWD.search(head)
        if match is None:
            continue
        try:
            value = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(value, str) and value:
            return value
    return None


class TranscriptReader:
    """Finds the factory's transcripts and feeds what was appended to a :class:`CostLedger`."""

    def __init__(
        self,
        claude_config_dir: Path | Sequence[Path],
        folders: Callable[[], Sequence[str]],
        *,
        tz: tzinfo | None = None,
        max_open: int = 256,
        chunk_bytes: int = 8 << 20,
    ) -> None:
        """``claude_config_dir``: one Claude Code config folder or several; ``folders`` returns
        the repo's folders (see :func:`repo_paths`); it is called on each refresh, so new
        worktrees are picked up."""
        if max_open < 1:
            raise ValueError(f"max_open must be at least 1, got {max_open}")
        dirs = [claude_config_dir] if isinstance(claude_config_dir, Path) else claude_config_dir
        if not dirs:
            raise ValueError("no Claude Code config folder given")
        self.projects_dirs = tuple(Path(folder) / "projects" for folder in dirs)
        self.projects_dir = self.projects_dirs[0]
        self._folders = folders
        self._tz = tz
        self._max_open = max_open
        self._chunk_bytes = chunk_bytes
        self._cwd_of: dict[Path, str] = {}
        self._counted: set[Path] = set()
        self._files: dict[Path, _File] = {}
        self._clock = 0
        self.stats = ReadStats()

    def close(self) -> None:
        for state in self._files.values():
            if state.tail is not None:
                state.tail.close()
                state.tail = None
        self.stats.open_files = 0

    def refresh(
        self, ledger: CostLedger, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Read what changed since the last call into ``ledger``; returns how many records
        changed its sums. IO problems go to ``stats.problems`` (the latest refresh's only).
        ``progress(files done, files)`` is called after each file (a first read can be long)."""
        self.stats.problems = []
        with gc_paused():
            files = self._discover()
            changed = 0
            for done, path in enumerate(files, 1):
                changed += self._read(path, ledger)
                if progress is not None:
                    progress(done, len(files))
            for gone in set(self._files) - set(files):
                state = self._files.pop(gone)
                if state.tail is not None:
                    state.tail.close()
            self._limit_open()
        self.stats.files = len(self._files)
        return changed

    def _project_folders(self) -> list[os.DirEntry[str]]:
        """Every project folder of every config folder, each config folder's sorted by name."""
        found: list[os.DirEntry[str]] = []
        for projects in self.projects_dirs:
            try:
                entries = [e for e in os.scandir(projects) if e.is_dir()]
            except FileNotFoundError:
                continue
            except OSError as error:
                self.stats.problems.append(f"cannot list {projects}: {error.strerror or error}")
                continue
            found.extend(sorted(entries, key=lambda e: e.name))
        return found

    def _discover(self) -> list[Path]:
        folders = list(self._folders())
        entries = self._project_folders()
        self.stats.folders_seen = len(entries)
        files: list[Path] = []
        for entry in entries:
            folder = Path(entry.path)
            if folder not in self._counted:
                cwd = self._cwd_of.get(folder)
                if cwd is None:
                    cwd = _peek_cwd(folder)
                    if cwd is None:
                        continue
                    self._cwd_of[folder] = cwd
                if not _inside(cwd, folders):
                    continue
                self._counted.add(folder)
            files.extend(self._files_in(folder))
        self.stats.folders_counted = len(self._counted)
        return files

    def _files_in(self, folder: Path) -> list[Path]:
        out: list[Path] = []
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            self.stats.problems.append(f"cannot list {folder}: {error.strerror or error}")
            return out
        for entry in entries:
            if entry.name.endswith(".jsonl"):
                if entry.is_file():
                    out.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                sub = os.path.join(entry.path, "subagents")
                try:
                    subs = list(os.scandir(sub))
                except OSError:
                    continue
                out.extend(Path(e.path) for e in subs if e.name.endswith(".jsonl") and e.is_file())
        out.sort()
        return out

    def _read(self, path: Path, ledger: CostLedger) -> int:
        state = self._files.get(path)
        if state is None:
            state = self._files[path] = _File()
        try:
            st = os.stat(path)
        except OSError:
            return 0
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key == state.key:
            return 0
        if state.tail is None:
            if state.key is not None:
                self.stats.rereads += 1
            state.tail = LogTail(path, chunk_bytes=self._chunk_bytes, overlap_lines=0)
            self.stats.open_files += 1
        self._clock += 1
        state.stamp = self._clock
        state.key = key
        changed = 0
        tail = state.tail
        label = str(path)
        tz = self._tz
        add = ledger.add
        skip = ledger.skip
        while (chunk := tail.poll()) is not None:
            self.stats.lines_read += len(chunk.lines)
            first = chunk.first_line
            for index, line in enumerate(chunk.lines):
                self.stats.bytes_read += len(line) + 1
                if b'"usage"' not in line:
                    continue
                item = parse_transcript_line(line, source=f"{label}:{first + index}", tz=tz)
                if item is None:
                    continue
                if isinstance(item, str):
                    skip(item)
                elif add(item):
                    changed += 1
        if tail.last_error:
            self.stats.problems.append(tail.last_error)
            state.key = None  # polled again on the next refresh, as the error says
        elif not _reads(tail, st):
            # The tail holds another file than the one keyed (a symlink re-pointed between
            # the stat and the tail's open): polled again, never skipped under that key.
            state.key = None
        self.stats.records = len(ledger)
        return changed

    def _limit_open(self) -> None:
        open_states = [s for s in self._files.values() if s.tail is not None]
        excess = len(open_states) - self._max_open
        if excess > 0:
            open_states.sort(key=lambda s: s.stamp)
            for state in open_states[:excess]:
                assert state.tail is not None
                state.tail.close()
                state.tail = None
        self.stats.open_files = min(len(open_states), self._max_open)


# --------------------------------------------------------------------------------------------
# The fleet's side: spans


def instance_cwds(units: Iterable[ClaimUnit], procs: Mapping[int, ProcInfo]) -> dict[str, str]:
    """A live local agent's working directory by instance id, from the claims' pids and a
    process table (``pid → ProcInfo``, as ``ProcessProbe.probe`` returns)."""
    out: dict[str, str] = {}
    for unit in units:
        info = procs.get(unit.pid) if unit.pid is not None else None
        if unit.owner and info is not None and info.cwd:
            out[unit.owner] = info.cwd
    return out


def spans_from_reader(
    reader: FactoryReader,
    worktrees: Mapping[Path, str | None],
    procs: Mapping[int, ProcInfo] | None = None,
    *,
    builder: SpanBuilder | None = None,
    since: datetime | None = None,
) -> Sequence[Span]:
    """Spans from a refreshed FactoryReader: every session of the log (with ``since``, those
    that may hold a response from then on: see :meth:`SpanBuilder.build`) and every owned
    claim unit; ``procs`` (the live local agents) tell their worktrees by their working
    directory. ``builder``: the one used for this reader's last spans, to re-make only what
    changed."""
    units = [unit for claim in reader.claim_files() for unit in claim.units]
    build = (builder or SpanBuilder()).build
    return reader.with_fold(
        lambda fold: build(
            fold.sessions,
            units,
            worktrees={str(path): branch for path, branch in worktrees.items()},
            instance_cwds=instance_cwds(units, procs or {}),
            since=since,
        )
    )


# --------------------------------------------------------------------------------------------
# The tracker: config → reader + council history → ledger → view


def prices_from_config(config: Config) -> PriceTable:
    """The shipped table with ``[cost.prices."model"]`` from config laid over it.

    Raises PriceTableError naming the config file when an override is wrong."""
    table = default_price_table()
    cost = config.extra.get("cost")
    if cost is None:
        return table
    where = config.sources.get("extra.cost", "config")
    if not isinstance(cost, dict):
        raise PriceTableError(f"{where}: [cost] must be a table, got {cost!r}")
    unknown = sorted(str(key) for key in cost if key not in COST_KEYS)
    if unknown:
        raise PriceTableError(
            f"{where}: [cost] unknown key {', '.join(unknown)}; known: {', '.join(COST_KEYS)}"
        )
    return table.with_overrides(cost.get("prices"), where)


def _extra_projects(config: Config) -> list[Path]:
    cost = config.extra.get("cost")
    raw = cost.get("projects") if isinstance(cost, dict) else None
    if raw is None:
        return []
    where = config.sources.get("extra.cost", "config")
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise PriceTableError(
            f'{where}: [cost] projects must be a list of folders (["/path/a", "/path/b"]), '
            f"got {raw!r}"
        )
    return [Path(os.path.expanduser(p)) for p in raw]


class CostTracker:
    """The cost side of the cockpit: reads the transcripts and the Council's history,
    attributes with the fleet's spans, and answers :meth:`view` and :meth:`report`.

    Not thread-safe: refresh and read it from one worker, hand the frozen results to the UI.
    """

    def __init__(
        self,
        config: Config,
        *,
        tz: tzinfo | None = None,
        prices: PriceTable | None = None,
        max_open: int = 256,
    ) -> None:
        self.config = config
        self.ledger = CostLedger(prices or prices_from_config(config))
        extra = _extra_projects(config)
        self.reader = TranscriptReader(
            config.claude_dirs,
            RepoFolders(config.root, extra),
            tz=tz,
            max_open=max_open,
        )
        self._council = LogTail(config.council_history, overlap_lines=0)
        self._stamp: tuple[object, ...] | None = None
        self._spans = SpanBuilder()
        """Re-makes only the spans that may have changed; a warm fold's archived sessions
        are read as columns, never made records one by one."""
        self.problems: list[str] = []

    def close(self) -> None:
        self.reader.close()
        self._council.close()

    def refresh(
        self,
        factory: FactoryReader | None = None,
        *,
        procs: Mapping[int, ProcInfo] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Read what was appended; re-attribute when the fleet changed. ``factory`` is the
        cockpit's FactoryReader, already refreshed; ``procs`` its last process table (for the
        live agents' working directories); ``progress`` as in :meth:`TranscriptReader.refresh`.
        True when any sum changed. The fleet's spans are made once a record wants them
        (:attr:`CostLedger.wants_spans`): the records read first are attributed again then."""
        changed = self.reader.refresh(self.ledger, progress) > 0
        self.problems = list(self.reader.stats.problems)
        changed |= self._read_council()  # (its problem said after the transcripts')
        if factory is not None and self.ledger.wants_spans:
            since = self.ledger.earliest
            stamp = (
                factory,  # (another reader's generation counts another history)
                factory.generation,
                since,
                tuple(
                    sorted(
                        instance_cwds(
                            [u for claim in factory.claim_files() for u in claim.units], procs or {}
                        ).items()
                    )
                ),
            )
            if stamp != self._stamp:
                self._stamp = stamp
                spans = spans_from_reader(
                    factory,
                    worktree_branches(self.config.root),
                    procs,
                    builder=self._spans,
                    since=since,
                )
                changed |= self.ledger.set_spans(spans)
        return changed

    def _read_council(self) -> bool:
        changed = False
        while (chunk := self._council.poll()) is not None:
            for index, line in enumerate(chunk.lines):
                where = f"{self.config.council_history}:{chunk.first_line + index}"
                entry = parse_history_line(line, where)
                if entry is None or isinstance(entry, str) or entry.at is None:
                    continue
                record = UsageRecord(
                    key=("council", f"{entry.sha256}@{entry.timestamp}"),
                    model=entry.model or "unknown",
                    usage=Usage(input_tokens=entry.input_tokens, output_tokens=entry.output_tokens),
                    at=entry.at,
                    source=where,
                    usd=entry.cost,
                    fixed=Attribution(COUNCIL_AGENT, entry.ticket, None, "the Council's own call"),
                )
                changed |= self.ledger.add(record)
        if self._council.last_error:
            self.problems.append(self._council.last_error)
        return changed

    def view(self, now: datetime, *, hours: int = 24) -> CostView:
        return self.ledger.view(
            now,
            daily_budget_usd=self.config.daily_budget_usd,
            agent_budget_usd=self.config.agent_budget_usd,
            hours=hours,
        )

    def report(
        self, grouping: Grouping, *, since: datetime | None = None, until: datetime | None = None
    ) -> CostReport:
        return self.ledger.report(grouping, since=since, until=until)


def _reads(tail: LogTail, st: os.stat_result) -> bool:
    """Whether ``tail`` reads the file whose stat is ``st`` (by its descriptor)."""
    fd = tail.fileno
    if fd is None:
        return False
    try:
        held = os.fstat(fd)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (st.st_dev, st.st_ino)
