"""Changelog bytes per event: what the worker's state writes cost the broker in real time.

Simulated real-time traffic (``rate`` events per second of event time, for ``hours``) goes
through the worker's pipeline in batches of ``rate / 2`` events (the worker's 0.5 s batch
window, ``EMC_STREAM__BATCH_WITHIN_S``), and every batch's state writes through a
:class:`streams.kafka.state_store.StateStore` whose records are held and counted, never
produced (no broker). Counted per event: the dossier records, the unit windows as bucket records
and headers (what the store writes), and what the unit windows would have been as one whole
value per unit and batch (the store's format before bucket records), overall and over the last
quarter hour of event time, when units hold an hour of one-minute buckets.

Run as ``python -m bench.changelog RATE HOURS [SEED]``; prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from functools import partial
from typing import Any

from bench.workload import build_workload
from streams.core.registry import UnitRegistry
from streams.kafka.codec import Codec
from streams.kafka.state_store import KeySubset, StateStore
from streams.kafka.unit_records import BUCKET_SEPARATOR
from streams.settings import Settings
from streams.worker.app import build_processor


class _Unused:
    """Stands in for the changelog producer: records are only held, so it is never called."""


def run(rate: float, hours: float, seed: int = 3, partitions: int = 4) -> dict[str, Any]:
    registry = UnitRegistry.load()
    n = int(rate * hours * 3600)
    workload = build_workload(registry, n, "json", seed=seed, rate_per_s=rate, time_scale=0.002)
    messages = workload.raw_messages(partitions)
    values: dict[str, bytes] = {}
    store = StateStore(values, _Unused(), "changelog")  # type: ignore[arg-type]
    processor = build_processor(
        Settings(),
        registry,
        Codec().decode,
        unit_table=KeySubset(store, lambda: (c for c in registry.codes if c in values)),
        dossier_table=KeySubset(store, lambda: (k for k in values if "|" in k)),
    )
    processor.unit_partitions = store.unit_partitions
    batch = max(1, int(rate / 2))
    total = Counter[str]()
    tail_from = max(0, len(messages) - int(rate * 900))
    tail: Counter[str] | None = None
    started = time.perf_counter()
    for lo in range(0, len(messages), batch):
        if tail is None and lo >= tail_from:
            tail = Counter(total)
        outcome = processor.process(messages[lo : lo + batch])
        for record_key, record, _ in store.holding(partial(processor.commit_state, outcome)):
            text = record_key.decode()
            size = len(record_key) + len(record or b"")
            if "|" in text:
                total["dossier"] += size
            else:
                total["unit_records"] += size
                if BUCKET_SEPARATOR not in text:  # a header: the whole value it stands for
                    total["unit_whole_values"] += len(record_key) + len(values[text])
    events = len(messages)
    last = {k: total[k] - (tail or Counter())[k] for k in total}
    last_events = events - tail_from
    sizes = [len(values[c]) for c in registry.codes if c in values]
    return {
        "events": events,
        "rate_per_s": rate,
        "hours": hours,
        "batch": batch,
        "seconds": round(time.perf_counter() - started, 1),
        "bytes_per_event": {k: round(v / events) for k, v in total.items()},
        "bytes_per_event_last_quarter_hour": {k: round(v / last_events) for k, v in last.items()},
        "unit_values": {"units": len(sizes), "largest_bytes": max(sizes, default=0)},
    }


if __name__ == "__main__":
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(json.dumps(run(float(sys.argv[1]), float(sys.argv[2]), seed)), flush=True)
