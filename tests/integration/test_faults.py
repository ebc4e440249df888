"""Exact numbers under duplicates, bad input, late data and worker crashes (tansu + chdb).

Every test compares emc.unit_window_rollup FINAL with an independent reference model
(tests/integration/reference.py) and runs `emc reconcile`, which must find no difference.
"""

from __future__ import annotations

import random
import signal
import time
from typing import Any

import pytest

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.registry import UnitRegistry, default_units_path
from streams.kafka.produce import EventProducer
from streams.traffic.simulate import generate
from tests.integration.fixtures import emc_here, query_json, wait_committed
from tests.integration.reference import COUNTERS, ROLLUP_SQL, expected_rollups, stored_rollups

pytestmark = pytest.mark.integration

START_MS = 1_705_539_600_000  # 2024-01-18 08:00 +07:00


def stream(n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """A realistic stream of ~n events over every unit, lifecycles compressed to minutes."""
    registry = UnitRegistry.load(default_units_path())
    events = generate(registry, n, START_MS, seed=seed, rate_per_s=40.0, time_scale=2e-4)
    return [(kind.value, ev) for kind, ev in events]


def produce(producer: EventProducer, events: list[tuple[str, dict[str, Any]]]) -> None:
    for kind, ev in events:
        producer.send(EventType(kind), ev)
    producer.flush()


def assert_exact(env: dict[str, str], events: list[tuple[str, dict[str, Any]]]) -> None:
    expected = expected_rollups(events)
    stored = stored_rollups(query_json(env, ROLLUP_SQL))
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    wrong = {k: (stored[k], expected[k]) for k in expected.keys() & stored.keys()
             if stored[k] != expected[k]}  # fmt: skip
    assert not missing and not extra and not wrong, (
        f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}, wrong {list(wrong.items())[:3]}"
    )
    totals = {
        c: sum(v.get(c, 0) for (_, w, _), v in expected.items() if w == "1d") for c in COUNTERS
    }
    assert all(totals.values()), f"the stream must exercise every counter: {totals}"
    out = emc_here(env, "reconcile")
    assert out.exit_code == 0, out.stdout + out.stderr
    assert " 0 differences" in out.stdout


def test_same_batch_produced_twice_counts_once(broker_factory, worker_factory) -> None:
    broker = broker_factory()
    worker = worker_factory(broker)
    events = stream(3000, seed=11)
    producer = EventProducer(broker.bootstrap_servers)
    produce(producer, events)
    produce(producer, events)  # a TTHC system re-sends its whole sync batch
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    progress = worker.progress()
    distinct = len({ev["event_id"] for _, ev in events})
    assert progress["accepted"] == distinct
    assert progress["duplicates"] == 2 * len(events) - distinct
    assert worker.stop() == 0
    assert_exact(worker.env, events)


