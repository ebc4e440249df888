"""``emc reconcile``'s second check: the per-dossier facts against the raw events.

``emc.dossier_facts`` (a view over the aggregate states the materialized view fills from every
insert into ``emc.dossier_events``) should say, for every dossier, what its events say. This
module rebuilds each dossier's facts from ``dossier_events FINAL`` by another route — the first
receipt and the first result by ``(event_time, event_id)`` and the latest rating picked with
``LIMIT 1 BY``, counts and extremes with plain ``GROUP BY``, no aggregate states — and compares
the two, column by column, in SQL:

- per unit: dossiers, dossiers with a receipt, with a result, with a rating, on each side, and
  the number of dossiers whose facts differ from their events;
- the differing dossiers themselves (up to a limit): which column, what each side says; a
  dossier missing on one side is reported as such.

None are expected: a difference means facts were lost or altered (a failed materialized view
insert, a hand edit, a restore of one table without the other).

Times in parameters are ISO-8601 instants (validated by the caller, passed as query parameters);
with a period, only dossiers received in it are compared (by the events' receipt time, else the
facts'); without one, every dossier, also those whose receipt has not arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sinks.clickhouse import ClickHouseSink
from streams.core.lifecycle import CLOSING_STATUSES

FACT_CHECK_COLUMNS: tuple[str, ...] = (
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
)
"""Columns of ``emc.dossier_facts`` compared with the events (``version`` is the ingestion time,
which a replay may move: not compared)."""

ROW = "row"
"""The ``column`` of a :class:`FactDifference` for a dossier missing on one side."""


def events_facts_sql(db: str) -> str:
    """Each dossier's facts rebuilt from ``{db}.dossier_events FINAL`` (the same columns as
    ``dossier_facts``, in :data:`FACT_CHECK_COLUMNS` order after unit_code, dossier_id)."""
    closing = ", ".join(str(s) for s in sorted(CLOSING_STATUSES))

    def first(event_type: str, columns: str, newest: bool = False) -> str:
        order = "event_time DESC, event_id DESC" if newest else "event_time, event_id"
        return f"""SELECT unit_code, dossier_id, {columns}
        FROM {db}.dossier_events FINAL WHERE event_type = '{event_type}'
        ORDER BY unit_code, dossier_id, {order} LIMIT 1 BY unit_code, dossier_id"""

    return f"""SELECT a.unit_code AS unit_code, a.dossier_id AS dossier_id,
    r.received_at, r.procedure_code, r.procedure_level, r.channel, r.submitter_type,
    r.via_national_portal, r.due_at, r.fee_payment, r.postal_return,
    x.finished_at, x.electronic_result, x.result_channel, x.digitised, x.paid_online,
    g.rating, if(g.rating IS NULL, NULL, g.rated_at) AS rated_at,
    ifNull(n.feedback_events, 0) AS feedback_events, c.closed_at, a.last_event_at
FROM (
    SELECT unit_code, dossier_id, max(event_time) AS last_event_at
    FROM {db}.dossier_events FINAL GROUP BY unit_code, dossier_id
) AS a
LEFT JOIN ({
        first(
            "received",
            "event_time AS received_at, procedure_code, procedure_level, channel, "
            "submitter_type, via_national_portal, due_at, fee_payment, postal_return",
        )
    }) AS r ON r.unit_code = a.unit_code AND r.dossier_id = a.dossier_id
LEFT JOIN ({
        first(
            "result_returned",
            "finished_at, electronic_result, result_channel, digitised, paid_online",
        )
    }) AS x ON x.unit_code = a.unit_code AND x.dossier_id = a.dossier_id
LEFT JOIN ({first("feedback", "rating, event_time AS rated_at", newest=True)}) AS g
    ON g.unit_code = a.unit_code AND g.dossier_id = a.dossier_id
LEFT JOIN (
    SELECT unit_code, dossier_id, count() AS feedback_events
    FROM {db}.dossier_events FINAL WHERE event_type = 'feedback' GROUP BY unit_code, dossier_id
) AS n ON n.unit_code = a.unit_code AND n.dossier_id = a.dossier_id
LEFT JOIN (
    SELECT unit_code, dossier_id, min(event_time) AS closed_at
    FROM {db}.dossier_events FINAL
    WHERE event_type = 'processed' AND status IN ({closing})
    GROUP BY unit_code, dossier_id
) AS c ON c.unit_code = a.unit_code AND c.dossier_id = a.dossier_id"""


def _pairs_sql(db: str, since: str | None, until: str | None) -> str:
    """Every dossier of either side: ``in_facts``, ``in_events``, ``f_<col>``, ``e_<col>``,
    ``same`` (1 when present on both sides and equal in every compared column)."""
    cols = FACT_CHECK_COLUMNS
    f_cols = ", ".join(f"{c} AS f_{c}" for c in cols)
    e_cols = ", ".join(f"{c} AS e_{c}" for c in cols)
    equal = " AND ".join(f"ifNull(f_{c} = e_{c}, f_{c} IS NULL AND e_{c} IS NULL)" for c in cols)
    period = ""
    received = "coalesce(e_received_at, f_received_at)"
    if since:
        period += f" AND {received} >= parseDateTime64BestEffort({{since:String}}, 3)"
    if until:
        period += f" AND {received} < parseDateTime64BestEffort({{until:String}}, 3)"
    return f"""SELECT unit_code, dossier_id, in_facts, in_events, {
        ", ".join(f"f_{c}, e_{c}" for c in cols)
    },
    toUInt8(in_facts AND in_events AND {equal}) AS same
