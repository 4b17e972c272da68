"""Timestamps as the factory writes them, and as the wild writes them.

The protocol writes ``YYYY-MM-DDTHH:MM`` in local time. Seen as well: seconds, fractions, a ``Z``
or ``+02:00`` suffix, a space instead of ``T``. Every timestamp becomes a naive datetime in local
time, so they compare with each other and with the ``now`` the caller passes in. An aware one is
converted to the zone ``tz`` the caller passes (the adapters pass
:func:`factory_tui.adapters.clock.local_zone`; a test passes a fixed zone; ``None`` is Python's
own "the process's zone"), so the result never depends on a zone nobody named.

metrics.log is the exception: the hooks write its times with ``date -u``, UTC without a marker;
:func:`parse_utc_ts` reads those.

Years outside 1900..9000 are not timestamps: nothing in a factory is that old or that far ahead,
and the edges of ``datetime`` (year 1 with a +14:00 offset, year 9999) overflow as soon as they
are converted to local time or have a duration added.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "format_ts",
    "naive_local",
    "parse_any_ts",
    "parse_ts",
    "parse_utc_ts",
    "utc_naive",
    "valid_ts",
]

MIN_YEAR = 1900
MAX_YEAR = 9000


def naive_local(at: datetime, tz: tzinfo | None = None) -> datetime:
    """``at`` as the factory compares times: naive, local (an aware one is converted to
    ``tz``; a naive one is taken as already local)."""
    return at.astimezone(tz).replace(tzinfo=None) if at.tzinfo is not None else at


def valid_ts(ts: str) -> bool:
    """Whether an event line's time is one the log's fold reads (else the line is a problem):
    :func:`parse_ts`'s answer, the protocol's own shape checked directly."""
    if len(ts) == 16 and ts[10] == "T":
        try:
            return MIN_YEAR <= datetime.fromisoformat(ts).year <= MAX_YEAR
        except ValueError:
            return False
    return ts == ts.strip() and parse_ts(ts) is not None


@lru_cache(maxsize=65536)
def parse_ts(raw: str, tz: tzinfo | None = None) -> datetime | None:
    """Parse one timestamp; ``None`` when it is not one; one with a zone is converted to ``tz``.
    Cached (the zone is part of the key): log timestamps repeat a lot. The protocol's own shape
    (``YYYY-MM-DDTHH:MM``) is read directly (its uncached reading is the spend's: 865,000
    distinct times in a 300-day history)."""
    if len(raw) == 16 and raw[10] == "T":
        try:
            value: datetime | None = datetime.fromisoformat(raw)
        except ValueError:
            value = None
        if value is not None and value.tzinfo is None:
            return value if MIN_YEAR <= value.year <= MAX_YEAR else None
    return parse_any_ts(raw, tz)


def parse_any_ts(raw: str, tz: tzinfo | None = None) -> datetime | None:
    """:func:`parse_ts` of any shape the wild writes (uncached)."""
    text = raw.strip()
    if len(text) < 10:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) > 10 and text[10] in " t":
        text = text[:10] + "T" + text[11:]
    try:
        value = naive_local(datetime.fromisoformat(text), tz)
    except (ValueError, OverflowError):
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    return value


@lru_cache(maxsize=4096)
def parse_utc_ts(raw: str, tz: tzinfo | None = None) -> datetime | None:
    """Like :func:`parse_ts`, but a timestamp without a zone is UTC (metrics.log); the result is
    naive in ``tz``."""
    value = parse_ts(raw, tz)
    if value is None:
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")) or "+" in text[10:] or "-" in text[10:]:
        return value  # it says its zone: already converted
    return value.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def format_ts(value: datetime, *, seconds: bool = False) -> str:
    """The protocol's strict form: ``YYYY-MM-DDTHH:MM`` (``:SS`` when asked)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S" if seconds else "%Y-%m-%dT%H:%M")


def utc_naive(local: datetime, tz: tzinfo | None = None) -> datetime:
    """A naive time in ``tz`` as naive UTC: what metrics.log is written in (``date -u``)."""
    aware = local.replace(tzinfo=tz) if tz is not None else local
    return aware.astimezone(UTC).replace(tzinfo=None)
