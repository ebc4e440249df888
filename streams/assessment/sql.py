"""The period indicators as SQL over ``emc.dossier_facts`` (one aggregate per query).

Every counter of :data:`streams.core.indicators.COUNTERS` is counted per unit over the dossiers
*received* in ``[start_ms, end_ms)``, from each dossier's current facts, so a result, a rating
or a closing status that arrives months later moves the period it belongs to. The definitions
(docs/assessment.md):

- online payment: a dossier with a fee (``fee_payment`` ``online``/``in_person``, or a result
  saying ``paid_online``) paid online at any step (receipt's ``fee_payment = 'online'`` or the
  result's ``paid_online``);
- satisfaction: one rating per dossier, its latest (by event time);
- on time: ``finished_at ≤ due_at`` over finished dossiers plus those still open (no result, not
  refused/withdrawn/stopped) past their due time at the unit's latest event time;
- fully online (Decree 42/2022): an online receipt of a "toàn trình" procedure (level 4 in the
  unit's catalogue in force at the end of the period when the code is listed there, else the
  event's ``procedure_level``) whose result was delivered electronically, or by post when the
  citizen asked for the result by post (``postal_return``).

Times in parameters are epoch milliseconds (UTC).
"""

from __future__ import annotations

from typing import Any

from sinks.clickhouse import ClickHouseSink
from streams.core.indicators import COUNTERS
from streams.core.localtime import ZONE_NAME


def _ts(name: str) -> str:
    return f"fromUnixTimestamp64Milli({{{name}:Int64}}, '{ZONE_NAME}')"


COUNTER_SQL: dict[str, str] = {
    "received": "count()",
    "online": "countIf(f.channel = 'online')",
    "remote": "countIf(f.channel = 'online' AND f.submitter_type != 'officer')",
    "via_national_portal": "countIf(f.via_national_portal)",
    "fee_dossiers": "countIf(f.fee_payment IN ('online', 'in_person') OR f.paid_online)",
    "online_payment": "countIf(f.fee_payment = 'online' OR f.paid_online)",
    "finished": "countIf(f.finished_at IS NOT NULL)",
    "finished_on_time": "countIf(f.finished_at <= f.due_at)",
    "overdue_open": (
        "countIf(f.finished_at IS NULL AND f.closed_at IS NULL AND f.due_at < w.watermark)"
    ),
    "processing_ms_sum": (
        "toInt64(sum(if(f.finished_at IS NULL, 0, toUnixTimestamp64Milli(f.finished_at)"
        " - toUnixTimestamp64Milli(f.received_at))))"
    ),
    "fully_online": (
        "countIf(f.channel = 'online' AND coalesce(c.level, f.procedure_level) = 4"
        " AND (f.electronic_result OR (f.postal_return AND f.result_channel = 'postal')))"
    ),
    "results": "countIf(f.finished_at IS NOT NULL)",
    "results_digitised": "countIf(f.digitised AND f.electronic_result)",
    "feedback": "countIf(f.rating IS NOT NULL)",
    "satisfied": "countIf(f.rating IN ('very_satisfied', 'satisfied'))",
}
"""Counter → its aggregate over ``dossier_facts AS f`` (``w``: the unit's watermark, ``c``: the
catalogue entry of the dossier's procedure)."""
assert tuple(COUNTER_SQL) == COUNTERS


def _catalogue_at_end(db: str) -> str:
    """Each unit's catalogue version in force at ``end_ms``: (unit, code) → level."""
    return f"""SELECT i.unit_code AS unit_code, i.id_mcdt AS id_mcdt, max(i.level) AS level
    FROM {db}.catalogue_items AS i
    INNER JOIN (
        SELECT unit_code, max(version) AS version FROM {db}.catalogue_imports
        WHERE imported_at < {_ts("end_ms")} GROUP BY unit_code
    ) AS v ON v.unit_code = i.unit_code AND v.version = i.version
    GROUP BY i.unit_code, i.id_mcdt"""


