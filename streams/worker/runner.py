"""Starting the worker: reference data, ClickHouse schema, topics, then the Faust worker."""

from __future__ import annotations

import gc
import logging
import time

import faust

from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkUnavailableError
from streams.core.registry import UnitRegistry
from streams.kafka.state_store import changelog_topic
from streams.kafka.topics import ALL_TOPICS, CHANGELOG_CONFIG, ensure_topics
from streams.settings import Settings
from streams.worker.app import create_app

log = logging.getLogger("emc.runner")


def open_sink(settings: Settings, wait_s: float = 60.0) -> ClickHouseSink:
    """Connect to ClickHouse and create the schema, waiting up to ``wait_s`` s for a server."""
    sink = ClickHouseSink(
        settings.clickhouse_dsn(),
        settings.clickhouse.database,
        settings.clickhouse.insert_batch_rows,
        cluster=settings.clickhouse.cluster,
    )
    deadline = time.monotonic() + wait_s
    delay = settings.clickhouse.retry_initial_s
    while True:
        try:
            sink.ensure_schema()
            return sink
        except SinkUnavailableError:
            if time.monotonic() > deadline:
                raise
            log.warning("ClickHouse at %s not reachable yet", settings.redacted_clickhouse_dsn())
            time.sleep(delay)
            delay = min(delay * 2, settings.clickhouse.retry_max_s)


def tune_gc(threshold: int) -> None:
    """Set the young generation's threshold of the cyclic GC to ``threshold`` allocations
    (``EMC_STREAM__GC_THRESHOLD``; ``0`` leaves it), keeping the older generations' ones."""
    if threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)


def run_worker(settings: Settings, *, print_summary: bool = False) -> None:
    """Run the worker until SIGTERM/SIGINT; returns after a clean shutdown."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = UnitRegistry.load(settings.units_path)
    sink = open_sink(settings)
    changelog = changelog_topic(settings.kafka.group_id)
    ensure_topics(
        settings.kafka.client_config(),
        settings.kafka.partitions,
        settings.kafka.replication_factor,
        topics=(*ALL_TOPICS, changelog),
        configs={changelog: CHANGELOG_CONFIG},
    )
    tune_gc(settings.stream.gc_threshold)
    app = create_app(settings, registry, sink, print_summary=print_summary)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        sink.close()
