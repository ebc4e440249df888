"""The rows a batch produces, by table and column name, and the batch that carries them.

A layout is the ordered tuple of a table's column names; :class:`RowBatch` holds one list per
column in that order. Sinks read the names (``RowBatch.tables``), never positions: the
ClickHouse sink pairs each name with its type in :mod:`sinks.schema`, which checks at import that
it covers exactly these names.

Times in rows are ``int`` epoch milliseconds; rates are fractions in [0, 1] or ``None``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from streams.core.indicators import COUNTERS, RATES
from streams.core.windows import WINDOW_NAMES

EVENT_FIELD_COLUMNS: Final[tuple[str, ...]] = (
    "event_type",
    "event_id",
    "unit_code",
    "dossier_id",
    "event_time",
    # received
    "procedure_code",
    "procedure_level",
    "channel",
    "submitter_type",
    "submitter_id_local",
    "submitter_id_qg",
    "via_national_portal",
    "due_at",
    "fee_payment",
    "postal_return",
    "procedure_name",
    # processed
    "status",
    "step_name",
    "supplement_requested",
    # result returned
    "finished_at",
    "electronic_result",
    "result_channel",
    "digitised",
    "paid_online",
    # feedback
    "rating",
    "complaint",
)
"""``emc.dossier_events`` columns that hold the event's own fields (Avro names; the submitter
record is flattened into ``submitter_*``), in column order."""

LINEAGE_COLUMNS: Final[tuple[str, ...]] = (
    "encoding",
    "source_partition",
    "source_offset",
    "counted_windows",
    "ingested_at",
)
"""Where the event came from and what it was counted in (``counted_windows``: bit set, see
:data:`COUNTED_BIT`; ``ingested_at``: wall clock, epoch ms)."""

EVENT_LAYOUT: Final[tuple[str, ...]] = EVENT_FIELD_COLUMNS + LINEAGE_COLUMNS
"""``emc.dossier_events``: one row per distinct event."""

ROLLUP_LAYOUT: Final[tuple[str, ...]] = (
    "unit_code",
    "window",
    "window_start",
    "window_end",
    *COUNTERS,
    *RATES,
    "updated_at",
    "version",
)
"""``emc.unit_window_rollup``: the full state of one (unit, window, window start) bucket.
Counters and rates are defined in :mod:`streams.core.indicators`."""

ANOMALY_LAYOUT: Final[tuple[str, ...]] = (
    "unit_code",
    "dossier_id",
    "event_id",
    "event_type",
    "reason",
    "detail",
    "event_time",
    "detected_at",
)
"""``emc.lifecycle_anomalies``: one row per (dossier, event, reason)."""

OVERDUE_LAYOUT: Final[tuple[str, ...]] = (
    "unit_code",
    "dossier_id",
    "received_at",
    "due_at",
    "marked_windows",
    "cleared_windows",
    "marked_at",
    "version",
)
"""``emc.dossier_overdue``: open dossiers that passed their due time (``marked_windows`` the
windows whose ``overdue_open`` counted it, ``cleared_windows`` those a later result undid,
``marked_at`` the unit's event-time watermark when the due time passed)."""

DEAD_LETTER_LAYOUT: Final[tuple[str, ...]] = (
    "source_topic",
    "source_partition",
    "source_offset",
    "kind",
    "reason",
    "detail",
    "unit_code",
    "message_key",
    "message_time",
    "original_size",
    "original_prefix_b64",
    "rejected_at",
)
"""``emc.dead_letters``: one row per rejected record (``kind`` ``dead_letter``: not counted,
also on the dead-letter topic; ``late``: past every window's lateness, also on the late topic and
in ``dossier_events`` with ``counted_windows = 0``). ``reason`` is the stable code of the
dead-letter header, ``unit_code`` the event's unit or else the message key when that names a
registered unit (``None`` otherwise), ``message_time`` the Kafka record's timestamp (epoch ms or
``None``), ``original_size`` the value's length in bytes and ``original_prefix_b64`` the base64
of its first :data:`DEAD_LETTER_PREFIX_BYTES` bytes; ``rejected_at`` wall clock, epoch ms."""

DEAD_LETTER_PREFIX_BYTES: Final = 4096
"""How much of a rejected value ``emc.dead_letters`` keeps (the topic keeps it whole)."""

DETAIL_MAX_CHARS: Final = 1000
"""Longest ``detail`` kept in ``emc.dead_letters``."""

ANOMALY_REASONS: Final[tuple[str, ...]] = (
    "processed_without_receipt",
    "result_without_receipt",
    "feedback_without_receipt",
    "status_backwards",
    "result_before_receipt",
)
"""Why a lifecycle is impossible (``emc.lifecycle_anomalies.reason``)."""

COUNTED_BIT: Final[dict[str, int]] = {"1m": 1, "1h": 2, "1d": 4}
"""Window name → its bit in ``counted_windows`` / ``marked_windows`` / ``cleared_windows``."""
assert tuple(COUNTED_BIT) == WINDOW_NAMES

LAYOUTS: Final[dict[str, tuple[str, ...]]] = {
    "dossier_events": EVENT_LAYOUT,
    "lifecycle_anomalies": ANOMALY_LAYOUT,
    "dossier_overdue": OVERDUE_LAYOUT,
    "dead_letters": DEAD_LETTER_LAYOUT,
    "unit_window_rollup": ROLLUP_LAYOUT,
}
"""Table name → layout, in the order a sink writes them (rollups last: a reader that sees a
rollup row also finds the events it was counted from)."""


def bits_of(windows: Sequence[str]) -> int:
    """Bit set (``counted_windows`` encoding) of window names."""
    return sum(COUNTED_BIT[w] for w in windows)


def windows_of(bits: int) -> list[str]:
    """Window names in a ``counted_windows`` bit set."""
    return [w for w in WINDOW_NAMES if bits & COUNTED_BIT[w]]


def _columns(layout: tuple[str, ...]) -> list[list[Any]]:
    return [[] for _ in layout]


@dataclass(slots=True)
class RowBatch:
    """Rows of one stream batch, column-oriented: each attribute holds one list per column of
    its table's layout, in layout order."""

    events: list[list[Any]] = field(default_factory=lambda: _columns(EVENT_LAYOUT))
    rollups: list[list[Any]] = field(default_factory=lambda: _columns(ROLLUP_LAYOUT))
    anomalies: list[list[Any]] = field(default_factory=lambda: _columns(ANOMALY_LAYOUT))
    overdue: list[list[Any]] = field(default_factory=lambda: _columns(OVERDUE_LAYOUT))
    dead_letters: list[list[Any]] = field(default_factory=lambda: _columns(DEAD_LETTER_LAYOUT))

    @property
    def rollup_rows(self) -> int:
        return len(self.rollups[0])

    def tables(self) -> Iterator[tuple[str, tuple[str, ...], list[list[Any]]]]:
        """``(table, column names, columns)`` of every table, in :data:`LAYOUTS` order."""
        by_table = {
            "dossier_events": self.events,
            "lifecycle_anomalies": self.anomalies,
            "dossier_overdue": self.overdue,
            "dead_letters": self.dead_letters,
            "unit_window_rollup": self.rollups,
        }
        for table, layout in LAYOUTS.items():
            yield table, layout, by_table[table]

    def add_event(self, row: Sequence[Any]) -> None:
        _append(self.events, row)

    def add_rollup(self, row: Sequence[Any]) -> None:
        _append(self.rollups, row)

    def add_anomaly(self, row: Sequence[Any]) -> None:
        _append(self.anomalies, row)

    def add_overdue(self, row: Sequence[Any]) -> None:
        _append(self.overdue, row)

    def add_dead_letter(self, row: Sequence[Any]) -> None:
        _append(self.dead_letters, row)


def _append(columns: list[list[Any]], row: Sequence[Any]) -> None:
    for column, value in zip(columns, row, strict=True):
        column.append(value)
