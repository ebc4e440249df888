"""Tests of the dossier lifecycle simulator (streams/simulate.py)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import date
from typing import Any

import pytest
from fastavro import parse_schema
from fastavro.validation import validate

from streams.core.events import Event, EventType, schema_path
from streams.core.localtime import local_midnight_ms
from streams.core.registry import Unit, UnitRegistry, default_units_path
from streams.traffic.simulate import LifecycleSimulator, SimulationProfile, generate

START_MS = local_midnight_ms(date(2024, 3, 4)) + 8 * 3_600_000  # a Monday, 08:00 local
N_EVENTS = 50_000
SCALE = 1e-4  # a 20-day deadline becomes ~3 minutes: lifecycles complete within the run

Stream = list[tuple[EventType, Event]]


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    return UnitRegistry.load(default_units_path())


@pytest.fixture(scope="module")
def stream(registry: UnitRegistry) -> Stream:
    return generate(registry, N_EVENTS, START_MS, seed=7, rate_per_s=200.0, time_scale=SCALE)


def originals(stream: Stream) -> Stream:
    """The stream without re-sent copies (later occurrences of an event_id)."""
    seen: set[str] = set()
    out: Stream = []
    for kind, event in stream:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            out.append((kind, event))
    return out


def receipts(stream: Stream) -> list[Event]:
    return [e for k, e in originals(stream) if k is EventType.RECEIVED]


def share(values: list[bool]) -> float:
    assert values, "no sample"
    return sum(values) / len(values)


# ---------------------------------------------------------------- determinism


def test_deterministic_per_seed(registry: UnitRegistry) -> None:
    a = generate(registry, 3_000, START_MS, seed=11, time_scale=SCALE)
    b = generate(registry, 3_000, START_MS, seed=11, time_scale=SCALE)
    c = generate(registry, 3_000, START_MS, seed=12, time_scale=SCALE)
    assert a == b
    assert a != c
    assert len(a) == 3_000


def test_windows_do_not_change_the_stream(registry: UnitRegistry) -> None:
    whole = LifecycleSimulator(registry, seed=5, time_scale=SCALE)
    one = list(whole.events_between(START_MS, START_MS + 30_000, 150.0))
    chopped = LifecycleSimulator(registry, seed=5, time_scale=SCALE)
    many: Stream = []
    for i in range(300):  # a live producer calling every 100 ms with [last, now)
        lo = START_MS + i * 100
        many.extend(chopped.events_between(lo, lo + 100, 150.0))
    assert one == many
    assert len(one) > 1_000


def test_window_rules(registry: UnitRegistry) -> None:
    sim = LifecycleSimulator(registry, seed=1, time_scale=SCALE)
    first = list(sim.events_between(START_MS, START_MS + 5_000, 100.0))
    assert all(START_MS <= e["event_time"] < START_MS + 5_000 for _, e in first)
    with pytest.raises(ValueError, match="goes back"):
        list(sim.events_between(START_MS + 4_000, START_MS + 6_000, 100.0))
    with pytest.raises(ValueError):
        list(sim.events_between(START_MS + 6_000, START_MS + 5_000, 100.0))
    # A gap: no receipts inside it; follow-ups due in it still come out, in order.
    after_gap = list(sim.events_between(START_MS + 60_000, START_MS + 61_000, 100.0))
    gap_receipts = [
        e for k, e in after_gap if k is EventType.RECEIVED and e["event_time"] < START_MS + 60_000
    ]
    assert gap_receipts == []
    times = [e["event_time"] for _, e in originals(first + after_gap)]
    assert times == sorted(times)


# ---------------------------------------------------------------- ordering and lifecycles


def test_event_time_order_and_duplicates(stream: Stream) -> None:
    first_seen: dict[str, tuple[int, Event]] = {}
    last_time = -1
    dup_count = 0
    for position, (_, event) in enumerate(stream):
        earlier = first_seen.get(event["event_id"])
        if earlier is None:
            first_seen[event["event_id"]] = (position, event)
            assert event["event_time"] >= last_time
            last_time = event["event_time"]
        else:
            dup_count += 1
            assert earlier[0] < position
            assert event == earlier[1]  # an exact re-send
            assert event is not earlier[1]
    assert 0.007 <= dup_count / len(stream) <= 0.013


def test_lifecycles_are_consistent(stream: Stream) -> None:
    received: dict[tuple[str, str], Event] = {}
    last_status: dict[tuple[str, str], int] = {}
    results: dict[tuple[str, str], Event] = {}
    n_results = n_feedback = 0
    paid_later: list[bool] = []
    ratings: dict[tuple[str, str], int] = {}
    for kind, event in originals(stream):
        key = (event["unit_code"], event["dossier_id"])
        if kind is EventType.RECEIVED:
            assert key not in received, "dossier_id unique per unit"
            received[key] = event
            continue
        receipt = received.get(key)
        assert receipt is not None, f"{kind} before the receipt of {key}"
        assert event["event_time"] > receipt["event_time"]
        if kind is EventType.PROCESSED:
            assert event["status"] > last_status.get(key, 0), "statuses only go up"
            assert event["supplement_requested"] == (event["status"] == 5)
            last_status[key] = event["status"]
        elif kind is EventType.RESULT_RETURNED:
            n_results += 1
            assert last_status.get(key) == 9, "a result follows the 'processed' step"
            assert key not in results
            assert event["finished_at"] == event["event_time"]
            if receipt["fee_payment"] == "online":
                assert event["paid_online"]
            elif receipt["fee_payment"] == "none":
                assert not event["paid_online"]
            else:  # due in person: sometimes paid online after all
                paid_later.append(event["paid_online"])
            if receipt["postal_return"]:
                assert event["result_channel"] == "postal"
            results[key] = event
        else:
            n_feedback += 1
            assert key in results, "feedback only after a result"
            assert event["event_time"] > results[key]["event_time"]
            ratings[key] = ratings.get(key, 0) + 1
    assert n_results > 5_000
    assert n_feedback > 1_000
    assert max(ratings.values()) == 2, "some dossiers are rated twice, none more"
    assert sum(n == 2 for n in ratings.values()) / len(ratings) == pytest.approx(0.05, abs=0.02)
    assert share(paid_later) == pytest.approx(0.1, abs=0.03)


def test_only_registered_units_and_unique_event_ids(registry: UnitRegistry, stream: Stream) -> None:
    assert {e["unit_code"] for _, e in stream} <= set(registry.codes)
    ids = [e["event_id"] for _, e in originals(stream)]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- shares


def test_receipt_shares(stream: Stream) -> None:
    rec = receipts(stream)
    assert len(rec) > 10_000
    online = [e for e in rec if e["channel"] == "online"]
    assert share([e["channel"] == "online" for e in rec]) == pytest.approx(0.40, abs=0.02)
    assert share([e["channel"] == "postal" for e in rec]) == pytest.approx(0.03, abs=0.01)
    officer = [e["submitter_type"] == "officer" for e in online]
    assert share(officer) == pytest.approx(0.15, abs=0.02)
    assert all(e["submitter_type"] != "officer" for e in rec if e["channel"] != "online")
    portal = [e["via_national_portal"] for e in online]
    assert share(portal) == pytest.approx(0.35, abs=0.03)
    assert not any(e["via_national_portal"] for e in rec if e["channel"] != "online")
    levels = Counter(e["procedure_level"] for e in rec)
    for level, expected in {0: 0.2, 3: 0.35, 4: 0.45}.items():
        assert levels[level] / len(rec) == pytest.approx(expected, abs=0.02)
    assert all(e["procedure_level"] in (3, 4) for e in online)
    fee = [e["fee_payment"] != "none" for e in rec]
    assert share(fee) == pytest.approx(0.6, abs=0.02)
    paying_online = [e["fee_payment"] == "online" for e in online if e["fee_payment"] != "none"]
    assert share(paying_online) == pytest.approx(0.5, abs=0.04)
    assert all(e["fee_payment"] != "online" for e in rec if e["channel"] != "online")
    assert all(e["due_at"] > e["event_time"] for e in rec)


def test_outcome_shares(registry: UnitRegistry) -> None:
    # Tiny time scale and a long run: nearly every lifecycle started early completes.
    events = generate(registry, 40_000, START_MS, seed=3, time_scale=1e-6)
    horizon = events[-1][1]["event_time"] - 5_000  # receipts whose lifecycle fits in the run
    early = {
        (e["unit_code"], e["dossier_id"]): e
        for k, e in originals(events)
        if k is EventType.RECEIVED and e["event_time"] < horizon
    }
    results = {
        (e["unit_code"], e["dossier_id"]): e
        for k, e in originals(events)
        if k is EventType.RESULT_RETURNED and (e["unit_code"], e["dossier_id"]) in early
    }
    feedback = [
        e
        for k, e in originals(events)
        if k is EventType.FEEDBACK and (e["unit_code"], e["dossier_id"]) in early
    ]
    assert len(results) / len(early) == pytest.approx(0.9, abs=0.02)
    on_time = [r["finished_at"] <= early[key]["due_at"] for key, r in results.items()]
    assert share(on_time) == pytest.approx(0.9, abs=0.02)
    rated = {(e["unit_code"], e["dossier_id"]) for e in feedback}
    assert len(rated) / len(results) == pytest.approx(0.3, abs=0.03)
    satisfied = [f["rating"] in ("satisfied", "very_satisfied") for f in feedback]
    assert share(satisfied) == pytest.approx(0.9, abs=0.03)
    online_keys = [k for k in results if early[k]["channel"] == "online"]
    offline_keys = [k for k in results if early[k]["channel"] != "online"]
    assert share([results[k]["electronic_result"] for k in online_keys]) > share(
        [results[k]["electronic_result"] for k in offline_keys]
    )


def test_total_rate_in_steady_state(registry: UnitRegistry) -> None:
    sim = LifecycleSimulator(registry, seed=9, time_scale=1e-5)
    rate = 300.0
    list(sim.events_between(START_MS, START_MS + 120_000, rate))  # warm-up
    measured = list(sim.events_between(START_MS + 120_000, START_MS + 240_000, rate))
    assert len(measured) / 120 == pytest.approx(rate, rel=0.08)


def test_time_scale_one_gives_real_durations(registry: UnitRegistry) -> None:
    events = generate(registry, 2_000, START_MS, seed=2, time_scale=1.0)
    deadlines = [e["due_at"] - e["event_time"] for k, e in events if k is EventType.RECEIVED]
    assert min(deadlines) >= 4 * 3_600_000
    assert max(deadlines) <= 20 * 86_400_000


def test_unit_sizes_are_skewed(registry: UnitRegistry, stream: Stream) -> None:
    per_unit = Counter(e["unit_code"] for e in receipts(stream))
    counts = [per_unit.get(code, 0) for code in registry.codes]
    assert max(counts) >= 5 * statistics.median(counts)
    assert per_unit.most_common(1)[0][0] in ("HO_CHI_MINH", "HA_NOI")
    assert len(per_unit) >= 75  # small units still send something
    again = LifecycleSimulator(registry, seed=7).unit_weights
    assert again == LifecycleSimulator(registry, seed=7).unit_weights
    assert again != LifecycleSimulator(registry, seed=8).unit_weights


# ---------------------------------------------------------------- schema and validity


@pytest.fixture(scope="module")
def schemas() -> dict[EventType, Any]:
    return {
        kind: parse_schema(json.loads(schema_path(kind).read_text(encoding="utf-8")))
        for kind in EventType
    }


def test_every_event_validates_against_its_schema(
    stream: Stream, schemas: dict[EventType, Any]
) -> None:
    seen: Counter[EventType] = Counter()
    for kind, event in stream:
        assert validate(event, schemas[kind], raise_errors=True)
        field_names = {f["name"] for f in schemas[kind]["fields"]}
        assert set(event) == field_names
        seen[kind] += 1
    assert set(seen) == set(EventType)


def test_only_valid_units_send(schemas: dict[EventType, Any]) -> None:
    switch_day = date(2024, 3, 5)
    switch = local_midnight_ms(switch_day)
    units = [
        Unit("OLD_PROVINCE", "Tỉnh cũ", "province", date(2022, 6, 24), date(2024, 3, 4), None),
        Unit("NEW_PROVINCE", "Tỉnh mới", "province", switch_day, None, "VNPT"),
        Unit("STEADY", "Tỉnh ổn định", "province", date(2022, 6, 24), None, None),
    ]
    registry = UnitRegistry(units)
    profile = SimulationProfile(large_units=(), ministry_catalogue_size=50)
    events = generate(registry, 20_000, switch - 60_000, seed=4, profile=profile, time_scale=1e-4)
    assert events[-1][1]["event_time"] > switch + 30_000
    for kind, event in events:
        assert registry.validity(event["unit_code"], event["event_time"]) == "ok"
        validate(event, schemas[kind], raise_errors=True)
    senders = Counter(e["unit_code"] for _, e in events)
    assert set(senders) == {"OLD_PROVINCE", "NEW_PROVINCE", "STEADY"}


def test_profile_validation() -> None:
    with pytest.raises(ValueError, match="online_share"):
        SimulationProfile(online_share=0.9)  # more than the level 3/4 share (0.8)
    with pytest.raises(ValueError, match="level_shares"):
        SimulationProfile(level_shares={0: 0.5, 3: 0.2})
    with pytest.raises(ValueError, match="duplicate_share"):
        SimulationProfile(duplicate_share=1.5)
    # (1 receipt + 2.2 processed + 0.9 results × (1 + 0.3 feedback × 1.05 re-rated)) × 1.01
    assert SimulationProfile().events_per_dossier() == pytest.approx(4.4273, abs=1e-3)
