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
open (each task's open sessions, in order, by instance: which session a line is about depends on
their places, whose activity it is on their instances, and the tail's fold reads nothing else of
them); if not, it changes nothing and says so, and the caller folds the tail itself. Every
other part of the fold is either the tail's when it has one (the last event of an instance), the
head's followed by the tail's (sessions, recent lines, problems, counts), or replayed in order on
the head's fold (the claim events and the open changes: the tail could not see what the head
held). The tail's old sessions, packed as it went (:mod:`factory_tui.core.fold_packed`), are
taken as they are, renumbered: a merge then costs what is open and recent, not the tail's
history (unpacked and packed again, they were most of a 10x history's merge: 4.6 s of 4.7).
A hypothesis test checks the result against the fold of the whole log, field by field, at
every cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from factory_tui.core.fold import LogFold
from factory_tui.core.fold_records import SessionRec
from factory_tui.core.fold_sessions import SessionRefs, SessionTable
from factory_tui.core.oplog import Event, parse_line
from factory_tui.core.timeparse import valid_ts

__all__ = ["UNSET", "OpenSeed", "SeedSessions", "merge_tail", "seeded_fold"]

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
# A SESSION-START and a SESSION-END whole, as the hooks write them (what the fold reads without
# its general parser), found by their literal middle (a fast search), their time behind it.
_SESSION_LINES = re.compile(
    rb" \| SESSION-(?<=\n(\d{4}-\d\d-\d\dT\d\d:\d\d) \| SESSION-)"
    rb"(?:START \| task=" + _V + rb" branch=" + _W + rb"(?: instance=" + _V + rb")?"
    rb"(?: recovered_from=" + _W + rb")?"
    rb"|END \| task=" + _V + rb" status=" + _V + rb"(?: pr=" + _W + rb")?"
    rb"(?: recovered_by=" + _V + rb")?)\r?(?=\n)"
)  # fmt: skip
_MARK = b"SESSION-"
"""In every session line the fold reads as one in capitals, however its bars are spaced (a
``20:01|SESSION-END|task=…`` line is one): a block with more of them than the regex found is
read line by line. (A name in small letters is missed: refused, see :class:`OpenSeed`.)"""
SeedSessions = dict[str, list[str | None]]
"""Each task's open sessions, in the order the fold keeps them, as their instances: all the
tail's fold needs of them (which one a line is about depends on their places only)."""


class OpenSeed:
    """The sessions open after some lines of the log, from their ``SESSION-START`` and
    ``SESSION-END`` lines alone, as :class:`~factory_tui.core.fold.LogFold` opens and closes
    them. A block whose session lines are all of the hooks' shape is read in one regex pass;
    another is read line by line, the odd ones by the general parser. A session line missed (a
    name in other letters, say) makes a seed that :func:`merge_tail` refuses, never a wrong
    fold."""

    def __init__(self) -> None:
        self._open: dict[bytes, list[bytes]] = {}
        """Each task's open sessions' instances, as the log's bytes (b"": none named): a
        block's lines are applied without decoding each name (the check that they decode is
        one call a block)."""
        self._good_ts: set[bytes] = set()

    @property
    def open(self) -> SeedSessions:
        """The sessions open after the lines read so far."""
        return {
            task.decode(): [instance.decode() or None for instance in instances]
            for task, instances in self._open.items()
        }

    def feed_bytes(self, data: bytes, source: str, first_line: int = 1) -> int:
        """Read the session lines of ``data`` (whole lines, the first numbered
        ``first_line``); returns the number of the line after the last."""
        # The regex finds a line after a newline: the first line is read on its own.
        first = data.find(b"\n") + 1 or len(data)
        if _MARK in data[:first]:
            self._line_by_line(data[:first], source, first_line)
        found = _SESSION_LINES.findall(data, first)
        if len(found) != data.count(_MARK, first) or not self._all_valid({f[0] for f in found}):
            self._line_by_line(data[first:], source, first_line + 1)
        else:
            try:
                self._apply(found, checked=data.isascii())
            except UnicodeDecodeError:
                self._line_by_line(data[first:], source, first_line + 1)
        line = first_line + data.count(b"\n")
        return line + 1 if data and not data.endswith(b"\n") else line

    def _all_valid(self, stamps: set[bytes]) -> bool:
        good = self._good_ts
        for ts in stamps - good:
            if not valid_ts(ts.decode("ascii")):
                return False
            good.add(ts)
        return True

    def _apply(self, found: list[tuple[bytes, ...]], *, checked: bool = False) -> None:
        """The canonical session lines of a block, in order (:meth:`start` and :meth:`end`
        inline: 118,000 of them in the scale factory's head). Undecodable text raises before
        anything changes: the block is then read line by line. ``checked``: the block is
        ASCII (its fields then decode)."""
        if not checked:
            # Each field checked once, in one C call (a newline is no part of a UTF-8
            # sequence); 0.06 s a 33 MB block, which ``bytes.isascii`` checks in 1 ms.
            b"\n".join(field for line in found for field in line[1:]).decode("utf-8")
        opened_by = self._open
        get = opened_by.get
        for _ts, task, instance, end_task, status, by in found:
            if task:
                opened = get(task)
                if opened is None:
                    opened_by[task] = [instance]
                else:
                    opened.append(instance)
                continue
            opened = get(end_task)
            if not opened:
                continue
            opened.pop(0 if status == b"crashed" or by else -1)
            if not opened:
                del opened_by[end_task]

    def _line_by_line(self, data: bytes, source: str, line: int) -> None:
        """Each line with ``SESSION-`` in it, by the general parser (as the fold reads it)."""
        find, count, counted = data.find, data.count, 0
        at = find(b"SESSION-")
        while at >= 0:
            start = data.rfind(b"\n", 0, at) + 1
            end = find(b"\n", at)
            if end < 0:
                end = len(data)
            line += count(b"\n", counted, start)
            counted = start
            self._odd_line(data[start:end], source, line)
            at = find(b"SESSION-", end)

    def _odd_line(self, raw: bytes, source: str, line: int) -> None:
        try:
            parsed = parse_line(raw.decode("utf-8"), line, source)
        except UnicodeDecodeError:
            return
        if isinstance(parsed, Event):
            get = parsed.fields.get
            if parsed.name == "SESSION-START":
                self.start(get("task") or "", get("instance") or None)
            elif parsed.name == "SESSION-END":
                self.end(get("task") or "", get("status") or None, get("recovered_by") or None)

    def start(self, task: str, instance: str | None) -> None:
        if task:
            self._open.setdefault(task.encode(), []).append((instance or "").encode())

    def end(self, task: str, status: str | None, recovered_by: str | None) -> None:
        key = task.encode()
        opened = self._open.get(key) if task else None
        if not opened:
            return
        opened.pop(0 if status == "crashed" or recovered_by is not None else -1)
        if not opened:
            del self._open[key]


def seeded_fold(seed: SeedSessions, *, utc: bool = False) -> LogFold:
    """A fold for the log after the seed's point: the seed's sessions open in it as
    placeholders (the first sessions of its table, in the seed's order), recording the claim
    events and changes it sees for :func:`merge_tail` to replay."""
    fold = LogFold(utc=utc)
    fold.replays = []
    placeholders: dict[int, SessionRec] = {}
    for task, instances in seed.items():
        for instance in instances:
            rec = SessionRec(UNSET, task, None, instance, UNSET, UNSET, 0, UNSET, len(placeholders))
            for name in _FROM_TAIL:
                setattr(rec, name, UNSET)
            placeholders[rec.seq] = rec
            fold.open_by_task.setdefault(task, []).append(rec)
    # As restored sessions, before the tail's own: the chunks the tail packs hold its own
    # sessions only, and the merge takes them as they are.
    fold.sessions = SessionTable(len(placeholders), placeholders)
    fold.ended = SessionRefs(fold.sessions)
    return fold


def _placeholders(seed: SeedSessions, head: LogFold) -> list[SessionRec] | None:
    """The head's open sessions in the seed's order, or None unless they are the seed's:
    the same tasks in the same order, each with the same instances in the same order (all that
    the tail's fold read of its placeholders)."""
    if list(seed) != list(head.open_by_task):
        return None
    found: list[SessionRec] = []
    for task, instances in seed.items():
        opened = head.open_by_task[task]
        if [rec.instance for rec in opened] != instances:
            return None
        found.extend(opened)
    return found


def merge_tail(head: LogFold, tail: LogFold, seed: SeedSessions) -> bool:
    """Make ``head`` (the fold of the log up to the seed's point) the fold of the whole log,
    given ``tail`` (the :func:`seeded_fold` of ``seed``, fed the rest). False, with ``head``
    unchanged, when the seed is not what ``head`` left open."""
    reals = _placeholders(seed, head)
    if reals is None or tail.replays is None or tail.sessions.restored_records != len(reals):
        return False  # (the last: a tail not made by seeded_fold from this seed)
    held = len(reals)
    for placeholder, real in zip(tail.sessions[:held], reals, strict=True):
        _copy_placeholder(placeholder, real)
    real_of = {id(p): real for p, real in zip(tail.sessions[:held], reals, strict=True)}
    shift = len(head.sessions) - held
    # The tail's latest first: a session packed from here on stays a record if it is one.
    head.latest_by_task.update(tail.latest_by_task)  # the tail's own sessions only
    sessions = head.sessions
    for rec in sessions.adopt(tail.sessions, head.keeps):
        sessions.append(rec)
        head.note_started()
    head.open_by_task = {
        task: [real_of.get(id(rec), rec) for rec in opened]
        for task, opened in tail.open_by_task.items()
    }
    real_seqs = [real.seq for real in reals]

    def seqs_of(seqs: Iterable[int]) -> list[int]:
        return [real_seqs[seq] if seq < held else seq + shift for seq in seqs]

    head.ended.extend_seqs(seqs_of(tail.ended.seqs))
    for instance, refs in tail.instance_sessions.items():
        mine = head.instance_sessions.get(instance)
        if mine is None:
            mine = head.instance_sessions[instance] = SessionRefs(head.sessions)
        mine.extend_seqs(seqs_of(refs.seqs))
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
