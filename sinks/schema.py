"""ClickHouse schema owned by the project: created (idempotently) at worker start.

Times: every instant is ``DateTime64(3, 'Asia/Ho_Chi_Minh')``. ClickHouse stores the UTC instant
and renders it in Vietnam's local time, so ``toDate(window_start)`` is the local calendar date
and day windows start at local midnight. ``ingested_at``/``updated_at`` are wall-clock instants.
"""

from __future__ import annotations

from sinks.assessment_schema import assessment_ddl
from sinks.health_schema import health_ddl
from streams.core.indicators import COUNTERS, RATES
from streams.core.localtime import ZONE_NAME
from streams.core.rows import (
    ANOMALY_LAYOUT,
    DEAD_LETTER_LAYOUT,
    EVENT_LAYOUT,
    OVERDUE_LAYOUT,
    ROLLUP_LAYOUT,
)

TZ = ZONE_NAME
TS = f"DateTime64(3, '{TZ}')"

Columns = tuple[tuple[str, str], ...]
"""A table's ``(column name, ClickHouse type)`` pairs, in insert order."""


def typed(table: str, layout: tuple[str, ...], types: dict[str, str]) -> Columns:
    """``layout``'s names (:mod:`streams.core.rows`) paired with their ClickHouse types.

    Raises ``ValueError`` at import when a name has no type or a type names no column, so the
    core's layout and the table's DDL cannot drift apart."""
    missing = [name for name in layout if name not in types]
    extra = [name for name in types if name not in layout]
    if missing or extra:
        raise ValueError(f"{table}: no type for {missing}, type for unknown columns {extra}")
    return tuple((name, types[name]) for name in layout)


EVENT_COLUMNS: Columns = typed(
    "dossier_events",
    EVENT_LAYOUT,
    {
        "event_type": "LowCardinality(String)",
        "event_id": "String",
        "unit_code": "LowCardinality(String)",
        "dossier_id": "String",
        "event_time": TS,
        "procedure_code": "Nullable(String)",
        "procedure_level": "Nullable(UInt8)",
        "channel": "LowCardinality(Nullable(String))",
        "submitter_type": "LowCardinality(Nullable(String))",
        "submitter_id_local": "Nullable(String)",
        "submitter_id_qg": "Nullable(String)",
        "via_national_portal": "Nullable(Bool)",
        "due_at": f"Nullable({TS})",
        "fee_payment": "LowCardinality(Nullable(String))",
        "postal_return": "Nullable(Bool)",
        "procedure_name": "Nullable(String)",
        "status": "Nullable(UInt8)",
        "step_name": "Nullable(String)",
        "supplement_requested": "Nullable(Bool)",
        "finished_at": f"Nullable({TS})",
        "electronic_result": "Nullable(Bool)",
        "result_channel": "LowCardinality(Nullable(String))",
        "digitised": "Nullable(Bool)",
        "paid_online": "Nullable(Bool)",
        "rating": "LowCardinality(Nullable(String))",
        "complaint": "Nullable(Bool)",
        "encoding": "LowCardinality(String)",
        "source_partition": "UInt16",
        "source_offset": "Int64",
        "counted_windows": "UInt8",
        "ingested_at": TS,
    },
)
"""``emc.dossier_events`` columns. Event fields keep the Avro names.

``counted_windows`` is a bit set of the rollup windows the event was counted in (1 = 1m,
2 = 1h, 4 = 1d; 0 for events that are not receipts or came too late): the rollups can be
recomputed exactly from the rows whose bit is set.
"""

ROLLUP_COLUMNS: Columns = typed(
    "unit_window_rollup",
    ROLLUP_LAYOUT,
    {
        "unit_code": "LowCardinality(String)",
        "window": "LowCardinality(String)",
        "window_start": TS,
        "window_end": TS,
        **dict.fromkeys(COUNTERS, "UInt64"),
        **dict.fromkeys(RATES, "Nullable(Float64)"),
        "updated_at": TS,
        "version": "UInt64",
    },
)
"""``emc.unit_window_rollup`` columns. Counters and rates are defined in
:mod:`streams.core.indicators`: rates are fractions in [0, 1], ``avg_processing_s`` is seconds,
``processing_ms_sum`` milliseconds."""

ANOMALY_COLUMNS: Columns = typed(
    "lifecycle_anomalies",
    ANOMALY_LAYOUT,
    {
        "unit_code": "LowCardinality(String)",
        "dossier_id": "String",
        "event_id": "String",
        "event_type": "LowCardinality(String)",
        "reason": "LowCardinality(String)",
        "detail": "String",
        "event_time": TS,
        "detected_at": TS,
    },
)
"""``emc.lifecycle_anomalies`` columns: one row per (dossier, event, reason)."""