def counters_sql(db: str, by_month: bool = False) -> str:
    """Counters per unit (and local month when ``by_month``) of dossiers received in the
    period; parameters ``start_ms``, ``end_ms``."""
    month = ", toStartOfMonth(f.received_at) AS month" if by_month else ""
    group = ", month" if by_month else ""
    aggregates = ",\n    ".join(f"{sql} AS {name}" for name, sql in COUNTER_SQL.items())
    return f"""SELECT f.unit_code AS unit_code{month},
    {aggregates}
FROM {db}.dossier_facts AS f
LEFT JOIN (
    SELECT unit_code, max(last_event_at) AS watermark
    FROM {db}.dossier_fact_states GROUP BY unit_code
) AS w ON w.unit_code = f.unit_code
LEFT JOIN ({_catalogue_at_end(db)}) AS c
    ON c.unit_code = f.unit_code AND c.id_mcdt = f.procedure_code
WHERE f.received_at >= {_ts("start_ms")} AND f.received_at < {_ts("end_ms")}
GROUP BY f.unit_code{group}
ORDER BY f.unit_code{group}
SETTINGS join_use_nulls = 1"""


def period_counters(sink: ClickHouseSink, start_ms: int, end_ms: int) -> dict[str, dict[str, int]]:
    """unit → counter → value over dossiers received in ``[start_ms, end_ms)``."""
    db = sink.database
    names, rows = sink.query_table(counters_sql(db), {"start_ms": start_ms, "end_ms": end_ms})
    return {row[0]: {n: int(v) for n, v in zip(names[1:], row[1:], strict=True)} for row in rows}


def monthly_counters(
    sink: ClickHouseSink, start_ms: int, end_ms: int
) -> dict[str, dict[str, dict[str, int]]]:
    """unit → local month (``YYYY-MM``) → counter → value, for the trend charts."""
    names, rows = sink.query_table(
        counters_sql(sink.database, by_month=True), {"start_ms": start_ms, "end_ms": end_ms}
    )
    out: dict[str, dict[str, dict[str, int]]] = {}
    for row in rows:
        month = row[1].strftime("%Y-%m")
        values = {n: int(v) for n, v in zip(names[2:], row[2:], strict=True)}
        out.setdefault(row[0], {})[month] = values
    return out


def catalogue_shares(sink: ClickHouseSink, end_ms: int) -> dict[str, dict[str, float | None]]:
    """unit → ``online_procedures`` (level 3/4 ÷ catalogue) and ``fully_online_procedures``
    (level 4 ÷ level 3/4) of the catalogue version in force at ``end_ms``."""
    db = sink.database
    rows = sink.query_rows(
        f"""SELECT unit_code,
    countIf(level IN (3, 4)) / nullIf(count(), 0),
    countIf(level = 4) / nullIf(countIf(level IN (3, 4)), 0)
FROM ({_catalogue_at_end(db)}) GROUP BY unit_code""",
        {"end_ms": end_ms},
    )
    return {
        r[0]: {"online_procedures": _f(r[1]), "fully_online_procedures": _f(r[2])} for r in rows
    }


def not_fully_connected(sink: ClickHouseSink, start_ms: int, end_ms: int) -> dict[str, list[str]]:
    """unit → the statuses other than fully connected it had at some time in the period
    (``unit_status_history``)."""
    db = sink.database
    rows = sink.query_rows(
        f"""SELECT unit_code, groupUniqArray(status) FROM {db}.unit_status_history FINAL
WHERE from_time < {_ts("end_ms")} AND (to_time IS NULL OR to_time > {_ts("start_ms")})
  AND status != 'fully_connected'
GROUP BY unit_code""",
        {"start_ms": start_ms, "end_ms": end_ms},
    )
    return {r[0]: sorted(r[1]) for r in rows}


def _f(value: Any) -> float | None:
    return None if value is None else float(value)
