"""Wire formats of topic ``emc.unit.reported-totals.v1``: JSON and Avro single-object.

Like the lifecycle topics (:mod:`streams.kafka.codec`): a value starting with ``{`` is a JSON
object with the fields of ``schemas/avro/reported_totals.avsc``; one starting with ``C3 01`` is
Avro single-object encoding (the 8-byte CRC-64-AVRO fingerprint of that schema, then the binary
body). Decoding checks the wire shape only; what the fields mean (a registered unit, a period, the
counts) is checked by :func:`streams.health.totals.validate_report`. Failures raise
:class:`~streams.core.errors.DecodeError` with the reason codes the dead letters use.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any, Final

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from streams.core.errors import DecodeError
from streams.core.events import SCHEMA_DIR

SCHEMA_PATH: Final[Path] = SCHEMA_DIR / "reported_totals.avsc"
_MAGIC: Final = b"\xc3\x01"
_HEADER: Final = 10
MAX_BYTES: Final = 65_536
"""A report is a few hundred bytes; anything over this is refused (``oversized``)."""


@cache
def totals_schema() -> dict[str, Any]:
    """The parsed Avro schema of a reported-totals record (read once)."""
    parsed = parse_schema(orjson.loads(SCHEMA_PATH.read_bytes()))
    assert isinstance(parsed, dict)
    return parsed


@cache
def totals_fingerprint() -> bytes:
    """CRC-64-AVRO fingerprint (8 bytes, little-endian) of the schema's canonical form."""
    return bytes.fromhex(
        avro_fingerprint(to_parsing_canonical_form(totals_schema()), "CRC-64-AVRO")
    )


def decode_totals(value: bytes | None) -> dict[str, Any]:
    """The report's fields from a message value (JSON or Avro single-object)."""
    if not value:
        raise DecodeError("unknown_encoding", "empty message")
    if len(value) > MAX_BYTES:
        raise DecodeError("oversized", f"{len(value)} bytes (at most {MAX_BYTES})")
    first = value.lstrip()[:1]
    if first == b"{":
        try:
            fields = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("malformed_json", str(exc)[:200]) from exc
        if not isinstance(fields, dict):
            raise DecodeError("malformed_json", "not a JSON object")
        return fields
    if value[:2] == _MAGIC:
        if value[2:_HEADER] != totals_fingerprint():
            raise DecodeError(
                "unknown_schema", f"fingerprint {value[2:_HEADER].hex()} is not reported_totals"
            )
        buffer = io.BytesIO(value)
        buffer.seek(_HEADER)
        try:
            record = schemaless_reader(buffer, totals_schema(), None)
        except Exception as exc:
            raise DecodeError("malformed_avro", f"{type(exc).__name__}: {exc}"[:200]) from exc
        if buffer.tell() != len(value) or not isinstance(record, dict):
            raise DecodeError("malformed_avro", "trailing bytes after the record")
        return record
    raise DecodeError("unknown_encoding", f"starts with {value[:2].hex()}, not '{{' or c301")


def encode_totals_json(fields: dict[str, Any]) -> bytes:
    """A report as the topic's JSON value."""
    return orjson.dumps(fields)


def encode_totals_avro(fields: dict[str, Any]) -> bytes:
    """A report as an Avro single-object value (missing counts written as null)."""
    body = io.BytesIO()
    schemaless_writer(body, totals_schema(), fields)
    return _MAGIC + totals_fingerprint() + body.getvalue()
