"""Producing lifecycle events to Kafka (the simulator and tests use it; TTHC systems do the same).

Messages are keyed by unit_code and partitioned with murmur2 (Apache Kafka's Java default), so a
unit's events land in the same partition number on all four topics.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any, Literal

from confluent_kafka import KafkaException, Producer

from streams.core.events import TOPIC_BY_TYPE, Event, EventType
from streams.kafka.codec import encode_avro, encode_json
from streams.kafka.errors import BrokerError
from streams.kafka.topics import client_config

Encoding = Literal["json", "avro", "mixed"]


def encode_event(kind: EventType, event: Event, encoding: Encoding) -> bytes:
    """Wire bytes of ``event``. ``mixed``: a stable half of the units send Avro, the rest JSON."""
    if encoding == "mixed":
        encoding = "avro" if zlib.crc32(event["unit_code"].encode()) % 2 else "json"
    return encode_avro(kind, event) if encoding == "avro" else encode_json(event)


class EventProducer:
    """A confluent-kafka producer for lifecycle events (idempotent, murmur2-partitioned)."""

    def __init__(
        self, bootstrap_servers: str | Mapping[str, Any], encoding: Encoding = "mixed"
    ) -> None:
        """``bootstrap_servers``: a ``host:port`` list or a librdkafka client configuration
        (with SASL/TLS, :meth:`streams.settings.KafkaSettings.client_config`)."""
        self.encoding = encoding
        self.sent = 0
        self.last_offsets: dict[tuple[str, int], int] = {}
        """(topic, partition) → highest offset acknowledged by the broker."""
        self._errors: list[str] = []
        self._producer = Producer(
            {
                **client_config(bootstrap_servers),
                "partitioner": "murmur2_random",
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "none",
            }
        )

    def send(self, kind: EventType, event: Event) -> None:
        """Queue one event (encoded per :attr:`encoding`)."""
        self.send_raw(
            TOPIC_BY_TYPE[kind],
            event["unit_code"].encode(),
            encode_event(kind, event, self.encoding),
        )

    def send_raw(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue raw bytes on ``topic`` (for tests of bad input)."""
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    def send_all(self, events: Iterable[tuple[EventType, Event]]) -> int:
        n = 0
        for kind, event in events:
            self.send(kind, event)
            n += 1
        return n

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued message is acknowledged; raise if any failed."""
        try:
            remaining = self._producer.flush(timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"produce failed: {exc}") from exc
        if remaining:
            raise BrokerError(f"{remaining} messages not delivered within {timeout_s:.0f} s")
        if self._errors:
            raise BrokerError(f"{len(self._errors)} messages failed: {self._errors[0]}")

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then release the client (no reconnect attempts after the broker is gone)."""
        try:
            self.flush(timeout_s)
        finally:
            self._producer = None  # type: ignore[assignment]

    def _delivered(self, err: object, msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))
            return
        tp = (msg.topic(), msg.partition())
        self.last_offsets[tp] = max(self.last_offsets.get(tp, -1), msg.offset())


class AcknowledgedProducer:
    """A confluent-kafka producer whose sends return a future resolved when the broker
    acknowledges the record (or fails), for callers that must answer only after that — the
    HTTP ingest answers a tracking call once its event is durable on the broker.

    A daemon thread serves librdkafka's delivery callbacks; futures are
    :class:`concurrent.futures.Future` (wrap with :func:`asyncio.wrap_future` on a loop).
    Idempotent, murmur2-partitioned like :class:`EventProducer`.
    """

    def __init__(
        self, bootstrap_servers: str | Mapping[str, Any], encoding: Encoding = "avro"
    ) -> None:
        self.encoding = encoding
        self._producer = Producer(
            {
                **client_config(bootstrap_servers),
                "partitioner": "murmur2_random",
                "enable.idempotence": True,
                "linger.ms": 2,
            }
        )
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="ingest-producer", daemon=True)
        self._poller.start()

    def send(self, kind: EventType, event: Event) -> Future[tuple[str, int, int]]:
        """Queue ``event`` on its type's topic (key = unit_code); the future gives
        ``(topic, partition, offset)`` once acknowledged, or raises :class:`BrokerError`."""
        future: Future[tuple[str, int, int]] = Future()

        def delivered(err: object, msg: Any) -> None:
            if err is not None:
                future.set_exception(BrokerError(f"produce failed: {err}"))
            else:
                future.set_result((msg.topic(), msg.partition(), msg.offset()))

        value = encode_event(kind, event, self.encoding)
        while True:
            try:
                self._producer.produce(
                    TOPIC_BY_TYPE[kind],
                    value=value,
                    key=event["unit_code"].encode(),
                    on_delivery=delivered,
                )
                return future
            except BufferError:
                time.sleep(0.005)  # the poll thread drains the queue
            except KafkaException as exc:
                raise BrokerError(f"produce failed: {exc}") from exc

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.05)

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (at most ``timeout_s`` seconds), then stop the poll thread."""
        try:
            self._producer.flush(timeout_s)
        finally:
            self._stopping.set()
            self._poller.join(timeout_s)
