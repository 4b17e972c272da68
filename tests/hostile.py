"""Hostile factories for the adversarial suite (issue 16, "Safe in a hostile world").

A small, valid factory (:func:`base_factory`) plus mutations, each one of the hostile kinds the
issue lists, applied at a *site* (a claim, a checkpoint, plan.md, memory.md, operations.log, a
transcript). A :class:`Spec` is what hypothesis draws: a list of ``(kind, site)`` and the untrusted
text payloads planted in every text field. The checks — :func:`fingerprint` (nothing changed) and
:func:`raw_controls` (no raw control character in an output) — live here too, so every test
reports the same way: which kinds, which output, what went wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fakes import path_without_gh
from hypothesis import strategies as st

from factory_tui.config import encode_project_path

NOW = "2026-02-16T15:42"
HOST = socket.gethostname()  # this machine: pids in claims are probed for real
NO_PID = 1 << 22
"""Past any Linux ``pid_max`` (its ceiling): a pid here is probed for real and found by no one.
4242 was a live process on a busy CI machine, whose memory changed between two reads of one
test."""

#: The untrusted text payloads of the issue, verbatim.
PAYLOADS: tuple[str, ...] = (
    "\x1b[2J",
    "\x1b]52;c;aGVsbG8=\x07",
    "\x1b]0;pwned\x07",
    "\u009b31m",
    "\u202e",
    "[bold red]x[/]",
    "[link=file:///etc/passwd]x[/link]",
    "ok",  # plain text, so a spec can also leave a field harmless
)

#: Where a payload goes (each text site gets its own payload).
TEXT_SITES: tuple[str, ...] = (
    "title",
    "owner",
    "branch",
    "hostname",
    "phase_name",
    "log_value",
    "log_task",
    "checkpoint",
    "plan",
    "memory",
    "model",
)

#: File sites a structural mutation can hit.
FILE_SITES: tuple[str, ...] = (
    "claim",
    "checkpoint",
    "plan.md",
    "memory.md",
    "operations.log",
    "transcript",
)

#: Kinds that can block a reader for ever (FIFO) or make it read without end (/dev/zero): they
#: are only ever run in a subprocess with a timeout and a memory limit.
BLOCKING_KINDS = frozenset({"fifo", "devzero_symlink"})

MEMORY_LIMIT = 2 << 30  # address space of a CLI subprocess (a /dev/zero read stops there)
BIG_INT = "9" * 5000


@dataclass(frozen=True)
class Spec:
    """One hostile factory: structural mutations and the payload of each text site."""

    mutations: tuple[tuple[str, str], ...]
    payloads: tuple[tuple[str, str], ...] = ()
    plan_line_bytes: int = 50_000

    def text(self, site: str) -> str:
        return dict(self.payloads).get(site, "ok")

    @property
    def kinds(self) -> list[str]:
        return [f"{kind}@{site}" for kind, site in self.mutations]

    def describe(self) -> str:
        planted = {s: p for s, p in self.payloads if p != "ok"}
        return f"kinds={self.kinds} payloads={planted!r}"

    @property
    def blocking(self) -> bool:
        return any(kind in BLOCKING_KINDS for kind, _site in self.mutations)


# -- the base factory ----------------------------------------------------------------------------


@dataclass
class Factory:
    root: Path
    claims: Path
    memory: Path
    checkpoints: Path
    transcripts: Path
    extra: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.memory / "operations.log"


def _json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def base_factory(root: Path, spec: Spec | None = None) -> Factory:
    """A small valid factory: a MEGA claim, two standalone tickets, a day of log, a checkpoint,
    plan.md / memory.md and one transcript; every text field carries ``spec``'s payloads."""
    t = (spec or Spec(())).text
    root.mkdir(parents=True)
    (root / "factory.toml").write_text(
        'memory = ".factory/memory"\nclaude_config_dir = ".factory/claude"\n'
    )
    claims = root / ".claude" / "claims"
    claims.mkdir(parents=True)
    memory = root / ".factory" / "memory"
    checkpoints = memory / "checkpoints"
    checkpoints.mkdir(parents=True)
    transcripts = root / ".factory" / "claude" / "projects" / encode_project_path(root)
    transcripts.mkdir(parents=True)
    owner = f"t48217-a3f2{t('owner')}"
    _json(
        claims / "CAB-1290.json",
        {
            "mega": "CAB-1290",
            "title": f"Gateway {t('title')}",
            "created": "2026-02-16T14:00",
            "phases": [
                {
                    "id": 1,
                    "name": f"API {t('phase_name')}",
                    "tickets": ["CAB-1350"],
                    "owner": owner,
                    "pid": NO_PID + 999,
                    "claimed_at": "2026-02-16T14:05",
                    "hostname": f"{HOST}{t('hostname')}",
                    "branch": f"feat/CAB-1350{t('branch')}",
                    "mode": "parallel",
                    "deps": [],
                    "completed_at": None,
                },
                {
                    "id": 2,
                    "name": "E2E",
                    "tickets": ["CAB-1352"],
                    "owner": None,
                    "claimed_at": None,
                    "hostname": None,
                    "branch": None,
                    "mode": "sequential",
                    "deps": [1],
                    "completed_at": None,
                },
            ],
        },
    )
    _json(
        claims / "CAB-1321.json",
        {
            "ticket": "CAB-1321",
            "title": f"ToS {t('title')}",
            "owner": "t51234-beef",
            "pid": NO_PID + 998,
            "hostname": "elsewhere.local",
            "claimed_at": "2026-02-16T09:10",
            "branch": f"fix/CAB-1321{t('branch')}",
            "completed_at": None,
        },
    )
    _json(claims / "CAB-1400.json", {"ticket": "CAB-1400", "title": "free", "owner": None})
    value = t("log_value").replace("\n", " ")
    task = f"traceability{t('log_task')}".replace(" ", "_")
    (memory / "operations.log").write_text(
        f"2026-02-16T14:00 | SESSION-START | task={task} branch=feat/CAB-1350 instance={owner}\n"
        f"2026-02-16T14:05 | CLAIM | task=CAB-1290 phase=1 instance={owner} tickets=CAB-1350\n"
        f'2026-02-16T14:15 | STEP-DONE | step=code task={task} detail="{value}"\n'
        f"2026-02-16T14:25 | CHECKPOINT | task={task} file=2026-02-16T14-25-traceability.json\n"
        f"2026-02-16T09:00 | SESSION-START | task=CAB-1321 branch=fix/CAB-1321 instance=t51234-beef\n"
        f"2026-02-16T09:20 | ERROR | task=CAB-1321 error={value or 'x'}\n",
        encoding="utf-8",
    )
    _json(
        checkpoints / "2026-02-16T14-25-traceability.json",
        {
            "task": task,
            "timestamp": "2026-02-16T14:25:00",
            "branch": f"feat/CAB-1350{t('checkpoint')}",
            "git_sha": "abc1234",
            "pr_number": 367,
            "steps_completed": ["branch", "code"],
            "steps_remaining": ["merge"],
            "context": {"notes": f"ready {t('checkpoint')}"},
            "claimed_phase": {"mega_id": "CAB-1290", "phase_id": 1},
        },
    )
    (root / "plan.md").write_text(
        f"# Plan\n\n- [~] CAB-1290 Gateway {t('plan')}\n"
        f"  - **Phase 1** (parallel) [owner: t4821]\n  - **Phase 2** (sequential) [owner: —]\n"
        "- [x] CAB-1000 done\n",
        encoding="utf-8",
    )
    (root / "memory.md").write_text(
        f"# Memory\n\n## 🔴 IN PROGRESS\n- CAB-1290 {t('memory')}\n\n## ✅ DONE\n- CAB-1000\n",
        encoding="utf-8",
    )
    (transcripts / "session-1.jsonl").write_text(
        json.dumps(
            {
                "type": "assistant",
                "timestamp": "2026-02-16T14:10:00Z",
                "sessionId": "session-1",
                "cwd": str(root),
                "requestId": "req-1",
                "message": {
                    "id": "msg-1",
                    "model": f"claude-sonnet-4{t('model')}",
                    "usage": {"input_tokens": 1200, "output_tokens": 300},
                },
            }
        )
        + "\n",
        encoding="utf-8",
    )
    return Factory(root, claims, memory, checkpoints, transcripts)


