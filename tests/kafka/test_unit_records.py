"""A unit's windows on the changelog as bucket records (streams.kafka.unit_records): what a write
logs, what a restore rebuilds from the latest record per key, and the crash rule (a bucket
record ahead of its header stands for the bucket's previous counters)."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.indicators import N_COUNTERS
from streams.core.rollup import UnitWindows
from streams.kafka.state_store import StateStore
from streams.kafka.unit_records import (
    SPLIT_FORMAT,
    SPLIT_FROM_BYTES,
    assemble,
    bucket_of_key,
    header_value,
    parse,
    parse_header,
    split_records,
)

UNIT = "HA_NOI"
T0 = 1_717_200_000_000


def windows(seq: int, buckets: dict[tuple[str, int], int], watermark: int = T0) -> UnitWindows:
    """A unit's windows whose bucket ``key`` has every counter at ``value``."""
    w = UnitWindows(watermark_ms=watermark, receipts_ms=watermark - 5, seq=seq)
    for key, value in buckets.items():
        w.buckets[key] = np.full(N_COUNTERS, value, dtype=np.int64)
    return w


def log_write(
    log: list[tuple[str, bytes | None]], old: UnitWindows | None, new: UnitWindows, logged: bool
) -> list[tuple[str, bytes | None]]:
    """The records of one write, appended to ``log`` and returned (header after the buckets,
    tombstones last)."""
    records, header, gone = split_records(
        UNIT,
        parse(old.to_bytes()) if old else None,
        parse(new.to_bytes()),
        logged,  # type: ignore[arg-type]
    )
    written: list[tuple[str, bytes | None]] = [*records, (UNIT, header)]
    written += [(key, None) for key in gone]
    log.extend(written)
    return written


def restore(log: list[tuple[str, bytes | None]]) -> tuple[UnitWindows | None, list[str], bool]:
    """What a restore reads from ``log`` compacted (the latest record per key): the unit's
    windows, the keys it repairs, and whether the unit is held as bucket records."""
    latest: dict[str, bytes | None] = {}
    for key, value in log:
        latest[key] = value
    head = latest.get(UNIT)
    buckets = {}
    for key, value in latest.items():
        found = bucket_of_key(key)
        if found is not None and value is not None:
            buckets[found[1]] = value
    restored = assemble(UNIT, head, buckets)
    log.extend(restored.repairs)
    value = restored.value
    return (
        UnitWindows.from_bytes(value) if value else None,
        [k for k, _ in restored.repairs],
        restored.windows is not None,
    )


def same(a: UnitWindows | None, b: UnitWindows) -> bool:
    assert a is not None
    return (
        (a.watermark_ms, a.receipts_ms, a.seq) == (b.watermark_ms, b.receipts_ms, b.seq)
        and a.buckets.keys() == b.buckets.keys()
        and all((a.buckets[k] == b.buckets[k]).all() for k in b.buckets)
    )


def test_a_write_logs_the_changed_buckets_then_the_header_then_the_evicted() -> None:
    old = windows(4, {("1m", T0): 1, ("1m", T0 + 60_000): 2, ("1h", T0): 3})
    new = windows(5, {("1m", T0): 1, ("1m", T0 + 60_000): 7, ("1d", T0): 1})  # 1h one evicted
    records, header, gone = split_records(UNIT, parse(old.to_bytes()), parse(new.to_bytes()), True)  # type: ignore[arg-type]
    assert [bucket_of_key(k) is not None for k, _ in records] == [True, True]
    assert sorted(k for k, _ in records) == sorted(
        [f"{UNIT}\x1f0:{T0 + 60_000}", f"{UNIT}\x1f2:{T0}"]
    )
    assert gone == [f"{UNIT}\x1f1:{T0}"]
    words = parse_header(header)
    assert words is not None and words[0] == SPLIT_FORMAT and words[3] == 3 and words[4] == 5
    # 3 small records instead of one value of every bucket
    assert sum(len(v) for _, v in records) + len(header) < len(new.to_bytes())
    # Not yet logged as buckets (a new unit, or one read from a whole value): every bucket.
    records, _, gone = split_records(UNIT, parse(old.to_bytes()), parse(new.to_bytes()), False)  # type: ignore[arg-type]
    assert len(records) == 3 and gone == []


