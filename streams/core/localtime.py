"""Asia/Ho_Chi_Minh local time: the one place the project's clock offset is defined.

Vietnam has kept UTC+07:00 without daylight saving since 1975, so local time is a fixed offset
from the UTC instant (tests/core/test_windows.py checks this against the IANA zone database).
Inside the project every instant is an ``int`` of epoch milliseconds (UTC); these functions turn
instants into local calendar dates and text at the edges, and local wall-clock input back into
instants.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Final

ZONE_NAME: Final = "Asia/Ho_Chi_Minh"
"""IANA name of the zone, as ClickHouse column types and SQL functions take it."""
LOCAL_OFFSET_MS: Final = 7 * 3_600_000
"""Offset of Asia/Ho_Chi_Minh from UTC, milliseconds (UTC+07:00 all year)."""
MS_PER_DAY: Final = 86_400_000
VN: Final = timezone(timedelta(milliseconds=LOCAL_OFFSET_MS), "+07")
"""The zone as a :class:`datetime.tzinfo` (fixed offset)."""
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def local_date(ts_ms: int) -> date:
    """Asia/Ho_Chi_Minh calendar date of the instant ``ts_ms`` (epoch milliseconds, UTC)."""
    return date.fromordinal(_EPOCH_ORDINAL + (ts_ms + LOCAL_OFFSET_MS) // MS_PER_DAY)


def local_midnight_ms(day: date) -> int:
    """Epoch milliseconds (UTC) of 00:00 Asia/Ho_Chi_Minh local time on ``day``."""
    return (day.toordinal() - _EPOCH_ORDINAL) * MS_PER_DAY - LOCAL_OFFSET_MS


def local_day_number(ts_ms: int) -> int:
    """Days since 1970-01-01 of the local calendar date of ``ts_ms`` (a cheap day key)."""
    return (ts_ms + LOCAL_OFFSET_MS) // MS_PER_DAY


def local_datetime(ts_ms: int) -> datetime:
    """The instant ``ts_ms`` as an aware :class:`datetime` in local time."""
    return datetime.fromtimestamp(ts_ms / 1000, VN)


def format_local(ts_ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``ts_ms`` as local wall-clock text (``fmt`` as :meth:`datetime.strftime`); ``""`` for
    ``None``."""
    if ts_ms is None:
        return ""
    return local_datetime(ts_ms).strftime(fmt)


def to_epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of ``moment``; a naive value is taken as local wall-clock time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VN)
    return int(moment.timestamp() * 1000)


def parse_local(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 date or time; without an offset it is local time.

    Raises :class:`ValueError` naming the text when it is not ISO-8601.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO-8601 date or time: {text!r}") from None
    return to_epoch_ms(moment)
