"""Every connection status driven from real events (tansu → `emc worker` → chdb) and imports.

One worker run. The rules are evaluated as of chosen instants through the worker's
``POST /emc/health/evaluate`` (the worker holds the embedded engine), in increasing order, so the
transitions land in ``emc.unit_status_history``; then the worker stops and the history and
`emc status` (CSV, XLSX, HTML) are read back in child processes.

The scripted units (office hours 07:30–17:00 Mon–Fri, holidays from config/holidays.csv):

- BO_CONG_AN never sends: not connected.
- HA_NOI sends Mon 4 – Wed 6 March 2024 until 16:40, nothing Thursday to Monday, then again on
  Tuesday 12 March from 09:10: fully connected on Friday 15:00 (17 h 20 min of office time
  silent), interrupted on Monday 15:00 (26 h 50 min), fully connected again on Tuesday 12:00.
- DA_NANG sends until Thursday 8 February 2024 16:40, the eve of Tết: on Friday 16 February
  10:00 it has been silent one weekend, seven days off (Tết and its nghỉ bù) and 2 h 50 min of
  office time, so it is not interrupted.
- HAI_PHONG (catalogue imported first) names an unknown procedure code in 1 receipt of 5.
- QUANG_NINH sends receipts, never results.
- HO_CHI_MINH (catalogue of 4 online procedures) only ever uses one of them.
- BAC_NINH sends 40 events before noon on its usual Tuesdays, 4 on Tuesday 12 March.
- CAN_THO (catalogue imported through the running worker) sends full lifecycles: fully connected.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bench.procs import WorkerProcess
from streams.core.events import EventType
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.produce import EventProducer
from streams.kafka.topics import ensure_topics
from tests.health.test_imports import CATALOGUE_HEADER, emc, write_xlsx
from tests.integration.fixtures import FAST_GROUP, query_json, wait_committed

VALID_NOW = 49
"""Units of config/units.csv valid in 2026 (34 provinces since 1 July 2025, 15 ministry-level
units since 1 March 2025): the status report lists these."""

pytestmark = pytest.mark.integration

VN = timezone(timedelta(hours=7))
TOKEN = "health-test-national-token"
HOUR = 3_600_000
CHROMIUM = "/usr/bin/chromium"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=VN).timestamp() * 1000)


T1 = ms(2024, 2, 16, 10, 0)  # Friday after Tết
T2 = ms(2024, 3, 8, 15, 0)  # Friday
T3 = ms(2024, 3, 11, 15, 0)  # Monday
T4 = ms(2024, 3, 12, 12, 0)  # Tuesday


class Script:
    """Dossier lifecycles as (event type, event) in production order."""

    def __init__(self) -> None:
        self.events: list[tuple[EventType, dict[str, Any]]] = []
        self.n = 0

    def dossier(
        self, unit: str, at: int, code: str = "P1", result: bool = True, result_after_ms: int = 0
    ) -> None:
        self.n += 1
        dossier = f"{unit}-{self.n}"
        self.events.append(
            (
                EventType.RECEIVED,
                {
                    "event_id": f"r-{dossier}",
                    "unit_code": unit,
                    "dossier_id": dossier,
                    "event_time": at,
                    "procedure_code": code,
                    "procedure_level": 4,
                    "channel": "online",
                    "submitter_type": "citizen",
                    "via_national_portal": False,
                    "due_at": at + 5 * 86_400_000,
                    "fee_payment": "none",
                },
            )
        )
        if result:
            done = at + (result_after_ms or 30 * 60_000)
            self.events.append(
                (
                    EventType.RESULT_RETURNED,
                    {
                        "event_id": f"x-{dossier}",
                        "unit_code": unit,
                        "dossier_id": dossier,
                        "event_time": done,
                        "finished_at": done,
                        "electronic_result": True,
                        "result_channel": "online",
                        "digitised": False,
                        "paid_online": False,
                    },
                )
            )

    def office_days(
        self,
        unit: str,
        days: list[date],
        hours: range = range(8, 17),
        per_hour: int = 1,
        codes: tuple[str, ...] = ("P1",),
        result: bool = True,
    ) -> None:
        """``per_hour`` dossiers received at hh:10 (results at hh:40) in each of ``hours``."""
        for day in days:
            for hour in hours:
                for _ in range(per_hour):
                    code = codes[self.n % len(codes)]
                    self.dossier(unit, ms(day.year, day.month, day.day, hour, 10), code, result)


def weekdays(first: date, last: date) -> list[date]:
    return [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() < 5
    ]


def scripted() -> Script:
    s = Script()
    march = weekdays(date(2024, 3, 4), date(2024, 3, 11))
    s.office_days("DA_NANG", weekdays(date(2024, 2, 5), date(2024, 2, 8)))
    s.office_days("BAC_NINH", [date(2024, 2, 20), date(2024, 2, 27)], range(8, 12), per_hour=5)
    s.office_days("HA_NOI", weekdays(date(2024, 3, 4), date(2024, 3, 6)))
    s.office_days("HA_NOI", [date(2024, 3, 12)], range(9, 12))
    for unit, codes, result in (
        ("HAI_PHONG", ("P1", "P2", "P3", "P1", "X9"), True),
        ("QUANG_NINH", ("P1",), False),
        ("HO_CHI_MINH", ("P1",), True),
        ("CAN_THO", ("P1", "P2"), True),
    ):
        s.n = 0  # so that HAI_PHONG's codes cycle exactly: 1 in 5 is X9
        s.office_days(unit, [*march, date(2024, 3, 12)], codes=codes, result=result)
    s.office_days("BAC_NINH", [d for d in march if d != date(2024, 3, 5)])
    s.office_days("BAC_NINH", [date(2024, 3, 5)], per_hour=5)
    s.office_days("BAC_NINH", [date(2024, 3, 12)], range(8, 9))
    s.office_days("BAC_NINH", [date(2024, 3, 12)], range(11, 12))
    return s


def call(worker: Any, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.web_port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def evaluate(worker: Any, at_ms: int) -> dict[str, dict[str, Any]]:
    answer = call(worker, "POST", "/emc/health/evaluate", {"at_ms": at_ms})
    return {s["unit_code"]: s for s in answer["statuses"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Drive the scripted stream through one worker; yields what the tests check."""
    tmp = tmp_path_factory.mktemp("health")
    data = tmp / "data"
    data.mkdir()
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(data),
        "EMC_WEB__TOKENS": f"national={TOKEN}",
        "EMC_TOKEN": TOKEN,
        "EMC_HEALTH__EVALUATION_INTERVAL_S": "0",
    }
    catalogue = [
        ["Thủ tục một", 4, None, "1.1", "P1"],
        ["Thủ tục hai", 4, None, "1.2", "P2"],
        ["Thủ tục ba", 3, None, "1.3", "P3"],
        ["Thủ tục bốn", 0, None, "1.4", "P4"],
    ]
    for unit, rows in (
        ("HAI_PHONG", catalogue),
        ("HO_CHI_MINH", [[*r[:1], 4, *r[2:]] for r in catalogue]),
    ):
        path = write_xlsx(tmp / f"{unit}.xlsx", CATALOGUE_HEADER, rows)
        out = emc(base_env, "import", "catalogue", unit, str(path))
        assert out.returncode == 0 and "(through the worker" not in out.stdout, out.stderr

    broker = EmbeddedBroker().start()
    worker: WorkerProcess | None = None
    try:
        ensure_topics(broker.bootstrap_servers, 4)
        worker = start_worker(broker.bootstrap_servers, data, EMC_HEALTH__EVALUATION_INTERVAL_S="0")
        env = worker.env
        script = scripted()
        producer = EventProducer(broker.bootstrap_servers, encoding="json")
        # receipts first: a result consumed before its receipt (other topic, other partition)
        # would be an impossible lifecycle and make the unit "needs reconciliation"
        receipts = [e for e in script.events if e[0] == EventType.RECEIVED]
        for kind, event in receipts:
            producer.send(kind, event)
        producer.flush()
        wait_stored(worker, producer)
        for kind, event in script.events:
            if kind != EventType.RECEIVED:
                producer.send(kind, event)
        producer.flush()
        wait_stored(worker, producer)

        # the engine is held by the worker: this import goes through its HTTP server
        path = write_xlsx(tmp / "CAN_THO.xlsx", CATALOGUE_HEADER, catalogue[:2] + catalogue[3:])
        imported = emc(env, "import", "catalogue", "CAN_THO", str(path))
        through_worker = emc(env, "status", "--format", "csv")

        results = {at: evaluate(worker, at) for at in (T1, T2, T3, T4)}
        assert worker.stop() == 0, worker.log()
        yield {
            "env": env,
            "tmp": tmp,
            "results": results,
            "imported": imported,
            "through_worker": through_worker,
        }
    finally:
        if worker is not None:
            worker.kill()
        broker.stop()


