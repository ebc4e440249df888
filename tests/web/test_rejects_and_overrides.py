"""Through the real broker and a real `emc worker` (tansu → worker → chdb): rejected messages
land in ``emc.dead_letters`` and are visible to their unit's token only; a level-2 receipt is
counted (not online); an operator status set and cleared through the API (national token only).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.kafka.produce import EventProducer
from tests.integration.fixtures import TEST_NATIONAL_TOKEN, query_json, wait_committed
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV, get_json, http, receipt

pytestmark = pytest.mark.integration

DA_NANG = "test-da-nang-secret"
COORDINATING = "Đã kết nối, đang phối hợp xử lý"


def post_json(url: str, token: str, body: Any, method: str = "POST") -> tuple[int, Any]:
    status, _, raw = http(url, token, method=method, data=json.dumps(body).encode())
    return status, json.loads(raw) if raw else None


def test_rejects_level_two_and_overrides(broker_factory: Any, worker_factory: Any) -> None:
    broker = broker_factory()
    worker = worker_factory(
        broker,
        EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN},{TOKENS_ENV},unit:DA_NANG={DA_NANG}",
        EMC_HEALTH__EVALUATION_INTERVAL_S="0",
    )
    base = f"http://127.0.0.1:{worker.web_port}"
    now = int(time.time() * 1000)
    producer = EventProducer(broker.bootstrap_servers, encoding="json")
    legacy = {**receipt("l2", "HA_NOI", now - 3000, online=False), "procedure_level": 2}
    producer.send(EventType.RECEIVED, legacy)
    producer.send(EventType.RECEIVED, receipt("ok", "HA_NOI", now - 2000, online=True))
    received = TOPIC_BY_TYPE[EventType.RECEIVED]
    producer.send_raw(received, b"HA_NOI", b'{"event_id": "broken"')  # malformed JSON
    producer.send_raw(
        received,
        b"HA_NOI",
        json.dumps({**receipt("l7", "HA_NOI", now - 1000, online=True), "procedure_level": 7})
        .encode(),
    )  # fmt: skip
    producer.send_raw(
        received, b"NO_SUCH", json.dumps(receipt("x", "NO_SUCH", now, online=True)).encode()
    )
    producer.close()
    worker.wait_consumed(5)
    # stored: the worker commits a batch once ClickHouse took its rows
    wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets, check=worker.alive)

    # level 2: counted, not online
    row = get_json(f"{base}/emc/api/units/HA_NOI", NATIONAL)["unit"]
    assert (row["received_60m"], row["online_60m"]) == (2, 1)

    # rejected messages: their unit's token sees them, another unit's does not
    mine = get_json(f"{base}/emc/api/units/HA_NOI/rejects", HA_NOI)
    assert mine["total"] == 2
    assert {r["reason"] for r in mine["reasons"]} == {"malformed_json", "invalid_value"}
    assert all(r["topic"] == received and r["message_key"] == "HA_NOI" for r in mine["recent"])
    assert http(f"{base}/emc/api/units/HA_NOI/rejects", DA_NANG)[0] == 403
    assert get_json(f"{base}/emc/api/units/DA_NANG/rejects", DA_NANG)["total"] == 0
    listed = get_json(f"{base}/emc/api/units?limit=500", NATIONAL)["rows"]
    assert {r["unit_code"]: r["rejected"] for r in listed}["HA_NOI"] == 2

    # operator status through the API: national only, recorded, cleared
    path = f"{base}/emc/api/units/BHXH_VN/status-override"
    body = {"status": "coordinating", "reason": "Đang phối hợp với nhà cung cấp", "author": "A"}
    assert post_json(path, HA_NOI, body)[0] == 403
    status, answer = post_json(path, NATIONAL, body)
    assert status == 200 and answer["override"]["status"] == "coordinating", answer
    statuses = get_json(f"{base}/emc/health/status", NATIONAL)["rows"]
    bhxh = {r["unit_code"]: r for r in statuses}["BHXH_VN"]
    assert (bhxh["status_label"], bhxh["source"]) == (COORDINATING, "history")
    assert post_json(path, NATIONAL, {**body, "status": "no_such"})[0] == 400
    status, answer = post_json(path, NATIONAL, {}, method="DELETE")
    assert status == 200 and len(answer["cleared"]) == 1
    assert worker.stop() == 0, worker.log()

    env = worker.env
    dead = query_json(
        env,
        "SELECT unit_code, reason, kind, message_key, original_size > 0 AS kept "
        "FROM emc.dead_letters FINAL ORDER BY source_offset",
    )
    assert sorted((d["unit_code"], d["reason"]) for d in dead) == [
        ("HA_NOI", "invalid_value"),
        ("HA_NOI", "malformed_json"),
        ("NO_SUCH", "unknown_unit"),
    ]
    assert all(d["kept"] and d["kind"] == "dead_letter" for d in dead)
    history = query_json(
        env,
        "SELECT status FROM emc.unit_status_history FINAL WHERE unit_code = 'BHXH_VN' "
        "ORDER BY from_time",
    )
    assert [h["status"] for h in history] == ["coordinating", "not_connected"]
