"""The Faust application: one agent over the four lifecycle topics, two state tables.

Agent ``dossier_events`` reads ``emc.dossier.received.v1``, ``emc.dossier.processed.v1``,
``emc.dossier.result-returned.v1`` and ``emc.dossier.feedback.v1`` (key = unit_code) in batches
and writes:

- rows to ClickHouse (``emc.dossier_events``, ``emc.unit_window_rollup``), retried until accepted;
- rejected messages, unchanged, to ``emc.dossier.dead-letter.v1`` (reason in the headers), and
  events past the allowed lateness to ``emc.dossier.late.v1``;
- state: table ``unit_windows`` (unit_code → open window buckets) and ``dossier_state``
  (``unit_code|dossier_id`` → event ids seen), both in the unit's partition.

Only after all of that does the batch's offsets become committable (Faust acks ``take_events``
batches after the agent body returns), so offsets never pass what ClickHouse accepted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import faust
from faust.streams import _current_event
from faust.tables.table import Table

from sinks.clickhouse import ClickHouseSink, SinkBatch
from sinks.errors import SinkError
from streams.codec import Codec
from streams.core.rollup import Lateness
from streams.events import DEAD_LETTER_TOPIC, LATE_TOPIC, LIFECYCLE_TOPICS
from streams.health import register_health
from streams.pipeline import BatchProcessor, RawMessage, Rejected
from streams.registry import UnitRegistry
from streams.settings import Settings
from streams.summary import live_snapshot, render_summary
from streams.web import register_web

log = logging.getLogger("emc.app")


class UnitPartitionedTable(Table):
    """A table whose keys start with a unit code and live in that unit's partition.

    Keys are ``unit_code`` or ``unit_code|…``. The changelog partition of a key is the partition
    the unit's events arrive on, whichever message of a multi-partition batch is current.
    """

    def __init__(self, *args: Any, partition_of: Callable[[str], int | None], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._partition_of = partition_of

    def partition_for_key(self, key: Any) -> int | None:
        text = key.decode() if isinstance(key, bytes) else str(key)
        unit_code = text.split("|", 1)[0]
        partition = self._partition_of(unit_code)
        return partition if partition is not None else super().partition_for_key(key)


def lateness_from(settings: Settings) -> Lateness:
    s = settings.stream
    return Lateness(
        {
            "1m": s.allowed_lateness_1m_s * 1000,
            "1h": s.allowed_lateness_1h_s * 1000,
            "1d": s.allowed_lateness_1d_s * 1000,
        }
    )


def _headers(rejected: Rejected) -> list[tuple[str, bytes]]:
    msg = rejected.message
    return [
        ("emc.error.reason", rejected.reason.encode()),
        ("emc.error.detail", rejected.detail.encode("utf-8", "replace")[:2048]),
        ("emc.source.topic", msg.topic.encode()),
        ("emc.source.partition", str(msg.partition).encode()),
        ("emc.source.offset", str(msg.offset).encode()),
    ]


async def write_with_retry(
    sink: ClickHouseSink, batch: SinkBatch, executor: ThreadPoolExecutor, settings: Settings
) -> None:
    """Write ``batch`` to ClickHouse, backing off and retrying until it is accepted."""
    loop = asyncio.get_running_loop()
    delay = settings.clickhouse.retry_initial_s
    while True:
        try:
            await loop.run_in_executor(executor, sink.write, batch)
            return
        except SinkError as exc:
            log.warning("ClickHouse did not take a batch (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.clickhouse.retry_max_s)


def create_app(
    settings: Settings,
    registry: UnitRegistry,
    sink: ClickHouseSink,
    *,
    print_summary: bool = False,
) -> faust.App:
    """Build the Faust app for ``settings``; nothing connects until the worker starts."""
    kafka = settings.kafka
    app = faust.App(
        kafka.group_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="rocksdb://" if settings.stream.store == "rocksdb" else "memory://",
        datadir=str((settings.data_dir / "faust").resolve()),
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_bind=settings.web.host,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=max(0.5, kafka.session_timeout_s / 10),
        producer_max_batch_size=1 if kafka.single_record_batches else 16_384,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        stream_buffer_maxsize=max(4096, settings.stream.batch_max_events * 2),
        broker_commit_interval=1.0,
    )
    codec = Codec(
        schema_registry_url=kafka.schema_registry_url,
        max_message_bytes=settings.stream.max_message_bytes,
        max_future_skew_ms=settings.stream.max_future_skew_s * 1000,
    )
    unit_partitions: dict[str, int] = {}
    state_table = app.tables.add(
        UnitPartitionedTable(
            app,
            name="unit_state",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=kafka.partitions,
            partition_of=unit_partitions.get,
            help="unit_code → window buckets; unit_code|dossier_id → lifecycle state",
        )
    )
    # One table (one changelog partition per unit) keeps a batch's dossier writes and the unit's
    # window write in order, which is what makes state crash-consistent without transactions.
    state = _StrKeyed(state_table)
    processor = BatchProcessor(
        registry=registry,
        codec=codec,
        lateness=lateness_from(settings),
        unit_table=_KeySubset(state, lambda: (c for c in registry.codes if c in state)),
        dossier_table=_KeySubset(state, lambda: (k for k in state if "|" in k)),
        lifecycle_grace_ms=settings.stream.lifecycle_grace_s * 1000,
        dossier_retention_ms=settings.stream.dossier_retention_s * 1000,
    )
    processor.unit_partitions = unit_partitions
    source = app.topic(*LIFECYCLE_TOPICS, key_type=bytes, value_type=bytes)
    dead_letter_topic = app.topic(DEAD_LETTER_TOPIC, key_type=bytes, value_type=bytes)
    late_topic = app.topic(LATE_TOPIC, key_type=bytes, value_type=bytes)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
    app.emc_processor = processor  # type: ignore[attr-defined]
    app.emc_sink = sink  # type: ignore[attr-defined]

    @app.agent(source, name="dossier_events")
    async def dossier_events(stream: Any) -> None:
        async for events in stream.take_events(
            settings.stream.batch_max_events, within=settings.stream.batch_within_s
        ):
            messages = [
                RawMessage(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                    timestamp_ms=int(e.message.timestamp * 1000) if e.message.timestamp else None,
                )
                for e in events
            ]
            outcome = processor.process(messages)
            await write_with_retry(sink, outcome.sink_batch, executor, settings)
            pending = [
                await topic.send(key=r.message.key, value=r.message.value, headers=_headers(r))
                for topic, rejected in (
                    (dead_letter_topic, outcome.dead_letters),
                    (late_topic, outcome.late),
                )
                for r in rejected
            ]
            if pending:
                await asyncio.gather(*pending)
            by_partition = {e.message.partition: e for e in events}

            def in_partition(p: int | None, known: dict[int, Any] = by_partition) -> Any:
                return _as_current_event(known.get(p) if p is not None else None)

            processor.commit_state(outcome, in_partition)

    @app.on_partitions_revoked.connect
    async def _forget(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        processor.forget_units()

    @app.page("/emc/progress")
    async def progress(web: Any, request: Any) -> Any:
        s = processor.stats
        return web.json(
            {
                "consumed": s.consumed,
                "accepted": s.accepted,
                "duplicates": s.duplicates,
                "late": s.late,
                "batches": s.batches,
                "rollup_rows": s.rollup_rows,
                "dead_letters": dict(s.dead_letters),
                "late_by_unit": dict(s.late_by_unit),
                "anomalies": dict(s.anomalies),
                "assigned": sorted(
                    f"{tp.topic}[{tp.partition}]"
                    for tp in app.consumer.assignment()
                    if tp.topic in LIFECYCLE_TOPICS
                ),
                "last_batch_at_ms": s.last_batch_at_ms,
            }
        )

    @app.page("/emc/units")
    async def units(web: Any, request: Any) -> Any:
        return web.json(live_snapshot(processor, registry, int(time.time() * 1000)))

    register_web(app, processor, registry, sink, settings)

    register_health(app, sink, settings, registry)

    if print_summary:

        @app.timer(interval=settings.stream.summary_interval_s)
        async def _summary() -> None:
            print(render_summary(processor, registry, int(time.time() * 1000)), flush=True)

    return app


@contextmanager
def _as_current_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event for the block (``None``: leave it as it is).

    Table stores that keep a database per partition (RocksDB) file a key under the current
    event's partition; state writes after a multi-partition batch set it per unit."""
    if event is None:
        yield
        return
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class _KeySubset(MutableMapping[str, bytes]):
    """The part of a mapping whose keys ``keys()`` lists (reads and writes pass through)."""

    def __init__(self, inner: MutableMapping[str, bytes], keys: Callable[[], Iterator[str]]):
        self._inner = inner
        self._keys = keys

    def __getitem__(self, key: str) -> bytes:
        return self._inner[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._inner[key] = value

    def __delitem__(self, key: str) -> None:
        del self._inner[key]

    def __contains__(self, key: object) -> bool:
        return key in self._inner

    def __iter__(self) -> Iterator[str]:
        return self._keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())


class _StrKeyed(MutableMapping[str, bytes]):
    """``MutableMapping[str, bytes]`` view of a raw-keyed Faust table (keys stored as UTF-8)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> bytes:
        value = self._table[key.encode()]
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.encode() in self._table

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in self._table)

    def __len__(self) -> int:
        return len(self._table)
