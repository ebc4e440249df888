"""Lifecycle rules of the batch pipeline, in process (dict tables, no broker): impossible
lifecycles, events before their receipt, overdue marks, crash rollback of dossier state."""

from __future__ import annotations

import gc
from typing import Any

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.lifecycle import decode_state
from streams.core.messages import RawMessage
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry, default_units_path
from streams.core.rollup import Lateness, UnitWindows
from streams.kafka.codec import Codec, encode_json

T0 = 1_705_539_600_000  # 2024-01-18 08:00 +07:00
H = 3_600_000
REGISTRY = UnitRegistry.load(default_units_path())
COUNTERS_AT = {"finished": 6, "overdue_open": 8, "feedback": 13}


def receipt(n: int, at: int, due: int) -> tuple[EventType, dict[str, Any]]:
    return EventType.RECEIVED, {
        "event_id": f"r{n}", "unit_code": "HA_NOI", "dossier_id": f"D{n}", "event_time": at,
        "procedure_code": "P", "procedure_level": 4, "channel": "online",
        "submitter_type": "citizen", "submitter_id_local": None, "submitter_id_qg": None,
        "via_national_portal": False, "due_at": due, "fee_payment": "none",
        "postal_return": False, "procedure_name": None,
    }  # fmt: skip


def result(n: int, at: int, finished: int | None = None) -> tuple[EventType, dict[str, Any]]:
    return EventType.RESULT_RETURNED, {
        "event_id": f"x{n}", "unit_code": "HA_NOI", "dossier_id": f"D{n}", "event_time": at,
        "finished_at": at if finished is None else finished, "electronic_result": True,
        "result_channel": "online", "digitised": True, "paid_online": False,
    }  # fmt: skip


def status(n: int, at: int, code: int, tag: str) -> tuple[EventType, dict[str, Any]]:
    return EventType.PROCESSED, {
        "event_id": f"p{n}{tag}", "unit_code": "HA_NOI", "dossier_id": f"D{n}",
        "event_time": at, "status": code, "step_name": None, "supplement_requested": False,
    }  # fmt: skip


def msgs(*events: tuple[EventType, dict[str, Any]]) -> list[RawMessage]:
    return [RawMessage(TOPIC_BY_TYPE[k], 0, i, b"HA_NOI", encode_json(e))
            for i, (k, e) in enumerate(events)]  # fmt: skip


def processor(units: dict[str, bytes], dossiers: dict[str, bytes]) -> BatchProcessor:
    return BatchProcessor(
        REGISTRY, Codec(now_ms=lambda: T0 + 30 * 86_400_000).decode,
        Lateness({"1m": H, "1h": 7 * 24 * H, "1d": 7 * 24 * H}), units, dossiers,
        lifecycle_grace_ms=24 * H,
    )  # fmt: skip


def day_counts(units: dict[str, bytes]) -> dict[str, int]:
    w = UnitWindows.from_bytes(units["HA_NOI"])
    vec = w.buckets[("1d", T0 - 8 * H)]
    return {name: int(vec[i]) for name, i in COUNTERS_AT.items()}


def test_result_before_its_receipt_waits_then_counts() -> None:
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(0, T0, T0 + 48 * H), result(1, T0 + 2 * H))))
    out = p.process(msgs(receipt(1, T0 + H, T0 + 48 * H)))
    p.commit_state(out)
    assert day_counts(units)["finished"] == 1
    assert out.sink_batch.anomalies[0] == []  # within the grace period: not an anomaly
    # the result's event row is written again with the windows it now counts in
    rows = dict(zip(out.sink_batch.events[1], out.sink_batch.events[-2], strict=True))
    assert rows["x1"] == 7


def test_impossible_lifecycles_are_reported() -> None:
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    batch = msgs(
        receipt(1, T0, T0 + 48 * H),
        status(1, T0 + H, 9, "a"),
        status(1, T0 + 2 * H, 2, "b"),  # back to "accepted" after "processed"
        receipt(2, T0 + H, T0 + 48 * H),
        result(2, T0 + 2 * H, finished=T0),  # finished before it was received
        result(3, T0 + 3 * H),  # no receipt at all ...
    )
    p.commit_state(p.process(batch))
    # ... reported once receipts have moved more than the grace period past it
    out = p.process(msgs(receipt(4, T0 + 30 * H, T0 + 100 * H)))
    p.commit_state(out)
    reasons = sorted(p.stats.anomalies)
    assert reasons == ["result_before_receipt", "result_without_receipt", "status_backwards"]
    assert day_counts(units)["finished"] == 0


def test_overdue_is_marked_then_cleared_by_the_result() -> None:
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + H))))
    p.commit_state(p.process(msgs(receipt(2, T0 + 2 * H, T0 + 50 * H))))
    assert day_counts(units)["overdue_open"] == 1
    out = p.process(msgs(result(1, T0 + 3 * H)))
    p.commit_state(out)
    assert day_counts(units) == {"finished": 1, "overdue_open": 0, "feedback": 0}
    overdue = list(zip(*out.sink_batch.overdue, strict=True))
    # marked in 1m/1h/1d; cleared in 1h/1d: the 1-minute bucket had left state (its row keeps
    # the overdue count it had when it closed)
    assert [(r[1], r[4], r[5]) for r in overdue] == [("D1", 7, 6)]


