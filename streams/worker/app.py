"""The Faust application: one agent over the four lifecycle topics, fed in whole batches.

Agent ``dossier_events`` processes batches of records from ``emc.dossier.received.v1``,
``emc.dossier.processed.v1``, ``emc.dossier.result-returned.v1`` and ``emc.dossier.feedback.v1``
(key = unit_code). The records are fetched by :class:`streams.kafka.feed.BulkFeed`
(confluent-kafka, in its own thread) and reach the agent as one channel event per batch, not
one Faust event per record: Faust's per-record path alone caps a worker at ~12–13k events/s on
these machines (docs/performance.md). Faust's own consumer is therefore off; Faust runs the
agent, the web server and the timers. Per batch the agent writes:

- rows to ClickHouse (``emc.dossier_events``, ``emc.unit_window_rollup``, …), retried until
  accepted;
- rejected messages, unchanged, to ``emc.dossier.dead-letter.v1`` (reason in the headers), and
  events past the allowed lateness to ``emc.dossier.late.v1``;
- state (unit windows and dossier lifecycles, streams/state_store.py) and its changelog.

Only then does it report the batch done; the feed flushes the producer and commits the offsets,
so offsets never pass what ClickHouse accepted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import faust
import mode
import orjson
from confluent_kafka import Producer
from faust.app.base import BootStrategy

from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkError
from streams.core.events import DEAD_LETTER_TOPIC, LATE_TOPIC
from streams.core.messages import Rejected
from streams.core.pipeline import BatchOutcome, BatchProcessor, Decode
from streams.core.registry import UnitRegistry
from streams.core.rollup import Lateness
from streams.core.rows import RowBatch
from streams.health.monitor import register_health
from streams.kafka.codec import Codec
from streams.kafka.feed import Batch, BulkFeed
from streams.kafka.state_store import KeySubset, RocksValues, StateStore, changelog_topic, produce
from streams.settings import Settings
from streams.web.server import register_web
from streams.worker.summary import live_snapshot, render_summary
from streams.worker.timings import StageTimes
from streams.worker.totals_feed import TotalsFeed

log = logging.getLogger("emc.app")


class _FedByBulkFeed(BootStrategy):
    """Faust without its Kafka consumer and producer: the bulk feed and a confluent-kafka
    producer take their place; agents, timers and the web server run as usual."""

    enable_kafka_consumer = False
    enable_kafka_producer = False


class EmcApp(faust.App):
    """The worker's Faust app (see the module docstring)."""

    BootStrategy = _FedByBulkFeed


