"""Stored assessment results on the pages: seed 003's tables on the dashboard, a unit's periods.

The numbers are the rows ``emc report`` (or :func:`streams.assessment.store`) wrote to
``emc.unit_scores``; the pages never compute a score. They change only when an assessment is
stored, so the tables are rendered into the page by the server (no refresh loop).

- the dashboard shows the latest stored period (the one ending last; among periods ending on the
  same day, the one computed last), or ``?period=LABEL``: for a national token seed 003's two
  tables (rank, unit, level, score, vendor; ministries, then provinces) with the average score
  and the number of units at each level; for a unit token only its own row;
- a unit's page lists its results for every stored period, newest first.

Scores are 0–100, rates fractions shown as percentages. Labels come from
:mod:`streams.assessment.labels` (the report's wording); ``data-i18n`` keys let the page's
language toggle switch them (``static/common.js``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Final

from sinks.clickhouse import ClickHouseSink
from streams.assessment.assess import KINDS, read_scores
from streams.assessment.labels import LABELS
from streams.core.localtime import format_local
from streams.core.registry import UnitRegistry
from streams.web.auth import Principal

VI: Final = LABELS["vi"]
UNIT_RATES: Final[tuple[str, ...]] = (
    "online_rate",
    "remote_rate",
    "on_time_rate",
    "satisfaction_rate",
)
"""Rates shown per period on a unit's page (the report's indicator names)."""


@dataclass(frozen=True, slots=True)
class StoredPeriod:
    """A period with stored results: label, end (epoch ms, exclusive), last computation (ms)."""

    label: str
    end_ms: int
    computed_at_ms: int


def stored_periods(sink: ClickHouseSink, unit_code: str | None = None) -> list[StoredPeriod]:
    """Periods in ``emc.unit_scores`` (those with a row of ``unit_code`` when given), latest
    first: by period end, then by computation time."""
    where = "WHERE unit_code = {unit:String}" if unit_code is not None else ""
    rows = sink.query_rows(
        "SELECT period, toUnixTimestamp64Milli(max(period_end)), "
        "toUnixTimestamp64Milli(max(computed_at)) "
        f"FROM {sink.database}.unit_scores {where} GROUP BY period",
        {"unit": unit_code} if unit_code is not None else None,
    )
    periods = [StoredPeriod(str(r[0]), int(r[1]), int(r[2])) for r in rows]
    periods.sort(key=lambda p: (p.end_ms, p.computed_at_ms, p.label), reverse=True)
    return periods


@dataclass(frozen=True, slots=True)
class DashboardScores:
    """What the dashboard's scores section shows: the stored periods the token may pick, the
    period shown (``None``: nothing stored) and its rows (already limited to the token)."""

    periods: list[StoredPeriod]
    period: str | None
    rows: list[dict[str, Any]]
    national: bool
    """A national token: averages and level counts are shown (a unit token sees its row only)."""


def dashboard_scores(
    sink: ClickHouseSink, principal: Principal, period: str | None
) -> DashboardScores:
    """Stored rows of ``period`` (default: the latest stored) that ``principal`` may see."""
    unit = None if principal.role == "national" else principal.unit_code
    periods = stored_periods(sink, unit)
    labels = [p.label for p in periods]
    chosen = period if period in labels else (labels[0] if labels else None)
    if chosen is None:
        return DashboardScores(periods, None, [], unit is None)
    rows = [r for r in read_scores(sink, chosen, unit) if principal.may_see(r["unit_code"])]
    return DashboardScores(periods, chosen, rows, unit is None)


def unit_scores(sink: ClickHouseSink, unit_code: str) -> list[dict[str, Any]]:
    """Every stored period's row of ``unit_code``, latest first (as :func:`stored_periods`)."""
    rows = read_scores(sink, None, unit_code)
    rows.sort(key=lambda r: (r["period_end"], r["computed_at"], r["period"]), reverse=True)
    return rows


def _e(value: object) -> str:
    return html.escape(str(value))


