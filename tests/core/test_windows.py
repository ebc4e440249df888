"""Window boundaries, hand-computed; day windows at Asia/Ho_Chi_Minh midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams.core.windows import (
    DAY_MS,
    HOUR_MS,
    LOCAL_OFFSET_MS,
    MINUTE_MS,
    ROLLING_VIEWS,
    rolling_bucket_starts,
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


def test_rolling_bucket_at_the_span_edge_is_out_and_bucket_starting_now_is_in() -> None:
    now = local_ms(2024, 1, 18, 8, 0, 0, 0)  # on a minute and an hour boundary
    starts = rolling_bucket_starts("1m", 60 * MINUTE_MS, now)
    # [now - 61 min, now - 60 min) ends exactly at now - span: out.
    assert now - 61 * MINUTE_MS not in starts
    # [now - 60 min, now - 59 min) overlaps (now - span, now]: in, the oldest.
    assert starts[0] == now - 60 * MINUTE_MS
    # The bucket starting at now holds now: in, the newest.
    assert starts[-1] == now
    assert len(starts) == 61 and starts.step == MINUTE_MS


def test_rolling_bucket_holding_now_minus_span_is_in() -> None:
    now = local_ms(2024, 1, 18, 8, 30, 15, 1)  # inside a minute and an hour
    starts = rolling_bucket_starts("1h", 24 * HOUR_MS, now)
    # One bucket further than the span: the hour holding now - 24 h reaches past it.
    assert starts[0] == local_ms(2024, 1, 17, 8)
    assert starts[-1] == local_ms(2024, 1, 18, 8)
    assert len(starts) == 25
    # The live "1m" view: the current and the previous minute.
    assert list(rolling_bucket_starts("1m", MINUTE_MS, now)) == [
        local_ms(2024, 1, 18, 8, 29),
        local_ms(2024, 1, 18, 8, 30),
    ]


def test_rolling_day_buckets_align_to_local_midnight() -> None:
    window, span = ROLLING_VIEWS["30d"]
    assert (window, span) == ("1d", 30 * DAY_MS)
    # 00:30 local is 17:30 UTC of the day before: the newest bucket is the local day.
    now = local_ms(2024, 1, 19, 0, 30)
    starts = rolling_bucket_starts(window, span, now)
    assert starts[-1] == local_ms(2024, 1, 19) and starts.step == DAY_MS
    assert starts[0] == local_ms(2023, 12, 20)
    assert all(window_start_ms(s, "1d") == s for s in starts)
    assert len(starts) == 31
    # At local midnight the day that ends there is 30 days back at most: the one ending exactly
    # at now - 30 d is out, the day starting at now is in.
    midnight = local_ms(2024, 1, 19)
    at_midnight = rolling_bucket_starts(window, span, midnight)
    assert at_midnight[0] == local_ms(2023, 12, 20) and at_midnight[-1] == midnight
    assert local_ms(2023, 12, 19) not in at_midnight
    assert len(at_midnight) == 31


@pytest.mark.parametrize("view", list(ROLLING_VIEWS))
def test_rolling_starts_are_the_buckets_overlapping_the_span(view: str) -> None:
    window, span = ROLLING_VIEWS[view]
    size = window_end_ms(0, window)
    rng = np.random.default_rng(11)
    for now in rng.integers(1_700_000_000_000, 1_800_000_000_000, size=200).tolist():
        starts = rolling_bucket_starts(window, span, now)
        # Every aligned start from well before the span to now, checked one by one.
        first = window_start_ms(now, window) - (span // size + 5) * size
        candidates = range(first, now + 1, size)
        expected = [s for s in candidates if now - span < s + size and s <= now]
        assert list(starts) == expected, (view, now)
