"""The warm-start caches attacked at random (issue 17): a small factory whose files change between
runs in every way the fleet (or a hostile hand) changes them, and after each change ``status
--json`` answered warm (the fold cache and the kept claim files' and checkpoints' JSON, loaded
and saved as ``status`` does) and by a reader kept alive across the changes (the cockpit's
incremental readers) is, byte for byte, what a cold read answers. A warm answer is never allowed
to differ, whatever happened to the files between runs."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from conftest import config_for
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import factory_tui.cli.status as status_module
from factory_tui.adapters import foldcache
from factory_tui.adapters.factory import FactoryReader
from factory_tui.adapters.factory_logs import FactoryLogs
from factory_tui.adapters.foldcache import FoldCache
from factory_tui.adapters.jsonfiles import JsonFiles
from factory_tui.cli.status import write_json_records
from factory_tui.config import Config
from factory_tui.core import fold_ended, timeparse
from factory_tui.core.timeparse import parse_ts

NOW = parse_ts("2026-02-16T15:42")
assert NOW is not None
LATER = 10 * 10**9
"""How far ahead of the real clock :attr:`JsonFiles.clock` runs when a run patches it: the files
just written count as old enough to keep."""

TASKS = ("a", "b", "CAB-1", "CAB-2")
INSTANCES = ("t1-aaaa", "t2-bbbb", "t3-cccc")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham")


def _ts(minute: int) -> str:
    """A log timestamp ``minute`` minutes into 2026-02-12 (NOW is four days later, past the
    48 hours a fold keeps its ended sessions live for)."""
    return (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M")


START = datetime(2026, 2, 12)
_MINUTE = st.one_of(
    st.integers(0, 4 * 24 * 60 + 15 * 60 + 42),
    st.integers(4 * 24 * 60 + 14 * 60, 4 * 24 * 60 + 15 * 60 + 42),  # the last two hours
)
_SHAPE = st.sampled_from(("", "", "", ":30", "Z", "+02:00", "-05:00", " "))
"""How a log line's time is written: the protocol's, or as seen in the wild (seconds, a zone,
a space for the ``T``)."""


def _logged(minute: int, shape: str) -> str:
    """A log line's time ``minute`` minutes into 2026-02-16, written in ``shape``."""
    text = _ts(minute)
    return text.replace("T", " ") if shape == " " else text + shape


_TIME = st.builds(_logged, _MINUTE, _SHAPE)
_TASK = st.sampled_from(TASKS)
_INSTANCE = st.sampled_from(INSTANCES)
_LINE = st.one_of(
    st.builds(
        lambda m, t, i, r: (
            f"{m} | SESSION-START | task={t} branch=feat/{t} instance={i}"
            + (f" recovered_from={t}" if r else "")
        ),
        _TIME,
        _TASK,
        _INSTANCE,
        st.booleans(),
    ),
    st.builds(
        lambda m, t, s, r: (
            f"{m} | SESSION-END | task={t} status={s}" + (f" recovered_by={r}" if r else "")
        ),
        _TIME,
        _TASK,
        st.sampled_from(("success", "paused", "crashed", "weird")),
        st.sampled_from(("", "t2-bbbb")),
    ),
    st.builds(
        lambda m, t, s: f"{m} | STEP-DONE | step={s} task={t} pr=3",
        _TIME,
        _TASK,
        st.sampled_from(("code", "pr-created", "merged")),
    ),
    st.builds(
        lambda m, t, i: f"{m} | CLAIM | task={t} phase=1 instance={i}",
        _TIME,
        _TASK,
        _INSTANCE,
    ),
    st.builds(
        lambda m, t, i, r: f"{m} | RELEASE | task={t} instance={i} reason={r}",
        _TIME,
        _TASK,
        _INSTANCE,
        st.sampled_from(("done", "stale", "abandoned")),
    ),
    st.builds(
        lambda m, t: f"{m} | CHECKPOINT | task={t} file={m[:16].replace(':', '-')}-{t}.json",
        _TIME,
        _TASK,
    ),
    st.builds(
        lambda m, t, a: f"{m} | RECOVERY | task={t} action={a} from_step=code",
        _TIME,
        _TASK,
        st.sampled_from(("resume", "abandon")),
    ),
    st.builds(
        lambda m, i: f'{m} | ERROR | task=a error=boom detail="x y" instance={i}',
        _TIME,
        _INSTANCE,
    ),
    st.sampled_from(("junk", "", "2026-02-16T25:99 | SESSION-START | task=a", "| | |")),
).map(str.encode)
_RAW_LINE = st.one_of(
    _LINE.map(lambda line: line + b"\n"),
    _LINE.map(lambda line: line + b"\r\n"),  # CRLF
    st.sampled_from((b"\xff\xfe not utf-8 \x80\n", b"2026-02-16T10:00 | STEP-DONE | step=\xe9\n")),
    _LINE,  # no line end (yet)
)

