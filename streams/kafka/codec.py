"""Decoding and encoding of dossier lifecycle event messages.

A message on a lifecycle topic is accepted in one of three wire encodings, told apart by its
leading bytes:

* **Avro single-object encoding** — ``C3 01``, the 8-byte little-endian CRC-64-AVRO (Rabin)
  fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body. Only
  the project's own four schemas (``schemas/avro/*.avsc``) are known.
* **Confluent wire format** — ``00``, a 4-byte big-endian schema registry id, then the Avro
  binary body. The writer schema is fetched once per id from the configured schema registry
  and resolved against the topic's schema, so compatible evolutions decode.
* **Plain JSON object** — UTF-8, first non-whitespace byte ``{``, field names as in the Avro
  schema; time fields may be epoch milliseconds or ISO-8601 strings with an explicit offset.

Whatever the encoding, the result is the normalized event described in
:mod:`streams.core.events`: a ``dict`` with exactly the schema's field names in schema order,
defaults filled in, times as ``int`` epoch milliseconds (UTC), enums as symbol strings. Every
failure is a :class:`~streams.core.errors.DecodeError` whose ``reason`` is one of
:data:`DECODE_REASONS`.

Units: all times are epoch milliseconds (UTC); sizes are bytes; the registry timeout is in
seconds.
"""

from __future__ import annotations

import io
import itertools
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, NamedTuple, NoReturn, cast

import msgspec
import numpy as np
import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint as avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from streams.core.errors import ConfigError, DecodeError
from streams.core.events import PORTAL_STATUSES, PROCEDURE_LEVELS, Event, EventType, schema_path

__all__ = [
    "DECODE_REASONS",
    "DEFAULT_MAX_FUTURE_SKEW_MS",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_ID_CHARS",
    "MIN_EVENT_TIME_MS",
    "REGISTRY_TIMEOUT_S",
    "Codec",
    "encode_avro",
    "encode_confluent",
    "encode_json",
    "fingerprint",
    "load_schema",
]

SINGLE_OBJECT_MAGIC: Final = b"\xc3\x01"
"""First two bytes of an Avro single-object encoded message."""
CONFLUENT_MAGIC: Final = 0x00
"""First byte of a Confluent wire-format message."""
SINGLE_OBJECT_HEADER_BYTES: Final = 10
"""Magic (2 bytes) + schema fingerprint (8 bytes)."""
CONFLUENT_HEADER_BYTES: Final = 5
"""Magic (1 byte) + big-endian schema id (4 bytes)."""

DEFAULT_MAX_MESSAGE_BYTES: Final = 65_536
"""Largest accepted message, in bytes (64 KiB)."""
DEFAULT_MAX_FUTURE_SKEW_MS: Final = 86_400_000
"""How far past the decoder's clock a time may lie, in milliseconds (1 day)."""
MIN_EVENT_TIME_MS: Final = 946_684_800_000
"""Earliest accepted time: 2000-01-01T00:00:00Z, in epoch milliseconds."""
MAX_ID_CHARS: Final = 128
"""Longest accepted identifier (event_id, unit_code, dossier_id, procedure_code), in chars."""
REGISTRY_TIMEOUT_S: Final = 5.0
"""Timeout of one schema registry request, in seconds."""
MAX_REGISTRY_RESPONSE_BYTES: Final = 1_048_576
"""Largest schema registry response read, in bytes (1 MiB)."""

DECODE_REASONS: Final = frozenset(
    {
        "oversize",
        "unknown_encoding",
        "malformed_json",
        "malformed_avro",
        "unknown_schema",
        "schema_mismatch",
        "schema_registry_not_configured",
        "schema_registry_error",
        "missing_field",
        "invalid_type",
        "unknown_enum_symbol",
        "invalid_time",
        "invalid_value",
    }
)
"""Every ``DecodeError.reason`` this module produces."""

_ID_FIELDS: Final = frozenset({"event_id", "unit_code", "dossier_id", "procedure_code"})
_VALUE_DOMAINS: Final[dict[tuple[EventType, str], frozenset[int]]] = {
    (EventType.RECEIVED, "procedure_level"): frozenset(PROCEDURE_LEVELS),
    (EventType.PROCESSED, "status"): frozenset(PORTAL_STATUSES),
}
_JSON_WHITESPACE: Final = b" \t\r\n"
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_MISSING: Final = object()
_DETAIL_MAX_CHARS: Final = 300

