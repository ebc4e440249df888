"""Property: the columnar pipeline (streams.core.pipeline) and the per-event reference it
replaced (tests/core/reference_pipeline.py) give identical rows, dead letters, late events,
state changes and counts, batch by batch, on random streams (hypothesis).

A stream is a simulated lifecycle traffic (streams.traffic.simulate) of a random seed, mixed
JSON and Avro, with re-sent duplicates, receipts re-timed into the past (late), lifecycle events
moved before their receipt, messages broken in transit (bad bytes, an unknown unit, a wrong
key, a time in the far future), cut into batches at random points; short grace,
retention and lateness (of the simulated time, scaled by up to 1e-4) so anomalies, overdue
marks, expiry and late events all happen. Both processors run with the same fixed clock and
version counter, each on its own state tables.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchOutcome, BatchProcessor
from streams.core.registry import UnitRegistry, default_units_path
from streams.core.rollup import Lateness
from streams.kafka.codec import Codec, encode_avro, encode_json
from streams.traffic.simulate import generate
from tests.core.reference_pipeline import BatchProcessor as ReferenceProcessor

REGISTRY = UnitRegistry.load(default_units_path())
START_MS = 1_717_200_000_000  # 2024-06-01T00:00:00Z
NOW_MS = START_MS + 3 * 86_400_000
LATENESS = Lateness({"1m": 600_000, "1h": 3 * 3_600_000, "1d": 86_400_000})
CODEC = Codec(now_ms=lambda: NOW_MS)
HOUR_MS = 3_600_000


def _stream(seed: int, n: int, time_scale: float, rng: random.Random) -> list[RawMessage]:
    events = generate(REGISTRY, n, START_MS, seed=seed, rate_per_s=2.0, time_scale=time_scale)
    units = sorted({e["unit_code"] for _, e in events})
    partition = {u: i % 3 for i, u in enumerate(units)}
    offsets: dict[tuple[str, int], int] = {}
    out: list[RawMessage] = []
    for kind, event in events:
        roll = rng.random()
        if kind is EventType.RECEIVED and roll < 0.03:
            continue  # never sent: its dossier's later events wait, then are anomalies
        if kind is EventType.RECEIVED and roll < 0.08:
            event = {**event, "event_time": event["event_time"] - rng.randint(1, 72) * HOUR_MS}
        key = event["unit_code"].encode()
        value = encode_json(event) if rng.random() < 0.5 else encode_avro(kind, event)
        broken = rng.random()
        if broken < 0.01:
            value = b"\x7f" + value[1:]
        elif broken < 0.02:
            value = encode_json({**event, "unit_code": "NO_SUCH_UNIT"})
        elif broken < 0.03:
            key = b"OTHER"
        elif broken < 0.04:
            value = encode_json({**event, "event_time": NOW_MS + 2 * 86_400_000})
        elif broken < 0.045:
            value = b"{" + value[1:-2]
        topic = TOPIC_BY_TYPE[kind]
        p = partition[event["unit_code"]]
        offset = offsets.get((topic, p), 0)
        offsets[(topic, p)] = offset + 1
        out.append(RawMessage(topic, p, offset, key, value, event["event_time"]))
    # Some lifecycle events overtake their receipt; some messages are re-sent later.
    for i in range(len(out) - 1):
        if out[i + 1].topic != TOPIC_BY_TYPE[EventType.RECEIVED] and rng.random() < 0.05:
            out[i], out[i + 1] = out[i + 1], out[i]
    for _ in range(len(out) // 50):
        out.insert(rng.randrange(len(out) + 1), out[rng.randrange(len(out))])
    return out


def _counter() -> Callable[[], int]:
    count = itertools.count(1)
    return lambda: next(count)


def _processors() -> tuple[BatchProcessor, ReferenceProcessor]:
    made: list[Any] = []
    for cls in (BatchProcessor, ReferenceProcessor):
        processor = cls(
            REGISTRY,
            CODEC.decode,
            LATENESS,
            unit_table={},
            dossier_table={},
            clock_ms=lambda: NOW_MS,
            lifecycle_grace_ms=60_000,
            dossier_retention_ms=300_000,
        )
        processor._next_version = _counter()  # type: ignore[method-assign]
        made.append(processor)
    return made[0], made[1]


def _rejected(items: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (r.message.topic, r.message.partition, r.message.offset, r.reason, r.detail, r.unit_code)
        for r in items
    ]


def _view(out: BatchOutcome) -> dict[str, Any]:
    """Everything a batch produced, as comparable values."""
    return {
        "tables": {table: columns for table, _, columns in out.sink_batch.tables()},
        "dead_letters": _rejected(out.dead_letters),
        "late": _rejected(out.late),
        "unit_states": {u: w.to_bytes() for u, w in out.unit_states.items()},
        "dossier_states": out.dossier_states,
        "accepted": out.accepted,
        "duplicates": out.duplicates,
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(50, 1500),
    time_scale=st.sampled_from([1e-4, 1e-3, 1e-2]),
    cuts=st.lists(st.floats(0, 1), max_size=6),
    shuffle_seed=st.integers(0, 1000),
)
def test_columnar_pipeline_matches_the_per_event_reference(
    seed: int, n: int, time_scale: float, cuts: list[float], shuffle_seed: int
) -> None:
    messages = _stream(seed, n, time_scale, random.Random(shuffle_seed))
    bounds = sorted({0, len(messages), *(int(c * len(messages)) for c in cuts)})
    columnar, reference = _processors()
    assert columnar._decode_batch is not None  # the columnar decode is what runs
    for lo, hi in itertools.pairwise(bounds):
        batch = messages[lo:hi]
        got, want = columnar.process(batch), reference.process(batch)
        assert _view(got) == _view(want)
        columnar.commit_state(got)
        reference.commit_state(want)
        assert columnar.unit_table == reference.unit_table
        assert columnar.dossier_table == reference.dossier_table
    assert asdict(columnar.stats) == asdict(reference.stats)


def test_the_reference_stream_exercises_every_path() -> None:
    """The stream generator reaches what the property is about: duplicates, late events, dead
    letters of several reasons, pending lifecycles, anomalies, overdue marks and expiry."""
    messages = _stream(3, 1500, 1e-3, random.Random(1))
    columnar, reference = _processors()
    views = []
    for lo in range(0, len(messages), 400):
        out = reference.process(messages[lo : lo + 400])
        reference.commit_state(out)
        views.append(_view(out))
        got = columnar.process(messages[lo : lo + 400])
        columnar.commit_state(got)
        assert _view(got) == views[-1]
    stats = reference.stats
    assert stats.duplicates > 0 and stats.late > 0
    assert {"unknown_encoding", "unknown_unit", "key_mismatch", "invalid_time"} <= set(
        stats.dead_letters
    )
    assert stats.anomalies
    assert any(v["tables"]["dossier_overdue"][0] for v in views)
    assert any(state is None for v in views for state in v["dossier_states"].values())
