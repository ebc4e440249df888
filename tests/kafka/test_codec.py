"""Tests of streams.kafka.codec: round trips, ISO-8601 times, every DecodeError reason, fuzzing.

All times are epoch milliseconds (UTC). The codec under test runs with a fixed clock
(``NOW_MS``) so the future-skew check is deterministic.
"""

from __future__ import annotations

import copy
import io
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.errors import ConfigError, DecodeError
from streams.core.events import Event, EventType, schema_path
from streams.kafka.codec import (
    DECODE_REASONS,
    MIN_EVENT_TIME_MS,
    Codec,
    encode_avro,
    encode_confluent,
    encode_json,
    fingerprint,
    load_schema,
)

NOW_MS = 1_717_200_000_000  # 2024-06-01T00:00:00Z
T0 = 1_705_541_400_000  # 2024-01-18T01:30:00Z == 2024-01-18T08:30:00+07:00
DAY_MS = 86_400_000

FULL_EVENTS: dict[EventType, Event] = {
    EventType.RECEIVED: {
        "event_id": "6f1c2a9e-6b1d-4a55-9d7e-2f3c1b0a9e11",
        "unit_code": "HA_NOI",
        "dossier_id": "H01.22-240118-0001",
        "event_time": T0,
        "procedure_code": "1.001234",
        "procedure_level": 4,
        "channel": "online",
        "submitter_type": "citizen",
        "submitter_id_local": "u-42",
        "submitter_id_qg": "QG-0042",
        "via_national_portal": True,
        "due_at": T0 + 15 * DAY_MS,
        "fee_payment": "online",
        "postal_return": True,
        "procedure_name": "Cấp giấy phép xây dựng",
    },
    EventType.PROCESSED: {
        "event_id": "evt-p-1",
        "unit_code": "HA_NOI",
        "dossier_id": "H01.22-240118-0001",
        "event_time": T0 + 3_600_000,
        "status": 4,
        "step_name": "Thẩm định",
        "supplement_requested": True,
    },
    EventType.RESULT_RETURNED: {
        "event_id": "evt-r-1",
        "unit_code": "HA_NOI",
        "dossier_id": "H01.22-240118-0001",
        "event_time": T0 + 5 * DAY_MS,
        "finished_at": T0 + 4 * DAY_MS,
        "electronic_result": True,
        "result_channel": "postal",
        "digitised": True,
        "paid_online": True,
    },
    EventType.FEEDBACK: {
        "event_id": "evt-f-1",
        "unit_code": "HA_NOI",
        "dossier_id": "H01.22-240118-0001",
        "event_time": T0 + 6 * DAY_MS,
        "rating": "dissatisfied",
        "complaint": True,
    },
}
"""One realistic event per type with every field set (non-default values)."""

OPTIONAL_DEFAULTS: dict[EventType, dict[str, Any]] = {
    EventType.RECEIVED: {
        "submitter_id_local": None,
        "submitter_id_qg": None,
        "postal_return": False,
        "procedure_name": None,
    },
    EventType.PROCESSED: {"step_name": None, "supplement_requested": False},
    EventType.RESULT_RETURNED: {"digitised": False, "paid_online": False},
    EventType.FEEDBACK: {"complaint": False},
}
"""Fields that may be omitted, with the value they normalize to."""

ALL_KINDS = list(EventType)
SCHEMA_ID_BY_KIND = {kind: 1 + index for index, kind in enumerate(ALL_KINDS)}


def minimal(kind: EventType) -> Event:
    """FULL_EVENTS[kind] without its optional fields."""
    return {k: v for k, v in FULL_EVENTS[kind].items() if k not in OPTIONAL_DEFAULTS[kind]}


def normalized_minimal(kind: EventType) -> Event:
    """What ``minimal(kind)`` decodes to: defaults filled in, schema field order."""
    merged = {**FULL_EVENTS[kind], **OPTIONAL_DEFAULTS[kind]}
    return {f["name"]: merged[f["name"]] for f in raw_schema(kind)["fields"]}


