"""ClickHouse schema of connection health: reference data, imports, activity, status history.

Created with the rest of the schema (``sinks.schema.ddl`` appends :func:`health_ddl`). Times are
``DateTime64(3, 'Asia/Ho_Chi_Minh')`` like every other table (UTC instant stored, shown in local
time); calendar dates (``Date``) are local dates.

- ``units``: the unit registry (config/units.csv), reloaded by the worker at start.
- ``working_calendar``: one row per local date, working or not, with the day's office hours.
- ``unit_activity_hourly``: distinct events per unit, local hour and event type, and the last
  event time, filled by a materialized view from ``dossier_events`` (gap detection reads this
  instead of scanning raw events).
- ``catalogue_imports``/``catalogue_items`` and ``account_imports``/``account_items``: every
  import is a version; a version exists once its ``*_imports`` row is written (after all of its
  items), so readers never see half an import. ``catalogue_in_force``/``accounts_in_force`` are
  each unit's latest version.
- ``unit_status_history``: one row per (unit, status period): ``from_time`` inclusive,
  ``to_time`` exclusive and NULL while the period is open. ``ReplacingMergeTree(version)``:
  closing a period rewrites its row with ``to_time`` set; read with ``FINAL``.
- ``unit_connection_status``: each unit's open period (its current status, ``since``).
- ``unit_catalogue_indicators``: catalogue shares of docs/domain.md per unit.
- ``unit_status_overrides``: operator-set statuses (unit, status, reason, author, start, optional
  end, cleared); ``ReplacingMergeTree(version)``, read with ``FINAL``.
- ``unit_letters``: every reminder letter ``emc remind`` drafted (unit, letter id, number, the
  status and reasons it states, since when, the deadline, who and when, the files written); one
  row per letter, never rewritten. Shown in the unit's status history (``emc status UNIT``).
"""

from __future__ import annotations

from streams.core.localtime import ZONE_NAME

TZ = ZONE_NAME
TS = f"DateTime64(3, '{TZ}')"

UNIT_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "name_vi",
    "kind",
    "valid_from",
    "valid_to",
    "vendor",
    "position",
)
CALENDAR_COLUMNS: tuple[str, ...] = ("day", "working", "open_at", "close_at", "holiday")
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "version",
    "row_number",
    "name",
    "level",
    "url",
    "id_cdvcqg",
    "id_mcdt",
)
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "version",
    "row_number",
    "id_local",
    "id_qg",
    "type",
    "created_at",
    "last_login",
)
IMPORT_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "version",
    "imported_at",
    "file_name",
    "rows",
    "sha256",
)
HISTORY_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "status",
    "status_label",
    "reason_code",
    "reason",
    "from_time",
    "to_time",
    "last_event_at",
    "version",
)

OVERRIDE_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "override_id",
    "status",
    "reason",
    "author",
    "start_time",
    "end_time",
    "created_at",
    "cleared_at",
    "cleared_by",
    "version",
)

LETTER_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "letter_id",
    "number",
    "status",
    "status_label",
    "reason_code",
    "reasons",
    "since",
    "as_of",
    "deadline",
    "created_at",
    "author",
    "html_path",
    "docx_path",
)
"""``emc.unit_letters`` columns, in insert order: ``reasons`` is a JSON array of the letter's
reasons (``code``, ``text``, ``since_ms``, ``numbers``); ``since`` the start of the status it
states, ``as_of`` the instant its data are from, ``deadline`` the local date to act by."""


