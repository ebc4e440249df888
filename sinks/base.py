"""The sink contract: a batch of named columns in, ``write(batch)``.

A sink receives each stream batch as one :class:`~streams.core.rows.RowBatch` (every table's
columns by name, :data:`streams.core.rows.LAYOUTS`) and writes all of it or raises. Writes must
be idempotent: the worker retries a batch after a failure and replays batches after a crash, so
writing the same batch twice must leave the same content (ClickHouse's ``ReplacingMergeTree``
tables give this). The worker commits a batch's offsets only after ``write`` returned.

:class:`MemorySink` keeps batches in memory, for tests and for the bench's pure-core line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from streams.core.rows import RowBatch


class Sink(ABC):
    """Where a batch's rows go. Implementations: :class:`sinks.clickhouse.ClickHouseSink`."""

    @abstractmethod
    def write(self, batch: RowBatch) -> None:
        """Write every table of ``batch``; raise :class:`sinks.errors.SinkError` on failure
        (:class:`sinks.errors.SinkUnavailableError` when a retry may succeed)."""

    def close(self) -> None:  # noqa: B027  (closing is optional: not every sink holds a handle)
        """Release connections; a later ``write`` may reopen them."""


class MemorySink(Sink):
    """Keeps every batch written (``batches``), in order."""

    def __init__(self) -> None:
        self.batches: list[RowBatch] = []

    def write(self, batch: RowBatch) -> None:
        self.batches.append(batch)