FROM (
    SELECT unit_code, dossier_id, ifNull(f.present, 0) AS in_facts,
        ifNull(e.present, 0) AS in_events, {", ".join(f"f_{c}, e_{c}" for c in cols)}
    FROM (SELECT unit_code, dossier_id, 1 AS present, {f_cols} FROM {db}.dossier_facts) AS f
    FULL OUTER JOIN (
        SELECT unit_code, dossier_id, 1 AS present, {e_cols} FROM ({events_facts_sql(db)})
    ) AS e USING (unit_code, dossier_id)
)
WHERE 1 {period}
SETTINGS join_use_nulls = 1"""


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """One unit's dossiers as the events and as the facts count them."""

    unit_code: str
    dossiers_events: int
    dossiers_facts: int
    receipts_events: int
    receipts_facts: int
    results_events: int
    results_facts: int
    rated_events: int
    rated_facts: int
    differing: int
    """Dossiers whose facts differ from their events (or that one side lacks)."""


@dataclass(frozen=True, slots=True)
class FactDifference:
    """One column of one dossier where the facts and the events disagree (``column`` is
    :data:`ROW` when the dossier is missing on one side; its value there is ``None``)."""

    unit_code: str
    dossier_id: str
    column: str
    facts: Any
    events: Any

    def describe(self) -> str:
        """One line for a person: which dossier, which column, what each side says."""
        if self.column == ROW:
            where = "missing from dossier_facts" if self.facts is None else "not in dossier_events"
            return f"{self.unit_code} {self.dossier_id}: {where}"
        return (
            f"{self.unit_code} {self.dossier_id} {self.column}: "
            f"facts {_show(self.facts)}, events {_show(self.events)}"
        )


def _show(value: Any) -> str:
    """A value as a person reads it: local times to the millisecond, NULL for none."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(slots=True)
class FactReport:
    """Per-unit counts (every unit with a dossier on either side) and the differences found
    (columns of up to ``limit`` differing dossiers)."""

    units: list[UnitFacts]
    differences: list[FactDifference]

    @property
    def dossiers_compared(self) -> int:
        return sum(max(u.dossiers_events, u.dossiers_facts) for u in self.units)

    @property
    def differing(self) -> int:
        return sum(u.differing for u in self.units)

    @property
    def ok(self) -> bool:
        return self.differing == 0

    def differing_units(self) -> list[UnitFacts]:
        return [u for u in self.units if u.differing]


def check_facts(
    sink: ClickHouseSink, since: str | None = None, until: str | None = None, limit: int = 1000
) -> FactReport:
    """Compare ``dossier_facts`` with ``dossier_events`` (dossiers received in
    ``[since, until)`` when given; ``limit``: differing dossiers whose columns are listed)."""
    db = sink.database
    params = {k: v for k, v in (("since", since), ("until", until)) if v}
    pairs = _pairs_sql(db, since, until)
    summary = sink.query_rows(
        f"""SELECT unit_code,
    countIf(in_events), countIf(in_facts),
    countIf(e_received_at IS NOT NULL), countIf(in_facts AND f_received_at IS NOT NULL),
    countIf(e_finished_at IS NOT NULL), countIf(f_finished_at IS NOT NULL),
    countIf(e_rating IS NOT NULL), countIf(f_rating IS NOT NULL),
    countIf(NOT same)
FROM ({pairs}) GROUP BY unit_code ORDER BY unit_code""",
        params,
    )
    units = [UnitFacts(str(r[0]), *(int(v) for v in r[1:])) for r in summary]
    differences: list[FactDifference] = []
    if any(u.differing for u in units):
        names, rows = sink.query_table(
            f"SELECT * FROM ({pairs}) WHERE NOT same ORDER BY unit_code, dossier_id "
            f"LIMIT {int(limit)}",
            params,
        )
        for row in rows:
            item = dict(zip(names, row, strict=True))
            unit, dossier = str(item["unit_code"]), str(item["dossier_id"])
            if not (item["in_facts"] and item["in_events"]):
                present = "present"
                differences.append(
                    FactDifference(
                        unit,
                        dossier,
                        ROW,
                        present if item["in_facts"] else None,
                        present if item["in_events"] else None,
                    )
                )
                continue
            for c in FACT_CHECK_COLUMNS:
                if item[f"f_{c}"] != item[f"e_{c}"]:
                    differences.append(
                        FactDifference(unit, dossier, c, item[f"f_{c}"], item[f"e_{c}"])
                    )
    return FactReport(units, differences)