def start_worker(bootstrap: str, data: Path, **overrides: str) -> WorkerProcess:
    """An `emc worker` child on ``data`` whose readiness is checked with the test's token
    (the worker's web server may require one)."""
    worker = WorkerProcess.start(
        bootstrap,
        data,
        "emc-health-test",
        token=TOKEN,
        log_name="worker.log",
        **{**FAST_GROUP, "EMC_TOKEN": TOKEN, "EMC_STREAM__BATCH_WITHIN_S": "0.2", **overrides},
    )
    try:
        worker.wait_ready(timeout_s=90.0)
    except BaseException:
        worker.kill()
        raise
    return worker


def wait_stored(worker: WorkerProcess, producer: EventProducer, timeout_s: float = 180.0) -> None:
    """Wait until the worker's group has committed past everything ``producer`` sent: the
    worker commits a batch only once ClickHouse took its rows."""
    wait_committed(
        worker.env["EMC_KAFKA__BOOTSTRAP_SERVERS"],
        worker.env["EMC_KAFKA__GROUP_ID"],
        producer.last_offsets,
        timeout_s,
        check=worker.alive,
    )


def test_each_status_from_real_events(run: dict[str, Any]) -> None:
    r = run["results"]
    assert r[T1]["BO_CONG_AN"]["status"] == "not_connected"
    assert r[T1]["BO_CONG_AN"]["reason_code"] == "never_sent"
    # silent over a weekend and Tết only: 16:40–17:00 on 8/2 and 07:30–10:00 on 16/2
    da_nang = r[T1]["DA_NANG"]
    assert (da_nang["status"], da_nang["silent_ms"]) == ("fully_connected", 2 * HOUR + 50 * 60_000)
    assert r[T1]["HA_NOI"]["status"] == "not_connected"

    ha_noi = [r[t]["HA_NOI"] for t in (T2, T3, T4)]
    assert [h["status"] for h in ha_noi] == ["fully_connected", "interrupted", "fully_connected"]
    assert ha_noi[0]["silent_ms"] == 17 * HOUR + 20 * 60_000
    assert ha_noi[1]["silent_ms"] == 26 * HOUR + 50 * 60_000
    assert ha_noi[1]["reason_code"] == "silent_working_hours"
    assert ha_noi[1]["reason"] == "Không có sự kiện trong 26.8 giờ làm việc"
    assert ha_noi[2]["silent_ms"] == 20 * 60_000

    at4 = r[T4]
    hai_phong = at4["HAI_PHONG"]
    assert (hai_phong["status"], hai_phong["reason_code"]) == (
        "needs_reconciliation",
        "unknown_procedures",
    )
    assert (hai_phong["unknown_receipts"], hai_phong["receipts"]) == (11, 58)
    assert hai_phong["status_label"] == "Đã kết nối, cần đối soát số liệu"
    assert (at4["QUANG_NINH"]["status"], at4["QUANG_NINH"]["reason_code"]) == (
        "not_comprehensive",
        "no_results",
    )
    hcm = at4["HO_CHI_MINH"]
    assert (hcm["status"], hcm["reason_code"]) == ("not_comprehensive", "low_catalogue_coverage")
    assert (hcm["covered_procedures"], hcm["online_procedures"]) == (1, 4)
    bac_ninh = at4["BAC_NINH"]
    assert (bac_ninh["status"], bac_ninh["reason_code"]) == ("interrupted", "volume_drop")
    assert (bac_ninh["today_events"], bac_ninh["usual_events"]) == (4, 40.0)
    can_tho = at4["CAN_THO"]
    assert (can_tho["status"], can_tho["catalogue_size"], can_tho["covered_procedures"]) == (
        "fully_connected",
        3,
        2,
    )
    assert at4["DA_NANG"]["status"] == "interrupted"
    assert at4["BO_CONG_AN"]["status"] == "not_connected"


