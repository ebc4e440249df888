"""End to end on real parts: tansu → `emc worker` → chdb, with exact expected rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.core.events import DEAD_LETTER_TOPIC, TOPIC_BY_TYPE, EventType
from streams.kafka.codec import encode_avro, encode_json
from streams.kafka.produce import EventProducer
from tests.integration.fixtures import emc_here, query_json

pytestmark = pytest.mark.integration

VN = timezone(timedelta(hours=7))


def ms(*args: int) -> int:
    """Epoch ms of a Vietnam local time (y, m, d, h, mi, s, ms)."""
    *dt, milli = args
    return int(datetime(*dt, tzinfo=VN).timestamp() * 1000) + milli


def received(
    event_id: str,
    unit: str,
    dossier: str,
    at: int,
    channel: str,
    submitter: str,
    portal: bool,
    fee: str,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "unit_code": unit,
        "dossier_id": dossier,
        "event_time": at,
        "procedure_code": "1.004946",
        "procedure_level": 4,
        "channel": channel,
        "submitter_type": submitter,
        "submitter_id_local": None,
        "submitter_id_qg": None,
        "via_national_portal": portal,
        "due_at": at + 5 * 86_400_000,
        "fee_payment": fee,
        "postal_return": False,
        "procedure_name": "Cấp giấy phép",
    }


def scripted_stream() -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of the scripted stream, in produce order."""
    r1 = received(
        "r1", "HA_NOI", "D1", ms(2024, 1, 18, 8, 0, 10, 0), "online", "citizen", True, "online"
    )
    r2 = received(
        "r2", "HA_NOI", "D2", ms(2024, 1, 18, 8, 0, 50, 0), "online", "officer", False, "none"
    )
    r3 = received(
        "r3",
        "HA_NOI",
        "D3",
        ms(2024, 1, 18, 8, 1, 5, 0),
        "in_person",
        "citizen",
        False,
        "in_person",
    )
    r4 = received(
        "r4", "HA_NOI", "D4", ms(2024, 1, 18, 8, 0, 30, 0), "postal", "business", False, "none"
    )
    r5 = received(
        "r5", "DA_NANG", "E1", ms(2024, 1, 18, 23, 59, 59, 999), "online", "citizen", False, "none"
    )
    r6 = received(
        "r6", "DA_NANG", "E2", ms(2024, 1, 19, 0, 0, 0, 0), "online", "business", False, "none"
    )
    processed = {
        "event_id": "p1",
        "unit_code": "HA_NOI",
        "dossier_id": "D1",
        "event_time": ms(2024, 1, 18, 9, 0, 0, 0),
        "status": 4,
        "step_name": "Thẩm định",
        "supplement_requested": False,
    }
    result = {
        "event_id": "x1",
        "unit_code": "HA_NOI",
        "dossier_id": "D1",
        "event_time": ms(2024, 1, 18, 10, 0, 0, 0),
        "finished_at": ms(2024, 1, 18, 9, 59, 0, 0),
        "electronic_result": True,
        "result_channel": "online",
        "digitised": True,
        "paid_online": True,
    }
    feedback = {
        "event_id": "f1",
        "unit_code": "HA_NOI",
        "dossier_id": "D1",
        "event_time": ms(2024, 1, 18, 11, 0, 0, 0),
        "rating": "satisfied",
        "complaint": False,
    }
    unknown = received(
        "u1", "NOT_A_UNIT", "Z1", ms(2024, 1, 18, 8, 0, 0, 0), "online", "citizen", False, "none"
    )
    rec = TOPIC_BY_TYPE[EventType.RECEIVED]
    return [
        (rec, b"HA_NOI", encode_avro(EventType.RECEIVED, r1)),
        (rec, b"HA_NOI", encode_json(r2)),
        (rec, b"HA_NOI", encode_json(r3)),
        (rec, b"HA_NOI", encode_json(r1)),  # duplicate of r1, other encoding
        (rec, b"HA_NOI", encode_avro(EventType.RECEIVED, r4)),  # out of order within 08:00
        (
            TOPIC_BY_TYPE[EventType.PROCESSED],
            b"HA_NOI",
            encode_avro(EventType.PROCESSED, processed),
        ),
        (TOPIC_BY_TYPE[EventType.RESULT_RETURNED], b"HA_NOI", encode_json(result)),
        (TOPIC_BY_TYPE[EventType.FEEDBACK], b"HA_NOI", encode_json(feedback)),
        (TOPIC_BY_TYPE[EventType.FEEDBACK], b"HA_NOI", encode_json(feedback)),  # duplicate
        (rec, b"DA_NANG", encode_json(r5)),
        (rec, b"DA_NANG", encode_json(r6)),
        (rec, b"HA_NOI", b'{"event_id": "bad", "unit_code": '),  # malformed
        (rec, b"NOT_A_UNIT", encode_json(unknown)),
    ]


COUNTERS = ("received", "online", "remote", "via_national_portal", "fee_dossiers", "online_payment")