# -- the mutations -------------------------------------------------------------------------------


def _site_path(f: Factory, site: str) -> Path:
    """The existing file a site names (its content is replaced by a mutation)."""
    return {
        "claim": f.claims / "CAB-1400.json",
        "checkpoint": f.checkpoints / "2026-02-16T14-25-traceability.json",
        "plan.md": f.root / "plan.md",
        "memory.md": f.root / "memory.md",
        "operations.log": f.log,
        "transcript": f.transcripts / "session-1.jsonl",
    }[site]


def _extra_path(f: Factory, site: str, tag: str) -> Path:
    """A new file named like the site's files (claims, checkpoints, transcripts have folders;
    plan.md, memory.md and operations.log are single files: the file itself is replaced)."""
    if site == "claim":
        return f.claims / f"HOSTILE-{tag}.json"
    if site == "checkpoint":
        return f.checkpoints / f"2026-02-16T15-00-hostile-{tag}.json"
    if site == "transcript":
        return f.transcripts / f"hostile-{tag}.jsonl"
    return _site_path(f, site)


def _replace(path: Path) -> Path:
    if path.is_symlink() or path.is_file():
        path.unlink()
    return path


def _claim(f: Factory, name: str, data: object) -> None:
    path = f.claims / name
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    path.write_bytes(raw)


