"""Late events: inside the allowed lateness they correct their windows (a new row version);
beyond it they go to emc.dossier.late.v1, are counted per unit, and still land in
emc.dossier_events. Defaults: 1 hour for 1-minute windows, 7 days for hour and day windows."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.core.events import LATE_TOPIC, EventType
from streams.kafka.codec import encode_json
from streams.kafka.produce import EventProducer
from tests.integration.fixtures import emc_here, query_json, wait_committed
from tests.integration.test_end_to_end import ms, received

pytestmark = pytest.mark.integration


def read_topic(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "late-reader", "enable.auto.commit": False}
    )
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    out: list[bytes] = []
    for _ in range(100):
        if len(out) >= expected:
            break
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            out.append(msg.value())
    consumer.close()
    return out


def test_late_inside_and_beyond_allowed_lateness(broker_factory, worker_factory) -> None:
    broker = broker_factory()
    worker = worker_factory(broker)
    producer = EventProducer(broker.bootstrap_servers, encoding="json")
    r1 = received("r1", "HA_NOI", "D1", ms(2024, 1, 18, 10, 0, 0, 0), "online", "citizen", False,
                  "none")  # fmt: skip
    r2 = received("r2", "HA_NOI", "D2", ms(2024, 1, 18, 10, 30, 0, 0), "online", "officer", False,
                  "none")  # fmt: skip
    for ev in (r1, r2):
        producer.send(EventType.RECEIVED, ev)
    producer.flush()
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)

    # The unit's watermark is now 10:30. 70 minutes late: past the 1-minute window's hour.
    r3 = received("r3", "HA_NOI", "D3", ms(2024, 1, 18, 9, 20, 0, 0), "online", "citizen", False,
                  "none")  # fmt: skip
    # Eight days late: past every window's lateness.
    r4 = received("r4", "HA_NOI", "D4", ms(2024, 1, 10, 10, 0, 0, 0), "in_person", "citizen",
                  False, "none")  # fmt: skip
    # Thirty seconds late: corrects even its minute.
    r5 = received("r5", "HA_NOI", "D5", ms(2024, 1, 18, 10, 29, 30, 0), "in_person", "business",
                  False, "none")  # fmt: skip
    result = {
        "event_id": "x1", "unit_code": "HA_NOI", "dossier_id": "D1",
        "event_time": ms(2024, 1, 18, 10, 40, 0, 0), "finished_at": ms(2024, 1, 18, 10, 40, 0, 0),
        "electronic_result": True, "result_channel": "online", "digitised": False,
        "paid_online": False,
    }  # fmt: skip
    for ev in (r3, r4, r5):
        producer.send(EventType.RECEIVED, ev)
    producer.send(EventType.RESULT_RETURNED, result)
    producer.flush()
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)
    progress = worker.progress()
    assert progress["late"] == 1
    assert progress["late_by_unit"] == {"HA_NOI": 1}
    # Every batch was timed through each stage (all are committed, so all are finished).
    stages, batches = progress["stage_seconds"], progress["batches"]
    assert {s: stages[s]["batches"] for s in stages} == {
        "waiting": batches - 1, "process": batches, "commit_state": batches,
        "clickhouse": batches, "release": batches,
    }  # fmt: skip
    assert stages["process"]["seconds"] > 0
    assert worker.stop() == 0

    rows = query_json(
        worker.env,
        "SELECT window, toString(window_start) AS start, received, online, remote, finished "
        "FROM emc.unit_window_rollup FINAL ORDER BY window, window_start",
    )
    got = {(r["window"], r["start"][:16], r["received"], r["online"], r["remote"], r["finished"])
           for r in rows}  # fmt: skip
    assert got == {
        ("1m", "2024-01-18 10:00", 1, 1, 1, 1),
        ("1m", "2024-01-18 10:29", 1, 0, 0, 0),
        ("1m", "2024-01-18 10:30", 1, 1, 0, 0),
        ("1h", "2024-01-18 09:00", 1, 1, 1, 0),
        ("1h", "2024-01-18 10:00", 3, 2, 1, 1),
        ("1d", "2024-01-18 00:00", 4, 3, 2, 1),
    }
    events = query_json(
        worker.env,
        "SELECT event_id, counted_windows FROM emc.dossier_events FINAL ORDER BY event_id",
    )
    assert {e["event_id"]: e["counted_windows"] for e in events} == {
        "r1": 7, "r2": 7, "r3": 6, "r4": 0, "r5": 7, "x1": 7,
    }  # fmt: skip
    assert read_topic(broker.bootstrap_servers, LATE_TOPIC, 1) == [encode_json(r4)]
    out = emc_here(worker.env, "reconcile")
    assert out.exit_code == 0 and " 0 differences" in out.stdout