def raw_schema(kind: EventType) -> dict[str, Any]:
    """The .avsc file as plain JSON (independent of the codec's loader)."""
    return json.loads(schema_path(kind).read_text(encoding="utf-8"))


def json_with(kind: EventType, **changes: Any) -> bytes:
    """JSON message of FULL_EVENTS[kind] with some fields replaced."""
    return orjson.dumps({**FULL_EVENTS[kind], **changes})


def json_without(kind: EventType, field: str) -> bytes:
    """JSON message of FULL_EVENTS[kind] without ``field``."""
    return orjson.dumps({k: v for k, v in FULL_EVENTS[kind].items() if k != field})


def avro_body(schema: dict[str, Any], event: Event) -> bytes:
    """Avro binary body of ``event`` under an arbitrary (writer) schema."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), event)
    return buffer.getvalue()


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


# --------------------------------------------------------------------------------------
# A stand-in schema registry: GET /schemas/ids/<id> on 127.0.0.1, port chosen by the OS.


def _evolved_received() -> dict[str, Any]:
    """Received schema minus procedure_name, plus a writer-only field: still compatible."""
    schema = raw_schema(EventType.RECEIVED)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "procedure_name"]
    schema["fields"].append({"name": "legacy_code", "type": "string"})
    return schema


def _incompatible_received() -> dict[str, Any]:
    """Received schema with procedure_level as a string: not readable as ours."""
    schema = raw_schema(EventType.RECEIVED)
    for f in schema["fields"]:
        if f["name"] == "procedure_level":
            f["type"] = "string"
    return schema


def _other_processed() -> dict[str, Any]:
    """A processed schema that differs from ours (extra field) so it takes the resolve path."""
    schema = raw_schema(EventType.PROCESSED)
    schema["fields"].append({"name": "note", "type": "string", "default": ""})
    return schema


EVOLVED_ID, INCOMPATIBLE_ID, OTHER_PROCESSED_ID = 10, 11, 12
PROTOBUF_ID, GARBAGE_RESPONSE_ID, BAD_SCHEMA_ID, UNKNOWN_ID = 13, 14, 15, 999

REGISTRY_RESPONSES: dict[int, bytes] = {
    **{
        schema_id: orjson.dumps({"schema": json.dumps(raw_schema(kind))})
        for kind, schema_id in SCHEMA_ID_BY_KIND.items()
    },
    EVOLVED_ID: orjson.dumps({"schema": json.dumps(_evolved_received())}),
    INCOMPATIBLE_ID: orjson.dumps({"schema": json.dumps(_incompatible_received())}),
    OTHER_PROCESSED_ID: orjson.dumps({"schema": json.dumps(_other_processed())}),
    PROTOBUF_ID: orjson.dumps({"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"}),
    GARBAGE_RESPONSE_ID: b"<html>not json</html>",
    BAD_SCHEMA_ID: orjson.dumps({"schema": json.dumps({"type": "no_such_type"})}),
}


class FakeRegistry:
    """Serves REGISTRY_RESPONSES over HTTP and records the paths requested."""

    def __init__(self) -> None:
        registry = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.paths.append(self.path)
                prefix = "/schemas/ids/"
                body = None
                if self.path.startswith(prefix) and self.path[len(prefix) :].isdigit():
                    body = REGISTRY_RESPONSES.get(int(self.path[len(prefix) :]))
                if body is None:
                    self.send_response(404)
                    body = b'{"error_code":40403,"message":"Schema not found"}'
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


@pytest.fixture(scope="module")
def codec(registry: FakeRegistry) -> Codec:
    """Codec with the fake registry and a fixed clock (module-scoped: hypothesis-safe)."""
    return Codec(schema_registry_url=registry.url + "/", now_ms=lambda: NOW_MS)


@pytest.fixture(scope="module")
def plain_codec() -> Codec:
    """Codec without a schema registry, fixed clock."""
    return Codec(now_ms=lambda: NOW_MS)


def closed_port_url() -> str:
    """URL of a 127.0.0.1 port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------------------
