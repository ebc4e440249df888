"""The report EMC publishes for a period (seed 003's layout): HTML, XLSX and PNG charts.

- HTML (one self-contained page, charts embedded): the averages and level shares per kind, the
  level-share pies, seed 003's two ranking tables (rank, unit, level, vendor; the score beside
  them), each indicator's distribution, per-unit monthly trends of the online and remote rates
  against the 50% target, targets met, an optional comparison with another period, and the
  connection-status appendix of seed 001 with a footnote marking units not fully connected
  during the period.
- XLSX: the same tables, one sheet each, with headers, number formats, filters, frozen panes.
- PNG: every chart as its own file.

Rates are fractions inside and percentages on the page; processing times are hours on the page.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from streams.assessment.assess import KINDS, Assessment
from streams.assessment.labels import LABELS
from streams.core.localtime import format_local
from streams.health.report import ReportRow

LEVEL_COLOURS: dict[str, str] = {
    "A": "#1b7837",
    "B": "#7fbf7b",
    "C": "#f1c232",
    "D": "#e69138",
    "E": "#cc0000",
}
TARGET_RATE = 0.5
"""Seed 002: the 50% line drawn on the trend charts (the remote-rate target)."""
SHOWN_RATES: tuple[str, ...] = (
    "online_rate",
    "remote_rate",
    "fully_online_rate",
    "on_time_rate",
    "online_payment_rate",
    "digitisation_rate",
    "satisfaction_rate",
)
"""Indicators shown per unit and charted as distributions."""
FOOTNOTE_MARK = " (*)"


@dataclass(slots=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    html: Path
    xlsx: Path
    charts: list[Path] = field(default_factory=list)


def _t(lang: str) -> dict[str, str]:
    return LABELS[lang]


def _pct(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _name(a: Assessment, code: str) -> str:
    """A merged-away unit's Vietnamese name (its code if unknown)."""
    return a.names.get(code, code)


# -- tables (shared by HTML and XLSX) --------------------------------------------------------
def ranking_table(a: Assessment, kind: str, lang: str) -> tuple[list[str], list[list[Any]]]:
    """Seed 003's table for ``kind``: rank, unit, level, vendor, score; unscored units last."""
    t = _t(lang)
    header = [t["rank"], t[f"{kind}.unit"], t["level_col"], t["vendor"], t["score"]]
    rows = []
    for r in a.ranked(kind):
        name = r.unit.name_vi + (FOOTNOTE_MARK if r.not_fully_connected else "")
        level = r.score.level if r.score.level is not None else t["no_data"]
        rows.append([r.score.rank, name, level, r.unit.vendor or "", r.score.score])
    return header, rows


def indicator_table(a: Assessment, lang: str) -> tuple[list[str], list[list[Any]]]:
    """One row per unit: code, name, received, rates (fractions), points total, score, level."""
    t = _t(lang)
    header = [
        "unit_code",
        t["unit"],
        t["received"],
        *(t[name] for name in SHOWN_RATES),
        t["avg_processing_s"],
        t["score"],
        t["level_col"],
        t["rank"],
    ]
    rows = []
    for r in a.results:
        avg_s = r.rates.get("avg_processing_s")
        rows.append(
            [
                r.unit.code,
                r.unit.name_vi,
                r.received,
                *(r.rates.get(name) for name in SHOWN_RATES),
                None if avg_s is None else avg_s / 3600.0,
                r.score.score,
                r.score.level,
                r.score.rank,
            ]
        )
    return header, rows


def target_names(a: Assessment) -> list[str]:
    return [name for name, _ in a.scoring.targets]


def targets_table(a: Assessment, lang: str) -> tuple[list[str], list[list[Any]]]:
    """One row per unit: met / not met / unknown per target."""
    t = _t(lang)
    thresholds = dict(a.scoring.targets)
    names = target_names(a)
    header = [
        "unit_code",
        t["unit"],
        *(t[f"target.{n}"].format(value=f"{thresholds[n] * 100:g}") for n in names),
    ]
    rows = []
    for r in a.results:
        cells: list[Any] = []
        for n in names:
            met = r.targets.get(n)
            cells.append(t["unknown"] if met is None else t["met"] if met else t["not_met"])
        rows.append([r.unit.code, r.unit.name_vi, *cells])
    return header, rows


def _level_index(a: Assessment) -> dict[str, int]:
    return {band.level: i for i, band in enumerate(a.scoring.bands)}


