"""The batch pipeline behind the agent: decode → validate → deduplicate → window → rows.

Faust-free on purpose: the agent hands it raw messages and the state store's views (any
``MutableMapping[str, bytes]``), and gets back the ClickHouse rows, the dead letters and the late
events of the batch. State is written once per unit and once per dossier per batch.

State keys: the unit table is keyed ``unit_code``; the dossier table ``unit_code|dossier_id``, so
a dossier's state lives in its unit's partition.
"""

from __future__ import annotations

import base64
import gc
import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from streams.core.errors import DecodeError
from streams.core.events import TYPE_BY_TOPIC, Event, EventType, schema_field_names
from streams.core.indicators import (
    FEE_CODES,
    feedback_delta,
    overdue_delta,
    rate_columns,
    rating_change_delta,
    receipt_matrix,
    result_delta,
)
from streams.core.lifecycle import (
    CLOSING_STATUSES,
    STAGE_BY_STATUS,
    DossierState,
    JsonDumps,
    JsonLoads,
    Pending,
    decode_state,
    encode_state,
    roll_back,
    std_dumps,
    std_loads,
    written_by,
)
from streams.core.messages import RawMessage, Rejected, encoding_of
from streams.core.registry import UnitRegistry
from streams.core.rollup import BucketKey, Lateness, UnitWindows, apply_receipts
from streams.core.rows import (
    COUNTED_BIT,
    DEAD_LETTER_PREFIX_BYTES,
    DETAIL_MAX_CHARS,
    EVENT_FIELD_COLUMNS,
    RowBatch,
    bits_of,
    windows_of,
)
from streams.core.windows import WINDOW_NAMES, WINDOW_SIZES_MS

Decode = Callable[[EventType, bytes], Event]
"""A wire decoder: (event type, message value) → event, raising
:class:`~streams.core.errors.DecodeError` with a reason code for bad input
(:meth:`streams.kafka.codec.Codec.decode` is the one the worker passes)."""

DecodeBatch = Callable[[EventType, list[bytes]], list[Event | DecodeError]]
"""The batch form of :data:`Decode`: (event type, message values) → per value its event or the
:class:`~streams.core.errors.DecodeError` ``Decode`` raises for it
(:meth:`streams.kafka.codec.Codec.decode_batch`)."""

EVENT_FIELDS: tuple[str, ...] = EVENT_FIELD_COLUMNS
"""Event fields in ``emc.dossier_events`` column order (before the lineage columns)."""


@dataclass(slots=True)
class BatchOutcome:
    """Everything one batch produced."""

    sink_batch: RowBatch = field(default_factory=RowBatch)
    dead_letters: list[Rejected] = field(default_factory=list)
    late: list[Rejected] = field(default_factory=list)
    unit_states: dict[str, UnitWindows] = field(default_factory=dict)
    """Units whose windows changed (write back once each)."""
    dossier_states: dict[str, bytes | None] = field(default_factory=dict)
    """Dossier states that changed (write back once each; ``None`` = expired, delete)."""
    accepted: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class PipelineStats:
    """Running totals since the worker started (for the progress page and the summary)."""

    consumed: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    late_by_unit: Counter[str] = field(default_factory=Counter)
    rollup_rows: int = 0
    last_batch_at_ms: int = 0
    """Wall clock (epoch ms) at which the latest batch began processing."""
    first_batch_at_ms: int = 0
    """Wall clock (epoch ms) at which the first batch began processing."""


_WINDOWS_OF_BITS: tuple[tuple[str, ...], ...] = tuple(
    tuple(windows_of(bits)) for bits in range(1 << len(WINDOW_NAMES))
)
""":func:`windows_of` of every bit set, precomputed."""


@dataclass(slots=True)
class _Item:
    """A fresh (non-duplicate) event of the batch, its dossier's state and where its row goes."""

    msg: RawMessage
    kind: EventType
    event: Event
    key: str
    state: DossierState
    time_ms: int
    """The event's ``event_time``."""
    bits: int = 0


_by_time = attrgetter("time_ms")

assert all(COUNTED_BIT[w] == 1 << i for i, w in enumerate(WINDOW_NAMES))
""":func:`apply_receipts` marks window ``WINDOW_NAMES[i]`` as bit ``1 << i``."""


@dataclass(slots=True)
class _UnitRollups:
    """One unit's rollup rows of the batch, before their rates are computed: its touched
    bucket keys (sorted), their counter vectors (the unit's own arrays, unchanged until the
    batch ends), the wall clock and the version the rows carry."""

    unit_code: str
    keys: list[BucketKey]
    counts: list[npt.NDArray[np.int64]]
    updated_at: int
    version: int