def _imports_ddl(database: str, kind: str, items_sql: str, order_by: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {database}.{kind}_imports (
    `unit_code` LowCardinality(String),
    `version` UInt32,
    `imported_at` {TS},
    `file_name` String,
    `rows` UInt32,
    `sha256` String
) ENGINE = MergeTree ORDER BY (unit_code, version)
COMMENT 'One row per {kind} import (a version); written after all of its items.'""",
        f"""CREATE TABLE IF NOT EXISTS {database}.{kind}_items (
    `unit_code` LowCardinality(String),
    `version` UInt32,
    `row_number` UInt32,
    {items_sql}
) ENGINE = MergeTree ORDER BY (unit_code, version, {order_by})
COMMENT 'Rows of every {kind} import version; row_number is the spreadsheet row.'""",
    ]


def _in_force_view(database: str, kind: str, view: str) -> str:
    return f"""CREATE VIEW IF NOT EXISTS {database}.{view} AS
SELECT i.*, l.imported_at AS imported_at, l.file_name AS file_name
FROM {database}.{kind}_items AS i
INNER JOIN (
    SELECT unit_code AS latest_unit, max(version) AS latest_version,
           argMax(imported_at, version) AS imported_at, argMax(file_name, version) AS file_name
    FROM {database}.{kind}_imports GROUP BY unit_code
) AS l ON i.unit_code = l.latest_unit AND i.version = l.latest_version"""


def health_ddl(database: str) -> list[str]:
    """Statements that create (or leave untouched) the health schema in ``database``."""
    db = database
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.units (
    `unit_code` LowCardinality(String),
    `name_vi` String,
    `kind` LowCardinality(String),
    `valid_from` Date,
    `valid_to` Nullable(Date),
    `vendor` Nullable(String),
    `position` UInt16
) ENGINE = MergeTree ORDER BY unit_code
COMMENT 'The unit registry (config/units.csv), replaced by the worker at start.'""",
        f"""CREATE TABLE IF NOT EXISTS {db}.working_calendar (
    `day` Date,
    `working` Bool,
    `open_at` {TS},
    `close_at` {TS},
    `holiday` String
) ENGINE = MergeTree ORDER BY day
COMMENT 'Local dates: working day or not, office hours; replaced by the worker at start.'""",
        f"""CREATE TABLE IF NOT EXISTS {db}.unit_activity_hourly (
    `unit_code` LowCardinality(String),
    `hour` DateTime('{TZ}'),
    `event_type` LowCardinality(String),
    `events` AggregateFunction(uniqExact, String),
    `last_event_at` SimpleAggregateFunction(max, {TS})
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (unit_code, hour, event_type)
COMMENT 'Distinct events per unit and local hour (gap detection); uniqExactMerge(events).'""",
        f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.unit_activity_hourly_mv
TO {db}.unit_activity_hourly AS
SELECT unit_code, toStartOfHour(event_time) AS hour, event_type,
       uniqExactState(event_id) AS events, max(event_time) AS last_event_at
FROM {db}.dossier_events
GROUP BY unit_code, hour, event_type""",
        *_imports_ddl(
            db,
            "catalogue",
            """`name` String,
    `level` UInt8,
    `url` Nullable(String),
    `id_cdvcqg` Nullable(String),
    `id_mcdt` String""",
            "id_mcdt",
        ),
        *_imports_ddl(
            db,
            "account",
            f"""`id_local` String,
    `id_qg` Nullable(String),
    `type` UInt8,
    `created_at` Nullable({TS}),
    `last_login` Nullable({TS})""",
            "id_local",
        ),
        _in_force_view(db, "catalogue", "catalogue_in_force"),
        _in_force_view(db, "account", "accounts_in_force"),
        f"""CREATE TABLE IF NOT EXISTS {db}.unit_status_history (
    `unit_code` LowCardinality(String),
    `status` LowCardinality(String),
    `status_label` String,
    `reason_code` LowCardinality(String),
    `reason` String,
    `from_time` {TS},
    `to_time` Nullable({TS}),
    `last_event_at` Nullable({TS}),
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (unit_code, from_time)
COMMENT 'Status periods per unit [from_time, to_time); to_time NULL = current; read FINAL.'""",
        f"""CREATE TABLE IF NOT EXISTS {db}.unit_status_overrides (
    `unit_code` LowCardinality(String),
    `override_id` String,
    `status` LowCardinality(String),
    `reason` String,
    `author` String,
    `start_time` {TS},
    `end_time` Nullable({TS}),
    `created_at` {TS},
    `cleared_at` Nullable({TS}),
    `cleared_by` Nullable(String),
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (unit_code, override_id)
COMMENT 'Operator-set statuses; in force from start_time until end_time/cleared_at; read FINAL.'""",
        f"""CREATE TABLE IF NOT EXISTS {db}.unit_letters (
    `unit_code` LowCardinality(String),
    `letter_id` String,
    `number` String,
    `status` LowCardinality(String),
    `status_label` String,
    `reason_code` LowCardinality(String),
    `reasons` String,
    `since` Nullable({TS}),
    `as_of` {TS},
    `deadline` Date,
    `created_at` {TS},
    `author` String,
    `html_path` String,
    `docx_path` String
) ENGINE = ReplacingMergeTree
ORDER BY (unit_code, created_at, letter_id)
COMMENT 'Reminder letters (emc remind): status, reasons (JSON), since, deadline, files.'""",
        f"""CREATE VIEW IF NOT EXISTS {db}.unit_connection_status AS
SELECT h.unit_code AS unit_code, h.status AS status, h.status_label AS status_label,
       h.reason_code AS reason_code, h.reason AS reason, h.from_time AS since,
       a.last_event_at AS last_event_at
FROM (SELECT * FROM {db}.unit_status_history FINAL WHERE to_time IS NULL) AS h
LEFT JOIN (
    SELECT unit_code, max(last_event_at) AS last_event_at
    FROM {db}.unit_activity_hourly GROUP BY unit_code
) AS a ON a.unit_code = h.unit_code
SETTINGS join_use_nulls = 1""",
        f"""CREATE VIEW IF NOT EXISTS {db}.unit_catalogue_indicators AS
SELECT c.unit_code AS unit_code,
       count() AS catalogue_size,
       countIf(c.level IN (3, 4)) AS online_procedures,
       countIf(c.level = 4) AS fully_online_procedures,
       countIf(c.level IN (3, 4) AND d.procedure_code != '') AS online_with_online_dossiers,
       online_procedures / nullIf(catalogue_size, 0) AS online_share,
       fully_online_procedures / nullIf(online_procedures, 0) AS fully_online_share,
       online_with_online_dossiers / nullIf(online_procedures, 0) AS used_online_share
FROM {db}.catalogue_in_force AS c
LEFT JOIN (
    SELECT DISTINCT unit_code, assumeNotNull(procedure_code) AS procedure_code
    FROM {db}.dossier_events FINAL
    WHERE event_type = 'received' AND channel = 'online' AND procedure_code IS NOT NULL
) AS d ON d.unit_code = c.unit_code AND d.procedure_code = c.id_mcdt
GROUP BY c.unit_code""",
    ]
