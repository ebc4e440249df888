"""One period's assessment: indicators from the fact table, scores, levels, ranks, targets.

:func:`assess` reads (SQL in :mod:`streams.assessment.sql`), scores with the pure rules of
:mod:`streams.core.scoring`, and returns an :class:`Assessment`; :func:`store` writes it to
``emc.unit_scores`` (one row per period and unit, the scoring version beside it) and
:func:`read_scores` reads stored results back (the API).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinks.assessment_schema import SCORE_COLUMNS
from sinks.clickhouse import ClickHouseSink
from streams.assessment.errors import NoDataError
from streams.assessment.sql import (
    catalogue_shares,
    monthly_counters,
    not_fully_connected,
    period_counters,
)
from streams.core.indicators import COUNTERS, RATES, rate_columns
from streams.core.localtime import local_datetime
from streams.core.periods import Period
from streams.core.registry import Unit, UnitRegistry
from streams.core.scoring import Scoring, UnitScore, score_units

KINDS: tuple[str, ...] = ("ministry", "province")
Progress = Callable[[str], None]
"""Called with the name of each step as it starts (the CLI's progress bar)."""


@dataclass(slots=True)
class UnitResult:
    """One unit's period: counters, rates (fractions; ``avg_processing_s`` seconds), score,
    targets met (``None``: not measurable), connection footnote, monthly trend."""

    unit: Unit
    counters: dict[str, int]
    rates: dict[str, float | None]
    score: UnitScore
    targets: dict[str, bool | None] = field(default_factory=dict)
    not_fully_connected: list[str] = field(default_factory=list)
    """Connection statuses other than fully connected the unit had during the period."""
    trend: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Local month ``YYYY-MM`` → ``received``, ``online_rate``, ``remote_rate``."""
    catalogue: dict[str, float | None] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    """Codes of predecessors whose dossiers are counted in this unit (registry lineage)."""

    @property
    def received(self) -> int:
        return self.counters.get("received", 0)


@dataclass(slots=True)
class Assessment:
    """Every unit of the registry valid in the period, in registry order."""

    period: Period
    scoring: Scoring
    results: list[UnitResult]
    computed_at_ms: int
    names: dict[str, str] = field(default_factory=dict)
    """Code → Vietnamese name of the predecessors rolled into a listed unit."""

    def of_kind(self, kind: str) -> list[UnitResult]:
        return [r for r in self.results if r.unit.kind == kind]

    def ranked(self, kind: str) -> list[UnitResult]:
        """Units of ``kind`` by rank (unscored last, in registry order)."""
        rows = self.of_kind(kind)
        return sorted(rows, key=lambda r: (r.score.rank is None, r.score.rank or 0))

    def average_score(self, kind: str) -> float | None:
        """Mean score of the scored units of ``kind`` (0–100), ``None`` if none is scored."""
        scores = [r.score.score for r in self.of_kind(kind) if r.score.score is not None]
        return sum(scores) / len(scores) if scores else None

    def level_shares(self, kind: str) -> dict[str, int]:
        """Level → number of scored units of ``kind`` at it (every band listed)."""
        counts = {band.level: 0 for band in self.scoring.bands}
        for r in self.of_kind(kind):
            if r.score.level is not None:
                counts[r.score.level] += 1
        return counts

    def get(self, unit_code: str) -> UnitResult | None:
        return next((r for r in self.results if r.unit.code == unit_code), None)


def _rates(counters: dict[str, int]) -> dict[str, float | None]:
    vector = np.array([[counters.get(name, 0) for name in COUNTERS]], dtype=np.int64)
    return {name: column[0] for name, column in zip(RATES, rate_columns(vector), strict=True)}


def _units_in(registry: UnitRegistry, period: Period) -> list[Unit]:
    return [
        u
        for u in registry
        if u.kind in KINDS
        and u.valid_from_ms < period.end_ms
        and (u.valid_until_ms is None or u.valid_until_ms > period.start_ms)
    ]


def rolled_units(
    registry: UnitRegistry, period: Period, as_of_ms: int | None
) -> tuple[list[Unit], dict[str, str]]:
    """The units a period is reported for, and every code → the unit it is counted for.

    ``as_of_ms`` ``None``: every unit valid at some time in the period, each counted for itself.
    Otherwise predecessors that ended before ``as_of_ms`` are counted for the unit continuing
    them then (:meth:`UnitRegistry.reporting_code`), which is listed in their place (in registry
    order) even when it began after the period.
    """
    units = _units_in(registry, period)
    if as_of_ms is None:
        return units, {u.code: u.code for u in units}
    target = {u.code: registry.reporting_code(u.code, as_of_ms) for u in units}
    listed = set(target.values())
    return [u for u in registry if u.code in listed and u.kind in KINDS], target


def _add(into: dict[str, int], values: dict[str, int]) -> None:
    for name, value in values.items():
        into[name] = into.get(name, 0) + value


def assess(
    sink: ClickHouseSink,
    registry: UnitRegistry,
    period: Period,
    scoring: Scoring,
    progress: Progress | None = None,
    now_ms: int | None = None,
    rollup: bool = True,
    as_of_ms: int | None = None,
) -> Assessment:
    """Indicators, scores, levels, ranks and targets of every unit for ``period``.

    With ``rollup`` (the default), a unit merged away before the end of the period (or before
    ``as_of_ms``, epoch ms: a compared period uses the main period's end) is not listed: its
    dossiers are counted for its successor (every counter is a count or a sum, so the rates are
    those of the merged unit), its statuses join the successor's footnote, and the catalogue
    shares are the successor's own. ``rollup=False`` lists every unit valid in the period.

    Raises :class:`NoDataError` when no unit received a dossier in the period."""
    step = progress or (lambda _name: None)
    step("indicators")
    counters = period_counters(sink, period.start_ms, period.end_ms)
    if not any(c["received"] for c in counters.values()):
        raise NoDataError(
            f"no dossier was received in {period.label} "
            f"({period.start_day} to {period.last_day}, local days)"
        )
    step("trend")
    monthly = monthly_counters(sink, period.start_ms, period.end_ms)
    step("catalogue and connection")
    shares = catalogue_shares(sink, period.end_ms)
    partly = not_fully_connected(sink, period.start_ms, period.end_ms)
    step("scores")
    at = (period.end_ms - 1 if as_of_ms is None else as_of_ms) if rollup else None
    units, target = rolled_units(registry, period, at)
    merged: dict[str, list[str]] = {u.code: [] for u in units}
    by_unit = {u.code: dict.fromkeys(COUNTERS, 0) for u in units}
    rolled_monthly: dict[str, dict[str, dict[str, int]]] = {u.code: {} for u in units}
    rolled_partly: dict[str, set[str]] = {u.code: set() for u in units}
    for code, into in target.items():
        if code != into:
            merged[into].append(code)
        _add(by_unit[into], counters.get(code, {}))
        for month, values in monthly.get(code, {}).items():
            _add(rolled_monthly[into].setdefault(month, {}), values)
        rolled_partly[into].update(partly.get(code, []))
    monthly = rolled_monthly
    rates = {code: _rates(c) for code, c in by_unit.items()}
    scores = score_units(
        rates,
        {code: c["received"] for code, c in by_unit.items()},
        {u.code: u.kind for u in units},
        scoring,
    )
    targets = dict(scoring.targets)
    results = []
    for unit in units:
        unit_rates = rates[unit.code]
        catalogue = shares.get(unit.code, {})
        met: dict[str, bool | None] = {}
        if "remote_rate" in targets:
            remote = unit_rates["remote_rate"]
            met["remote_rate"] = None if remote is None else remote >= targets["remote_rate"]
        if unit.kind == "province":
            for name in ("online_procedures", "fully_online_procedures"):
                key = f"province_{name}"
                if key in targets:
                    share = catalogue.get(name)
                    met[key] = None if share is None else share >= targets[key]
        trend = {}
        for month, values in sorted(monthly.get(unit.code, {}).items()):
            month_rates = _rates(values)
            trend[month] = {
                "received": float(values["received"]),
                "online_rate": month_rates["online_rate"],
                "remote_rate": month_rates["remote_rate"],
            }
        results.append(
            UnitResult(
                unit,
                by_unit[unit.code],
                unit_rates,
                scores[unit.code],
                met,
                sorted(rolled_partly[unit.code]),
                trend,
                catalogue,
                merged[unit.code],
            )
        )
    computed = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    names = {u.code: u.name_vi for u in registry if target.get(u.code, u.code) != u.code}
    return Assessment(period, scoring, results, computed, names)


def store(sink: ClickHouseSink, assessment: Assessment) -> None:
    """Write the assessment to ``emc.unit_scores`` (a newer computation of the same period
    replaces the older one: ``ReplacingMergeTree(computed_at)``)."""
    p = assessment.period
    rows: list[list[Any]] = []
    for r in assessment.results:
        s = r.score
        rows.append(
            [
                p.label,
                p.start_ms,
                p.end_ms,
                r.unit.code,
                r.unit.kind,
                r.received,
                r.counters,
                r.rates,
                s.points,
                s.groups,
                s.total,
                s.score,
                s.level,
                s.rank,
                r.targets,
                bool(r.not_fully_connected),
                assessment.scoring.version,
                assessment.computed_at_ms,
            ]
        )
    columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
    for at in (1, 2, 17):
        columns[at] = [local_datetime(v) for v in columns[at]]
    sink.insert_columns("unit_scores", SCORE_COLUMNS, columns)


def read_scores(
    sink: ClickHouseSink, period: str | None = None, unit_code: str | None = None
) -> list[dict[str, Any]]:
    """Stored results (latest computation of each period and unit), newest period first;
    ``period``: a period label (``2026-Q3``), ``unit_code``: one unit only."""
    db = sink.database
    where = []
    params: dict[str, Any] = {}
    if period is not None:
        where.append("period = {period:String}")
        params["period"] = period
    if unit_code is not None:
        where.append("unit_code = {unit:String}")
        params["unit"] = unit_code
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    names, rows = sink.query_table(
        f"SELECT * FROM {db}.unit_scores FINAL {clause} "
        "ORDER BY period_start DESC, period, unit_kind, rank IS NULL, rank, unit_code",
        params,
    )
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for key in ("period_start", "period_end", "computed_at"):
            item[key] = int(item[key].timestamp() * 1000)
        for key in ("counters", "rates", "points", "group_points", "targets_met"):
            item[key] = dict(item[key])
        out.append(item)
    return out
