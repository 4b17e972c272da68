"""The machine's time zone, named once: what the adapters and the CLI hand the pure core.

The core converts a timestamp that carries a zone (``Z``, ``+02:00``) to the zone it is given
(:mod:`factory_tui.core.timeparse`); reading the process's zone (``TZ``, /etc/localtime) is I/O,
so it happens here. :class:`LocalZone` follows the C library's rules, daylight saving included,
the same as ``datetime.astimezone()`` without an argument.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta, tzinfo

__all__ = ["LocalZone", "local_zone"]


class LocalZone(tzinfo):
    """The process's zone as a ``tzinfo``: the offset of each instant is asked of the C library
    (``localtime``), so a summer and a winter timestamp each get their own."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(seconds=time.localtime().tm_gmtoff)
        stamp = time.mktime((*dt.replace(tzinfo=None).timetuple()[:8], -1))
        return timedelta(seconds=time.localtime(stamp).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return time.strftime("%Z", time.localtime())

    def fromutc(self, dt: datetime) -> datetime:
        stamp = calendar.timegm(dt.replace(tzinfo=None).timetuple())
        return datetime(*time.localtime(stamp)[:6], dt.microsecond, tzinfo=self)

    def __repr__(self) -> str:
        return "LocalZone()"


_LOCAL = LocalZone()


def local_zone() -> tzinfo:
    """The process's zone (one object, so caches keyed on it stay warm)."""
    return _LOCAL
