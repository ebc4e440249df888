"""Reminder letters (``emc remind``) on the real embedded engine, with real events through the
worker's pipeline: an interrupted unit's letter (HTML and DOCX parsed back) states the appendix's
wording, since when and the deadline, and lands in ``emc.unit_letters``; rejected messages are
counted with their reasons; a fully connected unit is skipped; the CLI writes nothing for an
unknown unit and shows the letter in ``emc status UNIT``; the HTML in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.core.events import EventType
from streams.health.letter_render import render_html, write_letter
from streams.health.letters import (
    LetterError,
    draft_letters,
    record_letters,
    with_files,
)
from tests.health.engine import HOUR, ms, receipt, result
from tests.health.test_imports import emc

pytestmark = pytest.mark.integration

INTERRUPTED = "Đã kết nối nhưng bị gián đoạn"
NOT_CONNECTED = "Chưa kết nối"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def office_hours(first: date, last: date) -> list[int]:
    out = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            out += [ms(day.year, day.month, day.day, h, 10) for h in range(8, 17)]
        day += timedelta(days=1)
    return out


def docx_text(path: Path) -> str:
    """Every paragraph of the document, its tables' cells included, one per line."""
    from docx import Document

    doc = Document(str(path))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                lines += [p.text for p in cell.paragraphs]
    return "\n".join(lines)


def interrupted_ha_noi(engine_factory: Any) -> Any:
    """HA_NOI sends office-hours lifecycles on 4–5 March 2024, then nothing: the worker's
    evaluation at 8 March 16:00 records it interrupted (28.3 office hours silent > 24)."""
    e = engine_factory()
    e.lifecycles("HA_NOI", office_hours(date(2024, 3, 4), date(2024, 3, 5)))
    assert e.statuses(ms(2024, 3, 6, 10, 0))["HA_NOI"].status == "fully_connected"
    assert e.statuses(ms(2024, 3, 8, 16, 0))["HA_NOI"].status == "interrupted"
    return e


def test_an_interrupted_units_letter(engine_factory: Any, tmp_path: Path) -> None:
    e = interrupted_ha_noi(engine_factory)
    drafts = draft_letters(
        e.monitor, ["HA_NOI"], as_of_ms=ms(2024, 3, 11, 9, 0), author="Nguyễn Văn A"
    )
    assert drafts.skipped == {}
    [letter] = drafts.letters
    assert (letter.status, letter.status_label, letter.reason_code) == (
        "interrupted",
        INTERRUPTED,
        "silent_working_hours",
    )
    assert letter.since_ms == ms(2024, 3, 8, 16, 0)  # the history period's start
    # 10 working days (the configurable default) after Monday 11 March 2024
    assert letter.deadline == date(2024, 3, 25)
    assert letter.number == "1/BTTTT-CĐSQG" and letter.nth == 1
    codes = [r.code for r in letter.reasons]
    assert codes == ["silent_working_hours", "last_event"]
    assert letter.reasons[1].since_ms == ms(2024, 3, 5, 16, 40)  # the last result

    html_path, docx_path = write_letter(letter, e.settings.remind, tmp_path / "out")
    assert (html_path.name, docx_path.name) == ("HA_NOI.html", "HA_NOI.docx")
    expected = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BỘ THÔNG TIN VÀ TRUYỀN THÔNG",
        "Số: 1/BTTTT-CĐSQG",
        "V/v đôn đốc, nhắc nhở việc kết nối, cung cấp dữ liệu cho Hệ thống EMC",
        "Hà Nội, ngày 11 tháng 03 năm 2024",
        "Kính gửi: Ủy ban nhân dân thành phố Hà Nội.",
        f"“{INTERRUPTED}” (từ 16 giờ 00 ngày 08/03/2024)",
        # 5 Mar 16:40–17:00, 6–8 Mar 3 × 9.5 h, 11 Mar 07:30–09:00: 30.3 office hours
        "Không có sự kiện trong 30.3 giờ làm việc (từ 16 giờ 00 ngày 08/03/2024).",
        "Sự kiện cuối cùng Hệ thống EMC nhận được lúc 16 giờ 40 ngày 05/03/2024.",
        "Thời hạn thực hiện: chậm nhất ngày 25/03/2024.",
        "Nơi nhận:",
        "- Như trên;",
        "- Lưu: VT, CĐSQG.",
        "KT. BỘ TRƯỞNG",
        "Trân trọng./.",
    ]
    page = html_path.read_text(encoding="utf-8")
    text = docx_text(docx_path)
    for line in expected:
        assert line in page, line
        assert line in text, line

    record_letters(e.sink, [with_files(letter, str(html_path), str(docx_path))])
    rows = e.sink.query_rows(
        "SELECT unit_code, number, status, status_label, toUnixTimestamp64Milli(since), "
        "deadline, author, html_path, docx_path, reasons FROM emc.unit_letters FINAL"
    )
    assert len(rows) == 1
    row = rows[0]
    assert row[:7] == (
        "HA_NOI", "1/BTTTT-CĐSQG", "interrupted", INTERRUPTED, ms(2024, 3, 8, 16, 0),
        date(2024, 3, 25), "Nguyễn Văn A",
    )  # fmt: skip
    assert (row[7], row[8]) == (str(html_path), str(docx_path))
    assert [r["code"] for r in json.loads(row[9])] == ["silent_working_hours", "last_event"]
    [stored] = e.monitor.letters("HA_NOI")
    assert stored.reasons[0].numbers["silent_ms"] == letter.reasons[0].numbers["silent_ms"]

    # the next letter is the second of the year and "(lần 2)" for the unit; --days 3
    again = draft_letters(e.monitor, ["HA_NOI"], as_of_ms=ms(2024, 3, 12, 9, 0), days=3)
    [second] = again.letters
    assert (second.number, second.nth, second.deadline) == (
        "2/BTTTT-CĐSQG",
        2,
        date(2024, 3, 15),
    )
    assert "(lần 2)" in render_html(second, e.settings.remind)

    if shutil.which("chromium"):
        screenshot(html_path)


