"""Property: any permutation of a stream, with any duplicates and any batch boundaries, yields
the same final windows and the same final rollup rows (hypothesis)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.indicators import receipt_matrix
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry, default_units_path
from streams.core.rollup import Lateness, UnitWindows
from streams.kafka.codec import Codec, encode_json

T0 = 1_705_539_600_000  # 2024-01-18 08:00 +07:00
SPAN_MS = 30 * 60_000  # everything within 30 minutes: inside every window's lateness
REGISTRY = UnitRegistry.load(default_units_path())
LATENESS = Lateness({"1m": 3_600_000, "1h": 7 * 86_400_000, "1d": 7 * 86_400_000})


@st.composite
def dossier_events(draw: st.DrawFn, unit: str, n: int) -> list[tuple[EventType, dict[str, Any]]]:
    """The lifecycle of dossier ``n`` of ``unit``: a receipt and maybe steps, result, feedback."""
    t = draw(st.integers(0, SPAN_MS // 2))
    base = {"unit_code": unit, "dossier_id": f"D{n}"}
    out: list[tuple[EventType, dict[str, Any]]] = [
        (
            EventType.RECEIVED,
            {
                **base,
                "event_id": f"{unit}-{n}-r",
                "event_time": T0 + t,
                "procedure_code": "P1",
                "procedure_level": draw(st.sampled_from([0, 3, 4])),
                "channel": draw(st.sampled_from(["online", "in_person", "postal"])),
                "submitter_type": draw(st.sampled_from(["business", "citizen", "officer"])),
                "submitter_id_local": None,
                "submitter_id_qg": None,
                "via_national_portal": draw(st.booleans()),
                "due_at": T0 + t + draw(st.integers(60_000, SPAN_MS)),
                "fee_payment": draw(st.sampled_from(["none", "online", "in_person"])),
                "postal_return": False,
                "procedure_name": None,
            },
        )
    ]
    status = draw(st.sampled_from([None, 2, 3, 4, 9]))
    if status is not None:
        out.append(
            (
                EventType.PROCESSED,
                {**base, "event_id": f"{unit}-{n}-p", "event_time": T0 + t + 1000,
                 "status": status, "step_name": None, "supplement_requested": False},
            )
        )  # fmt: skip
    if draw(st.booleans()) and status != 3:
        done = T0 + t + draw(st.integers(1000, SPAN_MS // 2))
        out.append(
            (
                EventType.RESULT_RETURNED,
                {**base, "event_id": f"{unit}-{n}-x", "event_time": done, "finished_at": done,
                 "electronic_result": draw(st.booleans()), "result_channel": "online",
                 "digitised": draw(st.booleans()), "paid_online": False},
            )
        )  # fmt: skip
        if draw(st.booleans()):
            out.append(
                (
                    EventType.FEEDBACK,
                    {**base, "event_id": f"{unit}-{n}-f", "event_time": done + 5000,
                     "rating": draw(st.sampled_from(["very_satisfied", "satisfied", "neutral",
                                                     "dissatisfied"])),
                     "complaint": False},
                )
            )  # fmt: skip
    return out


@st.composite
def streams_(draw: st.DrawFn) -> tuple[list[RawMessage], list[RawMessage], list[int]]:
    events: list[tuple[EventType, dict[str, Any]]] = []
    for unit in ("HA_NOI", "DA_NANG"):
        for n in range(draw(st.integers(1, 6))):
            events += draw(dossier_events(unit, n))
    messages = [
        RawMessage(TOPIC_BY_TYPE[kind], 0, i, ev["unit_code"].encode(), encode_json(ev))
        for i, (kind, ev) in enumerate(events)
    ]
    dupes = draw(st.lists(st.sampled_from(messages), max_size=len(messages)))
    shuffled = draw(st.permutations(messages + dupes))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=5)))
    return messages, shuffled, cuts


def run(batches: list[list[RawMessage]]) -> tuple[dict[str, Any], dict[tuple[Any, ...], Any]]:
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    processor = BatchProcessor(
        REGISTRY, Codec(now_ms=lambda: T0 + 86_400_000).decode, LATENESS, units, dossiers,
        clock_ms=lambda: T0,
    )  # fmt: skip
    final_rows: dict[tuple[Any, ...], Any] = {}
    for batch in batches:
        out = processor.process(batch)
        processor.commit_state(out)
        cols = out.sink_batch.rollups
        for row in zip(*cols, strict=True):
            final_rows[row[:3]] = row[4:-2]  # counters and rates, without times and version
    windows = {
        code: {k: v.tolist() for k, v in UnitWindows.from_bytes(raw).buckets.items()}
        for code, raw in units.items()
    }
    return windows, final_rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams_())
def test_any_order_duplicates_and_batching_give_the_same_windows(
    data: tuple[list[RawMessage], list[RawMessage], list[int]],
) -> None:
    canonical, shuffled, cuts = data
    reference = run([canonical])
    bounds = [0, *cuts, len(shuffled)]
    batches = [shuffled[a:b] for a, b in itertools.pairwise(bounds)]
    assert run(batches) == reference


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, SPAN_MS), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_core_windows_are_order_independent(times: list[int], rnd: Any) -> None:
    """The pure core alone: receipts in any order and batch split give the same buckets."""
    events = [
        {"event_time": T0 + t, "channel": "online" if t % 3 else "in_person",
         "submitter_type": "officer" if t % 5 == 0 else "citizen",
         "via_national_portal": t % 2 == 0, "fee_payment": "online" if t % 7 else "none"}
        for t in times
    ]  # fmt: skip

    def apply_all(order: list[dict[str, Any]], split: int) -> dict[Any, list[int]]:
        w = UnitWindows()
        for part in (order[:split], order[split:]):
            if part:
                ts = np.array([e["event_time"] for e in part], dtype=np.int64)
                w.apply(ts, receipt_matrix(part), LATENESS)
        return {k: v.tolist() for k, v in w.buckets.items()}

    shuffled = events[:]
    rnd.shuffle(shuffled)
    assert apply_all(shuffled, rnd.randrange(len(events) + 1)) == apply_all(events, len(events))