# Field kinds of the JSON validation table (small ints compare fastest).
_K_STRING: Final = 0
_K_TIME: Final = 1  # Avro ``long``: every long in the contract is an epoch-ms time
_K_INT: Final = 2
_K_BOOLEAN: Final = 3
_K_ENUM: Final = 4
_KIND_BY_PRIMITIVE: Final = {
    "string": _K_STRING,
    "long": _K_TIME,
    "int": _K_INT,
    "boolean": _K_BOOLEAN,
}
_PYTHON_TYPE_BY_KIND: Final[dict[int, type]] = {
    _K_STRING: str,
    _K_TIME: int,
    _K_INT: int,
    _K_BOOLEAN: bool,
    _K_ENUM: str,
}
# Extra value checks of the JSON fast path.
_X_NONE: Final = 0
_X_ENUM: Final = 1
_X_INT32: Final = 2
_KIND_WORDS: Final = {
    _K_STRING: "a string",
    _K_TIME: "epoch ms (int) or an ISO-8601 string with offset",
    _K_INT: "an int",
    _K_BOOLEAN: "a boolean",
    _K_ENUM: "an enum symbol string",
}


class _FieldSpec(NamedTuple):
    """How one schema field is read from a JSON object."""

    name: str
    kind: int
    python_type: type
    """Type of an acceptable decoded JSON value (an ISO string is also accepted for times)."""
    extra: int
    """Further check on a value of ``python_type``: none, enum symbol or Avro int range."""
    nullable: bool
    """The schema type is a union with ``null``: JSON ``null`` is accepted."""
    optional: bool
    """The field may be omitted (it has a default or is nullable)."""
    default: Any
    """Value used when the field is omitted (``None`` for nullable fields without default)."""
    symbols: frozenset[str]
    """Enum symbols (empty for other fields)."""


_FieldRow = tuple[str, int, type, int, bool, bool, Any, frozenset[str]]
"""A _FieldSpec as a plain tuple, same order."""


@dataclass(frozen=True, slots=True)
class _TypeInfo:
    """Everything precomputed for one event type."""

    kind: EventType
    schema: dict[str, Any]
    """fastavro-parsed schema."""
    canonical_form: str
    fingerprint: bytes
    """8-byte little-endian CRC-64-AVRO fingerprint of ``canonical_form``."""
    fields: tuple[_FieldSpec, ...]
    json_rows: tuple[_FieldRow, ...]
    """``fields`` as plain tuples: unpacking them is several times faster than NamedTuples."""
    json_signatures: frozenset[tuple[type, ...]]
    """Value types (in field order) of a JSON object that is already a normalized event: every
    field present, in schema order, with its Python type (or ``None`` where nullable)."""
    json_enums: tuple[tuple[str, frozenset[str]], ...]
    """Enum fields and their symbols (checked on the JSON fast path)."""
    json_int32: tuple[str, ...]
    """Avro ``int`` fields (range-checked on the JSON fast path)."""
    field_names: tuple[str, ...]
    time_fields: tuple[str, ...]
    time_checks: tuple[tuple[str, bool], ...]
    """Time fields, each with whether it is in :data:`HAPPENED_FIELDS`."""
    id_fields: tuple[str, ...]
    domains: tuple[tuple[str, frozenset[int]], ...]


@dataclass(frozen=True, slots=True)
class _WriterSchema:
    """A writer schema fetched from the schema registry."""

    schema_id: int
    schema: dict[str, Any]
    fingerprint: bytes


def _clip(text: str) -> str:
    """Shorten ``text`` for use in an error detail."""
    if len(text) <= _DETAIL_MAX_CHARS:
        return text
    return text[: _DETAIL_MAX_CHARS - 1] + "…"


def _describe(exc: BaseException) -> str:
    """Exception type and message, shortened, for an error detail."""
    return _clip(f"{type(exc).__name__}: {exc}")