def screenshot(html_path: Path) -> None:
    """The letter in headless Chromium, saved to test-artifacts/letter.png for a person."""
    from playwright.sync_api import sync_playwright

    from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 1200})
        page.goto(html_path.as_uri())
        assert INTERRUPTED in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "letter.png"), full_page=True)
        browser.close()


def test_rejects_are_counted_and_a_fully_connected_unit_is_skipped(
    engine_factory: Any, tmp_path: Path
) -> None:
    e = engine_factory()
    now = int(time.time() * 1000)
    for unit in ("DA_NANG", "HUNG_YEN"):
        at = now - 2 * HOUR
        e.send([(EventType.RECEIVED, receipt(unit, f"{unit}-1", at))])
        e.send([(EventType.RESULT_RETURNED, result(unit, f"{unit}-1", at + 60_000))])
    topic = "emc.dossier.received.v1"
    bad = [e.raw(topic, b"{not json", "DA_NANG") for _ in range(3)]
    missing = json.dumps({"event_id": "m1", "unit_code": "DA_NANG"}).encode()
    bad += [e.raw(topic, missing, "DA_NANG") for _ in range(2)]
    e.process(bad)

    drafts = draft_letters(e.monitor, ["DA_NANG", "HUNG_YEN"], as_of_ms=now + 1_000)
    assert list(drafts.skipped) == ["HUNG_YEN"]  # fully connected, nothing rejected
    [letter] = drafts.letters
    assert letter.status == "fully_connected"
    rejects = [r for r in letter.reasons if r.code == "rejects"]
    assert len(rejects) == 1
    assert rejects[0].numbers == {
        "messages": 5,
        "by_reason": {"malformed_json": 3, "missing_field": 2},
    }
    assert (
        "Hệ thống EMC đã từ chối 5 bản tin của đơn vị; lý do chủ yếu: bản tin JSON không đúng "
        "cú pháp (3 bản tin); thiếu trường bắt buộc (2 bản tin)"
    ) in rejects[0].text
    page = render_html(letter, e.settings.remind)
    assert "Kính gửi: Ủy ban nhân dân thành phố Đà Nẵng." in page
    assert "Kiểm tra, sửa và gửi lại các bản tin bị Hệ thống EMC từ chối" in page

    forced = draft_letters(e.monitor, ["HUNG_YEN"], as_of_ms=now + 1_000, force=True)
    assert [x.unit_code for x in forced.letters] == ["HUNG_YEN"] and not forced.skipped
    # every unit in force that is not fully connected (the 2026 registry: 49 units valid)
    every = draft_letters(e.monitor, [], all_not_connected=True, as_of_ms=now + 1_000)
    codes = {x.unit_code for x in every.letters}
    assert len(codes) == 47 and not codes & {"DA_NANG", "HUNG_YEN"}
    assert {x.status for x in every.letters} == {"not_connected"}


