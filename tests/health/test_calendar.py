"""The working calendar: office hours, weekends, holidays from config/holidays.csv, nghỉ bù."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from streams.core.errors import ConfigError
from streams.core.localtime import local_date
from streams.health.calendar import WorkingCalendar, load_holidays
from streams.settings import HealthSettings, Settings


def working_ms_between(calendar: WorkingCalendar, start_ms: int, end_ms: int) -> int:
    """Office-hours milliseconds inside ``[start_ms, end_ms)`` (epoch ms), day by day: the
    reference the calendar's days are checked against."""
    if end_ms <= start_ms:
        return 0
    total = 0
    day = local_date(start_ms)
    while day <= local_date(end_ms):
        entry = calendar.day(day)
        if entry.working:
            total += max(0, min(end_ms, entry.close_ms) - max(start_ms, entry.open_ms))
        day += timedelta(days=1)
    return total


VN = timezone(timedelta(hours=7))
HOUR_MS = 3_600_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=VN).timestamp() * 1000)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.from_settings(Settings())


def test_holiday_file_has_the_labour_code_days() -> None:
    holidays = load_holidays(Settings().config_dir / "holidays.csv")
    by_year: dict[int, int] = {}
    for h in holidays:
        by_year[h.day.year] = by_year.get(h.day.year, 0) + 1
    # Art. 112: 1 + 5 (Tết) + 1 (Hùng Kings) + 1 + 1 + 2 (National Day) = 11 days a year
    assert by_year == {2023: 11, 2024: 11, 2025: 11, 2026: 11, 2027: 11}
    days = {h.day for h in holidays}
    # lunar dates (Tết = 1/1, Giỗ Tổ = 10/3 of the lunar calendar, UTC+7)
    tet = [date(2023, 1, 22), date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17),
           date(2027, 2, 6)]  # fmt: skip
    hung = [date(2023, 4, 29), date(2024, 4, 18), date(2025, 4, 7), date(2026, 4, 26),
            date(2027, 4, 16)]  # fmt: skip
    assert set(tet) <= days and set(hung) <= days


def test_office_hours_weekends_and_holidays(calendar: WorkingCalendar) -> None:
    assert calendar.day(date(2024, 3, 8)).working  # Friday
    assert not calendar.day(date(2024, 3, 9)).working  # Saturday
    assert not calendar.day(date(2024, 9, 2)).working  # Quốc khánh, Monday
    friday = calendar.day(date(2024, 3, 8))
    assert (friday.open_ms, friday.close_ms) == (ms(2024, 3, 8, 7, 30), ms(2024, 3, 8, 17, 0))
    # Friday 16:00 → Monday 08:30: one office hour on Friday, one on Monday
    assert working_ms_between(calendar, ms(2024, 3, 8, 16), ms(2024, 3, 11, 8, 30)) == 2 * HOUR_MS
    assert working_ms_between(calendar, ms(2024, 3, 11, 12), ms(2024, 3, 11, 9)) == 0


def test_compensatory_days_follow_weekend_holidays(calendar: WorkingCalendar) -> None:
    # 2023: Giỗ Tổ on Saturday 29/4, Chiến thắng on Sunday 30/4, 1/5 Monday:
    # the two weekend holidays move to Tuesday 2/5 and Wednesday 3/5 (as announced that year).
    assert not calendar.day(date(2023, 5, 1)).working
    assert calendar.day(date(2023, 5, 2)).holiday.startswith("Nghỉ bù")
    assert calendar.day(date(2023, 5, 3)).holiday.startswith("Nghỉ bù")
    assert calendar.day(date(2023, 5, 4)).working
    # Tết 2024: Fri 9/2 … Tue 13/2, with Sat 10 and Sun 11 compensated on Wed 14 and Thu 15.
    off = [d for d in range(8, 17) if not calendar.day(date(2024, 2, d)).working]
    assert off == [9, 10, 11, 12, 13, 14, 15]
    # Thursday 8/2 16:30 → Friday 16/2 10:00: half an hour plus two and a half hours
    assert working_ms_between(calendar, ms(2024, 2, 8, 16, 30), ms(2024, 2, 16, 10)) == 3 * HOUR_MS


def test_saturday_mornings_and_bad_settings() -> None:
    cal = WorkingCalendar(HealthSettings(saturday_close="11:30"), [])
    saturday = cal.day(date(2024, 3, 9))
    assert saturday.working and saturday.close_ms == ms(2024, 3, 9, 11, 30)
    with pytest.raises(ConfigError, match="office_days"):
        WorkingCalendar(HealthSettings(office_days="mon,funday"), [])
    with pytest.raises(ConfigError, match="office_close"):
        WorkingCalendar(HealthSettings(office_open="17:00", office_close="07:30"), [])