def compare_table(a: Assessment, b: Assessment, lang: str) -> tuple[list[str], list[list[Any]]]:
    """Units scored in both periods: levels, scores, ranks side by side and how far they moved
    (levels moved > 0 = up)."""
    t = _t(lang)
    pa, pb = b.period.label, a.period.label
    header = [
        "unit_code",
        t["unit"],
        f"{t['level_col']} {pa}",
        f"{t['level_col']} {pb}",
        f"{t['score']} {pa}",
        f"{t['score']} {pb}",
        f"Δ {t['score']}",
        f"{t['rank']} {pa}",
        f"{t['rank']} {pb}",
        t["change"],
    ]
    order = _level_index(a)
    rows = []
    for r in a.results:
        old = b.get(r.unit.code)
        if old is None:
            continue
        now_s, old_s = r.score, old.score
        delta = None if now_s.score is None or old_s.score is None else now_s.score - old_s.score
        moved = ""
        if now_s.level and old_s.level and now_s.level != old_s.level:
            steps = order[old_s.level] - order[now_s.level]
            moved = f"{t['moved_up'] if steps > 0 else t['moved_down']} ({steps:+d})"
        rows.append(
            [
                r.unit.code,
                r.unit.name_vi,
                old_s.level,
                now_s.level,
                old_s.score,
                now_s.score,
                None if delta is None else round(delta, a.scoring.decimals),
                old_s.rank,
                now_s.rank,
                moved,
            ]
        )
    return header, rows


def appendix_table(rows: list[ReportRow], lang: str) -> tuple[list[str], list[list[Any]]]:
    t = _t(lang)
    header = [t["stt"], "unit_code", t["unit"], t["status"], t["reason"]]
    return header, [[r.stt, r.unit_code, r.name_vi, r.status_label, r.reason] for r in rows]


# -- charts -----------------------------------------------------------------------------------
def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def pie_chart(a: Assessment, kind: str, lang: str) -> bytes:
    """Share of the scored units of ``kind`` at each level (seed 003's Hình 1 / Hình 2)."""
    t = _t(lang)
    shares = {k: v for k, v in a.level_shares(kind).items() if v}
    fig = Figure(figsize=(4.6, 3.6))
    ax = fig.add_subplot()
    if shares:
        ax.pie(
            list(shares.values()),
            labels=[t["level"].format(level=k) for k in shares],
            colors=[LEVEL_COLOURS.get(k, "#999999") for k in shares],
            autopct="%1.0f%%",
            startangle=90,
            counterclock=False,
        )
    ax.set_aspect("equal")
    return _png(fig)


def distribution_chart(a: Assessment, lang: str) -> bytes:
    """Histogram of each shown rate across units, ministries and provinces stacked."""
    t = _t(lang)
    fig = Figure(figsize=(11, 6.5))
    bins = [i / 10 for i in range(11)]
    for i, name in enumerate(SHOWN_RATES):
        ax = fig.add_subplot(2, 4, i + 1)
        series: list[list[float]] = [
            [v for r in a.of_kind(kind) if (v := r.rates.get(name)) is not None] for kind in KINDS
        ]
        ax.hist(series, bins=bins, stacked=True, color=["#3d85c6", "#e69138"], label=list(KINDS))
        ax.set_title(t[name], fontsize=9)
        ax.set_xlim(0, 1)
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(2, 4, 8)
    ax.axis("off")
    ax.legend(
        handles=[
            ax.bar([0], [0], color=c, label=t[f"{k}.unit"])[0]
            for k, c in zip(KINDS, ("#3d85c6", "#e69138"), strict=True)
        ],
        loc="center",
    )
    fig.tight_layout()
    return _png(fig)


