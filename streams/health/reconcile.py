"""Reconciliation: recompute every rollup row from the raw events in SQL and compare.

The stream writes, next to each event, the windows it was counted in (``counted_windows``) and,
for dossiers that passed their due time while open, where that was counted and undone
(``emc.dossier_overdue``). From those alone, SQL rebuilds every counter of
``emc.unit_window_rollup``; any row where the two disagree is reported. None are expected.

The definitions are the live windows' (streams/core/indicators.py): a fee paid online at any step
(the receipt, or a counted result saying ``paid_online``), one rating per dossier (its latest
among the feedback events counted in the window: a newer rating replaces an older one in the
windows that counted it), fully online by Decree 42's rule (electronic, or by post as asked).
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.clickhouse import ClickHouseSink
from streams.core.indicators import COUNTERS as ROLLUP_COUNTERS
from streams.core.rows import COUNTED_BIT

BUCKET_SQL: dict[str, str] = {
    "1m": "toStartOfMinute({t})",
    "1h": "toStartOfHour({t})",
    "1d": "toStartOfDay({t})",
}
"""Bucket start per window; columns are in Asia/Ho_Chi_Minh, so days start at local midnight."""


def expected_sql(database: str, window: str, since: str | None, until: str | None) -> str:
    """SQL producing (unit_code, window_start, counters…) recomputed from events for ``window``."""
    bit = COUNTED_BIT[window]
    rb = BUCKET_SQL[window].format(t="r.event_time")
    b = BUCKET_SQL[window].format(t="event_time")
    period = _period_sql(since, until)
    db = database
    return f"""
WITH
receipts AS (
    SELECT unit_code, dossier_id, event_time, due_at, channel, procedure_level,
           fee_payment, postal_return, counted_windows
    FROM {db}.dossier_events FINAL
    WHERE event_type = 'received' AND bitAnd(counted_windows, {bit}) > 0
),
receipt_rows AS (
    SELECT unit_code, {b} AS window_start,
        count() AS received,
        countIf(channel = 'online') AS online,
        countIf(channel = 'online' AND submitter_type != 'officer') AS remote,
        countIf(via_national_portal) AS via_national_portal,
        countIf(fee_payment != 'none') AS fee_dossiers,
        countIf(fee_payment = 'online') AS online_payment
    FROM {db}.dossier_events FINAL
    WHERE event_type = 'received' AND bitAnd(counted_windows, {bit}) > 0
    GROUP BY unit_code, window_start
),
result_rows AS (
    SELECT x.unit_code AS unit_code, {rb} AS window_start,
        count() AS finished,
        countIf(x.finished_at <= r.due_at) AS finished_on_time,
        sum(greatest(0, toUnixTimestamp64Milli(x.finished_at)
                        - toUnixTimestamp64Milli(r.event_time))) AS processing_ms_sum,
        countIf(r.channel = 'online' AND r.procedure_level = 4
                AND (x.electronic_result OR (r.postal_return AND x.result_channel = 'postal')))
            AS fully_online,
        count() AS results,
        countIf(x.digitised AND x.electronic_result) AS results_digitised,
        countIf(x.paid_online AND r.fee_payment != 'online') AS paid_at_result,
        countIf(x.paid_online AND r.fee_payment = 'none') AS fee_at_result
    FROM (
        SELECT * FROM {db}.dossier_events FINAL
        WHERE event_type = 'result_returned' AND bitAnd(counted_windows, {bit}) > 0
    ) AS x
    INNER JOIN receipts AS r ON x.unit_code = r.unit_code AND x.dossier_id = r.dossier_id
    GROUP BY unit_code, window_start
),
feedback_rows AS (
    SELECT f.unit_code AS unit_code, {rb} AS window_start,
        count() AS feedback,
        countIf(f.rating IN ('very_satisfied', 'satisfied')) AS satisfied
    FROM (
        SELECT unit_code, dossier_id, argMax(rating, (event_time, event_id)) AS rating
        FROM {db}.dossier_events FINAL
        WHERE event_type = 'feedback' AND bitAnd(counted_windows, {bit}) > 0
        GROUP BY unit_code, dossier_id
    ) AS f
    INNER JOIN receipts AS r ON f.unit_code = r.unit_code AND f.dossier_id = r.dossier_id
    GROUP BY unit_code, window_start
),
overdue_rows AS (
    SELECT unit_code, {BUCKET_SQL[window].format(t="received_at")} AS window_start,
        countIf(bitAnd(marked_windows, {bit}) > 0 AND bitAnd(cleared_windows, {bit}) = 0)
            AS overdue_open
    FROM {db}.dossier_overdue FINAL
    GROUP BY unit_code, window_start
),
keys AS (
    SELECT unit_code, window_start FROM receipt_rows
    UNION DISTINCT SELECT unit_code, window_start FROM result_rows
    UNION DISTINCT SELECT unit_code, window_start FROM feedback_rows
    UNION DISTINCT SELECT unit_code, window_start FROM overdue_rows WHERE overdue_open > 0
)
SELECT k.unit_code AS unit_code, toInt64(toUnixTimestamp(k.window_start)) * 1000 AS start_ms,
    {", ".join(f"toUInt64({_expression(c)}) AS {c}" for c in ROLLUP_COUNTERS)}
