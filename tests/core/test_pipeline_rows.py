"""Row building of the batch pipeline: event rows read per event type, rates by column."""

from __future__ import annotations

import numpy as np

from streams.core.events import EventType, schema_field_names
from streams.core.indicators import N_COUNTERS, RATES, rate_columns, rates
from streams.core.pipeline import _EVENT_ROW_READERS, EVENT_FIELDS


def test_event_rows_match_reading_each_field() -> None:
    for kind in EventType:
        names = list(schema_field_names(kind))
        event = {name: f"{kind.value}:{name}" for name in names}
        expected = tuple(event.get(name) for name in EVENT_FIELDS[1:])
        assert _EVENT_ROW_READERS[kind](event) == expected
        del event[names[-1]]  # not something the codec produces: read field by field
        assert _EVENT_ROW_READERS[kind](event) == tuple(
            event.get(name) for name in EVENT_FIELDS[1:]
        )


def test_rate_columns_equal_rates_per_vector() -> None:
    rng = np.random.default_rng(7)
    counts = rng.integers(-2, 10**9, (400, N_COUNTERS))
    counts[::3, :] = 0  # every denominator zero
    counts[1::5, 6] = 4
    counts[1::5, 8] = -4  # denominator summing to zero
    columns = rate_columns(counts)
    for i, vector in enumerate(counts):
        expected = rates(vector)
        got = {name: columns[j][i] for j, name in enumerate(RATES)}
        assert {k: repr(v) for k, v in got.items()} == {k: repr(v) for k, v in expected.items()}
