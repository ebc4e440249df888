"""UnitWindows against hand-computed buckets: counts, lateness, eviction, rolling views."""

from __future__ import annotations

import numpy as np

from streams.core.indicators import (
    COUNTER_INDEX,
    N_COUNTERS,
    RECEIPT_COUNTERS,
    rates,
    receipt_matrix,
)
from streams.core.rollup import Lateness, UnitWindows
from streams.core.windows import DAY_MS, HOUR_MS, MINUTE_MS

T0 = 1_705_539_600_000  # 2024-01-18 08:00:00 +07:00


def receipt(at: int, channel: str, submitter: str, portal: bool, fee: str) -> dict[str, object]:
    return {
        "event_time": at,
        "channel": channel,
        "submitter_type": submitter,
        "via_national_portal": portal,
        "fee_payment": fee,
    }


def apply(windows: UnitWindows, events: list[dict[str, object]], lateness: Lateness):  # type: ignore[no-untyped-def]
    times = np.array([e["event_time"] for e in events], dtype=np.int64)
    return windows.apply(times, receipt_matrix(events), lateness)  # type: ignore[arg-type]


def counts(windows: UnitWindows, window: str, start: int) -> dict[str, int]:
    vec = windows.buckets[(window, start)]
    return {name: int(vec[i]) for i, name in enumerate(RECEIPT_COUNTERS)}


def test_counts_and_rates_hand_computed() -> None:
    w = UnitWindows()
    events = [
        receipt(T0 + 10_000, "online", "citizen", True, "online"),
        receipt(T0 + 50_000, "online", "officer", False, "none"),
        receipt(T0 + 65_000, "in_person", "citizen", False, "in_person"),
        receipt(T0 + 30_000, "postal", "business", False, "none"),
    ]
    result = apply(w, events, Lateness.uniform(HOUR_MS))
    assert not result.late_mask.any()
    assert counts(w, "1m", T0) == {
        "received": 3,
        "online": 2,
        "remote": 1,
        "via_national_portal": 1,
        "fee_dossiers": 1,
        "online_payment": 1,
    }
    assert counts(w, "1m", T0 + MINUTE_MS)["received"] == 1
    day_start = T0 - 8 * HOUR_MS
    assert counts(w, "1d", day_start)["received"] == 4
    assert result.touched == {
        ("1m", T0),
        ("1m", T0 + MINUTE_MS),
        ("1h", T0),
        ("1d", day_start),
    }
    r = rates(w.buckets[("1h", T0)])
    assert r["online_rate"] == 0.5
    assert r["remote_rate"] == 0.25
    assert r["online_payment_rate"] == 0.5
    assert rates(np.zeros(N_COUNTERS, dtype=np.int64))["online_rate"] is None
    assert w.watermark_ms == T0 + 65_000


def test_lateness_per_window() -> None:
    w = UnitWindows()
    lateness = Lateness({"1m": 10 * MINUTE_MS, "1h": DAY_MS, "1d": DAY_MS})
    apply(w, [receipt(T0 + 2 * HOUR_MS, "online", "citizen", False, "none")], lateness)
    # 2 hours late: too late for its minute, still in time for its hour and day.
    result = apply(w, [receipt(T0, "online", "citizen", False, "none")], lateness)
    assert not result.late_mask[0]
    assert result.accepted["1m"].tolist() == [False]
    assert result.accepted["1h"].tolist() == [True]
    assert ("1m", T0) not in w.buckets
    assert counts(w, "1h", T0)["received"] == 1
    # 3 days late: late for every window, counted nowhere.
    before = {k: v.copy() for k, v in w.buckets.items()}
    result = apply(w, [receipt(T0 - 3 * DAY_MS, "online", "citizen", False, "none")], lateness)
    assert result.late_mask.tolist() == [True]
    assert not result.touched
    assert all((w.buckets[k] == v).all() for k, v in before.items())


def test_eviction_keeps_rolling_horizons() -> None:
    w = UnitWindows()
    lateness = Lateness.uniform(0)
    apply(w, [receipt(T0, "online", "citizen", False, "none")], lateness)
    apply(w, [receipt(T0 + 2 * HOUR_MS, "online", "citizen", False, "none")], lateness)
    dropped = w.evict(lateness)
    assert ("1m", T0) in dropped  # older than the 60-minute view
    assert ("1h", T0) in w.buckets  # the 24-hour view still needs it
    now = T0 + 2 * HOUR_MS
    assert int(w.rolling("24h", now)[COUNTER_INDEX["received"]]) == 2
    assert int(w.rolling("60m", now)[COUNTER_INDEX["received"]]) == 1
    assert int(w.rolling("30d", now)[COUNTER_INDEX["received"]]) == 2


def test_state_round_trips_through_bytes() -> None:
    w = UnitWindows()
    apply(
        w,
        [receipt(T0 + i * 7_000, "online", "citizen", i % 2 == 0, "online") for i in range(20)],
        Lateness.uniform(HOUR_MS),
    )
    back = UnitWindows.from_bytes(w.to_bytes())
    assert back.watermark_ms == w.watermark_ms
    assert back.buckets.keys() == w.buckets.keys()
    assert all((back.buckets[k] == v).all() for k, v in w.buckets.items())
    assert UnitWindows.from_bytes(UnitWindows().to_bytes()).buckets == {}