def expected_rollups() -> set[tuple[Any, ...]]:
    """Hand-computed (unit, window, local start, counters…) of the scripted stream."""
    ha_0800 = (3, 2, 1, 1, 1, 1)  # r1 online/citizen/portal/fee online; r2 online/officer; r4
    ha_0801 = (1, 0, 0, 0, 1, 0)  # r3 in person, fee paid in person
    ha_hour = (4, 2, 1, 1, 2, 1)
    dn = (1, 1, 1, 0, 0, 0)
    return {
        ("HA_NOI", "1m", "2024-01-18 08:00:00", *ha_0800),
        ("HA_NOI", "1m", "2024-01-18 08:01:00", *ha_0801),
        ("HA_NOI", "1h", "2024-01-18 08:00:00", *ha_hour),
        ("HA_NOI", "1d", "2024-01-18 00:00:00", *ha_hour),
        ("DA_NANG", "1m", "2024-01-18 23:59:00", *dn),
        ("DA_NANG", "1m", "2024-01-19 00:00:00", *dn),
        ("DA_NANG", "1h", "2024-01-18 23:00:00", *dn),
        ("DA_NANG", "1h", "2024-01-19 00:00:00", *dn),
        ("DA_NANG", "1d", "2024-01-18 00:00:00", *dn),
        ("DA_NANG", "1d", "2024-01-19 00:00:00", *dn),
    }


def read_dead_letters(bootstrap: str, expected: int) -> list[tuple[bytes | None, dict[str, bytes]]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "dlq-reader", "enable.auto.commit": False}
    )
    meta = consumer.list_topics(DEAD_LETTER_TOPIC, timeout=10)
    parts = meta.topics[DEAD_LETTER_TOPIC].partitions
    consumer.assign([TopicPartition(DEAD_LETTER_TOPIC, p, 0) for p in parts])
    out: list[tuple[bytes | None, dict[str, bytes]]] = []
    for _ in range(100):
        if len(out) >= expected:
            break
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        out.append((msg.value(), {k: v for k, v in (msg.headers() or [])}))
    consumer.close()
    return out


def test_scripted_stream_gives_exact_rows(broker_factory, worker_factory) -> None:
    broker = broker_factory()
    worker = worker_factory(broker)
    stream = scripted_stream()
    producer = EventProducer(broker.bootstrap_servers)
    for topic, key, value in stream:
        producer.send_raw(topic, key, value)
    producer.flush()

    progress = worker.wait_consumed(len(stream))
    assert progress["dead_letters"] == {"malformed_json": 1, "unknown_unit": 1}
    assert progress["duplicates"] == 2
    assert worker.stop() == 0, worker.log()

    rows = query_json(
        worker.env,
        "SELECT unit_code, window, toString(window_start) AS start, "
        + ", ".join(COUNTERS)
        + ", online_rate, remote_rate, online_payment_rate "
        "FROM emc.unit_window_rollup FINAL ORDER BY unit_code, window, window_start",
    )
    got = {(r["unit_code"], r["window"], r["start"][:19], *(r[c] for c in COUNTERS)) for r in rows}
    assert got == expected_rollups()
    assert len(rows) == len(expected_rollups())
    by_key = {(r["unit_code"], r["window"], r["start"][:19]): r for r in rows}
    ha = by_key[("HA_NOI", "1m", "2024-01-18 08:00:00")]
    assert ha["online_rate"] == pytest.approx(2 / 3)
    assert ha["remote_rate"] == pytest.approx(1 / 3)
    assert ha["online_payment_rate"] == 1.0
    hour = by_key[("HA_NOI", "1h", "2024-01-18 08:00:00")]
    assert hour["online_rate"] == 0.5 and hour["online_payment_rate"] == 0.5

    events = query_json(
        worker.env,
        "SELECT event_type, event_id, unit_code, encoding, counted_windows "
        "FROM emc.dossier_events FINAL ORDER BY event_id",
    )
    assert [(e["event_id"], e["event_type"]) for e in events] == [
        ("f1", "feedback"),
        ("p1", "processed"),
        ("r1", "received"),
        ("r2", "received"),
        ("r3", "received"),
        ("r4", "received"),
        ("r5", "received"),
        ("r6", "received"),
        ("x1", "result_returned"),
    ]
    assert {e["event_id"]: e["encoding"] for e in events}["r1"] == "avro"
    assert all(e["counted_windows"] == 7 for e in events if e["event_type"] == "received")

    lifecycle = query_json(
        worker.env,
        "SELECT window, finished, finished_on_time, processing_ms_sum, fully_online, results, "
        "results_digitised, feedback, satisfied, on_time_rate, satisfaction_rate "
        "FROM emc.unit_window_rollup FINAL WHERE unit_code = 'HA_NOI' AND window != '1m' "
        "ORDER BY window",
    )
    # D1: received 08:00:10, finished 09:59:00 (due in 5 days), electronic + digitised, level 4
    # online; one "satisfied" feedback.
    for row in lifecycle:
        assert (row["finished"], row["finished_on_time"], row["fully_online"]) == (1, 1, 1)
        assert row["processing_ms_sum"] == (3600 + 58 * 60 + 50) * 1000
        assert (row["results"], row["results_digitised"]) == (1, 1)
        assert (row["feedback"], row["satisfied"]) == (1, 1)
        assert row["on_time_rate"] == 1.0 and row["satisfaction_rate"] == 1.0
    assert len(lifecycle) == 2

    out = emc_here(worker.env, "reconcile")
    assert out.exit_code == 0, out.stdout + out.stderr
    text = out.stdout
    assert "1m: 4 rows compared, 0 differences" in text
    assert "1h: 3 rows compared, 0 differences" in text
    assert "1d: 3 rows compared, 0 differences" in text

    dead = read_dead_letters(broker.bootstrap_servers, 2)
    reasons = sorted(h["emc.error.reason"].decode() for _, h in dead)
    assert reasons == ["malformed_json", "unknown_unit"]
    originals = {h["emc.error.reason"].decode(): v for v, h in dead}
    assert originals["malformed_json"] == b'{"event_id": "bad", "unit_code": '
    assert originals["unknown_unit"] == stream[-1][2]
