"""Gap detection and the status rules in ClickHouse, and the status history they write.

Everything is evaluated *as of* an instant ``at_ms`` (epoch ms, UTC) passed as a query parameter,
so the worker uses "now" and tests use chosen instants. Only events whose ``event_time`` is at or
before ``at_ms`` count: silence is judged on event time (when the TTHC system says the step
happened), so back-filled batches repair the picture instead of hiding a gap.

The rules, in docs/domain.md's order (thresholds from :class:`~streams.settings.HealthSettings`):

1. ``not_connected``: no event ever (up to ``at``).
2. ``interrupted``: more than ``silence_working_hours`` office hours since the last event (office
   hours from ``working_calendar``: weekends, holidays and nights do not count), or - on a working
   day - today's distinct events before the current hour under ``volume_drop_ratio`` × the median
   of the same hours on the same weekday over the previous ``trailing_weeks`` weeks (working days
   only, empty days counting as 0; only when that median reaches ``volume_min_baseline_events``).
3. ``needs_reconciliation``: over the trailing ``reconciliation_days``, more than
   ``unknown_procedure_share`` of receipts name a procedure code missing from the unit's catalogue
   in force (only once a catalogue was imported), or more than ``impossible_lifecycle_share`` of
   the dossiers with events have a row in ``lifecycle_anomalies``.
4. ``not_comprehensive``: receipts but no result event over that window, or, with a catalogue,
   under ``catalogue_coverage_min`` of its online procedures (level 3 or 4) have any receipt.
5. ``fully_connected``.

Rule 3's third test, the unit's reported totals differing from EMC's counts beyond the tolerance,
is applied after this query by :func:`streams.health.totals.apply_reported_totals`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sinks.clickhouse import ClickHouseSink
from sinks.health_schema import CALENDAR_COLUMNS, HISTORY_COLUMNS, UNIT_COLUMNS
from streams.core.localtime import ZONE_NAME
from streams.core.registry import UnitRegistry
from streams.health.calendar import WorkingCalendar
from streams.health.statuses import STATUS_LABELS, UnitStatus
from streams.settings import HealthSettings

AT = f"fromUnixTimestamp64Milli({{at_ms:Int64}}, '{ZONE_NAME}')"
"""The evaluation instant inside the SQL (a query parameter, epoch ms)."""


def load_reference(sink: ClickHouseSink, registry: UnitRegistry, calendar: WorkingCalendar) -> None:
    """Replace ``units`` and ``working_calendar`` with the registry and the calendar."""
    db = sink.database
    units = registry.units
    sink.command(f"TRUNCATE TABLE IF EXISTS {db}.units")
    sink.insert_columns(
        "units",
        UNIT_COLUMNS,
        [
            [u.code for u in units],
            [u.name_vi for u in units],
            [u.kind for u in units],
            [u.valid_from for u in units],
            [u.valid_to for u in units],
            [u.vendor for u in units],
            list(range(1, len(units) + 1)),
        ],
    )
    days = calendar.days()
    sink.command(f"TRUNCATE TABLE IF EXISTS {db}.working_calendar")
    sink.insert_columns(
        "working_calendar",
        CALENDAR_COLUMNS,
        [
            [d.day for d in days],
            [d.working for d in days],
            [d.open_ms for d in days],
            [d.close_ms for d in days],
            [d.holiday for d in days],
        ],
    )


def backfill_activity(sink: ClickHouseSink) -> None:
    """Fill ``unit_activity_hourly`` from existing events when it is empty (first start after
    an upgrade). Re-adding an event merges into the same distinct-count state, so a concurrent
    insert through the materialized view is not counted twice."""
    db = sink.database
    if sink.query_rows(f"SELECT count() FROM {db}.unit_activity_hourly")[0][0]:
        return
    sink.command(
        f"""INSERT INTO {db}.unit_activity_hourly
