"""Registry lineage through the real worker (tansu + chdb): a province merged away on
1 July 2025 (Hà Giang → Tuyên Quang, Resolution 202/2025/QH15; config/units.csv).

Its events before the merger count for it; after it, ``EMC_REGISTRY__AFTER_VALIDITY`` decides:
``dead_letter`` (reason ``outside_validity``) or ``successor`` (accepted under HA_GIANG's own
code). `emc report` over a period spanning the merger then counts HA_GIANG for TUYEN_QUANG.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.procs import EMC
from streams.core.events import EventType
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.produce import EventProducer
from streams.kafka.topics import ensure_topics
from tests.integration.fixtures import Workers, query_json, wait_committed
from tests.integration.test_end_to_end import ms, received

pytestmark = pytest.mark.integration

BEFORE = [ms(2025, 6, 30, 9, 0, 0, 0), ms(2025, 6, 30, 23, 59, 59, 999)]
"""Hà Giang's receipts on its last day (local time)."""
AFTER = [ms(2025, 7, 1, 0, 0, 0, 0), ms(2025, 7, 2, 10, 0, 0, 0), ms(2025, 7, 3, 10, 0, 0, 0)]
"""Hà Giang's receipts from the first day of the merged Tuyên Quang on."""
SUCCESSOR = [ms(2025, 7, 2, 11, 0, 0, 0)]


SPAN = "2025-06-01..2025-07-31"
"""June to July: spans the merger."""


def report(env: dict[str, str], period: str, out: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*EMC, "report", "--period", period, "--out", str(out)],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )


def reports(env: dict[str, str], out: Path) -> list[subprocess.CompletedProcess[bytes]]:
    """`emc report` of June, then of :data:`SPAN` (one store: one after the other)."""
    return [report(env, "2025-06", out / "june"), report(env, SPAN, out / "span")]


def scores(env: dict[str, str], period: str) -> dict[str, int]:
    rows = query_json(
        env,
        "SELECT unit_code, received FROM emc.unit_scores FINAL "
        f"WHERE period = '{period}' AND unit_code IN ('HA_GIANG', 'TUYEN_QUANG')",
    )
    return {r["unit_code"]: int(r["received"]) for r in rows}


MODES = ("dead_letter", "successor")


@dataclass
class Store:
    """A mode's stopped worker: its environment, and the reports run on its store."""

    env: dict[str, str]
    out: Path
    """``june/`` and ``span/``: the reports' files."""
    reports: list[subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    """The same events through a worker of each mode, on one broker (its own group and data
    directory each), both started at once; then each store's reports (:func:`reports`), the
    two stores side by side. Mode → :class:`Store`."""
    tmp = tmp_path_factory.mktemp("lineage")
    broker = EmbeddedBroker().start()
    workers = Workers(tmp / "data")
    try:
        ensure_topics(broker.bootstrap_servers, 4)
        started = {
            mode: workers.start(
                broker,
                tmp / mode,
                f"emc-test-{mode}",
                wait=False,
                EMC_REGISTRY__AFTER_VALIDITY=mode,
            )
            for mode in MODES
        }
        for worker in started.values():
            worker.wait_ready(timeout_s=60.0)
        producer = EventProducer(broker.bootstrap_servers, encoding="json")
        sends = [("HA_GIANG", at) for at in BEFORE + AFTER] + [
            ("TUYEN_QUANG", at) for at in SUCCESSOR
        ]
        for n, (unit, at) in enumerate(sends):
            event = received(f"e{n}", unit, f"D{n}", at, "online", "citizen", False, "none")
            producer.send(EventType.RECEIVED, event)
        producer.close()
        for mode, worker in started.items():
            wait_committed(
                broker.bootstrap_servers, f"emc-test-{mode}", producer.last_offsets,
                check=worker.alive,
            )  # fmt: skip
        for worker in started.values():
            assert worker.stop() == 0, worker.log()
        # Each store's two reports (~8 s each, mostly charts) run beside the other store's.
        with ThreadPoolExecutor(len(MODES)) as pool:
            runs = {m: pool.submit(reports, w.env, tmp / f"{m}-out") for m, w in started.items()}
        yield {
            mode: Store(worker.env, tmp / f"{mode}-out", runs[mode].result())
            for mode, worker in started.items()
        }
    finally:
        workers.kill()
        broker.stop()


@pytest.mark.parametrize("mode", MODES)
def test_merged_away_province(stores: dict[str, Store], mode: str) -> None:
    env = stores[mode].env
    stored = query_json(
        env,
        "SELECT unit_code, count() AS n, toString(max(event_time)) AS last "
        "FROM emc.dossier_events FINAL GROUP BY unit_code ORDER BY unit_code",
    )
    dead = query_json(
        env,
        "SELECT unit_code, reason, count() AS n FROM emc.dead_letters GROUP BY unit_code, reason",
    )
    if mode == "dead_letter":
        # Before the merger: counted for Hà Giang. After: dead letters, nothing stored.
        assert {r["unit_code"]: int(r["n"]) for r in stored} == {"HA_GIANG": 2, "TUYEN_QUANG": 1}
        assert [(r["unit_code"], r["reason"], int(r["n"])) for r in dead] == [
            ("HA_GIANG", "outside_validity", 3)
        ]
    else:
        # Accepted and stored under the original code (HA_GIANG's partition wrote them).
        assert {r["unit_code"]: int(r["n"]) for r in stored} == {"HA_GIANG": 5, "TUYEN_QUANG": 1}
        assert dead == []
    windows = query_json(
        env,
        "SELECT unit_code, sum(received) AS n FROM emc.unit_window_rollup FINAL "
        "WHERE window = '1d' GROUP BY unit_code ORDER BY unit_code",
    )
    expected_windows = {"HA_GIANG": 2 if mode == "dead_letter" else 5, "TUYEN_QUANG": 1}
    assert {r["unit_code"]: int(r["n"]) for r in windows} == expected_windows

    for done in stores[mode].reports:
        assert done.returncode == 0, done.stderr.decode()
    # June only: Hà Giang still existed at the period's end and is listed on its own.
    assert scores(env, "2025-06") == {"HA_GIANG": 2, "TUYEN_QUANG": 0}
    # June to July spans the merger: Hà Giang is rolled into Tuyên Quang (the default).
    label = query_json(env, "SELECT DISTINCT period FROM emc.unit_scores WHERE period != '2025-06'")
    assert len(label) == 1
    after = 3 if mode == "successor" else 0
    assert scores(env, label[0]["period"]) == {"TUYEN_QUANG": 1 + 2 + after}
    html = next((stores[mode].out / "span").glob("*.html")).read_text(encoding="utf-8")
    assert "Tuyên Quang ← Hà Giang" in html