def _standalone(ticket: object, **fields: object) -> dict[str, object]:
    return {
        "ticket": ticket,
        "title": "hostile",
        "owner": "t11111-0bad",
        "pid": NO_PID + 4242,
        "hostname": HOST,
        "claimed_at": "2026-02-16T12:00",
        "branch": "feat/x",
        "completed_at": None,
        **fields,
    }


def _content(kind: str, site: str, f: Factory) -> bytes:
    """What a content mutation writes at ``site``."""
    if kind == "empty":
        return b""
    if kind == "binary":
        return b"\xff\xfe\x00\x01\x80\x9b[2J\xc3(\n" * 4
    if kind == "deep_json":
        return b"[" * 100_000 + b"]" * 100_000 + b"\n"
    if kind == "huge":
        return b""  # sparse: see mutate
    if kind == "long_line":
        return b""  # see mutate
    raise ValueError(kind)


def mutate(f: Factory, kind: str, site: str, spec: Spec) -> None:
    """Apply one hostile kind at one site."""
    tag = f"{kind}-{site}".replace(".", "_")
    if kind in ("empty", "binary", "deep_json"):
        path = _extra_path(f, site, tag)
        _replace(path).write_bytes(_content(kind, site, f))
    elif kind == "huge":  # over the size cap, without costing the disk: a sparse file
        path = _replace(_extra_path(f, site, tag))
        with path.open("wb") as out:
            out.truncate((4 << 20) + 4096)
    elif kind == "dir_like_file":
        path = _extra_path(f, site, tag)
        _replace(path).mkdir()
        (path / "inside.json").write_text("{}")
    elif kind == "dangling_symlink":
        _replace(_extra_path(f, site, tag)).symlink_to(f.root / "no-such-target")
    elif kind == "devnull_symlink":
        _replace(_extra_path(f, site, tag)).symlink_to("/dev/null")
    elif kind == "devzero_symlink":
        _replace(_extra_path(f, site, tag)).symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(_replace(_extra_path(f, site, tag)))
    elif kind == "long_line":  # plan.md / memory.md with one very long line
        path = _site_path(f, site if site in ("plan.md", "memory.md") else "plan.md")
        line = ("- [~] " + "CAB-1 [owner: t1] " * (spec.plan_line_bytes // 18 + 1))[
            : spec.plan_line_bytes
        ]
        path.write_text(line, encoding="utf-8")
    elif kind == "id_absolute":
        _claim(f, "ABS.json", _standalone("/etc/passwd"))
    elif kind == "id_slash":
        _claim(f, "SLASH.json", _standalone("../../../tmp/evil/x"))
        _claim(f, "MSLASH.json", {"mega": "a/../../b", "phases": [{"id": 1, "owner": "t1-x"}]})
    elif kind == "id_nul":
        _claim(f, "NUL.json", _standalone("CAB-\x001"))
    elif kind == "id_mismatch":
        _claim(f, "CAB-7000.json", _standalone("CAB-7001"))
    elif kind == "id_duplicate":
        _claim(f, "DUP-A.json", _standalone("CAB-1321"))
    elif kind == "lock_file":  # regular files where lock directories go
        (f.claims / "CAB-1321.lock").write_text("not a dir")
        (f.claims / "CAB-1290-phase-2.lock").write_text("")
    elif kind == "temp_leftover":
        (f.claims / ".CAB-1321.json.x7Qz2k.tmp").write_bytes(b'{"ticket": "CAB-13')
        (f.claims / ".CAB-1290.json.a1b2c3.tmp").write_bytes(b"")
    elif kind == "ts_limits":
        _claim(
            f,
            "TS.json",
            {
                "mega": "TS-1",
                "created": "0001-01-01T00:00+14:00",
                "phases": [
                    {
                        "id": 1,
                        "owner": "t1-aaaa",
                        "pid": NO_PID + 4243,
                        "hostname": HOST,
                        "claimed_at": "0001-01-01T00:00+14:00",
                    },
                    {
                        "id": 2,
                        "owner": "t2-aaaa",
                        "hostname": "elsewhere",
                        "claimed_at": "9999-12-31T23:59-14:00",
                        "completed_at": "9999-12-31T23:59-14:00",
                    },
                ],
            },
        )
        with f.log.open("a", encoding="utf-8") as out:
            out.write(
                "0001-01-01T00:00+14:00 | SESSION-START | task=ts branch=b instance=t1-aaaa\n"
                "9999-12-31T23:59-14:00 | STEP-DONE | step=code task=ts\n"
                "9999-12-31T23:59-14:00 | SESSION-START | task=ts2 branch=b instance=t2-aaaa\n"
            )
        (f.checkpoints / "0001-01-01T00-00-ts.json").write_text(
            json.dumps({"task": "ts", "timestamp": "9999-12-31T23:59-14:00"})
        )
    elif kind == "big_int":
        _claim(
            f, "BIGPID.json", f'{{"ticket": "BIG-1", "owner": "t1-b", "pid": {BIG_INT}}}'.encode()
        )
        _claim(
            f,
            "BIGPHASE.json",
            f'{{"mega": "BIG-2", "phases": [{{"id": {BIG_INT}, "deps": [{BIG_INT}]}}]}}'.encode(),
        )
        _claim(f, "BIGSTR.json", _standalone("BIG-3", pid=BIG_INT))
        with f.log.open("a", encoding="utf-8") as out:
            out.write(
                f"2026-02-16T15:00 | CLAIM | task=BIG-2 phase={BIG_INT} instance=t1-b\n"
                f"2026-02-16T15:01 | STEP-DONE | step=pr-created task=big pr={BIG_INT}\n"
            )
        (f.checkpoints / "2026-02-16T15-01-big.json").write_bytes(
            f'{{"task": "big", "pr_number": {BIG_INT}}}'.encode()
        )
    elif kind == "negative_pid":
        _claim(f, "NEG.json", _standalone("NEG-1", pid=-1))
        _claim(f, "ZERO.json", _standalone("NEG-2", pid=0))
    elif kind == "dep_cycle":
        _claim(
            f,
            "CYCLE.json",
            {
                "mega": "CYC-1",
                "phases": [
                    {"id": 1, "deps": [2], "owner": None},
                    {"id": 2, "deps": [3], "owner": None},
                    {"id": 3, "deps": [1], "owner": None},
                    {"id": 4, "deps": [4], "owner": None},
                ],
            },
        )
    else:
        raise ValueError(f"unknown hostile kind {kind!r}")


#: kind → the sites it applies to (a single-site kind has the one site it ignores).
KINDS: dict[str, tuple[str, ...]] = {
    "empty": FILE_SITES,
    "binary": FILE_SITES,
    "deep_json": ("claim", "checkpoint", "transcript"),
    "huge": ("claim", "checkpoint", "transcript", "operations.log", "memory.md"),
    "dir_like_file": FILE_SITES,
    "dangling_symlink": FILE_SITES,
    "devnull_symlink": FILE_SITES,
    "devzero_symlink": FILE_SITES,
    "fifo": FILE_SITES,
    "long_line": ("plan.md", "memory.md"),
    "id_absolute": ("claim",),
    "id_slash": ("claim",),
    "id_nul": ("claim",),
    "id_mismatch": ("claim",),
    "id_duplicate": ("claim",),
    "lock_file": ("claim",),
    "temp_leftover": ("claim",),
    "ts_limits": ("claim",),
    "big_int": ("claim",),
    "negative_pid": ("claim",),
    "dep_cycle": ("claim",),
}

REPLACING = frozenset(
    {"empty", "binary", "deep_json", "huge", "dir_like_file", "dangling_symlink"}
    | {"devnull_symlink", "devzero_symlink", "fifo"}
)

ALL_CASES: tuple[tuple[str, str], ...] = tuple(
    (kind, site) for kind, sites in KINDS.items() for site in sites
)


def build(root: Path, spec: Spec) -> Factory:
    """The base factory with ``spec``'s payloads, then each mutation in order."""
    f = base_factory(root, spec)
    # Kinds that add files (and lines to operations.log) first; those that replace a file by
    # a FIFO, a link, a folder… last (appending to a FIFO would block the test itself).
    for kind, site in sorted(spec.mutations, key=lambda m: m[0] in REPLACING):
        mutate(f, kind, site, spec)
    return f


# -- hypothesis ---------------------------------------------------------------------------------

#: Sites that hold one file (a mutation replaces it): at most one mutation each per spec.
SINGLE_FILE_SITES = frozenset({"plan.md", "memory.md", "operations.log"})


@st.composite
def specs(draw: st.DrawFn, *, blocking: bool = True) -> Spec:
    """A hostile factory: one to five kinds (each at a site) and a payload per text field."""
    cases = [c for c in ALL_CASES if blocking or c[0] not in BLOCKING_KINDS]
    mutations = draw(
        st.lists(
            st.sampled_from(cases),
            min_size=1,
            max_size=5,
            unique_by=lambda c: c[1] if c[1] in SINGLE_FILE_SITES else c,
        )
    )
    payloads = tuple((site, draw(st.sampled_from(PAYLOADS))) for site in TEXT_SITES)
    return Spec(tuple(mutations), payloads)


def every_payload() -> tuple[tuple[str, str], ...]:
    """A payload in every text field (the hostile ones in turn)."""
    hostile = [p for p in PAYLOADS if p != "ok"]
    return tuple((site, hostile[n % len(hostile)]) for n, site in enumerate(TEXT_SITES))


def report(spec: Spec, problems: list[str]) -> str:
    return f"hostile factory {spec.describe()}:\n  " + "\n  ".join(problems)


# -- the checks ----------------------------------------------------------------------------------


def fingerprint(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``root``: (lstat type, mode, content hash or link target). FIFOs and
    devices are never opened; a sparse huge file is hashed (a few MB)."""
    out: dict[str, tuple[str, int, str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", st.st_mode, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", st.st_mode, digest)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode, "")
            else:
                out[rel] = ("other", st.st_mode, "")
    return out


def changes(before: dict[str, tuple[str, int, str]], after: dict[str, tuple[str, int, str]]) -> str:
    """What differs, one line each (empty: nothing)."""
    lines = [f"created {p}" for p in sorted(set(after) - set(before))]
    lines += [f"removed {p}" for p in sorted(set(before) - set(after))]
    lines += [
        f"changed {p}: {before[p][:2]} -> {after[p][:2]}"
        for p in sorted(set(before) & set(after))
        if before[p] != after[p]
    ]
    return "\n".join(lines)


def _is_raw_control(ch: str, *, allow_cr: bool) -> bool:
    code = ord(ch)
    if ch in "\n\t" or (allow_cr and ch == "\r"):
        return False
    return (
        code < 0x20
        or code == 0x7F
        or 0x80 <= code <= 0x9F
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
    )


def raw_controls(text: str, *, allow_cr: bool = False) -> list[str]:
    """Each raw control character in ``text`` (C0 but newline and tab, DEL, C1, bidi overrides),
    as ``U+XXXX at offset N: …context…`` (at most five)."""
    found: list[str] = []
    for n, ch in enumerate(text):
        if _is_raw_control(ch, allow_cr=allow_cr):
            context = text[max(0, n - 30) : n + 30]
            found.append(f"U+{ord(ch):04X} at offset {n}: {context!r}")
            if len(found) == 5:
                break
    return found


# -- running the CLI -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int | None  # None: killed at the time limit
    out: str
    err: str
    seconds: float


def _memory_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def cli_env(tmp: Path) -> dict[str, str]:
    """The environment of a CLI subprocess: no user config, no real ``~/.claude``, no gh, the
    user state in tmp."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FACTORY_TUI_", "CLAUDE_", "ANTHROPIC_"))
    }
    env.update(
        PATH=path_without_gh(env.get("PATH", "")),
        FACTORY_TUI_USER_CONFIG="",
        FACTORY_TUI_STATE_DIR=str(tmp / "user-state"),
        FACTORY_COUNCIL_DISABLE="1",
        XDG_CONFIG_HOME=str(tmp / "xdg-config"),
        TZ="UTC",
    )
    return env


