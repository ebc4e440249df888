"""The working calendar: when a government office is expected to be sending events.

A day is a working day when its weekday is an office day and it is not a public holiday; its
office hours run from ``office_open`` to ``office_close`` local time (Asia/Ho_Chi_Minh, UTC+7, no
daylight saving). Saturday mornings can be made working (``saturday_close``). Public holidays come
from ``config/holidays.csv`` (``date,name_vi,kind,note``, one row per day off, entered by hand
from the Labour Code 2019 Art. 112 list). When a holiday falls on a day that is not a working
day, the next working day that is not itself a holiday is given off instead (Art. 111:
"nghỉ bù"), unless ``compensatory_days`` is off.

Pure standard library: the calendar is computed here and loaded into ClickHouse as the table
``emc.working_calendar``, where the gap detection uses it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from streams.core.errors import ConfigError
from streams.core.localtime import local_midnight_ms
from streams.settings import HealthSettings, Settings

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_HEADER: tuple[str, ...] = ("date", "name_vi", "kind", "note")

CALENDAR_FIRST_DAY = date(2015, 1, 1)
CALENDAR_LAST_DAY = date(2035, 12, 31)
"""The span loaded into ClickHouse. Outside it every day counts as non-working."""


@dataclass(frozen=True, slots=True)
class Holiday:
    """One public holiday (a local calendar date) as entered in holidays.csv."""

    day: date
    name_vi: str
    kind: str


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One local date: working or not, and its office hours as epoch ms (UTC) when working."""

    day: date
    working: bool
    open_ms: int
    close_ms: int
    holiday: str
    """The holiday's name (or "Nghỉ bù …" for a compensatory day); empty on ordinary days."""


def _minutes(text: str, field: str) -> int:
    """Minutes after local midnight of ``HH:MM`` (``24:00`` allowed)."""
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
    except ValueError as exc:
        raise ConfigError(f"health.{field}: expected HH:MM, got {text!r}") from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise ConfigError(f"health.{field}: {text!r} is not a time of day")
    return hours * 60 + minutes


def load_holidays(path: Path) -> list[Holiday]:
    """Read holidays.csv; a bad row raises :class:`ConfigError` naming the row and column."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read holidays: {exc}") from exc
    if not rows or tuple(c.strip() for c in rows[0]) != HOLIDAY_HEADER:
        raise ConfigError(f"{path}: row 1: expected header {','.join(HOLIDAY_HEADER)}")
    out: list[Holiday] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(HOLIDAY_HEADER):
            raise ConfigError(f"{path}: row {number}: expected {len(HOLIDAY_HEADER)} columns")
        try:
            day = date.fromisoformat(cells[0].strip())
        except ValueError as exc:
            raise ConfigError(f"{path}: row {number}, column date: {exc}") from exc
        out.append(Holiday(day, cells[1].strip(), cells[2].strip()))
    return out


class WorkingCalendar:
    """Working days and office hours, built from :class:`HealthSettings` and a holiday list."""

    def __init__(self, health: HealthSettings, holidays: list[Holiday]) -> None:
        self.open_min = _minutes(health.office_open, "office_open")
        self.close_min = _minutes(health.office_close, "office_close")
        if self.close_min <= self.open_min:
            raise ConfigError("health.office_close must be after health.office_open")
        self.saturday_close_min = (
            None
            if health.saturday_close is None
            else _minutes(health.saturday_close, "saturday_close")
        )
        days = [d.strip().lower() for d in health.office_days.split(",") if d.strip()]
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ConfigError(f"health.office_days: unknown weekday(s) {unknown}, use {WEEKDAYS}")
        self.office_weekdays = frozenset(WEEKDAYS.index(d) for d in days)
        self.holidays: dict[date, str] = {h.day: h.name_vi for h in holidays}
        if health.compensatory_days:
            self.holidays.update(self._compensatory(holidays))

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingCalendar:
        path = Path(settings.health.holidays_file)
        if not path.is_absolute():
            path = settings.config_dir / path
        return cls(settings.health, load_holidays(path))

    def _hours_of_weekday(self, day: date) -> tuple[int, int] | None:
        """Office hours (minutes after midnight) on ``day`` ignoring holidays, or ``None``."""
        weekday = day.weekday()
        if weekday in self.office_weekdays:
            return self.open_min, self.close_min
        if weekday == 5 and self.saturday_close_min is not None:
            return self.open_min, self.saturday_close_min
        return None

    def _compensatory(self, holidays: list[Holiday]) -> dict[date, str]:
        statutory = {h.day for h in holidays}
        extra: dict[date, str] = {}
        for holiday in sorted(holidays, key=lambda h: h.day):
            if self._hours_of_weekday(holiday.day) is not None:
                continue
            day = holiday.day + timedelta(days=1)
            while (
                self._hours_of_weekday(day) is None or day in statutory or day in extra
            ) and day - holiday.day < timedelta(days=30):
                day += timedelta(days=1)
            extra[day] = f"Nghỉ bù {holiday.name_vi} ({holiday.day.isoformat()})"
        return extra

    def day(self, day: date) -> CalendarDay:
        """The calendar entry of a local date."""
        hours = self._hours_of_weekday(day)
        midnight = local_midnight_ms(day)
        name = self.holidays.get(day, "")
        if hours is None or name:
            return CalendarDay(day, False, midnight, midnight, name)
        return CalendarDay(
            day, True, midnight + hours[0] * 60_000, midnight + hours[1] * 60_000, ""
        )

    def days(
        self, first: date = CALENDAR_FIRST_DAY, last: date = CALENDAR_LAST_DAY
    ) -> list[CalendarDay]:
        """Every local date from ``first`` through ``last`` inclusive."""
        return [self.day(first + timedelta(days=n)) for n in range((last - first).days + 1)]
