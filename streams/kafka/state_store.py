"""The worker's state: unit window buckets and dossier lifecycles, backed by one changelog topic.

Keys are ``unit_code`` (the unit's window buckets, streams/core/rollup.py) and
``unit_code|dossier_id`` (a dossier's lifecycle, streams/lifecycle.py). Every key belongs to its
unit's partition: the partition number the unit's events arrive on (the lifecycle topics share a
partition count and are keyed by unit_code, so that number is the same on all four).

Values live in memory (a dict) or on disk (RocksDB through rocksdict, ``EMC_STREAM__STORE``).
Every write is also produced to the changelog topic ``{group_id}-unit_state-changelog``
(compacted; the same name and record layout the Faust table used before, so state carries over),
and the changelog is the truth: when the worker is given a partition it reads that partition of
the changelog from the beginning up to a marker record it wrote just before. It never trusts end
offsets, which tansu reports wrong after multi-record batches (docs/design.md), so the changelog
producer can batch freely.

Writes within a batch keep their order per partition (one idempotent producer), which is what the
crash-consistency scheme of streams/lifecycle.py relies on: a batch's dossier states first, its
unit's windows last.

A unit's windows are held here as one value but logged as one record per changed bucket and a
header (streams/kafka/unit_records.py), and a restore puts them back together, rolling back (and
rewriting) bucket records a lost header left ahead of it.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from streams.kafka.errors import BrokerError
from streams.kafka.unit_records import (
    BUCKET_SEPARATOR,
    SPLIT_FROM_BYTES,
    Windows,
    assemble,
    bucket_key,
    bucket_of_key,
    parse,
    split_records,
)

log = logging.getLogger("emc.state")

MARKER_KEY = b"\x00emc.restore-marker"
"""Key of the changelog records that mark how far a restore must read (never a state key)."""


def changelog_topic(group_id: str) -> str:
    """The state changelog topic of consumer group ``group_id``."""
    return f"{group_id}-unit_state-changelog"


def unit_of(key: str) -> str:
    """The unit code a state key belongs to."""
    return key.split("|", 1)[0]


class KeySubset(MutableMapping[str, bytes]):
    """The part of a mapping whose keys ``keys()`` lists (reads and writes pass through)."""

    def __init__(self, inner: MutableMapping[str, bytes], keys: Callable[[], Iterator[str]]):
        self._inner = inner
        self._keys = keys

    def __getitem__(self, key: str) -> bytes:
        return self._inner[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._inner.get(key, default)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._inner[key] = value

    def __delitem__(self, key: str) -> None:
        del self._inner[key]

    def __contains__(self, key: object) -> bool:
        return key in self._inner

    def __iter__(self) -> Iterator[str]:
        return self._keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())


def rocks_options(memory_mib: int) -> Any:
    """rocksdict options whose memory is bounded by ``memory_mib`` MiB: one LRU block cache of
    that size holds the data blocks, and the memtables are charged to it (a
    ``WriteBufferManager`` limited to half of it, two write buffers of a quarter each), so cache
    and memtables together stay within the bound. (RocksDB's defaults: 64 MiB write buffers, up
    to two per column family, beside an 8 MiB cache.)

    Each table file has a bloom filter of 10 bits per key, so looking up a dossier that is not
    in the store (every new dossier's receipt) reads no data block. Index and filter blocks
    stay outside the cache, about 1.5 bytes per key: charged to a cache this small, they were
    evicted by data blocks and read again on nearly every lookup (1.0–1.2 ms per get at
    1,000,000 keys of 500 bytes and a 64 MiB bound, against 4.6 µs per hit and 2.1 µs per miss
    this way; measured with rocksdict on this project's machine)."""
    from rocksdict import BlockBasedOptions, Cache, Options, WriteBufferManager

    total = memory_mib * 1024 * 1024
    cache = Cache(total)
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    table.set_bloom_filter(10, False)
    options = Options(raw_mode=True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_size(total // 4)
    options.set_max_write_buffer_number(2)
    options.set_write_buffer_manager(
        WriteBufferManager.new_write_buffer_manager_with_cache(total // 2, False, cache)
    )
    return options


class RocksValues(MutableMapping[str, bytes]):
    """``str → bytes`` in a RocksDB database (rocksdict, raw mode) at ``path``, its memory
    bounded by ``memory_mib`` MiB (:func:`rocks_options`).

    A cache of the changelog, not a source of truth: it is emptied when opened and filled by the
    restore of each assigned partition.
    """

    def __init__(self, path: Path, memory_mib: int = 64) -> None:
        from rocksdict import Rdict

        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = Rdict(str(path), rocks_options(memory_mib))

    def __getitem__(self, key: str) -> bytes:
        value = self._db.get(key.encode())
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._db.get(key.encode())
        return default if value is None else bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._db[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        self._db.delete(key.encode())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._db.get(key.encode()) is not None

    def __iter__(self) -> Iterator[str]:
        # keys(), not iter(): a raw-mode Rdict refuses plain iteration
        return (k.decode() for k in self._db.keys() if isinstance(k, bytes))  # noqa: SIM118

    def __len__(self) -> int:
        return sum(1 for _ in self._db.keys())  # noqa: SIM118

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True, slots=True)
class RestoreStats:
    """What one restore read: records applied and seconds taken, per partition set."""

    partitions: tuple[int, ...]
    records: int
    keys: int
    seconds: float


class StateStore(MutableMapping[str, bytes]):
    """Worker state: reads from the local values, writes to them and to the changelog.

    ``unit_partitions`` (unit_code → partition) says where a unit's keys go; the pipeline fills it
    from the partitions events arrive on and a restore from the changelog partition it read.
    """

    def __init__(
        self,
        values: MutableMapping[str, bytes],
        producer: Producer | None,
        topic: str,
        split_from_bytes: int = SPLIT_FROM_BYTES,
    ) -> None:
        self._values = values
        self.split_from_bytes = split_from_bytes
        """Unit windows values from this size are logged as bucket records, smaller ones whole."""
        self._producer = producer
        self.topic = topic
        self.unit_partitions: dict[str, int] = {}
        self.failure: KafkaError | None = None
        """The first changelog write the broker refused for good (offsets must not move)."""
        self._held: list[tuple[bytes, bytes | None, int]] | None = None
        self._logged: dict[str, Windows] = {}
        """Units whose windows the changelog holds as bucket records (streams/kafka/
        unit_records.py), with their value as last written, taken apart (what the next write
        is compared with); any other unit's next write logs every bucket."""

    # -- mapping -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> bytes:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __setitem__(self, key: str, value: bytes) -> None:
        if "|" in key or self._producer is None:
            self._values[key] = value
            self._log(key, value)
            return
        # the value held before is needed only to split a unit not yet logged as buckets
        split = len(value) >= self.split_from_bytes and key not in self._logged
        old = self._values.get(key) if split else None
        self._values[key] = value
        self._log_windows(key, old, value)

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        windows = self._logged.pop(key, None) if "|" not in key else None
        for bucket in windows.rows if windows is not None else ():
            self._log(bucket_key(key, bucket), None, key)
        self._log(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # -- changelog -----------------------------------------------------------------------------
    def _log(self, key: str, value: bytes | None, unit_code: str | None = None) -> None:
        """Queue (or hold) one changelog record, on the partition of ``unit_code`` (default:
        the unit ``key`` belongs to)."""
        if self._producer is None:
            return
        partition = self.unit_partitions.get(unit_code or unit_of(key))
        if partition is None:
            raise KeyError(f"no partition known for the unit of state key {key!r}")
        if self._held is not None:
            self._held.append((key.encode(), value, partition))
        else:
            produce(self._producer, self.topic, key.encode(), value, partition)

    def _log_windows(self, unit_code: str, old: bytes | None, value: bytes) -> None:
        """Log a unit's windows going to ``value``: the buckets changed since its last write
        (or since ``old``, the value held, for a unit not yet logged as buckets), the header,
        the evicted buckets' tombstones (:func:`~streams.kafka.unit_records.split_records`);
        or ``value`` whole if it is small or not a windows value, then tombstones for the
        bucket records it replaces."""
        if BUCKET_SEPARATOR in unit_code:
            raise KeyError(f"a unit code cannot hold {BUCKET_SEPARATOR!r}: {unit_code!r}")
        new = parse(value) if len(value) >= self.split_from_bytes else None
        if new is None:  # whole: small, or not a windows value
            self._log(unit_code, value)
            was = self._logged.pop(unit_code, None)
            for bucket in was.rows if was is not None else ():
                self._log(bucket_key(unit_code, bucket), None, unit_code)
            return
        before = self._logged.get(unit_code)
        logged = before is not None
        records, header, gone = split_records(
            unit_code, before if logged else parse(old), new, logged
        )
        for key, record in records:
            self._log(key, record, unit_code)
        self._log(unit_code, header)
        for key in gone:
            self._log(key, None, unit_code)
        self._logged[unit_code] = new

    def holding(self, write: Callable[[], None]) -> list[tuple[bytes, bytes | None, int]]:
        """Run ``write()`` against the local values now and return its changelog records instead
        of producing them: the caller releases them (:meth:`release`) once it is safe for the
        writes to become durable (after ClickHouse took the batch's rows)."""
        self._held = []
        try:
            write()
            return self._held
        finally:
            self._held = None

    def release(self, records: list[tuple[bytes, bytes | None, int]]) -> None:
        """Produce changelog records returned by :meth:`holding`, in their order."""
        if self._producer is None:
            return
        for key, value, partition in records:
            produce(self._producer, self.topic, key, value, partition)

    def on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        """Producer delivery callback (errors only): remember the first lasting failure."""
        if err is not None and self.failure is None:
            self.failure = err
            log.error("state changelog write failed for good: %s", err)

    # -- partitions ----------------------------------------------------------------------------
    def partitions(self) -> set[int]:
        """Partitions whose state is held here."""
        return set(self.unit_partitions.values())

    def drop_partitions(self, partitions: Iterable[int]) -> int:
        """Forget the local state of ``partitions`` (no changelog records); return keys dropped."""
        gone = set(partitions)
        units = {u for u, p in self.unit_partitions.items() if p in gone}
        if not units:
            return 0
        doomed = [k for k in self._values if unit_of(k) in units]
        for key in doomed:
            del self._values[key]
        for unit in units:
            del self.unit_partitions[unit]
            self._logged.pop(unit, None)
        return len(doomed)

    def restore(
        self,
        partitions: Iterable[int],
        consumer_config: dict[str, Any],
        *,
        stall_timeout_s: float = 60.0,
        progress: Callable[[int], None] | None = None,
    ) -> RestoreStats:
        """Replace the local state of ``partitions`` by what their changelog holds.

        Writes one marker record to each partition, then reads each from its beginning up to its
        marker: everything written before the marker, whatever end offset the broker reports.
        ``progress(records)`` is called every 100,000 records.
        """
        wanted = sorted(set(partitions))
        started = time.monotonic()
        self.drop_partitions(wanted)
        if not wanted:
            return RestoreStats((), 0, 0, 0.0)
        if self._producer is None:
            raise BrokerError("a state restore needs the changelog producer")
        token = uuid.uuid4().bytes
        for p in wanted:
            produce(self._producer, self.topic, MARKER_KEY, token, p)
        if self._producer.flush(30.0):
            raise BrokerError(f"could not write restore markers to {self.topic}")
        consumer = Consumer(
            {
                **consumer_config,
                "group.id": f"{consumer_config.get('group.id', 'emc')}-restore",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        open_parts = set(wanted)
        records = keys = 0
        values = self._values
        heads: dict[str, bytes | None] = {}
        """Unit code → its latest unit-key record (``None``: tombstoned)."""
        buckets: dict[str, dict[bytes, bytes]] = {}
        """Unit code → row prefix → its latest bucket record."""
        try:
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in wanted])
            last_progress = time.monotonic()
            while open_parts:
                batch = consumer.consume(10_000, 0.5)
                if not batch:
                    if time.monotonic() - last_progress > stall_timeout_s:
                        raise BrokerError(
                            f"state restore of {self.topic} {sorted(open_parts)} stalled for "
                            f"{stall_timeout_s:.0f} s before its marker"
                        )
                    continue
                last_progress = time.monotonic()
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        raise BrokerError(f"reading {self.topic}: {err}")
                    p = msg.partition() or 0
                    if p not in open_parts:
                        continue  # past this partition's marker: a later writer's, not ours
                    key = msg.key()
                    if key == MARKER_KEY:
                        if msg.value() == token:
                            open_parts.discard(p)
                            consumer.pause([TopicPartition(self.topic, p)])
                        continue
                    if key is None:
                        continue  # not a state record
                    records += 1
                    text = key.decode()
                    value = msg.value()
                    if "|" in text:  # a dossier: its value as written
                        # The partitions were dropped first, so ``keys`` counts what they hold.
                        if value is None:
                            if values.pop(text, None) is not None:
                                keys -= 1
                        else:
                            if text not in values:
                                keys += 1
                            values[text] = value
                            self.unit_partitions[unit_of(text)] = p
                    elif (bucket := bucket_of_key(text)) is not None:
                        unit_buckets = buckets.setdefault(bucket[0], {})
                        if value is None:
                            unit_buckets.pop(bucket[1], None)
                        else:
                            unit_buckets[bucket[1]] = value
                        self.unit_partitions.setdefault(bucket[0], p)
                    else:
                        heads[text] = value
                        if value is not None:
                            self.unit_partitions[text] = p
                    if progress is not None and records % 100_000 == 0:
                        progress(records)
        finally:
            consumer.close()
        keys += self._assemble_units(heads, buckets)
        return RestoreStats(tuple(wanted), records, keys, time.monotonic() - started)

    def _assemble_units(
        self, heads: dict[str, bytes | None], buckets: dict[str, dict[bytes, bytes]]
    ) -> int:
        """Put the restored units' windows into the local values
        (:func:`~streams.kafka.unit_records.assemble`) and write the repairs it asks for, so the
        changelog agrees with them before any batch runs; return how many units hold a value."""
        repaired = False
        held = 0
        for unit_code in heads.keys() | buckets.keys():
            restored = assemble(unit_code, heads.get(unit_code), buckets.get(unit_code, {}))
            if restored.value is None:
                self._values.pop(unit_code, None)
            else:
                self._values[unit_code] = restored.value
                held += 1
            if restored.windows is not None:
                self._logged[unit_code] = restored.windows
            else:
                self._logged.pop(unit_code, None)
            for key, value in restored.repairs:
                self._log(key, value, unit_code)
                repaired = True
        if repaired and self._producer is not None and self._producer.flush(30.0):
            raise BrokerError(f"could not write restore repairs to {self.topic}")
        return held


def produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Queue one record, waiting for room while the producer's local queue is full."""
    kwargs: dict[str, Any] = {"key": key, "value": value}
    if partition is not None:
        kwargs["partition"] = partition
    if headers:
        kwargs["headers"] = headers
    while True:
        try:
            producer.produce(topic, **kwargs)
            return
        except BufferError:
            producer.poll(0.05)
