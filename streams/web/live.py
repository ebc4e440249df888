"""The live unit table behind the dashboard, the API and ``emc top``.

Numbers come from two places:

- the worker's in-memory windows (:class:`~streams.core.rollup.UnitWindows`) for the units whose
  partitions this worker holds: fresh to the last batch;
- ClickHouse (``unit_window_rollup FINAL``) for every other unit, i.e. units held by other
  workers of the group (refreshed at most every :data:`CLICKHOUSE_TTL_S` seconds).

Views: ``1m`` (the 1-minute buckets starting within the last minute, so the current and the
previous minute), ``60m``, ``24h`` and ``30d`` (:data:`streams.core.windows.ROLLING_VIEWS`),
with the rule of :meth:`UnitWindows.rolling`: a bucket counts when it starts in
``(now - span - size, now]``.

Cost: a unit's numbers only change when its state is written or when the clock crosses a minute
boundary, so rows are cached per unit and recomputed only then. Writes are seen through
:class:`WriteTracker`, a transparent wrapper around the processor's unit table.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkError
from streams.core.indicators import COUNTER_INDEX, COUNTERS, N_COUNTERS, RATES, rates
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.core.rollup import NO_WATERMARK, UnitWindows
from streams.core.windows import MINUTE_MS, ROLLING_VIEWS, WINDOW_SIZES_MS, window_start_ms

log = logging.getLogger("emc.web")

LIVE_VIEWS: Final[dict[str, tuple[str, int]]] = {"1m": ("1m", MINUTE_MS), **ROLLING_VIEWS}
"""View name → (window it sums, span in ms)."""
VIEW_COUNTERS: Final[tuple[str, ...]] = ("received", "online", "remote")
"""Counters shown per view (rates are all of :data:`streams.core.indicators.RATES`)."""
TREND_MINUTES: Final = 60
CLICKHOUSE_TTL_S: Final = 2.0
"""How long numbers read from ClickHouse are reused, seconds."""
STATUS_TTL_S: Final = 5.0
"""How long connection statuses read from ClickHouse are reused, seconds."""
STATUS_VIEW: Final = "unit_connection_status"
ROWS_TTL_MS: Final = 400
"""How long one build of all rows serves requests, ms (keeps the page sub-second fresh)."""


def row_fields() -> tuple[str, ...]:
    """Names of the per-view numeric fields of a row: ``received_60m``, ``online_rate_24h``…"""
    return tuple(f"{name}_{view}" for view in LIVE_VIEWS for name in (*VIEW_COUNTERS, *RATES))


ROW_NUMBER_FIELDS: Final[tuple[str, ...]] = row_fields()


def view_counts(
    windows: UnitWindows, now_ms: int
) -> tuple[dict[str, npt.NDArray[np.int64]], list[int]]:
    """Counters of every :data:`LIVE_VIEWS` view at ``now_ms`` and the received-per-minute trend.

    The trend has :data:`TREND_MINUTES` entries, oldest first, ending with the minute holding
    ``now_ms``. Looks up only the buckets a view can hold instead of scanning all of them.
    """
    out: dict[str, npt.NDArray[np.int64]] = {}
    buckets = windows.buckets
    for view, (window, span) in LIVE_VIEWS.items():
        size = WINDOW_SIZES_MS[window]
        start = window_start_ms(now_ms, window)
        found = []
        while start + size > now_ms - span:
            counts = buckets.get((window, start))
            if counts is not None:
                found.append(counts)
            start -= size
        out[view] = (
            np.sum(found, axis=0, dtype=np.int64) if found else np.zeros(N_COUNTERS, np.int64)
        )
    minute = window_start_ms(now_ms, "1m")
    received = COUNTER_INDEX["received"]
    trend = []
    for i in range(TREND_MINUTES - 1, -1, -1):
        counts = buckets.get(("1m", minute - i * MINUTE_MS))
        trend.append(0 if counts is None else int(counts[received]))
    return out, trend


def numbers_from_counts(counts: dict[str, npt.NDArray[np.int64] | list[int]]) -> dict[str, Any]:
    """The flat numeric fields of a row from per-view counter vectors."""
    row: dict[str, Any] = {}
    for view in LIVE_VIEWS:
        vector = counts.get(view)
        if vector is None:
            vector = [0] * N_COUNTERS
        for name in VIEW_COUNTERS:
            row[f"{name}_{view}"] = int(vector[COUNTER_INDEX[name]])
        for name, value in rates(vector).items():
            row[f"{name}_{view}"] = value
    return row


class WriteTracker(MutableMapping[str, bytes]):
    """Wraps the processor's unit table; counts writes per unit so cached rows know when to go."""

    def __init__(self, inner: MutableMapping[str, bytes]) -> None:
        self.inner = inner
        self.versions: dict[str, int] = {}

    def __getitem__(self, key: str) -> bytes:
        return self.inner[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.inner[key] = value
        self.versions[key] = self.versions.get(key, 0) + 1

    def __delitem__(self, key: str) -> None:
        del self.inner[key]
        self.versions[key] = self.versions.get(key, 0) + 1

    def __iter__(self) -> Iterator[str]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


@dataclass(slots=True)
class _Cached:
    minute: int
    version: int
    numbers: dict[str, Any]
    trend: list[int]
    last_receipt_at_ms: int | None


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """A row of ``emc.unit_connection_status`` (times in epoch ms)."""

    unit_code: str
    status: str
    reason: str | None
    since_ms: int | None
    last_event_at_ms: int | None
    label: str | None = None
    """The status in the seeds' Vietnamese wording, when the view has ``status_label``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "unit_code": self.unit_code,
            "status": self.status,
            "status_label": self.label,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "last_event_at_ms": self.last_event_at_ms,
        }


def fold(text: str) -> str:
    """Lower-case, accent-free form for searching Vietnamese names ("Hà Nội" → "ha noi")."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class LiveTable:
    """Rows for every registry unit: live from memory where held, else from ClickHouse."""

    def __init__(
        self,
        processor: BatchProcessor,
        registry: UnitRegistry,
        sink: ClickHouseSink,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.processor = processor
        self.registry = registry
        self.sink = sink
        self.executor = executor
        tracker = processor.unit_table
        if not isinstance(tracker, WriteTracker):
            tracker = WriteTracker(tracker)
            processor.unit_table = tracker
        self.tracker = tracker
        self._cache: dict[str, _Cached] = {}
        self._held: frozenset[str] = frozenset()
        self._search = {u.code: fold(f"{u.code} {u.name_vi}") for u in registry.units}
        self._ch_rows: dict[str, dict[str, Any]] = {}
        self._ch_at = 0.0
        self._ch_lock = asyncio.Lock()
        self._statuses: dict[str, UnitStatus] = {}
        self._statuses_available = False
        self._statuses_at = 0.0
        self._status_lock = asyncio.Lock()
        self._rows: list[dict[str, Any]] | None = None
        self._rows_at_ms = 0
        self._rows_lock = asyncio.Lock()

    def search_key(self, unit_code: str) -> str:
        return self._search.get(unit_code, unit_code.lower())

    def forget(self) -> None:
        """Drop cached rows (after a rebalance the held units change)."""
        self._cache.clear()
        self._rows = None

    # -- memory -----------------------------------------------------------------------------
    def held(self) -> frozenset[str]:
        """Units this worker holds state for."""
        held = frozenset(self.processor.unit_table)
        if held != self._held:
            self._held = held
            self._cache.clear()
        return held

    def _memory_entry(self, unit_code: str, now_ms: int) -> _Cached:
        minute = now_ms // MINUTE_MS
        version = self.tracker.versions.get(unit_code, 0)
        entry = self._cache.get(unit_code)
        if entry is not None and entry.minute == minute and entry.version == version:
            return entry
        windows = self.processor.unit_windows(unit_code)
        # The numbers only change at minute boundaries: compute them at the minute's start so
        # the cached row is right for the whole minute.
        counts, trend = view_counts(windows, minute * MINUTE_MS + MINUTE_MS - 1)
        entry = _Cached(
            minute=minute,
            version=version,
            numbers=numbers_from_counts(dict(counts)),
            trend=trend,
            last_receipt_at_ms=None
            if windows.watermark_ms == NO_WATERMARK
            else windows.watermark_ms,
        )
        self._cache[unit_code] = entry
        return entry

    # -- ClickHouse ---------------------------------------------------------------------------
    async def _clickhouse_rows(self, now_ms: int) -> dict[str, dict[str, Any]]:
        async with self._ch_lock:
            if time.monotonic() - self._ch_at < CLICKHOUSE_TTL_S:
                return self._ch_rows
            loop = asyncio.get_running_loop()
            try:
                self._ch_rows = await loop.run_in_executor(
                    self.executor, self._query_clickhouse_rows, now_ms
                )
            except SinkError as exc:
                log.warning("could not read unit rollups from ClickHouse: %s", exc)
            self._ch_at = time.monotonic()
            return self._ch_rows

    def _query_clickhouse_rows(self, now_ms: int) -> dict[str, dict[str, Any]]:
        """Per-unit view counters from the rollup table (blocking; runs in the executor)."""
        db = self.sink.database
        sums = ", ".join(f"sum(`{c}`)" for c in COUNTERS)
        conditions = []
        params: dict[str, Any] = {"now": now_ms}
        for view, (window, span) in LIVE_VIEWS.items():
            size = WINDOW_SIZES_MS[window]
            params[f"lo_{view}"] = now_ms - span - size
            conditions.append(
                f"SELECT unit_code, '{view}' AS view, {sums}, "
                f"toUnixTimestamp64Milli(maxIf(window_start, received > 0)) AS last_ms "
                f"FROM {db}.unit_window_rollup FINAL WHERE window = '{window}' "
                f"AND toUnixTimestamp64Milli(window_start) > {{lo_{view}:Int64}} "
                f"AND toUnixTimestamp64Milli(window_start) <= {{now:Int64}} GROUP BY unit_code"
            )
        rows = self.sink.query_rows(" UNION ALL ".join(conditions), parameters=params)
        counts: dict[str, dict[str, list[int]]] = {}
        last: dict[str, int] = {}
        for unit_code, view, *values in rows:
            *vector, last_ms = values
            counts.setdefault(unit_code, {})[view] = [int(v) for v in vector]
            if int(vector[COUNTER_INDEX["received"]]) > 0:
                last[unit_code] = max(last.get(unit_code, 0), int(last_ms))
        return {
            code: {
                **numbers_from_counts(dict(by_view)),
                "last_receipt_at_ms": last.get(code),
            }
            for code, by_view in counts.items()
        }

    async def clickhouse_trends(self, unit_codes: list[str], now_ms: int) -> dict[str, list[int]]:
        """Received per minute (last :data:`TREND_MINUTES` minutes) of units not held here."""
        if not unit_codes:
            return {}
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, self._query_trends, unit_codes, now_ms)
        except SinkError as exc:
            log.warning("could not read unit trends from ClickHouse: %s", exc)
            return {}

    def _query_trends(self, unit_codes: list[str], now_ms: int) -> dict[str, list[int]]:
        first = window_start_ms(now_ms, "1m") - (TREND_MINUTES - 1) * MINUTE_MS
        rows = self.sink.query_rows(
            f"SELECT unit_code, toUnixTimestamp64Milli(window_start), received "
            f"FROM {self.sink.database}.unit_window_rollup FINAL "
            f"WHERE window = '1m' AND unit_code IN {{codes:Array(String)}} "
            f"AND toUnixTimestamp64Milli(window_start) >= {{first:Int64}}",
            parameters={"codes": unit_codes, "first": first},
        )
        trends = {code: [0] * TREND_MINUTES for code in unit_codes}
        for code, start_ms, received in rows:
            i = (int(start_ms) - first) // MINUTE_MS
            if 0 <= i < TREND_MINUTES:
                trends[code][i] = int(received)
        return trends

    async def windows_history(
        self, unit_code: str, window: str, from_ms: int, to_ms: int, limit: int
    ) -> list[dict[str, Any]]:
        """Rows of ``unit_window_rollup FINAL`` for one unit and window, oldest first."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self._query_history, unit_code, window, from_ms, to_ms, limit
        )

    def _query_history(
        self, unit_code: str, window: str, from_ms: int, to_ms: int, limit: int
    ) -> list[dict[str, Any]]:
        names = [*COUNTERS, *RATES]
        columns = ", ".join(f"`{n}`" for n in names)
        rows = self.sink.query_rows(
            f"SELECT * FROM (SELECT toUnixTimestamp64Milli(window_start) AS start_ms, "
            f"toUnixTimestamp64Milli(window_end) AS end_ms, {columns} "
            f"FROM {self.sink.database}.unit_window_rollup FINAL "
            f"WHERE window = {{window:String}} AND unit_code = {{unit:String}} "
            f"AND toUnixTimestamp64Milli(window_start) >= {{lo:Int64}} "
            f"AND toUnixTimestamp64Milli(window_start) < {{hi:Int64}} "
            f"ORDER BY window_start DESC LIMIT {{limit:UInt32}}) ORDER BY start_ms",
            parameters={
                "window": window,
                "unit": unit_code,
                "lo": from_ms,
                "hi": to_ms,
                "limit": limit,
            },
        )
        out = []
        for start_ms, end_ms, *values in rows:
            item: dict[str, Any] = {"start_ms": int(start_ms), "end_ms": int(end_ms)}
            for name, value in zip(names, values, strict=True):
                item[name] = (
                    None if value is None else (int(value) if name in COUNTERS else float(value))
                )
            out.append(item)
        return out

    # -- connection statuses ----------------------------------------------------------------
    async def statuses(self) -> tuple[bool, dict[str, UnitStatus]]:
        """(whether ``emc.unit_connection_status`` exists, its rows by unit)."""
        async with self._status_lock:
            if time.monotonic() - self._statuses_at >= STATUS_TTL_S:
                loop = asyncio.get_running_loop()
                try:
                    available, rows = await loop.run_in_executor(
                        self.executor, self._query_statuses
                    )
                    self._statuses_available = available
                    self._statuses = rows
                except SinkError as exc:
                    log.warning("could not read %s: %s", STATUS_VIEW, exc)
                    self._statuses_available = False
                    self._statuses = {}
                self._statuses_at = time.monotonic()
            return self._statuses_available, self._statuses

    def _query_statuses(self) -> tuple[bool, dict[str, UnitStatus]]:
        db = self.sink.database
        columns = {
            str(name)
            for (name,) in self.sink.query_rows(
                "SELECT name FROM system.columns "
                "WHERE database = {db:String} AND table = {n:String}",
                parameters={"db": db, "n": STATUS_VIEW},
            )
        }
        if not columns:
            return False, {}
        label = "toString(status_label)" if "status_label" in columns else "NULL"
        rows = self.sink.query_rows(
            f"SELECT toString(unit_code), toString(status), "
            f"if(isNull(reason), NULL, toString(reason)), "
            f"toUnixTimestamp64Milli(toDateTime64(since, 3)), "
            f"toUnixTimestamp64Milli(toDateTime64(last_event_at, 3)), {label} "
            f"FROM {db}.{STATUS_VIEW}"
        )
        return True, {
            str(code): UnitStatus(
                unit_code=str(code),
                status=str(status),
                reason=None if reason is None else str(reason),
                since_ms=None if since is None else int(since),
                last_event_at_ms=None if last is None else int(last),
                label=None if text is None else str(text),
            )
            for code, status, reason, since, last, text in rows
        }

    # -- rows ------------------------------------------------------------------------------
    async def rows(self, now_ms: int) -> list[dict[str, Any]]:
        """One row per registry unit (file order), without trends, with connection statuses.

        Built at most every :data:`ROWS_TTL_MS` and shared by every request in between, so
        many dashboards polling every second over 10,000 units cost one build per interval.
        The rows are shared: callers copy a row before changing it.
        """
        if self._rows is not None and 0 <= now_ms - self._rows_at_ms < ROWS_TTL_MS:
            return self._rows
        async with self._rows_lock:
            if self._rows is not None and 0 <= now_ms - self._rows_at_ms < ROWS_TTL_MS:
                return self._rows
            self._rows = await self._build_rows(now_ms)
            self._rows_at_ms = now_ms
            return self._rows

    async def _build_rows(self, now_ms: int) -> list[dict[str, Any]]:
        held = self.held()
        missing = len(held) < len(self.registry)
        ch_rows = await self._clickhouse_rows(now_ms) if missing else {}
        _, statuses = await self.statuses()
        out: list[dict[str, Any]] = []
        empty = numbers_from_counts({})
        for unit in self.registry.units:
            row: dict[str, Any] = {
                "unit_code": unit.code,
                "name_vi": unit.name_vi,
                "kind": unit.kind,
            }
            if unit.code in held:
                entry = self._memory_entry(unit.code, now_ms)
                row["source"] = "memory"
                row["last_receipt_at_ms"] = entry.last_receipt_at_ms
                row.update(entry.numbers)
            elif unit.code in ch_rows:
                row["source"] = "clickhouse"
                row.update(ch_rows[unit.code])
            else:
                row["source"] = "none"
                row["last_receipt_at_ms"] = None
                row.update(empty)
            status = statuses.get(unit.code)
            row["status"] = status.status if status else None
            row["status_label"] = status.label if status else None
            row["status_reason"] = status.reason if status else None
            row["status_since_ms"] = status.since_ms if status else None
            out.append(row)
        return out

    async def trends(self, unit_codes: list[str], now_ms: int) -> dict[str, list[int]]:
        """Received-per-minute trends of the given units (memory where held, else ClickHouse)."""
        held = self.held()
        result = {
            code: self._memory_entry(code, now_ms).trend for code in unit_codes if code in held
        }
        others = [code for code in unit_codes if code not in held]
        result.update(await self.clickhouse_trends(others, now_ms))
        return result
