"""Reminder letters (``emc remind``): what each letter says, and its record in ``unit_letters``.

A letter is drafted for a unit as of an instant ``as_of_ms`` (epoch ms, UTC; default now):

1. The unit's status: the rules evaluated as of that instant with the operator overrides
   applied, and recorded in ``unit_status_history`` like the worker's own evaluations, so the
   status the letter states is the one the history shows. "Since when" is the start of the
   history period in force at that instant.
2. What is wrong (:class:`Reason`, each with the time it began where one is known): the rule that
   decided the status with its numbers; for an interrupted unit, when the last event came; the
   other rules that fail as well (unknown procedure codes, no results, low catalogue coverage);
   dossiers with impossible lifecycles over the reconciliation window, by reason; messages EMC
   rejected over the last ``remind.recent_days`` days, with the most frequent reason codes.
3. The deadline: a date given, or a number of working days after the letter's date on the
   working calendar (default ``remind.deadline_working_days``, a configurable default).

A fully connected unit with no rejected message gets no letter unless forced (``force``): there is
nothing to remind it of. Letters are numbered in the year of their date ("Số: 7/BTTTT-CĐSQG": the
letters of that year in ``unit_letters`` plus one, a draft number the clerk may replace), and the
subject counts the unit's letters ("(lần 2)", as seed 000/001 do).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sinks.clickhouse import ClickHouseSink
from sinks.health_schema import LETTER_COLUMNS
from streams.core.localtime import MS_PER_DAY, local_date, local_datetime, local_midnight_ms
from streams.core.registry import Unit, UnitRegistry
from streams.health.calendar import WorkingCalendar
from streams.health.errors import HealthError
from streams.health.letter_labels import ANOMALY_REASONS, LABELS, REJECT_REASONS
from streams.health.statuses import UnitStatus
from streams.settings import HealthSettings, RemindSettings

if TYPE_CHECKING:
    from streams.health.monitor import HealthMonitor


class LetterError(HealthError):
    """A letter cannot be drafted: an unknown unit, a unit not in force, a deadline passed."""


@dataclass(frozen=True, slots=True)
class Reason:
    """One thing a letter says is wrong.

    ``code`` is the status rule's reason code (:data:`~streams.health.statuses.REASON_CODES`) or
    ``last_event``, ``rejects``, ``anomalies``; ``text`` the sentence in the letter's language;
    ``since_ms`` when it began (epoch ms, UTC; ``None`` when only a window is known); ``numbers``
    the counts behind the sentence.
    """

    code: str
    text: str
    since_ms: int | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "since_ms": self.since_ms,
            "numbers": self.numbers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(str(data["code"]), str(data["text"]), data.get("since_ms"), data["numbers"])


@dataclass(frozen=True, slots=True)
class Letter:
    """A reminder letter's content (times epoch ms, UTC; ``deadline`` a local date).

    ``nth`` counts the unit's letters including this one; ``html_path``/``docx_path`` are set once
    the files are written.
    """

    letter_id: str
    number: str
    nth: int
    unit: Unit
    status: str
    status_label: str
    reason_code: str
    since_ms: int | None
    as_of_ms: int
    deadline: date
    reasons: tuple[Reason, ...]
    author: str
    created_at_ms: int
    lang: str = "vi"
    html_path: str = ""
    docx_path: str = ""

    @property
    def unit_code(self) -> str:
        return self.unit.code


@dataclass(frozen=True, slots=True)
class LetterRecord:
    """A row of ``unit_letters`` read back (times epoch ms, UTC)."""

    unit_code: str
    letter_id: str
    number: str
    status: str
    status_label: str
    reason_code: str
    reasons: tuple[Reason, ...]
    since_ms: int | None
    as_of_ms: int
    deadline: date
    created_at_ms: int
    author: str
    html_path: str
    docx_path: str


def now_ms() -> int:
    return int(time.time() * 1000)


def date_time_text(ts_ms: int, lang: str = "vi") -> str:
    """``08 giờ 30 ngày 18/01/2024`` (local time) in the letter's language."""
    d = local_datetime(ts_ms)
    return LABELS[lang]["date_time"].format(
        hour=d.hour, minute=d.minute, day=d.day, month=d.month, year=d.year
    )


# -- inputs -----------------------------------------------------------------------------------
def resolve_units(registry: UnitRegistry, codes: list[str], at_ms: int) -> list[Unit]:
    """The units named by ``codes``, in the order given (duplicates dropped).

    Raises :class:`LetterError` naming every code that is not in the registry or whose unit is
    not in force at ``at_ms`` (a unit merged away gets its successor named)."""
    problems: list[str] = []
    units: list[Unit] = []
    for code in dict.fromkeys(c.strip() for c in codes if c.strip()):
        unit = registry.get(code)
        if unit is None:
            problems.append(f"unknown unit code {code!r}")
        elif not unit.is_valid_at(at_ms):
            then = f"; its successor is {unit.successor}" if unit.successor else ""
            problems.append(
                f"unit {code!r} is not in force on {local_date(at_ms).isoformat()} "
                f"(valid {unit.valid_from.isoformat()} – "
                f"{unit.valid_to.isoformat() if unit.valid_to else '…'}{then})"
            )
        else:
            units.append(unit)
    if problems:
        raise LetterError("; ".join(problems) + " — no letter written")
    return units


