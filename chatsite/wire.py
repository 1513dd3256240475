"""Wire encoding shared by REST and the WebSocket: strict JSON and UTC times."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from django.utils.dateparse import parse_date, parse_datetime

_UTC = dt.UTC


def iso(value: dt.datetime | None) -> str | None:
    """`2026-11-25T12:00:00.123Z`: ISO 8601, UTC, millisecond precision, Z suffix."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    elif value.tzinfo is not _UTC:  # the database's datetimes are in UTC already
        value = value.astimezone(_UTC)
    # In UTC isoformat ends "+00:00".
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(dt.datetime.now(_UTC))  # type: ignore[return-value]


def _default(obj: Any) -> Any:
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, dt.datetime):
        return iso(obj)
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Compact JSON text (never NaN or Infinity; newlines inside strings are escaped)."""
    return orjson.dumps(obj, default=_default).decode()


def dumps_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


def loads(data: str | bytes) -> Any:
    """Strict JSON: rejects NaN, Infinity, lone surrogates, invalid UTF-8 and
    nesting deeper than 1024. Raises ValueError."""
    return orjson.loads(data)


def parse_uuid(value: Any) -> uuid.UUID | None:
    """A canonical UUID string as a UUID, or None for anything else."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value.lower() else None


# The largest whole number a BIGINT column (and SQLite's INTEGER) holds.
BIGINT_MAX = 2**63 - 1


def whole_number(value: Any) -> int | None:
    """`value` if it is a JSON whole number a database column can hold
    (0 to BIGINT_MAX; not a bool), else None. Numbers in cursors and seqs come
    from clients: one past the column's range is a 500 on SQLite and never
    matches anything on MariaDB, so it is refused as the bad input it is."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIGINT_MAX:
        return value
    return None


def parse_moment(value: Any, *, dates: bool = False) -> dt.datetime | None:
    """An ISO 8601 timestamp (UTC when it names no offset; with `dates`, a
    date too: its midnight, UTC) as an aware UTC datetime, or None for
    anything else: not text, not a timestamp, an impossible one (February
    30th, hour 25) or one that UTC cannot hold (year 1 at +01:00)."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
        if moment is None and dates:
            day = parse_date(value)
            moment = dt.datetime(day.year, day.month, day.day) if day else None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_UTC)
        return moment.astimezone(_UTC)
    except (ValueError, OverflowError):
        return None


def iso_from_timestamp(value: float | None) -> str | None:
    """A unix time as wire text (None stays None)."""
    if value is None:
        return None
    return iso(dt.datetime.fromtimestamp(value, _UTC))
