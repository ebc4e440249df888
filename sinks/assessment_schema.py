"""ClickHouse schema of the period assessment: per-dossier facts, period indicators, scores.

Created with the rest of the schema (``sinks.schema.ddl`` appends :func:`assessment_ddl`).

- ``dossier_fact_states``: one row per dossier (``AggregatingMergeTree``, ORDER BY
  ``(unit_code, dossier_id)``), filled by the materialized view ``dossier_fact_states_mv`` from
  every insert into ``dossier_events``: the worker's own inserts (late events, events counted
  after their receipt arrived, replays after a crash) all land there, so a fact is never older
  than the raw events. Each column is an aggregate state that is idempotent under re-insertion
  (first receipt and first result by ``(event_time, event_id)``, latest rating, earliest
  closing status, latest event time): a replayed batch changes nothing.
- ``dossier_facts``: the view BI and the assessment read: one plain row per dossier with its
  current state (times ``DateTime64(3, 'Asia/Ho_Chi_Minh')``, ``received_at`` NULL for a
  dossier whose receipt never came).
- ``unit_scores``: one row per (period, unit) written by ``emc report`` / the assessment:
  counters, rates (fractions), points per indicator and group, total, score (0–100), level,
  rank within ministries or provinces, targets met, and the scoring version in force.
- ``unit_period_indicators``: unit × period × indicator, long form of ``unit_scores`` for BI.
"""

from __future__ import annotations

from streams.core.localtime import ZONE_NAME

TS = f"DateTime64(3, '{ZONE_NAME}')"
_ORDER = f"Tuple({TS}, String)"
"""The order key of first/latest: (event_time, event_id), so ties resolve the same way."""
RECEIPT_TUPLE = (
    f"Tuple({TS}, Nullable(String), Nullable(UInt8), Nullable(String), Nullable(String), "
    f"Nullable(Bool), Nullable({TS}), Nullable(String), Nullable(Bool))"
)
"""received_at, procedure_code, procedure_level, channel, submitter_type, via_national_portal,
due_at, fee_payment, postal_return."""
RESULT_TUPLE = (
    f"Tuple(Nullable({TS}), Nullable(Bool), Nullable(String), Nullable(Bool), Nullable(Bool), {TS})"
)
"""finished_at, electronic_result, result_channel, digitised, paid_online, result event time."""
RATING_TUPLE = f"Tuple(Nullable(String), {TS})"
"""rating, feedback event time."""

FACT_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "dossier_id",
    "received_at",
    "procedure_code",
    "procedure_level",
    "channel",
    "submitter_type",
    "via_national_portal",
    "due_at",
    "fee_payment",
    "postal_return",
    "finished_at",
    "electronic_result",
    "result_channel",
    "digitised",
    "paid_online",
    "rating",
    "rated_at",
    "feedback_events",
    "closed_at",
    "last_event_at",
    "version",
)
"""``emc.dossier_facts`` columns, in order (see :func:`assessment_ddl`)."""

SCORE_COLUMNS: tuple[str, ...] = (
    "period",
    "period_start",
    "period_end",
    "unit_code",
    "unit_kind",
    "received",
    "counters",
    "rates",
    "points",
    "group_points",
    "total",
    "score",
    "level",
    "rank",
    "targets_met",
    "partly_connected",
    "scoring_version",
    "computed_at",
)
"""``emc.unit_scores`` columns, in insert order."""


def _fact_select(db: str, where: str = "") -> str:
    """The fact states of the events in ``{db}.dossier_events`` (``where``: a filter)."""
    return f"""SELECT unit_code, dossier_id,
    argMinIfState(
        CAST((event_time, procedure_code, procedure_level, channel, submitter_type,
              via_national_portal, due_at, fee_payment, postal_return) AS {RECEIPT_TUPLE}),
        (event_time, event_id), toUInt8(event_type = 'received')) AS receipt,
    argMinIfState(
        CAST((finished_at, electronic_result, result_channel, digitised, paid_online,
              event_time) AS {RESULT_TUPLE}),
        (event_time, event_id), toUInt8(event_type = 'result_returned')) AS result,
    argMaxIfState(CAST((rating, event_time) AS {RATING_TUPLE}),
        (event_time, event_id), toUInt8(event_type = 'feedback')) AS rating,
    uniqExactIfState(event_id, toUInt8(event_type = 'feedback')) AS feedback_events,
    min(if(event_type = 'processed' AND status IN (3, 7, 8),
           CAST(event_time AS Nullable({TS})), CAST(NULL AS Nullable({TS})))) AS closed_at,
    max(event_time) AS last_event_at,
    max(ingested_at) AS version
FROM {db}.dossier_events
{where}
GROUP BY unit_code, dossier_id"""


