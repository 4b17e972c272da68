"""A cold fold in two parts folded side by side: the log's head by one process, its tail by
another, then the tail's fold merged into the head's (issue 17: the cold read of a long history
is the slowest thing the cockpit and ``status`` do, and the machine has a second core).

The tail's fold cannot know what the head left open: a ``STEP-DONE`` of task T changes T's open
session, and says which instance was active through it. So it starts from a *seed*: the
sessions open where the tail begins, found from the head's ``SESSION-START`` and
``SESSION-END`` lines alone (:class:`OpenSeed`, a fraction of a full fold's cost). Each becomes a
*placeholder* session in the tail's fold, with its task and instance and every other field
:data:`UNSET`; what the tail sets of it is copied onto the real session at the merge.

The merge (:func:`merge_tail`) first checks that the seed is exactly what the head's fold left
open (each task's open sessions, in order, by file, line and instance); if not, it changes
nothing and says so, and the caller folds the tail itself. Every other part of the fold is
either the tail's when it has one (the last event of an instance), the head's followed by the
tail's (sessions, recent lines, problems, counts), or replayed in order on the head's fold (the
claim events and the open changes: the tail could not see what the head held). A hypothesis test
checks the result against the fold of the whole log, field by field, at every cut.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import NamedTuple

from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_sessions import SessionRefs
from factory_tui.core.oplog import Event, parse_line

__all__ = ["UNSET", "OpenSeed", "SeedSession", "merge_tail", "seeded_fold"]

UNSET = "\n"
"""A placeholder's field the tail did not set: no field of a log line can hold a newline."""
_FROM_TAIL = (
    "last_step",
    "last_step_state",
    "last_step_at",
    "last_event_at",
    "pr",
    "checkpoint_file",
    "last_error",
)
"""A placeholder's fields that keep the head's value unless the tail set them."""
_AT_END = ("ended_at", "end_line", "end_status", "recovered_by")
"""Set together when the tail ends a session."""

_V = rb"""([^\s="']+)"""
_W = rb"""[^\s="']+"""
_TS = rb"(\d{4}-\d\d-\d\dT\d\d:\d\d)"
# The whole of a SESSION-START and a SESSION-END as the hooks write them (what the fold reads
# without its general parser); a session line of any other shape is read by that parser.
_START_LINE = re.compile(
    _TS + rb" \| SESSION-START \| task=" + _V + rb" branch=" + _W
    + rb"(?: instance=" + _V + rb")?(?: recovered_from=" + _W + rb")?\r?"
)  # fmt: skip
_END_LINE = re.compile(
    _TS + rb" \| SESSION-END \| task=" + _V + rb" status=" + _V
    + rb"(?: pr=" + _W + rb")?(?: recovered_by=" + _V + rb")?\r?"
)  # fmt: skip


class SeedSession(NamedTuple):
    """A session open where the tail begins: where it started, and its instance."""

    source: str
    line: int
    instance: str | None


class OpenSeed:
    """The sessions open after some lines of the log, from their ``SESSION-START`` and
    ``SESSION-END`` lines alone, as :class:`~factory_tui.core.fold.LogFold` opens and closes
    them. Lines of odd shapes are read by the general parser; a session line missed (a name in
    other letters, say) makes a seed that :func:`merge_tail` refuses, never a wrong fold."""

    def __init__(self) -> None:
        self.open: dict[str, list[SeedSession]] = {}
        self._valid_ts = LogFold()._check_ts
        self._good_ts: dict[bytes, bool] = {}

    def feed_bytes(self, data: bytes, source: str, first_line: int = 1) -> int:
        """Read the session lines of ``data`` (whole lines, the first numbered
        ``first_line``); returns the number of the line after the last."""
        line, counted = first_line, 0
        find, count = data.find, data.count
        starts, ends = _START_LINE.fullmatch, _END_LINE.fullmatch
        good_ts = self._good_ts
        at = find(b"SESSION-")  # a fast search: a regex would try every byte
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            end = find(b"\n", at)
            if end < 0:
                end = len(data)
            line += count(b"\n", counted, start)
            counted = start
            is_start = data[at + 8 : at + 9] == b"S"
            m = (starts if is_start else ends)(data, start, end)
            if m is None or not (good_ts.get(m[1]) or self._check_ts(m[1])):
                self._odd_line(data[start:end], source, line)
            elif is_start:
                self._start_match(m, source, line)
            else:
                self._end_match(m, source, line)
            at = find(b"SESSION-", end)
        line += count(b"\n", counted)
        if data and not data.endswith(b"\n"):
            line += 1
        return line

    def _check_ts(self, ts: bytes) -> bool:
        if self._valid_ts(ts.decode("ascii")):
            self._good_ts[ts] = True
            return True
        return False

    def _start_match(self, m: re.Match[bytes], source: str, line: int) -> None:
        try:
            task, instance = m[2].decode(), m[3].decode() if m[3] else None
        except UnicodeDecodeError:
            self._odd_line(m[0], source, line)
            return
        self.start(task, instance, source, line)

    def _end_match(self, m: re.Match[bytes], source: str, line: int) -> None:
        try:
            task, status, by = m[2].decode(), m[3].decode(), m[4].decode() if m[4] else None
        except UnicodeDecodeError:
            self._odd_line(m[0], source, line)
            return
        self.end(task, status, by)

    def _odd_line(self, raw: bytes, source: str, line: int) -> None:
        """A session line of another shape, read by the general parser as the fold does."""
        try:
            parsed = parse_line(raw.decode("utf-8"), line, source)
        except UnicodeDecodeError:
            return
        if isinstance(parsed, Event):
            get = parsed.fields.get
            if parsed.name == "SESSION-START":
                self.start(get("task") or "", get("instance") or None, source, line)
            elif parsed.name == "SESSION-END":
                self.end(get("task") or "", get("status") or None, get("recovered_by") or None)

    def start(self, task: str, instance: str | None, source: str, line: int) -> None:
        if task:
            self.open.setdefault(task, []).append(SeedSession(source, line, instance))

    def end(self, task: str, status: str | None, recovered_by: str | None) -> None:
        opened = self.open.get(task) if task else None
        if not opened:
            return
        opened.pop(0 if status == "crashed" or recovered_by is not None else -1)
        if not opened:
            del self.open[task]


