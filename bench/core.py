"""The core line: the worker's pipeline without Faust, Kafka or ClickHouse.

:class:`streams.core.pipeline.BatchProcessor` over the same kind of stream, fed in batches of
``batch`` messages, state kept in a plain dict laid out as the worker's one state table, with
``commit_state`` after every batch. What the decode + dedup + windows + lifecycles + rows + state
encoding cost on their own; the gap to the worker's figure is the price of the machinery around
them. Run as ``python -m bench.core ENCODING N BATCH [SEED]``; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from bench.procs import proc_sample
from bench.workload import build_workload
from streams.core.registry import UnitRegistry
from streams.kafka.codec import Codec
from streams.kafka.state_store import KeySubset
from streams.settings import Settings
from streams.worker.app import build_processor


def run(encoding: str, n: int, batch: int, seed: int = 7, partitions: int = 4) -> dict[str, Any]:
    registry = UnitRegistry.load()
    workload = build_workload(registry, n, encoding, seed=seed)  # type: ignore[arg-type]
    messages = workload.raw_messages(partitions)  # any stable unit → partition map will do
    state: dict[str, bytes] = {}

    def unit_keys() -> Iterator[str]:
        return (c for c in registry.codes if c in state)

    def dossier_keys() -> Iterator[str]:
        return (k for k in state if "|" in k)

    settings = Settings()
    processor = build_processor(
        settings,
        registry,
        Codec().decode,
        unit_table=KeySubset(state, unit_keys),
        dossier_table=KeySubset(state, dossier_keys),
    )
    cpu_before = proc_sample(os.getpid()).cpu_s
    process_s = commit_s = 0.0
    started = time.perf_counter()
    for lo in range(0, len(messages), batch):
        t0 = time.perf_counter()
        outcome = processor.process(messages[lo : lo + batch])
        t1 = time.perf_counter()
        processor.commit_state(outcome)
        commit_s += time.perf_counter() - t1
        process_s += t1 - t0
    elapsed = time.perf_counter() - started
    return {
        "messages": len(messages),
        "batch": batch,
        "events_per_s": round(len(messages) / elapsed, 1),
        "process_s": round(process_s, 3),
        "commit_state_s": round(commit_s, 3),
        "cpu_s": round(proc_sample(os.getpid()).cpu_s - cpu_before, 2),
        "state_keys": len(state),
        "accepted": processor.stats.accepted,
    }


if __name__ == "__main__":
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), seed)), flush=True)