FROM keys AS k
LEFT JOIN receipt_rows AS rr USING (unit_code, window_start)
LEFT JOIN result_rows AS xr USING (unit_code, window_start)
LEFT JOIN feedback_rows AS fr USING (unit_code, window_start)
LEFT JOIN overdue_rows AS odr USING (unit_code, window_start)
WHERE 1 {period}
SETTINGS join_use_nulls = 1
"""


def _period_sql(since: str | None, until: str | None) -> str:
    """``AND …`` conditions on ``window_start`` (ISO-8601 instants, validated by the caller)."""
    period = ""
    if since:
        period += f" AND window_start >= parseDateTime64BestEffort('{since}', 3)"
    if until:
        period += f" AND window_start < parseDateTime64BestEffort('{until}', 3)"
    return period


def _expression(counter: str) -> str:
    """The recomputed value of ``counter`` from the joined row sources."""
    own = f"ifNull({_source(counter)}.{counter}, 0)"
    if counter == "online_payment":  # a fee paid online at any step
        return f"{own} + ifNull(xr.paid_at_result, 0)"
    if counter == "fee_dossiers":
        return f"{own} + ifNull(xr.fee_at_result, 0)"
    return own


def _source(counter: str) -> str:
    if counter in {
        "finished",
        "finished_on_time",
        "processing_ms_sum",
        "fully_online",
        "results",
        "results_digitised",
    }:
        return "xr"
    if counter in {"feedback", "satisfied"}:
        return "fr"
    if counter == "overdue_open":
        return "odr"
    return "rr"


@dataclass(frozen=True, slots=True)
class Difference:
    """One rollup row that disagrees with its recomputation."""

    unit_code: str
    window: str
    window_start_ms: int
    counter: str
    stored: int | None
    recomputed: int | None


@dataclass(slots=True)
class ReconcileReport:
    """Rows compared and differences found, per window."""

    rows_compared: dict[str, int]
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences


def reconcile(
    sink: ClickHouseSink, since: str | None = None, until: str | None = None
) -> ReconcileReport:
    """Compare every rollup row of the period with its recomputation from events."""
    db = sink.database
    compared: dict[str, int] = {}
    differences: list[Difference] = []
    counters = ", ".join(ROLLUP_COUNTERS)
    for window in BUCKET_SQL:
        period = _period_sql(since, until)
        stored_sql = (
            f"SELECT unit_code, toUnixTimestamp64Milli(window_start), {counters} "
            f"FROM {db}.unit_window_rollup FINAL "
            f"WHERE window = '{window}' {period}"
        )
        stored = {(r[0], int(r[1])): r[2:] for r in sink.query_rows(stored_sql)}
        expected = {
            (r[0], int(r[1])): r[2:]
            for r in sink.query_rows(expected_sql(db, window, since, until))
        }
        compared[window] = len(stored.keys() | expected.keys())
        for key in sorted(stored.keys() | expected.keys()):
            a, b = stored.get(key), expected.get(key)
            for i, counter in enumerate(ROLLUP_COUNTERS):
                sa = None if a is None else int(a[i])
                sb = None if b is None else int(b[i])
                if (sa or 0) != (sb or 0):
                    differences.append(Difference(key[0], window, key[1], counter, sa, sb))
    return ReconcileReport(compared, differences)