def _event_row_reader(kind: EventType) -> Callable[[Event], tuple[Any, ...]]:
    """A function: ``kind``'s event → its values of ``EVENT_FIELDS[1:]`` (``None`` where the
    type has no such field), as ``ev.get(name)`` per field would give.

    A decoded event has exactly its schema's fields, so one ``itemgetter`` reads them and the
    other types' columns are filled with constant runs of ``None``; an event lacking a field
    (which the codec never produces) takes the per-field path.
    """
    wanted = EVENT_FIELDS[1:]
    names = set(schema_field_names(kind))
    present = [i for i, name in enumerate(wanted) if name in names]

    def per_field(ev: Event) -> tuple[Any, ...]:
        return tuple([ev.get(name) for name in wanted])

    # Positions as at most two runs: lead Nones, run, gap Nones, run, trailing Nones.
    breaks = [j for j in range(1, len(present)) if present[j] != present[j - 1] + 1]
    if len(present) < 2 or len(breaks) > 1:
        return per_field
    split = breaks[0] if breaks else len(present)
    lead = (None,) * present[0]
    gap = (None,) * (present[split] - present[split - 1] - 1) if breaks else ()
    trail = (None,) * (len(wanted) - present[-1] - 1)
    getter = itemgetter(*(wanted[i] for i in present))

    def read(ev: Event) -> tuple[Any, ...]:
        try:
            values = getter(ev)
        except KeyError:
            return per_field(ev)
        return lead + values[:split] + gap + values[split:] + trail

    def read_one_run(ev: Event) -> tuple[Any, ...]:
        try:
            return getter(ev) + trail
        except KeyError:
            return per_field(ev)

    return read_one_run if not breaks and not lead else read


_EVENT_ROW_READERS: dict[EventType, Callable[[Event], tuple[Any, ...]]] = {
    kind: _event_row_reader(kind) for kind in EventType
}