SELECT unit_code, toStartOfHour(event_time), event_type, uniqExactState(event_id), max(event_time)
FROM {db}.dossier_events GROUP BY unit_code, toStartOfHour(event_time), event_type"""
    )


def evaluation_sql(database: str, health: HealthSettings) -> str:
    """The rules as one query with parameter ``at_ms`` (Int64, epoch ms); one row per unit valid
    on ``at``'s local date, columns in :class:`~streams.health.statuses.UnitStatus` order."""
    db = database
    h = health
    window = f"event_time > {AT} - INTERVAL {int(h.reconciliation_days)} DAY AND event_time <= {AT}"
    silence_ms = int(h.silence_working_hours * 3_600_000)
    never = "s.last_event_at IS NULL"
    silent = f"silent_ms > {silence_ms}"
    dropped = (
        f"today_working = 1 AND usual_events >= {int(h.volume_min_baseline_events)} "
        f"AND today_events < {float(h.volume_drop_ratio)!r} * usual_events"
    )
    unknown = (
        f"catalogue_size > 0 AND receipts > 0 "
        f"AND unknown_receipts / receipts > {float(h.unknown_procedure_share)!r}"
    )
    impossible = (
        f"dossiers > 0 AND anomalous_dossiers / dossiers > {float(h.impossible_lifecycle_share)!r}"
    )
    no_results = "receipts > 0 AND results = 0"
    low_coverage = (
        f"online_procedures > 0 "
        f"AND covered_procedures / online_procedures < {float(h.catalogue_coverage_min)!r}"
    )
    return f"""
WITH
u AS (
    SELECT unit_code, position FROM {db}.units
    WHERE valid_from <= toDate({AT}) AND (valid_to IS NULL OR valid_to >= toDate({AT}))
),
seen AS (
    SELECT unit_code, max(t) AS last_event_at FROM (
        SELECT unit_code, max(last_event_at) AS t FROM {db}.unit_activity_hourly
        WHERE hour < toStartOfHour({AT}) GROUP BY unit_code
        UNION ALL
        SELECT unit_code, max(event_time) AS t FROM {db}.dossier_events
        WHERE event_time >= toStartOfHour({AT}) AND event_time <= {AT} GROUP BY unit_code
    ) GROUP BY unit_code
),
silence AS (
    SELECT s.unit_code AS unit_code,
           sum(greatest(toInt64(0),
               toUnixTimestamp64Milli(least(c.close_at, {AT}))
               - toUnixTimestamp64Milli(greatest(c.open_at, s.last_event_at)))) AS silent_ms
    FROM seen AS s
    CROSS JOIN (
        SELECT day, open_at, close_at FROM {db}.working_calendar
        WHERE working AND day <= toDate({AT}) AND day >= toDate({AT}) - 366
    ) AS c
    WHERE c.day >= toDate(s.last_event_at)
    GROUP BY s.unit_code
),
ref_days AS (
    SELECT w, toDate({AT}) - 7 * w AS day
    FROM (SELECT arrayJoin(range(0, {int(h.trailing_weeks) + 1})) AS w)
    WHERE day IN (SELECT day FROM {db}.working_calendar WHERE working)
),
daily AS (
    SELECT unit_code, toDate(hour) AS day, uniqExactMerge(events) AS n
    FROM {db}.unit_activity_hourly
    WHERE toDate(hour) IN (SELECT day FROM ref_days) AND toHour(hour) < toHour({AT})
    GROUP BY unit_code, day
),
vol AS (
    SELECT u.unit_code AS unit_code,
           toInt64(sumIf(coalesce(d.n, 0), r.w = 0)) AS today_events,
           countIf(r.w = 0) AS today_working,
           quantileExactInclusiveIf(0.5)(toFloat64(coalesce(d.n, 0)), r.w > 0) AS usual_raw
    FROM u CROSS JOIN ref_days AS r
    LEFT JOIN daily AS d ON d.unit_code = u.unit_code AND d.day = r.day
    GROUP BY u.unit_code
),
cat AS (
    SELECT unit_code, id_mcdt, level FROM {db}.catalogue_in_force
),
ev AS (
    SELECT unit_code, event_type, dossier_id, procedure_code
    FROM {db}.dossier_events FINAL WHERE {window}
),
recv AS (
    SELECT e.unit_code AS unit_code, count() AS receipts,
           countIf(c.id_mcdt IS NULL) AS unknown_receipts
    FROM (SELECT unit_code, procedure_code FROM ev WHERE event_type = 'received') AS e
    LEFT JOIN cat AS c ON c.unit_code = e.unit_code AND c.id_mcdt = e.procedure_code
    GROUP BY e.unit_code
),
life AS (
    SELECT unit_code, uniqExact(dossier_id) AS dossiers,
           countIf(event_type = 'result_returned') AS results
    FROM ev GROUP BY unit_code
),
anom AS (
    SELECT unit_code, uniqExact(dossier_id) AS anomalous_dossiers
    FROM {db}.lifecycle_anomalies FINAL WHERE {window} GROUP BY unit_code
),
catalogue AS (
    SELECT unit_code, count() AS catalogue_size, countIf(level IN (3, 4)) AS online_procedures,
           countIf(level IN (3, 4) AND (unit_code, id_mcdt) IN (
               SELECT unit_code, assumeNotNull(procedure_code) FROM ev
               WHERE event_type = 'received' AND procedure_code IS NOT NULL
           )) AS covered_procedures
    FROM cat GROUP BY unit_code
),
measured AS (
    SELECT u.unit_code AS unit_code, u.position AS position, s.last_event_at AS last_event_at,
           toInt64(coalesce(g.silent_ms, 0)) AS silent_ms,
           coalesce(v.today_events, 0) AS today_events,
           coalesce(v.today_working, 0) AS today_working,
           if(isFinite(coalesce(v.usual_raw, nan)), v.usual_raw, 0.0) AS usual_events,
           toInt64(coalesce(r.receipts, 0)) AS receipts,
           toInt64(coalesce(r.unknown_receipts, 0)) AS unknown_receipts,
           toInt64(coalesce(l.dossiers, 0)) AS dossiers,
           toInt64(coalesce(a.anomalous_dossiers, 0)) AS anomalous_dossiers,
           toInt64(coalesce(l.results, 0)) AS results,
           toInt64(coalesce(k.catalogue_size, 0)) AS catalogue_size,
           toInt64(coalesce(k.online_procedures, 0)) AS online_procedures,
           toInt64(coalesce(k.covered_procedures, 0)) AS covered_procedures
    FROM u
    LEFT JOIN seen AS s ON s.unit_code = u.unit_code
    LEFT JOIN silence AS g ON g.unit_code = u.unit_code
    LEFT JOIN vol AS v ON v.unit_code = u.unit_code
    LEFT JOIN recv AS r ON r.unit_code = u.unit_code
    LEFT JOIN life AS l ON l.unit_code = u.unit_code
    LEFT JOIN anom AS a ON a.unit_code = u.unit_code
    LEFT JOIN catalogue AS k ON k.unit_code = u.unit_code
)
SELECT unit_code,
       multiIf({never}, 'not_connected', {silent} OR {dropped}, 'interrupted',
               {unknown} OR {impossible}, 'needs_reconciliation',
               {no_results} OR {low_coverage}, 'not_comprehensive',
               'fully_connected') AS status,
       multiIf({never}, 'never_sent', {silent}, 'silent_working_hours', {dropped}, 'volume_drop',
               {unknown}, 'unknown_procedures', {impossible}, 'impossible_lifecycles',
               {no_results}, 'no_results', {low_coverage}, 'low_catalogue_coverage',
               'ok') AS reason_code,
       toUnixTimestamp64Milli(last_event_at) AS last_event_at_ms,
       silent_ms, today_events, usual_events, receipts, unknown_receipts, dossiers,
       anomalous_dossiers, results, catalogue_size, online_procedures, covered_procedures
FROM measured AS s
ORDER BY position
SETTINGS join_use_nulls = 1
"""


