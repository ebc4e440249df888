"""Reported totals: a unit's own counts per period against EMC's, and "cần đối soát số liệu".

On the real embedded engine with real events through the pipeline: HA_NOI sends 45 full
lifecycles in the week of 4-8 March 2024 (all online, from afar, finished on time), so EMC
counts 45 / 45 / 45 / 45 / 45 for March 2024. A file that reports within the tolerance leaves it
fully connected; one off by more flips it to "Đã kết nối, cần đối soát số liệu" (reason
``reported_totals_differ``); a bad file lists every bad cell and changes nothing. The same
through the topic ``emc.unit.reported-totals.v1`` on a real tansu broker, in JSON and Avro,
with a bad message dead-lettered in ``emc.dead_letters``.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from openpyxl import Workbook

from streams.assessment.sql import period_counters
from streams.core.periods import parse_period
from streams.core.registry import UnitRegistry, default_units_path
from streams.health.errors import ImportValidationError
from streams.health.totals import (
    MEASURES,
    REPORTED_TOTALS_TOPIC,
    emc_counts,
    parse_totals_file,
    validate_report,
    within_tolerance,
)
from streams.kafka.totals_codec import decode_totals, encode_totals_avro, encode_totals_json
from streams.worker.totals_feed import TotalsFeed
from tests.health.engine import ms
from tests.health.test_operator_status import office_hours

REGISTRY = UnitRegistry.load(default_units_path())
NOW = ms(2024, 3, 8, 17, 0)
LATER = ms(2024, 3, 8, 18, 0)
RECONCILE = "Đã kết nối, cần đối soát số liệu"
HEADER = ["Mã đơn vị", "Kỳ báo cáo", *MEASURES.values()]


def test_tolerance_arithmetic() -> None:
    # |EMC - reported| ≤ max(min_difference, tolerance × reported)
    assert within_tolerance(105, 100, 0.05, 0) and within_tolerance(95, 100, 0.05, 0)
    assert not within_tolerance(106, 100, 0.05, 0) and not within_tolerance(94, 100, 0.05, 0)
    assert within_tolerance(3, 0, 0.05, 3) and not within_tolerance(4, 0, 0.05, 3)
    assert not within_tolerance(1, 0, 0.5, 0)  # nothing reported, something counted


def test_a_report_is_validated_field_by_field() -> None:
    now = ms(2026, 12, 3, 9, 0)
    good, problems = validate_report(
        {"report_id": "r1", "unit_code": "HA_NOI", "period": "2026-Q3", "received": 10,
         "online": 8, "remote": 5, "reported_at": now},
        REGISTRY, now,
    )  # fmt: skip
    assert problems == [] and good is not None
    assert (good.period.label, good.values) == (
        "2026-Q3",
        {"received": 10, "online": 8, "remote": 5},
    )
    _, problems = validate_report(
        {"report_id": "", "unit_code": "HA_GIANG", "period": "2026-13", "received": -1},
        REGISTRY, now,
    )  # fmt: skip
    assert {f for f, _ in problems} == {"report_id", "period", "received"}
    _, problems = validate_report(
        {"report_id": "r", "unit_code": "HA_GIANG", "period": "2026-01", "received": 3},
        REGISTRY, now,
    )  # fmt: skip
    assert problems == [("period", "HA_GIANG is not in force in 2026-01")]  # merged 2025-07-01
    _, problems = validate_report(
        {"report_id": "r", "unit_code": "HA_NOI", "period": "2026-11", "online": 9,
         "received": 4, "colour": 1},
        REGISTRY, now,
    )  # fmt: skip
    assert ("online", "9 is more than received (4)") in problems
    assert ("colour", "unknown field(s) colour") in problems


def test_the_topic_codec_round_trips_json_and_avro() -> None:
    fields = {"report_id": "x", "unit_code": "HA_NOI", "period": "2026-11", "reported_at": 1,
              "received": 3, "online": None, "remote": None, "finished": 2,
              "finished_on_time": None}  # fmt: skip
    assert decode_totals(encode_totals_json(fields)) == fields
    assert decode_totals(encode_totals_avro(fields)) == fields
    with pytest.raises(Exception, match="not '\\{' or c301"):
        decode_totals(b"\x00\x01")


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    path.write_text("\n".join(",".join(str(c) for c in r) for r in [HEADER, *rows]) + "\n")
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Báo cáo số liệu hồ sơ TTHC"])  # a title above the header, as templates do
    for row in [HEADER, *rows]:
        sheet.append(row)
    book.save(path)
    return path


def reported_rows(engine: Any) -> int:
    return int(engine.sink.query_rows("SELECT count() FROM emc.unit_reported_totals")[0][0])


def test_reported_totals_import_flips_the_status_beyond_the_tolerance(
    engine_factory: Any, tmp_path: Path
) -> None:
    e = engine_factory(HEALTH__REPORTED_TOTALS_TOLERANCE="0.1")
    e.lifecycles("HA_NOI", office_hours(date(2024, 3, 4), date(2024, 3, 8)))
    m = e.monitor
    assert e.statuses(NOW)["HA_NOI"].status == "fully_connected"

    march = parse_period("2024-03")
    ours = emc_counts(e.sink, ["HA_NOI"], march.start_ms, march.end_ms)["HA_NOI"]
    assert ours == dict.fromkeys(MEASURES, 45)
    theirs = period_counters(e.sink, march.start_ms, march.end_ms)["HA_NOI"]
    assert {k: theirs[k] for k in MEASURES} == ours  # the assessment's definitions

    # within 10 %: 49 reported vs 45 counted is -8.2 %; 41 vs 45 is +9.8 %
    within = parse_totals_file(
        write_csv(tmp_path / "within.csv", [["HA_NOI", "2024-03", 49, 45, 41, 45, 45]]),
        REGISTRY, NOW,
    )  # fmt: skip
    m.record_totals(within, "import", "within.csv", NOW)
    s = e.statuses(NOW)["HA_NOI"]
    assert (s.status, s.reported_mismatches) == ("fully_connected", 0)
    by_measure = {d.measure: d for d in m.differences("HA_NOI")}
    assert (by_measure["received"].difference, by_measure["remote"].difference) == (-4, 4)
    assert all(d.within_tolerance for d in by_measure.values())

    # beyond: 60 received reported vs 45 counted (-25 %); the later report replaces the first
    beyond = parse_totals_file(
        write_xlsx(tmp_path / "beyond.xlsx", [["HA_NOI", "2024-03", 60, 45, None, 45, 45]]),
        REGISTRY, NOW,
    )  # fmt: skip
    m.record_totals(beyond, "import", "beyond.xlsx", LATER)
    s = e.statuses(LATER)["HA_NOI"]
    assert (s.status, s.reason_code, s.status_label) == (
        "needs_reconciliation", "reported_totals_differ", RECONCILE,
    )  # fmt: skip
    assert s.reported_mismatches == 1
    assert "Tiếp nhận 2024-03: báo cáo 60, EMC 45 (-15, -25.0%)" in s.reason
    stored = {d.measure: d for d in m.differences("HA_NOI")}
    assert set(stored) == {"received", "online", "finished", "finished_on_time"}  # no "remote"
    assert (stored["received"].reported_value, stored["received"].within_tolerance) == (60, False)
    assert reported_rows(e) == 5 + 4
    assert "needs_reconciliation" in [p.status for p in m.history("HA_NOI")]

    # a bad file: every problem by row and column, nothing written, the status unchanged
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["HA_NOI", "2024-03", 45, 45, 45, 45, 45],
            ["NO_SUCH", "2024-03", 1, 1, 1, 1, 1],
            ["DA_NANG", "2024-3x", 1, 1, 1, 1, 1],
            ["CAN_THO", "2024-03", 5, 9, 1, 1, 1],
            ["HAI_PHONG", "2024-03", "abc", 1, 1, 1, 1],
        ],
    )
    with pytest.raises(ImportValidationError) as caught:
        parse_totals_file(bad, REGISTRY, NOW)
    where = {(p.row, p.column) for p in caught.value.problems}
    assert where == {
        (3, "Mã đơn vị"),
        (4, "Kỳ báo cáo"),
        (5, "Tiếp nhận trực tuyến"),
        (6, "Tiếp nhận"),
    }
    assert "nothing imported" in str(caught.value)
    assert reported_rows(e) == 9
    assert e.statuses(LATER)["HA_NOI"].status == "needs_reconciliation"


def test_reported_totals_from_the_topic_json_and_avro(
    engine_factory: Any, broker_factory: Any
) -> None:
    broker = broker_factory()
    e = engine_factory(
        HEALTH__REPORTED_TOTALS_TOLERANCE="0.05",
        KAFKA__BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        KAFKA__SESSION_TIMEOUT_S="3",  # as the test workers' (tests.integration.fixtures)
    )
    e.lifecycles("HA_NOI", office_hours(date(2024, 3, 4), date(2024, 3, 8)))
    e.lifecycles("CAN_THO", office_hours(date(2024, 3, 4), date(2024, 3, 8)))
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    now = NOW  # the unit's reported_at: in the evaluated past
    reports = [
        ("HA_NOI", encode_totals_json, 45),  # agrees
        ("CAN_THO", encode_totals_avro, 30),  # 45 counted vs 30 reported: +50 %
    ]
    for unit, encode, received in reports:
        fields = {"report_id": f"t-{unit}", "unit_code": unit, "period": "2024-03",
                  "reported_at": now, "received": received, "online": None, "remote": None,
                  "finished": None, "finished_on_time": None}  # fmt: skip
        producer.produce(REPORTED_TOTALS_TOPIC, encode(fields), key=unit.encode())
    producer.produce(REPORTED_TOTALS_TOPIC, b'{"report_id": "z"', key=b"HA_NOI")
    producer.produce(
        REPORTED_TOTALS_TOPIC,
        encode_totals_json({"report_id": "w", "unit_code": "HA_NOI", "period": "2024-03",
                            "received": 1}),
        key=b"CAN_THO",
    )  # fmt: skip
    producer.flush(10)

    feed = TotalsFeed(e.settings, e.monitor, e.registry)
    try:
        handled, deadline = 0, time.monotonic() + 60
        while handled < 4 and time.monotonic() < deadline:
            handled += feed.poll_once(timeout_s=1.0)
        assert (handled, feed.accepted, feed.rejected) == (4, 2, 2)
    finally:
        feed.consumer.close()

    got = e.statuses(NOW)
    assert got["HA_NOI"].status == "fully_connected"
    assert (got["CAN_THO"].status, got["CAN_THO"].status_label) == (
        "needs_reconciliation", RECONCILE,
    )  # fmt: skip
    assert "Tiếp nhận 2024-03: báo cáo 30, EMC 45 (+15, +50.0%)" in got["CAN_THO"].reason
    dead = e.sink.query_rows(
        "SELECT reason, unit_code, message_key FROM emc.dead_letters FINAL "
        f"WHERE source_topic = '{REPORTED_TOTALS_TOPIC}' ORDER BY source_offset"
    )
    assert [tuple(r) for r in dead] == [
        ("malformed_json", "HA_NOI", "HA_NOI"),
        ("key_mismatch", "CAN_THO", "CAN_THO"),
    ]


def test_the_differences_on_the_api_by_token(engine_factory: Any, tmp_path: Path) -> None:
    """GET /emc/api/units/{code}/totals: the national token sees any unit's, HA_NOI's token its
    own and not DA_NANG's."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from streams.web.server import attach
    from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV

    e = engine_factory(WEB__TOKENS=TOKENS_ENV)
    e.lifecycles("HA_NOI", office_hours(date(2024, 3, 4), date(2024, 3, 8)))
    e.lifecycles("DA_NANG", office_hours(date(2024, 3, 4), date(2024, 3, 6)))
    rows = [["HA_NOI", "2024-03", 50, "", "", "", ""], ["DA_NANG", "2024-03", 27, "", "", "", ""]]
    reports = parse_totals_file(write_csv(tmp_path / "t.csv", rows), REGISTRY, NOW)
    e.monitor.record_totals(reports, "import", "t.csv", NOW)
    app = web.Application()
    attach(app, e.processor, e.registry, e.sink, e.settings, e.monitor)

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with TestServer(app) as server, TestClient(server) as client:
            for who, token, unit in (
                ("national", NATIONAL, "DA_NANG"),
                ("own", HA_NOI, "HA_NOI"),
                ("other", HA_NOI, "DA_NANG"),
            ):
                r = await client.get(
                    f"/emc/api/units/{unit}/totals", headers={"Authorization": f"Bearer {token}"}
                )
                out[who] = (r.status, await r.json())
        return out

    out = asyncio.run(scenario())
    status, body = out["own"]
    assert status == 200
    assert [(d["measure"], d["emc_value"], d["reported_value"], d["difference"])
            for d in body["differences"]] == [("received", 45, 50, -5)]  # fmt: skip
    assert body["differences"][0]["within_tolerance"] is False  # 10 % > the default 5 %
    status, body = out["national"]
    assert status == 200 and body["differences"][0]["emc_value"] == 27
    assert body["differences"][0]["within_tolerance"] is True
    assert out["other"][0] == 403


