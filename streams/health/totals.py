"""Units' own reported totals per period, compared with EMC's counts ("cần đối soát số liệu").

A unit reports, per period, how many dossiers it received, received online, received online
from afar, finished and finished on time. Reports come in two ways, both validated by
:func:`validate_report`: a file (``emc totals import``, xlsx or CSV, seed 004's style: one row per
unit and period, Vietnamese headers, every problem listed by row and nothing written if any row
is bad) and the topic ``emc.unit.reported-totals.v1`` (JSON or Avro single-object, decoded by
:mod:`streams.kafka.totals_codec`, consumed by the worker).

EMC's side of each measure is counted over the exact per-dossier facts (``emc.dossier_facts``) of
the dossiers *received* in the period, with their current state, so a unit's figures are
compared on the cohort EMC scores (docs/assessment.md): "finished" is "of the dossiers received
in the period, finished by now". The aggregates are those of ``streams.assessment.sql``'s
``COUNTER_SQL`` for the same names (a test checks they agree).

A measure *differs* when ``|EMC - reported| > max(min_difference, tolerance × reported)``
(:class:`~streams.settings.HealthSettings`: ``reported_totals_tolerance``,
``reported_totals_min_difference``). Only the latest report of a (unit, period) counts, and only
periods that ended within ``reported_totals_lookback_days`` of the evaluation instant (or are
still running) decide the status.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sinks.clickhouse import ClickHouseSink
from sinks.health_schema import REPORTED_TOTALS_COLUMNS, TOTALS_DIFFERENCE_COLUMNS
from streams.core.events import REPORTED_TOTALS_TOPIC
from streams.core.localtime import ZONE_NAME
from streams.core.periods import Period, PeriodError, parse_period
from streams.core.registry import UnitRegistry
from streams.health.errors import ImportValidationError, RowProblem
from streams.settings import HealthSettings

__all__ = ["REPORTED_TOTALS_TOPIC", "ReportedTotals", "TotalsDifference", "compare"]


MEASURES: dict[str, str] = {
    "received": "Tiếp nhận",
    "online": "Tiếp nhận trực tuyến",
    "remote": "Trực tuyến từ xa",
    "finished": "Đã giải quyết",
    "finished_on_time": "Giải quyết đúng hạn",
}
"""Measure code → the file's column header (and the wording of a difference)."""

EMC_COUNT_SQL: dict[str, str] = {
    "received": "count()",
    "online": "countIf(f.channel = 'online')",
    "remote": "countIf(f.channel = 'online' AND f.submitter_type != 'officer')",
    "finished": "countIf(f.finished_at IS NOT NULL)",
    "finished_on_time": "countIf(f.finished_at <= f.due_at)",
}
"""Measure → its aggregate over ``dossier_facts AS f`` (the assessment's definitions)."""

UNIT_HEADERS = ("Mã đơn vị", "unit_code")
PERIOD_HEADERS = ("Kỳ báo cáo", "period")
REPORT_ID_HEADERS = ("Mã báo cáo", "report_id")
_NESTED: tuple[tuple[str, str], ...] = (
    ("online", "received"),
    ("remote", "online"),
    ("finished", "received"),
    ("finished_on_time", "finished"),
)
"""(part, whole): a report in which a part exceeds its whole is inconsistent."""


@dataclass(frozen=True, slots=True)
class ReportedTotals:
    """One unit's report for one period; ``values``: measure → count (dossiers), only the
    measures reported; ``reported_at_ms``: when the unit made it (epoch ms, UTC)."""

    report_id: str
    unit_code: str
    period: Period
    values: dict[str, int]
    reported_at_ms: int

    def to_json(self) -> dict[str, Any]:
        """The report as the topic's JSON fields (``period`` as its label)."""
        return {
            "report_id": self.report_id,
            "unit_code": self.unit_code,
            "period": self.period.label,
            "reported_at": self.reported_at_ms,
            **self.values,
        }