def test_imports_and_report_through_the_running_worker(run: dict[str, Any]) -> None:
    imported = run["imported"]
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 catalogue rows for CAN_THO" in imported.stdout
    assert "(through the worker at" in imported.stdout
    report = run["through_worker"]
    assert report.returncode == 0, report.stderr
    assert len(list(csv.DictReader(io.StringIO(report.stdout)))) == VALID_NOW


def test_transitions_are_history(run: dict[str, Any]) -> None:
    rows = query_json(
        run["env"],
        "SELECT status, toUnixTimestamp64Milli(from_time) AS f, "
        "toUnixTimestamp64Milli(to_time) AS t FROM emc.unit_status_history FINAL "
        "WHERE unit_code = 'HA_NOI' ORDER BY from_time",
    )
    assert [(x["status"], x["f"], x["t"]) for x in rows] == [
        ("not_connected", T1, T2),
        ("fully_connected", T2, T3),
        ("interrupted", T3, T4),
        ("fully_connected", T4, None),
    ]
    current = query_json(
        run["env"],
        "SELECT unit_code, status, toUnixTimestamp64Milli(since) AS since, "
        "toUnixTimestamp64Milli(last_event_at) AS last FROM emc.unit_connection_status "
        "WHERE unit_code IN ('HA_NOI', 'BO_CONG_AN') ORDER BY unit_code",
    )
    assert current == [
        {"unit_code": "BO_CONG_AN", "status": "not_connected", "since": T1, "last": None},
        {
            "unit_code": "HA_NOI",
            "status": "fully_connected",
            "since": T4,
            "last": ms(2024, 3, 12, 11, 40),
        },
    ]


