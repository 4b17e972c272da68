"""Other hosts' process tables, over their configured SSH argv (``[hosts."NAME"] ssh``).

One batched ``ps`` per host per refresh, with a timeout (the whole process group is killed when
it passes, see :func:`~factory_tui.adapters.run.run_tool`) and a small cache, the hosts asked in
parallel. ``ps -o pid= -o etime= -o args= -p 1,2,3`` is POSIX (Linux and macOS alike): a pid's
start is this machine's clock minus its elapsed time, compared with ``claimed_at`` exactly like a
local pid's. A host that cannot be reached, or answers with something else, gives a
:class:`~factory_tui.core.fleet.HostProcs` with the reason: its pids stay "not checked".

The remote command is built from integers and fixed words only; ssh joins its arguments into a
remote shell line, so nothing agent-written may ever be put in it.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from factory_tui.adapters.run import run_tool
from factory_tui.core.claims import MAX_PID
from factory_tui.core.fleet import HostProcs, ProcInfo
from factory_tui.core.fleet_claims import remote_facts
from factory_tui.core.safe import plain_int

__all__ = ["RemoteProbe", "parse_etime", "parse_ps"]

#: How long one host's ``ps`` may take (ssh's connection included).
TIMEOUT_S = 5.0
#: How long a host's answer stands before it is asked again.
CACHE_S = 10.0
#: An answer longer than this is not a ``ps`` of a few pids.
MAX_OUTPUT = 1 << 20

Runner = Callable[..., subprocess.CompletedProcess[bytes]]

_ETIME = re.compile(r"\A(?:(?:(\d+)-)?(\d+):)?(\d+):(\d+)\Z")


def parse_etime(text: str) -> timedelta | None:
    """``ps``'s elapsed time, ``[[dd-]hh:]mm:ss``."""
    found = _ETIME.match(text.strip())
    if found is None:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_ps(out: str, now: datetime, wanted: Iterable[int]) -> dict[int, ProcInfo]:
    """The lines ``PID ETIME ARGS…`` of the pids asked for (anything else is ignored)."""
    asked = set(wanted)
    table: dict[int, ProcInfo] = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        pid = plain_int(parts[0]) if parts else None
        if len(parts) < 2 or pid is None:
            continue
        elapsed = parse_etime(parts[1])
        if pid not in asked or elapsed is None:
            continue
        args = tuple(parts[2].split()) if len(parts) > 2 else ()
        table[pid] = ProcInfo(pid=pid, started_at=now - elapsed, cmdline=args)
    return table


def ps_command(pids: Iterable[int]) -> list[str]:
    """The remote command: fixed words and integers only (ssh hands it to a remote shell)."""
    listed = ",".join(str(p) for p in sorted(set(pids)) if 0 < p <= MAX_PID)
    return ["ps", "-o", "pid=", "-o", "etime=", "-o", "args=", "-p", listed]


class RemoteProbe:
    """Asks the configured hosts about their claims' pids; answers (and failures) are cached
    ``cache_s`` seconds per host and set of pids."""

    def __init__(
        self,
        hosts: Mapping[str, Sequence[str]],
        *,
        timeout_s: float = TIMEOUT_S,
        cache_s: float = CACHE_S,
        run: Runner = run_tool,
        clock: Callable[[], datetime] = datetime.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hosts = {name: tuple(argv) for name, argv in hosts.items()}
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self.run = run
        self.clock = clock
        self.monotonic = monotonic
        self.calls = 0
        """How many times a host was asked (the cache's hits are not counted)."""
        self._cache: dict[str, tuple[float, frozenset[int], HostProcs]] = {}
        self._lock = threading.Lock()

    def host_of(self, claim_host: str | None) -> str | None:
        """The configured host name a claim's ``hostname`` names, if any."""
        facts = remote_facts({name: HostProcs(name) for name in self.hosts}, claim_host)
        return facts.host if facts is not None else None

    def argv(self, host: str, command: Sequence[str]) -> list[str]:
        return [*self.hosts[host], *command]

    def probe(self, wanted: Mapping[str, Iterable[int]]) -> dict[str, HostProcs]:
        """Each configured host's facts about the pids wanted of it (by claim host name)."""
        by_host: dict[str, set[int]] = {}
        for claim_host, pids in wanted.items():
            host = self.host_of(claim_host)
            if host is not None:
                by_host.setdefault(host, set()).update(p for p in pids if 0 < p <= MAX_PID)
        out: dict[str, HostProcs] = {}
        todo: list[tuple[str, frozenset[int]]] = []
        now = self.monotonic()
        with self._lock:
            for host, pids in sorted(by_host.items()):
                key = frozenset(pids)
                cached = self._cache.get(host)
                if cached is not None and cached[1] == key and now - cached[0] < self.cache_s:
                    out[host] = cached[2]
                else:
                    todo.append((host, key))
        if len(todo) == 1:
            answers = [self.probe_host(*todo[0])]
        elif todo:
            from concurrent.futures import ThreadPoolExecutor  # only with hosts: ~4 ms to import

            with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
                answers = list(pool.map(lambda item: self.probe_host(*item), todo))
        else:
            answers = []
        with self._lock:
            for (host, key), facts in zip(todo, answers, strict=True):
                self._cache[host] = (self.monotonic(), key, facts)
                out[host] = facts
        return out

    def probe_host(self, host: str, pids: Iterable[int]) -> HostProcs:
        """One ``ps`` on ``host`` now (no cache)."""
        pids = sorted(set(pids))
        if not pids:
            return HostProcs(host)
        self.calls += 1
        started = self.clock()
        try:
            done = self.run(self.argv(host, ps_command(pids)), timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            return HostProcs(host, error=f"no answer over ssh within {self.timeout_s:g}s")
        except OSError as error:
            return HostProcs(
                host, error=f"cannot run {self.hosts[host][0]}: {error.strerror or error}"
            )
        out = done.stdout[:MAX_OUTPUT].decode("utf-8", errors="replace")
        err = done.stderr[:300].decode("utf-8", errors="replace").strip()
        table = parse_ps(out, started, pids)
        # ps exits 1 when none of the pids exists: an answer ("none alive"), not a failure.
        if done.returncode == 0 or (done.returncode == 1 and not err):
            return HostProcs(host, table)
        reason = err.splitlines()[-1] if err else f"exit status {done.returncode}"
        return HostProcs(host, error=f"ssh to {host} failed: {reason}")