def working_days_after(calendar: WorkingCalendar, day: date, days: int) -> date:
    """The ``days``-th working day after ``day`` (``day`` itself not counted)."""
    if days < 1:
        raise LetterError("the deadline needs at least 1 working day")
    current, counted = day, 0
    while counted < days:
        current += timedelta(days=1)
        if calendar.day(current).working:
            counted += 1
        if (current - day).days > 3 * 366:
            raise LetterError(f"no {days} working days within 3 years of {day.isoformat()}")
    return current


def choose_deadline(
    calendar: WorkingCalendar,
    remind: RemindSettings,
    as_of_ms: int,
    deadline: date | None = None,
    days: int | None = None,
) -> date:
    """The deadline: ``deadline`` as given, else ``days`` (default
    ``remind.deadline_working_days``) working days after the letter's local date. A deadline
    before the letter's date is a :class:`LetterError`."""
    letter_day = local_date(as_of_ms)
    if deadline is not None and days is not None:
        raise LetterError("give either a deadline date or a number of working days, not both")
    if deadline is None:
        deadline = working_days_after(
            calendar, letter_day, remind.deadline_working_days if days is None else days
        )
    if deadline < letter_day:
        raise LetterError(
            f"the deadline {deadline.isoformat()} is before the letter's date "
            f"{letter_day.isoformat()}"
        )
    return deadline


# -- what is wrong ----------------------------------------------------------------------------
def _t(lang: str) -> dict[str, str]:
    return LABELS[lang]


def _top(items: list[tuple[str, int]], labels: dict[str, str], template: str, n: int) -> str:
    shown = [template.format(label=labels.get(code, code), count=count) for code, count in items]
    return "; ".join(shown[:n])


def _rejects(
    sink: ClickHouseSink, codes: list[str], as_of_ms: int, days: int
) -> dict[str, list[tuple[str, int, int]]]:
    """unit → [(reason, messages, first rejected_at ms)], most frequent first, over the
    ``days`` days up to ``as_of_ms`` (``rejected_at`` is the wall clock of the rejection)."""
    rows = sink.query_rows(
        "SELECT unit_code, reason, count() AS n, toUnixTimestamp64Milli(min(rejected_at)) "
        f"FROM {sink.database}.dead_letters FINAL "
        "WHERE unit_code IN {units:Array(String)} "
        "AND rejected_at > fromUnixTimestamp64Milli({since:Int64}) "
        "AND rejected_at <= fromUnixTimestamp64Milli({at:Int64}) "
        "GROUP BY unit_code, reason ORDER BY unit_code, n DESC, reason",
        {"units": codes, "since": as_of_ms - days * MS_PER_DAY, "at": as_of_ms},
    )
    out: dict[str, list[tuple[str, int, int]]] = {}
    for unit, reason, n, first in rows:
        out.setdefault(str(unit), []).append((str(reason), int(n), int(first)))
    return out


def _anomalies(
    sink: ClickHouseSink, codes: list[str], as_of_ms: int, days: int
) -> dict[str, tuple[int, int, list[tuple[str, int]]]]:
    """unit → (dossiers with an impossible lifecycle, first event time ms, [(reason, dossiers)])
    over the ``days`` days of event time up to ``as_of_ms``."""
    params = {"units": codes, "since": as_of_ms - days * MS_PER_DAY, "at": as_of_ms}
    where = (
        "unit_code IN {units:Array(String)} "
        "AND event_time > fromUnixTimestamp64Milli({since:Int64}) "
        "AND event_time <= fromUnixTimestamp64Milli({at:Int64})"
    )
    table = f"{sink.database}.lifecycle_anomalies FINAL"
    totals = sink.query_rows(
        "SELECT unit_code, uniqExact(dossier_id), toUnixTimestamp64Milli(min(event_time)) "
        f"FROM {table} WHERE {where} GROUP BY unit_code",
        params,
    )
    reasons = sink.query_rows(
        f"SELECT unit_code, reason, uniqExact(dossier_id) AS n FROM {table} WHERE {where} "
        "GROUP BY unit_code, reason ORDER BY unit_code, n DESC, reason",
        params,
    )
    by_unit: dict[str, list[tuple[str, int]]] = {}
    for unit, reason, n in reasons:
        by_unit.setdefault(str(unit), []).append((str(reason), int(n)))
    return {str(u): (int(n), int(first), by_unit.get(str(u), [])) for u, n, first in totals}


