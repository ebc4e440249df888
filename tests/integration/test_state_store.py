"""The state store against the real broker: writes reach the changelog, a restore reads back
exactly what was written (tombstones included), in multi-record batches whose end offsets tansu
reports wrong, and a restore takes only the partitions it is given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from streams.core.indicators import N_COUNTERS
from streams.core.rollup import UnitWindows
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.state_store import RocksValues, StateStore, changelog_topic
from streams.kafka.topics import CHANGELOG_CONFIG, ensure_topics

GROUP = "state-test"
T0 = 1_717_200_000_000


def _store(bootstrap: str, values: object | None = None) -> tuple[StateStore, Producer]:
    holder: list[StateStore] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,  # multi-record batches on purpose
            "delivery.report.only.error": True,
            "on_delivery": lambda err, msg: holder[0].on_delivery(err, msg),
        }
    )
    store = StateStore(values if values is not None else {}, producer, changelog_topic(GROUP))  # type: ignore[arg-type]
    holder.append(store)
    return store, producer


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_restore_reads_back_every_write(
    broker_factory: Callable[..., EmbeddedBroker], tmp_path: Path, backend: str
) -> None:
    broker = broker_factory(partitions=4)
    topic = changelog_topic(GROUP)
    ensure_topics(broker.bootstrap_servers, 4, topics=(topic,), configs={topic: CHANGELOG_CONFIG})
    writer, producer = _store(broker.bootstrap_servers)
    units = [f"U{i:03d}" for i in range(40)]
    for i, unit in enumerate(units):
        writer.unit_partitions[unit] = i % 4
    expected: dict[str, bytes] = {}
    for round_ in range(3):  # overwrite twice: the newest value must win
        for unit in units:
            for d in range(50):
                key = f"{unit}|D{d}"
                value = f"{round_}:{key}".encode()
                writer[key] = value
                expected[key] = value
            writer[unit] = f"windows-{round_}".encode()
            expected[unit] = f"windows-{round_}".encode()
    for unit in units[:10]:  # tombstones
        for d in range(0, 50, 2):
            del writer[f"{unit}|D{d}"]
            del expected[f"{unit}|D{d}"]
    assert producer.flush(30) == 0
    assert writer.failure is None

    values: object = RocksValues(tmp_path / "rocks") if backend == "rocksdb" else {}
    reader, _ = _store(broker.bootstrap_servers, values)
    config = {"bootstrap.servers": broker.bootstrap_servers, "group.id": GROUP}
    stats = reader.restore({0, 2}, config)
    wanted = {k: v for k, v in expected.items() if units.index(k.split("|")[0]) % 4 in (0, 2)}
    assert stats.partitions == (0, 2)
    assert stats.keys == len(wanted)
    assert dict(reader.items()) == wanted
    assert set(reader.unit_partitions.values()) == {0, 2}

    # A second restore of more partitions: replaces, never duplicates; then drop one partition.
    stats = reader.restore({0, 1, 2, 3}, config)
    assert dict(reader.items()) == expected
    assert stats.keys == len(expected)
    dropped = reader.drop_partitions({3})
    assert dropped == sum(1 for k in expected if units.index(k.split("|")[0]) % 4 == 3)
    assert set(reader.unit_partitions.values()) == {0, 1, 2}


def test_write_needs_a_known_partition(broker_factory: Callable[..., EmbeddedBroker]) -> None:
    broker = broker_factory(partitions=1)
    store, _ = _store(broker.bootstrap_servers)
    with pytest.raises(KeyError, match="no partition known"):
        store["NOWHERE|1"] = b"x"


def _windows(seq: int, buckets: dict[tuple[str, int], int]) -> bytes:
    """A unit's windows value (format 3) whose bucket ``key`` has every counter at ``value``."""
    w = UnitWindows(watermark_ms=T0, receipts_ms=T0, seq=seq)
    for key, value in buckets.items():
        w.buckets[key] = np.full(N_COUNTERS, value, dtype=np.int64)
    return w.to_bytes()


def _same_windows(a: bytes, b: bytes) -> bool:
    x, y = UnitWindows.from_bytes(a), UnitWindows.from_bytes(b)
    return (x.seq, x.watermark_ms, x.receipts_ms) == (y.seq, y.watermark_ms, y.receipts_ms) and {
        k: v.tolist() for k, v in x.buckets.items()
    } == {k: v.tolist() for k, v in y.buckets.items()}


def test_unit_windows_go_out_as_changed_buckets_and_come_back_whole(
    broker_factory: Callable[..., EmbeddedBroker],
) -> None:
    """A batch that changes one bucket of a unit holding 200 logs that bucket and a header, not
    the whole value; a restore rebuilds the value; a crash that loses a batch's header (its
    bucket records made it) restores the batch before, and the restore's repair keeps it so
    when a replay reaches the same seq without that bucket."""
    broker = broker_factory(partitions=2)
    topic = changelog_topic(GROUP)
    ensure_topics(broker.bootstrap_servers, 2, topics=(topic,), configs={topic: CHANGELOG_CONFIG})
    writer, producer = _store(broker.bootstrap_servers)
    writer.unit_partitions.update({"HA_NOI": 0, "HUE": 1})
    many = {("1h", T0 + i * 3_600_000): 1 for i in range(200)}
    writer["HA_NOI"] = _windows(1, many)
    writer["HUE"] = _windows(1, {("1m", T0): 1})
    two = {**many, ("1h", T0): 5}
    records = writer.holding(lambda: writer.__setitem__("HA_NOI", _windows(2, two)))
    assert [k for k, _, _ in records] == [f"HA_NOI\x1f1:{T0}".encode(), b"HA_NOI"]
    assert sum(len(v or b"") for _, v, _ in records) < len(_windows(2, many)) // 50
    writer.release(records)
    # Batch 3 changes a bucket and adds one; its header is lost in a crash.
    three = writer.holding(
        lambda: writer.__setitem__("HA_NOI", _windows(3, {**two, ("1h", T0): 9, ("1d", T0): 2}))
    )
    writer.release([r for r in three if r[0] != b"HA_NOI"])
    writer["HUE"] = _windows(2, {("1m", T0): 3})
    assert producer.flush(30) == 0 and writer.failure is None

    config = {"bootstrap.servers": broker.bootstrap_servers, "group.id": GROUP}
    reader, _ = _store(broker.bootstrap_servers)
    reader.restore({0, 1}, config)
    assert _same_windows(reader["HA_NOI"], _windows(2, two))
    assert _same_windows(reader["HUE"], _windows(2, {("1m", T0): 3}))
    # The replay of batch 3, cut differently: seq 3 without the hour bucket batch 3 had changed.
    replay = {**two, ("1m", T0): 1}
    reader["HA_NOI"] = _windows(3, replay)
    assert reader._producer is not None and reader._producer.flush(30) == 0
    again, _ = _store(broker.bootstrap_servers)
    stats = again.restore({0, 1}, config)
    assert _same_windows(again["HA_NOI"], _windows(3, replay))
    assert stats.keys == 2
