"""chatsite.wire: the one spelling of a time on the wire."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from chatsite.wire import iso, iso_from_timestamp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=dt.UTC), "2026-11-25T12:00:00.123Z"),
        (dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC), "2026-11-25T12:00:00.000Z"),
        (dt.datetime(2026, 11, 25, 12, 0, 0, 999999, tzinfo=dt.UTC), "2026-11-25T12:00:00.999Z"),
        # Another zone, and a naive time (taken as UTC), come out in UTC.
        (dt.datetime(2026, 1, 1, 7, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")), "2025-12-31T23:30:00.000Z"),
        (
            dt.datetime(2026, 6, 1, 0, 0, 0, 5000, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2026-06-01T05:00:00.005Z",
        ),
        (dt.datetime(2026, 6, 1, 0, 0, 0, 1000), "2026-06-01T00:00:00.001Z"),
        (None, None),
    ],
)
def test_iso_is_utc_with_milliseconds_and_z(value, text):
    assert iso(value) == text


def test_a_unix_time_is_spelt_the_same_way():
    assert iso_from_timestamp(1_764_072_000.25) == "2025-11-25T12:00:00.250Z"
    assert iso_from_timestamp(None) is None