def test_the_worker_consumes_the_topic_and_takes_an_import(
    broker_factory: Any, tmp_path: Path
) -> None:
    """A real `emc worker`: its reported-totals feed stores a topic message (EMC counted
    nothing this month, so 7 reported differ), and `emc totals import` reaches it over HTTP
    while it holds the embedded store."""
    import os

    from streams.core.localtime import local_date
    from tests.health.test_imports import emc
    from tests.health.test_status import TOKEN, call, start_worker

    broker = broker_factory()
    worker = start_worker(broker.bootstrap_servers, tmp_path / "data")
    month = local_date(int(time.time() * 1000)).strftime("%Y-%m")
    try:
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        fields = {"report_id": "w1", "unit_code": "HA_NOI", "period": month,
                  "reported_at": int(time.time() * 1000), "received": 7}  # fmt: skip
        producer.produce(REPORTED_TOTALS_TOPIC, encode_totals_json(fields), key=b"HA_NOI")
        producer.flush(10)
        deadline, got = time.monotonic() + 90, []
        while time.monotonic() < deadline and not got:
            got = call(worker, "GET", "/emc/health/totals?unit=HA_NOI")["differences"]
            time.sleep(0.5)
        assert [(d["period"], d["emc_value"], d["reported_value"], d["within_tolerance"])
                for d in got] == [(month, 0, 7, False)], worker.log()  # fmt: skip

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
            "EMC_DATA_DIR": str(tmp_path / "data"),
            "EMC_WEB__PORT": str(worker.web_port),
            "EMC_TOKEN": TOKEN,
        }
        file = write_csv(tmp_path / "dn.csv", [["DA_NANG", month, 0, 0, 0, 0, 0]])
        out = emc(env, "totals", "import", str(file))
        assert out.returncode == 0, out.stderr
        assert "imported 1 reports (5 counts) from dn.csv (through the worker" in out.stdout
        listed = emc(env, "totals", "list", "DA_NANG")
        assert listed.returncode == 0, listed.stderr
        assert f"DA_NANG          {month}" in listed.stdout and "yes" in listed.stdout
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()
