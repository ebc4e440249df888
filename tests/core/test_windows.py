"""Window boundaries, hand-computed; day windows at Asia/Ho_Chi_Minh midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams.core.windows import (
    LOCAL_OFFSET_MS,
    window_end_ms,
    window_start_ms,
    window_starts,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, ms: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=HCM).timestamp() * 1000) + ms


def test_day_boundary_is_local_midnight() -> None:
    before = local_ms(2024, 1, 18, 23, 59, 59, 999)
    after = local_ms(2024, 1, 19, 0, 0, 0, 0)
    assert after - before == 1
    assert window_start_ms(before, "1d") == local_ms(2024, 1, 18)
    assert window_start_ms(after, "1d") == local_ms(2024, 1, 19)
    assert window_start_ms(before, "1d") != window_start_ms(after, "1d")
    # Local midnight is 17:00 UTC of the previous day.
    assert datetime.fromtimestamp(local_ms(2024, 1, 19) / 1000, UTC).hour == 17


def test_minute_and_hour_windows_are_half_open() -> None:
    t = local_ms(2024, 1, 18, 8, 0, 0, 0)
    assert window_start_ms(t, "1m") == t
    assert window_start_ms(t - 1, "1m") == t - 60_000
    assert window_start_ms(t + 59_999, "1m") == t
    assert window_start_ms(t + 60_000, "1m") == t + 60_000
    assert window_start_ms(t + 3_599_999, "1h") == t
    assert window_end_ms(t, "1h") == t + 3_600_000


def test_fixed_offset_matches_the_zone_database() -> None:
    # Vietnam has no daylight saving; the fixed +07:00 must hold across years.
    for year in (1990, 2000, 2024, 2030):
        for month in (1, 4, 7, 10):
            offset = datetime(year, month, 15, tzinfo=HCM).utcoffset()
            assert offset == timedelta(milliseconds=LOCAL_OFFSET_MS)


@pytest.mark.parametrize("window", ["1m", "1h", "1d"])
def test_vectorised_matches_scalar(window: str) -> None:
    rng = np.random.default_rng(7)
    ts = rng.integers(0, 2_000_000_000_000, size=1000, dtype=np.int64)
    expected = [window_start_ms(int(t), window) for t in ts]
    assert window_starts(ts, window).tolist() == expected
