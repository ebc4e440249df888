"""``GET /emc/api/scores``: stored assessment results, a unit token sees its own only."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from sinks.clickhouse import ClickHouseSink
from streams.assessment import assess, load_scoring, store
from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.localtime import local_midnight_ms
from streams.core.messages import RawMessage
from streams.core.periods import parse_period
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.core.rollup import Lateness
from streams.kafka.codec import Codec, encode_json
from streams.settings import Settings, WebSettings
from streams.web.server import attach
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV, receipt


def test_scores_by_token(tmp_path: Path) -> None:
    registry = UnitRegistry.load()
    july = local_midnight_ms(date(2026, 7, 10)) + 9 * 3_600_000
    events = [receipt(f"hn-{i}", "HA_NOI", july + i, online=i < 3) for i in range(4)]
    events += [receipt(f"dn-{i}", "DA_NANG", july + i, online=True) for i in range(2)]
    sink = ClickHouseSink(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        sink.ensure_schema()
        processor = BatchProcessor(
            registry, Codec(now_ms=lambda: july).decode, Lateness.uniform(3_600_000), {}, {}
        )
        topic = TOPIC_BY_TYPE[EventType.RECEIVED]
        messages = [
            RawMessage(topic, 0, i, e["unit_code"].encode(), encode_json(e))
            for i, e in enumerate(events)
        ]
        outcome = processor.process(messages)
        sink.write(outcome.sink_batch)
        settings = Settings(data_dir=tmp_path, web=WebSettings(tokens=SecretStr(TOKENS_ENV)))
        store(sink, assess(sink, registry, parse_period("2026-07"), load_scoring(settings)))

        app = web.Application()
        attach(app, processor, registry, sink, settings)

        async def scenario() -> dict[str, Any]:
            out: dict[str, Any] = {}
            async with TestServer(app) as server, TestClient(server) as client:
                for who, token in (("national", NATIONAL), ("ha_noi", HA_NOI)):
                    r = await client.get(
                        "/emc/api/scores?period=2026-07",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert r.status == 200, await r.text()
                    out[who] = (await r.json())["rows"]
                r = await client.get(
                    "/emc/api/scores?period=2026-13",
                    headers={"Authorization": f"Bearer {NATIONAL}"},
                )
                out["bad_period"] = r.status
                out["anonymous"] = (await client.get("/emc/api/scores")).status
            return out

        out = asyncio.run(scenario())
    finally:
        sink.close()
    national = {row["unit_code"]: row for row in out["national"]}
    in_force = registry.valid_at(national["HA_NOI"]["period_start"])
    assert len(national) == len(in_force)  # every unit in force listed, scored or not
    assert national["HA_NOI"]["rates"]["online_rate"] == 0.75
    assert national["DA_NANG"]["rates"]["online_rate"] == 1.0
    assert [row["unit_code"] for row in out["ha_noi"]] == ["HA_NOI"]
    assert out["ha_noi"][0]["rates"] == national["HA_NOI"]["rates"]
    assert (out["bad_period"], out["anonymous"]) == (400, 401)