OVERDUE_COLUMNS: Columns = typed(
    "dossier_overdue",
    OVERDUE_LAYOUT,
    {
        "unit_code": "LowCardinality(String)",
        "dossier_id": "String",
        "received_at": TS,
        "due_at": TS,
        "marked_windows": "UInt8",
        "cleared_windows": "UInt8",
        "marked_at": TS,
        "version": "UInt64",
    },
)
"""``emc.dossier_overdue`` columns (see :data:`streams.core.rows.OVERDUE_LAYOUT`)."""

DEAD_LETTER_COLUMNS: Columns = typed(
    "dead_letters",
    DEAD_LETTER_LAYOUT,
    {
        "source_topic": "LowCardinality(String)",
        "source_partition": "UInt16",
        "source_offset": "Int64",
        "kind": "LowCardinality(String)",
        "reason": "LowCardinality(String)",
        "detail": "String",
        "unit_code": "LowCardinality(Nullable(String))",
        "message_key": "Nullable(String)",
        "message_time": f"Nullable({TS})",
        "original_size": "UInt32",
        "original_prefix_b64": "String",
        "rejected_at": TS,
    },
)
"""``emc.dead_letters`` columns (see :data:`streams.core.rows.DEAD_LETTER_LAYOUT`)."""

TABLE_COLUMNS: dict[str, Columns] = {
    "dossier_events": EVENT_COLUMNS,
    "unit_window_rollup": ROLLUP_COLUMNS,
    "lifecycle_anomalies": ANOMALY_COLUMNS,
    "dossier_overdue": OVERDUE_COLUMNS,
    "dead_letters": DEAD_LETTER_COLUMNS,
}
"""The tables a :class:`~streams.core.rows.RowBatch` fills, with their typed columns."""


def _columns_sql(columns: Columns) -> str:
    return ",\n    ".join(f"`{name}` {kind}" for name, kind in columns)


def ddl(database: str) -> list[str]:
    """Statements that create (or leave untouched) the whole schema in ``database``."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"""CREATE TABLE IF NOT EXISTS {database}.dossier_events (
    {_columns_sql(EVENT_COLUMNS)}
) ENGINE = ReplacingMergeTree(counted_windows)
PARTITION BY toYYYYMM(event_time)
ORDER BY (unit_code, event_type, event_id)
COMMENT 'One row per distinct event_id of the four lifecycle topics; read with FINAL.'""",
        f"""CREATE TABLE IF NOT EXISTS {database}.unit_window_rollup (
    {_columns_sql(ROLLUP_COLUMNS)}
) ENGINE = ReplacingMergeTree(version)
PARTITION BY (window, toYYYYMM(window_start))
ORDER BY (window, unit_code, window_start)
COMMENT 'Full-state per-unit window rows (1m, 1h, 1d); highest version wins; read FINAL.'""",
        f"""CREATE TABLE IF NOT EXISTS {database}.lifecycle_anomalies (
    {_columns_sql(ANOMALY_COLUMNS)}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (unit_code, reason, dossier_id, event_id)
COMMENT 'Impossible dossier lifecycles: a result with no receipt, a status going backwards, ...'""",
        f"""CREATE TABLE IF NOT EXISTS {database}.dossier_overdue (
    {_columns_sql(OVERDUE_COLUMNS)}
) ENGINE = ReplacingMergeTree(version)
ORDER BY (unit_code, dossier_id)
COMMENT 'Dossiers counted in overdue_open, and where that was undone; read with FINAL.'""",
        f"""CREATE TABLE IF NOT EXISTS {database}.dead_letters (
    {_columns_sql(DEAD_LETTER_COLUMNS)}
) ENGINE = ReplacingMergeTree(rejected_at)
ORDER BY (source_topic, source_partition, source_offset)
COMMENT 'Rejected records (dead letters, late events) by topic, partition, offset; read FINAL.'""",
        f"""CREATE VIEW IF NOT EXISTS {database}.unit_rejects AS
SELECT coalesce(unit_code, '') AS unit_code, kind, reason, count() AS messages,
       min(rejected_at) AS first_at, max(rejected_at) AS last_at, any(detail) AS example_detail
FROM {database}.dead_letters FINAL
GROUP BY unit_code, kind, reason""",
        f"""CREATE VIEW IF NOT EXISTS {database}.unit_rollup_latest AS
SELECT * FROM {database}.unit_window_rollup FINAL""",
        *health_ddl(database),
        *assessment_ddl(database),
    ]
