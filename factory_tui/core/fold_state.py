"""Saving and restoring a :class:`~factory_tui.core.fold.LogFold` (the warm-start cache's
body): the fold as JSON-able data with its sessions as uint32 columns, and the same data read
back, checked field by field (it is untrusted: a file in the user's cache folder).

The sessions are saved twice: the *live* ones (open, each task's latest, those that ended in
the last :data:`LIVE_SPAN` before the last end: what the fleet shows) as columns of their own
(``live_strings`` and ``live``), and every one in the *archive* (``strings`` and ``columns``),
which a restored fold reads only when something asks for another session (see
:mod:`factory_tui.core.fold_sessions`). Both are uint32 columns of indexes into a table of
their texts, checked a column at a time in C: a warm start restores tens of thousands of live
sessions, and a JSON row each (parsed, then checked value by value) was most of its cost.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from itertools import accumulate, chain, islice, pairwise
from operator import attrgetter
from typing import TYPE_CHECKING, Any, cast

from factory_tui.core import fold_ended
from factory_tui.core.activity import AgentSignal
from factory_tui.core.fold_ended import EndedRefs
from factory_tui.core.fold_records import RECENT_PER_INSTANCE, ClaimEventInfo, RawLine, SessionRec
from factory_tui.core.fold_saved import WIDTH, SavedStrings, check_saved
from factory_tui.core.fold_sessions import (
    SESSION_NUMBERS,
    SESSION_TEXT,
    SavedColumns,
    SessionRefs,
    SessionTable,
    restore_session,
)
from factory_tui.core.launches import LaunchRec
from factory_tui.core.oplog import Event
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import parse_ts

if TYPE_CHECKING:
    from factory_tui.core.fold import LogFold

__all__ = ["LIVE_SPAN", "SAVED_TEXT", "from_state", "to_state"]

SAVED_TEXT = ("utf-8", "surrogatepass")
"""How a saved fold's texts are encoded (its body, its archive's table): a log's name that is
not UTF-8 (its bytes as surrogates) is every session's source, and comes back the same."""
LIVE_SPAN = timedelta(hours=48)
"""The ended sessions saved live: those that ended this long before the last one did (and one
more), twice the fleet's default history window. A longer window, or a ``now`` long after the
log's end, reads the archive: slower, the same answer."""