def _label(key: str, text: str | None = None) -> str:
    """A label the page's language toggle can switch (``data-i18n="sc.<key>"``)."""
    return f'<span data-i18n="sc.{_e(key)}">{_e(text if text is not None else VI[key])}</span>'


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _level(row: dict[str, Any]) -> str:
    if row["level"] is None:
        return f'<td class="level none">{_label("no_data")}</td>'
    level = _e(row["level"])
    return f'<td class="level level-{level}" data-level="{level}">{level}</td>'


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scored rows by rank (then code), unscored rows after them."""
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["unit_code"]))


def _kind_table(kind: str, rows: list[dict[str, Any]], registry: UnitRegistry, full: bool) -> str:
    """Seed 003's table of one kind: rank, unit, level, score, vendor (``full``: with the
    average score and the number of units at each level above it)."""
    unit_col = f"{kind}.unit"
    head = (
        f'<tr><th class="num">{_label("rank")}</th><th>{_label(unit_col)}</th>'
        f'<th>{_label("level_col")}</th><th class="num">{_label("score")}</th>'
        f"<th>{_label('vendor')}</th></tr>"
    )
    body = []
    for r in _ranked(rows):
        unit = registry.get(r["unit_code"])
        name = unit.name_vi if unit is not None else r["unit_code"]
        vendor = (unit.vendor if unit is not None else None) or ""
        mark = " (*)" if r["partly_connected"] else ""
        href = f"/emc/dashboard/units/{_e(r['unit_code'])}"
        body.append(
            f'<tr data-unit="{_e(r["unit_code"])}">'
            f'<td class="num rank">{"" if r["rank"] is None else r["rank"]}</td>'
            f'<td class="name"><a href="{href}">{_e(name)}</a>{mark}</td>'
            f'{_level(r)}<td class="num score">{_score(r["score"])}</td>'
            f"<td>{_e(vendor)}</td></tr>"
        )
    summary = ""
    scored = [r["score"] for r in rows if r["score"] is not None]
    if full and rows:
        average = _score(sum(scored) / len(scored)) if scored else "—"
        levels: dict[str, int] = {}
        for r in rows:
            if r["level"] is not None:
                levels[r["level"]] = levels.get(r["level"], 0) + 1
        shares = " · ".join(f"{_e(k)}: {n}" for k, n in sorted(levels.items()))
        summary = (
            f'<p class="score-summary" data-kind="{kind}">'
            f'{_label("average_score", "Điểm trung bình")}: <b class="average">{average}</b>'
            f" · {_label('scored_units', 'Đơn vị được xếp hạng')}: {len(scored)}/{len(rows)}"
            f"{' · ' + shares if shares else ''}</p>"
        )
    return (
        f"<h3>{_label(f'{kind}.table')}</h3>{summary}"
        f'<table class="units scores" data-kind="{kind}"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _picker(view: DashboardScores) -> str:
    """A plain GET form choosing the stored period (no script needed)."""
    options = "".join(
        f'<option value="{_e(p.label)}"{" selected" if p.label == view.period else ""}>'
        f"{_e(p.label)}</option>"
        for p in view.periods
    )
    return (
        '<form method="get" action="/emc/dashboard" class="period-picker">'
        f'<label>{_label("period")} <select name="period" id="score-period">{options}'
        "</select></label> "
        f'<button type="submit">{_label("show", "Xem")}</button></form>'
    )


def dashboard_section(view: DashboardScores | None, registry: UnitRegistry, error: str = "") -> str:
    """The dashboard's scores section (``view`` ``None`` with ``error``: could not be read)."""
    title = f"<h2>{_label('results', 'Kết quả đánh giá, xếp hạng')}</h2>"
    if view is None:
        error_text = f'<p class="error">{_e(error)}</p>'
        return f'<section id="scores" class="chart">{title}{error_text}</section>'
    if view.period is None:
        empty = _label("no_scores", "Chưa có kết quả đánh giá nào được lưu (emc report).")
        return f'<section id="scores" class="chart">{title}<p>{empty}</p></section>'
    computed = max(r["computed_at"] for r in view.rows) if view.rows else None
    version = sorted({str(r["scoring_version"]) for r in view.rows})
    meta = (
        f'<p class="score-meta">{_label("period")}: <b id="score-period-shown">'
        f"{_e(view.period)}</b>"
        + (f" · {_label('computed')}: {_e(format_local(computed))}" if computed else "")
        + (f" · {_label('scoring_version')}: {_e(', '.join(version))}" if version else "")
        + "</p>"
    )
    full = view.national
    tables = "".join(
        _kind_table(kind, [r for r in view.rows if r["unit_kind"] == kind], registry, full)
        for kind in KINDS
        if any(r["unit_kind"] == kind for r in view.rows)
    )
    footnote = (
        f'<p class="footnote">{_label("footnote")}</p>'
        if any(r["partly_connected"] for r in view.rows)
        else ""
    )
    return (
        f'<section id="scores" class="chart">{title}{_picker(view)}{meta}{tables}{footnote}'
        "</section>"
    )


def unit_section(rows: list[dict[str, Any]] | None, error: str = "") -> str:
    """A unit's page: its stored result per period (score, level, rank, main rates, targets)."""
    title = f"<h3>{_label('unit_results', 'Kết quả đánh giá theo kỳ')}</h3>"
    if rows is None:
        return (
            f'<section id="unit-scores" class="chart">{title}<p class="error">{_e(error)}</p>'
            "</section>"
        )
    if not rows:
        empty = _label("no_scores", "Chưa có kết quả đánh giá nào được lưu (emc report).")
        return f'<section id="unit-scores" class="chart">{title}<p>{empty}</p></section>'
    head = (
        f'<tr><th>{_label("period")}</th><th class="num">{_label("score")}</th>'
        f'<th>{_label("level_col")}</th><th class="num">{_label("rank")}</th>'
        f'<th class="num">{_label("received")}</th>'
        + "".join(f'<th class="num">{_label(rate)}</th>' for rate in UNIT_RATES)
        + f"<th>{_label('targets')}</th><th>{_label('scoring_version')}</th></tr>"
    )
    body = []
    for r in rows:
        met = [v for v in r["targets_met"].values() if v is not None]
        targets = f"{sum(met)}/{len(met)}" if met else "—"
        rates = "".join(
            f'<td class="num" data-rate="{rate}">{_pct(r["rates"].get(rate))}</td>'
            for rate in UNIT_RATES
        )
        body.append(
            f'<tr data-period="{_e(r["period"])}"><td>{_e(r["period"])}'
            f"{' (*)' if r['partly_connected'] else ''}</td>"
            f'<td class="num score">{_score(r["score"])}</td>{_level(r)}'
            f'<td class="num rank">{"" if r["rank"] is None else r["rank"]}</td>'
            f'<td class="num">{r["received"]:,}</td>{rates}'
            f'<td class="targets">{targets}</td><td>{_e(r["scoring_version"])}</td></tr>'
        )
    return (
        f'<section id="unit-scores" class="chart">{title}<table class="units scores">'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></section>"
    )