# Schemas and fingerprints


def test_fingerprints_are_the_canonical_form_rabin_of_each_schema_file() -> None:
    seen = set()
    for kind in ALL_KINDS:
        canonical = fastavro.schema.to_parsing_canonical_form(raw_schema(kind))
        expected = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        assert fingerprint(kind) == expected
        assert len(fingerprint(kind)) == 8
        seen.add(fingerprint(kind))
    assert len(seen) == len(ALL_KINDS)


def test_load_schema_is_parsed_and_cached() -> None:
    for kind in ALL_KINDS:
        schema = load_schema(kind)
        assert schema is load_schema(kind)
        assert [f["name"] for f in schema["fields"]] == [
            f["name"] for f in raw_schema(kind)["fields"]
        ]


def test_every_long_field_is_a_time_field() -> None:
    # The codec treats every Avro long as an epoch-ms time; the contract must agree.
    for kind in ALL_KINDS:
        for f in raw_schema(kind)["fields"]:
            if f["type"] == "long":
                assert "epoch ms" in f["doc"], (kind, f["name"])


def test_codec_exposes_schemas(codec: Codec) -> None:
    assert set(codec.schemas) == set(ALL_KINDS)
    assert codec.fingerprints[EventType.FEEDBACK] == fingerprint(EventType.FEEDBACK)
    assert codec.schema_registry_url is not None
    assert not codec.schema_registry_url.endswith("/")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schema_registry_url": "file:///etc/passwd"},
        {"max_message_bytes": 0},
        {"max_future_skew_ms": -1},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Codec(**kwargs)


# --------------------------------------------------------------------------------------
# Round trips


ENCODERS: dict[str, Callable[[EventType, Event], bytes]] = {
    "json": lambda kind, event: encode_json(event),
    "json_padded": lambda kind, event: b" \n\t" + encode_json(event) + b"\n",
    "avro": encode_avro,
    "confluent": lambda kind, event: encode_confluent(kind, event, SCHEMA_ID_BY_KIND[kind]),
}


@pytest.mark.parametrize("encoding", list(ENCODERS))
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_round_trip_full_event(codec: Codec, kind: EventType, encoding: str) -> None:
    event = FULL_EVENTS[kind]
    decoded = codec.decode(kind, ENCODERS[encoding](kind, event))
    assert decoded == event
    assert list(decoded) == [f["name"] for f in raw_schema(kind)["fields"]]


@pytest.mark.parametrize("encoding", list(ENCODERS))
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_round_trip_fills_defaults(codec: Codec, kind: EventType, encoding: str) -> None:
    decoded = codec.decode(kind, ENCODERS[encoding](kind, minimal(kind)))
    assert decoded == normalized_minimal(kind)
    assert list(decoded) == list(normalized_minimal(kind))


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_bytes_like_values_are_accepted(codec: Codec, kind: EventType) -> None:
    message = encode_avro(kind, FULL_EVENTS[kind])
    assert codec.decode(kind, bytearray(message)) == FULL_EVENTS[kind]  # type: ignore[arg-type]
    assert codec.decode(kind, memoryview(message)) == FULL_EVENTS[kind]  # type: ignore[arg-type]


def test_json_ignores_unknown_fields_and_accepts_explicit_nulls(codec: Codec) -> None:
    kind = EventType.RECEIVED
    message = json_with(kind, extra={"nested": [1, 2]}, submitter_id_qg=None)
    assert codec.decode(kind, message) == {**FULL_EVENTS[kind], "submitter_id_qg": None}


