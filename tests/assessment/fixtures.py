"""Builders for assessment tests: lifecycle events of hand-made dossiers, fed through the real
pipeline (BatchProcessor + codec) into a real ClickHouse sink."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sinks.clickhouse import ClickHouseSink
from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.localtime import to_epoch_ms
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry, default_units_path
from streams.core.rollup import Lateness
from streams.kafka.codec import Codec, encode_json

H = 3_600_000
DAY = 24 * H
REGISTRY = UnitRegistry.load(default_units_path())
Ev = tuple[EventType, dict[str, Any]]


def local(text: str) -> int:
    """Epoch ms of a local (Asia/Ho_Chi_Minh) wall-clock time ``YYYY-MM-DD HH:MM``."""
    return to_epoch_ms(datetime.fromisoformat(text))


def receipt(
    unit: str,
    dossier: str,
    at: int,
    due: int,
    channel: str = "online",
    submitter: str = "citizen",
    level: int = 4,
    fee: str = "none",
    postal_return: bool = False,
    procedure: str = "P1",
) -> Ev:
    return EventType.RECEIVED, {
        "event_id": f"{dossier}-r", "unit_code": unit, "dossier_id": dossier, "event_time": at,
        "procedure_code": procedure, "procedure_level": level, "channel": channel,
        "submitter_type": submitter, "submitter_id_local": None, "submitter_id_qg": None,
        "via_national_portal": False, "due_at": due, "fee_payment": fee,
        "postal_return": postal_return, "procedure_name": None,
    }  # fmt: skip


def result(
    unit: str,
    dossier: str,
    at: int,
    electronic: bool = True,
    channel: str = "online",
    digitised: bool = True,
    paid_online: bool = False,
) -> Ev:
    return EventType.RESULT_RETURNED, {
        "event_id": f"{dossier}-x", "unit_code": unit, "dossier_id": dossier, "event_time": at,
        "finished_at": at, "electronic_result": electronic, "result_channel": channel,
        "digitised": digitised, "paid_online": paid_online,
    }  # fmt: skip


def feedback(unit: str, dossier: str, at: int, rating: str, tag: str = "") -> Ev:
    return EventType.FEEDBACK, {
        "event_id": f"{dossier}-f{tag}", "unit_code": unit, "dossier_id": dossier,
        "event_time": at, "rating": rating, "complaint": False,
    }  # fmt: skip


def status(unit: str, dossier: str, at: int, code: int) -> Ev:
    return EventType.PROCESSED, {
        "event_id": f"{dossier}-s{code}", "unit_code": unit, "dossier_id": dossier,
        "event_time": at, "status": code, "step_name": None, "supplement_requested": False,
    }  # fmt: skip


def new_processor(now_ms: int) -> BatchProcessor:
    """The worker's pipeline over in-memory state tables (the codec's clock at ``now_ms``)."""
    return BatchProcessor(
        REGISTRY,
        Codec(now_ms=lambda: now_ms).decode,
        Lateness({"1m": H, "1h": 7 * DAY, "1d": 7 * DAY}),
        {},
        {},
        lifecycle_grace_ms=DAY,
    )


def feed(sink: ClickHouseSink, processor: BatchProcessor, batches: Iterable[list[Ev]]) -> None:
    """Each list of events as one batch, in order: processed, written, state committed."""
    offset = 0
    for events in batches:
        messages = []
        for kind, ev in events:
            messages.append(
                RawMessage(
                    TOPIC_BY_TYPE[kind], 0, offset, ev["unit_code"].encode(), encode_json(ev)
                )
            )
            offset += 1
        out = processor.process(messages)
        assert not out.dead_letters, out.dead_letters
        sink.write(out.sink_batch)
        processor.commit_state(out)


def open_sink(dsn: str) -> ClickHouseSink:
    sink = ClickHouseSink(dsn, database="emc")
    sink.ensure_schema()
    return sink


def scoring_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scoring.toml"
    path.write_text(body, encoding="utf-8")
    return path