def test_bad_input_writes_nothing(engine_factory: Any) -> None:
    e = engine_factory()
    at = ms(2026, 3, 2, 9, 0)
    with pytest.raises(LetterError, match="unknown unit code 'NO_SUCH'"):
        draft_letters(e.monitor, ["HA_NOI", "NO_SUCH"], as_of_ms=at)
    with pytest.raises(LetterError, match=r"'HA_GIANG' is not in force.*successor is TUYEN_QUANG"):
        draft_letters(e.monitor, ["HA_GIANG"], as_of_ms=at)
    with pytest.raises(LetterError, match="before the letter's date"):
        draft_letters(e.monitor, ["HA_NOI"], as_of_ms=at, deadline=date(2026, 3, 1))
    assert e.sink.query_rows("SELECT count() FROM emc.unit_letters")[0][0] == 0
    assert e.sink.query_rows("SELECT count() FROM emc.unit_status_history")[0][0] == 0


def test_remind_command(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(tmp_path / "data"),
        "EMC_REMIND__DEADLINE_WORKING_DAYS": "5",
    }
    out_dir = tmp_path / "letters"
    bad = emc(env, "remind", "--units", "HA_NOI,NO_SUCH", "--out", str(out_dir))
    assert bad.returncode != 0 and "unknown unit code 'NO_SUCH'" in bad.stderr
    assert not out_dir.exists()  # no letter at all, not even HA_NOI's

    at = "2026-03-02T09:00"  # Monday; the units never sent: "Chưa kết nối"
    ok = emc(
        env, "remind", "--units", "HA_NOI", "--units", "BO_CONG_AN", "--out", str(out_dir),
        "--at", at, "--author", "Trần Thị B",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    lines = [line.split("\t") for line in ok.stdout.splitlines()]
    assert [(x[0], x[1], x[2]) for x in lines] == [
        ("HA_NOI", "1/BTTTT-CĐSQG", NOT_CONNECTED),
        ("BO_CONG_AN", "2/BTTTT-CĐSQG", NOT_CONNECTED),
    ]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "BO_CONG_AN.docx",
        "BO_CONG_AN.html",
        "HA_NOI.docx",
        "HA_NOI.html",
    ]
    page = (out_dir / "BO_CONG_AN.html").read_text(encoding="utf-8")
    assert "Kính gửi: Bộ Công an." in page
    assert "chậm nhất ngày 09/03/2026" in page  # EMC_REMIND__DEADLINE_WORKING_DAYS=5
    assert "Chưa nhận được sự kiện nào từ hệ thống" in docx_text(out_dir / "HA_NOI.docx")

    history = emc(env, "status", "HA_NOI")
    assert history.returncode == 0, history.stderr
    assert "HA_NOI — TP. Hà Nội" in history.stdout
    assert f"2026-03-02 09:00 – …                 {NOT_CONNECTED}" in history.stdout
    assert "công văn 1/BTTTT-CĐSQG (Chưa kết nối), hạn 2026-03-09, Trần Thị B" in history.stdout
    as_json = json.loads(emc(env, "status", "history", "HA_NOI", "--format", "json").stdout)
    assert [x["number"] for x in as_json["letters"]] == ["1/BTTTT-CĐSQG"]
    assert as_json["letters"][0]["docx_path"] == str((out_dir / "HA_NOI.docx").resolve())