def status_csv(env: dict[str, str], *args: str) -> list[dict[str, str]]:
    out = emc(env, "status", "--format", "csv", *args)
    assert out.returncode == 0, out.stderr
    return list(csv.DictReader(io.StringIO(out.stdout)))


def test_status_report_as_data(run: dict[str, Any]) -> None:
    env, tmp = run["env"], run["tmp"]
    rows = status_csv(env)
    assert len(rows) == VALID_NOW
    by_unit = {r["unit_code"]: r for r in rows}
    sections = {r["section"] for r in rows}
    assert sections == {
        "1. Đối với các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
        "2. Đối với các tỉnh, thành phố trực thuộc trung ương",
    }
    # numbered within each section in the letter's order (TP. Hà Nội is 30 of the 34 provinces in
    # force today; 56 of the 63 at the 2024 moment below)
    assert (by_unit["HA_NOI"]["STT"], by_unit["HA_NOI"]["name_vi"]) == ("30", "TP. Hà Nội")
    assert by_unit["BO_Y_TE"]["STT"] == "13"  # of the ministries in force today
    expected = {
        "HA_NOI": "Đã kết nối toàn diện",
        "CAN_THO": "Đã kết nối toàn diện",
        "BAC_NINH": "Đã kết nối nhưng bị gián đoạn",
        "DA_NANG": "Đã kết nối nhưng bị gián đoạn",
        "HAI_PHONG": "Đã kết nối, cần đối soát số liệu",
        "QUANG_NINH": "Đã kết nối nhưng chưa toàn diện do các hệ thống còn bị phân tán",
        "HO_CHI_MINH": "Đã kết nối nhưng chưa toàn diện do các hệ thống còn bị phân tán",
        "BO_CONG_AN": "Chưa kết nối",
    }
    for unit, label in expected.items():
        assert by_unit[unit]["Hiện trạng kết nối với Hệ thống EMC"] == label, unit
    assert sum(r["status"] == "not_connected" for r in rows) == VALID_NOW - 7

    filtered = status_csv(env, "--kind", "province", "--status", "interrupted")
    assert [r["unit_code"] for r in filtered] == ["BAC_NINH", "DA_NANG"]

    # at a past moment, from the history: Monday 11 March 18:00, HA_NOI was interrupted
    past = status_csv(env, "--at", "2024-03-11T18:00")
    assert {r["unit_code"]: r["status"] for r in past}["HA_NOI"] == "interrupted"

    xlsx = tmp / "status.xlsx"
    out = emc(env, "status", "--format", "xlsx", "--output", str(xlsx), "--at", "2024-03-11T18:00")
    assert out.returncode == 0, out.stderr
    book = load_workbook(xlsx, read_only=True)
    data = list(book["Dữ liệu"].iter_rows(values_only=True))
    header, body = data[0], data[1:]
    table = {row[header.index("unit_code")]: row for row in body}
    assert len(table) == 83  # the units in force on 2024-03-11 (the 2024 registry)
    ha_noi = table["HA_NOI"]
    assert ha_noi[header.index("STT")] == 56
    assert ha_noi[header.index("Hiện trạng kết nối với Hệ thống EMC")] == (
        "Đã kết nối nhưng bị gián đoạn"
    )
    letter = [row for row in book["Phụ lục"].iter_rows(values_only=True) if row[0] is not None]
    texts = [str(row[0]) for row in letter]
    assert "1. Đối với các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ" in texts
    assert "2. Đối với các tỉnh, thành phố trực thuộc trung ương" in texts
    assert (56, "TP. Hà Nội", "Đã kết nối nhưng bị gián đoạn") in [tuple(r[:3]) for r in letter]
    footnote = texts[-1]
    assert footnote.startswith(
        "[1] Bộ, ngành, địa phương chưa hoàn thành kết nối toàn diện với Hệ thống EMC: "
        "Bảo hiểm Xã hội Việt Nam; Bộ Công an;"
    )
    assert "TP. Hà Nội" in footnote and "TP. Cần Thơ" not in footnote
    book.close()


