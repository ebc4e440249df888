"""The tracking call end to end on real parts: HTTP → tansu → `emc worker` → chdb.

The ingest runs in this process (its own event loop in a thread, as `emc run` runs it) with a
real producer on a real tansu broker; the worker is a real `emc worker` child on chdb.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.cli.ingest import IngestThread
from streams.core.events import LIFECYCLE_TOPICS
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.settings import IngestSettings, KafkaSettings, Settings, WebSettings
from tests.integration.fixtures import query_json

pytestmark = pytest.mark.integration

HA_NOI_TOKEN = "unit-token-ha-noi"
DA_NANG_TOKEN = "unit-token-da-nang"
HA_NOI_SITE, DA_NANG_SITE = "1076", "1075"

Post = Callable[..., tuple[int, dict[str, Any]]]


def receipt(dossier: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": dossier,
        "SiteId": HA_NOI_SITE,
        "CodeTTHC": "1.004946",
        "NameTTHC": "Cấp giấy phép",
        "Status": "1",
        "FormsReception": "1",
        "FormsPayments": "1",
        "Level": "4",
        "IsFromDVCQG": "1",
        "IsDVCBC": "0",
        "User": json.dumps({"ID_local": "u1", "ID_QG": "q1", "TYPE": "2"}),
        "EventTime": "2024-01-18T08:00:00+07:00",
        "DueDate": "2024-01-23T17:00:00+07:00",
    }
    body.update(overrides)
    return body


@pytest.fixture
def ingest(broker_factory: Callable[..., EmbeddedBroker], tmp_path: Path) -> Iterator[Any]:
    broker = broker_factory()
    settings = Settings(
        data_dir=tmp_path / "ingest",
        kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
        web=WebSettings(tokens=f"unit:HA_NOI={HA_NOI_TOKEN},unit:DA_NANG={DA_NANG_TOKEN}"),
        ingest=IngestSettings(port=free_port(), max_batch=5, produce_timeout_s=20),
    )
    thread = IngestThread(settings)
    thread.start()
    assert thread.ready.wait(30) and thread.error is None, thread.error
    url = f"http://127.0.0.1:{settings.ingest.port}"
    for _ in range(100):  # until the site listens
        try:
            urllib.request.urlopen(f"{url}/TrackingMCDT/ping", timeout=1).read()
            break
        except OSError:
            import time

            time.sleep(0.05)
    yield broker, url
    thread.stop()


def post(
    url: str,
    body: Any,
    token: str | None = HA_NOI_TOKEN,
    content_type: str = "application/json",
    path: str = "/TrackingMCDT",
) -> tuple[int, dict[str, Any]]:
    if isinstance(body, bytes):
        data = body
    elif content_type == "application/x-www-form-urlencoded":
        data = urllib.parse.urlencode(body).encode()
    else:
        data = json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def read_topics(bootstrap: str, wait_s: float = 3.0) -> list[tuple[str, bytes, bytes]]:
    """Every record on the lifecycle topics (topic, key, value), read by assignment."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "ingest-check", "enable.auto.commit": False}
    )
    parts = []
    for topic in LIFECYCLE_TOPICS:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts.extend(TopicPartition(topic, p, 0) for p in meta.partitions)
    consumer.assign(parts)
    out = []
    import time

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            out.append((msg.topic(), msg.key(), msg.value()))
    consumer.close()
    return out