def assessment_ddl(database: str) -> list[str]:
    """Statements that create (or leave untouched) the assessment schema in ``database``."""
    db = database
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.dossier_fact_states (
    `unit_code` LowCardinality(String),
    `dossier_id` String,
    `receipt` AggregateFunction(argMinIf, {RECEIPT_TUPLE}, {_ORDER}, UInt8),
    `result` AggregateFunction(argMinIf, {RESULT_TUPLE}, {_ORDER}, UInt8),
    `rating` AggregateFunction(argMaxIf, {RATING_TUPLE}, {_ORDER}, UInt8),
    `feedback_events` AggregateFunction(uniqExactIf, String, UInt8),
    `closed_at` SimpleAggregateFunction(min, Nullable({TS})),
    `last_event_at` SimpleAggregateFunction(max, {TS}),
    `version` SimpleAggregateFunction(max, {TS})
) ENGINE = AggregatingMergeTree
ORDER BY (unit_code, dossier_id)
COMMENT 'Per-dossier fact states from dossier_events (mv); read the dossier_facts view.'""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.dossier_fact_states_mv
TO {db}.dossier_fact_states AS
{_fact_select(db)}""",
        # A store whose events predate the view: fill the facts once (re-running is harmless:
        # every state is idempotent, and the filter makes it a no-op once facts exist).
        f"""INSERT INTO {db}.dossier_fact_states
{_fact_select(db, f"WHERE (SELECT count() FROM {db}.dossier_fact_states) = 0")}""",
        f"""CREATE VIEW IF NOT EXISTS {db}.dossier_facts AS
SELECT unit_code, dossier_id,
    if(has_receipt, r.1, NULL) AS received_at,
    r.2 AS procedure_code, r.3 AS procedure_level, r.4 AS channel, r.5 AS submitter_type,
    r.6 AS via_national_portal, r.7 AS due_at, r.8 AS fee_payment, r.9 AS postal_return,
    s.1 AS finished_at, s.2 AS electronic_result, s.3 AS result_channel, s.4 AS digitised,
    s.5 AS paid_online, g.1 AS rating, if(g.1 IS NULL, NULL, g.2) AS rated_at,
    feedback_events, closed_at, last_event_at, version
FROM (
    SELECT unit_code, dossier_id,
        argMinIfMerge(receipt) AS r,
        argMinIfMerge(result) AS s,
        argMaxIfMerge(rating) AS g,
        uniqExactIfMerge(feedback_events) AS feedback_events,
        min(closed_at) AS closed_at,
        max(last_event_at) AS last_event_at,
        max(version) AS version,
        r.1 > toDateTime64(0, 3, '{ZONE_NAME}') AS has_receipt
    FROM {db}.dossier_fact_states
    GROUP BY unit_code, dossier_id
)""",
        f"""CREATE TABLE IF NOT EXISTS {db}.unit_scores (
    `period` String,
    `period_start` {TS},
    `period_end` {TS},
    `unit_code` LowCardinality(String),
    `unit_kind` LowCardinality(String),
    `received` UInt64,
    `counters` Map(String, UInt64),
    `rates` Map(String, Nullable(Float64)),
    `points` Map(String, Float64),
    `group_points` Map(String, Float64),
    `total` Nullable(Float64),
    `score` Nullable(Float64),
    `level` LowCardinality(Nullable(String)),
    `rank` Nullable(UInt16),
    `targets_met` Map(String, Nullable(Bool)),
    `partly_connected` Bool,
    `scoring_version` LowCardinality(String),
    `computed_at` {TS}
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (period, unit_code)
COMMENT 'Per period and unit: indicators, QĐ 766 points, score 0-100, level A-E, rank; FINAL.'""",
        f"""CREATE VIEW IF NOT EXISTS {db}.unit_period_indicators AS
SELECT period, period_start, period_end, unit_code, unit_kind, scoring_version,
       kv.1 AS indicator, kv.2 AS rate, points[kv.1] AS points
FROM {db}.unit_scores FINAL
ARRAY JOIN CAST(rates AS Array(Tuple(String, Nullable(Float64)))) AS kv""",
    ]