def seeded_fold(seed: dict[str, list[SeedSession]], *, utc: bool = False) -> LogFold:
    """A fold for the log after the seed's point: the seed's sessions open in it as
    placeholders (the first sessions of its table, in the seed's order), recording the claim
    events and changes it sees for :func:`merge_tail` to replay."""
    fold = LogFold(utc=utc)
    fold.replays = []
    for task, sessions in seed.items():
        for opened in sessions:
            rec = SessionRec(UNSET, task, None, opened.instance, UNSET, UNSET, 0, UNSET)
            for name in _FROM_TAIL:
                setattr(rec, name, UNSET)
            fold.sessions.append(rec)
            fold.open_by_task.setdefault(task, []).append(rec)
    return fold


def _placeholders(seed: dict[str, list[SeedSession]], head: LogFold) -> list[SessionRec] | None:
    """The head's open sessions in the seed's order, or None unless they are exactly the
    seed's (same tasks in the same order, each one's sessions by file, line and instance)."""
    if list(seed) != list(head.open_by_task):
        return None
    found: list[SessionRec] = []
    for task, sessions in seed.items():
        opened = head.open_by_task[task]
        if [(r.source, r.start_line, r.instance) for r in opened] != [tuple(s) for s in sessions]:
            return None
        found.extend(opened)
    return found


def merge_tail(head: LogFold, tail: LogFold, seed: dict[str, list[SeedSession]]) -> bool:
    """Make ``head`` (the fold of the log up to the seed's point) the fold of the whole log,
    given ``tail`` (the :func:`seeded_fold` of ``seed``, fed the rest). False, with ``head``
    unchanged, when the seed is not what ``head`` left open."""
    reals = _placeholders(seed, head)
    if reals is None or tail.replays is None:
        return False
    held = len(reals)
    # The placeholders first: the tail's own sessions are numbered on as they are appended.
    placeholders = [tail.sessions[n] for n in range(held)]
    for placeholder, real in zip(placeholders, reals, strict=True):
        _copy_placeholder(placeholder, real)
    real_of = {id(p): real for p, real in zip(placeholders, reals, strict=True)}
    shift = len(head.sessions) - held

    def seq_of(seq: int) -> int:
        return reals[seq].seq if seq < held else seq + shift

    for rec in islice(tail.sessions, held, None):  # packed ones made a chunk at a time
        head.sessions.append(rec)
        head.latest_by_task[rec.task] = rec
        head.note_started()
    head.open_by_task = {
        task: [real_of.get(id(rec), rec) for rec in sessions]
        for task, sessions in tail.open_by_task.items()
    }
    head.ended.extend_seqs(map(seq_of, tail.ended.seqs))
    for instance, refs in tail.instance_sessions.items():
        mine = head.instance_sessions.get(instance)
        if mine is None:
            mine = head.instance_sessions[instance] = SessionRefs(head.sessions)
        mine.extend_seqs(map(seq_of, refs.seqs))
    _merge_instances(head, tail)
    head.recent.extend(tail.recent)
    head.counts.update(tail.counts)
    head.events += tail.events
    head.last_ts = tail.last_ts or head.last_ts
    for problem in tail.problems:
        head.add_problem(problem)
    head.problem_count += tail.problem_count - len(tail.problems)
    head.launches.update(tail.launches)
    for replay in tail.replays:
        head.replay(replay)
    return True


def _copy_placeholder(placeholder: SessionRec, real: SessionRec) -> None:
    """What the tail did to a session the head opened."""
    for name in _FROM_TAIL:
        value = getattr(placeholder, name)
        if value != UNSET:
            setattr(real, name, value)
    if not real.branch and placeholder.branch:
        real.branch = placeholder.branch
    if placeholder.ended_at is not None:
        for name in _AT_END:
            setattr(real, name, getattr(placeholder, name))


def _merge_instances(head: LogFold, tail: LogFold) -> None:
    """Each instance's last start, last event, recent lines and hook signal: the tail's when it
    has one (a signal of the head's is gone once the tail heard from its instance)."""
    head.instance_last_start.update(tail.instance_last_start)
    touched = tail.instance_last_event
    if head.agent_signals and touched:
        for instance in [i for i in head.agent_signals if i in touched]:
            del head.agent_signals[instance]
    head.agent_signals.update(tail.agent_signals)
    head.instance_last_event.update(touched)
    for instance, lines in tail.instance_recent.items():
        mine = head.instance_recent.get(instance)
        if mine is None:
            head.instance_recent[instance] = lines
        else:
            mine.extend(lines)
