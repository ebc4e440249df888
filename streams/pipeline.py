"""The batch pipeline behind the agent: decode → validate → deduplicate → window → rows.

Faust-free on purpose: the agent hands it raw messages and Faust tables (any
``MutableMapping[str, bytes]``), and gets back the ClickHouse rows, the dead letters and the late
events of the batch. State is written once per unit and once per dossier per batch.

State keys: the unit table is keyed ``unit_code``; the dossier table ``unit_code|dossier_id``, so
a dossier's state lives in its unit's partition.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from sinks.clickhouse import SinkBatch
from sinks.schema import COUNTED_BIT, EVENT_COLUMNS
from streams.codec import Codec
from streams.core.indicators import RATES, receipt_matrix
from streams.core.indicators import rates as compute_rates
from streams.core.rollup import Lateness, UnitWindows
from streams.core.windows import WINDOW_SIZES_MS
from streams.errors import DecodeError
from streams.events import TYPE_BY_TOPIC, Event, EventType
from streams.registry import UnitRegistry

EVENT_FIELDS: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS[:26])
"""Event fields in ``emc.dossier_events`` column order (before the lineage columns)."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One Kafka record as the agent received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record routed to the dead-letter or late topic, with why."""

    message: RawMessage
    reason: str
    detail: str
    unit_code: str | None = None


@dataclass(slots=True)
class BatchOutcome:
    """Everything one batch produced."""

    sink_batch: SinkBatch = field(default_factory=SinkBatch)
    dead_letters: list[Rejected] = field(default_factory=list)
    late: list[Rejected] = field(default_factory=list)
    unit_states: dict[str, UnitWindows] = field(default_factory=dict)
    """Units whose windows changed (write back once each)."""
    dossier_states: dict[str, bytes] = field(default_factory=dict)
    """Dossier states that changed (write back once each)."""
    accepted: int = 0
    duplicates: int = 0


def encoding_of(value: bytes) -> str:
    """Which wire encoding a message used, from its first byte."""
    if value[:1] == b"\xc3":
        return "avro"
    if value[:1] == b"\x00":
        return "confluent"
    return "json"


@dataclass(slots=True)
class PipelineStats:
    """Running totals since the worker started (for the progress page and the summary)."""

    consumed: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    batches: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    late_by_unit: Counter[str] = field(default_factory=Counter)
    rollup_rows: int = 0
    last_batch_at_ms: int = 0


