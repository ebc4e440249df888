"""The live unit table behind the dashboard, the API and ``emc top``.

Numbers come from two places:

- the worker's in-memory windows (:class:`~streams.core.rollup.UnitWindows`) for the units whose
  partitions this worker holds: fresh to the last batch;
- ClickHouse (``unit_window_rollup FINAL``) for every other unit, i.e. units held by other
  workers of the group (refreshed at most every :data:`CLICKHOUSE_TTL_S` seconds).

Views: ``1m`` (the 1-minute buckets overlapping the last minute, so the current and the
previous minute), ``60m``, ``24h`` and ``30d`` (:data:`streams.core.windows.ROLLING_VIEWS`),
all with the one rule of :func:`streams.core.windows.rolling_bucket_starts`: a bucket counts
when it starts in ``(now - span - size, now]``. The in-memory sums and the ClickHouse query
both take their buckets from it.

Connection statuses are :class:`streams.health.statuses.UnitStatus` values read back from
``unit_connection_status``.

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
from streams.core.windows import MINUTE_MS, ROLLING_VIEWS, rolling_bucket_starts, window_start_ms
from streams.health.statuses import UnitStatus

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


def trend_starts(now_ms: int) -> range:
    """Starts (epoch ms) of the :data:`TREND_MINUTES` 1-minute buckets of a trend, oldest
    first, ending with the minute holding instant ``now_ms`` (epoch ms)."""
    last = window_start_ms(now_ms, "1m")
    return range(last - (TREND_MINUTES - 1) * MINUTE_MS, last + 1, MINUTE_MS)


def view_counts(
    windows: UnitWindows, now_ms: int
) -> tuple[dict[str, npt.NDArray[np.int64]], list[int]]:
    """Counters of every :data:`LIVE_VIEWS` view at instant ``now_ms`` (epoch ms) and the
    received-per-minute trend (:func:`trend_starts`: :data:`TREND_MINUTES` entries, oldest
    first, ending with the minute holding ``now_ms``)."""
    out = {
        view: windows.rolling_sum(window, span, now_ms)
        for view, (window, span) in LIVE_VIEWS.items()
    }
    buckets = windows.buckets
    received = COUNTER_INDEX["received"]
    trend = []
    for start in trend_starts(now_ms):
        counts = buckets.get(("1m", start))
        trend.append(0 if counts is None else int(counts[received]))
    return out, trend


def view_numbers(vector: npt.NDArray[np.int64] | list[int]) -> dict[str, Any]:
    """The numbers shown for one view from its counter vector: :data:`VIEW_COUNTERS` (ints),
    then every rate of :data:`streams.core.indicators.RATES`."""
    numbers: dict[str, Any] = {name: int(vector[COUNTER_INDEX[name]]) for name in VIEW_COUNTERS}
    numbers.update(rates(vector))
    return numbers


def numbers_from_counts(counts: dict[str, npt.NDArray[np.int64] | list[int]]) -> dict[str, Any]:
    """The flat numeric fields of a row (``received_60m``…) from per-view counter vectors; a
    view missing from ``counts`` counts zero."""
    row: dict[str, Any] = {}
    for view in LIVE_VIEWS:
        vector = counts.get(view)
        if vector is None:
            vector = [0] * N_COUNTERS
        for name, value in view_numbers(vector).items():
            row[f"{name}_{view}"] = value
    return row


def last_receipt_at_ms(windows: UnitWindows) -> int | None:
    """The unit's latest receipt time as its windows know it (epoch ms), ``None`` before any."""
    return None if windows.watermark_ms == NO_WATERMARK else windows.watermark_ms