def kafka_configs(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(consumer, producer) librdkafka settings of the worker, with the settings' SASL/TLS
    (:meth:`streams.settings.KafkaSettings.client_config`). They hold secrets: never log them."""
    kafka = settings.kafka
    session_ms = int(kafka.session_timeout_s * 1000)
    consumer = {
        **kafka.client_config(),
        "group.id": kafka.group_id,
        "client.id": f"{kafka.group_id}-worker",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(500, session_ms // 10),
        "max.poll.interval.ms": max(300_000, session_ms + 1),
        "fetch.wait.max.ms": 50,
    }
    producer = {
        **kafka.client_config(),
        "client.id": f"{kafka.group_id}-worker",
        "enable.idempotence": True,
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
        "delivery.report.only.error": True,
    }
    if kafka.single_record_batches:
        producer["batch.num.messages"] = 1
    return consumer, producer


def faust_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """The settings' SASL/TLS for Faust's own Kafka driver (aiokafka). The worker's records
    go through confluent-kafka (:func:`kafka_configs`); Faust's consumer and producer are off,
    but its driver gets the same credentials so nothing it opens falls back to plaintext."""
    kafka = settings.kafka
    options = kafka.aiokafka_config()
    ssl_context = options.get("ssl_context")
    if kafka.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def lateness_from(settings: Settings) -> Lateness:
    s = settings.stream
    return Lateness(
        {
            "1m": s.allowed_lateness_1m_s * 1000,
            "1h": s.allowed_lateness_1h_s * 1000,
            "1d": s.allowed_lateness_1d_s * 1000,
        }
    )


def build_processor(
    settings: Settings,
    registry: UnitRegistry,
    decode: Decode,
    unit_table: MutableMapping[str, bytes],
    dossier_table: MutableMapping[str, bytes],
) -> BatchProcessor:
    """The batch pipeline as the worker runs it: the settings' lateness, grace and retention,
    and orjson for dossier state (the core's default is the slower standard library)."""
    return BatchProcessor(
        registry=registry,
        decode=decode,
        lateness=lateness_from(settings),
        unit_table=unit_table,
        dossier_table=dossier_table,
        lifecycle_grace_ms=settings.stream.lifecycle_grace_s * 1000,
        dossier_retention_ms=settings.stream.dossier_retention_s * 1000,
        json_dumps=orjson.dumps,
        json_loads=orjson.loads,
        after_validity=settings.registry.after_validity,
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


def write_until_accepted(
    sink: ClickHouseSink, batch: RowBatch, settings: Settings, stop: threading.Event
) -> bool:
    """Write ``batch`` to ClickHouse, backing off and retrying until it is accepted (blocking;
    run in a thread). Returns False when ``stop`` was set before it was accepted."""
    delay = settings.clickhouse.retry_initial_s
    while not stop.is_set():
        try:
            sink.write(batch)
            return True
        except SinkError as exc:
            log.warning("ClickHouse did not take a batch (%s); retrying in %.1f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, settings.clickhouse.retry_max_s)
    return False


def open_store(settings: Settings, producer: Producer) -> StateStore:
    """The state store the settings ask for, writing through to the changelog."""
    values: Any
    if settings.stream.store == "rocksdb":
        values = RocksValues(
            (settings.data_dir / "state" / settings.kafka.group_id).resolve(),
            settings.stream.rocksdb_memory_mib,
        )
    else:
        values = {}
    return StateStore(
        values,
        producer,
        changelog_topic(settings.kafka.group_id),
        split_from_bytes=settings.stream.changelog_split_bytes,
    )


def create_app(
    settings: Settings,
    registry: UnitRegistry,
    sink: ClickHouseSink,
    *,
    print_summary: bool = False,
) -> faust.App:
    """Build the Faust app for ``settings``; nothing connects until the worker starts."""
    kafka = settings.kafka
    app = EmcApp(
        kafka.group_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",
        datadir=str((settings.data_dir / "faust").resolve()),
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_bind=settings.web.host,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        stream_buffer_maxsize=16,
        broker_credentials=faust_credentials(settings),
    )
    codec = Codec(
        schema_registry_url=kafka.schema_registry_url,
        max_message_bytes=settings.stream.max_message_bytes,
        max_future_skew_ms=settings.stream.max_future_skew_s * 1000,
    )
    consumer_config, producer_config = kafka_configs(settings)
    store_ref: list[StateStore] = []
    producer = Producer(
        {**producer_config, "on_delivery": lambda err, msg: store_ref[0].on_delivery(err, msg)}
    )
    store = open_store(settings, producer)
    store_ref.append(store)
    processor = build_processor(
        settings,
        registry,
        codec.decode,
        unit_table=KeySubset(store, lambda: (c for c in registry.codes if c in store)),
        dossier_table=KeySubset(store, lambda: (k for k in store if "|" in k)),
    )
    processor.unit_partitions = store.unit_partitions
    batches = app.channel()
    timings = StageTimes()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
    stopping = threading.Event()
    app.emc_processor = processor  # type: ignore[attr-defined]
    app.emc_sink = sink  # type: ignore[attr-defined]
    feed_service = FeedService(
        app, consumer_config, producer, store, batches, settings, stopping=stopping
    )
    app.service(feed_service)  # type: ignore[arg-type]  # an instance is started as is

    @app.agent(batches, name="dossier_events")
    async def dossier_events(stream: Any) -> None:
        # The agent processes batches; a batch's rows go to ClickHouse in the "clickhouse"
        # thread (one, so batches finish in order) while the agent goes on with the next one.
        # Batch N+1 sees N's state locally at once; N's changelog records, dead letters and
        # offsets follow only after ClickHouse took N's rows. A crash in between replays both
        # from the changelog's older state, so nothing is lost or counted twice.
        idle_since: float | None = None
        async for batch in stream:
            if idle_since is not None:
                timings.add("waiting", time.perf_counter() - idle_since)
            try:
                with timings.timing("process"):
                    outcome = processor.process(batch.messages)
                with timings.timing("commit_state"):
                    records = store.holding(partial(processor.commit_state, outcome))
                done = executor.submit(finish, batch, outcome, records)
                done.add_done_callback(_report_failure)
                idle_since = time.perf_counter()
            except Exception as exc:
                log.exception("a batch failed; stopping the worker (it will be replayed)")
                await app.crash(exc)
                raise

    def finish(
        batch: Batch, outcome: BatchOutcome, records: list[tuple[bytes, bytes | None, int]]
    ) -> None:
        """In the ClickHouse thread: rows, then changelog, dead letters, late events, done."""
        with timings.timing("clickhouse"):
            accepted = write_until_accepted(sink, outcome.sink_batch, settings, stopping)
        if not accepted:
            return  # shutting down: the batch is not done, so its offsets are not committed
        with timings.timing("release"):
            store.release(records)
            for topic, rejected in (
                (DEAD_LETTER_TOPIC, outcome.dead_letters),
                (LATE_TOPIC, outcome.late),
            ):
                for r in rejected:
                    produce(producer, topic, r.message.key, r.message.value, None, _headers(r))
            producer.poll(0)
        feed_service.feed.done(batch)

    def _report_failure(done: Future[None]) -> None:
        exc = done.exception()
        if exc is not None:
            log.error("finishing a batch failed; stopping the worker (it will be replayed)")
            feed_service.feed.error = exc  # FeedService._watch crashes the app

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
                "assigned": sorted(f"{t}[{p}]" for t, p in feed_service.feed.assignment),
                "restores": feed_service.feed.restores,
                "last_batch_at_ms": s.last_batch_at_ms,
                "first_batch_at_ms": s.first_batch_at_ms,
                "stage_seconds": timings.as_dict(),
            }
        )

    @app.page("/emc/units")
    async def units(web: Any, request: Any) -> Any:
        return web.json(live_snapshot(processor, registry, int(time.time() * 1000)))

    health = register_health(app, sink, settings, registry)
    if settings.health.reported_totals_consumer:

        @app.task
        async def _reported_totals() -> None:
            TotalsFeed(settings, health, registry).start()

    live = register_web(app, processor, registry, sink, settings, health)

    def _assigned() -> None:
        # Runs in the feed thread while no batch is in flight; the next batch is scheduled on
        # the loop after this, so the caches are gone before it is processed.
        processor.forget_units()
        live.forget()

    feed_service.on_assigned = _assigned

    if print_summary:

        @app.timer(interval=settings.stream.summary_interval_s)
        async def _summary() -> None:
            print(render_summary(processor, registry, int(time.time() * 1000)), flush=True)

    return app


class FeedService(mode.Service):
    """Starts the bulk feed with the app (after the agents) and stops it before them."""

    def __init__(
        self,
        app: faust.App,
        consumer_config: dict[str, Any],
        producer: Producer,
        store: StateStore,
        channel: Any,
        settings: Settings,
        stopping: threading.Event,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self._stopping = stopping
        self.on_assigned: Any = None
        self._channel = channel
        self._producer = producer
        self.feed = BulkFeed(
            consumer_config,
            producer,
            store,
            self._deliver,
            batch_max_events=settings.stream.batch_max_events,
            batch_within_s=settings.stream.batch_within_s,
            max_in_flight=settings.stream.max_in_flight,
            on_assigned=lambda: self.on_assigned() if self.on_assigned else None,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handed: asyncio.Queue[Batch] = asyncio.Queue()  # bounded by max_in_flight

    def _deliver(self, batch: Batch) -> None:
        """From the feed thread: queue ``batch`` for the agent without waiting for the loop
        (which is busy while the agent processes), so the feed fetches the next one meanwhile."""
        assert self._loop is not None
        if not self._loop.is_closed():  # closed: shutting down, the batch is not committed
            self._loop.call_soon_threadsafe(self._handed.put_nowait, batch)

    @mode.Service.task
    async def _forward(self) -> None:
        """Move handed batches into the agent's channel, in the order they were fetched."""
        while not self.should_stop:
            batch = await self._handed.get()
            await self._channel.send(value=batch)

    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Faust resumes flow control when its consumer is assigned partitions; that consumer
        # is off, so resume it here or channel sends would wait forever.
        self.app.flow_control.resume()
        self.feed.start()

    @mode.Service.task
    async def _watch(self) -> None:
        """Stop the worker when the feed thread died (broker refused the changelog, …)."""
        while not self.should_stop:
            if self.feed.error is not None:
                await self.app.crash(self.feed.error)
                return
            await asyncio.sleep(0.5)

    async def on_stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.feed.stop)
        self._stopping.set()  # a batch still retrying ClickHouse gives up (it is not committed)
        await loop.run_in_executor(None, self._producer.flush, 10.0)
