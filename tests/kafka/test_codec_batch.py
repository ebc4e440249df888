"""``Codec.decode_batch`` is ``Codec.decode`` applied to each value: the same events (same
values, same field order) and the same errors (reason and detail), on valid messages and on
messages broken in every way the typed JSON path could read differently (hypothesis)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.errors import DecodeError
from streams.core.events import EventType
from streams.kafka.codec import Codec, encode_avro
from tests.kafka.test_codec import FULL_EVENTS, NOW_MS, minimal

CODEC = Codec(now_ms=lambda: NOW_MS)

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([NOW_MS, NOW_MS + 2 * 86_400_000, 946_684_799_999, 0, 2**31, -(2**31) - 1]),
    st.sampled_from([1.0, 1e3, 0.5]),
    st.sampled_from(
        ["", "x" * 129, "online", "citizen", "none", "neutral", "2024-01-18T08:30+07:00"]
    ),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
"""Values a broken producer might put in any field (types, ranges, enum-like and ISO strings)."""


def _outcome(result: Any) -> Any:
    """An event as (fields in order, values), an error as (reason, detail)."""
    if isinstance(result, DecodeError):
        return ("error", result.reason, result.detail)
    return ("event", list(result.items()))


def _single(kind: EventType, value: bytes) -> Any:
    try:
        return _outcome(CODEC.decode(kind, value))
    except DecodeError as exc:
        return _outcome(exc)


@st.composite
def broken_message(draw: st.DrawFn) -> tuple[EventType, bytes]:
    kind = draw(st.sampled_from(list(EventType)))
    event: dict[str, Any] = dict(draw(st.sampled_from([FULL_EVENTS[kind], minimal(kind)])))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "drop", "extra", "reorder"]))
        name = draw(st.sampled_from(list(FULL_EVENTS[kind])))
        if action == "set":
            event[name] = draw(JSON_VALUES)
        elif action == "drop":
            event.pop(name, None)
        elif action == "extra":
            event[draw(st.sampled_from(["extra", "x"]))] = draw(JSON_VALUES)
        else:
            event = dict(reversed(list(event.items())))
    if draw(st.booleans()):
        try:
            return kind, encode_avro(kind, event)
        except Exception:  # not encodable as Avro: send it as JSON
            pass
    text = draw(st.sampled_from(["plain", "spaced", "duplicate", "truncated", "infinite"]))
    raw = _json(event)
    if text == "spaced":
        raw = b"  " + raw
    elif text == "duplicate" and event:
        first = next(iter(event))
        raw = raw[:-1] + b"," + _json({first: event[first]})[1:]
    elif text == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif text == "infinite":
        raw = raw[:-1] + (b',"extra":1e999}' if len(raw) > 2 else b'"extra":1e999}')
    return kind, raw


def _json(event: dict[str, Any]) -> bytes:
    """JSON of ``event``, integers of any size written out (orjson refuses > 64 bits)."""
    parts = [orjson.dumps(k) + b":" + _value(v) for k, v in event.items()]
    return b"{" + b",".join(parts) + b"}"


def _value(value: Any) -> bytes:
    if type(value) is int:
        return str(value).encode()
    if isinstance(value, list):
        return b"[" + b",".join(_value(v) for v in value) + b"]"
    return orjson.dumps(value)


@pytest.mark.parametrize("kind", list(EventType))
def test_valid_messages_decode_alike(kind: EventType) -> None:
    values = [
        orjson.dumps(FULL_EVENTS[kind]),
        orjson.dumps(minimal(kind)),
        encode_avro(kind, FULL_EVENTS[kind]),
        b" \n" + orjson.dumps(FULL_EVENTS[kind]),
    ]
    batch = CODEC.decode_batch(kind, values)
    assert [_outcome(r) for r in batch] == [_single(kind, v) for v in values]
    assert all(isinstance(r, dict) for r in batch)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(broken_message(), min_size=1, max_size=8))
def test_batch_decode_equals_per_message_decode(messages: list[tuple[EventType, bytes]]) -> None:
    for kind in EventType:
        values = [value for k, value in messages if k is kind]
        batch = CODEC.decode_batch(kind, values)
        assert [_outcome(r) for r in batch] == [_single(kind, v) for v in values]


def test_values_out_of_bounds_get_the_per_message_error() -> None:
    kind = EventType.RECEIVED
    values = [
        orjson.dumps({**FULL_EVENTS[kind], "event_time": NOW_MS + 2 * 86_400_000}),
        orjson.dumps({**FULL_EVENTS[kind], "unit_code": ""}),
        orjson.dumps({**FULL_EVENTS[kind], "procedure_level": 1}),
        orjson.dumps(FULL_EVENTS[kind]),
        b'{"event_id": 99999999999999999999}',
    ]
    reasons = [
        r.reason if isinstance(r, DecodeError) else "ok" for r in CODEC.decode_batch(kind, values)
    ]
    assert reasons == ["invalid_time", "invalid_value", "invalid_value", "ok", "invalid_type"]