def _rabin_fingerprint(canonical_form: str) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of a Parsing Canonical Form."""
    # fastavro returns the fingerprint's bytes, little-endian as in the Java implementation,
    # as a hex string.
    return bytes.fromhex(avro_fingerprint(canonical_form, "CRC-64-AVRO"))


@cache
def load_schema(kind: EventType) -> dict[str, Any]:
    """The fastavro-parsed Avro schema of ``kind`` (read from disk once, then cached).

    The returned dict is shared: treat it as read-only. Raises ConfigError when the schema
    file is missing or not a valid Avro schema.
    """
    path = schema_path(EventType(kind))
    try:
        raw = orjson.loads(path.read_bytes())
        parsed = parse_schema(raw)
    except Exception as exc:
        raise ConfigError(f"{path}: cannot load Avro schema ({_describe(exc)})") from exc
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise ConfigError(f"{path}: the top-level Avro type must be a record")
    return cast(dict[str, Any], parsed)


def _field_spec(kind: EventType, field: Mapping[str, Any]) -> _FieldSpec:
    """Build the JSON validation entry of one parsed schema field."""
    name = cast(str, field["name"])
    avro_type: Any = field["type"]
    nullable = False
    if isinstance(avro_type, list):
        branches = [branch for branch in avro_type if branch != "null"]
        if len(branches) != 1 or len(avro_type) != 2:
            raise ConfigError(f"{kind.value}.{name}: only [null, T] unions are supported")
        nullable = True
        avro_type = branches[0]
    symbols: frozenset[str] = frozenset()
    if isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        field_kind = _K_ENUM
        symbols = frozenset(avro_type["symbols"])
    elif isinstance(avro_type, str) and avro_type in _KIND_BY_PRIMITIVE:
        field_kind = _KIND_BY_PRIMITIVE[avro_type]
    else:
        raise ConfigError(f"{kind.value}.{name}: unsupported Avro type {avro_type!r}")
    has_default = "default" in field
    return _FieldSpec(
        name=name,
        kind=field_kind,
        python_type=_PYTHON_TYPE_BY_KIND[field_kind],
        extra=_X_ENUM if field_kind == _K_ENUM else _X_INT32 if field_kind == _K_INT else _X_NONE,
        nullable=nullable,
        optional=has_default or nullable,
        default=field["default"] if has_default else None,
        symbols=symbols,
    )


@cache
def _type_info(kind: EventType) -> _TypeInfo:
    """Precompute schema, fingerprint and validation tables of ``kind`` (cached)."""
    kind = EventType(kind)
    schema = load_schema(kind)
    canonical = to_parsing_canonical_form(schema)
    fields = tuple(_field_spec(kind, field) for field in schema["fields"])
    names = tuple(spec.name for spec in fields)
    return _TypeInfo(
        kind=kind,
        schema=schema,
        canonical_form=canonical,
        fingerprint=_rabin_fingerprint(canonical),
        fields=fields,
        json_rows=tuple(cast(_FieldRow, tuple(spec)) for spec in fields),
        json_signatures=frozenset(
            itertools.product(
                *(
                    (spec.python_type, type(None)) if spec.nullable else (spec.python_type,)
                    for spec in fields
                )
            )
        ),
        json_enums=tuple((spec.name, spec.symbols) for spec in fields if spec.kind == _K_ENUM),
        json_int32=tuple(spec.name for spec in fields if spec.extra == _X_INT32),
        field_names=names,
        time_fields=tuple(spec.name for spec in fields if spec.kind == _K_TIME),
        time_checks=tuple(
            (spec.name, spec.name in HAPPENED_FIELDS) for spec in fields if spec.kind == _K_TIME
        ),
        id_fields=tuple(name for name in names if name in _ID_FIELDS),
        domains=tuple(
            (name, allowed)
            for (domain_kind, name), allowed in _VALUE_DOMAINS.items()
            if domain_kind == kind and name in names
        ),
    )


def fingerprint(kind: EventType) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of ``kind``'s schema.

    Computed from the schema's Parsing Canonical Form; this is what follows ``C3 01`` in a
    single-object encoded message.
    """
    return _type_info(kind).fingerprint