@dataclass(frozen=True, slots=True)
class TotalsDifference:
    """EMC's count of a measure beside the unit's (dossiers); ``difference`` = EMC - reported,
    ``relative`` = difference / reported (``None`` when nothing was reported)."""

    unit_code: str
    period: str
    period_start_ms: int
    period_end_ms: int
    measure: str
    emc_value: int
    reported_value: int
    report_id: str
    within_tolerance: bool
    tolerance: float

    @property
    def difference(self) -> int:
        return self.emc_value - self.reported_value

    @property
    def relative(self) -> float | None:
        return None if self.reported_value == 0 else self.difference / self.reported_value

    def to_json(self) -> dict[str, Any]:
        return {
            "unit_code": self.unit_code,
            "period": self.period,
            "period_start_ms": self.period_start_ms,
            "period_end_ms": self.period_end_ms,
            "measure": self.measure,
            "emc_value": self.emc_value,
            "reported_value": self.reported_value,
            "difference": self.difference,
            "relative_difference": self.relative,
            "within_tolerance": self.within_tolerance,
            "tolerance": self.tolerance,
            "report_id": self.report_id,
        }

    def describe(self) -> str:
        """The difference in the report's words, e.g. ``Tiếp nhận 2026-11: báo cáo 120, EMC
        100 (-20, -16.7%)``."""
        rel = "" if self.relative is None else f", {100 * self.relative:+.1f}%"
        return (
            f"{MEASURES.get(self.measure, self.measure)} {self.period}: báo cáo "
            f"{self.reported_value}, EMC {self.emc_value} ({self.difference:+d}{rel})"
        )


def within_tolerance(emc: int, reported: int, tolerance: float, min_difference: int) -> bool:
    """Whether EMC's count and the reported one agree: ``|emc - reported|`` at most
    ``max(min_difference, tolerance × reported)`` (counts in dossiers, tolerance a share)."""
    return abs(emc - reported) <= max(min_difference, tolerance * reported)


def validate_report(
    raw: Mapping[str, Any], registry: UnitRegistry, now_ms: int
) -> tuple[ReportedTotals | None, list[tuple[str, str]]]:
    """A report from its fields (``report_id``, ``unit_code``, ``period``, ``reported_at`` in
    epoch ms, and measure codes → counts, ``None`` for not reported), or the problems as
    (field, why) pairs. Shared by the file import and the topic."""
    problems: list[tuple[str, str]] = []
    unit_code = str(raw.get("unit_code") or "").strip()
    period: Period | None = None
    unit = registry.get(unit_code) if unit_code else None
    if not unit_code:
        problems.append(("unit_code", "empty unit code"))
    elif unit is None:
        problems.append(("unit_code", f"unknown unit code {unit_code!r}"))
    try:
        period = parse_period(str(raw.get("period") or ""))
    except PeriodError as exc:
        problems.append(("period", str(exc)))
    if period is not None and period.start_ms > now_ms:
        problems.append(("period", f"{period.label} has not started yet"))
    if period is not None and unit is not None:
        until = unit.valid_until_ms
        if unit.valid_from_ms >= period.end_ms or (until is not None and until <= period.start_ms):
            problems.append(("period", f"{unit_code} is not in force in {period.label}"))
    values: dict[str, int] = {}
    for measure in MEASURES:
        value = raw.get(measure)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append((measure, f"{value!r} is not a whole number ≥ 0"))
        else:
            values[measure] = value
    unknown = sorted(k for k in raw if k not in MEASURES and k not in _FIELDS)
    if unknown:
        problems.append((unknown[0], f"unknown field(s) {', '.join(unknown)}"))
    if not values and not any(m in raw and raw[m] is not None for m in MEASURES):
        problems.append(("-", f"no count reported (one of {', '.join(MEASURES)})"))
    for part, whole in _NESTED:
        if part in values and whole in values and values[part] > values[whole]:
            problems.append((part, f"{values[part]} is more than {whole} ({values[whole]})"))
    reported_at = raw.get("reported_at")
    if reported_at is None:
        reported_at = now_ms
    elif isinstance(reported_at, bool) or not isinstance(reported_at, int):
        problems.append(("reported_at", f"{reported_at!r} is not epoch milliseconds"))
    report_id = str(raw.get("report_id") or "").strip()
    if not report_id:
        problems.append(("report_id", "empty report id"))
    if problems or period is None:
        return None, problems
    return ReportedTotals(report_id, unit_code, period, values, int(reported_at)), []


_FIELDS = frozenset({"report_id", "unit_code", "period", "reported_at"})