def test_a_restore_rebuilds_the_latest_windows() -> None:
    log: list[tuple[str, bytes | None]] = []
    history = [
        windows(1, {("1m", T0): 1}),
        windows(2, {("1m", T0): 2, ("1h", T0): 1}),
        windows(3, {("1h", T0): 4, ("1d", T0): 1}, watermark=T0 + 7_200_000),
    ]
    previous: UnitWindows | None = None
    for i, w in enumerate(history):
        log_write(log, previous, w, logged=i > 0)
        previous = w
    restored, repaired, logged = restore(log)
    assert same(restored, history[-1]) and repaired == [] and logged


def test_a_bucket_ahead_of_its_lost_header_rolls_back_and_stays_rolled_back() -> None:
    """A crash after batch 3's bucket records, before its header: the unit is back at batch 2
    (the changed bucket at its previous counters, the new one gone), and the records are
    rewritten so, so a replay of batch 3 cut differently, leaving the bucket out, cannot bring
    the lost counters back when it takes the unit to seq 3."""
    log: list[tuple[str, bytes | None]] = []
    one = windows(1, {("1m", T0): 1})
    two = windows(2, {("1m", T0): 2, ("1h", T0): 1})
    three = windows(3, {("1m", T0): 9, ("1h", T0): 1, ("1d", T0): 5})
    log_write(log, None, one, False)
    log_write(log, one, two, True)
    lost = log_write([], two, three, True)
    log.extend(r for r in lost if r[0] != UNIT and r[1] is not None)  # buckets made it
    restored, repaired, logged = restore(log)
    assert same(restored, two) and logged
    assert sorted(repaired) == sorted([f"{UNIT}\x1f0:{T0}", f"{UNIT}\x1f2:{T0}"])
    # The replay: seq 3 again, touching only the hour bucket.
    replay = windows(3, {("1m", T0): 2, ("1h", T0): 6})
    log_write(log, restored, replay, True)
    again, repaired, _ = restore(log)
    assert same(again, replay) and repaired == []


def test_a_whole_value_of_the_previous_format_is_read_then_superseded() -> None:
    """The changelog of a worker before bucket records: one whole value per unit. It is read as
    is; the first write logs every bucket, so compaction of the whole value loses nothing; bucket
    records left by a batch that lost its header under it are leftovers."""
    old = windows(7, {("1m", T0): 1, ("1h", T0): 2, ("1d", T0): 3})
    log: list[tuple[str, bytes | None]] = [(UNIT, old.to_bytes())]
    restored, repaired, logged = restore(log)
    assert same(restored, old) and repaired == [] and not logged
    crashed = log_write([], old, windows(8, {("1m", T0): 4, ("1h", T0): 2, ("1d", T0): 3}), logged)
    log.extend(r for r in crashed if r[0] != UNIT)
    restored, repaired, logged = restore(log)
    assert same(restored, old) and not logged and len(repaired) == 3
    new = windows(8, {("1m", T0): 5, ("1h", T0): 2, ("1d", T0): 3})
    log_write(log, restored, new, logged)
    restored, _, logged = restore(log)
    assert same(restored, new) and logged