def trend_chart(a: Assessment, kind: str, lang: str) -> bytes:
    """Small multiples: each unit's monthly online and remote rates against the 50% target."""
    t = _t(lang)
    units = a.of_kind(kind)
    months = [m.label for m in a.period.months()]
    cols = 7
    rows = max(1, -(-len(units) // cols))
    fig = Figure(figsize=(cols * 2.0, rows * 1.6 + 0.6))
    for i, r in enumerate(units):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs = list(range(len(months)))
        online = [r.trend.get(m, {}).get("online_rate") for m in months]
        remote = [r.trend.get(m, {}).get("remote_rate") for m in months]
        ax.plot(xs, [float("nan") if v is None else v for v in online], "o-", color="#3d85c6",
                markersize=2.5, linewidth=1)  # fmt: skip
        ax.plot(xs, [float("nan") if v is None else v for v in remote], "s-", color="#cc0000",
                markersize=2.5, linewidth=1)  # fmt: skip
        ax.axhline(TARGET_RATE, color="#666666", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1)
        ax.set_xticks(xs, [m[5:] for m in months], fontsize=5)
        ax.tick_params(axis="y", labelsize=5)
        ax.set_title(r.unit.name_vi, fontsize=6)
    fig.suptitle(
        f"{t['trend']} — {t['online_rate']} (xanh/blue), {t['remote_rate']} (đỏ/red)",
        fontsize=9,
    )
    fig.tight_layout()
    return _png(fig)


# -- HTML -------------------------------------------------------------------------------------
_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:20px;text-align:center} h2{font-size:17px;margin-top:28px} h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}
th,td{border:1px solid #999;padding:3px 8px} th{background:#dde6f0}
td.n{text-align:right} .caption{font-style:italic;text-align:center;font-size:13px}
.lvA{background:#d9ead3}.lvE{background:#f4cccc} .meta{color:#555;font-size:13px}
img{max-width:100%} .pies{display:flex;gap:24px;flex-wrap:wrap} .foot{font-size:12px}
"""


def _cell(value: Any, kind: str = "") -> str:
    if value is None:
        return "<td></td>"
    if kind == "pct":
        return f'<td class="n">{_pct(value)}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:.2f}</td>'
    if isinstance(value, int):
        return f'<td class="n">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(header: list[str], rows: list[list[Any]], kinds: list[str] | None = None) -> str:
    kinds = kinds or [""] * len(header)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(_cell(v, k) for v, k in zip(row, kinds, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _average_block(a: Assessment, kind: str, lang: str) -> str:
    t = _t(lang)
    avg = a.average_score(kind)
    shares = a.level_shares(kind)
    scored = sum(shares.values())
    lines = [html.escape(t[f"{kind}.average"].format(score=_num(avg, 0) or "—"))]
    for level, count in shares.items():
        share = round(count * 100 / scored) if scored else 0
        lines.append(
            html.escape(t["level_line"].format(level=level, count=count, total=scored, share=share))
        )
    return "<p>" + "<br>".join(lines) + "</p>"


def render_html(
    a: Assessment,
    charts: dict[str, bytes],
    appendix: list[ReportRow],
    lang: str = "vi",
    compare: Assessment | None = None,
) -> str:
    """The whole report as one HTML page (charts embedded as PNG data)."""
    t = _t(lang)
    p = a.period
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(t['title'])} — {html.escape(p.label)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(t['title'])}</h1>",
        f'<p class="meta">{html.escape(t["period"])}: <b>{html.escape(p.label)}</b> '
        f"({p.start_day} – {p.last_day}) · {html.escape(t['computed'])} "
        f"{format_local(a.computed_at_ms)} · {html.escape(t['scoring_version'])}: "
        f"{html.escape(a.scoring.version)}</p>",
        f"<h2>{html.escape(t['part_results'])}</h2>",
    ]
    for kind in KINDS:
        header, rows = ranking_table(a, kind, lang)
        parts += [
            f"<h3>{html.escape(t[f'{kind}.section'])}</h3>",
            _average_block(a, kind, lang),
            _img(charts[f"levels_{kind}"], t[f"{kind}.figure"]),
            f'<p class="caption">{html.escape(t[f"{kind}.figure"])}</p>',
            f"<h3>{html.escape(t[f'{kind}.ranking'])}</h3>",
            _table(header, rows, ["", "", "", "", ""]),
            f'<p class="caption">{html.escape(t[f"{kind}.table"])}</p>',
        ]
    if any(r.not_fully_connected for r in a.results):
        parts.append(f'<p class="foot">{html.escape(t["footnote"])}</p>')
    merged = "; ".join(
        f"{r.unit.name_vi} ← {', '.join(_name(a, c) for c in r.merged)}"
        for r in a.results
        if r.merged
    )
    if merged:
        parts.append(f'<p class="foot merged">{html.escape(t["merged"] + merged)}.</p>')
    parts.append(f"<h2>{html.escape(t['part_detail'])}</h2>")
    header, rows = indicator_table(a, lang)
    kinds = ["", "", "", *(["pct"] * len(SHOWN_RATES)), "", "", "", ""]
    parts += [
        f"<h3>{html.escape(t['distribution'])}</h3>",
        _img(charts["distribution"], t["distribution"]),
        f"<h3>{html.escape(t['indicators'])}</h3>",
        _table(header, rows, kinds),
        f"<h3>{html.escape(t['trend'])}</h3>",
        *(_img(charts[f"trend_{kind}"], t["trend"]) for kind in KINDS),
    ]
    header, rows = targets_table(a, lang)
    summary = []
    for i in range(len(target_names(a))):
        values = [row[2 + i] for row in rows if row[2 + i] != t["unknown"]]
        met = sum(v == t["met"] for v in values)
        label = header[2 + i]
        summary.append(f"{label}: {t['met_count'].format(met=met, total=len(values))}")
    parts += [
        f"<h3>{html.escape(t['targets'])}</h3>",
        "<p>" + "<br>".join(html.escape(s) for s in summary) + "</p>",
        _table(header, rows),
    ]
    if compare is not None:
        header, rows = compare_table(a, compare, lang)
        parts += [
            f"<h3>{html.escape(t['compare'].format(other=compare.period.label))}</h3>",
            _table(header, rows),
        ]
    header, rows = appendix_table(appendix, lang)
    parts += [f"<h2>{html.escape(t['appendix'])}</h2>", _table(header, rows), "</body></html>"]
    return "\n".join(parts)


# -- XLSX -------------------------------------------------------------------------------------
def render_xlsx(
    a: Assessment,
    appendix: list[ReportRow],
    path: Path,
    lang: str = "vi",
    compare: Assessment | None = None,
) -> None:
    """The report's tables as a workbook, one sheet per table (rates as percentages)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE6F0")
    sheets: list[tuple[str, tuple[list[str], list[list[Any]]], set[int]]] = [
        ("Bảng 1" if lang == "vi" else "Table 1", ranking_table(a, "ministry", lang), set()),
        ("Bảng 2" if lang == "vi" else "Table 2", ranking_table(a, "province", lang), set()),
        (
            "Chỉ số" if lang == "vi" else "Indicators",
            indicator_table(a, lang),
            set(range(3, 3 + len(SHOWN_RATES))),
        ),
        ("Mục tiêu" if lang == "vi" else "Targets", targets_table(a, lang), set()),
    ]
    if compare is not None:
        sheets.append(
            ("So sánh" if lang == "vi" else "Compare", compare_table(a, compare, lang), set())
        )
    sheets.append(
        ("Phụ lục" if lang == "vi" else "Appendix", appendix_table(appendix, lang), set())
    )
    for title, (header, rows), pct_columns in sheets:
        ws = book.create_sheet(title)
        ws.append(header)
        for cell in ws[1]:
            cell.font = bold
            cell.fill = fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for row in rows:
            ws.append(row)
        for index in range(len(header)):
            letter = ws.cell(row=1, column=index + 1).column_letter
            width = max([len(str(header[index]))] + [len(str(r[index] or "")) for r in rows])
            ws.column_dimensions[letter].width = min(60, max(8, width + 2))
            if index in pct_columns:
                for cell in ws[letter][1:]:
                    cell.number_format = "0.0%"
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
    book.save(path)


# -- all of it --------------------------------------------------------------------------------
def write_report(
    a: Assessment,
    appendix: list[ReportRow],
    out_dir: Path,
    lang: str = "vi",
    compare: Assessment | None = None,
    step: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Charts, HTML and XLSX of ``a`` into ``out_dir`` (created), named by the period."""
    progress = step or (lambda _name: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"emc-report-{a.period.label.replace('..', '_')}"
    progress("charts")
    charts = {f"levels_{k}": pie_chart(a, k, lang) for k in KINDS}
    charts["distribution"] = distribution_chart(a, lang)
    for kind in KINDS:
        charts[f"trend_{kind}"] = trend_chart(a, kind, lang)
    files = ReportFiles(out_dir / f"{stem}.html", out_dir / f"{stem}.xlsx")
    for name, data in charts.items():
        path = out_dir / f"{stem}-{name}.png"
        path.write_bytes(data)
        files.charts.append(path)
    progress("html")
    files.html.write_text(render_html(a, charts, appendix, lang, compare), encoding="utf-8")
    progress("xlsx")
    render_xlsx(a, appendix, files.xlsx, lang, compare)
    return files
