"""Real events through the real pipeline into the real embedded engine, in this process.

:class:`Engine` is the batch pipeline the worker runs (:func:`streams.worker.app.build_processor`,
the worker's codec, in-memory state tables) writing every batch's rows with the ClickHouse sink
on a chdb store of the test's own, and a :class:`~streams.health.monitor.HealthMonitor` on the
same sink. No broker: messages are built as the feed hands them over (``RawMessage``), encoded
as a TTHC system would send them (JSON or Avro). Tests that need the broker and the worker's
HTTP server use ``bench.procs.WorkerProcess`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sinks.clickhouse import ClickHouseSink
from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchOutcome, BatchProcessor
from streams.core.registry import UnitRegistry
from streams.health.monitor import HealthMonitor
from streams.kafka.codec import Codec, encode_avro, encode_json
from streams.settings import Settings
from streams.worker.app import build_processor

VN = timezone(timedelta(hours=7))
HOUR = 3_600_000
DAY = 86_400_000


def ms(*args: int) -> int:
    """Epoch ms of a Vietnam local time."""
    return int(datetime(*args, tzinfo=VN).timestamp() * 1000)


def receipt(unit: str, dossier: str, at: int, code: str = "P1", level: int = 4,
            channel: str = "online") -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": f"r-{unit}-{dossier}",
        "unit_code": unit,
        "dossier_id": dossier,
        "event_time": at,
        "procedure_code": code,
        "procedure_level": level,
        "channel": channel,
        "submitter_type": "citizen",
        "via_national_portal": False,
        "due_at": at + 5 * DAY,
        "fee_payment": "none",
    }


def result(unit: str, dossier: str, at: int) -> dict[str, Any]:
    return {
        "event_id": f"x-{unit}-{dossier}",
        "unit_code": unit,
        "dossier_id": dossier,
        "event_time": at,
        "finished_at": at,
        "electronic_result": True,
        "result_channel": "online",
        "digitised": False,
        "paid_online": False,
    }


@dataclass
class Engine:
    """The pipeline, the sink and the monitor on one embedded store (see the module doc)."""

    settings: Settings
    registry: UnitRegistry
    sink: ClickHouseSink
    processor: BatchProcessor
    monitor: HealthMonitor
    offset: int = 0
    outcomes: list[BatchOutcome] = field(default_factory=list)

    def send(
        self,
        items: list[tuple[EventType, dict[str, Any]]],
        encoding: str = "json",
        key: str | None = None,
    ) -> BatchOutcome:
        """One batch: each (type, event) encoded and keyed by its unit (or ``key``)."""
        messages = []
        for kind, event in items:
            value = encode_json(event) if encoding == "json" else encode_avro(kind, event)
            messages.append(self.raw(TOPIC_BY_TYPE[kind], value, key or event["unit_code"]))
        return self.process(messages)

    def raw(self, topic: str, value: bytes, key: str | None) -> RawMessage:
        self.offset += 1
        return RawMessage(topic, 0, self.offset, None if key is None else key.encode(), value)

    def process(self, messages: list[RawMessage]) -> BatchOutcome:
        out = self.processor.process(messages)
        self.sink.write(out.sink_batch)
        self.processor.commit_state(out)
        self.outcomes.append(out)
        return out

    def lifecycles(self, unit: str, times: list[int], code: str = "P1") -> None:
        """A received and a result-returned event 30 minutes later for each time."""
        items: list[tuple[EventType, dict[str, Any]]] = []
        for n, at in enumerate(times):
            dossier = f"{unit}-{at}-{n}"
            items.append((EventType.RECEIVED, receipt(unit, dossier, at, code)))
        self.send(items)
        self.send(
            [
                (EventType.RESULT_RETURNED, result(unit, f"{unit}-{at}-{n}", at + 30 * 60_000))
                for n, at in enumerate(times)
            ]
        )

    def statuses(self, at_ms: int, record: bool = True) -> dict[str, Any]:
        got, _ = self.monitor.evaluate(at_ms, record_history=record)
        return {s.unit_code: s for s in got}


def open_engine(tmp: Path, config_dir: Path | None = None, **env: str) -> Engine:
    """An :class:`Engine` on ``tmp`` (settings from ``env``: ``EMC_…`` names without the
    prefix, e.g. ``HEALTH__REPORTED_TOTALS_TOLERANCE="0.05"``)."""
    import os

    saved = dict(os.environ)
    try:
        for k in [k for k in os.environ if k.startswith("EMC_")]:
            del os.environ[k]
        os.environ["EMC_DATA_DIR"] = str(tmp)
        if config_dir is not None:
            os.environ["EMC_CONFIG_DIR"] = str(config_dir)
        for k, v in env.items():
            os.environ[f"EMC_{k}"] = v
        settings = Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    registry = UnitRegistry.load(settings.units_path)
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    sink.ensure_schema()
    codec = Codec(max_future_skew_ms=settings.stream.max_future_skew_s * 1000)
    processor = build_processor(settings, registry, codec.decode, {}, {})
    monitor = HealthMonitor(sink, settings, registry)
    return Engine(settings, registry, sink, processor, monitor)


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Any]:
    """``make(**env)`` → an :class:`Engine` on the test's own store; closed after the test."""
    made: list[Engine] = []

    def make(config_dir: Path | None = None, **env: str) -> Engine:
        engine = open_engine(tmp_path / f"engine{len(made)}", config_dir, **env)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.sink.close()