class BatchProcessor:
    """Turns batches of raw lifecycle messages into rows and state changes.

    Per batch, the receipts of all its units are windowed in one numpy pass. Then per unit:
    lifecycle events update the counters of their dossier's receipt buckets, dossiers past their
    due time are marked overdue, lifecycle events still waiting for a receipt past the grace
    period are reported as anomalies, and closed dossiers past retention expire. Every changed
    bucket's full row is emitted once, with a new version (rates for all units at once).
    """

    def __init__(
        self,
        registry: UnitRegistry,
        decode: Decode,
        lateness: Lateness,
        unit_table: MutableMapping[str, bytes],
        dossier_table: MutableMapping[str, bytes],
        clock_ms: Callable[[], int] | None = None,
        lifecycle_grace_ms: int = 86_400_000,
        dossier_retention_ms: int = 30 * 86_400_000,
        json_dumps: JsonDumps = std_dumps,
        json_loads: JsonLoads = std_loads,
        after_validity: str = "dead_letter",
    ) -> None:
        self.registry = registry
        self.after_validity = after_validity
        """``dead_letter``: events after a unit's ``valid_to`` are dead letters
        (``outside_validity``); ``successor``: those of a unit with a successor are accepted
        under their own code (its partition, its windows), reads roll them into the successor."""
        self.decode = decode
        owner = getattr(decode, "__self__", None)
        batch = getattr(owner, "decode_batch", None)
        self._decode_batch: DecodeBatch | None = (
            batch if batch is not None and getattr(owner, "decode", None) == decode else None
        )
        """The batch form of ``decode`` (``decode_batch`` of the object ``decode`` is the
        ``decode`` method of, as :class:`streams.kafka.codec.Codec` has), else ``None``."""
        self.lateness = lateness
        self.unit_table = unit_table
        self.dossier_table = dossier_table
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.lifecycle_grace_ms = lifecycle_grace_ms
        self.dossier_retention_ms = dossier_retention_ms
        self._dumps = json_dumps
        self._loads = json_loads
        self.stats = PipelineStats()
        self.unit_partitions: dict[str, int] = {}
        """unit_code → partition its events arrive on (where its state is written)."""
        self._last_version = 0
        self._unit_cache: dict[str, UnitWindows] = {}
        self._indexed = False
        self._due: dict[str, list[tuple[int, str]]] = defaultdict(list)
        """unit → heap of (due ms, dossier key) of open dossiers."""
        self._expiry: dict[str, list[tuple[int, str]]] = defaultdict(list)
        """unit → heap of (expiry ms, dossier key) of closed dossiers."""
        self._pending: dict[str, list[tuple[int, str]]] = defaultdict(list)
        """unit → heap of (event time ms, dossier key) of events waiting for their receipt (an
        entry whose receipt came since is skipped when popped)."""
        self._loaded: dict[str, bytes | None] = {}
        """Batch-local: each loaded dossier's state as it was before the batch."""
        self._spans: dict[str, tuple[int, int, bytes]] = {}
        """unit_code → (valid from ms, valid until ms (exclusive), code as UTF-8) of units of
        ``_spans_registry`` seen so far: the registry's validity rule without date objects."""
        self._spans_registry: UnitRegistry | None = None

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
        """Drop decoded copies and indexes (after a rebalance the tables are the truth)."""
        self._unit_cache.clear()
        self._due.clear()
        self._expiry.clear()
        self._pending.clear()
        self._indexed = False

    def _build_indexes(self) -> None:
        """Scan the dossier table once (after start or a rebalance) to rebuild the indexes,
        rolling back first every dossier state a crash left ahead of its unit's windows
        (:func:`~streams.core.lifecycle.roll_back`)."""
        table = self.dossier_table
        for key in list(table):
            raw = table.get(key)
            if raw:
                unit_seq = self.unit_windows(key.split("|", 1)[0]).seq
                if written_by(raw) > unit_seq:
                    raw = roll_back(raw, unit_seq)
                    if raw is None:
                        del table[key]
                        continue
                    table[key] = raw
                self._index(key, decode_state(raw, unit_seq, self._loads)[0])
        self._indexed = True

    def _index(self, key: str, state: DossierState) -> None:
        unit = key.split("|", 1)[0]
        for p in state.pending:
            if p.event["event_id"] not in state.flagged:
                heapq.heappush(self._pending[unit], (p.event["event_time"], key))
        if state.open and state.due_ms is not None and not state.overdue_marked:
            heapq.heappush(self._due[unit], (state.due_ms, key))
        if not state.open and state.received_ms is not None:
            closed_at = state.finished_ms if state.finished_ms is not None else state.last_ms
            heapq.heappush(self._expiry[unit], (closed_at + self.dossier_retention_ms, key))

    def _next_version(self) -> int:
        now_us = time.time_ns() // 1000
        self._last_version = max(self._last_version + 1, now_us)
        return self._last_version

    # -- the batch ----------------------------------------------------------------------------
    def process(self, messages: list[RawMessage]) -> BatchOutcome:
        """Decode, validate, deduplicate, window and track lifecycles of one batch.

        The cyclic garbage collector is paused for the batch. The batch's working set (events,
        dossier states, items, rows: tens of thousands of container objects) is acyclic and
        freed by reference counting when the batch ends; left running, the collector walks it
        every few thousand allocations, promotes it to the oldest generation and so keeps
        triggering full collections of the whole heap (measured on the core bench: ten full
        collections in 15 batches, a quarter of the processing time). Cycles, if any, are
        collected after the batch.
        """
        enabled = gc.isenabled()
        if enabled:
            gc.disable()
        try:
            return self._process(messages)
        finally:
            if enabled:
                gc.enable()

    def _process(self, messages: list[RawMessage]) -> BatchOutcome:
        if not self._indexed:
            self._build_indexes()
        if self._spans_registry is not self.registry:
            self._spans.clear()
            self._spans_registry = self.registry
        out = BatchOutcome()
        now_ms = self.clock_ms()
        self._loaded = {}
        states: dict[str, DossierState] = {}
        changed: dict[str, str] = {}
        """Dossier keys whose state changed → their unit (insertion ordered)."""
        by_unit: dict[str, list[_Item]] = {}
        seqs: dict[str, int] = {}
        """unit → its windows' seq before the batch (what loaded dossier states are judged by)."""
        unit_partitions = self.unit_partitions
        for msg, decoded in zip(messages, self._decode_all(messages, out), strict=True):
            if decoded is None:
                continue
            kind, ev = decoded
            unit_code = ev["unit_code"]
            key = f"{unit_code}|{ev['dossier_id']}"
            state = states.get(key)
            if state is None:
                seq = seqs.get(unit_code)
                if seq is None:
                    seq = seqs[unit_code] = self.unit_windows(unit_code).seq
                state = self._load(key, states, seq)
            event_id = ev["event_id"]
            if event_id in state.ids:
                out.duplicates += 1
                continue
            state.ids.append(event_id)
            time_ms = ev["event_time"]
            if time_ms > state.last_ms:
                state.last_ms = time_ms
            changed[key] = unit_code
            unit_partitions[unit_code] = msg.partition
            item = _Item(msg, kind, ev, key, state, time_ms)
            items = by_unit.get(unit_code)
            if items is None:
                by_unit[unit_code] = [item]
            else:
                items.append(item)

        rows: list[tuple[Any, ...]] = []
        windowed = self._window_receipts(by_unit)
        rollups: list[_UnitRollups] = []
        for unit_code, items in by_unit.items():
            rewritten = self._process_unit(
                unit_code, items, windowed.get(unit_code), states, changed, out, rollups
            )
            rows += [self._event_row(it, enc, now_ms) for it, enc in rewritten]
            rows += [
                (
                    it.kind.value,
                    *_EVENT_ROW_READERS[it.kind](it.event),
                    encoding_of(it.msg.value or b""),
                    it.msg.partition,
                    it.msg.offset,
                    it.bits,
                    now_ms,
                )
                for it in items
            ]  # as _event_row, inlined: one row per event of the batch
            out.accepted += len(items)
        self._emit_rollups(rollups, out)
        # Rows to columns in one transposition (``emc.dossier_events`` column order).
        for column, values in zip(out.sink_batch.events, zip(*rows, strict=True), strict=False):
            column.extend(values)
        dossier_states = out.dossier_states
        loaded = self._loaded
        for key, unit_code in changed.items():
            if key not in dossier_states:
                seq = self.unit_windows(unit_code).seq
                dossier_states[key] = encode_state(states[key], seq, loaded[key], self._dumps)
        if out.dead_letters or out.late:
            self._reject_rows(out, now_ms)
        self._account(messages, out, now_ms)
        return out

    def _reject_rows(self, out: BatchOutcome, now_ms: int) -> None:
        """``emc.dead_letters`` rows of the batch's dead letters and late events, so they are
        written with the batch (idempotent: keyed by topic, partition and offset)."""
        batch = out.sink_batch
        for kind, rejected in (("dead_letter", out.dead_letters), ("late", out.late)):
            for r in rejected:
                msg = r.message
                key = None if msg.key is None else msg.key.decode("utf-8", "replace")
                unit_code = r.unit_code
                if unit_code is None and key is not None and key in self.registry:
                    unit_code = key  # undecodable, but the key names a registered unit
                value = msg.value or b""
                batch.add_dead_letter(
                    (
                        msg.topic,
                        msg.partition,
                        msg.offset,
                        kind,
                        r.reason,
                        r.detail[:DETAIL_MAX_CHARS],
                        unit_code,
                        key,
                        msg.timestamp_ms,
                        len(value),
                        base64.b64encode(value[:DEAD_LETTER_PREFIX_BYTES]).decode("ascii"),
                        now_ms,
                    )
                )

    def _state(self, key: str, states: dict[str, DossierState], unit_seq: int) -> DossierState:
        """The dossier's state in this batch (loaded once; ``unit_seq``: its unit's seq)."""
        state = states.get(key)
        if state is None:
            state = self._load(key, states, unit_seq)
        return state

    def _load(self, key: str, states: dict[str, DossierState], unit_seq: int) -> DossierState:
        raw = self.dossier_table.get(key)
        if raw:
            state, self._loaded[key] = decode_state(raw, unit_seq, self._loads)
        else:
            state, self._loaded[key] = DossierState(), None
        states[key] = state
        return state

    def _valid_span(self, unit_code: str) -> tuple[int, int, bytes] | None:
        """(valid from ms, valid until ms, UTF-8 code) of a registered unit, else ``None``.

        :meth:`UnitRegistry.validity`'s rule (valid on local dates ``valid_from`` through
        ``valid_to``) as a half-open range of instants, computed once per unit; open-ended
        after ``valid_to`` for a unit with a successor when ``after_validity`` is
        ``successor``.
        """
        span = self._spans.get(unit_code)
        if span is None:
            unit = self.registry.get(unit_code)
            if unit is None:
                return None
            until = unit.valid_until_ms
            if until is None or (unit.successor is not None and self.after_validity == "successor"):
                until = _NO_END
            span = (unit.valid_from_ms, until, unit.code.encode())
            self._spans[unit_code] = span
        return span

    def _decode_all(
        self, messages: list[RawMessage], out: BatchOutcome
    ) -> list[tuple[EventType, Event] | None]:
        """:meth:`_decode` of every message, in order; the wire decoding done per event type
        for the whole batch at once when the decoder has a batch form (``decode_batch``)."""
        decode_batch = self._decode_batch
        if decode_batch is None:
            return [self._decode(msg, out) for msg in messages]
        positions: dict[EventType, list[int]] = {}
        for i, msg in enumerate(messages):
            kind = TYPE_BY_TOPIC.get(msg.topic)
            if kind is not None and msg.value:
                at = positions.get(kind)
                if at is None:
                    positions[kind] = [i]
                else:
                    at.append(i)
        results: list[Event | DecodeError | None] = [None] * len(messages)
        for kind, at in positions.items():
            decoded = decode_batch(kind, [cast(bytes, messages[i].value) for i in at])
            for i, result in zip(at, decoded, strict=True):
                results[i] = result
        return [self._decode(msg, out, r) for msg, r in zip(messages, results, strict=True)]

    def _decode(
        self, msg: RawMessage, out: BatchOutcome, decoded: Event | DecodeError | None = None
    ) -> tuple[EventType, Event] | None:
        """The message's event type and event if it is valid, else ``None`` and a dead letter
        (``decoded``: its wire decoding, done already for the whole batch)."""
        kind = TYPE_BY_TOPIC.get(msg.topic)
        if kind is None:
            out.dead_letters.append(Rejected(msg, "unknown_topic", msg.topic))
            return None
        if not msg.value:
            out.dead_letters.append(Rejected(msg, "empty_message", "no value"))
            return None
        try:
            if decoded is None:
                ev = self.decode(kind, msg.value)
            elif type(decoded) is dict:
                ev = decoded
            else:
                raise cast(DecodeError, decoded)
        except DecodeError as exc:
            out.dead_letters.append(Rejected(msg, exc.reason, exc.detail))
            return None
        unit_code = ev["unit_code"]
        span = self._valid_span(unit_code)
        if span is None or not span[0] <= ev["event_time"] < span[1]:
            detail = f"unit {unit_code!r} " + (
                "is not in the registry" if span is None else "was not valid at the event time"
            )
            validity = "unknown_unit" if span is None else "outside_validity"
            out.dead_letters.append(Rejected(msg, validity, detail, unit_code))
            return None
        if msg.key != span[2]:  # equal bytes: the key decodes to unit_code
            key = msg.key.decode("utf-8", "replace") if msg.key is not None else None
            if key != unit_code:
                detail = f"message key {key!r} differs from unit_code {unit_code!r}"
                out.dead_letters.append(Rejected(msg, "key_mismatch", detail, unit_code))
                return None
        return kind, ev

    @staticmethod
    def _event_row(it: _Item, encoding: str | None, now_ms: int) -> tuple[Any, ...]:
        """One ``emc.dossier_events`` row (``encoding``: that of an event rewritten from the
        dossier's pending list, whose bytes are no longer at hand)."""
        msg = it.msg
        return (
            it.kind.value,
            *_EVENT_ROW_READERS[it.kind](it.event),
            encoding or encoding_of(msg.value or b""),
            msg.partition,
            msg.offset,
            it.bits,
            now_ms,
        )

    def _window_receipts(
        self, by_unit: dict[str, list[_Item]]
    ) -> dict[str, tuple[list[_Item], set[BucketKey], list[int]]]:
        """Window the batch's receipts of every unit at once (:func:`apply_receipts`).

        Per unit with receipts to count: those receipts (the first of each dossier not yet
        received; a second receipt of a received dossier is recorded, not counted), the buckets
        they changed and per receipt the windows that counted it (bit set; 0 = late)."""
        codes: list[str] = []
        picked: list[list[_Item]] = []
        for unit_code, items in by_unit.items():
            receipts: list[_Item] = []
            seen: set[str] = set()
            for it in items:
                if (
                    it.kind is EventType.RECEIVED
                    and it.state.received_ms is None
                    and it.key not in seen
                ):
                    seen.add(it.key)
                    receipts.append(it)
            if receipts:
                codes.append(unit_code)
                picked.append(receipts)
        if not picked:
            return {}
        flat = [it for receipts in picked for it in receipts]
        unit_of = np.repeat(np.arange(len(picked), dtype=np.int64), [len(r) for r in picked])
        times = np.fromiter((it.time_ms for it in flat), np.int64, len(flat))
        applied = apply_receipts(
            [self.unit_windows(code) for code in codes],
            unit_of,
            times,
            receipt_matrix([it.event for it in flat]),
            self.lateness,
        )
        bits = applied.windows_bits.tolist()
        windowed: dict[str, tuple[list[_Item], set[BucketKey], list[int]]] = {}
        at = 0
        for code, receipts, touched in zip(codes, picked, applied.touched, strict=True):
            windowed[code] = (receipts, touched, bits[at : at + len(receipts)])
            at += len(receipts)
        return windowed

    def _process_unit(
        self,
        unit_code: str,
        items: list[_Item],
        windowed: tuple[list[_Item], set[BucketKey], list[int]] | None,
        states: dict[str, DossierState],
        changed: dict[str, str],
        out: BatchOutcome,
        rollups: list[_UnitRollups],
    ) -> list[tuple[_Item, str | None]]:
        """Track one unit's events of the batch (its receipts are windowed already:
        ``windowed``, from :meth:`_window_receipts`); return event rows to write again (events
        that waited for their receipt and are now counted)."""
        windows = self.unit_windows(unit_code)
        windows.seq += 1
        rewritten: list[tuple[_Item, str | None]] = []
        touched: set[BucketKey] = set()
        lifecycle = [it for it in items if it.kind is not EventType.RECEIVED]
        receipts: list[_Item] = []
        if windowed is not None:
            receipts, counted_in, bits = windowed
            touched |= counted_in
            due = self._due[unit_code]
            for it, counted in zip(receipts, bits, strict=True):
                it.bits = counted
                if not counted:
                    out.late.append(
                        Rejected(
                            it.msg, "late", f"beyond allowed lateness for {unit_code}", unit_code
                        )
                    )
                ev = it.event
                state = it.state
                state.received_ms = it.time_ms
                state.due_ms = ev["due_at"]
                state.online = ev["channel"] == "online"
                state.level = ev["procedure_level"]
                state.fee = FEE_CODES[ev["fee_payment"]]
                state.postal_return = ev["postal_return"]
                state.counted = counted
                if state.due_ms is not None and state.open:
                    heapq.heappush(due, (state.due_ms, it.key))
        # Lifecycle events, in event-time order; then any that waited for a receipt now present.
        lifecycle.sort(key=_by_time)
        for it in lifecycle:
            if it.time_ms > windows.watermark_ms:  # UnitWindows.observe
                windows.watermark_ms = it.time_ms
            it.bits = self._lifecycle(unit_code, it, it.state, windows, touched, out)
        for it in receipts:
            state = it.state
            if state.pending:
                rewritten += self._replay_pending(unit_code, it.key, state, windows, touched, out)
        self._sweep(unit_code, windows, states, changed, touched, out)
        out.unit_states[unit_code] = windows
        version = self._next_version()
        updated_at = self.clock_ms()
        if touched:
            keys = sorted(touched)
            counts = [windows.buckets[key] for key in keys]
            rollups.append(_UnitRollups(unit_code, keys, counts, updated_at, version))
        windows.evict(self.lateness)
        return rewritten

    def _lifecycle(
        self,
        unit_code: str,
        it: _Item,
        state: DossierState,
        windows: UnitWindows,
        touched: set[BucketKey],
        out: BatchOutcome,
    ) -> int:
        """Apply one processed/result/feedback event; return the windows it was counted in."""
        ev = it.event
        if state.received_ms is None:
            state.pending.append(
                Pending(
                    it.kind.value,
                    ev,
                    encoding_of(it.msg.value or b""),
                    it.msg.partition,
                    it.msg.offset,
                )
            )
            heapq.heappush(self._pending[unit_code], (ev["event_time"], it.key))
            return 0
        if it.kind is EventType.PROCESSED:
            stage = STAGE_BY_STATUS[ev["status"]]
            if ev["event_time"] >= state.stage_ms:
                if stage < state.stage:
                    self._anomaly(
                        out,
                        ev,
                        it.kind,
                        "status_backwards",
                        f"status {ev['status']} after stage {state.stage}",
                    )
                state.stage, state.stage_ms = stage, ev["event_time"]
            if ev["status"] in CLOSING_STATUSES and state.finished_ms is None and not state.closed:
                state.closed = True
                self._clear_overdue(unit_code, it.key, state, windows, touched, out)
                self._schedule_expiry(unit_code, it.key, ev["event_time"])
            return 0
        counted = _WINDOWS_OF_BITS[state.counted]
        if it.kind is EventType.RESULT_RETURNED:
            if state.finished_ms is not None:
                return 0
            assert state.received_ms is not None and state.due_ms is not None
            if ev["finished_at"] < state.received_ms or ev["event_time"] < state.received_ms:
                self._anomaly(
                    out,
                    ev,
                    it.kind,
                    "result_before_receipt",
                    f"finished_at {ev['finished_at']} < received {state.received_ms}",
                )
                return 0
            delta = result_delta(
                state.received_ms,
                state.due_ms,
                ev["finished_at"],
                state.online,
                state.level,
                ev["electronic_result"],
                ev["digitised"],
                state.postal_return,
                ev["result_channel"],
                state.fee,
                ev["paid_online"],
            )
            applied = windows.adjust(state.received_ms, delta, counted, touched)
            state.finished_ms = ev["finished_at"]
            self._clear_overdue(unit_code, it.key, state, windows, touched, out)
            self._schedule_expiry(unit_code, it.key, ev["finished_at"])
            return bits_of(applied)
        # feedback: one rating per dossier, its latest by (event_time, event_id)
        assert state.received_ms is not None
        rating, rated_ms, rating_id = ev["rating"], ev["event_time"], ev["event_id"]
        if state.rating is None:
            delta, where = feedback_delta(rating), counted
        elif (rated_ms, rating_id) > (state.rating_ms, state.rating_id):
            # the windows that count the older rating (some may have been evicted since)
            delta, where = (
                rating_change_delta(state.rating, rating),
                _WINDOWS_OF_BITS[state.rating_bits],
            )
        else:
            return 0  # an older rating than the one counted: recorded, not counted
        rated_in = bits_of(windows.adjust(state.received_ms, delta, where, touched))
        state.rating, state.rating_ms, state.rating_id = rating, rated_ms, rating_id
        state.rating_bits = rated_in
        return rated_in

    def _clear_overdue(
        self,
        unit_code: str,
        key: str,
        state: DossierState,
        windows: UnitWindows,
        touched: set[BucketKey],
        out: BatchOutcome,
    ) -> None:
        """A dossier counted overdue got its result or was closed: take it out again.

        One that closes uncounted after its due time has passed at the unit still gets a row
        (nothing marked, nothing cleared): a batch lost in a crash may have marked it in
        ``emc.dossier_overdue`` before a replay, cut into other batches, closed it first; the
        newer row supersedes that mark."""
        if not state.overdue_bits:
            if state.due_ms is not None and state.due_ms < windows.watermark_ms:
                self._overdue_row(out, unit_code, key, state, 0, windows.watermark_ms)
            return
        assert state.received_ms is not None
        cleared = windows.adjust(
            state.received_ms, _OVERDUE_CLEARED, _WINDOWS_OF_BITS[state.overdue_bits], touched
        )
        self._overdue_row(out, unit_code, key, state, bits_of(cleared), windows.watermark_ms)
        state.overdue_bits = 0

    def _replay_pending(
        self,
        unit_code: str,
        key: str,
        state: DossierState,
        windows: UnitWindows,
        touched: set[BucketKey],
        out: BatchOutcome,
    ) -> list[tuple[_Item, str | None]]:
        """The receipt came: apply the events that waited for it; return their rows to rewrite."""
        rewritten: list[tuple[_Item, str | None]] = []
        waiting, state.pending = state.pending, []
        for p in sorted(waiting, key=lambda p: p.event["event_time"]):
            msg = RawMessage(TYPE_TOPIC[p.kind], p.partition, p.offset, None, None)
            it = _Item(msg, EventType(p.kind), p.event, key, state, p.event["event_time"])
            it.bits = self._lifecycle(unit_code, it, state, windows, touched, out)
            if it.bits:
                rewritten.append((it, p.encoding))
        return rewritten

    def _sweep(
        self,
        unit_code: str,
        windows: UnitWindows,
        states: dict[str, DossierState],
        changed: dict[str, str],
        touched: set[BucketKey],
        out: BatchOutcome,
    ) -> None:
        """Time-driven changes at the unit's new watermark: overdue, anomalies, expiry."""
        watermark = windows.watermark_ms
        # Dossiers are judged by the unit's seq before this batch (it was incremented in
        # _process_unit), like those loaded for the batch's events: a state written by this
        # very batch number before a crash lost the unit's write must roll back here too.
        seq = windows.seq - 1
        due = self._due.get(unit_code)
        while due and due[0][0] < watermark:
            _, key = heapq.heappop(due)
            state = self._state(key, states, seq)
            if not state.open or state.overdue_marked or state.received_ms is None:
                continue
            marked = windows.adjust(
                state.received_ms, _OVERDUE_MARKED, _WINDOWS_OF_BITS[state.counted], touched
            )
            state.overdue_marked = True
            state.overdue_bits = bits_of(marked)
            self._overdue_row(out, unit_code, key, state, 0, watermark)
            changed[key] = unit_code
        # Judged on the receipt stream's progress, not on arrival order: a receipt topic consumed
        # behind the others must not make lifecycles look impossible.
        horizon = windows.receipts_ms - self.lifecycle_grace_ms
        waiting = self._pending.get(unit_code)
        while waiting and waiting[0][0] < horizon:
            _, key = heapq.heappop(waiting)
            state = self._state(key, states, seq)
            for p in state.pending:
                ev = p.event
                if ev["event_time"] < horizon and ev["event_id"] not in state.flagged:
                    self._anomaly(
                        out,
                        ev,
                        EventType(p.kind),
                        WITHOUT_RECEIPT[p.kind],
                        "no receipt for this dossier within the grace period",
                    )
                    state.flagged.append(ev["event_id"])
                    changed[key] = unit_code
        expiry = self._expiry.get(unit_code)
        while expiry and expiry[0][0] < watermark:
            _, key = heapq.heappop(expiry)
            state = self._state(key, states, seq)
            if state.open or state.received_ms is None:
                continue
            out.dossier_states[key] = None
            changed.pop(key, None)
            states.pop(key, None)

    def _schedule_expiry(self, unit_code: str, key: str, closed_at_ms: int) -> None:
        heapq.heappush(self._expiry[unit_code], (closed_at_ms + self.dossier_retention_ms, key))

    def _anomaly(
        self, out: BatchOutcome, ev: Event, kind: EventType, reason: str, detail: str
    ) -> None:
        out.sink_batch.add_anomaly(
            (
                ev["unit_code"],
                ev["dossier_id"],
                ev["event_id"],
                kind.value,
                reason,
                detail,
                ev["event_time"],
                self.clock_ms(),
            )
        )
        self.stats.anomalies[reason] += 1

    def _overdue_row(
        self,
        out: BatchOutcome,
        unit_code: str,
        key: str,
        state: DossierState,
        cleared_bits: int,
        watermark: int,
    ) -> None:
        assert state.received_ms is not None and state.due_ms is not None
        out.sink_batch.add_overdue(
            (
                unit_code,
                key.split("|", 1)[1],
                state.received_ms,
                state.due_ms,
                state.overdue_bits,
                cleared_bits,
                watermark,
                self._next_version(),
            )
        )

    @staticmethod
    def _emit_rollups(rollups: list[_UnitRollups], out: BatchOutcome) -> None:
        """Append the full row of every touched bucket of the batch's units, unit by unit
        (``emc.unit_window_rollup`` columns): counters and rates of all of them in one numpy
        pass."""
        if not rollups:
            return
        counts = np.array([c for r in rollups for c in r.counts], dtype=np.int64)
        columns = out.sink_batch.rollups
        for r in rollups:
            n = len(r.keys)
            columns[0].extend([r.unit_code] * n)
            columns[1].extend([window for window, _ in r.keys])
            columns[2].extend([start for _, start in r.keys])
            columns[3].extend([start + WINDOW_SIZES_MS[window] for window, start in r.keys])
        at = 4
        for values in counts.T.tolist():
            columns[at].extend(values)
            at += 1
        for values in rate_columns(counts):
            columns[at].extend(values)
            at += 1
        for r in rollups:
            n = len(r.keys)
            columns[at].extend([r.updated_at] * n)
            columns[at + 1].extend([r.version] * n)

    def _account(self, messages: list[RawMessage], out: BatchOutcome, now_ms: int) -> None:
        s = self.stats
        s.consumed += len(messages)
        s.accepted += out.accepted
        s.duplicates += out.duplicates
        s.late += len(out.late)
        s.batches += 1
        s.rollup_rows += out.sink_batch.rollup_rows
        s.last_batch_at_ms = now_ms
        s.first_batch_at_ms = s.first_batch_at_ms or now_ms
        for rejected in out.dead_letters:
            s.dead_letters[rejected.reason] += 1
        for rejected in out.late:
            s.late_by_unit[rejected.unit_code or "?"] += 1

    def commit_state(self, out: BatchOutcome) -> None:
        """Write the batch's state changes back: once per unit, once per dossier.

        Dossiers first, the unit's windows last: see streams.core.lifecycle.encode_state."""
        dossier_table = self.dossier_table
        for key, value in out.dossier_states.items():
            if value is None:
                if key in dossier_table:
                    del dossier_table[key]
            else:
                dossier_table[key] = value
        for unit_code, windows in out.unit_states.items():
            self.unit_table[unit_code] = windows.to_bytes()


_NO_END = 2**63
"""Valid-until of a unit with no end of validity (past every epoch-ms instant)."""
_OVERDUE_MARKED = overdue_delta(1)
_OVERDUE_CLEARED = overdue_delta(-1)
"""Shared, never written: ``UnitWindows.adjust`` only reads its delta."""
TYPE_TOPIC: dict[str, str] = {kind.value: topic for topic, kind in TYPE_BY_TOPIC.items()}
WITHOUT_RECEIPT: dict[str, str] = {
    EventType.PROCESSED.value: "processed_without_receipt",
    EventType.RESULT_RETURNED.value: "result_without_receipt",
    EventType.FEEDBACK.value: "feedback_without_receipt",
}