def test_values_that_are_not_windows_are_not_taken_apart() -> None:
    assert parse(b"windows-0") is None
    assert parse(windows(1, {("1m", T0): 1}).to_bytes()[:-8]) is None
    assert parse_header(windows(1, {}).to_bytes()) is None  # a whole value, not a header
    restored = assemble(UNIT, b"windows-0", {})
    assert restored.value == b"windows-0" and restored.repairs == [] and restored.windows is None


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.dictionaries(
            st.tuples(st.sampled_from(["1m", "1h", "1d"]), st.integers(0, 5)),
            st.integers(0, 3),
            max_size=6,
        ),
        min_size=1,
        max_size=8,
    ),
    crash_at=st.integers(0, 8),
)
def test_any_history_restores_to_its_last_durable_batch(
    steps: list[dict[tuple[str, int], int]], crash_at: int
) -> None:
    """Random batches of bucket changes and evictions; the last one may lose its header and
    tombstones. The restore gives the last batch whose header is in the log, and after the
    repairs a replayed write from there restores exactly."""
    log: list[tuple[str, bytes | None]] = []
    previous: UnitWindows | None = None
    durable: UnitWindows | None = None
    for i, step in enumerate(steps, start=1):
        w = windows(i, {(win, T0 + k * 86_400_000): v for (win, k), v in step.items()})
        records = log_write([], previous, w, previous is not None)
        if i == crash_at:
            log.extend(r for r in records if r[0] != UNIT and r[1] is not None)
            break
        log.extend(records)
        previous = durable = w
    restored, _, logged = restore(log)
    if durable is None:
        assert restored is None
        return
    assert same(restored, durable)
    replay = windows(durable.seq + 1, {("1m", T0): 1})
    log_write(log, restored, replay, logged)
    assert same(restore(log)[0], replay)


class _Held:
    """Stands in for the changelog producer: the store only holds records here."""


def test_the_store_logs_small_units_whole_and_switches_both_ways() -> None:
    """Through StateStore: a unit under SPLIT_FROM_BYTES goes out whole; grown past it, as
    every bucket then the header; shrunk again, whole, then tombstones for its bucket records.
    Each step restores to the value written."""
    store = StateStore({}, _Held(), "changelog")  # type: ignore[arg-type]
    store.unit_partitions[UNIT] = 0
    log: list[tuple[str, bytes | None]] = []

    def write(w: UnitWindows) -> list[tuple[str, bytes | None]]:
        held = store.holding(lambda: store.__setitem__(UNIT, w.to_bytes()))
        records = [(k.decode(), v) for k, v, _ in held]
        log.extend(records)
        return records

    small = windows(1, {("1m", T0): 1})
    assert len(small.to_bytes()) < SPLIT_FROM_BYTES
    assert write(small) == [(UNIT, small.to_bytes())]
    big = windows(2, {("1h", T0 + i * 3_600_000): 1 for i in range(40)})
    assert len(big.to_bytes()) >= SPLIT_FROM_BYTES
    records = write(big)
    assert len(records) == 41 and records[-1][0] == UNIT  # every bucket, the header last
    assert same(restore(list(log))[0], big)
    bigger = windows(3, {**{("1h", T0 + i * 3_600_000): 1 for i in range(40)}, ("1h", T0): 2})
    assert len(write(bigger)) == 2  # the changed bucket and the header
    shrunk = windows(4, {("1m", T0): 3})
    records = write(shrunk)
    assert records[0] == (UNIT, shrunk.to_bytes())
    assert len(records) == 41 and all(v is None for _, v in records[1:])
    restored, repaired, logged = restore(list(log))
    assert same(restored, shrunk) and repaired == [] and not logged


def test_a_bucket_written_with_fewer_counters_rolls_back_zero_padded() -> None:
    """The first write after counters were added: the bucket's previous counters (one fewer)
    are kept with the new one at zero, so a lost header restores the bucket as it was."""
    n = N_COUNTERS - 1
    row = struct.pack("<qq", 0, T0) + struct.pack(f"<{n}q", *([4] * n))
    old = parse(struct.pack("<6q", 3, T0, n, 1, 1, T0) + row)
    new = parse(windows(2, {("1m", T0): 5}).to_bytes())
    at_seq_1 = parse(windows(1, {}).to_bytes())
    assert old is not None and new is not None and at_seq_1 is not None
    records, _, _ = split_records(UNIT, old, new, False)
    log: list[tuple[str, bytes | None]] = [(UNIT, header_value(at_seq_1)), *records]
    restored, repaired, _ = restore(log)  # batch 2's header is not in the log
    assert restored is not None and restored.buckets[("1m", T0)].tolist() == [4] * n + [0]
    assert repaired == [f"{UNIT}\x1f0:{T0}"]