def evaluate(sink: ClickHouseSink, health: HealthSettings, at_ms: int) -> list[UnitStatus]:
    """Every valid unit's status as of ``at_ms`` (epoch ms, UTC), in registry order."""
    rows = sink.query_rows(evaluation_sql(sink.database, health), {"at_ms": int(at_ms)})
    return [
        UnitStatus(
            unit_code=r[0],
            status=r[1],
            reason_code=r[2],
            last_event_at_ms=None if r[3] is None else int(r[3]),
            silent_ms=int(r[4]),
            today_events=int(r[5]),
            usual_events=float(r[6]),
            receipts=int(r[7]),
            unknown_receipts=int(r[8]),
            dossiers=int(r[9]),
            anomalous_dossiers=int(r[10]),
            results=int(r[11]),
            catalogue_size=int(r[12]),
            online_procedures=int(r[13]),
            covered_procedures=int(r[14]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change written to ``unit_status_history`` (times epoch ms, UTC)."""

    unit_code: str
    from_status: str | None
    to_status: str
    at_ms: int


def record(sink: ClickHouseSink, statuses: list[UnitStatus], at_ms: int) -> list[Transition]:
    """Write the periods that ``statuses`` (evaluated as of ``at_ms``) open or close.

    A unit whose status is unchanged is left alone. An evaluation older than a unit's open period
    (clocks going backwards, an out-of-order replay) does not rewrite that unit's history.
    """
    db = sink.database
    open_rows = {
        r[0]: r
        for r in sink.query_rows(
            "SELECT unit_code, status, status_label, reason_code, reason, "
            "toUnixTimestamp64Milli(from_time), toUnixTimestamp64Milli(last_event_at) "
            f"FROM {db}.unit_status_history FINAL WHERE to_time IS NULL"
        )
    }
    version = time.time_ns()
    rows: list[list[Any]] = []
    transitions: list[Transition] = []
    for s in statuses:
        current = open_rows.get(s.unit_code)
        same = current is not None and current[1] == s.status
        # an override imposing the status the rules give still opens (and ends) a period of
        # its own, so the history says who decided
        if same and current is not None:
            same = (current[3] == "operator_override") == (s.reason_code == "operator_override")
        if current is not None and (same or current[5] >= at_ms):
            continue
        if current is not None:
            code, status, label, reason_code, reason, from_ms, last_ms = current
            rows.append(
                [code, status, label, reason_code, reason, from_ms, at_ms, last_ms, version]
            )
        rows.append(
            [
                s.unit_code,
                s.status,
                s.status_label or STATUS_LABELS[s.status],
                s.reason_code,
                s.reason,
                at_ms,
                None,
                s.last_event_at_ms,
                version + 1,
            ]
        )
        transitions.append(
            Transition(s.unit_code, current[1] if current else None, s.status, at_ms)
        )
    if rows:
        sink.insert_columns(
            "unit_status_history",
            HISTORY_COLUMNS,
            [list(col) for col in zip(*rows, strict=True)],
        )
    return transitions


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """A unit's status period from the history (times epoch ms, UTC; ``to_ms`` None = open)."""

    unit_code: str
    status: str
    reason_code: str
    reason: str
    from_ms: int
    to_ms: int | None
    last_event_at_ms: int | None


def history_at(sink: ClickHouseSink, at_ms: int | None = None) -> dict[str, StatusPeriod]:
    """Each unit's period in force at ``at_ms`` (or the open one when ``None``), by unit code."""
    where = (
        "to_time IS NULL"
        if at_ms is None
        else f"from_time <= {AT} AND (to_time IS NULL OR to_time > {AT})"
    )
    rows = sink.query_rows(
        "SELECT unit_code, status, reason_code, reason, toUnixTimestamp64Milli(from_time), "
        "toUnixTimestamp64Milli(to_time), toUnixTimestamp64Milli(last_event_at) "
        f"FROM {sink.database}.unit_status_history FINAL WHERE {where}",
        None if at_ms is None else {"at_ms": int(at_ms)},
    )
    return {r[0]: StatusPeriod(*r) for r in rows}


def history(sink: ClickHouseSink, unit_code: str | None = None) -> list[StatusPeriod]:
    """Every status period (of one unit, or all), ordered by unit and start."""
    where = "" if unit_code is None else "WHERE unit_code = {unit:String}"
    rows = sink.query_rows(
        "SELECT unit_code, status, reason_code, reason, toUnixTimestamp64Milli(from_time), "
        "toUnixTimestamp64Milli(to_time), toUnixTimestamp64Milli(last_event_at) "
        f"FROM {sink.database}.unit_status_history FINAL {where} ORDER BY unit_code, from_time",
        None if unit_code is None else {"unit": unit_code},
    )
    return [StatusPeriod(*r) for r in rows]
