"""``emc ingest``: the HTTP ingest as a process, on the configured broker.

Serves :mod:`streams.ingest.app` on ``EMC_INGEST__HOST``:``EMC_INGEST__PORT`` until SIGTERM or
SIGINT, then stops taking calls, answers the ones in hand and flushes the producer. Producing
uses the settings' Kafka security (SASL/TLS); the lifecycle topics must exist (the worker
creates them; ``emc run`` creates them before starting the ingest).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from streams.core.registry import UnitRegistry
from streams.ingest.app import IngestConfig, create_ingest_app
from streams.ingest.sites import SiteMap
from streams.kafka.produce import AcknowledgedProducer
from streams.settings import Settings
from streams.web.auth import TokenStore

log = logging.getLogger("emc.ingest")


def sites_path(settings: Settings) -> Path:
    """The SiteId map in force: ``EMC_INGEST__SITES_FILE`` relative to ``config_dir``."""
    path = Path(settings.ingest.sites_file)
    return path if path.is_absolute() else settings.config_dir / path


def ingest_tokens(settings: Settings) -> TokenStore:
    """The unit and national tokens, from the same file and variable as the worker's."""
    spec = settings.web.tokens.get_secret_value() if settings.web.tokens else None
    path = settings.web.tokens_file or settings.data_dir / "web_tokens.json"
    return TokenStore(path.resolve(), spec)


def ingest_config(settings: Settings) -> IngestConfig:
    s = settings.ingest
    return IngestConfig(
        max_batch=s.max_batch,
        max_body_bytes=s.max_body_bytes,
        default_due_days=s.default_due_days,
        produce_timeout_s=s.produce_timeout_s,
    )


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; the producer is flushed before returning."""
    registry = UnitRegistry.load(settings.units_path)
    sites = SiteMap.load(sites_path(settings), registry)
    producer = AcknowledgedProducer(settings.kafka.client_config(), settings.ingest.encoding)
    app = create_ingest_app(sites, ingest_tokens(settings), producer, ingest_config(settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.ingest.host, settings.ingest.port)
        await site.start()
        log.warning(
            "emc ingest on http://%s:%s/TrackingMCDT (%d sites)",
            settings.ingest.host,
            settings.ingest.port,
            len(sites),
        )
        await stop.wait()
    finally:
        await runner.cleanup()
        await asyncio.to_thread(producer.close)


def run_ingest(settings: Settings) -> None:
    """Run the ingest until SIGTERM/SIGINT (blocking)."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
