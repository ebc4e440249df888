"""A unit's status history with its reminder letters through a real `emc worker`: `emc remind`
records a letter in the embedded store, the worker started on it serves the history to the
unit's own token only (API and the unit page in headless Chromium), and `emc status UNIT` reaches
it through the worker while the worker holds the store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.health.test_imports import emc
from tests.integration.fixtures import TEST_NATIONAL_TOKEN
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV, get_json, http

pytestmark = pytest.mark.integration

DA_NANG = "test-da-nang-secret"
NOT_CONNECTED = "Chưa kết nối"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_letters_in_the_units_history(
    tmp_path: Path, broker_factory: Any, worker_factory: Any
) -> None:
    data = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(data),
    }
    out = emc(
        env, "remind", "--units", "HA_NOI", "--out", str(tmp_path / "letters"),
        "--at", "2026-03-02T09:00", "--deadline", "2026-03-20",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr

    broker = broker_factory()
    worker = worker_factory(
        broker,
        data,
        EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN},{TOKENS_ENV},unit:DA_NANG={DA_NANG}",
        EMC_HEALTH__EVALUATION_INTERVAL_S="0",
    )
    base = f"http://127.0.0.1:{worker.web_port}"
    path = f"{base}/emc/api/units/HA_NOI/history"
    mine = get_json(path, HA_NOI)
    assert [(p["status"], p["status_label"]) for p in mine["periods"]] == [
        ("not_connected", NOT_CONNECTED)
    ]
    [letter] = mine["letters"]
    assert (letter["number"], letter["status_label"], letter["deadline"]) == (
        "1/BTTTT-CĐSQG",
        NOT_CONNECTED,
        "2026-03-20",
    )
    assert letter["reasons"][0]["text"] == "Chưa nhận được sự kiện nào từ hệ thống"
    assert "docx_path" not in letter  # the server's file paths stay on the server
    assert get_json(path, NATIONAL)["letters"] == mine["letters"]
    assert http(path, DA_NANG)[0] == 403
    assert get_json(f"{base}/emc/api/units/DA_NANG/history", DA_NANG)["letters"] == []

    # the store is the worker's now: `emc status UNIT` asks it
    through = emc({**env, "EMC_URL": base, "EMC_TOKEN": TEST_NATIONAL_TOKEN}, "status", "HA_NOI")
    assert through.returncode == 0, through.stderr
    assert "công văn 1/BTTTT-CĐSQG (Chưa kết nối), hạn 2026-03-20" in through.stdout

    if not shutil.which("chromium"):
        return
    from playwright.sync_api import sync_playwright

    from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/emc/dashboard/units/HA_NOI?token={HA_NOI}")
        page.wait_for_selector("#history tr.letter")
        row = page.inner_text("#history tr.letter")
        assert "1/BTTTT-CĐSQG" in row and NOT_CONNECTED in row and "2026-03-20" in row
        page.locator("#history").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "unit-history.png"), full_page=True)
        browser.close()
