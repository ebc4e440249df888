"""Period strings → local-day ranges and their epoch-ms bounds."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from streams.core.localtime import VN
from streams.core.periods import PeriodError, parse_period


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        ("2026-Q3", "2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-q4", "2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-11", "2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12", "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026", "2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-07-01..2026-09-30", "2026-07-01..2026-09-30", date(2026, 7, 1), date(2026, 10, 1)),
        (" 2026-02-28..2026-02-28 ", "2026-02-28..2026-02-28", date(2026, 2, 28), date(2026, 3, 1)),
    ],
)
def test_spellings(text: str, label: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.label, p.start_day, p.end_day) == (label, start, end)
    assert p.start_ms == int(
        datetime(start.year, start.month, start.day, tzinfo=VN).timestamp() * 1000
    )
    assert p.end_ms == int(datetime(end.year, end.month, end.day, tzinfo=VN).timestamp() * 1000)


def test_a_quarter_and_its_day_range_are_the_same_instants() -> None:
    q, r = parse_period("2026-Q3"), parse_period("2026-07-01..2026-09-30")
    assert (q.start_ms, q.end_ms) == (r.start_ms, r.end_ms)
    assert [m.label for m in q.months()] == ["2026-07", "2026-08", "2026-09"]
    assert [m.label for m in parse_period("2026-07-15..2026-08-03").months()] == [
        "2026-07",
        "2026-08",
    ]


@pytest.mark.parametrize(
    "text",
    ["2026-Q5", "2026-13", "26", "2026-09-30..2026-07-01", "Q3", "2026-02-30..2026-03-01", ""],
)
def test_bad_periods_say_what_is_accepted(text: str) -> None:
    with pytest.raises(PeriodError, match="period"):
        parse_period(text)