def test_dossier_state_written_after_the_units_last_write_is_rolled_back() -> None:
    """A crash between the dossier writes and the unit write of a batch: on reload the dossier
    state goes back to the state before that batch, so replaying the batch counts it once."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + 48 * H))))
    units_before = dict(units)
    batch = msgs(result(1, T0 + H))
    p.commit_state(p.process(batch))
    units.update(units_before)  # the unit's write of the second batch was lost
    restarted = processor(units, dossiers)
    restarted.commit_state(restarted.process(batch))  # offsets not committed: replayed
    assert day_counts(units)["finished"] == 1
    assert restarted.stats.duplicates == 0


def test_a_dossier_changed_only_by_the_sweep_rolls_back_too() -> None:
    """Same crash, but the lost batch changed the dossier only through the sweep (an overdue
    mark, no event of its own): the replay must judge it by the unit's seq before that batch,
    roll it back and mark it overdue again."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + H))))
    units_before = dict(units)
    batch = msgs(receipt(2, T0 + 2 * H, T0 + 50 * H))  # moves the watermark past D1's due time
    p.commit_state(p.process(batch))
    assert day_counts(units)["overdue_open"] == 1
    units.update(units_before)  # the unit's write of the second batch was lost
    restarted = processor(units, dossiers)
    restarted.commit_state(restarted.process(batch))  # offsets not committed: replayed
    assert day_counts(units)["overdue_open"] == 1


def test_a_mark_left_by_a_lost_batch_is_superseded_when_the_replay_never_marks() -> None:
    """A batch marks D1 overdue (its row reaches ClickHouse), then the worker dies before the
    batch's state is durable. The replay, cut differently, sees D1's result in the same batch
    and never marks it: the newest overdue row of D1 must not leave it counted."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + H))))
    units_before, dossiers_before = dict(units), dict(dossiers)
    lost = p.process(msgs(receipt(2, T0 + 2 * H, T0 + 50 * H)))  # marks D1; state never saved
    rows = list(zip(*lost.sink_batch.overdue, strict=True))
    assert [(r[1], r[4], r[5]) for r in rows] == [("D1", 7, 0)]
    restarted = processor(dict(units_before), dict(dossiers_before))
    replay = restarted.process(msgs(receipt(2, T0 + 2 * H, T0 + 50 * H), result(1, T0 + 3 * H)))
    rows += list(zip(*replay.sink_batch.overdue, strict=True))
    newest = max((r for r in rows if r[1] == "D1"), key=lambda r: r[7])
    assert newest[4] & ~newest[5] == 0  # marked_windows not cleared: none


def test_the_garbage_collector_is_paused_only_during_a_batch() -> None:
    seen: list[bool] = []
    p = processor({}, {})
    decode_batch = p._decode_batch
    assert decode_batch is not None  # the batch decode is what runs inside process()

    def spy(kind: EventType, values: list[bytes]) -> list[Any]:
        seen.append(gc.isenabled())
        return decode_batch(kind, values)

    p._decode_batch = spy
    assert gc.isenabled()
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + H))))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        p.process(msgs(receipt(2, T0, T0 + H)))
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_a_replay_cut_differently_after_a_lost_unit_write_counts_everything() -> None:
    """Batch N's dossier states reach the store, its unit's windows do not (a crash between
    the two). The replay is cut differently: D1's result alone brings the unit to N's seq
    again, D2's comes in the batch after. D2's state written by the lost batch must not read
    as current then, or its result is taken for a duplicate and never counted."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(p.process(msgs(receipt(1, T0, T0 + 48 * H), receipt(2, T0, T0 + 48 * H))))
    units_before, d2_before = dict(units), dossiers["HA_NOI|D2"]
    lost = p.process(msgs(result(1, T0 + H), result(2, T0 + H)))
    for key, value in lost.dossier_states.items():
        assert value is not None
        dossiers[key] = value  # the dossiers first ...
    units.clear()
    units.update(units_before)  # ... and the crash before the unit's windows
    restarted = processor(units, dossiers)
    restarted.commit_state(restarted.process(msgs(result(1, T0 + H))))
    # Rolled back before the replay: D2 is as it was before the lost batch.
    assert (
        decode_state(dossiers["HA_NOI|D2"], UnitWindows.from_bytes(units["HA_NOI"]).seq)[1]
        == decode_state(d2_before, 1)[1]
    )
    restarted.commit_state(restarted.process(msgs(result(2, T0 + H))))
    assert day_counts(units)["finished"] == 2


def test_a_dossier_first_seen_by_a_lost_batch_is_dropped_on_restart() -> None:
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    lost = p.process(msgs(receipt(1, T0, T0 + 48 * H)))
    dossiers.update({k: v for k, v in lost.dossier_states.items() if v is not None})
    restarted = processor(units, dossiers)
    restarted.process([])
    assert dossiers == {}
