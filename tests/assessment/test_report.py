"""`emc report` on a simulated national quarter: the 49 valid units' lifecycles (34 provinces)
from the traffic simulator through the real pipeline into the real engine, then the command in
its own process. The HTML is opened in headless Chromium (screenshot in test-artifacts/), the
XLSX is read back and compared with emc.unit_scores, the PNG charts must be real images."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sinks.health_schema import HISTORY_COLUMNS
from streams.assessment import read_scores
from streams.core.events import TOPIC_BY_TYPE
from streams.core.localtime import local_datetime
from streams.core.messages import RawMessage
from streams.kafka.codec import encode_json
from streams.traffic.simulate import generate
from tests.assessment.fixtures import REGISTRY, local, new_processor, open_sink
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

Q3 = local("2026-07-01 00:00")
INTERRUPTED = "TUYEN_QUANG"  # Hà Giang was merged into it on 2025-07-01
SILENT = "BO_NGOAI_GIAO"
"""A ministry whose events are left out: no receipts, listed without rank, score or level."""


def emc(args: list[str], tmp: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EMC_DATA_DIR": str(tmp / "var"), "EMC_CLICKHOUSE__DSN": dsn},
    )


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from bench.procs import ClickHouseServer

    tmp = tmp_path_factory.mktemp("report")
    server = ClickHouseServer(tmp / "clickhouse", fresh=False).start()
    sink = open_sink(server.dsn)
    events = generate(REGISTRY, 40_000, Q3, seed=5, rate_per_s=0.005)
    events = [(k, e) for k, e in events if e["unit_code"] != SILENT]
    processor = new_processor(local("2026-12-01 00:00"))
    for lo in range(0, len(events), 5000):
        messages = [
            RawMessage(TOPIC_BY_TYPE[k], 0, lo + i, e["unit_code"].encode(), encode_json(e))
            for i, (k, e) in enumerate(events[lo : lo + 5000])
        ]
        out = processor.process(messages)
        sink.write(out.sink_batch)
        processor.commit_state(out)
    # One province was interrupted for a week of the quarter: the report must footnote it.
    row = dict.fromkeys(HISTORY_COLUMNS)
    row.update(
        unit_code=INTERRUPTED, status="interrupted", status_label="Đã kết nối nhưng bị gián đoạn",
        reason_code="silent_working_hours", reason="test", version=1,
        from_time=local_datetime(local("2026-08-01 00:00")),
        to_time=local_datetime(local("2026-08-08 00:00")),
    )  # fmt: skip
    sink.insert_columns("unit_status_history", HISTORY_COLUMNS, [[row[c]] for c in HISTORY_COLUMNS])
    yield tmp, server.dsn, sink
    sink.close()
    server.kill()


def test_report_of_a_simulated_quarter(quarter) -> None:  # type: ignore[no-untyped-def]
    tmp, dsn, sink = quarter
    out = tmp / "out"
    started = time.perf_counter()
    done = emc(
        ["report", "--period", "2026-Q3", "--out", str(out), "--compare", "2026-08"], tmp, dsn
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    print(f"national quarter report: {elapsed:.1f} s (command, {len(REGISTRY.valid_at(Q3))} units)")
    html_path = out / "emc-report-2026-Q3.html"
    xlsx_path = out / "emc-report-2026-Q3.xlsx"
    charts = sorted(out.glob("*.png"))
    assert len(charts) == 5
    for chart in charts:
        data = chart.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, chart.name

    stored = read_scores(sink, "2026-Q3")
    assert len(stored) == len(REGISTRY.valid_at(Q3)) == 49  # merged-away units are not listed
    by_code = {r["unit_code"]: r for r in stored}
    assert sum(r["received"] for r in stored) > 5_000
    assert any(r["level"] for r in stored)
    assert by_code[INTERRUPTED]["partly_connected"] is True

    # XLSX: Bảng 1 / Bảng 2 are the stored ranks, levels, scores; Chỉ số holds the stored rates.
    book = load_workbook(xlsx_path)
    assert book.sheetnames == ["Bảng 1", "Bảng 2", "Chỉ số", "Mục tiêu", "So sánh", "Phụ lục"]
    names = {u.code: u for u in REGISTRY}
    for sheet, kind in (("Bảng 1", "ministry"), ("Bảng 2", "province")):
        rows = list(book[sheet].iter_rows(min_row=2, values_only=True))
        want = [r for r in stored if r["unit_kind"] == kind]
        want.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0))
        assert len(rows) == len(want)
        for got, w in zip(rows, want, strict=True):
            unit = names[w["unit_code"]]
            assert got[0] == w["rank"]
            assert got[1].removesuffix(" (*)") == unit.name_vi
            assert got[1].endswith(" (*)") == w["partly_connected"]
            assert got[2] == (w["level"] or "Không có hồ sơ trong kỳ")
            assert (got[3] or "") == (unit.vendor or "")
            assert got[4] == w["score"]
    header, *rows = list(book["Chỉ số"].iter_rows(values_only=True))
    rate_columns = {"Tỷ lệ trực tuyến từ xa": "remote_rate", "Tỷ lệ hài lòng": "satisfaction_rate",
                    "Tỷ lệ đúng hạn": "on_time_rate"}  # fmt: skip
    for row in rows:
        w = by_code[row[0]]
        assert row[2] == w["received"]
        for title, rate in rate_columns.items():
            want_rate, got_rate = w["rates"][rate], row[header.index(title)]
            # a spreadsheet keeps about 15 significant digits
            assert got_rate == (None if want_rate is None else pytest.approx(want_rate, rel=1e-12))
    # ... and equal to SQL written here over the raw events (not the assessment's SQL): each
    # unit's receipts in Q3's local days, the online and remote rates, the 50% remote target.
    q3_days = (
        "event_time >= toDateTime64('2026-07-01 00:00:00', 3, 'Asia/Ho_Chi_Minh') AND "
        "event_time < toDateTime64('2026-10-01 00:00:00', 3, 'Asia/Ho_Chi_Minh')"
    )
    raw = {
        r[0]: (int(r[1]), int(r[2]), int(r[3]))
        for r in sink.query_rows(
            "SELECT unit_code, uniqExact(dossier_id), uniqExactIf(dossier_id, channel = "
            "'online'), uniqExactIf(dossier_id, channel = 'online' AND submitter_type != "
            f"'officer') FROM emc.dossier_events FINAL WHERE event_type = 'received' AND {q3_days} "
            "GROUP BY unit_code"
        )
    }
    assert SILENT not in raw and len(raw) > 40  # of the 49 units in force in Q3 2026
    online_col = header.index("Tỷ lệ trực tuyến")
    remote_col = header.index("Tỷ lệ trực tuyến từ xa")
    for row in rows:
        received, online, remote = raw.get(row[0], (0, 0, 0))
        assert row[2] == received, row[0]
        if received:
            assert row[online_col] == pytest.approx(online / received, rel=1e-12), row[0]
            assert row[remote_col] == pytest.approx(remote / received, rel=1e-12), row[0]
        else:
            assert (row[online_col], row[remote_col]) == (None, None), row[0]
    target_header, *target_rows = list(book["Mục tiêu"].iter_rows(values_only=True))
    assert target_header[2] == "Hồ sơ trực tuyến từ xa ≥ 50%"
    for row in target_rows:
        received, _online, remote = raw.get(row[0], (0, 0, 0))
        want = "—" if not received else "Đạt" if remote / received >= 0.5 else "Chưa đạt"
        assert row[2] == want, row[0]
    silent = next(r for r in book["Bảng 1"].iter_rows(min_row=2, values_only=True)
                  if r[1] == names[SILENT].name_vi)  # fmt: skip
    assert (silent[0], silent[2], silent[4]) == (None, "Không có hồ sơ trong kỳ", None)
    assert by_code[SILENT]["received"] == 0 and by_code[SILENT]["score"] is None

    levels_moved = [r for r in book["So sánh"].iter_rows(min_row=2, values_only=True) if r[-1]]
    assert all(("Lên mức" in r[-1]) or ("Xuống mức" in r[-1]) for r in levels_moved)

    # HTML in Chromium: the tables are there and a person can look at the screenshot.
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian package chromium missing")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(html_path.as_uri())
        text = page.inner_text("body")
        assert "Bảng 1. Kết quả đánh giá" in text and "Bảng 2. Kết quả đánh giá" in text
        assert "Điểm trung bình đối với khối bộ, ngành" in text
        assert "PHỤ LỤC" in text and "(*)" in text
        assert "Không có hồ sơ trong kỳ" in text  # the ministry without receipts
        images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(images) == 5 and all(w > 100 for w in images)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
        page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
        browser.close()


def test_report_errors_are_clear(quarter) -> None:  # type: ignore[no-untyped-def]
    tmp, dsn, _sink = quarter
    bad = emc(["report", "--period", "2026-Q5", "--out", str(tmp / "x")], tmp, dsn)
    assert bad.returncode == 2 and "2026-Q3 (quarter)" in bad.stderr
    empty = emc(["report", "--period", "2025-Q1", "--out", str(tmp / "y")], tmp, dsn)
    assert empty.returncode == 1 and "no dossier was received in 2025-Q1" in empty.stderr
    english = emc(["report", "--period", "2026-09", "--out", str(tmp / "en"), "--lang", "en",
                   "--no-store"], tmp, dsn)  # fmt: skip
    assert english.returncode == 0, english.stderr
    page = (tmp / "en" / "emc-report-2026-09.html").read_text(encoding="utf-8")
    assert "Table 1. Assessment of the ministries" in page and "Bảng 1" not in page