@pytest.mark.parametrize(
    ("store", "split_bytes"),
    [("memory", "4096"), ("rocksdb", "4096"), ("memory", "0")],
    ids=["memory", "rocksdb", "memory-bucket-records"],
)
def test_sigkill_mid_stream_then_restart_is_exact(
    broker_factory, worker_factory, tmp_path, store: str, split_bytes: str
) -> None:
    """Killed mid-stream after a first half is committed, restarted on the same changelog:
    every rollup row exact. The third case logs every unit's windows as bucket records (these
    short streams keep units under the default split size), so their restore and rollback
    after the kill are checked end to end."""
    broker = broker_factory()
    data = tmp_path / "kill"
    split = {"EMC_STREAM__CHANGELOG_SPLIT_BYTES": split_bytes}
    worker = worker_factory(broker, data_dir=data, EMC_STREAM__STORE=store, **split)
    events = stream(6000, seed=12)
    half = len(events) // 2
    producer = EventProducer(broker.bootstrap_servers)
    produce(producer, events[:half])
    # The first half in ClickHouse and the changelog, so the restart has state to restore.
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    produce(producer, events[half:])
    worker.wait_consumed(half + half // 3)  # somewhere in the middle of the second half
    worker.stop(signal.SIGKILL)
    restarted = worker_factory(broker, data_dir=data, EMC_STREAM__STORE=store, **split)
    wait_committed(
        broker.bootstrap_servers, "emc-test", producer.last_offsets, check=restarted.alive
    )
    assert restarted.stop() == 0
    assert_exact(restarted.env, events)


def bad_inputs() -> list[tuple[str, str, bytes | None, bytes]]:
    """(expected reason, topic, key, value) for every kind of bad input."""
    from streams.kafka.codec import encode_avro, encode_json

    good = stream(40, seed=13)
    rec = next(ev for kind, ev in good if kind == "received")
    proc = next(ev for kind, ev in good if kind == "processed")
    rec_topic = TOPIC_BY_TYPE[EventType.RECEIVED]
    key = rec["unit_code"].encode()
    rng = random.Random(5)
    return [
        ("malformed_json", rec_topic, key, b'{"event_id": "x", '),
        ("unknown_encoding", rec_topic, key, bytes(rng.randrange(1, 256) for _ in range(64))),
        ("malformed_avro", rec_topic, key, encode_avro(EventType.RECEIVED, rec)[:20]),
        ("schema_mismatch", rec_topic, key, encode_avro(EventType.PROCESSED, proc)),
        ("missing_field", rec_topic, key,
         encode_json({k: v for k, v in rec.items() if k != "channel"})),
        ("invalid_time", rec_topic, key, encode_json({**rec, "event_time": -5})),
        ("invalid_time", rec_topic, key, encode_json({**rec, "event_time": 4_102_444_800_000})),
        ("unknown_enum_symbol", rec_topic, key, encode_json({**rec, "channel": "fax"})),
        ("invalid_type", rec_topic, key, encode_json({**rec, "via_national_portal": "yes"})),
        ("invalid_value", rec_topic, key, encode_json({**rec, "procedure_level": 7})),
        ("oversize", rec_topic, key,
         encode_json({**rec, "procedure_name": "x" * 70_000})),
        ("unknown_unit", rec_topic, b"NOWHERE",
         encode_json({**rec, "unit_code": "NOWHERE", "event_id": "bad-unit"})),
        ("key_mismatch", rec_topic, b"HA_NOI",
         encode_json({**rec, "unit_code": "DA_NANG", "event_id": "bad-key"})),
        ("empty_message", rec_topic, key, b""),
    ]  # fmt: skip


def test_every_kind_of_bad_input_is_dead_lettered(broker_factory, worker_factory) -> None:
    from tests.integration.test_end_to_end import read_dead_letters

    broker = broker_factory()
    worker = worker_factory(broker)
    events = stream(2000, seed=13)
    bad = bad_inputs()
    producer = EventProducer(broker.bootstrap_servers)
    # bad input interleaved with good: the worker must keep going and count the good exactly
    produce(producer, events[: len(events) // 2])
    for _, topic, key, value in bad:
        producer.send_raw(topic, key, value)
    produce(producer, events[len(events) // 2 :])
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    progress = worker.progress()
    expected_reasons: dict[str, int] = {}
    for reason, *_ in bad:
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert progress["dead_letters"] == expected_reasons
    assert worker.stop() == 0
    dead = read_dead_letters(broker.bootstrap_servers, len(bad))
    assert sorted(h["emc.error.reason"].decode() for _, h in dead) == sorted(r for r, *_ in bad)
    originals = sorted((v or b"") for v, _ in dead)
    assert originals == sorted(value for *_, value in bad)
    assert_exact(worker.env, events)


def test_second_worker_joining_mid_stream_is_exact(
    broker_factory, worker_factory, clickhouse_factory, tmp_path
) -> None:
    """Two workers share one ClickHouse; the second joins mid-stream and takes partitions."""
    broker = broker_factory()
    clickhouse = clickhouse_factory()
    first = worker_factory(broker, data_dir=tmp_path / "a", EMC_CLICKHOUSE__DSN=clickhouse.dsn)
    events = stream(6000, seed=14)
    half = len(events) // 2
    producer = EventProducer(broker.bootstrap_servers)
    produce(producer, events[:half])
    first.wait_consumed(half // 3)
    second = worker_factory(broker, data_dir=tmp_path / "b", EMC_CLICKHOUSE__DSN=clickhouse.dsn)
    deadline = time.monotonic() + 60
    while not second.progress()["assigned"]:  # wait for the rebalance to hand it partitions
        assert time.monotonic() < deadline, second.log()
        time.sleep(0.3)
    produce(producer, events[half:])

    def both_alive() -> None:
        first.alive()
        second.alive()

    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=both_alive)
    assert second.progress()["accepted"] > 0  # it did take partitions over
    assert first.stop() == 0 and second.stop() == 0
    assert_exact(first.env, events)


def test_clickhouse_unavailable_then_back_is_exact(
    broker_factory, worker_factory, clickhouse_factory, tmp_path
) -> None:
    """ClickHouse goes away mid-stream: the worker backs off and retries, commits no offset
    past what ClickHouse accepted, and once it is back every number is exact."""
    broker = broker_factory()
    clickhouse = clickhouse_factory()
    worker = worker_factory(
        broker,
        EMC_CLICKHOUSE__DSN=clickhouse.dsn,
        EMC_CLICKHOUSE__RETRY_INITIAL_S="0.2",
        EMC_CLICKHOUSE__RETRY_MAX_S="1",
    )
    events = stream(4000, seed=15)
    half = len(events) // 2
    producer = EventProducer(broker.bootstrap_servers)
    produce(producer, events[:half])
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    committed_before = dict(producer.last_offsets)

    clickhouse.kill()
    produce(producer, events[half:])
    # the worker consumes, fails to write, backs off (0.2, 0.4, 0.8 s, then the 1 s maximum)
    # and retries: wait for the retry at the maximum instead of a fixed 6 s
    deadline = time.monotonic() + 60
    while "; retrying in 1.0 s" not in worker.log(chars=1_000_000):
        worker.alive()
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)
    worker.alive()
    with pytest.raises(AssertionError, match="still behind"):
        # nothing of the second half may be committed while ClickHouse is down
        wait_committed(
            broker.bootstrap_servers,
            "emc-test",
            {tp: off for tp, off in producer.last_offsets.items()
             if off > committed_before.get(tp, -1)},
            timeout_s=2,
        )  # fmt: skip
    assert "ClickHouse did not take a batch" in worker.log()

    clickhouse.start()
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    assert worker.stop() == 0
    assert_exact(worker.env, events)
