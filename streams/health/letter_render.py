"""A reminder letter as files: a self-contained HTML page and a DOCX, in seed 000/001's form.

The form of a công văn (seed 000/001, laid out as Decree 30/2020/NĐ-CP's model for letters):

- a two-column header: on the left the issuing body (bold, upper case), the number
  "Số: 7/BTTTT-CĐSQG" and the subject "V/v …"; on the right the national name
  "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and the motto "Độc lập - Tự do - Hạnh phúc" (bold, centred)
  and, in italics, the place and date "Hà Nội, ngày 18 tháng 01 năm 2024";
- "Kính gửi: …", the body (what EMC observed, the unit's status and since when, what is wrong,
  the numbered requests with "Thời hạn thực hiện", whom to contact), "Trân trọng./.";
- a two-column footer: "Nơi nhận:" with its list on the left, the signature block on the right
  (signing authority, title, room for the signature, the signer's name or a placeholder).

Both files are drawn from one :class:`LetterText`, so they say the same thing. A "DỰ THẢO" (draft)
mark stands above the header: these are drafts for an officer to check and sign.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.core.localtime import local_date
from streams.health.letter_labels import LABELS
from streams.health.letters import Letter, date_time_text
from streams.settings import RemindSettings


@dataclass(frozen=True, slots=True)
class LetterText:
    """Every line of a letter, in order, in its language."""

    draft: str
    issuer_parent: str
    issuer: str
    number: str
    subject: str
    nation: str
    motto: str
    place_date: str
    to_label: str
    to: str
    intro: str
    finding: str
    details: str
    reasons: tuple[str, ...]
    request: str
    actions: tuple[str, ...]
    support: str
    contact: str
    regards: str
    recipients_label: str
    recipients: tuple[str, ...]
    signer_authority: str
    signer_title: str
    signer_name: str
    signer_placeholder: str


def addressee(letter: Letter, lang: str = "vi") -> tuple[str, str]:
    """(the "Kính gửi" line, the unit as named in running text) for the letter's unit: a ministry
    by its name, a province as "Ủy ban nhân dân tỉnh …" / "… thành phố …" (names "TP. …")."""
    t = LABELS[lang]
    name = letter.unit.name_vi
    if letter.unit.kind != "province":
        return t["to.ministry"].format(name=name), name
    if name.startswith("TP. "):
        place = t["province.city"].format(name=name[4:])
    else:
        place = t["province.province"].format(name=name)
    return t["to.province"].format(place=place), place


def letter_text(letter: Letter, form: RemindSettings) -> LetterText:
    """The letter's lines from its content and the form's settings (``remind.*``)."""
    t = LABELS[letter.lang]
    day = local_date(letter.as_of_ms)
    to, in_text = addressee(letter, letter.lang)
    nth = t["nth"].format(n=letter.nth) if letter.nth > 1 else ""
    at = date_time_text(letter.as_of_ms, letter.lang)
    since = "" if letter.since_ms is None else date_time_text(letter.since_ms, letter.lang)
    if letter.status == "fully_connected":
        finding = t["finding.fully"].format(at=at, unit=in_text, status=letter.status_label)
    else:
        finding = t["finding"].format(at=at, unit=in_text, status=letter.status_label, since=since)
    reasons = []
    for r in letter.reasons:
        when = (
            ""
            if r.since_ms is None or r.code == "last_event"
            else t["reason.since"].format(since=date_time_text(r.since_ms, letter.lang))
        )
        reasons.append(f"- {r.text}{when}.")
    deadline = t["date"].format(
        day=letter.deadline.day, month=letter.deadline.month, year=letter.deadline.year
    )
    fields = {"issuer": form.issuer_name, "contact_unit": form.contact_unit}
    actions = [t[f"action.{letter.status}"].format(**fields)]
    if any(r.code == "rejects" for r in letter.reasons):
        actions.append(t["action.rejects"])
    actions.append(t["action.report"].format(deadline=deadline, **fields))
    copies = [c.strip() for c in form.copies.split(";") if c.strip()]
    return LetterText(
        draft=t["draft"],
        issuer_parent=form.issuer_parent,
        issuer=form.issuer,
        number=t["number"].format(number=letter.number),
        subject=t["subject"].format(nth=nth),
        nation=t["nation"],
        motto=t["motto"],
        place_date=t["place_date"].format(
            place=form.place, day=day.day, month=day.month, year=day.year
        ),
        to_label=t["to"],
        to=to + ".",
        intro=t["intro"],
        finding=finding,
        details=t["details"],
        reasons=tuple(reasons),
        request=t["request"].format(issuer=form.issuer_name, unit=to),
        actions=tuple(f"{n}. {a}" for n, a in enumerate(actions, start=1)),
        support=t["support"].format(**fields),
        contact=t["contact"].format(contact=form.contact) if form.contact.strip() else "",
        regards=t["regards"],
        recipients_label=t["recipients"],
        recipients=(
            t["recipient.same"],
            *(t["recipient"].format(name=c) for c in copies),
            t["recipient.archive"].format(archive=form.archive),
        ),
        signer_authority=form.signer_authority,
        signer_title=form.signer_title,
        signer_name=form.signer_name,
        signer_placeholder=t["signature.placeholder"],
    )


# -- HTML -------------------------------------------------------------------------------------
_CSS = """
@page{size:A4;margin:20mm 15mm 20mm 30mm}
body{font-family:"Times New Roman",Times,"DejaVu Serif",serif;font-size:14pt;line-height:1.35;
color:#000;max-width:170mm;margin:12mm auto;background:#fff}
.draft{text-align:right;font-weight:bold;font-size:12pt;margin-bottom:8px}
.draft span{border:1px solid #000;padding:1px 8px}
table.head,table.foot{width:100%;border-collapse:collapse}
table.head td,table.foot td{vertical-align:top;padding:0;text-align:center}
table.head td.left{width:42%;font-size:12.5pt}table.head td.right{width:58%}
.parent{text-transform:uppercase}.issuer{font-size:12.5pt}
.issuer,.nation{font-weight:bold;text-transform:uppercase}
.nation{font-size:12.5pt;white-space:nowrap}.motto{font-weight:bold}
.rule{width:35%;margin:2px auto 6px;border-top:1px solid #000}
.rule.wide{width:62%}.number{margin-top:4px}.subject{font-size:12pt;margin-top:2px}
.place{font-style:italic;margin-top:4px}
.to{margin:18px 0 10px 12%}.to b{font-weight:normal}
p.body{text-align:justify;text-indent:10mm;margin:0 0 6px}
p.item{text-align:justify;margin:0 0 4px;text-indent:10mm}
table.foot{margin-top:14px}table.foot td.left{width:45%;text-align:left;font-size:11pt}
.recipients-label{font-weight:bold;font-style:italic;font-size:12pt}
table.foot td.right{width:55%}.sign{font-weight:bold}.space{height:28mm}
.placeholder{font-style:italic;color:#444}
"""


def render_html(letter: Letter, form: RemindSettings) -> str:
    """The letter as one self-contained HTML page (no scripts, no external resources)."""
    x = letter_text(letter, form)
    e = html.escape
    parent = f'<div class="parent">{e(x.issuer_parent)}</div>' if x.issuer_parent else ""
    contact = f'<p class="body">{e(x.contact)}</p>' if x.contact else ""
    signer = (
        f'<div class="sign">{e(x.signer_name)}</div>'
        if x.signer_name
        else f'<div class="placeholder">{e(x.signer_placeholder)}</div>'
    )
    parts = [
        "<!doctype html>",
        f'<html lang="{e(letter.lang)}"><head><meta charset="utf-8">',
        f"<title>{e(x.number)} — {e(letter.unit.name_vi)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<div class="draft"><span>{e(x.draft)}</span></div>',
        '<table class="head"><tr>',
        f'<td class="left">{parent}<div class="issuer">{e(x.issuer)}</div>'
        '<div class="rule"></div>'
        f'<div class="number">{e(x.number)}</div><div class="subject">{e(x.subject)}</div></td>',
        f'<td class="right"><div class="nation">{e(x.nation)}</div>'
        f'<div class="motto">{e(x.motto)}</div><div class="rule wide"></div>'
        f'<div class="place">{e(x.place_date)}</div></td>',
        "</tr></table>",
        f'<div class="to">{e(x.to_label)} {e(x.to)}</div>',
        f'<p class="body">{e(x.intro)}</p>',
        f'<p class="body">{e(x.finding)} {e(x.details)}</p>',
        *(f'<p class="item reason">{e(r)}</p>' for r in x.reasons),
        f'<p class="body">{e(x.request)}</p>',
        *(f'<p class="item action">{e(a)}</p>' for a in x.actions),
        f'<p class="body">{e(x.support)}</p>',
        contact,
        f'<p class="body">{e(x.regards)}</p>',
        '<table class="foot"><tr><td class="left">',
        f'<div class="recipients-label">{e(x.recipients_label)}</div>',
        *(f"<div>{e(r)}</div>" for r in x.recipients),
        '</td><td class="right">',
        f'<div class="sign">{e(x.signer_authority)}</div>',
        f'<div class="sign">{e(x.signer_title)}</div>',
        '<div class="space"></div>',
        signer,
        "</td></tr></table>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


# -- DOCX -------------------------------------------------------------------------------------
def write_docx(letter: Letter, form: RemindSettings, path: Path) -> None:
    """The letter as a Word document (A4, Times New Roman 14 pt, the form's two-column header
    and footer as borderless tables)."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    x = letter_text(letter, form)
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(14)
    r_pr = normal.element.get_or_add_rPr()
    r_pr.get_or_add_rFonts().set(qn("w:eastAsia"), "Times New Roman")
    normal.paragraph_format.space_after = Pt(0)

    def put(
        container: object,
        text: str,
        *,
        size: float = 14,
        bold: bool = False,
        italic: bool = False,
        align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER,
        indent: bool = False,
        first: bool = False,
        after: float = 0,
    ) -> None:
        paragraph = (
            container.paragraphs[0]  # type: ignore[attr-defined]
            if first
            else container.add_paragraph()  # type: ignore[attr-defined]
        )
        paragraph.alignment = align
        paragraph.paragraph_format.space_after = Pt(after)
        if indent:
            paragraph.paragraph_format.first_line_indent = Mm(10)
        run = paragraph.add_run(text)
        run.font.size, run.bold, run.italic = Pt(size), bold, italic

    put(doc, x.draft, size=12, bold=True, align=WD_ALIGN_PARAGRAPH.RIGHT)
    head = doc.add_table(rows=2, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(head, Mm(68), Mm(97))
    left, right = head.cell(0, 0), head.cell(0, 1)
    if x.issuer_parent:
        put(left, x.issuer_parent.upper(), size=12, first=True)
        put(left, x.issuer.upper(), size=12, bold=True)
    else:
        put(left, x.issuer.upper(), size=12, bold=True, first=True)
    put(left, "―――――――", size=8)
    put(right, x.nation, size=12, bold=True, first=True)
    put(right, x.motto, size=14, bold=True)
    put(right, "――――――――――――――", size=8)
    put(head.cell(1, 0), x.number, size=13, first=True)
    put(head.cell(1, 0), x.subject, size=12)
    put(head.cell(1, 1), x.place_date, size=14, italic=True, first=True)

    put(doc, "", size=8)
    put(doc, f"{x.to_label} {x.to}", align=WD_ALIGN_PARAGRAPH.CENTER, after=6)
    justify = WD_ALIGN_PARAGRAPH.JUSTIFY
    put(doc, x.intro, align=justify, indent=True, after=6)
    put(doc, f"{x.finding} {x.details}", align=justify, indent=True, after=4)
    for line in x.reasons:
        put(doc, line, align=justify, indent=True, after=3)
    put(doc, x.request, align=justify, indent=True, after=4)
    for line in x.actions:
        put(doc, line, align=justify, indent=True, after=3)
    put(doc, x.support, align=justify, indent=True, after=4)
    if x.contact:
        put(doc, x.contact, align=justify, indent=True, after=4)
    put(doc, x.regards, align=justify, indent=True, after=10)

    foot = doc.add_table(rows=1, cols=2)
    _widths(foot, Mm(75), Mm(90))
    # "Nơi nhận" and the signature stay together on one page
    foot.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    recipients, signature = foot.cell(0, 0), foot.cell(0, 1)
    put(recipients, x.recipients_label, size=12, bold=True, italic=True,
        align=WD_ALIGN_PARAGRAPH.LEFT, first=True)  # fmt: skip
    for line in x.recipients:
        put(recipients, line, size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    put(signature, x.signer_authority, bold=True, first=True)
    put(signature, x.signer_title, bold=True)
    for _ in range(4):
        put(signature, "")
    if x.signer_name:
        put(signature, x.signer_name, bold=True)
    else:
        put(signature, x.signer_placeholder, italic=True)
    doc.core_properties.title = f"{x.number} — {letter.unit.name_vi}"
    doc.core_properties.author = letter.author
    doc.save(str(path))


def _widths(table: Any, *widths: Any) -> None:
    """Fixed column widths (the grid and every cell: Word reads the cells, LibreOffice the
    grid)."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def write_letter(letter: Letter, form: RemindSettings, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/<UNIT>.html`` and ``out_dir/<UNIT>.docx`` (``out_dir`` created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{letter.unit_code}.html"
    docx_path = out_dir / f"{letter.unit_code}.docx"
    html_path.write_text(render_html(letter, form), encoding="utf-8")
    write_docx(letter, form, docx_path)
    return html_path, docx_path
