"""Stored scores on the dashboard and the unit page, per token, on the real engine.

Crafted events go through the real pipeline into ClickHouse (tools.chdb_http over chdb), two
periods are assessed and stored (2026-07 and 2026-Q3), and the worker's web application
(``streams.web.server.attach``) serves the pages. Every number the pages show is compared with
values worked out by hand here, with the scoring of three indicators below (maxima 39.99, 0.01,
60: the hand sums are exact).

Ministries (July): BO_CONG_AN and BO_CONG_THUONG: two online dossiers each, on time, satisfied →
100.00 A, both rank 1; BO_GDDT: one online late and rated neutral, one in person still open past
due and rated satisfied → 39.99 + 0 + 30 = 69.99 C, rank 3 (1, 1, 3).
Provinces: QUANG_NINH (July) six on time, five satisfied → 39.99 + 0.01 + 50 = 90.00 A;
THANH_HOA (July) the same six late → 89.99 B; HA_NOI (August) one online dossier, late,
satisfied → 39.99 + 0 + 60 = 99.99 A. So 2026-07 ranks QUANG_NINH 1, THANH_HOA 2 and HA_NOI has
no receipts; 2026-Q3 ranks HA_NOI 1, QUANG_NINH 2, THANH_HOA 3.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from streams.assessment import assess, load_scoring, store
from streams.core.periods import parse_period
from streams.settings import Settings, WebSettings
from streams.web.server import attach
from tests.assessment.fixtures import (
    DAY,
    REGISTRY,
    Ev,
    H,
    feed,
    feedback,
    local,
    new_processor,
    open_sink,
    receipt,
    result,
    scoring_file,
)
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

SCORING = """
version = "pages-3"
scale_to_100 = true
decimals = 2
[indicators.remote_rate]
group = "online_service"
max_points = 39.99
full_rate = 0.5
[indicators.on_time_rate]
group = "progress"
max_points = 0.01
full_rate = 1.0
[indicators.satisfaction_rate]
group = "satisfaction"
max_points = 60
full_rate = 1.0
[bands]
A = 90
B = 80
C = 65
D = 50
E = 0
[targets]
remote_rate = 0.5
"""

T = local("2026-07-10 08:00")
DUE = T + 5 * DAY
ON_TIME = T + 2 * DAY
LATE = T + 7 * DAY
AUGUST = local("2026-08-05 08:00")


def events() -> list[list[Ev]]:
    receipts: list[Ev] = []
    later: list[Ev] = []
    for unit in ("BO_CONG_AN", "BO_CONG_THUONG"):
        for i in range(2):
            receipts.append(receipt(unit, f"{unit}-D{i}", T + i * H, DUE))
            later.append(result(unit, f"{unit}-D{i}", ON_TIME))
            later.append(feedback(unit, f"{unit}-D{i}", ON_TIME + H, "satisfied"))
    u = "BO_GDDT"
    receipts += [receipt(u, f"{u}-D0", T, DUE), receipt(u, f"{u}-D1", T, DUE, channel="in_person")]
    later += [
        result(u, f"{u}-D0", LATE),
        feedback(u, f"{u}-D0", LATE + H, "neutral"),
        feedback(u, f"{u}-D1", LATE + H, "satisfied"),
    ]
    for unit, finished in (("QUANG_NINH", ON_TIME), ("THANH_HOA", LATE)):
        for i in range(6):
            receipts.append(receipt(unit, f"{unit}-D{i}", T + i * H, DUE))
            later.append(result(unit, f"{unit}-D{i}", finished))
            rating = "neutral" if i == 0 else "satisfied"
            later.append(feedback(unit, f"{unit}-D{i}", finished + H, rating))
    august = [
        receipt("HA_NOI", "HA_NOI-D0", AUGUST, AUGUST + DAY),
        result("HA_NOI", "HA_NOI-D0", AUGUST + 3 * DAY),
        feedback("HA_NOI", "HA_NOI-D0", AUGUST + 4 * DAY, "satisfied"),
    ]
    return [receipts, later, august]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)).strip()


def section(page: str, element_id: str) -> str:
    match = re.search(f'<section id="{element_id}".*?</section>', page, re.S)
    assert match, f"no #{element_id} in the page"
    return match.group(0)


def table_rows(fragment: str, kind: str | None = None) -> list[list[str]]:
    """Cell texts of every body row of the scores table (of ``kind``) in ``fragment``."""
    where = f' data-kind="{kind}"' if kind else ""
    match = re.search(f'<table class="units scores"{where}>(.*?)</table>', fragment, re.S)
    assert match, (kind, fragment[:300])
    body = match.group(1).split("<tbody>", 1)[1]
    return [
        [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_scores_on_the_dashboard_and_unit_page_by_token(clickhouse_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = open_sink(clickhouse_factory().dsn)
    processor = new_processor(local("2026-12-01 00:00"))
    feed(sink, processor, events())
    settings = Settings(
        data_dir=tmp_path,
        web=WebSettings(tokens=SecretStr(TOKENS_ENV)),
        assessment={"scoring_file": str(scoring_file(tmp_path, SCORING))},
    )
    scoring = load_scoring(settings)

    def make_app() -> web.Application:
        app = web.Application()
        attach(app, processor, REGISTRY, sink, settings)
        return app

    async def get(client: TestClient, path: str, token: str) -> tuple[int, str]:
        r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        return r.status, await r.text()

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with TestServer(make_app()) as server, TestClient(server) as client:
            out["before"] = await get(client, "/emc/dashboard", NATIONAL)
            for label in ("2026-07", "2026-Q3"):  # stored in this order; Q3 ends last
                await asyncio.to_thread(
                    lambda p=label: store(sink, assess(sink, REGISTRY, parse_period(p), scoring))
                )
            for name, path, token in (
                ("national", "/emc/dashboard", NATIONAL),
                ("national_july", "/emc/dashboard?period=2026-07", NATIONAL),
                ("national_unknown", "/emc/dashboard?period=2030-Q1", NATIONAL),
                ("ha_noi", "/emc/dashboard", HA_NOI),
                ("ha_noi_july", "/emc/dashboard?period=2026-07", HA_NOI),
                ("ha_noi_page", "/emc/dashboard/units/HA_NOI", HA_NOI),
                ("ha_noi_other", "/emc/dashboard/units/QUANG_NINH", HA_NOI),
                ("quang_ninh_page", "/emc/dashboard/units/QUANG_NINH", NATIONAL),
            ):
                out[name] = await get(client, path, token)
        return out

    try:
        out = asyncio.run(scenario())
        screenshots(make_app())
    finally:
        sink.close()

    status, page = out["before"]
    assert status == 200 and "Chưa có kết quả đánh giá" in section(page, "scores")

    # National token, latest period (Q3): seed 003's two tables, ranks 1, 1, 3 and band edges.
    status, page = out["national"]
    assert status == 200
    scores = section(page, "scores")
    assert 'id="score-period-shown">2026-Q3<' in scores
    assert "pages-3" in scores  # the scoring version beside the results
    ministries = table_rows(scores, "ministry")
    assert ministries[:3] == [
        ["1", "Bộ Công an", "A", "100.00", "VNPT"],
        ["1", "Bộ Công Thương", "A", "100.00", "Tự xây dựng"],
        ["3", "Bộ Giáo dục và Đào tạo", "C", "69.99", "Tín Đức"],
    ]
    provinces = table_rows(scores, "province")
    assert provinces[:3] == [
        ["1", "TP. Hà Nội", "A", "99.99", "FPT"],
        ["2", "Quảng Ninh", "A", "90.00", "FPT"],
        ["3", "Thanh Hóa", "B", "89.99", "Tân Dân"],
    ]
    # every other unit valid in the period is listed, without rank or score
    n_ministries = sum(1 for u in REGISTRY if u.kind == "ministry" and u.is_valid_at(T))
    n_provinces = sum(1 for u in REGISTRY if u.kind == "province" and u.is_valid_at(T))
    assert (len(ministries), len(provinces)) == (n_ministries, n_provinces)
    for row in ministries[3:] + provinces[3:]:
        assert (row[0], row[2], row[3]) == ("", "Không có hồ sơ trong kỳ", "—"), row
    averages = r'score-summary" data-kind="(\w+)">.*?class="average">([^<]+)<'
    summaries = dict(re.findall(averages, scores, re.S))
    assert summaries == {"ministry": "90.00", "province": "93.33"}  # 269.99 / 3, 279.98 / 3
    assert f"Đơn vị được xếp hạng</span>: 3/{n_ministries} · A: 2 · C: 1" in scores
    assert f"Đơn vị được xếp hạng</span>: 3/{n_provinces} · A: 2 · B: 1" in scores
    assert re.findall(r"<option[^>]*>([^<]+)</option>", scores) == ["2026-Q3", "2026-07"]

    # ?period= picks a stored period; an unknown one falls back to the latest.
    july = section(out["national_july"][1], "scores")
    assert 'id="score-period-shown">2026-07<' in july
    assert table_rows(july, "province")[:2] == [
        ["1", "Quảng Ninh", "A", "90.00", "FPT"],
        ["2", "Thanh Hóa", "B", "89.99", "Tân Dân"],
    ]
    hn_july = [r for r in table_rows(july, "province") if r[1] == "TP. Hà Nội"]
    assert hn_july == [["", "TP. Hà Nội", "Không có hồ sơ trong kỳ", "—", "FPT"]]
    assert 'id="score-period-shown">2026-Q3<' in section(out["national_unknown"][1], "scores")

    # A unit token sees its own row only: no other unit, no averages over others.
    status, page = out["ha_noi"]
    assert status == 200
    own = section(page, "scores")
    assert re.findall(r'<tr data-unit="([^"]+)"', own) == ["HA_NOI"]
    assert table_rows(own, "province") == [["1", "TP. Hà Nội", "A", "99.99", "FPT"]]
    assert 'data-kind="ministry"' not in own and "average" not in own
    for other in ("Quảng Ninh", "Bộ Công an", "QUANG_NINH", "90.00"):
        assert other not in own
    own_july = section(out["ha_noi_july"][1], "scores")
    assert table_rows(own_july, "province") == [
        ["", "TP. Hà Nội", "Không có hồ sơ trong kỳ", "—", "FPT"]
    ]

    # The unit page: its results per period, newest first.
    status, page = out["ha_noi_page"]
    assert status == 200
    rows = table_rows(section(page, "unit-scores"))
    # period, score, level, rank, received, online, remote, on time, satisfied, targets, version
    assert rows == [
        ["2026-Q3", "99.99", "A", "1", "1", "100.0%", "100.0%", "0.0%", "100.0%", "1/1",
         "pages-3"],
        ["2026-07", "—", "Không có hồ sơ trong kỳ", "", "0", "—", "—", "—", "—", "—", "pages-3"],
    ]  # fmt: skip
    status, page = out["ha_noi_other"]
    assert status == 403 and "unit-scores" not in page and "90.00" not in page
    rows = table_rows(section(out["quang_ninh_page"][1], "unit-scores"))
    assert [(r[0], r[1], r[2], r[3], r[7], r[8]) for r in rows] == [
        ("2026-Q3", "90.00", "A", "2", "100.0%", "83.3%"),
        ("2026-07", "90.00", "A", "1", "100.0%", "83.3%"),
    ]


def screenshots(app: web.Application) -> None:
    """The dashboard's scores and a unit page in headless Chromium (test-artifacts/), in
    Vietnamese and after the language toggle."""
    if not Path(CHROMIUM).exists():
        return
    from playwright.sync_api import sync_playwright

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{base}/emc/dashboard?token={NATIONAL}")
            scores = page.locator("#scores")
            assert "Bảng 1. Kết quả đánh giá" in scores.inner_text()
            scores.screenshot(path=str(ARTIFACTS / "dashboard-scores.png"))
            page.click("#lang")
            assert "Table 1. Assessment of the ministries" in scores.inner_text()
            page.goto(f"{base}/emc/dashboard/units/HA_NOI")
            unit = page.locator("#unit-scores")
            assert "2026-Q3" in unit.inner_text()
            unit.screenshot(path=str(ARTIFACTS / "unit-scores.png"))
            browser.close()
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