def other_failing_rules(s: UnitStatus, health: HealthSettings) -> list[str]:
    """Reason codes of the rules after the deciding one that fail as well, from the measured
    numbers (the same thresholds as :func:`streams.health.sql.evaluation_sql`)."""
    if not s.measured:
        return []
    receipts, online = s.receipts or 0, s.online_procedures or 0
    failing: list[str] = []
    if (
        (s.catalogue_size or 0) > 0
        and receipts > 0
        and (s.unknown_receipts or 0) / receipts > health.unknown_procedure_share
    ):
        failing.append("unknown_procedures")
    if receipts > 0 and (s.results or 0) == 0:
        failing.append("no_results")
    if online > 0 and (s.covered_procedures or 0) / online < health.catalogue_coverage_min:
        failing.append("low_catalogue_coverage")
    return [code for code in failing if code != s.reason_code]


def unit_reasons(
    s: UnitStatus,
    since_ms: int | None,
    rejects: list[tuple[str, int, int]],
    anomalies: tuple[int, int, list[tuple[str, int]]] | None,
    health: HealthSettings,
    remind: RemindSettings,
    lang: str = "vi",
) -> list[Reason]:
    """What the letter says is wrong with the unit whose status is ``s`` (see the module doc)."""
    t = _t(lang)
    days = health.reconciliation_days
    numbers = {
        k: getattr(s, k)
        for k in (
            "silent_ms",
            "today_events",
            "usual_events",
            "receipts",
            "unknown_receipts",
            "dossiers",
            "anomalous_dossiers",
            "results",
            "catalogue_size",
            "online_procedures",
            "covered_procedures",
        )
        if getattr(s, k) is not None
    }
    out = [Reason(s.reason_code, s.reason, since_ms, numbers)]
    if s.status == "interrupted" and s.last_event_at_ms is not None:
        text = t["reason.last_event"].format(at=date_time_text(s.last_event_at_ms, lang))
        out.append(Reason("last_event", text, s.last_event_at_ms, {}))
    for code in other_failing_rules(s, health):
        text = t[f"reason.{code}"].format(
            unknown=s.unknown_receipts,
            receipts=s.receipts,
            covered=s.covered_procedures,
            online=s.online_procedures,
            days=days,
        )
        out.append(Reason(code, text, None, {}))
    if anomalies is not None and anomalies[0] > 0:
        dossiers, first, by_reason = anomalies
        top = _top(by_reason, ANOMALY_REASONS, t["reason.anomalies.item"], remind.top_reasons)
        text = t["reason.anomalies"].format(days=days, dossiers=dossiers, top=top)
        out.append(
            Reason("anomalies", text, first, {"dossiers": dossiers, "by_reason": dict(by_reason)})
        )
    if rejects:
        total = sum(n for _, n, _ in rejects)
        pairs = [(reason, n) for reason, n, _ in rejects]
        top = _top(pairs, REJECT_REASONS, t["reason.rejects.item"], remind.top_reasons)
        text = t["reason.rejects"].format(days=remind.recent_days, count=total, top=top)
        first = min(f for _, _, f in rejects)
        out.append(Reason("rejects", text, first, {"messages": total, "by_reason": dict(pairs)}))
    return out


# -- drafting ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Drafts:
    """What :func:`draft_letters` produced: the letters, and the units left out (code → why)."""

    letters: list[Letter]
    skipped: dict[str, str]


