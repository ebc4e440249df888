"""Errors of the HTTP ingest.

EmcError (streams.core.errors)
└── IngestError              the ingest cannot start (bad site map, broker unreachable)
    └── TrackingCallError    one tracking call is refused: HTTP status, the field at fault, why
"""

from __future__ import annotations

from streams.core.errors import EmcError


class IngestError(EmcError):
    """The ingest service cannot run as configured."""


class TrackingCallError(IngestError):
    """A tracking call that produces nothing: ``status`` is the HTTP status to answer,
    ``field`` the payload field at fault (``None`` for the body as a whole), ``code`` a stable
    machine-readable reason (``missing_field``, ``invalid_value``, ``unknown_site``, …)."""

    def __init__(self, status: int, code: str, field: str | None, detail: str) -> None:
        super().__init__(f"{code}: {field or 'body'}: {detail}")
        self.status = status
        self.code = code
        self.field = field
        self.detail = detail

    def as_json(self, index: int | None = None) -> dict[str, object]:
        """The error as the answer's JSON (``index``: the call's position in a batch)."""
        out: dict[str, object] = {"error": self.code, "field": self.field, "detail": self.detail}
        if index is not None:
            out["index"] = index
        return out
