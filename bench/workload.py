"""The benchmark's input: a realistic pre-encoded stream, and synthetic unit registries.

The stream is :func:`streams.traffic.simulate.generate` (all four event types over the registry's
units, with its ~1 % re-sent duplicates) plus late receipts: a share of receipts keeps its
place in the stream but has its ``event_time`` moved back by one to six hours, as a unit that
uploads a backlog would. With the default lateness (1 h for 1-minute windows, 7 days for hour
and day windows) those correct hour/day windows and go past the 1-minute window's lateness.
"""

from __future__ import annotations

import csv
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.core.messages import RawMessage
from streams.core.registry import UnitRegistry
from streams.kafka.errors import BrokerError
from streams.kafka.produce import Encoding, encode_event
from streams.kafka.topics import ALL_TOPICS
from streams.traffic.simulate import HOUR_MS, generate

TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Explicit topic configs: tansu returns only configs set at creation in DescribeConfigs, and
Quix Streams needs ``retention.ms`` of its input topics to derive its changelog topics."""


@dataclass
class Workload:
    """Encoded messages in produce order and what is in them."""

    messages: list[tuple[str, bytes, bytes]]
    """(topic, key, value) in produce order."""
    by_type: dict[str, int]
    duplicates: int
    """Messages repeating an earlier event_id (re-sends)."""
    late_receipts: int
    """Receipts whose event_time was moved back by hours."""
    units: int
    encoding: str
    bytes_total: int
    event_span_s: float
    """Event-time span of the stream, seconds."""
    expected_per_unit: Counter[str] = field(default_factory=Counter)

    def raw_messages(self, partitions: int) -> list[RawMessage]:
        """The messages as the worker's feed hands them to the pipeline, without a broker: each
        unit's on one partition (a stable hash of its key), offsets counted per topic and
        partition."""
        offsets: Counter[tuple[str, int]] = Counter()
        out: list[RawMessage] = []
        for topic, key, value in self.messages:
            partition = zlib.crc32(key) % partitions
            out.append(RawMessage(topic, partition, offsets[(topic, partition)], key, value))
            offsets[(topic, partition)] += 1
        return out

    def summary(self) -> dict[str, object]:
        return {
            "events": len(self.messages),
            "by_type": self.by_type,
            "duplicates": self.duplicates,
            "late_receipts": self.late_receipts,
            "units": self.units,
            "encoding": self.encoding,
            "avg_message_bytes": round(self.bytes_total / max(1, len(self.messages)), 1),
            "event_span_s": round(self.event_span_s, 1),
        }


def build_workload(
    registry: UnitRegistry,
    n_events: int,
    encoding: Encoding,
    *,
    seed: int = 7,
    late_share: float = 0.03,
    rate_per_s: float = 2_000.0,
    time_scale: float = 1e-4,
    end_ms: int | None = None,
) -> Workload:
    """``n_events`` simulated events encoded per ``encoding``, ``late_share`` of receipts late.

    ``time_scale=1e-4`` squeezes lifecycles (deadlines of days) into minutes, so results and
    feedback appear within the stream; event times end about ``end_ms`` (default: now − 1 h).
    """
    end = end_ms if end_ms is not None else int(time.time() * 1000) - HOUR_MS
    span_guess_ms = int(n_events / rate_per_s * 1000 * 1.5) + 60_000
    events = generate(
        registry, n_events, end - span_guess_ms, seed=seed, rate_per_s=rate_per_s,
        time_scale=time_scale,
    )  # fmt: skip
    rng = random.Random(seed)
    seen: set[str] = set()
    duplicates = late = total_bytes = 0
    by_type: Counter[str] = Counter()
    per_unit: Counter[str] = Counter()
    shifted: dict[str, int] = {}
    messages: list[tuple[str, bytes, bytes]] = []
    for kind, event in events:
        event_id = event["event_id"]
        if event_id in seen:
            duplicates += 1
            if event_id in shifted:  # a re-send repeats the late event exactly
                event = {**event, "event_time": shifted[event_id]}
        else:
            seen.add(event_id)
            if kind is EventType.RECEIVED and rng.random() < late_share:
                event = {**event, "event_time": event["event_time"] - rng.randint(1, 6) * HOUR_MS}
                shifted[event_id] = event["event_time"]
                late += 1
        value = encode_event(kind, event, encoding)
        total_bytes += len(value)
        by_type[kind.value] += 1
        per_unit[event["unit_code"]] += 1
        messages.append((TOPIC_BY_TYPE[kind], event["unit_code"].encode(), value))
    times = [e["event_time"] for _, e in events]
    return Workload(
        messages=messages,
        by_type=dict(by_type),
        duplicates=duplicates,
        late_receipts=late,
        units=len(per_unit),
        encoding=encoding,
        bytes_total=total_bytes,
        event_span_s=(max(times) - min(times)) / 1000 if times else 0.0,
        expected_per_unit=per_unit,
    )


def create_topics(
    bootstrap: str, partitions: int, topics: Iterable[str] = ALL_TOPICS, timeout_s: float = 15.0
) -> None:
    """Create ``topics`` with ``partitions`` each and explicit retention configs."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(t, partitions, 1, config=dict(TOPIC_CONFIG)) for t in topics],
        request_timeout=timeout_s,
    )
    for topic, future in futures.items():
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"cannot create topic {topic}: {exc}") from exc


def produce_all(
    bootstrap: str, messages: list[tuple[str, bytes, bytes]], timeout_s: float = 300.0
) -> dict[tuple[str, int], int]:
    """Produce ``messages`` as fast as the broker takes them; (topic, partition) → last offset.

    Same partitioner as :class:`streams.kafka.produce.EventProducer` (murmur2), so a unit's events
    share a partition number on all four topics.
    """
    last: dict[tuple[str, int], int] = {}
    errors: list[str] = []

    def delivered(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))
            return
        tp = (msg.topic(), msg.partition())  # type: ignore[attr-defined]
        last[tp] = max(last.get(tp, -1), msg.offset())  # type: ignore[attr-defined]

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(timeout_s)
    if remaining or errors:
        raise BrokerError(f"produce failed: {remaining} undelivered, errors {errors[:1]}")
    return last


def write_units_csv(path: Path, n_units: int, base: UnitRegistry | None = None) -> Path:
    """A registry of ``n_units`` synthetic units (commune level), valid since 2022-06-24.

    Codes ``XA_00001``…, kind ``province`` (the registry knows no commune kind); the ``base``
    registry's units come first when given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit_code", "name_vi", "kind", "valid_from", "valid_to", "vendor"])
        count = 0
        for unit in base.units if base is not None else ():
            if count >= n_units:
                break
            writer.writerow(
                [unit.code, unit.name_vi, unit.kind, unit.valid_from.isoformat(),
                 unit.valid_to.isoformat() if unit.valid_to else "", unit.vendor]
            )  # fmt: skip
            count += 1
        serial = 0
        while count < n_units:
            serial += 1
            writer.writerow(
                [f"XA_{serial:05d}", f"UBND xã {serial}", "province", "2022-06-24", "", "VNPT"]
            )
            count += 1
    return path
