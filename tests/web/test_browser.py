"""The dashboard in headless Chromium while events flow, on a 10,000-unit registry.

Real parts only: tansu, an `emc worker` on chdb, the simulator producing lifecycles, and
Debian's chromium driven by playwright (never `playwright install`). Screenshots land in
test-artifacts/ for a person to look at; the numbers the pages show are checked against
ClickHouse after the worker has stopped.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.core.registry import UnitRegistry
from streams.kafka.produce import EventProducer
from streams.traffic.simulate import LifecycleSimulator
from tests.integration.fixtures import TEST_NATIONAL_TOKEN, query_json
from tests.web.helpers import NATIONAL, TOKENS_ENV, registry_with, write_registry

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N_UNITS = 10_000
REAL = UnitRegistry.load()
"""config/units.csv: every row (84, merged-away units included) is one of the N_UNITS."""


class Traffic(threading.Thread):
    """Simulated lifecycles for the registry's units, produced every 0.3 s until stopped."""

    def __init__(self, bootstrap: str, registry: UnitRegistry, rate: float) -> None:
        super().__init__(daemon=True)
        self.sim = LifecycleSimulator(registry, seed=3, time_scale=0.002)
        self.producer = EventProducer(bootstrap, encoding="mixed")
        self.rate = rate
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            last = int(time.time() * 1000) - 20_000
            while not self.stopping.wait(0.3):
                now = int(time.time() * 1000)
                self.producer.send_all(self.sim.events_between(last, now, self.rate))
                last = now
            self.producer.close()
        except BaseException as exc:
            self.error = exc


def until(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``check`` (reads the page through playwright; the page's CSP forbids eval)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium missing")
def test_dashboard_live_in_a_browser(broker_factory, worker_factory, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    registry = registry_with(N_UNITS - len(REAL), REAL)
    write_registry(config / "units.csv", list(registry.units))
    broker = broker_factory()
    worker = worker_factory(
        broker,
        EMC_CONFIG_DIR=str(config),
        EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN},{TOKENS_ENV}",
    )
    base = f"http://127.0.0.1:{worker.web_port}"
    traffic = Traffic(broker.bootstrap_servers, registry, rate=300.0)
    traffic.start()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(f"{base}/emc/dashboard?token={NATIONAL}")
            assert page.url == f"{base}/emc/dashboard"  # the token left the URL for a cookie
            page.wait_for_selector("#units tbody tr")
            until(lambda: "10.000" in page.inner_text("#range"), "10,000 units in the pager")
            assert page.locator("#units tbody tr").count() == 50  # one page, not 10,000 rows

            # The numbers move by themselves while events flow.
            received = page.locator("#summary b").nth(3)
            first = _number(received.inner_text())
            until(lambda: _number(received.inner_text()) > first, "the numbers to move")

            # Filters: search, then kind.
            page.fill("#q", "hà nội")
            until(lambda: page.inner_text("#range").startswith("1–1 "), "one search hit")
            assert page.locator("#units tbody tr").get_attribute("data-unit") == "HA_NOI"
            page.fill("#q", "")
            page.select_option("#kind", "ministry")
            until(
                lambda: (
                    set(page.locator("#units tbody tr td:nth-child(2)").all_inner_texts())
                    == {"Bộ/ngành"}
                    and page.locator("#units tbody tr").count() == 50
                ),
                "only ministries",
            )
            ministries = _number(page.inner_text("#range").split()[-1])
            assert ministries == sum(u.kind == "ministry" for u in registry.units)
            page.select_option("#kind", "")

            # English toggle.
            page.click("#lang")
            assert page.inner_text("#units th[data-sort=name_vi]") == "Unit"
            page.click("#lang")
            assert page.inner_text("#units th[data-sort=name_vi]") == "Đơn vị"

            # Events stop; once the worker has consumed them all the pages settle.
            traffic.stopping.set()
            traffic.join(30)
            assert traffic.error is None, traffic.error
            worker.wait_consumed(traffic.producer.sent, timeout_s=120)
            time.sleep(2.5)
            page.wait_for_selector("#units tbody tr")
            top_rows = {}
            for row in page.locator("#units tbody tr").all()[:10]:
                code = row.get_attribute("data-unit")
                top_rows[code] = (
                    _number(row.locator("td[data-key=received_60m]").inner_text()),
                    row.locator("td[data-key=online_rate_60m]").inner_text(),
                )
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

            # A unit page: live cards and charts of its windows over time.
            busiest = next(iter(top_rows))
            page.click(f"#units tbody tr[data-unit={busiest}] td.name a")
            page.wait_for_selector(".card[data-key=received_60m]")
            until(
                lambda: any(
                    float(bar.get_attribute("height") or 0) > 0
                    for bar in page.locator("#chart-hours rect.bar").all()
                ),
                "the hourly chart's bars",
            )
            page.wait_for_selector("#minutes tbody tr")
            time.sleep(1.5)
            card_received = _number(page.inner_text(".card[data-key=received_60m] .value"))
            card_online = page.inner_text(".card[data-key=online_rate_60m] .value")
            page.screenshot(path=str(ARTIFACTS / "unit.png"), full_page=True)
            assert not errors, errors
            browser.close()
    finally:
        traffic.stopping.set()
    assert worker.stop() == 0, worker.log()

    rows = query_json(
        worker.env,
        "SELECT unit_code, sum(received) AS received, sum(online) AS online "
        "FROM emc.unit_window_rollup FINAL WHERE window = '1m' GROUP BY unit_code",
    )
    truth = {r["unit_code"]: (int(r["received"]), int(r["online"])) for r in rows}
    assert len(truth) > 1000  # traffic reached many of the 10,000 units
    for code, (shown, shown_rate) in top_rows.items():
        received, online = truth[code]
        assert shown == received, code
        assert shown_rate == f"{100 * online / received:.1f}%", code
    assert card_received == truth[busiest][0]
    assert card_online == f"{100 * truth[busiest][1] / truth[busiest][0]:.1f}%"
    # the busiest unit shown first is the busiest in ClickHouse
    assert truth[busiest][0] == max(received for received, _ in truth.values())
