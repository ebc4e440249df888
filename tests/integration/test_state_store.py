"""The state store against the real broker: writes reach the changelog, a restore reads back
exactly what was written (tombstones included), in multi-record batches whose end offsets tansu
reports wrong, and a restore takes only the partitions it is given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams.kafka.broker import EmbeddedBroker
from streams.kafka.state_store import RocksValues, StateStore, changelog_topic
from streams.kafka.topics import CHANGELOG_CONFIG, ensure_topics

GROUP = "state-test"


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
