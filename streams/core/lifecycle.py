"""Per-dossier lifecycle state: what EMC remembers about one dossier between its events.

Stored in the ``dossier_state`` table under ``unit_code|dossier_id`` (so in the unit's
partition), as a compact JSON array (see :func:`encode_state`). It holds the event ids seen
(for deduplication), the receipt facts that later events are counted against, the processing
stage, whether the result came and where it was counted, the overdue mark, and lifecycle events
that arrived before their receipt.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

JsonDumps = Callable[[Any], bytes]
"""Compact JSON of a value, as UTF-8 bytes (the worker passes ``orjson.dumps``: ~16x faster)."""
JsonLoads = Callable[[bytes], Any]
"""A value from JSON bytes (the worker passes ``orjson.loads``)."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def std_dumps(value: Any) -> bytes:
    """The standard library's compact JSON: byte-for-byte what ``orjson.dumps`` writes for the
    values a state holds (strings, ints, bools, ``None``, lists)."""
    return _ENCODER.encode(value).encode()


std_loads: JsonLoads = json.loads

STAGE_BY_STATUS: dict[int, int] = {1: 0, 2: 1, 4: 2, 5: 2, 6: 2, 9: 3, 10: 4, 3: 4, 7: 4, 8: 4}
"""Portal status → stage rank. A later event with a lower rank is a status going backwards;
4 processing, 5 supplement requested and 6 awaiting fees may alternate freely."""
CLOSING_STATUSES = frozenset({3, 7, 8})
"""Refused, withdrawn, stopped: the dossier ends without a result; it no longer counts as
overdue (``overdue_open`` counts dossiers that are open *now* past their due time)."""


@dataclass(slots=True)
class Pending:
    """A lifecycle event that came before its dossier's receipt."""

    kind: str
    event: dict[str, Any]
    encoding: str
    partition: int
    offset: int


@dataclass(slots=True)
class DossierState:
    """Everything kept for one dossier (times in epoch ms)."""

    ids: list[str] = field(default_factory=list)
    received_ms: int | None = None
    due_ms: int | None = None
    online: bool = False
    level: int = 0
    counted: int = 0
    """Windows (bit set, 1 = 1m, 2 = 1h, 4 = 1d) that counted the receipt."""
    stage: int = -1
    stage_ms: int = 0
    closed: bool = False
    finished_ms: int | None = None
    overdue_marked: bool = False
    overdue_bits: int = 0
    """Windows whose ``overdue_open`` currently counts this dossier."""
    pending: list[Pending] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    """Event ids already reported as lifecycle anomalies (report once)."""
    last_ms: int = 0
    fee: int = -1
    """The receipt's ``fee_payment`` as :data:`streams.core.indicators.FEE_CODES` (0 none,
    1 in person, 2 online); -1: unknown (a state written before this field existed: a later
    ``paid_online`` is then not counted, as before)."""
    postal_return: bool = False
    """The receipt asked for the result by post."""
    rating: str | None = None
    """The rating counted for the dossier: its latest feedback by ``(event_time, event_id)``."""
    rating_ms: int = 0
    rating_id: str = ""
    """``event_time`` (epoch ms) and ``event_id`` of the feedback that gave :attr:`rating`."""
    rating_bits: int = 0
    """Windows whose ``feedback``/``satisfied`` counters count :attr:`rating`."""

    @property
    def open(self) -> bool:
        return self.received_ms is not None and self.finished_ms is None and not self.closed

    def to_list(self) -> list[Any]:
        """The fields as a JSON-ready array, in declaration order (the stored form)."""
        return [
            self.ids,
            self.received_ms,
            self.due_ms,
            self.online,
            self.level,
            self.counted,
            self.stage,
            self.stage_ms,
            self.closed,
            self.finished_ms,
            self.overdue_marked,
            self.overdue_bits,
            [[p.kind, p.event, p.encoding, p.partition, p.offset] for p in self.pending],
            self.flagged,
            self.last_ms,
            self.fee,
            self.postal_return,
            self.rating,
            self.rating_ms,
            self.rating_id,
            self.rating_bits,
        ]

    @classmethod
    def from_list(cls, raw: list[Any]) -> DossierState:
        """Inverse of :meth:`to_list` (``raw`` is taken over, not copied). An array written
        before the trailing fields existed is shorter: those fields take their defaults."""
        state = cls(*raw)
        if state.pending:
            state.pending = [Pending(*p) for p in cast(list[list[Any]], state.pending)]
        return state

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DossierState:
        return cls(  # lists copied: ``raw`` is kept as the state before the batch
            ids=list(raw["i"]),
            received_ms=raw["r"],
            due_ms=raw["d"],
            online=raw["o"],
            level=raw["l"],
            counted=raw["c"],
            stage=raw["s"][0],
            stage_ms=raw["s"][1],
            closed=raw["x"],
            finished_ms=raw["f"],
            overdue_marked=raw["om"],
            overdue_bits=raw["ob"],
            pending=[Pending(*p) for p in raw["p"]],
            flagged=list(raw["g"]),
            last_ms=raw["t"],
        )


