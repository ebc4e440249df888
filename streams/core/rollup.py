"""Per-unit window state: event-time buckets of receipt counters, late handling and eviction.

One :class:`UnitWindows` holds everything a unit needs for its 1-minute, 1-hour and 1-day
buckets. It is compact (one int64 vector per open bucket), serialisable to bytes for a Faust
table, and updated a whole batch at a time with numpy.

Lateness is judged per unit against that unit's watermark (the largest receipt time seen from
it before the batch): a bucket accepts events while ``bucket end + allowed lateness >
watermark``. An event past every window's lateness is *late*: it is reported back to the caller
and counted nowhere. Buckets are kept while late events may still reach them and while the
rolling views (60 minutes, 24 hours, 30 days) need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streams.core.indicators import N_COUNTERS
from streams.core.windows import (
    ROLLING_VIEWS,
    WINDOW_NAMES,
    WINDOW_SIZES_MS,
    rolling_bucket_starts,
    window_start_ms,
    window_starts,
)

BucketKey = tuple[str, int]
"""(window name, window start in epoch ms)."""

NO_WATERMARK = -(2**62)

RETENTION_MS: dict[str, int] = {window: span for window, span in ROLLING_VIEWS.values()}
"""How long after its end a bucket stays in state for the rolling views, ms."""


@dataclass(frozen=True, slots=True)
class Lateness:
    """Allowed lateness per window, ms."""

    per_window_ms: Mapping[str, int]

    @classmethod
    def uniform(cls, ms: int) -> Lateness:
        return cls({w: ms for w in WINDOW_NAMES})

    def of(self, window: str) -> int:
        return self.per_window_ms[window]


@dataclass(slots=True)
class ApplyResult:
    """What one batch did to a unit's windows."""

    touched: set[BucketKey] = field(default_factory=set)
    """Buckets whose counters changed: their full rows must be written again."""
    late_mask: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per input event: true if it was too late for every window (counted nowhere)."""
    accepted: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    """Window name → per input event: true if that window counted it."""


@dataclass(slots=True)
class UnitWindows:
    """Open buckets and watermark of one unit."""

    watermark_ms: int = NO_WATERMARK
    buckets: dict[BucketKey, npt.NDArray[np.int64]] = field(default_factory=dict)
    receipts_ms: int = NO_WATERMARK
    """Latest receipt time applied (epoch ms): how far the unit's receipt stream has come."""
    seq: int = 0
    """Batches applied to this unit so far: dossier states carry the ``seq`` of the batch that
    wrote them, which tells, after a crash, whether they are ahead of these windows."""

    def apply(
        self,
        times_ms: npt.NDArray[np.int64],
        increments: npt.NDArray[np.int64],
        lateness: Lateness,
    ) -> ApplyResult:
        """Add ``increments[i]`` to every bucket holding ``times_ms[i]`` that still accepts it.

        ``times_ms`` are receipt instants (epoch ms), ``increments`` has shape
        ``(len(times_ms), N_COUNTERS)``. The watermark moves to the largest time afterwards.
        """
        n = len(times_ms)
        result = ApplyResult(late_mask=np.ones(n, dtype=bool))
        if n == 0:
            return result
        # All windows in one grouping: code = start * 4 + window index identifies a bucket.
        codes: list[npt.NDArray[np.int64]] = []
        rows: list[npt.NDArray[np.int64]] = []
        for index, window in enumerate(WINDOW_NAMES):
            size = WINDOW_SIZES_MS[window]
            starts = window_starts(times_ms, window)
            accepted = starts + size + lateness.of(window) > self.watermark_ms
            result.accepted[window] = accepted
            result.late_mask &= ~accepted
            if accepted.all():
                codes.append(starts * 4 + index)
                rows.append(increments)
            elif accepted.any():
                codes.append(starts[accepted] * 4 + index)
                rows.append(increments[accepted])
        if codes:
            uniq, inverse = np.unique(np.concatenate(codes), return_inverse=True)
            sums = np.zeros((len(uniq), N_COUNTERS), dtype=np.int64)
            np.add.at(sums, inverse, np.concatenate(rows))
            # Bucket updates window by window, each by start (the order buckets enter state).
            order = sorted((code % 4, code // 4, j) for j, code in enumerate(uniq.tolist()))
            buckets = self.buckets
            for index, start, j in order:
                key = (WINDOW_NAMES[index], start)
                current = buckets.get(key)
                buckets[key] = sums[j] if current is None else current + sums[j]
                result.touched.add(key)
        on_time = ~result.late_mask
        if on_time.any():
            latest = int(times_ms[on_time].max())
            self.watermark_ms = max(self.watermark_ms, latest)
            self.receipts_ms = max(self.receipts_ms, latest)
        return result

    def observe(self, event_time_ms: int) -> None:
        """Advance the watermark with a non-receipt event of the unit (processed, result, …)."""
        self.watermark_ms = max(self.watermark_ms, event_time_ms)

    def adjust(
        self,
        receipt_ms: int,
        delta: npt.NDArray[np.int64],
        windows: Iterable[str],
        touched: set[BucketKey],
    ) -> list[str]:
        """Add ``delta`` to the buckets holding receipt instant ``receipt_ms`` in ``windows``.

        Used for lifecycle updates, which count against the dossier's *receipt* buckets. Only
        buckets still in state are changed (an evicted bucket's row is final); returns the
        windows changed and adds their keys to ``touched``.
        """
        changed: list[str] = []
        buckets = self.buckets
        for window in windows:
            size, shift = _SPANS[window]  # window_start_ms, inlined
            key = (window, (receipt_ms + shift) // size * size - shift)
            counts = buckets.get(key)
            if counts is None:
                continue
            counts += delta
            touched.add(key)
            changed.append(window)
        return changed

    def evict(self, lateness: Lateness) -> list[BucketKey]:
        """Drop buckets no late event can reach and no rolling view needs; return their keys."""
        dropped: list[BucketKey] = []
        for key in list(self.buckets):
            window, start = key
            end = start + WINDOW_SIZES_MS[window]
            keep_until = end + max(lateness.of(window), RETENTION_MS[window])
            if keep_until <= self.watermark_ms:
                del self.buckets[key]
                dropped.append(key)
        return dropped

    def rolling(self, view: str, now_ms: int) -> npt.NDArray[np.int64]:
        """Counters summed over the rolling ``view`` ('60m', '24h', '30d') at instant ``now_ms``
        (epoch ms).

        A bucket counts when it overlaps ``(now_ms - span, now_ms]``, i.e. when it starts in
        ``(now_ms - span - size, now_ms]``: the view covers whole buckets, so it may reach back
        up to one bucket further than the span. The rule is
        :func:`~streams.core.windows.rolling_bucket_starts`.
        """
        window, span = ROLLING_VIEWS[view]
        return self.rolling_sum(window, span, now_ms)

    def rolling_sum(self, window: str, span_ms: int, now_ms: int) -> npt.NDArray[np.int64]:
        """Counters summed over the ``window`` buckets a rolling span of ``span_ms`` covers at
        instant ``now_ms`` (epoch ms): those :func:`~streams.core.windows.rolling_bucket_starts`
        names. Looks those few buckets up instead of scanning every bucket in state.
        """
        total = np.zeros(N_COUNTERS, dtype=np.int64)
        buckets = self.buckets
        for start in rolling_bucket_starts(window, span_ms, now_ms):
            counts = buckets.get((window, start))
            if counts is not None:
                total += counts
        return total

    def to_bytes(self) -> bytes:
        """Compact binary form for a state store value (int64 little-endian words).

        Layout: ``[version=3, watermark, n_counters, n_buckets, seq, receipts_ms]`` then per bucket
        ``[window index, start ms, counters…]``.
        """
        n = len(self.buckets)
        words = np.empty(_HEADER + n * (2 + N_COUNTERS), dtype="<i8")
        words[:_HEADER] = (
            _FORMAT_VERSION,
            self.watermark_ms,
            N_COUNTERS,
            n,
            self.seq,
            self.receipts_ms,
        )
        if n:
            body = words[_HEADER:].reshape(n, 2 + N_COUNTERS)
            for row, ((window, start), counts) in zip(body, self.buckets.items(), strict=True):
                row[0] = _WINDOW_INDEX[window]
                row[1] = start
                row[2:] = counts
        return words.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> UnitWindows:
        """Inverse of :meth:`to_bytes`; a state written with fewer counters is zero-padded."""
        words = np.frombuffer(data, dtype="<i8")
        version, watermark, n_counters, n, seq, receipts = (int(x) for x in words[:_HEADER])
        if version != _FORMAT_VERSION:
            raise ValueError(f"unknown unit window state format {version}")
        body = words[_HEADER:].reshape(n, 2 + n_counters)
        buckets: dict[BucketKey, npt.NDArray[np.int64]] = {}
        for row in body:
            counts = np.zeros(N_COUNTERS, dtype=np.int64)
            k = min(N_COUNTERS, n_counters)
            counts[:k] = row[2 : 2 + k]
            buckets[(WINDOW_NAMES[int(row[0])], int(row[1]))] = counts
        return cls(watermark_ms=watermark, buckets=buckets, seq=seq, receipts_ms=receipts)


_FORMAT_VERSION = 3
_HEADER = 6
_WINDOW_INDEX = {name: i for i, name in enumerate(WINDOW_NAMES)}
_SPANS: dict[str, tuple[int, int]] = {
    window: (WINDOW_SIZES_MS[window], -window_start_ms(0, window)) for window in WINDOW_NAMES
}
"""Window → (size, alignment shift), ms: a start is ``(t + shift) // size * size - shift``."""


@dataclass(slots=True)
class ReceiptsApplied:
    """What :func:`apply_receipts` did to many units' windows."""

    touched: list[set[BucketKey]]
    """Per unit (in the order given): its buckets whose counters changed."""
    windows_bits: npt.NDArray[np.int64]
    """Per receipt: the windows that counted it, bit ``1 << i`` for ``WINDOW_NAMES[i]``
    (0: late, counted nowhere)."""


def apply_receipts(
    units: Sequence[UnitWindows],
    unit_of: npt.NDArray[np.int64],
    times_ms: npt.NDArray[np.int64],
    increments: npt.NDArray[np.int64],
    lateness: Lateness,
) -> ReceiptsApplied:
    """:meth:`UnitWindows.apply` of many units' receipts in one pass over the whole batch.

    Receipt ``i`` belongs to ``units[unit_of[i]]`` and adds ``increments[i]`` to the buckets
    holding ``times_ms[i]`` (epoch ms) that still accept it, judged by its unit's watermark
    before the call. Each unit ends exactly as its own ``apply`` of its receipts leaves it: the
    same sums, new buckets entering its state in the same order (window by window, each by
    start), the same watermark and receipt progress. Only the grouping is shared: one sort of
    (unit, window, start) keys and one reduction for all units, instead of a numpy round per
    unit (which dominated with thousands of units per batch).
    """
    n = len(times_ms)
    touched: list[set[BucketKey]] = [set() for _ in units]
    bits = np.zeros(n, dtype=np.int64)
    if n == 0:
        return ReceiptsApplied(touched, bits)
    marks = np.fromiter((w.watermark_ms for w in units), np.int64, len(units))[unit_of]
    keys_unit: list[npt.NDArray[np.int64]] = []
    keys_window: list[npt.NDArray[np.int64]] = []
    keys_start: list[npt.NDArray[np.int64]] = []
    rows: list[npt.NDArray[np.int64]] = []
    for index, window in enumerate(WINDOW_NAMES):
        starts = window_starts(times_ms, window)
        accepted = starts + WINDOW_SIZES_MS[window] + lateness.of(window) > marks
        bits[accepted] |= 1 << index
        taken = np.flatnonzero(accepted)
        if len(taken):
            keys_unit.append(unit_of[taken])
            keys_window.append(np.full(len(taken), index, dtype=np.int64))
            keys_start.append(starts[taken])
            rows.append(increments[taken])
    if rows:
        unit_col = np.concatenate(keys_unit)
        window_col = np.concatenate(keys_window)
        start_col = np.concatenate(keys_start)
        order = np.lexsort((start_col, window_col, unit_col))
        unit_col, window_col, start_col = unit_col[order], window_col[order], start_col[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (
            (unit_col[1:] != unit_col[:-1])
            | (window_col[1:] != window_col[:-1])
            | (start_col[1:] != start_col[:-1])
        )
        heads = np.flatnonzero(first)
        sums = np.add.reduceat(np.concatenate(rows)[order], heads, axis=0)
        heads_of = (unit_col[heads].tolist(), window_col[heads].tolist(), start_col[heads].tolist())
        for j, (u, index, start) in enumerate(zip(*heads_of, strict=True)):
            key = (WINDOW_NAMES[index], start)
            buckets = units[u].buckets
            current = buckets.get(key)
            buckets[key] = sums[j].copy() if current is None else current + sums[j]
            touched[u].add(key)
    on_time = np.flatnonzero(bits)
    if len(on_time):
        latest = np.full(len(units), NO_WATERMARK, dtype=np.int64)
        np.maximum.at(latest, unit_of[on_time], times_ms[on_time])
        for u in np.unique(unit_of[on_time]).tolist():
            w = units[u]
            value = int(latest[u])
            w.watermark_ms = max(w.watermark_ms, value)
            w.receipts_ms = max(w.receipts_ms, value)
    return ReceiptsApplied(touched, bits)