def test_every_bad_call_gets_its_4xx_and_produces_nothing(ingest: Any) -> None:
    broker, url = ingest
    good = receipt("D-GOOD")
    cases: list[tuple[str, int, str, str | None, tuple[Any, ...], dict[str, Any]]] = [
        ("no token", 401, "unauthorized", None, (good,), {"token": None}),
        ("unknown token", 401, "unauthorized", None, (good,), {"token": "nope"}),
        ("another unit", 403, "forbidden", "SiteId", (good,), {"token": DA_NANG_TOKEN}),
        ("not JSON", 400, "malformed_body", None, (b'{"MaHoSo": ',), {}),
        ("an array", 400, "malformed_body", None, ([good],), {}),
        (
            "plain text",
            415,
            "unsupported_media_type",
            None,
            (b"x",),
            {"content_type": "text/plain"},
        ),
        ("no Status", 422, "missing_field", "Status", ({**good, "Status": ""},), {}),
        ("bad Status", 422, "invalid_value", "Status", ({**good, "Status": "7"},), {}),
        ("unknown site", 422, "unknown_site", "SiteId", ({**good, "SiteId": "9"},), {}),
        ("no CodeTTHC", 422, "missing_field", "CodeTTHC", ({**good, "CodeTTHC": None},), {}),
        ("bad User", 422, "invalid_value", "User", ({**good, "User": "{"},), {}),
        ("bad time", 422, "invalid_time", "EventTime", ({**good, "EventTime": "soon"},), {}),
        ("batch too large", 413, "too_large", None, ([good] * 6,), {"path": "/TrackingMCDT/batch"}),
        ("empty batch", 400, "malformed_body", None, ([],), {"path": "/TrackingMCDT/batch"}),
    ]
    for name, status, code, field, args, kwargs in cases:
        got_status, answer = post(url, *args, **kwargs)
        assert (got_status, answer.get("error"), answer.get("field")) == (status, code, field), (
            name,
            answer,
        )
    # a batch with one bad call among good ones: refused whole, the bad one named by index
    status, answer = post(
        url,
        [receipt("D-B1"), {**receipt("D-B2"), "Level": "9"}, receipt("D-B3")],
        path="/TrackingMCDT/batch",
    )
    assert status == 422 and answer["error"] == "invalid_calls"
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "Level")]
    # a batch mixing in another unit's call: 403, nothing produced
    status, answer = post(
        url, [receipt("D-B4"), receipt("D-B5", SiteId=DA_NANG_SITE)], path="/TrackingMCDT/batch"
    )
    assert status == 403 and answer["errors"][0]["index"] == 1
    assert read_topics(broker.bootstrap_servers, wait_s=1.5) == []
    # …and the same reader sees a good call: the check above could have failed
    assert post(url, good)[0] == 200
    records = read_topics(broker.bootstrap_servers)
    assert [(t, k) for t, k, _ in records] == [("emc.dossier.received.v1", b"HA_NOI")]


def test_tracking_call_end_to_end_with_a_retry_counted_once(
    ingest: Any, worker_factory: Callable[..., Any]
) -> None:
    broker, url = ingest
    worker = worker_factory(broker)
    first = post(url, receipt("D1"))
    assert first[0] == 200 and first[1]["status"] == "success", first
    retry = post(url, receipt("D1"))  # the TTHC system did not see the answer and sends again
    assert retry[1]["event_id"] == first[1]["event_id"]
    # form-encoded, as some systems post it: the second dossier, in person, officer-submitted
    form = receipt(
        "D2",
        FormsReception="2",
        FormsPayments="0",
        User=json.dumps({"ID_local": "o1", "ID_QG": "", "TYPE": "3"}),
        EventTime="2024-01-18T08:10:00+07:00",
    )
    assert post(url, form, content_type="application/x-www-form-urlencoded")[0] == 200
    # the bulk form: D1 assigned, processing, result returned on time
    steps = [
        receipt("D1", Status="4", EventTime="2024-01-18T09:00:00+07:00"),
        receipt("D1", Status="2", EventTime="2024-01-18T10:00:00+07:00"),
        receipt("D1", Status="3", EventTime="2024-01-19T15:00:00+07:00"),
    ]
    status, answer = post(url, steps, path="/TrackingMCDT/batch")
    assert status == 200 and answer["accepted"] == 3, answer
    assert post(url, {"calls": steps[2:]}, path="/TrackingMCDT/batch")[0] == 200  # retried
    worker.wait_consumed(7)
    assert worker.stop() == 0, worker.log()

    events = query_json(
        worker.env,
        "SELECT dossier_id, event_type, status, toString(event_time) AS at, channel, "
        "submitter_type, finished_at IS NOT NULL AS finished "
        "FROM emc.dossier_events FINAL ORDER BY dossier_id, event_time",
    )
    assert [(e["dossier_id"], e["event_type"], e["status"]) for e in events] == [
        ("D1", "received", None),
        ("D1", "processed", 2),
        ("D1", "processed", 4),
        ("D1", "result_returned", None),
        ("D2", "received", None),
    ]
    assert events[4]["channel"] == "in_person" and events[4]["submitter_type"] == "officer"
    day = query_json(
        worker.env,
        "SELECT received, online, remote, finished, finished_on_time, fee_dossiers, "
        "online_payment FROM emc.unit_window_rollup FINAL "
        "WHERE unit_code = 'HA_NOI' AND window = '1d' AND window_start = '2024-01-18 00:00:00'",
    )
    assert day == [
        {
            "received": 2,
            "online": 1,
            "remote": 1,
            "finished": 1,
            "finished_on_time": 1,
            "fee_dossiers": 1,
            "online_payment": 1,
        }
    ]
