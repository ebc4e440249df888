"""Connection health: gap detection, reconciliation, status history, imports and the report.

:class:`HealthMonitor` is the one object that talks to ClickHouse for all of it; the worker owns
one (:func:`register_health`: a timer re-evaluates every unit's status off the event loop, and
HTTP routes let ``emc import``/``emc status`` reach the store while the worker holds the embedded
engine), and the CLI opens one directly when it can.

Worker routes (JSON):

- ``GET  /emc/health/status[?at_ms=MS]``: the report rows (status now, or at an instant).
- ``POST /emc/health/evaluate`` ``{"at_ms": MS|null, "record": true}``: evaluate the rules as of
  an instant (default now) and, if ``record``, write the transitions to the history.
- ``POST /emc/health/import`` ``{"unit_code": ..., "file": ParsedFile.to_json()}``: write a
  validated import as the unit's next version.
- ``GET  /emc/health/history[?unit=CODE]``: status periods.
- ``GET  /emc/health/letters[?unit=CODE]``: reminder letters recorded by ``emc remind``.
- ``POST /emc/health/override`` ``{"unit_code", "status", "reason", "author", "start_ms"?,
  "end_ms"?}``: set an operator status (then evaluate now and record it).
- ``POST /emc/health/override/clear`` ``{"unit_code", "author"}``: end a unit's overrides.
- ``GET  /emc/health/overrides[?unit=CODE]``: every override.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkError
from streams.core.registry import UnitRegistry
from streams.health.calendar import WorkingCalendar
from streams.health.errors import HealthError
from streams.health.imports import ParsedFile, write_version
from streams.health.letters import LetterRecord, load_letters
from streams.health.overrides import (
    StatusOverride,
    apply_overrides,
    clear_overrides,
    in_force,
    load_overrides,
    set_override,
)
from streams.health.sql import (
    StatusPeriod,
    Transition,
    backfill_activity,
    evaluate,
    history,
    history_at,
    load_reference,
    record,
)
from streams.health.statuses import UnitStatus
from streams.settings import Settings

log = logging.getLogger("emc.health")

__all__ = ["HealthMonitor", "register_health"]


def now_ms() -> int:
    return int(time.time() * 1000)


class HealthMonitor:
    """Evaluates, records and reports connection health through one ClickHouse sink.

    Blocking: call from a worker thread (the worker uses a one-thread executor, so evaluations
    and imports never run concurrently).
    """

    def __init__(self, sink: ClickHouseSink, settings: Settings, registry: UnitRegistry) -> None:
        self.sink = sink
        self.settings = settings
        self.registry = registry
        self.calendar = WorkingCalendar.from_settings(settings)
        self._prepared = False
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Load the unit registry and the working calendar into ClickHouse (once)."""
        with self._lock:
            if self._prepared:
                return
            load_reference(self.sink, self.registry, self.calendar)
            backfill_activity(self.sink)
            self._prepared = True

    def evaluate(
        self, at_ms: int | None = None, *, record_history: bool = True
    ) -> tuple[list[UnitStatus], list[Transition]]:
        """Every unit's status as of ``at_ms`` (epoch ms; default now) and the transitions
        written to ``unit_status_history`` (none when ``record_history`` is false)."""
        self.prepare()
        at = now_ms() if at_ms is None else int(at_ms)
        statuses = evaluate(self.sink, self.settings.health, at)
        statuses = apply_overrides(statuses, in_force(load_overrides(self.sink), at))
        transitions = record(self.sink, statuses, at) if record_history else []
        return statuses, transitions

    def status_at(self, at_ms: int | None = None) -> dict[str, StatusPeriod]:
        """Each unit's recorded status period now (open periods) or at ``at_ms``."""
        return history_at(self.sink, at_ms)

    def history(self, unit_code: str | None = None) -> list[StatusPeriod]:
        return history(self.sink, unit_code)

    def set_override(
        self,
        unit_code: str,
        status: str,
        reason: str,
        author: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        record_now: bool = True,
    ) -> StatusOverride:
        """Store an operator-set status (``start_ms`` default now; times epoch ms) and, if
        ``record_now``, evaluate now so the history shows it at once."""
        if unit_code not in self.registry:
            raise HealthError(f"unknown unit code {unit_code!r}")
        self.prepare()
        now = now_ms()
        with self._lock:
            override = set_override(
                self.sink, unit_code, status, reason, author,
                now if start_ms is None else int(start_ms),
                None if end_ms is None else int(end_ms), now,
            )  # fmt: skip
        if record_now and override.start_ms <= now:
            self.evaluate(now)
        return override

    def clear_override(
        self, unit_code: str, author: str, *, record_now: bool = True
    ) -> list[StatusOverride]:
        """End the unit's overrides now (those in force and those not yet started)."""
        if unit_code not in self.registry:
            raise HealthError(f"unknown unit code {unit_code!r}")
        self.prepare()
        now = now_ms()
        with self._lock:
            ended = clear_overrides(self.sink, unit_code, author, now)
        if record_now and ended:
            self.evaluate(now)
        return ended

    def letters(self, unit_code: str | None = None) -> list[LetterRecord]:
        """The reminder letters recorded in ``unit_letters`` (of one unit, or all)."""
        return load_letters(self.sink, unit_code)

    def overrides(self, unit_code: str | None = None) -> list[StatusOverride]:
        self.prepare()
        return load_overrides(self.sink, unit_code)

    def import_file(self, unit_code: str, parsed: ParsedFile) -> int:
        """Write a validated file as the unit's next version; the version number."""
        if unit_code not in self.registry:
            raise HealthError(f"unknown unit code {unit_code!r}")
        with self._lock:
            return write_version(self.sink, unit_code, parsed, now_ms())


