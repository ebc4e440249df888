"""The ClickHouse sink: column-oriented batched inserts through clickhouse-connect.

The same code talks to the embedded engine (``chdb:///abs/path``) and to a server
(``http://host:8123``). Calls block: the worker runs them in a thread, off the event loop.
Every write is idempotent (``ReplacingMergeTree`` tables), so a retried batch never
double-counts.

Rows go in as Arrow tables (``INSERT … FORMAT Arrow``): the columns become Arrow arrays in C and
the engine reads them natively, where clickhouse-connect's Native serialisation walks every value
in Python — in the worker that Python time competes for the GIL with the next batch's processing
(measured: 0.55 → 0.28 s wall, 0.44 → 0.23 s CPU for 6 batches of ~10k event rows on chdb).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from sinks.errors import SinkError, SinkUnavailableError
from sinks.schema import ANOMALY_COLUMNS, EVENT_COLUMNS, OVERDUE_COLUMNS, ROLLUP_COLUMNS, ddl

EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS)
ROLLUP_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in ROLLUP_COLUMNS)
ANOMALY_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in ANOMALY_COLUMNS)
OVERDUE_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in OVERDUE_COLUMNS)


@dataclass(slots=True)
class SinkBatch:
    """Rows of one stream batch, column-oriented (each list is one column, insert order)."""

    events: list[list[Any]] = field(default_factory=lambda: [[] for _ in EVENT_COLUMN_NAMES])
    rollups: list[list[Any]] = field(default_factory=lambda: [[] for _ in ROLLUP_COLUMN_NAMES])
    anomalies: list[list[Any]] = field(default_factory=lambda: [[] for _ in ANOMALY_COLUMN_NAMES])
    overdue: list[list[Any]] = field(default_factory=lambda: [[] for _ in OVERDUE_COLUMN_NAMES])

    @property
    def event_rows(self) -> int:
        return len(self.events[0])

    @property
    def rollup_rows(self) -> int:
        return len(self.rollups[0])

    def add_event(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.events, row, strict=True):
            column.append(value)

    def add_rollup(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.rollups, row, strict=True):
            column.append(value)

    def add_anomaly(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.anomalies, row, strict=True):
            column.append(value)

    def add_overdue(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.overdue, row, strict=True):
            column.append(value)


_ARROW_TYPES: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
}


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type a column of ``clickhouse_type`` is sent as (``DateTime64(3, …)`` values
    are epoch milliseconds; ``LowCardinality``/``Nullable`` wrappers change nothing here)."""
    base = clickhouse_type
    for wrapper in ("LowCardinality(", "Nullable("):
        while base.startswith(wrapper):
            base = base[len(wrapper) : -1]
    if base.startswith("DateTime64(3"):
        return pa.timestamp("ms", tz="UTC")
    try:
        return _ARROW_TYPES[base]
    except KeyError:
        raise ValueError(f"no Arrow type for ClickHouse type {clickhouse_type!r}") from None


def arrow_schema(columns: Sequence[tuple[str, str]]) -> pa.Schema:
    """Arrow schema of a table's ``(name, ClickHouse type)`` columns."""
    return pa.schema([(name, arrow_type(ch_type)) for name, ch_type in columns])


SCHEMAS: dict[str, pa.Schema] = {
    "dossier_events": arrow_schema(EVENT_COLUMNS),
    "unit_window_rollup": arrow_schema(ROLLUP_COLUMNS),
    "lifecycle_anomalies": arrow_schema(ANOMALY_COLUMNS),
    "dossier_overdue": arrow_schema(OVERDUE_COLUMNS),
}


def connect(dsn: str) -> Client:
    """A clickhouse-connect client for ``dsn``; failures become :class:`SinkError`."""
    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except OperationalError as exc:
        raise SinkUnavailableError(f"cannot reach ClickHouse: {exc}") from exc
    except (ClickHouseError, OSError) as exc:
        raise SinkError(f"cannot open ClickHouse: {exc}") from exc


class ClickHouseSink:
    """Writes stream batches into ``{database}.dossier_events`` and ``.unit_window_rollup``."""

    def __init__(self, dsn: str, database: str = "emc", insert_batch_rows: int = 50_000) -> None:
        self._dsn = dsn
        self.database = database
        self.insert_batch_rows = insert_batch_rows
        self._client: Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect(self._dsn)
        return self._client

    def ensure_schema(self) -> None:
        """Create the database, tables and views if they do not exist."""
        for statement in ddl(self.database):
            self.command(statement)

    def command(self, sql: str) -> Any:
        with self._lock:
            return self._call(self.client.command, sql)

    def query_rows(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of a query (as tuples)."""
        with self._lock:
            result = self._call(self.client.query, sql, parameters=parameters)
        return list(result.result_rows)

    def write(self, batch: SinkBatch) -> None:
        """Insert a batch: events, anomalies and overdue marks first, then the rollup rows.

        Every table is idempotent under re-insertion, so a batch retried after a partial
        failure converges to the same content."""
        with self._lock:
            self._insert("dossier_events", EVENT_COLUMN_NAMES, batch.events)
            self._insert("lifecycle_anomalies", ANOMALY_COLUMN_NAMES, batch.anomalies)
            self._insert("dossier_overdue", OVERDUE_COLUMN_NAMES, batch.overdue)
            self._insert("unit_window_rollup", ROLLUP_COLUMN_NAMES, batch.rollups)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _insert(self, table: str, names: Sequence[str], columns: list[list[Any]]) -> None:
        total = len(columns[0])
        if total == 0:
            return
        schema = SCHEMAS[table]
        try:
            arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise SinkError(f"rows for {table} do not fit its columns: {exc}") from exc
        rows = pa.Table.from_arrays(arrays, schema=schema)
        step = self.insert_batch_rows
        for lo in range(0, total, step):
            chunk = rows if total <= step else rows.slice(lo, step)
            self._call(self.client.insert_arrow, f"{self.database}.{table}", chunk)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            # Connection refused, timeouts: the server may come back.
            self.close()
            raise SinkUnavailableError(str(exc)) from exc
        except ClickHouseError as exc:
            raise SinkError(str(exc)) from exc
        except OSError as exc:
            self.close()
            raise SinkUnavailableError(str(exc)) from exc
