"""Where a worker's batches spend their time: seconds per stage since the worker started.

The agent (event-loop thread) times ``process`` and ``commit_state``; the ClickHouse thread
times the insert and the release of the changelog records and rejected messages. Each stage is
written by one thread only, so no lock is needed; readers (``/emc/progress``, the bench) see
figures at most one batch old. The stages overlap in wall time (batch N+1 is processed while N
is inserted), so they do not add up to the elapsed time: the slowest stage sets the pace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES: tuple[str, ...] = ("waiting", "process", "commit_state", "clickhouse", "release")
"""``waiting``: the agent idle between the end of one batch and the start of the next, i.e.
waiting for the feed (which waits while the batches in flight are at their limit, so a slow
ClickHouse shows here too); ``process``: decode, dedup, windows, lifecycles, rows (event
loop); ``commit_state``: state written to the local store, changelog records held (event
loop); ``clickhouse``: the batch's rows inserted, retries included (ClickHouse thread);
``release``: changelog records, dead letters and late events handed to the producer
(ClickHouse thread)."""


class StageTimes:
    """Cumulative seconds and batch counts per stage (:data:`STAGES`)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._counts: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._cpu: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to ``stage`` (also when it raises), and the
        CPU time of the thread running it: wall minus CPU is mostly waiting for the GIL."""
        started = time.perf_counter()
        cpu = time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started, time.thread_time() - cpu)

    def add(self, stage: str, seconds: float, cpu_seconds: float = 0.0) -> None:
        """Add ``seconds`` (wall) and ``cpu_seconds`` (the thread's CPU) to ``stage``, one
        batch."""
        self._seconds[stage] += seconds
        self._cpu[stage] += cpu_seconds
        self._counts[stage] += 1

    def as_dict(self) -> dict[str, dict[str, float | int]]:
        """``{stage: {"seconds": wall s, "cpu_seconds": thread CPU s, "batches": n}}``
        (rounded to ms)."""
        return {
            stage: {
                "seconds": round(self._seconds[stage], 3),
                "cpu_seconds": round(self._cpu[stage], 3),
                "batches": self._counts[stage],
            }
            for stage in STAGES
        }