_MAGIC = b"EMD2"
_MAGIC_V1 = b"EMD1"
"""Values written before the array form: the same layout, each state a JSON object."""
_HEADER = struct.Struct("<4sqI")
"""Table value header: magic, seq of the batch that wrote it, length of the current state."""


def encode_state(
    state: DossierState, seq: int, previous: bytes | None, dumps: JsonDumps = std_dumps
) -> bytes:
    """A table value: the state written by the unit's batch ``seq``, then the state before it.

    Keeping the previous state makes a crash harmless: the unit's windows are written after its
    dossiers, so if a crash loses the windows of batch ``seq``, the dossiers it wrote are rolled
    back on load (see :func:`decode_state`) and the batch is replayed whole. ``previous`` is the
    JSON of the state before the batch, kept as bytes (never re-encoded), so it may be a JSON
    object written by the ``EMD1`` format: the reader tells the two forms by their first byte.
    """
    current = dumps(state.to_list())
    return _HEADER.pack(_MAGIC, seq, len(current)) + current + (previous or b"")


def written_by(data: bytes) -> int:
    """The seq of the unit batch that wrote the table value ``data``."""
    return int(_HEADER.unpack_from(data)[1])


def roll_back(data: bytes, unit_seq: int) -> bytes | None:
    """The value to store instead of ``data``, which a batch later than its unit's windows
    (at ``unit_seq``) wrote before a crash lost those windows: the state before that batch,
    as if written at ``unit_seq``, or ``None`` if there was none (delete the key).

    :func:`decode_state` already reads such a value as its previous state while the unit is at
    ``unit_seq``. But the replay of the lost batch, cut differently, may leave this dossier out
    and still bring the unit to the lost batch's seq; from then on the value would read as
    current, with events whose counts died with the windows, and they would be dropped as
    duplicates when they come again. Rewriting the value before any replay closes that gap.
    """
    _, _, n = _HEADER.unpack_from(data)
    previous = data[_HEADER.size + n :]
    if not previous:
        return None
    return _HEADER.pack(_MAGIC, unit_seq, len(previous)) + previous


def decode_state(
    data: bytes, unit_seq: int, loads: JsonLoads = std_loads
) -> tuple[DossierState, bytes | None]:
    """The state consistent with unit windows at ``unit_seq``, and its JSON (``None``: new).

    A value written by a batch later than ``unit_seq`` is from a batch whose unit windows were
    lost: its previous state is the consistent one. Reads ``EMD2`` values and the older
    ``EMD1`` ones (states as JSON objects).
    """
    magic, seq, n = _HEADER.unpack_from(data)
    if magic != _MAGIC and magic != _MAGIC_V1:
        raise ValueError("not a dossier state value")
    start = _HEADER.size
    chosen = data[start : start + n] if seq <= unit_seq else data[start + n :]
    if not chosen:
        return DossierState(), None
    raw = loads(chosen)
    if type(raw) is list:
        return DossierState.from_list(raw), bytes(chosen)
    return DossierState.from_dict(raw), bytes(chosen)
