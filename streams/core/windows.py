"""Event-time tumbling windows: pure functions over epoch milliseconds.

A window is the half-open interval ``[start, start + size)`` in epoch ms. Minute and hour windows
align to the epoch; day windows align to Asia/Ho_Chi_Minh midnight (:mod:`streams.core.localtime`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from streams.core.localtime import LOCAL_OFFSET_MS

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000

WINDOW_SIZES_MS: Final[dict[str, int]] = {"1m": MINUTE_MS, "1h": HOUR_MS, "1d": DAY_MS}
"""Window name (as stored in ClickHouse) → length in ms."""
WINDOW_NAMES: Final[tuple[str, ...]] = tuple(WINDOW_SIZES_MS)

ROLLING_VIEWS: Final[dict[str, tuple[str, int]]] = {
    "60m": ("1m", 60 * MINUTE_MS),
    "24h": ("1h", 24 * HOUR_MS),
    "30d": ("1d", 30 * DAY_MS),
}
"""Rolling view name → (window it sums, span in ms)."""


def _alignment_ms(window: str) -> int:
    return LOCAL_OFFSET_MS if window == "1d" else 0


def window_start_ms(ts_ms: int, window: str) -> int:
    """Start (epoch ms) of the ``window`` bucket holding instant ``ts_ms``."""
    size = WINDOW_SIZES_MS[window]
    shift = _alignment_ms(window)
    return ((ts_ms + shift) // size) * size - shift


def window_starts(ts_ms: npt.NDArray[np.int64], window: str) -> npt.NDArray[np.int64]:
    """Vectorised :func:`window_start_ms` over an int64 array of epoch ms."""
    size = WINDOW_SIZES_MS[window]
    shift = _alignment_ms(window)
    return ((ts_ms + shift) // size) * size - shift


def window_end_ms(start_ms: int, window: str) -> int:
    """Exclusive end (epoch ms) of the bucket starting at ``start_ms``."""
    return start_ms + WINDOW_SIZES_MS[window]


def rolling_bucket_starts(window: str, span_ms: int, now_ms: int) -> range:
    """Starts (epoch ms) of the ``window`` buckets a rolling view of ``span_ms`` sums at
    instant ``now_ms`` (epoch ms), oldest first.

    The one rule of every rolling view (the worker's windows, the live table, its ClickHouse
    query): a bucket ``[start, start + size)`` counts when it overlaps the half-open interval
    ``(now_ms - span_ms, now_ms]``, i.e. when ``now_ms - span_ms < start + size`` and
    ``start <= now_ms``, so when it *starts* in ``(now_ms - span_ms - size, now_ms]``. A bucket
    ending exactly at ``now_ms - span_ms`` is out; the bucket holding ``now_ms`` (also one
    starting at ``now_ms``) is in. Views cover whole buckets, so they reach back up to one
    bucket further than the span. Starts are aligned like :func:`window_start_ms` (day buckets
    at local midnight), so the range's step is the window size.
    """
    size = WINDOW_SIZES_MS[window]
    # The oldest bucket counted is the one holding instant now - span: it ends after it.
    first = window_start_ms(now_ms - span_ms, window)
    return range(first, window_start_ms(now_ms, window) + 1, size)
