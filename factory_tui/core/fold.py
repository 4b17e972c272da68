"""Fold the operations.log, one event at a time, into what the fleet needs to know.

The fold keeps sessions and per-instance activity, never the whole log: feeding an appended line
costs one line of work whatever the log's size, and a million-line history is read in one pass in
bounded memory. Events are fed in log order (``operations.log.1`` first).
"""

from __future__ import annotations

import re
import sys
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

from factory_tui.core import fold_state
from factory_tui.core.activity import HOOK_EVENTS, AgentSignal
from factory_tui.core.fold_records import (
    RECENT_PER_INSTANCE,
    ClaimEventInfo,
    RawLine,
    SessionRec,
    claim_key,
    is_audit,
)
from factory_tui.core.fold_sessions import SavedArchive, SavedEnded, SessionRefs, SessionTable
from factory_tui.core.launches import LaunchRec
from factory_tui.core.oplog import (
    REQUIRED_FIELDS,
    REST_OF_LINE,
    Event,
    format_event,
    parse_line,
)
from factory_tui.core.problems import Problem
from factory_tui.core.timeparse import valid_ts

# The canonical shapes of the common lines (values without spaces, quotes or "="):
# "step=S task=T ...", "task=T file=F ...", and the whole of a SESSION-START / SESSION-END.
_V = r"""([^\s="']+)"""
_STEP_KV = re.compile(rf"step={_V} task={_V}(?= |$)")
_CHECKPOINT_KV = re.compile(rf"task={_V} file={_V}(?= |$)")
_START_KV = re.compile(rf"task={_V} branch={_V}(?: instance={_V})?(?: recovered_from={_V})?\Z")
_END_KV = re.compile(rf"task={_V} status={_V}(?: pr={_V})?(?: recovered_by={_V})?\Z")
# The rest of a line after the fields a fast path reads: plain tokens and "quoted" values
# without escapes (what parse_fields reads the same way, whatever its contents).
_PLAIN_TAIL = re.compile(r"""(?: [^\s="']+=(?:"[^"\\]*"|[^\s"']*))*\Z""")


def _pick(kv: str, key: str) -> str | None:
    """The value of ``key`` in plain ``k=v k=v`` text (no quotes), or ``None``. The last one
    wins when a key repeats, as in a dict built from the pairs."""
    probe = key + "="
    at = kv.rfind(probe)
    while at > 0 and kv[at - 1] != " ":
        at = kv.rfind(probe, 0, at)
    if at < 0:
        return None
    start = at + len(probe)
    end = kv.find(" ", start)
    return (kv[start:] if end < 0 else kv[start:end]) or None


Replay = (
    tuple[Literal["claim"], tuple[str, str], ClaimEventInfo]
    | tuple[Literal["change"], str, Event | None]
)
"""A claim event or a change, as :attr:`LogFold.replays` notes it."""
MAX_PROBLEMS = 500
_SHARED_TIMES = 8192
"""How many valid timestamps :meth:`LogFold._check_ts` remembers before it starts again. A log
is in time order (a minute's lines are together): a time seen thousands of times ago hardly
comes back (one that does is checked again, with the same answer). 100,000 of them were 10 MB
of a 300-day history's fold."""
RECENT_GLOBAL = 400
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")