def test_confluent_writer_schema_is_resolved_against_ours(
    codec: Codec, registry: FakeRegistry
) -> None:
    kind = EventType.RECEIVED
    writer_event = {**minimal(kind), "legacy_code": "X1", "postal_return": True}
    message = confluent_frame(EVOLVED_ID, avro_body(_evolved_received(), writer_event))
    expected = {**normalized_minimal(kind), "postal_return": True}
    assert codec.decode(kind, message) == expected
    assert list(codec.decode(kind, message)) == list(expected)


def test_confluent_schema_is_fetched_once_per_id(registry: FakeRegistry) -> None:
    fresh = Codec(schema_registry_url=registry.url, now_ms=lambda: NOW_MS)
    kind = EventType.FEEDBACK
    message = encode_confluent(kind, FULL_EVENTS[kind], SCHEMA_ID_BY_KIND[kind])
    before = len(registry.paths)
    for _ in range(5):
        assert fresh.decode(kind, message) == FULL_EVENTS[kind]
    assert registry.paths[before:] == [f"/schemas/ids/{SCHEMA_ID_BY_KIND[kind]}"]


# --------------------------------------------------------------------------------------
# ISO-8601 times in JSON


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("2024-01-18T08:30:00+07:00", T0),
        ("2024-01-18T01:30:00Z", T0),
        ("2024-01-18T01:30:00+00:00", T0),
        ("2024-01-17T20:30:00-05:00", T0),
        ("2024-01-18T08:30:00.123+07:00", T0 + 123),
        ("2024-01-18T08:30:00.1239+07:00", T0 + 123),  # sub-ms truncated
        ("2024-01-18T01:30:00.5Z", T0 + 500),
    ],
)
def test_iso_times_with_offset(codec: Codec, text: str, expected_ms: int) -> None:
    kind = EventType.RECEIVED
    decoded = codec.decode(kind, json_with(kind, event_time=text, due_at=text))
    assert decoded["event_time"] == expected_ms
    assert decoded["due_at"] == expected_ms


@pytest.mark.parametrize(
    "text",
    ["2024-01-18T08:30:00", "2024-01-18", "2024-01-18 08:30", "yesterday", "", "1705541400000"],
)
def test_iso_times_without_offset_or_unparsable_are_rejected(codec: Codec, text: str) -> None:
    kind = EventType.RESULT_RETURNED
    with pytest.raises(DecodeError) as caught:
        codec.decode(kind, json_with(kind, finished_at=text))
    assert caught.value.reason == "invalid_time"
    assert "finished_at" in caught.value.detail


@settings(max_examples=200, deadline=None, database=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 2), max_value=datetime(2024, 5, 30), timezones=st.none()
    ),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_times_match_epoch_ms(
    plain_codec: Codec, moment: datetime, offset_minutes: int
) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    expected = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    kind = EventType.FEEDBACK
    decoded = plain_codec.decode(kind, json_with(kind, event_time=aware.isoformat()))
    assert decoded["event_time"] == expected


# --------------------------------------------------------------------------------------
# Every DecodeError reason, table-driven

R, P, RR, F = (
    EventType.RECEIVED,
    EventType.PROCESSED,
    EventType.RESULT_RETURNED,
    EventType.FEEDBACK,
)
GOOD_AVRO = encode_avro(R, FULL_EVENTS[R])