def to_state(
    fold: LogFold,
    spill: Callable[[array[int]], None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything the fold knows, as JSON-able data for :func:`from_state` (not the caches
    of shared strings, which only save memory). The sessions, the bulk of a big log, are
    uint32 arrays (``columns``: indexes into ``strings``, one table of their texts, then their
    line numbers; ``ended``: the sessions in the order they ended): a caller stores those as
    binary, ``strings`` and ``columns`` apart (the archive, see :func:`from_state`); ``live``:
    the sessions the fleet shows, the same way (their ``seq`` column first, then the archive's
    columns; their texts in ``live_strings``). Raises ``OverflowError`` for a line number that
    is not a uint32. ``spill``: given each part of ``columns`` in turn, which is then their
    count, not held (a save writes them to a file as they come: 114 MB of a 300-day log), and
    the archive's table comes as ``texts`` instead of ``strings``: its texts (but ``None``) as
    pieces of UTF-8 and ``ends``, where each text ends (in characters, as the joined texts are
    read back). That table may then hold a text more than once (see :class:`_SavedTexts`):
    it is only ever read by index. ``now``: the clock (local time) of the save; the live
    sessions' span ends no later (an end dated ahead, from another machine's clock, would
    leave out what the next starts show, which they would then read from the archive)."""
    with fold.sessions.archive_held():  # read once for every column, then let go
        return _to_state(fold, spill, now)


def _restored(
    sessions: SessionTable,
    name: str,
    codes: Callable[[list[Any]], Iterable[int]],
    saved: SavedStrings | None = None,
) -> array[int]:
    """The restored sessions' ``name`` column as saved, the values of those made since put in
    as ``codes`` gives them (a text through the table, a number as saved). With ``saved`` (a
    text column, its table), only the texts that changed get a new index: each resave would
    otherwise add every live session's texts to the table again (~1 MB a resave at 10x)."""
    column, seqs = sessions.restored_codes(name)
    get = attrgetter(name)
    values = [get(sessions[seq]) for seq in seqs]
    if saved is not None:
        text = saved.text
        changed = [(seq, v) for seq, v in zip(seqs, values, strict=True) if text(column[seq]) != v]
        seqs, values = [seq for seq, _v in changed], [v for _seq, v in changed]
    for seq, code in zip(seqs, codes(values), strict=True):
        column[seq] = code
    return column


def _mapped(encode: Callable[[Any], int]) -> Callable[[list[Any]], Iterable[int]]:
    return lambda part: map(encode, part)


def _end_code(end: int | None) -> int:
    """A session's ``end_line`` as saved: 0 for None, else the line + 1."""
    return 0 if end is None else end + 1


def _same(value: int) -> int:
    return value


class _Texts:
    """The archive's table of texts as :func:`to_state` makes it: each text once, in the order
    first met, ``None`` first (index 0)."""

    def __init__(self) -> None:
        self.index: dict[str | None, int] = {None: 0}

    def codes(self, name: str, part: list[str | None]) -> Iterable[int]:
        """The indexes of ``part``'s texts (of the column ``name``), those not in the table
        added."""
        index = self.index
        for text in dict.fromkeys(part):
            index.setdefault(text, len(index))
        return map(index.__getitem__, part)

    def state(self) -> dict[str, Any]:
        return {"strings": list(self.index)}


UNSHARED = frozenset({"pr", "checkpoint_file", "last_error"})
"""The columns whose texts are each a session's own (a PR number, a crashed session's
checkpoint): never another column's, seldom another session's."""
UNIQUE_SHARE = 0.75
"""A part of an :data:`UNSHARED` column with this share of distinct texts at least is not looked
up in a save's table (:class:`_SavedTexts`)."""


class _SavedTexts(_Texts):
    """The table as a save makes it, the texts written as pieces as they come. A part of an
    :data:`UNSHARED` column whose texts are nearly all distinct (:data:`UNIQUE_SHARE`) is not
    looked up: its texts each get an index of their own, and only their joined text is kept
    (the table may then hold a text twice). The 300-day log's 1.5 million PR numbers, looked up
    and held as strings, were most of its save's peak (~180 MB). The times are looked up: each
    is most sessions' start, last event and end at once."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 1  # the next index
        self.pieces: list[bytes] = []
        self.ends = array("I")
        self.end = 0

    def codes(self, name: str, part: list[str | None]) -> Iterable[int]:
        texts = [text for text in part if text is not None]
        distinct = dict.fromkeys(texts)
        if name in UNSHARED and len(distinct) >= UNIQUE_SHARE * len(texts):
            numbers = iter(range(self.count, self.count + len(texts)))
            self._add(texts)
            return [0 if text is None else next(numbers) for text in part]
        index = self.index
        new = [text for text in distinct if text not in index]
        index.update(zip(new, range(self.count, self.count + len(new)), strict=True))
        self._add(new)
        return map(index.__getitem__, part)

    def start_from(self, saved: SavedStrings) -> None:
        """Begin with a saved table's texts, at their indexes (before any other)."""
        assert self.count == 1, "a table begins with a saved one or not at all"
        text, ends = saved.parts()
        if ends:
            self.pieces.append(text.encode(*SAVED_TEXT))
            self.ends.extend(ends)
            self.end = ends[-1]
        self.count = len(saved)

    def _add(self, texts: list[str]) -> None:
        """The next indexes' texts (``OverflowError`` past 2**32 characters in all)."""
        if texts:
            self.count += len(texts)
            self.ends.extend(islice(accumulate(map(len, texts), initial=self.end), 1, None))
            self.end = self.ends[-1]
            self.pieces.append("".join(texts).encode(*SAVED_TEXT))

    def state(self) -> dict[str, Any]:
        return {"texts": self.pieces, "ends": self.ends}


def _to_state(
    fold: LogFold, spill: Callable[[array[int]], None] | None, now: datetime | None
) -> dict[str, Any]:
    sessions = fold.sessions
    live, walked = _live_seqs(fold, now)
    table: _Texts
    saved: SavedStrings | None = None
    if spill is None:
        table = _Texts()
    else:
        table = saving = _SavedTexts()
        # A warm fold's restored sessions are copied as the archive holds them, its table
        # first (see SessionTable.restored_codes); the others a chunk of a column at a time.
        saved = sessions.saved_table()
        if saved is not None:
            saving.start_from(saved)
    flat = array("I")
    count = 0

    def add(values: Iterable[int]) -> None:
        nonlocal count
        if spill is None:
            flat.extend(values)
            return
        part = array("I", values)
        count += len(part)
        spill(part)

    for name in SESSION_TEXT:
        if saved is not None:
            add(_restored(sessions, name, partial(table.codes, name), saved))
        for part in sessions.column_parts(name, restored=saved is None):
            add(table.codes(name, part))
    for name in SESSION_NUMBERS:
        encode = _mapped(_end_code if name == "end_line" else _same)
        if saved is not None:
            add(_restored(sessions, name, encode))
        for part in sessions.column_parts(name, restored=saved is None):
            add(encode(part))
    return {
        "utc": fold.utc,
        **table.state(),
        "sessions": len(sessions),
        "columns": flat if spill is None else count,
        **_live_state([sessions[seq] for seq in live]),
        "instances": list(fold.instance_sessions),
        "ended": array("I", fold.ended.seqs),
        "ended_walked": walked,
        "open_by_task": {t: [s.seq for s in opened] for t, opened in fold.open_by_task.items()},
        "latest_by_task": {t: s.seq for t, s in fold.latest_by_task.items()},
        "instance_last_start": fold.instance_last_start,
        "instance_last_event": fold.instance_last_event,
        "instance_recent": {i: list(lines) for i, lines in fold.instance_recent.items()},
        "claim_events": [[*key, *_claim_row(info)] for key, info in fold.claim_events.items()],
        "open_claims": [
            [*key, *_claim_row(info)]
            for key, held in fold.open_claims.items()
            for info in held.values()
        ],
        "open_changes": [[change, *event] for change, event in fold.open_changes.items()],
        "agent_signals": [
            [i, s.event, s.ts, s.kind, s.detail, s.where] for i, s in fold.agent_signals.items()
        ],
        "launches": [
            [r.key, r.instance, r.at, r.branch, r.worktree, r.where, r.source, r.line]
            for r in fold.launches.values()
        ],
        "recent": list(fold.recent),
        "counts": dict(fold.counts),
        "problems": [[p.file, p.message, p.line] for p in fold.problems],
        "problem_count": fold.problem_count,
        "events": fold.events,
        "last_ts": fold.last_ts,
    }


def from_state(
    cls: type[LogFold],
    state: object,
    saved: Callable[[], SavedColumns] | None = None,
    saved_ended: Callable[[], array[int]] | None = None,
) -> LogFold:
    """The fold :func:`to_state` saved. ``state`` is untrusted (a file in the user's cache
    folder): anything that is not exactly such data raises ``ValueError``, and nothing in it
    is ever executed. ``saved``: the archive (``strings`` and ``columns``) is not in ``state``
    but read by this when first needed (and checked then: a damaged one raises
    :class:`~factory_tui.core.fold_sessions.SavedSessionsError` where it is read).
    ``saved_ended``: the first ``ended_before`` sessions of ``ended`` when they are not in
    ``state`` (the cache keeps the last ones in the body), read the same way (see
    :class:`~factory_tui.core.fold_ended.EndedRefs`)."""
    try:
        return _from_state(cls, _dict(state), saved, saved_ended)
    except (KeyError, IndexError, TypeError, OverflowError) as error:
        raise ValueError(f"not a saved fold: {type(error).__name__}: {error}") from None


def _from_state(
    cls: type[LogFold],
    state: dict[str, Any],
    saved: Callable[[], SavedColumns] | None,
    saved_ended: Callable[[], array[int]] | None,
) -> LogFold:
    fold = cls(utc=_bool(state["utc"]))
    count = _int(state["sessions"])
    if count < 0:
        raise ValueError("a negative session count")
    if saved is None:
        archive = (_list(state["strings"]), _ints(state["columns"]))
        check_saved(*archive, count)
        saved = lambda: archive  # noqa: E731 - already read and checked
    live = _live(_list(state["live_strings"]), _ints(state["live"]), count)
    # The other sessions stay in the archive, each made on first access (see SessionTable).
    sessions = fold.sessions = SessionTable(count, live, saved)
    ended = _ints(state["ended"])
    if ended and max(ended) >= count:
        raise ValueError("a session reference out of range")
    before = _int(state.get("ended_before", 0))
    if before < 0 or (before and saved_ended is None):
        raise ValueError("ended sessions saved elsewhere, and nowhere to read them")
    if before and saved_ended is not None:
        fold.ended = EndedRefs(sessions, ended, before, saved_ended)
    else:
        fold.ended = SessionRefs(sessions, ended)
    # Each table's references checked in one pass (ten thousand tasks, most with one session).
    open_by_task = _dict(state["open_by_task"])
    _seqs(chain.from_iterable(map(_list, open_by_task.values())), count)
    live_rec = live.__getitem__
    for task, seqs in open_by_task.items():
        fold.open_by_task[task] = list(map(live_rec, seqs))
    latest_by_task = _dict(state["latest_by_task"])
    fold.latest_by_task.update(
        zip(latest_by_task, map(live_rec, _seqs(latest_by_task.values(), count)), strict=True)
    )
    for instance in _list(state["instances"]):
        if _str(instance) in fold.instance_sessions:
            raise ValueError("an instance saved twice")
        fold.instance_sessions[instance] = SessionRefs(sessions, instance=instance)
    fold.instance_last_start = _str_dict(state["instance_last_start"])
    fold.instance_last_event = _str_dict(state["instance_last_event"])
    for instance, lines in _dict(state["instance_recent"]).items():
        fold.instance_recent[instance] = deque(
            map(_raw_line, _list(lines)), maxlen=RECENT_PER_INSTANCE
        )
    for row in _list(state["claim_events"]):
        key, info = _claim_entry(row)
        fold.claim_events[key] = info
    for row in _list(state["open_claims"]):
        key, info = _claim_entry(row)
        fold.open_claims.setdefault(key, {})[info.instance] = info
    for row in _list(state["open_changes"]):
        change, ts, name, fields, line, source, utc = _list(row)
        fold.open_changes[_str(change)] = Event(
            _str(ts), _str(name), _str_dict(fields), _int(line), _str(source), _bool(utc)
        )
    for row in _list(state["agent_signals"]):
        instance, event, ts, kind, detail, where = _list(row)
        fold.agent_signals[_str(instance)] = AgentSignal(
            _str(event), _str(ts), _text(kind), _text(detail), _str(where)
        )
    for row in _list(state["launches"]):
        key, instance, at, branch, worktree, where, source, line = _list(row)
        fold.launches[_str(key)] = LaunchRec(
            _str(key),
            _text(instance),
            _str(at),
            _text(branch),
            _text(worktree),
            _str(where),
            _str(source),
            _int(line),
        )
    fold.recent.extend(map(_raw_line, _list(state["recent"])))
    counts = _dict(state["counts"])
    fold.counts.update({name: _int(n) for name, n in counts.items()})
    for row in _list(state["problems"]):
        file, message, line = _list(row)
        fold.problems.append(
            Problem(_str(file), _str(message), None if line is None else _int(line))
        )
    fold.problem_count = _int(state["problem_count"])
    fold.events = _int(state["events"])
    fold.last_ts = None if state["last_ts"] is None else _str(state["last_ts"])
    return fold


def _live_seqs(fold: LogFold, now: datetime | None = None) -> tuple[list[int], int]:
    """The sessions saved live (see :data:`LIVE_SPAN`), in ``seq`` order; how many of the last
    ended ones the walk back to them read (a warm start reads no further). The span ends at
    the latest end seen, or ``now`` if that is sooner."""
    seqs = {rec.seq for opened in fold.open_by_task.values() for rec in opened}
    seqs.update(rec.seq for rec in fold.latest_by_task.values())
    cut: datetime | None = None  # LIVE_SPAN before the latest end seen so far
    late_ends = fold_ended.LATE_ENDS  # read here: a test sets it
    walked = older = 0
    for rec in reversed(fold.ended):
        walked += 1
        seqs.add(rec.seq)
        ended = parse_ts(rec.ended_at) if rec.ended_at else None
        if ended is None:
            continue
        if cut is None or ended - LIVE_SPAN > cut:
            cut = ended - LIVE_SPAN if now is None else min(ended, now) - LIVE_SPAN
        if ended >= cut:
            older = 0
        else:
            older += 1
            if older >= late_ends:
                break  # the walk's last look (as fleet_sessions.picked_sessions's)
    return sorted(seqs), walked


def _live_state(recs: Sequence[SessionRec]) -> dict[str, Any]:
    """The live sessions ``recs`` (in ``seq`` order) as :func:`_live` reads them: ``live``,
    their ``seq`` then each field as the archive has it (a text as an index into
    ``live_strings``, 0 for None; ``end_line`` + 1, 0 for None), a column at a time;
    ``live_strings``, None then their texts."""
    index: dict[str | None, int] = {None: 0}
    flat = array("I", [rec.seq for rec in recs])
    for name in SESSION_TEXT:
        column = list(map(attrgetter(name), recs))
        for text in column:
            index.setdefault(text, len(index))
        flat.extend(map(index.__getitem__, column))
    flat.extend(rec.start_line for rec in recs)
    flat.extend(0 if rec.end_line is None else rec.end_line + 1 for rec in recs)
    flat.extend(rec.extra_starts for rec in recs)
    return {"live_strings": list(index), "live": flat}


def _live(strings: list[Any], flat: array[int], count: int) -> dict[int, SessionRec]:
    """The live sessions :func:`_live_state` saved, by seq (checked: seqs among the ``count``
    sessions, each once; texts in the table, the required ones there). Each check is one pass
    over a column in C."""
    rows, rest = divmod(len(flat), 1 + WIDTH)
    if rest:
        raise ValueError("the live sessions' columns are not whole")
    seqs, columns = flat[:rows], flat[rows:]
    if strings[:1] != [None] or not set(map(type, strings[1:])) <= {str}:
        raise ValueError("the live sessions' string table is not None then texts")
    for n in _REQUIRED_AT:
        if 0 in columns[n * rows : (n + 1) * rows]:
            raise ValueError(f"a live session without {SESSION_TEXT[n]}")
    if rows and (max(seqs) >= count or any(a >= b for a, b in pairwise(seqs))):
        raise ValueError("a live session out of range or saved twice")
    # One copy of each text, shared with the fold's other tables (and JSON made one string per
    # value of the table: each text once already). A text index past the table raises
    # IndexError as the sessions are made (from_state says ValueError): no pass to check first.
    table: list[Any] = [None, *map(_intern, strings[1:])]
    get = table.__getitem__
    fields: list[Iterable[Any]] = [
        map(get, columns[n * rows : (n + 1) * rows]) for n in range(len(SESSION_TEXT))
    ]
    fields.extend(columns[n * rows : (n + 1) * rows] for n in range(len(SESSION_TEXT), WIDTH))
    return dict(zip(seqs, map(restore_session, seqs, *fields), strict=True))


_intern = sys.intern
_REQUIRED_AT = tuple(
    SESSION_TEXT.index(name) for name in ("task", "started_at", "source", "last_event_at")
)

# -- checking a saved fold (untrusted data) -----------------------------------------------------


def _ints(value: object) -> array[int]:
    if type(value) is not array or value.typecode != "I":
        raise ValueError(f"expected a uint32 array, found {type(value).__name__}")
    return value


def _seqs(values: Iterable[object], count: int) -> list[int]:
    """Session positions, each checked to be one of the ``count`` sessions."""
    out = list(values)
    if not set(map(type, out)) <= {int}:
        raise ValueError("a session reference that is not an integer")
    seqs = cast(list[int], out)
    if seqs and not (min(seqs) >= 0 and max(seqs) < count):
        raise ValueError("a session reference out of range")
    return seqs


def _claim_row(info: ClaimEventInfo) -> list[object]:
    return [info.event, info.instance, info.ts, info.reason, info.source, info.line]


def _claim_entry(row: object) -> tuple[tuple[str, str], ClaimEventInfo]:
    task, phase, event, instance, ts, reason, source, line = _list(row)
    info = ClaimEventInfo(
        _str(event),
        _str(instance),
        _str(ts),
        None if reason is None else _str(reason),
        _str(source),
        _int(line),
    )
    return (_str(task), _str(phase)), info


def _raw_line(row: object) -> RawLine:
    text, line, source = _list(row)
    return _str(text), _int(line), _str(source)


def _str(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"expected text, found {type(value).__name__}")
    return value


def _text(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, found {type(value).__name__}")
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise ValueError(f"expected true or false, found {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise ValueError(f"expected a list, found {type(value).__name__}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if type(value) is not dict:
        raise ValueError(f"expected an object, found {type(value).__name__}")
    return value


def _str_dict(value: object) -> dict[str, str]:
    out = _dict(value)
    if any(type(v) is not str for v in out.values()):
        raise ValueError("expected an object of texts")
    return dict(out)