class LogFold:
    """Everything the fleet derivation needs from operations.log, kept up to date incrementally.

    ``utc``: timestamps without a zone are UTC (metrics.log); they are kept raw either way.
    Only an agent's own lines are its activity (``instance_last_event``, a session's
    ``last_event_at``); factory-tui's audit lines (``by=``) still close sessions, record steps and
    release claims.
    """

    def __init__(self, *, utc: bool = False) -> None:
        self.utc = utc
        self.sessions = SessionTable()
        """Every session; the old ended ones packed as the fold goes (see :meth:`_start`)."""
        self.ended = SessionRefs(self.sessions)
        """The sessions that ended, in the order they did."""
        self.open_by_task: dict[str, list[SessionRec]] = {}
        self.latest_by_task: dict[str, SessionRec] = {}
        self.instance_last_start: dict[str, str] = {}
        self.instance_last_event: dict[str, str] = {}
        self.instance_recent: dict[str, deque[RawLine]] = {}
        self.instance_sessions: dict[str, SessionRefs] = {}
        # (task, phase) -> its last CLAIM or RELEASE.
        self.claim_events: dict[tuple[str, str], ClaimEventInfo] = {}
        self.open_claims: dict[tuple[str, str], dict[str, ClaimEventInfo]] = {}
        """(task, phase) -> instance -> its CLAIM with no RELEASE by that instance since: what
        each agent believes it holds (a lost claim when the file names someone else)."""
        self.open_changes: dict[str, Event] = {}
        """factory-tui's ``*-INTENT`` lines not yet followed by a line with the same ``change=``
        (a half-done change: the writer died or could not log the outcome)."""
        self.agent_signals: dict[str, AgentSignal] = {}
        """instance -> its last hook line about its turn (``AGENT-WAITING``, ``AGENT-TURN-END``,
        ``AGENT-RESUMED``, written by ``factory-tui hook``), until the agent logs anything else."""
        self.launches: dict[str, LaunchRec] = {}
        """Claim key -> its latest LAUNCH line (factory-tui started an agent on it)."""
        self.recent: deque[RawLine] = deque(maxlen=RECENT_GLOBAL)
        self.counts: Counter[str] = Counter()
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.events = 0
        self.last_ts: str | None = None
        # Valid timestamps seen lately, each mapped to one shared copy: a million-line history
        # keeps its sessions' times as a few tens of thousands of strings instead of millions.
        self._good_ts: dict[str, str] = {}
        self._good_names: set[str] = set()
        self._to_pack = 2 * self.sessions.chunk
        """Sessions to start before :meth:`_pack` is due."""
        self.replays: list[Replay] | None = None
        """A list: the claim events and changes are also noted here, in order, to be replayed
        on the fold of the log before (:mod:`factory_tui.core.fold_split`)."""

    # -- reading --------------------------------------------------------------------------------

    def recent_events(self, instance: str | None = None) -> list[Event]:
        """The last events of one instance (or of the whole log), parsed on demand."""
        raw = self.recent if instance is None else self.instance_recent.get(instance, ())
        out: list[Event] = []
        for text, line, source in raw:
            parsed = parse_line(text, line, source, utc=self.utc)
            if isinstance(parsed, Event):
                out.append(parsed)
        return out

    # -- saving and restoring (the warm-start cache) ------------------------------------------

    def to_state(
        self, spill: Callable[[array[int]], None] | None = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """Everything the fold knows, as JSON-able data for :meth:`from_state` (see
        :func:`factory_tui.core.fold_state.to_state`)."""
        return fold_state.to_state(self, spill, now)

    @classmethod
    def from_state(
        cls, state: object, saved: SavedArchive = None, saved_ended: SavedEnded = None
    ) -> LogFold:
        """The fold :meth:`to_state` saved; ``ValueError`` for anything else; ``saved``: its
        archive of sessions, ``saved_ended`` its first ended ones, read when first needed (see
        :func:`factory_tui.core.fold_state.from_state`)."""
        return fold_state.from_state(cls, state, saved, saved_ended)

    # -- feeding -------------------------------------------------------------------------------

    def feed_all(self, items: Iterable[Event | Problem]) -> None:
        for item in items:
            if isinstance(item, Problem):
                self.add_problem(item)
            else:
                self.feed(item)

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def feed(self, event: Event) -> None:
        text = format_event(event.ts, event.name, event.fields.items())
        self._apply(event.ts, event.name, event.fields, event.line, event.source, text)

    def feed_block(self, data: bytes, source: str, first_line: int = 1) -> None:
        """Fold complete lines joined by ``\\n`` (no trailing newline): decoded in one go."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.feed_lines(data.split(b"\n"), source, first_line)
            return
        texts = text.split("\n")
        if "\r" in text:
            texts = [t[:-1] if t[-1:] == "\r" else t for t in texts]
        self._feed_texts(texts, source, first_line)

    def feed_lines(self, lines: Iterable[bytes], source: str, first_line: int = 1) -> None:
        """Fold raw lines (bytes without the newline); an undecodable one becomes a problem."""
        texts: list[str] = []
        start = first_line
        for number, raw in enumerate(lines, start=first_line):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self._feed_texts(texts, source, start)
                texts = []
                start = number + 1
                self.add_problem(Problem(source, f"not UTF-8 text (byte {error.start})", number))
                continue
            texts.append(text[:-1] if text[-1:] == "\r" else text)
        self._feed_texts(texts, source, start)

    def _feed_texts(self, texts: list[str], source: str, first_line: int) -> None:
        """The hot path of a big log, equivalent to ``feed_all(iter_lines(...))`` (``texts``:
        the lines, numbered from ``first_line``, each without its line end).

        Plain lines are split with C-level string methods; the commonest kind (``STEP-*`` with
        ``step=`` and ``task=`` first) is folded inline without a dict, the other well-formed
        lines with a dict but without the general parser; a line with quotes or an odd shape
        takes the general parser. Per-line bookkeeping (event counts) is summed per block.
        A run of steps and checkpoints of one task (an agent's, one after another) looks its
        session up once: only a line of another kind can open or close a session, or set a
        hook's signal.
        """
        good_ts = self._good_ts
        good_names = self._good_names
        apply = self._apply
        open_by_task = self.open_by_task
        recent_all = self.recent.append
        last_event = self.instance_last_event
        instance_recent = self.instance_recent
        signals = self.agent_signals
        done_steps = start_steps = checkpoints = starts = ends = 0
        last_ts = self.last_ts
        step_kv = _STEP_KV.match
        checkpoint_kv = _CHECKPOINT_KV.match
        start_kv = _START_KV.match
        end_kv = _END_KV.match
        plain_tail = _PLAIN_TAIL.match
        touch = self._touch
        intern = sys.intern
        # The session of the last step or checkpoint folded inline, its task, its instance
        # and that instance's recent lines (None: look the next one up).
        run_task: str | None = None
        run_session: SessionRec | None = None
        run_instance: str | None = None
        run_recent: deque[RawLine] | None = None
        session: SessionRec | None
        for line, text in enumerate(texts, first_line):
            ts, sep, rest = text.partition(" | ")
            name, sep2, kv = rest.partition(" | ")
            if sep2 and (ts := good_ts.get(ts) or self._check_ts(ts)):
                # A step or a checkpoint of the commonest shape: its task, and its step's
                # state ("done", "start"; None: a checkpoint).
                task: str | None = None
                if (
                    (name == "STEP-DONE" or name == "STEP-START")
                    and (m := step_kv(kv)) is not None
                    and "instance=" not in kv
                    and "step=" not in (tail := kv[m.end() :])
                    and "task=" not in tail
                    and "by=" not in tail
                    and (
                        ('"' not in tail and "'" not in tail)
                        or ("pr=" not in tail and "branch=" not in tail and plain_tail(tail))
                    )
                ):
                    if name == "STEP-DONE":
                        done_steps += 1
                        state = "done"
                    else:
                        start_steps += 1
                        state = "start"
                    task, value = m[2], m[1]
                elif (
                    name == "CHECKPOINT"
                    and (m := checkpoint_kv(kv)) is not None
                    and "instance=" not in kv
                    and "file=" not in (tail := kv[m.end() :])
                    and "task=" not in tail
                    and "by=" not in tail
                    and '"' not in tail
                    and "'" not in tail
                ):
                    checkpoints += 1
                    state = None
                    task, value = m[1], m[2]
                if task is not None:
                    last_ts = ts
                    entry: RawLine = (text, line, source)
                    recent_all(entry)
                    session = run_session if task == run_task else None
                    if session is None:
                        opened = open_by_task.get(task)
                        if not opened:
                            run_task = None
                            continue
                        session = opened[-1]
                        run_task, run_session = task, session
                        run_instance = session.instance
                        run_recent = None
                        if run_instance is not None and signals:
                            signals.pop(run_instance, None)
                    if state is None:
                        session.checkpoint_file = value
                    else:
                        session.last_step = intern(value)
                        session.last_step_state = state
                        session.last_step_at = ts
                        if tail and '"' not in tail and "'" not in tail:
                            if "pr=" in tail and (pr := _pick(tail, "pr")):
                                session.pr = pr
                            if not session.branch and "branch=" in tail:
                                session.branch = _pick(tail, "branch")
                    # A step or checkpoint of an open session: its activity.
                    session.last_event_at = ts
                    if run_instance is not None:
                        last_event[run_instance] = ts
                        if run_recent is None:
                            run_recent = instance_recent.get(run_instance)
                            if run_recent is None:
                                run_recent = instance_recent[run_instance] = deque(
                                    maxlen=RECENT_PER_INSTANCE
                                )
                        run_recent.append(entry)
                    continue
                run_task = None  # any other line may open, close or signal
                fields: dict[str, str] | None = None
                if '"' in kv or "'" in kv:
                    pass  # the general parser reads quoted values
                elif name == "SESSION-START" and (m := start_kv(kv)) is not None:
                    starts += 1
                    last_ts = ts
                    entry = (text, line, source)
                    recent_all(entry)
                    opening = SessionRec(ts, m[1], m[2], m[3], m[4], None, line, source)
                    session = self._start(opening)
                    if instance := session.instance:
                        touch(instance, ts, entry)
                    continue
                elif name == "SESSION-END" and (m := end_kv(kv)) is not None:
                    ends += 1
                    last_ts = ts
                    entry = (text, line, source)
                    recent_all(entry)
                    ended = self._end(ts, m[1], m[2], m[4], m[3], line, source)
                    if ended is not None and (instance := ended.instance):
                        touch(instance, ts, entry)
                    continue
                elif name in REST_OF_LINE:
                    pass  # the general parser reads these
                elif name in good_names or self._check_name(name):
                    try:
                        fields = dict(token.split("=", 1) for token in kv.split())
                    except ValueError:
                        fields = None  # a bare word: the general parser keeps it under "_"
                    else:
                        if "" in fields:
                            fields = None
            else:
                run_task = None
                if (
                    not sep2
                    and sep
                    and "|" not in rest
                    and (ts := good_ts.get(ts) or self._check_ts(ts))
                    and (name in good_names or self._check_name(name))
                ):
                    fields = {}  # "ts | NAME" with no fields at all
                else:
                    fields = None
            if fields is None:
                parsed = parse_line(text, line, source, utc=self.utc)
                if parsed is None:
                    continue
                if isinstance(parsed, Problem):
                    self.add_problem(parsed)
                    continue
                ts, name, fields = parsed.ts, parsed.name, parsed.fields
            if done_steps or start_steps or checkpoints or starts or ends:
                self._count_inline(done_steps, start_steps, checkpoints, starts, ends, last_ts)
                done_steps = start_steps = checkpoints = starts = ends = 0
            apply(ts, name, fields, line, source, text)
            last_ts = self.last_ts
        if done_steps or start_steps or checkpoints or starts or ends:
            self._count_inline(done_steps, start_steps, checkpoints, starts, ends, last_ts)

    def _count_inline(
        self, done: int, started: int, checkpoints: int, starts: int, ends: int, last_ts: str | None
    ) -> None:
        """Account for the lines the fast paths folded without :meth:`_apply`."""
        self.events += done + started + checkpoints + starts + ends
        counts = self.counts
        for name, n in (
            ("STEP-DONE", done),
            ("STEP-START", started),
            ("CHECKPOINT", checkpoints),
            ("SESSION-START", starts),
            ("SESSION-END", ends),
        ):
            if n:
                counts[name] += n
        self.last_ts = last_ts

    def _check_ts(self, ts: str) -> str:
        """``ts`` when it is a valid timestamp (remembered as the shared copy), else ``""``."""
        if not valid_ts(ts):
            return ""
        if len(self._good_ts) > _SHARED_TIMES:
            self._good_ts.clear()
        self._good_ts[ts] = ts
        return ts

    def _check_name(self, name: str) -> bool:
        if not _EVENT_NAME.match(name) or name != name.upper():
            return False
        self._good_names.add(name)
        return True

    def _apply(
        self, ts: str, name: str, fields: dict[str, str], line: int, source: str, text: str
    ) -> None:
        self.events += 1
        self.counts[name] += 1
        entry: RawLine = (text, line, source)
        self.recent.append(entry)
        self.last_ts = ts
        get = fields.get
        required = REQUIRED_FIELDS.get(name)
        if required and not all(map(get, required)):
            missing = [key for key in required if not get(key)]
            self.add_problem(Problem(source, f"{name} without {', '.join(missing)}", line))
        task = get("task")
        instance = get("instance") or None
        audit = is_audit(fields)
        session: SessionRec | None = None
        if name == "SESSION-START":
            if task:
                opening = SessionRec(
                    ts,
                    task,
                    get("branch") or None,
                    get("instance") or None,
                    get("recovered_from") or None,
                    get("pr") or None,
                    line,
                    source,
                )
                session = self._start(opening, audit=audit)
                instance = session.instance
        elif name == "SESSION-END":
            if task:
                session = self._end(
                    ts,
                    task,
                    get("status") or None,
                    get("recovered_by") or None,
                    get("pr") or None,
                    line,
                    source,
                )
                if session is not None and instance is None:
                    instance = session.instance
        elif task:
            opened = self.open_by_task.get(task)
            if opened:
                session = opened[-1]
                if not audit:
                    session.last_event_at = ts
                if name == "STEP-START" or name == "STEP-DONE":
                    session.last_step = get("step") or None
                    session.last_step_state = "start" if name == "STEP-START" else "done"
                    session.last_step_at = ts
                    pr = get("pr")
                    if pr:
                        session.pr = pr
                    if not session.branch:
                        session.branch = get("branch") or None
                elif name == "CHECKPOINT":
                    session.checkpoint_file = get("file") or None
                elif name == "ERROR":
                    session.last_error = get("error") or None
                if instance is None:
                    instance = session.instance
        if (name == "CLAIM" or name == "RELEASE") and task and instance:
            self._claim_event(
                claim_key(task, get("phase")),
                ClaimEventInfo(name, instance, ts, get("reason") or None, source, line),
            )
        if name == "LAUNCH" and task:
            launched = LaunchRec.from_event(Event(ts, name, fields, line, source))
            if launched is not None:
                self.launches[launched.key] = launched
        change = get("change")
        if change:
            intent = Event(ts, name, fields, line, source) if name.endswith("-INTENT") else None
            self._change(change, intent)
        if instance:
            if audit:
                self._recent(instance, entry)
            else:
                self._touch(instance, ts, entry)
                if name in HOOK_EVENTS:
                    self.agent_signals[instance] = AgentSignal(
                        name, ts, get("kind") or None, get("detail") or None, f"{source}:{line}"
                    )

    def replay(self, op: Replay) -> None:
        """What another fold noted in :attr:`replays`, done here."""
        if op[0] == "claim":
            self._claim_event(op[1], op[2])
        else:
            self._change(op[1], op[2])

    def _change(self, change: str, intent: Event | None) -> None:
        """A line with ``change=``: an intent opens the change, anything else closes it."""
        if self.replays is not None:
            self.replays.append(("change", change, intent))
        if intent is not None:
            self.open_changes[change] = intent
        else:
            self.open_changes.pop(change, None)

    def _claim_event(self, key: tuple[str, str], info: ClaimEventInfo) -> None:
        """Record a CLAIM or RELEASE of ``key``: its last one, and each instance's open CLAIM."""
        if self.replays is not None:
            self.replays.append(("claim", key, info))
        if info.event == "CLAIM":
            self.open_claims.setdefault(key, {})[info.instance] = info
        else:
            held = self.open_claims.get(key)
            if held is not None:
                held.pop(info.instance, None)
                if not held:
                    del self.open_claims[key]
        self.claim_events[key] = info

    def _touch(self, instance: str, ts: str, entry: RawLine) -> None:
        """An event attributed to ``instance``: its last activity and recent lines (whatever it
        logged ends a wait its hook reported; a hook line sets the next one)."""
        self.instance_last_event[instance] = ts
        if self.agent_signals:
            self.agent_signals.pop(instance, None)
        self._recent(instance, entry)

    def _recent(self, instance: str, entry: RawLine) -> None:
        """A line about ``instance`` among its recent lines (an audit line: not its activity)."""
        recent = self.instance_recent.get(instance)
        if recent is None:
            recent = self.instance_recent[instance] = deque(maxlen=RECENT_PER_INSTANCE)
        recent.append(entry)

    def _start(self, session: SessionRec, *, audit: bool = False) -> SessionRec:
        """File a session a SESSION-START opened: its position (``seq``), its names as the
        shared copies, and the tables that find it."""
        intern = sys.intern
        latest_by_task = self.latest_by_task
        superseded = latest_by_task.get(session.task)
        # The shared copies of its names: its task's latest's when they are the same (with ten
        # thousand tasks, another look-up in the table of interned strings missed the CPU's
        # caches, a tenth of a 12M-line fold's extra cost over a thousand tasks).
        if superseded is not None:
            session.task = task = superseded.task
            branch = session.branch
            if branch and branch == superseded.branch:
                session.branch = superseded.branch
            elif branch:
                session.branch = intern(branch)
        else:
            session.task = task = intern(session.task)
            if session.branch:
                session.branch = intern(session.branch)
        latest_by_task[task] = session
        sessions = self.sessions
        sessions.append(session)  # numbers it
        self.note_started()
        opened = self.open_by_task.get(task)
        if opened is None:
            self.open_by_task[task] = [session]
        else:
            session.extra_starts = len(opened)
            opened.append(session)
        if superseded is not None and superseded.ended_at is not None:
            # Packed and kept as its task's latest: no longer needed as a record (forgotten
            # now, not by the packing's periodic check: with 10,000 tasks each check walked
            # ~20,000 kept records, a second of a 12M-line fold).
            sessions.forget(superseded.seq)
        if instance := session.instance:
            session.instance = instance = intern(instance)
            if not audit:
                self.instance_last_start[instance] = session.started_at
            refs = self.instance_sessions.get(instance)
            if refs is None:
                refs = self.instance_sessions[instance] = SessionRefs(sessions)
            refs.append(session)
        return session

    def note_started(self) -> None:
        """A session was appended to :attr:`sessions`: pack the old ones when due."""
        self._to_pack -= 1
        if self._to_pack <= 0:
            self._pack()

    def _pack(self) -> None:
        """Pack the oldest sessions (a chunk's worth of history ago) but the open ones and each
        task's latest: a long log's memory is then its live sessions (see
        :class:`~factory_tui.core.fold_sessions.SessionTable`)."""
        sessions = self.sessions
        sessions.pack(self.keeps)
        self._to_pack = 2 * sessions.chunk - sessions.unpacked

    def pack_rest(self) -> None:
        """Pack every old session left unpacked (a split read's tail, before it is sent: the
        parent unpickled ~7,000 records of the scale factory's, 20 ms of its critical path)."""
        self.sessions.pack_rest(self.keeps)
        self._to_pack = 2 * self.sessions.chunk

    def keeps(self, rec: SessionRec) -> bool:
        """Whether a packed session stays a record: open, or its task's latest."""
        return rec.ended_at is None or self.latest_by_task.get(rec.task) is rec

    def _end(
        self,
        ts: str,
        task: str,
        status: str | None,
        recovered_by: str | None,
        pr: str | None,
        line: int,
        source: str,
    ) -> SessionRec | None:
        opened = self.open_by_task.get(task)
        if not opened:
            self.add_problem(
                Problem(source, f"SESSION-END for task {task!r} with no open session", line)
            )
            return None
        # Closing a crashed session names the oldest one left open; a normal end closes the newest.
        closing_crashed = status == "crashed" or recovered_by is not None
        session = opened.pop(0) if closing_crashed else opened.pop()
        if not opened:
            del self.open_by_task[task]
        self.ended.append(session)
        session.ended_at = ts
        session.end_line = line
        session.end_status = status and sys.intern(status)
        session.recovered_by = recovered_by
        session.last_event_at = ts
        if status == "success":
            # A finished session needs no recovery point: a million-line history would keep a
            # checkpoint name per session (11 MB on the scale factory) that nothing reads.
            session.checkpoint_file = None
        if pr:
            session.pr = pr
        return session
