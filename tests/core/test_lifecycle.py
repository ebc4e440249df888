"""Dossier state values (streams.core.lifecycle): the stored form, its crash-rollback pair, and
values written by the previous format (``EMD1``, states as JSON objects)."""

from __future__ import annotations

import struct
from typing import Any

import orjson

from streams.core.lifecycle import DossierState, Pending, decode_state, encode_state


def sample_state() -> DossierState:
    return DossierState(
        ids=["r1", "p1"],
        received_ms=1_705_539_600_000,
        due_ms=1_705_539_600_000 + 86_400_000,
        online=True,
        level=4,
        counted=7,
        stage=2,
        stage_ms=1_705_539_700_000,
        closed=False,
        finished_ms=None,
        overdue_marked=True,
        overdue_bits=6,
        pending=[Pending("feedback", {"event_id": "f1", "event_time": 5}, "json", 3, 42)],
        flagged=["f1"],
        last_ms=1_705_539_700_000,
    )


def emd1_dict(state: DossierState) -> dict[str, Any]:
    """A state as the EMD1 format wrote it: a JSON object with short keys."""
    return {
        "i": state.ids,
        "r": state.received_ms,
        "d": state.due_ms,
        "o": state.online,
        "l": state.level,
        "c": state.counted,
        "s": [state.stage, state.stage_ms],
        "x": state.closed,
        "f": state.finished_ms,
        "om": state.overdue_marked,
        "ob": state.overdue_bits,
        "p": [[p.kind, p.event, p.encoding, p.partition, p.offset] for p in state.pending],
        "g": state.flagged,
        "t": state.last_ms,
    }


def emd1_value(state: DossierState | None, seq: int, previous: bytes | None) -> bytes:
    """A value as the EMD1 format wrote it."""
    current = orjson.dumps(emd1_dict(state)) if state is not None else b""
    return struct.pack("<4sqI", b"EMD1", seq, len(current)) + current + (previous or b"")


def test_state_round_trips_and_keeps_the_previous_bytes() -> None:
    state = sample_state()
    previous = encode_state(DossierState(ids=["r1"]), 1, None)
    _, previous_json = decode_state(previous, 1)
    value = encode_state(state, 2, previous_json)
    decoded, current_json = decode_state(value, 2)
    assert decoded == state
    assert current_json == orjson.dumps(state.to_list())
    rolled_back, kept = decode_state(value, 1)  # the unit's windows of batch 2 were lost
    assert rolled_back == DossierState(ids=["r1"])
    assert kept == previous_json
    assert decode_state(encode_state(state, 1, None), 0) == (DossierState(), None)


def test_list_and_dict_forms_agree() -> None:
    state = sample_state()
    assert DossierState.from_list(orjson.loads(orjson.dumps(state.to_list()))) == state
    assert DossierState.from_dict(orjson.loads(orjson.dumps(emd1_dict(state)))) == state


def test_values_of_the_previous_format_are_read() -> None:
    state = sample_state()
    old = emd1_value(state, 3, orjson.dumps(emd1_dict(DossierState(ids=["r1"]))))
    assert decode_state(old, 3)[0] == state
    assert decode_state(old, 2)[0] == DossierState(ids=["r1"])
    # A new value whose previous state is an EMD1 object, as the first write after upgrading.
    _, old_json = decode_state(old, 3)
    mixed = encode_state(DossierState(ids=["r1", "p1", "x1"]), 4, old_json)
    assert decode_state(mixed, 4)[0].ids == ["r1", "p1", "x1"]
    assert decode_state(mixed, 3)[0] == state


def test_arrays_written_before_the_rating_and_fee_fields_take_their_defaults() -> None:
    """A state stored before ``fee`` … ``rating_bits`` existed (15 fields) still loads: the fee
    is unknown (a later ``paid_online`` adds nothing) and no rating is counted yet."""
    state = sample_state()
    short = state.to_list()[:15]
    loaded = DossierState.from_list(orjson.loads(orjson.dumps(short)))
    assert loaded.ids == state.ids and loaded.last_ms == state.last_ms
    assert (loaded.fee, loaded.postal_return, loaded.rating, loaded.rating_bits) == (
        -1,
        False,
        None,
        0,
    )
