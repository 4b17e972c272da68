"""A checkpoint file name's time: the short cut for the usual ``YYYY-MM-DDTHH-MM`` form gives
what the general reading of every form gives."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from factory_tui.core import checkpoints
from factory_tui.core.checkpoints import parse_checkpoint_name

# ASCII digits mostly; other scripts' digits (the pattern's \d matches them) and edge values.
_DIGIT = st.one_of(st.sampled_from("0123456789"), st.sampled_from("٠١٢٣٤٥٦٧٨٩０９"))
_YEAR = st.one_of(
    st.integers(0, 9999).map("{:04d}".format), st.text(_DIGIT, min_size=4, max_size=4)
)
_TWO = st.one_of(st.integers(0, 99).map("{:02d}".format), st.text(_DIGIT, min_size=2, max_size=2))


@given(
    year=_YEAR,
    month=_TWO,
    day=_TWO,
    sep=st.sampled_from("T "),
    hour=_TWO,
    colon=st.sampled_from("-:"),
    minute=_TWO,
    slug=st.sampled_from(["CAB-1", "a", "x-2026-01-01T10-00", "-"]),
)
def test_the_usual_form_reads_as_the_general_path_reads_it(
    year: str, month: str, day: str, sep: str, hour: str, colon: str, minute: str, slug: str
) -> None:
    ts = f"{year}-{month}-{day}{sep}{hour}{colon}{minute}"
    name = f"{ts}-{slug}.json"
    general = checkpoints.name_time(ts)  # every form, through parse_ts
    assert parse_checkpoint_name(name) == (general, slug)


def test_the_usual_form_and_the_others() -> None:
    assert parse_checkpoint_name("2026-10-23T12-04-CAB-1.json") == (
        datetime(2026, 10, 23, 12, 4),
        "CAB-1",
    )
    assert parse_checkpoint_name("2026-02-30T12-04-x.json") == (None, "x")  # no such day
    assert parse_checkpoint_name("0100-01-01T12-04-x.json") == (None, "x")  # out of range
    assert parse_checkpoint_name("2026-10-23T12:04:05-x.json") == (
        datetime(2026, 10, 23, 12, 4, 5),
        "x",
    )
    assert parse_checkpoint_name("notes.json") == (None, "notes")


def test_seconds_written_with_a_dash_are_seconds_not_a_zone() -> None:
    """``12-04-05``: the name's clock with its seconds (it read as 12:04 at UTC-5, five hours
    off, which could make an older checkpoint a task's newest)."""
    assert parse_checkpoint_name("2026-10-23T12-04-05-x.json") == (
        datetime(2026, 10, 23, 12, 4, 5),
        "x",
    )
    assert parse_checkpoint_name("2026-10-23T12-04-05Z-x.json") == (
        datetime(2026, 10, 23, 12, 4, 5),
        "x",
    )
    # a zone after the seconds is still a zone (as UTC, naive: parse_ts's rule)
    assert parse_checkpoint_name("2026-10-23T12-04-05-0500-x.json") == (
        datetime(2026, 10, 23, 17, 4, 5),
        "x",
    )
    assert parse_checkpoint_name("2026-10-23T12:04:05+02:00-x.json") == (
        datetime(2026, 10, 23, 10, 4, 5),
        "x",
    )
