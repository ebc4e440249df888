"""The settled definitions in the live windows (docs/assessment.md): one rating per dossier (its
latest by event time, then event id), a fee paid online at any step, and fully online by Decree
42/2022's rule (the result electronic, or by post as the citizen asked)."""

from __future__ import annotations

from typing import Any

from streams.core.events import EventType
from streams.core.indicators import COUNTER_INDEX
from streams.core.lifecycle import decode_state, encode_state
from streams.core.rollup import UnitWindows
from tests.core.test_pipeline_lifecycle import T0, H, msgs, processor, receipt, result

Event = tuple[EventType, dict[str, Any]]
DAY_START = T0 - 8 * H  # the local day of T0 (08:00 +07:00)


def feedback(n: int, tag: str, at: int, rating: str) -> Event:
    return EventType.FEEDBACK, {
        "event_id": f"f{n}{tag}", "unit_code": "HA_NOI", "dossier_id": f"D{n}",
        "event_time": at, "rating": rating, "complaint": False, "comment": None,
    }  # fmt: skip


def with_fields(event: Event, **fields: Any) -> Event:
    kind, body = event
    return kind, {**body, **fields}


def counts(units: dict[str, bytes], window: str = "1d", start: int = DAY_START) -> dict[str, int]:
    vec = UnitWindows.from_bytes(units["HA_NOI"]).buckets[(window, start)]
    return {name: int(vec[i]) for name, i in COUNTER_INDEX.items()}


