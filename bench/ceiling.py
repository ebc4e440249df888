"""The ceiling: a bare confluent-kafka consumer, in two lines.

- ``decode``: decodes every message with the project's codec and counts per unit — no state, no
  windows, no sink: the most a Python process can do with these messages here;
- ``consume``: only reads the messages (their value length is summed, so each one is touched) —
  what the broker and the client alone allow, so the gap to ``decode`` is the codec's cost.

Run as ``python -m bench.ceiling BOOTSTRAP GROUP N [decode|consume]`` (a child process, so its
CPU and memory are its own); prints one JSON object: messages read, decode errors, events/s from
the first message read to the last, CPU seconds and peak RSS.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.core.errors import DecodeError
from streams.core.events import LIFECYCLE_TOPICS, TYPE_BY_TOPIC
from streams.kafka.codec import Codec


def run(
    bootstrap: str, group_id: str, expected: int, mode: str = "decode", timeout_s: float = 600.0
) -> dict[str, object]:
    """Read ``expected`` messages from the four lifecycle topics (``mode``: ``decode`` or
    ``consume``); figures as a dict."""
    if mode not in ("decode", "consume"):
        raise ValueError(f"mode must be decode or consume, not {mode!r}")
    decode = mode == "decode"
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
        }
    )
    # Assigned, not subscribed: no group rebalance (slow on tansu) in front of the figure.
    metadata = consumer.list_topics(timeout=10)
    consumer.assign(
        [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in LIFECYCLE_TOPICS
            for p in metadata.topics[topic].partitions
        ]
    )
    codec = Codec()
    per_unit: Counter[str] = Counter()
    read = errors = skipped = value_bytes = 0
    first = last = 0.0
    deadline = time.monotonic() + timeout_s
    while read < expected and time.monotonic() < deadline:
        batch = consumer.consume(num_messages=10_000, timeout=0.5)
        if not batch:
            continue
        if not first:
            # The clock starts once the first batch is in hand; that batch is not counted.
            first = time.time()
            skipped = len(batch)
        for msg in batch:
            topic, value = msg.topic(), msg.value()
            if msg.error() or topic is None or value is None:
                continue
            read += 1
            if not decode:
                value_bytes += len(value)
                continue
            try:
                event = codec.decode(TYPE_BY_TOPIC[topic], value)
            except DecodeError:
                errors += 1
                continue
            per_unit[event["unit_code"]] += 1
        last = time.time()
    consumer.close()
    elapsed = last - first
    from bench.procs import proc_sample

    sample = proc_sample(os.getpid())
    return {
        "mode": mode,
        "messages": read,
        "value_bytes": value_bytes,
        "decode_errors": errors,
        "units": len(per_unit),
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round((read - skipped) / elapsed, 1) if elapsed > 0 else None,
        "cpu_s": sample.cpu_s,
        "peak_rss_bytes": sample.peak_rss_bytes,
    }


if __name__ == "__main__":
    mode = sys.argv[4] if len(sys.argv) > 4 else "decode"
    print(json.dumps(run(sys.argv[1], sys.argv[2], int(sys.argv[3]), mode)), flush=True)
