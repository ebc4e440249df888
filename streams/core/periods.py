"""Assessment periods: a month, a quarter, a year or a range of Asia/Ho_Chi_Minh local days.

A period is the half-open range of local days ``[start_day, end_day)``; its instants are
``[local midnight of start_day, local midnight of end_day)`` in epoch milliseconds (UTC). A
dossier belongs to the period of its receipt time.

Accepted spellings (:func:`parse_period`): ``2026-Q3``, ``2026-11``, ``2026``,
``2026-07-01..2026-09-30`` (both days included, as people write ranges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from streams.core.errors import EmcError
from streams.core.localtime import local_midnight_ms


class PeriodError(EmcError, ValueError):
    """A period string that is none of the accepted spellings, or an empty range."""


_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``[start_day, end_day)`` and the label the period was asked by."""

    label: str
    start_day: date
    end_day: date
    """Exclusive."""

    @property
    def start_ms(self) -> int:
        """Epoch ms (UTC) of local midnight starting the period (inclusive)."""
        return local_midnight_ms(self.start_day)

    @property
    def end_ms(self) -> int:
        """Epoch ms (UTC) of local midnight ending the period (exclusive)."""
        return local_midnight_ms(self.end_day)

    @property
    def last_day(self) -> date:
        """The last local day inside the period."""
        return self.end_day - timedelta(days=1)

    def months(self) -> list[Period]:
        """The calendar months the period touches, each clipped to the period (trend points)."""
        out: list[Period] = []
        day = self.start_day
        while day < self.end_day:
            nxt = _add_months(day.replace(day=1), 1)
            end = min(nxt, self.end_day)
            out.append(Period(f"{day.year:04d}-{day.month:02d}", day, end))
            day = end
        return out


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(text: str) -> Period:
    """The period ``text`` names; raises :class:`PeriodError` saying what is accepted."""
    raw = text.strip()
    try:
        if m := _QUARTER.match(raw):
            year, quarter = int(m[1]), int(m[2])
            start = date(year, 3 * quarter - 2, 1)
            return Period(f"{year:04d}-Q{quarter}", start, _add_months(start, 3))
        if m := _MONTH.match(raw):
            start = date(int(m[1]), int(m[2]), 1)
            return Period(f"{start.year:04d}-{start.month:02d}", start, _add_months(start, 1))
        if m := _YEAR.match(raw):
            start = date(int(m[1]), 1, 1)
            return Period(f"{start.year:04d}", start, _add_months(start, 12))
        if m := _RANGE.match(raw):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if last < first:
                raise PeriodError(f"period {text!r}: the range ends before it starts")
            return Period(f"{first}..{last}", first, last + timedelta(days=1))
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"period {text!r}: {exc}") from None
    raise PeriodError(
        f"period {text!r} is not one of 2026-Q3 (quarter), 2026-11 (month), 2026 (year), "
        "2026-07-01..2026-09-30 (local days, both included)"
    )