def run(*batches: list[Event]) -> tuple[dict[str, bytes], list[dict[str, int]]]:
    """Process ``batches`` in order; return the unit table and each batch's event id → counted
    windows (bit set) of its event rows."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    bits = []
    for batch in batches:
        out = p.process(msgs(*batch))
        p.commit_state(out)
        ev = out.sink_batch.events
        bits.append(dict(zip(ev[1], ev[-2], strict=True)))
    return units, bits


def test_a_newer_rating_replaces_the_older_one() -> None:
    units, bits = run(
        [receipt(1, T0, T0 + 48 * H), result(1, T0 + H)],
        [feedback(1, "a", T0 + 2 * H, "satisfied")],
        [feedback(1, "b", T0 + 3 * H, "dissatisfied")],
        [feedback(1, "c", T0 + 90 * 60_000, "very_satisfied")],  # older than both: not counted
    )
    day = counts(units)
    assert (day["feedback"], day["satisfied"]) == (1, 0)
    # f1a is applied before its batch evicts the receipt's 1-minute bucket (closed an hour after
    # its end): 7 = 1m|1h|1d; by f1b that bucket has left state, only the hour and day count (6)
    assert bits[1]["f1a"] == 7 and bits[2]["f1b"] == 6 and bits[3]["f1c"] == 0


def test_the_latest_rating_wins_whatever_the_arrival_order() -> None:
    newest_first, _ = run(
        [receipt(1, T0, T0 + 48 * H), result(1, T0 + H)],
        [feedback(1, "b", T0 + 3 * H, "neutral")],
        [feedback(1, "a", T0 + 2 * H, "very_satisfied")],
    )
    one_batch, _ = run(
        [
            receipt(1, T0, T0 + 48 * H),
            result(1, T0 + H),
            feedback(1, "b", T0 + 3 * H, "neutral"),
            feedback(1, "a", T0 + 2 * H, "very_satisfied"),
        ]
    )
    for units in (newest_first, one_batch):
        day = counts(units)
        assert (day["feedback"], day["satisfied"]) == (1, 0)
    # equal times: the larger event id is the later rating
    tie, _ = run(
        [receipt(1, T0, T0 + 48 * H), result(1, T0 + H)],
        [feedback(1, "b", T0 + 2 * H, "satisfied"), feedback(1, "a", T0 + 2 * H, "neutral")],
    )
    assert (counts(tie)["feedback"], counts(tie)["satisfied"]) == (1, 1)


def test_a_rating_after_its_receipt_left_a_window_updates_the_windows_still_open() -> None:
    """The 1-minute bucket of the receipt closes after an hour (lateness of this processor):
    a replacement two hours later moves only the hour and day buckets, and the 1-minute row keeps
    the rating it had when it closed."""
    minute_of_receipt = T0
    first, _ = run(
        [receipt(1, T0, T0 + 48 * H), result(1, T0 + 30_000)],
        [feedback(1, "a", T0 + 40_000, "satisfied")],
    )
    assert counts(first, "1m", minute_of_receipt)["satisfied"] == 1
    units, bits = run(
        [receipt(1, T0, T0 + 48 * H), result(1, T0 + 30_000)],
        [feedback(1, "a", T0 + 40_000, "satisfied")],
        [receipt(2, T0 + 3 * H, T0 + 48 * H)],  # moves the watermark: the 1m bucket leaves
        [feedback(1, "b", T0 + 4 * H, "dissatisfied")],
    )
    assert (counts(units)["feedback"], counts(units)["satisfied"]) == (1, 0)
    assert counts(units, "1h", T0)["satisfied"] == 0
    assert bits[3]["f1b"] == 6  # 1h and 1d only


def test_a_fee_paid_online_at_the_result_counts_as_online_payment() -> None:
    in_person = with_fields(receipt(1, T0, T0 + 48 * H), fee_payment="in_person")
    no_fee = receipt(2, T0, T0 + 48 * H)  # the builder's fee_payment is "none"
    at_receipt = with_fields(receipt(3, T0, T0 + 48 * H), fee_payment="online")
    unpaid = with_fields(receipt(4, T0, T0 + 48 * H), fee_payment="in_person")
    units, _ = run(
        [in_person, no_fee, at_receipt, unpaid],
        [
            with_fields(result(1, T0 + H), paid_online=True),
            with_fields(result(2, T0 + H), paid_online=True),
            with_fields(result(3, T0 + H), paid_online=True),  # counted once, at receipt
            result(4, T0 + H),
        ],
    )
    day = counts(units)
    assert (day["fee_dossiers"], day["online_payment"]) == (4, 3)


def test_a_state_from_before_the_fee_field_does_not_count_a_later_payment() -> None:
    """A dossier state written before the fee was kept (fee -1, unknown): the result's
    ``paid_online`` adds nothing, as the old rule did."""
    units: dict[str, bytes] = {}
    dossiers: dict[str, bytes] = {}
    p = processor(units, dossiers)
    p.commit_state(
        p.process(msgs(with_fields(receipt(1, T0, T0 + 48 * H), fee_payment="in_person")))
    )
    seq = UnitWindows.from_bytes(units["HA_NOI"]).seq
    state, _ = decode_state(dossiers["HA_NOI|D1"], seq)
    state.fee = -1
    dossiers["HA_NOI|D1"] = encode_state(state, seq, None)
    p.forget_units()
    p.commit_state(p.process(msgs(with_fields(result(1, T0 + H), paid_online=True))))
    day = counts(units)
    assert (day["fee_dossiers"], day["online_payment"], day["finished"]) == (1, 0, 1)


def test_fully_online_by_post_when_the_citizen_asked_for_it() -> None:
    asked = with_fields(receipt(1, T0, T0 + 48 * H), postal_return=True)
    not_asked = receipt(2, T0, T0 + 48 * H)
    paper = with_fields(receipt(3, T0, T0 + 48 * H), procedure_level=3)
    by_post = {"electronic_result": False, "result_channel": "postal"}
    units, _ = run(
        [asked, not_asked, paper],
        [
            with_fields(result(1, T0 + H), **by_post),
            with_fields(result(2, T0 + H), **by_post),
            result(3, T0 + H),  # electronic, but a level-3 procedure
        ],
    )
    assert counts(units)["fully_online"] == 1
