"""``apply_receipts`` (all units of a batch at once) leaves every unit exactly as its own
``UnitWindows.apply`` does: same buckets in the same order, same sums, watermark, receipt
progress, touched keys and windows per receipt (hypothesis)."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.indicators import N_COUNTERS
from streams.core.rollup import NO_WATERMARK, Lateness, UnitWindows, apply_receipts
from streams.core.windows import HOUR_MS, MINUTE_MS, WINDOW_NAMES

T0 = 1_764_000_000_000
LATENESS = Lateness({"1m": HOUR_MS, "1h": 7 * 24 * HOUR_MS, "1d": 7 * 24 * HOUR_MS})


@st.composite
def unit(draw: st.DrawFn) -> UnitWindows:
    w = UnitWindows()
    if draw(st.booleans()):
        w.watermark_ms = w.receipts_ms = T0 + draw(st.integers(0, 20 * 24 * HOUR_MS))
    for _ in range(draw(st.integers(0, 3))):
        window = draw(st.sampled_from(WINDOW_NAMES))
        start = T0 + draw(st.integers(0, 200)) * HOUR_MS
        w.buckets[(window, start)] = np.arange(N_COUNTERS, dtype=np.int64)
    return w


@settings(max_examples=300, deadline=None)
@given(
    units=st.lists(unit(), min_size=1, max_size=5),
    receipts=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 30 * 24 * 60), st.integers(0, 3)),
        max_size=40,
    ),
)
def test_batch_apply_equals_apply_per_unit(
    units: list[UnitWindows], receipts: list[tuple[int, int, int]]
) -> None:
    # Receipts grouped by unit, as the pipeline hands them over.
    receipts = sorted((u % len(units), minute, k) for u, minute, k in receipts)
    unit_of = np.array([u for u, _, _ in receipts], dtype=np.int64)
    times = np.array([T0 + minute * MINUTE_MS + 1 for _, minute, _ in receipts], dtype=np.int64)
    increments = np.zeros((len(receipts), N_COUNTERS), dtype=np.int64)
    for i, (_, _, k) in enumerate(receipts):
        increments[i, : k + 1] = 1
    batch = copy.deepcopy(units)
    got = apply_receipts(batch, unit_of, times, increments, LATENESS)
    bits = got.windows_bits.tolist()
    for u, want in enumerate(units):
        mine = unit_of == u
        result = want.apply(times[mine], increments[mine], LATENESS)
        assert list(batch[u].buckets) == list(want.buckets)  # same keys, same order
        for key, counts in want.buckets.items():
            assert batch[u].buckets[key].tolist() == counts.tolist()
        assert (batch[u].watermark_ms, batch[u].receipts_ms) == (
            want.watermark_ms,
            want.receipts_ms,
        )
        assert got.touched[u] == result.touched
        expected_bits = (
            [
                sum(1 << i for i, w in enumerate(WINDOW_NAMES) if result.accepted[w][j])
                if w_any
                else 0
                for j, w_any in enumerate((~result.late_mask).tolist())
            ]
            if mine.any()
            else []
        )
        assert [b for b, m in zip(bits, mine.tolist(), strict=True) if m] == expected_bits


def test_no_receipts_changes_nothing() -> None:
    w = UnitWindows()
    got = apply_receipts(
        [w], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, N_COUNTERS), np.int64),
        LATENESS,
    )  # fmt: skip
    assert got.touched == [set()] and len(got.windows_bits) == 0
    assert w.watermark_ms == NO_WATERMARK and not w.buckets


def test_late_and_partly_late_receipts_across_units() -> None:
    """Unit 0's watermark is 2 h on: a receipt 90 min back is late for its minute only; unit
    1's is 8 days on: the same instant is late everywhere. Unit 2 has none: untouched."""
    base = T0 + 10 * 24 * HOUR_MS
    units = [UnitWindows(), UnitWindows(), UnitWindows()]
    units[0].watermark_ms = base + 2 * HOUR_MS
    units[1].watermark_ms = base + 8 * 24 * HOUR_MS
    times = np.array([base + 30 * MINUTE_MS, base + 30 * MINUTE_MS], dtype=np.int64)
    ones = np.ones((2, N_COUNTERS), dtype=np.int64)
    got = apply_receipts(units, np.array([0, 1], dtype=np.int64), times, ones, LATENESS)
    assert got.windows_bits.tolist() == [0b110, 0]
    assert {w for w, _ in got.touched[0]} == {"1h", "1d"}
    assert got.touched[1] == set() and got.touched[2] == set()
    assert units[0].watermark_ms == base + 2 * HOUR_MS  # an older receipt does not move it
    assert units[1].receipts_ms == NO_WATERMARK  # a late one does not count as progress