ERROR_CASES: list[tuple[str, EventType, bytes, str]] = [
    # framing and size
    ("oversize", F, json_with(F, event_id="x" * 70_000), "oversize"),
    ("oversize_garbage", F, b"\xff" * 65_537, "oversize"),
    ("empty", R, b"", "unknown_encoding"),
    ("whitespace_only", R, b"  \n\t ", "unknown_encoding"),
    ("json_array", R, b"[1, 2]", "unknown_encoding"),
    ("json_string", R, b'"x"', "unknown_encoding"),
    ("text", R, b"hello", "unknown_encoding"),
    ("utf8_bom_json", R, b"\xef\xbb\xbf" + json_with(R), "unknown_encoding"),
    ("c3_not_01", R, b"\xc3\x02" + GOOD_AVRO[2:], "unknown_encoding"),
    # JSON syntax
    ("truncated_json", R, json_with(R)[:-1], "malformed_json"),
    ("trailing_garbage_json", R, json_with(R) + b"x", "malformed_json"),
    ("invalid_utf8_json", R, b'{"event_id": "\xff"}', "malformed_json"),
    ("json_nan", R, b'{"event_time": NaN}', "malformed_json"),
    # Avro single-object
    ("short_header", R, GOOD_AVRO[:6], "malformed_avro"),
    ("truncated_body", R, GOOD_AVRO[:-3], "malformed_avro"),
    ("header_only", R, GOOD_AVRO[:10], "malformed_avro"),
    ("trailing_bytes", R, GOOD_AVRO + b"\x00", "malformed_avro"),
    (
        "enum_index_out_of_range",
        F,
        encode_avro(F, FULL_EVENTS[F])[:-2] + b"\x10\x00",
        "malformed_avro",
    ),
    ("unknown_fingerprint", R, b"\xc3\x01" + b"\x00" * 8 + GOOD_AVRO[10:], "unknown_schema"),
    ("fingerprint_of_other_type", P, GOOD_AVRO, "schema_mismatch"),
    # Confluent
    ("confluent_short_header", R, b"\x00\x00\x01", "malformed_avro"),
    ("confluent_truncated", R, encode_confluent(R, FULL_EVENTS[R], 1)[:-4], "malformed_avro"),
    (
        "confluent_unknown_id",
        R,
        confluent_frame(UNKNOWN_ID, GOOD_AVRO[10:]),
        "schema_registry_error",
    ),
    (
        "confluent_garbage_response",
        R,
        confluent_frame(GARBAGE_RESPONSE_ID, b""),
        "schema_registry_error",
    ),
    ("confluent_invalid_schema", R, confluent_frame(BAD_SCHEMA_ID, b""), "schema_registry_error"),
    ("confluent_other_type", P, encode_confluent(R, FULL_EVENTS[R], 1), "schema_mismatch"),
    (
        "confluent_other_type_resolved",
        R,
        confluent_frame(OTHER_PROCESSED_ID, avro_body(_other_processed(), FULL_EVENTS[P])),
        "schema_mismatch",
    ),
    (
        "confluent_incompatible",
        R,
        confluent_frame(
            INCOMPATIBLE_ID,
            avro_body(_incompatible_received(), {**FULL_EVENTS[R], "procedure_level": "4"}),
        ),
        "schema_mismatch",
    ),
    ("confluent_protobuf", R, confluent_frame(PROTOBUF_ID, b"\x08\x01"), "schema_mismatch"),
    # JSON fields
    ("missing_event_id", R, json_without(R, "event_id"), "missing_field"),
    ("missing_due_at", R, json_without(R, "due_at"), "missing_field"),
    ("missing_status", P, json_without(P, "status"), "missing_field"),
    ("missing_rating", F, json_without(F, "rating"), "missing_field"),
    ("float_for_int", P, json_with(P, status=4.0), "invalid_type"),
    ("bool_for_int", R, json_with(R, procedure_level=True), "invalid_type"),
    ("string_for_int", P, json_with(P, status="4"), "invalid_type"),
    ("int_for_bool", RR, json_with(RR, electronic_result=1), "invalid_type"),
    ("string_for_bool", F, json_with(F, complaint="true"), "invalid_type"),
    ("null_for_defaulted_bool", F, json_with(F, complaint=None), "invalid_type"),
    ("null_for_required", R, json_with(R, dossier_id=None), "invalid_type"),
    ("int_for_string", R, json_with(R, unit_code=1), "invalid_type"),
    ("list_for_optional_string", P, json_with(P, step_name=["a"]), "invalid_type"),
    ("float_time", RR, json_with(RR, event_time=float(T0)), "invalid_type"),
    ("bool_time", RR, json_with(RR, finished_at=True), "invalid_type"),
    ("object_time", RR, json_with(RR, finished_at={"ms": T0}), "invalid_type"),
    ("int_for_enum", F, json_with(F, rating=1), "invalid_type"),
    ("unknown_channel", R, json_with(R, channel="fax"), "unknown_enum_symbol"),
    ("enum_wrong_case", F, json_with(F, rating="Satisfied"), "unknown_enum_symbol"),
    ("unknown_result_channel", RR, json_with(RR, result_channel=""), "unknown_enum_symbol"),
    # Time values
    ("naive_iso", R, json_with(R, event_time="2024-01-18T08:30:00"), "invalid_time"),
    ("before_2000", R, json_with(R, event_time=MIN_EVENT_TIME_MS - 1), "invalid_time"),
    ("negative_time", F, json_with(F, event_time=-1), "invalid_time"),
    ("seconds_not_ms", F, json_with(F, event_time=T0 // 1000), "invalid_time"),
    ("far_future", P, json_with(P, event_time=NOW_MS + DAY_MS + 1), "invalid_time"),
    ("far_future_iso", RR, json_with(RR, finished_at="2099-01-01T00:00:00Z"), "invalid_time"),
    ("old_avro_time", F, encode_avro(F, {**FULL_EVENTS[F], "event_time": 0}), "invalid_time"),
    # Values
    ("procedure_level_1", R, json_with(R, procedure_level=1), "invalid_value"),
    ("procedure_level_huge", R, json_with(R, procedure_level=2**40), "invalid_value"),
    ("status_0", P, json_with(P, status=0), "invalid_value"),
    ("status_11", P, json_with(P, status=11), "invalid_value"),
    ("status_11_avro", P, encode_avro(P, {**FULL_EVENTS[P], "status": 11}), "invalid_value"),
    ("empty_event_id", F, json_with(F, event_id=""), "invalid_value"),
    ("long_unit_code", R, json_with(R, unit_code="u" * 129), "invalid_value"),
    ("empty_procedure_code", R, json_with(R, procedure_code=""), "invalid_value"),
    (
        "empty_dossier_id_avro",
        RR,
        encode_avro(RR, {**FULL_EVENTS[RR], "dossier_id": ""}),
        "invalid_value",
    ),
    (
        "long_event_id_confluent",
        P,
        encode_confluent(P, {**FULL_EVENTS[P], "event_id": "e" * 129}, 2),
        "invalid_value",
    ),
]


@pytest.mark.parametrize(
    ("kind", "message", "reason"),
    [pytest.param(kind, message, reason, id=name) for name, kind, message, reason in ERROR_CASES],
)
def test_decode_error_reasons(codec: Codec, kind: EventType, message: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(kind, message)
    assert caught.value.reason == reason, caught.value.detail
    assert caught.value.detail


def test_error_table_covers_every_reason() -> None:
    covered = {reason for *_, reason in ERROR_CASES}
    registry_only = {"schema_registry_not_configured"}  # tested below, needs another codec
    assert covered | registry_only == DECODE_REASONS


def test_limits_at_the_boundaries() -> None:
    kind = EventType.FEEDBACK
    message = encode_json(FULL_EVENTS[kind])
    exact = Codec(max_message_bytes=len(message), now_ms=lambda: NOW_MS)
    assert exact.decode(kind, message) == FULL_EVENTS[kind]
    with pytest.raises(DecodeError, match="oversize"):
        Codec(max_message_bytes=len(message) - 1).decode(kind, message)

    skewed = Codec(max_future_skew_ms=0, now_ms=lambda: T0 + 6 * DAY_MS)
    assert skewed.decode(kind, message)["event_time"] == T0 + 6 * DAY_MS
    with pytest.raises(DecodeError, match="invalid_time"):
        Codec(max_future_skew_ms=0, now_ms=lambda: T0 + 6 * DAY_MS - 1).decode(kind, message)

    roomy = Codec(now_ms=lambda: NOW_MS)
    assert roomy.decode(kind, json_with(kind, event_time=MIN_EVENT_TIME_MS))
    assert roomy.decode(kind, json_with(kind, event_id="e" * 128))


def test_confluent_without_registry(plain_codec: Codec) -> None:
    kind = EventType.RECEIVED
    with pytest.raises(DecodeError) as caught:
        plain_codec.decode(kind, encode_confluent(kind, FULL_EVENTS[kind], 1))
    assert caught.value.reason == "schema_registry_not_configured"


def test_unreachable_registry() -> None:
    down = Codec(schema_registry_url=closed_port_url(), now_ms=lambda: NOW_MS)
    kind = EventType.RECEIVED
    with pytest.raises(DecodeError) as caught:
        down.decode(kind, encode_confluent(kind, FULL_EVENTS[kind], 1))
    assert caught.value.reason == "schema_registry_error"


@pytest.mark.parametrize("value", [None, "a string", 42, {"event_id": "x"}])
def test_non_bytes_values_are_decode_errors(codec: Codec, value: Any) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(EventType.RECEIVED, value)
    assert caught.value.reason == "unknown_encoding"


def test_unknown_kind_is_a_programming_error(codec: Codec) -> None:
    with pytest.raises(ValueError):
        codec.decode("dispatched", encode_json(FULL_EVENTS[EventType.RECEIVED]))  # type: ignore[arg-type]


def test_encoders_refuse_bad_input() -> None:
    kind = EventType.FEEDBACK
    with pytest.raises(ValueError):
        encode_confluent(kind, FULL_EVENTS[kind], -1)
    with pytest.raises(ValueError):
        encode_confluent(kind, FULL_EVENTS[kind], 2**32)
    with pytest.raises((ValueError, TypeError)):
        encode_avro(kind, {**FULL_EVENTS[kind], "surprise": 1})


# --------------------------------------------------------------------------------------
# Fuzzing: decode returns a normalized event or raises DecodeError, nothing else.
# EMC_FUZZ_EXAMPLES=20000 runs a longer search (default 500 examples per test).

FUZZ = settings(
    max_examples=int(os.environ.get("EMC_FUZZ_EXAMPLES", "500")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_decodes_or_rejects(codec: Codec, kind: EventType, message: Any) -> None:
    try:
        event = codec.decode(kind, message)
    except DecodeError as exc:
        assert exc.reason in DECODE_REASONS
        return
    assert isinstance(event, dict)
    assert list(event) == [f["name"] for f in raw_schema(kind)["fields"]]
    # Whatever is accepted must be a valid event: it re-encodes and decodes to itself.
    assert codec.decode(kind, encode_avro(kind, event)) == event
    assert codec.decode(kind, encode_json(event)) == event


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
kinds = st.sampled_from(ALL_KINDS)


@FUZZ
@given(kind=kinds, message=st.binary(max_size=200))
def test_fuzz_random_bytes(codec: Codec, kind: EventType, message: bytes) -> None:
    assert_decodes_or_rejects(codec, kind, message)


@FUZZ
@given(
    kind=kinds,
    prefix=st.sampled_from([b"", b"\xc3\x01", b"\x00", b"{", b" {"]),
    rest=st.binary(max_size=120),
)
def test_fuzz_random_bytes_behind_each_magic(
    codec: Codec, kind: EventType, prefix: bytes, rest: bytes
) -> None:
    assert_decodes_or_rejects(codec, kind, prefix + rest)


def _valid_message(kind: EventType, encoding: str, full: bool) -> bytes:
    event = FULL_EVENTS[kind] if full else minimal(kind)
    return ENCODERS[encoding](kind, event)


@FUZZ
@given(
    data=st.data(),
    kind=kinds,
    decode_as=kinds,
    encoding=st.sampled_from(["json", "avro", "confluent"]),
    full=st.booleans(),
)
def test_fuzz_mutated_valid_messages(
    codec: Codec,
    data: st.DataObject,
    kind: EventType,
    decode_as: EventType,
    encoding: str,
    full: bool,
) -> None:
    message = bytearray(_valid_message(kind, encoding, full))
    mutation = data.draw(st.sampled_from(["flip", "truncate", "insert", "splice"]))
    if mutation == "flip":
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            index = data.draw(st.integers(min_value=0, max_value=len(message) - 1))
            message[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    elif mutation == "truncate":
        del message[data.draw(st.integers(min_value=0, max_value=len(message))) :]
    elif mutation == "insert":
        index = data.draw(st.integers(min_value=0, max_value=len(message)))
        message[index:index] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        start = data.draw(st.integers(min_value=0, max_value=len(message)))
        stop = data.draw(st.integers(min_value=start, max_value=len(message)))
        message[start:stop] = data.draw(st.binary(max_size=8))
    assert_decodes_or_rejects(codec, decode_as, bytes(message))


@FUZZ
@given(kind=kinds, document=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_fuzz_random_json_objects(codec: Codec, kind: EventType, document: dict) -> None:
    assert_decodes_or_rejects(codec, kind, orjson.dumps(document))


@FUZZ
@given(data=st.data(), kind=kinds)
def test_fuzz_valid_json_with_random_field_values(
    codec: Codec, data: st.DataObject, kind: EventType
) -> None:
    document = copy.deepcopy(FULL_EVENTS[kind])
    names = [f["name"] for f in raw_schema(kind)["fields"]]
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        if data.draw(st.booleans()):
            document.pop(name, None)
        else:
            document[name] = data.draw(json_values)
    assert_decodes_or_rejects(codec, kind, orjson.dumps(document))


@FUZZ
@given(kind=kinds, value=json_values)
def test_fuzz_any_json_value(codec: Codec, kind: EventType, value: Any) -> None:
    assert_decodes_or_rejects(codec, kind, orjson.dumps(value))


def test_deadlines_may_lie_ahead_but_happened_times_may_not(plain_codec: Codec) -> None:
    """due_at is a deadline (days ahead is normal); event_time and finished_at happened."""
    month_ahead = NOW_MS + 30 * DAY_MS
    event = plain_codec.decode(
        EventType.RECEIVED, json_with(EventType.RECEIVED, due_at=month_ahead)
    )
    assert event["due_at"] == month_ahead
    with pytest.raises(DecodeError) as exc:
        plain_codec.decode(
            EventType.RECEIVED, json_with(EventType.RECEIVED, event_time=NOW_MS + 2 * DAY_MS)
        )
    assert exc.value.reason == "invalid_time"
    with pytest.raises(DecodeError) as exc:
        plain_codec.decode(
            EventType.RESULT_RETURNED,
            json_with(EventType.RESULT_RETURNED, finished_at=NOW_MS + 2 * DAY_MS),
        )
    assert exc.value.reason == "invalid_time"


@FUZZ
@given(data=st.data(), kind=kinds)
def test_json_fast_path_agrees_with_field_by_field_checks(
    codec: Codec, data: st.DataObject, kind: EventType
) -> None:
    """An object in schema order (the fast path's shape) decodes, or fails, exactly as the
    same object with its fields reversed (always read field by field)."""
    document = copy.deepcopy(FULL_EVENTS[kind])
    names = [f["name"] for f in raw_schema(kind)["fields"]]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=2)):
        document[name] = data.draw(json_values | st.sampled_from([-(2**31) - 1, 2**31, None]))
    reordered = dict(reversed(list(document.items())))

    def outcome(doc: dict[str, Any]) -> Any:
        try:
            event = codec.decode(kind, orjson.dumps(doc))
        except DecodeError as exc:
            return ("error", exc.reason, exc.detail)
        return ("ok", list(event.items()))

    assert outcome(document) == outcome(reordered)