def report_from_json(raw: Mapping[str, Any], registry: UnitRegistry, now_ms: int) -> ReportedTotals:
    """:func:`validate_report` of ``raw``; ``ValueError`` naming every problem."""
    report, problems = validate_report(raw, registry, now_ms)
    if report is None:
        raise ValueError("; ".join(f"{field}: {why}" for field, why in problems))
    return report


def _norm(header: Any) -> str:
    return re.sub(r"\s+", " ", str(header or "")).strip().lower()


def _count(cell: Any) -> Any:
    """A cell as a count: whole numbers (also ``12.0`` and ``"1 234"``/``"1.234"`` digit
    groups) become ints, empty cells ``None``; anything else is returned for the error."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    if isinstance(cell, str):
        text = cell.strip()
        if re.fullmatch(r"\d{1,3}([ .,]\d{3})+|\d+", text):
            return int(re.sub(r"[ .,]", "", text))
    return cell


def _rows(path: Path) -> list[tuple[int, list[Any]]]:
    """(spreadsheet row number, cells) of every row of an .xlsx (first sheet) or .csv file."""
    if path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        return [(n, list(r)) for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)]
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile/KeyError/InvalidFileException ...
        raise ImportValidationError(
            path.name, [RowProblem(0, "-", f"not a readable .xlsx or .csv file: {exc}")]
        ) from exc
    try:
        return [
            (n, list(cells))
            for n, cells in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()


def parse_totals_file(
    path: Path,
    registry: UnitRegistry,
    now_ms: int,
    progress: Callable[[int], None] | None = None,
) -> list[ReportedTotals]:
    """Every report of a totals file, or :class:`ImportValidationError` listing each bad cell.

    Header row (in the first 10 rows; any order, case and spacing ignored): ``Mã đơn vị``,
    ``Kỳ báo cáo`` and at least one of :data:`MEASURES`' headers (or the codes themselves),
    optionally ``Mã báo cáo`` (default: the file's SHA-256 prefix and the row). A (unit,
    period) may appear once per file.
    """
    rows = _rows(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    wanted: dict[str, str] = {}
    for field, names in (
        ("unit_code", UNIT_HEADERS),
        ("period", PERIOD_HEADERS),
        ("report_id", REPORT_ID_HEADERS),
    ):
        wanted.update({_norm(n): field for n in names})
    for code, header in MEASURES.items():
        wanted[_norm(header)] = code
        wanted[_norm(code)] = code
    positions: dict[str, int] = {}
    header_row = 0
    for number, cells in rows[:10]:
        found = {wanted[_norm(c)]: i for i, c in enumerate(cells) if _norm(c) in wanted}
        if "unit_code" in found and "period" in found and set(found) & set(MEASURES):
            positions, header_row = found, number
            break
    if not header_row:
        need = f"{UNIT_HEADERS[0]}, {PERIOD_HEADERS[0]} and one of {', '.join(MEASURES.values())}"
        raise ImportValidationError(path.name, [RowProblem(1, "-", f"no header row with {need}")])
    headers = {field: str(rows[header_row - 1][1][i]).strip() for field, i in positions.items()}
    problems: list[RowProblem] = []
    reports: list[ReportedTotals] = []
    first: dict[tuple[str, str], int] = {}
    for number, cells in rows[header_row:]:
        if progress is not None:
            progress(1)
        if not any(c is not None and str(c).strip() for c in cells):
            continue

        def cell(field: str, cells: list[Any] = cells) -> Any:
            i = positions.get(field)
            return cells[i] if i is not None and i < len(cells) else None

        raw: dict[str, Any] = {
            "unit_code": cell("unit_code"),
            "period": cell("period"),
            "report_id": str(cell("report_id") or "").strip() or f"file:{digest}:{number}",
            "reported_at": now_ms,
        }
        raw.update({m: _count(cell(m)) for m in MEASURES if m in positions})
        report, bad_cells = validate_report(raw, registry, now_ms)
        problems += [RowProblem(number, headers.get(f, f), why) for f, why in bad_cells]
        if report is None:
            continue
        key = (report.unit_code, report.period.label)
        if key in first:
            problems.append(
                RowProblem(
                    number,
                    headers["period"],
                    f"{report.unit_code} {report.period.label} again (first in row {first[key]})",
                )
            )
            continue
        first[key] = number
        reports.append(report)
    if not reports and not problems:
        problems.append(RowProblem(header_row + 1, "-", "no data rows"))
    if problems:
        raise ImportValidationError(path.name, problems)
    return reports


def write_reports(
    sink: ClickHouseSink,
    reports: list[ReportedTotals],
    source: str,
    source_ref: str,
    received_at_ms: int,
) -> int:
    """Append ``reports`` to ``unit_reported_totals`` (one row per measure); rows written.
    ``source``: ``import`` or ``topic``; ``source_ref``: the file name or topic/partition/offset."""
    rows = [
        (
            r.unit_code,
            r.period.label,
            r.period.start_ms,
            r.period.end_ms,
            measure,
            value,
            r.report_id,
            source,
            source_ref,
            r.reported_at_ms,
            received_at_ms,
        )
        for r in reports
        for measure, value in r.values.items()
    ]
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        sink.insert_columns("unit_reported_totals", REPORTED_TOTALS_COLUMNS, columns)
    return len(rows)


def _ts(name: str) -> str:
    return f"fromUnixTimestamp64Milli({{{name}:Int64}}, '{ZONE_NAME}')"


def latest_reports(
    sink: ClickHouseSink, at_ms: int, lookback_days: int | None
) -> list[tuple[str, str, int, int, str, int, str]]:
    """(unit, period, start ms, end ms, measure, reported value, report id) of the latest report
    of each (unit, period) reported by ``at_ms`` (the unit's ``reported_at``), for periods
    ending at most ``lookback_days`` before it (all periods when ``None``)."""
    db = sink.database
    recent = (
        ""
        if lookback_days is None
        else f"AND period_end > {_ts('at_ms')} - INTERVAL {int(lookback_days)} DAY"
    )
    where = f"reported_at <= {_ts('at_ms')} AND period_start <= {_ts('at_ms')} {recent}"
    rows = sink.query_rows(
        f"""SELECT unit_code, period, toUnixTimestamp64Milli(period_start),
       toUnixTimestamp64Milli(period_end), measure, value, report_id
FROM {db}.unit_reported_totals
WHERE {where} AND (unit_code, period, report_id) IN (
    SELECT unit_code, period, argMax(report_id, received_at) FROM {db}.unit_reported_totals
    WHERE {where} GROUP BY unit_code, period
)
ORDER BY unit_code, period_start, period_end, measure""",
        {"at_ms": int(at_ms)},
    )
    return [
        (str(r[0]), str(r[1]), int(r[2]), int(r[3]), str(r[4]), int(r[5]), str(r[6])) for r in rows
    ]


def emc_counts(
    sink: ClickHouseSink, units: list[str], start_ms: int, end_ms: int
) -> dict[str, dict[str, int]]:
    """unit → measure → EMC's count over the facts of the dossiers received in
    ``[start_ms, end_ms)`` (epoch ms); units without a dossier are absent."""
    db = sink.database
    aggregates = ", ".join(f"{sql} AS {name}" for name, sql in EMC_COUNT_SQL.items())
    rows = sink.query_rows(
        f"""SELECT f.unit_code, {aggregates} FROM {db}.dossier_facts AS f
WHERE f.received_at >= {_ts("start_ms")} AND f.received_at < {_ts("end_ms")}
  AND f.unit_code IN {{units:Array(String)}}
GROUP BY f.unit_code""",
        {"start_ms": int(start_ms), "end_ms": int(end_ms), "units": units},
    )
    return {str(r[0]): dict(zip(EMC_COUNT_SQL, map(int, r[1:]), strict=True)) for r in rows}


def compare(
    sink: ClickHouseSink,
    health: HealthSettings,
    at_ms: int,
    *,
    store: bool = True,
    lookback_days: int | None = -1,
) -> dict[str, list[TotalsDifference]]:
    """unit → the differences of its latest reports (every measure reported, in or out of
    tolerance) as of ``at_ms``; written to ``unit_totals_differences`` when ``store`` (with
    ``computed_at`` the wall-clock time of the comparison).
    ``lookback_days``: ``-1`` = the settings' ``reported_totals_lookback_days``, ``None`` = all
    periods."""
    days = health.reported_totals_lookback_days if lookback_days == -1 else lookback_days
    reports = latest_reports(sink, at_ms, days)
    by_period: dict[tuple[int, int], set[str]] = {}
    for unit, _, start, end, *_rest in reports:
        by_period.setdefault((start, end), set()).add(unit)
    counts = {span: emc_counts(sink, sorted(units), *span) for span, units in by_period.items()}
    tolerance, minimum = health.reported_totals_tolerance, health.reported_totals_min_difference
    out: dict[str, list[TotalsDifference]] = {}
    for unit, period, start, end, measure, reported, report_id in reports:
        emc = counts[(start, end)].get(unit, {}).get(measure, 0)
        d = TotalsDifference(
            unit,
            period,
            start,
            end,
            measure,
            emc,
            reported,
            report_id,
            within_tolerance(emc, reported, tolerance, minimum),
            tolerance,
        )
        out.setdefault(unit, []).append(d)
    if store and out:
        computed_at = max(int(time.time() * 1000), _last_computed[0] + 1)
        _last_computed[0] = computed_at  # strictly increasing: the latest comparison wins
        rows = [
            (
                d.unit_code,
                d.period,
                d.period_start_ms,
                d.period_end_ms,
                d.measure,
                d.emc_value,
                d.reported_value,
                d.difference,
                d.relative,
                d.within_tolerance,
                d.tolerance,
                d.report_id,
                computed_at,
            )
            for ds in out.values()
            for d in ds
        ]
        columns = [list(c) for c in zip(*rows, strict=True)]
        sink.insert_columns("unit_totals_differences", TOTALS_DIFFERENCE_COLUMNS, columns)
    return out


_last_computed = [0]
"""The last ``computed_at`` written (epoch ms, wall clock) in this process."""

OVERRIDABLE = frozenset({"not_comprehensive", "fully_connected"})
"""Statuses the reported-totals test can turn into ``needs_reconciliation``: it is rule 3's
third test, so it comes after ``not_connected``, ``interrupted`` and rule 3's own first two."""


def apply_reported_totals(
    statuses: list[Any], differences: dict[str, list[TotalsDifference]]
) -> list[Any]:
    """``statuses`` (:class:`~streams.health.statuses.UnitStatus`) with rule 3's third test
    applied: a unit at a later rule whose latest reports differ beyond the tolerance becomes
    ``needs_reconciliation`` with reason ``reported_totals_differ``; every unit with reports
    carries its mismatch count and worst difference."""
    out = []
    for s in statuses:
        ds = differences.get(s.unit_code)
        if not ds:
            out.append(s)
            continue
        off = [d for d in ds if not d.within_tolerance]
        worst = max(off or ds, key=lambda d: (abs(d.relative or 0.0), abs(d.difference)))
        fields: dict[str, Any] = {
            "reported_mismatches": len(off),
            "reported_worst": worst.describe(),
        }
        if off and s.status in OVERRIDABLE:
            fields.update(
                status="needs_reconciliation",
                reason_code="reported_totals_differ",
                status_label="",
                reason="",
            )
        out.append(replace(s, **fields))
    return out


def stored_differences(
    sink: ClickHouseSink, unit_code: str | None = None
) -> list[TotalsDifference]:
    """The differences last written by :func:`compare` (``unit_totals_differences``: the
    latest comparison of each unit and period, so a measure the latest report left out is not
    shown), of one unit or all, newest period first."""
    db = sink.database
    unit = "" if unit_code is None else "AND unit_code = {unit:String}"
    rows = sink.query_rows(
        f"""SELECT unit_code, period, toUnixTimestamp64Milli(period_start),
       toUnixTimestamp64Milli(period_end), measure, emc_value, reported_value, report_id,
       within_tolerance, tolerance
FROM {db}.unit_totals_differences FINAL
WHERE (unit_code, period, computed_at) IN (
    SELECT unit_code, period, max(computed_at) FROM {db}.unit_totals_differences
    GROUP BY unit_code, period
) {unit}
ORDER BY period_start DESC, unit_code, measure""",
        {} if unit_code is None else {"unit": unit_code},
    )
    return [
        TotalsDifference(
            str(r[0]),
            str(r[1]),
            int(r[2]),
            int(r[3]),
            str(r[4]),
            int(r[5]),
            int(r[6]),
            str(r[7]),
            bool(r[8]),
            float(r[9]),
        )
        for r in rows
    ]