def run_cli(
    args: Sequence[str], env: dict[str, str], *, timeout: float, memory: int = MEMORY_LIMIT
) -> Run:
    """``python -m factory_tui ARGS`` with a time and memory limit; never raises on a hang."""
    import time

    argv = (sys.executable, "-m", "factory_tui", *args)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_memory_limit(memory),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        code = None
    return Run(
        argv=tuple(args),
        code=code,
        out=out.decode("utf-8", errors="replace"),
        err=err.decode("utf-8", errors="replace"),
        seconds=time.monotonic() - started,
    )


def run_problems(run: Run, *, expect: Callable[[int], bool] = lambda c: c == 0) -> list[str]:
    """What is wrong with one CLI run: a hang, a crash (traceback or an unexpected exit code),
    a raw control character on stdout or stderr."""
    name = " ".join(run.argv[:1] + tuple(a for a in run.argv[1:] if a.startswith("--")))
    problems: list[str] = []
    if run.code is None:
        problems.append(f"`{name}` hung: killed after {run.seconds:.1f} s")
    elif "Traceback (most recent call last)" in run.err:
        tail = "\n    ".join(run.err.strip().splitlines()[-4:])
        problems.append(f"`{name}` raised (exit {run.code}):\n    {tail}")
    elif not expect(run.code):
        problems.append(f"`{name}` exit {run.code}: {run.err.strip()[:300]}")
    for stream, text in (("stdout", run.out), ("stderr", run.err)):
        for hit in raw_controls(text):
            problems.append(f"`{name}` {stream}: raw control character {hit}")
    return problems
