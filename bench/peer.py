"""The peer: Quix Streams 3.28 counting per-unit 1-minute tumbling windows over the same topics.

Runs in its own virtualenv (``.venv-bench``: quixstreams 3.28 pins ``confluent-kafka<2.13``,
which would downgrade the project's) with the repository on ``PYTHONPATH``, as
``python -m bench.peer BOOTSTRAP GROUP N STATE_DIR``. Messages are decoded by the
project's :class:`streams.kafka.codec.Codec` (a Quix deserializer), keyed by unit_code (the message
key), timestamped by ``event_time``, and counted in ``tumbling_window(60 s).count()`` with
Quix's defaults (RocksDB state, changelog topics, at-least-once checkpoints). Prints one JSON
object: messages processed and events/s from the first message to the end of the final
checkpoint (state flushed, changelog produced, offsets committed).

Needs the lifecycle topics created with an explicit ``retention.ms`` (tansu returns only
configs set at creation, and Quix derives its changelog topics' config from it): see
:data:`bench.workload.TOPIC_CONFIG`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from streams.core.events import TOPIC_BY_TYPE, EventType
from streams.kafka.codec import Codec


def run(bootstrap: str, group_id: str, expected: int, state_dir: str) -> dict[str, Any]:
    from quixstreams import Application
    from quixstreams.models.serializers import Deserializer

    codec = Codec()

    class EventDeserializer(Deserializer):
        def __init__(self, kind: EventType) -> None:
            super().__init__()
            self.kind = kind

        def __call__(self, value: bytes, ctx: Any) -> Any:
            return codec.decode(self.kind, value)

    app = Application(
        broker_address=bootstrap,
        consumer_group=group_id,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
        # tansu rebalances take about half the session timeout (docs/design.md); the worker
        # runs with 6 s too.
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 600},
    )

    def event_time(value: Any, headers: Any, timestamp: float, timestamp_type: Any) -> int:
        return int(value["event_time"])

    frames = [
        app.dataframe(
            app.topic(
                topic,
                key_deserializer="str",
                value_deserializer=EventDeserializer(kind),
                timestamp_extractor=event_time,
            )
        )
        for kind, topic in TOPIC_BY_TYPE.items()
    ]
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    seen = {"n": 0, "first": 0.0, "windows": 0}

    def count_input(value: Any) -> None:
        if not seen["first"]:
            seen["first"] = time.time()
        seen["n"] += 1
        if seen["n"] >= expected:
            app.stop()

    def count_window(value: Any) -> None:
        seen["windows"] += 1

    sdf = sdf.update(count_input)
    # Grace = the worker's allowed lateness of 1-minute windows (1 h by default).
    sdf = sdf.tumbling_window(60_000, grace_ms=3_600_000).count().final()
    sdf = sdf.update(count_window)
    app.run(sdf)
    end = time.time()
    from bench.procs import proc_sample

    sample = proc_sample(os.getpid())
    elapsed = end - seen["first"]
    return {
        "messages": seen["n"],
        "closed_windows": seen["windows"],
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(seen["n"] / elapsed, 1) if elapsed > 0 else None,
        "cpu_s": sample.cpu_s,
        "peak_rss_bytes": sample.peak_rss_bytes,
        "quixstreams": __import__("quixstreams").__version__,
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])), flush=True)
