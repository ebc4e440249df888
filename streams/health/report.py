"""The appendix of seed 001 from live data: each unit's connection status, in the letter's words.

Rows come from the status history (the status in force now, or at ``--at``); a unit with no
recorded period there is evaluated on the spot as of the same instant (the rules are as-of), so
the report is complete even before the worker first evaluated. Units are those of the registry
valid at that instant, in registry order, numbered (STT) within their section as in the letter.

Formats: a terminal table, CSV (one row per unit, flat), XLSX (sheet "Phụ lục" laid out like the
letter, sheet "Dữ liệu" flat like the CSV) and a self-contained HTML page.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streams.core.localtime import format_local
from streams.health.overrides import in_force
from streams.health.statuses import STATUS_LABELS

if TYPE_CHECKING:
    from streams.health.monitor import HealthMonitor

TITLE = (
    "HIỆN TRẠNG KẾT NỐI GIỮA HỆ THỐNG THÔNG TIN GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH "
    "CẤP BỘ, CẤP TỈNH VỚI HỆ THỐNG EMC"
)
SECTIONS: dict[str, tuple[str, str]] = {
    "ministry": ("1. Đối với các bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ", "Bộ/Ngành"),
    "province": ("2. Đối với các tỉnh, thành phố trực thuộc trung ương", "Tỉnh/TP"),
}
"""kind → (section heading, name column header), in the letter's words."""
STATUS_HEADER = "Hiện trạng kết nối với Hệ thống EMC"
REASON_HEADER = "Lý do"
FOOTNOTE = "[1] Bộ, ngành, địa phương chưa hoàn thành kết nối toàn diện với Hệ thống EMC: "
CSV_COLUMNS: tuple[str, ...] = (
    "section",
    "STT",
    "unit_code",
    "name_vi",
    STATUS_HEADER,
    "reason",
    "status",
    "since",
    "last_event_at",
    "source",
)
FORMATS: tuple[str, ...] = ("table", "csv", "xlsx", "html")


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One unit's line of the appendix; times are epoch ms (UTC) or ``None``.

    ``source`` is ``history`` (a recorded period) or ``evaluated`` (computed for the report).
    """

    kind: str
    stt: int
    unit_code: str
    name_vi: str
    status: str
    status_label: str
    reason: str
    since_ms: int | None
    last_event_at_ms: int | None
    source: str


def build_report(monitor: HealthMonitor, at_ms: int | None = None) -> list[ReportRow]:
    """Every unit valid at ``at_ms`` (default now), ministries then provinces, registry order."""
    from streams.health.monitor import now_ms

    at = now_ms() if at_ms is None else at_ms
    periods = monitor.status_at(at_ms)
    overrides = in_force(monitor.overrides(), at)
    for code, recorded in list(periods.items()):
        # a recorded period an override decided, or that an override in force now contradicts,
        # is stale until the next evaluation: evaluate that unit afresh (overrides applied)
        o = overrides.get(code)
        by_override = recorded.reason_code == "operator_override"
        if (by_override and (o is None or o.status != recorded.status)) or (
            o is not None and not by_override
        ):
            del periods[code]
    registry = monitor.registry
    units = registry.valid_at(at)
    missing = [u.code for u in units if u.code not in periods]
    evaluated = (
        {s.unit_code: s for s in monitor.evaluate(at, record_history=False)[0]} if missing else {}
    )
    rows: list[ReportRow] = []
    for kind in SECTIONS:
        stt = 0
        for unit in units:
            if unit.kind != kind:
                continue
            stt += 1
            period = periods.get(unit.code)
            if period is not None:
                rows.append(
                    ReportRow(
                        kind,
                        stt,
                        unit.code,
                        unit.name_vi,
                        period.status,
                        STATUS_LABELS[period.status],
                        period.reason,
                        period.from_ms,
                        period.last_event_at_ms,
                        "history",
                    )
                )
                continue
            status = evaluated.get(unit.code)
            if status is None:
                continue
            rows.append(
                ReportRow(
                    kind,
                    stt,
                    unit.code,
                    unit.name_vi,
                    status.status,
                    status.status_label,
                    status.reason,
                    None,
                    status.last_event_at_ms,
                    "evaluated",
                )
            )
    return rows


def filter_rows(
    rows: Iterable[ReportRow], kinds: Iterable[str] = (), statuses: Iterable[str] = ()
) -> list[ReportRow]:
    """Rows of the given kinds and statuses (an empty filter keeps everything)."""
    kind_set, status_set = set(kinds), set(statuses)
    return [
        r
        for r in rows
        if (not kind_set or r.kind in kind_set) and (not status_set or r.status in status_set)
    ]


def local_time(ts_ms: int | None) -> str:
    """``YYYY-MM-DD HH:MM`` in Asia/Ho_Chi_Minh, or an empty string."""
    if ts_ms is None:
        return ""
    return format_local(ts_ms)


def summary_line(rows: list[ReportRow], at_ms: int) -> str:
    """The letter's counting sentence, from the rows."""
    full = sum(r.status == "fully_connected" for r in rows)
    rest = len(rows) - full
    return (
        f"Đến {local_time(at_ms)}, đã có {full} bộ, ngành, địa phương thực hiện kết nối toàn diện "
        f"với Hệ thống EMC; vẫn còn {rest} bộ, ngành, địa phương[1] chưa hoàn thành kết nối "
        "toàn diện với Hệ thống EMC."
    )