_CHECKPOINT_NAME = st.builds(
    lambda m, sec, zone, slug: (
        _ts(m).replace(":", "-")
        + (f"-{sec:02d}" if sec is not None else "")
        + ("Z" if zone else "")
        + f"-{slug}.json"
    ),
    _MINUTE,
    st.none() | st.integers(0, 59),
    st.booleans(),
    st.sampled_from(("a", "b", "cab-1")),
)


def _claim(ticket: str, owner: str | None, minute: int, title: str) -> bytes:
    return json.dumps(
        {
            "ticket": ticket,
            "title": title,
            "owner": owner,
            "pid": 999_999 if owner else None,
            "hostname": "elsewhere.example",
            "claimed_at": _ts(minute) if owner else None,
            "branch": f"feat/{ticket}",
            "completed_at": None,
        }
    ).encode()


def _status_json(config: Config, cache: FoldCache | None) -> str:
    """``status --json`` in process, as :func:`factory_tui.cli.status._status` runs it (with
    ``cache`` for the user's fold cache; None: ``--no-cache``)."""
    logs = FactoryLogs(config, cache)
    args = argparse.Namespace(json=True, no_cache=cache is None)
    out = io.StringIO()
    logs.start_early(lambda _read_bytes: 0, lead_bytes=status_module.STATUS_LEAD_BYTES)
    try:
        with contextlib.redirect_stdout(out):
            status_module._status_read(args, config, NOW, logs)
    finally:
        logs.close_early()
    return out.getvalue()


def _rewrite_in_place(path: Path, at: float, data: st.DataObject) -> None:
    """Bytes of ``path`` changed at ``at`` (a fraction of its length), its size kept and its
    times put back (only its ctime moves)."""
    if not path.is_file() or not 0 < path.stat().st_size <= foldcache.BLOCK_BYTES:
        return  # past a block, bytes rewritten in the middle go unseen (see the README)
    before = path.stat()
    body = bytearray(path.read_bytes())
    start = min(int(len(body) * at), len(body) - 1)
    length = data.draw(st.integers(1, max(1, min(40, len(body) - start))))
    new = data.draw(st.sampled_from((b"X", b"9", b"|", b" ", b"\n", b"a", b"[x]")))
    body[start : start + length] = (new * length)[:length]
    with path.open("r+b") as f:
        f.write(bytes(body))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _forget_zone() -> None:
    time.tzset()
    timeparse.parse_ts.cache_clear()
    timeparse.parse_utc_ts.cache_clear()


def _fleet_json(reader: FactoryReader) -> str:
    out = io.StringIO()
    write_json_records(reader.fleet(NOW).json_items(), out)
    return out.getvalue()


