"""ClickHouse schema owned by the project: created (idempotently) at worker start.

Times: every instant is ``DateTime64(3, 'Asia/Ho_Chi_Minh')``. ClickHouse stores the UTC instant
and renders it in Vietnam's local time, so ``toDate(window_start)`` is the local calendar date
and day windows start at local midnight. ``ingested_at``/``updated_at`` are wall-clock instants.
"""

from __future__ import annotations

from sinks.health_schema import health_ddl
from streams.core.indicators import COUNTERS, RATES

TZ = "Asia/Ho_Chi_Minh"
TS = f"DateTime64(3, '{TZ}')"

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_type", "LowCardinality(String)"),
    ("event_id", "String"),
    ("unit_code", "LowCardinality(String)"),
    ("dossier_id", "String"),
    ("event_time", TS),
    # received
    ("procedure_code", "Nullable(String)"),
    ("procedure_level", "Nullable(UInt8)"),
    ("channel", "LowCardinality(Nullable(String))"),
    ("submitter_type", "LowCardinality(Nullable(String))"),
    ("submitter_id_local", "Nullable(String)"),
    ("submitter_id_qg", "Nullable(String)"),
    ("via_national_portal", "Nullable(Bool)"),
    ("due_at", f"Nullable({TS})"),
    ("fee_payment", "LowCardinality(Nullable(String))"),
    ("postal_return", "Nullable(Bool)"),
    ("procedure_name", "Nullable(String)"),
    # processed
    ("status", "Nullable(UInt8)"),
    ("step_name", "Nullable(String)"),
    ("supplement_requested", "Nullable(Bool)"),
    # result returned
    ("finished_at", f"Nullable({TS})"),
    ("electronic_result", "Nullable(Bool)"),
    ("result_channel", "LowCardinality(Nullable(String))"),
    ("digitised", "Nullable(Bool)"),
    ("paid_online", "Nullable(Bool)"),
    # feedback
    ("rating", "LowCardinality(Nullable(String))"),
    ("complaint", "Nullable(Bool)"),
    # lineage
    ("encoding", "LowCardinality(String)"),
    ("source_partition", "UInt16"),
    ("source_offset", "Int64"),
    ("counted_windows", "UInt8"),
    ("ingested_at", TS),
)
"""``emc.dossier_events`` columns, in insert order. Event fields keep the Avro names.

``counted_windows`` is a bit set of the rollup windows the event was counted in (1 = 1m,
2 = 1h, 4 = 1d; 0 for events that are not receipts or came too late): the rollups can be
recomputed exactly from the rows whose bit is set.
"""

COUNTED_BIT: dict[str, int] = {"1m": 1, "1h": 2, "1d": 4}

ROLLUP_COUNTERS: tuple[str, ...] = COUNTERS
ROLLUP_RATES: tuple[str, ...] = tuple(RATES)
ROLLUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit_code", "LowCardinality(String)"),
    ("window", "LowCardinality(String)"),
    ("window_start", TS),
    ("window_end", TS),
    *((name, "UInt64") for name in ROLLUP_COUNTERS),
    *((name, "Nullable(Float64)") for name in ROLLUP_RATES),
    ("updated_at", TS),
    ("version", "UInt64"),
)
"""``emc.unit_window_rollup`` columns, in insert order. Counters and rates are defined in
:mod:`streams.core.indicators`: rates are fractions in [0, 1], ``avg_processing_s`` is seconds,
``processing_ms_sum`` milliseconds."""

ANOMALY_REASONS: tuple[str, ...] = (
    "processed_without_receipt",
    "result_without_receipt",
    "feedback_without_receipt",
    "status_backwards",
    "result_before_receipt",
)
"""Why a lifecycle is impossible (``emc.lifecycle_anomalies.reason``)."""

ANOMALY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit_code", "LowCardinality(String)"),
    ("dossier_id", "String"),
    ("event_id", "String"),
    ("event_type", "LowCardinality(String)"),
    ("reason", "LowCardinality(String)"),
    ("detail", "String"),
    ("event_time", TS),
    ("detected_at", TS),
)
"""``emc.lifecycle_anomalies`` columns: one row per (dossier, event, reason)."""

OVERDUE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit_code", "LowCardinality(String)"),
    ("dossier_id", "String"),
    ("received_at", TS),
    ("due_at", TS),
    ("marked_windows", "UInt8"),
    ("cleared_windows", "UInt8"),
    ("marked_at", TS),
    ("version", "UInt64"),
)
"""``emc.dossier_overdue`` columns: open dossiers that passed their due time.

``marked_windows`` are the windows (bits as ``counted_windows``) whose ``overdue_open`` counted
the dossier; ``cleared_windows`` those where a later result took it out again. ``marked_at`` is
the unit's event-time watermark when the due time passed."""


def _columns_sql(columns: tuple[tuple[str, str], ...]) -> str:
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
        f"""CREATE VIEW IF NOT EXISTS {database}.unit_rollup_latest AS
SELECT * FROM {database}.unit_window_rollup FINAL""",
        *health_ddl(database),
    ]
