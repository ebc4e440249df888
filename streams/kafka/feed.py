"""Bulk feed: the lifecycle topics fetched in whole batches and handed to the Faust agent.

Faust's own consumer turns every Kafka record into a Message, an Event and a trip through its
stream with an awaited callback each (docs/design.md: an empty agent tops out at ~12–13k
events/s here). The worker therefore leaves Faust's consumer off and feeds its agent from this
class instead: one confluent-kafka consumer (librdkafka fetches in its own threads) in a thread of
its own, ``consume(batch_max_events, batch_within_s)`` at a time, each result one
:class:`Batch` sent to the agent's in-memory channel. The agent stays the processing model; what
changes is that it receives a batch per channel event instead of an event per record.

Offsets: the worker calls :meth:`BulkFeed.done` once a batch's rows are in ClickHouse and its
state is written; this thread then flushes the producer (state changelog, dead letters, late
events) and only after that commits the batch's offsets, so offsets never pass what ClickHouse
accepted or what the changelog holds. At most ``max_in_flight`` batches are handed on and not done;
beyond that the feed waits, and after a few seconds of waiting pauses its partitions and keeps
polling, so it stays in the group while, say, ClickHouse is down.

Rebalances (eager, ``range``: every lifecycle topic's partition N goes to the same worker, and so
does the state of partition N): on revoke the feed waits for the batches in flight, commits them
and lets go; on assign it restores the assigned partitions' state from the changelog before the
first batch of them is handed on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from streams.core.events import LIFECYCLE_TOPICS
from streams.core.messages import RawMessage
from streams.kafka.state_store import StateStore

log = logging.getLogger("emc.feed")


@dataclass(slots=True)
class Batch:
    """Records fetched together, and the offsets that become committable once they are done."""

    messages: list[RawMessage]
    offsets: dict[tuple[str, int], int]
    """(topic, partition) → next offset to read (last offset in the batch + 1)."""


def to_raw(batch: list[Any]) -> tuple[list[RawMessage], dict[tuple[str, int], int]]:
    """confluent-kafka messages → RawMessages and the next offset per partition (errors logged
    and skipped: they carry no record)."""
    messages: list[RawMessage] = []
    offsets: dict[tuple[str, int], int] = {}
    append = messages.append
    for m in batch:
        if m.error() is not None:
            log.warning("consumer reported %s", m.error())
            continue
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        kind, ts = m.timestamp()
        append(RawMessage(topic, partition, offset, m.key(), m.value(), ts if kind else None))
        offsets[(topic, partition)] = offset + 1
    return messages, offsets


class BulkFeed:
    """A consumer thread that hands batches to ``deliver`` and commits what ``done`` reports."""

    def __init__(
        self,
        consumer_config: dict[str, Any],
        producer: Producer,
        store: StateStore,
        deliver: Callable[[Batch], None],
        *,
        batch_max_events: int,
        batch_within_s: float,
        max_in_flight: int = 2,
        on_assigned: Callable[[], None] | None = None,
        topics: tuple[str, ...] = LIFECYCLE_TOPICS,
    ) -> None:
        self._config = consumer_config
        self._producer = producer
        self._store = store
        self._deliver = deliver
        self._max = batch_max_events
        self._within = batch_within_s
        self._max_in_flight = max_in_flight
        self._on_assigned = on_assigned
        self._topics = topics
        self._cond = threading.Condition()
        self._in_flight = 0
        self._finished: deque[Batch] = deque()
        self._to_commit: dict[tuple[str, int], int] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._paused = False
        self.assignment: list[tuple[str, int]] = []
        """(topic, partition) pairs currently assigned to this worker."""
        self.restores: list[dict[str, Any]] = []
        """One entry per restore: partitions, records, keys, seconds."""
        self.error: BaseException | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emc-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop fetching, commit what is done, leave the group (blocking; call off the loop)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- called from the ClickHouse thread -------------------------------------------------------
    def done(self, batch: Batch) -> None:
        """``batch`` is finished: its rows are in ClickHouse, its state changelog is queued."""
        with self._cond:
            self._finished.append(batch)
            self._cond.notify_all()

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            consumer = Consumer(self._config)
            self._consumer = consumer
            consumer.subscribe(
                list(self._topics), on_assign=self._assigned, on_revoke=self._revoked
            )
            stalled_since: float | None = None
            while not self._stopping.is_set():
                self._commit_finished()
                if self._in_flight >= self._max_in_flight:
                    # Wait for the agent without fetching. Pausing would drop what librdkafka has
                    # prefetched (fetched again on resume), so only a long stall — ClickHouse
                    # down, say — pauses, and then keeps polling to stay in the group.
                    now = time.monotonic()
                    stalled_since = stalled_since or now
                    if now - stalled_since > _PAUSE_AFTER_S:
                        self._pause(True)
                        consumer.consume(1, 0.05)  # paused: serves callbacks, returns nothing
                    else:
                        with self._cond:
                            if not self._finished:
                                self._cond.wait(0.05)
                    continue
                stalled_since = None
                self._pause(False)
                fetched = consumer.consume(self._max, self._within)
                if not fetched:
                    continue
                messages, offsets = to_raw(fetched)
                if not offsets:
                    continue
                with self._cond:
                    self._in_flight += 1
                self._deliver(Batch(messages, offsets))
            self._wait_in_flight(10.0)
            self._commit_finished()
            consumer.close()
        except BaseException as exc:  # reported to the worker, which stops
            self.error = exc
            log.exception("bulk feed stopped")

    def _pause(self, pause: bool) -> None:
        if pause == self._paused or self._consumer is None:
            return
        parts = [TopicPartition(t, p) for t, p in self.assignment]
        if parts:
            (self._consumer.pause if pause else self._consumer.resume)(parts)
        self._paused = pause

    def _commit_finished(self) -> None:
        """Flush the producer, then commit the offsets of every finished batch."""
        with self._cond:
            finished = list(self._finished)
            self._finished.clear()
        if not finished and not self._to_commit:
            return
        for batch in finished:
            for tp, offset in batch.offsets.items():
                if offset > self._to_commit.get(tp, -1):
                    self._to_commit[tp] = offset
        while self._producer.flush(1.0):
            if self._store.failure is not None:
                break
            if self._stopping.is_set():
                # Offsets must never pass a changelog that is not durable: leave them
                # uncommitted, and the next owner replays these batches.
                log.warning("stopping with state changelog records unsent; offsets not committed")
                self._to_commit.clear()
                with self._cond:
                    self._in_flight -= len(finished)
                    self._cond.notify_all()
                return
            log.warning("waiting for the broker to take the state changelog")
        if self._store.failure is not None:
            raise RuntimeError(f"state changelog write failed: {self._store.failure}")
        assigned = set(self.assignment)
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._to_commit.items()]
        offsets = [tp for tp in offsets if (tp.topic, tp.partition) in assigned]
        if offsets and self._consumer is not None:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
                self._to_commit.clear()
            except KafkaException as exc:
                log.warning("offset commit failed (%s); retrying with the next batch", exc)
        else:
            self._to_commit.clear()
        with self._cond:
            self._in_flight -= len(finished)
            self._cond.notify_all()

    def _wait_in_flight(self, timeout_s: float | None = None) -> None:
        """Block until every batch handed on is done (``timeout_s``: give up after that)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        next_note = time.monotonic() + 10.0
        with self._cond:
            while self._in_flight - len(self._finished) > 0:
                if deadline is not None and time.monotonic() > deadline:
                    return
                self._cond.wait(0.1)
                if time.monotonic() > next_note:
                    log.warning("rebalance waits for %d batch(es) in flight", self._in_flight)
                    next_note = time.monotonic() + 10.0

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._wait_in_flight(None if not self._stopping.is_set() else 10.0)
        self._commit_finished()
        self.assignment = []
        self._paused = False
        log.info("partitions revoked: %d", len(partitions))

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment = sorted((tp.topic, tp.partition) for tp in partitions)
        self._paused = False
        numbers = {tp.partition for tp in partitions}
        held = self._store.partitions()
        self._store.drop_partitions(held - numbers)
        # Always re-read: another worker may have written these partitions since we held them.
        stats = self._store.restore(
            numbers,
            {k: v for k, v in self._config.items() if k.startswith(_RESTORE_PREFIXES)},
            progress=lambda n: log.info("restoring state: %d records", n),
        )
        self.restores.append(
            {
                "partitions": list(stats.partitions),
                "records": stats.records,
                "keys": stats.keys,
                "seconds": round(stats.seconds, 3),
            }
        )
        log.info(
            "assigned partitions %s; state restored: %d records, %d keys in %.2f s",
            sorted(numbers),
            stats.records,
            stats.keys,
            stats.seconds,
        )
        if self._on_assigned is not None:
            self._on_assigned()


_PAUSE_AFTER_S = 5.0
"""A feed that waited this long (seconds) for the agent pauses its partitions and polls."""

_RESTORE_PREFIXES = ("bootstrap.", "group.id", "security.", "sasl.", "ssl.", "client.")
"""Consumer settings the restore consumer shares with the feed (connection and identity)."""