def footnote(rows: list[ReportRow]) -> str:
    """The letter's footnote: units not fully connected, ministries first, registry order."""
    names = [r.name_vi for r in rows if r.status != "fully_connected"]
    return FOOTNOTE + ("; ".join(names) + "." if names else "(không có).")


def _flat(row: ReportRow) -> list[str]:
    return [
        SECTIONS[row.kind][0],
        str(row.stt),
        row.unit_code,
        row.name_vi,
        row.status_label,
        row.reason,
        row.status,
        local_time(row.since_ms),
        local_time(row.last_event_at_ms),
        row.source,
    ]


def render_csv(rows: list[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_flat(r) for r in rows)
    return out.getvalue()


def render_table(rows: list[ReportRow], at_ms: int) -> str:
    """Plain-text table per section, then the summary and the footnote."""
    lines = [TITLE, f"(thời điểm: {local_time(at_ms)})", ""]
    for kind, (heading, name_header) in SECTIONS.items():
        part = [r for r in rows if r.kind == kind]
        if not part:
            continue
        cells = [["STT", name_header, STATUS_HEADER, REASON_HEADER]]
        cells += [[str(r.stt), r.name_vi, r.status_label, r.reason] for r in part]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        lines += [heading, ""]
        for n, c in enumerate(cells):
            lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
    lines += [summary_line(rows, at_ms), "", footnote(rows)]
    return "\n".join(lines) + "\n"


def render_xlsx(rows: list[ReportRow], at_ms: int, path: Path) -> None:
    """Write an .xlsx: "Phụ lục" like the letter, "Dữ liệu" flat like the CSV."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Phụ lục"
    bold = Font(bold=True)
    sheet.append(["PHỤ LỤC"])
    sheet.append([TITLE])
    sheet.append([f"(thời điểm: {local_time(at_ms)})"])
    sheet["A1"].font = bold
    sheet["A2"].font = bold
    for kind, (heading, name_header) in SECTIONS.items():
        part = [r for r in rows if r.kind == kind]
        if not part:
            continue
        sheet.append([])
        sheet.append([heading])
        sheet.cell(sheet.max_row, 1).font = bold
        sheet.append(["STT", name_header, STATUS_HEADER, REASON_HEADER])
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        for r in part:
            sheet.append([r.stt, r.name_vi, r.status_label, r.reason])
    sheet.append([])
    sheet.append([summary_line(rows, at_ms)])
    sheet.append([footnote(rows)])
    for column, width in zip("ABCD", (6, 40, 62, 60), strict=True):
        sheet.column_dimensions[column].width = width
    for line in sheet.iter_rows(min_row=4):
        for cell in line:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    data = book.create_sheet("Dữ liệu")
    data.append(list(CSV_COLUMNS))
    for r in rows:
        flat: list[str | int] = list(_flat(r))
        flat[1] = r.stt
        data.append(flat)
    book.save(path)


_BADGE = {
    "not_connected": "#6b7280",
    "interrupted": "#b91c1c",
    "needs_reconciliation": "#b45309",
    "not_comprehensive": "#1d4ed8",
    "fully_connected": "#15803d",
    "coordinating": "#7c3aed",
}


def render_html(rows: list[ReportRow], at_ms: int) -> str:
    """A self-contained HTML page of the appendix (no scripts, no external resources)."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="vi"><head><meta charset="utf-8">',
        f"<title>{e(TITLE)}</title>",
        "<style>",
        "body{font-family:'Times New Roman',serif;max-width:60rem;margin:2rem auto;color:#111}",
        "h1{font-size:1.1rem;text-align:center}h2{font-size:1rem;margin-top:1.5rem}",
        ".at{text-align:center;font-style:italic}",
        "table{border-collapse:collapse;width:100%;table-layout:fixed}"
        "th,td{border:1px solid #444;padding:.3rem .5rem;"
        "vertical-align:top;text-align:left}th{background:#eee}td.stt{text-align:center;width:3rem}",
        ".status{font-weight:bold}.reason{color:#444;font-size:.9rem}",
        ".dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem}",
        ".foot{margin-top:1.5rem;font-size:.95rem}",
        "</style></head><body>",
        "<p><b>PHỤ LỤC</b></p>",
        f"<h1>{e(TITLE)}</h1>",
        f'<p class="at">(thời điểm: {e(local_time(at_ms))})</p>',
    ]
    for kind, (heading, name_header) in SECTIONS.items():
        part = [r for r in rows if r.kind == kind]
        if not part:
            continue
        parts.append(f"<h2>{e(heading)}</h2>")
        parts.append(
            '<table><colgroup><col style="width:3.5rem"><col style="width:28%">'
            '<col style="width:36%"><col></colgroup>'
            f"<thead><tr><th>STT</th><th>{e(name_header)}</th>"
            f"<th>{e(STATUS_HEADER)}</th><th>{e(REASON_HEADER)}</th></tr></thead><tbody>"
        )
        for r in part:
            parts.append(
                f'<tr data-unit="{e(r.unit_code)}" data-status="{e(r.status)}">'
                f'<td class="stt">{r.stt}</td><td>{e(r.name_vi)}</td>'
                f'<td class="status"><span class="dot" style="background:{_BADGE[r.status]}">'
                f"</span>{e(r.status_label)}</td>"
                f'<td class="reason">{e(r.reason)}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append(f'<p class="foot">{e(summary_line(rows, at_ms))}</p>')
    parts.append(f'<p class="foot">{e(footnote(rows))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
