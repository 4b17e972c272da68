"""The process table, through psutil: which pids exist, when they started, what they cost."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from datetime import datetime

import psutil

from factory_tui.core.fleet import ProcInfo

__all__ = ["ProcessProbe", "TableProbe", "local_hostname"]


def local_hostname() -> str:
    return socket.gethostname()


class ProcessProbe:
    """Probes pids and remembers ``psutil.Process`` objects so CPU percentages mean something.

    The first sample of a pid has no CPU figure (psutil needs two); later samples give the CPU
    used since the previous one.
    """

    def __init__(self) -> None:
        self._known: dict[int, psutil.Process] = {}

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        table: dict[int, ProcInfo] = {}
        wanted = {pid for pid in pids if isinstance(pid, int) and pid > 0}
        for pid in list(self._known):
            if pid not in wanted:
                del self._known[pid]
        for pid in wanted:
            info = self._probe_one(pid)
            if info is not None:
                table[pid] = info
        return table

    def _probe_one(self, pid: int) -> ProcInfo | None:
        proc = self._known.get(pid)
        first = proc is None
        try:
            if proc is None or not proc.is_running():
                proc = psutil.Process(pid)
                self._known[pid] = proc
                first = True
            with proc.oneshot():
                started = datetime.fromtimestamp(proc.create_time())
                cpu = proc.cpu_percent(interval=None)
                rss = proc.memory_info().rss
                try:
                    cmdline = tuple(proc.cmdline())
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    cmdline = ()
                try:
                    cwd: str | None = proc.cwd()
                except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
                    cwd = None
                if proc.status() == psutil.STATUS_ZOMBIE:
                    self._known.pop(pid, None)
                    return None
        except (psutil.NoSuchProcess, ProcessLookupError):
            self._known.pop(pid, None)
            return None
        except psutil.AccessDenied:
            return ProcInfo(pid=pid)
        return ProcInfo(
            pid=pid,
            started_at=started,
            cpu_percent=None if first else cpu,
            rss_bytes=rss,
            cmdline=cmdline,
            cwd=cwd,
        )


class TableProbe(ProcessProbe):
    """A probe that answers from a table just probed (so that one tick probes once)."""

    def __init__(self, table: dict[int, ProcInfo]) -> None:
        super().__init__()
        self.table = table

    def probe(self, pids: Iterable[int]) -> dict[int, ProcInfo]:
        return {pid: self.table[pid] for pid in pids if pid in self.table}
