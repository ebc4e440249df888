"""``emc ingest``: EMC's HTTP tracking call ``POST /TrackingMCDT`` → the lifecycle topics."""

from __future__ import annotations

import asyncio
import threading

import click

from streams.cli.settings import load_settings
from streams.core.errors import EmcError
from streams.settings import Settings


@click.command()
@click.option("--host", default=None, help="Default: EMC_INGEST__HOST.")
@click.option("--port", type=int, default=None, help="Default: EMC_INGEST__PORT.")
def ingest(host: str | None, port: int | None) -> None:
    """Serve POST /TrackingMCDT (and /TrackingMCDT/batch) on the configured broker.

    Calls are authenticated with unit tokens (emc token issue --role unit --unit CODE);
    SiteId maps to unit_code through config/sites.csv. SIGTERM stops it cleanly.
    """
    from streams.ingest.service import run_ingest

    settings = load_settings()
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if update:
        settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update=update)})
    try:
        run_ingest(settings)
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc


class IngestThread(threading.Thread):
    """The ingest on its own event loop in a thread (``emc run`` next to the worker)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="emc-ingest", daemon=True)
        self.settings = settings
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        from streams.ingest.service import serve

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            self.ready.set()
            await serve(self.settings, self._stop_event)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the caller
            self.error = exc
            self.ready.set()

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout_s)