class BatchProcessor:
    """Turns batches of raw lifecycle messages into rows and state changes."""

    def __init__(
        self,
        registry: UnitRegistry,
        codec: Codec,
        lateness: Lateness,
        unit_table: MutableMapping[str, bytes],
        dossier_table: MutableMapping[str, bytes],
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.registry = registry
        self.codec = codec
        self.lateness = lateness
        self.unit_table = unit_table
        self.dossier_table = dossier_table
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.stats = PipelineStats()
        self.unit_partitions: dict[str, int] = {}
        """unit_code → partition its events arrive on (where its state is written)."""
        self._last_version = 0
        self._unit_cache: dict[str, UnitWindows] = {}

    # -- state access -----------------------------------------------------------------------
    def unit_windows(self, unit_code: str) -> UnitWindows:
        """The unit's windows (cached decoded copy of the table value)."""
        cached = self._unit_cache.get(unit_code)
        if cached is None:
            raw = self.unit_table.get(unit_code)
            cached = UnitWindows.from_bytes(raw) if raw else UnitWindows()
            self._unit_cache[unit_code] = cached
        return cached

    def forget_units(self) -> None:
        """Drop decoded copies (after a rebalance the table is the truth)."""
        self._unit_cache.clear()

    def _next_version(self) -> int:
        now_us = time.time_ns() // 1000
        self._last_version = max(self._last_version + 1, now_us)
        return self._last_version

    # -- the batch ----------------------------------------------------------------------------
    def process(self, messages: list[RawMessage]) -> BatchOutcome:
        """Decode, validate, deduplicate and window one batch of messages."""
        out = BatchOutcome()
        now_ms = self.clock_ms()
        seen_states: dict[str, dict[str, Any]] = {}
        fresh: list[tuple[RawMessage, EventType, Event]] = []
        for msg in messages:
            event = self._decode(msg, out)
            if event is None:
                continue
            kind, ev = event
            dossier_key = f"{ev['unit_code']}|{ev['dossier_id']}"
            state = seen_states.get(dossier_key)
            if state is None:
                raw = self.dossier_table.get(dossier_key)
                state = orjson.loads(raw) if raw else {"ids": []}
                seen_states[dossier_key] = state
            if ev["event_id"] in state["ids"]:
                out.duplicates += 1
                continue
            state["ids"].append(ev["event_id"])
            state["t"] = max(state.get("t", 0), ev["event_time"])
            if kind is EventType.RECEIVED:
                state["r"] = ev["event_time"]
            out.dossier_states[dossier_key] = orjson.dumps(state)
            self.unit_partitions[ev["unit_code"]] = msg.partition
            fresh.append((msg, kind, ev))

        counted = self._window_receipts(fresh, out)
        for (msg, kind, ev), bits in zip(fresh, counted, strict=True):
            out.sink_batch.add_event(self._event_row(msg, ev, kind, bits, now_ms))
        out.accepted = len(fresh)
        self._account(messages, out, now_ms)
        return out

    def _decode(self, msg: RawMessage, out: BatchOutcome) -> tuple[EventType, Event] | None:
        kind = TYPE_BY_TOPIC.get(msg.topic)
        if kind is None:
            out.dead_letters.append(Rejected(msg, "unknown_topic", msg.topic))
            return None
        if not msg.value:
            out.dead_letters.append(Rejected(msg, "empty_message", "no value"))
            return None
        try:
            ev = self.codec.decode(kind, msg.value)
        except DecodeError as exc:
            out.dead_letters.append(Rejected(msg, exc.reason, exc.detail))
            return None
        unit_code = ev["unit_code"]
        validity = self.registry.validity(unit_code, ev["event_time"])
        if validity != "ok":
            detail = f"unit {unit_code!r} " + (
                "is not in the registry"
                if validity == "unknown_unit"
                else "was not valid at the event time"
            )
            out.dead_letters.append(Rejected(msg, validity, detail, unit_code))
            return None
        key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
        if key != unit_code:
            detail = f"message key {key!r} differs from unit_code {unit_code!r}"
            out.dead_letters.append(Rejected(msg, "key_mismatch", detail, unit_code))
            return None
        return kind, ev

    def _window_receipts(
        self, fresh: list[tuple[RawMessage, EventType, Event]], out: BatchOutcome
    ) -> list[int]:
        """Apply receipts to their units' windows; return each event's counted-window bits."""
        bits = [0] * len(fresh)
        by_unit: dict[str, list[int]] = defaultdict(list)
        for i, (_, kind, ev) in enumerate(fresh):
            if kind is EventType.RECEIVED:
                by_unit[ev["unit_code"]].append(i)
        for unit_code, idx in by_unit.items():
            events = [fresh[i][2] for i in idx]
            times = np.fromiter((e["event_time"] for e in events), np.int64, len(events))
            windows = self.unit_windows(unit_code)
            result = windows.apply(times, receipt_matrix(events), self.lateness)
            for j, i in enumerate(idx):
                bits[i] = sum(
                    COUNTED_BIT[w] for w, accepted in result.accepted.items() if accepted[j]
                )
                if result.late_mask[j]:
                    msg = fresh[i][0]
                    out.late.append(
                        Rejected(msg, "late", f"beyond allowed lateness for {unit_code}", unit_code)
                    )
            out.unit_states[unit_code] = windows
            version = self._next_version()
            updated_at = self.clock_ms()
            for window, start in sorted(result.touched):
                counts = windows.buckets[(window, start)]
                r = compute_rates(counts)
                out.sink_batch.add_rollup(
                    (
                        unit_code,
                        window,
                        start,
                        start + WINDOW_SIZES_MS[window],
                        *(int(c) for c in counts),
                        *(r[name] for name in RATES),
                        updated_at,
                        version,
                    )
                )
            windows.evict(self.lateness)
        return bits

    def _event_row(
        self, msg: RawMessage, ev: Event, kind: EventType, bits: int, now_ms: int
    ) -> list[Any]:
        row: list[Any] = [kind.value]
        row.extend(ev.get(name) for name in EVENT_FIELDS[1:])
        assert msg.value is not None
        row.extend((encoding_of(msg.value), msg.partition, msg.offset, bits, now_ms))
        return row

    def _account(self, messages: list[RawMessage], out: BatchOutcome, now_ms: int) -> None:
        s = self.stats
        s.consumed += len(messages)
        s.accepted += out.accepted
        s.duplicates += out.duplicates
        s.late += len(out.late)
        s.batches += 1
        s.rollup_rows += out.sink_batch.rollup_rows
        s.last_batch_at_ms = now_ms
        for rejected in out.dead_letters:
            s.dead_letters[rejected.reason] += 1
        for rejected in out.late:
            s.late_by_unit[rejected.unit_code or "?"] += 1

    def commit_state(self, out: BatchOutcome) -> None:
        """Write the batch's state changes back: once per unit, once per dossier."""
        for unit_code, windows in out.unit_states.items():
            self.unit_table[unit_code] = windows.to_bytes()
        for key, value in out.dossier_states.items():
            self.dossier_table[key] = value