def _iso_to_ms(field: str, text: str) -> int:
    """Epoch milliseconds (UTC) of an ISO-8601 date-time that carries an offset or ``Z``.

    Sub-millisecond fractions are truncated toward the past. Raises ``invalid_time`` for
    unparsable text and for local times without an offset.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DecodeError("invalid_time", _clip(f"{field}: not ISO-8601: {text!r}")) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DecodeError(
            "invalid_time", _clip(f"{field}: ISO-8601 time without offset or Z: {text!r}")
        )
    try:
        return (moment - _EPOCH) // _ONE_MS
    except (OverflowError, ValueError) as exc:
        raise DecodeError("invalid_time", _clip(f"{field}: out of range: {text!r}")) from exc


def _default_now_ms() -> int:
    """Wall-clock time, epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000


HAPPENED_FIELDS: Final = frozenset({"event_time", "finished_at"})
"""Time fields that record something that already happened (bounded by the future skew)."""
MAX_DEADLINE_AHEAD_MS: Final = 10 * 366 * 86_400_000
"""A deadline (``due_at``) may lie at most about ten years ahead of now."""


class Codec:
    """Decodes lifecycle event messages (JSON, Avro single-object, Confluent) into events.

    ``schema_registry_url``: base URL of a Confluent-compatible schema registry (http or
    https); without it Confluent-framed messages are rejected. ``max_message_bytes``: larger
    messages are rejected before parsing (bytes). ``max_future_skew_ms``: how far past
    ``now_ms()`` a time may lie (milliseconds). ``now_ms``: clock returning epoch
    milliseconds (UTC), for tests; defaults to the wall clock.

    Registry schemas are fetched synchronously (urllib, 5 s timeout) on first sight of a
    schema id and cached for the life of the codec; failed look-ups are not cached.
    """

    __slots__ = (
        "_by_fingerprint",
        "_infos",
        "_json_structs",
        "_max_future_skew_ms",
        "_max_message_bytes",
        "_now_ms",
        "_registry_url",
        "_writer_schemas",
    )

    def __init__(
        self,
        schema_registry_url: str | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        if schema_registry_url is not None:
            schema_registry_url = schema_registry_url.strip().rstrip("/")
            if not schema_registry_url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"schema_registry_url must be an http(s) URL, got {schema_registry_url!r}"
                )
        if type(max_message_bytes) is not int or max_message_bytes <= 0:
            raise ConfigError(
                f"max_message_bytes must be a positive int, got {max_message_bytes!r}"
            )
        if type(max_future_skew_ms) is not int or max_future_skew_ms < 0:
            raise ConfigError(
                f"max_future_skew_ms must be a non-negative int, got {max_future_skew_ms!r}"
            )
        self._registry_url = schema_registry_url or None
        self._max_message_bytes = max_message_bytes
        self._max_future_skew_ms = max_future_skew_ms
        self._now_ms: Callable[[], int] = now_ms or _default_now_ms
        self._infos: dict[EventType, _TypeInfo] = {kind: _type_info(kind) for kind in EventType}
        self._by_fingerprint: dict[bytes, _TypeInfo] = {
            info.fingerprint: info for info in self._infos.values()
        }
        self._writer_schemas: dict[int, _WriterSchema] = {}
        self._json_structs: dict[EventType, msgspec.json.Decoder[Any]] = {
            kind: _json_struct_decoder(info) for kind, info in self._infos.items()
        }

    @property
    def schemas(self) -> Mapping[EventType, dict[str, Any]]:
        """The fastavro-parsed reader schema of every event type (read-only)."""
        return MappingProxyType({kind: info.schema for kind, info in self._infos.items()})

    @property
    def fingerprints(self) -> Mapping[EventType, bytes]:
        """The 8-byte single-object fingerprint of every event type."""
        return MappingProxyType({kind: info.fingerprint for kind, info in self._infos.items()})

    @property
    def schema_registry_url(self) -> str | None:
        """Base URL of the schema registry, or None when Confluent framing is not accepted."""
        return self._registry_url

    @property
    def max_message_bytes(self) -> int:
        """Largest accepted message, in bytes."""
        return self._max_message_bytes

    @property
    def max_future_skew_ms(self) -> int:
        """How far in the future a time may lie, in milliseconds."""
        return self._max_future_skew_ms

    def decode(self, kind: EventType, data: bytes) -> Event:
        """Decode one message of topic type ``kind`` into a normalized event.

        ``data`` is the raw message value (``bytes``; ``bytearray``/``memoryview`` are
        accepted too, ``None`` — a tombstone — is rejected). Times in the result are epoch
        milliseconds (UTC). Raises DecodeError for every bad message, and ValueError only
        for a ``kind`` that is not an EventType (a programming error, not a bad message).
        """
        info = self._infos.get(kind)
        if info is None:
            raise ValueError(f"not an event type: {kind!r}")
        event = self._decode_wire(info, data)
        self._check_values(info, event)
        return event

    def _decode_wire(self, info: _TypeInfo, data: bytes) -> Event:
        """:meth:`decode` without the value checks of :meth:`_check_values`."""
        if type(data) is not bytes:
            data = _as_bytes(data)
        size = len(data)
        if size > self._max_message_bytes:
            raise DecodeError(
                "oversize", f"message is {size} bytes, limit {self._max_message_bytes}"
            )
        if size == 0:
            raise DecodeError("unknown_encoding", "empty message")
        first = data[0]
        if first == 0x7B:  # "{"
            event = _decode_json(info, data)
        elif first == 0xC3:
            event = self._decode_single_object(info, data)
        elif first == CONFLUENT_MAGIC:
            event = self._decode_confluent(info, data)
        elif first in _JSON_WHITESPACE and data.lstrip(_JSON_WHITESPACE)[:1] == b"{":
            event = _decode_json(info, data)
        else:
            raise DecodeError(
                "unknown_encoding", f"leading byte 0x{first:02x} is not JSON, Avro or Confluent"
            )
        return event

    def decode_batch(self, kind: EventType, values: list[bytes]) -> list[Event | DecodeError]:
        """Decode many messages of topic type ``kind``: per value, its event or the
        :class:`DecodeError` :meth:`decode` raises for it (same events, same reasons).

        Contract-shaped JSON objects are read by a typed msgspec decoder, which checks the
        field types, enum symbols and the Avro int range in C (1.6 against 4–5.6 µs per
        message for :meth:`decode`, measured in docs/performance.md). It only ever *accepts*
        what :meth:`decode` accepts with the same values: unknown fields, ISO time strings,
        integers beyond int64, and anything else it refuses go through :meth:`decode`, which
        words the error. Avro and Confluent values go through :meth:`decode` as they are.
        """
        info = self._infos.get(kind)
        if info is None:
            raise ValueError(f"not an event type: {kind!r}")
        structs = self._json_structs[kind]
        as_dict = msgspec.structs.asdict
        limit = self._max_message_bytes
        out: list[Event | DecodeError] = []
        append = out.append
        typed: list[int] = []
        """Positions of ``out`` holding events whose values are not checked yet."""
        for data in values:
            if type(data) is bytes and data[:1] == b"{" and len(data) <= limit:
                try:
                    event = as_dict(structs.decode(data))
                except msgspec.MsgspecError:
                    pass  # the general path decides, and words the error
                else:
                    typed.append(len(out))
                    append(event)
                    continue
            try:
                event = self._decode_wire(info, data)
            except DecodeError as exc:
                append(exc)
            else:
                typed.append(len(out))
                append(event)
        if typed:
            self._check_columns(info, out, typed)
        return out

    def _check_columns(
        self, info: _TypeInfo, out: list[Event | DecodeError], positions: list[int]
    ) -> None:
        """:meth:`_check_values` of the events at ``positions`` of ``out``, on columns: the
        events failing a check are checked again one by one, which replaces them by the error
        with its wording. The clock is read once, first: an event within the bounds then is
        within them at any later instant the per-event check would have read."""
        events = cast(list[Event], [out[i] for i in positions])
        n = len(events)
        now = self._now_ms()
        bad = np.zeros(n, dtype=bool)
        for name, happened in info.time_checks:
            column = [event[name] for event in events]
            if None in column:
                bad[:] = True  # nullable times: leave them to the per-event check
                break
            try:
                times = np.array(column, dtype=np.int64)
            except OverflowError:  # beyond int64 (orjson reads ints up to 2**64 - 1)
                bad[:] = True
                break
            skew = self._max_future_skew_ms if happened else MAX_DEADLINE_AHEAD_MS
            bad |= (times < MIN_EVENT_TIME_MS) | (times > now + skew)
        for name in info.id_fields:
            lengths = np.fromiter(map(len, [event[name] for event in events]), np.int64, n)
            bad |= (lengths == 0) | (lengths > MAX_ID_CHARS)
        for name, allowed in info.domains:
            values = np.array([event[name] for event in events], dtype=np.int64)
            bad |= ~np.isin(values, np.array(sorted(allowed), dtype=np.int64))
        for j in np.flatnonzero(bad).tolist():
            try:
                self._check_values(info, events[j])
            except DecodeError as exc:
                out[positions[j]] = exc

    def _decode_single_object(self, info: _TypeInfo, data: bytes) -> Event:
        """Decode an Avro single-object encoded message (``C3 01`` + fingerprint + body)."""
        if data[:2] != SINGLE_OBJECT_MAGIC:
            raise DecodeError(
                "unknown_encoding", f"0xc3 not followed by 0x01 (got {data[1:2].hex() or 'end'})"
            )
        if len(data) < SINGLE_OBJECT_HEADER_BYTES:
            raise DecodeError("malformed_avro", f"single-object header truncated at {len(data)}")
        writer_fp = data[2:SINGLE_OBJECT_HEADER_BYTES]
        writer = self._by_fingerprint.get(writer_fp)
        if writer is None:
            raise DecodeError("unknown_schema", f"unknown schema fingerprint {writer_fp.hex()}")
        if writer is not info:
            raise DecodeError(
                "schema_mismatch",
                f"message written with the {writer.kind.value} schema on a {info.kind.value} topic",
            )
        return _read_avro(data, SINGLE_OBJECT_HEADER_BYTES, info.schema, None)

    def _decode_confluent(self, info: _TypeInfo, data: bytes) -> Event:
        """Decode a Confluent wire-format message (``00`` + schema id + body)."""
        if self._registry_url is None:
            raise DecodeError(
                "schema_registry_not_configured",
                "Confluent-framed message but no schema registry URL is configured",
            )
        if len(data) < CONFLUENT_HEADER_BYTES:
            raise DecodeError("malformed_avro", f"Confluent header truncated at {len(data)}")
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_BYTES], "big")
        writer = self._writer_schemas.get(schema_id)
        if writer is None:
            writer = self._fetch_writer_schema(schema_id)
            self._writer_schemas[schema_id] = writer
        if writer.fingerprint == info.fingerprint:
            # Same schema as ours: read without resolution.
            return _read_avro(data, CONFLUENT_HEADER_BYTES, info.schema, None)
        other = self._by_fingerprint.get(writer.fingerprint)
        if other is not None:
            raise DecodeError(
                "schema_mismatch",
                f"schema id {schema_id} is the {other.kind.value} schema, not {info.kind.value}",
            )
        resolved = _read_avro(data, CONFLUENT_HEADER_BYTES, writer.schema, info.schema)
        try:  # schema order, exactly our fields
            return {name: resolved[name] for name in info.field_names}
        except KeyError as exc:
            raise DecodeError(
                "schema_mismatch",
                f"schema id {schema_id} does not resolve to the {info.kind.value} schema",
            ) from exc

    def _fetch_writer_schema(self, schema_id: int) -> _WriterSchema:
        """GET ``{registry}/schemas/ids/{schema_id}`` and parse the Avro schema it returns."""
        url = f"{self._registry_url}/schemas/ids/{schema_id}"
        request = urllib.request.Request(
            url,
            headers={"Accept": "application/vnd.schemaregistry.v1+json, application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT_S) as response:
                body = response.read(MAX_REGISTRY_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DecodeError(
                "schema_registry_error", f"GET {url}: HTTP {exc.code} {exc.reason}"
            ) from exc
        except Exception as exc:
            raise DecodeError("schema_registry_error", f"GET {url}: {_describe(exc)}") from exc
        if len(body) > MAX_REGISTRY_RESPONSE_BYTES:
            raise DecodeError("schema_registry_error", f"GET {url}: response too large")
        try:
            document = orjson.loads(body)
            schema_text = document["schema"]
            schema_type = document.get("schemaType", "AVRO")
        except Exception as exc:
            raise DecodeError(
                "schema_registry_error", f"GET {url}: unexpected response ({_describe(exc)})"
            ) from exc
        if schema_type != "AVRO":
            raise DecodeError(
                "schema_mismatch", f"schema id {schema_id} is a {schema_type!r} schema, not Avro"
            )
        try:
            parsed = parse_schema(orjson.loads(schema_text))
            canonical = to_parsing_canonical_form(parsed)
        except Exception as exc:
            raise DecodeError(
                "schema_registry_error",
                f"schema id {schema_id}: not a valid Avro schema ({_describe(exc)})",
            ) from exc
        if not isinstance(parsed, dict):
            raise DecodeError(
                "schema_mismatch", f"schema id {schema_id}: top-level type is not a record"
            )
        return _WriterSchema(
            schema_id=schema_id,
            schema=cast(dict[str, Any], parsed),
            fingerprint=_rabin_fingerprint(canonical),
        )

    def _check_values(self, info: _TypeInfo, event: Event) -> None:
        """Range and domain checks shared by all encodings (times in epoch ms)."""
        now = self._now_ms()
        for name, happened in info.time_checks:
            value = event[name]
            # Instants that already happened may lead the clock only by the allowed skew; a
            # deadline (due_at) lies in the future by nature, up to a sanity bound.
            skew = self._max_future_skew_ms if happened else MAX_DEADLINE_AHEAD_MS
            if value is not None and not MIN_EVENT_TIME_MS <= value <= now + skew:
                raise DecodeError(
                    "invalid_time",
                    f"{name}={value} ms outside [{MIN_EVENT_TIME_MS}, now + {skew} ms = "
                    f"{now + skew}]",
                )
        for name in info.id_fields:
            value = event[name]
            if not value or len(value) > MAX_ID_CHARS:
                raise DecodeError(
                    "invalid_value",
                    f"{name} must be 1..{MAX_ID_CHARS} characters, got {len(value or '')}",
                )
        for name, allowed in info.domains:
            value = event[name]
            if value not in allowed:
                raise DecodeError("invalid_value", f"{name}={value!r} not in {sorted(allowed)}")


def _as_bytes(data: object) -> bytes:
    """Accept bytes-like message values; anything else is not a message encoding."""
    if isinstance(data, bytearray | memoryview):
        try:
            return bytes(data)
        except Exception as exc:
            raise DecodeError("unknown_encoding", _describe(exc)) from exc
    if data is None:
        raise DecodeError("unknown_encoding", "empty message (null value)")
    raise DecodeError("unknown_encoding", f"message value is {type(data).__name__}, not bytes")


def _read_avro(
    data: bytes, offset: int, writer: dict[str, Any], reader: dict[str, Any] | None
) -> Event:
    """Read one Avro binary record from ``data[offset:]``, which it must consume exactly.

    With a ``reader`` schema the record is resolved from ``writer`` to ``reader``.
    """
    buffer = io.BytesIO(data)
    buffer.seek(offset)
    try:
        record = schemaless_reader(buffer, writer, reader)
    except SchemaResolutionError as exc:
        reader_name = (reader or writer).get("name")
        raise DecodeError(
            "schema_mismatch",
            f"writer {writer.get('type')} {writer.get('name')} cannot be read as "
            f"{reader_name}: {_clip(str(exc))[:120]}",
        ) from exc
    except Exception as exc:
        raise DecodeError("malformed_avro", _describe(exc)) from exc
    if buffer.tell() != len(data):
        raise DecodeError(
            "malformed_avro", f"{len(data) - buffer.tell()} trailing bytes after the record"
        )
    if not isinstance(record, dict):
        raise DecodeError("malformed_avro", "body is not a record")
    return record


def _decode_json(info: _TypeInfo, data: bytes) -> Event:
    """Parse and type-check a JSON object message against ``info``'s field table."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("malformed_json", _clip(str(exc))) from exc
    if type(document) is not dict:
        raise DecodeError("malformed_json", "not a JSON object")
    # Fast path: producers following the contract write every field, in schema order, with
    # its exact type; such an object is the normalized event already. Anything else (or a bad
    # value) takes the field-by-field path below, which also words the errors.
    if (
        tuple(document) == info.field_names
        and tuple(map(type, document.values())) in info.json_signatures
    ):
        for name, symbols in info.json_enums:
            if document[name] not in symbols:
                break
        else:
            for name in info.json_int32:
                if not _INT32_MIN <= document[name] <= _INT32_MAX:
                    break
            else:
                return cast(Event, document)
    get = document.get
    missing = _MISSING
    event: Event = {}
    for name, kind, python_type, extra, nullable, optional, default, symbols in info.json_rows:
        value: Any = get(name, missing)
        # Fast path: the value already has the field's Python type (bool is not int here).
        if type(value) is python_type:
            if extra:
                if extra == _X_ENUM:
                    if value not in symbols:
                        raise DecodeError(
                            "unknown_enum_symbol",
                            _clip(f"{name}={value!r}, expected one of {sorted(symbols)}"),
                        )
                elif not _INT32_MIN <= cast(int, value) <= _INT32_MAX:
                    raise DecodeError("invalid_value", f"{name}={value} outside the Avro int range")
            event[name] = value
        elif value is missing:
            if not optional:
                raise DecodeError("missing_field", name)
            event[name] = default
        elif value is None and nullable:
            event[name] = None
        elif kind == _K_TIME and type(value) is str:
            event[name] = _iso_to_ms(name, value)
        else:
            _wrong_type(name, kind, value)
    return event


_INT64: Final = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An Avro ``long`` as the typed JSON decoder accepts it (what orjson reads as an ``int``
beyond that takes the general path)."""
_INT32: Final = Annotated[int, msgspec.Meta(ge=_INT32_MIN, le=_INT32_MAX)]


def _json_struct_decoder(info: _TypeInfo) -> msgspec.json.Decoder[Any]:
    """A msgspec decoder of ``info``'s contract-shaped JSON objects into a Struct whose fields
    are the schema's, in schema order, with the schema's types and defaults.

    Unknown fields are refused (the general path ignores them, but orjson parses them first
    and may reject them, e.g. a number beyond float range), so an accepted object is one
    :func:`_decode_json` accepts with the same values."""
    fields: list[tuple[str, Any, Any]] = []
    for spec in info.fields:
        python: Any
        if spec.kind == _K_ENUM:
            python = Literal[tuple(sorted(spec.symbols))]
        elif spec.kind == _K_TIME:
            python = _INT64
        elif spec.kind == _K_INT:
            python = _INT32
        else:
            python = spec.python_type
        if spec.nullable:
            python = python | None
        if spec.optional:
            fields.append((spec.name, python, spec.default))
        else:
            fields.append((spec.name, python, msgspec.NODEFAULT))
    struct = msgspec.defstruct(
        f"Json_{info.kind.value}",
        [
            (name, python) if default is msgspec.NODEFAULT else (name, python, default)
            for name, python, default in fields
        ],
        kw_only=True,
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(struct)


def _wrong_type(name: str, kind: int, value: object) -> NoReturn:
    """Raise ``invalid_type`` for a JSON value of the wrong type."""
    got = "null" if value is None else type(value).__name__
    raise DecodeError("invalid_type", f"{name}: expected {_KIND_WORDS[kind]}, got {got}")


def encode_json(event: Event) -> bytes:
    """Encode a normalized event as a UTF-8 JSON object (times stay epoch ms integers)."""
    return orjson.dumps(event)


def _avro_body(kind: EventType, event: Event) -> bytes:
    """Avro binary body of ``event`` under ``kind``'s schema (no framing)."""
    buffer = io.BytesIO()
    schemaless_writer(buffer, _type_info(kind).schema, event, strict_allow_default=True)
    return buffer.getvalue()


def encode_avro(kind: EventType, event: Event) -> bytes:
    """Encode ``event`` in Avro single-object encoding: ``C3 01`` + fingerprint + body.

    ``event`` must be normalized (times as epoch ms ints); fields with defaults may be
    omitted, unknown fields are refused. fastavro's ValueError/TypeError propagate.
    """
    return SINGLE_OBJECT_MAGIC + fingerprint(kind) + _avro_body(kind, event)


def encode_confluent(kind: EventType, event: Event, schema_id: int) -> bytes:
    """Encode ``event`` in Confluent wire format: ``00`` + 4-byte big-endian id + body.

    ``schema_id`` is the registry id of ``kind``'s schema (0 ≤ id < 2**32); the body is
    written with the project's schema. Raises ValueError for an out-of-range id.
    """
    if type(schema_id) is not int or not 0 <= schema_id <= 0xFFFFFFFF:
        raise ValueError(f"schema_id must be an int in [0, 2**32), got {schema_id!r}")
    return bytes((CONFLUENT_MAGIC,)) + schema_id.to_bytes(4, "big") + _avro_body(kind, event)
