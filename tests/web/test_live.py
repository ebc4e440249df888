"""The live table: view maths equal the core's, and the API over 10,000 units, in process.

Two batch processors share one real ClickHouse engine (chdb) as two workers would; the API
attached to the first must serve the second's units from ClickHouse with the same numbers.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from sinks.clickhouse import ClickHouseSink
from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.indicators import N_COUNTERS
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.core.rollup import Lateness, UnitWindows
from streams.core.windows import MINUTE_MS, ROLLING_VIEWS
from streams.health.statuses import STATUS_LABELS, UnitStatus
from streams.kafka.codec import Codec, encode_json
from streams.settings import Settings, WebSettings
from streams.web.live import status_json, view_counts
from streams.web.openapi import openapi_document
from streams.web.server import attach
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV, receipt, registry_with

N_UNITS = 10_000
REAL = UnitRegistry.load()
"""config/units.csv: every row (84, merged-away units included) is one of the N_UNITS."""


def test_view_counts_equal_the_core_rolling_views() -> None:
    rng = np.random.default_rng(7)
    now = 1_795_000_000_000 + int(rng.integers(0, 86_400_000))
    windows = UnitWindows(watermark_ms=now)
    for window, size in (("1m", MINUTE_MS), ("1h", 3_600_000), ("1d", 86_400_000)):
        for _ in range(200):
            start = (now - int(rng.integers(-3, 40)) * size) // size * size
            if window == "1d":
                start -= 7 * 3_600_000
            windows.buckets[(window, start)] = rng.integers(0, 50, N_COUNTERS)
    counts, trend = view_counts(windows, now)
    for view in ROLLING_VIEWS:
        assert counts[view].tolist() == windows.rolling(view, now).tolist(), view
    assert len(trend) == 60
    minute = now // MINUTE_MS * MINUTE_MS
    assert trend[-1] == int(windows.buckets.get(("1m", minute), np.zeros(N_COUNTERS))[0])


def test_status_json_is_the_documented_status_row() -> None:
    read_back = UnitStatus(
        "HA_NOI",
        "interrupted",
        "silent_working_hours",
        1_700_000_000_000,
        reason="Không có sự kiện trong 26.8 giờ làm việc",
        since_ms=1_699_000_000_000,
    )
    assert status_json(read_back) == {
        "unit_code": "HA_NOI",
        "status": "interrupted",
        "status_label": STATUS_LABELS["interrupted"],
        "reason": "Không có sự kiện trong 26.8 giờ làm việc",
        "since_ms": 1_699_000_000_000,
        "last_event_at_ms": 1_700_000_000_000,
    }
    schema = openapi_document()["components"]["schemas"]["Status"]
    assert list(status_json(read_back)) == list(schema["properties"])
    # Texts not recorded are served as null, not "".
    bare = status_json(UnitStatus("HA_NOI", "not_a_status", "", None))
    assert (bare["status_label"], bare["reason"]) == (None, None)


def _process(processor: BatchProcessor, sink: ClickHouseSink, events: list[dict[str, Any]]) -> None:
    topic = TOPIC_BY_TYPE[EventType.RECEIVED]
    messages = [
        RawMessage(topic, 0, i, e["unit_code"].encode(), encode_json(e))
        for i, e in enumerate(events)
    ]
    outcome = processor.process(messages)
    assert not outcome.dead_letters, outcome.dead_letters[:3]
    sink.write(outcome.sink_batch)
    processor.commit_state(outcome)


def test_api_over_ten_thousand_units_two_workers(tmp_path: Path) -> None:
    registry = registry_with(N_UNITS - len(REAL), REAL)
    codes = [u.code for u in registry.units if u.code.startswith("SYN_")]
    now = int(time.time() * 1000)
    events: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    expected: dict[str, tuple[int, int]] = {}
    for i, code in enumerate(codes):
        n = 1 + i % 4
        online = i % 3
        for j in range(n):
            ev = receipt(f"{code}-{j}", code, now - 5_000 - j, online=j < online)
            events[i % 2].append(ev)
        expected[code] = (n, min(online, n))
    events[0].append(receipt("hn-1", "HA_NOI", now - 3_000, online=True))
    expected["HA_NOI"] = (1, 1)

    sink = ClickHouseSink(f"chdb://{tmp_path / 'clickhouse'}")
    sink.ensure_schema()
    lateness = Lateness.uniform(3_600_000)
    workers = [
        BatchProcessor(registry, Codec().decode, lateness, unit_table={}, dossier_table={})
        for _ in range(2)
    ]
    settings = Settings(data_dir=tmp_path, web=WebSettings(tokens=SecretStr(TOKENS_ENV)))
    app = web.Application()
    live = attach(app, workers[0], registry, sink, settings)
    for k in (0, 1):
        _process(workers[k], sink, events[k])

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with TestServer(app) as server, TestClient(server) as client:
            nat = {"Authorization": f"Bearer {NATIONAL}"}
            rows: dict[str, dict[str, Any]] = {}
            offset = 0
            started = time.perf_counter()
            while True:
                r = await client.get(
                    f"/emc/api/units?limit=500&offset={offset}&sort=unit_code&order=asc",
                    headers=nat,
                )
                assert r.status == 200
                page = await r.json()
                out["total"] = page["total"]
                rows.update({row["unit_code"]: row for row in page["rows"]})
                offset += 500
                if offset >= page["total"]:
                    break
            out["pages_s"] = time.perf_counter() - started
            out["rows"] = rows
            r = await client.get("/emc/api/units?kind=ministry&limit=50&trend=true", headers=nat)
            out["ministries"] = await r.json()
            r = await client.get("/emc/api/units?q=thu%20nghiem%2012&limit=500", headers=nat)
            out["search"] = await r.json()
            r = await client.get(
                "/emc/api/units?limit=500", headers={"Authorization": f"Bearer {HA_NOI}"}
            )
            out["unit_view"] = await r.json()
            r = await client.get(
                "/emc/api/units/SYN_00001", headers={"Authorization": f"Bearer {HA_NOI}"}
            )
            out["forbidden"] = (r.status, await r.text())
            r = await client.get("/emc/api/units/SYN_00001", headers=nat)
            out["remote_unit"] = await r.json()
        return out

    out = asyncio.run(scenario())
    live.executor.shutdown()
    sink.close()

    assert out["total"] == len(registry)
    rows = out["rows"]
    assert len(rows) == len(registry)
    for code, (received, online) in expected.items():
        row = rows[code]
        assert row["received_60m"] == received, code
        assert row["received_24h"] == received, code
        assert row["online_rate_60m"] == online / received, code
    # even units live from this worker's memory, odd ones from the other worker via ClickHouse
    assert rows["SYN_00000"]["source"] == "memory"
    assert rows["SYN_00001"]["source"] == "clickhouse"
    assert rows["BO_CONG_AN"]["source"] == "none" and rows["BO_CONG_AN"]["received_60m"] == 0

    ministries = out["ministries"]
    assert len(ministries["rows"]) == 50
    assert all(r["kind"] == "ministry" for r in ministries["rows"])
    received_sorted = [r["received_60m"] for r in ministries["rows"]]
    assert received_sorted == sorted(received_sorted, reverse=True)
    assert all(sum(r["trend"]) == r["received_60m"] for r in ministries["rows"])

    search = out["search"]["rows"]
    wanted = {12, *range(120, 130), *range(1200, 1300)}  # names "… thử nghiệm 12…"
    assert {r["unit_code"] for r in search} == {f"SYN_{i:05d}" for i in wanted}
    assert out["unit_view"]["total"] == 1
    assert [r["unit_code"] for r in out["unit_view"]["rows"]] == ["HA_NOI"]
    status, body = out["forbidden"]
    assert (
        status == 403
        and "received" not in body
        and json.loads(body) == {"error": "this token may not read that unit"}
    )
    remote = out["remote_unit"]["unit"]
    assert remote["source"] == "clickhouse"
    assert remote["received_60m"] == expected["SYN_00001"][0]
    assert sum(remote["trend"]) == expected["SYN_00001"][0]
    print(f"all {len(registry)} rows in 500-row pages: {out['pages_s']:.2f} s")