def register_health(
    app: Any, sink: ClickHouseSink, settings: Settings, registry: UnitRegistry
) -> HealthMonitor:
    """Hook connection health into the Faust app: reference data at start, the evaluation
    timer (every ``health.evaluation_interval_s`` s; 0 = off) and the /emc/health routes.

    The monitor has its own client on ``sink``'s store (two clients on one chdb path in one
    process are fine), driven from its own one-thread executor, off the event loop.
    """
    monitor = HealthMonitor(
        ClickHouseSink(settings.clickhouse_dsn(), sink.database), settings, registry
    )
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")

    async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: fn(*args, **kwargs))

    @app.task
    async def _prepare_health() -> None:
        try:
            await run(monitor.prepare)
        except SinkError as exc:
            log.error("connection health: cannot load reference data: %s", exc)

    interval = settings.health.evaluation_interval_s
    if interval > 0:

        @app.timer(interval=interval)
        async def _evaluate_health() -> None:
            try:
                _, transitions = await run(monitor.evaluate)
            except SinkError as exc:
                log.warning("connection health evaluation failed: %s", exc)
                return
            for t in transitions:
                log.info("unit %s: %s -> %s", t.unit_code, t.from_status, t.to_status)

    @app.page("/emc/health/status")
    async def _status(web: Any, request: Any) -> Any:
        from streams.health.report import build_report

        at = request.query.get("at_ms")
        rows = await run(build_report, monitor, None if at is None else int(at))
        return web.json({"rows": [asdict(r) for r in rows]})

    @app.page("/emc/health/letters")
    async def _letters(web: Any, request: Any) -> Any:
        found = await run(monitor.letters, request.query.get("unit"))
        letters = [{**asdict(x), "deadline": x.deadline.isoformat()} for x in found]
        return web.json({"letters": letters})

    @app.page("/emc/health/history")
    async def _history(web: Any, request: Any) -> Any:
        periods = await run(monitor.history, request.query.get("unit"))
        return web.json({"periods": [asdict(p) for p in periods]})

    from faust.web import View

    class Evaluate(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            body = await request.json() if await request.text() else {}
            at = body.get("at_ms")
            statuses, transitions = await run(
                monitor.evaluate,
                None if at is None else int(at),
                record_history=bool(body.get("record", True)),
            )
            return self.json(
                {
                    "statuses": [
                        {**asdict(s), "status_label": s.status_label, "reason": s.reason}
                        for s in statuses
                    ],
                    "transitions": [asdict(t) for t in transitions],
                }
            )

    class Import(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            body = await request.json()
            try:
                parsed = ParsedFile.from_json(body["file"])
                version = await run(monitor.import_file, str(body["unit_code"]), parsed)
            except (KeyError, TypeError, ValueError, SinkError, HealthError) as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"version": version, "rows": len(parsed.items)})

    class Override(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            body = await request.json()
            try:
                o = await run(
                    monitor.set_override,
                    str(body["unit_code"]),
                    str(body["status"]),
                    str(body["reason"]),
                    str(body["author"]),
                    body.get("start_ms"),
                    body.get("end_ms"),
                )
            except (KeyError, TypeError, ValueError, SinkError, HealthError) as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"override": asdict(o)})

    class ClearOverride(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            body = await request.json()
            try:
                ended = await run(
                    monitor.clear_override, str(body["unit_code"]), str(body["author"])
                )
            except (KeyError, TypeError, ValueError, SinkError, HealthError) as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"cleared": [asdict(o) for o in ended]})

    @app.page("/emc/health/overrides")
    async def _overrides(web: Any, request: Any) -> Any:
        found = await run(monitor.overrides, request.query.get("unit"))
        return web.json({"overrides": [asdict(o) for o in found]})

    app.page("/emc/health/override")(Override)
    app.page("/emc/health/override/clear")(ClearOverride)
    app.page("/emc/health/evaluate")(Evaluate)
    app.page("/emc/health/import")(Import)
    app.emc_health = monitor
    return monitor