class WarmDifferential(RuleBasedStateMachine):
    """A factory in a fresh folder; each rule changes its files; after each, warm == cold."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="warm-diff-"))
        self.repo = self.root / "repo"
        (self.repo / ".factory" / "memory" / "checkpoints").mkdir(parents=True)
        (self.repo / ".claude" / "claims").mkdir(parents=True)
        (self.repo / "factory.toml").write_text('memory = ".factory/memory"\n')
        self.config = config_for(self.repo)
        self.cache = FoldCache(self.root / "cache", min_log_bytes=0)
        self.claims = self.config.claims_dir
        self.checkpoints = self.config.checkpoints_dir
        self.log = self.config.log_file
        self.rotated = self.log.with_name(self.log.name + ".1")
        self.targets = self.root / "targets"
        self.targets.mkdir()
        self.zone_before = os.environ.get("TZ")
        self.clock_before = JsonFiles.__dict__["clock"]
        self.kept_before = foldcache.ENDED_KEPT
        self.late_before = fold_ended.LATE_ENDS
        self.live: FactoryReader | None = None

    @initialize(
        later=st.booleans(),
        zone=st.sampled_from(ZONES),
        kept=st.sampled_from((0, 1, 3, foldcache.ENDED_KEPT)),
        late=st.sampled_from((1, 2, fold_ended.LATE_ENDS)),
    )
    def start(self, later: bool, zone: str, kept: int, late: int) -> None:
        """``kept``: the last ended sessions a saved fold holds in its body (the rest are read
        from its file when first needed); ``late``: the ends logged late a walk back goes past.
        Both small: a small log reaches the paths a long history takes."""
        foldcache.ENDED_KEPT = kept
        fold_ended.LATE_ENDS = late
        if later:  # else the real clock: files just written are not kept (RACY_NS)
            JsonFiles.clock = staticmethod(lambda: time.time_ns() + LATER)  # type: ignore[method-assign]
        self._zone(zone)
        self.log.write_bytes(
            b"2026-02-16T09:00 | SESSION-START | task=a branch=b instance=t1-aaaa\n"
        )
        (self.repo / "plan.md").write_text("- [~] a\n")
        (self.repo / "memory.md").write_text("## 🔴 IN PROGRESS\n- a\n")

    def teardown(self) -> None:
        JsonFiles.clock = self.clock_before  # type: ignore[method-assign]
        foldcache.ENDED_KEPT = self.kept_before
        fold_ended.LATE_ENDS = self.late_before
        if self.zone_before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self.zone_before
        _forget_zone()
        shutil.rmtree(self.root, ignore_errors=True)

    def _zone(self, zone: str) -> None:
        """As ``TZ=zone`` for the next runs, each a new process: the times this process parsed
        so far (remembered under the one local zone object) are forgotten."""
        os.environ["TZ"] = zone
        _forget_zone()

    # -- the log --------------------------------------------------------------------------------

    @rule(lines=st.lists(_RAW_LINE, min_size=1, max_size=6))
    def append_log(self, lines: list[bytes]) -> None:
        with self.log.open("ab") as f:
            f.write(b"".join(lines))

    @rule(rotated=st.booleans(), count=st.sampled_from((700, 1500)), task=_TASK)
    def append_many(self, rotated: bool, count: int, task: str) -> None:
        """Enough lines that the file passes the fold cache's 64 KB blocks (its key hashes
        the first and the one before the offset folded)."""
        lines = (
            f"{_ts(5000 + n % 900)} | STEP-DONE | step=s{n} task={task} pr=3 "
            f'detail="line {n} of a long log"\n'
            for n in range(count)
        )
        with (self.rotated if rotated else self.log).open("ab") as f:
            f.write("".join(lines).encode())

    @rule(lines=st.lists(_RAW_LINE, min_size=1, max_size=4))
    def append_rotated(self, lines: list[bytes]) -> None:
        with self.rotated.open("ab") as f:
            f.write(b"".join(lines))

    @rule(keep=st.integers(0, 5))
    def rotate(self, keep: int) -> None:
        """As the hooks rotate: the oldest lines appended to operations.log.1, the log replaced
        by its newest ``keep`` lines (a new file)."""
        data = self.log.read_bytes() if self.log.exists() else b""
        lines = data.splitlines(keepends=True)
        old, new = (
            lines[: len(lines) - keep] if keep else lines,
            lines[len(lines) - keep :] if keep else [],
        )
        with self.rotated.open("ab") as f:
            f.write(b"".join(old))
        temp = self.log.with_name("operations.log.tmp")
        temp.write_bytes(b"".join(new))
        os.replace(temp, self.log)

    @rule()
    def rotate_by_rename(self) -> None:
        """operations.log renamed to operations.log.1 (the old one gone), a new empty log."""
        if self.log.exists():
            os.replace(self.log, self.rotated)
        self.log.write_bytes(b"")

    @rule(cut=st.floats(0, 1))
    def truncate_log(self, cut: float) -> None:
        if self.log.exists():
            size = self.log.stat().st_size
            os.truncate(self.log, int(size * cut))

    @rule(rotated=st.booleans(), at=st.floats(0, 1), data=st.data())
    def rewrite_log_in_place(self, rotated: bool, at: float, data: st.DataObject) -> None:
        """Bytes of the log (or the rotated log) changed, its size kept and its times put
        back."""
        _rewrite_in_place(self.rotated if rotated else self.log, at, data)

    @rule()
    def delete_log(self) -> None:
        self.log.unlink(missing_ok=True)

    @rule()
    def delete_rotated(self) -> None:
        self.rotated.unlink(missing_ok=True)

    # -- claim files ----------------------------------------------------------------------------

    @rule(
        ticket=_TASK,
        owner=st.none() | _INSTANCE,
        minute=_MINUTE,
        title=st.sampled_from(("t", "u", "longer title")),
    )
    def write_claim(self, ticket: str, owner: str | None, minute: int, title: str) -> None:
        path = self.claims / f"{ticket}.json"
        if path.is_symlink():
            path.unlink()
        path.write_bytes(_claim(ticket, owner, minute, title))

    @rule(ticket=_TASK, title=st.sampled_from(("t", "u", "v")))
    def edit_claim_same_size(self, ticket: str, title: str) -> None:
        """The claim rewritten in place, as long as before, its mtime put back (ns)."""
        path = self.claims / f"{ticket}.json"
        if not path.is_file() or path.is_symlink():
            return
        before = path.stat()
        try:
            value = json.loads(path.read_bytes())
        except ValueError:  # a bad claim file put there
            return
        if not isinstance(value, dict) or len(value.get("title", "")) != 1:
            return
        value["title"] = title
        with path.open("r+b") as f:
            f.write(json.dumps(value).encode())
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    @rule(ticket=_TASK, owner=st.none() | _INSTANCE, minute=_MINUTE)
    def replace_claim_by_rename(self, ticket: str, owner: str | None, minute: int) -> None:
        path = self.claims / f"{ticket}.json"
        temp = self.claims / f".{ticket}.tmp"
        temp.write_bytes(_claim(ticket, owner, minute, "r"))
        os.replace(temp, path)

    @rule(ticket=_TASK)
    def delete_claim(self, ticket: str) -> None:
        (self.claims / f"{ticket}.json").unlink(missing_ok=True)

    @rule(ticket=_TASK, to=st.integers(0, 2), owner=st.none() | _INSTANCE, minute=_MINUTE)
    def symlink_claim(self, ticket: str, to: int, owner: str | None, minute: int) -> None:
        """The claim file a symlink to one of three targets (written now), or re-pointed."""
        aim = self.targets / f"{ticket}-{to}.json"
        if not aim.exists():
            aim.write_bytes(_claim(ticket, owner, minute, f"s{to}"))
        path = self.claims / f"{ticket}.json"
        link = self.claims / f".{ticket}.link"
        link.unlink(missing_ok=True)
        link.symlink_to(aim)
        os.replace(link, path)

    @rule(ticket=_TASK, to=st.integers(0, 2), owner=st.none() | _INSTANCE, minute=_MINUTE)
    def rewrite_symlink_target(self, ticket: str, to: int, owner: str | None, minute: int) -> None:
        (self.targets / f"{ticket}-{to}.json").write_bytes(_claim(ticket, owner, minute, "w"))

    @rule(
        name=st.sampled_from(("junk.json", "CAB-1.json")),
        body=st.sampled_from((b"", b"{", b"[]", b"\xff")),
    )
    def bad_claim(self, name: str, body: bytes) -> None:
        path = self.claims / name
        if path.is_symlink():
            path.unlink()
        path.write_bytes(body)

    # -- checkpoints ----------------------------------------------------------------------------

    @rule(name=_CHECKPOINT_NAME, steps=st.integers(0, 3), pr=st.none() | st.integers(1, 9))
    def write_checkpoint(self, name: str, steps: int, pr: int | None) -> None:
        slug = name.rsplit("-", 1)[-1].removesuffix(".json")
        body = {
            "task": slug,
            "branch": f"feat/{slug}",
            "steps_completed": ["branch", "code", "ci"][:steps],
            "steps_remaining": ["merge"],
        }
        if pr is not None:
            body["pr_number"] = pr
        (self.checkpoints / name).write_text(json.dumps(body))

    @rule(data=st.data())
    def delete_checkpoint(self, data: st.DataObject) -> None:
        names = sorted(p.name for p in self.checkpoints.iterdir())
        if names:
            (self.checkpoints / data.draw(st.sampled_from(names))).unlink()

    @rule(drop=st.booleans())
    def replace_checkpoints_folder(self, drop: bool) -> None:
        """The checkpoints folder replaced by a copy (a new inode, the same names or, with
        ``drop``, one fewer)."""
        copy = self.checkpoints.with_name("checkpoints.new")
        shutil.copytree(self.checkpoints, copy)
        names = sorted(copy.iterdir())
        if drop and names:
            names[0].unlink()
        old = self.checkpoints.with_name("checkpoints.old")
        os.rename(self.checkpoints, old)
        os.rename(copy, self.checkpoints)
        shutil.rmtree(old)

    @rule(data=st.data(), pr=st.integers(1, 9))
    def edit_checkpoint_same_size(self, data: st.DataObject, pr: int) -> None:
        names = sorted(p.name for p in self.checkpoints.iterdir())
        if not names:
            return
        path = self.checkpoints / data.draw(st.sampled_from(names))
        before = path.stat()
        value = json.loads(path.read_bytes())
        if "pr_number" not in value:
            return
        value["pr_number"] = pr
        with path.open("r+b") as f:
            f.write(json.dumps(value).encode())
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    # -- the rest -------------------------------------------------------------------------------

    @rule(zone=st.sampled_from(ZONES))
    def change_zone(self, zone: str) -> None:
        self._zone(zone)

    @rule(
        which=st.sampled_from(("plan.md", "memory.md")),
        text=st.sampled_from(
            (
                "- [~] a\n- [x] b\n",
                "- [x] a\n",
                "## 🔴 IN PROGRESS\n- b\n## ✅ DONE\n- a\n",
                "## 🔴 IN PROGRESS\n- a — DONE\n",
                "",
            )
        ),
    )
    def edit_state_file(self, which: str, text: str) -> None:
        (self.repo / which).write_text(text)

    @rule(which=st.sampled_from(("plan.md", "memory.md")), at=st.floats(0, 1), data=st.data())
    def rewrite_state_file_in_place(self, which: str, at: float, data: st.DataObject) -> None:
        _rewrite_in_place(self.repo / which, at, data)

    # -- the check ------------------------------------------------------------------------------

    @invariant()
    def warm_answers_as_cold(self) -> None:
        cold = _status_json(self.config, None)
        warm = _status_json(self.config, self.cache)
        assert warm == cold, "warm status differs from cold"
        again = _status_json(self.config, self.cache)  # the cache the warm run just saved
        assert again == cold, "second warm status differs from cold"
        # The cockpit's incremental readers of the small files, kept alive across the changes
        # (its log tail is not: it follows a log renamed or removed as ``tail -F`` does, which
        # a cold read cannot see).
        live = FactoryReader(self.config)
        if self.live is not None:
            live.claim_folder = self.live.claim_folder
            live.checkpoint_folder = self.live.checkpoint_folder
            live.state_files = self.live.state_files
        self.live = live
        live.refresh_all()
        assert _fleet_json(live) == cold, "the small files' readers kept alive differ from cold"


WarmDifferential.TestCase.settings = settings(
    max_examples=int(os.environ.get("WARM_DIFF_EXAMPLES", "80")),
    stateful_step_count=int(os.environ.get("WARM_DIFF_STEPS", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_warm_status_answers_as_cold() -> None:
    WarmDifferential.TestCase().runTest()