def test_status_report_html(run: dict[str, Any]) -> None:
    env, tmp = run["env"], run["tmp"]
    page = tmp / "status.html"
    out = emc(env, "status", "--format", "html", "--output", str(page))
    assert out.returncode == 0, out.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count("<tr data-unit=") == VALID_NOW
    assert '<tr data-unit="HAI_PHONG" data-status="needs_reconciliation">' in text
    assert "Hiện trạng kết nối với Hệ thống EMC" in text
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.skip("no /usr/bin/chromium for the screenshot")
    shot = tmp / "status.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--screenshot={shot}", "--window-size=1200,1800", page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 10_000
    keep = os.environ.get("EMC_HEALTH_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_timer_marks_a_silent_unit_and_brings_it_back(broker_factory: Any, tmp_path: Path) -> None:
    """The worker's own timer, on the wall clock: a calendar that is all office hours and a
    silence threshold of 18 s, evaluated every second."""
    holidays = tmp_path / "no-holidays.csv"
    holidays.write_text("date,name_vi,kind,note\n", encoding="utf-8")
    broker = broker_factory()
    worker = start_worker(
        broker.bootstrap_servers,
        tmp_path / "data",
        EMC_HEALTH__EVALUATION_INTERVAL_S="1",
        EMC_HEALTH__OFFICE_DAYS="mon,tue,wed,thu,fri,sat,sun",
        EMC_HEALTH__OFFICE_OPEN="00:00",
        EMC_HEALTH__OFFICE_CLOSE="24:00",
        EMC_HEALTH__HOLIDAYS_FILE=str(holidays),
        EMC_HEALTH__SILENCE_WORKING_HOURS="0.005",
    )
    producer = EventProducer(broker.bootstrap_servers, encoding="json")

    def send_lifecycle() -> int:
        script = Script()
        script.n = int(time.time() * 1000)
        at = int(time.time() * 1000) - 2_000
        script.dossier("HA_NOI", at, result_after_ms=1_000)
        # Result first, then the receipt, each once consumed: with the receipt first, a 1 s
        # timer could see "receipts but no results" in between (a true, passing state).
        for kind, event in reversed(script.events):
            producer.send(kind, event)
            producer.flush()
            wait_stored(worker, producer)
        return at + 1_000

    def periods() -> list[dict[str, Any]]:
        return call(worker, "GET", "/emc/health/history?unit=HA_NOI")["periods"]  # type: ignore[no-any-return]

    def wait_for(statuses: list[str], timeout_s: float = 120.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        got: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            got = periods()
            if [p["status"] for p in got if p["status"] != "not_connected"] == statuses:
                return got
            time.sleep(0.5)
        raise AssertionError(f"history {got}, expected {statuses}:\n{worker.log()}")

    try:
        last = send_lifecycle()
        wait_for(["fully_connected"])
        got = wait_for(["fully_connected", "interrupted"])
        interrupted = got[-1]
        assert interrupted["reason_code"] == "silent_working_hours"
        assert interrupted["from_ms"] > last + 18_000  # only once the threshold was crossed
        back = send_lifecycle()
        got = wait_for(["fully_connected", "interrupted", "fully_connected"])
        assert got[-1]["from_ms"] >= back and got[-1]["to_ms"] is None
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()