def status_json(status: UnitStatus) -> dict[str, Any]:
    """A connection status as ``/emc/api/statuses`` serves it (times epoch ms); empty texts,
    i.e. not recorded, are ``null``."""
    return {
        "unit_code": status.unit_code,
        "status": status.status,
        "status_label": status.status_label or None,
        "reason": status.reason or None,
        "since_ms": status.since_ms,
        "last_event_at_ms": status.last_event_at_ms,
    }


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
        self._rejects: dict[str, int] = {}
        self._rejects_at = 0.0
        self._reject_lock = asyncio.Lock()
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
        # Between writes the numbers only change at minute boundaries (every window size and the
        # day alignment are whole minutes, so every instant of a minute picks the same buckets):
        # one computation serves the cached row for the whole minute.
        counts, trend = view_counts(windows, minute * MINUTE_MS + MINUTE_MS - 1)
        entry = _Cached(
            minute=minute,
            version=version,
            numbers=numbers_from_counts(dict(counts)),
            trend=trend,
            last_receipt_at_ms=last_receipt_at_ms(windows),
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
        """Per-unit view counters from the rollup table at instant ``now_ms`` (epoch ms; blocking,
        runs in the executor).

        Each view's bucket range comes from :func:`rolling_bucket_starts`, as in memory, and is
        passed as query parameters (first and last start, inclusive, epoch ms).
        """
        db = self.sink.database
        sums = ", ".join(f"sum(`{c}`)" for c in COUNTERS)
        conditions = []
        params: dict[str, Any] = {}
        for view, (window, span) in LIVE_VIEWS.items():
            starts = rolling_bucket_starts(window, span, now_ms)
            params[f"first_{view}"] = starts[0]
            params[f"last_{view}"] = starts[-1]
            conditions.append(
                f"SELECT unit_code, '{view}' AS view, {sums}, "
                f"toUnixTimestamp64Milli(maxIf(window_start, received > 0)) AS last_ms "
                f"FROM {db}.unit_window_rollup FINAL WHERE window = '{window}' "
                f"AND toUnixTimestamp64Milli(window_start) >= {{first_{view}:Int64}} "
                f"AND toUnixTimestamp64Milli(window_start) <= {{last_{view}:Int64}} "
                f"GROUP BY unit_code"
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
        first = trend_starts(now_ms)[0]
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
        """Rows of the status view as statuses read back: recorded texts, ``since_ms``, no
        numbers (blocking; runs in the executor)."""
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
        # A view made by an older schema may lack these columns: read them as empty.
        label = "toString(status_label)" if "status_label" in columns else "''"
        reason_code = "toString(reason_code)" if "reason_code" in columns else "''"
        rows = self.sink.query_rows(
            f"SELECT toString(unit_code), toString(status), "
            f"if(isNull(reason), '', toString(reason)), "
            f"toUnixTimestamp64Milli(toDateTime64(since, 3)), "
            f"toUnixTimestamp64Milli(toDateTime64(last_event_at, 3)), {label}, {reason_code} "
            f"FROM {db}.{STATUS_VIEW}"
        )
        return True, {
            str(code): UnitStatus(
                unit_code=str(code),
                status=str(status),
                reason_code=str(decided_by),
                last_event_at_ms=None if last is None else int(last),
                status_label=str(text),
                reason=str(reason),
                since_ms=None if since is None else int(since),
            )
            for code, status, reason, since, last, text, decided_by in rows
        }

    # -- rejected messages (emc.dead_letters) -------------------------------------------------
    async def reject_totals(self) -> dict[str, int]:
        """Rejected records (dead letters and late events) per unit, all time, cached like the
        statuses (units with none are absent)."""
        async with self._reject_lock:
            if time.monotonic() - self._rejects_at >= STATUS_TTL_S:
                loop = asyncio.get_running_loop()
                try:
                    self._rejects = await loop.run_in_executor(self.executor, self._query_rejects)
                except SinkError as exc:
                    log.warning("could not read dead_letters: %s", exc)
                    self._rejects = {}
                self._rejects_at = time.monotonic()
            return self._rejects

    def _query_rejects(self) -> dict[str, int]:
        rows = self.sink.query_rows(
            "SELECT unit_code, sum(messages) FROM "
            f"{self.sink.database}.unit_rejects WHERE unit_code != '' GROUP BY unit_code"
        )
        return {str(code): int(n) for code, n in rows}

    async def unit_rejects(self, unit_code: str, limit: int) -> dict[str, Any]:
        """One unit's rejected records: counts by kind and reason (with the first and last
        time, epoch ms) and the ``limit`` latest, newest first (blocking query off the loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._query_unit_rejects, unit_code, limit)

    def _query_unit_rejects(self, unit_code: str, limit: int) -> dict[str, Any]:
        db = self.sink.database
        params = {"unit": unit_code}
        reasons = self.sink.query_rows(
            "SELECT kind, reason, messages, toUnixTimestamp64Milli(first_at), "
            "toUnixTimestamp64Milli(last_at), example_detail "
            f"FROM {db}.unit_rejects WHERE unit_code = {{unit:String}} ORDER BY messages DESC",
            params,
        )
        recent = self.sink.query_rows(
            "SELECT source_topic, source_partition, source_offset, kind, reason, detail, "
            "message_key, toUnixTimestamp64Milli(message_time), original_size, "
            "original_prefix_b64, toUnixTimestamp64Milli(rejected_at) "
            f"FROM {db}.dead_letters FINAL WHERE unit_code = {{unit:String}} "
            f"ORDER BY rejected_at DESC, source_offset DESC LIMIT {int(limit)}",
            params,
        )
        return {
            "unit_code": unit_code,
            "total": sum(int(r[2]) for r in reasons),
            "reasons": [
                {
                    "kind": k,
                    "reason": reason,
                    "messages": int(n),
                    "first_at_ms": int(first),
                    "last_at_ms": int(last),
                    "example_detail": detail,
                }
                for k, reason, n, first, last, detail in reasons
            ],
            "recent": [
                {
                    "topic": r[0],
                    "partition": int(r[1]),
                    "offset": int(r[2]),
                    "kind": r[3],
                    "reason": r[4],
                    "detail": r[5],
                    "message_key": r[6],
                    "message_time_ms": None if r[7] is None else int(r[7]),
                    "original_size": int(r[8]),
                    "original_prefix_b64": r[9],
                    "rejected_at_ms": int(r[10]),
                }
                for r in recent
            ],
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
        rejects = await self.reject_totals()
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
            row["status_label"] = (status.status_label or None) if status else None
            row["status_reason"] = (status.reason or None) if status else None
            row["status_since_ms"] = status.since_ms if status else None
            row["rejected"] = rejects.get(unit.code, 0)
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