def draft_letters(
    monitor: HealthMonitor,
    codes: list[str],
    *,
    all_not_connected: bool = False,
    as_of_ms: int | None = None,
    deadline: date | None = None,
    days: int | None = None,
    author: str = "operator",
    force: bool = False,
    lang: str = "vi",
) -> Drafts:
    """Draft a letter for each unit of ``codes`` (and, with ``all_not_connected``, each unit in
    force that is not fully connected), as of ``as_of_ms`` (default now).

    Checks every code and the deadline before anything is evaluated or written
    (:class:`LetterError`). Records the evaluation in the status history; does not record the
    letters (:func:`record_letters`, once their files exist)."""
    if lang not in LABELS:
        raise LetterError(f"unknown language {lang!r} (one of {', '.join(LABELS)})")
    settings = monitor.settings
    at = now_ms() if as_of_ms is None else int(as_of_ms)
    chosen = resolve_units(monitor.registry, codes, at)
    if not chosen and not all_not_connected:
        raise LetterError("name at least one unit (--units) or use --all-not-connected")
    due = choose_deadline(monitor.calendar, settings.remind, at, deadline, days)
    statuses = {s.unit_code: s for s in monitor.evaluate(at)[0]}
    if all_not_connected:
        named = {u.code for u in chosen}
        chosen += [
            u
            for u in monitor.registry.valid_at(at)
            if u.code not in named
            and u.code in statuses
            and statuses[u.code].status != "fully_connected"
        ]
    periods = monitor.status_at(at)
    sink = monitor.sink
    unit_codes = [u.code for u in chosen]
    rejects = _rejects(sink, unit_codes, at, settings.remind.recent_days)
    anomalies = _anomalies(sink, unit_codes, at, settings.health.reconciliation_days)
    sent = dict(
        sink.query_rows(
            f"SELECT unit_code, count() FROM {sink.database}.unit_letters FINAL "
            "WHERE unit_code IN {units:Array(String)} GROUP BY unit_code",
            {"units": unit_codes},
        )
    )
    letter_day = local_date(at)
    year_start = local_midnight_ms(date(letter_day.year, 1, 1))
    year_end = local_midnight_ms(date(letter_day.year + 1, 1, 1))
    numbered = int(
        sink.query_rows(
            f"SELECT count() FROM {sink.database}.unit_letters FINAL "
            "WHERE as_of >= fromUnixTimestamp64Milli({start:Int64}) "
            "AND as_of < fromUnixTimestamp64Milli({end:Int64})",
            {"start": year_start, "end": year_end},
        )[0][0]
    )
    created = now_ms()
    letters: list[Letter] = []
    skipped: dict[str, str] = {}
    for unit in chosen:
        s = statuses.get(unit.code)
        if s is None:  # not evaluated at this instant (cannot happen for a unit in force)
            skipped[unit.code] = "not evaluated"
            continue
        period = periods.get(unit.code)
        since = period.from_ms if period is not None and period.status == s.status else at
        unit_rejects = rejects.get(unit.code, [])
        if s.status == "fully_connected" and not unit_rejects and not force:
            skipped[unit.code] = s.status_label
            continue
        reasons = unit_reasons(
            s, since, unit_rejects, anomalies.get(unit.code), settings.health,
            settings.remind, lang,
        )  # fmt: skip
        numbered += 1
        letters.append(
            Letter(
                letter_id=uuid.uuid4().hex[:12],
                number=f"{numbered}/{settings.remind.symbol}",
                nth=int(sent.get(unit.code, 0)) + 1,
                unit=unit,
                status=s.status,
                status_label=s.status_label,
                reason_code=s.reason_code,
                since_ms=since,
                as_of_ms=at,
                deadline=due,
                reasons=tuple(reasons),
                author=author,
                created_at_ms=created,
                lang=lang,
            )
        )
    return Drafts(letters, skipped)


# -- the record -------------------------------------------------------------------------------
def record_letters(sink: ClickHouseSink, letters: list[Letter]) -> None:
    """Write ``letters`` to ``unit_letters`` (one row each; their file paths as set)."""
    if not letters:
        return
    rows = [
        [
            x.unit_code,
            x.letter_id,
            x.number,
            x.status,
            x.status_label,
            x.reason_code,
            json.dumps([r.to_json() for r in x.reasons], ensure_ascii=False),
            x.since_ms,
            x.as_of_ms,
            x.deadline,
            x.created_at_ms,
            x.author,
            x.html_path,
            x.docx_path,
        ]
        for x in letters
    ]
    sink.insert_columns("unit_letters", LETTER_COLUMNS, [list(c) for c in zip(*rows, strict=True)])


def load_letters(sink: ClickHouseSink, unit_code: str | None = None) -> list[LetterRecord]:
    """Every recorded letter (of one unit, or all), by unit and creation time."""
    where = "" if unit_code is None else "WHERE unit_code = {unit:String}"
    rows = sink.query_rows(
        "SELECT unit_code, letter_id, number, status, status_label, reason_code, reasons, "
        "toUnixTimestamp64Milli(since), toUnixTimestamp64Milli(as_of), deadline, "
        "toUnixTimestamp64Milli(created_at), author, html_path, docx_path "
        f"FROM {sink.database}.unit_letters FINAL {where} "
        "ORDER BY unit_code, created_at, letter_id",
        None if unit_code is None else {"unit": unit_code},
    )
    return [_record(r) for r in rows]


def _record(r: Any) -> LetterRecord:
    return LetterRecord(
        unit_code=r[0],
        letter_id=r[1],
        number=r[2],
        status=r[3],
        status_label=r[4],
        reason_code=r[5],
        reasons=tuple(Reason.from_json(x) for x in json.loads(r[6])),
        since_ms=None if r[7] is None else int(r[7]),
        as_of_ms=int(r[8]),
        deadline=r[9],
        created_at_ms=int(r[10]),
        author=r[11],
        html_path=r[12],
        docx_path=r[13],
    )


def with_files(letter: Letter, html_path: str, docx_path: str) -> Letter:
    """``letter`` with the paths of its written files."""
    return replace(letter, html_path=html_path, docx_path=docx_path)
